//! A watch that one unreadable object cannot stop.
//!
//! A typed watcher fails its whole list when one object does not
//! deserialize (a number stored before the CRD bounded it, a hand-edited
//! field), and then no object of the kind is reconciled, for any tenant.
//! So the operator watches objects untyped and reads each one alone: an
//! object that cannot be read is reported (a log line and a warning event on
//! it, saying what to fix) and skipped, and the others go on.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::reconcile::events::{self, EventSink};

/// An object that was skipped, and why.
#[derive(Debug)]
pub struct Unreadable {
    pub object: Box<DynamicObject>,
    pub error: String,
}

/// `event` with its object read as `K`, or what could not be read.
pub fn read<K>(event: Event<DynamicObject>) -> Result<Event<K>, Unreadable>
where
    K: Resource + DeserializeOwned,
{
    let parse = |object: DynamicObject| {
        object.clone().try_parse::<K>().map_err(|e| Unreadable {
            object: Box::new(object),
            error: e.to_string(),
        })
    };
    Ok(match event {
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
        Event::InitApply(o) => Event::InitApply(parse(o)?),
        Event::Apply(o) => Event::Apply(parse(o)?),
        Event::Delete(o) => Event::Delete(parse(o)?),
    })
}

/// Every `K` in the cluster, as a watcher stream of the readable ones;
/// each unreadable one is told to `sink`.
pub fn watch<K>(
    client: Client,
    config: watcher::Config,
    sink: Arc<dyn EventSink>,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Send + 'static,
{
    let resource = ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    watcher::watcher(api, config).filter_map(move |event| {
        let sink = sink.clone();
        let resource = resource.clone();
        async move {
            match event.map(read::<K>) {
                Ok(Ok(event)) => Some(Ok(event)),
                Ok(Err(unreadable)) => {
                    report(&*sink, &resource, &unreadable).await;
                    None
                }
                Err(error) => Some(Err(error)),
            }
        }
    })
}

async fn report(sink: &dyn EventSink, resource: &ApiResource, unreadable: &Unreadable) {
    let meta = &unreadable.object.metadata;
    tracing::warn!(
        kind = %resource.kind,
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        error = %unreadable.error,
        "skipping an object the operator cannot read"
    );
    let note = format!(
        "the operator cannot read this {}: {}; it is not reconciled until it is fixed or deleted",
        resource.kind, unreadable.error
    );
    sink.publish(
        &unreadable.object.object_ref(resource),
        events::Event {
            warning: true,
            reason: "Unreadable",
            note,
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::fixtures::endpoint_spec as spec;
    use crate::crd::inference_endpoint::InferenceEndpoint;

    fn object(cpu: u64) -> DynamicObject {
        let mut ie =
            serde_json::to_value(InferenceEndpoint::new("chat", spec("nvidia-l4", 1))).unwrap();
        ie["spec"]["resources"]["cpuMillicores"] = cpu.into();
        serde_json::from_value(ie).unwrap()
    }

    #[test]
    fn a_readable_object_passes_and_an_unreadable_one_says_why() {
        let Ok(Event::Apply(ie)) = read::<InferenceEndpoint>(Event::Apply(object(8000))) else {
            panic!("readable")
        };
        assert_eq!(ie.spec.resources.cpu_millicores, 8000);
        let Err(unreadable) = read::<InferenceEndpoint>(Event::InitApply(object(5_000_000_000)))
        else {
            panic!("unreadable")
        };
        assert!(
            unreadable.error.contains("5000000000"),
            "{}",
            unreadable.error
        );
        assert_eq!(unreadable.object.metadata.name.as_deref(), Some("chat"));
    }
}
