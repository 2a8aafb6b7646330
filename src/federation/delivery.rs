//! The delivery queue: activities are queued in the database in the same transaction as what caused them, one
//! row per distinct inbox; workers claim due rows, sign, send, and record the outcome.
//!
//! - 2xx: delivered. 4xx other than 401, 408 and 429: given up. Anything else (and network errors): retried with
//!   exponential backoff and jitter, honouring `Retry-After`, until `[delivery] retry_hours` after queueing.
//! - At most `[delivery] per_host` sends to one host at once, so a slow or dead host never holds every worker.
//! - A host failing for 7 days is marked unavailable and gets no new deliveries; one success clears it.
//! - Rows are claimed with a lease renewed while the process lives: after a crash they are claimed again.
//! - On shutdown, no new rows are claimed; sends in flight get `shutdown_grace_seconds`, then the rest is
//!   released for the next start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::fetch::{FetchError, retry_after};
use super::signatures;
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::deliveries::{self, Claimed};
use crate::db::{self, activities, hosts, now_ms};
use crate::error::Result;

/// Stores an activity once and queues it to each distinct inbox that is not ours, inside `tx`.
pub async fn queue(
    tx: &mut sqlx::AnyConnection,
    actor: &ActorRow,
    activity: &Value,
    inboxes: &[String],
) -> Result<()> {
    let row_id = store(tx, actor, activity).await?;
    deliveries::enqueue(tx, row_id, &round_robin(inboxes)).await?;
    Ok(())
}

/// Followers up to which a fan-out is queued in the transaction of what caused it; above, the rows per inbox
/// are written right after it (a `fanouts` job), so that a post to ten thousand followers is answered as
/// soon as the post and the job are committed, and the first deliveries leave while the rest is queued.
pub const INLINE_FANOUT: i64 = 500;

/// Rows per inbox written in one transaction when a job is expanded: short write transactions, so that the
/// inbox's writes are not held up behind one long one, and the workers start on the first part at once.
const FANOUT_CHUNK: usize = 1_000;

/// How long an expansion holds its job (renewed with every part): after a crash another process, or the
/// next start, expands it again.
const FANOUT_LEASE: Duration = Duration::from_secs(10);

/// Stores an activity once and queues it, inside `tx`, to every accepted remote follower of `actor` and to
/// `inboxes`: at once when the followers are few, through a `fanouts` job when they are many (the delivery
/// workers expand it).
pub async fn queue_to_followers(
    tx: &mut sqlx::AnyConnection,
    actor: &ActorRow,
    activity: &Value,
    inboxes: &[String],
) -> Result<()> {
    if db::follows::count_remote_followers(tx, actor.id).await? <= INLINE_FANOUT {
        let mut all = db::follows::follower_inboxes(tx, actor.id).await?;
        all.extend(inboxes.iter().cloned());
        return queue(tx, actor, activity, &all).await;
    }
    let row_id = store(tx, actor, activity).await?;
    deliveries::enqueue(tx, row_id, &round_robin(inboxes)).await?;
    db::fanouts::insert(tx, row_id, actor.id).await
}

async fn store(tx: &mut sqlx::AnyConnection, actor: &ActorRow, activity: &Value) -> Result<i64> {
    let ap_id = activity["id"].as_str().unwrap_or_default();
    let kind = activity["type"].as_str().unwrap_or_default();
    let object = super::protocol::first_id(activity.get("object"));
    activities::insert(
        tx,
        ap_id,
        actor.id,
        kind,
        object.as_deref(),
        &serde_json::to_string(activity).map_err(anyhow::Error::from)?,
    )
    .await
}

