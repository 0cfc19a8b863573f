//! The sync loop of a connected data plane (`operator::sync::run`) against
//! a control plane stand-in on loopback (`control_plane.rs`) and the fake
//! Kubernetes API server (`operator::fake_apiserver`), which `kube::Client`
//! talks to over HTTP. Waits poll with generous limits; no assert bounds
//! the wall clock.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod absence;
mod apiserver;
mod control_plane;
mod enrollment;
mod resync;

use std::collections::BTreeMap;
use std::time::Duration;

use crds::backup::{BackupDestination, BackupPolicy, Retention, VectorClusterBackupSpec};
use crds::sync::{Desired, Object};
use crds::vector_cluster::{NodeResources, VectorClusterSpec};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use operator::fake_apiserver::ApiServer;
use operator::sync::{Backoff, Config, LocalBackup, SyncError};
use tokio::sync::oneshot;
use uuid::Uuid;

use control_plane::{StandIn, TOKEN};

pub const OPERATOR_NS: &str = "quartermaster-system";
pub const ORG: Uuid = Uuid::from_u128(0x0a);
pub const CLUSTER_ID: Uuid = Uuid::from_u128(0xc1);
pub const BACKUP_KEY_SECRET: &str = "backup-key";

/// One data plane: its apiserver, its control plane, its token file.
pub(crate) struct Plane {
    pub api: ApiServer,
    pub address: std::net::SocketAddr,
    pub client: kube::Client,
    pub cp: StandIn,
    token: tempfile::NamedTempFile,
}

impl Plane {
    pub async fn new() -> Plane {
        Plane::with(StandIn::start().await).await
    }

    /// A data plane of its own (a new apiserver) enrolling with `cp`.
    pub async fn with(cp: StandIn) -> Plane {
        let api = ApiServer::new();
        let address = api.serve().await.unwrap();
        let client = ApiServer::client(address).unwrap();
        api.insert(&Namespace {
            metadata: ObjectMeta {
                name: Some(OPERATOR_NS.to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        })
        .unwrap();
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), format!("{TOKEN}\n")).unwrap();
        Plane {
            api,
            address,
            client,
            cp,
            token,
        }
    }

    pub fn token_file(&self) -> &std::path::Path {
        self.token.path()
    }

    /// Production behaviour, test timings.
    pub fn config(&self) -> Config {
        let mut config = Config::new(self.cp.url(), OPERATOR_NS, self.token.path());
        config.wait = Duration::from_secs(1);
        config.backoff = Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
        };
        config.unauthorized_retry = Duration::from_millis(100);
        config.report_interval = Duration::from_millis(50);
        config
    }

    /// Backups configured here: a bucket and its key in a Secret.
    pub fn with_backups(&self, config: &mut Config) {
        self.api
            .insert(&Secret {
                metadata: ObjectMeta {
                    name: Some(BACKUP_KEY_SECRET.to_owned()),
                    namespace: Some(OPERATOR_NS.to_owned()),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([
                    (
                        "AWS_ACCESS_KEY_ID".to_owned(),
                        ByteString(b"AKIATEST".to_vec()),
                    ),
                    (
                        "AWS_SECRET_ACCESS_KEY".to_owned(),
                        ByteString(b"test-secret-key".to_vec()),
                    ),
                ])),
                ..Secret::default()
            })
            .unwrap();
        config.backup = LocalBackup {
            bucket: Some("dp-backups".to_owned()),
            endpoint: "http://127.0.0.1:9000".to_owned(),
            region: "eu-west-1".to_owned(),
            prefix: Some("eu".to_owned()),
        };
        config.backup_credentials_secret = Some(BACKUP_KEY_SECRET.to_owned());
    }

    pub fn start(&self, config: Config) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(operator::sync::run(
            config,
            self.client.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            handle,
            stop: Some(stop),
        }
    }

    /// Until the sync loop has applied everything put so far and polls
    /// from the latest version again.
    pub async fn settled(&self) {
        let version = self.cp.lock().version;
        let from = self.cp.lock().polls.len();
        eventually("a poll from the latest version", || {
            self.cp.lock().polls[from..]
                .contains(&version)
                .then_some(())
        })
        .await;
    }
}

#[derive(Debug)]
pub(crate) struct Running {
    handle: tokio::task::JoinHandle<Result<(), SyncError>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    pub async fn stop(mut self) -> Result<(), SyncError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.handle).await.unwrap()
    }

    /// How the loop ended by itself.
    pub async fn ended(mut self) -> Result<(), SyncError> {
        (&mut self.handle).await.unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Polls `probe` until it answers; fails after a generous while.
pub async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(found) = probe() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("waited a minute for {what}");
}

pub fn cluster_spec() -> VectorClusterSpec {
    let resources = NodeResources {
        cpu_millicores: 500,
        memory_mib: 1024,
        storage_gib: 1,
    };
    VectorClusterSpec::new("1.13.2".parse().unwrap(), 1, 1, resources)
}

/// A destination as the control plane sends it: no bucket, the id as prefix.
pub fn unplaced(id: Uuid) -> BackupDestination {
    BackupDestination {
        bucket: String::new(),
        prefix: id.to_string(),
        endpoint: String::new(),
        region: "us-east-1".to_owned(),
        credentials_secret: String::new(),
    }
}

pub fn desired(id: Uuid, name: &str, object: Object) -> Desired {
    Desired {
        id,
        organization_id: ORG,
        name: name.to_owned(),
        generation: 1,
        version: 0,
        delete: false,
        object,
    }
}

/// Cluster `search`, backed up daily, to be loaded from backup `nightly`.
pub fn cluster() -> Desired {
    let mut spec = cluster_spec();
    spec.backup = Some(BackupPolicy {
        schedule: "@daily".to_owned(),
        retention: Retention {
            count: 7,
            max_age_days: 7,
        },
        destination: unplaced(CLUSTER_ID),
        verify: false,
    });
    desired(
        CLUSTER_ID,
        "search",
        Object::VectorCluster {
            spec: Box::new(spec),
            restore_from: Some("nightly".to_owned()),
        },
    )
}

pub fn manual_backup() -> Desired {
    desired(
        Uuid::from_u128(0xb1),
        "search-by-hand",
        Object::VectorClusterBackup {
            spec: VectorClusterBackupSpec {
                cluster: "search".to_owned(),
                destination: unplaced(CLUSTER_ID),
            },
        },
    )
}

pub fn tenant_ns() -> String {
    crds::tenant::namespace_of(ORG)
}
