//! Usage as charts drawn on the server, by day or hour.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use billing::money;
use chrono::{Duration, DurationRound, Utc};
use control_plane::access::Permission;
use control_plane::money::invoices;
use maud::html;
use metering::report::{self, Granularity, ReportQuery};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::page;
use super::{OrgPage, PageError, chart, render};
use crate::state::AppState;

/// The unit a meter is charted in, and how many of its raw units make one.
fn chart_unit(meter: &str) -> (&'static str, f64, &'static str) {
    match meter {
        "gpu_seconds" => ("GPU-hours", 3600.0, "h"),
        "node_seconds" => ("Node-hours", 3600.0, "h"),
        "storage_bytes" => ("Stored data (average)", f64::from(1u32 << 30), "GiB"),
        _ => ("Objects (average)", 1.0, "objects"),
    }
}

#[derive(Debug, Deserialize)]
pub struct UsageView {
    /// `hour` for the last 48 hours by hour; days otherwise.
    by: Option<String>,
}

pub async fn usage(
    State(state): State<AppState>,
    OrgPage { access, viewer, .. }: OrgPage,
    Path(org_id): Path<Uuid>,
    axum::extract::Query(view): axum::extract::Query<UsageView>,
) -> Result<Response, PageError> {
    access.require(Permission::UsageRead)?;
    let hourly = view.by.as_deref() == Some("hour");
    let (step, span, label) = if hourly {
        (Duration::hours(1), Duration::hours(48), "%d %Hh")
    } else {
        (Duration::days(1), Duration::days(14), "%m-%d")
    };
    let now = Utc::now();
    let to = now.duration_trunc(step).unwrap_or(now) + step;
    let query = ReportQuery {
        organization_id: org_id,
        from: to - span,
        to,
        granularity: if hourly {
            Granularity::Hour
        } else {
            Granularity::Day
        },
        resource_id: None,
        meter: None,
    };
    let published = state.catalog.get();
    let mut conn = state.db.acquire().await?;
    let rows = report::report(&mut conn, &query).await?;
    // What the period costs so far, for those who may see billing.
    let estimate = match access.allows(Permission::BillingRead) {
        true => Some(
            invoices::estimate(&mut conn, &access, &published, now)
                .await?
                .1,
        ),
        false => None,
    };
    // Per meter, per day: sums add up; gauges show their average.
    let mut series: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for row in &rows {
        let value = row
            .average
            .as_deref()
            .unwrap_or(&row.quantity)
            .parse::<f64>()
            .unwrap_or(0.0);
        let (_, per, _) = chart_unit(&row.meter);
        *series
            .entry(row.meter.clone())
            .or_default()
            .entry(row.bucket.format(label).to_string())
            .or_default() += value / per;
    }
    let body = html! {
        h1 { "Usage" }
        p {
            @if hourly {
                "The last 48 hours, per hour. " a href={ "/orgs/" (org_id) "/usage" } { "Per day" }
            } @else {
                "The last 14 days, per day. " a href={ "/orgs/" (org_id) "/usage?by=hour" } { "Per hour" }
            }
            " · " a href={ "/v1/organizations/" (org_id) "/usage?granularity=day&format=csv" } { "Download CSV" }
        }
        @if let Some(estimate) = &estimate {
            p data-testid="period-estimate" {
                "This period so far: " strong { (money::format(estimate.total_minor, &published.catalog.currency)) }
                " (an estimate; " a href={ "/orgs/" (org_id) "/billing" } { "details on Billing" } ")."
            }
        }
        @if series.is_empty() { p { "No usage recorded yet." } }
        div class="charts" {
            @for (meter, points) in &series {
                @let (title, _, unit) = chart_unit(meter);
                (chart::bars(title, unit, &points.iter().map(|(d, v)| (d.clone(), *v)).collect::<Vec<_>>()))
            }
        }
    };
    Ok(render(
        StatusCode::OK,
        page("Usage", Some(&viewer), None, body),
    ))
}
