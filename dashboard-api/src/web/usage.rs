//! Usage as charts drawn on the server, by day or hour: one chart per
//! meter, and for the token meters one per meter and inference key.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use billing::money;
use chrono::{Duration, DurationRound, Utc};
use control_plane::access::Permission;
use control_plane::money::invoices;
use maud::{Markup, html};
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
        "input_tokens" => ("Input tokens", 1_000_000.0, "M tokens"),
        "output_tokens" => ("Output tokens", 1_000_000.0, "M tokens"),
        _ => ("Objects (average)", 1.0, "objects"),
    }
}

/// A chart: its meter, and the inference key for a token meter's.
type ChartKey = (String, Option<Uuid>);

/// The report's rows as chart series, per chart and bucket `label`: sums
/// add up over resources (and models); gauges show their average.
fn series(rows: &[report::ReportRow], label: &str) -> BTreeMap<ChartKey, BTreeMap<String, f64>> {
    let mut series: BTreeMap<ChartKey, BTreeMap<String, f64>> = BTreeMap::new();
    for row in rows {
        let value = row
            .average
            .as_deref()
            .unwrap_or(&row.quantity)
            .parse::<f64>()
            .unwrap_or(0.0);
        let (_, per, _) = chart_unit(&row.meter);
        *series
            .entry((row.meter.clone(), row.key_id))
            .or_default()
            .entry(row.bucket.format(label).to_string())
            .or_default() += value / per;
    }
    series
}

/// A chart's title: the meter's, and the key's for tokens.
fn chart_title((meter, key): &ChartKey) -> String {
    let (title, _, _) = chart_unit(meter);
    match key {
        Some(key) => format!("{title}, key {key}"),
        None => title.to_owned(),
    }
}

/// A chart per meter (and per key for tokens) of a report's rows, each
/// bucket labelled with `label` (a `strftime` format).
pub(super) fn charts(rows: &[report::ReportRow], label: &str) -> Markup {
    let series = series(rows, label);
    html! {
        @if series.is_empty() { p { "No usage recorded yet." } }
        div class="charts" {
            @for (chart, points) in &series {
                @let (_, _, unit) = chart_unit(&chart.0);
                (chart::bars(&chart_title(chart), unit, &points.iter().map(|(d, v)| (d.clone(), *v)).collect::<Vec<_>>()))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UsageView {
    /// `hour` for the last 48 hours by hour; days otherwise.
    by: Option<String>,
}

pub async fn usage(
    State(state): State<AppState>,
    OrgPage {
        access,
        viewer,
        session,
    }: OrgPage,
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
        key_id: None,
        group_by_label: None,
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
    let alerts = super::alerts::section(
        &mut conn,
        &access,
        &session.csrf,
        &published.catalog.currency,
    )
    .await?;
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
        (charts(&rows, label))
        (alerts)
    };
    Ok(render(
        StatusCode::OK,
        page("Usage", Some(&viewer), None, body),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn row(
        meter: &str,
        key: Option<u128>,
        model: &str,
        hour: u32,
        quantity: &str,
    ) -> report::ReportRow {
        report::ReportRow {
            bucket: Utc.with_ymd_and_hms(2026, 11, 25, hour, 0, 0).unwrap(),
            resource_id: Some(Uuid::from_u128(7)),
            label: None,
            meter: meter.into(),
            dimension: String::new(),
            quantity: quantity.into(),
            average: None,
            events: 1,
            key_id: key.map(Uuid::from_u128),
            model: key.map(|_| model.to_owned()),
        }
    }

    #[test]
    fn token_meters_are_charted_per_key_in_millions_and_models_add_up() {
        let rows = [
            row("gpu_seconds", None, "", 10, "7200"),
            row("input_tokens", Some(1), "org/a", 10, "1500000"),
            row("input_tokens", Some(1), "org/b", 10, "500000"),
            row("input_tokens", Some(2), "org/a", 11, "250000"),
            row("output_tokens", Some(1), "org/a", 10, "3000000"),
        ];
        let charts: Vec<_> = series(&rows, "%Hh")
            .iter()
            .map(|(chart, points)| {
                let points: Vec<_> = points.iter().map(|(l, v)| (l.clone(), *v)).collect();
                (chart_title(chart), points)
            })
            .collect();
        let key = |n| Uuid::from_u128(n);
        assert_eq!(
            charts,
            [
                ("GPU-hours".to_owned(), vec![("10h".to_owned(), 2.0)]),
                (
                    format!("Input tokens, key {}", key(1)),
                    vec![("10h".to_owned(), 2.0)]
                ),
                (
                    format!("Input tokens, key {}", key(2)),
                    vec![("11h".to_owned(), 0.25)]
                ),
                (
                    format!("Output tokens, key {}", key(1)),
                    vec![("10h".to_owned(), 3.0)]
                ),
            ]
        );
    }
}
