//! The Jobs that take and restore backups: the operator's own image running
//! `quartermaster-operator backup|restore`, with the bucket's credentials
//! and the cluster's admin key from their Secrets.

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, PodSpec, PodTemplateSpec,
    SecretKeySelector, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::secret::ADMIN_KEY;
use super::{HTTP_PORT, string_map};
use crate::crd::backup::BackupDestination;
use crate::names::{LABEL_CLUSTER, MANAGED_BY, Names};

/// What a backup or restore Job does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work<'a> {
    /// Back up the cluster, which runs `version` on `nodes` nodes.
    Backup { version: &'a str, nodes: u32 },
    /// Restore the backup into the cluster, which has `nodes` nodes.
    Restore { nodes: u32 },
}

/// One backup or restore of `cluster` in `namespace`.
#[derive(Debug, Clone)]
pub struct BackupJob<'a> {
    /// The Job's name: the VectorClusterBackup's or VectorClusterRestore's.
    pub name: &'a str,
    pub namespace: &'a str,
    pub cluster: &'a str,
    /// The backup's name in the bucket (the VectorClusterBackup's).
    pub backup: &'a str,
    pub destination: &'a BackupDestination,
    pub work: Work<'a>,
    pub image: &'a str,
    /// The VectorClusterBackup or VectorClusterRestore it belongs to.
    pub owner: OwnerReference,
}

/// The API base URL of node `ordinal` of `cluster`, through its headless
/// Service.
pub fn node_url(cluster: &Names, namespace: &str, ordinal: u32) -> String {
    format!(
        "http://{}-{ordinal}.{}.{namespace}.svc:{HTTP_PORT}",
        cluster.statefulset, cluster.headless_service
    )
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

pub fn build(job: &BackupJob<'_>, names: &Names) -> Job {
    let (verb, nodes, extra) = match job.work {
        Work::Backup { version, nodes } => (
            "backup",
            nodes,
            vec!["--version".to_owned(), version.to_owned()],
        ),
        Work::Restore { nodes, .. } => ("restore", nodes, vec![]),
    };
    let mut args = vec![
        verb.to_owned(),
        "--cluster".to_owned(),
        format!("{}/{}", job.namespace, job.cluster),
        "--backup".to_owned(),
        job.backup.to_owned(),
        "--bucket".to_owned(),
        job.destination.bucket.clone(),
        "--prefix".to_owned(),
        job.destination.prefix.clone(),
        "--endpoint".to_owned(),
        job.destination.endpoint.clone(),
        "--region".to_owned(),
        job.destination.region.clone(),
    ];
    args.extend(extra);
    for ordinal in 0..nodes {
        args.push("--node".to_owned());
        args.push(node_url(names, job.namespace, ordinal));
    }
    let credentials = &job.destination.credentials_secret;
    let labels = string_map([
        ("app.kubernetes.io/managed-by", MANAGED_BY.to_owned()),
        ("app.kubernetes.io/component", verb.to_owned()),
        (LABEL_CLUSTER, job.cluster.to_owned()),
    ]);
    Job {
        metadata: ObjectMeta {
            name: Some(job.name.to_owned()),
            namespace: Some(job.namespace.to_owned()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![job.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            // The program retries each snapshot itself; a pod that still
            // fails is tried twice more before the backup is Failed.
            backoff_limit: Some(2),
            active_deadline_seconds: Some(6 * 3600),
            ttl_seconds_after_finished: Some(7 * 86_400),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_owned()),
                    containers: vec![Container {
                        name: verb.to_owned(),
                        image: Some(job.image.to_owned()),
                        args: Some(args),
                        env: Some(vec![
                            secret_env("AWS_ACCESS_KEY_ID", credentials, "AWS_ACCESS_KEY_ID"),
                            secret_env(
                                "AWS_SECRET_ACCESS_KEY",
                                credentials,
                                "AWS_SECRET_ACCESS_KEY",
                            ),
                            secret_env("QDRANT_API_KEY", &names.api_key_secret, ADMIN_KEY),
                        ]),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "work".to_owned(),
                            mount_path: "/work".to_owned(),
                            ..VolumeMount::default()
                        }]),
                        ..Container::default()
                    }],
                    // A restore downloads every snapshot before loading any.
                    volumes: Some(vec![Volume {
                        name: "work".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination() -> BackupDestination {
        BackupDestination {
            bucket: "backups".into(),
            prefix: "org-acme".into(),
            endpoint: "https://s3.eu-west-1.amazonaws.com".into(),
            region: "eu-west-1".into(),
            credentials_secret: "backup-credentials".into(),
        }
    }

    #[test]
    fn a_backup_job_names_every_node_and_takes_secrets_by_reference() {
        let names = Names::of("search").unwrap();
        let destination = destination();
        let job = build(
            &BackupJob {
                name: "search-20261125-0200",
                namespace: "org-acme",
                cluster: "search",
                backup: "search-20261125-0200",
                destination: &destination,
                work: Work::Backup {
                    version: "1.13.6",
                    nodes: 2,
                },
                image: "ghcr.io/quartermaster/operator:0.1.0",
                owner: OwnerReference::default(),
            },
            &names,
        );
        let spec = job.spec.unwrap();
        let pod = spec.template.spec.unwrap();
        let container = &pod.containers[0];
        assert_eq!(
            container.args.as_ref().unwrap().join(" "),
            "backup --cluster org-acme/search --backup search-20261125-0200 --bucket backups \
             --prefix org-acme --endpoint https://s3.eu-west-1.amazonaws.com --region eu-west-1 \
             --version 1.13.6 \
             --node http://search-0.search-peers.org-acme.svc:6333 \
             --node http://search-1.search-peers.org-acme.svc:6333"
        );
        let env: Vec<(String, String, String)> = container
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| {
                let r = e
                    .value_from
                    .as_ref()
                    .unwrap()
                    .secret_key_ref
                    .as_ref()
                    .unwrap();
                (e.name.clone(), r.name.clone(), r.key.clone())
            })
            .collect();
        assert_eq!(
            env,
            [
                (
                    "AWS_ACCESS_KEY_ID".into(),
                    "backup-credentials".into(),
                    "AWS_ACCESS_KEY_ID".into()
                ),
                (
                    "AWS_SECRET_ACCESS_KEY".into(),
                    "backup-credentials".into(),
                    "AWS_SECRET_ACCESS_KEY".into()
                ),
                (
                    "QDRANT_API_KEY".into(),
                    "search-api-keys".into(),
                    "api-key".into()
                ),
            ]
        );
        assert!(
            container
                .env
                .as_ref()
                .unwrap()
                .iter()
                .all(|e| e.value.is_none()),
            "no secret inline"
        );
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.backoff_limit, Some(2));
    }
}
