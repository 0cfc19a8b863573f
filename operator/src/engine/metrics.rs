//! Engines' Prometheus request counters: the finished-request total of
//! inference engines (vLLM, TGI) that scale-to-zero reads, and Qdrant's
//! response totals that the usage collector turns into `requests`.

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

/// Qdrant's request counters on `/metrics`, each labelled by endpoint and
/// status (`src/common/metrics.rs` upstream, `OperationDurationMetricsBuilder`
/// with the `rest` and `grpc` prefixes). Only the data endpoints (search,
/// query, scroll, upsert, … on points) are counted there, so the operator's
/// own reads (`/collections`, `/cluster`, `/metrics`) never count; a family
/// with no sample yet is left out of the exposition, which reads as 0.
pub const QDRANT_REQUEST_COUNTERS: [&str; 2] = ["rest_responses_total", "grpc_responses_total"];

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

impl QdrantHttp {
    /// The Prometheus exposition at `base_url/metrics`, with `api_key` where
    /// the engine wants one (Qdrant does, for any key).
    async fn exposition(
        &self,
        base_url: &str,
        api_key: Option<&str>,
    ) -> Result<String, EngineError> {
        let mut request = self.client.get(format!("{base_url}/metrics"));
        if let Some(key) = api_key {
            request = request.header("api-key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| EngineError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(EngineError::Status {
                path: "/metrics".into(),
                status: response.status().as_u16(),
            });
        }
        response
            .text()
            .await
            .map_err(|e| EngineError::Unreachable(e.to_string()))
    }

    /// Requests one Qdrant node has answered since it started (REST and
    /// gRPC, [`QDRANT_REQUEST_COUNTERS`]); an error when it cannot be read.
    pub async fn qdrant_requests(&self, node_url: &str, api_key: &str) -> Result<u64, EngineError> {
        let text = self.exposition(node_url, Some(api_key)).await?;
        Ok(QDRANT_REQUEST_COUNTERS
            .iter()
            .map(|metric| sum_counter(&text, metric))
            .fold(0, u64::saturating_add))
    }
}

impl RequestCounter for QdrantHttp {
    fn requests<'a>(
        &'a self,
        base_url: &'a str,
        metric: &'static str,
    ) -> BoxFuture<'a, Result<u64, EngineError>> {
        Box::pin(async move {
            let text = self.exposition(base_url, None).await?;
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

    #[test]
    fn qdrants_counters_are_read_past_its_histograms() {
        // As Qdrant's TextEncoder writes them: a histogram's `_bucket`,
        // `_sum` and `_count` samples are other names.
        let text = "# HELP rest_responses_total total number of responses\n\
                    # TYPE rest_responses_total counter\n\
                    rest_responses_total{method=\"POST\",endpoint=\"/collections/{collection_name}/points/search\",status=\"200\"} 10\n\
                    rest_responses_total{method=\"PUT\",endpoint=\"/collections/{collection_name}/points\",status=\"400\"} 2\n\
                    rest_responses_duration_seconds_bucket{method=\"POST\",endpoint=\"/collections/{collection_name}/points/search\",status=\"200\",le=\"0.005\"} 10\n\
                    rest_responses_duration_seconds_count{method=\"POST\",endpoint=\"/collections/{collection_name}/points/search\",status=\"200\"} 10\n";
        assert_eq!(sum_counter(text, QDRANT_REQUEST_COUNTERS[0]), 12);
        assert_eq!(sum_counter(text, QDRANT_REQUEST_COUNTERS[1]), 0);
    }
}
