//! Growing a cluster's volumes against the mocked API server, which refuses
//! a StatefulSet update that touches its claim templates as the real one
//! does (`apiserver_rules`).

use serde_json::{Value, json};

use crate::harness::{Applied, Harness, World};
use crate::{cluster, v, with_status};

const CLAIMS: &str = "/api/v1/namespaces/org-acme/persistentvolumeclaims";
const FAST: &str = "/apis/storage.k8s.io/v1/storageclasses/fast";
const STATEFULSET: &str = "/apis/apps/v1/namespaces/org-acme/statefulsets/search";

fn claims(sizes: &[(u32, u32)]) -> Value {
    let items: Vec<Value> = sizes
        .iter()
        .enumerate()
        .map(|(ordinal, (requested, capacity))| {
            json!({
                "metadata": { "name": format!("storage-search-{ordinal}"), "namespace": "org-acme" },
                "spec": { "storageClassName": "fast",
                          "resources": { "requests": { "storage": format!("{requested}Gi") } } },
                "status": { "phase": "Bound", "capacity": { "storage": format!("{capacity}Gi") } },
            })
        })
        .collect();
    json!({ "apiVersion": "v1", "kind": "PersistentVolumeClaimList", "metadata": {}, "items": items })
}

fn storage_class(expandable: bool) -> Value {
    json!({ "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": { "name": "fast" }, "provisioner": "ebs.csi.aws.com",
            "allowVolumeExpansion": expandable })
}

fn claim_size(applied: &Applied) -> &Value {
    &applied.objects["statefulset"]["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]
        ["storage"]
}

fn condition<'a>(applied: &'a Applied, type_: &str) -> &'a Value {
    applied.status.as_ref().unwrap()["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

/// A three-node cluster on 10 GiB volumes, Ready.
async fn ready_cluster(h: &mut Harness) -> (operator::VectorCluster, World, Applied) {
    crate::brought_up(h, cluster(v(13), 3, 2)).await
}

#[tokio::test]
async fn growing_storage_resizes_each_claim_then_replaces_the_statefulset_keeping_its_pods() {
    let mut h = Harness::new();
    let (mut vc, world, ready) = ready_cluster(&mut h).await;
    vc.spec.resources.storage_gib = 20;
    vc.metadata.generation = Some(2);

    // First pass: each claim is raised to 20 GiB; the StatefulSet keeps its
    // 10 GiB template (the apiserver would refuse another) and everything
    // else is applied.
    let resizing = h
        .reconcile_with(
            &vc,
            &world,
            vec![
                ("GET", CLAIMS.to_owned(), 200, claims(&[(10, 10); 3])),
                ("GET", FAST.to_owned(), 200, storage_class(true)),
                (
                    "PATCH",
                    format!("{CLAIMS}/storage-search-0"),
                    200,
                    json!({}),
                ),
                (
                    "PATCH",
                    format!("{CLAIMS}/storage-search-1"),
                    200,
                    json!({}),
                ),
                (
                    "PATCH",
                    format!("{CLAIMS}/storage-search-2"),
                    200,
                    json!({}),
                ),
            ],
        )
        .await;
    assert_eq!(
        resizing.objects["between"],
        json!({ "spec": { "resources": { "requests": { "storage": "20Gi" } } } }),
        "each claim's request is raised"
    );
    assert_eq!(claim_size(&resizing), "10Gi");
    assert!(!resizing.objects.contains_key("refused"));
    let status = resizing.status.clone().unwrap();
    assert_eq!(status["phase"], "Updating");
    assert_eq!(status["observedGeneration"], 2);
    let progressing = condition(&resizing, "Progressing");
    assert_eq!(progressing["reason"], "ExpandingVolumes");
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .contains("waiting for storage-search-0, storage-search-1, storage-search-2"),
        "{progressing}"
    );
    assert_eq!(
        h.events.take(),
        [(false, "ExpandingVolumes"), (false, "Updating")]
    );

    // The driver has grown two of them: nothing is patched again; waiting.
    let vc = with_status(vc, &resizing.status);
    let waiting = h
        .reconcile_with(
            &vc,
            &world,
            vec![
                (
                    "GET",
                    CLAIMS.to_owned(),
                    200,
                    claims(&[(20, 20), (20, 20), (20, 10)]),
                ),
                ("GET", FAST.to_owned(), 200, storage_class(true)),
            ],
        )
        .await;
    assert!(
        condition(&waiting, "Progressing")["message"]
            .as_str()
            .unwrap()
            .contains("waiting for storage-search-2;")
    );

    // All three report 20 GiB: the StatefulSet is deleted with its pods
    // orphaned, after every child was applied.
    let vc = with_status(vc, &waiting.status);
    h.after = vec![(
        "DELETE",
        STATEFULSET.to_owned(),
        200,
        json!({ "kind": "Status", "apiVersion": "v1", "status": "Success" }),
    )];
    let replacing = h
        .reconcile_with(
            &vc,
            &world,
            vec![
                ("GET", CLAIMS.to_owned(), 200, claims(&[(20, 20); 3])),
                ("GET", FAST.to_owned(), 200, storage_class(true)),
            ],
        )
        .await;
    assert_eq!(
        replacing.objects["after"]["propagationPolicy"], "Orphan",
        "the pods are kept"
    );
    assert_eq!(h.events.take(), [(false, "VolumesExpanded")]);

    // Gone: created anew with the 20 GiB template and the same pod template,
    // so the pods it adopts do not restart.
    let vc = with_status(vc, &replacing.status);
    let gone = World {
        statefulset: None,
        ..world.clone()
    };
    let recreated = h.reconcile(&vc, &gone).await;
    assert_eq!(claim_size(&recreated), "20Gi");
    assert_eq!(
        recreated.objects["statefulset"]["spec"]["template"],
        ready.objects["statefulset"]["spec"]["template"],
        "no pod restarts for a volume that grew"
    );
}

