//! Qdrant's published OpenAPI document (`../shared/upstream/
//! qdrant-1.19.0-openapi.json`, Apache-2.0, read as data) and a checker of
//! values against its schemas, for the Qdrant stand-ins' answers and the
//! operator's requests. The checker follows OpenAPI 3.0 schema objects:
//! `$ref`, `type`, `properties`, `required`, `additionalProperties`,
//! `items`, `enum`, `oneOf`/`anyOf`, `nullable` and `minimum`.

#![allow(dead_code, reason = "each test binary uses a part")]

use serde_json::{Value, json};

pub fn document() -> Value {
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
pub fn check(doc: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
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
pub fn response_schema<'a>(doc: &'a Value, route: &str, status: u16) -> &'a Value {
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

/// The schema Qdrant documents for `route`'s JSON request body.
pub fn request_schema<'a>(doc: &'a Value, route: &str) -> &'a Value {
    let (method, path) = route.split_once(' ').unwrap();
    let schema = &doc["paths"][path][method.to_lowercase()]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert!(
        !schema.is_null(),
        "Qdrant documents no JSON body for {route}"
    );
    schema
}

/// A collection's config as Qdrant answers it (`CollectionConfig`): 4
/// float32 dimensions, `shards` shards of `replication_factor` replicas.
pub fn config(shards: u32, replication_factor: u32) -> Value {
    json!({
        "params": {
            "vectors": { "size": 4, "distance": "Cosine" },
            "shard_number": shards,
            "replication_factor": replication_factor,
            "write_consistency_factor": 1,
            "on_disk_payload": true
        },
        "hnsw_config": { "m": 16, "ef_construct": 100, "full_scan_threshold": 10000 },
        "optimizer_config": {
            "deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
            "default_segment_number": 0, "flush_interval_sec": 5
        },
        "wal_config": { "wal_capacity_mb": 32, "wal_segments_ahead": 0 }
    })
}
