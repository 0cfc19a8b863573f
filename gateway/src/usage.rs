//! Token usage, summed per key, endpoint, model and minute before it is
//! reported, so that what is ingested grows with keys × minutes and not
//! with requests. A minute is reported once it has closed; its event id is
//! stable, so a report sent again after a lost answer counts once.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use crds::gateway::{key_hash, token_dimension};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::stream::Tokens;

/// Whose tokens, of which minute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Seconds since the epoch of the minute's start.
    pub minute: i64,
    pub key: Uuid,
    pub organization: Uuid,
    pub endpoint: Uuid,
    pub model: String,
}

/// The tokens of minutes not yet acknowledged by the control plane.
#[derive(Debug, Default)]
pub struct Ledger {
    slots: Mutex<HashMap<Slot, Tokens>>,
}

impl Ledger {
    /// Adds `tokens` to the minute of `at`.
    pub fn record(&self, mut slot: Slot, tokens: Tokens, at: DateTime<Utc>) {
        if tokens.total() == 0 {
            return;
        }
        slot.minute = at.timestamp().div_euclid(60) * 60;
        if let Ok(mut slots) = self.slots.lock() {
            let sum = slots.entry(slot).or_default();
            sum.input += tokens.input;
            sum.output += tokens.output;
        }
    }

    /// The minutes closed before `now` (every minute when `all`), to report;
    /// they stay until [`Ledger::acknowledge`].
    pub fn closed(&self, now: DateTime<Utc>, all: bool) -> Vec<(Slot, Tokens)> {
        let open = now.timestamp().div_euclid(60) * 60;
        let Ok(slots) = self.slots.lock() else {
            return Vec::new();
        };
        let mut closed: Vec<_> = slots
            .iter()
            .filter(|(slot, _)| all || slot.minute < open)
            .map(|(slot, tokens)| (slot.clone(), *tokens))
            .collect();
        closed.sort_by_key(|(slot, _)| slot.minute);
        closed
    }

    /// Forgets what the control plane has stored.
    pub fn acknowledge(&self, reported: &[(Slot, Tokens)]) {
        if let Ok(mut slots) = self.slots.lock() {
            for (slot, tokens) in reported {
                // A slot of the open minute may have grown since it was read
                // (at shutdown): keep what was added after.
                if let Some(sum) = slots.get_mut(slot) {
                    sum.input -= tokens.input.min(sum.input);
                    sum.output -= tokens.output.min(sum.output);
                    if sum.total() == 0 {
                        slots.remove(slot);
                    }
                }
            }
        }
    }

    /// Every token not yet acknowledged, per key: for tests and the
    /// benchmark.
    pub fn pending(&self) -> HashMap<Uuid, Tokens> {
        let mut per_key: HashMap<Uuid, Tokens> = HashMap::new();
        if let Ok(slots) = self.slots.lock() {
            for (slot, tokens) in slots.iter() {
                let sum = per_key.entry(slot.key).or_default();
                sum.input += tokens.input;
                sum.output += tokens.output;
            }
        }
        per_key
    }
}

/// The usage events (CloudEvents, as `POST /v1/usage/events` takes them)
/// of `reported`: one per meter with tokens.
pub fn events(source: &str, reported: &[(Slot, Tokens)]) -> Vec<Value> {
    let mut events = Vec::new();
    for (slot, tokens) in reported {
        let time = Utc
            .timestamp_opt(slot.minute, 0)
            .single()
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        // The model may be long; the id stays short and stable.
        let model = &key_hash(&slot.model)[..16];
        let subject = format!(
            "organizations/{}/endpoints/{}",
            slot.organization, slot.endpoint
        );
        let dimension = token_dimension(slot.key, &slot.model);
        for (meter, value) in [
            ("input_tokens", tokens.input),
            ("output_tokens", tokens.output),
        ] {
            if value == 0 {
                continue;
            }
            events.push(json!({
                "specversion": "1.0",
                "id": format!("{}/{}/{meter}/{}/{model}", slot.endpoint, slot.key, slot.minute),
                "source": source,
                "type": "dev.quartermaster.usage",
                "time": time,
                "subject": subject,
                "data": { "meter": meter, "value": value, "dimension": dimension },
            }));
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: u64, output: u64) -> Tokens {
        Tokens { input, output }
    }

    fn slot(key: u128) -> Slot {
        Slot {
            minute: 0,
            key: Uuid::from_u128(key),
            organization: Uuid::from_u128(100),
            endpoint: Uuid::from_u128(200),
            model: "org/model".into(),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_040 + seconds, 0).unwrap()
    }

    #[test]
    fn requests_of_a_key_in_a_minute_are_one_sum_reported_once_the_minute_closes() {
        let ledger = Ledger::default();
        for s in [1, 20, 59] {
            ledger.record(slot(1), tokens(10, 3), at(s));
        }
        ledger.record(slot(2), tokens(1, 0), at(5));
        assert!(
            ledger.closed(at(59), false).is_empty(),
            "the minute is open"
        );
        let closed = ledger.closed(at(60), false);
        assert_eq!(closed.len(), 2);
        let ones = closed
            .iter()
            .find(|(s, _)| s.key == Uuid::from_u128(1))
            .unwrap();
        assert_eq!(ones.1, tokens(30, 9));

        let reported = events("gateway/a", &closed);
        assert_eq!(reported.len(), 3, "key 2 has no output tokens to report");
        let input = reported
            .iter()
            .find(|e| e["data"]["meter"] == "input_tokens" && e["data"]["value"] == 30)
            .unwrap();
        assert_eq!(input["time"], "2023-11-14T22:14:00Z");
        assert_eq!(
            input["subject"],
            format!(
                "organizations/{}/endpoints/{}",
                Uuid::from_u128(100),
                Uuid::from_u128(200)
            )
        );
        assert_eq!(
            input["data"]["dimension"],
            format!("{} org/model", Uuid::from_u128(1))
        );

        ledger.acknowledge(&closed);
        assert!(ledger.pending().is_empty());
    }

    #[test]
    fn the_same_minute_reported_again_has_the_same_ids() {
        let ledger = Ledger::default();
        ledger.record(slot(1), tokens(10, 3), at(1));
        let first = events("gateway/a", &ledger.closed(at(61), false));
        let again = events("gateway/a", &ledger.closed(at(120), false));
        assert_eq!(first, again);
    }

    #[test]
    fn tokens_added_while_a_report_was_in_flight_are_kept() {
        let ledger = Ledger::default();
        ledger.record(slot(1), tokens(10, 3), at(1));
        let sent = ledger.closed(at(2), true);
        ledger.record(slot(1), tokens(5, 1), at(3));
        ledger.acknowledge(&sent);
        assert_eq!(ledger.pending()[&Uuid::from_u128(1)], tokens(5, 1));
    }
}
