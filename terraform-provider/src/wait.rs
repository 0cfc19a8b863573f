//! Waiting for the data plane: the API accepts a change at once (`202`)
//! and carries it out after; a resource is settled once the data plane has
//! acted on its latest generation and reports it Ready.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::dto::Placed;
use crate::error::Error;

/// How often a waiting provider asks again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where a resource stands, as far as Terraform cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Settled,
    /// Still being carried out; the phase the API shows.
    Working(String),
    /// The data plane acted on the change and reports a failure.
    Failed {
        phase: String,
        reason: String,
    },
    /// Deletion was requested: to Terraform, already gone.
    Deleting,
}

impl Progress {
    /// Progress of a cluster or endpoint from its status: `settled_phases`
    /// count once the data plane has observed `generation`; a failure
    /// counts only then too, so a fix just sent is not judged by the old state.
    pub fn of(
        phase: &str,
        observed_generation: i64,
        generation: i64,
        deleting: bool,
        settled_phases: &[&str],
        reason: impl FnOnce() -> String,
    ) -> Progress {
        let observed = observed_generation >= generation;
        if deleting {
            Progress::Deleting
        } else if observed && settled_phases.contains(&phase) {
            Progress::Settled
        } else if observed && matches!(phase, "Failed" | "Degraded" | "Suspended") {
            Progress::Failed {
                phase: phase.to_owned(),
                reason: reason(),
            }
        } else {
            Progress::Working(phase.to_owned())
        }
    }
}

/// Progress of a cluster or endpoint with its spec at `generation`: the
/// spec types differ, so the caller reads it.
pub fn progress<S>(placed: &Placed<S>, generation: i64, settled_phases: &[&str]) -> Progress {
    let status = &placed.status;
    Progress::of(
        &status.phase,
        status.observed_generation,
        generation,
        placed.deletion_requested_at.is_some(),
        settled_phases,
        || reason(status.suspended_reason.as_deref(), &status.conditions),
    )
}

/// Why a resource is not Ready: the suspension reason, else the message of
/// the first condition that is not True.
pub fn reason(suspended: Option<&str>, conditions: &serde_json::Value) -> String {
    let from_conditions = || {
        conditions.as_array()?.iter().find_map(|c| {
            (c["status"] != "True")
                .then(|| c["message"].as_str().or(c["reason"].as_str()))
                .flatten()
        })
    };
    suspended
        .or_else(from_conditions)
        .unwrap_or("no reason given")
        .to_owned()
}

/// Asks `check` every `interval` until it answers `Ok`, for at most
/// `timeout`; when time runs out, `Err` with the last thing it answered.
pub async fn until<T, W, F, Fut>(
    timeout: Duration,
    interval: Duration,
    mut check: F,
) -> Result<Result<T, W>, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, W>, Error>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await? {
            Ok(done) => return Ok(Ok(done)),
            Err(waiting) if Instant::now() + interval > deadline => return Ok(Err(waiting)),
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const READY: &[&str] = &["Ready"];

    fn none() -> String {
        String::new()
    }

    #[test]
    fn ready_counts_only_once_the_latest_generation_is_observed() {
        assert_eq!(
            Progress::of("Ready", 2, 3, false, READY, none),
            Progress::Working("Ready".into())
        );
        assert_eq!(
            Progress::of("Ready", 3, 3, false, READY, none),
            Progress::Settled
        );
        assert_eq!(
            Progress::of("Updating", 3, 3, false, READY, none),
            Progress::Working("Updating".into())
        );
    }

    #[test]
    fn a_failure_of_an_older_generation_is_waited_out() {
        assert_eq!(
            Progress::of("Degraded", 1, 2, false, READY, || "old".into()),
            Progress::Working("Degraded".into())
        );
        assert_eq!(
            Progress::of("Degraded", 2, 2, false, READY, || "RolloutHalted".into()),
            Progress::Failed {
                phase: "Degraded".into(),
                reason: "RolloutHalted".into()
            }
        );
    }

    #[test]
    fn a_deletion_requested_is_gone_whatever_the_phase() {
        assert_eq!(
            Progress::of("Ready", 1, 1, true, READY, none),
            Progress::Deleting
        );
    }

    #[test]
    fn the_reason_is_the_suspension_else_the_first_false_condition() {
        let conditions = json!([
            {"type": "Progressing", "status": "True", "message": "fine"},
            {"type": "Ready", "status": "False", "reason": "RolloutHalted", "message": "node 2 crashed"}
        ]);
        assert_eq!(reason(None, &conditions), "node 2 crashed");
        assert_eq!(
            reason(Some("unpaid invoice"), &conditions),
            "unpaid invoice"
        );
        assert_eq!(reason(None, &json!(null)), "no reason given");
    }

    #[tokio::test]
    async fn until_returns_the_first_answer_that_is_done() {
        let mut calls = 0;
        let found: Result<u32, &str> =
            until(Duration::from_secs(5), Duration::from_millis(1), || {
                calls += 1;
                let answer = if calls < 3 {
                    Err("Provisioning")
                } else {
                    Ok(calls)
                };
                async move { Ok(answer) }
            })
            .await
            .unwrap();
        assert_eq!(found, Ok(3));
    }

    #[tokio::test]
    async fn until_gives_up_at_the_timeout_with_the_last_answer() {
        let found: Result<(), &str> = until(
            Duration::from_millis(20),
            Duration::from_millis(5),
            || async { Ok(Err("Provisioning")) },
        )
        .await
        .unwrap();
        assert_eq!(found, Err("Provisioning"));
    }
}
