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

use sqlx::FromRow;

use super::now_ms;

#[derive(Debug, Clone, FromRow)]
pub struct PostRow {
    pub id: i64,
    pub ap_id: String,
    pub local: i64,
    pub kind: String,
    pub author_id: i64,
    pub content: String,
    pub source: Option<String>,
    pub summary: Option<String>,
    pub sensitive: i64,
    pub visibility: String,
    pub in_reply_to: Option<String>,
    pub parent_id: Option<i64>,
    pub context: Option<String>,
    pub url: Option<String>,
    pub published_at: i64,
    pub updated_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub pinned_at: Option<i64>,
    pub to_json: String,
    pub cc_json: String,
    pub tags_json: String,
    pub attachments_json: String,
}

impl PostRow {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// A post to store, local or remote.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub ap_id: String,
    pub local: bool,
    pub kind: String,
    pub author_id: i64,
    pub content: String,
    pub source: Option<String>,
    pub summary: Option<String>,
    pub sensitive: bool,
    pub visibility: String,
    pub in_reply_to: Option<String>,
    pub parent_id: Option<i64>,
    pub context: Option<String>,
    pub url: Option<String>,
    pub published_at: i64,
    pub to_json: String,
    pub cc_json: String,
    pub tags_json: String,
    pub attachments_json: String,
}

/// Inserts a post; a post whose id is already stored is left as it is (returns `None`).
pub async fn insert(tx: &mut sqlx::AnyConnection, p: &NewPost) -> Result<Option<PostRow>> {
    Ok(sqlx::query_as::<_, PostRow>(
        "INSERT INTO posts (ap_id, local, kind, author_id, content, source, summary, sensitive, visibility, \
         in_reply_to, parent_id, context, url, published_at, to_json, cc_json, tags_json, attachments_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (ap_id) DO NOTHING RETURNING *",
    )
    .bind(&p.ap_id)
    .bind(p.local as i64)
    .bind(&p.kind)
    .bind(p.author_id)
    .bind(&p.content)
    .bind(&p.source)
    .bind(&p.summary)
    .bind(p.sensitive as i64)
    .bind(&p.visibility)
    .bind(&p.in_reply_to)
    .bind(p.parent_id)
    .bind(&p.context)
    .bind(&p.url)
    .bind(p.published_at)
    .bind(&p.to_json)
    .bind(&p.cc_json)
    .bind(&p.tags_json)
    .bind(&p.attachments_json)
    .fetch_optional(tx)
    .await?)
}

