//! Fan-out jobs: an activity to be queued to every accepted remote follower of a local actor, written in the
//! transaction of what caused it when the followers are many, and expanded into `deliveries` rows afterwards
//! (`federation::delivery`). Expanding is idempotent (`deliveries` is unique per activity and inbox), so a
//! job whose expansion was cut short is simply expanded again.

use sqlx::FromRow;

use super::{Backend, Db, now_ms};
use crate::error::Result;

#[derive(Debug, Clone, FromRow)]
pub struct Fanout {
    pub id: i64,
    pub activity_id: i64,
    pub followers_of: i64,
}

/// Queues a fan-out job inside `tx`.
pub async fn insert(
    tx: &mut sqlx::AnyConnection,
    activity_id: i64,
    followers_of: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO fanouts (activity_id, followers_of, created_at) VALUES ($1, $2, $3)")
        .bind(activity_id)
        .bind(followers_of)
        .bind(now_ms())
        .execute(tx)
        .await?;
    Ok(())
}

/// Takes the oldest job no one holds, until `lease_until`.
pub async fn claim(db: &Db, lease_until: i64) -> Result<Option<Fanout>> {
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE fanouts SET claimed_until = $1 WHERE id = (SELECT id FROM fanouts \
         WHERE claimed_until IS NULL OR claimed_until < $2 ORDER BY id LIMIT 1{lock}) \
         RETURNING id, activity_id, followers_of"
    );
    Ok(sqlx::query_as::<_, Fanout>(&sql)
        .bind(lease_until)
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await?)
}

/// Extends the lease of a job being expanded, inside `tx`.
pub async fn renew(tx: &mut sqlx::AnyConnection, id: i64, lease_until: i64) -> Result<()> {
    sqlx::query("UPDATE fanouts SET claimed_until = $1 WHERE id = $2")
        .bind(lease_until)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Gives a job back (on shutdown), so that the next start expands it at once.
pub async fn release(db: &Db, id: i64) -> Result<()> {
    sqlx::query("UPDATE fanouts SET claimed_until = NULL WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Removes a job that is fully expanded, inside `tx`.
pub async fn delete(tx: &mut sqlx::AnyConnection, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM fanouts WHERE id = $1")
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Jobs not yet expanded.
pub async fn count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM fanouts")
        .fetch_one(&db.pool)
        .await?)
}
