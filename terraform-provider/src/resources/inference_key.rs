//! `quartermaster_inference_key`: a key for OpenAI-style calls to the
//! organization's inference endpoints through their data plane's gateway.
//! Its secret is shown once and nothing changes in place (`shown_once`);
//! destroying it revokes it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::Schema;
use tf_provider::value::Value;

use super::{Collection, known, parse_id, shown_once};
use crate::dto::{CreateInferenceKey, InferenceKey as InferenceKeyJson};
use crate::error::Error;
use crate::provider::Api;
use crate::resource::{ApiResource, Observed};
use crate::schema::{computed, number, optional, required, schema, string};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub id: Value<String>,
    pub name: Value<String>,
    pub endpoint_id: Value<String>,
    pub expires_at: Value<String>,
    pub requests_per_minute: Value<i64>,
    pub tokens_per_minute: Value<i64>,
    pub prefix: Value<String>,
    pub token: Value<String>,
    pub created_at: Value<String>,
}

pub fn create_request(planned: &State) -> CreateInferenceKey {
    CreateInferenceKey {
        name: known(&planned.name).unwrap_or_default(),
        endpoint_id: known(&planned.endpoint_id),
        expires_at: known(&planned.expires_at),
        requests_per_minute: known(&planned.requests_per_minute),
        tokens_per_minute: known(&planned.tokens_per_minute),
    }
}

/// The key as the API has it, with the secret `token` (which only creation
/// shows) and `expires_at` as the configuration wrote it: the API may
/// spell the same instant otherwise, and it never changes. A revoked key
/// is gone.
pub fn observed(
    key: InferenceKeyJson,
    token: Value<String>,
    expires_at: &Value<String>,
) -> Option<Observed<State>> {
    if key.revoked_at.is_some() {
        return None;
    }
    let expires_at = match (expires_at, key.expires_at) {
        (Value::Value(written), Some(_)) => Value::Value(written.clone()),
        (_, answered) => answered.into(),
    };
    Some(Observed::settled(State {
        id: Value::Value(key.id.to_string()),
        name: Value::Value(key.name),
        endpoint_id: key.endpoint_id.map(|id| id.to_string()).into(),
        expires_at,
        requests_per_minute: key.requests_per_minute.into(),
        tokens_per_minute: key.tokens_per_minute.into(),
        prefix: Value::Value(key.prefix),
        token,
        created_at: Value::Value(key.created_at),
    }))
}

/// `…/inference-keys` of the API.
const KEYS: Collection = Collection("inference-keys");

#[derive(Debug)]
pub struct InferenceKey;

#[async_trait]
impl ApiResource for InferenceKey {
    type State = State;