/// Expands every fan-out job no one holds into rows per inbox, a part at a time, waking the workers after
/// each part. Returns the jobs expanded. Stops between parts when `stopped` turns true, giving the job back.
pub async fn expand_fanouts(app: &App, stopped: &watch::Receiver<bool>) -> Result<usize> {
    let lease = || now_ms() + FANOUT_LEASE.as_millis() as i64;
    let mut jobs = 0;
    while let Some(job) = db::fanouts::claim(&app.db, lease()).await? {
        let inboxes = {
            let mut conn = app.db.pool.acquire().await?;
            db::follows::follower_inboxes(&mut conn, job.followers_of).await?
        };
        let ordered = round_robin(&inboxes);
        let mut parts = ordered.chunks(FANOUT_CHUNK).peekable();
        let mut queued = 0;
        loop {
            if *stopped.borrow() {
                db::fanouts::release(&app.db, job.id).await?;
                return Ok(jobs);
            }
            let mut tx = app.db.begin_write().await?;
            if let Some(part) = parts.next() {
                queued += deliveries::enqueue(&mut tx, job.activity_id, part).await?;
            }
            if parts.peek().is_none() {
                db::fanouts::delete(&mut tx, job.id).await?;
                tx.commit().await?;
                app.delivery_wakeup.notify_one();
                break;
            }
            db::fanouts::renew(&mut tx, job.id, lease()).await?;
            tx.commit().await?;
            app.delivery_wakeup.notify_one();
        }
        tracing::debug!(
            activity = job.activity_id,
            inboxes = ordered.len(),
            queued,
            "fan-out queued"
        );
        jobs += 1;
    }
    Ok(jobs)
}

/// The distinct inboxes, ordered so that consecutive ones are on different hosts (one from each host in
/// turn, among at most [`HOSTS_AT_A_TIME`] hosts at once). Workers claim in queue order: a claim then spreads
/// over many hosts instead of filling one host's limit and giving the rest back.
pub fn round_robin(inboxes: &[String]) -> Vec<String> {
    let mut sorted: Vec<&String> = inboxes.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut by_host: Vec<(String, std::collections::VecDeque<&String>)> = Vec::new();
    for inbox in sorted {
        let host = url::Url::parse(inbox)
            .map(|u| deliveries::host_of(&u))
            .unwrap_or_default();
        match by_host.last_mut() {
            Some((h, list)) if *h == host => list.push_back(inbox),
            _ => by_host.push((host, std::collections::VecDeque::from([inbox]))),
        }
    }
    // Sorted URLs keep one host's inboxes together, except where hosts differ only by scheme: merge those.
    let mut merged: HashMap<String, std::collections::VecDeque<&String>> = HashMap::new();
    let mut order = Vec::new();
    for (h, list) in by_host {
        match merged.get_mut(&h) {
            Some(l) => l.extend(list),
            None => {
                order.push(h.clone());
                merged.insert(h, list);
            }
        }
    }
    let mut waiting = order.into_iter().filter_map(|h| merged.remove(&h));
    let mut turns: Vec<_> = waiting.by_ref().take(HOSTS_AT_A_TIME).collect();
    let mut out = Vec::with_capacity(inboxes.len());
    while !turns.is_empty() {
        turns.retain_mut(|q| {
            if let Some(i) = q.pop_front() {
                out.push(i.clone());
            }
            !q.is_empty()
        });
        // The hosts that ran out make room for the next ones, which take their turns after the others.
        turns.extend(waiting.by_ref().take(HOSTS_AT_A_TIME - turns.len()));
    }
    out
}

/// How many hosts take turns at a time in [`round_robin`]. A host's connection is closed after its last
/// due row ([`deliver`]); with every host of a big fan-out taking turns from the start, all of them would
/// stay open (one idle connection each, ~21 KB) until the end. With a window, hosts finish one after another.
pub const HOSTS_AT_A_TIME: usize = 256;

/// What happened to one attempt.
enum Outcome {
    Delivered(u16),
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    GiveUp {
        status: Option<u16>,
        error: String,
    },
}

