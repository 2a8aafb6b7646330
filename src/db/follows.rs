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

use sqlx::FromRow;

use super::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct FollowRow {
    pub id: i64,
    pub ap_id: Option<String>,
    pub follower_id: i64,
    pub followee_id: i64,
    pub accepted: i64,
    pub created_at: i64,
    pub accepted_at: Option<i64>,
}

/// Records a follow (or refreshes its activity id when it is asked again). Returns the row.
pub async fn upsert(
    tx: &mut sqlx::AnyConnection,
    ap_id: &str,
    follower_id: i64,
    followee_id: i64,
    accepted: bool,
) -> Result<FollowRow> {
    let now = now_ms();
    Ok(sqlx::query_as::<_, FollowRow>(
        "INSERT INTO follows (ap_id, follower_id, followee_id, accepted, created_at, accepted_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (follower_id, followee_id) DO UPDATE SET ap_id = excluded.ap_id, \
         accepted = CASE WHEN follows.accepted = 1 THEN 1 ELSE excluded.accepted END, \
         accepted_at = COALESCE(follows.accepted_at, excluded.accepted_at) \
         RETURNING *",
    )
    .bind(ap_id)
    .bind(follower_id)
    .bind(followee_id)
    .bind(accepted as i64)
    .bind(now)
    .bind(accepted.then_some(now))
    .fetch_one(tx)
    .await?)
}

pub async fn find(db: &Db, follower_id: i64, followee_id: i64) -> Result<Option<FollowRow>> {
    Ok(sqlx::query_as::<_, FollowRow>(
        "SELECT * FROM follows WHERE follower_id = $1 AND followee_id = $2",
    )
    .bind(follower_id)
    .bind(followee_id)
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn find_by_ap_id(db: &Db, ap_id: &str) -> Result<Option<FollowRow>> {
    Ok(
        sqlx::query_as::<_, FollowRow>("SELECT * FROM follows WHERE ap_id = $1")
            .bind(ap_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn accept(db: &Db, id: i64) -> Result<()> {
    sqlx::query("UPDATE follows SET accepted = 1, accepted_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Removes a follow; returns whether there was one.
pub async fn remove(db: &Db, follower_id: i64, followee_id: i64) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(follower_id)
            .bind(followee_id)
            .execute(&db.pool)
            .await?
            .rows_affected()
            > 0,
    )
}

/// The distinct inboxes that reach every accepted remote follower of a local actor: the shared inbox where a
/// server has one, the personal inbox otherwise.
pub async fn follower_inboxes(tx: &mut sqlx::AnyConnection, actor_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT COALESCE(a.shared_inbox_url, a.inbox_url) FROM follows f \
         JOIN actors a ON a.id = f.follower_id \
         WHERE f.followee_id = $1 AND f.accepted = 1 AND a.local = 0 AND a.deleted_at IS NULL",
    )
    .bind(actor_id)
    .fetch_all(tx)
    .await?)
}

/// How many accepted remote followers a local actor has (an upper bound of [`follower_inboxes`]'s length,
/// read from the index alone).
pub async fn count_remote_followers(tx: &mut sqlx::AnyConnection, actor_id: i64) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM follows WHERE followee_id = $1 AND accepted = 1",
    )
    .bind(actor_id)
    .fetch_one(tx)
    .await?)
}

/// (follow row, follower ap_id) of a local actor's followers; pending only or accepted only.
pub async fn list_followers(db: &Db, actor_id: i64, pending: bool) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as::<_, (String, i64)>(
        "SELECT a.ap_id, f.created_at FROM follows f JOIN actors a ON a.id = f.follower_id \
         WHERE f.followee_id = $1 AND f.accepted = $2 ORDER BY f.id",
    )
    .bind(actor_id)
    .bind((!pending) as i64)
    .fetch_all(&db.pool)
    .await?)
}

/// Removes the follows of remote followers whose personal inbox is `inbox` (it answered 410 Gone).
pub async fn remove_followers_with_inbox(db: &Db, inbox: &str) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM follows WHERE follower_id IN (SELECT id FROM actors WHERE local = 0 AND inbox_url = $1)",
    )
    .bind(inbox)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Whether any local actor follows (accepted) this remote actor.
pub async fn has_local_follower(db: &Db, actor_id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM follows f JOIN actors a ON a.id = f.follower_id \
         WHERE f.followee_id = $1 AND f.accepted = 1 AND a.local = 1 LIMIT 1",
    )
    .bind(actor_id)
    .fetch_optional(&db.pool)
    .await?
    .is_some())
}
