//! The InferenceEndpoint reconciler against the mocked API server.

use std::sync::Arc;

use chrono::{Duration, SecondsFormat, Utc};
use operator::crd::inference_endpoint::{
    EndpointResources, EngineKind, GpuRequest, HubModel, InferenceEndpoint, InferenceEndpointSpec,
    Replicas,
};
use operator::reconcile::endpoint::{self, WAKE_ANNOTATION};
use serde_json::{Value, json};

use crate::harness::{Applied, Child, Harness, Read, one_by_one};
use crate::watched::Held;

const PATH: &str = "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/inferenceendpoints/chat";
const SECRET: &str = "/api/v1/namespaces/org-acme/secrets/chat-api-key";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/org-acme/deployments/chat";
const CHILDREN: [Child; 6] = [
    (
        "networkpolicy",
        "/apis/networking.k8s.io/v1/namespaces/org-acme/networkpolicies/chat",
    ),
    ("secret", SECRET),
    ("service", "/api/v1/namespaces/org-acme/services/chat"),
    ("deployment", DEPLOYMENT),
    (
        "pdb",
        "/apis/policy/v1/namespaces/org-acme/poddisruptionbudgets/chat",
    ),
    (
        "hpa",
        "/apis/autoscaling/v2/namespaces/org-acme/horizontalpodautoscalers/chat",
    ),
];

pub(crate) fn endpoint(min: u32, revision: &str) -> InferenceEndpoint {
    let mut ie = InferenceEndpoint::new(
        "chat",
        InferenceEndpointSpec {
            model: Some(HubModel {
                repository: "meta-llama/Llama-3.1-8B-Instruct".into(),
                revision: revision.into(),
            }),
            image: None,
            engine: EngineKind::Vllm,
            gpu: GpuRequest {
                model: "nvidia-l4".into(),
                count: 1,
            },
            replicas: Replicas {
                min,
                max: 3,
                scale_to_zero_after_seconds: (min == 0).then_some(600),
            },
            target_concurrency: 8,
            resources: EndpointResources {
                cpu_millicores: 4000,
                memory_mib: 16384,
                shm_mib: 4096,
            },
            env: vec![],
            suspend: false,
        },
    );
    ie.metadata.namespace = Some("org-acme".into());
    ie.metadata.uid = Some("9a9a9a9a-1111-4000-8000-000000000001".into());
    ie.metadata.generation = Some(1);
    ie
}

async fn pass(
    h: &mut Harness,
    ie: &InferenceEndpoint,
    secret: Option<Value>,
    deployment: Option<Value>,
) -> Applied {
    // The watches show no child: every child is applied, for the test to see.
    h.show(&Held::default());
    let task = tokio::spawn(endpoint::reconcile(Arc::new(ie.clone()), h.ctx.clone()));
    let reads = vec![Read::get(SECRET, secret), Read::get(DEPLOYMENT, deployment)];
    h.pass(
        task,
        reads,
        &one_by_one(&CHILDREN),
        PATH,
        serde_json::to_value(ie).unwrap(),
    )
    .await
}

/// The Deployment as Kubernetes reports it after `applied`.
fn deployment(
    applied: &Applied,
    replicas: i64,
    ready: i64,
    updated: i64,
    deadline_exceeded: bool,
) -> Value {
    let mut d = applied.objects["deployment"].clone();
    d["spec"]["replicas"] = json!(replicas);
    let progressing = if deadline_exceeded {
        json!({ "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded" })
    } else {
        json!({ "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" })
    };
    d["status"] = json!({ "replicas": replicas, "readyReplicas": ready, "updatedReplicas": updated, "conditions": [progressing] });
    d
}

fn with_status(mut ie: InferenceEndpoint, status: &Option<Value>) -> InferenceEndpoint {
    if let Some(status) = status {
        ie.status = Some(serde_json::from_value(status.clone()).unwrap());
    }
    ie
}

