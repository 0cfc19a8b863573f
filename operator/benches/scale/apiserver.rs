//! An in-memory kube-apiserver for the scale benchmark, run as a process of
//! its own so that its objects are not counted in the operator's memory.
//! It serves what the operator and the raw loop ask, by the real
//! apiserver's rules where they matter to the figures:
//! - get, list (a `labelSelector` of `key=value` terms; `limit` ignored, as
//!   a server may), watch from a `resourceVersion`, create, and patch by
//!   server-side apply, JSON merge patch and JSON patch, on objects and
//!   their `status` subresource;
//! - metadata-only lists and watches answer `PartialObjectMetadataList` and
//!   `PartialObjectMetadata` when the `Accept` header asks for them
//!   (apiserver `pkg/endpoints/handlers/response.go`, `asPartialObjectMetadata`);
//! - `resourceVersion` moves on every write that changes the object; a
//!   write of identical content is skipped (apiserver
//!   `pkg/storage/etcd3/store.go`, `GuaranteedUpdate`);
//! - `metadata.generation` starts at 1 and moves on spec changes for the
//!   kinds whose registry strategy keeps one (StatefulSet, Deployment, Job,
//!   PodDisruptionBudget, NetworkPolicy, custom resources:
//!   `PrepareForUpdate` in kubernetes `pkg/registry/...` and
//!   apiextensions-apiserver `pkg/registry/customresource/strategy.go`);
//! - a JSON patch `test` of `null` passes on a missing path (evanphx/json-patch).
//!
//! Server-side apply is modelled for a single field manager: the applied
//! fields are merged over the stored object, lists replaced whole.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

const GENERATION_KEPT: [&str; 6] = [
    "statefulsets",
    "deployments",
    "jobs",
    "poddisruptionbudgets",
    "networkpolicies",
    "vectorclusters",
];

/// An object's place: `group/version` and resource, namespace, name.
type Key = (String, String, String);

/// A change, as a watch sends it.
#[derive(Clone)]
struct Change {
    resource: String,
    namespace: String,
    kind: &'static str,
    object: Arc<Value>,
}

#[derive(Default)]
struct Objects {
    by_key: BTreeMap<Key, Value>,
    /// Every change, by resource version, for watches that start behind.
    log: Vec<(u64, Change)>,
    resource_version: u64,
}

#[derive(Clone)]
pub struct ApiServer {
    objects: Arc<Mutex<Objects>>,
    changes: broadcast::Sender<(u64, Change)>,
}

