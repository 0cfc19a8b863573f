//! The HTTP API end to end: a real server on a loopback port per test, a
//! real PostgreSQL database per test (`sqlx::test`).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on the first unexpected value"
)]

mod admin;
mod audit;
mod backups;
mod bad_input;
mod billing;
mod byoc;
mod checkout;
mod checkout_page;
mod connected;
mod corrections;
mod data_plane_sync;
mod downscale_risk;
mod endpoints;
mod focus;
mod forms;
mod gateway;
mod helpers;
mod idempotency;
mod idle;
mod inference_keys;
mod interim;
mod journey;
mod labels;
mod localstripe;
mod mail;
mod maintenance;
mod metrics;
mod openapi;
mod outgoing_webhooks;
mod payments;
mod prepaid;
mod provisioning;
mod receiver;
mod smtp_sink;
mod tenancy;
mod usage;
mod usage_alerts;
mod web;
