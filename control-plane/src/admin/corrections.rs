//! Usage corrections by a platform administrator: one event voided or
//! given another value, by `(source, id)`, or every event of a resource's
//! meter in a time range, with a reason.
//!
//! The decision lives here, the records with their owners: metering keeps
//! the correction and its correction events (the events stay as they
//! were); if the organization's period was not invoiced yet, metering
//! corrects the rollups at once, so reports, alerts and the close see the
//! corrected figures; if it was, billing records the adjustment of each
//! invoiced line, which the organization's next invoice carries. Period
//! closes are held off meanwhile, so "invoiced or not" cannot change under
//! the correction. Every correction is an audit row.

use billing::Period;
use billing::adjustment::{self, Adjustment};
use chrono::{DateTime, Duration, Utc};
use metering::Meter;
use metering::corrections::{self, Action, Correction, MAX_EVENTS, NewCorrection, Target};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{PlatformAdmin, checked_reason, exists};
use crate::validation::ValidationErrors;
use crate::{Error, Result, audit};

/// A correction as asked for, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct CorrectionRequest {
    pub event_source: Option<String>,
    pub event_id: Option<String>,
    pub resource_id: Option<Uuid>,
    pub meter: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `void` or `set`.
    pub action: String,
    pub value: Option<i64>,
    pub reason: String,
}

/// A correction with what it adjusts on invoices already issued (none if
/// it corrected the rollups).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrectionDetail {
    #[serde(flatten)]
    pub correction: Correction,
    pub adjustments: Vec<Adjustment>,
}

/// A correction checked: what it names, what it does, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub target: Target,
    pub action: Action,
    pub reason: String,
}

/// An event's source or id: 1 to 255 characters, none a control
/// character, as events are accepted.
fn event_text(raw: &str) -> std::result::Result<String, &'static str> {
    if raw.is_empty() || raw.len() > 255 || raw.chars().any(char::is_control) {
        return Err("must be 1 to 255 characters, without control characters");
    }
    Ok(raw.to_owned())
}

/// Checks a request, naming every field at fault.
pub fn check(request: &CorrectionRequest) -> Result<Checked> {
    let mut errors = ValidationErrors::default();
    let action = match (request.action.as_str(), request.value) {
        ("void", None) => Some(Action::Void),
        ("void", Some(_)) => {
            errors.add("value", "must be absent when the action is void");
            None
        }
        ("set", Some(value)) if value >= 0 => Some(Action::Set(value)),
        ("set", Some(_)) => {
            errors.add("value", "must be 0 or more");
            None
        }
        ("set", None) => {
            errors.add("value", "is required when the action is set");
            None
        }
        _ => {
            errors.add("action", "must be void or set");
            None
        }
    };
    let reason = errors.check("reason", checked_reason(&request.reason));
    let by_event = request.event_source.is_some() || request.event_id.is_some();
    let by_range = request.resource_id.is_some()
        || request.meter.is_some()
        || request.from.is_some()
        || request.to.is_some();
    let target = match (by_event, by_range) {
        (true, false) => check_event(request, &mut errors),
        (false, true) => check_range(request, &mut errors),
        (true, true) => {
            errors.add(
                "event_id",
                "name one event (event_source, event_id) or a range (resource_id, meter, from, to), not both",
            );
            None
        }
        (false, false) => {
            errors.add(
                "event_id",
                "name one event (event_source, event_id) or a range (resource_id, meter, from, to)",
            );
            None
        }
    };
    let checked = match (target, action, reason) {
        (Some(target), Some(action), Some(reason)) => Some(Checked {
            target,
            action,
            reason: reason.to_owned(),
        }),
        _ => None,
    };
    errors.finish(checked)
}

fn check_event(request: &CorrectionRequest, errors: &mut ValidationErrors) -> Option<Target> {
    let mut field = |name: &str, value: &Option<String>| match value {
        Some(raw) => errors.check(name, event_text(raw)),
        None => {
            errors.add(name, "is required to name an event");
            None
        }
    };
    let source = field("event_source", &request.event_source);
    let id = field("event_id", &request.event_id);
    Some(Target::Event {
        source: source?,
        id: id?,
    })
}

fn check_range(request: &CorrectionRequest, errors: &mut ValidationErrors) -> Option<Target> {
    let mut required = |name: &str, present: bool| {
        if !present {
            errors.add(name, "is required to name a range");
        }
    };
    required("resource_id", request.resource_id.is_some());
    required("meter", request.meter.is_some());
    required("from", request.from.is_some());
    required("to", request.to.is_some());
    let meter = request
        .meter
        .as_deref()
        .and_then(|m| errors.check("meter", m.parse::<Meter>()));
    let (from, to) = (request.from?, request.to?);
    if to <= from {
        errors.add("to", "must be after from");
        return None;
    }
    // One billing period: each is invoiced, or not, as a whole.
    if Period::containing(from) != Period::containing(to - Duration::microseconds(1)) {
        errors.add("to", "must be in the same calendar month (UTC) as from");
        return None;
    }
    Some(Target::Range {
        resource_id: request.resource_id?,
        meter: meter?,
        from,
        to,
    })
}

