//! Delivering events: each pending delivery is posted, signed, to its
//! endpoint, at most one at a time per endpoint and resource so that a
//! receiver sees a resource's events in order. A failure is tried again
//! with backoff for 3 days; an endpoint that has failed for 3 days is
//! disabled and its owners are emailed.
//!
//! Replicas share the work: each claims rows with `FOR UPDATE SKIP LOCKED`
//! and holds them until it has settled them. A receiver may see an event
//! twice (sent, then the settle lost); it deduplicates by the event id.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::UrlPolicy;
use super::event::public_id;
use super::resolve::PublicOnly;
use crate::access::{OrgAccess, Permission, Role};
use crate::mail;
use crate::outbox::backoff;
use crate::{Error, Result, audit};

/// How long a receiver has to answer.
pub const TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// How long a delivery is retried, and how long an endpoint may fail
/// throughout before it is disabled.
pub const GIVE_UP_AFTER: Duration = Duration::days(3);
/// At most this many deliveries a pass, and in flight at once.
const BATCH: i64 = 50;
const IN_FLIGHT: usize = 8;
/// The longest receiver error text kept.
const ERROR_CHARS: usize = 300;

/// The HTTP client deliveries go through: a timeout, no redirects (a
/// receiver answers itself; a redirect is a failure, as at Stripe), and
/// under the public policy only public addresses.
pub fn client(policy: UrlPolicy) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(StdDuration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "Quartermaster-Webhooks/",
            env!("CARGO_PKG_VERSION")
        ));
    match policy {
        UrlPolicy::Public => builder.dns_resolver(std::sync::Arc::new(PublicOnly)),
        UrlPolicy::AllowLoopback => builder,
    }
    .build()
}

#[derive(Debug, sqlx::FromRow)]
struct Due {
    id: Uuid,
    attempts: i32,
    event_id: Uuid,
    created_at: DateTime<Utc>,
    body: String,
    endpoint_id: Uuid,
    organization_id: Uuid,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    previous_expires_at: Option<DateTime<Utc>>,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attempt {
    /// The receiver's status, if it answered.
    status: Option<u16>,
    /// Why it failed; `None` for a 2xx.
    error: Option<String>,
}

/// One delivery as the organization sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    #[sqlx(try_from = "Uuid")]
    pub event_id: EventId,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub response_status: Option<i16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An event's public id, `evt_…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl From<Uuid> for EventId {
    fn from(id: Uuid) -> Self {
        EventId(public_id(id))
    }
}

/// A delivery as shown, `$1` its endpoint.
const DELIVERY: &str = "SELECT d.id, d.event_id, ev.type AS event_type, d.status, d.attempts,
        d.response_status, d.last_error, d.last_attempt_at,
        CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
        d.created_at
     FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
     WHERE d.endpoint_id = $1";

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub failed: usize,
    pub endpoints_disabled: usize,
}

