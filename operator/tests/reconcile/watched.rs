//! The children as the operator's metadata watches would show them, set by
//! a test before a pass; and the mocked apiserver's record of what each
//! apply left, with the versions the real apiserver stamps:
//! - `resourceVersion` moves on every write that changes the stored object;
//!   a write of identical bytes is skipped (apiserver
//!   `pkg/storage/etcd3/store.go`, `GuaranteedUpdate`: "if the new object is
//!   the same as the old, return the old one without writing");
//! - `metadata.generation` is 1 at creation and moves when the spec changes,
//!   for the kinds whose strategy keeps one: StatefulSets, PodDisruptionBudgets,
//!   NetworkPolicies (kubernetes `pkg/registry/apps/statefulset/strategy.go`,
//!   `pkg/registry/policy/poddisruptionbudget/strategy.go`,
//!   `pkg/registry/networking/networkpolicy/strategy.go`, each
//!   `PrepareForCreate` / `PrepareForUpdate`); ConfigMaps, Secrets and
//!   Services keep none.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::api::PartialObjectMeta;
use kube::runtime::watcher::Event;
use operator::children::Children;
use serde_json::Value;

/// The children by the harness's names for them ("statefulset", "client"…).
pub type Held = BTreeMap<&'static str, Value>;

/// What the reconciler reads of the children, filled as a test says.
pub struct Watches {
    children: Children,
}

impl Watches {
    pub fn new(children: &Children) -> Watches {
        Watches {
            children: children.clone(),
        }
    }

    /// The watches show exactly `held`.
    pub fn show(&mut self, held: &Held) {
        self.relist::<NetworkPolicy>(held, &["networkpolicy"]);
        self.relist::<PodDisruptionBudget>(held, &["pdb"]);
        self.relist::<ConfigMap>(held, &["configmap"]);
        self.relist::<Secret>(held, &["secret"]);
        self.relist::<Service>(held, &["headless", "client", "service"]);
        self.relist::<StatefulSet>(held, &["statefulset"]);
        self.relist::<Deployment>(held, &["deployment"]);
        self.relist::<HorizontalPodAutoscaler>(held, &["hpa"]);
    }

    /// Shows the `K`s of `held` named `kinds`, and no other, as a relist
    /// does.
    fn relist<K: Resource + 'static>(&self, held: &Held, kinds: &[&str]) {
        self.children.observe(&Event::<PartialObjectMeta<K>>::Init);
        for object in kinds.iter().filter_map(|k| held.get(*k)) {
            let meta: PartialObjectMeta<K> = serde_json::from_value(object.clone()).unwrap();
            self.children.observe(&Event::InitApply(meta));
        }
        self.children
            .observe(&Event::<PartialObjectMeta<K>>::InitDone);
    }
}

/// Versions of the stored objects, as the apiserver counts them.
#[derive(Default)]
pub struct Versions {
    held: Held,
    resource_version: u64,
}

const GENERATION_KEPT: [&str; 3] = ["statefulset", "pdb", "networkpolicy"];

impl Versions {
    /// What the apiserver holds and answers after `applied` is applied as
    /// the `kind` child. The operator is the only writer of the fields it
    /// applies, so what it applies is what is stored.
    pub fn apply(&mut self, kind: &'static str, applied: &Value) -> Value {
        let unversioned = |object: &Value| {
            let mut object = object.clone();
            if let Some(meta) = object["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
                meta.remove("generation");
            }
            object
        };
        match self.held.get(kind) {
            Some(previous) if unversioned(previous) == *applied => previous.clone(),
            _ => self.write(kind, applied.clone()),
        }
    }

    /// Stores `object` as the `kind` child, as any client's write would.
    pub fn write(&mut self, kind: &'static str, mut object: Value) -> Value {
        let generation = self.held.get(kind).map_or(1, |previous| {
            let generation = previous["metadata"]["generation"].as_i64().unwrap_or(1);
            generation + i64::from(previous["spec"] != object["spec"])
        });
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = self.resource_version.to_string().into();
        if GENERATION_KEPT.contains(&kind) {
            object["metadata"]["generation"] = generation.into();
        }
        self.held.insert(kind, object.clone());
        object
    }

    /// Every child as the apiserver holds it.
    pub fn held(&self) -> Held {
        self.held.clone()
    }
}
