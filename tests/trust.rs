//! Trust: what a hostile or broken peer can and cannot do to the node (issue 5). Domain blocks (CLI and admin
//! API), removing a remote reply, inbox rate limits, authorized fetch, the outbound guard against requests to
//! loopback and private addresses (SSRF), the checks on fetched documents (id, content type, redirects, size),
//! HTML cleaning and escaping on pages, and hostile request bodies. Signatures themselves are in
//! `tests/signatures.rs`, remote failures and `kill -9` in `tests/delivery.rs`.

mod common;
#[path = "common/remote.rs"]
mod remote;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::*;
use remote::*;
use serde_json::{Value, json};

const PRIVATE_OK: &str = "[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\nlease_seconds = 5\n";

/// How long a running server may take to see a block made by the CLI (`BLOCKS_TTL` is 2 s).
const BLOCK_PROPAGATION: Duration = Duration::from_millis(2600);

/// A site with `alice` and a running server.
struct Node {
    site: Site,
    server: Server,
    db: sqlx::AnyPool,
}

impl Node {
    async fn start(site: Site) -> Node {
        site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
        let server = site.serve().await;
        let db = site.db().await;
        Node { site, server, db }
    }

    fn alice(&self) -> String {
        self.site.url("/users/alice")
    }

    fn inbox(&self) -> String {
        self.site.url("/users/alice/inbox")
    }

    fn shared_inbox(&self) -> String {
        self.site.url("/inbox")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.site.cli_ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    fn thread(&self, post: &str) -> Value {
        self.json(&["thread", post, "--json"])
    }

    fn followers(&self) -> Vec<String> {
        self.json(&["followers", "alice", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn post(&self, text: &str) -> String {
        self.site
            .cli_ok(&["post", "alice", text])
            .trim()
            .to_string()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }

    /// Row counts of the tables an accepted activity writes to.
    async fn counts(&self) -> Vec<(&'static str, i64)> {
        let mut out = vec![];
        for table in [
            "posts",
            "follows",
            "interactions",
            "received_activities",
            "activities",
        ] {
            out.push((
                table,
                self.count(&format!("SELECT COUNT(*) FROM {table}")).await,
            ));
        }
        out
    }

    fn log(&self) -> String {
        self.server.log()
    }
}

fn settings(extra: &str) -> String {
    extra.to_string()
}

async fn site_with(backend: Backend, extra: &str) -> Option<Site> {
    Site::with_settings(backend, &settings(extra)).await
}

/// Runs `NAME(site)` on both databases with the given extra settings.
macro_rules! on_both_with {
    ($settings:expr => $($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                #[allow(unused_imports)]
                use super::*;
                let site = site_with($crate::common::Backend::Sqlite, $settings).await.expect("sqlite site");
                super::$name(site).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                #[allow(unused_imports)]
                use super::*;
                if let Some(site) = site_with($crate::common::Backend::Postgres, $settings).await {
                    super::$name(site).await
                }
            }
        }
    )* };
}

fn status(r: &reqwest::Response) -> u16 {
    r.status().as_u16()
}

/// The `Create` activities the remote received for `post`.
fn creates_of(remote: &FakeRemote, post: &str) -> usize {
    remote
        .received()
        .iter()
        .filter(|r| r.kind() == "Create" && r.json()["object"]["id"] == post)
        .count()
}

async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

// ---------------------------------------------------------------------------------------------------------
// Domain blocks

/// Blocking a FakeRemote's `localhost:PORT` with the CLI: its follow of alice is dropped, its signed activities
/// are refused with 403 and store nothing, alice's posts no longer go to it, `placard follow` of its actors
/// fails; `domain list --json` shows the block; unblocking restores acceptance.
async fn domain_block_by_cli(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    let ann = remote.add_actor("ann");
    remote.add_actor("bob");
    let domain = remote.host();

    // Before the block: ann follows alice and gets her posts.
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.follow("ann", &node.alice()))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(node.followers(), vec![ann.clone()]);
    let first = node.post("Before the block");
    assert!(
        wait_until(Duration::from_secs(15), || creates_of(&remote, &first) == 1).await,
        "the post before the block was not delivered\n{}",
        node.log()
    );

    let out = node
        .site
        .cli_ok(&["domain", "block", &domain, "--reason", "harassment"]);
    assert!(out.contains(&domain), "{out}");
    assert!(out.contains("1 follows dropped"), "{out}");
    assert!(node.followers().is_empty(), "the blocked follower remains");
    let list = node.json(&["domain", "list", "--json"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["domain"], domain);
    assert_eq!(list[0]["reason"], "harassment");
    assert!(list[0]["since"].as_str().is_some_and(|s| !s.is_empty()));
    tokio::time::sleep(BLOCK_PROPAGATION).await;

    // Everything it sends is refused and stores nothing.
    let post = node.post("After the block");
    let before = node.counts().await;
    for (actor, activity) in [
        ("ann", remote.follow("ann", &node.alice())),
        ("bob", remote.follow("bob", &node.alice())),
        ("ann", remote.like("ann", &post)),
        (
            "bob",
            remote.create("bob", remote.note("bob", &post, "blocked reply")),
        ),
    ] {
        for url in [node.inbox(), node.shared_inbox()] {
            let r = remote.sign_and_post(actor, &url, &activity).await;
            assert_eq!(status(&r), 403, "{url}: {:?}", r.text().await);
            let r = remote.sign_and_post_rfc9421(actor, &url, &activity).await;
            assert_eq!(status(&r), 403, "{url}: {:?}", r.text().await);
        }
    }
    assert_eq!(
        node.counts().await,
        before,
        "a blocked domain stored something"
    );
    assert!(node.followers().is_empty());
    assert_eq!(node.thread(&post)["likes"], 0);
    assert!(node.thread(&post)["replies"].as_array().unwrap().is_empty());

    // Nothing is delivered to it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        creates_of(&remote, &post),
        0,
        "a post went to a blocked domain"
    );
    let stats = node.json(&["deliveries", "--json"]);
    let pending_to_it: i64 = stats
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["host"] == domain)
        .map(|h| h["pending"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        pending_to_it, 0,
        "deliveries queued for a blocked domain: {stats:#}"
    );

    // Nor fetched from it.
    let fetches = remote.actor_fetches("bob");
    let out = node
        .site
        .cli(&["follow", "alice", &remote.actor_url("bob")]);
    assert!(!out.ok(), "following an actor of a blocked domain: {out:?}");
    assert!(out.stderr.contains("blocked"), "{}", out.stderr);
    let out = node.site.cli(&["follow", "alice", &remote.handle("bob")]);
    assert!(!out.ok(), "following a handle of a blocked domain: {out:?}");
    assert_eq!(
        remote.actor_fetches("bob"),
        fetches,
        "fetched from a blocked domain"
    );
    assert_eq!(remote.fetch_count("/.well-known/webfinger"), 0);

    // Blocking it again is a conflict; unblocking restores acceptance.
    let out = node.site.cli(&["domain", "block", &domain]);
    assert!(!out.ok(), "{out:?}");
    let out = node.site.cli_ok(&["domain", "unblock", &domain]);
    assert!(out.contains(&domain), "{out}");
    let out = node.site.cli(&["domain", "unblock", &domain]);
    assert!(!out.ok(), "unblocking what is not blocked: {out:?}");
    assert_eq!(node.json(&["domain", "list", "--json"]), json!([]));
    tokio::time::sleep(BLOCK_PROPAGATION).await;
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.follow("ann", &node.alice()))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert_eq!(node.followers(), vec![ann]);
    node.site
        .cli_ok(&["follow", "alice", &remote.actor_url("bob")]);
}

