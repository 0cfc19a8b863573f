//! `quartermaster_api_key`: an organization API key. Its secret is shown
//! once and nothing changes in place (`shown_once`).

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{AttributeType, Schema};
use tf_provider::value::Value;

use super::{Collection, known, parse_id, shown_once, unknown_if_null};
use crate::dto::{ApiKey as ApiKeyJson, CreateApiKey};
use crate::error::Error;
use crate::provider::Api;
use crate::resource::{ApiResource, Observed};
use crate::schema::{computed, defaulted, required, schema, string};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub id: Value<String>,
    pub name: Value<String>,
    pub scopes: Value<BTreeSet<String>>,
    pub prefix: Value<String>,
    pub token: Value<String>,
    pub created_at: Value<String>,
}

pub fn create_request(planned: &State) -> CreateApiKey {
    CreateApiKey {
        name: known(&planned.name).unwrap_or_default(),
        scopes: known(&planned.scopes),
    }
}

/// The key as listed, with the secret `token` (which only creation shows).
/// A revoked key is gone.
pub fn observed(key: ApiKeyJson, token: Value<String>) -> Option<Observed<State>> {
    if key.revoked_at.is_some() {
        return None;
    }
    Some(Observed::settled(State {
        id: Value::Value(key.id.to_string()),
        name: Value::Value(key.name),
        scopes: Value::Value(key.scopes),
        prefix: Value::Value(key.prefix),
        token,
        created_at: Value::Value(key.created_at),
    }))
}

/// `…/api-keys` of the API.
const KEYS: Collection = Collection("api-keys");

#[derive(Debug)]
pub struct ApiKey;

#[async_trait]
impl ApiResource for ApiKey {
    type State = State;

    const KIND: &'static str = "API key";
    const REPLACE_ON_CHANGE: &'static [&'static str] = &["name", "scopes"];

    fn schema() -> Schema {
        schema(
            "An API key of the organization. Destroying it revokes it.",
            [
                ("id", computed(string(), "The key's id.")),
                ("name", required(string(), "What the key is for.")),
                (
                    "scopes",
                    defaulted(
                        AttributeType::Set(Box::new(AttributeType::String)),
                        "Permissions, such as `clusters:read`; at most the creating key's own. Left out: the API's default (`clusters:*`, `endpoints:*`, `usage:read`).",
                    ),
                ),
            ]
            .into_iter()
            .chain(shown_once::computed_attributes("The secret, for `Authorization: Bearer`.")),
        )
    }

    fn id(state: &State) -> Option<&str> {
        state.id.as_ref_option().map(String::as_str)
    }

    fn plan_create(proposed: State) -> State {
        State {
            id: Value::Unknown,
            scopes: unknown_if_null(proposed.scopes),
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
        observed(key, Value::Value(token))
            .ok_or_else(|| shown_once::revoked_at_once(Self::KIND, &body.name))
    }

    async fn read(api: &Api, state: &State) -> Result<Option<Observed<State>>, Error> {
        let found = KEYS.find(api, Self::id(state)).await?;
        Ok(found.and_then(|key| observed(key, state.token.clone())))
    }

    /// Every change replaces the key (`REPLACE_ON_CHANGE`), so Terraform
    /// never asks for this; were it to, the answer is no.
    async fn update(
        _api: &Api,
        _prior: &State,
        _planned: &State,
    ) -> Result<Observed<State>, Error> {
        Err(shown_once::unchangeable("an API key"))
    }

    async fn delete(api: &Api, state: &State) -> Result<(), Error> {
        KEYS.delete(api, Self::id(state)).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(revoked_at: Option<&str>) -> ApiKeyJson {
        serde_json::from_value(json!({
            "object": "api_key",
            "id": "0190d8a5-6b1e-7c3a-9f00-00000000a1a1",
            "name": "ci",
            "prefix": "qm_abcd",
            "scopes": ["clusters:write", "clusters:read"],
            "created_at": "2026-01-01T00:00:00Z",
            "last_used_at": null,
            "revoked_at": revoked_at
        }))
        .unwrap()
    }

    #[test]
    fn reading_a_key_keeps_the_secret_shown_at_creation() {
        let seen = observed(key(None), Value::Value("qm_abcd_secret".into())).unwrap();
        assert_eq!(seen.state.token, Value::Value("qm_abcd_secret".into()));
        let scopes: Vec<_> = seen
            .state
            .scopes
            .as_ref_option()
            .unwrap()
            .iter()
            .cloned()
            .collect();
        assert_eq!(scopes, ["clusters:read", "clusters:write"]);
    }

    #[test]
    fn a_revoked_key_is_gone() {
        assert_eq!(
            observed(key(Some("2026-01-02T00:00:00Z")), Value::Null),
            None
        );
    }

    #[test]
    fn default_scopes_are_left_to_the_api() {
        let planned = ApiKey::plan_create(State {
            name: Value::Value("ci".into()),
            ..State::default()
        });
        assert_eq!(planned.token, Value::Unknown);
        let body = serde_json::to_value(create_request(&planned)).unwrap();
        assert_eq!(body, json!({"name": "ci"}));
    }
}
