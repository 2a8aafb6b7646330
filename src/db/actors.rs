//! The `actors` table: local actors (with their key pairs) and, later, cached remote ones.

use sqlx::FromRow;

use super::{Db, is_unique_violation, now_ms};
use crate::error::{Error, Result};

/// One row of `actors`, as stored. Flags are 0/1 integers (portable between SQLite and PostgreSQL).
#[derive(Debug, Clone, FromRow)]
pub struct ActorRow {
    pub id: i64,
    pub ap_id: String,
    pub local: i64,
    pub kind: String,
    pub username: String,
    pub username_lower: String,
    pub domain: String,
    pub display_name: String,
    pub summary: String,
    pub fields: String,
    pub avatar_url: Option<String>,
    pub header_url: Option<String>,
    pub profile_url: Option<String>,
    pub inbox_url: String,
    pub shared_inbox_url: Option<String>,
    pub followers_url: Option<String>,
    pub manually_approves_followers: i64,
    pub discoverable: i64,
    pub public_key_id: String,
    pub public_key_pem: String,
    pub private_key_pem: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub fetched_at: Option<i64>,
    pub suspended_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

impl ActorRow {
    pub fn is_local(&self) -> bool {
        self.local != 0
    }
    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// What is needed to insert a local actor.
#[derive(Debug, Clone)]
pub struct NewLocalActor {
    pub ap_id: String,
    pub kind: String,
    pub username: String,
    pub domain: String,
    pub display_name: String,
    pub summary: String,
    pub fields: String,
    pub avatar_url: Option<String>,
    pub header_url: Option<String>,
    pub profile_url: String,
    pub inbox_url: String,
    pub shared_inbox_url: String,
    pub followers_url: String,
    pub manually_approves_followers: bool,
    pub discoverable: bool,
    pub public_key_id: String,
    pub public_key_pem: String,
    pub private_key_pem: String,
}

/// The editable profile of a local actor, written whole.
#[derive(Debug, Clone)]
pub struct Profile {
    pub display_name: String,
    pub summary: String,
    pub fields: String,
    pub avatar_url: Option<String>,
    pub header_url: Option<String>,
    pub manually_approves_followers: bool,
    pub discoverable: bool,
}

pub async fn insert_local(db: &Db, a: &NewLocalActor) -> Result<ActorRow> {
    let now = now_ms();
    let row = sqlx::query_as::<_, ActorRow>(
        "INSERT INTO actors (ap_id, local, kind, username, username_lower, domain, display_name, summary, fields, \
         avatar_url, header_url, profile_url, inbox_url, shared_inbox_url, followers_url, \
         manually_approves_followers, discoverable, public_key_id, public_key_pem, private_key_pem, created_at, updated_at) \
         VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
         RETURNING *",
    )
    .bind(&a.ap_id)
    .bind(&a.kind)
    .bind(&a.username)
    .bind(a.username.to_lowercase())
    .bind(&a.domain)
    .bind(&a.display_name)
    .bind(&a.summary)
    .bind(&a.fields)
    .bind(&a.avatar_url)
    .bind(&a.header_url)
    .bind(&a.profile_url)
    .bind(&a.inbox_url)
    .bind(&a.shared_inbox_url)
    .bind(&a.followers_url)
    .bind(a.manually_approves_followers as i64)
    .bind(a.discoverable as i64)
    .bind(&a.public_key_id)
    .bind(&a.public_key_pem)
    .bind(&a.private_key_pem)
    .bind(now)
    .bind(now)
    .fetch_one(&db.pool)
    .await;
    match row {
        Ok(row) => Ok(row),
        Err(e) if is_unique_violation(&e) => Err(Error::conflict(format!(
            "the username {} is taken (usernames are unique ignoring case and never reused)",
            a.username
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A local actor by username, ignoring case; suspended and deleted ones included.
pub async fn find_local(db: &Db, username: &str) -> Result<Option<ActorRow>> {
    Ok(sqlx::query_as::<_, ActorRow>(
        "SELECT * FROM actors WHERE local = 1 AND username_lower = $1",
    )
    .bind(username.to_lowercase())
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn find_by_ap_id(db: &Db, ap_id: &str) -> Result<Option<ActorRow>> {
    Ok(
        sqlx::query_as::<_, ActorRow>("SELECT * FROM actors WHERE ap_id = $1")
            .bind(ap_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Every local actor, oldest first; deleted ones included.
pub async fn list_local(db: &Db) -> Result<Vec<ActorRow>> {
    Ok(
        sqlx::query_as::<_, ActorRow>("SELECT * FROM actors WHERE local = 1 ORDER BY id")
            .fetch_all(&db.pool)
            .await?,
    )
}

pub async fn update_profile(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    p: &Profile,
) -> Result<ActorRow> {
    Ok(sqlx::query_as::<_, ActorRow>(
        "UPDATE actors SET display_name = $1, summary = $2, fields = $3, avatar_url = $4, header_url = $5, \
         manually_approves_followers = $6, discoverable = $7, updated_at = $8 WHERE id = $9 RETURNING *",
    )
    .bind(&p.display_name)
    .bind(&p.summary)
    .bind(&p.fields)
    .bind(&p.avatar_url)
    .bind(&p.header_url)
    .bind(p.manually_approves_followers as i64)
    .bind(p.discoverable as i64)
    .bind(now_ms())
    .bind(id)
    .fetch_one(tx)
    .await?)
}

/// Sets (`Some(now)`) or clears (`None`) the suspension mark.
pub async fn set_suspended(db: &Db, id: i64, suspended_at: Option<i64>) -> Result<ActorRow> {
    Ok(sqlx::query_as::<_, ActorRow>(
        "UPDATE actors SET suspended_at = $1, updated_at = $2 WHERE id = $3 RETURNING *",
    )
    .bind(suspended_at)
    .bind(now_ms())
    .bind(id)
    .fetch_one(&db.pool)
    .await?)
}

/// Marks a local actor deleted and wipes its profile and follows (inside `tx`). The row stays so the name is
/// never reused and the actor's id keeps answering with a Tombstone; the key pair stays so the deletion itself
/// can be signed.
pub async fn mark_deleted(tx: &mut sqlx::AnyConnection, id: i64) -> Result<ActorRow> {
    let now = now_ms();
    sqlx::query("DELETE FROM follows WHERE follower_id = $1 OR followee_id = $2")
        .bind(id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(sqlx::query_as::<_, ActorRow>(
        "UPDATE actors SET deleted_at = $1, updated_at = $2, display_name = '', summary = '', fields = '[]', \
         avatar_url = NULL, header_url = NULL WHERE id = $3 RETURNING *",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?)
}

pub async fn set_keys(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    public_key_pem: &str,
    private_key_pem: &str,
) -> Result<ActorRow> {
    Ok(sqlx::query_as::<_, ActorRow>(
        "UPDATE actors SET public_key_pem = $1, private_key_pem = $2, updated_at = $3 WHERE id = $4 RETURNING *",
    )
    .bind(public_key_pem)
    .bind(private_key_pem)
    .bind(now_ms())
    .bind(id)
    .fetch_one(tx)
    .await?)
}

/// Local actors that are neither suspended nor deleted.
pub async fn count_active_local(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM actors WHERE local = 1 AND suspended_at IS NULL AND deleted_at IS NULL",
    )
    .fetch_one(&db.pool)
    .await?)
}

/// Local, active actors that published something since `since_ms`.
pub async fn count_posting_local_since(db: &Db, since_ms: i64) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM actors a WHERE a.local = 1 AND a.suspended_at IS NULL AND a.deleted_at IS NULL \
         AND EXISTS (SELECT 1 FROM posts p WHERE p.author_id = a.id AND p.published_at >= $1)",
    )
    .bind(since_ms)
    .fetch_one(&db.pool)
    .await?)
}

/// A remote actor as parsed from its document.
#[derive(Debug, Clone)]
pub struct RemoteActor {
    pub ap_id: String,
    pub kind: String,
    pub username: String,
    pub domain: String,
    pub display_name: String,
    pub summary: String,
    pub avatar_url: Option<String>,
    pub header_url: Option<String>,
    pub profile_url: Option<String>,
    pub inbox_url: String,
    pub shared_inbox_url: Option<String>,
    pub followers_url: Option<String>,
    pub manually_approves_followers: bool,
    pub discoverable: bool,
    pub public_key_id: String,
    pub public_key_pem: String,
}

/// Inserts or refreshes a cached remote actor; returns the stored row. A local actor is never overwritten.
pub async fn upsert_remote(db: &Db, a: &RemoteActor) -> Result<ActorRow> {
    let now = now_ms();
    let row = sqlx::query_as::<_, ActorRow>(
        "INSERT INTO actors (ap_id, local, kind, username, username_lower, domain, display_name, summary, fields, \
         avatar_url, header_url, profile_url, inbox_url, shared_inbox_url, followers_url, \
         manually_approves_followers, discoverable, public_key_id, public_key_pem, created_at, updated_at, fetched_at) \
         VALUES ($1, 0, $2, $3, $4, $5, $6, $7, '[]', $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
         ON CONFLICT (ap_id) DO UPDATE SET kind = excluded.kind, username = excluded.username, \
         username_lower = excluded.username_lower, domain = excluded.domain, display_name = excluded.display_name, \
         summary = excluded.summary, avatar_url = excluded.avatar_url, header_url = excluded.header_url, \
         profile_url = excluded.profile_url, inbox_url = excluded.inbox_url, \
         shared_inbox_url = excluded.shared_inbox_url, followers_url = excluded.followers_url, \
         manually_approves_followers = excluded.manually_approves_followers, discoverable = excluded.discoverable, \
         public_key_id = excluded.public_key_id, public_key_pem = excluded.public_key_pem, \
         updated_at = excluded.updated_at, fetched_at = excluded.fetched_at \
         WHERE actors.local = 0 \
         RETURNING *",
    )
    .bind(&a.ap_id)
    .bind(&a.kind)
    .bind(&a.username)
    .bind(a.username.to_lowercase())
    .bind(&a.domain)
    .bind(&a.display_name)
    .bind(&a.summary)
    .bind(&a.avatar_url)
    .bind(&a.header_url)
    .bind(&a.profile_url)
    .bind(&a.inbox_url)
    .bind(&a.shared_inbox_url)
    .bind(&a.followers_url)
    .bind(a.manually_approves_followers as i64)
    .bind(a.discoverable as i64)
    .bind(&a.public_key_id)
    .bind(&a.public_key_pem)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.ok_or_else(|| Error::conflict(format!("{} is a local actor", a.ap_id)))
}

/// The cached remote actor whose key has this id.
pub async fn find_by_key_id(db: &Db, key_id: &str) -> Result<Option<ActorRow>> {
    Ok(
        sqlx::query_as::<_, ActorRow>("SELECT * FROM actors WHERE public_key_id = $1 LIMIT 1")
            .bind(key_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn find_by_id(db: &Db, id: i64) -> Result<Option<ActorRow>> {
    Ok(
        sqlx::query_as::<_, ActorRow>("SELECT * FROM actors WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// A remote actor deleted itself: drop its follows, likes and boosts, and its posts' content.
pub async fn delete_remote(db: &Db, id: i64) -> Result<()> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    for sql in [
        "DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1",
        "DELETE FROM interactions WHERE actor_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    sqlx::query(
        "UPDATE posts SET deleted_at = $1, content = '', summary = NULL WHERE author_id = $2 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE actors SET deleted_at = $1, updated_at = $2 WHERE id = $3 AND local = 0")
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
