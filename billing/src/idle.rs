//! The idle lifecycle of a plan's vector clusters (the free tier's), as
//! pure decisions: when a cluster that serves no request is warned,
//! suspended (data kept), warned again and deleted, by the plan's catalog
//! fields. The control plane gathers the facts (the cluster's `requests`
//! readings, the steps already taken) and acts (`money::idle` there).
//!
//! The rule, so that an unreadable counter never counts as idle:
//! - A running cluster is *idle since* the latest of: its creation, its
//!   latest resume, and the end of the latest hour in which it served a
//!   request ([`idle_since`]).
//! - The warning is due once it has been idle `suspend_after -
//!   warning_before`, the suspension once it has been idle `suspend_after`
//!   and the warning was sent at least `warning_before` earlier. Each also
//!   needs the cluster's `requests` readings to cover every whole hour of
//!   the trailing span it stands for ([`Spans`]): an hour without a reading
//!   (collector down, counter unreadable) counts as possible activity, so
//!   the step waits until that span has been read throughout.
//! - Once suspended for idleness, the deletion clock runs from the
//!   suspension. Only the most imminent deletion warning whose time has
//!   come is sent (a worker down for days sends one, not all), and the
//!   deletion waits until that warning was sent its days before.
//!
//! Each step is taken once per idle stretch: the control plane keys what it
//! did by the cluster, the [`Step::key`] and the stretch's `idle_since`.

use chrono::{DateTime, Duration, Utc};
use metering::rollups::RequestReadings;

use crate::catalog::Plan;

/// A plan's idle lifecycle, from its catalog fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdlePolicy {
    pub suspend_after_days: u32,
    /// 0: no warning.
    pub warning_days_before: u32,
    /// `None`: an idle-suspended cluster is kept until resumed.
    pub delete_after_days: Option<u32>,
    pub delete_warnings_days_before: Vec<u32>,
}

impl IdlePolicy {
    /// `None` for a plan whose clusters are never suspended for idleness.
    pub fn of(plan: &Plan) -> Option<IdlePolicy> {
        Some(IdlePolicy {
            suspend_after_days: plan.idle_suspend_after_days?,
            warning_days_before: plan.idle_warning_days_before,
            delete_after_days: plan.idle_delete_after_days,
            delete_warnings_days_before: plan.idle_delete_warnings_days_before.clone(),
        })
    }

    fn suspend_after(&self) -> Duration {
        days(self.suspend_after_days)
    }

    fn idle_before_warning(&self) -> Duration {
        days(
            self.suspend_after_days
                .saturating_sub(self.warning_days_before),
        )
    }
}

/// One step of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The warning before the suspension.
    SuspendWarning,
    Suspend,
    /// A warning `days_before` the deletion.
    DeleteWarning {
        days_before: u32,
    },
    Delete,
}

impl Step {
    /// How the step is recorded, once per cluster and idle stretch.
    pub fn key(self) -> String {
        match self {
            Step::SuspendWarning => "suspend_warning".to_owned(),
            Step::Suspend => "suspend".to_owned(),
            Step::DeleteWarning { days_before } => format!("delete_warning_{days_before}"),
            Step::Delete => "delete".to_owned(),
        }
    }
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// The start of the hour containing `time`.
pub fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    metering::gauge::hour_of(time)
}

/// When a running cluster's idle stretch began: the latest of
/// `active_from` (its creation or latest resume) and the end of the
/// latest hour in which it served a request.
pub fn idle_since(
    active_from: DateTime<Utc>,
    last_active_hour: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    last_active_hour.map_or(active_from, |hour| {
        active_from.max(hour + Duration::hours(1))
    })
}

/// The trailing spans whose readings a running cluster's steps need at
/// `now`, each from an hour's start to the hour of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spans {
    /// What the warning stands for: idle `suspend_after - warning_before`.
    pub warning: DateTime<Utc>,
    /// What the suspension stands for: idle `suspend_after`.
    pub suspension: DateTime<Utc>,
}

