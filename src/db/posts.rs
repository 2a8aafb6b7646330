//! The `posts` table: notes (and later events), local and remote.

use super::Db;
use crate::error::Result;

/// Posts that are not deleted, by a local actor that is neither suspended nor deleted.
pub async fn count_local(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM posts p JOIN actors a ON a.id = p.author_id \
         WHERE p.local = 1 AND p.deleted_at IS NULL AND a.suspended_at IS NULL AND a.deleted_at IS NULL",
    )
    .fetch_one(&db.pool)
    .await?)
}

/// Public posts of an actor (what its outbox lists).
pub async fn count_public_by_author(db: &Db, author_id: i64) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND visibility = 'public'",
    )
    .bind(author_id)
    .fetch_one(&db.pool)
    .await?)
}

/// One page of an actor's public post ids, newest first.
pub async fn public_ids_by_author(
    db: &Db,
    author_id: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT ap_id FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND visibility = 'public' \
         ORDER BY published_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(author_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?)
}

/// Ids of an actor's pinned public posts, most recently pinned first.
pub async fn pinned_ids_by_author(db: &Db, author_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT ap_id FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND pinned_at IS NOT NULL \
         AND visibility = 'public' ORDER BY pinned_at DESC",
    )
    .bind(author_id)
    .fetch_all(&db.pool)
    .await?)
}
