//! Rules the real apiserver enforces, so that the mocked one refuses what it
//! would, with its own status code and words:
//! - a StatefulSet update may change only some of its spec (kubernetes
//!   `pkg/apis/apps/validation/validation.go`, `ValidateStatefulSetUpdate`);
//! - a custom resource must fit its CRD's OpenAPI schema: numbers within
//!   `minimum`/`maximum`, strings within `maxLength`, required fields present
//!   (apiextensions-apiserver `pkg/apiserver/validation`, the messages of
//!   kube-openapi's `validate/errors`).

use serde_json::{Value, json};

/// The spec fields an update may change; every other one is frozen.
const MUTABLE_STATEFULSET_FIELDS: [&str; 7] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

fn invalid(kind: &str, group: &str, name: &str, causes: &[String]) -> Value {
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let message = if causes.len() == 1 {
        causes[0].clone()
    } else {
        format!("[{}]", causes.join(", "))
    };
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{qualified} \"{name}\" is invalid: {message}"),
        "reason": "Invalid", "code": 422,
        "details": { "name": name, "group": group, "kind": kind.to_lowercase() },
    })
}

/// The 422 the apiserver answers to `applied` over `stored`, if it refuses.
/// Server-side apply keeps fields the applied object leaves out, so only the
/// fields it names are compared.
pub fn statefulset_update(stored: &Value, applied: &Value) -> Option<Value> {
    let (Some(stored_spec), Some(applied_spec)) =
        (stored["spec"].as_object(), applied["spec"].as_object())
    else {
        return None;
    };
    let frozen_changed = applied_spec.iter().any(|(field, value)| {
        !MUTABLE_STATEFULSET_FIELDS.contains(&field.as_str())
            && stored_spec.get(field) != Some(value)
    });
    frozen_changed.then(|| {
        invalid(
            "StatefulSet",
            "apps",
            applied["metadata"]["name"].as_str().unwrap_or_default(),
            &[
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', \
               'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', \
               'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                    .to_owned(),
            ],
        )
    })
}

/// The 422 the apiserver answers to creating `object` under `crd`, if the
/// object does not fit the CRD's schema.
pub fn custom_resource(crd: &Value, object: &Value) -> Option<Value> {
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut causes = Vec::new();
    check(
        &schema["properties"]["spec"],
        &object["spec"],
        "spec",
        &mut causes,
    );
    (!causes.is_empty()).then(|| {
        invalid(
            crd["spec"]["names"]["kind"].as_str().unwrap_or_default(),
            crd["spec"]["group"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default(),
            &causes,
        )
    })
}

fn check(schema: &Value, value: &Value, path: &str, causes: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    if let Some(number) = value.as_f64() {
        if let Some(max) = schema["maximum"].as_f64()
            && number > max
        {
            causes.push(format!(
                "{path}: Invalid value: {value}: {path} in body should be less than or equal to {max}"
            ));
        }
        if let Some(min) = schema["minimum"].as_f64()
            && number < min
        {
            causes.push(format!(
                "{path}: Invalid value: {value}: {path} in body should be greater than or equal to {min}"
            ));
        }
    }
    if let (Some(text), Some(max)) = (value.as_str(), schema["maxLength"].as_u64())
        && text.chars().count() as u64 > max
    {
        causes.push(format!(
            "{path}: Too long: may not be more than {max} bytes"
        ));
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            if let Some(field) = required.as_str()
                && !object.contains_key(field)
            {
                causes.push(format!("{path}.{field}: Required value"));
            }
        }
        for (field, inner) in object {
            check(
                &schema["properties"][field],
                inner,
                &format!("{path}.{field}"),
                causes,
            );
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            check(&schema["items"], item, &format!("{path}[{i}]"), causes);
        }
    }
}
