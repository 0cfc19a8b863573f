//! The answers every operation may give besides its own, added to the
//! generated document so that it states what the server does: error bodies
//! are `application/problem+json`; an operation with a body may answer 400
//! (malformed JSON), 413, 415 and 422; one with path ids 404 (an id that is
//! not yours is not found); one that needs credentials 401 and 403; a
//! mutation 400 and 422 for its `Idempotency-Key`; one with a query 400
//! and 422. And the rules the server checks that a schema can state
//! exactly (names, emails, roles, scopes, meters, ranges), so that a
//! client, or a contract test, knows what is accepted before it asks.

use control_plane::access::{Permission, Role};
use control_plane::clusters::NODES;
use control_plane::webhooks::{EventType, endpoints};
use metering::Meter;
use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi as OpenApiDoc;

const PROBLEM: &str = "application/problem+json";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// What an operation takes, as far as its possible errors depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub body: bool,
    pub path_ids: bool,
    pub query: bool,
    pub authenticated: bool,
    pub mutation: bool,
}

/// The error statuses an operation of `shape` may answer, each with what
/// it means.
pub fn errors(shape: Shape) -> Vec<(u16, &'static str)> {
    let mut found: Vec<(u16, &'static str)> = Vec::new();
    let mut add = |when: bool, status, why| {
        if when && !found.iter().any(|(s, _)| *s == status) {
            found.push((status, why));
        }
    };
    add(shape.body, 400, "malformed-json: the body is not JSON");
    add(
        shape.mutation,
        400,
        "invalid-idempotency-key: the Idempotency-Key header is not valid",
    );
    add(
        shape.query,
        400,
        "invalid-query: the query string is not valid",
    );
    add(
        shape.query,
        422,
        "validation-failed: a query value is out of range, naming it",
    );
    add(
        shape.authenticated,
        401,
        "unauthenticated, invalid-api-key, api-key-revoked or session-expired",
    );
    add(
        shape.authenticated,
        403,
        "forbidden: the caller's role or key scopes do not allow it",
    );
    add(shape.path_ids, 404, "not-found: no such resource here");
    add(shape.body, 413, "payload-too-large");
    add(
        shape.body,
        415,
        "unsupported-media-type: the body is not JSON",
    );
    add(
        shape.body,
        422,
        "invalid-body, unknown-field or validation-failed, naming the fields",
    );
    add(
        shape.mutation,
        422,
        "idempotency-key-reused: the key was used for another request",
    );
    found.sort_by_key(|(s, _)| *s);
    found
}

/// The document with every operation's possible errors stated.
pub fn complete(doc: OpenApiDoc) -> OpenApiDoc {
    let Ok(mut value) = serde_json::to_value(&doc) else {
        return doc;
    };
    let global = value
        .get("security")
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths {
            for (method, operation) in item.as_object_mut().into_iter().flatten() {
                if METHODS.contains(&method.as_str()) {
                    complete_operation(path, method, operation, &global);
                }
            }
        }
    }
    constrain(&mut value);
    serde_json::from_value(value).unwrap_or(doc)
}

/// What `str::trim` (Unicode `White_Space`) removes, as a regex class.
const SPACE: &str = r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// `char::is_control` (Unicode `Cc`).
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// Text of 1 to `max` characters once trimmed, none of them a control
/// character: a display name (`OrganizationName`, an API key's name; 100)
/// or a reason an administrator gives (500).
fn text_pattern(max: usize) -> String {
    let edge = format!("[^{CONTROL}{}]", &SPACE[1..SPACE.len() - 1]);
    let inner = max.saturating_sub(2);
    format!("^{SPACE}*{edge}(?:[^{CONTROL}]{{0,{inner}}}{edge})?{SPACE}*$")
}

/// What `accounts::Email::parse` takes: a local part and a dotted domain,
/// no spaces or control characters, space around it trimmed (and at most
/// 254 characters, stated beside it).
fn email_pattern() -> String {
    let part = format!("[^@{CONTROL}{}]", &SPACE[1..SPACE.len() - 1]);
    let label = format!("[^@.{CONTROL}{}]", &SPACE[1..SPACE.len() - 1]);
    format!("^{SPACE}*{part}+@{label}+(?:\\.{label}+)+{SPACE}*$")
}

