//! Usage reports: an organization's rollups by hour or day, per resource,
//! meter and dimension, as exact decimals; and the same as CSV. A token
//! meter's row is one key's usage of one model: its dimension is split into
//! `key_id` and `model` ([`crate::tokens`]), so a report reads per key.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Aggregation, Meter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl FromStr for Granularity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hour" => Ok(Granularity::Hour),
            "day" => Ok(Granularity::Day),
            other => Err(format!("granularity must be hour or day, not `{other}`")),
        }
    }
}

impl Granularity {
    fn sql(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub organization_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub resource_id: Option<Uuid>,
    pub meter: Option<Meter>,
    /// Only the token usage of this inference key.
    pub key_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ReportRow {
    pub bucket: DateTime<Utc>,
    pub resource_id: Uuid,
    pub meter: String,
    pub dimension: String,
    /// Sums: the total. Gauges: the time integral, in value × seconds.
    pub quantity: String,
    /// Gauges: the time-weighted average over the time a value was known.
    pub average: Option<String>,
    pub events: i64,
    /// Token meters: the inference key used, from the dimension.
    #[sqlx(skip)]
    pub key_id: Option<Uuid>,
    /// Token meters: the model served, from the dimension.
    #[sqlx(skip)]
    pub model: Option<String>,
}

impl ReportRow {
    /// Fills `key_id` and `model` from a token meter's dimension.
    fn split_dimension(mut self) -> Self {
        if self.meter.parse::<Meter>().is_ok_and(Meter::is_token)
            && let Ok(split) = crate::tokens::parse(&self.dimension)
        {
            self.key_id = Some(split.key_id);
            self.model = Some(split.model.to_owned());
        }
        self
    }
}

/// Rows ordered by bucket, resource, meter, dimension. Only the asking
/// organization's rows exist for this query: it is the first filter.
pub async fn report(
    conn: &mut PgConnection,
    query: &ReportQuery,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT date_trunc($4, hour) AS bucket, resource_id, meter, dimension,
                sum(quantity)::text AS quantity,
                CASE WHEN meter = ANY($7) AND sum(covered_seconds) > 0
                     THEN trim_scale(round(sum(quantity) / sum(covered_seconds), 6))::text END AS average,
                sum(events)::bigint AS events
         FROM usage_hourly
         WHERE organization_id = $1 AND hour >= $2 AND hour < $3
           AND ($5::uuid IS NULL OR resource_id = $5)
           AND ($6::text IS NULL OR meter = $6)
           AND ($8::uuid IS NULL OR (meter = ANY($9) AND split_part(dimension, ' ', 1) = $8::text))
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 3, 4",
    )
    .bind(query.organization_id)
    .bind(query.from)
    .bind(query.to)
    .bind(query.granularity.sql())
    .bind(query.resource_id)
    .bind(query.meter.map(Meter::as_str))
    .bind(Meter::gauges())
    .bind(query.key_id)
    .bind(Meter::token_meters())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(ReportRow::split_dimension).collect())
}

fn csv_field(value: &str, out: &mut String) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// RFC 4180 CSV with a header row. `key_id` and `model` come last, so
/// that readers of the columns before them read on unchanged.
pub fn to_csv(rows: &[ReportRow]) -> String {
    let mut out = String::from(
        "bucket,resource_id,meter,dimension,unit,quantity,average,events,key_id,model\r\n",
    );
    for row in rows {
        let unit = row.meter.parse::<Meter>().map(|m| match m.aggregation() {
            Aggregation::Sum => m.unit().to_owned(),
            Aggregation::TimeWeightedAverage => format!("{}-seconds", m.unit()),
        });
        let _ = write!(out, "{},{},", row.bucket.to_rfc3339(), row.resource_id);
        csv_field(&row.meter, &mut out);
        out.push(',');
        csv_field(&row.dimension, &mut out);
        out.push(',');
        csv_field(&unit.unwrap_or_default(), &mut out);
        let _ = write!(
            out,
            ",{},{},{},",
            row.quantity,
            row.average.as_deref().unwrap_or(""),
            row.events
        );
        if let Some(key_id) = row.key_id {
            let _ = write!(out, "{key_id}");
        }
        out.push(',');
        csv_field(row.model.as_deref().unwrap_or(""), &mut out);
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn csv_has_a_header_units_and_quotes_what_needs_it() {
        let row = ReportRow {
            bucket: Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
            resource_id: Uuid::from_u128(7),
            meter: "gpu_seconds".into(),
            dimension: "nvidia,l4".into(),
            quantity: "3600".into(),
            average: None,
            events: 60,
            key_id: None,
            model: None,
        };
        let tokens = ReportRow {
            meter: "input_tokens".into(),
            dimension: format!("{} org/model,v2", Uuid::from_u128(9)),
            quantity: "1500".into(),
            events: 2,
            ..row.clone()
        }
        .split_dimension();
        let csv = to_csv(&[row.clone().split_dimension(), tokens]);
        let lines: Vec<_> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "bucket,resource_id,meter,dimension,unit,quantity,average,events,key_id,model"
        );
        assert_eq!(
            lines[1],
            "2026-11-25T12:00:00+00:00,00000000-0000-0000-0000-000000000007,gpu_seconds,\"nvidia,l4\",seconds,3600,,60,,"
        );
        assert_eq!(
            lines[2],
            "2026-11-25T12:00:00+00:00,00000000-0000-0000-0000-000000000007,input_tokens,\"00000000-0000-0000-0000-000000000009 org/model,v2\",tokens,1500,,2,00000000-0000-0000-0000-000000000009,\"org/model,v2\""
        );
        assert_eq!(
            "week".parse::<Granularity>().unwrap_err(),
            "granularity must be hour or day, not `week`"
        );
    }
}