pub async fn find_by_ap_id(db: &Db, ap_id: &str) -> Result<Option<PostRow>> {
    Ok(
        sqlx::query_as::<_, PostRow>("SELECT * FROM posts WHERE ap_id = $1")
            .bind(ap_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// A post by its web address (`url`), when that address is on the same origin as the post's id.
pub async fn find_by_url(db: &Db, url: &str) -> Result<Option<PostRow>> {
    let candidates = sqlx::query_as::<_, PostRow>("SELECT * FROM posts WHERE url = $1 LIMIT 5")
        .bind(url)
        .fetch_all(&db.pool)
        .await?;
    Ok(candidates
        .into_iter()
        .find(|p| crate::federation::resolve::same_origin(&p.ap_id, url)))
}

pub async fn find_by_id(db: &Db, id: i64) -> Result<Option<PostRow>> {
    Ok(
        sqlx::query_as::<_, PostRow>("SELECT * FROM posts WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Replaces the editable parts of a post.
pub async fn update_content(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    content: &str,
    source: Option<&str>,
    summary: Option<&str>,
    sensitive: bool,
    tags_json: &str,
) -> Result<PostRow> {
    Ok(sqlx::query_as::<_, PostRow>(
        "UPDATE posts SET content = $1, source = $2, summary = $3, sensitive = $4, tags_json = $5, updated_at = $6 \
         WHERE id = $7 RETURNING *",
    )
    .bind(content)
    .bind(source)
    .bind(summary)
    .bind(sensitive as i64)
    .bind(tags_json)
    .bind(now_ms())
    .bind(id)
    .fetch_one(tx)
    .await?)
}

/// Marks a post deleted and drops its content; the row stays so its replies keep their place in the thread.
pub async fn mark_deleted(tx: &mut sqlx::AnyConnection, id: i64) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE posts SET deleted_at = $1, updated_at = $2, content = '', source = NULL, summary = NULL \
         WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Every post of a thread (same context), oldest first; deleted ones included, as placeholders.
pub async fn in_context(db: &Db, context: &str, limit: i64) -> Result<Vec<PostRow>> {
    Ok(sqlx::query_as::<_, PostRow>(
        "SELECT * FROM posts WHERE context = $1 ORDER BY published_at, id LIMIT $2",
    )
    .bind(context)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// Ids of the direct replies to a post that are not deleted, oldest first.
pub async fn reply_ids(db: &Db, parent_id: i64, limit: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar::<_, String>(
        "SELECT ap_id FROM posts WHERE parent_id = $1 AND deleted_at IS NULL AND visibility IN ('public', 'unlisted') ORDER BY published_at, id LIMIT $2",
    )
    .bind(parent_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn count_replies(db: &Db, parent_id: i64) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM posts WHERE parent_id = $1 AND deleted_at IS NULL AND visibility IN ('public', 'unlisted')",
    )
    .bind(parent_id)
    .fetch_one(&db.pool)
    .await?)
}

/// Replies stored before their parent arrived: link them now that it is here.
pub async fn adopt_orphans(tx: &mut sqlx::AnyConnection, parent: &PostRow) -> Result<()> {
    sqlx::query("UPDATE posts SET parent_id = $1, context = $2 WHERE in_reply_to = $3 AND parent_id IS NULL")
        .bind(parent.id)
        .bind(&parent.context)
        .bind(&parent.ap_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// One page of an actor's public posts, newest first.
pub async fn public_by_author(
    db: &Db,
    author_id: i64,
    limit: i64,
    offset: i64,
) -> Result<Vec<PostRow>> {
    Ok(sqlx::query_as::<_, PostRow>(
        "SELECT * FROM posts WHERE author_id = $1 AND deleted_at IS NULL AND visibility = 'public' \
         ORDER BY published_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(author_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?)
}

/// The counts shown on notes (public and unlisted replies, likes, boosts) of several posts, in one statement.
/// A post with none of them is absent from the map.
pub async fn counts_of(
    db: &Db,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, crate::federation::objects::note::NoteCounts>> {
    use crate::db::interactions::{ANNOUNCE, LIKE};
    use sqlx::Row;
    let mut counts = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(counts);
    }
    // The ids are one JSON parameter, read twice: one statement text whatever the page's length.
    let sql = format!(
        "SELECT parent_id AS post_id, 'reply' AS what, COUNT(*) AS n FROM posts \
         WHERE parent_id IN ({}) AND deleted_at IS NULL AND visibility IN ('public', 'unlisted') \
         GROUP BY parent_id \
         UNION ALL \
         SELECT post_id, kind AS what, COUNT(*) AS n FROM interactions \
         WHERE post_id IN ({}) AND kind IN ($3, $4) GROUP BY post_id, kind",
        db.json_ints(1),
        db.json_ints(2)
    );
    let list = crate::db::json_param(ids)?;
    let q = sqlx::query(&sql).bind(list.clone()).bind(list);
    for row in q.bind(LIKE).bind(ANNOUNCE).fetch_all(&db.pool).await? {
        let id: i64 = row.try_get(0)?;
        let what: String = row.try_get(1)?;
        let n: i64 = row.try_get(2)?;
        let c: &mut crate::federation::objects::note::NoteCounts = counts.entry(id).or_default();
        match what.as_str() {
            "reply" => c.replies = n,
            LIKE => c.likes = n,
            _ => c.shares = n,
        }
    }
    Ok(counts)
}
