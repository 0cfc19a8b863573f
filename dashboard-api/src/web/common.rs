//! What the dashboard's organization pages share: running a change in one
//! transaction, a phase badge, the small forms every page posts.

use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::fail;
use crate::state::AppState;

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

pub(super) type Change<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), control_plane::Error>> + Send + 'a>,
>;

/// Runs `change` in one transaction, then goes to `then`; a refusal (a plan
/// limit, a bad value) is a page saying why.
pub(super) async fn in_transaction<F>(state: &AppState, then: String, change: F) -> Response
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
