//! The key set as the gateway holds it: indexed for the request path, and
//! trusted only for a bounded time after the control plane last answered.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crds::gateway::{GatewayEndpoint, InferenceKey, KeySet, Refusal, key_hash};
use uuid::Uuid;

use crate::error::GatewayError;

/// One fetched key set, indexed.
#[derive(Debug, Default)]
pub struct Keys {
    by_hash: HashMap<String, InferenceKey>,
    endpoints: HashMap<Uuid, GatewayEndpoint>,
    by_name: HashMap<(Uuid, String), Uuid>,
    refused: HashMap<Uuid, Refusal>,
}

/// A request admitted by its key: who calls which endpoint.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub key: InferenceKey,
    pub endpoint: GatewayEndpoint,
}

impl Keys {
    pub fn new(set: KeySet) -> Keys {
        Keys {
            by_name: set
                .endpoints
                .iter()
                .map(|e| ((e.organization_id, e.name.clone()), e.id))
                .collect(),
            endpoints: set.endpoints.into_iter().map(|e| (e.id, e)).collect(),
            by_hash: set.keys.into_iter().map(|k| (k.hash.clone(), k)).collect(),
            refused: set
                .refused
                .into_iter()
                .map(|r| (r.organization_id, r.refusal))
                .collect(),
        }
    }

    /// The key `token` is, if it is valid at `now` and its organization is
    /// not refused.
    pub fn key(&self, token: &str, now: DateTime<Utc>) -> Result<&InferenceKey, GatewayError> {
        let key = self
            .by_hash
            .get(&key_hash(token))
            .ok_or(GatewayError::InvalidKey)?;
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(GatewayError::ExpiredKey);
        }
        match self.refused.get(&key.organization_id) {
            Some(Refusal::Suspended) => Err(GatewayError::Suspended),
            Some(Refusal::SpendLimit) => Err(GatewayError::SpendLimit),
            None => Ok(key),
        }
    }

    /// Whether `token` may call `model`: the endpoint's id, or
    /// `<organization id>/<name>`, or a name in the key's organization. An
    /// endpoint of another organization is not named to the caller.
    pub fn admit(
        &self,
        token: &str,
        model: &str,
        now: DateTime<Utc>,
    ) -> Result<Admitted, GatewayError> {
        let key = self.key(token, now)?;
        let unknown = || GatewayError::UnknownModel(model.to_owned());
        let id = match (model.parse::<Uuid>(), model.split_once('/')) {
            (Ok(id), _) => id,
            (Err(_), Some((org, name))) => {
                let org = org.parse::<Uuid>().map_err(|_| unknown())?;
                *self
                    .by_name
                    .get(&(org, name.to_owned()))
                    .ok_or_else(unknown)?
            }
            (Err(_), None) => *self
                .by_name
                .get(&(key.organization_id, model.to_owned()))
                .ok_or_else(unknown)?,
        };
        let endpoint = self
            .endpoints
            .get(&id)
            .filter(|e| e.organization_id == key.organization_id)
            .ok_or_else(unknown)?;
        if !key.admits(endpoint, now) {
            return Err(GatewayError::EndpointNotAllowed(model.to_owned()));
        }
        Ok(Admitted {
            key: key.clone(),
            endpoint: endpoint.clone(),
        })
    }

    /// The endpoints `key` may call, by name.
    pub fn models(&self, key: &InferenceKey, now: DateTime<Utc>) -> Vec<&GatewayEndpoint> {
        let mut models: Vec<_> = self
            .endpoints
            .values()
            .filter(|e| key.admits(e, now))
            .collect();
        models.sort_by(|a, b| a.name.cmp(&b.name));
        models
    }

    /// Whether `endpoint` is one this data plane serves: metric labels are
    /// bounded to these.
    pub fn knows(&self, endpoint: Uuid) -> bool {
        self.endpoints.contains_key(&endpoint)
    }
}

/// The current [`Keys`] and how fresh they are.
#[derive(Debug)]
pub struct KeyStore {
    current: RwLock<(Arc<Keys>, Option<Instant>)>,
    max_staleness: Duration,
}

impl KeyStore {
    /// Empty until the first fetch; after that, trusted for
    /// `max_staleness` past the last answer of the control plane.
    pub fn new(max_staleness: Duration) -> KeyStore {
        KeyStore {
            current: RwLock::new((Arc::new(Keys::default()), None)),
            max_staleness,
        }
    }

    /// Takes a newly fetched set.
    pub fn replace(&self, keys: Keys) {
        if let Ok(mut current) = self.current.write() {
            *current = (Arc::new(keys), Some(Instant::now()));
        }
    }

    /// The control plane answered that the set is unchanged.
    pub fn confirm(&self) {
        if let Ok(mut current) = self.current.write() {
            current.1 = Some(Instant::now());
        }
    }

    /// How long since the control plane last answered; `None` before it
    /// ever did.
    pub fn age(&self) -> Option<Duration> {
        self.current
            .read()
            .ok()
            .and_then(|c| c.1)
            .map(|at| at.elapsed())
    }