/// A request's target, parsed from its path.
struct Target {
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group_version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ((*version).to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        rest => (None, rest),
    };
    let (resource, name, status) = match rest {
        [resource] => (*resource, None, false),
        [resource, name] => (*resource, Some(*name), false),
        [resource, name, "status"] => (*resource, Some(*name), true),
        _ => return None,
    };
    Some(Target {
        resource: format!("{group_version}/{resource}"),
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        status,
    })
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code });
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn metadata_only(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

fn partial(object: &Value) -> Value {
    json!({ "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": object["metadata"] })
}

fn matches(object: &Value, selector: &[(String, String)]) -> bool {
    selector
        .iter()
        .all(|(k, v)| object["metadata"]["labels"][k].as_str() == Some(v))
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

impl ApiServer {
    pub fn new() -> ApiServer {
        ApiServer {
            objects: Arc::default(),
            changes: broadcast::channel(1 << 16).0,
        }
    }

    pub fn router(self) -> axum::Router {
        axum::Router::new().fallback(handle).with_state(self)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `object` at `key` unless unchanged; `created`: it is new.
    fn write(&self, key: Key, mut object: Value, previous: Option<&Value>) -> Value {
        let mut objects = self.lock();
        if let Some(previous) = previous
            && *previous == object
        {
            return object;
        }
        objects.resource_version += 1;
        let rv = objects.resource_version;
        let resource = key.0.rsplit('/').next().unwrap_or_default();
        if GENERATION_KEPT.contains(&resource) {
            let generation = previous.map_or(1, |p| {
                p["metadata"]["generation"].as_i64().unwrap_or(1)
                    + i64::from(p["spec"] != object["spec"])
            });
            object["metadata"]["generation"] = generation.into();
        }
        object["metadata"]["resourceVersion"] = rv.to_string().into();
        if previous.is_none() {
            object["metadata"]["uid"] = format!("00000000-0000-4000-8000-{rv:012}").into();
            object["metadata"]["creationTimestamp"] = "2025-01-01T00:00:00Z".into();
        }
        let change = Change {
            resource: key.0.clone(),
            namespace: key.1.clone(),
            kind: if previous.is_some() {
                "MODIFIED"
            } else {
                "ADDED"
            },
            object: Arc::new(object.clone()),
        };
        objects.log.push((rv, change.clone()));
        objects.by_key.insert(key, object.clone());
        // No watch listening is no error.
        let _ = self.changes.send((rv, change));
        object
    }
}

async fn handle(State(server): State<ApiServer>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(target) = parse(parts.uri.path()) else {
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
    match (parts.method, &target.name) {
        (Method::GET, Some(name)) => get(&server, &target, name),
        (Method::GET, None) if query.get("watch").is_some_and(|w| w == "true") => {
            watch(&server, &target, &query, metadata_only(&parts.headers))
        }
        (Method::GET, None) => list(&server, &target, &query, metadata_only(&parts.headers)),
        (Method::POST, None) => create(&server, &target, &body),
        (Method::PATCH, Some(name)) => patch(&server, &target, name, &content_type, &body),
        _ => status(405, "MethodNotAllowed", "not served by the stand-in"),
    }
}

fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn key(target: &Target, name: &str) -> Key {
    (
        target.resource.clone(),
        target.namespace.clone().unwrap_or_default(),
        name.to_owned(),
    )
}

fn get(server: &ApiServer, target: &Target, name: &str) -> Response {
    match server.lock().by_key.get(&key(target, name)) {
        Some(object) => axum::Json(object.clone()).into_response(),
        None => status(404, "NotFound", &format!("\"{name}\" not found")),
    }
}

fn selector(query: &BTreeMap<String, String>) -> Vec<(String, String)> {
    query
        .get("labelSelector")
        .map(|s| {
            s.split(',')
                .filter_map(|term| term.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn in_scope(target: &Target, resource: &str, namespace: &str) -> bool {
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

fn watch(
    server: &ApiServer,
    target: &Target,
    query: &BTreeMap<String, String>,
    metadata: bool,
) -> Response {
    let since: u64 = query
        .get("resourceVersion")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let selector = selector(query);
    // Under the lock: the backlog and the live changes meet without a gap.
    let (backlog, live) = {
        let objects = server.lock();
        let start = objects.log.partition_point(|(rv, _)| *rv <= since);
        (objects.log[start..].to_vec(), server.changes.subscribe())
    };
    let resource = target.resource.clone();
    let namespace = target.namespace.clone();
    let wanted = move |(_, change): &(u64, Change)| {
        change.resource == resource
            && namespace.as_deref().is_none_or(|n| n == change.namespace)
            && matches(&change.object, &selector)
    };
    let encode = move |(_, change): (u64, Change)| -> Result<Bytes, Infallible> {
        let object = if metadata {
            partial(&change.object)
        } else {
            (*change.object).clone()
        };
        let mut line = serde_json::to_vec(&json!({ "type": change.kind, "object": object }))
            .unwrap_or_default();
        line.push(b'\n');
        Ok(Bytes::from(line))
    };
    let after = backlog.last().map_or(since, |(rv, _)| *rv);
    // A watch that falls behind ends; the client watches again from where it was.
    let live = futures::stream::unfold(live, |mut live| async move {
        live.recv().await.ok().map(|change| (change, live))
    })
    .filter(move |(rv, _)| std::future::ready(*rv > after));
    let wanted_live = wanted.clone();
    let stream = futures::stream::iter(backlog)
        .filter(move |c| std::future::ready(wanted(c)))
        .chain(live.filter(move |c| std::future::ready(wanted_live(c))))
        .map(encode);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status(500, "InternalError", "building the watch"))
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
    object["metadata"]["name"] = name.clone().into();
    let key = key(target, &name);
    if server.lock().by_key.contains_key(&key) {
        return status(409, "AlreadyExists", &format!("\"{name}\" already exists"));
    }
    let stored = server.write(key, object, None);
    (StatusCode::CREATED, axum::Json(stored)).into_response()
}

fn patch(
    server: &ApiServer,
    target: &Target,
    name: &str,
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
        "application/apply-patch+yaml" => {
            if previous.is_none() && target.status {
                return status(404, "NotFound", &format!("\"{name}\" not found"));
            }
            merge(&mut object, &patch);
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let Some(_) = &previous else {
                return status(404, "NotFound", &format!("\"{name}\" not found"));
            };
            if target.status {
                merge(&mut object["status"], &patch["status"]);
            } else {
                merge(&mut object, &patch);
            }
        }
        "application/json-patch+json" => {
            let Some(_) = &previous else {
                return status(404, "NotFound", &format!("\"{name}\" not found"));
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
    axum::Json(server.write(key, object, previous.as_ref())).into_response()
}
