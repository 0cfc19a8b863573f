//! Inference engines' Prometheus counters (vLLM, TGI): the finished-request
//! total that idle detection reads. Qdrant's own API is the parent module's.

use futures::future::BoxFuture;

use super::{EngineError, QdrantHttp};

/// Reads a counter from an engine's Prometheus endpoint (`/metrics`): the
/// finished-request total, for idle detection.
pub trait RequestCounter: Send + Sync {
    fn requests<'a>(
        &'a self,
        base_url: &'a str,
        metric: &'static str,
    ) -> BoxFuture<'a, Result<u64, EngineError>>;
}

/// The sum of every sample of `metric` in a Prometheus text exposition.
pub fn sum_counter(exposition: &str, metric: &str) -> u64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            let bare = name.split('{').next()?;
            (bare == metric)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .map(|v| v.max(0.0) as u64)
        .sum()
}

impl RequestCounter for QdrantHttp {
    fn requests<'a>(
        &'a self,
        base_url: &'a str,
        metric: &'static str,
    ) -> BoxFuture<'a, Result<u64, EngineError>> {
        Box::pin(async move {
            let response = self
                .client
                .get(format!("{base_url}/metrics"))
                .send()
                .await
                .map_err(|e| EngineError::Unreachable(e.to_string()))?;
            if !response.status().is_success() {
                return Err(EngineError::Status {
                    path: "/metrics".into(),
                    status: response.status().as_u16(),
                });
            }
            let text = response
                .text()
                .await
                .map_err(|e| EngineError::Unreachable(e.to_string()))?;
            Ok(sum_counter(&text, metric))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_their_labels() {
        let text = "# HELP vllm:request_success_total done\n\
                    vllm:request_success_total{finished_reason=\"stop\"} 12.0\n\
                    vllm:request_success_total{finished_reason=\"length\"} 3\n\
                    vllm:request_success_total_created 1.7e9\n\
                    other 99\n";
        assert_eq!(sum_counter(text, "vllm:request_success_total"), 15);
        assert_eq!(sum_counter(text, "missing"), 0);
    }
}
