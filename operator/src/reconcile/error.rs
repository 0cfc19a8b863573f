//! Reconcile errors, each with a fixed category for metrics and logs.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("waiting for {0} to be deleted")]
    StillDeleting(String),
    #[error("the resource has no namespace")]
    NoNamespace,
    #[error("backup storage: {0}")]
    Storage(String),
    #[error("reading the engine's metrics: {0}; the endpoint is held at its replicas")]
    EngineMetrics(String),
    #[error("the apiserver refused {0} child object(s); see the Degraded condition")]
    Refused(usize),
    #[error("encoding a child to apply: {0}")]
    Encode(#[source] serde_json::Error),
}

impl Error {
    /// A short, bounded label: never the error's text.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::StillDeleting(_) => "deleting",
            Error::NoNamespace => "invalid_object",
            Error::Storage(_) => "storage",
            Error::Refused(_) => "apply_refused",
            Error::EngineMetrics(_) => "engine_metrics",
            Error::Encode(_) => "encode",
        }
    }
}
