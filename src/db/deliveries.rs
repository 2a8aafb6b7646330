//! The `deliveries` table: the outgoing queue, one row per (activity, inbox), kept until delivered or given up.
//!
//! Workers claim due rows with a lease (`claimed_by`, `claimed_until`) that they renew while they work; a
//! process that dies (even `kill -9`) leaves leases that run out, and the rows are claimed again. On
//! PostgreSQL the claim skips rows another process has locked, so two processes never send the same row.

use sqlx::FromRow;

use super::{Backend, Db, json_param, now_ms};
use crate::error::Result;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// The `host[:port]` of an inbox URL, as deliveries and hosts are keyed.
pub fn host_of(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// Queues an activity to each inbox (inside the caller's transaction), in the given order. Duplicates are
/// ignored. One statement, the inboxes in one JSON parameter: on PostgreSQL a fan-out's cost was round trips,
/// and multi-row `VALUES` lists made SQLite look up thousands of `$N` names.
pub async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    activity_id: i64,
    inboxes: &[String],
) -> Result<usize> {
    #[derive(serde::Serialize)]
    struct Row<'a> {
        i: &'a str,
        h: String,
    }
    let rows: Vec<Row> = inboxes
        .iter()
        .filter_map(|inbox| match url::Url::parse(inbox) {
            Ok(url) => Some(Row {
                i: inbox,
                h: host_of(&url),
            }),
            Err(_) => {
                tracing::warn!(%inbox, "not queueing a delivery to an invalid inbox URL");
                None
            }
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    // Rows are inserted (and so numbered, and claimed) in the order of the array.
    let source = match Backend::of(tx) {
        Backend::Sqlite => {
            "SELECT $1, json_extract(value, '$.i'), json_extract(value, '$.h'), $3, $4 FROM json_each($2) \
             WHERE true ORDER BY key"
        }
        Backend::Postgres => {
            "SELECT $1, t.i, t.h, $3, $4 FROM ROWS FROM (json_to_recordset($2::json) AS (i text, h text)) \
             WITH ORDINALITY AS t(i, h, n) ORDER BY t.n"
        }
    };
    let sql = format!(
        "INSERT INTO deliveries (activity_id, inbox_url, host, next_attempt_at, created_at) {source} \
         ON CONFLICT (activity_id, inbox_url) DO NOTHING"
    );
    let now = now_ms();
    Ok(sqlx::query(&sql)
        .bind(activity_id)
        .bind(json_param(&rows)?)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected() as usize)
}

#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: i64,
    pub activity_id: i64,
    pub inbox_url: String,
    pub host: String,
    pub attempts: i64,
    pub created_at: i64,
    /// 1 when no other row of the host is due before its idle connection would be closed anyway.
    pub last_of_host: i64,
}

/// Claims up to `limit` due rows for `worker` until `lease_until`, skipping `busy_hosts`.
///
/// A claimed row is not due again before its lease ends: `next_attempt_at` moves to `lease_until` with the
/// lease. The rows in flight then lie outside the range of `deliveries_due` that the next claim walks,
/// instead of being read and skipped by every claim (hundreds of rows per claim during a fan-out). After a
/// crash, the lease and the due time end together and the row is claimed again.
///
/// Each row says whether it is its host's last for now (`last_of_host`): no other pending row of the host is
/// due before an idle connection to it would be closed. The sender then closes that connection at once
/// instead of leaving it idle (~21 KB of buffers each; B2's 1,000 hosts held 30 MiB). The `+` before
/// `o.next_attempt_at` keeps SQLite on the `(host, state)` index: on `deliveries_due` it walked every due
/// row for each row returned, which cost B2 15% of its rate. Rows claimed in the same statement count as
/// pending on PostgreSQL (its snapshot) and not on SQLite; either way at most one connection too many is
/// closed or kept.
pub async fn claim(
    db: &Db,
    worker: &str,
    limit: i64,
    lease_until: i64,
    busy_hosts: &[String],
) -> Result<Vec<Claimed>> {
    let now = now_ms();
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    // The busy hosts are one JSON parameter: one statement text, whatever their number.
    let sql = format!(
        "UPDATE deliveries SET claimed_by = $1, claimed_until = $2, next_attempt_at = $2 WHERE id IN (\
         SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $3 \
         AND (claimed_until IS NULL OR claimed_until < $4) AND host NOT IN ({}) \
         ORDER BY next_attempt_at, id LIMIT $6{lock}) \
         RETURNING id, activity_id, inbox_url, host, attempts, created_at, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM deliveries o WHERE o.host = deliveries.host \
         AND o.state = 'pending' AND o.id <> deliveries.id AND +o.next_attempt_at <= $7) \
         THEN 0 ELSE 1 END AS BIGINT) AS last_of_host",
        db.json_texts(5)
    );
    Ok(sqlx::query_as::<_, Claimed>(&sql)
        .bind(worker)
        .bind(lease_until)
        .bind(now)
        .bind(now)
        .bind(json_param(busy_hosts)?)
        .bind(limit)
        .bind(now + crate::federation::fetch::IDLE_TIMEOUT.as_millis() as i64)
        .fetch_all(&db.pool)
        .await?)
}

