//! A scratch database per benchmark run, migrated, dropped at the end.

use sqlx::{Connection, PgConnection, PgPool};

pub struct Scratch {
    admin: PgConnection,
    name: String,
    pub pool: PgPool,
}

impl Scratch {
    /// Creates and migrates a database beside the one `DATABASE_URL` names.
    pub async fn create() -> Scratch {
        let url = std::env::var("DATABASE_URL")
            .expect("set DATABASE_URL to a PostgreSQL superuser connection");
        let name = format!("qm_bench_{}", std::process::id());
        let mut admin = PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let bench_url = match url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DATABASE_URL has no database part"),
        };
        let pool = control_plane::db::connect(&bench_url).await.unwrap();
        control_plane::db::migrate(&pool).await.unwrap();
        Scratch { admin, name, pool }
    }

    pub async fn drop(mut self) {
        self.pool.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .unwrap();
    }
}

/// `n` from the environment variable `var`, else `default`.
pub fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A line of `/proc/self/status` in bytes: `VmRSS` (resident now) or
/// `VmHWM` (the most resident so far).
pub fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}
