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
