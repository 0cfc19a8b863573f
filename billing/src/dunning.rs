//! Dunning: what an organization's unpaid invoices mean for its resources.
//! Pure; the control plane acts on the answer.

use chrono::{DateTime, Duration, Utc};

use crate::money;

/// How long an invoice may stay unpaid after it fell due before the
/// organization's clusters are suspended.
pub const DEFAULT_GRACE: Duration = Duration::days(14);

/// An open invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaid {
    pub number: String,
    pub total_minor: i64,
    pub currency: String,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Nothing overdue.
    Good,
    /// Overdue, still within the grace period; `suspend_at` is when it ends.
    PastDue { suspend_at: DateTime<Utc> },
    /// Past the grace period: suspend, telling the customer why.
    Suspend { reason: String },
}

/// The standing of an organization with `unpaid` invoices at `now`.
pub fn standing(unpaid: &[Unpaid], now: DateTime<Utc>, grace: Duration) -> Standing {
    let Some(oldest) = unpaid
        .iter()
        .filter(|i| i.due_at <= now)
        .min_by_key(|i| i.due_at)
    else {
        return Standing::Good;
    };
    let suspend_at = oldest.due_at + grace;
    if now < suspend_at {
        return Standing::PastDue { suspend_at };
    }
    Standing::Suspend {
        reason: format!(
            "Invoice {} for {} has been unpaid since {}. Clusters and endpoints are suspended \
             (data is kept) until it is paid.",
            oldest.number,
            money::format(oldest.total_minor, &oldest.currency),
            oldest.due_at.format("%Y-%m-%d")
        ),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn invoice(number: &str, due: DateTime<Utc>) -> Unpaid {
        Unpaid {
            number: number.to_owned(),
            total_minor: 2650,
            currency: "usd".to_owned(),
            due_at: due,
        }
    }

    #[test]
    fn suspension_comes_only_after_the_grace_period_of_the_oldest_invoice() {
        let due = Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap();
        let unpaid = [
            invoice("QM-000002", due + Duration::days(31)),
            invoice("QM-000001", due),
        ];
        assert_eq!(standing(&[], due, DEFAULT_GRACE), Standing::Good);
        assert_eq!(
            standing(&unpaid, due + Duration::days(13), DEFAULT_GRACE),
            Standing::PastDue {
                suspend_at: due + DEFAULT_GRACE
            }
        );
        let Standing::Suspend { reason } = standing(&unpaid, due + DEFAULT_GRACE, DEFAULT_GRACE)
        else {
            panic!("expected a suspension");
        };
        assert_eq!(
            reason,
            "Invoice QM-000001 for $26.50 has been unpaid since 2026-12-03. Clusters and \
             endpoints are suspended (data is kept) until it is paid."
        );
    }

    #[test]
    fn an_invoice_not_yet_due_is_not_overdue() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap();
        let unpaid = [invoice("QM-000001", now + Duration::days(1))];
        assert_eq!(standing(&unpaid, now, DEFAULT_GRACE), Standing::Good);
    }
}
