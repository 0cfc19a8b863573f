//! An organization's pages: clusters, a cluster, API keys, usage, billing.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use billing::{Period, money};
use chrono::{Duration, DurationRound, Utc};
use control_plane::access::Permission;
use control_plane::api_keys::{self, NewApiKey};
use control_plane::clusters::{self, CreateCluster};
use control_plane::page::PageRequest;
use control_plane::{data_planes, invoices, organizations};
use maud::{Markup, html};
use metering::report::{self, Granularity, ReportQuery};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::{Session, chart, fail, render};
use crate::state::AppState;

/// Runs `work` on a pooled connection; a domain error becomes a page.
macro_rules! db {
    ($state:expr, |$conn:ident| $work:expr) => {{
        let result = async {
            let mut $conn = $state.db.acquire().await?;
            $work.await
        }
        .await;
        match result {
            Ok(value) => value,
            Err(e) => return fail(control_plane::Error::from(e).into()),
        }
    }};
}

fn phase(name: &str) -> Markup {
    html! { span class={ "phase " (name) } { (name) } }
}

pub async fn overview(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let published = state.catalog.get();
    let (clusters, regions, plan) = db!(state, |conn| async {
        let clusters =
            clusters::list(&mut conn, &access, PageRequest::parse(Some(100), None)?).await?;
        let regions = data_planes::regions(&mut conn).await?;
        let org = organizations::get(&mut conn, &access).await?;
        Ok::<_, control_plane::Error>((clusters.data, regions, org.plan))
    });
    let plan = published.catalog.plan(&plan.clone().into()).cloned();
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
                            td { (phase(c.phase.as_str())) @if let Some(r) = &c.suspended_reason { br; small { (r) } } }
                            td { (c.current_version.as_deref().unwrap_or("—")) }
                            td class="num" { (c.ready_nodes) " / " (c.nodes) }
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
            input type="hidden" name="csrf" value=(session.csrf);
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
    render(StatusCode::OK, page("Clusters", Some(&viewer), None, body))
}

#[derive(Debug, Deserialize)]
pub struct NewCluster {
    csrf: String,
    name: String,
    region: String,
    nodes: Option<i64>,
}

pub async fn create_cluster(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<NewCluster>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let request = CreateCluster {
        name: form.name,
        region: form.region,
        version: None,
        nodes: form.nodes,
        replication_factor: None,
        cpu_millicores: None,
        memory_mib: None,
        storage_gib: None,
    };
    let catalog = state.catalog.get();
    let created = async {
        let mut tx = state.db.begin().await?;
        let created = clusters::create(&mut tx, &access, &catalog.catalog, &request).await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>(created)
    }
    .await;
    let created = match created {
        Ok(created) => created,
        Err(e) => return fail(e.into()),
    };
    Redirect::to(&format!("/orgs/{org_id}/clusters/{}", created.id)).into_response()
}

