//! The resources, one module each, and what they share: the conversions
//! between Terraform values and API fields, and the calls to the API's
//! collections (`Collection`).

mod api_key;
mod backup_schedule;
mod cluster_part;
mod inference_endpoint;
mod inference_key;
mod maintenance_window;
mod shown_once;
mod shrink;
mod vector_cluster;
mod webhook_endpoint;

pub use api_key::ApiKey;
pub use backup_schedule::BackupSchedule;
pub use cluster_part::{ClusterPart, OfCluster, PartState};
pub use inference_endpoint::InferenceEndpoint;
pub use inference_key::InferenceKey;
pub use maintenance_window::MaintenanceWindow;
pub use vector_cluster::VectorCluster;
pub use webhook_endpoint::WebhookEndpoint;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_provider::schema::{Attribute, AttributeType};
use tf_provider::value::Value;
use uuid::Uuid;

use crate::error::Error;
use crate::provider::Api;
use crate::schema::{boolean, computed, defaulted, string};

/// A value the configuration sets; `None` when null or not known yet
/// (the API then chooses).
fn known<T: Clone>(value: &Value<T>) -> Option<T> {
    value.as_ref_option().cloned()
}

/// The planned value when it differs from the prior one: a field to send.
fn changed_value<T: Clone + PartialEq>(prior: &Value<T>, planned: &Value<T>) -> Option<T> {
    known(planned).filter(|planned| prior.as_ref_option() != Some(planned))
}

/// An optional attribute left out of the configuration: the API chooses it.
fn unknown_if_null<T>(value: Value<T>) -> Value<T> {
    match value {
        Value::Null => Value::Unknown,
        other => other,
    }
}

/// The `labels` attribute of clusters and endpoints: a full replace when
/// set; left out, the API's labels are kept.
fn labels() -> (&'static str, Attribute) {
    (
        "labels",
        defaulted(
            AttributeType::Map(Box::new(string())),
            "Labels for cost allocation, as Kubernetes labels (`team = \"search\"`). They replace all the labels; `{}` removes them; left out, the labels are kept. Changing them restarts nothing.",
        ),
    )
}

/// The `simulated` attribute of clusters and endpoints.
fn simulated() -> (&'static str, Attribute) {
    (
        "simulated",
        computed(
            boolean(),
            "Placed in a simulated data plane, which serves no traffic.",
        ),
    )
}

/// An import id: the resource's id in the API.
fn parse_id(raw: &str) -> Result<String, Error> {
    raw.trim()
        .parse::<Uuid>()
        .map(|id| id.to_string())
        .map_err(|_| {
            Error::Config(format!(
                "`{raw}` is not an id: import takes the resource's id, a UUID as the API and dashboard show it"
            ))
        })
}

/// Where the API keeps one kind of resource under the organization:
/// created by `POST {collection}`, then read, changed and deleted at
/// `{collection}/{id}` (an id not known yet reads as empty).
struct Collection(&'static str);

impl Collection {
    fn item(&self, api: &Api, id: Option<&str>) -> String {
        api.path(&format!("{}/{}", self.0, id.unwrap_or_default()))
    }

    async fn create<B, T>(&self, api: &Api, body: &B) -> Result<T, Error>
    where
        B: Serialize + Sync,
        T: DeserializeOwned,
    {
        api.client
            .send(Method::POST, &api.path(self.0), Some(body))
            .await
    }

    /// `None` when the API no longer has it.
    async fn find<T: DeserializeOwned>(
        &self,
        api: &Api,
        id: Option<&str>,
    ) -> Result<Option<T>, Error> {
        api.client.find(&self.item(api, id)).await
    }

    async fn update<B, T>(&self, api: &Api, id: Option<&str>, body: &B) -> Result<T, Error>
    where
        B: Serialize + Sync,
        T: DeserializeOwned,
    {
        api.client
            .send(Method::PATCH, &self.item(api, id), Some(body))
            .await
    }

    /// Already gone is no error.
    async fn delete(&self, api: &Api, id: Option<&str>) -> Result<(), Error> {
        api.client.delete(&self.item(api, id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_values_are_sent() {
        assert_eq!(known(&Value::Value(3)), Some(3));
        assert_eq!(known::<i64>(&Value::Null), None);
        assert_eq!(known::<i64>(&Value::Unknown), None);
    }

    #[test]
    fn a_field_is_sent_when_its_planned_value_differs() {
        assert_eq!(changed_value(&Value::Value(1), &Value::Value(2)), Some(2));
        assert_eq!(changed_value(&Value::Value(1), &Value::Value(1)), None);
        assert_eq!(changed_value(&Value::Null, &Value::Value(1)), Some(1));
        assert_eq!(changed_value(&Value::Value(1), &Value::Unknown), None);
    }

    #[test]
    fn an_optional_value_left_out_is_known_after_apply() {
        assert_eq!(unknown_if_null::<i64>(Value::Null), Value::Unknown);
        assert_eq!(unknown_if_null(Value::Value(2)), Value::Value(2));
    }

    #[test]
    fn import_ids_are_uuids_in_canonical_form() {
        assert_eq!(
            parse_id(" 0190D8A5-6B1E-7C3A-9F00-00000000C1C1 ").unwrap(),
            "0190d8a5-6b1e-7c3a-9f00-00000000c1c1"
        );
        assert!(parse_id("search-prod").is_err());
    }
}
