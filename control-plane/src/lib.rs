//! Quartermaster's domain core.
//!
//! Organizations, users and their memberships, API keys and inference
//! keys, data planes, vector clusters with their desired spec, idempotency
//! records, the audit log and the outbox. Every operation that touches an organization's data takes an
//! [`access::OrgAccess`], which can only be obtained by proving membership or
//! holding one of the organization's API keys: a query without its
//! organization cannot be written by accident.
//!
//! Operations take a `&mut PgConnection` so that the caller decides the
//! transaction (the HTTP layer runs an operation and its idempotency record in
//! one). This crate never speaks HTTP.
//!
//! Its SQL names only its own tables (those of accounts, organizations and
//! subscriptions, API keys, inference keys, data planes, clusters and
//! endpoints, backups, invitations, audit, outbox, idempotency); billing's invoices, credits
//! and plan history and metering's usage are reached through their crates'
//! functions, each list asking for all its ids in one call.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod backups;
pub mod clusters;
pub mod data_planes;
pub mod db;
pub mod endpoints;
pub mod error;
pub mod idempotency;
pub mod inference_keys;
pub mod invitations;
pub mod labels;
pub mod mail;
pub mod money;
pub mod organizations;
pub mod outbox;
pub mod page;
pub mod provisioner;
mod resource;
pub mod validation;
pub mod webhooks;

pub use error::{Conflict, Error, Result};
