//! A scratch database per benchmark run, migrated, dropped at the end.

use sqlx::{Connection, PgConnection, PgPool};

pub struct Scratch {
    admin: PgConnection,
    name: String,
    /// Kept at the end: named by `QM_BENCH_KEEP`.
    kept: bool,
    pub pool: PgPool,
}

impl Scratch {
    /// Creates and migrates a database beside the one `DATABASE_URL` names.
    pub async fn create() -> Scratch {
        let admin = PgConnection::connect(&database_url()).await.unwrap();
        let name = format!("qm_bench_{}", std::process::id());
        Scratch::open(admin, name, true, false).await
    }

    /// The database `QM_BENCH_KEEP` names, created if missing and kept at
    /// the end, so that a long seed serves several runs; else a new one,
    /// as [`Scratch::create`]. Also whether it was there already.
    #[allow(dead_code, reason = "used by the benchmarks with a long seed")]
    pub async fn keep_or_create() -> (Scratch, bool) {
        let Ok(name) = std::env::var("QM_BENCH_KEEP") else {
            return (Scratch::create().await, false);
        };
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "QM_BENCH_KEEP: lower-case letters and _ only"
        );
        let mut admin = PgConnection::connect(&database_url()).await.unwrap();
        let existed: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        (Scratch::open(admin, name, !existed, true).await, existed)
    }

    /// Opens `name` (created first if `create`) through `admin`'s server.
    async fn open(mut admin: PgConnection, name: String, create: bool, kept: bool) -> Scratch {
        let url = database_url();
        if create {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let bench_url = match url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DATABASE_URL has no database part"),
        };
        let pool = control_plane::db::connect(&bench_url).await.unwrap();
        control_plane::db::migrate(&pool).await.unwrap();
        Scratch {
            admin,
            name,
            kept,
            pool,
        }
    }

    pub async fn drop(mut self) {
        self.pool.close().await;
        if self.kept {
            println!("database {} kept (QM_BENCH_KEEP)", self.name);
            return;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .unwrap();
    }
}

fn database_url() -> String {
    std::env::var("DATABASE_URL").expect("set DATABASE_URL to a PostgreSQL superuser connection")
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