pub async fn cluster(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let (c, backups) = db!(state, |conn| async {
        let c = clusters::get(&mut conn, &access, cluster_id).await?;
        let backups = control_plane::backups::list(&mut conn, &access, cluster_id).await?;
        Ok::<_, control_plane::Error>((c, backups))
    });
    let conditions = c.conditions.0.as_array().cloned().unwrap_or_default();
    let endpoint = c.endpoint.clone().unwrap_or_else(|| "(not yet)".to_owned());
    let body = html! {
        h1 { (c.name) " " (phase(c.phase.as_str())) }
        @if let Some(reason) = &c.suspended_reason {
            p class="notice error" role="alert" { strong { "Suspended: " } (reason) }
        }
        table {
            tbody {
                tr { th { "Region" } td { (c.region) @if c.simulated { " (simulated: serves no traffic)" } } }
                tr { th { "Version" } td { (c.current_version.as_deref().unwrap_or("—")) " (wanted " (c.version) ")" } }
                tr { th { "Nodes" } td { (c.ready_nodes) " of " (c.nodes) " ready; replication " (c.replication_factor) } }
                tr { th { "Storage" } td { (c.storage_gib) " GiB per node" } }
                tr { th { "Endpoint" } td { code { (endpoint) } } }
                @if c.restore_from.is_some() {
                    tr { th { "Restore" } td { "from a backup: " (c.restore_phase.as_deref().unwrap_or("Pending"))
                        @if let Some(m) = &c.restore_message { " (" (m) ")" } } }
                }
            }
        }
        h2 { "Conditions" }
        table {
            thead { tr { th { "Type" } th { "Status" } th { "Reason" } th { "Message" } } }
            tbody {
                @for cond in &conditions {
                    tr {
                        td { (cond["type"].as_str().unwrap_or("")) }
                        td { (cond["status"].as_str().unwrap_or("")) }
                        td { (cond["reason"].as_str().unwrap_or("")) }
                        td { (cond["message"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
        h2 { "Connect" }
        pre { code { "curl -H \"api-key: $QDRANT_API_KEY\" " (endpoint) "/collections" } }
        h2 { "Resize or upgrade" }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/update" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Version" input name="version" value=(c.version) required; }
            label { "Nodes" input type="number" name="nodes" min="1" value=(c.nodes) required; }
            label { "Storage per node (GiB)" small { "volumes only grow" }
                input type="number" name="storage_gib" min=(c.storage_gib) value=(c.storage_gib) required; }
            button type="submit" { "Apply" }
        }
        h2 { "Backups" }
        @match &c.backup_schedule {
            Some(schedule) => p { "Scheduled " code { (schedule) } " (UTC), kept "
                (c.backup_retention_days.unwrap_or(0)) " days." },
            None => p { "No schedule." },
        }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/backup-policy" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Schedule" small { "cron in UTC, such as 0 2 * * * or @daily" }
                input name="schedule" required value=(c.backup_schedule.as_deref().unwrap_or("0 2 * * *")); }
            label { "Keep (days)" input type="number" name="retention_days" min="1"
                value=(c.backup_retention_days.unwrap_or(7)) required; }
            button type="submit" { "Save schedule" }
        }
        form method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/backups" } {
            input type="hidden" name="csrf" value=(session.csrf);
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
                                        input type="hidden" name="csrf" value=(session.csrf);
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
        h2 { "Delete" }
        form method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/delete" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { input type="checkbox" name="confirm" value="yes" required;
                " I understand the cluster and its data will be deleted" }
            button class="danger" type="submit" { "Delete " (c.name) }
        }
    };
    render(StatusCode::OK, page(&c.name, Some(&viewer), None, body))
}

#[derive(Debug, Deserialize)]
pub struct Confirmed {
    csrf: String,
    confirm: Option<String>,
}

pub async fn delete_cluster(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    Form(form): Form<Confirmed>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    if form.confirm.as_deref() != Some("yes") {
        return super::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not deleted",
            "Tick the box to confirm the deletion.",
        );
    }
    db!(state, |conn| clusters::delete(
        &mut conn, &access, cluster_id
    ));
    Redirect::to(&format!("/orgs/{org_id}")).into_response()
}

fn keys_page(
    session: &Session,
    viewer: &super::Viewer,
    org_id: Uuid,
    keys: &[api_keys::ApiKey],
    token: Option<&str>,
) -> Markup {
    let body = html! {
        h1 { "API keys" }
        @if let Some(token) = token {
            div class="notice" role="status" {
                p { strong { "Your new key. " } "Copy it now: it is shown only once." }
                p class="secret" data-testid="new-token" { (token) }
            }
        }
        table {
            thead { tr { th { "Name" } th { "Prefix" } th { "Scopes" } th { "Last used" } } }
            tbody {
                @for k in keys {
                    tr {
                        td { (k.name) @if k.revoked_at.is_some() { " (revoked)" } }
                        td { code { (k.prefix) } }
                        td { (k.scopes.0.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) }
                        td { (k.last_used_at.map_or("never".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())) }
                    }
                }
            }
        }
        h2 { "New key" }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/api-keys" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Name" input name="name" required maxlength="100"; }
            button type="submit" { "Create key" }
        }
    };
    page("API keys", Some(viewer), None, body)
}

