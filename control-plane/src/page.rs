//! Cursor pagination in Stripe's shape: `limit` and `starting_after`.
//!
//! Ids are UUIDv7, so ordering by id is ordering by creation, and a cursor
//! stays valid while rows are added.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, SqlSafeStr};
use uuid::Uuid;

use crate::validation::ValidationErrors;
use crate::{Error, Result};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub starting_after: Option<Uuid>,
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, starting_after: Option<Uuid>) -> Result<Self> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) => {
                let mut errors = ValidationErrors::default();
                let limit = errors.in_range("limit", n, 1..=MAX_LIMIT);
                limit.ok_or(Error::Validation(errors))?
            }
        };
        Ok(PageRequest {
            limit,
            starting_after,
        })
    }

    /// Rows to fetch: one more than the limit tells whether there are more.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The lower bound for ids (exclusive); the nil UUID sorts first.
    pub fn after(&self) -> Uuid {
        self.starting_after.unwrap_or(Uuid::nil())
    }

    /// This page of an organization's rows: `sql` selects them with `$1`
    /// the organization, `$2` the id to start after and `$3` how many to
    /// fetch, in order of id.
    pub(crate) async fn of_organization<T>(
        &self,
        conn: &mut PgConnection,
        sql: impl SqlSafeStr,
        organization_id: Uuid,
    ) -> Result<Page<T>>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let rows = sqlx::query_as(sql)
            .bind(organization_id)
            .bind(self.after())
            .bind(self.fetch())
            .fetch_all(&mut *conn)
            .await?;
        Ok(self.finish(rows))
    }

    pub fn finish<T>(&self, mut rows: Vec<T>) -> Page<T> {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        Page {
            data: rows,
            has_more,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(PageRequest::parse(Some(100), None).unwrap().limit, 100);
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(101), None).is_err());
    }

    #[test]
    fn one_extra_row_means_more() {
        let page = PageRequest::parse(Some(2), None).unwrap();
        assert_eq!(page.fetch(), 3);
        assert_eq!(
            page.finish(vec![1, 2, 3]),
            Page {
                data: vec![1, 2],
                has_more: true
            }
        );
        assert_eq!(
            page.finish(vec![1, 2]),
            Page {
                data: vec![1, 2],
                has_more: false
            }
        );
    }
}