/// Posts `due`, signed with its endpoint's secrets valid at `now`.
async fn post(client: &reqwest::Client, due: &Due, now: DateTime<Utc>) -> Attempt {
    let mut secrets = vec![due.secret.as_str()];
    if let (Some(previous), Some(until)) = (&due.previous_secret, due.previous_expires_at)
        && until > now
    {
        secrets.push(previous);
    }
    // The receiver checks the timestamp against its own clock.
    let signature =
        billing::payments::webhook::sign_all(&secrets, Utc::now().timestamp(), due.body.as_bytes());
    let sent = client
        .post(&due.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(super::SIGNATURE_HEADER, signature)
        .header(super::EVENT_ID_HEADER, public_id(due.event_id))
        .body(due.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Attempt {
            status: Some(response.status().as_u16()),
            error: None,
        },
        Ok(response) => Attempt {
            status: Some(response.status().as_u16()),
            error: Some(format!("the receiver answered {}", response.status())),
        },
        // The URL may carry a token in its query: it is not kept.
        Err(err) => Attempt {
            status: None,
            error: Some(
                err.without_url()
                    .to_string()
                    .chars()
                    .take(ERROR_CHARS)
                    .collect(),
            ),
        },
    }
}

/// Sends the deliveries that are due; what it did.
#[tracing::instrument(name = "webhook pass", level = "debug", skip_all)]
pub async fn deliver(pool: &PgPool, client: &reqwest::Client, now: DateTime<Utc>) -> Result<Pass> {
    let mut tx = pool.begin().await?;
    let due: Vec<Due> = sqlx::query_as(
        "SELECT d.id, d.attempts, d.event_id, d.created_at, ev.body, e.id AS endpoint_id, e.organization_id,
                e.url, e.secret, e.previous_secret, e.previous_expires_at
         FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.id = d.endpoint_id
         JOIN webhook_events ev ON ev.id = d.event_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.disabled_at IS NULL
           AND NOT EXISTS (
               SELECT 1 FROM webhook_deliveries p
               WHERE p.endpoint_id = d.endpoint_id AND p.resource = d.resource
                 AND p.status = 'pending' AND p.seq < d.seq)
         ORDER BY d.seq LIMIT $2
         FOR UPDATE OF d SKIP LOCKED",
    )
    .bind(now)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut attempts = Vec::with_capacity(due.len());
    for chunk in due.chunks(IN_FLIGHT) {
        let sent: Vec<_> = chunk.iter().map(|d| post(client, d, now)).collect();
        attempts.extend(futures::future::join_all(sent).await);
    }
    let mut pass = Pass::default();
    for (d, attempt) in due.iter().zip(attempts) {
        if attempt.error.is_none() {
            pass.delivered += 1;
        } else {
            pass.failed += 1;
        }
        if settle(&mut tx, d, &attempt, now).await? {
            pass.endpoints_disabled += 1;
        }
    }
    tx.commit().await?;
    Ok(pass)
}

/// Records an attempt; whether it disabled the endpoint.
async fn settle(
    conn: &mut PgConnection,
    d: &Due,
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> Result<bool> {
    let succeeded = attempt.error.is_none();
    let status = if succeeded {
        "succeeded"
    } else if now - d.created_at >= GIVE_UP_AFTER {
        "failed"
    } else {
        "pending"
    };
    sqlx::query(
        "UPDATE webhook_deliveries
         SET status = $2, attempts = attempts + 1, last_attempt_at = $3,
             response_status = $4, last_error = $5,
             next_attempt_at = CASE WHEN $2 = 'pending' THEN $6 ELSE next_attempt_at END
         WHERE id = $1",
    )
    .bind(d.id)
    .bind(status)
    .bind(now)
    .bind(attempt.status.and_then(|s| i16::try_from(s).ok()))
    .bind(&attempt.error)
    .bind(now + backoff(d.attempts))
    .execute(&mut *conn)
    .await?;
    if succeeded {
        sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
            .bind(d.endpoint_id)
            .execute(&mut *conn)
            .await?;
        return Ok(false);
    }
    let disabled: Option<bool> = sqlx::query_scalar(
        "UPDATE webhook_endpoints
         SET failing_since = coalesce(failing_since, $2),
             disabled_at = CASE WHEN coalesce(failing_since, $2) <= $3 THEN $2 END,
             disabled_reason = CASE WHEN coalesce(failing_since, $2) <= $3
                                    THEN 'every delivery failed for 3 days' END
         WHERE id = $1 AND disabled_at IS NULL
         RETURNING disabled_at IS NOT NULL",
    )
    .bind(d.endpoint_id)
    .bind(now)
    .bind(now - GIVE_UP_AFTER)
    .fetch_optional(&mut *conn)
    .await?;
    if disabled != Some(true) {
        return Ok(false);
    }
    tracing::warn!(endpoint = %d.endpoint_id, organization = %d.organization_id,
        "a webhook endpoint failed for 3 days and is disabled");
    audit::record(
        conn,
        Some(d.organization_id),
        "system:webhooks",
        "webhook_endpoint.disable",
        "webhook_endpoint",
        &d.endpoint_id.to_string(),
        serde_json::json!({ "reason": "every delivery failed for 3 days" }),
    )
    .await?;
    tell_owners(conn, d).await?;
    Ok(true)
}

/// Emails the organization's owners that an endpoint was disabled.
async fn tell_owners(conn: &mut PgConnection, d: &Due) -> Result<()> {
    let text = format!(
        "Every delivery to your webhook endpoint {} failed for 3 days, so \
         Quartermaster has disabled it. Events raised since wait for it: \
         once the receiver answers again, enable the endpoint on the \
         dashboard's Webhooks page and they are sent, in order.\n",
        d.url
    );
    let subject = "A webhook endpoint was disabled";
    mail::enqueue_to_members(conn, d.organization_id, &[Role::Owner], subject, &text).await
}

/// Sends due deliveries every `tick`, for as long as the process lives;
/// replicas share the rows.
pub async fn run(pool: PgPool, client: reqwest::Client, tick: StdDuration) {
    loop {
        if let Err(err) = deliver(&pool, &client, Utc::now()).await {
            tracing::warn!(error = %err, "a webhook pass failed");
        }
        tokio::time::sleep(tick).await;
    }
}

/// The deliveries of one of the organization's endpoints, newest first.
pub async fn list(
    conn: &mut PgConnection,
    access: &OrgAccess,
    endpoint_id: Uuid,
    starting_after: Option<Uuid>,
    limit: u32,
) -> Result<(Vec<Delivery>, bool)> {
    super::endpoints::get(conn, access, endpoint_id).await?;
    let mut rows: Vec<Delivery> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY}
           AND ($2::uuid IS NULL
                OR d.seq < (SELECT seq FROM webhook_deliveries WHERE id = $2 AND endpoint_id = $1))
         ORDER BY d.seq DESC LIMIT $3"
    )))
    .bind(endpoint_id)
    .bind(starting_after)
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *conn)
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Sends a delivery again, as soon as the worker passes (after any earlier
/// delivery of the same resource still waiting).
pub async fn resend(
    conn: &mut PgConnection,
    access: &OrgAccess,
    endpoint_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Delivery> {
    access.require(Permission::WebhooksWrite)?;
    super::endpoints::get(conn, access, endpoint_id).await?;
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3
         WHERE id = $1 AND endpoint_id = $2",
    )
    .bind(id)
    .bind(endpoint_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(Error::not_found("webhook delivery"));
    }
    audit::record_as(
        conn,
        access,
        "webhook_delivery.resend",
        "webhook_delivery",
        &id.to_string(),
        Some(serde_json::json!({ "endpoint": endpoint_id })),
    )
    .await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{DELIVERY} AND d.id = $2")))
        .bind(endpoint_id)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::from)
}