pub async fn api_keys(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let keys = db!(state, |conn| async {
        Ok::<_, control_plane::Error>(
            api_keys::list(&mut conn, &access, PageRequest::parse(Some(100), None)?)
                .await?
                .data,
        )
    });
    render(
        StatusCode::OK,
        keys_page(&session, &viewer, org_id, &keys, None),
    )
}

#[derive(Debug, Deserialize)]
pub struct NewKey {
    csrf: String,
    name: String,
}

pub async fn create_api_key(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<NewKey>,
) -> Response {
    let (access, viewer) = submit!(state, session, org_id, &form.csrf, with viewer);
    let created = async {
        let new = NewApiKey::parse(&form.name, None)?;
        let mut tx = state.db.begin().await?;
        let (_, token) = api_keys::create(&mut tx, &access, new).await?;
        let keys = api_keys::list(&mut tx, &access, PageRequest::parse(Some(100), None)?).await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>((keys.data, token.expose().to_owned()))
    }
    .await;
    let (keys, token) = match created {
        Ok(created) => created,
        Err(e) => return fail(e.into()),
    };
    // Shown on this answer only; a reload shows the list without it.
    let mut response = render(
        StatusCode::CREATED,
        keys_page(&session, &viewer, org_id, &keys, Some(&token)),
    );
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// The unit a meter is charted in, and how many of its raw units make one.
fn chart_unit(meter: &str) -> (&'static str, f64, &'static str) {
    match meter {
        "gpu_seconds" => ("GPU-hours", 3600.0, "h"),
        "node_seconds" => ("Node-hours", 3600.0, "h"),
        "storage_bytes" => ("Stored data (average)", f64::from(1u32 << 30), "GiB"),
        _ => ("Objects (average)", 1.0, "objects"),
    }
}

#[derive(Debug, Deserialize)]
pub struct UsageView {
    /// `hour` for the last 48 hours by hour; days otherwise.
    by: Option<String>,
}

pub async fn usage(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    axum::extract::Query(view): axum::extract::Query<UsageView>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    if let Err(e) = access.require(Permission::UsageRead) {
        return fail(e.into());
    }
    let hourly = view.by.as_deref() == Some("hour");
    let (step, span, label) = if hourly {
        (Duration::hours(1), Duration::hours(48), "%d %Hh")
    } else {
        (Duration::days(1), Duration::days(14), "%m-%d")
    };
    let now = Utc::now();
    let to = now.duration_trunc(step).unwrap_or(now) + step;
    let query = ReportQuery {
        organization_id: org_id,
        from: to - span,
        to,
        granularity: if hourly {
            Granularity::Hour
        } else {
            Granularity::Day
        },
        resource_id: None,
        meter: None,
    };
    let rows = db!(state, |conn| async {
        Ok::<_, control_plane::Error>(report::report(&mut conn, &query).await?)
    });
    // Per meter, per day: sums add up; gauges show their average.
    let mut series: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for row in &rows {
        let value = row
            .average
            .as_deref()
            .unwrap_or(&row.quantity)
            .parse::<f64>()
            .unwrap_or(0.0);
        let (_, per, _) = chart_unit(&row.meter);
        *series
            .entry(row.meter.clone())
            .or_default()
            .entry(row.bucket.format(label).to_string())
            .or_default() += value / per;
    }
    let body = html! {
        h1 { "Usage" }
        p {
            @if hourly {
                "The last 48 hours, per hour. " a href={ "/orgs/" (org_id) "/usage" } { "Per day" }
            } @else {
                "The last 14 days, per day. " a href={ "/orgs/" (org_id) "/usage?by=hour" } { "Per hour" }
            }
            " · " a href={ "/v1/organizations/" (org_id) "/usage?granularity=day&format=csv" } { "Download CSV" }
        }
        @if series.is_empty() { p { "No usage recorded yet." } }
        div class="charts" {
            @for (meter, points) in &series {
                @let (title, _, unit) = chart_unit(meter);
                (chart::bars(title, unit, &points.iter().map(|(d, v)| (d.clone(), *v)).collect::<Vec<_>>()))
            }
        }
    };
    render(StatusCode::OK, page("Usage", Some(&viewer), None, body))
}

pub async fn billing(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let published = state.catalog.get();
    let (subscription, (period, estimate), invoices) = db!(state, |conn| async {
        let subscription =
            control_plane::subscriptions::get(&mut conn, &access, Utc::now()).await?;
        let estimate = invoices::estimate(&mut conn, &access, &published, Utc::now()).await?;
        let invoices = invoices::list(&mut conn, &access).await?;
        Ok::<_, control_plane::Error>((subscription, estimate, invoices))
    });
    let currency = &published.catalog.currency;
    let body = html! {
        h1 { "Billing" }
        @if let Some(reason) = &subscription.suspended_reason {
            p class="notice error" role="alert" { strong { "Suspended: " } (reason) }
        }
        p { "Plan: " strong { (subscription.plan) } " · status " (subscription.status)
            @if subscription.cancel_at_period_end { " · ends with this period" } }
        form method="post" action={ "/orgs/" (org_id) "/billing/plan" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Change plan"
                select name="plan" {
                    @for plan in &published.catalog.plans {
                        option value=(plan.id) selected[plan.id.as_str() == subscription.plan] {
                            (plan.name) " — " (money::format(plan.base_fee_minor, currency)) " a month"
                        }
                    }
                }
            }
            button type="submit" { "Change plan" }
            @if state.config.payments.is_some() && !subscription.payment_method_ready {
                small { " Paid plans need a card on file: add one through the API's card setup (Stripe)." }
            }
        }
        h2 { "This period so far (" (Period::containing(period.start()).to_string()) ")" }
        table {
            tbody {
                @for line in &estimate.lines {
                    tr { td { (line.description) } td class="num" { (money::format(line.amount_minor, currency)) } }
                }
                tr { th { "Estimated total" } th class="num" { (money::format(estimate.total_minor, currency)) } }
            }
        }
        h2 { "Invoices" }
        @if invoices.is_empty() { p { "No invoices yet." } }
        table {
            @if !invoices.is_empty() {
                thead { tr { th { "Number" } th { "Period" } th { "Status" } th class="num" { "Total" } } }
            }
            tbody {
                @for i in &invoices {
                    tr {
                        td {
                            a href={ "/v1/organizations/" (org_id) "/invoices/" (i.id) "/html" } { (i.number) }
                            " · " a href={ "/v1/organizations/" (org_id) "/invoices/" (i.id) "/html?download=1" }
                                aria-label={ "Download " (i.number) } { "download" }
                        }
                        td { (i.period_start.format("%Y-%m")) }
                        td { (i.status) }
                        td class="num" { (money::format(i.total_minor, &i.currency)) }
                    }
                }
            }
        }
    };
    render(StatusCode::OK, page("Billing", Some(&viewer), None, body))
}

