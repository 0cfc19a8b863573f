//! Invoice events: `invoice.finalized` as a close opens invoices (with
//! `invoice.paid` for those credits paid in full), and the payment outcomes.

use billing::close::Finalizing;
use billing::invoice::{Invoice, InvoiceStatus};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::PgConnection;

use super::event::{EventType, Raised, Subject, emit_all};

/// The invoice as an event shows it.
fn object(invoice: &Invoice) -> serde_json::Value {
    serde_json::json!({ "object": {
        "object": "invoice",
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status.to_string(),
        "currency": invoice.currency,
        "total_minor": invoice.total_minor,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "payment_error": invoice.payment_error,
    }})
}

fn raised(invoice: &Invoice, kind: EventType) -> Raised<'_> {
    Raised {
        organization_id: invoice.organization_id,
        kind,
        subject: Subject {
            kind: "invoice",
            id: &invoice.number,
        },
        data: object(invoice),
    }
}

/// Raises `kind` about `invoice` in the caller's transaction.
pub async fn tell(
    conn: &mut PgConnection,
    invoice: &Invoice,
    kind: EventType,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    emit_all(conn, &[raised(invoice, kind)], at).await
}

/// The period close's hook: each opened invoice raises `invoice.finalized`,
/// and one that is already paid `invoice.paid` after it.
#[derive(Debug, Clone, Copy)]
pub struct InvoiceEvents;

impl Finalizing for InvoiceEvents {
    fn opened<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        invoices: &'a [Invoice],
    ) -> BoxFuture<'a, billing::Result<()>> {
        async move {
            let mut events = Vec::with_capacity(invoices.len());
            for invoice in invoices {
                events.push(raised(invoice, EventType::InvoiceFinalized));
                if invoice.status == InvoiceStatus::Paid {
                    events.push(raised(invoice, EventType::InvoicePaid));
                }
            }
            let at = invoices
                .iter()
                .filter_map(|i| i.finalized_at)
                .max()
                .unwrap_or_else(Utc::now);
            // In batches, so that one statement's arrays stay small.
            for batch in events.chunks(5000) {
                emit_all(conn, batch, at).await?;
            }
            Ok(())
        }
        .boxed()
    }
}
