//! The verbs served, each refusing what the real apiserver refuses.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::path::{self, Target, matches, selector, url_pairs};
use super::{ApiServer, Key, Recorded};

pub(super) fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code });
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn not_found(target: &Target, name: &str) -> Response {
    status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", target.plural()),
    )
}

pub(super) fn metadata_only(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

pub(super) fn partial(object: &Value) -> Value {
    json!({ "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": object["metadata"] })
}

/// RFC 7386: objects merge, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(target), Some(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    target.remove(k);
                } else {
                    merge(target.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

pub(super) async fn handle(State(server): State<ApiServer>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    server.lock().requests.push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
    });
    let Some(target) = path::parse(parts.uri.path()) else {
        return status(404, "NotFound", "no such path");
    };
    let query = url_pairs(parts.uri.query().unwrap_or_default());
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let metadata = metadata_only(&parts.headers);
    match (parts.method, &target.name) {
        (Method::GET, Some(name)) => get(&server, &target, name),
        (Method::GET, None) if query.get("watch").is_some_and(|w| w == "true") => {
            super::watch::watch(&server, &target, &query, metadata)
        }
        (Method::GET, None) => list(&server, &target, &query, metadata),
        (Method::POST, None) => create(&server, &target, &body),
        (Method::PATCH, Some(name)) => patch(&server, &target, name, &query, &content_type, &body),
        (Method::DELETE, Some(name)) => delete(&server, &target, name),
        _ => status(405, "MethodNotAllowed", "not served by the stand-in"),
    }
}

pub(super) fn key(target: &Target, name: &str) -> Key {
    (
        target.resource.clone(),
        target.namespace.clone().unwrap_or_default(),
        name.to_owned(),
    )
}

fn get(server: &ApiServer, target: &Target, name: &str) -> Response {
    match server.lock().by_key.get(&key(target, name)) {
        Some(object) => axum::Json(object.clone()).into_response(),
        None => not_found(target, name),
    }
}

pub(super) fn in_scope(target: &Target, resource: &str, namespace: &str) -> bool {
    resource == target.resource && target.namespace.as_deref().is_none_or(|n| n == namespace)
}

fn list(
    server: &ApiServer,
    target: &Target,
    query: &BTreeMap<String, String>,
    metadata: bool,
) -> Response {
    let selector = selector(query);
    let objects = server.lock();
    let items: Vec<Value> = objects
        .by_key
        .iter()
        .filter(|((resource, namespace, _), o)| {
            in_scope(target, resource, namespace) && matches(o, &selector)
        })
        .map(|(_, o)| if metadata { partial(o) } else { o.clone() })
        .collect();
    let (api_version, kind) = if metadata {
        ("meta.k8s.io/v1", "PartialObjectMetadataList")
    } else {
        ("v1", "List")
    };
    axum::Json(json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": { "resourceVersion": objects.resource_version.to_string() },
        "items": items,
    }))
    .into_response()
}

/// NamespaceLifecycle admission refuses to create an object in a namespace
/// that does not exist (kubernetes
/// `plugin/pkg/admission/namespace/lifecycle/admission.go`, `Admit`: a
/// `NewNotFound` for the namespace) — nor one in a namespace being deleted.
fn namespace_refuses(server: &ApiServer, target: &Target) -> Option<Response> {
    let namespace = target.namespace.as_ref()?;
    let key = ("v1/namespaces".to_owned(), String::new(), namespace.clone());
    let objects = server.lock();
    match objects.by_key.get(&key) {
        None => Some(status(
            404,
            "NotFound",
            &format!("namespaces \"{namespace}\" not found"),
        )),
        Some(ns) if !ns["metadata"]["deletionTimestamp"].is_null() => Some(status(
            403,
            "Forbidden",
            &format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
        )),
        Some(_) => None,
    }
}

/// The object's name and namespace must be the URL's (apiserver
/// `pkg/endpoints/handlers/rest.go`, `checkName`; server-side apply reaches
/// the same check through `pkg/endpoints/handlers/patch.go`).
fn name_refuses(target: &Target, name: &str, object: &Value) -> Option<Response> {
    if let Some(body_name) = object["metadata"]["name"].as_str()
        && body_name != name
    {
        return Some(status(
            400,
            "BadRequest",
            &format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            ),
        ));
    }
    if let (Some(body_ns), Some(ns)) = (
        object["metadata"]["namespace"].as_str(),
        target.namespace.as_deref(),
    ) && body_ns != ns
    {
        return Some(status(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    None
}

fn create(server: &ApiServer, target: &Target, body: &[u8]) -> Response {
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(400, "BadRequest", "not JSON");
    };
    let name = object["metadata"]["name"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            let prefix = object["metadata"]["generateName"].as_str()?;
            Some(format!("{prefix}{}", server.lock().resource_version))
        })
        .unwrap_or_default();
    if let Some(refused) = name_refuses(target, &name, &object) {
        return refused;
    }
    if let Some(refused) = namespace_refuses(server, target) {
        return refused;
    }
    object["metadata"]["name"] = name.clone().into();
    if let Some(ns) = &target.namespace {
        object["metadata"]["namespace"] = ns.clone().into();
    }
    let key = key(target, &name);
    if server.lock().by_key.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", target.plural()),
        );
    }
    let stored = server.write(key, object, None);
    (StatusCode::CREATED, axum::Json(stored)).into_response()
}

