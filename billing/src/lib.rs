//! Billing: the plan catalog, tiers and entitlements.
//!
//! Billing decides; it never acts. It answers "may this organization do X"
//! with a reason a person understands, and the control plane carries out the
//! answer. It depends only on `metering`, whose meters it prices.
//!
//! Its tables (`catalog_versions`, `plan_periods`, `invoices`,
//! `invoice_lines`, `credits`, `period_closes`, `payment_events`,
//! `usage_adjustments` and the prepaid credit's `credit_*`) are named in SQL
//! only here; the control plane calls these functions with its own
//! connection or transaction.

pub mod adjustment;
pub mod allocation;
pub mod catalog;
pub mod catalog_store;
pub mod close;
pub mod collection;
pub mod cost_allocation;
pub mod credit;
pub mod dunning;
pub mod entitlements;
pub mod error;
pub mod focus;
pub mod idle;
pub mod interim;
pub mod invoice;
pub mod money;
pub mod payments;
pub mod period;
pub mod plan_history;
pub mod prepaid;
pub mod rating;

pub use catalog::{Catalog, CatalogError, Plan, PlanId, Price};
pub use entitlements::{ClusterShape, Denial, Holdings, KeyLimits};
pub use error::{Error, Result};
pub use period::Period;