fn classify(
    result: std::result::Result<StatusCode, FetchError>,
    retry_hint: Option<Duration>,
) -> Outcome {
    match result {
        Ok(s) if s.is_success() => Outcome::Delivered(s.as_u16()),
        Ok(s) if s.is_client_error() && !matches!(s.as_u16(), 401 | 408 | 429) => Outcome::GiveUp {
            status: Some(s.as_u16()),
            error: format!("answered {s}"),
        },
        Ok(s) => Outcome::Retry {
            status: Some(s.as_u16()),
            error: format!("answered {s}"),
            after: retry_hint,
        },
        Err(FetchError::Forbidden(u, why)) => Outcome::GiveUp {
            status: None,
            error: format!("refused to contact {u}: {why}"),
        },
        Err(e) => Outcome::Retry {
            status: None,
            error: e.to_string(),
            after: None,
        },
    }
}

/// The delay before retry number `attempts` (1 after the first failure): doubling from the base, capped,
/// with ±25% jitter; never sooner than the server's `Retry-After`.
pub fn backoff(
    base: Duration,
    max: Duration,
    attempts: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(30)));
    let capped = exp.min(max);
    let mut r = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut r);
    let jitter = 0.75 + (u16::from_le_bytes(r) as f64 / u16::MAX as f64) * 0.5;
    let d = capped.mul_f64(jitter);
    match retry_after {
        Some(ra) => d.max(ra.min(Duration::from_secs(24 * 3600))),
        None => d,
    }
}

/// Payloads shared by the many deliveries of one activity: (signing actor's row id, body).
type PayloadCache = moka::sync::Cache<i64, Arc<(i64, Vec<u8>)>>;

/// How long a sending actor's row (its key) is reused between sends. A key rotated by this process or the
/// command line signs from at most this long after.
pub const SENDER_TTL: Duration = Duration::from_secs(2);

/// What the sends of one process share.
#[derive(Clone)]
struct Shared {
    payloads: PayloadCache,
    senders: moka::sync::Cache<i64, Arc<ActorRow>>,
    delivered: Completions,
}

/// The most completions one statement records.
const COMPLETION_BATCH: usize = 512;

/// Group commit of successful sends: one `UPDATE … WHERE id IN (…)` for whatever finished meanwhile, instead
/// of a write transaction per delivery. Each send waits for its row to be written before it frees its slot.
#[derive(Clone)]
struct Completions(tokio::sync::mpsc::Sender<(i64, i64, tokio::sync::oneshot::Sender<Result<()>>)>);

