//! Usage metering: the meters Quartermaster records and how each aggregates.
//!
//! This crate sits at the end of the dependency line: it knows nothing of
//! plans, prices or clusters. Billing prices what is defined here; the
//! operator's collector produces events for these meters.

pub mod meter;

pub use meter::{Aggregation, Meter, UnknownMeter};
