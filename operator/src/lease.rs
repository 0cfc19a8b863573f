//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several
//! operator replicas exactly one reconciles.
//!
//! The decision is pure ([`decide`]); the I/O writes the Lease with its
//! `resourceVersion`, so two candidates racing for an expired lease cannot
//! both win. The holder renews well within the lease duration and, if it
//! cannot renew before the lease runs out, the process exits rather than
//! keep writing without it (see [`hold`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};

/// What a candidate should do about the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No lease, or an expired one: take it.
    Acquire,
    /// Ours: renew it.
    Renew,
    /// Someone else holds it until `until`.
    Wait {
        holder: String,
        until: DateTime<Utc>,
    },
}

fn to_chrono(time: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(time.0.as_microsecond())
}

pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: DateTime<Utc>) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let Some(holder) = spec.holder_identity.as_deref().filter(|h| !h.is_empty()) else {
        return Decision::Acquire;
    };
    if holder == me {
        return Decision::Renew;
    }
    let duration = chrono::Duration::seconds(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let renewed = spec.renew_time.as_ref().and_then(to_chrono);
    match renewed {
        Some(renewed) if renewed + duration > now => Decision::Wait {
            holder: holder.to_owned(),
            until: renewed + duration,
        },
        _ => Decision::Acquire,
    }
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub duration: Duration,
}

fn micro_time(now: DateTime<Utc>) -> Option<MicroTime> {
    Timestamp::from_microsecond(now.timestamp_micros())
        .ok()
        .map(MicroTime)
}

impl Candidate {
    fn spec(
        &self,
        previous: Option<&LeaseSpec>,
        now: DateTime<Utc>,
        decision: &Decision,
    ) -> LeaseSpec {
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        let acquiring = *decision == Decision::Acquire;
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.duration.as_secs()).unwrap_or(15)),
            acquire_time: if acquiring {
                micro_time(now)
            } else {
                previous.and_then(|p| p.acquire_time.clone())
            },
            renew_time: micro_time(now),
            lease_transitions: Some(if acquiring && previous.is_some() {
                transitions + 1
            } else {
                transitions
            }),
            ..LeaseSpec::default()
        }
    }

    /// One attempt: `Ok(true)` when this candidate holds the lease afterwards.
    pub async fn try_hold(&self, client: &Client) -> Result<bool, kube::Error> {
        let api: Api<Lease> = Api::namespaced(client.clone(), &self.namespace);
        let now = Utc::now();
        let current = api.get_opt(&self.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        );
        if let Decision::Wait { .. } = decision {
            return Ok(false);
        }
        let spec = self.spec(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            now,
            &decision,
        );
        let written = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some(self.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                api.create(&PostParams::default(), &lease).await.map(|_| ())
            }
            Some(mut lease) => {
                // Replace carries the resourceVersion we read: a concurrent
                // writer makes this fail with 409 instead of both winning.
                lease.spec = Some(spec);
                api.replace(&self.name, &PostParams::default(), &lease)
                    .await
                    .map(|_| ())
            }
        };
        match written {
            Ok(()) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }
}

impl Candidate {
    /// Gives the lease up, if this candidate holds it, so that a successor
    /// takes it at once instead of waiting out its duration (as client-go's
    /// `ReleaseOnCancel` does: the holder cleared, conditional on the
    /// `resourceVersion` read). `Ok(true)` when it was released.
    pub async fn release(&self, client: &Client) -> Result<bool, kube::Error> {
        let api: Api<Lease> = Api::namespaced(client.clone(), &self.namespace);
        let Some(mut lease) = api.get_opt(&self.name).await? else {
            return Ok(false);
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.identity.as_str());
        if !ours {
            return Ok(false);
        }
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            acquire_time: None,
            renew_time: micro_time(Utc::now()),
            ..lease.spec.unwrap_or_default()
        });
        match api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }
}

/// The lease while it is held: renewed in the background until
/// [`Held::release`].
pub struct Held {
    client: Client,
    candidate: Candidate,
    renewal: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("candidate", &self.candidate)
            .finish_non_exhaustive()
    }
}

impl Held {
    /// Stops renewing and gives the lease up, for a clean shutdown.
    pub async fn release(self) {
        self.renewal.abort();
        match self.candidate.release(&self.client).await {
            Ok(true) => tracing::info!("released the leader lease"),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "releasing the leader lease failed"),
        }
    }
}

/// Blocks until leadership is acquired, then keeps renewing in the
/// background. If the lease cannot be renewed before it would expire, the
/// process exits: another replica may already be reconciling.
pub async fn hold(client: Client, candidate: Candidate) -> Held {
    let retry = candidate.duration / 3;
    loop {
        match candidate.try_hold(&client).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "acquiring the leader lease failed"),
        }
        tokio::time::sleep(retry).await;
    }
    tracing::info!(identity = %candidate.identity, "became the leader");
    let renewing = (client.clone(), candidate.clone());
    let renewal = tokio::spawn(async move {
        let (client, candidate) = renewing;
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(retry).await;
            match candidate.try_hold(&client).await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("lost the leader lease to another replica; exiting");
                    std::process::exit(1);
                }
                Err(err) => tracing::warn!(error = %err, "renewing the leader lease failed"),
            }
            if last_renewal.elapsed() >= candidate.duration {
                tracing::error!("could not renew the leader lease in time; exiting");
                std::process::exit(1);
            }
        }
    });
    Held {
        client,
        candidate,
        renewal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn held_by(holder: &str, renewed: DateTime<Utc>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            renew_time: micro_time(renewed),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn nobody_holds_it_so_take_it() {
        let now = Utc::now();
        assert_eq!(decide(None, "a", now), Decision::Acquire);
        assert_eq!(
            decide(Some(&LeaseSpec::default()), "a", now),
            Decision::Acquire
        );
    }

    #[test]
    fn a_live_lease_of_another_is_waited_for_and_an_expired_one_taken() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let lease = held_by("b", t0);
        assert_eq!(
            decide(Some(&lease), "a", t0 + chrono::Duration::seconds(10)),
            Decision::Wait {
                holder: "b".into(),
                until: t0 + chrono::Duration::seconds(15)
            }
        );
        assert_eq!(
            decide(Some(&lease), "a", t0 + chrono::Duration::seconds(16)),
            Decision::Acquire
        );
        assert_eq!(
            decide(Some(&lease), "b", t0 + chrono::Duration::seconds(16)),
            Decision::Renew
        );
    }

    #[test]
    fn taking_over_counts_a_transition_and_renewing_does_not() {
        let candidate = Candidate {
            name: "qm".into(),
            namespace: "ops".into(),
            identity: "a".into(),
            duration: Duration::from_secs(15),
        };
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let mut previous = held_by("b", t0);
        previous.lease_transitions = Some(4);
        let taken = candidate.spec(Some(&previous), t0, &Decision::Acquire);
        assert_eq!(taken.lease_transitions, Some(5));
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        let renewed = candidate.spec(Some(&taken), t0, &Decision::Renew);
        assert_eq!(renewed.lease_transitions, Some(5));
        assert_eq!(renewed.acquire_time, taken.acquire_time);
    }
}
