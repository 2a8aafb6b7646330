//! The `hosts` table: the health of each remote host we deliver to.

use super::{Db, now_ms};
use crate::error::Result;

/// A host failing for this long is marked unavailable.
pub const UNAVAILABLE_AFTER_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// A success (a delivery answered 2xx, or a valid activity received) clears failure and unavailability.
pub async fn record_success(db: &Db, host: &str) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO hosts (host, last_success_at) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET \
         last_success_at = excluded.last_success_at, failing_since = NULL, unavailable_since = NULL",
    )
    .bind(host)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A failed delivery. A host whose failures started more than 7 days ago becomes unavailable.
pub async fn record_failure(db: &Db, host: &str, error: &str) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO hosts (host, failing_since, last_failure_at, last_error) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (host) DO UPDATE SET \
         failing_since = COALESCE(hosts.failing_since, excluded.failing_since), \
         last_failure_at = excluded.last_failure_at, last_error = excluded.last_error, \
         unavailable_since = CASE WHEN COALESCE(hosts.failing_since, excluded.failing_since) <= $5 \
           THEN COALESCE(hosts.unavailable_since, excluded.last_failure_at) ELSE NULL END",
    )
    .bind(host)
    .bind(now)
    .bind(now)
    .bind(error)
    .bind(now - UNAVAILABLE_AFTER_MS)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn is_unavailable(db: &Db, host: &str) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM hosts WHERE host = $1 AND unavailable_since IS NOT NULL",
    )
    .bind(host)
    .fetch_optional(&db.pool)
    .await?
    .is_some())
}
