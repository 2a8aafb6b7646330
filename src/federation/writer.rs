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
use crate::db::{Db, now_ms};
use crate::error::{Error, Result};

/// The most posts one transaction stores. 18 columns each stay well under SQLite's 32,766 parameters.
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

/// `$first, $first+1, …` for `n` values.
fn placeholders(sql: &mut String, first: usize, n: usize) {
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('$');
        sql.push_str(&(first + i).to_string());
    }
}

/// One transaction for the whole batch; the outcome of each job, in order.
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
        let mut sql = String::from("INSERT INTO received_activities (ap_id, received_at) VALUES ");
        for i in 0..ids.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
        }
        sql.push_str(" ON CONFLICT (ap_id) DO NOTHING RETURNING ap_id");
        let mut q = sqlx::query(&sql);
        for id in &ids {
            q = q.bind(*id).bind(now);
        }
        for row in q.fetch_all(&mut *tx).await? {
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
        let mut sql = String::from("SELECT id FROM posts WHERE id IN (");
        placeholders(&mut sql, 1, parents.len());
        sql.push(')');
        let mut q = sqlx::query(&sql);
        for p in &parents {
            q = q.bind(*p);
        }
        for row in q.fetch_all(&mut *tx).await? {
            live_parents.insert(row.try_get::<i64, _>(0)?);
        }
    }

    // 3. The posts. One with an id already stored is left as it is.
    let rows: Vec<&NewPost> = jobs
        .iter()
        .zip(&wanted)
        .filter(|(_, w)| **w)
        .map(|(j, _)| &j.post)
        .collect();
    let mut inserted: HashSet<String> = HashSet::new();
    if !rows.is_empty() {
        const COLS: usize = 18;
        let mut sql = String::from(
            "INSERT INTO posts (ap_id, local, kind, author_id, content, source, summary, sensitive, visibility, \
             in_reply_to, parent_id, context, url, published_at, to_json, cc_json, tags_json, attachments_json) VALUES ",
        );
        for i in 0..rows.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            placeholders(&mut sql, i * COLS + 1, COLS);
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT (ap_id) DO NOTHING RETURNING ap_id");
        let mut q = sqlx::query(&sql);
        for p in &rows {
            let parent = p.parent_id.filter(|id| live_parents.contains(id));
            q = q
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
                .bind(parent)
                .bind(&p.context)
                .bind(&p.url)
                .bind(p.published_at)
                .bind(&p.to_json)
                .bind(&p.cc_json)
                .bind(&p.tags_json)
                .bind(&p.attachments_json);
        }
        for row in q.fetch_all(&mut *tx).await? {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }

    // 4. Replies stored before their parent: link them under the posts stored now (one statement).
    if !inserted.is_empty() {
        let mut sql = String::from(
            "UPDATE posts SET \
             parent_id = (SELECT p.id FROM posts p WHERE p.ap_id = posts.in_reply_to), \
             context = (SELECT p.context FROM posts p WHERE p.ap_id = posts.in_reply_to) \
             WHERE parent_id IS NULL AND in_reply_to IN (",
        );
        placeholders(&mut sql, 1, inserted.len());
        sql.push(')');
        let mut q = sqlx::query(&sql);
        for id in &inserted {
            q = q.bind(id.as_str());
        }
        q.execute(&mut *tx).await?;
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
