//! The children the operator applies, as its watches see them (metadata
//! only), and what it last applied of each: so that a resync which would
//! apply the same objects again writes nothing.
//!
//! Each applied child carries a hash of what was applied
//! ([`APPLIED_HASH_ANNOTATION`]), and the revision the apiserver gave it in
//! answer to that apply is remembered. A child is applied again when what
//! would be applied hashes differently, when no watch has seen it, or when it
//! drifted: its annotation was changed or removed, or its [`Revision`] moved
//! since our apply. After a restart nothing is remembered, so the first pass
//! applies every child once and drift made while the operator was away is
//! repaired then.
//!
//! The watches keep neither labels, nor managed fields, nor any annotation
//! but ours: a metadata-only reflector of 1,000 children then holds little
//! more than names, owners and versions.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PartialObjectMeta;
use kube::core::NamespaceResourceScope;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::build::digest;

/// A hash of the object last applied, stamped on the object itself.
pub const APPLIED_HASH_ANNOTATION: &str = "quartermaster.dev/applied-hash";

/// What moves when something writes a child. `metadata.generation` where
/// the kind keeps one: the apiserver bumps it on spec writes only, so the
/// StatefulSet or Deployment controller writing status is not drift.
/// `resourceVersion` for the kinds without (ConfigMap, Secret, Service):
/// any write to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    Generation(i64),
    ResourceVersion(String),
}

impl Revision {
    pub fn of(meta: &ObjectMeta) -> Option<Revision> {
        meta.generation
            .map(Revision::Generation)
            .or_else(|| meta.resource_version.clone().map(Revision::ResourceVersion))
    }
}

/// Whether an object hashing to `desired_hash` must be applied over the
/// child the watch shows (`live`, `None` when it has not seen one), given
/// the revision our last apply of it left (`applied`, `None` when this
/// process has not applied it).
pub fn needs_apply(
    desired_hash: &str,
    live: Option<&ObjectMeta>,
    applied: Option<&Revision>,
) -> bool {
    let Some(live) = live else {
        return true;
    };
    let stamped = live
        .annotations
        .as_ref()
        .and_then(|a| a.get(APPLIED_HASH_ANNOTATION));
    stamped.map(String::as_str) != Some(desired_hash)
        || applied.is_none()
        || Revision::of(live).as_ref() != applied
}

/// `object` stamped with the hash of itself, and that hash.
pub fn stamp<K: Resource + Serialize + Clone>(
    object: &K,
) -> Result<(K, String), serde_json::Error> {
    let hash = digest(&serde_json::to_vec(object)?);
    let mut stamped = object.clone();
    stamped
        .meta_mut()
        .annotations
        .get_or_insert_with(Default::default)
        .insert(APPLIED_HASH_ANNOTATION.to_owned(), hash.clone());
    Ok((stamped, hash))
}

/// A child by kind, namespace and name.
type Key = (TypeId, String, String);

/// The watched children of each kind, and the revision of each child as our
/// last apply left it.
#[derive(Default)]
pub struct Children {
    /// A `Store<PartialObjectMeta<K>>` for each watched `K`.
    watched: HashMap<TypeId, Box<dyn WatchedKind>>,
    applied: Arc<Mutex<HashMap<Key, Revision>>>,
}

impl std::fmt::Debug for Children {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Children")
            .field("watched_kinds", &self.watched.len())
            .finish_non_exhaustive()
    }
}

fn key<K: 'static>(namespace: &str, name: &str) -> Key {
    (TypeId::of::<K>(), namespace.to_owned(), name.to_owned())
}

impl Children {
    /// Watches the operator's `K` children (those labelled as managed by
    /// it) by metadata, into a store this reads. The stream runs the watch:
    /// poll it, or hand it to a controller as a trigger.
    pub fn watch<K>(
        &mut self,
        client: Client,
        config: watcher::Config,
    ) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + use<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let (store, writer) = reflector::store();
        self.read(store);
        let applied = self.applied.clone();
        let api = Api::<PartialObjectMeta<K>>::all(client);
        watcher::watcher(api, config)
            .default_backoff()
            .modify(trim)
            .inspect(move |event| {
                // A child gone needs no memory of its last apply.
                if let Ok(watcher::Event::Delete(gone)) = event {
                    applied
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&key::<K>(
                            gone.metadata.namespace.as_deref().unwrap_or_default(),
                            gone.metadata.name.as_deref().unwrap_or_default(),
                        ));
                }
            })
            .reflect(writer)
            .applied_objects()
    }

    /// Reads `K`'s children from `store`, which something else fills: a
    /// watch, or a test.
    pub fn read<K>(&mut self, store: Store<PartialObjectMeta<K>>)
    where
        K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.watched.insert(TypeId::of::<K>(), Box::new(store));
    }

    fn live<K>(&self, namespace: &str, name: &str) -> Option<Arc<PartialObjectMeta<K>>>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        let store = self.watched.get(&TypeId::of::<K>())?;
        let store = (&**store as &dyn Any).downcast_ref::<Store<PartialObjectMeta<K>>>()?;
        store.get(&ObjectRef::new(name).within(namespace))
    }

    /// Whether the `K` named `name` in `namespace`, hashing to `hash`, must
    /// be applied: always, for a kind no watch covers.
    pub fn needs_apply<K>(&self, namespace: &str, name: &str, hash: &str) -> bool
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        let live = self.live::<K>(namespace, name);
        let applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        needs_apply(
            hash,
            live.as_ref().map(|l| &l.metadata),
            applied.get(&key::<K>(namespace, name)),
        )
    }

    /// Remembers the revision the apiserver answered an apply of a `K` with.
    pub fn applied<K: 'static>(&self, namespace: &str, name: &str, answer: &ObjectMeta) {
        let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        match Revision::of(answer) {
            Some(revision) => applied.insert(key::<K>(namespace, name), revision),
            None => applied.remove(&key::<K>(namespace, name)),
        };
    }

    /// How many children the watches hold, of every kind.
    pub fn watched(&self) -> usize {
        self.watched.values().map(|store| store.len()).sum()
    }

    /// How many children this process applied and remembers the revision of.
    pub fn applied_count(&self) -> usize {
        self.applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A store of one kind's children, whatever the kind.
trait WatchedKind: Any + Send + Sync {
    fn len(&self) -> usize;
}

impl<K> WatchedKind for Store<PartialObjectMeta<K>>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    fn len(&self) -> usize {
        self.state().len()
    }
}