#[derive(Debug, Deserialize)]
pub struct ClusterChange {
    csrf: String,
    version: String,
    nodes: i64,
    storage_gib: i64,
}

pub async fn update_cluster(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    Form(form): Form<ClusterChange>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let change = clusters::UpdateCluster {
        version: Some(form.version),
        nodes: Some(form.nodes),
        storage_gib: Some(form.storage_gib),
        ..clusters::UpdateCluster::default()
    };
    let catalog = state.catalog.get();
    in_transaction(
        &state,
        format!("/orgs/{org_id}/clusters/{cluster_id}"),
        |tx| {
            Box::pin(async move {
                clusters::update(tx, &access, &catalog.catalog, cluster_id, &change).await?;
                Ok(())
            })
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct Schedule {
    csrf: String,
    schedule: String,
    retention_days: i64,
}

pub async fn backup_policy(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    Form(form): Form<Schedule>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let request = control_plane::backups::PolicyRequest {
        schedule: form.schedule,
        retention_days: form.retention_days,
        retention_count: None,
    };
    let catalog = state.catalog.get();
    in_transaction(
        &state,
        format!("/orgs/{org_id}/clusters/{cluster_id}"),
        |tx| {
            Box::pin(async move {
                control_plane::backups::set_policy(
                    tx,
                    &access,
                    &catalog.catalog,
                    cluster_id,
                    &request,
                )
                .await?;
                Ok(())
            })
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn take_backup(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, cluster_id)): Path<(Uuid, Uuid)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let catalog = state.catalog.get();
    in_transaction(
        &state,
        format!("/orgs/{org_id}/clusters/{cluster_id}"),
        |tx| {
            Box::pin(async move {
                control_plane::backups::create(
                    tx,
                    &access,
                    &catalog.catalog,
                    cluster_id,
                    Utc::now(),
                )
                .await?;
                Ok(())
            })
        },
    )
    .await
}

type Change<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), control_plane::Error>> + Send + 'a>,
>;

/// Runs `change` in one transaction, then goes to `then`; a refusal (a plan
/// limit, a bad value) is a page saying why.
async fn in_transaction<F>(state: &AppState, then: String, change: F) -> Response
where
    F: for<'t> FnOnce(&'t mut sqlx::PgConnection) -> Change<'t>,
{
    let done = async {
        let mut tx = state.db.begin().await?;
        change(&mut tx).await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>(())
    }
    .await;
    match done {
        Ok(()) => Redirect::to(&then).into_response(),
        Err(e) => fail(e.into()),
    }
}

pub async fn members(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let members = db!(state, |conn| organizations::members(&mut conn, &access));
    let body = html! {
        h1 { "Members" }
        table {
            thead { tr { th { "Email" } th { "Role" } th { "Since" } } }
            tbody {
                @for m in &members {
                    tr { td { (m.email) } td { (m.role.as_str()) } td { (m.created_at.format("%Y-%m-%d")) } }
                }
            }
        }
        h2 { "Invite by email" }
        p { "A link for that address to join; it works once, for seven days." }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/invitations" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Email" input type="email" name="email" required; }
            label { "Role"
                select name="role" {
                    option value="member" { "member" } option value="billing" { "billing" }
                    option value="admin" { "admin" } option value="owner" { "owner" }
                }
            }
            button type="submit" { "Create invitation" }
        }
        h2 { "Add an existing account" }
        p { "For someone who has already signed up." }
        form class="stack" method="post" action={ "/orgs/" (org_id) "/members" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { "Email" input type="email" name="email" required; }
            label { "Role"
                select name="role" {
                    option value="member" { "member: clusters, endpoints, keys" }
                    option value="billing" { "billing: invoices and plan" }
                    option value="admin" { "admin: everything but owners" }
                    option value="owner" { "owner" }
                }
            }
            button type="submit" { "Add" }
        }
    };
    render(StatusCode::OK, page("Members", Some(&viewer), None, body))
}

