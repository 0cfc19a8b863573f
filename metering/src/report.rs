//! Usage reports: an organization's rollups by hour or day, per resource,
//! meter and dimension, as exact decimals; and the same as CSV. A token
//! meter's row is one key's usage of one model: its dimension is split into
//! `key_id` and `model` ([`crate::tokens`]), so a report reads per key.
//! Grouped by a label, rows are per value of that label instead of per
//! resource: each hour's usage counts under the value its resource carried
//! when the hour started ([`crate::labels`]).

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
    /// One row per value of this label key instead of per resource.
    pub group_by_label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ReportRow {
    pub bucket: DateTime<Utc>,
    /// `None` when grouped by a label.
    pub resource_id: Option<Uuid>,
    /// Grouped by a label: its value, `None` for usage of resources that
    /// did not carry it.
    pub label: Option<String>,
    pub meter: String,
    pub dimension: String,
    /// Sums: the total. Gauges: the time integral, in value × seconds.
    pub quantity: String,
    /// Gauges: the time-weighted average over the time a value was known;
    /// grouped by a label, the sum of its resources' averages.
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

/// Rows ordered by bucket, resource (or label value, unlabelled last),
/// meter, dimension. Only the asking organization's rows exist for this
/// query: it is the first filter.
pub async fn report(
    conn: &mut PgConnection,
    query: &ReportQuery,
) -> Result<Vec<ReportRow>, sqlx::Error> {
    // Per resource first, in either case; grouped by a label, the hours
    // carry the value in force at their start, and resources' rows of one
    // value are then summed (a gauge's averages too: the value's level).
    let rows = sqlx::query_as(
        "WITH per_resource AS (
             SELECT date_trunc($4, u.hour) AS bucket, u.resource_id, u.meter, u.dimension,
                    CASE WHEN $10::text IS NOT NULL THEN l.labels ->> $10 END AS label,
                    sum(u.quantity) AS quantity, sum(u.covered_seconds) AS covered,
                    sum(u.events)::bigint AS events
             FROM usage_hourly u
             LEFT JOIN resource_labels l
                  ON $10::text IS NOT NULL
                 AND l.organization_id = u.organization_id AND l.resource_id = u.resource_id
                 AND l.valid_from <= u.hour AND (l.valid_to IS NULL OR l.valid_to > u.hour)
             WHERE u.organization_id = $1 AND u.hour >= $2 AND u.hour < $3
               AND ($5::uuid IS NULL OR u.resource_id = $5)
               AND ($6::text IS NULL OR u.meter = $6)
               AND ($8::uuid IS NULL
                    OR (u.meter = ANY($9) AND split_part(u.dimension, ' ', 1) = $8::text))
             GROUP BY 1, 2, 3, 4, 5)
         SELECT bucket, CASE WHEN $10::text IS NULL THEN resource_id END AS resource_id, label,
                meter, dimension,
                sum(quantity)::text AS quantity,
                CASE WHEN meter = ANY($7) AND sum(covered) > 0
                     THEN trim_scale(round(CASE WHEN $10::text IS NULL
                                                THEN sum(quantity) / sum(covered)
                                                ELSE sum(quantity / nullif(covered, 0)) END,
                                           6))::text END AS average,
                sum(events)::bigint AS events
         FROM per_resource
         GROUP BY 1, 2, 3, 4, 5
         ORDER BY 1, 2, 3 NULLS LAST, 4, 5",
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
    .bind(query.group_by_label.as_deref())
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
/// that readers of the columns before them read on unchanged; grouped by a
/// label, `label` follows them and `resource_id` is empty.
pub fn to_csv(rows: &[ReportRow], grouped: bool) -> String {
    let mut out = String::from(
        "bucket,resource_id,meter,dimension,unit,quantity,average,events,key_id,model",
    );
    out.push_str(if grouped { ",label\r\n" } else { "\r\n" });
    for row in rows {
        let unit = row.meter.parse::<Meter>().map(|m| match m.aggregation() {
            Aggregation::Sum => m.unit().to_owned(),
            Aggregation::TimeWeightedAverage => format!("{}-seconds", m.unit()),
        });
        let _ = write!(out, "{},", row.bucket.to_rfc3339());
        if let Some(resource_id) = row.resource_id {
            let _ = write!(out, "{resource_id}");
        }
        out.push(',');
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
        if grouped {
            out.push(',');
            csv_field(row.label.as_deref().unwrap_or(""), &mut out);
        }
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
            resource_id: Some(Uuid::from_u128(7)),
            label: None,
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
        let csv = to_csv(&[row.clone().split_dimension(), tokens], false);
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
        let by_team = ReportRow {
            resource_id: None,
            label: Some("search".into()),
            ..row.clone()
        };
        let unlabelled = ReportRow {
            label: None,
            ..by_team.clone()
        };
        let grouped = to_csv(&[by_team, unlabelled], true);
        let lines: Vec<_> = grouped.split("\r\n").collect();
        assert!(lines[0].ends_with(",key_id,model,label"));
        assert_eq!(
            lines[1],
            "2026-11-25T12:00:00+00:00,,gpu_seconds,\"nvidia,l4\",seconds,3600,,60,,,search"
        );
        assert!(lines[2].ends_with(",60,,,"), "{}", lines[2]);
        assert_eq!(
            "week".parse::<Granularity>().unwrap_err(),
            "granularity must be hour or day, not `week`"
        );
    }
}
