//! A resync writes only what changed: a settled cluster whose children the
//! watches show as last applied is not applied again; a changed spec, or a
//! child another client wrote, is.

use serde_json::json;

use crate::harness::Harness;
use crate::{brought_up, cluster, v};

#[tokio::test]
async fn a_settled_cluster_is_resynced_without_a_write() {
    let mut h = Harness::new();
    let (vc, mut world, _) = brought_up(&mut h, cluster(v(13), 3, 2)).await;
    world.watched = Some(h.versions.held());

    let resync = h.reconcile_applying(&vc, &world, vec![], &[]).await;

    assert!(resync.objects.is_empty(), "{:?}", resync.objects);
    assert_eq!(resync.status, None);
}

#[tokio::test]
async fn a_changed_spec_applies_what_it_changes() {
    let mut h = Harness::new();
    let (mut vc, mut world, _) = brought_up(&mut h, cluster(v(13), 3, 2)).await;
    world.watched = Some(h.versions.held());
    vc.spec.allowed_source_cidrs = vec!["198.51.100.0/24".to_owned()];
    vc.metadata.generation = Some(2);

    let changed = h
        .reconcile_applying(&vc, &world, vec![], &["networkpolicy"])
        .await;

    let ingress = &changed.objects["networkpolicy"]["spec"]["ingress"];
    assert!(ingress.to_string().contains("198.51.100.0/24"), "{ingress}");
}

#[tokio::test]
async fn a_child_another_client_wrote_is_applied_again_and_a_status_write_is_not_drift() {
    let mut h = Harness::new();
    let (vc, mut world, _) = brought_up(&mut h, cluster(v(13), 3, 2)).await;
    let held = h.versions.held();

    // Someone strips our annotation from the client Service and edits the
    // PDB's spec and the ConfigMap's data; the StatefulSet controller writes
    // the StatefulSet's status, as it does whenever a pod changes.
    let mut service = held["client"].clone();
    service["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("quartermaster.dev/applied-hash");
    h.versions.write("client", service);
    let mut pdb = held["pdb"].clone();
    pdb["spec"]["maxUnavailable"] = json!(3);
    h.versions.write("pdb", pdb);
    let mut config = held["configmap"].clone();
    config["data"]["edited"] = json!("edited: by hand\n");
    h.versions.write("configmap", config);
    let mut statefulset = held["statefulset"].clone();
    statefulset["status"] = json!({ "replicas": 3, "readyReplicas": 2 });
    h.versions.write("statefulset", statefulset);
    world.watched = Some(h.versions.held());

    let repaired = h
        .reconcile_applying(&vc, &world, vec![], &["pdb", "configmap", "client"])
        .await;
    assert_eq!(
        repaired.objects.keys().copied().collect::<Vec<_>>(),
        ["client", "configmap", "pdb"]
    );

    // Repaired, and seen so by the watches: nothing more to write.
    world.watched = Some(h.versions.held());
    let settled = h.reconcile_applying(&vc, &world, vec![], &[]).await;
    assert!(settled.objects.is_empty(), "{:?}", settled.objects);
}

#[tokio::test]
async fn a_pass_before_the_watches_show_the_last_ones_applies_sends_them_not_again() {
    let mut h = Harness::new();
    let (mut vc, mut world, _) = brought_up(&mut h, cluster(v(13), 3, 2)).await;
    world.watched = Some(h.versions.held());
    vc.spec.allowed_source_cidrs = vec!["198.51.100.0/24".to_owned()];
    vc.metadata.generation = Some(2);
    h.reconcile_applying(&vc, &world, vec![], &["networkpolicy"])
        .await;

    // The NetworkPolicy's watch still shows it as it was before that apply.
    let behind = h.reconcile_applying(&vc, &world, vec![], &[]).await;
    assert!(behind.objects.is_empty(), "{:?}", behind.objects);

    // What the watch lags behind is no excuse for not applying a change.
    vc.spec.allowed_source_cidrs = vec!["203.0.113.0/24".to_owned()];
    vc.metadata.generation = Some(3);
    let changed = h
        .reconcile_applying(&vc, &world, vec![], &["networkpolicy"])
        .await;
    let ingress = &changed.objects["networkpolicy"]["spec"]["ingress"];
    assert!(ingress.to_string().contains("203.0.113.0/24"), "{ingress}");
}
