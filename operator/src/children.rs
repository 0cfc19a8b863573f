//! The children the operator applies, as its watches see them (metadata
//! only), and what it last applied of each: so that a resync which would
//! apply the same objects again writes nothing.
//!
//! Each applied child carries a hash of what was applied
//! ([`APPLIED_HASH_ANNOTATION`]); that hash and the revision the apiserver
//! gave the child in answer to the apply are remembered. A child is applied
//! again when what would be applied hashes differently, or when it drifted:
//! its annotation was changed or removed, or its [`Revision`] moved since our
//! apply. Until the watch shows our apply (a pass triggered by another
//! change often runs first), the answered apply stands for the child, so the
//! pass does not send it again. After a restart nothing is remembered, so
//! the first pass applies every child once and drift made while the operator
//! was away is repaired then.
//!
//! The watches' objects are not kept: each child is one small entry (its
//! kind, the hash it carries, its revision, ours) under its name, under its
//! namespace, so a namespace's and a name's text is held once however many
//! children share it. kube's reflector stores held whole metadata objects
//! and cost several times as much per cluster.

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PartialObjectMeta;
use kube::core::NamespaceResourceScope;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::build::digest_u64;

/// A hash of the object last applied, stamped on the object itself.
pub const APPLIED_HASH_ANNOTATION: &str = "quartermaster.dev/applied-hash";

/// The hash of an applied object, as [`APPLIED_HASH_ANNOTATION`] carries it
/// in 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedHash(u64);

impl AppliedHash {
    fn of(bytes: &[u8]) -> AppliedHash {
        AppliedHash(digest_u64(bytes))
    }

    fn parse(text: &str) -> Option<AppliedHash> {
        (text.len() == 16)
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
            .map(AppliedHash)
    }
}

impl std::fmt::Display for AppliedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What moves when something writes a child. `metadata.generation` where
/// the kind keeps one: the apiserver bumps it on spec writes only, so the
/// StatefulSet or Deployment controller writing status is not drift.
/// `resourceVersion` for the kinds without (ConfigMap, Secret, Service):
/// any write to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    Generation(i64),
    ResourceVersion(u64),
    /// A `resourceVersion` that is not a number (it is opaque by contract),
    /// kept as its hash: only equality is asked of it.
    Opaque(u64),
}

impl Revision {
    pub fn of(meta: &ObjectMeta) -> Option<Revision> {
        match meta.generation {
            Some(generation) => Some(Revision::Generation(generation)),
            None => Revision::version(meta),
        }
    }

    /// The `resourceVersion` alone, which any write moves.
    fn version(meta: &ObjectMeta) -> Option<Revision> {
        let version = meta.resource_version.as_deref()?;
        Some(version.parse().map_or_else(
            |_| {
                // Fixed keys: the same text hashes the same in this process.
                let mut hasher = DefaultHasher::new();
                version.hash(&mut hasher);
                Revision::Opaque(hasher.finish())
            },
            Revision::ResourceVersion,
        ))
    }

    /// Whether `self` is known to come before `later`: both generations, or
    /// both numeric resource versions (etcd's revisions, which only grow),
    /// the one smaller. An opaque version is never known to.
    fn precedes(self, later: Revision) -> bool {
        match (self, later) {
            (Revision::Generation(a), Revision::Generation(b)) => a < b,
            (Revision::ResourceVersion(a), Revision::ResourceVersion(b)) => a < b,
            _ => false,
        }
    }
}

/// What our last apply of a child sent (its hash) and left (the revision
/// and the `resourceVersion` the apiserver answered with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub hash: AppliedHash,
    pub revision: Revision,
    version: Option<Revision>,
}

/// A child as a watch last showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// The hash it carries; `None` when its annotation is gone or garbled.
    pub stamped: Option<AppliedHash>,
    pub revision: Option<Revision>,
}

impl Live {
    pub fn of(meta: &ObjectMeta) -> Live {
        Live {
            stamped: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
                .and_then(|h| AppliedHash::parse(h)),
            revision: Revision::of(meta),
        }
    }
}

/// Whether an object hashing to `desired` must be applied over the child
/// the watch shows (`live`, `None` when it has not seen one), given our
/// last apply of it (`applied`, `None` when this process has not applied
/// it). A watch that has not caught up with our answered apply (no child
/// yet, or an older revision) is behind, not drift: the apply stands for
/// the child until the watch shows it.
pub fn needs_apply(desired: AppliedHash, live: Option<Live>, applied: Option<Applied>) -> bool {
    let Some(applied) = applied else {
        return true;
    };
    let behind = live.is_none_or(|live| {
        live.revision
            .is_some_and(|seen| seen.precedes(applied.revision))
    });
    if behind {
        return desired != applied.hash;
    }
    live.is_none_or(|live| live.stamped != Some(desired) || live.revision != Some(applied.revision))
}

