//! The `resourceVersion` this process's last status write to each object
//! was answered with, so that the watch event echoing that write back does
//! not trigger another pass: the pass that wrote it knew what it wrote.
//! Another client's write, or any later one, moves the version and does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The last answered version by namespace and name.
type Versions = HashMap<(Box<str>, Box<str>), Box<str>>;

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
        match answer.resource_version.as_deref() {
            Some(version) => self.lock().insert(key(answer), version.into()),
            None => self.lock().remove(&key(answer)),
        };
    }

    /// Whether `seen` is the object exactly as our last write left it.
    pub fn echoes(&self, seen: &ObjectMeta) -> bool {
        seen.resource_version
            .as_deref()
            .is_some_and(|version| self.lock().get(&key(seen)).map(AsRef::as_ref) == Some(version))
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
}
