//! Outgoing webhooks: an organization's systems told of what happens to its
//! resources and money, as Stripe tells its customers' systems.
//!
//! A change raises an event in its own transaction ([`event::emit`]); the
//! delivery worker posts it, signed, to each subscribed endpoint, in order
//! per resource, retrying for 3 days ([`delivery`]). Endpoints and their
//! secrets are the organization's to manage ([`endpoints`]).

pub mod delivery;
pub mod endpoints;
pub mod event;
pub mod invoices;
mod resolve;

pub use delivery::{Delivery, deliver};
pub use endpoints::{EndpointChange, NewEndpoint, Secret, UrlPolicy, WebhookEndpoint};
pub use event::{EventType, Subject, emit};
pub use invoices::InvoiceEvents;

/// The header a delivery's signature travels in (`t=…,v1=…`, as Stripe's).
pub const SIGNATURE_HEADER: &str = "Quartermaster-Signature";
/// The header naming the event, the same on every retry and resend.
pub const EVENT_ID_HEADER: &str = "Quartermaster-Event-Id";
