//! Test restores. After a backup of a cluster whose policy asks for it
//! (`spec.backup.verify`) succeeds, the scheduler restores it into a
//! throwaway one-node cluster beside the source. The restore Job proves
//! every collection's point count against the manifest (`backup::run`).
//! The result goes to `status.backups.lastVerified`, and the throwaway
//! cluster and its restore are deleted. The throwaway cluster carries no
//! organization or id labels, so the usage collector never reports it:
//! it is not billed.
//!
//! The decision is pure ([`decide`]); [`pass`] is its I/O.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use kube::api::{DeleteParams, ObjectMeta};
use kube::{Api, Resource, ResourceExt};

use super::events::Event;
use super::{Context, Error, server_side_apply};
use crate::VectorCluster;
use crate::crd::backup::{
    BackupPhase, VectorClusterRestore, VectorClusterRestoreSpec, Verification,
};
use crate::crd::vector_cluster::{STORAGE_GIB, VectorClusterSpec};

/// On a throwaway cluster: the cluster whose backup it checks.
pub const LABEL_VERIFIES: &str = "quartermaster.dev/verifies";

/// How long a test restore may take, the throwaway cluster's start
/// included, before it counts as failed.
pub const TIMEOUT: Duration = Duration::hours(2);

/// The throwaway cluster's name, and its restore's: short whatever the
/// source's name (cluster names allow 40 characters), one per source.
pub fn throwaway_name(cluster: &str) -> String {
    format!("verify-{}", &crate::build::digest(cluster.as_bytes())[..10])
}

/// One node holding every shard: the source's version and node size, with
/// room for all of its nodes' data.
pub fn throwaway_spec(source: &VectorClusterSpec) -> VectorClusterSpec {
    let mut resources = source.resources;
    resources.storage_gib = source
        .resources
        .storage_gib
        .saturating_mul(source.nodes)
        .min(*STORAGE_GIB.end());
    VectorClusterSpec {
        storage_class: source.storage_class.clone(),
        ..VectorClusterSpec::new(source.version, 1, 1, resources)
    }
}

/// A test restore under way, as its restore object shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underway {
    pub backup: String,
    pub started: DateTime<Utc>,
    pub phase: BackupPhase,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to verify, nothing under way.
    Idle,
    /// Restore this backup into a new throwaway cluster.
    Start(String),
    /// A restore is under way.
    Wait,
    /// The restore ended (or timed out): record this and delete it.
    Finish(Verification),
    /// Verification was turned off while a restore was under way: delete it.
    Abandon,
}

/// The next step for a cluster whose newest successful backup is `newest`.
pub fn decide(
    enabled: bool,
    newest: Option<&str>,
    last: Option<&Verification>,
    underway: Option<&Underway>,
    now: DateTime<Utc>,
) -> Step {
    let at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    match underway {
        Some(_) if !enabled => Step::Abandon,
        Some(u) => {
            let outcome = |succeeded: bool, message: Option<String>| {
                Step::Finish(Verification {
                    backup: u.backup.clone(),
                    finished_at: at.clone(),
                    succeeded,
                    message,
                })
            };
            match u.phase {
                BackupPhase::Succeeded => outcome(
                    true,
                    Some("every collection came back with the points the backup counted".into()),
                ),
                BackupPhase::Failed => outcome(false, u.message.clone()),
                _ if now - u.started > TIMEOUT => outcome(
                    false,
                    Some(format!(
                        "the test restore did not finish within {} hours{}",
                        TIMEOUT.num_hours(),
                        u.message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    )),
                ),
                _ => Step::Wait,
            }
        }
        None if !enabled => Step::Idle,
        None => match newest {
            Some(backup) if last.is_none_or(|l| l.backup != backup) => {
                Step::Start(backup.to_owned())
            }
            _ => Step::Idle,
        },
    }
}

/// What a pass did: the verification to record (the last one when nothing
/// ended), and the backup a restore under way checks.
#[derive(Debug)]
pub struct Outcome {
    pub last: Option<Verification>,
    pub verifying: Option<String>,
    /// Objects to delete once the status holds the result.
    pub remove: bool,
}

