//! The `activities` table: every activity we send, stored once, and served at its id.

use sqlx::FromRow;

use super::{Db, now_ms};
use crate::error::Result;

#[derive(Debug, Clone, FromRow)]
pub struct ActivityRow {
    pub id: i64,
    pub ap_id: String,
    pub actor_id: i64,
    pub kind: String,
    pub object_ap_id: Option<String>,
    pub json: String,
    pub created_at: i64,
}

/// Inserts an activity within a transaction; returns its row id.
pub async fn insert(
    tx: &mut sqlx::AnyConnection,
    ap_id: &str,
    actor_id: i64,
    kind: &str,
    object_ap_id: Option<&str>,
    json: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "INSERT INTO activities (ap_id, actor_id, kind, object_ap_id, json, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(ap_id)
    .bind(actor_id)
    .bind(kind)
    .bind(object_ap_id)
    .bind(json)
    .bind(now_ms())
    .fetch_one(tx)
    .await?)
}

pub async fn find_by_ap_id(db: &Db, ap_id: &str) -> Result<Option<ActivityRow>> {
    Ok(
        sqlx::query_as::<_, ActivityRow>("SELECT * FROM activities WHERE ap_id = $1")
            .bind(ap_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}
