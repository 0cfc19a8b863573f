//! Against a real API server (`QM_TEST_KUBECONFIG`): what no mocked test
//! can show. The apiserver refuses by the CRDs' CEL rules and bounds; Ready
//! waits for a Ready pod; a downgrade is refused; volumes grow through the
//! PVCs and a StatefulSet replaced with its pods kept; an endpoint stored
//! before the bounds does not stop the others; the Lease is given up.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt, ResourceExt};
use operator::VectorCluster;
use operator::crd::inference_endpoint::InferenceEndpoint;
use operator::crd::vector_cluster::Phase;
use operator::lease::{self, Candidate};
use serde_json::{Value, json};

use crate::real_cluster::Sandbox;

fn condition(vc: &VectorCluster, type_: &str) -> (String, String, String) {
    let c = vc
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap();
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

async fn merge<K>(api: &Api<K>, name: &str, patch: Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
}

/// What a kubelet would report for a started Qdrant node.
async fn make_ready(sandbox: &Sandbox, pod: &str) {
    let pods: Api<Pod> = sandbox.api();
    pods.patch_status(
        pod,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "phase": "Running",
            "conditions": [{ "type": "Ready", "status": "True" }] } })),
    )
    .await
    .unwrap();
}

/// The pod the StatefulSet controller made, once it carries its revision.
async fn pod_of(sandbox: &Sandbox, name: &str) -> Pod {
    let pods: Api<Pod> = sandbox.api();
    sandbox
        .eventually(&format!("pod {name} created"), || async {
            pods.get_opt(name)
                .await
                .unwrap()
                .filter(|p| p.labels().contains_key("controller-revision-hash"))
        })
        .await
}

#[tokio::test]
async fn real_cluster_refuses_by_cel_is_ready_only_with_ready_nodes_and_refuses_a_downgrade() {
    Sandbox::run("ready", |sandbox| async move {
        let clusters: Api<VectorCluster> = sandbox.api();
        // The rules that need only the object are the apiserver's.
        for (name, nodes, factor, says) in [
            (
                "wide",
                2,
                3,
                "spec.replicationFactor must be at most spec.nodes",
            ),
            (&*"n".repeat(41), 1, 1, "at most 40 characters"),
        ] {
            let mut vc = crate::cluster(crate::v(13), nodes, factor);
            vc.metadata = Default::default();
            vc.metadata.name = Some(name.to_owned());
            let Err(kube::Error::Api(refused)) = clusters.create(&PostParams::default(), &vc).await
            else {
                panic!("{name} was accepted")
            };
            assert_eq!(refused.code, 422);
            assert!(refused.message.contains(says), "{}", refused.message);
        }

        sandbox.create("search", 1, |_| {}).await;
        for _ in 0..2 {
            sandbox.reconcile("search").await.unwrap();
        }
        let pod = pod_of(&sandbox, "search-0").await;
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Pending")
        );
        sandbox.reconcile("search").await.unwrap();
        let waiting = sandbox.cluster("search").await;
        let status = waiting.status.clone().unwrap();
        assert_ne!(status.phase, Phase::Ready, "no node is ready");
        assert_eq!(status.ready_nodes, 0);
        assert_eq!(condition(&waiting, "Ready").0, "False");

        make_ready(&sandbox, "search-0").await;
        sandbox.reconcile("search").await.unwrap();
        let ready = sandbox.cluster("search").await;
        let status = ready.status.clone().unwrap();
        assert_eq!(status.phase, Phase::Ready);
        assert_eq!(status.ready_nodes, 1);
        assert_eq!(status.current_version.as_deref(), Some("1.13.0"));

        // kubectl edit to an older version: refused, and no node rolls back.
        merge(
            &clusters,
            "search",
            json!({ "spec": { "version": "1.12.0" } }),
        )
        .await;
        sandbox.reconcile("search").await.unwrap();
        let refused = sandbox.cluster("search").await;
        assert_eq!(refused.status.as_ref().unwrap().phase, Phase::Degraded);
        let (_, reason, message) = condition(&refused, "Degraded");
        assert_eq!(reason, "InvalidSpec");
        assert!(
            message.starts_with("spec.version: cannot downgrade from 1.13.0 to 1.12.0"),
            "{message}"
        );
        let sts = sandbox.api::<StatefulSet>().get("search").await.unwrap();
        let image = sts.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone();
        assert_eq!(image.as_deref(), Some("qdrant/qdrant:v1.13.0"));
    })
    .await;
}

