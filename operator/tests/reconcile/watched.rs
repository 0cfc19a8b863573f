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

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use operator::children::Children;
use serde_json::Value;

/// The children by the harness's names for them ("statefulset", "client"…).
pub type Held = BTreeMap<&'static str, Value>;

/// The stores the reconciler reads, filled as a test says.
pub struct Watches {
    networkpolicies: Writer<PartialObjectMeta<NetworkPolicy>>,
    pdbs: Writer<PartialObjectMeta<PodDisruptionBudget>>,
    configmaps: Writer<PartialObjectMeta<ConfigMap>>,
    secrets: Writer<PartialObjectMeta<Secret>>,
    services: Writer<PartialObjectMeta<Service>>,
    statefulsets: Writer<PartialObjectMeta<StatefulSet>>,
}

fn store<K>(children: &mut Children) -> Writer<PartialObjectMeta<K>>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    children.read(store);
    writer
}

/// Replaces what `writer`'s store holds with `objects`, as a relist does.
fn relist<K>(writer: &mut Writer<PartialObjectMeta<K>>, objects: &[&Value])
where
    K: Resource<DynamicType = ()> + Clone,
{
    writer.apply_watcher_event(&Event::Init);
    for object in objects {
        let meta: PartialObjectMeta<K> = serde_json::from_value((*object).clone()).unwrap();
        writer.apply_watcher_event(&Event::InitApply(meta));
    }
    writer.apply_watcher_event(&Event::InitDone);
}

fn of<'a>(held: &'a Held, kinds: &[&str]) -> Vec<&'a Value> {
    kinds.iter().filter_map(|k| held.get(*k)).collect()
}

impl Watches {
    pub fn new(children: &mut Children) -> Watches {
        Watches {
            networkpolicies: store(children),
            pdbs: store(children),
            configmaps: store(children),
            secrets: store(children),
            services: store(children),
            statefulsets: store(children),
        }
    }

    /// The stores hold exactly `held`.
    pub fn show(&mut self, held: &Held) {
        relist(&mut self.networkpolicies, &of(held, &["networkpolicy"]));
        relist(&mut self.pdbs, &of(held, &["pdb"]));
        relist(&mut self.configmaps, &of(held, &["configmap"]));
        relist(&mut self.secrets, &of(held, &["secret"]));
        relist(&mut self.services, &of(held, &["headless", "client"]));
        relist(&mut self.statefulsets, &of(held, &["statefulset"]));
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
