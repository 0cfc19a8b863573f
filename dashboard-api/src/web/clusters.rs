//! An organization's clusters: the list and the form to create one, a
//! cluster's page, resize and upgrade, backups and restores, resuming an
//! idle-suspended cluster, deletion.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use control_plane::Conflict;
use control_plane::backups;
use control_plane::clusters::maintenance::{self, Weekday, WindowRequest};
use control_plane::clusters::{self, CreateCluster};
use control_plane::money::idle;
use control_plane::money::suspension::Cause;
use control_plane::page::PageRequest;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::common::{
    Choices, Confirmed, conditions, confirmed, delete_form, heading, new_resource_choices, phase,
    phase_cell, region_row,
};
use super::layout::page;
use super::{CsrfForm, OrgPage, PageError, render};
use crate::state::AppState;
use crate::unit::Unit;

pub async fn overview(
    State(state): State<AppState>,
    visit: OrgPage,
    Path(org_id): Path<Uuid>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let clusters = clusters::list(
        &mut conn,
        &visit.access,
        PageRequest::parse(Some(100), None)?,
    )
    .await?
    .data;
    let Choices { regions, plan, .. } =
        new_resource_choices(&mut conn, &state, &visit.access).await?;
    let body = html! {
        h1 { "Clusters" }
        @if clusters.is_empty() {
            p { "No clusters yet." }
        } @else {
            table {
                thead { tr { th { "Name" } th { "Region" } th { "Phase" } th { "Version" } th class="num" { "Nodes" } } }
                tbody {
                    @for c in &clusters {
                        tr {
                            td { a href={ "/orgs/" (org_id) "/clusters/" (c.id) } { (c.name) } }
                            td { (c.region) @if c.simulated { " (simulated)" } }
                            (phase_cell(c.phase.as_str(), c.suspended_reason.as_deref()))
                            td { (c.current_version.as_deref().unwrap_or("—")) }
                            td class="num" { (c.ready_nodes) " / " (c.spec.nodes) }
                        }
                    }
                }
            }
        }
        h2 { "New cluster" }
        @if let Some(plan) = &plan {
            p {
                "The " (plan.name) " plan allows "
                @match plan.max_vector_clusters { Some(n) => { (n) " cluster" @if n != 1 { "s" } }, None => "any number of clusters" }
                ", up to " (plan.max_nodes_per_cluster) " node" @if plan.max_nodes_per_cluster != 1 { "s" }
                " each, replication up to " (plan.max_replication_factor)
                @if plan.storage_hard_cap { ", " (plan.included_storage_gib) " GiB of storage in all" }
                "."
            }
        }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/clusters" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            label { "Name" small { "3–40 lowercase letters, digits and dashes" }
                input name="name" required pattern="[a-z][a-z0-9-]{1,38}[a-z0-9]"; }
            label { "Region"
                select name="region" {
                    @for r in &regions { option value=(r.region) { (r.region) @if r.simulated { " (simulated)" } } }
                }
            }
            label { "Nodes" input type="number" name="nodes" min="1"
                max=(plan.as_ref().map_or(64, |p| p.max_nodes_per_cluster)) value="1"; }
            button type="submit" { "Create cluster" }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Clusters", Some(&visit.viewer), None, body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewCluster {
    name: String,
    region: String,
    nodes: Option<i64>,
}

pub async fn create_cluster(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<NewCluster>,
) -> Result<Response, PageError> {
    let request = CreateCluster {
        name: form.name,
        region: form.region,
        spec: clusters::UpdateCluster {
            nodes: form.nodes,
            ..Default::default()
        },
        labels: Default::default(),
    };
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    let created = clusters::create(unit.conn(), &access, &catalog.catalog, &request).await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, created.id))
}

