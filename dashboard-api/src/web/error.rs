//! How a page that cannot be shown, or a form that is not taken, answers:
//! a short page saying why, with the status the JSON API would give for the
//! same failure.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{layout, render};
use crate::error::ApiError;

#[derive(Debug)]
pub enum PageError {
    /// A domain or request error, told in the API's words.
    Failed(ApiError),
    /// A refusal the dashboard words itself, such as an expired form.
    Refused {
        status: StatusCode,
        title: &'static str,
        text: String,
    },
}

impl PageError {
    pub fn refused(status: StatusCode, title: &'static str, text: impl Into<String>) -> Self {
        PageError::Refused {
            status,
            title,
            text: text.into(),
        }
    }
}

impl From<control_plane::Error> for PageError {
    fn from(err: control_plane::Error) -> Self {
        PageError::Failed(err.into())
    }
}

impl From<sqlx::Error> for PageError {
    fn from(err: sqlx::Error) -> Self {
        PageError::Failed(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Failed(err) => {
                let (status, detail) = err.status_and_detail();
                let title = if status == StatusCode::NOT_FOUND {
                    "Not found"
                } else {
                    "That did not work"
                };
                message(status, title, &detail)
            }
            PageError::Refused {
                status,
                title,
                text,
            } => message(status, title, &text),
        }
    }
}

/// A short page saying what happened.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render(
        status,
        layout::page(
            title,
            None,
            None,
            html! { h1 { (title) } p { (text) } p { a href="/" { "Back to the dashboard" } } },
        ),
    )
}