/// Drops what neither the reconcilers nor the triggers (owner references)
/// read of a watched child.
fn trim<K>(child: &mut PartialObjectMeta<K>) {
    child.types = None;
    let meta = &mut child.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    meta.uid = None;
    meta.creation_timestamp = None;
    if let Some(annotations) = &mut meta.annotations {
        annotations.retain(|k, _| k == APPLIED_HASH_ANNOTATION);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn meta(hash: Option<&str>, generation: Option<i64>, rv: &str) -> ObjectMeta {
        ObjectMeta {
            annotations: hash
                .map(|h| BTreeMap::from([(APPLIED_HASH_ANNOTATION.to_owned(), h.to_owned())])),
            generation,
            resource_version: Some(rv.to_owned()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn a_child_as_last_applied_is_not_applied_again() {
        let live = meta(Some("h1"), Some(3), "17");
        assert!(!needs_apply(
            "h1",
            Some(&live),
            Some(&Revision::Generation(3))
        ));
    }

    #[test]
    fn a_child_is_applied_when_what_would_be_applied_changed() {
        let live = meta(Some("h1"), Some(3), "17");
        assert!(needs_apply(
            "h2",
            Some(&live),
            Some(&Revision::Generation(3))
        ));
    }

    #[test]
    fn a_child_no_watch_has_seen_is_applied() {
        assert!(needs_apply("h1", None, Some(&Revision::Generation(3))));
    }

    #[test]
    fn a_child_whose_annotation_was_removed_or_changed_is_applied() {
        let removed = meta(None, Some(3), "17");
        let changed = meta(Some("h0"), Some(3), "17");
        let applied = Revision::Generation(3);
        assert!(needs_apply("h1", Some(&removed), Some(&applied)));
        assert!(needs_apply("h1", Some(&changed), Some(&applied)));
    }

    #[test]
    fn a_spec_written_by_another_since_our_apply_is_drift() {
        let live = meta(Some("h1"), Some(4), "18");
        assert!(needs_apply(
            "h1",
            Some(&live),
            Some(&Revision::Generation(3))
        ));
    }

    #[test]
    fn a_status_write_is_not_drift_where_the_kind_keeps_a_generation() {
        let live = meta(Some("h1"), Some(3), "25");
        assert!(!needs_apply(
            "h1",
            Some(&live),
            Some(&Revision::Generation(3))
        ));
    }

    #[test]
    fn any_write_is_drift_where_the_kind_keeps_no_generation() {
        let live = meta(Some("h1"), None, "25");
        let applied = Revision::ResourceVersion("17".to_owned());
        assert!(needs_apply("h1", Some(&live), Some(&applied)));
        let same = meta(Some("h1"), None, "17");
        assert!(!needs_apply("h1", Some(&same), Some(&applied)));
    }

    #[test]
    fn after_a_restart_every_child_is_applied_once() {
        let live = meta(Some("h1"), Some(3), "17");
        assert!(needs_apply("h1", Some(&live), None));
    }

    #[test]
    fn the_stamped_hash_is_of_the_object_without_it() {
        let cm = k8s_openapi::api::core::v1::ConfigMap {
            metadata: ObjectMeta {
                name: Some("a".to_owned()),
                ..ObjectMeta::default()
            },
            ..Default::default()
        };
        let (stamped, hash) = stamp(&cm).unwrap();
        assert_eq!(
            stamped.metadata.annotations.unwrap()[APPLIED_HASH_ANNOTATION],
            hash
        );
        assert_eq!(
            stamp(&cm).unwrap().1,
            hash,
            "the same object, the same hash"
        );
        let mut other = cm.clone();
        other.data = Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]));
        assert_ne!(stamp(&other).unwrap().1, hash);
    }
}
