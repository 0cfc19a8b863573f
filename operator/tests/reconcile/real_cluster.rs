//! The same journeys against a real API server, each in a throwaway
//! namespace, when `QM_TEST_KUBECONFIG` names a kubeconfig. Qdrant is stood
//! in for, and on a cluster without kubelets so are the kubelet (a pod's
//! Ready condition) and the storage driver (a grown volume's capacity);
//! everything the apiserver and the controller manager do is real:
//! admission, the CRD schemas and CEL rules, StatefulSet and garbage
//! collection, PVC binding and resize admission, Leases.
//!
//! Run: `QM_TEST_KUBECONFIG=<kubeconfig> cargo test -p operator --test reconcile real_cluster`.

use std::sync::Arc;

use futures::FutureExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use operator::VectorCluster;
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

/// A namespace of its own on the real cluster, with every CRD applied and a
/// reconcile context whose engine and event sink are the harness's.
pub struct Sandbox {
    pub client: Client,
    pub namespace: String,
    pub ctx: Arc<Context>,
    pub events: Arc<Events>,
}

impl Sandbox {
    /// Runs `journey` in a new namespace, then dumps its pods (for a
    /// failure's diagnosis) and deletes it, whether the journey passed or not.
    pub async fn run<F, Fut>(tag: &str, journey: F)
    where
        F: FnOnce(Sandbox) -> Fut,
        Fut: Future<Output = ()>,
    {
        let Some(client) = client().await else { return };
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in operator::crd::all() {
            crds.patch(
                &crd.name_any(),
                &PatchParams::apply("qm-test").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let namespace = format!("qm-test-{tag}-{}", std::process::id());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(serde_json::json!({ "metadata": { "name": namespace } }))
                    .unwrap(),
            )
            .await
            .unwrap();
        let events = Arc::new(Events::default());
        let ctx = crate::harness::context(
            client.clone(),
            Arc::new(FakeQdrant::default()),
            events.clone(),
        );
        let sandbox = Sandbox {
            client: client.clone(),
            namespace: namespace.clone(),
            ctx,
            events,
        };
        let outcome = std::panic::AssertUnwindSafe(journey(sandbox))
            .catch_unwind()
            .await;
        if let Ok(pods) = Api::<Pod>::namespaced(client.clone(), &namespace)
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
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates the cluster `name` as a customer would (no status, no uid).
    pub async fn create(&self, name: &str, nodes: u32, edit: impl FnOnce(&mut VectorCluster)) {
        let mut vc = crate::cluster(operator::EngineVersion::new(1, 13, 0), nodes, 1);
        vc.metadata = Default::default();
        vc.metadata.name = Some(name.to_owned());
        edit(&mut vc);
        self.api::<VectorCluster>()
            .create(&PostParams::default(), &vc)
            .await
            .unwrap();
    }

    /// One reconcile of the cluster as the apiserver has it now.
    pub async fn reconcile(
        &self,
        name: &str,
    ) -> Result<kube::runtime::controller::Action, reconcile::Error> {
        let current = self.api::<VectorCluster>().get(name).await.unwrap();
        reconcile::reconcile(Arc::new(current), self.ctx.clone()).await
    }

    pub async fn cluster(&self, name: &str) -> VectorCluster {
        self.api::<VectorCluster>().get(name).await.unwrap()
    }

    /// Waits until `check` holds, polling; panics naming `what` after 60 s.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        for _ in 0..120 {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        panic!("{what}: not within 60 s");
    }
}

#[tokio::test]
async fn against_a_real_cluster_create_reconcile_scale_and_delete() {
    Sandbox::run("journey", |sandbox| async move {
        let Sandbox {
            client,
            namespace,
            ctx,
            ..
        } = &sandbox;
        let (client, namespace, ctx) = (client.clone(), namespace.clone(), ctx.clone());
        let clusters: Api<VectorCluster> = Api::namespaced(client.clone(), &namespace);
        let mut vc = crate::cluster(operator::EngineVersion::new(1, 13, 0), 3, 2);
        vc.metadata = Default::default();
        vc.metadata.name = Some("search".to_owned());
        clusters.create(&PostParams::default(), &vc).await.unwrap();
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
    })
    .await;
}
