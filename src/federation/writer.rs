//! Group commit of the inbox's hottest write: the remote posts that `Create(Note)` activities store.
//!
//! A verified, relevant post is handed to one writer task per process, with a channel to answer on. The writer
//! takes whatever has queued up while it was writing (up to [`MAX_BATCH`]) and stores it in one write
//! transaction with multi-row statements: the activity ids, the posts, the adoption of replies that arrived
//! before their parent. Every request is answered only after that transaction committed, so a 2xx always means
//! the post is stored.
//!
//! Why not a transaction per request: through sqlx's SQLite driver each statement is a hand-off to the
//! connection's thread and back (25–30 µs on one core), and SQLite writers queue on a file lock; an inbox
//! request was 10 round trips and 2 write transactions, which bounded the inbox near 1,000 activities/s. A batch
//! costs 5 round trips whatever its size. Under light load a batch is a single post, so latency is unchanged.
//!
//! If a batch fails (say a parent row went away meanwhile), each of its posts is written again on its own, so
//! one bad post fails only its own request.

use std::collections::HashSet;
use std::sync::OnceLock;

use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::db::posts::NewPost;
use crate::db::{Backend, Db, json_param, now_ms};
use crate::error::{Error, Result};

/// The most posts one transaction stores.
pub const MAX_BATCH: usize = 256;

/// How many posts may wait for the writer before new requests wait to hand theirs over.
const QUEUE: usize = 4 * MAX_BATCH;

/// What became of a post handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored now.
    New,
    /// The activity, or a post with the same id, was stored before: nothing changed.
    Duplicate,
}

struct Job {
    activity_id: Option<String>,
    post: NewPost,
    done: oneshot::Sender<Result<Stored>>,
}

/// The handle of this process's writer; the task starts with the first post.
#[derive(Default)]
pub struct PostWriter {
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl PostWriter {
    /// Stores a remote post (and the id of the activity that brought it) and returns once it is committed.
    pub async fn store(
        &self,
        db: &Db,
        activity_id: Option<String>,
        post: NewPost,
    ) -> Result<Stored> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(db.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        queue
            .send(Job {
                activity_id,
                post,
                done,
            })
            .await
            .map_err(|_| Error::Unavailable("the post writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("the post writer has stopped".into()))?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        match write(&db, &jobs).await {
            Ok(results) => {
                for (job, r) in jobs.into_iter().zip(results) {
                    let _ = job.done.send(Ok(r));
                }
            }
            Err(e) if jobs.len() == 1 => {
                let job = jobs.into_iter().next().expect("one job");
                let _ = job.done.send(Err(e));
            }
            Err(e) => {
                tracing::debug!(error = %e, posts = jobs.len(), "a batch failed; writing its posts one by one");
                for job in jobs {
                    let r = write(&db, std::slice::from_ref(&job))
                        .await
                        .map(|mut r| r.remove(0));
                    let _ = job.done.send(r);
                }
            }
        }
    }
}

/// A post as one element of the JSON array the batch insert reads (flags as 0/1, as the columns hold them).
#[derive(serde::Serialize)]
struct PostJson<'a> {
    ap_id: &'a str,
    local: i64,
    kind: &'a str,
    author_id: i64,
    content: &'a str,
    source: Option<&'a str>,
    summary: Option<&'a str>,
    sensitive: i64,
    visibility: &'a str,
    in_reply_to: Option<&'a str>,
    parent_id: Option<i64>,
    context: Option<&'a str>,
    url: Option<&'a str>,
    published_at: i64,
    to_json: &'a str,
    cc_json: &'a str,
    tags_json: &'a str,
    attachments_json: &'a str,
}

const POST_COLUMNS: &str = "ap_id, local, kind, author_id, content, source, summary, sensitive, visibility, \
     in_reply_to, parent_id, context, url, published_at, to_json, cc_json, tags_json, attachments_json";

/// `INSERT INTO posts … SELECT` from the JSON array of [`PostJson`] bound at `$1`, built once per backend.
fn insert_posts_sql(backend: Backend) -> &'static str {
    static SQLITE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| build_insert_posts_sql(Backend::Sqlite));
    static POSTGRES: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| build_insert_posts_sql(Backend::Postgres));
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

