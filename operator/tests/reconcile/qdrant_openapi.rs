//! The Qdrant stand-in answers as Qdrant does: each answer it gave is
//! checked against Qdrant's published OpenAPI document
//! (`../shared/upstream/qdrant-1.19.0-openapi.json`, Apache-2.0, read as
//! data), and the operator's engine client reads those answers for liveness.
//! The checker follows OpenAPI 3.0 schema objects: `$ref`, `type`,
//! `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `oneOf`/`anyOf`, `nullable` and `minimum`.

use std::time::Duration;

use operator::engine::{Engine, QdrantHttp};
use serde_json::Value;

use crate::qdrant::{self, API_KEY, Cluster};

fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/upstream/qdrant-1.19.0-openapi.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "Qdrant's OpenAPI document is needed at {path} (shared/upstream beside the \
             repository): {e}"
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The ways `value` breaks `schema`, at `path`.
fn check(doc: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    if value.is_null() && schema["nullable"] == true {
        return vec![];
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(choices) = schema[key].as_array() {
            let fits = choices
                .iter()
                .filter(|c| check(doc, c, value, path).is_empty())
                .count();
            let ok = if key == "oneOf" { fits == 1 } else { fits >= 1 };
            if !ok {
                return vec![format!("{path}: fits {fits} of the {key} choices")];
            }
        }
    }
    let mut errors = Vec::new();
    if let Some(choices) = schema["enum"].as_array()
        && !choices.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {choices:?}"));
    }
    let type_ok = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => panic!("type {other}"),
    };
    if !type_ok {
        errors.push(format!("{path}: {value} is not of type {}", schema["type"]));
        return errors;
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64())
        && n < min
    {
        errors.push(format!("{path}: {n} is below {min}"));
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let field = required.as_str().unwrap();
            if !object.contains_key(field) {
                errors.push(format!("{path}.{field}: required, missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (field, inner) in object {
            let inner_path = format!("{path}.{field}");
            match properties.and_then(|p| p.get(field)) {
                Some(property) => errors.extend(check(doc, property, inner, &inner_path)),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => errors.push(format!("{inner_path}: not in the schema")),
                    Value::Object(_) => errors.extend(check(
                        doc,
                        &schema["additionalProperties"],
                        inner,
                        &inner_path,
                    )),
                    _ if properties.is_some()
                        && schema["oneOf"].is_null()
                        && schema["anyOf"].is_null() =>
                    {
                        errors.push(format!("{inner_path}: not a property Qdrant answers with"))
                    }
                    _ => {}
                },
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            errors.extend(check(doc, &schema["items"], item, &format!("{path}[{i}]")));
        }
    }
    errors
}

/// The schema Qdrant documents for `route` ("METHOD /path") answering
/// `status`: `200`, else its `4XX` error body.
fn response_schema<'a>(doc: &'a Value, route: &str, status: u16) -> &'a Value {
    let (method, path) = route.split_once(' ').unwrap();
    let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
    let key = if status == 200 { "200" } else { "4XX" };
    let schema = &responses[key]["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "Qdrant documents no {key} answer for {route}"
    );
    schema
}

/// A cluster with every kind of answer in it: a dead replica, a transfer
/// under way, a refused operation, a refused and an accepted peer removal.
async fn exercised() -> Vec<(String, u16, Value)> {
    let mut cluster = Cluster::new(3, &["docs", "images"], 3);
    cluster.set_peer_state(103, "Dead");
    let (url, state) = qdrant::serve(cluster).await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = http
            .request(method, format!("{url}{path}"))
            .header("api-key", API_KEY);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { request.send().await.unwrap().status() }
    };
    use reqwest::Method;
    call(Method::GET, "/cluster", None).await;
    call(Method::GET, "/collections", None).await;
    let moving = serde_json::json!({ "replicate_shard": { "shard_id": 0, "from_peer_id": 101, "to_peer_id": 102 } });
    assert_eq!(
        call(
            Method::POST,
            "/collections/docs/cluster",
            Some(moving.clone())
        )
        .await,
        200
    );
    assert_eq!(
        call(Method::POST, "/collections/docs/cluster", Some(moving)).await,
        400,
        "one transfer of a shard at a time"
    );
    call(Method::GET, "/collections/docs/cluster", None).await;
    let last = serde_json::json!({ "drop_replica": { "shard_id": 1, "peer_id": 102 } });
    assert_eq!(
        call(Method::POST, "/collections/images/cluster", Some(last)).await,
        400,
        "the last replica stays"
    );
    assert_eq!(
        call(Method::DELETE, "/cluster/peer/103", None).await,
        400,
        "a peer with shards stays"
    );
    state.lock().unwrap().finish_transfers();
    call(Method::GET, "/collections/docs/cluster", None).await;
    let answers = state.lock().unwrap().answers.clone();
    assert!(answers.len() >= 8, "{answers:?}");
    answers
}

#[tokio::test]
async fn every_answer_of_the_qdrant_stand_in_has_the_shape_qdrant_documents() {
    let doc = document();
    for (route, status, body) in exercised().await {
        let errors = check(&doc, response_schema(&doc, &route, status), &body, "$");
        assert!(
            errors.is_empty(),
            "{route} answered {status} with {body}:\n{errors:#?}"
        );
    }
    // The checker itself refuses what Qdrant would not send.
    let bad = serde_json::json!({ "result": { "status": "enabled", "peer_id": -1 }, "status": "ok", "time": 0.1 });
    assert!(!check(&doc, response_schema(&doc, "GET /cluster", 200), &bad, "$").is_empty());
}

#[tokio::test]
async fn the_engine_client_sees_a_dead_replica_that_membership_hides() {
    let mut cluster = Cluster::new(3, &["docs"], 3);
    cluster.set_peer_state(103, "Dead");
    let (url, state) = qdrant::serve(cluster).await;
    let http = QdrantHttp::new().unwrap();
    let health = tokio::time::timeout(Duration::from_secs(5), http.health(&url, API_KEY))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(health.peers, 3);
    assert_eq!(health.inactive_replicas, ["docs/2 on peer 103: Dead"]);
    assert!(health.ready_for_next_node(3).is_err());

    state.lock().unwrap().set_peer_state(103, "Active");
    let health = http.health(&url, API_KEY).await.unwrap();
    assert_eq!(health.ready_for_next_node(3), Ok(()));
    let Err(err) = http.health(&url, "wrong-key").await else {
        panic!("a wrong key is refused")
    };
    assert!(err.to_string().contains("401"), "{err}");
}
