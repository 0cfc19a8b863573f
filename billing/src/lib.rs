//! Billing: the plan catalog, tiers and entitlements.
//!
//! Billing decides; it never acts. It answers "may this organization do X"
//! with a reason a person understands, and the control plane carries out the
//! answer. It depends only on `metering`, whose meters it prices.

pub mod catalog;
pub mod entitlements;
pub mod period;
pub mod rating;

pub use catalog::{Catalog, CatalogError, Plan, PlanId, Price};
pub use entitlements::{ClusterShape, Denial};
pub use period::Period;
