//! The `events` table (calendar data of posts of kind `Event`) and `event_participants`.

use sqlx::FromRow;

use super::{Db, now_ms};
use crate::error::Result;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct EventRow {
    pub post_id: i64,
    pub name: String,
    pub description: String,
    pub start_at: i64,
    pub end_at: Option<i64>,
    pub timezone: String,
    pub location_name: Option<String>,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub status: String,
    pub join_mode: String,
    pub banner_url: Option<String>,
    pub sequence: i64,
    pub participant_count: i64,
}

pub const CONFIRMED: &str = "confirmed";
pub const CANCELLED: &str = "cancelled";

/// Inserts or replaces the calendar data of a post (replacing bumps `sequence`).
pub async fn upsert(tx: &mut sqlx::AnyConnection, e: &EventRow) -> Result<EventRow> {
    Ok(sqlx::query_as::<_, EventRow>(
        "INSERT INTO events (post_id, name, description, start_at, end_at, timezone, location_name, address, \
         latitude, longitude, status, join_mode, banner_url, sequence, participant_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CAST($9 AS DOUBLE PRECISION), CAST($10 AS DOUBLE PRECISION), \
         $11, $12, $13, $14, $15) \
         ON CONFLICT (post_id) DO UPDATE SET name = excluded.name, description = excluded.description, \
         start_at = excluded.start_at, end_at = excluded.end_at, timezone = excluded.timezone, \
         location_name = excluded.location_name, address = excluded.address, latitude = excluded.latitude, \
         longitude = excluded.longitude, status = excluded.status, join_mode = excluded.join_mode, \
         banner_url = excluded.banner_url, sequence = events.sequence + 1, \
         participant_count = excluded.participant_count \
         RETURNING *",
    )
    .bind(e.post_id)
    .bind(&e.name)
    .bind(&e.description)
    .bind(e.start_at)
    .bind(e.end_at)
    .bind(&e.timezone)
    .bind(&e.location_name)
    .bind(&e.address)
    .bind(super::f64_param(e.latitude))
    .bind(super::f64_param(e.longitude))
    .bind(&e.status)
    .bind(&e.join_mode)
    .bind(&e.banner_url)
    .bind(e.sequence)
    .bind(e.participant_count)
    .fetch_one(tx)
    .await?)
}

pub async fn find(db: &Db, post_id: i64) -> Result<Option<EventRow>> {
    Ok(
        sqlx::query_as::<_, EventRow>("SELECT * FROM events WHERE post_id = $1")
            .bind(post_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// (post id, event) of an actor's events that end (or start, without an end) after `after_ms`, soonest first.
pub async fn upcoming_by_author(
    db: &Db,
    author_id: i64,
    after_ms: i64,
    limit: i64,
) -> Result<Vec<EventRow>> {
    Ok(sqlx::query_as::<_, EventRow>(
        "SELECT e.* FROM events e JOIN posts p ON p.id = e.post_id \
         WHERE p.author_id = $1 AND p.deleted_at IS NULL AND p.visibility IN ('public', 'unlisted') \
         AND COALESCE(e.end_at, e.start_at) >= $2 ORDER BY e.start_at LIMIT $3",
    )
    .bind(author_id)
    .bind(after_ms)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// Adds a participant; returns false when already there.
pub async fn add_participant(
    tx: &mut sqlx::AnyConnection,
    post_id: i64,
    actor_id: i64,
    join_ap_id: Option<&str>,
) -> Result<bool> {
    let added = sqlx::query(
        "INSERT INTO event_participants (post_id, actor_id, join_ap_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (post_id, actor_id) DO NOTHING",
    )
    .bind(post_id)
    .bind(actor_id)
    .bind(join_ap_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if added {
        recount(tx, post_id).await?;
    }
    Ok(added)
}

/// Removes a participant; returns whether there was one.
pub async fn remove_participant(
    tx: &mut sqlx::AnyConnection,
    post_id: i64,
    actor_id: i64,
) -> Result<bool> {
    let removed =
        sqlx::query("DELETE FROM event_participants WHERE post_id = $1 AND actor_id = $2")
            .bind(post_id)
            .bind(actor_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
    if removed {
        recount(tx, post_id).await?;
    }
    Ok(removed)
}

async fn recount(tx: &mut sqlx::AnyConnection, post_id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE events SET participant_count = (SELECT COUNT(*) FROM event_participants WHERE post_id = $1) \
         WHERE post_id = $2",
    )
    .bind(post_id)
    .bind(post_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Ids of the actors taking part in an event.
pub async fn participant_ids(db: &Db, post_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT a.ap_id FROM event_participants p JOIN actors a ON a.id = p.actor_id WHERE p.post_id = $1 ORDER BY p.id",
    )
    .bind(post_id)
    .fetch_all(&db.pool)
    .await?)
}

/// The event a Join activity id refers to, for `Undo(Join)` by id.
pub async fn find_participation(db: &Db, join_ap_id: &str) -> Result<Option<(i64, i64)>> {
    Ok(sqlx::query_as::<_, (i64, i64)>(
        "SELECT post_id, actor_id FROM event_participants WHERE join_ap_id = $1",
    )
    .bind(join_ap_id)
    .fetch_optional(&db.pool)
    .await?)
}