#[tokio::test]
async fn a_class_without_expansion_or_a_new_class_is_refused_with_the_reason_and_nothing_else_waits()
 {
    let mut h = Harness::new();
    let (vc, world, ready) = ready_cluster(&mut h).await;

    let mut grown = vc.clone();
    grown.spec.resources.storage_gib = 20;
    let refused = h
        .reconcile_with(
            &grown,
            &world,
            vec![
                ("GET", CLAIMS.to_owned(), 200, claims(&[(10, 10); 3])),
                ("GET", FAST.to_owned(), 200, storage_class(false)),
            ],
        )
        .await;
    assert_eq!(refused.status.as_ref().unwrap()["phase"], "Degraded");
    let degraded = condition(&refused, "Degraded");
    assert_eq!(degraded["reason"], "VolumeChangeRefused");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .contains("StorageClass fast does not allow volume expansion"),
        "{degraded}"
    );
    assert_eq!(claim_size(&refused), "10Gi");
    assert_eq!(refused.objects["pdb"], ready.objects["pdb"]);
    assert_eq!(
        refused.objects["networkpolicy"],
        ready.objects["networkpolicy"]
    );
    assert_eq!(h.events.take(), [(true, "VolumeChangeRefused")]);

    let mut moved = vc;
    moved.spec.storage_class = Some("slow".to_owned());
    let refused = h
        .reconcile_with(
            &moved,
            &world,
            vec![
                ("GET", CLAIMS.to_owned(), 200, claims(&[(10, 10); 3])),
                ("GET", FAST.to_owned(), 200, storage_class(true)),
            ],
        )
        .await;
    let degraded = condition(&refused, "Degraded");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.storageClass cannot change"),
        "{degraded}"
    );
    assert_eq!(
        refused.objects["statefulset"]["spec"]["volumeClaimTemplates"][0]["spec"]
            .get("storageClassName"),
        None,
        "the template keeps the class it has"
    );
}

#[tokio::test]
async fn a_statefulset_the_apiserver_refuses_is_degraded_and_the_pdb_and_policy_are_still_applied()
{
    let mut h = Harness::new();
    let (vc, mut world, _) = ready_cluster(&mut h).await;
    // Made by hand (or by another tool) with another service name: an apply
    // of ours changes a field the apiserver keeps frozen.
    world
        .statefulset
        .as_mut()
        .unwrap()
        .spec
        .as_mut()
        .unwrap()
        .service_name = Some("hand-made".to_owned());
    let refused = h.reconcile(&vc, &world).await;
    assert!(refused.objects.contains_key("networkpolicy"));
    assert!(refused.objects.contains_key("pdb"));
    assert!(!refused.objects.contains_key("statefulset"));
    let status = refused.status.clone().unwrap();
    assert_eq!(status["phase"], "Degraded");
    let degraded = condition(&refused, "Degraded");
    assert_eq!(degraded["reason"], "ApplyFailed");
    assert!(
        degraded["message"].as_str().unwrap().starts_with(
            "StatefulSet/search: StatefulSet.apps \"search\" is invalid: spec: Forbidden: updates to statefulset spec"
        ),
        "{degraded}"
    );
    assert_eq!(h.events.take(), [(true, "ApplyFailed")]);
}