impl Spans {
    pub fn at(policy: &IdlePolicy, now: DateTime<Utc>) -> Spans {
        Spans {
            warning: hour_of(now - policy.idle_before_warning()),
            suspension: hour_of(now - policy.suspend_after()),
        }
    }
}

/// Whether `readings` show no request and a reading in every whole hour
/// from `from` (an hour's start) to the hour of `now`.
pub fn read_idle_throughout(
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    readings: &RequestReadings,
) -> bool {
    let hours = (hour_of(now) - from).num_hours().max(0);
    readings.covered_hours >= hours && readings.last_active_hour.is_none_or(|h| h < from)
}

/// Where a clock with warnings before its `deadline` stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The warning this many days before is due.
    Warn(u32),
    Act,
}

/// The most imminent warning whose time has come, if not sent yet; else
/// the action, once the deadline and that warning's notice have passed.
fn stage(
    deadline: DateTime<Utc>,
    warnings_days_before: &[u32],
    sent: impl Fn(u32) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Stage> {
    let imminent = warnings_days_before
        .iter()
        .copied()
        .filter(|&d| d > 0 && now >= deadline - days(d))
        .min();
    match imminent {
        None => (now >= deadline).then_some(Stage::Act),
        Some(d) => match sent(d) {
            None => Some(Stage::Warn(d)),
            Some(at) => (now >= deadline.max(at + days(d))).then_some(Stage::Act),
        },
    }
}

/// The step a running cluster idle since `idle_since` is due for at `now`,
/// if any: `warned_at` is when this stretch's warning was sent, and
/// `warning` and `suspension` are its readings since the [`Spans`].
pub fn running_step(
    policy: &IdlePolicy,
    idle_since: DateTime<Utc>,
    warned_at: Option<DateTime<Utc>>,
    warning: &RequestReadings,
    suspension: &RequestReadings,
    now: DateTime<Utc>,
) -> Option<Step> {
    let spans = Spans::at(policy, now);
    let deadline = idle_since + policy.suspend_after();
    match stage(deadline, &[policy.warning_days_before], |_| warned_at, now)? {
        Stage::Warn(_) => {
            read_idle_throughout(spans.warning, now, warning).then_some(Step::SuspendWarning)
        }
        Stage::Act => {
            read_idle_throughout(spans.suspension, now, suspension).then_some(Step::Suspend)
        }
    }
}

/// The step a cluster suspended for idleness at `suspended_at` is due for
/// at `now`, if any; `sent` tells when each deletion warning (by its days
/// before) was sent in this stretch.
pub fn suspended_step(
    policy: &IdlePolicy,
    suspended_at: DateTime<Utc>,
    sent: impl Fn(u32) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Step> {
    let deadline = suspended_at + days(policy.delete_after_days?);
    Some(
        match stage(deadline, &policy.delete_warnings_days_before, sent, now)? {
            Stage::Warn(days_before) => Step::DeleteWarning { days_before },
            Stage::Act => Step::Delete,
        },
    )
}

/// What the customer reads on a cluster suspended for idleness.
pub fn suspension_reason(policy: &IdlePolicy, plan_name: &str) -> String {
    let deletion = policy.delete_after_days.map_or_else(String::new, |d| {
        format!(" Unless it is resumed, it is deleted after {d} days suspended.")
    });
    format!(
        "This cluster served no request for {} days, so the {plan_name} plan suspended it (data \
         is kept). Resume it with one click on its page.{deletion}",
        policy.suspend_after_days
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn free() -> IdlePolicy {
        IdlePolicy {
            suspend_after_days: 7,
            warning_days_before: 2,
            delete_after_days: Some(28),
            delete_warnings_days_before: vec![7, 1],
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap()
    }

    fn read(last_active_hour: Option<DateTime<Utc>>, covered_hours: i64) -> RequestReadings {
        RequestReadings {
            last_active_hour,
            covered_hours,
        }
    }

    /// Readings of every hour since `from`, none busy.
    fn all_read(from: DateTime<Utc>, now: DateTime<Utc>) -> RequestReadings {
        read(None, (hour_of(now) - from).num_hours())
    }

    /// The running step at `now` for a cluster idle since `t0`, read
    /// throughout.
    fn step_at(now: DateTime<Utc>, warned_at: Option<DateTime<Utc>>) -> Option<Step> {
        let spans = Spans::at(&free(), now);
        running_step(
            &free(),
            t0(),
            warned_at,
            &all_read(spans.warning, now),
            &all_read(spans.suspension, now),
            now,
        )
    }

    #[test]
    fn idle_since_is_the_latest_of_the_start_and_the_end_of_the_last_busy_hour() {
        let hour = Utc.with_ymd_and_hms(2026, 12, 3, 14, 0, 0).unwrap();
        assert_eq!(idle_since(t0(), None), t0());
        assert_eq!(idle_since(t0(), Some(hour)), hour + Duration::hours(1));
        // Requests in the hour of a resume: idle from the hour's end.
        let resumed = hour + Duration::minutes(30);
        assert_eq!(idle_since(resumed, Some(hour)), hour + Duration::hours(1));
        // Requests long before the resume: idle from the resume.
        assert_eq!(idle_since(t0(), Some(hour - Duration::days(9))), t0());
    }

    #[test]
    fn the_warning_comes_at_five_days_and_the_suspension_at_seven() {
        let d = |n: i64| t0() + Duration::days(n);
        assert_eq!(step_at(d(5) - Duration::minutes(1), None), None);
        assert_eq!(step_at(d(5), None), Some(Step::SuspendWarning));
        assert_eq!(step_at(d(6), Some(d(5))), None, "warned, not yet due");
        assert_eq!(step_at(d(7) - Duration::minutes(1), Some(d(5))), None);
        assert_eq!(step_at(d(7), Some(d(5))), Some(Step::Suspend));
    }

    #[test]
    fn a_suspension_waits_for_its_warning_to_be_two_days_old() {
        let d = |n: i64| t0() + Duration::days(n);
        // A warning never sent (a worker down): at 7 days the warning goes
        // first, and the suspension two days after it.
        assert_eq!(step_at(d(8), None), Some(Step::SuspendWarning));
        assert_eq!(step_at(d(9) + Duration::hours(23), Some(d(8))), None);
        assert_eq!(step_at(d(10), Some(d(8))), Some(Step::Suspend));
    }

    #[test]
    fn an_hour_without_a_reading_holds_every_step_that_spans_it() {
        let now = t0() + Duration::days(7);
        let spans = Spans::at(&free(), now);
        let full = all_read(spans.suspension, now);
        let one_missing = read(None, full.covered_hours - 1);
        let warned = Some(t0() + Duration::days(5));
        assert_eq!(
            running_step(&free(), t0(), warned, &full, &one_missing, now),
            None
        );
        let now = t0() + Duration::days(5);
        let spans = Spans::at(&free(), now);
        let one_missing = read(None, all_read(spans.warning, now).covered_hours - 1);
        assert_eq!(
            running_step(&free(), t0(), None, &one_missing, &one_missing, now),
            None
        );
        // No reading at all: never idle, however long.
        let never = read(None, 0);
        let late = t0() + Duration::days(40);
        assert_eq!(
            running_step(&free(), t0(), None, &never, &never, late),
            None
        );
    }

    #[test]
    fn spans_run_from_the_hour_the_idle_time_began_to_the_hour_of_now() {
        let now = t0() + Duration::days(7);
        let spans = Spans::at(&free(), now);
        assert_eq!(spans.warning, hour_of(t0() + Duration::days(2)));
        assert_eq!(spans.suspension, hour_of(t0()));
        assert!(read_idle_throughout(
            spans.suspension,
            now,
            &read(None, 168)
        ));
        assert!(!read_idle_throughout(
            spans.suspension,
            now,
            &read(None, 167)
        ));
        // A request in the span is not idle, however well read.
        let busy = Some(spans.suspension);
        assert!(!read_idle_throughout(
            spans.suspension,
            now,
            &read(busy, 168)
        ));
    }

    #[test]
    fn deletion_comes_after_warnings_at_twenty_one_and_twenty_seven_days() {
        let suspended = t0();
        let d = |n: i64| suspended + Duration::days(n);
        let none = |_| None;
        assert_eq!(
            suspended_step(&free(), suspended, none, d(21) - Duration::seconds(1)),
            None
        );
        assert_eq!(
            suspended_step(&free(), suspended, none, d(21)),
            Some(Step::DeleteWarning { days_before: 7 })
        );
        let seven = |days| (days == 7).then(|| d(21));
        assert_eq!(suspended_step(&free(), suspended, seven, d(26)), None);
        assert_eq!(
            suspended_step(&free(), suspended, seven, d(27)),
            Some(Step::DeleteWarning { days_before: 1 })
        );
        let both = |days| match days {
            7 => Some(d(21)),
            1 => Some(d(27)),
            _ => None,
        };
        assert_eq!(
            suspended_step(&free(), suspended, both, d(28) - Duration::seconds(1)),
            None
        );
        assert_eq!(
            suspended_step(&free(), suspended, both, d(28)),
            Some(Step::Delete)
        );
    }

    #[test]
    fn a_late_pass_sends_only_the_most_imminent_warning_and_gives_it_its_notice() {
        let suspended = t0();
        let d = |n: i64| suspended + Duration::days(n);
        // First pass after days of nothing: at 30 days only the last warning.
        assert_eq!(
            suspended_step(&free(), suspended, |_| None, d(30)),
            Some(Step::DeleteWarning { days_before: 1 })
        );
        let last = |days| (days == 1).then(|| d(30));
        assert_eq!(
            suspended_step(&free(), suspended, last, d(30) + Duration::hours(23)),
            None
        );
        assert_eq!(
            suspended_step(&free(), suspended, last, d(31)),
            Some(Step::Delete)
        );
    }

    #[test]
    fn a_plan_without_the_fields_has_no_lifecycle_and_one_without_deletion_keeps_the_cluster() {
        let catalog = crate::Catalog::default_catalog().unwrap();
        let starter = catalog
            .plan(&crate::PlanId::from("starter".to_owned()))
            .unwrap();
        assert_eq!(IdlePolicy::of(starter), None);
        let free_plan = catalog.plan(&crate::PlanId::free()).unwrap();
        assert_eq!(IdlePolicy::of(free_plan), Some(free()));
        let kept = IdlePolicy {
            delete_after_days: None,
            delete_warnings_days_before: vec![],
            ..free()
        };
        assert_eq!(
            suspended_step(&kept, t0(), |_| None, t0() + Duration::days(400)),
            None
        );
        assert!(!suspension_reason(&kept, "Free").contains("deleted"));
        assert!(suspension_reason(&free(), "Free").contains("deleted after 28 days"));
    }

    #[test]
    fn without_a_warning_the_suspension_comes_at_the_deadline() {
        let silent = IdlePolicy {
            warning_days_before: 0,
            ..free()
        };
        let now = t0() + Duration::days(7);
        let spans = Spans::at(&silent, now);
        assert_eq!(spans.warning, spans.suspension);
        let readings = all_read(spans.suspension, now);
        assert_eq!(
            running_step(&silent, t0(), None, &readings, &readings, now),
            Some(Step::Suspend)
        );
    }

    #[test]
    fn step_keys_name_the_step_and_a_warnings_days() {
        let keys: Vec<String> = [
            Step::SuspendWarning,
            Step::Suspend,
            Step::DeleteWarning { days_before: 7 },
            Step::Delete,
        ]
        .map(Step::key)
        .to_vec();
        assert_eq!(
            keys,
            ["suspend_warning", "suspend", "delete_warning_7", "delete"]
        );
    }
}