/// One look at `vc`'s test restore.
pub async fn pass(
    ctx: &Context,
    vc: &VectorCluster,
    namespace: &str,
    newest: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    let enabled = vc.spec.backup.as_ref().is_some_and(|b| b.verify);
    let summary = vc.status.as_ref().and_then(|s| s.backups.as_ref());
    let last = summary.and_then(|b| b.last_verified.clone());
    let was_verifying = summary.and_then(|b| b.verifying.clone());
    // Nothing asked for and nothing under way: nothing to look at.
    if !enabled && was_verifying.is_none() {
        return Ok(Outcome {
            last,
            verifying: None,
            remove: false,
        });
    }
    let name = throwaway_name(&vc.name_any());
    // The status names a restore under way once one was started; only then
    // is there one to read.
    let underway = match was_verifying {
        Some(_) => {
            let restores: Api<VectorClusterRestore> =
                Api::namespaced(ctx.client.clone(), namespace);
            restores.get_opt(&name).await?.map(|r| Underway {
                backup: r.spec.backup.clone(),
                started: r
                    .meta()
                    .creation_timestamp
                    .as_ref()
                    .and_then(|t| DateTime::from_timestamp_micros(t.0.as_microsecond()))
                    .unwrap_or(now),
                phase: r.status.as_ref().map(|s| s.phase).unwrap_or_default(),
                message: r.status.and_then(|s| s.message),
            })
        }
        None => None,
    };
    let step = decide(enabled, newest, last.as_ref(), underway.as_ref(), now);
    let outcome = |last, verifying, remove| Outcome {
        last,
        verifying,
        remove,
    };
    Ok(match step {
        Step::Idle => outcome(last, None, false),
        Step::Wait => outcome(last, underway.map(|u| u.backup), false),
        Step::Abandon => outcome(last, None, true),
        Step::Finish(verification) => {
            let note = format!(
                "test restore of {}: {}",
                verification.backup,
                verification.message.as_deref().unwrap_or("failed")
            );
            let event = if verification.succeeded {
                Event::normal("BackupVerified", note)
            } else {
                Event::warning("BackupVerificationFailed", note)
            };
            ctx.events.about(vc, event).await;
            outcome(Some(verification), None, true)
        }
        Step::Start(backup) => {
            start(ctx, vc, namespace, &name, &backup).await?;
            outcome(last, Some(backup), false)
        }
    })
}

/// Makes the throwaway cluster and the restore into it, both owned by
/// `vc` (they go when it goes).
async fn start(
    ctx: &Context,
    vc: &VectorCluster,
    namespace: &str,
    name: &str,
    backup: &str,
) -> Result<(), Error> {
    let meta = ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some([(LABEL_VERIFIES.to_owned(), vc.name_any())].into()),
        owner_references: vc.owner_ref(&()).map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    let mut throwaway = VectorCluster::new(name, throwaway_spec(&vc.spec));
    throwaway.metadata = meta.clone();
    let clusters: Api<VectorCluster> = Api::namespaced(ctx.client.clone(), namespace);
    server_side_apply(&clusters, name, &throwaway).await?;
    let mut restore = VectorClusterRestore::new(
        name,
        VectorClusterRestoreSpec {
            backup: backup.to_owned(),
            target: name.to_owned(),
        },
    );
    restore.metadata = meta;
    let restores: Api<VectorClusterRestore> = Api::namespaced(ctx.client.clone(), namespace);
    server_side_apply(&restores, name, &restore).await?;
    ctx.events
        .about(
            vc,
            Event::normal(
                "BackupVerifying",
                format!("restoring {backup} into throwaway cluster {name} to check it"),
            ),
        )
        .await;
    Ok(())
}