/// Keeps what the request may not change: a write to the main resource
/// keeps the stored status, a write to `status` keeps the rest
/// (apiextensions-apiserver `pkg/registry/customresource/strategy.go`,
/// `PrepareForUpdate` and `statusStrategy.PrepareForUpdate`; the built-in
/// kinds' strategies do the same).
fn keep_other_half(target: &Target, previous: Option<&Value>, object: &mut Value) {
    let Some(previous) = previous else {
        if !target.status {
            // A create through apply starts with no status either.
            if let Some(o) = object.as_object_mut() {
                o.remove("status");
            }
        }
        return;
    };
    if target.status {
        let status = object["status"].take();
        *object = previous.clone();
        object["status"] = status;
    } else {
        object["status"] = previous["status"].clone();
        if object["status"].is_null()
            && let Some(o) = object.as_object_mut()
        {
            o.remove("status");
        }
    }
}

fn patch(
    server: &ApiServer,
    target: &Target,
    name: &str,
    query: &BTreeMap<String, String>,
    content_type: &str,
    body: &[u8],
) -> Response {
    let key = key(target, name);
    let previous = server.lock().by_key.get(&key).cloned();
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return status(400, "BadRequest", "not JSON");
    };
    let mut object = previous
        .clone()
        .unwrap_or_else(|| json!({ "metadata": {} }));
    match content_type {
        // The patch type is the content type (apiserver
        // `pkg/endpoints/handlers/patch.go`, `PatchResource`: anything
        // else is 415).
        "application/apply-patch+yaml" => {
            // `fieldManager` is required for apply (apimachinery
            // `pkg/apis/meta/v1/validation/validation.go`,
            // `ValidatePatchOptions`).
            if query.get("fieldManager").is_none_or(String::is_empty) {
                return status(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                );
            }
            if let Some(refused) = name_refuses(target, name, &patch) {
                return refused;
            }
            if previous.is_none() {
                if target.status {
                    return not_found(target, name);
                }
                if let Some(refused) = namespace_refuses(server, target) {
                    return refused;
                }
            }
            merge(&mut object, &patch);
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let Some(_) = &previous else {
                return not_found(target, name);
            };
            if target.status {
                merge(&mut object["status"], &patch["status"]);
            } else {
                merge(&mut object, &patch);
            }
        }
        "application/json-patch+json" => {
            let Some(_) = &previous else {
                return not_found(target, name);
            };
            let Ok(mut operations) = serde_json::from_value::<json_patch::Patch>(patch) else {
                return status(400, "BadRequest", "not a JSON patch");
            };
            // A `test` of `null` passes on a missing path, as the
            // apiserver's JSON patch library has it (evanphx/json-patch
            // `patch.go`, `test`: a nil value equals a missing one).
            operations.0.retain(|op| match op {
                json_patch::PatchOperation::Test(test) => {
                    !(test.value.is_null() && object.pointer(test.path.as_str()).is_none())
                }
                _ => true,
            });
            if json_patch::patch(&mut object, &operations).is_err() {
                return status(422, "Invalid", "the JSON patch does not apply");
            }
        }
        other => return status(415, "UnsupportedMediaType", other),
    }
    keep_other_half(target, previous.as_ref(), &mut object);
    object["metadata"]["name"] = name.into();
    if let Some(ns) = &target.namespace {
        object["metadata"]["namespace"] = ns.clone().into();
    }
    // An object marked for deletion goes once its last finalizer is
    // removed (apiserver `pkg/registry/generic/registry/store.go`,
    // `Update` → `deleteWithoutFinalizers`).
    let finalizers_gone = object["metadata"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    if !object["metadata"]["deletionTimestamp"].is_null() && finalizers_gone {
        return match server.remove(&key) {
            Some(gone) => axum::Json(gone).into_response(),
            None => not_found(target, name),
        };
    }
    axum::Json(server.write(key, object, previous.as_ref())).into_response()
}

/// Deleting an absent object is 404; one with finalizers is marked with a
/// `deletionTimestamp` and kept until they are removed (apiserver
/// `pkg/registry/generic/registry/store.go`, `Delete` and
/// `updateForGracefulDeletionAndFinalizers`).
fn delete(server: &ApiServer, target: &Target, name: &str) -> Response {
    let key = key(target, name);
    let Some(previous) = server.lock().by_key.get(&key).cloned() else {
        return not_found(target, name);
    };
    let has_finalizers = previous["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if !previous["metadata"]["deletionTimestamp"].is_null() {
            return axum::Json(previous).into_response();
        }
        let mut marked = previous.clone();
        marked["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z".into();
        return axum::Json(server.write(key, marked, Some(&previous))).into_response();
    }
    match server.remove(&key) {
        Some(gone) => axum::Json(gone).into_response(),
        None => not_found(target, name),
    }
}