/// The same through the admin API (which the running server sees at once): 201 with the follows dropped,
/// 403 for the domain's activities, the list, 409 twice, DELETE to unblock, 404 when not blocked.
async fn domain_block_by_admin_api(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    let ann = remote.add_actor("ann");
    let domain = remote.host();
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.follow("ann", &node.alice()))
        .await;
    assert_eq!(status(&r), 202);
    assert_eq!(node.followers(), vec![ann.clone()]);

    let r = node
        .server
        .admin(Method::POST, "/domain-blocks")
        .json(&json!({"domain": format!("http://{}/", domain.to_uppercase()), "reason": "spam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["domain"], domain, "the domain is made canonical");
    assert_eq!(body["follows_dropped"], 1);
    assert!(node.followers().is_empty());

    let r = node
        .server
        .admin(Method::GET, "/domain-blocks")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["domain"], domain, "{list}");
    assert_eq!(list[0]["reason"], "spam");

    let before = node.counts().await;
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.follow("ann", &node.alice()))
        .await;
    assert_eq!(status(&r), 403, "{:?}", r.text().await);
    assert_eq!(node.counts().await, before);

    let r = node
        .server
        .admin(Method::POST, "/domain-blocks")
        .json(&json!({"domain": domain}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "blocking twice");

    let r = node
        .server
        .admin(Method::DELETE, &format!("/domain-blocks/{domain}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = node
        .server
        .admin(Method::DELETE, &format!("/domain-blocks/{domain}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.follow("ann", &node.alice()))
        .await;
    assert_eq!(status(&r), 202, "unblocked: {:?}", r.text().await);
    assert_eq!(node.followers(), vec![ann]);
}

/// Invalid domains and the node's own domain are refused (422 / a failing exit code) and write nothing.
async fn domain_block_refuses_bad_and_own_domains(site: Site) {
    let node = Node::start(site).await;
    let own = node.site.base().trim_start_matches("http://").to_string();
    let bad = [
        "",
        "a/b",
        "user@spam.example",
        "spam example",
        "http://",
        "spam.example?x",
        "spam.example#x",
        "[::1",
    ];
    for d in bad {
        let r = node
            .server
            .admin(Method::POST, "/domain-blocks")
            .json(&json!({"domain": d}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{d:?}: {:?}", r.text().await);
        let out = node.site.cli(&["domain", "block", d]);
        assert!(!out.ok(), "{d:?}: {out:?}");
    }
    for d in [own.as_str(), "localhost", "LOCALHOST.", &own.to_uppercase()] {
        let r = node
            .server
            .admin(Method::POST, "/domain-blocks")
            .json(&json!({"domain": d}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "own domain {d:?}: {:?}", r.text().await);
        let out = node.site.cli(&["domain", "block", d]);
        assert!(!out.ok(), "own domain {d:?}: {out:?}");
        assert!(out.stderr.contains("own domain"), "{}", out.stderr);
    }
    let r = node
        .server
        .admin(Method::POST, "/domain-blocks")
        .json(&json!({"domain": "spam.example", "extra": 1}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_client_error(),
        "unknown fields: {}",
        r.status()
    );
    assert_eq!(node.json(&["domain", "list", "--json"]), json!([]));
    assert_eq!(node.count("SELECT COUNT(*) FROM domain_blocks").await, 0);
    // The node still serves itself.
    let r = node.server.get("/users/alice", AP).await;
    assert_eq!(r.status(), 200);
}

// ---------------------------------------------------------------------------------------------------------
// Removing a remote reply

/// An admin removes a remote reply: the thread shows it removed and its reply keeps its place; removing a
/// local post this way is refused; unknown posts are 404 and a second removal a conflict.
async fn remove_remote_reply(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    remote.add_actor("bob");
    let post = node.post("Join the march");
    let ann_note = remote.note("ann", &post, "SPAM SPAM buy now");
    let ann_id = ann_note["id"].as_str().unwrap().to_string();
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.create("ann", ann_note))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    let bob_note = remote.note("bob", &ann_id, "please stop");
    let bob_id = bob_note["id"].as_str().unwrap().to_string();
    let r = remote
        .sign_and_post("bob", &node.inbox(), &remote.create("bob", bob_note))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    let t = node.thread(&post);
    assert_eq!(t["replies"][0]["id"], ann_id, "{t:#}");
    assert_eq!(t["replies"][0]["replies"][0]["id"], bob_id, "{t:#}");

    let out = node.site.cli_ok(&["remove-post", &ann_id]);
    assert!(out.contains(&ann_id), "{out}");
    let t = node.thread(&post);
    let removed = &t["replies"][0];
    assert_eq!(removed["id"], ann_id, "{t:#}");
    assert_eq!(removed["deleted"], true, "{t:#}");
    assert!(
        !removed["content"].as_str().unwrap_or("").contains("SPAM"),
        "{t:#}"
    );
    assert_eq!(
        removed["replies"][0]["id"], bob_id,
        "the reply lost its place: {t:#}"
    );
    assert_eq!(removed["replies"][0]["deleted"], false);
    // The page does not show it either.
    let page = node
        .server
        .get(&post.replace(&node.site.base(), ""), "text/html")
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains("SPAM"), "the removed reply is on the page");
    assert!(html.contains("please stop"), "its reply is not on the page");

    // Again: a conflict. A local post: refused. Unknown: not found. Through the API too.
    assert!(!node.site.cli(&["remove-post", &ann_id]).ok());
    let out = node.site.cli(&["remove-post", &post]);
    assert!(!out.ok(), "removing a local post: {out:?}");
    assert!(out.stderr.contains("local"), "{}", out.stderr);
    for (id, want) in [
        (post.as_str(), 422),
        (ann_id.as_str(), 409),
        ("https://nowhere.example/notes/1", 404),
        (bob_id.as_str(), 200),
    ] {
        let r = node
            .server
            .admin(Method::POST, "/posts/remove")
            .json(&json!({ "id": id }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{id}: {:?}", r.text().await);
    }
    let t = node.thread(&post);
    assert_eq!(t["deleted"], false, "the local post was touched: {t:#}");
    assert_eq!(t["replies"][0]["replies"][0]["deleted"], true, "{t:#}");
}

// ---------------------------------------------------------------------------------------------------------
// Rate limits

/// Sends `n` signed Likes as fast as possible; returns the statuses and the `Retry-After` of every 429.
async fn burst(node: &Node, remote: &FakeRemote, post: &str, n: usize) -> (Vec<u16>, Vec<String>) {
    let mut statuses = vec![];
    let mut retry_after = vec![];
    for i in 0..n {
        let url = if i % 2 == 0 {
            node.inbox()
        } else {
            node.shared_inbox()
        };
        let r = remote
            .sign_and_post("ann", &url, &remote.like("ann", post))
            .await;
        if r.status() == 429 {
            retry_after.push(
                r.headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default(),
            );
        }
        statuses.push(status(&r));
    }
    (statuses, retry_after)
}

fn check_limited(what: &str, statuses: &[u16], retry_after: &[String]) {
    assert!(
        statuses.iter().all(|s| [202, 429].contains(s)),
        "{what}: {statuses:?}"
    );
    let first = statuses.iter().position(|s| *s == 429);
    let first = first.unwrap_or_else(|| panic!("{what}: no 429 in a burst: {statuses:?}"));
    assert!(
        first >= 1,
        "{what}: the first request was limited: {statuses:?}"
    );
    assert!(
        statuses[first..].iter().all(|s| *s == 429),
        "{what}: the limit let some through after the burst: {statuses:?}"
    );
    for ra in retry_after {
        let secs: u64 = ra
            .parse()
            .unwrap_or_else(|_| panic!("{what}: Retry-After {ra:?} is not whole seconds"));
        assert!((1..=60).contains(&secs), "{what}: Retry-After {secs}");
    }
}

const PER_IP: &str = "[federation]\nallow_private_addresses = true\n[limits]\ninbox_per_ip_per_minute = 30\ninbox_per_host_per_minute = 0\n";
const PER_HOST: &str = "[federation]\nallow_private_addresses = true\n[limits]\ninbox_per_ip_per_minute = 0\ninbox_per_host_per_minute = 30\n";
const NO_LIMITS: &str = "[federation]\nallow_private_addresses = true\n[limits]\ninbox_per_ip_per_minute = 0\ninbox_per_host_per_minute = 0\n";

/// 30 a minute per IP: a burst of signed POSTs is answered 429 with `Retry-After` once the burst allowance
/// is spent; the limited requests store nothing; other routes are not limited.
async fn rate_limit_per_ip(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    let post = node.post("Limited");
    let before = node.count("SELECT COUNT(*) FROM interactions").await;
    let (statuses, retry_after) = burst(&node, &remote, &post, 12).await;
    check_limited("per IP", &statuses, &retry_after);
    // Likes of one post by one actor count once: at most one interaction, none from a 429.
    assert!(node.count("SELECT COUNT(*) FROM interactions").await - before <= 1);
    // Unsigned garbage is limited too (the IP limit comes before anything is read).
    let r = node
        .server
        .http
        .post(node.inbox())
        .header("Content-Type", AP)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    // Reading is not limited.
    for _ in 0..5 {
        assert_eq!(node.server.get("/users/alice", AP).await.status(), 200);
    }
}

/// 30 a minute per remote host: the same, keyed on the signer's host.
async fn rate_limit_per_host(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    remote.add_actor("bob");
    let post = node.post("Limited");
    let (statuses, retry_after) = burst(&node, &remote, &post, 12).await;
    check_limited("per host", &statuses, &retry_after);
    // Another actor of the same host is limited too; another host is not.
    let r = remote
        .sign_and_post("bob", &node.inbox(), &remote.like("bob", &post))
        .await;
    assert_eq!(status(&r), 429, "same host, other actor");
    let other = FakeRemote::start().await;
    other.add_actor("cat");
    let r = other
        .sign_and_post("cat", &node.inbox(), &other.like("cat", &post))
        .await;
    assert_eq!(status(&r), 202, "another host: {:?}", r.text().await);
}

/// With both limits at 0 there is no limit.
async fn rate_limits_off(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    let post = node.post("Unlimited");
    let (statuses, _) = burst(&node, &remote, &post, 40).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
}

// ---------------------------------------------------------------------------------------------------------
// Authorized fetch

const AUTHORIZED: &str = "[federation]\nauthorized_fetch = true\nallow_private_addresses = true\n";

/// GET `url` as ActivityPub, signed by `actor` of `remote` (draft-cavage, as Mastodon fetches).
async fn signed_get(
    server: &Server,
    remote: &FakeRemote,
    actor: &str,
    url: &str,
) -> reqwest::Response {
    let headers = placard::federation::signatures::sign_draft_cavage(
        &remote.key(actor),
        &remote.key_id(actor),
        &Method::GET,
        &url::Url::parse(url).unwrap(),
        None,
        None,
        SystemTime::now(),
    )
    .unwrap();
    let mut req = server.http.get(url).header("Accept", AP);
    for (n, v) in headers {
        req = req.header(n, v);
    }
    req.send().await.unwrap()
}

/// With `authorized_fetch`, actors, posts and collections need a valid signature from a server that is not
/// blocked: 401 unsigned or badly signed, 200 signed, 403 signed by a blocked domain. Discovery, the instance
/// actor and HTML pages stay open.
async fn authorized_fetch(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Members only?");
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    let blocked = FakeRemote::start().await;
    blocked.add_actor("troll");
    let r = node
        .server
        .admin(Method::POST, "/domain-blocks")
        .json(&json!({"domain": blocked.host()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let post_path = post.replace(&node.site.base(), "");
    let guarded = [
        "/users/alice".to_string(),
        post_path.clone(),
        format!("{post_path}/replies"),
        "/users/alice/outbox".to_string(),
        "/users/alice/outbox?page=true".to_string(),
        "/users/alice/followers".to_string(),
        "/users/alice/following".to_string(),
    ];
    for path in &guarded {
        let url = node.site.url(path);
        for accept in [
            AP,
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
        ] {
            let r = node.server.get(path, accept).await;
            assert_eq!(r.status(), 401, "unsigned GET {path} ({accept})");
        }
        let r = signed_get(&node.server, &remote, "ann", &url).await;
        assert_eq!(
            r.status(),
            200,
            "signed GET {path}: {:?}\n{}",
            r.text().await,
            node.log()
        );
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("application/activity+json"), "{ct}");
        let r = signed_get(&node.server, &blocked, "troll", &url).await;
        assert_eq!(r.status(), 403, "GET {path} signed by a blocked domain");
        // A signature made for another path does not open this one.
        let other = node.site.url("/users/alice/following");
        if url != other {
            let headers = placard::federation::signatures::sign_draft_cavage(
                &remote.key("ann"),
                &remote.key_id("ann"),
                &Method::GET,
                &url::Url::parse(&other).unwrap(),
                None,
                None,
                SystemTime::now(),
            )
            .unwrap();
            let mut req = node.server.http.get(&url).header("Accept", AP);
            for (n, v) in headers {
                req = req.header(n, v);
            }
            assert_eq!(
                req.send().await.unwrap().status(),
                401,
                "replayed signature on {path}"
            );
        }
    }
    // A signature older than the 12-hour window is refused.
    let headers = placard::federation::signatures::sign_draft_cavage(
        &remote.key("ann"),
        &remote.key_id("ann"),
        &Method::GET,
        &url::Url::parse(&node.alice()).unwrap(),
        None,
        None,
        SystemTime::now() - Duration::from_secs(13 * 3600),
    )
    .unwrap();
    let mut req = node.server.http.get(node.alice()).header("Accept", AP);
    for (n, v) in headers {
        req = req.header(n, v);
    }
    assert_eq!(
        req.send().await.unwrap().status(),
        401,
        "a 13-hour-old signature (the window is 12 h, as Mastodon)"
    );

    // Open whatever the setting.
    let domain = node.site.base().trim_start_matches("http://").to_string();
    for (path, accept) in [
        (
            format!("/.well-known/webfinger?resource=acct:alice@{domain}"),
            "application/jrd+json",
        ),
        ("/.well-known/nodeinfo".to_string(), "application/json"),
        ("/.well-known/host-meta".to_string(), "*/*"),
        ("/actor".to_string(), AP),
        ("/@alice".to_string(), "text/html"),
        ("/users/alice".to_string(), "text/html"),
        (post_path.clone(), "text/html"),
        ("/users/alice/feed.atom".to_string(), "*/*"),
        ("/users/alice/events.ics".to_string(), "*/*"),
    ] {
        let r = node.server.get(&path, accept).await;
        assert_eq!(
            r.status(),
            200,
            "unsigned GET {path} ({accept}) should stay open"
        );
    }
    let links: Value = node
        .server
        .get("/.well-known/nodeinfo", "application/json")
        .await
        .json()
        .await
        .unwrap();
    let href = links["links"][0]["href"].as_str().unwrap();
    let r = node
        .server
        .http
        .get(href)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "NodeInfo {href}");
    // Inboxes are still reachable by signed POSTs.
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.like("ann", &post))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
}

// ---------------------------------------------------------------------------------------------------------
// Outbound guard (SSRF)

/// With private addresses not allowed (the default), `placard follow` of a loopback URL in any notation, or
/// of a non-http(s) URL, fails with a clear message and no request reaches the FakeRemote listening there.
async fn outbound_guard_refuses_private_addresses(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let remote = FakeRemote::start().await;
    remote.add_actor("x");
    let p = remote.port;
    let targets = [
        format!("http://127.0.0.1:{p}/users/x"),
        format!("http://127.1:{p}/users/x"),
        format!("http://[::1]:{p}/users/x"),
        format!("http://[0:0:0:0:0:0:0:1]:{p}/users/x"),
        format!("http://localhost:{p}/users/x"),
        format!("http://LOCALHOST.:{p}/users/x"),
        format!("http://sub.localhost:{p}/users/x"),
        format!("http://2130706433:{p}/users/x"),
        format!("http://0x7f.1:{p}/users/x"),
        format!("http://0177.0.0.1:{p}/users/x"),
        format!("http://[::ffff:127.0.0.1]:{p}/users/x"),
        format!("http://[::ffff:7f00:1]:{p}/users/x"),
        "http://[::ffff:127.0.0.1]/users/x".to_string(),
        format!("http://0.0.0.0:{p}/users/x"),
        format!("http://[::]:{p}/users/x"),
        "http://10.0.0.1/users/x".to_string(),
        "http://192.168.1.1/users/x".to_string(),
        "http://172.16.0.1/users/x".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fe80::1]/users/x".to_string(),
        "http://[fd00::1]/users/x".to_string(),
        "http://224.0.0.1/users/x".to_string(),
        "http://100.64.0.1/users/x".to_string(),
        "http://[64:ff9b::7f00:1]/users/x".to_string(),
        "file:///etc/passwd".to_string(),
        format!("ftp://127.0.0.1:{p}/users/x"),
        "ftp://ftp.example/users/x".to_string(),
        "gopher://example.com/x".to_string(),
        format!("x@127.0.0.1:{p}"),
        format!("x@localhost:{p}"),
        format!("@x@[::1]:{p}"),
    ];
    let mut failures = vec![];
    for target in &targets {
        let out = site.cli(&["follow", "alice", target]);
        if out.ok() {
            failures.push(format!("{target}: succeeded: {}", out.stdout));
            continue;
        }
        let msg = out.stderr.to_lowercase();
        let clear = [
            "refused",
            "private",
            "local",
            "not allowed",
            "only http",
            "scheme",
            "neither @user@host nor a url",
        ]
        .iter()
        .any(|w| msg.contains(w));
        if !clear {
            failures.push(format!("{target}: unclear message: {}", out.stderr.trim()));
        }
        if msg.contains("panic") {
            failures.push(format!("{target}: panicked: {}", out.stderr));
        }
    }
    assert_eq!(
        remote.actor_fetches("x"),
        0,
        "the guard let a fetch through"
    );
    assert_eq!(remote.fetch_count("/.well-known/webfinger"), 0);
    assert!(remote.received().is_empty(), "the guard let a POST through");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let db = site.db().await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follows")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// An inbox POST whose key id is a loopback URL is refused without any request to that address.
async fn inbox_key_on_loopback_is_not_fetched(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Guarded");
    let remote = FakeRemote::start().await;
    remote.add_actor("x");
    let before = node.counts().await;
    for url in [node.inbox(), node.shared_inbox()] {
        let r = remote
            .sign_and_post("x", &url, &remote.like("x", &post))
            .await;
        let s = status(&r);
        assert!((400..500).contains(&s), "{url}: {s} {:?}", r.text().await);
        // The same key id in IPv4 and IPv6 notation.
        for key_id in [
            format!("http://127.0.0.1:{}/users/x#main-key", remote.port),
            format!("http://[::1]:{}/users/x#main-key", remote.port),
        ] {
            let mut like = remote.like("x", &post);
            like["actor"] = json!(key_id.split('#').next().unwrap());
            like["id"] = json!(format!(
                "{}/likes/{}",
                key_id.split("/users").next().unwrap(),
                s
            ));
            let r = remote
                .post(
                    "x",
                    &url,
                    serde_json::to_vec(&like).unwrap(),
                    &PostOptions {
                        key_id: Some(key_id.clone()),
                        ..Default::default()
                    },
                )
                .await;
            let s = status(&r);
            assert!(
                (400..500).contains(&s),
                "{key_id}: {s} {:?}",
                r.text().await
            );
        }
    }
    assert_eq!(
        remote.actor_fetches("x"),
        0,
        "the key was fetched from loopback"
    );
    assert_eq!(node.counts().await, before);
}

// ---------------------------------------------------------------------------------------------------------
// Fetched documents: a crafted server

/// One canned answer.
#[derive(Clone)]
struct Canned {
    status: u16,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

/// A tiny server answering canned responses by path (FakeRemote's `serve_json` always answers 200 as
/// ActivityPub JSON, so it cannot serve the wrong content type, redirects or oversized bodies). It runs on
/// its own thread and runtime, so a test blocked running the CLI does not stall it.
struct Crafted {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Canned>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    #[allow(dead_code)]
    total: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Crafted {
    fn start() -> Crafted {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Canned>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let total = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (r, h, t) = (routes.clone(), hits.clone(), total.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |uri: Uri, _h: HeaderMap| {
                    let (r, h, t) = (r.clone(), h.clone(), t.clone());
                    async move { answer(&r, &h, &t, uri) }
                });
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = rx => {}
                }
            });
            rt.shutdown_background();
        });
        Crafted {
            port,
            routes,
            hits,
            total,
            _stop: tx,
        }
    }

    fn origin(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    fn set(&self, path: &str, canned: Canned) {
        self.routes.lock().unwrap().insert(path.into(), canned);
    }

    fn json(&self, path: &str, content_type: &str, doc: &Value) {
        self.set(
            path,
            Canned {
                status: 200,
                content_type: Some(content_type.into()),
                location: None,
                body: serde_json::to_vec(doc).unwrap(),
            },
        );
    }

    fn redirect(&self, path: &str, to: &str) {
        self.set(
            path,
            Canned {
                status: 302,
                content_type: None,
                location: Some(to.into()),
                body: vec![],
            },
        );
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn answer(
    routes: &Mutex<HashMap<String, Canned>>,
    hits: &Mutex<HashMap<String, usize>>,
    total: &AtomicUsize,
    uri: Uri,
) -> Response {
    total.fetch_add(1, Ordering::SeqCst);
    let path = uri.path().to_string();
    *hits.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
    let Some(c) = routes.lock().unwrap().get(&path).cloned() else {
        return StatusCode::ACCEPTED.into_response(); // inboxes and anything else
    };
    let body = axum::body::Body::from(c.body);
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::from_u16(c.status).unwrap();
    if let Some(ct) = c.content_type {
        res.headers_mut()
            .insert(header::CONTENT_TYPE, ct.parse().unwrap());
    }
    if let Some(l) = c.location {
        res.headers_mut()
            .insert(header::LOCATION, l.parse().unwrap());
    }
    res
}

/// A valid actor document for `id`, with a real key.
fn actor_doc(id: &str, pem: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": id,
        "type": "Person",
        "preferredUsername": "crafted",
        "inbox": format!("{id}/inbox"),
        "publicKey": {"id": format!("{id}#main-key"), "owner": id, "publicKeyPem": pem},
    })
}

async fn actors_at(db: &sqlx::AnyPool, origin: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM actors WHERE ap_id LIKE '{origin}%'"
    ))
    .fetch_one(db)
    .await
    .unwrap()
}

/// A raw server answering every connection with `head` and then `body_len` bytes of JSON-ish padding sent in
/// chunks, with no Content-Length (so only a limit on the bytes read can stop it). Returns its port and a
/// count of connections.
fn endless_body_server(body_len: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\n\
                            Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                let _ = conn.write_all(b"1\r\n{\r\n");
                while sent < body_len {
                    let frame = format!("{:x}\r\n", chunk.len());
                    if conn.write_all(frame.as_bytes()).is_err()
                        || conn.write_all(&chunk).is_err()
                        || conn.write_all(b"\r\n").is_err()
                    {
                        return;
                    }
                    sent += chunk.len();
                }
                let _ = conn.write_all(b"1\r\n}\r\n0\r\n\r\n");
            });
        }
    });
    (port, count)
}

