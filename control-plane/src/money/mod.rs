//! The money flow of the control plane: an organization's subscription and
//! plan changes, checkout, payment collection through the provider,
//! invoices as customers see them, prepaid credit, suspension for unpaid invoices, spend
//! limits, the storage cap and idleness, and the worker that drives them. Rating,
//! invoicing rules and dunning decisions are the `billing` crate's.

mod accounts;
pub mod checkout;
pub mod idle;
pub mod invoices;
pub mod payments;
pub mod prepaid;
pub mod subscriptions;
pub mod suspension;
pub mod worker;