/// `AuditQuery::filter`, and a webhook endpoint's description: at most 200
/// characters, none a control character (both trim, so the pattern,
/// counting spaces, takes no more than they do).
fn audit_filter_pattern() -> String {
    format!("^[^{CONTROL}]{{0,200}}$")
}

/// `ClusterName::parse`: a DNS label of 3 to 40 characters that starts
/// with a letter and does not end with `-` (clusters and endpoints alike).
const RESOURCE_NAME: &str = "^[a-z][a-z0-9-]{1,38}[a-z0-9]$";

/// `webhooks::endpoints::check_url` under the public policy (`serve`):
/// HTTPS to a host named by DNS (an address literal may be private, and
/// `localhost` is this machine), with an optional port and path. The
/// server takes more (any public name, a query string); this is the part
/// a schema can state. A label's third character is never `-`: IDNA
/// (UTS #46, which the URL parser applies) refuses `--` in a label's
/// third and fourth places, and an `xn--` label that is no valid punycode.
const WEBHOOK_URL: &str = r"^https://[a-z0-9](?:[a-z0-9-]?[a-z0-9]|[a-z0-9-][a-z0-9][a-z0-9-]{0,59}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]?[a-z0-9]|[a-z0-9-][a-z0-9][a-z0-9-]{0,59}[a-z0-9])?)*\.[a-z]{2,63}(?::[1-9][0-9]{0,3})?(?:/[A-Za-z0-9._~/-]*)?$";

/// Granularities and formats of `GET …/usage`, as its handler parses them.
const GRANULARITIES: [&str; 2] = ["hour", "day"];
const FORMATS: [&str; 2] = ["json", "csv"];

