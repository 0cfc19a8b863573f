//! The audit log across organizations, for the platform's administrators.

use sqlx::PgConnection;

use super::PlatformAdmin;
use crate::Result;
use crate::audit::{self, AuditEntry, AuditQuery};

/// A page of entries of any organization (or of the one `query` names),
/// newest first; the id to continue before.
pub async fn audit_log(
    conn: &mut PgConnection,
    _admin: &PlatformAdmin,
    query: &AuditQuery,
) -> Result<(Vec<AuditEntry>, Option<i64>)> {
    audit::entries(conn, query).await
}
