//! Either plane survives the other's absence: while the control plane is
//! unreachable or answers 503 the data plane keeps everything as last
//! known and holds its reports; with its credential refused it applies
//! and deletes nothing.

use crds::sync::Observed;
use crds::vector_cluster::{Phase, VectorCluster};
use serde_json::json;
use uuid::Uuid;

use super::{CLUSTER_ID, Plane, cluster, cluster_spec, desired, eventually, tenant_ns};

#[tokio::test]
async fn while_the_control_plane_is_away_nothing_is_deleted_and_reports_wait_for_it() {
    let plane = Plane::new().await;
    plane.cp.put(cluster());
    let _running = plane.start(plane.config());
    plane.settled().await;
    let ns = tenant_ns();

    plane.cp.stop();
    let before = plane.cp.reports().len();
    // The reconciler moves on while nobody listens.
    plane.api.set_status::<VectorCluster>(
        &ns,
        "search",
        json!({ "observedGeneration": 1, "phase": "Ready" }),
    );
    plane.cp.resume().await;
    // Back, but answering 503 for a while.
    plane.cp.lock().down = true;
    eventually("requests refused as unavailable", || {
        (plane.cp.lock().unavailable >= 3).then_some(())
    })
    .await;
    assert_eq!(plane.cp.reports().len(), before);
    plane.cp.lock().down = false;

    let delivered = eventually("the held report", || {
        plane.cp.reports()[before..]
            .iter()
            .find_map(|r| match &r.observed {
                Observed::VectorCluster { applied, status } if r.id == CLUSTER_ID => {
                    Some((applied.acted, status.as_ref().map(|s| s.phase)))
                }
                _ => None,
            })
    })
    .await;
    assert_eq!(delivered, (true, Some(Phase::Ready)));
    assert_eq!(plane.api.count("DELETE"), 0);
    assert!(plane.api.get::<VectorCluster>(&ns, "search").is_some());
}

#[tokio::test]
async fn with_its_credential_refused_the_data_plane_applies_and_deletes_nothing() {
    let plane = Plane::new().await;
    plane.cp.put(cluster());
    let _running = plane.start(plane.config());
    plane.settled().await;
    let ns = tenant_ns();
    let patches = plane.api.count("PATCH");

    plane.cp.lock().revoked = true;
    // A poll under way was let in before: changes wait for a refused one.
    eventually("a poll refused", || {
        (plane.cp.lock().refused >= 1).then_some(())
    })
    .await;
    let mut gone = plane.cp.resource(CLUSTER_ID);
    gone.delete = true;
    plane.cp.put(gone);
    plane.cp.put(desired(
        Uuid::from_u128(0xc2),
        "other",
        crds::sync::Object::VectorCluster {
            spec: Box::new(cluster_spec()),
            restore_from: None,
        },
    ));
    let refused = plane.cp.lock().refused;
    eventually("polls refused", || {
        (plane.cp.lock().refused >= refused + 3).then_some(())
    })
    .await;

    assert_eq!(plane.api.count("PATCH"), patches);
    assert_eq!(plane.api.count("DELETE"), 0);
    assert!(plane.api.get::<VectorCluster>(&ns, "search").is_some());
    assert!(plane.api.get::<VectorCluster>(&ns, "other").is_none());

    // Accepted again: the changes apply.
    plane.cp.lock().revoked = false;
    eventually("the new cluster", || {
        plane.api.get::<VectorCluster>(&ns, "other")
    })
    .await;
}
