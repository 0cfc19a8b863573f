//! Leader election against the mocked API server: the lease is created when
//! absent, and a lost write race (409) is not leadership.

use operator::lease::Candidate;
use serde_json::json;

use crate::harness::{Harness, not_found, respond};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/quartermaster-operator";

fn candidate() -> Candidate {
    Candidate {
        name: "quartermaster-operator".into(),
        namespace: "ops".into(),
        identity: "pod-a".into(),
        duration: std::time::Duration::from_secs(15),
    }
}

#[tokio::test]
async fn an_absent_lease_is_created_and_held() {
    let mut h = Harness::new();
    let client = h.ctx.client.clone();
    let task = tokio::spawn(async move { candidate().try_hold(&client).await });
    let (_, send) = h.server.expect("GET", LEASE).await;
    respond(send, 404, &not_found());
    let (call, send) = h
        .server
        .expect("POST", "/apis/coordination.k8s.io/v1/namespaces/ops/leases")
        .await;
    assert_eq!(call.body["spec"]["holderIdentity"], "pod-a");
    assert_eq!(call.body["spec"]["leaseDurationSeconds"], 15);
    respond(send, 201, &call.body);
    assert!(task.await.unwrap().unwrap());
}

#[tokio::test]
async fn losing_the_race_for_an_expired_lease_is_not_leadership() {
    let mut h = Harness::new();
    let client = h.ctx.client.clone();
    let task = tokio::spawn(async move { candidate().try_hold(&client).await });
    let (_, send) = h.server.expect("GET", LEASE).await;
    let expired = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "quartermaster-operator", "namespace": "ops", "resourceVersion": "41" },
        "spec": { "holderIdentity": "pod-b", "leaseDurationSeconds": 15,
                  "renewTime": "2020-01-01T00:00:00.000000Z", "leaseTransitions": 2 },
    });
    respond(send, 200, &expired);
    let (call, send) = h.server.expect("PUT", LEASE).await;
    assert_eq!(
        call.body["metadata"]["resourceVersion"], "41",
        "the write is conditional"
    );
    assert_eq!(call.body["spec"]["leaseTransitions"], 3);
    respond(
        send,
        409,
        &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "conflict", "reason": "Conflict", "code": 409 }),
    );
    assert!(!task.await.unwrap().unwrap());
    h.server.expect_nothing().await;
}

#[tokio::test]
async fn a_held_lease_is_released_for_a_successor_and_another_holders_is_left_alone() {
    let mut h = Harness::new();
    let client = h.ctx.client.clone();
    let task = tokio::spawn(async move { candidate().release(&client).await });
    let (_, send) = h.server.expect("GET", LEASE).await;
    let held = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "quartermaster-operator", "namespace": "ops", "resourceVersion": "52" },
        "spec": { "holderIdentity": "pod-a", "leaseDurationSeconds": 15,
                  "acquireTime": "2026-12-01T00:00:00.000000Z",
                  "renewTime": "2026-12-01T00:00:05.000000Z", "leaseTransitions": 3 },
    });
    respond(send, 200, &held);
    let (call, send) = h.server.expect("PUT", LEASE).await;
    assert_eq!(call.body["metadata"]["resourceVersion"], "52");
    assert_eq!(
        call.body["spec"].get("holderIdentity"),
        None,
        "{}",
        call.body
    );
    assert_eq!(call.body["spec"]["leaseTransitions"], 3);
    respond(send, 200, &call.body);
    assert!(task.await.unwrap().unwrap());
    assert_eq!(
        operator::lease::decide(
            serde_json::from_value(call.body["spec"].clone())
                .ok()
                .as_ref(),
            "pod-b",
            chrono::Utc::now()
        ),
        operator::lease::Decision::Acquire,
        "a successor takes it at once"
    );

    let client = h.ctx.client.clone();
    let task = tokio::spawn(async move { candidate().release(&client).await });
    let (_, send) = h.server.expect("GET", LEASE).await;
    let mut theirs = held;
    theirs["spec"]["holderIdentity"] = "pod-b".into();
    respond(send, 200, &theirs);
    assert!(!task.await.unwrap().unwrap());
    h.server.expect_nothing().await;
}
