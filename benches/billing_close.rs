//! A period close against a plain SQL aggregate of the same rollups, in
//! one process, on one PostgreSQL.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench billing_close`
//!
//! Creates a scratch database with N organizations (default 10,000;
//! `QM_BENCH_ORGS` to change), each on starter in September 2026 (30 days;
//! one in ten upgrades to business mid-month) with one cluster reporting
//! node-seconds and stored bytes every hour: 2 × 720 rollups per
//! organization. Then times, on the same
//! data, the baseline (one `GROUP BY` over the period's rollups, the least
//! any close must read) and the close (rating every organization and
//! writing its invoice and lines). Prints both, the rollups rated per
//! second and the ratio.
//!
//! `QM_BENCH_KEEP=<database>` keeps the seeded database for the next run
//! with the same name, which then only closes: 100,000 organizations take
//! a quarter of an hour to seed.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

mod common;

use std::time::Instant;

use billing::{Period, close};
use sqlx::PgPool;

async fn seed(pool: &PgPool, organizations: usize, period: Period) {
    let started = Instant::now();
    // Seeding millions of rows takes longer than the pool's statement
    // timeout: one connection of its own, without it, closed after.
    let mut conn = pool.acquire().await.unwrap().detach();
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut conn)
        .await
        .unwrap();
    let conn = &mut conn;
    let n = i64::try_from(organizations).unwrap();
    sqlx::query(
        "INSERT INTO organizations (id, name)
         SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'bench ' || i
         FROM generate_series(1, $1) i",
    )
    .bind(n)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO subscriptions (organization_id, plan) SELECT id, 'starter' FROM organizations",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO plan_periods (organization_id, plan, valid_from)
         SELECT id, 'starter', $1 FROM organizations",
    )
    .bind(period.previous().start())
    .execute(&mut *conn)
    .await
    .unwrap();
    // Every tenth organization upgrades to business mid-month, so the close
    // also rates periods split by a plan change.
    let change = period.start() + chrono::Duration::days(14) + chrono::Duration::minutes(30);
    sqlx::query(
        "WITH changed AS (
             UPDATE plan_periods SET valid_to = $1
             WHERE get_byte(uuid_send(organization_id), 15) % 10 = 0
             RETURNING organization_id)
         INSERT INTO plan_periods (organization_id, plan, valid_from)
         SELECT organization_id, 'business', $1 FROM changed",
    )
    .bind(change)
    .execute(&mut *conn)
    .await
    .unwrap();
    // One cluster per organization: a node all hour, 6 GiB held all hour.
    // In chunks of organizations, one transaction each, with progress: a
    // hundred thousand organizations take many minutes to seed.
    const CHUNK: i64 = 10_000;
    for first in (0..n).step_by(CHUNK as usize) {
        sqlx::query(
            "INSERT INTO usage_hourly (organization_id, resource_id, meter, dimension, hour,
                                       quantity, covered_seconds, events)
             SELECT o.id, o.id, m.meter, '', h.hour, m.quantity, m.covered, 60
             FROM (SELECT id FROM organizations ORDER BY id OFFSET $3 LIMIT $4) o
             CROSS JOIN generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', interval '1 hour') h(hour)
             CROSS JOIN (VALUES ('node_seconds', 3600::numeric, 0::numeric),
                                ('storage_bytes', 6442450944::numeric * 3600, 3600::numeric))
                        AS m(meter, quantity, covered)",
        )
        .bind(period.start())
        .bind(period.end())
        .bind(first)
        .bind(CHUNK)
        .execute(&mut *conn)
        .await
        .unwrap();
        eprint!(
            "\rseeding rollups: {} of {organizations} organizations, {:.0} s",
            (first + CHUNK).min(n),
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    sqlx::query("VACUUM ANALYZE usage_hourly")
        .execute(&mut *conn)
        .await
        .unwrap();
    println!(
        "seeded {organizations} organizations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A kept database, seeded by an earlier run, made ready to close again:
/// what the last run's closes wrote removed.
async fn reset(pool: &PgPool, organizations: usize) {
    let seeded: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        seeded,
        i64::try_from(organizations).unwrap(),
        "the kept database was seeded with another QM_BENCH_ORGS"
    );
    sqlx::query("TRUNCATE invoices, period_closes, webhook_events CASCADE")
        .execute(pool)
        .await
        .unwrap();
    println!("reusing the {organizations} organizations seeded before");
}

/// The least any close must do: read and sum the period's rollups.
async fn aggregate(pool: &PgPool, period: Period) -> (f64, i64) {
    let started = Instant::now();
    // As the close reads: in a transaction, past the pool's statement timeout.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL statement_timeout = '1h'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let groups: Vec<(i64, rust_decimal::Decimal)> = sqlx::query_as(
        "SELECT count(*), sum(quantity) FROM usage_hourly
         WHERE hour >= $1 AND hour < $2
         GROUP BY organization_id, meter, dimension",
    )
    .bind(period.start())
    .bind(period.end())
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (
        started.elapsed().as_secs_f64(),
        groups.iter().map(|g| g.0).sum(),
    )
}

async fn timed_close(
    pool: &PgPool,
    published: &billing::catalog_store::Published,
    period: Period,
) -> (f64, close::CloseReport) {
    let started = Instant::now();
    let report = close::close(
        pool,
        published,
        period,
        close::closes_at(period),
        Some(&control_plane::webhooks::InvoiceEvents),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    (started.elapsed().as_secs_f64(), report)
}

#[tokio::main]
async fn main() {
    let organizations = common::size("QM_BENCH_ORGS", 10_000);
    let (scratch, seeded) = common::Scratch::keep_or_create().await;
    let pool = scratch.pool.clone();
    let period: Period = "2026-09".parse().unwrap();
    if seeded {
        reset(&pool, organizations).await;
    } else {
        seed(&pool, organizations, period).await;
    }
    let published =
        billing::catalog_store::ensure(&pool, &billing::Catalog::default_catalog().unwrap())
            .await
            .unwrap();
    sqlx::query("CHECKPOINT").execute(&pool).await.unwrap();

    // Twice each, the first to warm the cache; the second is reported.
    aggregate(&pool, period).await;
    let (baseline, rows) = aggregate(&pool, period).await;
    let before = common::memory("VmRSS");
    let (closing, report) = timed_close(&pool, &published, period).await;
    let peak = common::memory("VmHWM");
    assert_eq!(report.created, organizations);
    assert_eq!(report.rollup_rows, rows);
    let (reclosing, again) = timed_close(&pool, &published, period).await;
    assert_eq!(again.created, 0);
    assert_eq!(again.already_closed, organizations);

    println!("{organizations} organizations, {rows} hourly rollups in {period}");
    println!(
        "{:<44} {:>10} {:>14} {:>8}",
        "run", "seconds", "rollups/s", "ratio"
    );
    for (run, seconds) in [
        ("plain SQL aggregate (baseline)", baseline),
        ("period close: rate, write invoices + lines", closing),
        ("period close again (nothing to write)", reclosing),
    ] {
        println!(
            "{run:<44} {seconds:>10.2} {:>14.0} {:>8.2}",
            rows as f64 / seconds,
            baseline / seconds
        );
    }
    println!(
        "closing again takes {:.3}x the first close (goal at most 0.2x)",
        reclosing / closing
    );
    println!(
        "memory: {} MiB resident before the close, {} MiB at its peak: {} bytes per organization",
        before >> 20,
        peak >> 20,
        peak.saturating_sub(before) / organizations as u64
    );
    scratch.drop().await;
}
