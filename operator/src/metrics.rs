//! Prometheus metrics of the operator: reconciles, their failures by
//! category, and how long they take.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `ok` or an error category.
    pub result: String,
}

#[derive(Debug)]
pub struct Metrics {
    reconciles: Family<Outcome, Counter>,
    duration: Histogram,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let reconciles = Family::<Outcome, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let mut registry = Registry::with_prefix("quartermaster_operator");
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            duration.clone(),
        );
        Metrics {
            reconciles,
            duration,
            registry,
        }
    }
}

impl Metrics {
    pub fn observe(&self, took: Duration, result: &'static str) {
        self.reconciles
            .get_or_create(&Outcome {
                result: result.to_owned(),
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// The text exposition format, for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_counted_by_result() {
        let metrics = Metrics::default();
        metrics.observe(Duration::from_millis(3), "ok");
        metrics.observe(Duration::from_millis(3), "ok");
        metrics.observe(Duration::from_millis(3), "kube_api");
        let text = metrics.render();
        assert!(
            text.contains("quartermaster_operator_reconciles_total{result=\"ok\"} 2"),
            "{text}"
        );
        assert!(text.contains("quartermaster_operator_reconciles_total{result=\"kube_api\"} 1"));
        assert!(text.contains("quartermaster_operator_reconcile_duration_seconds_count 3"));
    }
}
