//! The `interactions` table: likes and boosts (Announce) of posts.

use super::{Db, now_ms};
use crate::error::Result;

pub const LIKE: &str = "Like";
pub const ANNOUNCE: &str = "Announce";

/// Records a like or boost; the same actor liking the same post twice counts once.
pub async fn add(
    tx: &mut sqlx::AnyConnection,
    ap_id: &str,
    kind: &str,
    actor_id: i64,
    post_id: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO interactions (ap_id, kind, actor_id, post_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(ap_id)
    .bind(kind)
    .bind(actor_id)
    .bind(post_id)
    .bind(now_ms())
    .execute(tx)
    .await?;
    Ok(())
}

/// Removes a like or boost by its activity id, or else by (actor, post). Returns whether one was removed.
pub async fn remove(
    tx: &mut sqlx::AnyConnection,
    kind: &str,
    ap_id: &str,
    actor_id: i64,
    post_id: Option<i64>,
) -> Result<bool> {
    let by_id =
        sqlx::query("DELETE FROM interactions WHERE kind = $1 AND ap_id = $2 AND actor_id = $3")
            .bind(kind)
            .bind(ap_id)
            .bind(actor_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if by_id > 0 {
        return Ok(true);
    }
    let Some(post_id) = post_id else {
        return Ok(false);
    };
    Ok(
        sqlx::query("DELETE FROM interactions WHERE kind = $1 AND actor_id = $2 AND post_id = $3")
            .bind(kind)
            .bind(actor_id)
            .bind(post_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0,
    )
}

pub async fn count(db: &Db, post_id: i64, kind: &str) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM interactions WHERE post_id = $1 AND kind = $2",
    )
    .bind(post_id)
    .bind(kind)
    .fetch_one(&db.pool)
    .await?)
}

/// Ids of the actors who liked / boosted a post.
pub async fn actor_ids(db: &Db, post_id: i64, kind: &str, limit: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT a.ap_id FROM interactions i JOIN actors a ON a.id = i.actor_id \
         WHERE i.post_id = $1 AND i.kind = $2 ORDER BY i.id LIMIT $3",
    )
    .bind(post_id)
    .bind(kind)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// The activity id of an actor's like or boost of a post, if there is one.
pub async fn find(db: &Db, kind: &str, actor_id: i64, post_id: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT ap_id FROM interactions WHERE kind = $1 AND actor_id = $2 AND post_id = $3",
    )
    .bind(kind)
    .bind(actor_id)
    .bind(post_id)
    .fetch_optional(&db.pool)
    .await?)
}