/// Fetched documents are checked (private addresses allowed, so only the document checks apply): an actor
/// whose `id` is not its URL, one served as `text/html` or plain `application/json`, more than 3 redirects,
/// and more than 1 MiB (with or without Content-Length) are refused: `placard follow` fails and stores
/// nothing. A well-formed actor behind 3 redirects is accepted (the control).
async fn fetched_documents_are_checked(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let db = site.db().await;
    let keys = placard::federation::keys::generate_rsa_2048().unwrap();
    let pem = keys.public_key_pem.clone();

    // A FakeRemote serving an impostor: a document at /users/liar claiming to be /users/victim.
    let remote = FakeRemote::start().await;
    remote.add_actor("victim");
    let victim = remote.actor_url("victim");
    let mut liar = actor_doc(&victim, &remote.public_key_pem("victim"));
    liar["name"] = json!("Impostor");
    remote.serve_json("/users/liar", liar);
    let c = Crafted::start();
    // The id of a document on another server entirely.
    c.json("/users/other-origin", AP, &actor_doc(&victim, &pem));
    c.json(
        "/users/html",
        "text/html; charset=utf-8",
        &actor_doc(&c.url("/users/html"), &pem),
    );
    c.json(
        "/users/plain-json",
        "application/json",
        &actor_doc(&c.url("/users/plain-json"), &pem),
    );
    c.json(
        "/users/ld-other-profile",
        "application/ld+json; profile=\"https://example.com/other\"",
        &actor_doc(&c.url("/users/ld-other-profile"), &pem),
    );
    c.json(
        "/users/no-type",
        "",
        &actor_doc(&c.url("/users/no-type"), &pem),
    );
    // 4 redirects, then a good document.
    c.redirect("/r4", "/r3");
    c.redirect("/r3", "/r2");
    c.redirect("/r2", "/r1");
    c.redirect("/r1", "/users/final");
    c.json("/users/final", AP, &actor_doc(&c.url("/users/final"), &pem));
    // A redirect loop.
    c.redirect("/loop-a", "/loop-b");
    c.redirect("/loop-b", "/loop-a");
    // A redirect to a non-http scheme.
    c.redirect("/to-file", "file:///etc/passwd");
    // Over 1 MiB, with Content-Length.
    let mut big = actor_doc(&c.url("/users/big"), &pem);
    big["summary"] = json!("x".repeat(1024 * 1024 + 10));
    c.json("/users/big", AP, &big);
    let (endless_port, endless_count) = endless_body_server(8 * 1024 * 1024);

    let cases = [
        (
            "an id that is not the URL (same origin)",
            remote.url("/users/liar"),
        ),
        ("an id on another origin", c.url("/users/other-origin")),
        ("text/html", c.url("/users/html")),
        ("application/json", c.url("/users/plain-json")),
        (
            "ld+json with another profile",
            c.url("/users/ld-other-profile"),
        ),
        ("an empty content type", c.url("/users/no-type")),
        ("4 redirects", c.url("/r4")),
        ("a redirect loop", c.url("/loop-a")),
        ("a redirect to file:", c.url("/to-file")),
        ("over 1 MiB with Content-Length", c.url("/users/big")),
        (
            "over 1 MiB chunked",
            format!("http://localhost:{endless_port}/users/endless"),
        ),
    ];
    let mut failures = vec![];
    for (what, url) in &cases {
        let started = std::time::Instant::now();
        let out = site.cli(&["follow", "alice", url]);
        if out.ok() {
            failures.push(format!(
                "{what}: `placard follow alice {url}` succeeded: {}",
                out.stdout
            ));
        } else if out.stderr.contains("panic") {
            failures.push(format!("{what}: panicked: {}", out.stderr));
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{what}: took {:?}",
            started.elapsed()
        );
    }
    assert!(c.hits("/users/final") == 0, "the 4th redirect was followed");
    assert!(
        endless_count.load(Ordering::SeqCst) >= 1,
        "the endless server was not asked"
    );
    let follows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follows")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(follows, 0, "a refused fetch left a follow");
    assert_eq!(
        actors_at(&db, &c.origin()).await,
        0,
        "a refused document was stored"
    );
    assert_eq!(
        actors_at(&db, &format!("http://localhost:{endless_port}")).await,
        0
    );
    let impostor: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM actors WHERE ap_id = '{victim}' AND display_name = 'Impostor'"
    ))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        impostor, 0,
        "the impostor's document was stored under the victim's id"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------
