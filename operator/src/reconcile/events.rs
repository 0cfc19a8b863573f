//! Kubernetes events: what the operator did, for `kubectl describe`.

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::{Client, Resource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    /// CamelCase, stable.
    pub reason: &'static str,
    pub note: String,
}

impl Event {
    pub fn normal(reason: &'static str, note: String) -> Self {
        Event {
            warning: false,
            reason,
            note,
        }
    }

    pub fn warning(reason: &'static str, note: String) -> Self {
        Event {
            warning: true,
            reason,
            note,
        }
    }
}

/// Where events go; a trait so that tests can see every event.
pub trait EventSink: Send + Sync {
    fn publish<'a>(&'a self, regarding: &'a ObjectReference, event: Event) -> BoxFuture<'a, ()>;
}

impl dyn EventSink {
    /// Publishes `event` regarding `object`.
    pub async fn about<K: Resource<DynamicType = ()>>(&self, object: &K, event: Event) {
        self.publish(&object.object_ref(&()), event).await;
    }
}

/// Events through the API server, reported as `quartermaster-operator`.
pub struct KubeEvents {
    recorder: Recorder,
}

impl std::fmt::Debug for KubeEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeEvents")
    }
}

impl KubeEvents {
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: crate::names::MANAGED_BY.to_owned(),
            instance,
        };
        KubeEvents {
            recorder: Recorder::new(client, reporter),
        }
    }
}

impl EventSink for KubeEvents {
    fn publish<'a>(&'a self, regarding: &'a ObjectReference, event: Event) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let published = self
                .recorder
                .publish(
                    &KubeEvent {
                        type_: if event.warning {
                            EventType::Warning
                        } else {
                            EventType::Normal
                        },
                        reason: event.reason.to_owned(),
                        note: Some(event.note),
                        action: "Reconcile".to_owned(),
                        secondary: None,
                    },
                    regarding,
                )
                .await;
            // An event that cannot be written must not fail the reconcile.
            if let Err(err) = published {
                tracing::warn!(error = %err, "publishing an event failed");
            }
        })
    }
}