/// Records a correction, in the caller's transaction.
pub async fn correct(
    conn: &mut PgConnection,
    admin: &PlatformAdmin,
    organization_id: Uuid,
    request: &CorrectionRequest,
) -> Result<CorrectionDetail> {
    let checked = check(request)?;
    exists(conn, organization_id).await?;
    billing::close::hold_off(conn).await?;
    let standing = corrections::targeted(conn, organization_id, &checked.target).await?;
    let Some(first) = standing.first() else {
        return Err(Error::not_found("usage event"));
    };
    if standing.len() > MAX_EVENTS {
        return Err(Error::Validation(ValidationErrors::single(
            "to",
            format!("the range holds more than {MAX_EVENTS} events; correct it in parts"),
        )));
    }
    let resource_id = first.resource_id;
    let meter: Meter = first
        .meter
        .parse()
        .map_err(|_| Error::not_found("usage event"))?;
    let period = Period::containing(first.time);
    let changes = corrections::plan(standing, checked.action);
    if changes.is_empty() {
        return Err(Error::Validation(ValidationErrors::single(
            "value",
            "changes nothing: the events named already stand so",
        )));
    }
    let invoice = adjustment::invoiced(conn, organization_id, period).await?;
    let actor = admin.actor();
    let recorded = corrections::record(
        conn,
        &NewCorrection {
            organization_id,
            resource_id,
            meter,
            target: &checked.target,
            action: checked.action,
            reason: &checked.reason,
            created_by: &actor,
            in_rollups: invoice.is_none(),
        },
        &changes,
    )
    .await?;
    let correction = recorded.correction;
    let adjustments = match invoice {
        Some(invoice_id) => {
            adjustment::record(
                conn,
                organization_id,
                invoice_id,
                (correction.id, resource_id),
                &recorded.changes,
            )
            .await?
        }
        None => Vec::new(),
    };
    audit::record(
        &mut *conn,
        Some(organization_id),
        &actor,
        "usage.correct",
        "usage_correction",
        &correction.id.to_string(),
        serde_json::json!({
            "resource_id": resource_id,
            "meter": meter,
            "event_source": correction.event_source,
            "event_id": correction.event_id,
            "from": correction.time_from,
            "to": correction.time_to,
            "action": correction.action,
            "value": correction.value,
            "reason": correction.reason,
            "events": correction.events,
            "in_rollups": correction.in_rollups,
            "adjustment_minor": adjustments.iter().map(|a| a.amount_minor).sum::<i64>(),
        }),
    )
    .await?;
    Ok(CorrectionDetail {
        correction,
        adjustments,
    })
}

/// An organization's corrections, newest first, each with its adjustments.
pub async fn list(
    conn: &mut PgConnection,
    _admin: &PlatformAdmin,
    organization_id: Uuid,
) -> Result<Vec<CorrectionDetail>> {
    exists(conn, organization_id).await?;
    let corrections = corrections::list(conn, organization_id).await?;
    let mut adjustments = adjustment::list(conn, organization_id).await?;
    Ok(corrections
        .into_iter()
        .map(|correction| {
            let (mine, rest) = adjustments
                .drain(..)
                .partition(|a| a.correction_id == correction.id);
            adjustments = rest;
            CorrectionDetail {
                correction,
                adjustments: mine,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fields(request: &CorrectionRequest) -> Vec<String> {
        match check(request) {
            Err(Error::Validation(errors)) => {
                errors.errors().iter().map(|e| e.field.clone()).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn at(month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_request_names_one_event_or_one_range_with_an_action_and_a_reason() {
        let event = CorrectionRequest {
            event_source: Some("collector".into()),
            event_id: Some("e1".into()),
            action: "void".into(),
            reason: "double-counted by a collector bug".into(),
            ..CorrectionRequest::default()
        };
        assert_eq!(
            check(&event).unwrap().target,
            Target::Event {
                source: "collector".into(),
                id: "e1".into()
            }
        );
        let range = CorrectionRequest {
            resource_id: Some(Uuid::from_u128(1)),
            meter: Some("gpu_seconds".into()),
            from: Some(at(11, 2)),
            to: Some(at(12, 1)),
            action: "set".into(),
            value: Some(30),
            reason: "half the GPU was idle".into(),
            ..CorrectionRequest::default()
        };
        assert_eq!(check(&range).unwrap().action, Action::Set(30));
        // request, fields named
        let cases = [
            (
                CorrectionRequest::default(),
                vec!["action", "reason", "event_id"],
            ),
            (
                CorrectionRequest {
                    value: Some(3),
                    ..event.clone()
                },
                vec!["value"],
            ),
            (
                CorrectionRequest {
                    action: "set".into(),
                    value: Some(-1),
                    ..event.clone()
                },
                vec!["value"],
            ),
            (
                CorrectionRequest {
                    event_id: None,
                    reason: " ".into(),
                    ..event.clone()
                },
                vec!["reason", "event_id"],
            ),
            (
                CorrectionRequest {
                    resource_id: Some(Uuid::from_u128(1)),
                    ..event.clone()
                },
                vec!["event_id"],
            ),
            (
                CorrectionRequest {
                    meter: Some("gpu_hours".into()),
                    to: Some(at(11, 2)),
                    ..range.clone()
                },
                vec!["meter", "to"],
            ),
            (
                CorrectionRequest {
                    to: Some(at(12, 2)),
                    ..range.clone()
                },
                vec!["to"],
            ),
            (
                CorrectionRequest {
                    from: None,
                    ..range.clone()
                },
                vec!["from"],
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(fields(&request), expected, "{request:?}");
        }
    }
}
