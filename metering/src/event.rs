//! Usage events as data planes send them: CloudEvents 1.0 in JSON, one
//! object per event, checked one by one so that a malformed event is
//! refused with its own reason while the rest of its batch is kept.
//!
//! ```json
//! { "specversion": "1.0", "id": "…", "source": "dataplane/eu-1/collector",
//!   "type": "dev.quartermaster.usage", "time": "2026-11-25T12:00:00Z",
//!   "subject": "organizations/<uuid>/clusters/<uuid>",
//!   "data": { "meter": "gpu_seconds", "value": 60, "dimension": "nvidia-l4" } }
//! ```
//!
//! A gateway reports tokens of an endpoint (`organizations/<uuid>/endpoints/<uuid>`)
//! per key, model and minute: `"data": { "meter": "input_tokens", "value": 1234,
//! "dimension": "<key uuid> <model>" }` (see [`crate::tokens`]).

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::Meter;
use crate::window::{Content, Id};

pub const EVENT_TYPE: &str = "dev.quartermaster.usage";

/// A checked usage event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    pub source: String,
    pub id: String,
    pub organization_id: Uuid,
    /// The cluster or endpoint the usage is of.
    pub resource_id: Uuid,
    pub meter: Meter,
    /// For `gpu_seconds`, the GPU model; for the token meters, the key and
    /// the model ([`crate::tokens`]); empty for other meters.
    pub dimension: String,
    pub time: DateTime<Utc>,
    pub value: i64,
}

/// Why one event of a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// Its position in the batch.
    pub index: usize,
    /// Its id, when it had a readable one.
    pub id: Option<String>,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    type_: String,
    time: String,
    subject: String,
    #[serde(default)]
    datacontenttype: Option<String>,
    data: WireData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireData {
    meter: String,
    value: i64,
    #[serde(default)]
    dimension: Option<String>,
}

/// How far ahead of the ingester's clock an event may be (clock skew).
const MAX_FUTURE: Duration = Duration::minutes(5);

