//! Everything HTTP: the JSON API under `/v1`, its OpenAPI document at
//! `/openapi.json`, authentication by session cookie or API key, and errors
//! as RFC 9457 problem details.
//!
//! Handlers extract, call the domain in `control-plane`, and convert: they
//! hold no SQL and make no decisions of their own.

mod body;
mod error;
mod extract;
mod invoice_document;
mod json;
mod observe;
mod problem;
mod public_url;
mod routes;
mod state;
mod unit;
mod web;

pub use error::ApiError;
pub use observe::ApiMetrics;
pub use problem::ProblemType;
pub use routes::{openapi, router};
pub use state::{AppState, Config, Payments, StartError};