/// `object` stamped with the hash of itself, and that hash.
pub fn stamp<K: Resource + Serialize + Clone>(
    object: &K,
) -> Result<(K, AppliedHash), serde_json::Error> {
    let hash = AppliedHash::of(&serde_json::to_vec(object)?);
    let mut stamped = object.clone();
    stamped
        .meta_mut()
        .annotations
        .get_or_insert_with(Default::default)
        .insert(APPLIED_HASH_ANNOTATION.to_owned(), hash.to_string());
    Ok((stamped, hash))
}

/// One child: its kind, as seen and as applied.
#[derive(Debug)]
struct Child {
    kind: TypeId,
    live: Option<Live>,
    applied: Option<Applied>,
    /// Listed by the relist in progress of its kind.
    relisted: bool,
}

/// Children by namespace, then name; the few that share a name (a Service
/// and a StatefulSet, say) told apart by kind.
type Namespaces = HashMap<Box<str>, HashMap<Box<str>, Vec<Child>>>;

/// The watched children of every kind, and the revision of each child as
/// our last apply left it. Cloning shares them.
#[derive(Clone, Default)]
pub struct Children {
    namespaces: Arc<Mutex<Namespaces>>,
    listed: Arc<Listed>,
}

/// The kinds whose watch has listed them whole at least once.
#[derive(Default)]
struct Listed {
    kinds: Mutex<Vec<TypeId>>,
    more: tokio::sync::Notify,
}

impl Listed {
    fn kinds(&self) -> MutexGuard<'_, Vec<TypeId>> {
        self.kinds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Children {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Children").finish_non_exhaustive()
    }
}