    const KIND: &'static str = "inference key";
    const REPLACE_ON_CHANGE: &'static [&'static str] = &[
        "name",
        "endpoint_id",
        "expires_at",
        "requests_per_minute",
        "tokens_per_minute",
    ];

    fn schema() -> Schema {
        schema(
            "A key for OpenAI-style calls to the organization's inference endpoints, through their region's gateway (an endpoint's `base_url`). Any change makes a new key; destroying it revokes it.",
            [
                ("id", computed(string(), "The key's id.")),
                ("name", required(string(), "What the key is for.")),
                (
                    "endpoint_id",
                    optional(
                        string(),
                        "The one endpoint the key may call; every endpoint of the organization when left out.",
                    ),
                ),
                (
                    "expires_at",
                    optional(
                        string(),
                        "When the key stops working (RFC 3339, in the future); never when left out.",
                    ),
                ),
                (
                    "requests_per_minute",
                    optional(
                        number(),
                        "At most this many requests a minute, within the plan's cap (the cap when left out).",
                    ),
                ),
                (
                    "tokens_per_minute",
                    optional(
                        number(),
                        "At most this many tokens a minute, within the plan's cap (the cap when left out).",
                    ),
                ),
            ]
            .into_iter()
            .chain(shown_once::computed_attributes("The secret: an OpenAI client's API key.")),
        )
    }

    fn id(state: &State) -> Option<&str> {
        state.id.as_ref_option().map(String::as_str)
    }

    fn plan_create(proposed: State) -> State {
        State {
            id: Value::Unknown,
            prefix: Value::Unknown,
            token: Value::Unknown,
            created_at: Value::Unknown,
            ..proposed
        }
    }

    /// Every configurable attribute replaces the key.
    fn plan_update(_prior: &State, proposed: State, _config: &State) -> State {
        proposed
    }

    fn import(id: &str) -> Result<State, Error> {
        Ok(State {
            id: Value::Value(parse_id(id)?),
            ..State::default()
        })
    }

    async fn create(api: &Api, planned: &State) -> Result<Observed<State>, Error> {
        let body = create_request(planned);
        let (key, token) = shown_once::create(api, &KEYS, Self::KIND, &body).await?;
        observed(key, Value::Value(token), &planned.expires_at)
            .ok_or_else(|| shown_once::revoked_at_once(Self::KIND, &body.name))
    }

    async fn read(api: &Api, state: &State) -> Result<Option<Observed<State>>, Error> {
        let found = KEYS.find(api, Self::id(state)).await?;
        Ok(found.and_then(|key| observed(key, state.token.clone(), &state.expires_at)))
    }

    /// Every change replaces the key (`REPLACE_ON_CHANGE`), so Terraform
    /// never asks for this.
    async fn update(
        _api: &Api,
        _prior: &State,
        _planned: &State,
    ) -> Result<Observed<State>, Error> {
        Err(shown_once::unchangeable("an inference key"))
    }

    async fn delete(api: &Api, state: &State) -> Result<(), Error> {
        KEYS.delete(api, Self::id(state)).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(revoked_at: Option<&str>) -> InferenceKeyJson {
        serde_json::from_value(json!({
            "object": "inference_key",
            "id": "0190d8a5-6b1e-7c3a-9f00-00000000a1a1",
            "name": "bot",
            "prefix": "abcdefgh",
            "endpoint_id": null,
            "expires_at": "2030-01-01T00:00:00Z",
            "requests_per_minute": 60,
            "tokens_per_minute": null,
            "created_at": "2026-01-01T00:00:00Z",
            "revoked_at": revoked_at
        }))
        .unwrap()
    }

    #[test]
    fn reading_a_key_keeps_its_secret_and_the_expiry_as_written() {
        let written = Value::Value("2030-01-01T01:00:00+01:00".to_owned());
        let seen = observed(key(None), Value::Value("qmi_abcdefgh_s".into()), &written).unwrap();
        assert_eq!(seen.state.token, Value::Value("qmi_abcdefgh_s".into()));
        assert_eq!(seen.state.expires_at, written);
        assert_eq!(seen.state.requests_per_minute, Value::Value(60));
        assert_eq!(seen.state.tokens_per_minute, Value::Null);
        assert_eq!(seen.state.endpoint_id, Value::Null);
        let imported = observed(key(None), Value::Null, &Value::Null).unwrap();
        assert_eq!(
            imported.state.expires_at,
            Value::Value("2030-01-01T00:00:00Z".into())
        );
    }

    #[test]
    fn a_revoked_key_is_gone() {
        let revoked = key(Some("2026-01-02T00:00:00Z"));
        assert_eq!(observed(revoked, Value::Null, &Value::Null), None);
    }

    #[test]
    fn only_what_is_configured_is_sent() {
        let planned = InferenceKey::plan_create(State {
            name: Value::Value("bot".into()),
            tokens_per_minute: Value::Value(1000),
            ..State::default()
        });
        assert_eq!(planned.token, Value::Unknown);
        let body = serde_json::to_value(create_request(&planned)).unwrap();
        assert_eq!(body, json!({"name": "bot", "tokens_per_minute": 1000}));
    }
}