/// The JSON and signing actor of an activity.
pub async fn payload(db: &Db, activity_id: i64) -> Result<Option<(i64, String)>> {
    Ok(
        sqlx::query_as::<_, (i64, String)>("SELECT actor_id, json FROM activities WHERE id = $1")
            .bind(activity_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn mark_delivered(db: &Db, id: i64, status: i64) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $1, last_error = NULL, \
         done_at = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $3",
    )
    .bind(status)
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A failed attempt to be tried again at `next_attempt_at`.
pub async fn mark_retry(
    db: &Db,
    id: i64,
    status: Option<i64>,
    error: &str,
    next_attempt_at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET attempts = attempts + 1, last_status = $1, last_error = $2, next_attempt_at = $3, \
         claimed_by = NULL, claimed_until = NULL WHERE id = $4",
    )
    .bind(status)
    .bind(error)
    .bind(next_attempt_at)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A delivery given up for good.
pub async fn mark_failed(db: &Db, id: i64, status: Option<i64>, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, last_status = $1, last_error = $2, \
         done_at = $3, claimed_by = NULL, claimed_until = NULL WHERE id = $4",
    )
    .bind(status)
    .bind(error)
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Extends the leases of every row this worker holds.
pub async fn renew_leases(db: &Db, worker: &str, lease_until: i64) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET claimed_until = $1, next_attempt_at = $1 WHERE claimed_by = $2 AND state = 'pending'",
    )
    .bind(lease_until)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Gives back every row this worker holds (on shutdown), so another process or the next start sends them.
pub async fn release(db: &Db, worker: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL, next_attempt_at = $1 \
         WHERE claimed_by = $2 AND state = 'pending'",
    )
    .bind(now_ms())
    .bind(worker)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Several successful sends at once (`(id, status)`), in one statement per distinct status.
pub async fn mark_delivered_many(db: &Db, rows: &[(i64, i64)]) -> Result<()> {
    let now = now_ms();
    let mut statuses: Vec<i64> = rows.iter().map(|r| r.1).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let ids: Vec<i64> = rows.iter().filter(|r| r.1 == status).map(|r| r.0).collect();
        let sql = format!(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $1, \
             last_error = NULL, done_at = $2, claimed_by = NULL, claimed_until = NULL WHERE id IN ({})",
            db.json_ints(3)
        );
        sqlx::query(&sql)
            .bind(status)
            .bind(now)
            .bind(json_param(&ids)?)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// Pushes the unclaimed pending rows of a host that could not be reached to `next_attempt_at` (not sooner
/// than they already were), without counting an attempt.
pub async fn defer_host(db: &Db, host: &str, next_attempt_at: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $1 WHERE host = $2 AND state = 'pending' \
         AND (claimed_until IS NULL OR claimed_until < $3) AND next_attempt_at < $4",
    )
    .bind(next_attempt_at)
    .bind(host)
    .bind(now_ms())
    .bind(next_attempt_at)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Holds back the unclaimed due rows of `hosts` until `until`, without counting an attempt: the hosts have
/// a send in flight that has not finished for a while, and their other rows would otherwise sit at the head
/// of the queue, read and skipped by every claim. Returns the rows held.
pub async fn park_hosts(db: &Db, hosts: &[String], until: i64) -> Result<u64> {
    if hosts.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE deliveries SET next_attempt_at = $1 WHERE host IN ({}) AND state = 'pending' \
         AND next_attempt_at < $1 AND (claimed_until IS NULL OR claimed_until < $3)",
        db.json_texts(2)
    );
    Ok(sqlx::query(&sql)
        .bind(until)
        .bind(json_param(hosts)?)
        .bind(now_ms())
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Makes the rows of `host` held back by [`park_hosts`] until `until` due now (its send finished). Rows
/// whose due time changed since (a retry, a deferral) are left alone.
pub async fn unpark_host(db: &Db, host: &str, until: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $1 WHERE host = $2 AND state = 'pending' \
         AND next_attempt_at = $3 AND claimed_by IS NULL",
    )
    .bind(now_ms())
    .bind(host)
    .bind(until)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Gives back claimed rows without counting an attempt.
pub async fn release_ids(db: &Db, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL, next_attempt_at = $1 WHERE id IN ({})",
        db.json_ints(2)
    );
    sqlx::query(&sql)
        .bind(now_ms())
        .bind(json_param(ids)?)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Gives back one claimed row without counting an attempt.
pub async fn release_one(db: &Db, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL, next_attempt_at = $1 WHERE id = $2",
    )
    .bind(now_ms())
    .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Per host: pending, failed (given up) and delivered counts, with the last error and its time.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct HostStats {
    pub host: String,
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
    pub last_error: Option<String>,
    pub unavailable_since: Option<i64>,
}

pub async fn stats(db: &Db) -> Result<Vec<HostStats>> {
    Ok(sqlx::query_as::<_, HostStats>(
        "SELECT d.host AS host, \
         COUNT(*) FILTER (WHERE d.state = 'pending') AS pending, \
         COUNT(*) FILTER (WHERE d.state = 'failed') AS failed, \
         COUNT(*) FILTER (WHERE d.state = 'delivered') AS delivered, \
         (SELECT d2.last_error FROM deliveries d2 WHERE d2.host = d.host AND d2.last_error IS NOT NULL \
          ORDER BY d2.id DESC LIMIT 1) AS last_error, \
         (SELECT h.unavailable_since FROM hosts h WHERE h.host = d.host) AS unavailable_since \
         FROM deliveries d GROUP BY d.host ORDER BY d.host",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// Rows not yet done (pending), for tests and shutdown reports.
pub async fn count_pending(db: &Db) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
            .fetch_one(&db.pool)
            .await?,
    )
}

/// The earliest time a pending row becomes due, if any.
pub async fn next_due(db: &Db) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'",
    )
    .fetch_one(&db.pool)
    .await?)
}
