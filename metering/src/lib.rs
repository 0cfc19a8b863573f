//! Usage metering: what Quartermaster measures, and recording it exactly once.
//!
//! This crate sits at the end of the dependency line: it knows nothing of
//! plans, prices or data planes. Billing prices what is defined here; the
//! operator's collector produces the events; the HTTP layer authenticates
//! the sender and checks that it may report for each tenant.
//!
//! Its tables (`usage_events`, `usage_hourly`, `usage_monthly`,
//! `usage_changes`, `usage_ingest_state`, `usage_corrections`,
//! `usage_correction_events`, `resource_labels`, the labels each
//! resource carried when, and `resource_price_lists`, the price list that
//! rates a resource) are
//! written only here; the control plane reads usage through [`rollups`]
//! and [`report`]. Billing's period close and invoice line drill-down still
//! read `usage_hourly` themselves.

pub mod changes;
pub mod corrections;
pub mod event;
pub mod gauge;
pub mod ingest;
pub mod labels;
pub mod meter;
pub mod price_lists;
pub mod report;
pub mod rollups;
pub mod tokens;
pub mod window;

pub use event::{Rejected, UsageEvent};
pub use ingest::{IngestError, Ingested, Ingester, StartError};
pub use meter::{Aggregation, Meter, UnknownMeter};
