//! An in-memory kube-apiserver on loopback, for tests and the scale
//! benchmark: `kube::Client` talks to it over HTTP as to a real one. It is
//! stateful and keeps the real apiserver's rules where our code meets them
//! (each cited at the code that keeps it, kubernetes paths):
//! - get, list (a `labelSelector` of equality and existence terms;
//!   `limit` ignored, as a server may), watch from a `resourceVersion`
//!   (what kube 5's watcher sends by default: a list, then
//!   `watch=true&timeoutSeconds=…&allowWatchBookmarks=true&resourceVersion=…`;
//!   streaming lists, `sendInitialEvents`, are not served),
//!   create, delete, and patch by server-side apply, JSON merge patch and
//!   JSON patch, on objects and their `status` subresource;
//! - server-side apply needs a `fieldManager`, the content type
//!   `application/apply-patch+yaml`, and the body's name and namespace
//!   those of the URL;
//! - a namespaced object is refused in a namespace that does not exist
//!   (NamespaceLifecycle admission);
//! - `resourceVersion` moves on every write that changes the object, and
//!   not on an identical one;
//! - `metadata.generation` starts at 1 and moves when the spec changes;
//! - a write to the main resource keeps the stored status, a write to
//!   `status` keeps everything else;
//! - deleting an absent object is 404; an object with finalizers is only
//!   marked (`deletionTimestamp`) until they are gone;
//! - metadata-only lists and watches answer `PartialObjectMetadataList` and
//!   `PartialObjectMetadata` when the `Accept` header asks for them
//!   (apiserver `pkg/endpoints/handlers/response.go`,
//!   `asPartialObjectMetadata`).
//!
//! Server-side apply is modelled for a single field manager: the applied
//! fields are merged over the stored object, lists replaced whole. Every
//! request is recorded, so a test can count what was written.

mod path;
mod verbs;
mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::broadcast;

/// The kinds whose registry strategy keeps a generation (`PrepareForUpdate`
/// in kubernetes `pkg/registry/{apps,batch,policy,networking}/...` and
/// apiextensions-apiserver `pkg/registry/customresource/strategy.go`).
const GENERATION_KEPT: [&str; 9] = [
    "statefulsets",
    "deployments",
    "jobs",
    "poddisruptionbudgets",
    "networkpolicies",
    "vectorclusters",
    "inferenceendpoints",
    "vectorclusterbackups",
    "vectorclusterrestores",
];

/// An object's place: `group/version/resource`, namespace, name.
type Key = (String, String, String);

/// A change, as a watch sends it.
#[derive(Debug, Clone)]
struct Change {
    resource: String,
    namespace: String,
    kind: &'static str,
    object: Arc<Value>,
}

#[derive(Debug, Default)]
struct Objects {
    by_key: BTreeMap<Key, Value>,
    /// Every change, by resource version, for watches that start behind.
    log: Vec<(u64, Change)>,
    resource_version: u64,
    requests: Vec<Recorded>,
}

/// A request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
}

#[derive(Debug, Clone)]
pub struct ApiServer {
    objects: Arc<Mutex<Objects>>,
    changes: broadcast::Sender<(u64, Change)>,
}

impl Default for ApiServer {
    fn default() -> Self {
        ApiServer::new()
    }
}

/// Where `K`'s objects live in the store: `group/version/plural`.
fn resource_of<K: Resource<DynamicType = ()>>() -> String {
    format!("{}/{}", K::api_version(&()), K::plural(&()))
}

impl ApiServer {
    pub fn new() -> ApiServer {
        ApiServer {
            objects: Arc::default(),
            changes: broadcast::channel(1 << 16).0,
        }
    }

    pub fn router(self) -> axum::Router {
        axum::Router::new().fallback(verbs::handle).with_state(self)
    }

