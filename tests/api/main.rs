//! The HTTP API end to end: a real server on a loopback port per test, a
//! real PostgreSQL database per test (`sqlx::test`).

mod bad_input;
mod helpers;
mod idempotency;
mod journey;
mod openapi;
mod tenancy;
