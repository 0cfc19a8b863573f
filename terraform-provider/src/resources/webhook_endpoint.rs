//! `quartermaster_webhook_endpoint`: where the organization's events are
//! posted. Everything but the signing secret changes in place (`PATCH`);
//! the secret is shown once, at creation (`shown_once`), and kept in the
//! state until a rotation made outside Terraform makes it stale.

use std::collections::BTreeSet;

use async_trait::async_trait;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::Value;

use super::{Collection, changed_value, known, parse_id, shown_once, unknown_if_null};
use crate::dto::{CreateWebhookEndpoint, UpdateWebhookEndpoint, WebhookEndpoint as EndpointJson};
use crate::error::Error;
use crate::provider::Api;
use crate::resource::{ApiResource, Observed};
use crate::schema::{boolean, computed, defaulted, optional, required, schema, sensitive, string};
use crate::wait::Progress;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub id: Value<String>,
    pub url: Value<String>,
    pub event_types: Value<BTreeSet<String>>,
    pub description: Value<String>,
    pub enabled: Value<bool>,
    pub disabled_reason: Value<String>,
    pub secret: Value<String>,
    pub previous_secret_expires_at: Value<String>,
    pub created_at: Value<String>,
}

pub fn create_request(planned: &State) -> CreateWebhookEndpoint {
    CreateWebhookEndpoint {
        url: known(&planned.url).unwrap_or_default(),
        event_types: known(&planned.event_types).unwrap_or_default(),
        description: known(&planned.description),
    }
}

/// Only what changed; a description taken out of the configuration is
/// cleared (the API has no null description, only an empty one).
pub fn update_request(prior: &State, planned: &State) -> UpdateWebhookEndpoint {
    let description = known(&planned.description).unwrap_or_default();
    UpdateWebhookEndpoint {
        url: changed_value(&prior.url, &planned.url),
        event_types: changed_value(&prior.event_types, &planned.event_types),
        description: (known(&prior.description).unwrap_or_default() != description)
            .then_some(description),
        enabled: changed_value(&prior.enabled, &planned.enabled),
    }
}

/// The URL as written when the API's is the same one normalized (the API
/// adds the `/` of `https://host` and lowercases the host), so that no
/// plan shows the difference.
fn url_as_written(written: &Value<String>, answered: String) -> String {
    match written.as_ref_option() {
        Some(url) if Url::parse(url).is_ok_and(|parsed| parsed.as_str() == answered) => url.clone(),
        _ => answered,
    }
}

/// The description as written when the API's is the same one trimmed; an
/// empty one is none, unless written so.
fn description_as_written(written: &Value<String>, answered: String) -> Value<String> {
    match written.as_ref_option() {
        Some(text) if text.trim() == answered => Value::Value(text.clone()),
        _ if answered.is_empty() => Value::Null,
        _ => Value::Value(answered),
    }
}

/// The secret `state` keeps, unless the API shows a rotation since it was
/// kept (a new `previous_secret_expires_at`): then it no longer signs, or
/// soon will not, and the state says it does not know the secret.
fn kept_secret(state: &State, endpoint: &EndpointJson) -> Value<String> {
    let rotated = state.previous_secret_expires_at.as_ref_option()
        != endpoint.previous_secret_expires_at.as_ref();
    if rotated {
        Value::Null
    } else {
        state.secret.clone()
    }
}

/// The endpoint as the API has it, with `secret` and the URL and
/// description as `written` in the configuration.
pub fn observed(endpoint: EndpointJson, written: &State, secret: Value<String>) -> State {
    State {
        id: Value::Value(endpoint.id.to_string()),
        url: Value::Value(url_as_written(&written.url, endpoint.url)),
        event_types: Value::Value(endpoint.event_types),
        description: description_as_written(&written.description, endpoint.description),
        enabled: Value::Value(endpoint.enabled),
        disabled_reason: endpoint.disabled_reason.into(),
        secret,
        previous_secret_expires_at: endpoint.previous_secret_expires_at.into(),
        created_at: Value::Value(endpoint.created_at),
    }
}

/// `…/webhook-endpoints` of the API.
const ENDPOINTS: Collection = Collection("webhook-endpoints");

#[derive(Debug)]
pub struct WebhookEndpoint;

#[async_trait]
impl ApiResource for WebhookEndpoint {
    type State = State;

