//! The events an organization's endpoints can subscribe to, and how one is
//! raised: in the transaction of the change that causes it, with one
//! delivery per subscribed, enabled endpoint. A change that rolls back takes
//! its event with it; one that commits cannot lose it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// What happened. The names are Stripe's style: `<object>.<what>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType { $($variant,)* }

        impl EventType {
            pub const ALL: &[EventType] = &[$(EventType::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }
        }
    };
}

event_types! {
    ClusterReady => "cluster.ready",
    ClusterDegraded => "cluster.degraded",
    ClusterSuspended => "cluster.suspended",
    ClusterResumed => "cluster.resumed",
    ClusterDeleted => "cluster.deleted",
    EndpointReady => "endpoint.ready",
    EndpointDegraded => "endpoint.degraded",
    EndpointSuspended => "endpoint.suspended",
    EndpointResumed => "endpoint.resumed",
    EndpointDeleted => "endpoint.deleted",
    BackupSucceeded => "backup.succeeded",
    BackupFailed => "backup.failed",
    RestoreSucceeded => "restore.succeeded",
    RestoreFailed => "restore.failed",
    InvoiceFinalized => "invoice.finalized",
    InvoicePaid => "invoice.paid",
    InvoicePaymentFailed => "invoice.payment_failed",
    UsageThresholdCrossed => "usage.threshold_crossed",
    OrganizationSuspended => "organization.suspended",
    OrganizationResumed => "organization.resumed",
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("`{}` is not an event type", s.escape_debug()))
    }
}

/// What an event is about: deliveries about one resource keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub kind: &'a str,
    pub id: &'a str,
}

impl Subject<'_> {
    fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// The body every delivery of an event carries, byte for byte.
#[derive(Debug, Serialize)]
struct Body<'a> {
    /// `evt_<uuid>`: the same on every delivery and resend, for the
    /// receiver's own deduplication.
    id: String,
    object: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    created_at: String,
    organization_id: Uuid,
    data: &'a serde_json::Value,
}

/// The id an event is shown by.
pub fn public_id(id: Uuid) -> String {
    format!("evt_{}", id.simple())
}

/// One event to raise.
#[derive(Debug, Clone)]
pub struct Raised<'a> {
    pub organization_id: Uuid,
    pub kind: EventType,
    pub subject: Subject<'a>,
    /// The object as it is now.
    pub data: serde_json::Value,
}

/// Raises `kind` about `subject` in the caller's transaction; `data` is the
/// object as it is now. Endpoints subscribed at this moment receive it.
pub async fn emit(
    conn: &mut PgConnection,
    organization_id: Uuid,
    kind: EventType,
    subject: Subject<'_>,
    data: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let raised = Raised {
        organization_id,
        kind,
        subject,
        data,
    };
    emit_all(conn, std::slice::from_ref(&raised), at).await
}

/// Raises every event of `raised` in one statement (a period close opens
/// thousands of invoices). An event no endpoint subscribes to is not kept.
pub async fn emit_all(
    conn: &mut PgConnection,
    raised: &[Raised<'_>],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(raised.len());
    let mut organizations = Vec::with_capacity(raised.len());
    let mut kinds = Vec::with_capacity(raised.len());
    let mut subjects = Vec::with_capacity(raised.len());
    let mut bodies = Vec::with_capacity(raised.len());
    for r in raised {
        let id = Uuid::now_v7();
        let body = Body {
            id: public_id(id),
            object: "event",
            kind: r.kind.as_str(),
            created_at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            organization_id: r.organization_id,
            data: &r.data,
        };
        bodies.push(serde_json::to_string(&body).map_err(|e| sqlx::Error::Encode(e.into()))?);
        ids.push(id);
        organizations.push(r.organization_id);
        kinds.push(r.kind.as_str());
        subjects.push(r.subject.key());
    }
    sqlx::query(
        "WITH raised AS (
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[])
                 WITH ORDINALITY AS r (id, organization_id, type, resource, body, n)
         ),
         targets AS (
             SELECT r.id AS event_id, r.resource, r.n, e.id AS endpoint_id
             FROM raised r
             JOIN webhook_endpoints e
               ON e.organization_id = r.organization_id AND e.disabled_at IS NULL
              AND r.type = ANY (e.event_types)
         ),
         stored AS (
             INSERT INTO webhook_events (id, organization_id, type, resource, body, created_at)
             SELECT id, organization_id, type, resource, body, $6 FROM raised
             WHERE id IN (SELECT event_id FROM targets)
         )
         INSERT INTO webhook_deliveries
             (id, event_id, endpoint_id, resource, next_attempt_at, created_at)
         SELECT gen_random_uuid(), event_id, endpoint_id, resource, $6, $6
         FROM targets ORDER BY n, endpoint_id",
    )
    .bind(&ids)
    .bind(&organizations)
    .bind(&kinds)
    .bind(&subjects)
    .bind(&bodies)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