#[derive(Debug, Deserialize)]
pub struct NewMember {
    csrf: String,
    email: String,
    role: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<NewMember>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let parsed = control_plane::accounts::Email::parse(&form.email)
        .map_err(|e| e.to_string())
        .and_then(|email| {
            form.role
                .parse::<control_plane::access::Role>()
                .map(|role| (email, role))
        });
    let (email, role) = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => {
            return super::message(StatusCode::UNPROCESSABLE_ENTITY, "Not added", &reason);
        }
    };
    in_transaction(&state, format!("/orgs/{org_id}/members"), |tx| {
        Box::pin(async move {
            organizations::add_member(tx, &access, &email, role).await?;
            Ok(())
        })
    })
    .await
}

pub async fn endpoints(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let published = state.catalog.get();
    let (endpoints, regions, plan) = db!(state, |conn| async {
        let endpoints = control_plane::endpoints::list(
            &mut conn,
            &access,
            PageRequest::parse(Some(100), None)?,
        )
        .await?;
        let regions = data_planes::regions(&mut conn).await?;
        let org = organizations::get(&mut conn, &access).await?;
        Ok::<_, control_plane::Error>((endpoints.data, regions, org.plan))
    });
    let gpus = published
        .catalog
        .plan(&plan.clone().into())
        .map_or(0, |p| p.max_gpus_per_endpoint);
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
                            td { (phase(serde_json::to_value(e.phase).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default().as_str()))
                                @if let Some(r) = &e.suspended_reason { br; small { (r) } } }
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
                input type="hidden" name="csrf" value=(session.csrf);
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
    render(StatusCode::OK, page("Endpoints", Some(&viewer), None, body))
}

#[derive(Debug, Deserialize)]
pub struct NewEndpoint {
    csrf: String,
    name: String,
    region: String,
    model_repository: String,
    model_revision: String,
    gpu_model: String,
    gpu_count: Option<i64>,
}

