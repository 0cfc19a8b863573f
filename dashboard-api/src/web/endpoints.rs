//! Inference endpoints: the list, creating one, an endpoint's page.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use control_plane::endpoints;
use control_plane::page::PageRequest;
use maud::{Markup, html};
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::common::{
    Choices, Confirmed, conditions, confirmed, delete_form, heading, new_resource_choices,
    phase_cell, region_row,
};
use super::inference_keys;
use super::layout::page;
use super::{CsrfForm, OrgPage, PageError, render};
use crate::state::AppState;
use crate::unit::Unit;

pub async fn endpoints(
    State(state): State<AppState>,
    visit: OrgPage,
    Path(org_id): Path<Uuid>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let endpoints = endpoints::list(
        &mut conn,
        &visit.access,
        PageRequest::parse(Some(100), None)?,
    )
    .await?
    .data;
    let Choices {
        regions,
        plan_id: plan,
        plan: limits,
    } = new_resource_choices(&mut conn, &state, &visit.access).await?;
    let gpus = limits.map_or(0, |p| p.max_gpus_per_endpoint);
    let body = html! {
        h1 { "Inference endpoints" }
        @if endpoints.is_empty() { p { "No endpoints yet." } }
        @else {
            table {
                thead { tr { th { "Name" } th { "Serves" } th { "GPUs" } th { "Phase" } th class="num" { "Replicas" } } }
                tbody {
                    @for e in &endpoints {
                        tr {
                            td { a href={ "/orgs/" (org_id) "/endpoints/" (e.id) } { (e.name) } }
                            td { (e.served_revision.as_deref().unwrap_or("—")) }
                            td { (e.spec.gpu.count) " × " (e.spec.gpu.model) }
                            (phase_cell(e.phase.as_str(), e.suspended_reason.as_deref()))
                            td class="num" { (e.ready_replicas) }
                        }
                    }
                }
            }
        }
        h2 { "New endpoint" }
        @if gpus == 0 {
            p { "The " (plan) " plan does not include GPU inference; upgrade to add endpoints." }
        } @else {
            p { "The " (plan) " plan allows up to " (gpus) " GPU" @if gpus != 1 { "s" } " per endpoint." }
            form class="stack" method="post" action={ "/orgs/" (org_id) "/endpoints" } {
                input type="hidden" name="csrf" value=(visit.session.csrf);
                label { "Name" input name="name" required; }
                label { "Region" select name="region" { @for r in &regions { option value=(r.region) { (r.region) } } } }
                label { "Model" small { "a Hugging Face repository" } input name="model_repository" required placeholder="meta-llama/Llama-3.1-8B-Instruct"; }
                label { "Revision" input name="model_revision" required placeholder="main"; }
                label { "GPU" select name="gpu_model" { option value="nvidia-l4" { "NVIDIA L4" } option value="nvidia-a100-80gb" { "NVIDIA A100 80 GB" } option value="nvidia-h100-80gb" { "NVIDIA H100 80 GB" } } }
                label { "GPUs per replica" input type="number" name="gpu_count" min="1" max=(gpus) value="1"; }
                button type="submit" { "Create endpoint" }
            }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Endpoints", Some(&visit.viewer), None, body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewEndpoint {
    name: String,
    region: String,
    model_repository: String,
    model_revision: String,
    gpu_model: String,
    gpu_count: Option<i64>,
}

pub async fn create_endpoint(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<NewEndpoint>,
) -> Result<Response, PageError> {
    let request = endpoints::CreateEndpoint {
        name: form.name,
        region: form.region,
        model_repository: Some(form.model_repository),
        model_revision: Some(form.model_revision),
        image: None,
        engine: None,
        gpu_model: form.gpu_model,
        gpu_count: form.gpu_count,
        scaling: endpoints::UpdateEndpoint::default(),
        labels: Default::default(),
    };
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    endpoints::create(unit.conn(), &access, &catalog.catalog, &request).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/endpoints")).into_response())
}

pub async fn endpoint(
    State(state): State<AppState>,
    visit: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let page = endpoint_page(&mut conn, &visit, org_id, endpoint_id, None).await?;
    Ok(render(StatusCode::OK, page))
}

/// An endpoint's page, with `token` when an inference key was just made.
pub(super) async fn endpoint_page(
    conn: &mut PgConnection,
    visit: &OrgPage,
    org_id: Uuid,
    endpoint_id: Uuid,
    token: Option<&str>,
) -> Result<Markup, PageError> {
    let e = endpoints::get(conn, &visit.access, endpoint_id).await?;
    let keys = inference_keys::listed(conn, visit, endpoint_id).await?;
    let listed = e.conditions.as_array().cloned().unwrap_or_default();
    let base = format!("/orgs/{org_id}/endpoints/{}", e.id);
    let body = html! {
        (heading(&e.name, e.phase.as_str(), e.suspended_reason.as_deref()))
        table {
            tbody {
                (region_row(&e.region, e.simulated))
                tr { th { "Serves" } td { (e.served_revision.as_deref().unwrap_or("—")) } }
                tr { th { "GPUs" } td { (e.spec.gpu.count) " × " (e.spec.gpu.model) " per replica" } }
                tr { th { "Replicas" } td { (e.ready_replicas) " ready; " (e.spec.replicas.min) " to " (e.spec.replicas.max) } }
                tr { th { "Endpoint" } td { code { (e.endpoint.as_deref().unwrap_or("(not yet)")) } } }
                tr { th { "Base URL" } td { @match e.base_url() {
                    Some(url) => code data-testid="base-url" { (url) },
                    None => "(this region has no inference gateway yet)",
                } } }
            }
        }
        (conditions(&listed))
        (super::labels::section(&format!("{base}/labels"), &visit.session.csrf, &e.labels))
        @if let Some(keys) = &keys {
            (inference_keys::section(visit, &base, keys, token))
        }
        form method="post" action={ (base) "/wake" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            button type="submit" { "Wake" }
        }
        (delete_form(
            &format!("{base}/delete"),
            &visit.session.csrf,
            &e.name,
            "I understand the endpoint will be deleted",
        ))
    };
    Ok(page(&e.name, Some(&visit.viewer), None, body))
}

pub async fn wake_endpoint(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    endpoints::wake(unit.conn(), &access, endpoint_id).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/endpoints/{endpoint_id}")).into_response())
}

pub async fn delete_endpoint(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<Response, PageError> {
    confirmed(form.confirm.as_deref(), "deletion")?;
    let mut unit = Unit::begin(&state).await?;
    endpoints::delete(unit.conn(), &access, endpoint_id).await?;
    unit.commit().await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}/endpoints")).into_response())
}