fn constrain(doc: &mut Value) {
    let names = |all: &[&str]| json!(all);
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let scopes: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    let meters: Vec<&str> = Meter::ALL.iter().map(|m| m.as_str()).collect();
    // `check_return_urls`: the provider redirects only to web pages.
    let web_page = json!({ "pattern": "^https?://" });
    // `inference_keys::LIMITS`: a per-minute limit is stored as `integer`.
    let per_minute = json!({ "minimum": 1, "maximum": i32::MAX });
    let event_types: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    let event_types = json!({ "minItems": 1, "items": { "type": "string", "enum": event_types } });
    let webhook_url = json!({ "pattern": WEBHOOK_URL, "maxLength": 2048 });
    let description = json!({ "pattern": audit_filter_pattern() });
    let metrics: Vec<&str> = std::iter::once("spend")
        .chain(meters.iter().copied())
        .collect();
    let fields: [(&str, &str, Value); 28] = [
        (
            "CreateClusterRequest",
            "name",
            json!({ "pattern": RESOURCE_NAME }),
        ),
        (
            "CreateEndpointRequest",
            "name",
            json!({ "pattern": RESOURCE_NAME }),
        ),
        (
            "GrantCreditRequest",
            "reason",
            json!({ "pattern": text_pattern(500) }),
        ),
        (
            "GrantCreditRequest",
            "amount_minor",
            json!({ "minimum": 1, "maximum": control_plane::admin::MAX_CREDIT_MINOR }),
        ),
        (
            "SignupRequest",
            "email",
            json!({ "pattern": email_pattern(), "maxLength": 254 }),
        ),
        (
            "AddMemberRequest",
            "email",
            json!({ "pattern": email_pattern(), "maxLength": 254 }),
        ),
        ("NewCheckoutSession", "success_url", web_page.clone()),
        ("NewCheckoutSession", "cancel_url", web_page),
        // `Password::parse`: at least 12 characters, no control characters.
        (
            "SignupRequest",
            "password",
            json!({ "pattern": format!("^[^{CONTROL}]{{12,}}$") }),
        ),
        (
            "SignupRequest",
            "organization_name",
            json!({ "pattern": text_pattern(100) }),
        ),
        (
            "CreateOrganizationRequest",
            "name",
            json!({ "pattern": text_pattern(100) }),
        ),
        (
            "CreateApiKeyRequest",
            "name",
            json!({ "pattern": text_pattern(100) }),
        ),
        (
            "CreateInferenceKeyRequest",
            "name",
            json!({ "pattern": text_pattern(100) }),
        ),
        (
            "CreateInferenceKeyRequest",
            "requests_per_minute",
            per_minute.clone(),
        ),
        ("CreateInferenceKeyRequest", "tokens_per_minute", per_minute),
        ("AddMemberRequest", "role", json!({ "enum": names(&roles) })),
        ("UsageRow", "meter", json!({ "enum": names(&meters) })),
        (
            "CreateApiKeyRequest",
            "scopes",
            json!({ "minItems": 1, "items": { "type": "string", "enum": names(&scopes) } }),
        ),
        ("CreateWebhookEndpointRequest", "url", webhook_url.clone()),
        ("UpdateWebhookEndpointRequest", "url", webhook_url),
        (
            "CreateWebhookEndpointRequest",
            "event_types",
            event_types.clone(),
        ),
        ("UpdateWebhookEndpointRequest", "event_types", event_types),
        (
            "CreateWebhookEndpointRequest",
            "description",
            description.clone(),
        ),
        ("UpdateWebhookEndpointRequest", "description", description),
        // `endpoints::rotation_overlap`: up to a week.
        (
            "RotateWebhookSecretRequest",
            "expires_in_seconds",
            json!({ "minimum": 0, "maximum": endpoints::MAX_ROTATION_OVERLAP.num_seconds() }),
        ),
        // `alerts::NewAlert::parse`.
        (
            "CreateUsageAlertRequest",
            "metric",
            json!({ "enum": metrics }),
        ),
        ("CreateUsageAlertRequest", "budget", json!({ "minimum": 1 })),
        (
            "CreateUsageAlertRequest",
            "percents",
            json!({ "minItems": 1, "maxItems": 10,
                    "items": { "type": "integer", "minimum": 1, "maximum": 1000 } }),
        ),
    ];
    let schemas = &mut doc["components"]["schemas"];
    for (schema, field, rules) in fields {
        merge(&mut schemas[schema]["properties"][field], rules);
    }
    // `null` removes the limit, and leaving it out is not the same.
    merge(
        &mut schemas["SpendLimitRequest"],
        json!({ "required": ["spend_limit_minor"] }),
    );
    let audit_filter = json!({ "pattern": audit_filter_pattern() });
    let parameters: [(&str, &str, Value); 7] = [
        (
            "/v1/organizations/{org_id}/usage",
            "granularity",
            json!({ "enum": GRANULARITIES }),
        ),
        (
            "/v1/organizations/{org_id}/usage",
            "format",
            json!({ "enum": FORMATS }),
        ),
        (
            "/v1/organizations/{org_id}/usage",
            "meter",
            json!({ "enum": meters }),
        ),
        (
            "/v1/organizations/{org_id}/clusters/{cluster_id}/downscale-risk",
            "nodes",
            json!({ "minimum": NODES.start(), "maximum": NODES.end() }),
        ),
        (
            "/v1/organizations/{org_id}/audit-log",
            "action",
            audit_filter.clone(),
        ),
        (
            "/v1/organizations/{org_id}/audit-log",
            "actor",
            audit_filter,
        ),
        // Every list: `ListParams`.
        ("", "limit", json!({ "minimum": 1, "maximum": 100 })),
    ];
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths {
        for operation in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let Some(list) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in list {
                for (at, name, rules) in &parameters {
                    if (at.is_empty() || at == path) && parameter["name"] == *name {
                        merge(&mut parameter["schema"], rules.clone());
                    }
                }
            }
        }
    }
}

/// Adds `extra`'s keys to `target`, an object.
fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

