//! The `follows` table: who follows whom, pending or accepted.

use super::Db;
use crate::error::Result;

/// Accepted followers of an actor.
pub async fn count_followers(db: &Db, actor_id: i64) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM follows WHERE followee_id = $1 AND accepted = 1",
    )
    .bind(actor_id)
    .fetch_one(&db.pool)
    .await?)
}

/// Accepted follows made by an actor.
pub async fn count_following(db: &Db, actor_id: i64) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM follows WHERE follower_id = $1 AND accepted = 1",
    )
    .bind(actor_id)
    .fetch_one(&db.pool)
    .await?)
}

/// One page of the ids of an actor's accepted followers, newest first.
pub async fn follower_ids(db: &Db, actor_id: i64, limit: i64, offset: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT a.ap_id FROM follows f JOIN actors a ON a.id = f.follower_id \
         WHERE f.followee_id = $1 AND f.accepted = 1 ORDER BY f.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(actor_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?)
}

/// One page of the ids of the actors an actor follows (accepted), newest first.
pub async fn following_ids(db: &Db, actor_id: i64, limit: i64, offset: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT a.ap_id FROM follows f JOIN actors a ON a.id = f.followee_id \
         WHERE f.follower_id = $1 AND f.accepted = 1 ORDER BY f.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(actor_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?)
}
