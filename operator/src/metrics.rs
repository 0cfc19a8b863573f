//! Prometheus metrics of the operator: reconciles by controller and result
//! (`ok` or an error category), and how long they take.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// The controller: `vector_cluster`, `inference_endpoint`, …
    pub controller: &'static str,
    /// `ok` or an error category.
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Controller {
    controller: &'static str,
}

type Durations = Family<Controller, Histogram, fn() -> Histogram>;

/// The operator's metric families; [`Metrics::register`] exposes them.
#[derive(Debug, Clone)]
pub struct Metrics {
    reconciles: Family<Outcome, Counter>,
    duration: Durations,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Family::default(),
            // 5 ms to about 41 s.
            duration: Durations::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "reconciles",
            "Reconciles by controller and result",
            self.reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles took, by controller",
            self.duration.clone(),
        );
    }

    pub fn observe(&self, outcome: Outcome, took: Duration) {
        self.duration
            .get_or_create(&Controller {
                controller: outcome.controller,
            })
            .observe(took.as_secs_f64());
        self.reconciles.get_or_create(&outcome).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_counted_by_controller_and_result() {
        let metrics = Metrics::default();
        let mut registry = Registry::with_prefix("quartermaster_operator");
        metrics.register(&mut registry);
        let took = Duration::from_millis(3);
        let outcome = |controller, result| Outcome { controller, result };
        metrics.observe(outcome("vector_cluster", "ok"), took);
        metrics.observe(outcome("vector_cluster", "ok"), took);
        metrics.observe(outcome("vector_cluster", "kube_api"), took);
        metrics.observe(outcome("backup", "storage"), took);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "quartermaster_operator_reconciles_total{controller=\"vector_cluster\",result=\"ok\"} 2\n",
            "quartermaster_operator_reconciles_total{controller=\"vector_cluster\",result=\"kube_api\"} 1\n",
            "quartermaster_operator_reconciles_total{controller=\"backup\",result=\"storage\"} 1\n",
            "quartermaster_operator_reconcile_duration_seconds_count{controller=\"vector_cluster\"} 3\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }
}