    /// Serves on a free loopback port until the runtime ends; the address.
    pub async fn serve(&self) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let router = self.clone().router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(address)
    }

    /// A client of the server at `address`, in namespace `default`.
    pub fn client(address: SocketAddr) -> Result<kube::Client, kube::Error> {
        let url = format!("http://{address}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| kube::Error::Service(e.into()))?;
        kube::Client::try_from(kube::Config::new(url))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// How many requests so far used `method` (`"PATCH"`, `"DELETE"`).
    pub fn count(&self, method: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .count()
    }

    /// The stored object `namespace/name` of kind `K` (`""`: cluster-scoped).
    pub fn get<K>(&self, namespace: &str, name: &str) -> Option<K>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let key = (resource_of::<K>(), namespace.to_owned(), name.to_owned());
        let object = self.lock().by_key.get(&key).cloned()?;
        serde_json::from_value(object).ok()
    }

    /// The names of the stored objects of kind `K` in `namespace`.
    pub fn names<K: Resource<DynamicType = ()>>(&self, namespace: &str) -> Vec<String> {
        let resource = resource_of::<K>();
        self.lock()
            .by_key
            .keys()
            .filter(|(r, ns, _)| *r == resource && ns == namespace)
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    /// Stores `object` directly, past admission (a test's seed): its
    /// namespace need not exist.
    pub fn insert<K>(&self, object: &K) -> Result<(), serde_json::Error>
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let mut value = serde_json::to_value(object)?;
        value["apiVersion"] = K::api_version(&()).into();
        value["kind"] = K::kind(&()).into();
        let meta = object.meta();
        let key = (
            resource_of::<K>(),
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let previous = self.lock().by_key.get(&key).cloned();
        self.write(key, value, previous.as_ref());
        Ok(())
    }

    /// Sets an object's status, as its reconciler would; false when the
    /// object does not exist.
    pub fn set_status<K>(&self, namespace: &str, name: &str, status: Value) -> bool
    where
        K: Resource<DynamicType = ()>,
    {
        let key = (resource_of::<K>(), namespace.to_owned(), name.to_owned());
        let Some(previous) = self.lock().by_key.get(&key).cloned() else {
            return false;
        };
        let mut object = previous.clone();
        object["status"] = status;
        self.write(key, object, Some(&previous));
        true
    }

    /// Stores `object` at `key` unless unchanged: an identical write keeps
    /// the resource version (apiserver `pkg/storage/etcd3/store.go`,
    /// `GuaranteedUpdate`, which skips the write when the bytes are equal).
    fn write(&self, key: Key, mut object: Value, previous: Option<&Value>) -> Value {
        if key.0 == "v1/secrets" {
            string_data_into_data(&mut object);
        }
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
        let kind = if previous.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        objects.by_key.insert(key.clone(), object.clone());
        self.publish(&mut objects, rv, key, kind, object.clone());
        object
    }

    /// Removes the object at `key`, as a watch sees it go.
    fn remove(&self, key: &Key) -> Option<Value> {
        let mut objects = self.lock();
        let mut object = objects.by_key.remove(key)?;
        objects.resource_version += 1;
        let rv = objects.resource_version;
        // A deleted object's last state carries the deletion's version.
        object["metadata"]["resourceVersion"] = rv.to_string().into();
        self.publish(&mut objects, rv, key.clone(), "DELETED", object.clone());
        Some(object)
    }

    fn publish(&self, objects: &mut Objects, rv: u64, key: Key, kind: &'static str, object: Value) {
        let change = Change {
            resource: key.0,
            namespace: key.1,
            kind,
            object: Arc::new(object),
        };
        objects.log.push((rv, change.clone()));
        // No watch listening is no error.
        let _ = self.changes.send((rv, change));
    }
}

/// A Secret's `stringData` is written into `data`, base64, and never kept
/// (kubernetes `pkg/apis/core/v1/conversion.go`,
/// `Convert_v1_Secret_To_core_Secret`).
fn string_data_into_data(secret: &mut Value) {
    use base64::Engine as _;
    let Some(string_data) = secret.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    let Some(entries) = string_data.as_object() else {
        return;
    };
    if !secret["data"].is_object() {
        secret["data"] = Value::Object(serde_json::Map::new());
    }
    for (k, v) in entries {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default());
        secret["data"][k] = encoded.into();
    }
}
