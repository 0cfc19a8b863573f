//! The closed set of meters and their aggregation rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A metered quantity. The wire name (`gpu_seconds`, …) is stable: it is
/// stored in usage rows and referenced by the plan catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meter {
    /// Seconds of GPU time, per GPU model (a dimension of the event).
    GpuSeconds,
    /// Seconds of dedicated vector-database node time.
    NodeSeconds,
    /// Bytes stored by a cluster, sampled.
    StorageBytes,
    /// Objects (points) stored by a cluster, sampled.
    ObjectCount,
    /// Prompt tokens an endpoint's gateway served, per key and model (the
    /// dimension, see [`crate::tokens`]), summed per minute by the gateway.
    InputTokens,
    /// Generated tokens, as [`Meter::InputTokens`].
    OutputTokens,
    /// Requests a cluster's engine served in the interval: the increase of
    /// its own request counter, reported only when the counter could be
    /// read. An activity signal for the free tier's idle lifecycle, never
    /// priced; an hour with a row is an hour whose activity is known.
    Requests,
}

/// How samples of a meter combine within a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Amounts add up (durations).
    Sum,
    /// Samples are levels: the period's value is their time-weighted average.
    TimeWeightedAverage,
}

impl Meter {
    pub const ALL: [Meter; 7] = [
        Meter::GpuSeconds,
        Meter::NodeSeconds,
        Meter::StorageBytes,
        Meter::ObjectCount,
        Meter::InputTokens,
        Meter::OutputTokens,
        Meter::Requests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Meter::GpuSeconds => "gpu_seconds",
            Meter::NodeSeconds => "node_seconds",
            Meter::StorageBytes => "storage_bytes",
            Meter::ObjectCount => "object_count",
            Meter::InputTokens => "input_tokens",
            Meter::OutputTokens => "output_tokens",
            Meter::Requests => "requests",
        }
    }

    pub fn aggregation(self) -> Aggregation {
        match self {
            Meter::GpuSeconds
            | Meter::NodeSeconds
            | Meter::InputTokens
            | Meter::OutputTokens
            | Meter::Requests => Aggregation::Sum,
            Meter::StorageBytes | Meter::ObjectCount => Aggregation::TimeWeightedAverage,
        }
    }

    /// The names of the meters whose samples are levels, for SQL that
    /// binds them (`meter = ANY($n)`): the one spelling of the gauge rule.
    pub fn gauges() -> Vec<&'static str> {
        Meter::ALL
            .into_iter()
            .filter(|m| m.aggregation() == Aggregation::TimeWeightedAverage)
            .map(Meter::as_str)
            .collect()
    }

    /// The unit a person reads next to a value of this meter.
    pub fn unit(self) -> &'static str {
        match self {
            Meter::GpuSeconds | Meter::NodeSeconds => "seconds",
            Meter::StorageBytes => "bytes",
            Meter::ObjectCount => "objects",
            Meter::InputTokens | Meter::OutputTokens => "tokens",
            Meter::Requests => "requests",
        }
    }

    /// Whether this meter counts tokens, whose dimension names a key and a
    /// model ([`crate::tokens::TokenDimension`]).
    pub fn is_token(self) -> bool {
        match self {
            Meter::InputTokens | Meter::OutputTokens => true,
            Meter::GpuSeconds
            | Meter::NodeSeconds
            | Meter::StorageBytes
            | Meter::ObjectCount
            | Meter::Requests => false,
        }
    }

    /// The names of the token meters, for SQL that binds them.
    pub fn token_meters() -> Vec<&'static str> {
        Meter::ALL
            .into_iter()
            .filter(|m| m.is_token())
            .map(Meter::as_str)
            .collect()
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown meter `{0}`; known meters: {known}", known = known_meters())]
pub struct UnknownMeter(pub String);

/// Every meter's wire name, for the error: the list cannot go stale.
fn known_meters() -> String {
    Meter::ALL.map(Meter::as_str).join(", ")
}

impl FromStr for Meter {
    type Err = UnknownMeter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Meter::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMeter(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauges_are_the_levels_and_nothing_else() {
        assert_eq!(Meter::gauges(), ["storage_bytes", "object_count"]);
    }

    #[test]
    fn every_meter_round_trips_through_its_wire_name() {
        for meter in Meter::ALL {
            assert_eq!(meter.as_str().parse::<Meter>(), Ok(meter));
            let json = serde_json::to_string(&meter).unwrap();
            assert_eq!(json, format!("\"{}\"", meter.as_str()));
        }
    }

    #[test]
    fn durations_sum_and_levels_average_over_time() {
        assert_eq!(Meter::GpuSeconds.aggregation(), Aggregation::Sum);
        assert_eq!(Meter::NodeSeconds.aggregation(), Aggregation::Sum);
        assert_eq!(
            Meter::StorageBytes.aggregation(),
            Aggregation::TimeWeightedAverage
        );
        assert_eq!(
            Meter::ObjectCount.aggregation(),
            Aggregation::TimeWeightedAverage
        );
        assert_eq!(Meter::InputTokens.aggregation(), Aggregation::Sum);
        assert_eq!(Meter::OutputTokens.aggregation(), Aggregation::Sum);
        assert_eq!(Meter::Requests.aggregation(), Aggregation::Sum);
    }

    #[test]
    fn the_token_meters_count_tokens_and_nothing_else_does() {
        assert_eq!(Meter::token_meters(), ["input_tokens", "output_tokens"]);
        assert_eq!(Meter::InputTokens.unit(), "tokens");
        assert_eq!(Meter::OutputTokens.unit(), "tokens");
    }

    #[test]
    fn an_unknown_meter_names_itself_in_the_error() {
        let err = "gpu_hours".parse::<Meter>().unwrap_err();
        assert!(err.to_string().contains("`gpu_hours`"));
        // The message lists every meter there is.
        for meter in Meter::ALL {
            assert!(err.to_string().contains(meter.as_str()), "{meter}");
        }
    }
}
