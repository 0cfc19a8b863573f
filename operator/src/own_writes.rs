//! The `resourceVersion`s this process's last writes to each object were
//! answered with, so that the watch events echoing those writes back do not
//! trigger another pass: the pass that wrote them knew what it wrote.
//! Another client's write moves the version and does.
//!
//! The last two are kept: a new object's first pass writes twice (its
//! finalizer, then its status), and the watch may bring the first echo back
//! after the second write was answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Our last answered version of an object, and the one before it.
type Last = (Box<str>, Option<Box<str>>);

/// The last answered versions by namespace and name.
type Versions = HashMap<(Box<str>, Box<str>), Last>;

/// Versions by namespace and name. Cloning shares them.
#[derive(Clone, Default)]
pub struct OwnWrites {
    versions: Arc<Mutex<Versions>>,
}

impl std::fmt::Debug for OwnWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnWrites").finish_non_exhaustive()
    }
}

fn key(meta: &ObjectMeta) -> (Box<str>, Box<str>) {
    (
        meta.namespace.as_deref().unwrap_or_default().into(),
        meta.name.as_deref().unwrap_or_default().into(),
    )
}

impl OwnWrites {
    fn lock(&self) -> MutexGuard<'_, Versions> {
        self.versions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the object as the apiserver answered our write of it.
    pub fn wrote(&self, answer: &ObjectMeta) {
        let mut versions = self.lock();
        match answer.resource_version.as_deref() {
            Some(version) => {
                let last = versions
                    .entry(key(answer))
                    .or_insert_with(|| (version.into(), None));
                if last.0.as_ref() != version {
                    last.1 = Some(std::mem::replace(&mut last.0, version.into()));
                }
            }
            None => {
                versions.remove(&key(answer));
            }
        }
    }

    /// Whether `seen` is the object exactly as one of our last two writes
    /// left it.
    pub fn echoes(&self, seen: &ObjectMeta) -> bool {
        let Some(version) = seen.resource_version.as_deref() else {
            return false;
        };
        self.lock().get(&key(seen)).is_some_and(|(last, before)| {
            last.as_ref() == version || before.as_deref() == Some(version)
        })
    }

    /// Whether `seen` is older than our last write of it: a store not yet
    /// caught up with it. Known only where both versions are numbers
    /// (etcd's revisions, which only grow); `resourceVersion` is opaque by
    /// contract, so any other is never known to be older.
    pub fn ahead_of(&self, seen: &ObjectMeta) -> bool {
        let Some(seen_version) = seen.resource_version.as_deref() else {
            return false;
        };
        let Ok(seen_version) = seen_version.parse::<u64>() else {
            return false;
        };
        self.lock()
            .get(&key(seen))
            .and_then(|(last, _)| last.parse::<u64>().ok())
            .is_some_and(|last| seen_version < last)
    }

    /// Forgets an object that is gone.
    pub fn forget(&self, gone: &ObjectMeta) {
        self.lock().remove(&key(gone));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, version: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some("ns".to_owned()),
            name: Some(name.to_owned()),
            resource_version: Some(version.to_owned()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn only_the_echo_of_our_last_write_is_no_news() {
        let writes = OwnWrites::default();
        assert!(!writes.echoes(&meta("a", "7")), "nothing written yet");
        writes.wrote(&meta("a", "7"));
        assert!(writes.echoes(&meta("a", "7")));
        assert!(!writes.echoes(&meta("a", "8")), "a later write");
        assert!(!writes.echoes(&meta("b", "7")), "another object");
        writes.forget(&meta("a", "7"));
        assert!(!writes.echoes(&meta("a", "7")));
    }

    #[test]
    fn the_echo_of_the_write_before_the_last_is_no_news_either() {
        let writes = OwnWrites::default();
        writes.wrote(&meta("a", "7"));
        writes.wrote(&meta("a", "9"));
        assert!(writes.echoes(&meta("a", "7")), "the finalizer's echo, late");
        assert!(writes.echoes(&meta("a", "9")));
        assert!(
            !writes.echoes(&meta("a", "8")),
            "another client's write between"
        );
        writes.wrote(&meta("a", "11"));
        assert!(
            !writes.echoes(&meta("a", "7")),
            "two writes back is forgotten"
        );
    }

    #[test]
    fn an_object_older_than_our_last_write_is_a_store_behind() {
        let writes = OwnWrites::default();
        assert!(!writes.ahead_of(&meta("a", "7")), "nothing written");
        writes.wrote(&meta("a", "9"));
        assert!(writes.ahead_of(&meta("a", "7")));
        assert!(!writes.ahead_of(&meta("a", "9")));
        assert!(!writes.ahead_of(&meta("a", "12")), "a later write");
        assert!(!writes.ahead_of(&meta("b", "7")), "another object");
        writes.wrote(&meta("c", "x/9"));
        assert!(
            !writes.ahead_of(&meta("c", "x/7")),
            "an opaque version is never known to be older"
        );
    }
}
