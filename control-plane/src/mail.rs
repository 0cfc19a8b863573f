//! Email the control plane sends (invitations): queued in the outbox in the
//! transaction that needs it, sent by the mail worker over SMTP.
//!
//! Delivery is at least once: a message whose send succeeded but whose row
//! could not be marked done is sent again. A message that can no longer
//! help (its link expired) is dropped unsent. Its text may hold a secret
//! (an invitation's link), so the stored payload is wiped once sent.

use std::fmt;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;

use crate::Result;
use crate::outbox::{self, Topic};

/// Each SMTP conversation's limit; a timed-out message is tried again later.
pub const TIMEOUT: StdDuration = StdDuration::from_secs(20);

/// `pg_advisory_lock` key of the mail worker ("qmmail").
const LOCK_KEY: i64 = 0x716d_6d61_696c;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("`{0}` is not an email address")]
    Address(String),
    #[error("the SMTP URL cannot be used: {0}")]
    Config(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the mail server did not take the message: {0}")]
    Transport(String),
    #[error("the queued message is not of the expected shape: {0}")]
    Payload(String),
}

/// A plain-text message to one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Past this, the message is dropped unsent (its link no longer works).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Sends mail. Implemented over SMTP by [`SmtpMailer`].
pub trait Mailer: Send + Sync + fmt::Debug {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), MailError>>;
}

/// A mail server reached by URL: `smtp://host:25` (plain, for a relay on
/// the same network), `smtp://user:password@host:587?tls=required`
/// (STARTTLS) or `smtps://user:password@host:465`.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl fmt::Debug for SmtpMailer {
    // The URL may carry a password: only the relay's host is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<Self, MailError> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailError::Address(from.to_owned()))?;
        let relay = url
            .split_once("://")
            .map(|(_, rest)| rest.rsplit('@').next().unwrap_or(rest))
            .and_then(|rest| rest.split(['/', '?']).next())
            .unwrap_or_default()
            .to_owned();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(e.to_string()))?
            .timeout(Some(TIMEOUT))
            .build();
        Ok(SmtpMailer {
            transport,
            from,
            relay,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), MailError>> {
        async move {
            let to: Mailbox = message
                .to
                .parse()
                .map_err(|_| MailError::Address(message.to.clone()))?;
            let email = lettre::Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(message.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(message.text.clone())
                .map_err(|e| MailError::Build(e.to_string()))?;
            self.transport
                .send(email)
                .await
                .map_err(|e| MailError::Transport(e.to_string()))?;
            Ok(())
        }
        .boxed()
    }
}

/// Queues `message` in the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, message: &Message) -> Result<()> {
    outbox::enqueue(conn, Topic::SendEmail, message).await
}

/// Queues `subject` and `text` to each of the organization's members in
/// `roles`, in the caller's transaction.
pub async fn enqueue_to_members(
    conn: &mut PgConnection,
    organization_id: uuid::Uuid,
    roles: &[crate::access::Role],
    subject: &str,
    text: &str,
) -> Result<()> {
    for to in crate::organizations::emails_of(conn, organization_id, roles).await? {
        let message = Message {
            to,
            subject: subject.to_owned(),
            text: text.to_owned(),
            expires_at: None,
        };
        enqueue(conn, &message).await?;
    }
    Ok(())
}

/// Sends the queued messages that are due; returns how many were sent.
#[tracing::instrument(name = "mail pass", level = "debug", skip_all)]
pub async fn deliver(pool: &PgPool, mailer: &dyn Mailer, now: DateTime<Utc>) -> Result<usize> {
    let (mut tx, rows) = outbox::claim(pool, Topic::SendEmail, now).await?;
    let mut sent = 0;
    for row in rows {
        let outcome = match serde_json::from_value::<Message>(row.payload.clone()) {
            Ok(message) if message.expires_at.is_some_and(|at| at <= now) => {
                tracing::info!(outbox = row.id, "an expired message is dropped unsent");
                Ok(())
            }
            Ok(message) => {
                let span = tracing::info_span!("send email", outbox = row.id);
                mailer
                    .send(&message)
                    .instrument(span)
                    .await
                    .map(|()| sent += 1)
            }
            Err(e) => Err(MailError::Payload(e.to_string())),
        };
        outbox::settle(&mut tx, Topic::SendEmail, &row, outcome, now).await?;
    }
    tx.commit().await?;
    Ok(sent)
}

/// Sends queued mail every `tick` while this replica holds the mail lock.
pub async fn run(pool: PgPool, mailer: std::sync::Arc<dyn Mailer>, tick: StdDuration) {
    crate::db::singleton(&pool, LOCK_KEY, tick, "mail", || {
        deliver(&pool, mailer.as_ref(), Utc::now())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mailer_shows_its_relay_but_never_the_password_in_the_url() {
        let mailer = SmtpMailer::new(
            "smtp://qm:hunter2@mail.example.com:587?tls=required",
            "Quartermaster <noreply@example.com>",
        )
        .unwrap();
        let shown = format!("{mailer:?}");
        assert!(shown.contains("mail.example.com:587"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_sender_that_is_not_an_address_is_refused() {
        let refused = SmtpMailer::new("smtp://localhost:25", "not an address");
        assert!(matches!(refused, Err(MailError::Address(a)) if a == "not an address"));
    }
}