    /// The keys to decide a request with, while they may be trusted.
    pub fn get(&self) -> Result<Arc<Keys>, GatewayError> {
        let current = self.current.read().map_err(|_| GatewayError::KeysStale)?;
        match current.1 {
            Some(at) if at.elapsed() <= self.max_staleness => Ok(Arc::clone(&current.0)),
            _ => Err(GatewayError::KeysStale),
        }
    }
}

#[cfg(test)]
mod tests {
    use crds::gateway::RefusedOrganization;

    use super::*;

    const ORG: Uuid = Uuid::from_u128(1);
    const OTHER_ORG: Uuid = Uuid::from_u128(2);

    fn endpoint(id: u128, organization_id: Uuid, name: &str) -> GatewayEndpoint {
        GatewayEndpoint {
            id: Uuid::from_u128(id),
            organization_id,
            name: name.into(),
            served_model: "org/model".into(),
            cold_start_timeout_seconds: 600,
        }
    }

    fn key(token: &str, organization_id: Uuid, endpoint: Option<u128>) -> InferenceKey {
        InferenceKey {
            id: Uuid::new_v4(),
            organization_id,
            hash: key_hash(token),
            endpoint_id: endpoint.map(Uuid::from_u128),
            expires_at: None,
            requests_per_minute: None,
            tokens_per_minute: None,
        }
    }

    fn keys(refused: Vec<RefusedOrganization>) -> Keys {
        Keys::new(KeySet {
            keys: vec![
                key("qmi_all", ORG, None),
                key("qmi_chat", ORG, Some(10)),
                key("qmi_other", OTHER_ORG, None),
            ],
            refused,
            endpoints: vec![
                endpoint(10, ORG, "chat"),
                endpoint(11, ORG, "embed"),
                endpoint(20, OTHER_ORG, "chat"),
            ],
        })
    }

    #[test]
    fn a_model_is_named_by_id_by_organization_and_name_or_by_name_alone() {
        let keys = keys(vec![]);
        let now = Utc::now();
        for model in [
            Uuid::from_u128(10).to_string(),
            format!("{ORG}/chat"),
            "chat".to_owned(),
        ] {
            let admitted = keys.admit("qmi_all", &model, now).unwrap();
            assert_eq!(admitted.endpoint.id, Uuid::from_u128(10), "{model}");
        }
        // The same name in the other organization is its own endpoint.
        let theirs = keys.admit("qmi_other", "chat", now).unwrap();
        assert_eq!(theirs.endpoint.id, Uuid::from_u128(20));
    }

    #[test]
    fn another_organizations_endpoint_is_unknown_and_a_scoped_key_is_held_to_its_scope() {
        let keys = keys(vec![]);
        let now = Utc::now();
        for model in [Uuid::from_u128(20).to_string(), format!("{OTHER_ORG}/chat")] {
            let refused = keys.admit("qmi_all", &model, now).unwrap_err();
            assert_eq!(refused.code(), "model_not_found", "{model}");
        }
        assert_eq!(
            keys.admit("qmi_chat", "embed", now).unwrap_err().code(),
            "endpoint_not_allowed"
        );
        assert!(keys.admit("qmi_chat", "chat", now).is_ok());
        assert_eq!(
            keys.admit("qmi_nope", "chat", now).unwrap_err().code(),
            "invalid_api_key"
        );
    }

    #[test]
    fn a_refused_organization_is_refused_before_its_model_is_looked_up() {
        for (refusal, code) in [
            (Refusal::Suspended, "organization_suspended"),
            (Refusal::SpendLimit, "spend_limit_reached"),
        ] {
            let keys = keys(vec![RefusedOrganization {
                organization_id: ORG,
                refusal,
            }]);
            let err = keys
                .admit("qmi_all", "no-such-model", Utc::now())
                .unwrap_err();
            assert_eq!(err.code(), code);
            assert!(keys.admit("qmi_other", "chat", Utc::now()).is_ok());
        }
    }

    #[test]
    fn the_models_a_key_sees_are_those_it_may_call() {
        let keys = keys(vec![]);
        let now = Utc::now();
        let scoped = keys.key("qmi_chat", now).unwrap().clone();
        let names: Vec<_> = keys
            .models(&scoped, now)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["chat"]);
        let all = keys.key("qmi_all", now).unwrap().clone();
        let names: Vec<_> = keys
            .models(&all, now)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["chat", "embed"]);
    }

    #[test]
    fn the_store_trusts_a_set_only_within_its_staleness_bound() {
        let store = KeyStore::new(Duration::from_millis(50));
        assert_eq!(
            store.get().unwrap_err().code(),
            "key_set_stale",
            "never fetched"
        );
        store.replace(keys(vec![]));
        assert!(store.get().is_ok());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(store.get().unwrap_err().code(), "key_set_stale");
        store.confirm();
        assert!(store.get().is_ok(), "an unchanged answer counts as fresh");
    }
}