fn build_insert_posts_sql(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let cols: Vec<String> = POST_COLUMNS
                .split(", ")
                .map(|c| format!("json_extract(value, '$.{c}')"))
                .collect();
            format!(
                "INSERT INTO posts ({POST_COLUMNS}) SELECT {} FROM json_each($1) WHERE true \
                 ON CONFLICT (ap_id) DO NOTHING RETURNING ap_id",
                cols.join(", ")
            )
        }
        Backend::Postgres => format!(
            "INSERT INTO posts ({POST_COLUMNS}) SELECT {POST_COLUMNS} FROM json_to_recordset($1::json) AS t(\
             ap_id text, local bigint, kind text, author_id bigint, content text, source text, summary text, \
             sensitive bigint, visibility text, in_reply_to text, parent_id bigint, context text, url text, \
             published_at bigint, to_json text, cc_json text, tags_json text, attachments_json text) \
             ON CONFLICT (ap_id) DO NOTHING RETURNING ap_id"
        ),
    }
}

/// One transaction for the whole batch; the outcome of each job, in order. Every list travels as one JSON
/// parameter, so each statement's text is the same whatever the batch size: prepared once per connection.
async fn write(db: &Db, jobs: &[Job]) -> Result<Vec<Stored>> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;

    // 1. The activity ids: those already recorded are duplicates and store nothing.
    let ids: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j.activity_id.as_deref())
        .collect();
    let mut fresh_ids: HashSet<String> = HashSet::new();
    if !ids.is_empty() {
        let sql = format!(
            "INSERT INTO received_activities (ap_id, received_at) SELECT value, $2 FROM {} WHERE true \
             ON CONFLICT (ap_id) DO NOTHING RETURNING ap_id",
            db.json_text_rows(1)
        );
        for row in sqlx::query(&sql)
            .bind(json_param(&ids)?)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?
        {
            fresh_ids.insert(row.try_get::<String, _>(0)?);
        }
    }
    let mut seen_in_batch = HashSet::new();
    let wanted: Vec<bool> = jobs
        .iter()
        .map(|j| match &j.activity_id {
            Some(id) => fresh_ids.contains(id) && seen_in_batch.insert(id.as_str()),
            None => true,
        })
        .collect();

    // 2. Parents looked up before the batch may have gone since (a remote actor deleted with its posts).
    let parents: Vec<i64> = jobs
        .iter()
        .zip(&wanted)
        .filter(|(_, w)| **w)
        .filter_map(|(j, _)| j.post.parent_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut live_parents = HashSet::new();
    if !parents.is_empty() {
        let sql = format!("SELECT id FROM posts WHERE id IN ({})", db.json_ints(1));
        for row in sqlx::query(&sql)
            .bind(json_param(&parents)?)
            .fetch_all(&mut *tx)
            .await?
        {
            live_parents.insert(row.try_get::<i64, _>(0)?);
        }
    }

    // 3. The posts. One with an id already stored is left as it is.
    let rows: Vec<PostJson> = jobs
        .iter()
        .zip(&wanted)
        .filter(|(_, w)| **w)
        .map(|(j, _)| {
            let p = &j.post;
            PostJson {
                ap_id: &p.ap_id,
                local: p.local as i64,
                kind: &p.kind,
                author_id: p.author_id,
                content: &p.content,
                source: p.source.as_deref(),
                summary: p.summary.as_deref(),
                sensitive: p.sensitive as i64,
                visibility: &p.visibility,
                in_reply_to: p.in_reply_to.as_deref(),
                parent_id: p.parent_id.filter(|id| live_parents.contains(id)),
                context: p.context.as_deref(),
                url: p.url.as_deref(),
                published_at: p.published_at,
                to_json: &p.to_json,
                cc_json: &p.cc_json,
                tags_json: &p.tags_json,
                attachments_json: &p.attachments_json,
            }
        })
        .collect();
    let mut inserted: HashSet<String> = HashSet::new();
    if !rows.is_empty() {
        for row in sqlx::query(insert_posts_sql(db.backend))
            .bind(json_param(&rows)?)
            .fetch_all(&mut *tx)
            .await?
        {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }

    // 4. Replies stored before their parent: link them under the posts stored now (one statement).
    if !inserted.is_empty() {
        let sql = format!(
            "UPDATE posts SET \
             parent_id = (SELECT p.id FROM posts p WHERE p.ap_id = posts.in_reply_to), \
             context = (SELECT p.context FROM posts p WHERE p.ap_id = posts.in_reply_to) \
             WHERE parent_id IS NULL AND in_reply_to IN ({})",
            db.json_texts(1)
        );
        let list: Vec<&str> = inserted.iter().map(String::as_str).collect();
        sqlx::query(&sql)
            .bind(json_param(&list)?)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;

    let mut counted = HashSet::new();
    Ok(jobs
        .iter()
        .zip(&wanted)
        .map(|(j, w)| {
            if *w && inserted.contains(&j.post.ap_id) && counted.insert(j.post.ap_id.as_str()) {
                Stored::New
            } else {
                Stored::Duplicate
            }
        })
        .collect())
}