// HTML

const HOSTILE_HTML: &str = concat!(
    "<p>Hello <script>alert('XSS-SCRIPT')</script>",
    "<img src=x onerror=\"alert('XSS-ONERROR')\">",
    "<a href=\"javascript:alert('XSS-JSLINK')\">click me</a> ",
    "<a href=\"JaVaScRiPt:alert('XSS-JSLINK2')\">again</a> ",
    "<iframe src=\"https://evil.example/XSS-IFRAME\"></iframe>",
    "<span style=\"background:url(https://evil.example/XSS-STYLE)\">styled</span>",
    "<svg onload=\"alert('XSS-SVG')\"></svg>",
    "<style>body{background:url(XSS-STYLETAG)}</style>",
    "<a href=\"https://ok.example/page\" onclick=\"alert('XSS-ONCLICK')\" target=\"_top\">a fine link</a>",
    "<form action=\"https://evil.example/XSS-FORM\"><input name=q></form>",
    "<object data=\"XSS-OBJECT\"></object><embed src=\"XSS-EMBED\">",
    "<base href=\"https://evil.example/XSS-BASE\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/XSS-META\">",
    "</p>"
);

const MARKERS: &[&str] = &[
    "XSS-SCRIPT",
    "XSS-ONERROR",
    "XSS-JSLINK",
    "XSS-IFRAME",
    "XSS-STYLE",
    "XSS-SVG",
    "XSS-ONCLICK",
    "XSS-FORM",
    "XSS-OBJECT",
    "XSS-EMBED",
    "XSS-BASE",
    "XSS-META",
];

