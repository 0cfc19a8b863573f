//! What the dashboard's organization pages share: a phase badge, the
//! conditions table, the small forms every page posts.

use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

pub(super) fn phase(name: &str) -> Markup {
    html! { span class={ "phase " (name) } { (name) } }
}

#[derive(Debug, Deserialize)]
pub struct Confirmed {
    pub csrf: String,
    pub confirm: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    pub csrf: String,
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

/// The answer to a deletion sent without its confirmation.
pub(super) fn unconfirmed(form: &Confirmed) -> Option<Response> {
    (form.confirm.as_deref() != Some("yes")).then(|| {
        super::message(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "Not deleted",
            "Tick the box to confirm the deletion.",
        )
    })
}
