//! The same journey against a real API server, in a throwaway namespace,
//! when `QM_TEST_KUBECONFIG` names a kubeconfig. Qdrant is stood in for (its
//! pods may never start on a test cluster); everything Kubernetes does is real.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, CustomResourceExt, ResourceExt};
use operator::VectorCluster;
use operator::metrics::Metrics;
use operator::reconcile::{self, Context};

use crate::harness::{Events, FakeQdrant};

async fn client() -> Option<Client> {
    let Some(path) = std::env::var_os("QM_TEST_KUBECONFIG") else {
        eprintln!("skipped: set QM_TEST_KUBECONFIG to a kubeconfig to run the real-cluster suite");
        return None;
    };
    let kubeconfig = Kubeconfig::read_from(&path).expect("reading QM_TEST_KUBECONFIG");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a usable kubeconfig");
    Some(Client::try_from(config).expect("a client"))
}

#[tokio::test]
async fn against_a_real_cluster_create_reconcile_scale_and_delete() {
    let Some(client) = client().await else { return };
    let namespace = format!("qm-test-{}", std::process::id());
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "vectorclusters.quartermaster.dev",
        &PatchParams::apply("qm-test").force(),
        &Patch::Apply(VectorCluster::crd()),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({ "metadata": { "name": namespace } }))
                .unwrap(),
        )
        .await
        .unwrap();

    let ctx = Arc::new(Context {
        client: client.clone(),
        engine: Arc::new(FakeQdrant::default()),
        requests: Arc::new(FakeQdrant::default()),
        events: Arc::new(Events::default()),
        metrics: Arc::new(Metrics::default()),
        system: operator::build::SystemNamespaces {
            operator: "quartermaster-system".to_owned(),
            prometheus: Some("monitoring".to_owned()),
            gateway: Some("qm-gateway".to_owned()),
        },
        backup_image: "ghcr.io/quartermaster/operator:test".to_owned(),
    });
    let clusters: Api<VectorCluster> = Api::namespaced(client.clone(), &namespace);
    let mut vc = crate::cluster(operator::EngineVersion::new(1, 13, 0), 3, 2);
    vc.metadata = Default::default();
    vc.metadata.name = Some("search".to_owned());
    clusters.create(&PostParams::default(), &vc).await.unwrap();

    let result = async {
        for _ in 0..2 {
            let current = clusters.get("search").await.unwrap();
            reconcile::reconcile(Arc::new(current), ctx.clone())
                .await
                .unwrap();
        }
        let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
        let sts = statefulsets.get("search").await.unwrap();
        assert_eq!(sts.spec.unwrap().replicas, Some(3));
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        let keys = secrets.get("search-api-keys").await.unwrap();
        let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
        services.get("search-peers").await.unwrap();
        let current = clusters.get("search").await.unwrap();
        assert!(
            current
                .finalizers()
                .iter()
                .any(|f| f == reconcile::FINALIZER)
        );
        assert_eq!(
            current.status.unwrap().phase,
            operator::crd::vector_cluster::Phase::Provisioning
        );

        clusters
            .patch(
                "search",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "spec": { "nodes": 5 } })),
            )
            .await
            .unwrap();
        reconcile::reconcile(Arc::new(clusters.get("search").await.unwrap()), ctx.clone())
            .await
            .unwrap();
        assert_eq!(
            statefulsets
                .get("search")
                .await
                .unwrap()
                .spec
                .unwrap()
                .replicas,
            Some(5)
        );
        assert_eq!(
            secrets.get("search-api-keys").await.unwrap().data,
            keys.data,
            "keys survive reconciles"
        );

        clusters
            .delete("search", &DeleteParams::default())
            .await
            .unwrap();
        for _ in 0..60 {
            let Some(current) = clusters.get_opt("search").await.unwrap() else {
                return;
            };
            let _ = reconcile::reconcile(Arc::new(current), ctx.clone()).await;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        panic!("the VectorCluster was not deleted within 60 s");
    }
    .await;
    if let Ok(pods) = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), &namespace)
        .list(&Default::default())
        .await
    {
        for pod in pods {
            eprintln!(
                "pod {}: {:?}",
                pod.name_any(),
                pod.status.and_then(|s| s.phase)
            );
        }
    }
    namespaces
        .delete(&namespace, &DeleteParams::default())
        .await
        .unwrap();
    result
}