pub async fn create_endpoint(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<NewEndpoint>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let request = control_plane::endpoints::CreateEndpoint {
        name: form.name,
        region: form.region,
        model_repository: Some(form.model_repository),
        model_revision: Some(form.model_revision),
        image: None,
        engine: None,
        gpu_model: form.gpu_model,
        gpu_count: form.gpu_count,
        scaling: control_plane::endpoints::UpdateEndpoint::default(),
    };
    let catalog = state.catalog.get();
    in_transaction(&state, format!("/orgs/{org_id}/endpoints"), |tx| {
        Box::pin(async move {
            control_plane::endpoints::create(tx, &access, &catalog.catalog, &request).await?;
            Ok(())
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct PlanChoice {
    csrf: String,
    plan: String,
}

pub async fn change_plan(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    Form(form): Form<PlanChoice>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let catalog = state.catalog.get();
    let card_required = state.config.payments.is_some();
    in_transaction(&state, format!("/orgs/{org_id}/billing"), |tx| {
        Box::pin(async move {
            control_plane::subscriptions::change_plan(
                tx,
                &access,
                &catalog.catalog,
                &form.plan,
                card_required,
                Utc::now(),
            )
            .await?;
            Ok(())
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct RestoreForm {
    csrf: String,
    name: String,
}

pub async fn restore_backup(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, cluster_id, backup_id)): Path<(Uuid, Uuid, Uuid)>,
    Form(form): Form<RestoreForm>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    let catalog = state.catalog.get();
    let restored = async {
        let mut tx = state.db.begin().await?;
        let cluster = control_plane::backups::restore(
            &mut tx,
            &access,
            &catalog.catalog,
            cluster_id,
            backup_id,
            form.name.trim(),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>(cluster)
    }
    .await;
    match restored {
        Ok(cluster) => {
            Redirect::to(&format!("/orgs/{org_id}/clusters/{}", cluster.id)).into_response()
        }
        Err(e) => fail(e.into()),
    }
}

pub async fn endpoint(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
) -> Response {
    let (access, viewer) = visit!(state, session, org_id);
    let e = db!(state, |conn| control_plane::endpoints::get(
        &mut conn,
        &access,
        endpoint_id
    ));
    let phase_name = serde_json::to_value(e.phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let conditions = e.conditions.as_array().cloned().unwrap_or_default();
    let base = format!("/orgs/{org_id}/endpoints/{}", e.id);
    let body = html! {
        h1 { (e.name) " " (phase(&phase_name)) }
        @if let Some(reason) = &e.suspended_reason {
            p class="notice error" role="alert" { strong { "Suspended: " } (reason) }
        }
        table {
            tbody {
                tr { th { "Region" } td { (e.region) @if e.simulated { " (simulated: serves no traffic)" } } }
                tr { th { "Serves" } td { (e.served_revision.as_deref().unwrap_or("—")) } }
                tr { th { "GPUs" } td { (e.spec.gpu.count) " × " (e.spec.gpu.model) " per replica" } }
                tr { th { "Replicas" } td { (e.ready_replicas) " ready; " (e.spec.replicas.min) " to " (e.spec.replicas.max) } }
                tr { th { "Endpoint" } td { code { (e.endpoint.as_deref().unwrap_or("(not yet)")) } } }
            }
        }
        h2 { "Conditions" }
        table {
            tbody {
                @for cond in &conditions {
                    tr {
                        td { (cond["type"].as_str().unwrap_or("")) }
                        td { (cond["status"].as_str().unwrap_or("")) }
                        td { (cond["message"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
        form method="post" action={ (base) "/wake" } {
            input type="hidden" name="csrf" value=(session.csrf);
            button type="submit" { "Wake" }
        }
        h2 { "Delete" }
        form method="post" action={ (base) "/delete" } {
            input type="hidden" name="csrf" value=(session.csrf);
            label { input type="checkbox" name="confirm" value="yes" required;
                " I understand the endpoint will be deleted" }
            button class="danger" type="submit" { "Delete " (e.name) }
        }
    };
    render(StatusCode::OK, page(&e.name, Some(&viewer), None, body))
}

pub async fn wake_endpoint(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    in_transaction(
        &state,
        format!("/orgs/{org_id}/endpoints/{endpoint_id}"),
        |tx| {
            Box::pin(async move {
                control_plane::endpoints::wake(tx, &access, endpoint_id).await?;
                Ok(())
            })
        },
    )
    .await
}

pub async fn delete_endpoint(
    State(state): State<AppState>,
    session: Session,
    Path((org_id, endpoint_id)): Path<(Uuid, Uuid)>,
    Form(form): Form<Confirmed>,
) -> Response {
    let access = submit!(state, session, org_id, &form.csrf);
    if form.confirm.as_deref() != Some("yes") {
        return super::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not deleted",
            "Tick the box to confirm the deletion.",
        );
    }
    in_transaction(&state, format!("/orgs/{org_id}/endpoints"), |tx| {
        Box::pin(async move {
            control_plane::endpoints::delete(tx, &access, endpoint_id).await?;
            Ok(())
        })
    })
    .await
}

pub async fn invite(
    State(state): State<AppState>,
    session: Session,
    Path(org_id): Path<Uuid>,
    headers: axum::http::HeaderMap,
    Form(form): Form<NewMember>,
) -> Response {
    let (access, viewer) = submit!(state, session, org_id, &form.csrf, with viewer);
    let parsed = control_plane::accounts::Email::parse(&form.email)
        .map_err(|e| e.to_string())
        .and_then(|email| {
            form.role
                .parse::<control_plane::access::Role>()
                .map(|role| (email, role))
        });
    let (email, role) = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => {
            return super::message(StatusCode::UNPROCESSABLE_ENTITY, "Not invited", &reason);
        }
    };
    let created = async {
        let mut tx = state.db.begin().await?;
        let created =
            control_plane::invitations::create(&mut tx, &access, &email, role, Utc::now()).await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>(created)
    }
    .await;
    let (invitation, token) = match created {
        Ok(created) => created,
        Err(e) => return fail(e.into()),
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let link = format!("http://{host}/invitations/{token}");
    let body = html! {
        h1 { "Invitation for " (invitation.email) }
        div class="notice" role="status" {
            p { "Send this link to " (invitation.email) ". It is shown only now, works once, until "
                (invitation.expires_at.format("%Y-%m-%d")) "." }
            p class="secret" data-testid="invitation-link" { (link) }
        }
        p { a href={ "/orgs/" (org_id) "/members" } { "Back to members" } }
    };
    let mut response = render(
        StatusCode::CREATED,
        page("Invitation", Some(&viewer), None, body),
    );
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

pub async fn invitation(
    State(state): State<AppState>,
    session: Option<Session>,
    Path(token): Path<String>,
) -> Response {
    let found = async {
        let mut conn = state.db.acquire().await?;
        control_plane::invitations::find(&mut conn, &token, Utc::now()).await
    }
    .await;
    let (invitation, organization) = match found {
        Ok(found) => found,
        Err(e) => return fail(e.into()),
    };
    let viewer = session.as_ref().map(|s| s.viewer(None, Vec::new()));
    let body = html! {
        h1 { "Join " (organization) }
        p { "As " (invitation.role.as_str()) ", for " (invitation.email) "." }
        @match &session {
            Some(session) => {
                form method="post" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Join " (organization) }
                }
            }
            None => {
                p { a href="/login" { "Log in" } " or " a href="/signup" { "sign up" }
                    " as " (invitation.email) ", then open this link again." }
            }
        }
    };
    render(
        StatusCode::OK,
        page("Invitation", viewer.as_ref(), None, body),
    )
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = session.refuse(&form.csrf) {
        return refused;
    }
    let joined = async {
        let mut tx = state.db.begin().await?;
        let org = control_plane::invitations::accept(&mut tx, session.user_id, &token, Utc::now())
            .await?;
        tx.commit().await?;
        Ok::<_, control_plane::Error>(org)
    }
    .await;
    match joined {
        Ok(org) => Redirect::to(&format!("/orgs/{org}")).into_response(),
        Err(e) => fail(e.into()),
    }
}