fn assert_clean(what: &str, html: &str) {
    for m in MARKERS {
        assert!(!html.contains(m), "{what}: {m} survived:\n{html}");
    }
    let lower = html.to_ascii_lowercase();
    for bad in [
        "javascript:",
        "<iframe",
        "onerror=",
        "onclick=",
        "onload=",
        "<svg",
        "<object",
        "<embed",
        "<form",
    ] {
        assert!(!lower.contains(bad), "{what}: {bad} survived:\n{html}");
    }
}

fn check_csp(what: &str, r: &reqwest::Response) {
    let csp = r
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    for bad in ["script-src", "unsafe-eval", "*;", " * "] {
        assert!(!csp.contains(bad), "{what}: CSP allows {bad}: {csp}");
    }
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

/// A remote reply full of script, handlers, styles, iframes and `javascript:` links is stored and shown
/// without any of them, its links with `rel="nofollow noopener noreferrer"`; a display name with markup is
/// escaped; every HTML page sends a strict CSP.
async fn hostile_html_is_cleaned_and_escaped(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Our campaign page");
    let remote = FakeRemote::start().await;
    remote.add_actor("evil");
    // The actor document of `evil`, with markup in its names and summary.
    let id = remote.actor_url("evil");
    let mut doc = actor_doc(&id, &remote.public_key_pem("evil"));
    doc["preferredUsername"] = json!("evil");
    doc["name"] =
        json!("<b>Evil</b><img src=x onerror=\"alert('XSS-ONERROR')\"><script>XSS-SCRIPT</script>");
    doc["summary"] = json!("<iframe src=\"https://evil.example/XSS-IFRAME\"></iframe>bio");
    doc["followers"] = json!(format!("{id}/followers"));
    remote.serve_json("/users/evil", doc);

    let mut note = remote.note("evil", &post, "x");
    note["content"] = json!(HOSTILE_HTML);
    note["summary"] = json!("<script>alert('XSS-SCRIPT')</script>CW");
    let note_id = note["id"].as_str().unwrap().to_string();
    let r = remote
        .sign_and_post("evil", &node.inbox(), &remote.create("evil", note))
        .await;
    assert_eq!(status(&r), 202, "{:?}\n{}", r.text().await, node.log());

    // Stored clean.
    let t = node.thread(&post);
    let reply = &t["replies"][0];
    assert_eq!(reply["id"], note_id, "{t:#}");
    let content = reply["content"].as_str().unwrap();
    assert_clean("stored content", content);
    assert!(!content.contains("style="), "{content}");
    assert!(
        content.contains("click me") && content.contains("a fine link"),
        "{content}"
    );
    assert!(
        content.contains("href=\"https://ok.example/page\""),
        "the good link was lost: {content}"
    );
    assert!(
        content.contains("rel=\"nofollow noopener noreferrer\""),
        "{content}"
    );
    assert!(!content.contains("target="), "{content}");
    let stored: String = sqlx::query_scalar(&format!(
        "SELECT content FROM posts WHERE ap_id = '{note_id}'"
    ))
    .fetch_one(&node.db)
    .await
    .unwrap();
    assert_clean("the content column", &stored);

    // Shown clean, names escaped.
    let path = post.replace(&node.site.base(), "");
    let r = node.server.get(&path, "text/html").await;
    assert_eq!(r.status(), 200);
    check_csp("the post page", &r);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("a fine link"),
        "the reply is not on the page:\n{html}"
    );
    assert_clean("the post page", &html);
    assert!(
        !html.contains("<b>Evil</b>"),
        "the display name's markup is live:\n{html}"
    );
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "a script tag on the page:\n{html}"
    );
    let link_ok = html
        .contains("href=\"https://ok.example/page\" rel=\"nofollow noopener noreferrer\"")
        || html.contains("rel=\"nofollow noopener noreferrer\" href=\"https://ok.example/page\"");
    assert!(
        link_ok,
        "the link lacks rel=nofollow noopener noreferrer:\n{html}"
    );

    // Every HTML page has the CSP.
    for p in ["/@alice", "/users/alice", path.as_str()] {
        let r = node.server.get(p, "text/html").await;
        assert_eq!(r.status(), 200, "{p}");
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        check_csp(p, &r);
    }
    // Nothing from user input is served as ActivityPub JSON under our name: the remote reply is not served
    // from our origin.
    let r = node
        .server
        .get(
            &format!("/notes/{}", note_id.rsplit('/').next().unwrap()),
            AP,
        )
        .await;
    assert_ne!(r.status(), 200);
}

