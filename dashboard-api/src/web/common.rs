//! What the dashboard's organization pages share: phase badges, the
//! heading and rows of a resource's page, the conditions table, the
//! deletion form and its confirmation.

use maud::{Markup, html};
use serde::Deserialize;

use super::PageError;

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

/// Refuses a deletion sent without its confirmation.
pub(super) fn confirmed(form: &Confirmed) -> Result<(), PageError> {
    if form.confirm.as_deref() == Some("yes") {
        return Ok(());
    }
    Err(PageError::refused(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "Not deleted",
        "Tick the box to confirm the deletion.",
    ))
}
