//! The fake apiserver refuses what the real one refuses and moves versions
//! as it does (each rule cited in `operator/src/fake_apiserver`): the
//! sync tests' conclusions hold only if it does.

use std::collections::BTreeMap;

use crds::vector_cluster::VectorCluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

use super::{OPERATOR_NS, Plane, cluster_spec};

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

fn api_error(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.message),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn apply_needs_a_field_manager_its_content_type_and_the_urls_name() {
    let plane = Plane::new().await;
    let url = format!(
        "http://{}/api/v1/namespaces/{OPERATOR_NS}/configmaps/settings",
        plane.address
    );
    let http = reqwest::Client::new();
    let body =
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "settings" } });
    let send = |query: &'static str, content_type: &'static str, body: serde_json::Value| {
        http.patch(format!("{url}{query}"))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(
            send("", "application/apply-patch+yaml", body.clone())
                .await
                .unwrap()
        ),
        422
    );
    assert_eq!(
        status(
            send("?fieldManager=t", "application/json", body.clone())
                .await
                .unwrap()
        ),
        415
    );
    let renamed =
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "other" } });
    assert_eq!(
        status(
            send("?fieldManager=t", "application/apply-patch+yaml", renamed)
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            send("?fieldManager=t", "application/apply-patch+yaml", body)
                .await
                .unwrap()
        ),
        200
    );
    assert!(
        plane
            .api
            .get::<ConfigMap>(OPERATOR_NS, "settings")
            .is_some()
    );
}

#[tokio::test]
async fn an_object_in_a_namespace_that_does_not_exist_is_not_found() {
    let plane = Plane::new().await;
    let api: Api<ConfigMap> = Api::namespaced(plane.client.clone(), "nowhere");
    let err = api
        .patch(
            "a",
            &PatchParams::apply("t"),
            &Patch::Apply(config_map("a", &[])),
        )
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err),
        (404, "namespaces \"nowhere\" not found".to_owned())
    );
}

#[tokio::test]
async fn versions_move_only_on_change_generation_only_on_spec_and_apply_keeps_status() {
    let plane = Plane::new().await;
    let api: Api<VectorCluster> = Api::namespaced(plane.client.clone(), OPERATOR_NS);
    let params = PatchParams::apply("t").force();
    let cluster = VectorCluster::new("search", cluster_spec());
    let first = api
        .patch("search", &params, &Patch::Apply(&cluster))
        .await
        .unwrap();
    assert_eq!(first.metadata.generation, Some(1));
    let same = api
        .patch("search", &params, &Patch::Apply(&cluster))
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        first.metadata.resource_version
    );

    plane.api.set_status::<VectorCluster>(
        OPERATOR_NS,
        "search",
        json!({ "observedGeneration": 1, "phase": "Ready" }),
    );
    let mut labelled = cluster.clone();
    labelled.metadata.labels = Some(BTreeMap::from([("a".to_owned(), "b".to_owned())]));
    let relabelled = api
        .patch("search", &params, &Patch::Apply(&labelled))
        .await
        .unwrap();
    assert_ne!(
        relabelled.metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(
        relabelled.metadata.generation,
        Some(1),
        "metadata is no spec"
    );

    let mut grown = labelled.clone();
    grown.spec.nodes = 3;
    let grown = api
        .patch("search", &params, &Patch::Apply(&grown))
        .await
        .unwrap();
    assert_eq!(grown.metadata.generation, Some(2));
    let status = grown.status.unwrap();
    assert_eq!(
        status.observed_generation,
        Some(1),
        "status kept across an apply"
    );
}

#[tokio::test]
async fn lists_select_by_label_and_a_watch_sees_objects_come_and_go() {
    let plane = Plane::new().await;
    let api: Api<ConfigMap> = Api::namespaced(plane.client.clone(), OPERATOR_NS);
    let err = api
        .delete("absent", &DeleteParams::default())
        .await
        .unwrap_err();
    assert_eq!(api_error(err).0, 404);

    let listed = api.list(&ListParams::default()).await.unwrap();
    let version = listed.metadata.resource_version.unwrap();
    let mut events = api
        .watch(&WatchParams::default().labels("team=search"), &version)
        .await
        .unwrap()
        .boxed();
    let params = PatchParams::apply("t");
    for (name, team) in [("a", "search"), ("b", "chat")] {
        let map = config_map(name, &[("team", team)]);
        api.patch(name, &params, &Patch::Apply(&map)).await.unwrap();
    }
    let selected = api
        .list(&ListParams::default().labels("team=search"))
        .await
        .unwrap();
    let names: Vec<_> = selected
        .items
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .collect();
    assert_eq!(names, ["a"]);
    api.delete("a", &DeleteParams::default()).await.unwrap();

    let added = events.try_next().await.unwrap().unwrap();
    assert!(matches!(added, WatchEvent::Added(m) if m.metadata.name.as_deref() == Some("a")));
    let deleted = events.try_next().await.unwrap().unwrap();
    assert!(matches!(deleted, WatchEvent::Deleted(m) if m.metadata.name.as_deref() == Some("a")));
    // Namespaces are cluster-scoped: listed without one.
    let namespaces: Api<Namespace> = Api::all(plane.client.clone());
    assert_eq!(
        namespaces
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}
