//! What the dashboard's organization pages share: phase badges, the
//! heading and rows of a resource's page, the conditions table, the
//! deletion form and its confirmation, and what a list page offers for a
//! new resource.

use billing::Plan;
use control_plane::access::OrgAccess;
use control_plane::audit::AuditEntry;
use control_plane::data_planes::{self, Region};
use control_plane::organizations;
use maud::{Markup, html};
use serde::Deserialize;
use sqlx::PgConnection;

use super::PageError;
use crate::state::AppState;

/// What a list page's form for a new resource offers: the regions to place
/// it in, and the organization's plan that limits it.
pub(super) struct Choices {
    pub regions: Vec<Region>,
    pub plan_id: String,
    /// `None` for a plan the published catalog no longer has.
    pub plan: Option<Plan>,
}

pub(super) async fn new_resource_choices(
    conn: &mut PgConnection,
    state: &AppState,
    access: &OrgAccess,
) -> Result<Choices, PageError> {
    let regions = data_planes::regions(conn, Some(access.organization_id())).await?;
    let plan_id = organizations::get(conn, access).await?.plan;
    let plan = state
        .catalog
        .get()
        .catalog
        .plan(&plan_id.clone().into())
        .cloned();
    Ok(Choices {
        regions,
        plan_id,
        plan,
    })
}

pub(super) fn phase(name: &str) -> Markup {
    html! { span class={ "phase " (name) } { (name) } }
}

/// A list's phase cell, with why the resource is suspended if it is.
pub(super) fn phase_cell(name: &str, suspended_reason: Option<&str>) -> Markup {
    html! { td { (phase(name)) @if let Some(r) = suspended_reason { br; small { (r) } } } }
}

/// A resource page's heading: its name and phase, then why it is suspended
/// if it is.
pub(super) fn heading(name: &str, phase_name: &str, suspended_reason: Option<&str>) -> Markup {
    html! {
        h1 { (name) " " (phase(phase_name)) }
        @if let Some(reason) = suspended_reason {
            p class="notice error" role="alert" { strong { "Suspended: " } (reason) }
        }
    }
}

/// The row of a resource's page that names its region.
pub(super) fn region_row(region: &str, simulated: bool) -> Markup {
    html! { tr { th { "Region" } td { (region) @if simulated { " (simulated: serves no traffic)" } } } }
}

#[derive(Debug, Deserialize)]
pub struct Confirmed {
    pub confirm: Option<String>,
}

/// A resource's conditions, as the data plane reported them.
pub(super) fn conditions(conditions: &[serde_json::Value]) -> Markup {
    html! {
        h2 { "Conditions" }
        table {
            thead { tr { th { "Type" } th { "Status" } th { "Reason" } th { "Message" } } }
            tbody {
                @for cond in conditions {
                    tr {
                        td { (cond["type"].as_str().unwrap_or("")) }
                        td { (cond["status"].as_str().unwrap_or("")) }
                        td { (cond["reason"].as_str().unwrap_or("")) }
                        td { (cond["message"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// Deleting `name`, behind a checkbox saying `consequence`.
pub(super) fn delete_form(action: &str, csrf: &str, name: &str, consequence: &str) -> Markup {
    html! {
        h2 { "Delete" }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            label { input type="checkbox" name="confirm" value="yes" required; " " (consequence) }
            button class="danger" type="submit" { "Delete " (name) }
        }
    }
}

/// Refuses a change sent without its confirmation box ticked; `what` names
/// the change ("deletion", "suspension").
pub(super) fn confirmed(confirm: Option<&str>, what: &str) -> Result<(), PageError> {
    if confirm == Some("yes") {
        return Ok(());
    }
    Err(PageError::refused(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "Not done",
        format!("Tick the box to confirm the {what}."),
    ))
}

/// Entries as a table: when, who, what, on what, with its details.
pub(super) fn audit_entries(entries: &[AuditEntry]) -> Markup {
    html! {
        table {
            thead { tr { th { "When" } th { "Actor" } th { "Action" } th { "Target" } th { "Details" } } }
            tbody {
                @for e in entries {
                    tr {
                        td { (e.at.format("%Y-%m-%d %H:%M:%S")) } td { @if let Some(name) = &e.actor_name { (name) br; } small { code { (e.actor) } } } td { (e.action) }
                        td { (e.target_type) " " code { (e.target_id) } }
                        td { code { (e.details) } }
                    }
                }
            }
        }
        @if entries.is_empty() { p { "No entries." } }
    }
}

/// The link to the page after this one: the same query with the cursor
/// (`key=value`) set.
pub(super) fn next_link(
    path: &str,
    pairs: &[(&str, Option<&str>)],
    key: &str,
    value: &str,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    query.append_pair(key, value);
    format!("{path}?{}", query.finish())
}