impl Completions {
    fn start(db: db::Db) -> Completions {
        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<(i64, i64, tokio::sync::oneshot::Sender<Result<()>>)>(
                4 * COMPLETION_BATCH,
            );
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(COMPLETION_BATCH);
            while rx.recv_many(&mut batch, COMPLETION_BATCH).await > 0 {
                let done: Vec<_> = std::mem::take(&mut batch);
                let rows: Vec<(i64, i64)> = done.iter().map(|(id, st, _)| (*id, *st)).collect();
                let result = deliveries::mark_delivered_many(&db, &rows).await;
                for (_, _, answer) in done {
                    let _ = answer.send(match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(crate::error::Error::Unavailable(format!(
                            "recording deliveries failed: {e}"
                        ))),
                    });
                }
            }
        });
        Completions(tx)
    }

    async fn delivered(&self, id: i64, status: i64) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stopped =
            || crate::error::Error::Unavailable("the delivery recorder has stopped".into());
        self.0.send((id, status, tx)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// How many sends may be in flight to `host` at once: the configured limit for a host that answered lately,
/// one for a host we have no recent success of (never seen, or failing), so that a dead host ties up one
/// send, not `per_host`.
fn host_limit(app: &App, host: &str, per_host: usize) -> usize {
    if app.health.recently_succeeded(host) {
        per_host
    } else {
        1
    }
}

/// How long a host may have sends in flight without one finishing before its other due rows are held back.
const STUCK_AFTER: Duration = Duration::from_secs(2);
/// How long such rows are held back at a time (again while the host stays stuck; at once released when a
/// send to it finishes).
const PARK_FOR: Duration = Duration::from_secs(10);

/// The sends in flight to one host.
struct Slot {
    in_flight: usize,
    /// When a send to this host last started from none in flight, or last finished.
    progress: std::time::Instant,
}

/// What the dispatcher and its sends know of the hosts being sent to.
#[derive(Default)]
struct Hosts {
    slots: HashMap<String, Slot>,
    /// Hosts whose due rows are held back, with the due time they were moved to.
    parked: HashMap<String, i64>,
}

impl Hosts {
    /// Takes a slot for a send to `host` unless it is at `limit`.
    fn take(&mut self, host: &str, limit: usize) -> bool {
        let slot = self.slots.entry(host.to_string()).or_insert(Slot {
            in_flight: 0,
            progress: std::time::Instant::now(),
        });
        if slot.in_flight >= limit {
            return false;
        }
        if slot.in_flight == 0 {
            slot.progress = std::time::Instant::now();
        }
        slot.in_flight += 1;
        true
    }

    /// Frees a slot of `host`; returns the due time its rows were held back to, if they were.
    fn done(&mut self, host: &str) -> Option<i64> {
        if let Some(slot) = self.slots.get_mut(host) {
            slot.in_flight -= 1;
            slot.progress = std::time::Instant::now();
            if slot.in_flight == 0 {
                self.slots.remove(host);
            }
        }
        self.parked.remove(host)
    }

    /// The hosts with sends in flight and none finished for [`STUCK_AFTER`] whose rows are not held back
    /// for at least half of [`PARK_FOR`] more; they are recorded as held back until `until`.
    fn park_stuck(&mut self, now: i64, until: i64) -> Vec<String> {
        let stuck: Vec<String> = self
            .slots
            .iter()
            .filter(|(h, s)| {
                s.progress.elapsed() >= STUCK_AFTER
                    && self
                        .parked
                        .get(*h)
                        .is_none_or(|u| *u - now < PARK_FOR.as_millis() as i64 / 2)
            })
            .map(|(h, _)| h.clone())
            .collect();
        for h in &stuck {
            self.parked.insert(h.clone(), until);
        }
        stuck
    }
}

/// A running set of delivery workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Starts the dispatcher of this process.
    pub fn start(app: App) -> Workers {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(app, stopped));
        Workers { stop, task }
    }

    /// Stops claiming, lets sends in flight finish within the grace period, releases the rest.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(app: App, mut stopped: watch::Receiver<bool>) {
    let settings = app.config.delivery.clone();
    let worker_id = format!("{}-{}", std::process::id(), crate::urls::new_token());
    let lease = Duration::from_secs(settings.lease_seconds);
    let hosts: Arc<Mutex<Hosts>> = Default::default();
    let shared = Shared {
        payloads: moka::sync::Cache::builder()
            .max_capacity(256)
            .time_to_live(Duration::from_secs(300))
            .build(),
        senders: moka::sync::Cache::builder()
            .max_capacity(1_000)
            .time_to_live(SENDER_TTL)
            .build(),
        delivered: Completions::start(app.db.clone()),
    };
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut renew = tokio::time::interval(lease / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut park_check = tokio::time::interval(Duration::from_secs(1));
    park_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(worker = %worker_id, workers = settings.workers, per_host = settings.per_host, "delivery started");
    // Fan-out jobs are looked for at start, when woken (a post was queued here), and once a second (queued by
    // the command line or another process); one expansion runs at a time, beside the sends.
    let mut look_for_fanouts = true;
    let mut expansion: Option<tokio::task::JoinHandle<()>> = None;

    loop {
        if *stopped.borrow() {
            break;
        }
        if look_for_fanouts && expansion.as_ref().is_none_or(|e| e.is_finished()) {
            look_for_fanouts = false;
            let (app, stopped) = (app.clone(), stopped.clone());
            expansion = Some(tokio::spawn(async move {
                if let Err(e) = expand_fanouts(&app, &stopped).await {
                    tracing::warn!(error = %e, "queueing a fan-out failed; it is tried again");
                }
            }));
        }
        // Every send that finished frees its worker before the claim (one claim for all of them).
        while tasks.try_join_next().is_some() {}
        // Claim what fits: free workers, hosts not at their limit.
        let free = settings.workers.saturating_sub(tasks.len());
        let mut claimed_any = false;
        if free > 0 {
            let busy: Vec<String> = hosts
                .lock()
                .expect("lock")
                .slots
                .iter()
                .filter(|(h, s)| s.in_flight >= host_limit(&app, h, settings.per_host))
                .map(|(h, _)| h.clone())
                .collect();
            let until = now_ms() + lease.as_millis() as i64;
            match deliveries::claim(&app.db, &worker_id, free as i64, until, &busy).await {
                Ok(rows) => {
                    claimed_any = !rows.is_empty();
                    let mut give_back = Vec::new();
                    for row in rows {
                        let host = row.host.clone();
                        let limit = host_limit(&app, &host, settings.per_host);
                        if !hosts.lock().expect("lock").take(&host, limit) {
                            // Over the host's limit within this batch: given back below.
                            give_back.push(row.id);
                            continue;
                        }
                        let (app, hosts, shared) = (app.clone(), hosts.clone(), shared.clone());
                        tasks.spawn(async move {
                            if let Err(e) = deliver(&app, &row, &shared).await {
                                tracing::warn!(delivery = row.id, error = %e, "delivery bookkeeping failed");
                            }
                            let parked = hosts.lock().expect("lock").done(&host);
                            // The host answered (or failed, and its rows were deferred to the retry): the rows
                            // held back for it are due again.
                            if let Some(until) = parked
                                && let Err(e) = deliveries::unpark_host(&app.db, &host, until).await
                            {
                                tracing::warn!(%host, error = %e, "releasing held-back deliveries failed");
                            }
                        });
                    }
                    if !give_back.is_empty() {
                        let _ = deliveries::release_ids(&app.db, &give_back).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming deliveries failed"),
            }
        }
        // Wait for: a finished send, new work, the lease renewal, a poll tick, or shutdown.
        let poll = if claimed_any {
            Duration::from_millis(0)
        } else {
            Duration::from_millis(500)
        };
        tokio::select! {
            _ = stopped.changed() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = app.delivery_wakeup.notified() => look_for_fanouts = true,
            _ = renew.tick() => {
                let _ = deliveries::renew_leases(&app.db, &worker_id, now_ms() + lease.as_millis() as i64).await;
            }
            _ = park_check.tick() => {
                look_for_fanouts = true;
                // A host that holds sends without finishing any (not answering, or very slow): its other due
                // rows wait, out of the way of the claims, until a send to it finishes.
                let now = now_ms();
                let until = now + PARK_FOR.as_millis() as i64;
                let stuck = hosts.lock().expect("lock").park_stuck(now, until);
                match deliveries::park_hosts(&app.db, &stuck, until).await {
                    Ok(n) if n > 0 => tracing::debug!(hosts = stuck.len(), rows = n, "held back the deliveries of hosts not answering"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "holding back deliveries failed"),
                }
            }
            _ = tokio::time::sleep(poll), if !claimed_any || tasks.len() < settings.workers => {}
        }
    }

    // Shutdown: an expansion stops between parts and gives its job back; sends in flight get the grace period.
    if let Some(e) = expansion {
        let _ = e.await;
    }
    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "sends still in flight after the grace period; they will be retried"
        );
        tasks.abort_all();
    }
    match deliveries::release(&app.db, &worker_id).await {
        Ok(n) if n > 0 => tracing::info!(
            released = n,
            "released claimed deliveries for the next start"
        ),
        _ => {}
    }
    tracing::info!("delivery stopped");
}

