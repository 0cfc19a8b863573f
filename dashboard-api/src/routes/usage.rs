//! Usage: data planes report it (`POST /v1/usage/events`), customers read it
//! (`GET /v1/organizations/{org}/usage`, JSON or CSV).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, DurationRound, Utc};
use control_plane::access::Permission;
use control_plane::{Error, data_planes};
use metering::report::{self, Granularity, ReportQuery};
use metering::{Meter, Rejected, event};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{DataPlane, JsonList, Query};
use crate::json::ProblemJson;
use crate::state::AppState;
use crate::unit::OrgRead;

/// The most events one request may carry.
pub const MAX_BATCH: usize = 5_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    /// Stored by this request.
    pub accepted: usize,
    /// Stored before (same `source`, `id` and content): nothing changed.
    pub duplicates: usize,
    /// Refused, each with its reason; the rest of the batch is kept.
    #[schema(value_type = Vec<Object>)]
    pub rejected: Vec<Rejected>,
    /// Not stored: an event with the same `source` and `id` but other
    /// content was stored before (or earlier in this batch), and stands.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: Vec<Rejected>,
}

/// Records a batch of usage events (CloudEvents 1.0, a JSON array), exactly
/// once per `(source, id)`. Authenticated with the data plane's ingest token.
/// Valid events are stored even when others in the batch are refused; the
/// answer comes once they are durable, so a sender that gets no answer
/// simply sends the batch again.
#[utoipa::path(post, path = "/v1/usage/events", tag = "usage",
    request_body(content = Vec<serde_json::Value>, description = "CloudEvents of type dev.quartermaster.usage; any item that is not one is refused alone, in `rejected`"),
    responses(
        (status = 200, body = IngestResponse),
        (status = 401, body = ProblemJson, description = "no or an invalid data-plane token"),
        (status = 422, body = ProblemJson, description = "more than 5000 events"),
    ))]