/// Deletes the throwaway cluster and its restore; gone already is fine.
pub async fn remove(ctx: &Context, vc: &VectorCluster, namespace: &str) -> Result<(), Error> {
    let name = throwaway_name(&vc.name_any());
    let restores: Api<VectorClusterRestore> = Api::namespaced(ctx.client.clone(), namespace);
    let clusters: Api<VectorCluster> = Api::namespaced(ctx.client.clone(), namespace);
    for result in [
        restores
            .delete(&name, &DeleteParams::default())
            .await
            .map(|_| ()),
        clusters
            .delete(&name, &DeleteParams::default())
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            other => other?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn underway(phase: BackupPhase, started: &str) -> Underway {
        Underway {
            backup: "search-20261125-0200".into(),
            started: t(started),
            phase,
            message: Some("waiting for cluster verify-x to be Ready".into()),
        }
    }

    #[test]
    fn a_new_success_is_verified_once() {
        let now = t("2026-11-25T03:00:00Z");
        let newest = Some("search-20261125-0200");
        assert_eq!(
            decide(true, newest, None, None, now),
            Step::Start("search-20261125-0200".into())
        );
        let done = Verification {
            backup: "search-20261125-0200".into(),
            ..Verification::default()
        };
        assert_eq!(decide(true, newest, Some(&done), None, now), Step::Idle);
        assert_eq!(decide(false, newest, None, None, now), Step::Idle);
        assert_eq!(decide(true, None, None, None, now), Step::Idle);
    }

    #[test]
    fn a_restore_under_way_is_waited_for_recorded_when_it_ends_and_timed_out() {
        let now = t("2026-11-25T03:00:00Z");
        let started = "2026-11-25T02:30:00Z";
        assert_eq!(
            decide(
                true,
                None,
                None,
                Some(&underway(BackupPhase::Running, started)),
                now
            ),
            Step::Wait
        );
        let Step::Finish(ok) = decide(
            true,
            None,
            None,
            Some(&underway(BackupPhase::Succeeded, started)),
            now,
        ) else {
            panic!("finished")
        };
        assert!(ok.succeeded);
        assert_eq!(ok.finished_at, "2026-11-25T03:00:00Z");
        let mut failed = underway(BackupPhase::Failed, started);
        failed.message = Some("docs: 990 points restored, the backup counted 1000".into());
        let Step::Finish(bad) = decide(true, None, None, Some(&failed), now) else {
            panic!("finished")
        };
        assert!(!bad.succeeded);
        assert_eq!(bad.message, failed.message);
        let Step::Finish(late) = decide(
            true,
            None,
            None,
            Some(&underway(BackupPhase::Pending, "2026-11-25T00:30:00Z")),
            now,
        ) else {
            panic!("timed out")
        };
        assert_eq!(
            late.message.as_deref(),
            Some(
                "the test restore did not finish within 2 hours: waiting for cluster verify-x to be Ready"
            )
        );
        assert_eq!(
            decide(
                false,
                None,
                None,
                Some(&underway(BackupPhase::Running, started)),
                now
            ),
            Step::Abandon
        );
    }

    #[test]
    fn the_throwaway_cluster_is_one_node_with_room_for_every_node_and_a_short_name() {
        let mut source: VectorClusterSpec = serde_json::from_value(serde_json::json!({
            "version": "1.13.6", "nodes": 3, "replicationFactor": 2,
            "resources": { "cpuMillicores": 1000, "memoryMib": 2048, "storageGib": 10 },
        }))
        .unwrap();
        let spec = throwaway_spec(&source);
        assert_eq!((spec.nodes, spec.replication_factor), (1, 1));
        assert_eq!(spec.resources.storage_gib, 30);
        assert!(spec.backup.is_none(), "a throwaway is not backed up");
        assert!(spec.violations().is_empty());
        source.resources.storage_gib = *STORAGE_GIB.end();
        assert_eq!(
            throwaway_spec(&source).resources.storage_gib,
            *STORAGE_GIB.end()
        );
        let long = "a".repeat(crate::names::MAX_CLUSTER_NAME);
        assert_eq!(throwaway_name(&long).len(), "verify-".len() + 10);
        assert!(crate::names::Names::of(&throwaway_name(&long)).is_ok());
        assert_ne!(throwaway_name("search"), throwaway_name("logs"));
    }
}
