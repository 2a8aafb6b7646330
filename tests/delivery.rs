//! The delivery queue against a real `placard serve` and fake remote servers (`FakeRemote`): fan-out to
//! followers (shared inboxes), signatures, retries and giving up, `Retry-After`, the per-host limit, `kill -9`,
//! `SIGTERM`, and `placard deliveries`.

mod common;
#[path = "common/remote.rs"]
mod remote;

use std::time::{Duration, Instant};

use common::*;
use remote::*;
use serde_json::{Value, json};

/// Fast retries and short leases, so that the tests need not wait long.
const SETTINGS: &str = "[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\nmax_backoff_seconds = 4\nlease_seconds = 5\nshutdown_grace_seconds = 2\n";

const WAIT: Duration = Duration::from_secs(20);

/// Adds settings after the `[admin]` section of the site's config file.
fn append_settings(site: &Site, extra: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&site.config_path)
        .unwrap();
    writeln!(f, "{extra}").unwrap();
}

fn cli_json(site: &Site, args: &[&str]) -> Value {
    let out = site.cli_ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

fn create_actors(site: &Site, names: &[&str]) {
    for name in names {
        site.cli_ok(&["actor", "create", name, "--kind", "person"]);
    }
}

fn public_key_pem(site: &Site, name: &str) -> String {
    cli_json(site, &["actor", "show", name, "--json"])["public_key_pem"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A post by a local actor, made with the command line; returns its id.
fn post(site: &Site, name: &str, text: &str) -> String {
    site.cli_ok(&["post", name, text]).trim().to_string()
}

/// A post made through the admin API (the running server queues it and wakes its workers at once).
async fn post_api(server: &Server, name: &str, text: &str) -> String {
    let r = server
        .admin(reqwest::Method::POST, &format!("/actors/{name}/posts"))
        .json(&json!({"text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `placard deliveries --json`, for one host (zeros when the host has no deliveries).
fn host_stats(site: &Site, host: &str) -> Value {
    let all = cli_json(site, &["deliveries", "--json"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .cloned()
        .unwrap_or_else(|| json!({"host": host, "pending": 0, "failed": 0, "delivered": 0}))
}

fn counts(stats: &Value) -> (i64, i64, i64) {
    (
        stats["pending"].as_i64().unwrap(),
        stats["failed"].as_i64().unwrap(),
        stats["delivered"].as_i64().unwrap(),
    )
}

/// Polls `placard deliveries --json` until `host` shows (pending, failed, delivered) = `want`.
async fn wait_for_stats(site: &Site, host: &str, want: (i64, i64, i64), timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let stats = host_stats(site, host);
        if counts(&stats) == want {
            return;
        }
        if Instant::now() > deadline {
            panic!("{host}: wanted (pending, failed, delivered) = {want:?}, got {stats}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `remote`'s actor `name` follows the local actor `local` (a signed Follow); waits for the Accept.
async fn follow(server: &Server, remote: &FakeRemote, name: &str, local: &str) {
    let target = server.url(&format!("/users/{local}"));
    let r = remote
        .sign_and_post(name, &server.url("/inbox"), &remote.follow(name, &target))
        .await;
    assert_eq!(r.status(), 202, "{:?}\n{}", r.text().await, server.log());
    remote
        .wait_for_n(&remote.inbox_path(name), "Accept", 1, WAIT)
        .await;
}

/// The `Create`s `remote` received (at any path) for the post `post_id`.
fn creates_of(remote: &FakeRemote, post_id: &str) -> Vec<Received> {
    remote
        .received()
        .into_iter()
        .filter(|r| r.kind() == "Create" && r.json()["object"]["id"] == post_id)
        .collect()
}

async fn wait_for_creates(remote: &FakeRemote, post_id: &str, n: usize) -> Vec<Received> {
    remote
        .wait_for(&format!("{n} Create of {post_id}"), WAIT, |got| {
            got.iter()
                .filter(|r| r.kind() == "Create" && r.json()["object"]["id"] == post_id)
                .count()
                >= n
        })
        .await;
    creates_of(remote, post_id)
}

// ---------------------------------------------------------------------------------------------------------

/// A post reaches every follower's server once, signed with the author's key: one delivery to a server's shared
/// inbox for all its followers there, the actor's own inbox for a server without one.
async fn post_reaches_each_server_once_signed(site: Site) {
    append_settings(&site, SETTINGS);
    create_actors(&site, &["alice"]);
    let server = site.serve().await;
    let shared = FakeRemote::start_with(true).await;
    shared.add_actor("ann");
    shared.add_actor("amy");
    let plain = FakeRemote::start_with(false).await;
    plain.add_actor("ben");
    follow(&server, &shared, "ann", "alice").await;
    follow(&server, &shared, "amy", "alice").await;
    follow(&server, &plain, "ben", "alice").await;

    let id = post(&site, "alice", "Rally on Saturday at noon");
    let alice_pem = public_key_pem(&site, "alice");
    let to_shared = wait_for_creates(&shared, &id, 1).await;
    let to_plain = wait_for_creates(&plain, &id, 1).await;
    // Any duplicate has time to arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let to_shared_all = creates_of(&shared, &id);
    let to_plain_all = creates_of(&plain, &id);
    assert_eq!(to_shared_all.len(), 1, "one delivery to the shared server");
    assert_eq!(to_plain_all.len(), 1, "one delivery to the other server");
    assert_eq!(to_shared[0].path, "/inbox", "the shared inbox is used");
    assert_eq!(to_plain[0].path, "/users/ben/inbox");
    for r in [&to_shared[0], &to_plain[0]] {
        let key_id = r
            .verify(&alice_pem)
            .unwrap_or_else(|e| panic!("delivery to {}{} does not verify: {e}", r.origin, r.path));
        assert_eq!(key_id, format!("{}#main-key", site.url("/users/alice")));
        let body = r.json();
        assert_eq!(body["actor"], site.url("/users/alice"));
        assert!(
            body["object"]["content"]
                .as_str()
                .unwrap()
                .contains("Rally on Saturday")
        );
        let ct = r.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("application/activity+json") || ct.contains("ld+json"));
        // Nothing else is queued for the server: the connection is not kept idle after this one.
        assert_eq!(
            r.headers.get("connection").map(|v| v.to_str().unwrap()),
            Some("close"),
            "{}",
            r.origin
        );
    }
    // 2 Accepts + 1 Create to the shared server, 1 Accept + 1 Create to the other.
    wait_for_stats(&site, &shared.host(), (0, 0, 3), WAIT).await;
    wait_for_stats(&site, &plain.host(), (0, 0, 2), WAIT).await;
}

/// 5xx and 401 are retried until delivered; 429 waits at least its `Retry-After`; 410 and 404 are given up
/// after one attempt. `placard deliveries` shows it per host.
async fn failures_are_retried_or_given_up(site: Site) {
    append_settings(&site, SETTINGS);
    create_actors(&site, &["alice"]);
    let server = site.serve().await;
    let r500 = FakeRemote::start_with(false).await;
    let r429 = FakeRemote::start_with(false).await;
    let r401 = FakeRemote::start_with(false).await;
    let r410 = FakeRemote::start_with(false).await;
    let r404 = FakeRemote::start_with(false).await;
    let all = [&r500, &r429, &r401, &r410, &r404];
    for r in all {
        r.add_actor("pat");
        follow(&server, r, "pat", "alice").await;
    }
    let inbox = "/users/pat/inbox";
    r500.reply_sequence(inbox, vec![Reply::status(500), Reply::status(503)]);
    r429.reply_sequence(inbox, vec![Reply::status(429).retry_after("2")]);
    r401.reply_sequence(inbox, vec![Reply::status(401)]);
    r410.reply_sequence(inbox, vec![Reply::status(410)]);
    r404.reply_sequence(inbox, vec![Reply::status(404)]);

    let id = post(&site, "alice", "Petition delivered to the council");

    let got = wait_for_creates(&r500, &id, 3).await;
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 503, 202]);
    // Backoff from 1 s, doubling, with jitter: the second retry waits longer than the first would at least.
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(700),
        "{:?}",
        got[1].at - got[0].at
    );
    assert!(
        got[2].at - got[1].at >= Duration::from_millis(1400),
        "{:?}",
        got[2].at - got[1].at
    );

    let got = wait_for_creates(&r429, &id, 2).await;
    assert_eq!(got[0].status, 429);
    assert_eq!(got[1].status, 202);
    let gap = got[1].at - got[0].at;
    eprintln!("retried {gap:?} after a 429 with Retry-After: 2");
    assert!(
        gap >= Duration::from_millis(1950),
        "retried {gap:?} after a 429 with Retry-After: 2"
    );

    let got = wait_for_creates(&r401, &id, 2).await;
    assert_eq!(got[0].status, 401);
    assert_eq!(got[1].status, 202);

    wait_for_stats(&site, &r500.host(), (0, 0, 2), WAIT).await;
    wait_for_stats(&site, &r429.host(), (0, 0, 2), WAIT).await;
    wait_for_stats(&site, &r401.host(), (0, 0, 2), WAIT).await;
    wait_for_stats(&site, &r410.host(), (0, 1, 1), WAIT).await;
    wait_for_stats(&site, &r404.host(), (0, 1, 1), WAIT).await;
    // A retry would have come within about a second (backoff_seconds = 1): none does.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for r in [&r410, &r404] {
        let got = creates_of(r, &id);
        assert_eq!(got.len(), 1, "{}: given up after one attempt", r.host());
    }
    let stats = host_stats(&site, &r410.host());
    assert!(
        stats["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("410"),
        "{stats}"
    );

    // The human-readable table: one line per host with pending, failed, delivered and the last error.
    let text = site.cli_ok(&["deliveries"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("HOST")
            && lines[0].contains("PENDING")
            && lines[0].contains("FAILED")
            && lines[0].contains("DELIVERED"),
        "{text}"
    );
    let line = |host: &str| -> Vec<String> {
        lines
            .iter()
            .find(|l| l.starts_with(host))
            .unwrap_or_else(|| panic!("no line for {host} in\n{text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let l410 = line(&r410.host());
    assert_eq!(&l410[1..4], ["0", "1", "1"], "{text}");
    assert!(l410[4..].join(" ").contains("410"), "{text}");
    let l404 = line(&r404.host());
    assert_eq!(&l404[1..4], ["0", "1", "1"], "{text}");
    assert!(l404[4..].join(" ").contains("404"), "{text}");
    let l500 = line(&r500.host());
    assert_eq!(&l500[1..4], ["0", "0", "2"], "{text}");
}

/// One slow host with many deliveries in flight does not hold up another host: at most `per_host` sends go to
/// the slow host at once, and a post to the fast host arrives at once.
async fn slow_host_does_not_delay_others(site: Site) {
    append_settings(
        &site,
        &SETTINGS.replace("[delivery]\n", "[delivery]\nworkers = 4\nper_host = 2\n"),
    );
    create_actors(&site, &["alice", "bob"]);
    let server = site.serve().await;
    let slow = FakeRemote::start().await;
    slow.add_actor("sam");
    let fast = FakeRemote::start().await;
    fast.add_actor("fay");
    follow(&server, &slow, "sam", "alice").await;
    follow(&server, &fast, "fay", "bob").await;
    slow.set_reply("/inbox", Reply::status(202).delay(Duration::from_secs(4)));

    let mut ids = vec![];
    for i in 0..10 {
        ids.push(post_api(&server, "alice", &format!("Slow news {i}")).await);
    }
    // The slow host is busy.
    slow.wait_for("2 sends in flight to the slow host", WAIT, |got| {
        got.iter().filter(|r| r.kind() == "Create").count() >= 2
    })
    .await;

    let start = Instant::now();
    let id = post_api(&server, "bob", "Fast news").await;
    wait_for_creates(&fast, &id, 1).await;
    let took = start.elapsed();
    eprintln!("the fast host got its post after {took:?}");
    let slow_done = slow
        .received()
        .iter()
        .filter(|r| r.kind() == "Create")
        .count();
    assert!(
        took < Duration::from_millis(1500),
        "the fast host got its post after {took:?} while the slow host was busy"
    );
    assert!(slow_done < 10, "the slow host was not busy any more");
    assert!(
        slow.max_in_flight("/inbox") <= 2,
        "{} sends at once to one host, per_host is 2",
        slow.max_in_flight("/inbox")
    );
    // The slow host still gets everything.
    for id in &ids {
        wait_for_creates(&slow, id, 1).await;
    }
    assert!(slow.max_in_flight("/inbox") <= 2);
    assert_eq!(slow.max_in_flight("/inbox"), 2, "the limit was used");
}

/// A host that holds a send without answering has its other due rows held back (out of the way of every
/// claim), and they go out as soon as that send finishes, not when the hold ends.
async fn stuck_host_rows_wait_until_it_answers(site: Site) {
    append_settings(
        &site,
        &SETTINGS.replace("[delivery]\n", "[delivery]\nper_host = 1\n"),
    );
    create_actors(&site, &["alice"]);
    let server = site.serve().await;
    let slow = FakeRemote::start().await;
    slow.add_actor("sam");
    follow(&server, &slow, "sam", "alice").await;
    slow.set_reply("/inbox", Reply::status(202).delay(Duration::from_secs(6)));

    let start = Instant::now();
    let mut ids = vec![];
    for i in 0..3 {
        ids.push(post_api(&server, "alice", &format!("Stuck news {i}")).await);
    }
    // The first send hangs for 6 s; after 2 s without progress (checked every second) the other two rows are
    // held back by 10 s.
    tokio::time::sleep(Duration::from_millis(4500).saturating_sub(start.elapsed())).await;
    let db = site.db().await;
    let now_ms = placard::db::now_ms();
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE host = $1 AND state = 'pending' AND claimed_by IS NULL \
         AND next_attempt_at > $2",
    )
    .bind(slow.host())
    .bind(now_ms + 5_000)
    .fetch_one(&db)
    .await
    .unwrap();
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE host = $1 AND state = 'pending' AND claimed_by IS NOT NULL",
    )
    .bind(slow.host())
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (held, in_flight),
        (2, 1),
        "(held back, in flight) 4.5 s into a 6 s send\n{}",
        server.log()
    );
    // The host answers at once from now on: when the hanging send finishes (at 6 s) the held rows are due at
    // once, well before their hold (at least 12 s from the start) ends.
    slow.set_reply("/inbox", Reply::status(202));
    for id in &ids {
        wait_for_creates(&slow, id, 1).await;
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the held-back rows went out {took:?} after the posts\n{}",
        server.log()
    );
    assert_eq!(slow.max_in_flight("/inbox"), 1, "per_host is 1");
}

/// Inserts `n` remote followers of `local` whose inboxes are distinct URLs on `remote` (`/inbox?f=N`, one
/// delivery each); returns the inbox URLs.
async fn insert_followers(site: &Site, remote: &FakeRemote, local: &str, n: usize) -> Vec<String> {
    let db = site.db().await;
    let now = placard::db::now_ms();
    let local_id: i64 =
        sqlx::query_scalar("SELECT id FROM actors WHERE local = 1 AND username = $1")
            .bind(local)
            .fetch_one(&db)
            .await
            .unwrap();
    let mut inboxes = vec![];
    for f in 0..n {
        let id = remote.url(&format!("/users/many{f}"));
        let inbox = remote.url(&format!("/inbox?f={f}"));
        sqlx::query(
            "INSERT INTO actors (ap_id, local, kind, username, username_lower, domain, inbox_url, public_key_id, \
             public_key_pem, created_at, updated_at, fetched_at) VALUES ($1, 0, 'Person', $2, $3, $4, $5, $6, 'x', $7, $8, $9)",
        )
        .bind(&id)
        .bind(format!("many{f}"))
        .bind(format!("many{f}"))
        .bind(remote.host())
        .bind(&inbox)
        .bind(format!("{id}#main-key"))
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&db)
        .await
        .unwrap();
        inboxes.push(inbox);
    }
    sqlx::query(
        "INSERT INTO follows (ap_id, follower_id, followee_id, accepted, created_at, accepted_at) \
         SELECT ap_id || '/follow', id, $1, 1, $2, $3 FROM actors WHERE local = 0 AND username LIKE 'many%'",
    )
    .bind(local_id)
    .bind(now)
    .bind(now)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    inboxes
}

/// How many times each of `inboxes` got the `Create` of `post_id`.
fn creates_per_inbox(remote: &FakeRemote, post_id: &str, inboxes: &[String]) -> Vec<usize> {
    let got = creates_of(remote, post_id);
    inboxes
        .iter()
        .map(|i| {
            got.iter()
                .filter(|r| remote.url(&r.path_and_query) == *i)
                .count()
        })
        .collect()
}

/// A post to more followers than are queued inline (`INLINE_FANOUT`) is answered with a fan-out job, which
/// the server expands into one delivery per inbox: from a post made with the command line while no server
/// runs, again after an expansion cut short (the inboxes it had already queued and sent are not sent twice),
/// and from a post made through the running server.
async fn large_fanout_is_expanded_once_per_inbox(site: Site) {
    append_settings(&site, SETTINGS);
    create_actors(&site, &["alice"]);
    let remote = FakeRemote::start_with(false).await;
    let n = placard::federation::delivery::INLINE_FANOUT as usize + 100;
    let inboxes = insert_followers(&site, &remote, "alice", n).await;

    // No server: the post and its job are stored, no row per inbox yet.
    let id = post(&site, "alice", "Everyone to the square");
    let db = site.db().await;
    let jobs = |db: sqlx::AnyPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM fanouts")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let rows_of = |db: sqlx::AnyPool, id: String| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM deliveries d JOIN activities a ON a.id = d.activity_id \
             WHERE a.object_ap_id = $1",
        )
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap()
    };
    assert_eq!(jobs(db.clone()).await, 1);
    assert_eq!(rows_of(db.clone(), id.clone()).await, 0);
    // An expansion that was cut short had queued and sent the first 100 inboxes.
    let now = placard::db::now_ms();
    for inbox in &inboxes[..100] {
        sqlx::query(
            "INSERT INTO deliveries (activity_id, inbox_url, host, state, attempts, next_attempt_at, created_at, done_at) \
             SELECT id, $1, $2, 'delivered', 1, $3, $4, $5 FROM activities WHERE object_ap_id = $6",
        )
        .bind(inbox)
        .bind(remote.host())
        .bind(now)
        .bind(now)
        .bind(now)
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();
    }

    let server = site.serve().await;
    remote
        .wait_for(&format!("{} Creates", n - 100), WAIT, |got| {
            got.iter().filter(|r| r.kind() == "Create").count() >= n - 100
        })
        .await;
    let sent = creates_per_inbox(&remote, &id, &inboxes);
    assert!(sent[..100].iter().all(|c| *c == 0), "sent again: {sent:?}");
    assert!(sent[100..].iter().all(|c| *c == 1), "{sent:?}");
    assert_eq!(jobs(db.clone()).await, 0, "{}", server.log());
    assert_eq!(rows_of(db.clone(), id.clone()).await, n as i64);

    // Through the running server: answered at once, every inbox once.
    let id2 = post_api(&server, "alice", "And bring a friend").await;
    remote
        .wait_for(&format!("{n} Creates of the second post"), WAIT, |got| {
            got.iter()
                .filter(|r| r.kind() == "Create" && r.json()["object"]["id"] == id2)
                .count()
                >= n
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = creates_per_inbox(&remote, &id2, &inboxes);
    assert!(sent.iter().all(|c| *c == 1), "{sent:?}");
    assert_eq!(jobs(db.clone()).await, 0);
    assert_eq!(rows_of(db.clone(), id2).await, n as i64);
    let (pending, failed, delivered) = counts(&host_stats(&site, &remote.host()));
    assert_eq!((pending, failed), (0, 0));
    assert_eq!(delivered, 2 * n as i64);
}

/// `kill -9` loses no delivery: one in flight at the kill, one pending retry while its host is down, and one
/// queued with the command line while no server runs are all delivered once the server is back.
async fn deliveries_survive_kill9(site: Site) {
    append_settings(&site, SETTINGS);
    create_actors(&site, &["alice"]);
    let mut server = site.serve().await;
    let hanging = FakeRemote::start().await;
    hanging.add_actor("kim");
    let down = FakeRemote::start().await;
    down.add_actor("jo");
    follow(&server, &hanging, "kim", "alice").await;
    follow(&server, &down, "jo", "alice").await;
    // The Accepts are recorded as delivered before anything goes down.
    wait_for_stats(&site, &hanging.host(), (0, 0, 1), WAIT).await;
    wait_for_stats(&site, &down.host(), (0, 0, 1), WAIT).await;

    // `hanging` takes the next request and never answers in time; `down` refuses connections.
    hanging.reply_sequence(
        "/inbox",
        vec![Reply::status(202).delay(Duration::from_secs(120))],
    );
    down.stop();
    let first = post(&site, "alice", "Before the crash");
    wait_for_creates(&hanging, &first, 1).await;
    // The delivery to the host that is down has failed at least once.
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = host_stats(&site, &down.host());
        if stats["last_error"].is_string() {
            assert_eq!(counts(&stats).0, 1, "{stats}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no attempt to the host that is down: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.kill9();

    // While no server runs, the command line queues another post.
    let second = post(&site, "alice", "While the server was down");
    down.start_again();
    let server = site.serve().await;

    for id in [&first, &second] {
        wait_for_creates(&down, id, 1).await;
    }
    let got = wait_for_creates(&hanging, &first, 2).await;
    assert_eq!(got[0].activity_id(), got[1].activity_id());
    wait_for_creates(&hanging, &second, 1).await;
    // Accept + 2 Creates to each host, nothing left.
    wait_for_stats(&site, &hanging.host(), (0, 0, 3), WAIT).await;
    wait_for_stats(&site, &down.host(), (0, 0, 3), WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(creates_of(&down, &first).len(), 1, "delivered once");
    assert_eq!(creates_of(&down, &second).len(), 1, "delivered once");
    assert_eq!(creates_of(&hanging, &second).len(), 1, "delivered once");
    drop(server);
}

/// SIGTERM: sends in flight that finish within `shutdown_grace_seconds` are recorded, the process exits within
/// the grace period (plus a margin) even when a host hangs, and what was not sent is pending and delivered after
/// the restart.
async fn sigterm_drains_within_grace(site: Site) {
    append_settings(&site, SETTINGS);
    create_actors(&site, &["alice", "bob"]);
    let mut server = site.serve().await;
    let hanging = FakeRemote::start().await;
    hanging.add_actor("wes");
    let quick = FakeRemote::start().await;
    quick.add_actor("vic");
    follow(&server, &hanging, "wes", "alice").await;
    follow(&server, &quick, "vic", "bob").await;
    hanging.set_reply("/inbox", Reply::status(202).delay(Duration::from_secs(60)));
    quick.set_reply(
        "/inbox",
        Reply::status(202).delay(Duration::from_millis(1000)),
    );

    let mut slow_ids = vec![];
    for i in 0..3 {
        slow_ids.push(post_api(&server, "alice", &format!("Hanging {i}")).await);
    }
    let quick_id = post_api(&server, "bob", "Quick").await;
    for id in &slow_ids {
        wait_for_creates(&hanging, id, 1).await;
    }
    wait_for_creates(&quick, &quick_id, 1).await;

    let took = server.terminate();
    eprintln!("SIGTERM took {took:?}");
    assert!(
        took < Duration::from_secs(2 + 3),
        "SIGTERM took {took:?} with shutdown_grace_seconds = 2"
    );
    // The send in flight that finished within the grace period counts as delivered.
    let quick_stats = host_stats(&site, &quick.host());
    assert_eq!(counts(&quick_stats), (0, 0, 2), "{quick_stats}");
    // What did not finish is still queued.
    let hanging_stats = host_stats(&site, &hanging.host());
    assert_eq!(counts(&hanging_stats), (3, 0, 1), "{hanging_stats}");

    hanging.set_reply("/inbox", Reply::status(202));
    let server = site.serve().await;
    wait_for_stats(&site, &hanging.host(), (0, 0, 4), WAIT).await;
    for id in &slow_ids {
        assert_eq!(
            creates_of(&hanging, id).len(),
            2,
            "sent again after the restart"
        );
    }
    assert_eq!(creates_of(&quick, &quick_id).len(), 1, "not sent again");
    drop(server);
}

on_both_databases!(
    post_reaches_each_server_once_signed,
    failures_are_retried_or_given_up,
    slow_host_does_not_delay_others,
    stuck_host_rows_wait_until_it_answers,
    large_fanout_is_expanded_once_per_inbox,
    deliveries_survive_kill9,
    sigterm_drains_within_grace,
);
