//! Data sources: what the API offers, read at plan time.

mod plans;
mod regions;

pub use plans::Plans;
pub use regions::Regions;
