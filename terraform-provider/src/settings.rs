//! The provider block, completed from the environment: each attribute left
//! out of the configuration is read from its `QUARTERMASTER_*` variable.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tf_provider::value::Value;
use uuid::Uuid;

/// The provider block as Terraform sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderConfig {
    pub endpoint: Value<String>,
    pub api_key: Value<String>,
    pub organization_id: Value<String>,
    pub ready_timeout_seconds: Value<i64>,
}

/// How long to wait for a resource to become Ready when the block does not say.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(20 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: String,
    pub api_key: String,
    /// `None`: the organization the API key belongs to.
    pub organization_id: Option<Uuid>,
    pub ready_timeout: Duration,
}

/// A configuration value, else its environment variable; `Err` when it is
/// not known yet (it depends on a resource not created).
fn pick(
    attribute: &str,
    value: &Value<String>,
    variable: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    match value {
        Value::Value(v) if !v.is_empty() => Ok(Some(v.clone())),
        Value::Unknown => Err(format!(
            "`{attribute}` must be known when the provider is configured"
        )),
        _ => Ok(env(variable).filter(|v| !v.is_empty())),
    }
}

impl Settings {
    /// The settings, or every problem with them.
    pub fn resolve(
        config: &ProviderConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, Vec<String>> {
        let mut problems = Vec::new();
        let mut required = |attribute, value, variable| {
            match pick(attribute, value, variable, &env) {
                Ok(Some(v)) => return Some(v),
                Ok(None) => problems.push(format!(
                    "set `{attribute}` in the provider block or {variable}"
                )),
                Err(problem) => problems.push(problem),
            }
            None
        };
        let endpoint = required("endpoint", &config.endpoint, "QUARTERMASTER_ENDPOINT");
        let api_key = required("api_key", &config.api_key, "QUARTERMASTER_API_KEY");
        let organization_id = match pick(
            "organization_id",
            &config.organization_id,
            "QUARTERMASTER_ORGANIZATION_ID",
            &env,
        ) {
            Ok(None) => None,
            Ok(Some(raw)) => match raw.parse::<Uuid>() {
                Ok(id) => Some(id),
                Err(_) => {
                    problems.push(format!("`organization_id` is not a UUID: {raw}"));
                    None
                }
            },
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        let ready_timeout = match config.ready_timeout_seconds {
            Value::Value(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
            Value::Value(seconds) => {
                problems.push(format!(
                    "`ready_timeout_seconds` must be positive, got {seconds}"
                ));
                DEFAULT_READY_TIMEOUT
            }
            Value::Null | Value::Unknown => DEFAULT_READY_TIMEOUT,
        };
        match (endpoint, api_key) {
            (Some(endpoint), Some(api_key)) if problems.is_empty() => Ok(Settings {
                endpoint,
                api_key,
                organization_id,
                ready_timeout,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const ORG: &str = "0190d8a5-6b1e-7c3a-9f00-000000000001";

    #[test]
    fn the_block_wins_over_the_environment() {
        let config = ProviderConfig {
            endpoint: Value::Value("https://api.example.com".into()),
            api_key: Value::Value("qm_block".into()),
            organization_id: Value::Value(ORG.into()),
            ready_timeout_seconds: Value::Value(60),
        };
        let settings = Settings::resolve(
            &config,
            env(&[
                ("QUARTERMASTER_ENDPOINT", "http://other"),
                ("QUARTERMASTER_API_KEY", "qm_env"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.endpoint, "https://api.example.com");
        assert_eq!(settings.api_key, "qm_block");
        assert_eq!(settings.organization_id, Some(ORG.parse().unwrap()));
        assert_eq!(settings.ready_timeout, Duration::from_secs(60));
    }

    #[test]
    fn what_the_block_leaves_out_comes_from_the_environment() {
        let settings = Settings::resolve(
            &ProviderConfig::default(),
            env(&[
                ("QUARTERMASTER_ENDPOINT", "http://127.0.0.1:8080"),
                ("QUARTERMASTER_API_KEY", "qm_env"),
                ("QUARTERMASTER_ORGANIZATION_ID", ORG),
            ]),
        )
        .unwrap();
        assert_eq!(settings.endpoint, "http://127.0.0.1:8080");
        assert_eq!(settings.api_key, "qm_env");
        assert_eq!(settings.organization_id, Some(ORG.parse().unwrap()));
        assert_eq!(settings.ready_timeout, DEFAULT_READY_TIMEOUT);
    }

    #[test]
    fn the_organization_is_optional_and_found_from_the_key_later() {
        let settings = Settings::resolve(
            &ProviderConfig::default(),
            env(&[
                ("QUARTERMASTER_ENDPOINT", "http://x"),
                ("QUARTERMASTER_API_KEY", "k"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.organization_id, None);
    }

    #[test]
    fn every_problem_is_told_at_once() {
        let config = ProviderConfig {
            organization_id: Value::Value("not-a-uuid".into()),
            ready_timeout_seconds: Value::Value(0),
            api_key: Value::Unknown,
            ..Default::default()
        };
        let problems = Settings::resolve(&config, env(&[])).unwrap_err();
        assert_eq!(
            problems,
            [
                "set `endpoint` in the provider block or QUARTERMASTER_ENDPOINT",
                "`api_key` must be known when the provider is configured",
                "`organization_id` is not a UUID: not-a-uuid",
                "`ready_timeout_seconds` must be positive, got 0",
            ]
        );
    }
}
