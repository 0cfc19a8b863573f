//! Watch: the changes after a resource version, then live ones, as
//! newline-separated `{"type", "object"}` events (apiserver
//! `pkg/endpoints/handlers/watch.go`).

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use futures::StreamExt;
use serde_json::json;

use super::path::{Target, matches, selector};
use super::verbs::{partial, status};
use super::{ApiServer, Change};

pub(super) fn watch(
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
