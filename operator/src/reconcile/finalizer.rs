//! The finalizer each provisioned object carries, so that its deletion
//! waits for the cleanup.
//!
//! kube's own helper adds the finalizer in a pass of its own and waits for
//! the watch to bring the change back before the object's first real pass.
//! Here the pass that adds it goes on with the object as the apiserver
//! answered, and the echo of that write triggers nothing (`OwnWrites`,
//! where the controller keeps one): one pass for a new object, not two.
//! The patches are kube's: a JSON patch that tests the list it changes, so
//! a concurrent change of the finalizers fails it instead of being
//! overwritten.

use std::sync::Arc;

use kube::api::{Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Error;
use crate::own_writes::OwnWrites;

/// What a pass over a finalized object is to do.
#[derive(Debug)]
pub enum Stage<K> {
    /// The object lives (its finalizer is on it): make it so.
    Apply(Arc<K>),
    /// The object is being deleted: clean up, then the finalizer goes.
    Cleanup(Arc<K>),
}

/// Runs `pass` over `object` under `finalizer`: adds the finalizer to a
/// live object that lacks it, then applies; cleans up a deleted one that
/// holds it, then removes it; leaves a deleted one without it alone. The
/// finalizer's write is remembered in `own` where the controller filters
/// its own writes' echoes (keyed by name alone, so one kind per record).
pub async fn finalized<K, F, Fut>(
    client: &Client,
    own: Option<&OwnWrites>,
    finalizer: &str,
    object: Arc<K>,
    pass: F,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    F: FnOnce(Stage<K>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    let name = object.name_any();
    let held = object.finalizers().iter().position(|f| f == finalizer);
    let deleting = object.meta().deletion_timestamp.is_some();
    match (deleting, held) {
        (true, None) => Ok(Action::await_change()),
        (true, Some(index)) => {
            let action = pass(Stage::Cleanup(object)).await?;
            let path = format!("/metadata/finalizers/{index}");
            let patch = json_patch(serde_json::json!([
                { "op": "test", "path": path, "value": finalizer },
                { "op": "remove", "path": path },
            ]))?;
            api.patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await?;
            Ok(action)
        }
        (false, Some(_)) => pass(Stage::Apply(object)).await,
        (false, None) => {
            let present = object.finalizers();
            let patch = json_patch(if present.is_empty() {
                serde_json::json!([
                    { "op": "test", "path": "/metadata/finalizers", "value": null },
                    { "op": "add", "path": "/metadata/finalizers", "value": [finalizer] },
                ])
            } else {
                serde_json::json!([
                    { "op": "test", "path": "/metadata/finalizers", "value": present },
                    { "op": "add", "path": "/metadata/finalizers/-", "value": finalizer },
                ])
            })?;
            let answer = api
                .patch(&name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await?;
            if let Some(own) = own {
                own.wrote(answer.meta());
            }
            pass(Stage::Apply(Arc::new(answer))).await
        }
    }
}

fn json_patch(operations: serde_json::Value) -> Result<json_patch::Patch, Error> {
    serde_json::from_value(operations).map_err(Error::Encode)
}