#[tokio::test]
async fn real_cluster_grows_volumes_through_the_claims_and_keeps_the_pods() {
    Sandbox::run("storage", |sandbox| async move {
        let client = sandbox.client.clone();
        let class = format!("{}-expandable", sandbox.namespace);
        let classes: Api<StorageClass> = Api::all(client.clone());
        classes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": { "name": class },
                    "provisioner": "kubernetes.io/no-provisioner",
                    "allowVolumeExpansion": true,
                    "volumeBindingMode": "Immediate",
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        sandbox
            .create("search", 1, |vc| {
                vc.spec.storage_class = Some(class.clone());
                vc.spec.resources.storage_gib = 10;
            })
            .await;
        for _ in 0..2 {
            sandbox.reconcile("search").await.unwrap();
        }
        // The StatefulSet controller made the claim; a volume is bound to it
        // (the PV controller binds; no provisioner runs here).
        let claims: Api<PersistentVolumeClaim> = sandbox.api();
        sandbox
            .eventually("claim created", || async {
                claims.get_opt("storage-search-0").await.unwrap()
            })
            .await;
        let volumes: Api<PersistentVolume> = Api::all(client.clone());
        let volume = format!("{}-pv", sandbox.namespace);
        volumes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": { "name": volume },
                    "spec": {
                        "capacity": { "storage": "10Gi" },
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": class,
                        "hostPath": { "path": "/var/lib/qm-test" },
                        "claimRef": { "namespace": sandbox.namespace, "name": "storage-search-0" },
                    },
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        sandbox
            .eventually("claim bound", || async {
                let claim = claims.get("storage-search-0").await.unwrap();
                (claim.status?.phase.as_deref() == Some("Bound")).then_some(())
            })
            .await;
        let pod = pod_of(&sandbox, "search-0").await;
        make_ready(&sandbox, "search-0").await;
        sandbox.reconcile("search").await.unwrap();
        assert_eq!(
            sandbox.cluster("search").await.status.unwrap().phase,
            Phase::Ready
        );

        // Grow: the claim's request is raised (admitted: the class allows
        // expansion), the StatefulSet keeps its template meanwhile.
        let clusters: Api<VectorCluster> = sandbox.api();
        merge(
            &clusters,
            "search",
            json!({ "spec": { "resources": { "storageGib": 20 } } }),
        )
        .await;
        sandbox.reconcile("search").await.unwrap();
        let claim = claims.get("storage-search-0").await.unwrap();
        assert_eq!(
            claim.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
            "20Gi"
        );
        let growing = sandbox.cluster("search").await;
        assert_eq!(condition(&growing, "Progressing").1, "ExpandingVolumes");
        let statefulsets: Api<StatefulSet> = sandbox.api();
        let template_size = |sts: StatefulSet| {
            sts.spec.unwrap().volume_claim_templates.unwrap()[0]
                .spec
                .clone()
                .unwrap()
                .resources
                .unwrap()
                .requests
                .unwrap()["storage"]
                .0
                .clone()
        };
        assert_eq!(
            template_size(statefulsets.get("search").await.unwrap()),
            "10Gi"
        );

        // The storage driver's part: the volume has grown.
        merge(
            &volumes,
            &volume,
            json!({ "spec": { "capacity": { "storage": "20Gi" } } }),
        )
        .await;
        claims
            .patch_status(
                "storage-search-0",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "capacity": { "storage": "20Gi" } } })),
            )
            .await
            .unwrap();

        // Replaced with its pod orphaned, then created with the new template
        // and adopting the same pod.
        sandbox.reconcile("search").await.unwrap();
        sandbox
            .eventually("the old StatefulSet gone", || async {
                statefulsets
                    .get_opt("search")
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            })
            .await;
        sandbox.reconcile("search").await.unwrap();
        let recreated = statefulsets.get("search").await.unwrap();
        let new_uid = recreated.uid().unwrap();
        assert_eq!(template_size(recreated), "20Gi");
        let pods: Api<Pod> = sandbox.api();
        let adopted = sandbox
            .eventually("the pod adopted by the new StatefulSet", || async {
                let pod = pods.get("search-0").await.unwrap();
                pod.owner_references()
                    .iter()
                    .any(|o| o.uid == new_uid)
                    .then_some(pod)
            })
            .await;
        assert_eq!(adopted.uid(), pod.uid(), "the pod never restarted");

        // Another class, or a smaller size: the apiserver refuses the edit
        // (transition rules against the spec before).
        for (patch, says) in [
            (
                json!({ "spec": { "storageClass": "standard" } }),
                "spec.storageClass cannot change on a running cluster",
            ),
            (
                json!({ "spec": { "resources": { "storageGib": 15 } } }),
                "spec.resources.storageGib cannot shrink",
            ),
        ] {
            let Err(kube::Error::Api(refused)) = clusters
                .patch("search", &PatchParams::default(), &Patch::Merge(patch))
                .await
            else {
                panic!("accepted: {says}")
            };
            assert_eq!(refused.code, 422);
            assert!(refused.message.contains(says), "{}", refused.message);
        }

        volumes
            .delete(&volume, &DeleteParams::default())
            .await
            .unwrap();
        classes
            .delete(&class, &DeleteParams::default())
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn real_cluster_skips_an_endpoint_stored_before_the_bounds_and_reconciles_the_other() {
    Sandbox::run("endpoints", |sandbox| async move {
        let client = sandbox.client.clone();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let apply = |crd: Value| {
            let crds = crds.clone();
            async move {
                crds.patch(
                    "inferenceendpoints.quartermaster.dev",
                    &PatchParams::apply("qm-test").force(),
                    &Patch::Apply(&crd),
                )
                .await
                .unwrap();
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        };
        // The CRD as it was before its numbers were bounded.
        let bounded = serde_json::to_value(InferenceEndpoint::crd()).unwrap();
        let mut unbounded = bounded.clone();
        let cpu = &mut unbounded["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["spec"]["properties"]["resources"]["properties"]["cpuMillicores"];
        cpu.as_object_mut().unwrap().remove("maximum");
        apply(unbounded).await;
        let endpoints: Api<InferenceEndpoint> = sandbox.api();
        let object = |name: &str, cpu: u64| {
            let mut ie = serde_json::to_value(crate::endpoint::endpoint(1, "0e9e39f")).unwrap();
            ie["metadata"] = json!({ "name": name });
            ie["spec"]["resources"]["cpuMillicores"] = cpu.into();
            ie
        };
        let create = |name: &str, cpu: u32| {
            let endpoints = endpoints.clone();
            let mut ie = crate::endpoint::endpoint(1, "0e9e39f");
            ie.metadata = kube::api::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            };
            ie.spec.resources.cpu_millicores = cpu;
            async move { endpoints.create(&PostParams::default(), &ie).await }
        };
        // Stored while nothing bounded it: 5e9 fits no u32. Sent untyped.
        let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client.clone(),
            &sandbox.namespace,
            &kube::api::ApiResource::erase::<InferenceEndpoint>(&()),
        );
        let mut huge = object("huge", 5_000_000_000);
        huge["apiVersion"] = "quartermaster.dev/v1alpha1".into();
        huge["kind"] = "InferenceEndpoint".into();
        raw.create(
            &PostParams::default(),
            &serde_json::from_value(huge).unwrap(),
        )
        .await
        .unwrap();
        create("chat", 4000).await.unwrap();
        apply(bounded).await;

        // Now the schema refuses such a number at once.
        let Err(kube::Error::Api(refused)) = create("bigger", 300_000).await else {
            panic!("an out-of-bounds endpoint was accepted")
        };
        crate::endpoint::assert_cpu_out_of_bounds(&refused);

        // The operator's watch reads the good one and reports the other.
        use futures::StreamExt;
        use kube::runtime::watcher::{self, Event};
        let stream = operator::readable::watch::<InferenceEndpoint>(
            client.clone(),
            watcher::Config::default(),
            sandbox.events.clone(),
        );
        let namespace = sandbox.namespace.clone();
        let listed: Vec<String> = stream
            .take_while(|e| futures::future::ready(!matches!(e, Ok(Event::InitDone))))
            .filter_map(|e| {
                let namespace = namespace.clone();
                async move {
                    match e.unwrap() {
                        Event::InitApply(ie) if ie.namespace().as_deref() == Some(&namespace) => {
                            Some(ie.name_any())
                        }
                        _ => None,
                    }
                }
            })
            .collect()
            .await;
        assert_eq!(listed, ["chat"]);
        let reported = sandbox.events.0.lock().unwrap().clone();
        assert!(
            reported
                .iter()
                .any(|e| e.reason == "Unreadable" && e.note.contains("5000000000")),
            "{reported:?}"
        );
        let chat = endpoints.get("chat").await.unwrap();
        operator::reconcile::endpoint::reconcile(Arc::new(chat), sandbox.ctx.clone())
            .await
            .unwrap();
        assert!(
            sandbox
                .api::<k8s_openapi::api::networking::v1::NetworkPolicy>()
                .get_opt("chat")
                .await
                .unwrap()
                .is_some(),
            "the good endpoint is reconciled, its policy applied"
        );
        raw.delete("huge", &DeleteParams::default()).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn real_cluster_lease_is_released_for_a_successor() {
    Sandbox::run("lease", |sandbox| async move {
        let candidate = |identity: &str| Candidate {
            name: "quartermaster-operator".into(),
            namespace: sandbox.namespace.clone(),
            identity: identity.into(),
            duration: std::time::Duration::from_secs(15),
        };
        let held = lease::hold(sandbox.client.clone(), candidate("a")).await;
        let successor = candidate("b");
        assert!(
            !successor.try_hold(&sandbox.client).await.unwrap(),
            "held by a"
        );
        held.release().await;
        assert!(
            successor.try_hold(&sandbox.client).await.unwrap(),
            "taken at once, not after 15 s"
        );
    })
    .await;
}