    const KIND: &'static str = "webhook endpoint";
    const REPLACE_ON_CHANGE: &'static [&'static str] = &[];

    fn schema() -> Schema {
        schema(
            "Where the organization's events are posted, signed with the endpoint's secret. Everything but the secret changes in place; destroying it deletes it and its deliveries.",
            [
                ("id", computed(string(), "The endpoint's id.")),
                (
                    "url",
                    required(
                        string(),
                        "Where events are posted: `https://` to a public host (plain `http://` to this machine only under `quartermaster dev`).",
                    ),
                ),
                (
                    "event_types",
                    required(
                        AttributeType::Set(Box::new(AttributeType::String)),
                        "The events to post, at least one, such as `cluster.ready` or `invoice.paid`.",
                    ),
                ),
                (
                    "description",
                    optional(
                        string(),
                        "What the endpoint is for; at most 200 characters.",
                    ),
                ),
                (
                    "enabled",
                    defaulted(
                        boolean(),
                        "Whether events are posted; `false` holds them until it is enabled again. The API disables an endpoint whose deliveries failed for 3 days: set `true` to have the next apply enable it again. Left out: as the API has it (enabled at creation).",
                    ),
                ),
                (
                    "disabled_reason",
                    computed(string(), "Why the endpoint is disabled, when it is."),
                ),
                (
                    "secret",
                    sensitive(computed(
                        string(),
                        "The signing secret (`whsec_…`), to verify each delivery's `Quartermaster-Signature`. Known only to the Terraform that created the endpoint; null after import, and once the secret is rotated outside Terraform.",
                    )),
                ),
                (
                    "previous_secret_expires_at",
                    computed(
                        string(),
                        "After a rotation of the secret, until when the replaced one still signs (RFC 3339).",
                    ),
                ),
                (
                    "created_at",
                    computed(string(), "When the endpoint was created (RFC 3339)."),
                ),
            ],
        )
    }

    fn id(state: &State) -> Option<&str> {
        state.id.as_ref_option().map(String::as_str)
    }

    fn plan_create(proposed: State) -> State {
        State {
            id: Value::Unknown,
            enabled: unknown_if_null(proposed.enabled),
            disabled_reason: Value::Unknown,
            secret: Value::Unknown,
            previous_secret_expires_at: Value::Unknown,
            created_at: Value::Unknown,
            ..proposed
        }
    }

    /// Enabling or disabling it sets or clears why it is disabled.
    fn plan_update(prior: &State, proposed: State, _config: &State) -> State {
        State {
            disabled_reason: if proposed.enabled == prior.enabled {
                proposed.disabled_reason
            } else {
                Value::Unknown
            },
            ..proposed
        }
    }

    fn import(id: &str) -> Result<State, Error> {
        Ok(State {
            id: Value::Value(parse_id(id)?),
            ..State::default()
        })
    }

    /// Created enabled (the API takes no `enabled` at creation), then
    /// disabled if so configured. An endpoint that cannot be disabled is
    /// kept with its secret, failed: Terraform marks it tainted.
    async fn create(api: &Api, planned: &State) -> Result<Observed<State>, Error> {
        let body = create_request(planned);
        let (created, secret) =
            shown_once::create::<_, EndpointJson>(api, &ENDPOINTS, Self::KIND, &body).await?;
        let id = created.id.to_string();
        let state = observed(created, planned, Value::Value(secret));
        if known(&planned.enabled) != Some(false) {
            return Ok(Observed::settled(state));
        }
        let disable = UpdateWebhookEndpoint {
            enabled: Some(false),
            ..UpdateWebhookEndpoint::default()
        };
        match ENDPOINTS.update(api, Some(&id), &disable).await {
            Ok(disabled) => Ok(Observed::settled(observed(disabled, planned, state.secret))),
            Err(error) => Ok(Observed {
                state,
                progress: Progress::Failed {
                    phase: "enabled".into(),
                    reason: format!("it was created but could not be disabled: {error}"),
                },
            }),
        }
    }

    async fn read(api: &Api, state: &State) -> Result<Option<Observed<State>>, Error> {
        let found: Option<EndpointJson> = ENDPOINTS.find(api, Self::id(state)).await?;
        Ok(found.map(|endpoint| {
            let secret = kept_secret(state, &endpoint);
            Observed::settled(observed(endpoint, state, secret))
        }))
    }

    async fn update(api: &Api, prior: &State, planned: &State) -> Result<Observed<State>, Error> {
        let body = update_request(prior, planned);
        let endpoint: EndpointJson = ENDPOINTS.update(api, Self::id(prior), &body).await?;
        let secret = kept_secret(prior, &endpoint);
        Ok(Observed::settled(observed(endpoint, planned, secret)))
    }

    async fn delete(api: &Api, state: &State) -> Result<(), Error> {
        ENDPOINTS.delete(api, Self::id(state)).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "0190d8a5-6b1e-7c3a-9f00-00000000e1e1";

    /// The API's answer, with `changes` to its fields.
    fn endpoint(changes: serde_json::Value) -> EndpointJson {
        let mut body = json!({
            "object": "webhook_endpoint",
            "id": ID,
            "url": "https://hooks.example.com/",
            "description": "",
            "event_types": ["cluster.ready", "cluster.degraded", "invoice.paid"],
            "enabled": true,
            "disabled_at": null,
            "disabled_reason": null,
            "previous_secret_expires_at": null,
            "created_at": "2026-01-01T00:00:00Z"
        });
        if let (Some(body), Some(changes)) = (body.as_object_mut(), changes.as_object()) {
            body.extend(changes.clone());
        }
        serde_json::from_value(body).unwrap()
    }

    fn types(names: &[&str]) -> Value<BTreeSet<String>> {
        Value::Value(names.iter().map(|&n| n.to_owned()).collect())
    }

    fn configured() -> State {
        State {
            url: Value::Value("https://hooks.example.com".into()),
            event_types: types(&["invoice.paid", "cluster.ready", "cluster.degraded"]),
            ..State::default()
        }
    }

    #[test]
    fn a_create_sends_what_the_configuration_sets_and_plans_the_rest_unknown() {
        let planned = WebhookEndpoint::plan_create(configured());
        assert_eq!(planned.secret, Value::Unknown);
        assert_eq!(planned.enabled, Value::Unknown);
        assert_eq!(planned.description, Value::Null);
        let body = serde_json::to_value(create_request(&planned)).unwrap();
        assert_eq!(
            body,
            json!({
                "url": "https://hooks.example.com",
                "event_types": ["cluster.degraded", "cluster.ready", "invoice.paid"]
            })
        );
    }

    #[test]
    fn the_state_keeps_the_url_and_description_as_written_when_the_api_only_normalized_them() {
        let written = State {
            description: Value::Value(" on-call ".into()),
            ..configured()
        };
        let seen = observed(
            endpoint(json!({"description": "on-call"})),
            &written,
            Value::Null,
        );
        assert_eq!(seen.url, written.url);
        assert_eq!(seen.description, written.description);
        assert_eq!(seen.event_types, written.event_types, "a set: no order");
        assert_eq!(seen.enabled, Value::Value(true));
    }

    #[test]
    fn a_url_or_description_changed_elsewhere_shows_as_the_api_has_it() {
        let written = State {
            description: Value::Value("on-call".into()),
            ..configured()
        };
        let moved = endpoint(json!({"url": "https://other.example.com/qm", "description": ""}));
        let seen = observed(moved, &written, Value::Null);
        assert_eq!(
            seen.url,
            Value::Value("https://other.example.com/qm".into())
        );
        assert_eq!(
            seen.description,
            Value::Null,
            "an empty description is none"
        );
        let imported = observed(endpoint(json!({})), &State::default(), Value::Null);
        assert_eq!(
            imported.url,
            Value::Value("https://hooks.example.com/".into())
        );
        assert_eq!(imported.description, Value::Null);
        let empty = State {
            description: Value::Value(String::new()),
            ..configured()
        };
        let seen = observed(endpoint(json!({})), &empty, Value::Null);
        assert_eq!(seen.description, Value::Value(String::new()));
    }

    #[test]
    fn the_secret_is_kept_until_a_rotation_shows() {
        let created = observed(
            endpoint(json!({})),
            &configured(),
            Value::Value("whsec_first".into()),
        );
        let refreshed = endpoint(json!({}));
        assert_eq!(
            kept_secret(&created, &refreshed),
            Value::Value("whsec_first".into())
        );
        let rotated = endpoint(json!({"previous_secret_expires_at": "2026-01-02T00:00:00Z"}));
        assert_eq!(kept_secret(&created, &rotated), Value::Null);
    }

    #[test]
    fn an_update_sends_only_what_changed_and_clears_a_description_taken_out() {
        let prior = observed(
            endpoint(json!({"description": "on-call"})),
            &configured(),
            Value::Null,
        );
        let planned = State {
            event_types: types(&["backup.failed"]),
            description: Value::Null,
            enabled: Value::Value(false),
            ..prior.clone()
        };
        let body = serde_json::to_value(update_request(&prior, &planned)).unwrap();
        assert_eq!(
            body,
            json!({"event_types": ["backup.failed"], "description": "", "enabled": false})
        );
        let url = State {
            url: Value::Value("https://other.example.com/qm".into()),
            ..prior.clone()
        };
        let body = serde_json::to_value(update_request(&prior, &url)).unwrap();
        assert_eq!(body, json!({"url": "https://other.example.com/qm"}));
    }

    #[test]
    fn disabling_plans_why_unknown_and_other_changes_keep_it() {
        let prior = observed(endpoint(json!({})), &configured(), Value::Null);
        let disabled = WebhookEndpoint::plan_update(
            &prior,
            State {
                enabled: Value::Value(false),
                ..prior.clone()
            },
            &State::default(),
        );
        assert_eq!(disabled.disabled_reason, Value::Unknown);
        let described = WebhookEndpoint::plan_update(
            &prior,
            State {
                description: Value::Value("ops".into()),
                ..prior.clone()
            },
            &State::default(),
        );
        assert_eq!(described.disabled_reason, Value::Null);
        assert_eq!(described.secret, prior.secret);
    }

    #[test]
    fn import_takes_the_endpoints_id() {
        let state = WebhookEndpoint::import(ID).unwrap();
        assert_eq!(state.id, Value::Value(ID.into()));
        assert!(WebhookEndpoint::import("https://hooks.example.com").is_err());
    }
}