pub async fn cluster(
    State(state): State<AppState>,
    visit: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await?;
    let c = clusters::get(&mut conn, &visit.access, cluster_id).await?;
    let backups = backups::list(&mut conn, &visit.access, cluster_id).await?;
    let listed = c.conditions.0.as_array().cloned().unwrap_or_default();
    let endpoint = c.endpoint.clone().unwrap_or_else(|| "(not yet)".to_owned());
    let body = html! {
        (heading(&c.name, c.phase.as_str(), c.suspended_reason.as_deref()))
        @if c.suspended_by.as_deref() == Some(Cause::Idle.as_str()) {
            form method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/resume" } {
                input type="hidden" name="csrf" value=(visit.session.csrf);
                button type="submit" { "Resume" }
            }
        }
        table {
            tbody {
                (region_row(&c.region, c.simulated))
                tr { th { "Version" } td { (c.current_version.as_deref().unwrap_or("—")) " (wanted " (c.spec.version) ")" } }
                tr { th { "Nodes" } td { (c.ready_nodes) " of " (c.spec.nodes) " ready; replication " (c.spec.replication_factor) } }
                tr { th { "Storage" } td { (c.spec.resources.storage_gib) " GiB per node" } }
                tr { th { "Endpoint" } td { code { (endpoint) } } }
                @if c.restore_from.is_some() {
                    tr { th { "Restore" } td { "from a backup: " (c.restore_phase.as_deref().unwrap_or("Pending"))
                        @if let Some(m) = &c.restore_message { " (" (m) ")" } } }
                }
            }
        }
        (conditions(&listed))
        (super::labels::section(&format!("/orgs/{org_id}/clusters/{}/labels", c.id), &visit.session.csrf, &c.labels))
        h2 { "Connect" }
        pre { code { "curl -H \"api-key: $QDRANT_API_KEY\" " (endpoint) "/collections" } }
        h2 { "Resize or upgrade" }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/update" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            label { "Version" input name="version" value=(c.spec.version) required; }
            label { "Nodes" input type="number" name="nodes" min="1" value=(c.spec.nodes) required; }
            label { "Storage per node (GiB)" small { "volumes only grow" }
                input type="number" name="storage_gib" min=(c.spec.resources.storage_gib) value=(c.spec.resources.storage_gib) required; }
            button type="submit" { "Apply" }
        }
        h2 { "Maintenance window" }
        @let window = c.spec.maintenance_window;
        @match window {
            Some(w) => p { "Upgrades and resizes begin only in the window: " (w) "." },
            None => p { "Upgrades and resizes roll as soon as they are made." },
        }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/maintenance-window" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            label { "Day"
                select name="day" {
                    option value="" selected[window.is_some_and(|w| w.day.is_none())] { "Every day" }
                    @for day in Weekday::ALL {
                        option value=(day.as_str()) selected[window.and_then(|w| w.day) == Some(day)] { (day.as_str()) }
                    }
                }
            }
            label { "Opens at (hour, UTC)" input type="number" name="start_hour" min="0" max="23"
                value=(window.map_or(2, |w| w.start_hour)) required; }
            label { "Open for (hours)" input type="number" name="duration_hours" min="1" max="24"
                value=(window.map_or(4, |w| w.duration_hours)) required; }
            button type="submit" { "Save window" }
        }
        @if window.is_some() {
            form method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/maintenance-window/clear" } {
                input type="hidden" name="csrf" value=(visit.session.csrf);
                button type="submit" { "Remove the window" }
            }
        }
        h2 { "Backups" }
        @let backup = c.spec.backup.as_ref();
        @match backup {
            Some(b) => p { "Scheduled " code { (b.schedule) } " (UTC), kept "
                (b.retention.max_age_days) " days." },
            None => p { "No schedule." },
        }
        @if let Some(v) = c.backup_last_verified.as_ref().map(|v| &v.0) {
            p data-testid="last-verified" role=[(!v.succeeded).then_some("alert")] {
                @if v.succeeded { "Last verified: " } @else { "Verification failed: " }
                "backup " (v.backup) ", restored " (v.finished_at)
                @if let Some(m) = &v.message { " (" (m) ")" } "." }
        }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/backup-policy" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            label { "Schedule" small { "cron in UTC, such as 0 2 * * * or @daily" }
                input name="schedule" required value=(backup.map_or("0 2 * * *", |b| b.schedule.as_str())); }
            label { "Keep (days)" input type="number" name="retention_days" min="1"
                value=(backup.map_or(7, |b| b.retention.max_age_days)) required; }
            label { input type="checkbox" name="verify" value="yes" checked[backup.is_some_and(|b| b.verify)];
                " Prove each backup by restoring it into a throwaway cluster (Business; not billed)" }
            button type="submit" { "Save schedule" }
        }
        form method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/backups" } {
            input type="hidden" name="csrf" value=(visit.session.csrf);
            button type="submit" { "Back up now" }
        }
        @if !backups.is_empty() {
            table {
                thead { tr { th { "Backup" } th { "Origin" } th { "Phase" } th { "Finished" } th { "Restore" } } }
                tbody {
                    @for b in &backups {
                        tr {
                            td { (b.name) } td { (b.origin) } td { (phase(&b.phase)) }
                            td { (b.finished_at.map_or("—".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())) }
                            td {
                                @if b.phase == "Succeeded" && b.deletion_requested_at.is_none() {
                                    form method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/backups/" (b.id) "/restore" } {
                                        input type="hidden" name="csrf" value=(visit.session.csrf);
                                        input name="name" required aria-label={ "Name of the cluster to restore " (b.name) " into" } placeholder="new cluster name";
                                        button type="submit" { "Restore" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (delete_form(
            &format!("/orgs/{org_id}/clusters/{}/delete", c.id),
            &visit.session.csrf,
            &c.name,
            "I understand the cluster and its data will be deleted",
        ))
    };
    Ok(render(
        StatusCode::OK,
        page(&c.name, Some(&visit.viewer), None, body),
    ))
}

pub async fn delete_cluster(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<Response, PageError> {
    confirmed(form.confirm.as_deref(), "deletion")?;
    let mut conn = state.db.acquire().await?;
    clusters::delete(&mut conn, &access, cluster_id).await?;
    Ok(Redirect::to(&format!("/orgs/{org_id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ClusterChange {
    pub(super) version: String,
    pub(super) nodes: i64,
    pub(super) storage_gib: i64,
    /// Set by the confirmation page a shrink goes through first.
    #[serde(default)]
    confirmed: Option<String>,
}

pub async fn update_cluster(
    State(state): State<AppState>,
    visit: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<ClusterChange>,
) -> Result<Response, PageError> {
    // A shrink is shown with what it moves before it is made.
    if form.confirmed.is_none() {
        let mut conn = state.db.acquire().await?;
        let c = clusters::get(&mut conn, &visit.access, cluster_id).await?;
        let risk = if form.nodes < i64::from(c.spec.nodes) && form.nodes >= 1 {
            match clusters::resize_risk(&mut conn, &visit.access, cluster_id, form.nodes).await {
                Ok(risk) => Some(Some(risk)),
                Err(control_plane::Error::Conflict(Conflict::PlacementUnknown)) => Some(None),
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        if let Some(risk) = risk {
            let body = super::resize::confirm_shrink(
                org_id,
                &c,
                &form,
                &visit.session.csrf,
                risk.as_ref(),
            );
            return Ok(render(
                StatusCode::OK,
                page(&c.name, Some(&visit.viewer), None, body),
            ));
        }
    }
    let change = clusters::UpdateCluster {
        version: Some(form.version),
        nodes: Some(form.nodes),
        storage_gib: Some(form.storage_gib),
        ..clusters::UpdateCluster::default()
    };
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    clusters::update(
        unit.conn(),
        &visit.access,
        &catalog.catalog,
        cluster_id,
        (&change, None),
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, cluster_id))
}

#[derive(Debug, Deserialize)]
pub struct Schedule {
    schedule: String,
    retention_days: i64,
    /// A checkbox: present when ticked.
    verify: Option<String>,
}

pub async fn backup_policy(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<Schedule>,
) -> Result<Response, PageError> {
    let request = backups::PolicyRequest {
        schedule: form.schedule,
        retention_days: form.retention_days,
        retention_count: None,
        verify: form.verify.is_some(),
    };
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    backups::set_policy(unit.conn(), &access, &catalog.catalog, cluster_id, &request).await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, cluster_id))
}

#[derive(Debug, Deserialize)]
pub struct Window {
    /// Empty: every day.
    day: String,
    start_hour: i64,
    duration_hours: i64,
}

pub async fn maintenance_window(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<Window>,
) -> Result<Response, PageError> {
    let request = WindowRequest {
        day: Some(form.day).filter(|d| !d.is_empty()),
        start_hour: form.start_hour,
        duration_hours: form.duration_hours,
    };
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    maintenance::set(unit.conn(), &access, &catalog.catalog, cluster_id, &request).await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, cluster_id))
}

pub async fn clear_maintenance_window(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    maintenance::clear(unit.conn(), &access, cluster_id).await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, cluster_id))
}

/// The Resume button of a cluster suspended for idleness.
pub async fn resume_cluster(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let mut unit = Unit::begin(&state).await?;
    idle::resume(unit.conn(), &access, cluster_id).await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, cluster_id))
}

pub async fn take_backup(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    _: CsrfForm,
) -> Result<Response, PageError> {
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    backups::create(
        unit.conn(),
        &access,
        &catalog.catalog,
        cluster_id,
        Utc::now(),
    )
    .await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, cluster_id))
}

#[derive(Debug, Deserialize)]
pub struct RestoreForm {
    name: String,
}

pub async fn restore_backup(
    State(state): State<AppState>,
    OrgPage { access, .. }: OrgPage,
    Path((org_id, cluster_id, backup_id)): Path<(Uuid, Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<RestoreForm>,
) -> Result<Response, PageError> {
    let catalog = state.catalog.get();
    let mut unit = Unit::begin(&state).await?;
    let restored = backups::restore(
        unit.conn(),
        &access,
        &catalog.catalog,
        cluster_id,
        backup_id,
        form.name.trim(),
    )
    .await?;
    unit.commit().await?;
    Ok(to_cluster(org_id, restored.id))
}

/// After a change: the cluster's page.
fn to_cluster(org_id: Uuid, cluster_id: Uuid) -> Response {
    Redirect::to(&format!("/orgs/{org_id}/clusters/{cluster_id}")).into_response()
}
