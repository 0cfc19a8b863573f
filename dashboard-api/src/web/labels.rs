//! Labels on a cluster's or an endpoint's page: what it carries, and a form
//! that replaces them (one `key=value` per line), as `PATCH … {"labels"}`
//! does. A change moves no generation; usage counts under the new labels
//! from the next hour that starts.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use control_plane::validation::ValidationErrors;
use control_plane::{clusters, endpoints};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::{CsrfForm, OrgPage, PageError};
use crate::state::AppState;
use crate::unit::Unit;

/// The labels section of a resource's page, its form posting to `action`.
pub(super) fn section(action: &str, csrf: &str, labels: &BTreeMap<String, String>) -> Markup {
    let text: String = labels.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    html! {
        h2 { "Labels" }
        @if labels.is_empty() {
            p { "No labels." }
        } @else {
            table data-testid="labels" {
                thead { tr { th { "Key" } th { "Value" } } }
                tbody {
                    @for (key, value) in labels {
                        tr { td { code { (key) } } td { code { (value) } } }
                    }
                }
            }
        }
        form class="stack" method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            label { "Labels" small { "one key=value per line, as Kubernetes labels; they replace all the labels" }
                textarea name="labels" rows="4" { (text) } }
            button type="submit" { "Save labels" }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LabelsForm {
    #[serde(default)]
    labels: String,
}

/// `key=value` lines as a map (blank lines skipped); a line without `=`
/// is named as such.
fn parse(text: &str) -> Result<BTreeMap<String, String>, ValidationErrors> {
    let mut labels = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(ValidationErrors::single(
                "labels",
                format!("`{line}` is not key=value"),
            ));
        };
        labels.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(labels)
}

pub async fn set_cluster_labels(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<LabelsForm>,
) -> Result<Response, PageError> {
    let labels = parse(&form.labels).map_err(control_plane::Error::Validation)?;
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    clusters::update(
        unit.conn(),
        &access,
        &catalog.catalog,
        cluster_id,
        (&clusters::UpdateCluster::default(), Some(&labels)),
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/clusters/{cluster_id}")).into_response())
}

pub async fn set_endpoint_labels(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<LabelsForm>,
) -> Result<Response, PageError> {
    let labels = parse(&form.labels).map_err(control_plane::Error::Validation)?;
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    endpoints::update(
        unit.conn(),
        &access,
        &catalog.catalog,
        endpoint_id,
        (&endpoints::UpdateEndpoint::default(), Some(&labels)),
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/endpoints/{endpoint_id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_key_value_are_labels() {
        let parsed = parse("team=search\n\n  env = prod \r\nempty=\n").unwrap();
        assert_eq!(
            parsed,
            BTreeMap::from([
                ("empty".to_owned(), String::new()),
                ("env".to_owned(), "prod".to_owned()),
                ("team".to_owned(), "search".to_owned()),
            ])
        );
        assert_eq!(parse("").unwrap(), BTreeMap::new());
        let refused = parse("team").unwrap_err();
        assert_eq!(refused.errors()[0].field, "labels");
    }
}