// ---------------------------------------------------------------------------------------------------------
// Hostile bodies

/// Hostile bodies to both inboxes are 4xx, never 5xx, and the server stays alive and keeps working.
async fn hostile_bodies_are_4xx(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Target");
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    let ann = remote.actor_url("ann");

    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let mut nested = json!(post.clone());
    for _ in 0..40 {
        nested = json!({"type": "Note", "id": format!("{ann}/n"), "object": nested});
    }
    let mut object_nested = remote.like("ann", &post);
    object_nested["object"] = nested;
    let mut actor_array = remote.like("ann", &post);
    actor_array["actor"] = json!((0..1000).map(|i| format!("{ann}{i}")).collect::<Vec<_>>());
    let mut actor_array_first = remote.like("ann", &post);
    let mut list = vec![ann.clone()];
    list.extend((0..999).map(|i| format!("https://elsewhere.example/users/{i}")));
    actor_array_first["actor"] = json!(list);
    let like = remote.like("ann", &post).to_string();
    let huge_number = like.replacen('{', &format!("{{\"n\":{},", "9".repeat(100_000)), 1);
    let huge_exponent = like.replacen('{', "{\"n\":1e999999,", 1);
    let mut invalid_utf8 = like.clone().into_bytes();
    invalid_utf8.splice(2..2, [0xff, 0xfe, 0xc3, 0x28]);
    let raw_nul = like.replacen("Like", "Li\0ke", 1);

    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("10,000 nested arrays", deep_array.into_bytes(), &[400]),
        ("10,000 nested objects", deep_object.into_bytes(), &[400]),
        (
            "object nested 40 levels",
            serde_json::to_vec(&object_nested).unwrap(),
            &[400],
        ),
        (
            "a 100,000-digit number",
            huge_number.into_bytes(),
            &[400, 401, 422],
        ),
        ("1e999999", huge_exponent.into_bytes(), &[400, 401, 422]),
        ("invalid UTF-8", invalid_utf8, &[400]),
        ("a raw NUL byte", raw_nul.into_bytes(), &[400]),
        (
            "an actor array of 1,000 others",
            serde_json::to_vec(&actor_array).unwrap(),
            &[400, 401, 403, 422],
        ),
        ("an empty body", vec![], &[400]),
        ("null", b"null".to_vec(), &[400]),
        ("a string", b"\"Like\"".to_vec(), &[400]),
        ("an empty object", b"{}".to_vec(), &[400, 401, 422]),
        ("a UTF-16 BOM", [0xfe, 0xff, b'{', b'}'].to_vec(), &[400]),
        (
            "trailing garbage",
            format!("{like} garbage").into_bytes(),
            &[400],
        ),
    ];
    let before = node.counts().await;
    let mut failures = vec![];
    for (what, body, expect) in &cases {
        for url in [node.inbox(), node.shared_inbox()] {
            for opts in [PostOptions::default(), PostOptions::unsigned()] {
                let r = remote.post("ann", &url, body.clone(), &opts).await;
                let s = status(&r);
                let text = r.text().await.unwrap_or_default();
                let unsigned_ok = matches!(opts.scheme, Scheme::Unsigned) && s == 401;
                if s >= 500 || !(expect.contains(&s) || unsigned_ok) {
                    failures.push(format!("{what} to {url}: {s} {text}"));
                }
            }
        }
    }
    assert_eq!(
        node.counts().await,
        before,
        "a hostile body stored something"
    );

    // Bodies that are valid JSON and validly signed, but hostile to storage: never 5xx.
    let mut bodies = vec![(
        "actor array with the signer first",
        serde_json::to_vec(&actor_array_first).unwrap(),
    )];
    for (i, text) in [
        "NUL \u{0} in content",
        "lone surrogate-ish \u{fffd}\u{fffe}\u{ffff}",
        "RTL \u{202e}txt.exe",
    ]
    .iter()
    .enumerate()
    {
        let mut note = remote.note("ann", &post, text);
        note["summary"] = json!(format!("cw \u{0} {i}"));
        note["name"] = json!("\u{0}");
        bodies.push((
            "a note with odd characters",
            serde_json::to_vec(&remote.create("ann", note)).unwrap(),
        ));
    }
    for (what, body) in bodies {
        let r = remote
            .post("ann", &node.shared_inbox(), body, &PostOptions::default())
            .await;
        let s = status(&r);
        let text = r.text().await.unwrap_or_default();
        eprintln!("{what}: {s} {text}");
        if s >= 500 {
            failures.push(format!("{what}: {s} {text}"));
        }
    }

    // Still alive, still working.
    assert_eq!(
        node.server
            .get("/.well-known/nodeinfo", "application/json")
            .await
            .status(),
        200
    );
    let r = remote
        .sign_and_post("ann", &node.inbox(), &remote.like("ann", &post))
        .await;
    assert_eq!(status(&r), 202, "{:?}", r.text().await);
    assert!(
        !node.log().contains("panicked"),
        "the server panicked:\n{}",
        node.log()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------------------

on_both_with!(PRIVATE_OK =>
    domain_block_by_cli,
    domain_block_by_admin_api,
    domain_block_refuses_bad_and_own_domains,
    remove_remote_reply,
    fetched_documents_are_checked,
    hostile_html_is_cleaned_and_escaped,
    hostile_bodies_are_4xx,
);

on_both_with!(PER_IP => rate_limit_per_ip);
on_both_with!(PER_HOST => rate_limit_per_host);
on_both_with!(NO_LIMITS => rate_limits_off);
on_both_with!(AUTHORIZED => authorized_fetch);
on_both_with!("" =>
    outbound_guard_refuses_private_addresses,
    inbox_key_on_loopback_is_not_fetched,
);

/// A remote actor whose display name is `Rock & Roll ✊` (an entity followed by a multi-byte character across
/// byte 12) follows alice: accepted and stored with its name. Fails today: `placard::text::decode_entities`
/// (via `html::to_text` in `resolve::parse_actor`) slices a string inside a character and panics, so the
/// inbox request dies without an answer.
async fn bug_display_name_with_ampersand_and_emoji(site: Site) {
    let node = Node::start(site).await;
    let remote = FakeRemote::start().await;
    remote.add_actor("rock");
    let id = remote.actor_url("rock");
    let mut doc = actor_doc(&id, &remote.public_key_pem("rock"));
    doc["preferredUsername"] = json!("rock");
    doc["name"] = json!("Rock & Roll ✊");
    remote.serve_json("/users/rock", doc);
    let r = node
        .server
        .http
        .post(node.inbox())
        .header("Content-Type", AP)
        .body("{}")
        .send()
        .await;
    assert!(r.is_ok());
    let follow = remote.follow("rock", &node.alice());
    let body = serde_json::to_vec(&follow).unwrap();
    let headers = remote.signed_headers("rock", &node.inbox(), &body, &PostOptions::default());
    let mut req = node.server.http.post(node.inbox());
    for (n, v) in headers {
        req = req.header(n, v);
    }
    let r = req.body(body).send().await;
    let got = match r {
        Ok(r) => format!("{}", r.status()),
        Err(e) => format!("no answer: {e}"),
    };
    assert_eq!(got, "202 Accepted", "{}", node.log());
    assert_eq!(node.followers(), vec![id]);
}

/// A Create whose note id (and so the stored `ap_id`) contains a JSON-escaped NUL: refused with a 4xx or
/// stored, never a 5xx. Fails today on PostgreSQL, which cannot store NUL in TEXT: 500.
async fn bug_nul_in_an_id_is_a_500_on_postgres(site: Site) {
    let node = Node::start(site).await;
    let post = node.post("Target");
    let remote = FakeRemote::start().await;
    remote.add_actor("ann");
    let mut note = remote.note("ann", &post, "ok");
    note["id"] = json!(format!("{}\u{0}x", note["id"].as_str().unwrap()));
    let mut create = remote.create("ann", note);
    create["id"] = json!(format!("{}/nul-activity", remote.actor_url("ann")));
    let r = remote
        .sign_and_post("ann", &node.shared_inbox(), &create)
        .await;
    let s = status(&r);
    assert!(s < 500, "a NUL in an id: {s} {:?}", r.text().await);
    assert_eq!(
        node.server
            .get("/.well-known/nodeinfo", "application/json")
            .await
            .status(),
        200
    );
}

on_both_with!(PRIVATE_OK =>
    bug_display_name_with_ampersand_and_emoji,
    bug_nul_in_an_id_is_a_500_on_postgres,
);

/// At most 3 redirects are followed (issue 5, point 4): a good actor behind exactly 3 redirects is followed.
/// Fails today: `HttpClient::new`'s redirect policy refuses when `attempt.previous().len() >= MAX_REDIRECTS`,
/// but `previous()` includes the original URL, so only 2 redirects are followed ("more than 3 redirects").
async fn bug_three_redirects_are_followed(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let keys = placard::federation::keys::generate_rsa_2048().unwrap();
    let c = Crafted::start();
    c.redirect("/r3", "/r2");
    c.redirect("/r2", "/r1");
    c.redirect("/r1", "/users/final");
    c.json(
        "/users/final",
        AP,
        &actor_doc(&c.url("/users/final"), &keys.public_key_pem),
    );
    let out = site.cli(&["follow", "alice", &c.url("/r3")]);
    assert!(out.ok(), "3 redirects to a good actor: {out:?}");
    assert_eq!(c.hits("/users/final"), 1);
}

on_both_with!(PRIVATE_OK => bug_three_redirects_are_followed);
