//! Which labels a resource carried when: `resource_labels`, owned here
//! because the rollups and their reports are. The control plane records a
//! change through [`record`] in the transaction that makes it; reports and
//! invoices read an hour's usage under the labels in force when the hour
//! started ([`History::at`]). The ingester never reads this table: labels
//! cost nothing on the path events take.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

pub type LabelMap = BTreeMap<String, String>;

/// From when a resource's labels hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Given when the resource was made: they hold for all its usage before
    /// any change, its first partial hour included.
    Creation,
    /// Changed at this instant: hours that start from it on carry them.
    At(DateTime<Utc>),
}

/// Records that `resource` carries `labels` from `since` on, closing the
/// labels it carried before. The caller holds the resource's row lock, so
/// changes of one resource are recorded one at a time. A change at or
/// before the start of the labels in force (two in one instant, or a clock
/// behind) replaces them rather than making an empty span.
pub async fn record(
    conn: &mut PgConnection,
    organization_id: Uuid,
    resource_id: Uuid,
    labels: &LabelMap,
    since: Since,
) -> Result<(), sqlx::Error> {
    let at = match since {
        Since::Creation => None,
        Since::At(at) => Some(at),
    };
    // Close the open span if it began before `at`; otherwise it is the one
    // to replace, and is deleted here to be inserted again below.
    let replaced: Option<DateTime<Utc>> = sqlx::query_scalar(
        "WITH open AS (
             SELECT valid_from FROM resource_labels
             WHERE organization_id = $1 AND resource_id = $2 AND valid_to IS NULL
             FOR UPDATE),
         closed AS (
             UPDATE resource_labels r SET valid_to = $3
             FROM open
             WHERE r.resource_id = $2 AND r.valid_from = open.valid_from AND open.valid_from < $3),
         deleted AS (
             DELETE FROM resource_labels r USING open
             WHERE r.resource_id = $2 AND r.valid_from = open.valid_from
               AND NOT (open.valid_from < $3)
             RETURNING r.valid_from)
         SELECT valid_from FROM deleted",
    )
    .bind(organization_id)
    .bind(resource_id)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO resource_labels (organization_id, resource_id, labels, valid_from)
         VALUES ($1, $2, $3, coalesce($4, $5, '-infinity'::timestamptz))",
    )
    .bind(organization_id)
    .bind(resource_id)
    .bind(Json(labels))
    .bind(replaced)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One span of a resource's labels: `[valid_from, valid_to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
    pub labels: LabelMap,
}

/// The label spans of an organization's resources, to look hours up in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    spans: HashMap<Uuid, Vec<Span>>,
}

impl History {
    pub fn new(spans: impl IntoIterator<Item = (Uuid, Span)>) -> History {
        let mut by_resource: HashMap<Uuid, Vec<Span>> = HashMap::new();
        for (resource, span) in spans {
            by_resource.entry(resource).or_default().push(span);
        }
        History { spans: by_resource }
    }

    /// The labels `resource` carried at `instant`; `None` if it had none
    /// recorded then.
    pub fn at(&self, resource: Uuid, instant: DateTime<Utc>) -> Option<&LabelMap> {
        self.spans.get(&resource)?.iter().find_map(|s| {
            (s.valid_from <= instant && s.valid_to.is_none_or(|to| instant < to))
                .then_some(&s.labels)
        })
    }
}

/// Label rows: resource, from (`None` for `-infinity`), to, labels.
type SpanRow = (
    Uuid,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Json<LabelMap>,
);

/// The spans of an organization's resources that overlap `[from, to)`.
pub async fn history(
    conn: &mut PgConnection,
    organization_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<History, sqlx::Error> {
    // `-infinity` has no chrono value: it is read as NULL and taken as the
    // earliest instant there is.
    let rows: Vec<SpanRow> = sqlx::query_as(
        "SELECT resource_id, CASE WHEN isfinite(valid_from) THEN valid_from END, valid_to, labels
         FROM resource_labels
         WHERE organization_id = $1 AND valid_from < $3 AND (valid_to IS NULL OR valid_to > $2)",
    )
    .bind(organization_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    Ok(History::new(rows.into_iter().map(
        |(resource, valid_from, valid_to, labels)| {
            (
                resource,
                Span {
                    valid_from: valid_from.unwrap_or(DateTime::<Utc>::MIN_UTC),
                    valid_to,
                    labels: labels.0,
                },
            )
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_instant_reads_the_span_it_falls_in_with_its_end_excluded() {
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 2, h, 0, 0).unwrap();
        let team = |t: &str| LabelMap::from([("team".to_owned(), t.to_owned())]);
        let resource = Uuid::from_u128(1);
        let history = History::new([
            (
                resource,
                Span {
                    valid_from: DateTime::<Utc>::MIN_UTC,
                    valid_to: Some(at(10)),
                    labels: team("a"),
                },
            ),
            (
                resource,
                Span {
                    valid_from: at(10),
                    valid_to: None,
                    labels: team("b"),
                },
            ),
        ]);
        assert_eq!(history.at(resource, at(9)), Some(&team("a")));
        assert_eq!(history.at(resource, at(10)), Some(&team("b")));
        assert_eq!(history.at(resource, at(23)), Some(&team("b")));
        assert_eq!(history.at(Uuid::from_u128(2), at(10)), None);
    }
}