/// Sends one claimed delivery and records the outcome.
async fn deliver(app: &App, row: &Claimed, shared: &Shared) -> Result<()> {
    let payloads = &shared.payloads;
    let payload = match payloads.get(&row.activity_id) {
        Some(p) => p,
        None => {
            let Some((actor_id, json)) = deliveries::payload(&app.db, row.activity_id).await?
            else {
                deliveries::mark_failed(&app.db, row.id, None, "the activity no longer exists")
                    .await?;
                return Ok(());
            };
            let p = Arc::new((actor_id, json.into_bytes()));
            payloads.insert(row.activity_id, p.clone());
            p
        }
    };
    let body = &payload.1;
    // The actor is read again every SENDER_TTL, so that a key rotated meanwhile signs soon.
    let actor = match shared.senders.get(&payload.0) {
        Some(a) => a,
        None => {
            let Some(actor) = db::actors::find_by_id(&app.db, payload.0).await? else {
                deliveries::mark_failed(
                    &app.db,
                    row.id,
                    None,
                    "the sending actor no longer exists",
                )
                .await?;
                return Ok(());
            };
            let actor = Arc::new(actor);
            shared.senders.insert(payload.0, actor.clone());
            actor
        }
    };
    let actor = &*actor;
    if app.is_blocked(&row.host).await? {
        deliveries::mark_failed(&app.db, row.id, None, "the domain is blocked").await?;
        return Ok(());
    }
    // A host that answered lately is not unavailable: no need to read it.
    if !app.health.recently_succeeded(&row.host)
        && hosts::is_unavailable(&app.db, &row.host).await?
    {
        deliveries::mark_failed(
            &app.db,
            row.id,
            None,
            "the host is unavailable (failing for 7 days)",
        )
        .await?;
        return Ok(());
    }
    let url = match url::Url::parse(&row.inbox_url) {
        Ok(u) => u,
        Err(e) => {
            deliveries::mark_failed(&app.db, row.id, None, &format!("invalid inbox URL: {e}"))
                .await?;
            return Ok(());
        }
    };
    let signer = app.signer_for(actor)?;
    // The signed headers include Content-Type.
    let mut headers = signatures::sign_draft_cavage(
        &signer.key,
        &signer.key_id,
        &Method::POST,
        &url,
        Some(body),
        Some(super::objects::AP_MEDIA_TYPE),
        std::time::SystemTime::now(),
    )
    .map_err(|e| anyhow::anyhow!("cannot sign for {}: {e}", row.inbox_url))?;
    if row.last_of_host != 0 {
        // Nothing else is due for this host soon: its connection would only sit idle in the pool.
        headers.push((
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        ));
    }
    let (result, hint) = match app
        .http
        .send(Method::POST, &url, headers, Some(body.clone()))
        .await
    {
        Ok(r) => (Ok(r.status), retry_after(&r.headers)),
        Err(e) => (Err(e), None),
    };
    let outcome = classify(result, hint);
    let settings = &app.config.delivery;
    match outcome {
        Outcome::Delivered(s) => {
            shared.delivered.delivered(row.id, s as i64).await?;
            app.health.success(&app.db, &row.host).await?;
        }
        Outcome::GiveUp { status, error } => {
            tracing::info!(inbox = %row.inbox_url, %error, "delivery given up");
            if status == Some(410) {
                // The inbox is gone for good: so are the followers whose personal inbox it was.
                let gone =
                    db::follows::remove_followers_with_inbox(&app.db, &row.inbox_url).await?;
                if gone > 0 {
                    tracing::info!(inbox = %row.inbox_url, followers = gone, "removed followers whose inbox is gone");
                }
            }
            deliveries::mark_failed(&app.db, row.id, status.map(i64::from), &error).await?;
            app.health.failure(&app.db, &row.host, &error).await?;
        }
        Outcome::Retry {
            status,
            error,
            after,
        } => {
            let delay = backoff(
                Duration::from_secs(settings.backoff_seconds),
                Duration::from_secs(settings.max_backoff_seconds),
                row.attempts as u32 + 1,
                after,
            );
            let next = now_ms() + delay.as_millis() as i64;
            let deadline = row.created_at + settings.retry_hours as i64 * 3_600_000;
            app.health.failure(&app.db, &row.host, &error).await?;
            if next > deadline {
                tracing::info!(inbox = %row.inbox_url, %error, "delivery given up after retrying");
                deliveries::mark_failed(&app.db, row.id, status.map(i64::from), &error).await?;
            } else {
                tracing::debug!(inbox = %row.inbox_url, %error, ?delay, "delivery will be retried");
                deliveries::mark_retry(&app.db, row.id, status.map(i64::from), &error, next)
                    .await?;
                if status.is_none() {
                    // The host could not be reached (refused, timed out): its other queued rows would only
                    // tie up sends the same way. They wait until this one's retry.
                    deliveries::defer_host(&app.db, &row.host, next).await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_takes_turns_between_a_window_of_hosts() {
        // 1,000 hosts with 1 to 5 inboxes each, given host by host.
        let mut inboxes = Vec::new();
        for h in 0..1_000 {
            for u in 0..1 + h % 5 {
                inboxes.push(format!("https://h{h}.test/users/u{u}/inbox"));
            }
        }
        inboxes.push(inboxes[7].clone());
        let ordered = round_robin(&inboxes);
        assert_eq!(ordered.len(), inboxes.len() - 1, "the duplicate dropped");
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        assert_eq!(sorted(&ordered), sorted(&inboxes), "every inbox, once");
        let host = |i: &String| url::Url::parse(i).unwrap().host_str().unwrap().to_string();
        // A host is open from its first inbox to its last: never more than the window at once.
        let mut first = HashMap::new();
        let mut last = HashMap::new();
        for (n, i) in ordered.iter().enumerate() {
            first.entry(host(i)).or_insert(n);
            last.insert(host(i), n);
        }
        let most_open = (0..ordered.len())
            .map(|n| {
                first
                    .iter()
                    .filter(|(h, f)| **f <= n && last[*h] >= n)
                    .count()
            })
            .max()
            .unwrap();
        assert!(
            most_open <= HOSTS_AT_A_TIME,
            "{most_open} hosts open at once"
        );
        // The window starts full, and a host joins only when one has run out.
        let distinct = |v: &[String]| v.iter().map(host).collect::<std::collections::HashSet<_>>();
        assert_eq!(distinct(&ordered[..HOSTS_AT_A_TIME]).len(), HOSTS_AT_A_TIME);
        for n in [HOSTS_AT_A_TIME, 1_000, 2_000] {
            let finished = last.values().filter(|l| **l < n).count();
            assert!(
                distinct(&ordered[..n]).len() <= HOSTS_AT_A_TIME + finished,
                "at {n}: {finished} finished"
            );
        }
        assert!(
            distinct(&ordered[..1_000]).len() < 1_000,
            "not every host at once"
        );
        // Consecutive inboxes are on different hosts while two or more hosts are left.
        for (n, pair) in ordered.windows(2).enumerate() {
            let left = last.values().filter(|l| **l > n).count();
            if left >= 2 {
                assert_ne!(host(&pair[0]), host(&pair[1]), "at {n}");
            }
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let base = Duration::from_secs(30);
        let max = Duration::from_secs(6 * 3600);
        for attempt in 1..=5u32 {
            let expected = 30.0 * 2f64.powi(attempt as i32 - 1);
            let d = backoff(base, max, attempt, None).as_secs_f64();
            assert!(
                d >= expected * 0.75 - 0.01 && d <= expected * 1.25 + 0.01,
                "attempt {attempt}: {d}"
            );
        }
        assert!(backoff(base, max, 40, None) <= max.mul_f64(1.25));
        assert!(backoff(base, max, 1, Some(Duration::from_secs(600))) >= Duration::from_secs(600));
    }

    #[test]
    fn outcomes_by_status() {
        let s = |code: u16| classify(Ok(StatusCode::from_u16(code).unwrap()), None);
        assert!(matches!(s(202), Outcome::Delivered(202)));
        for give_up in [400, 403, 404, 410, 422] {
            assert!(matches!(s(give_up), Outcome::GiveUp { .. }), "{give_up}");
        }
        for retry in [401, 408, 429, 500, 502, 503] {
            assert!(matches!(s(retry), Outcome::Retry { .. }), "{retry}");
        }
    }
}
