//! The PostgreSQL pool and the schema migrations.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A pool whose every wait is bounded: connecting, acquiring, and each
/// statement (through `statement_timeout`).
pub async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let options = options
        .application_name("quartermaster")
        .options([("statement_timeout", "30s")]);
    bounded().connect_with(options).await
}

/// Another pool to `pool`'s database, with the same bounds: for another
/// runtime (a pool's connections belong to the runtime that opened them).
pub async fn connect_like(pool: &PgPool) -> Result<PgPool, sqlx::Error> {
    bounded()
        .connect_with((*pool.connect_options()).clone())
        .await
}

fn bounded() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(10))
}

/// Runs the singleton `worker`'s `pass` every `tick`, forever, in whichever
/// replica holds the PostgreSQL advisory lock `key`: one replica at a time
/// does its work, and another takes over when that one's connection goes.
/// A failed pass is logged and the next one tried.
pub async fn singleton<F, Fut, T, E>(
    pool: &PgPool,
    key: i64,
    tick: Duration,
    worker: &str,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    loop {
        let led = lead(pool, key, tick, || {
            let done = pass();
            async move {
                if let Err(err) = done.await {
                    tracing::warn!(worker, error = %err, "a pass failed");
                }
            }
        })
        .await;
        if let Err(err) = led {
            tracing::warn!(worker, error = %err, "lost the singleton lock");
        }
        tokio::time::sleep(tick).await;
    }
}

/// Runs `pass` every `tick` for as long as this process holds the advisory
/// lock `key`. Returns when the lock is held elsewhere or its connection is
/// lost.
async fn lead<F, Fut>(
    pool: &PgPool,
    key: i64,
    tick: Duration,
    mut pass: F,
) -> Result<(), sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut lock = pool.acquire().await?;
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *lock)
        .await?;
    if !held {
        return Ok(());
    }
    loop {
        pass().await;
        tokio::time::sleep(tick).await;
        // Still connected, so still holding the lock.
        sqlx::query("SELECT 1").execute(&mut *lock).await?;
    }
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// A spec count as an `integer` column. Every bound in the specs is far
/// below `i32::MAX`.
pub(crate) fn sql_int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
