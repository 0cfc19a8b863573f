//! Standard Kubernetes conditions, computed as a closed set and merged so
//! that `lastTransitionTime` moves only when a condition's status flips.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase word a program can match on.
    pub reason: String,
    /// What a person should know.
    pub message: String,
    pub last_transition_time: String,
    pub observed_generation: Option<i64>,
}

/// A condition as a reconcile computes it, before timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Observed {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Observed {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

fn status_word(status: bool) -> &'static str {
    if status { "True" } else { "False" }
}

/// The new condition list: each observed condition keeps its previous
/// `lastTransitionTime` unless its status changed.
pub fn merge(
    previous: &[Condition],
    observed: &[Observed],
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    observed
        .iter()
        .map(|o| {
            let status = status_word(o.status).to_owned();
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == o.type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| now.to_rfc3339_opts(SecondsFormat::Secs, true));
            Condition {
                type_: o.type_.to_owned(),
                status,
                reason: o.reason.to_owned(),
                message: o.message.clone(),
                last_transition_time,
                observed_generation: generation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 5, 0).unwrap();
        let first = merge(
            &[],
            &[Observed::new("Ready", false, "Provisioning", "starting")],
            Some(1),
            t0,
        );
        assert_eq!(first[0].last_transition_time, "2026-11-01T00:00:00Z");
        let same = merge(
            &first,
            &[Observed::new(
                "Ready",
                false,
                "Provisioning",
                "still starting",
            )],
            Some(1),
            t1,
        );
        assert_eq!(same[0].last_transition_time, "2026-11-01T00:00:00Z");
        assert_eq!(same[0].message, "still starting");
        let flipped = merge(
            &same,
            &[Observed::new("Ready", true, "AllNodesReady", "3/3")],
            Some(2),
            t1,
        );
        assert_eq!(flipped[0].last_transition_time, "2026-11-01T00:05:00Z");
        assert_eq!(flipped[0].status, "True");
        assert_eq!(flipped[0].observed_generation, Some(2));
    }
}
