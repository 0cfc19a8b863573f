//! What an alert watches and when it fires: pure decisions, no I/O.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use billing::Plan;
use metering::{Aggregation, Meter};
use rust_decimal::Decimal;

/// What a threshold is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Usage charges this period, in the currency's minor unit: what a
    /// spend limit caps (the plan's base fee is not usage).
    Spend,
    /// A meter's quantity this period (a summed meter), or its level now
    /// across the organization's resources (a gauge), in the meter's unit.
    Meter(Meter),
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Spend => "spend",
            Metric::Meter(m) => m.as_str(),
        }
    }

    /// The unit a person states and reads this metric in, and how many of
    /// the stored unit make one of it: dollars (not cents), GiB (not
    /// bytes), hours (not seconds).
    pub fn shown_unit(self, currency: &str) -> (Decimal, String) {
        match self {
            Metric::Spend => (
                Decimal::from(billing::money::minor_per_major(currency)),
                currency.to_uppercase(),
            ),
            Metric::Meter(Meter::StorageBytes) => (Decimal::from(1u64 << 30), "GiB".to_owned()),
            Metric::Meter(Meter::GpuSeconds | Meter::NodeSeconds) => {
                (Decimal::from(3600), "hours".to_owned())
            }
            Metric::Meter(other) => (Decimal::ONE, other.unit().to_owned()),
        }
    }

    /// Whether the figure is a level now rather than a sum since the
    /// period began.
    pub fn is_level(self) -> bool {
        matches!(self, Metric::Meter(m) if m.aggregation() == Aggregation::TimeWeightedAverage)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Metric {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spend" => Ok(Metric::Spend),
            other => other.parse::<Meter>().map(Metric::Meter).map_err(|_| {
                let meters: Vec<&str> = Meter::ALL.iter().map(|m| m.as_str()).collect();
                format!(
                    "`{}` is not `spend` or a meter ({})",
                    other.escape_debug(),
                    meters.join(", ")
                )
            }),
        }
    }
}

/// One percentage of one budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    /// The alert's id, or `default:<what>` for a default.
    pub alert: String,
    pub metric: Metric,
    pub budget: Decimal,
    pub percent: i16,
}

/// The percentages a default alert fires at.
pub const DEFAULT_PERCENTS: [i16; 2] = [80, 100];

/// The thresholds every organization has: 80 % and 100 % of its plan's
/// hard storage cap (the free tier's) and of its spend limit, if set.
pub fn defaults(plan: &Plan, spend_limit_minor: Option<i64>) -> Vec<Threshold> {
    let mut budgets = Vec::new();
    if plan.storage_hard_cap {
        let cap = Decimal::from(u64::from(plan.included_storage_gib) << 30);
        budgets.push((
            "default:storage_cap",
            Metric::Meter(Meter::StorageBytes),
            cap,
        ));
    }
    if let Some(limit) = spend_limit_minor.filter(|l| *l > 0) {
        budgets.push(("default:spend_limit", Metric::Spend, Decimal::from(limit)));
    }
    budgets
        .into_iter()
        .flat_map(|(alert, metric, budget)| {
            DEFAULT_PERCENTS.iter().map(move |&percent| Threshold {
                alert: alert.to_owned(),
                metric,
                budget,
                percent,
            })
        })
        .collect()
}

/// The thresholds `values` have reached, each with its value. A metric
/// without a value (nothing measured yet) reaches nothing.
pub fn reached<'a>(
    thresholds: &'a [Threshold],
    values: &HashMap<Metric, Decimal>,
) -> Vec<(&'a Threshold, Decimal)> {
    thresholds
        .iter()
        .filter_map(|t| {
            let value = *values.get(&t.metric)?;
            (value * Decimal::from(100) >= t.budget * Decimal::from(t.percent))
                .then_some((t, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(id: &str) -> Plan {
        billing::Catalog::default_catalog()
            .unwrap()
            .plan(&billing::PlanId::from(id.to_owned()))
            .cloned()
            .unwrap()
    }

    #[test]
    fn the_free_tier_is_told_at_80_and_100_percent_of_its_storage_cap() {
        let free = defaults(&plan("free"), None);
        assert_eq!(free.len(), 2);
        assert!(
            free.iter()
                .all(|t| t.metric == Metric::Meter(Meter::StorageBytes))
        );
        assert_eq!(free[0].budget, Decimal::from(1u64 << 30));
        assert_eq!(
            free.iter().map(|t| t.percent).collect::<Vec<_>>(),
            [80, 100]
        );
        // Starter's storage is billed past its allowance: no cap, no default.
        assert_eq!(defaults(&plan("starter"), None), []);
        let limited = defaults(&plan("starter"), Some(5000));
        assert_eq!(limited.len(), 2);
        assert_eq!(
            (limited[0].metric, limited[0].budget),
            (Metric::Spend, Decimal::from(5000))
        );
    }

    #[test]
    fn a_threshold_is_reached_at_its_share_of_the_budget_exactly() {
        let t = |percent| Threshold {
            alert: "a".to_owned(),
            metric: Metric::Spend,
            budget: Decimal::from(1000),
            percent,
        };
        let thresholds = [t(50), t(80), t(100)];
        let at = |v: i64| {
            let values = HashMap::from([(Metric::Spend, Decimal::from(v))]);
            reached(&thresholds, &values)
                .iter()
                .map(|(t, _)| t.percent)
                .collect::<Vec<_>>()
        };
        assert_eq!(at(499), Vec::<i16>::new());
        assert_eq!(at(500), [50]);
        assert_eq!(at(799), [50]);
        assert_eq!(at(800), [50, 80]);
        assert_eq!(at(5000), [50, 80, 100]);
        assert!(
            reached(&thresholds, &HashMap::new()).is_empty(),
            "nothing measured"
        );
    }

    #[test]
    fn budgets_are_stated_in_the_units_people_use() {
        assert_eq!(
            Metric::Spend.shown_unit("usd"),
            (Decimal::from(100), "USD".to_owned())
        );
        assert_eq!(Metric::Spend.shown_unit("jpy").0, Decimal::ONE);
        let storage = Metric::Meter(Meter::StorageBytes).shown_unit("usd");
        assert_eq!(storage, (Decimal::from(1u64 << 30), "GiB".to_owned()));
        assert_eq!(
            Metric::Meter(Meter::GpuSeconds).shown_unit("usd").0,
            Decimal::from(3600)
        );
        assert_eq!(
            Metric::Meter(Meter::InputTokens).shown_unit("usd").1,
            "tokens"
        );
    }

    #[test]
    fn metrics_are_spend_or_a_meter() {
        assert_eq!("spend".parse::<Metric>(), Ok(Metric::Spend));
        assert_eq!(
            "gpu_seconds".parse::<Metric>(),
            Ok(Metric::Meter(Meter::GpuSeconds))
        );
        assert!("storage_bytes".parse::<Metric>().unwrap().is_level());
        assert!(!Metric::Spend.is_level());
        let refused = "dollars".parse::<Metric>().unwrap_err();
        assert!(refused.contains("gpu_seconds"), "{refused}");
    }
}
