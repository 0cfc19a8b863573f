//! Events into the append-only `usage_events` with `COPY … FROM STDIN`,
//! the fastest way PostgreSQL takes rows.

use std::fmt::Write as _;

use chrono::SecondsFormat;
use sqlx::PgConnection;

use crate::event::UsageEvent;

/// COPY text format; fields were checked to hold no control characters, so
/// only the backslash needs escaping.
fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
}

/// One event as a line of `COPY … FROM STDIN` text.
pub(super) fn copy_line(e: &UsageEvent) -> String {
    let mut line = String::with_capacity(160);
    escape(&e.source, &mut line);
    line.push('\t');
    escape(&e.id, &mut line);
    let _ = write!(
        line,
        "\t{}\t{}\t{}\t",
        e.organization_id,
        e.resource_id,
        e.meter.as_str()
    );
    escape(&e.dimension, &mut line);
    let _ = writeln!(
        line,
        "\t{}\t{}",
        e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        e.value
    );
    line
}

pub(super) async fn copy_events(conn: &mut PgConnection, data: String) -> Result<(), sqlx::Error> {
    let mut copy = conn
        .copy_in_raw(
            "COPY usage_events (source, event_id, organization_id, resource_id, meter, dimension, time, value) FROM STDIN",
        )
        .await?;
    copy.send(data.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}