fn complete_operation(path: &str, method: &str, operation: &mut Value, global: &Value) {
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let security = operation.get("security").unwrap_or(global);
    let public = security.as_array().is_some_and(|s| {
        s.is_empty() || s.iter().any(|r| r.as_object().is_some_and(Map::is_empty))
    });
    let shape = Shape {
        body: operation.get("requestBody").is_some(),
        path_ids: path.contains('{'),
        query: parameters.iter().any(|p| p["in"] == "query"),
        authenticated: !public,
        mutation: method != "get",
    };
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for response in responses.values_mut() {
        let content = response.get_mut("content").and_then(Value::as_object_mut);
        if let Some(content) = content
            && let Some(json) = content.get("application/json")
            && json["schema"]["$ref"] == "#/components/schemas/ProblemJson"
            && let Some(json) = content.remove("application/json")
        {
            content.insert(PROBLEM.to_owned(), json);
        }
    }
    for (status, why) in errors(shape) {
        responses.entry(status.to_string()).or_insert_with(|| {
            json!({
                "description": why,
                "content": { PROBLEM: { "schema": { "$ref": "#/components/schemas/ProblemJson" } } }
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_operation_states_its_own_errors() {
        let statuses = |shape| {
            errors(shape)
                .into_iter()
                .map(|(s, _)| s)
                .collect::<Vec<_>>()
        };
        let read = Shape {
            body: false,
            path_ids: true,
            query: false,
            authenticated: true,
            mutation: false,
        };
        assert_eq!(statuses(read), [401, 403, 404]);
        let signup = Shape {
            body: true,
            path_ids: false,
            query: false,
            authenticated: false,
            mutation: true,
        };
        assert_eq!(statuses(signup), [400, 413, 415, 422]);
        let list = Shape {
            query: true,
            path_ids: false,
            ..read
        };
        assert_eq!(statuses(list), [400, 401, 403, 422]);
    }

    proptest::proptest! {
        /// Every URL the schema states is one the public policy takes.
        #[test]
        fn a_webhook_url_the_schema_states_is_taken(
            url in proptest::string::string_regex(
                WEBHOOK_URL.trim_start_matches('^').trim_end_matches('$')
            ).unwrap()
        ) {
            proptest::prop_assert!(
                endpoints::check_url(&url, control_plane::webhooks::UrlPolicy::Public).is_ok(),
                "{url}"
            );
        }
    }

    #[test]
    fn the_webhook_url_pattern_leaves_out_what_the_server_refuses() {
        let pattern = regex::Regex::new(WEBHOOK_URL).unwrap();
        for refused in [
            "http://hooks.example.com/",
            "https://localhost/",
            "https://127.0.0.1/",
            "https://10.0.0.1/hook",
            "https://user@hooks.example.com/",
            "https://hooks.example.com/#frag",
            // Found by the property test below: no valid punycode.
            "https://a.xn--aaaaa00aa-a0-0-aaa0-000aaa-00-00sa.aa",
        ] {
            assert!(!pattern.is_match(refused), "{refused}");
            assert!(
                endpoints::check_url(refused, control_plane::webhooks::UrlPolicy::Public).is_err(),
                "{refused}"
            );
        }
        assert!(pattern.is_match("https://hooks.example.com/quartermaster"));
        assert!(pattern.is_match("https://a-b.c.io:8443/x"), "short labels");
    }

    #[test]
    fn the_usage_query_lists_what_its_handler_parses() {
        for g in GRANULARITIES {
            assert!(g.parse::<metering::report::Granularity>().is_ok(), "{g}");
        }
        assert_eq!(FORMATS, ["json", "csv"]);
    }

    #[test]
    fn the_name_and_email_patterns_are_what_the_parsers_take() {
        let name = regex::Regex::new(&text_pattern(100)).unwrap();
        let email = regex::Regex::new(&email_pattern()).unwrap();
        for raw in [
            "acme",
            "  Ada's org ",
            "x",
            &"n".repeat(100),
            "\tx\n",
            "a\tb",
            "",
            "   ",
            &"n".repeat(101),
            "a\u{85}b",
        ] {
            let parsed = control_plane::organizations::OrganizationName::parse(raw).is_ok();
            assert_eq!(name.is_match(raw), parsed, "{raw:?}");
        }
        for raw in [
            "ada@example.com",
            " Ada@Example.COM ",
            "a.b@c.d.e",
            "a@b",
            "a@.b.c",
            "a@b..c",
            "a b@c.d",
            "@b.c",
            "a@b@c.d",
            "a@b.c\u{0}",
        ] {
            let parsed = control_plane::accounts::Email::parse(raw).is_ok();
            assert_eq!(email.is_match(raw), parsed, "{raw:?}");
        }
    }

    #[test]
    fn what_the_audit_filter_pattern_takes_the_filter_takes() {
        use control_plane::audit::AuditQuery;
        let pattern = regex::Regex::new(&audit_filter_pattern()).unwrap();
        for raw in [
            "cluster.create",
            "",
            "  x  ",
            &"a".repeat(200),
            &"a".repeat(201),
            "a\u{0}b",
            "a\nb",
        ] {
            if pattern.is_match(raw) {
                assert!(AuditQuery::filter("action", Some(raw)).is_ok(), "{raw:?}");
            }
        }
        for refused in [&"a".repeat(201), "a\u{0}b", "a\u{85}b"] {
            assert!(!pattern.is_match(refused), "{refused:?}");
            assert!(
                AuditQuery::filter("action", Some(refused)).is_err(),
                "{refused:?}"
            );
        }
    }
}
