//! Billing's errors.

use chrono::{DateTime, Utc};

use crate::catalog::CatalogError;
use crate::invoice::{InvoiceEvent, InvoiceStatus};
use crate::rating::RatingError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("period {period} is still open to late usage until {closes_at}; close it after that")]
    PeriodOpen {
        period: crate::Period,
        closes_at: DateTime<Utc>,
    },
    #[error("another period close is running; try again when it has finished")]
    CloseRunning,
    #[error("invoice {number} is {from} and cannot be {event}")]
    Transition {
        number: String,
        from: InvoiceStatus,
        event: InvoiceEvent,
    },
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error("rating failed: {0}")]
    Rating(#[from] RatingError),
    #[error("no plan catalog has been published")]
    NoCatalog,
    #[error("a stored {0} is not valid")]
    Corrupt(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("writing the export failed: {0}")]
    Export(#[from] csv::Error),
}