fn text(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 255 {
        return Err(format!("{field} must be 1 to 255 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

/// `organizations/<uuid>/clusters/<uuid>` or `…/endpoints/<uuid>`.
fn subject(raw: &str) -> Result<(Uuid, Uuid), String> {
    let bad = || {
        format!(
            "subject `{raw}` is not organizations/<uuid>/clusters/<uuid> or organizations/<uuid>/endpoints/<uuid>"
        )
    };
    let parts: Vec<&str> = raw.split('/').collect();
    match parts.as_slice() {
        ["organizations", org, "clusters" | "endpoints", resource] => Ok((
            org.parse().map_err(|_| bad())?,
            resource.parse().map_err(|_| bad())?,
        )),
        _ => Err(bad()),
    }
}

/// Checks one event. `now` and `lateness` bound its time.
pub fn parse(
    json: &str,
    now: DateTime<Utc>,
    lateness: Duration,
) -> Result<UsageEvent, (Option<String>, String)> {
    // The id alone first, so that a refusal names it even when the rest
    // does not parse (skipped values are not range-checked).
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    let id = serde_json::from_str::<Id>(json).ok().and_then(|i| i.id);
    let fail = |reason: String| (id.clone(), reason);
    let wire: Wire = serde_json::from_str(json).map_err(|e| fail(e.to_string()))?;
    if wire.specversion != "1.0" {
        return Err(fail(format!(
            "specversion must be \"1.0\", not {:?}",
            wire.specversion
        )));
    }
    if wire.type_ != EVENT_TYPE {
        return Err(fail(format!("type must be \"{EVENT_TYPE}\"")));
    }
    if let Some(content) = &wire.datacontenttype
        && content != "application/json"
    {
        return Err(fail("datacontenttype must be application/json".to_owned()));
    }
    text("id", &wire.id).map_err(&fail)?;
    text("source", &wire.source).map_err(&fail)?;
    let (organization_id, resource_id) = subject(&wire.subject).map_err(&fail)?;
    let time = DateTime::parse_from_rfc3339(&wire.time)
        .map_err(|_| fail(format!("time `{}` is not an RFC 3339 timestamp", wire.time)))?
        .with_timezone(&Utc);
    if time > now + MAX_FUTURE {
        return Err(fail(format!("time {time} is in the future")));
    }
    if time < now - lateness {
        return Err(fail(format!(
            "time {time} is older than the {} hours late events are accepted for",
            lateness.num_hours()
        )));
    }
    let meter: Meter = wire
        .data
        .meter
        .parse()
        .map_err(|e: crate::UnknownMeter| fail(e.to_string()))?;
    if wire.data.value < 0 {
        return Err(fail(format!(
            "value must not be negative; got {}",
            wire.data.value
        )));
    }
    let dimension = wire.data.dimension.unwrap_or_default();
    match meter {
        Meter::GpuSeconds if dimension.is_empty() => {
            return Err(fail(
                "gpu_seconds needs the GPU model as its dimension".to_owned(),
            ));
        }
        Meter::GpuSeconds => text("dimension", &dimension).map_err(&fail)?,
        Meter::InputTokens | Meter::OutputTokens => {
            text("the dimension", &dimension)
                .and_then(|()| crate::tokens::parse(&dimension).map(|_| ()))
                .map_err(|reason| {
                    fail(format!(
                        "{meter} needs `<key uuid> <model>` as its dimension: {reason}"
                    ))
                })?;
        }
        _ if !dimension.is_empty() => {
            return Err(fail(format!("{meter} takes no dimension")));
        }
        _ => {}
    }
    Ok(UsageEvent {
        source: wire.source,
        id: wire.id,
        organization_id,
        resource_id,
        meter,
        dimension,
        time,
        value: wire.data.value,
    })
}

/// Checks a batch: the valid events with their positions, and a reason for
/// each refused one. Each event is kept as its raw JSON until here, so that
/// one unreadable event (a number out of range) refuses only itself.
pub fn parse_batch(
    events: &[Box<RawValue>],
    now: DateTime<Utc>,
    lateness: Duration,
) -> (Vec<(usize, UsageEvent)>, Vec<Rejected>) {
    let mut valid = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    for (index, raw) in events.iter().enumerate() {
        match parse(raw.get(), now, lateness) {
            Ok(event) => valid.push((index, event)),
            Err((id, reason)) => rejected.push(Rejected { index, id, reason }),
        }
    }
    (valid, rejected)
}

impl UsageEvent {
    /// Its `(source, id)`, under which it is stored once.
    pub fn source_id(&self) -> Id<'_> {
        (&self.source, &self.id)
    }

    /// What it says, as the deduplication window compares it.
    pub fn content(&self) -> Content<'_> {
        Content::new(
            self.organization_id,
            self.resource_id,
            self.meter.as_str(),
            &self.dimension,
            self.time,
            self.value,
        )
    }

    /// The event in its wire form, for senders (the collector, tests, benchmarks).
    pub fn to_wire(&self) -> serde_json::Value {
        let kind = "clusters";
        let mut data = serde_json::json!({ "meter": self.meter, "value": self.value });
        if !self.dimension.is_empty() {
            data["dimension"] = serde_json::json!(self.dimension);
        }
        serde_json::json!({
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": EVENT_TYPE,
            "time": self.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "subject": format!("organizations/{}/{kind}/{}", self.organization_id, self.resource_id),
            "data": data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    fn event() -> UsageEvent {
        UsageEvent {
            source: "dataplane/eu-1".into(),
            id: "e-1".into(),
            organization_id: Uuid::from_u128(1),
            resource_id: Uuid::from_u128(2),
            meter: Meter::GpuSeconds,
            dimension: "nvidia-l4".into(),
            time: now() - Duration::minutes(1),
            value: 60,
        }
    }

    #[test]
    fn the_wire_form_parses_back_to_the_event() {
        assert_eq!(
            parse(&event().to_wire().to_string(), now(), Duration::hours(48)),
            Ok(event())
        );
    }

    #[test]
    fn each_kind_of_bad_event_gets_its_reason() {
        type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|e| e["specversion"] = "0.3".into()), "specversion"),
            (Box::new(|e| e["type"] = "other".into()), "type must be"),
            (Box::new(|e| e["subject"] = "clusters/x".into()), "subject"),
            (Box::new(|e| e["time"] = "yesterday".into()), "RFC 3339"),
            (
                Box::new(|e| e["time"] = "2026-11-22T11:00:00Z".into()),
                "older than the 48 hours",
            ),
            (
                Box::new(|e| e["time"] = "2026-11-25T13:00:00Z".into()),
                "in the future",
            ),
            (
                Box::new(|e| e["data"]["meter"] = "gpu_hours".into()),
                "unknown meter `gpu_hours`",
            ),
            (
                Box::new(|e| e["data"]["value"] = (-5).into()),
                "must not be negative",
            ),
            (
                Box::new(|e| e["data"]["value"] = 1.5.into()),
                "invalid type",
            ),
            (
                Box::new(|e| e["data"]["dimension"] = serde_json::Value::Null),
                "needs the GPU model",
            ),
            (Box::new(|e| e["id"] = "".into()), "id must be 1 to 255"),
            (
                Box::new(|e| e["source"] = "a\tb".into()),
                "control characters",
            ),
            (Box::new(|e| e["extra"] = 1.into()), "unknown field `extra`"),
            (
                Box::new(|e| e["data"]["meter"] = "input_tokens".into()),
                "input_tokens needs `<key uuid> <model>` as its dimension: `nvidia-l4` is not",
            ),
            (
                Box::new(|e| {
                    e["data"]["meter"] = "output_tokens".into();
                    e["data"]["dimension"] = format!("{} ", Uuid::from_u128(9)).into();
                }),
                "output_tokens needs `<key uuid> <model>` as its dimension: the model after the key is empty",
            ),
            (
                Box::new(|e| {
                    e["data"]["meter"] = "input_tokens".into();
                    e["data"]["dimension"] = serde_json::Value::Null;
                }),
                "input_tokens needs `<key uuid> <model>`",
            ),
        ];
        for (mutate, expected) in cases {
            let mut wire = event().to_wire();
            mutate(&mut wire);
            let (_, reason) = parse(&wire.to_string(), now(), Duration::hours(48)).unwrap_err();
            assert!(reason.contains(expected), "{wire}: {reason}");
        }
    }

    #[test]
    fn a_token_event_names_its_key_and_model() {
        for meter in [Meter::InputTokens, Meter::OutputTokens] {
            let tokens = UsageEvent {
                meter,
                dimension: format!("{} meta-llama/Llama-3.1-8B", Uuid::from_u128(9)),
                value: 1234,
                ..event()
            };
            assert_eq!(
                parse(&tokens.to_wire().to_string(), now(), Duration::hours(48)),
                Ok(tokens)
            );
        }
    }

    #[test]
    fn a_batch_keeps_the_valid_events_and_says_why_for_the_others() {
        let mut bad = event().to_wire();
        bad["data"]["meter"] = "nope".into();
        let mut storage = event();
        storage.meter = Meter::StorageBytes;
        storage.dimension = String::new();
        let (valid, rejected) = parse_batch(
            &raw(&[event().to_wire(), bad, storage.to_wire()]),
            now(),
            Duration::hours(48),
        );
        assert_eq!(valid.len(), 2);
        assert_eq!(rejected.len(), 1);
        assert_eq!(
            (rejected[0].index, rejected[0].id.as_deref()),
            (1, Some("e-1"))
        );
    }

    fn raw(values: &[serde_json::Value]) -> Vec<Box<RawValue>> {
        values
            .iter()
            .map(|v| serde_json::value::to_raw_value(v).unwrap())
            .collect()
    }

    /// A batch as a sender writes it: valid events, with bad ones
    /// (including numbers no JSON parser can hold) between them.
    fn batch_text(events: &[UsageEvent], bad: &[(usize, String)]) -> String {
        let mut items: Vec<String> = events.iter().map(|e| e.to_wire().to_string()).collect();
        for (at, text) in bad {
            items.insert((*at).min(items.len()), text.clone());
        }
        format!("[{}]", items.join(","))
    }

    #[test]
    fn a_number_out_of_range_refuses_only_its_event() {
        let mut huge = event().to_wire().to_string();
        huge = huge.replace("\"value\":60", "\"value\":1e309");
        let mut second = event();
        second.id = "e-2".into();
        let text = batch_text(&[event(), second.clone()], &[(1, huge)]);
        let events: Vec<Box<RawValue>> = serde_json::from_str(&text).unwrap();
        let (valid, rejected) = parse_batch(&events, now(), Duration::hours(48));
        assert_eq!(valid, [(0, event()), (2, second)]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(
            (rejected[0].index, rejected[0].id.as_deref()),
            (1, Some("e-1"))
        );
        assert!(
            rejected[0].reason.contains("out of range"),
            "{}",
            rejected[0].reason
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(events) = serde_json::from_slice::<Vec<Box<RawValue>>>(&bytes) {
                let (valid, rejected) = parse_batch(&events, now(), Duration::hours(48));
                prop_assert_eq!(valid.len() + rejected.len(), events.len());
            }
        }

        #[test]
        fn every_valid_event_among_invalid_ones_is_kept(
            good in 0usize..6,
            bad in proptest::collection::vec(
                (0usize..8, prop_oneof![
                    Just("1e309".to_owned()),
                    Just("-1e400".to_owned()),
                    Just("{\"id\":\"x\",\"data\":{\"value\":123456789012345678901234567890}}".to_owned()),
                    Just("null".to_owned()),
                    "\"[a-z0-9 ]{0,16}\"",
                    proptest::num::i64::ANY.prop_map(|n| n.to_string()),
                ]),
                0..6,
            ),
        ) {
            let events: Vec<UsageEvent> = (0..good)
                .map(|i| UsageEvent { id: format!("g-{i}"), ..event() })
                .collect();
            let text = batch_text(&events, &bad);
            let parsed: Vec<Box<RawValue>> = serde_json::from_str(&text).unwrap();
            let (valid, rejected) = parse_batch(&parsed, now(), Duration::hours(48));
            let kept: Vec<UsageEvent> = valid.into_iter().map(|(_, e)| e).collect();
            prop_assert_eq!(kept, events);
            prop_assert_eq!(rejected.len(), bad.len());
        }
    }
}