impl Children {
    fn lock(&self) -> MutexGuard<'_, Namespaces> {
        self.namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the `K` named `name` in `namespace`, which `change` is given
    /// (created if missing); drops it once neither seen nor applied.
    fn update<K: 'static>(&self, namespace: &str, name: &str, change: impl FnOnce(&mut Child)) {
        let kind = TypeId::of::<K>();
        let mut namespaces = self.lock();
        let names = namespaces.entry(namespace.into()).or_default();
        let same_name = names.entry(name.into()).or_default();
        let index = match same_name.iter().position(|c| c.kind == kind) {
            Some(index) => index,
            None => {
                same_name.push(Child {
                    kind,
                    live: None,
                    applied: None,
                    relisted: false,
                });
                same_name.len() - 1
            }
        };
        change(&mut same_name[index]);
        if same_name[index].live.is_none() && same_name[index].applied.is_none() {
            same_name.swap_remove(index);
        }
        if same_name.is_empty() {
            names.remove(name);
        }
        if names.is_empty() {
            namespaces.remove(namespace);
        }
    }

    /// What the `K` named `name` in `namespace` is, as seen and applied.
    fn get<K: 'static>(&self, namespace: &str, name: &str) -> (Option<Live>, Option<Applied>) {
        let kind = TypeId::of::<K>();
        self.lock()
            .get(namespace)
            .and_then(|names| names.get(name))
            .and_then(|same_name| same_name.iter().find(|c| c.kind == kind))
            .map_or((None, None), |c| (c.live, c.applied))
    }

    /// Takes in what a watch of `K` reports. A relist replaces what was
    /// seen of `K`: a child it does not list is gone.
    pub fn observe<K>(&self, event: &watcher::Event<PartialObjectMeta<K>>)
    where
        K: Resource + 'static,
    {
        let seen = |child: &PartialObjectMeta<K>, relisted: bool| {
            let meta = &child.metadata;
            let namespace = meta.namespace.as_deref().unwrap_or_default();
            let name = meta.name.as_deref().unwrap_or_default();
            self.update::<K>(namespace, name, |c| {
                c.live = Some(Live::of(meta));
                c.relisted |= relisted;
            });
        };
        match event {
            watcher::Event::Apply(child) => seen(child, false),
            watcher::Event::InitApply(child) => seen(child, true),
            // A child gone needs no memory of its last apply either.
            watcher::Event::Delete(gone) => {
                let meta = &gone.metadata;
                self.update::<K>(
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default(),
                    |c| {
                        c.live = None;
                        c.applied = None;
                    },
                );
            }
            watcher::Event::Init => self.end_relist::<K>(false),
            watcher::Event::InitDone => {
                self.end_relist::<K>(true);
                let mut kinds = self.listed.kinds();
                if !kinds.contains(&TypeId::of::<K>()) {
                    kinds.push(TypeId::of::<K>());
                    self.listed.more.notify_waiters();
                }
            }
        }
    }

    /// Whether the `K` named `name` in `namespace` is known not to exist:
    /// its kind's watch has listed every `K`, shows none by that name, and
    /// this process has applied none. A child only the operator creates
    /// cannot appear behind its back, so a pass may skip reading it.
    pub fn known_absent<K: 'static>(&self, namespace: &str, name: &str) -> bool {
        self.listed::<K>() && self.get::<K>(namespace, name) == (None, None)
    }

    fn listed<K: 'static>(&self) -> bool {
        self.listed.kinds().contains(&TypeId::of::<K>())
    }

    /// Returns once the watch of `K` has listed them whole.
    pub async fn until_listed<K: 'static>(&self) {
        loop {
            // Made before the check, so a list ending between the two wakes it.
            let more = self.listed.more.notified();
            if self.listed::<K>() {
                return;
            }
            more.await;
        }
    }

    /// Clears the relisted marks of `K`'s children, having first forgotten
    /// those the relist did not list when it `completed`: what was seen of
    /// them, and our applies, which must not stand for a child now gone.
    fn end_relist<K: 'static>(&self, completed: bool) {
        let kind = TypeId::of::<K>();
        let mut namespaces = self.lock();
        for names in namespaces.values_mut() {
            for same_name in names.values_mut() {
                for child in same_name.iter_mut().filter(|c| c.kind == kind) {
                    if completed && !child.relisted {
                        child.live = None;
                        child.applied = None;
                    }
                    child.relisted = false;
                }
                same_name.retain(|c| c.live.is_some() || c.applied.is_some());
            }
            names.retain(|_, same_name| !same_name.is_empty());
        }
        namespaces.retain(|_, names| !names.is_empty());
    }

    /// Watches the operator's `K` children by metadata, with `config`
    /// (the operator's label), into these. The stream runs the watch and
    /// yields each child seen: poll it, or hand it to a controller as a
    /// trigger (it carries the owner references).
    pub fn watch<K>(
        &self,
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
        let children = self.clone();
        watcher::watcher(Api::<PartialObjectMeta<K>>::all(client), config)
            .default_backoff()
            .inspect(move |event| {
                if let Ok(event) = event {
                    children.observe(event);
                }
            })
            .applied_objects()
    }

    /// Whether the `K` named `name` in `namespace`, hashing to `hash`, must
    /// be applied: always, for a kind no watch covers.
    pub fn needs_apply<K: 'static>(&self, namespace: &str, name: &str, hash: AppliedHash) -> bool {
        let (live, applied) = self.get::<K>(namespace, name);
        needs_apply(hash, live, applied)
    }

    /// Whether `seen` is the `K` exactly as our last apply of it left it:
    /// the echo of our own write, which tells its owner nothing new. Any
    /// later write (the StatefulSet controller's status, say) moves the
    /// `resourceVersion`.
    pub fn echoes_our_apply<K: 'static>(&self, seen: &ObjectMeta) -> bool {
        let namespace = seen.namespace.as_deref().unwrap_or_default();
        let name = seen.name.as_deref().unwrap_or_default();
        let (_, applied) = self.get::<K>(namespace, name);
        applied.is_some_and(|a| a.version.is_some() && a.version == Revision::version(seen))
    }

    /// Remembers an apply of a `K` hashing to `hash`, and the revision the
    /// apiserver answered it with.
    pub fn applied<K: 'static>(
        &self,
        namespace: &str,
        name: &str,
        hash: AppliedHash,
        answer: &ObjectMeta,
    ) {
        let applied = Revision::of(answer).map(|revision| Applied {
            hash,
            revision,
            version: Revision::version(answer),
        });
        self.update::<K>(namespace, name, |c| c.applied = applied);
    }

    /// How many children the watches show, of every kind.
    pub fn watched(&self) -> usize {
        self.count(|c| c.live.is_some())
    }

    /// How many children this process applied and remembers the revision of.
    pub fn applied_count(&self) -> usize {
        self.count(|c| c.applied.is_some())
    }

    fn count(&self, which: impl Fn(&Child) -> bool) -> usize {
        self.lock()
            .values()
            .flat_map(HashMap::values)
            .flatten()
            .filter(|c| which(c))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{ConfigMap, Secret};

    use super::*;

    const H1: AppliedHash = AppliedHash(1);
    const H2: AppliedHash = AppliedHash(2);

    fn meta(hash: Option<&str>, generation: Option<i64>, rv: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some("ns".to_owned()),
            name: Some("a".to_owned()),
            annotations: hash
                .map(|h| BTreeMap::from([(APPLIED_HASH_ANNOTATION.to_owned(), h.to_owned())])),
            generation,
            resource_version: Some(rv.to_owned()),
            ..ObjectMeta::default()
        }
    }

    fn live(hash: Option<AppliedHash>, generation: Option<i64>, rv: &str) -> Option<Live> {
        let hash = hash.map(|h| h.to_string());
        Some(Live::of(&meta(hash.as_deref(), generation, rv)))
    }

    fn ours(hash: AppliedHash, revision: Option<Revision>) -> Option<Applied> {
        revision.map(|revision| Applied {
            hash,
            revision,
            version: None,
        })
    }

    const GEN3: Option<Revision> = Some(Revision::Generation(3));

    #[test]
    fn a_child_as_last_applied_is_not_applied_again() {
        let seen = live(Some(H1), Some(3), "17");
        assert!(!needs_apply(H1, seen, ours(H1, GEN3)));
    }

    #[test]
    fn a_child_is_applied_when_what_would_be_applied_changed() {
        let seen = live(Some(H1), Some(3), "17");
        assert!(needs_apply(H2, seen, ours(H1, GEN3)));
    }

    #[test]
    fn a_child_no_watch_has_shown_yet_stands_as_we_applied_it() {
        assert!(!needs_apply(H1, None, ours(H1, GEN3)));
        assert!(needs_apply(H2, None, ours(H1, GEN3)));
        assert!(needs_apply(H1, None, None), "nor applied: it may not exist");
    }

    #[test]
    fn a_watch_showing_a_revision_before_our_apply_is_behind_not_drift() {
        let before = live(Some(H1), Some(2), "16");
        assert!(!needs_apply(H2, before, ours(H2, GEN3)));
        assert!(needs_apply(H1, before, ours(H2, GEN3)));
        let applied = Revision::of(&meta(None, None, "17"));
        assert!(!needs_apply(
            H2,
            live(Some(H1), None, "16"),
            ours(H2, applied)
        ));
    }

    #[test]
    fn a_child_whose_annotation_was_removed_changed_or_garbled_is_applied() {
        let applied = ours(H1, GEN3);
        assert!(needs_apply(H1, live(None, Some(3), "17"), applied));
        assert!(needs_apply(H1, live(Some(H2), Some(3), "17"), applied));
        let garbled = Some(Live::of(&meta(Some("1"), Some(3), "17")));
        assert!(needs_apply(H1, garbled, applied));
    }

    #[test]
    fn a_spec_written_by_another_since_our_apply_is_drift() {
        let seen = live(Some(H1), Some(4), "18");
        assert!(needs_apply(H1, seen, ours(H1, GEN3)));
    }

    #[test]
    fn a_status_write_is_not_drift_where_the_kind_keeps_a_generation() {
        let seen = live(Some(H1), Some(3), "25");
        assert!(!needs_apply(H1, seen, ours(H1, GEN3)));
    }

    #[test]
    fn any_write_is_drift_where_the_kind_keeps_no_generation() {
        let applied = ours(H1, Revision::of(&meta(None, None, "17")));
        assert!(needs_apply(H1, live(Some(H1), None, "25"), applied));
        assert!(!needs_apply(H1, live(Some(H1), None, "17"), applied));
    }

    #[test]
    fn an_opaque_resource_version_is_compared_as_it_is_and_never_ordered() {
        let applied = ours(H1, Revision::of(&meta(None, None, "a/17")));
        assert!(!needs_apply(H1, live(Some(H1), None, "a/17"), applied));
        assert!(needs_apply(H1, live(Some(H1), None, "a/18"), applied));
        assert!(
            needs_apply(H1, live(Some(H1), None, "a/16"), applied),
            "an opaque version is not known to be behind: applied again"
        );
    }

    #[test]
    fn after_a_restart_every_child_is_applied_once() {
        assert!(needs_apply(H1, live(Some(H1), Some(3), "17"), None));
    }

    fn watched(children: &Children, hash: AppliedHash) -> PartialObjectMeta<ConfigMap> {
        let meta = meta(Some(&hash.to_string()), None, "17");
        children.applied::<ConfigMap>("ns", "a", hash, &meta);
        PartialObjectMeta {
            metadata: meta,
            ..PartialObjectMeta::default()
        }
    }

    #[test]
    fn a_child_seen_as_applied_is_not_applied_again_until_deleted() {
        let children = Children::default();
        let seen = watched(&children, H1);
        children.observe(&watcher::Event::Apply(seen.clone()));
        assert!(!children.needs_apply::<ConfigMap>("ns", "a", H1));
        assert!(
            children.needs_apply::<Secret>("ns", "a", H1),
            "another kind of the same name is another child"
        );
        children.observe(&watcher::Event::Delete(seen));
        assert!(children.needs_apply::<ConfigMap>("ns", "a", H1));
        assert_eq!((children.watched(), children.applied_count()), (0, 0));
    }

    #[test]
    fn a_child_a_relist_does_not_list_is_gone() {
        let children = Children::default();
        let seen = watched(&children, H1);
        children.observe(&watcher::Event::Apply(seen.clone()));
        children.observe(&watcher::Event::<PartialObjectMeta<ConfigMap>>::Init);
        children.observe(&watcher::Event::<PartialObjectMeta<ConfigMap>>::InitDone);
        assert!(children.needs_apply::<ConfigMap>("ns", "a", H1));
        assert_eq!(
            (children.watched(), children.applied_count()),
            (0, 0),
            "our apply is forgotten with it"
        );

        let seen = watched(&children, H1);
        children.observe(&watcher::Event::<PartialObjectMeta<ConfigMap>>::Init);
        children.observe(&watcher::Event::InitApply(seen));
        children.observe(&watcher::Event::<PartialObjectMeta<ConfigMap>>::InitDone);
        assert!(!children.needs_apply::<ConfigMap>("ns", "a", H1));
    }

    #[test]
    fn a_child_is_known_absent_only_once_its_kind_is_listed() {
        let children = Children::default();
        assert!(
            !children.known_absent::<ConfigMap>("ns", "a"),
            "before its kind is listed nothing is known"
        );
        children.observe(&watcher::Event::<PartialObjectMeta<ConfigMap>>::Init);
        children.observe(&watcher::Event::<PartialObjectMeta<ConfigMap>>::InitDone);
        assert!(children.known_absent::<ConfigMap>("ns", "a"));
        assert!(
            !children.known_absent::<Secret>("ns", "a"),
            "another kind, not listed"
        );
        let seen = watched(&children, H1);
        assert!(
            !children.known_absent::<ConfigMap>("ns", "a"),
            "applied by this process, not yet seen"
        );
        children.observe(&watcher::Event::Apply(seen.clone()));
        assert!(!children.known_absent::<ConfigMap>("ns", "a"));
        children.observe(&watcher::Event::Delete(seen));
        assert!(children.known_absent::<ConfigMap>("ns", "a"));
    }

    #[test]
    fn an_apply_the_watch_has_not_shown_is_not_sent_again_until_deleted() {
        let children = Children::default();
        let seen = watched(&children, H1);
        assert!(!children.needs_apply::<ConfigMap>("ns", "a", H1));
        assert!(children.needs_apply::<ConfigMap>("ns", "a", H2));
        children.observe(&watcher::Event::Delete(seen));
        assert!(children.needs_apply::<ConfigMap>("ns", "a", H1));
    }

    #[test]
    fn only_the_echo_of_our_own_apply_is_no_news() {
        let children = Children::default();
        let answered = watched(&children, H1).metadata;
        assert!(children.echoes_our_apply::<ConfigMap>(&answered));
        assert!(
            !children.echoes_our_apply::<Secret>(&answered),
            "another kind"
        );
        let later = meta(Some(&H1.to_string()), None, "18");
        assert!(!children.echoes_our_apply::<ConfigMap>(&later));
        let unapplied = Children::default();
        assert!(!unapplied.echoes_our_apply::<ConfigMap>(&answered));
    }

    #[test]
    fn the_stamped_hash_is_of_the_object_without_it() {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("a".to_owned()),
                ..ObjectMeta::default()
            },
            ..Default::default()
        };
        let (stamped, hash) = stamp(&cm).unwrap();
        let annotation = &stamped.metadata.annotations.unwrap()[APPLIED_HASH_ANNOTATION];
        assert_eq!(AppliedHash::parse(annotation), Some(hash));
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
