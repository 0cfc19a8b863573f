//! The router and the OpenAPI document, built from one declaration per
//! route (`routes!`), so the document cannot drift from what is served.

mod admin;
mod api_keys;
mod audit;
pub(crate) mod auth;
mod backups;
mod billing;
mod checkout;
mod clusters;
mod contract;
mod credit;
mod customer_data_planes;
mod data_plane;
mod endpoints;
mod focus;
mod health;
mod inference_keys;
mod invoices;
mod maintenance;
mod organizations;
mod plans;
mod regions;
mod usage;
mod usage_alerts;
mod webhook_endpoints;
mod webhooks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Router, middleware};
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, RequestError};
use crate::observe;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Quartermaster API",
        description = "Managed Qdrant clusters and GPU inference endpoints. \
            Authenticate with `Authorization: Bearer <API key>` or a session cookie from `POST /v1/login`. \
            Errors are RFC 9457 problem documents whose `type` is stable. \
            Mutations accept an `Idempotency-Key` header; a replay returns the first response \
            with `Idempotent-Replayed: true`.",
    ),
    modifiers(&Security),
    security(("api_key" = []), ("session" = [])),
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::extract::SESSION_COOKIE,
            ))),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(regions::list))
        .routes(routes!(plans::list))
        .routes(routes!(organizations::list, organizations::create))
        .routes(routes!(organizations::get))
        .routes(routes!(organizations::members, organizations::add_member))
        .routes(routes!(organizations::remove_member))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::get, api_keys::revoke))
        .routes(routes!(clusters::list, clusters::create))
        .routes(routes!(clusters::get, clusters::update, clusters::delete))
        .routes(routes!(clusters::downscale_risk))
        .routes(routes!(clusters::resume))
        .routes(routes!(endpoints::list, endpoints::create))
        .routes(routes!(
            endpoints::get,
            endpoints::update,
            endpoints::delete
        ))
        .routes(routes!(endpoints::wake))
        .routes(routes!(endpoints::wake_for_gateway))
        .routes(routes!(inference_keys::list, inference_keys::create))
        .routes(routes!(inference_keys::get, inference_keys::revoke))
        .routes(routes!(inference_keys::key_set))
        .routes(routes!(usage::ingest))
        .routes(routes!(data_plane::enroll))
        .routes(routes!(data_plane::desired_state))
        .routes(routes!(data_plane::status))
        .routes(routes!(data_plane::rotate))
        .routes(routes!(usage::usage))
        .routes(routes!(audit::audit_log))
        .routes(routes!(webhook_endpoints::list, webhook_endpoints::create))
        .routes(routes!(
            webhook_endpoints::get,
            webhook_endpoints::update,
            webhook_endpoints::delete
        ))
        .routes(routes!(webhook_endpoints::rotate_secret))
        .routes(routes!(
            customer_data_planes::list,
            customer_data_planes::register
        ))
        .routes(routes!(usage_alerts::list, usage_alerts::create))
        .routes(routes!(usage_alerts::delete))
        .routes(routes!(webhook_endpoints::deliveries))
        .routes(routes!(webhook_endpoints::resend))
        .routes(routes!(backups::set_policy, backups::clear_policy))
        .routes(routes!(maintenance::set, maintenance::clear))
        .routes(routes!(backups::list, backups::create))
        .routes(routes!(backups::get, backups::delete))
        .routes(routes!(backups::restore))
        .routes(routes!(billing::subscription))
        .routes(routes!(billing::change_plan))
        .routes(routes!(billing::cancel))
        .routes(routes!(billing::spend_limit))
        .routes(routes!(billing::start_card_setup))
        .routes(routes!(billing::complete_card_setup))
        .routes(routes!(checkout::start_checkout))
        .routes(routes!(checkout::complete_checkout))
        .routes(routes!(credit::get_credit))
        .routes(routes!(credit::buy_credit))
        .routes(routes!(credit::set_auto_top_up, credit::clear_auto_top_up))
        .routes(routes!(billing::estimate))
        .routes(routes!(invoices::list_invoices))
        .routes(routes!(invoices::get_invoice))
        .routes(routes!(invoices::invoice_html))
        .routes(routes!(invoices::line_usage))
        .routes(routes!(invoices::breakdown))
        .routes(routes!(focus::focus))
        .routes(routes!(webhooks::stripe))
        .routes(routes!(admin::catalog, admin::publish_catalog))
        .routes(routes!(admin::grant_credit))
        .routes(routes!(admin::correct_usage, admin::list_corrections))
        .routes(routes!(admin::data_planes))
        .routes(routes!(admin::revoke_data_plane))
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> OpenApiDoc {
    contract::complete(api().split_for_parts().1)
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = api().split_for_parts();
    let doc = contract::complete(doc);
    let doc = Arc::new(doc);
    let metrics = state.metrics.clone();
    routes
        .merge(crate::web::routes())
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(Arc::clone(&doc)) }),
        )
        .fallback(|| async { ApiError::from(RequestError::NotFound("route at this path")) })
        .method_not_allowed_fallback(|| async { ApiError::from(RequestError::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(observe::request_span)
                .on_response(observe::record_response),
        )
        .layer(middleware::from_fn_with_state(metrics, observe::track))
        .with_state(state)
}