pub async fn ingest(
    State(state): State<AppState>,
    DataPlane(data_plane): DataPlane,
    JsonList(events): JsonList<Box<RawValue>>,
) -> Result<axum::Json<IngestResponse>, ApiError> {
    if events.len() > MAX_BATCH {
        return Err(
            Error::Validation(control_plane::validation::ValidationErrors::single(
                "events",
                format!(
                    "at most {MAX_BATCH} events per request; got {}",
                    events.len()
                ),
            ))
            .into(),
        );
    }
    let (valid, mut rejected) = event::parse_batch(&events, Utc::now(), state.ingester.lateness());
    let pairs: Vec<(Uuid, Uuid)> = valid
        .iter()
        .map(|(_, e)| (e.organization_id, e.resource_id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut conn = state.db.acquire().await?;
    let tenants = data_planes::tenants(&mut conn, data_plane, &pairs).await?;
    drop(conn);
    let mut allowed = Vec::with_capacity(valid.len());
    let mut positions = Vec::with_capacity(valid.len());
    for (index, event) in valid {
        if tenants.contains(&(event.organization_id, event.resource_id)) {
            allowed.push(event);
            positions.push(index);
        } else {
            rejected.push(Rejected {
                index,
                id: Some(event.id),
                reason: "the subject is not a cluster or endpoint of this data plane".to_owned(),
            });
        }
    }
    rejected.sort_by_key(|r| r.index);
    // Run to the end even if the sender hangs up: a batch cut off in the
    // middle of its COPY would leave its connection unusable.
    let ingester = state.clone();
    let (ingested, allowed) = tokio::spawn(async move {
        let ingested = ingester.ingester.ingest(&allowed).await;
        (ingested, allowed)
    })
    .await
    .map_err(|e| ApiError::from(Error::Join(e)))?;
    let ingested = ingested.map_err(|metering::IngestError::Database(e)| ApiError::from(e))?;
    let conflicts: Vec<Rejected> = ingested
        .conflicts
        .iter()
        .map(|at| Rejected {
            index: positions[*at],
            id: Some(allowed[*at].id.clone()),
            reason: "an event with this source and id was stored with other content, which stands"
                .to_owned(),
        })
        .collect();
    state.metrics.ingested(
        ingested.accepted,
        ingested.duplicates,
        rejected.len(),
        conflicts.len(),
    );
    Ok(axum::Json(IngestResponse {
        accepted: ingested.accepted,
        duplicates: ingested.duplicates,
        rejected,
        conflicts,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Start (inclusive), RFC 3339; 7 days before `to` when left out.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), RFC 3339; the end of the current hour when left out.
    pub to: Option<DateTime<Utc>>,
    /// `hour` (default) or `day`.
    pub granularity: Option<String>,
    /// Only this cluster or endpoint.
    pub resource_id: Option<Uuid>,
    /// Only this meter: gpu_seconds, node_seconds, storage_bytes,
    /// object_count, input_tokens, output_tokens.
    pub meter: Option<String>,
    /// Only the tokens counted under this inference key.
    pub key_id: Option<Uuid>,
    /// `label:<key>` (such as `label:team`): one row per value of that
    /// label instead of per resource, each hour counted under the labels
    /// its resource carried when the hour started; usage of resources
    /// without the label is one row with `label` null.
    pub group_by: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    pub object: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: String,
    /// `label:<key>` when grouped by a label.
    pub group_by: Option<String>,
    pub data: Vec<UsageRow>,
}

/// One resource's usage of one meter and dimension in one bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRow {
    /// The hour or day the usage is of.
    pub bucket: DateTime<Utc>,
    /// The cluster or endpoint; `null` when grouped by a label.
    pub resource_id: Option<Uuid>,
    /// Grouped by a label: its value, `null` for usage of resources
    /// without it; `null` when not grouped.
    pub label: Option<String>,
    pub meter: String,
    /// `gpu_seconds`: the GPU model; token meters: `<key_id> <model>`;
    /// empty for other meters.
    pub dimension: String,
    /// An exact decimal. Sums: the total. Gauges: the time integral, in
    /// value × seconds.
    pub quantity: String,
    /// Gauges: the time-weighted average over the time a value was known
    /// (grouped by a label: the sum of its resources' averages).
    pub average: Option<String>,
    /// How many events were counted.
    pub events: i64,
    /// Token meters: the inference key the tokens were counted under.
    pub key_id: Option<Uuid>,
    /// Token meters: the model the endpoint served.
    pub model: Option<String>,
}

impl From<report::ReportRow> for UsageRow {
    fn from(row: report::ReportRow) -> Self {
        UsageRow {
            bucket: row.bucket,
            resource_id: row.resource_id,
            label: row.label,
            meter: row.meter,
            dimension: row.dimension,
            quantity: row.quantity,
            average: row.average,
            events: row.events,
            key_id: row.key_id,
            model: row.model,
        }
    }
}

/// An organization's usage by hour or day, per resource, meter and
/// dimension. Sums are totals; gauges give their time integral and
/// time-weighted average. Token meters (`input_tokens`, `output_tokens`)
/// are per inference key and model: their rows carry `key_id` and `model`
/// (null for other meters). `format=csv` answers `text/csv`, with `key_id`
/// and `model` as its last columns (and `label` after them when grouped).
/// `group_by=label:<key>` breaks usage down by a label's values.
#[utoipa::path(get, path = "/v1/organizations/{org_id}/usage", tag = "usage",
    params(("org_id" = Uuid, Path), UsageParams),
    responses(
        (status = 200, description = "JSON, or CSV with format=csv",
            content((UsageReport = "application/json"), (String = "text/csv"))),
        (status = 404, body = ProblemJson),
        (status = 422, body = ProblemJson),
    ))]
pub async fn usage(
    OrgRead(mut conn, access, _): OrgRead<Uuid>,
    Query(params): Query<UsageParams>,
) -> Result<Response, ApiError> {
    let mut errors = control_plane::validation::ValidationErrors::default();
    let to = params.to.unwrap_or_else(|| {
        let now = Utc::now();
        now.duration_trunc(Duration::hours(1)).unwrap_or(now) + Duration::hours(1)
    });
    let from = params.from.unwrap_or(to - Duration::days(7));
    if from >= to {
        errors.add("from", "must be before `to`");
    }
    if to - from > Duration::days(400) {
        errors.add("to", "a report covers at most 400 days");
    }
    let granularity = errors.check(
        "granularity",
        params
            .granularity
            .as_deref()
            .unwrap_or("hour")
            .parse::<Granularity>(),
    );
    let meter = match params.meter.as_deref() {
        None => Some(None),
        Some(raw) => errors.check("meter", raw.parse::<Meter>()).map(Some),
    };
    let csv = match params.format.as_deref() {
        None | Some("json") => Some(false),
        Some("csv") => Some(true),
        Some(other) => {
            errors.add(
                "format",
                format!("format must be json or csv, not `{other}`"),
            );
            None
        }
    };
    let group_by = match params.group_by.as_deref() {
        None => Some(None),
        Some(raw) => errors.check("group_by", group_by_label(raw)).map(Some),
    };
    let (granularity, ((meter, csv), group_by_label)) =
        errors.finish(granularity.zip(meter.zip(csv).zip(group_by)))?;

    access.require(Permission::UsageRead)?;
    let query = ReportQuery {
        organization_id: access.organization_id(),
        from,
        to,
        granularity,
        resource_id: params.resource_id,
        meter,
        key_id: params.key_id,
        group_by_label,
    };
    let grouped = query.group_by_label.is_some();
    let rows = report::report(&mut conn, &query).await?;
    if csv {
        let mut response = report::to_csv(&rows, grouped).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"usage.csv\""),
        );
        return Ok(response);
    }
    Ok(axum::Json(UsageReport {
        object: "usage_report",
        from,
        to,
        granularity: params.granularity.unwrap_or_else(|| "hour".to_owned()),
        group_by: params.group_by,
        data: rows.into_iter().map(UsageRow::from).collect(),
    })
    .into_response())
}

/// The label key of `group_by=label:<key>`.
fn group_by_label(raw: &str) -> Result<String, String> {
    let key = raw
        .strip_prefix("label:")
        .ok_or_else(|| format!("must be `label:<key>`, such as `label:team`; got `{raw}`"))?;
    control_plane::labels::valid_key(key)?;
    Ok(key.to_owned())
}