fn args(applied: &Applied) -> Vec<String> {
    serde_json::from_value(
        applied.objects["deployment"]["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
    )
    .unwrap()
}

#[tokio::test]
async fn create_loads_the_model_then_serves_it() {
    let mut h = Harness::new();
    let ie = endpoint(1, "rev-a");
    let first = pass(&mut h, &ie, None, None).await;
    let d = &first.objects["deployment"];
    assert_eq!(
        d["spec"].get("replicas"),
        None,
        "the autoscaler owns the replica count"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
        "1"
    );
    assert_eq!(first.objects["hpa"]["spec"]["minReplicas"], 1);
    assert_eq!(first.status.as_ref().unwrap()["phase"], "Provisioning");
    assert_eq!(h.events.take(), [(false, "Provisioning")]);
    assert!(
        h.qdrant.calls.lock().unwrap().is_empty(),
        "no pod to ask yet"
    );

    let ie = with_status(ie, &first.status);
    let ready = pass(
        &mut h,
        &ie,
        Some(first.objects["secret"].clone()),
        Some(deployment(&first, 1, 1, 1, false)),
    )
    .await;
    let status = ready.status.unwrap();
    assert_eq!(status["phase"], "Ready");
    assert_eq!(
        status["servedRevision"],
        "meta-llama/Llama-3.1-8B-Instruct@rev-a"
    );
    assert_eq!(status["endpoint"], "http://chat.org-acme.svc.cluster.local");
    assert_eq!(
        ready.objects["secret"], first.objects["secret"],
        "the API key is kept"
    );
    assert_eq!(h.events.take(), [(false, "Ready")]);
    assert_eq!(
        h.qdrant.calls.lock().unwrap().clone(),
        [(
            "http://chat.org-acme.svc.cluster.local".to_owned(),
            "vllm:request_success_total".to_owned()
        )]
    );
}

#[tokio::test]
async fn an_idle_endpoint_scales_to_zero_and_a_wake_request_brings_it_back() {
    let mut h = Harness::new();
    let ie = endpoint(0, "rev-a");
    let first = pass(&mut h, &ie, None, None).await;
    let serving = pass(
        &mut h,
        &with_status(ie.clone(), &first.status),
        None,
        Some(deployment(&first, 1, 1, 1, false)),
    )
    .await;
    h.events.take();

    // Eleven minutes without a new request: scale to zero.
    *h.qdrant.request_count.lock().unwrap() = 0;
    let mut status = serving.status.clone().unwrap();
    let long_ago = (Utc::now() - Duration::minutes(11)).to_rfc3339_opts(SecondsFormat::Secs, true);
    status["lastRequestAt"] = json!(long_ago);
    status["requestsSeen"] = json!(0);
    let idle = pass(
        &mut h,
        &with_status(ie.clone(), &Some(status)),
        None,
        Some(deployment(&first, 1, 1, 1, false)),
    )
    .await;
    assert_eq!(idle.objects["deployment"]["spec"]["replicas"], 0);
    assert_eq!(idle.status.as_ref().unwrap()["phase"], "ScaledToZero");
    assert_eq!(h.events.take(), [(false, "ScaledToZero")]);

    // The control plane asks to wake it: one replica, then the autoscaler.
    let mut woken = with_status(ie, &idle.status);
    woken.metadata.annotations =
        Some([(WAKE_ANNOTATION.to_owned(), Utc::now().to_rfc3339())].into());
    let wake = pass(
        &mut h,
        &woken,
        None,
        Some(deployment(&idle, 0, 0, 0, false)),
    )
    .await;
    assert_eq!(wake.objects["deployment"]["spec"]["replicas"], 1);
    assert_eq!(wake.status.as_ref().unwrap()["phase"], "Updating");
}

#[tokio::test]
async fn a_new_revision_rolls_in_and_then_serves() {
    let mut h = Harness::new();
    let old = endpoint(1, "rev-a");
    let first = pass(&mut h, &old, None, None).await;
    let ready = pass(
        &mut h,
        &with_status(old.clone(), &first.status),
        None,
        Some(deployment(&first, 2, 2, 2, false)),
    )
    .await;
    let mut new = with_status(old, &ready.status);
    if let Some(model) = new.spec.model.as_mut() {
        model.revision = "rev-b".into();
    }
    new.metadata.generation = Some(2);

    let rolling = pass(&mut h, &new, None, Some(deployment(&ready, 2, 2, 2, false))).await;
    assert!(
        args(&rolling)
            .windows(2)
            .any(|w| w == ["--revision", "rev-b"])
    );
    let strategy = &rolling.objects["deployment"]["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(
        strategy["maxUnavailable"], 0,
        "old pods stay until new ones are Ready"
    );
    assert_eq!(rolling.status.as_ref().unwrap()["phase"], "Updating");

    let new = with_status(new, &rolling.status);
    let done = pass(
        &mut h,
        &new,
        None,
        Some(deployment(&rolling, 2, 2, 2, false)),
    )
    .await;
    let status = done.status.unwrap();
    assert_eq!(status["phase"], "Ready");
    assert_eq!(
        status["servedRevision"],
        "meta-llama/Llama-3.1-8B-Instruct@rev-b"
    );
}

#[tokio::test]
async fn a_revision_that_never_becomes_ready_is_rolled_back() {
    let mut h = Harness::new();
    let old = endpoint(1, "rev-a");
    let first = pass(&mut h, &old, None, None).await;
    let ready = pass(
        &mut h,
        &with_status(old.clone(), &first.status),
        None,
        Some(deployment(&first, 2, 2, 2, false)),
    )
    .await;
    let mut new = with_status(old, &ready.status);
    if let Some(model) = new.spec.model.as_mut() {
        model.revision = "rev-broken".into();
    }
    let rolling = pass(&mut h, &new, None, Some(deployment(&ready, 2, 2, 2, false))).await;
    h.events.take();

    // Kubernetes gives up on the new pods: back to rev-a, Degraded with the reason.
    let new = with_status(new, &rolling.status);
    let rolled = pass(
        &mut h,
        &new,
        None,
        Some(deployment(&rolling, 2, 2, 1, true)),
    )
    .await;
    assert!(
        args(&rolled)
            .windows(2)
            .any(|w| w == ["--revision", "rev-a"])
    );
    let status = rolled.status.unwrap();
    assert_eq!(status["phase"], "Degraded");
    assert_eq!(
        status["failedRevision"],
        "meta-llama/Llama-3.1-8B-Instruct@rev-broken"
    );
    let degraded = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Degraded")
        .unwrap()
        .clone();
    assert_eq!(degraded["reason"], "RolledBack");
    assert_eq!(h.events.take(), [(true, "RolledBack")]);
}

/// The apiserver's answer to an endpoint whose CPU is past the schema's
/// bound (the same from the real one and the mocked one).
pub(crate) fn assert_cpu_out_of_bounds(refused: &kube::core::Status) {
    assert_eq!(refused.code, 422);
    assert!(
        refused.message.contains(
            "spec.resources.cpuMillicores in body should be less than or equal to 256000"
        ),
        "{}",
        refused.message
    );
}

fn cpu(ie: &InferenceEndpoint, millicores: u64) -> Value {
    let mut object = serde_json::to_value(ie).unwrap();
    object["spec"]["resources"]["cpuMillicores"] = millicores.into();
    object
}

#[tokio::test]
async fn the_schema_refuses_an_out_of_bounds_number_and_one_stored_before_is_skipped_not_fatal() {
    use futures::StreamExt;
    use kube::CustomResourceExt;
    use kube::api::{Api, PostParams};
    use kube::runtime::watcher::{self, Event};

    // Created now: the apiserver checks it against the CRD and refuses it.
    let mut h = Harness::new();
    let crd = serde_json::to_value(InferenceEndpoint::crd()).unwrap();
    let bad: InferenceEndpoint = {
        let mut object = cpu(&endpoint(1, "a1b2c3d"), 5_000_000);
        object["metadata"]["name"] = "huge".into();
        serde_json::from_value(object).unwrap()
    };
    let api: Api<InferenceEndpoint> = Api::namespaced(h.ctx.client.clone(), "org-acme");
    let create = tokio::spawn(async move { api.create(&PostParams::default(), &bad).await });
    let (call, send) = h
        .server
        .expect(
            "POST",
            "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/inferenceendpoints",
        )
        .await;
    let refusal = crate::apiserver_rules::custom_resource(&crd, &call.body)
        .expect("out of the schema's bounds");
    crate::harness::respond(send, 422, &refusal);
    let Err(kube::Error::Api(refused)) = create.await.unwrap() else {
        panic!("refused")
    };
    assert_cpu_out_of_bounds(&refused);
    assert!(
        crate::apiserver_rules::custom_resource(
            &crd,
            &serde_json::to_value(endpoint(1, "x")).unwrap()
        )
        .is_none(),
        "a valid endpoint fits"
    );

    // Stored before the bound existed, beside a good one: the good one is
    // read and reconciled, the other reported on itself and skipped.
    let stored_before = {
        let mut object = cpu(&endpoint(1, "a1b2c3d"), 5_000_000_000);
        object["metadata"]["name"] = "huge".into();
        object
    };
    let good = serde_json::to_value(endpoint(1, "a1b2c3d")).unwrap();
    let stream = operator::readable::watch::<InferenceEndpoint>(
        h.ctx.client.clone(),
        watcher::Config::default(),
        h.events.clone(),
    );
    let listed = tokio::spawn(async move {
        stream
            .take(3)
            .map(|event| match event.unwrap() {
                Event::Init => "init".to_owned(),
                Event::InitApply(ie) => format!("apply {}", ie.metadata.name.unwrap()),
                Event::InitDone => "done".to_owned(),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .await
    });
    let (_, send) = h
        .server
        .expect("GET", "/apis/quartermaster.dev/v1alpha1/inferenceendpoints")
        .await;
    crate::harness::respond(
        send,
        200,
        &json!({ "apiVersion": "quartermaster.dev/v1alpha1", "kind": "InferenceEndpointList",
                 "metadata": { "resourceVersion": "7" }, "items": [stored_before, good] }),
    );
    let seen = tokio::time::timeout(std::time::Duration::from_secs(2), listed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, ["init", "apply chat", "done"]);
    let events = h.events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].warning, events[0].reason), (true, "Unreadable"));
    assert!(events[0].note.contains("5000000000"), "{}", events[0].note);
}

#[tokio::test]
async fn a_child_the_apiserver_refuses_degrades_the_endpoint_and_the_others_are_applied() {
    let mut h = Harness::new();
    let ie = endpoint(1, "0e9e39f");
    h.refuse = Some((
        "deployment",
        json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "deployments.apps \"chat\" is forbidden: exceeded quota: qm-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8",
                "reason": "Forbidden", "code": 403 }),
    ));
    let applied = pass(&mut h, &ie, None, None).await;
    for kind in ["networkpolicy", "secret", "service", "pdb", "hpa"] {
        assert!(applied.objects.contains_key(kind), "{kind} still applied");
    }
    assert!(!applied.objects.contains_key("deployment"));
    let status = applied.status.unwrap();
    assert_eq!(status["phase"], "Degraded");
    let degraded = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Degraded")
        .unwrap();
    assert_eq!(degraded["reason"], "ApplyFailed");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .starts_with("Deployment/chat: deployments.apps \"chat\" is forbidden: exceeded quota"),
        "{degraded}"
    );
    assert_eq!(h.events.take(), [(true, "ApplyFailed")]);
}
