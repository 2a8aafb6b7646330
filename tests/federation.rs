//! Two Placard nodes federating end to end over signed HTTP on `localhost` ports: follows (accepted at once and
//! approved or rejected by hand), unfollows, posts with mentions, hashtags, every visibility and content
//! warnings, threaded replies (HTML thread page, `replies`, FEP-7888 `context`), likes, boosts and their undoing,
//! edits, deletes, every activity fetchable at its id, the outbox, the delivery bookkeeping, and the same through
//! the admin API. Each test runs two real `placard serve` processes on the same database backend; the command
//! line writes to a node's database and that node's delivery workers send what it queued.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

// ---------------------------------------------------------------------------------------------------------
// Two nodes
// ---------------------------------------------------------------------------------------------------------

/// Both nodes federate over loopback and retry quickly.
const FEDERATION: &str =
    "[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\n";
const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
const HTML: &str = "text/html";
/// How long a delivery may take to show on the other side.
const WAIT: Duration = Duration::from_secs(15);

/// One Placard instance: a site, its running server and a database connection of the test's own.
struct Node {
    // Dropped in this order: the server stops before the pool closes and the site's database goes.
    server: Server,
    db: sqlx::AnyPool,
    site: Site,
}

/// A post as a node stored it.
#[derive(Debug)]
struct Stored {
    visibility: String,
    content: String,
    summary: Option<String>,
    sensitive: bool,
    in_reply_to: Option<String>,
    deleted: bool,
    to: Value,
    cc: Value,
    tags: Value,
}

impl Node {
    async fn start(site: Site) -> Node {
        let server = site.serve().await;
        let db = site.db().await;
        Node { server, db, site }
    }

    /// `localhost:PORT`: the host of handles and of the delivery statistics.
    fn host(&self) -> String {
        format!("localhost:{}", self.site.port)
    }

    fn handle(&self, name: &str) -> String {
        format!("@{name}@{}", self.host())
    }

    fn actor(&self, name: &str) -> String {
        self.site.url(&format!("/users/{name}"))
    }

    fn cli_ok(&self, args: &[&str]) -> String {
        self.site.cli_ok(args)
    }

    /// Runs a command that must fail, with a non-zero exit and a reason on stderr.
    fn cli_fails(&self, args: &[&str]) -> CliOutput {
        let out = self.site.cli(args);
        assert!(
            !out.ok(),
            "placard {args:?} should fail but succeeded: {}",
            out.stdout
        );
        assert!(
            !out.stderr.trim().is_empty(),
            "placard {args:?} failed without saying why"
        );
        out
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli_ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("placard {args:?} printed no JSON ({e}): {out}"))
    }

    /// `placard actor create NAME ARGS…`; returns the actor's id.
    fn create_actor(&self, name: &str, args: &[&str]) -> String {
        let mut all = vec!["actor", "create", name];
        all.extend_from_slice(args);
        let id = self.cli_ok(&all).trim().to_string();
        assert_eq!(id, self.actor(name));
        id
    }

    /// `placard post ARGS…`; returns the new post's id.
    fn post(&self, args: &[&str]) -> String {
        let mut all = vec!["post"];
        all.extend_from_slice(args);
        let id = self.cli_ok(&all).trim().to_string();
        assert!(
            id.starts_with(&self.site.url("/posts/")),
            "placard post printed {id:?}, not a post id"
        );
        id
    }

    /// `placard thread URL --json`.
    fn thread(&self, url: &str) -> Value {
        self.cli_json(&["thread", url, "--json"])
    }

    /// The ids `placard followers NAME [--pending] --json` lists.
    fn followers(&self, name: &str, pending: bool) -> Vec<String> {
        let mut args = vec!["followers", name, "--json"];
        if pending {
            args.push("--pending");
        }
        ids(&self.cli_json(&args))
    }

    /// GET a URL of this node: status and body.
    async fn fetch(&self, url: &str, accept: &str) -> (StatusCode, String) {
        let r = self
            .server
            .http
            .get(url)
            .header("Accept", accept)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    /// GET as ActivityPub JSON, expecting 200 and the document's id to be the URL (without its query).
    async fn fetch_json(&self, url: &str) -> Value {
        let (status, body) = self.fetch(url, AP).await;
        assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
        let doc: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {url} is not JSON ({e}): {body}"));
        if !url.contains('?') {
            assert_eq!(doc["id"], json!(url), "the document at {url}: {doc}");
        }
        doc
    }

    /// GET until `shows` holds (at most 2 s): a change made by the command line, another process, shows
    /// on the running server within a second (its documents are kept in memory that long).
    async fn fetch_once(
        &self,
        url: &str,
        accept: &str,
        shows: impl Fn(StatusCode, &str) -> bool,
    ) -> (StatusCode, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let (status, body) = self.fetch(url, accept).await;
            if shows(status, &body) || std::time::Instant::now() > deadline {
                return (status, body);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `totalItems` of a collection.
    async fn total(&self, url: &str) -> i64 {
        self.fetch_json(url).await["totalItems"]
            .as_i64()
            .unwrap_or_else(|| panic!("{url} has no totalItems"))
    }

    /// An admin API request: status and JSON body (`null` when empty).
    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.server.admin(method.clone(), path);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path} answered no JSON ({e}): {text}"))
        };
        (status, v)
    }

    /// Whether `follower` follows `followee` in this node's database: `None` without a follow, else whether it
    /// is accepted.
    async fn follow_state(&self, follower: &str, followee: &str) -> Option<bool> {
        sqlx::query(
            "SELECT f.accepted FROM follows f JOIN actors r ON r.id = f.follower_id \
             JOIN actors e ON e.id = f.followee_id WHERE r.ap_id = $1 AND e.ap_id = $2",
        )
        .bind(follower)
        .bind(followee)
        .fetch_optional(&self.db)
        .await
        .unwrap()
        .map(|row| row.get::<i64, _>(0) != 0)
    }

    /// A post as this node stored it.
    async fn stored(&self, ap_id: &str) -> Option<Stored> {
        let row = sqlx::query(
            "SELECT visibility, content, summary, sensitive, in_reply_to, deleted_at, to_json, cc_json, \
             tags_json FROM posts WHERE ap_id = $1",
        )
        .bind(ap_id)
        .fetch_optional(&self.db)
        .await
        .unwrap()?;
        let json_of = |col: &str| -> Value {
            serde_json::from_str(&row.get::<String, _>(col)).unwrap_or(Value::Null)
        };
        Some(Stored {
            visibility: row.get("visibility"),
            content: row.get("content"),
            summary: row.get("summary"),
            sensitive: row.get::<i64, _>("sensitive") != 0,
            in_reply_to: row.get("in_reply_to"),
            deleted: row.get::<Option<i64>, _>("deleted_at").is_some(),
            to: json_of("to_json"),
            cc: json_of("cc_json"),
            tags: json_of("tags_json"),
        })
    }

    /// A stored post, or why it is not there yet (for [`Fed::wait`]).
    async fn stored_where(
        &self,
        ap_id: &str,
        ok: impl Fn(&Stored) -> bool,
    ) -> Result<Stored, String> {
        match self.stored(ap_id).await {
            Some(s) if ok(&s) => Ok(s),
            Some(s) => Err(format!("{s:?}")),
            None => Err(format!("{ap_id} not stored")),
        }
    }

    /// Every activity this node sent: (id, type, object id).
    async fn activities(&self) -> Vec<(String, String, Option<String>)> {
        sqlx::query("SELECT ap_id, kind, object_ap_id FROM activities ORDER BY id")
            .fetch_all(&self.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    /// The types of the activities a local actor sent, oldest first.
    async fn sent_by(&self, actor: &str) -> Vec<String> {
        sqlx::query_scalar::<_, String>(
            "SELECT x.kind FROM activities x JOIN actors a ON a.id = x.actor_id WHERE a.ap_id = $1 \
             ORDER BY x.id",
        )
        .bind(actor)
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    async fn post_count(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM posts")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Deliveries to `host` not yet done.
    async fn pending_to(&self, host: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM deliveries WHERE host = $1 AND state = 'pending'",
        )
        .bind(host)
        .fetch_one(&self.db)
        .await
        .unwrap()
    }
}

struct Fed {
    a: Node,
    b: Node,
}

/// Starts two nodes on the backend of `site`: `site` itself and a second one, both with [`FEDERATION`].
async fn two_nodes(site: Site) -> Fed {
    // `site` was made without extra settings; its config file ends with the [admin] table, so appending the
    // federation settings is the same as having made it with them.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&site.config_path)
            .unwrap();
        f.write_all(format!("\n{FEDERATION}").as_bytes()).unwrap();
    }
    let other = Site::with_settings(site.backend, FEDERATION)
        .await
        .expect("a second site on the same database backend");
    let (a, b) = tokio::join!(Node::start(site), Node::start(other));
    Fed { a, b }
}

fn tail(s: &str) -> &str {
    let mut start = s.len().saturating_sub(4000);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

impl Fed {
    /// Polls `check` until it gives `Ok`, for at most [`WAIT`]; panics with the last `Err` and both logs.
    async fn wait<T>(&self, what: &str, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            match check().await {
                Ok(v) => return v,
                Err(last) if Instant::now() >= deadline => panic!(
                    "waited {WAIT:?} for {what}; last seen: {last}\n--- log of A ---\n{}\n--- log of B ---\n{}",
                    tail(&self.a.server.log()),
                    tail(&self.b.server.log())
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until `from` has nothing pending for `to`, then checks `placard deliveries --json` on `from`:
    /// something delivered to `to`'s host, nothing pending or given up.
    async fn deliveries_settled(&self, from: &Node, to: &Node) -> Value {
        let host = to.host();
        self.wait(&format!("every delivery to {host} done"), async || {
            want(from.pending_to(&host).await, 0)
        })
        .await;
        let stats = from.cli_json(&["deliveries", "--json"]);
        let entry = stats
            .as_array()
            .expect("deliveries --json is an array")
            .iter()
            .find(|s| s["host"] == json!(host))
            .unwrap_or_else(|| panic!("no delivery statistics for {host}: {stats}"))
            .clone();
        assert_eq!(entry["pending"], 0, "{entry}");
        assert_eq!(entry["failed"], 0, "{entry}");
        assert!(entry["delivered"].as_i64().unwrap_or(0) > 0, "{entry}");
        assert!(entry["unavailable_since"].is_null(), "{entry}");
        entry
    }
}

/// `Ok(got)` when it is what is wanted, else the value seen.
fn want<T: std::fmt::Debug + PartialEq>(got: T, wanted: T) -> Result<T, String> {
    if got == wanted {
        Ok(got)
    } else {
        Err(format!("{got:?}"))
    }
}

/// The `id`s of a JSON array of objects.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|v| v["id"].as_str().expect("an id").to_string())
        .collect()
}

/// A thread (`placard thread --json` or the admin API) as (id, depth) in display order.
fn shape(node: &Value) -> Vec<(String, usize)> {
    fn walk(n: &Value, depth: usize, out: &mut Vec<(String, usize)>) {
        out.push((n["id"].as_str().unwrap_or_default().to_string(), depth));
        for r in n["replies"].as_array().into_iter().flatten() {
            walk(r, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(node, 0, &mut out);
    out
}

fn has_tag(tags: &Value, kind: &str, href: &str, name: &str) -> bool {
    tags.as_array().into_iter().flatten().any(|t| {
        t["type"] == kind
            && t["href"] == href
            && t["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// The last path segment of a URL (a post's token).
fn token(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// The HTML of the `<article>` that shows the post with this token.
fn article_of<'a>(html: &'a str, token: &str) -> &'a str {
    let at = html
        .find(token)
        .unwrap_or_else(|| panic!("the thread page does not link {token}:\n{html}"));
    let start = html[..at]
        .rfind("<article")
        .expect("the post is in an article");
    let end = html[at..].find("</article>").map_or(html.len(), |e| at + e);
    &html[start..end]
}

/// What fetching one of the activities we sent must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// 200 with the activity's JSON.
    Yes,
    /// 404: it is about a post the public may not see.
    Private,
    /// 404 or 410, without the text the activity carried: it carries a post that was deleted.
    Gone,
}

/// Fetches every activity a node sent at its id, checking each against `expect(type, object id)`; reports
/// every mismatch at once. Returns the types sent, sorted.
async fn assert_activities_fetchable(
    node: &Node,
    expect: impl Fn(&str, Option<&str>) -> Served,
) -> Vec<String> {
    let mut kinds = Vec::new();
    let mut wrong = Vec::new();
    for (id, kind, object) in node.activities().await {
        let wanted = expect(&kind, object.as_deref());
        let (status, body) = node.fetch(&id, AP).await;
        let right = match wanted {
            Served::Yes => {
                status == StatusCode::OK
                    && serde_json::from_str::<Value>(&body)
                        .is_ok_and(|doc| doc["id"] == json!(id) && doc["type"] == json!(kind))
            }
            Served::Private => status == StatusCode::NOT_FOUND && !body.contains("\"content\""),
            Served::Gone => {
                matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE)
                    && !body.contains("\"content\"")
            }
        };
        if !right {
            wrong.push(format!(
                "GET {id} (the {kind} of {object:?}) should be {wanted:?}, got {status}: {body}"
            ));
        }
        kinds.push(kind);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    kinds.sort();
    kinds
}

// ---------------------------------------------------------------------------------------------------------
// Follows
// ---------------------------------------------------------------------------------------------------------

async fn follow_accept_unfollow_and_approval(site: Site) {
    let fed = two_nodes(site).await;
    let (a, b) = (&fed.a, &fed.b);
    let alice = a.create_actor("alice", &["--kind", "person"]);
    let org = a.create_actor("org", &["--kind", "organization", "--manual-approval"]);
    let bob = b.create_actor("bob", &["--kind", "person"]);
    let carol = b.create_actor("carol", &["--kind", "person"]);
    let alice_followers = format!("{alice}/followers");
    let org_followers = format!("{org}/followers");

    // bob@B follows alice@A by handle (WebFinger over http on loopback); alice takes followers at once.
    let out = b.cli_ok(&["follow", "bob", &a.handle("alice")]);
    assert!(out.contains(&alice), "{out}");
    fed.wait("A to count bob among alice's followers", async || {
        want(a.total(&alice_followers).await, 1)
    })
    .await;
    assert_eq!(a.followers("alice", false), vec![bob.clone()]);
    assert!(a.followers("alice", true).is_empty());
    let page = a.fetch_json(&format!("{alice_followers}?page=1")).await;
    assert_eq!(page["orderedItems"], json!([bob]), "{page}");
    fed.wait("B to see alice accept bob", async || {
        want(b.follow_state(&bob, &alice).await, Some(true))
    })
    .await;
    assert_eq!(b.total(&format!("{bob}/following")).await, 1);
    let (status, view) = b.api(Method::GET, "/actors/bob", None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["following_count"], 1, "{view}");
    // Following again is refused, and changes nothing.
    b.cli_fails(&["follow", "bob", &alice]);
    assert_eq!(b.follow_state(&bob, &alice).await, Some(true));

    // Unfollow: gone on B at once, and on A when the Undo arrives.
    let out = b.cli_ok(&["unfollow", "bob", &a.handle("alice")]);
    assert!(out.contains(&alice), "{out}");
    assert_eq!(b.follow_state(&bob, &alice).await, None);
    assert_eq!(b.total(&format!("{bob}/following")).await, 0);
    fed.wait("A to drop bob from alice's followers", async || {
        want(a.follow_state(&bob, &alice).await, None)
    })
    .await;
    assert!(a.followers("alice", false).is_empty());
    assert_eq!(a.total(&alice_followers).await, 0);

    // Following again, by the actor's URL this time.
    b.cli_ok(&["follow", "bob", &alice]);
    fed.wait("bob to follow alice again, accepted on B", async || {
        want(b.follow_state(&bob, &alice).await, Some(true))
    })
    .await;
    assert_eq!(a.followers("alice", false), vec![bob.clone()]);
    assert_eq!(a.total(&alice_followers).await, 1);

    // org approves followers by hand: bob's request waits on A, and B hears nothing yet.
    b.cli_ok(&["follow", "bob", &a.handle("org")]);
    fed.wait("A to hold bob's request to follow org", async || {
        want(a.follow_state(&bob, &org).await, Some(false))
    })
    .await;
    assert_eq!(a.followers("org", true), vec![bob.clone()]);
    assert!(a.followers("org", false).is_empty());
    assert_eq!(a.total(&org_followers).await, 0);
    assert!(a.sent_by(&org).await.is_empty(), "org accepted by itself");
    assert_eq!(b.follow_state(&bob, &org).await, Some(false));

    // Approved by handle: accepted on A at once, on B when the Accept arrives.
    let out = a.cli_ok(&["followers", "approve", "org", &b.handle("bob")]);
    assert!(out.contains(&bob), "{out}");
    assert_eq!(a.followers("org", false), vec![bob.clone()]);
    assert!(a.followers("org", true).is_empty());
    assert_eq!(a.total(&org_followers).await, 1);
    fed.wait("B to see org accept bob", async || {
        want(b.follow_state(&bob, &org).await, Some(true))
    })
    .await;
    // Nothing left to approve.
    a.cli_fails(&["followers", "approve", "org", &bob]);

    // carol asks too and is rejected (named by URL): gone on both sides.
    b.cli_ok(&["follow", "carol", &org]);
    fed.wait("A to hold carol's request to follow org", async || {
        want(a.follow_state(&carol, &org).await, Some(false))
    })
    .await;
    assert_eq!(a.followers("org", true), vec![carol.clone()]);
    let out = a.cli_ok(&["followers", "reject", "org", &carol]);
    assert!(out.contains(&carol), "{out}");
    assert_eq!(a.follow_state(&carol, &org).await, None);
    assert!(a.followers("org", true).is_empty());
    assert_eq!(a.followers("org", false), vec![bob.clone()]);
    fed.wait("B to drop carol's rejected follow", async || {
        want(b.follow_state(&carol, &org).await, None)
    })
    .await;
    assert_eq!(b.total(&format!("{carol}/following")).await, 0);
    assert_eq!(b.total(&format!("{bob}/following")).await, 2);

    // Everything was delivered, both ways, and every activity is at its id.
    fed.deliveries_settled(a, b).await;
    fed.deliveries_settled(b, a).await;
    let kinds = assert_activities_fetchable(a, |_, _| Served::Yes).await;
    assert_eq!(kinds, ["Accept", "Accept", "Accept", "Reject"]);
    let kinds = assert_activities_fetchable(b, |_, _| Served::Yes).await;
    assert_eq!(kinds, ["Follow", "Follow", "Follow", "Follow", "Undo"]);
}

// ---------------------------------------------------------------------------------------------------------
// Posts, replies, likes, boosts, edits, deletes
// ---------------------------------------------------------------------------------------------------------

async fn posts_replies_interactions_edits_and_deletes(site: Site) {
    let fed = two_nodes(site).await;
    let (a, b) = (&fed.a, &fed.b);
    let alice = a.create_actor("alice", &["--kind", "person", "--name", "Contrarian"]);
    let bob = b.create_actor("bob", &["--kind", "person", "--name", "sparklepants"]);
    let followers = format!("{alice}/followers");
    b.cli_ok(&["follow", "bob", &alice]);
    fed.wait("bob to follow alice", async || {
        want(b.follow_state(&bob, &alice).await, Some(true))
    })
    .await;

    // A public post with a hashtag and a mention of bob.
    let p1 = a.post(&[
        "alice",
        &format!("Demo Friday #Streatham {}", b.handle("bob")),
    ]);
    let note = a.fetch_json(&p1).await;
    assert_eq!(note["type"], "Note", "{note}");
    assert_eq!(note["attributedTo"], json!(alice), "{note}");
    assert_eq!(note["to"], json!([PUBLIC]), "{note}");
    assert_eq!(note["cc"], json!([followers, bob]), "{note}");
    assert_eq!(note["sensitive"], false, "{note}");
    assert!(note["summary"].is_null(), "{note}");
    assert!(note["inReplyTo"].is_null(), "{note}");
    assert!(note["updated"].is_null(), "{note}");
    assert!(
        has_tag(&note["tag"], "Mention", &bob, &b.handle("bob")),
        "{note}"
    );
    let hashtag = a.site.url("/tags/streatham");
    assert!(
        has_tag(&note["tag"], "Hashtag", &hashtag, "#streatham"),
        "{note}"
    );
    let content = note["content"].as_str().unwrap();
    assert!(content.contains("Demo Friday"), "{content}");
    assert!(
        content.contains(&format!("href=\"{hashtag}\"")),
        "{content}"
    );
    assert!(content.contains("mention"), "{content}");
    assert_eq!(note["replies"]["totalItems"], 0, "{note}");
    assert_eq!(note["likes"]["totalItems"], 0, "{note}");
    assert_eq!(note["shares"]["totalItems"], 0, "{note}");
    let context = format!("{p1}/context");
    assert_eq!(note["context"], json!(context), "{note}");

    let on_b = fed
        .wait("B to store alice's post", async || {
            b.stored_where(&p1, |_| true).await
        })
        .await;
    assert_eq!(on_b.visibility, "public");
    assert!(on_b.content.contains("Demo Friday"), "{on_b:?}");
    assert!(
        has_tag(&on_b.tags, "Mention", &bob, &b.handle("bob")),
        "{on_b:?}"
    );
    assert!(
        has_tag(&on_b.tags, "Hashtag", &hashtag, "#streatham"),
        "{on_b:?}"
    );
    let thread = b.thread(&p1);
    assert_eq!(thread["id"], json!(p1), "{thread}");
    assert_eq!(thread["author"], json!(a.handle("alice")), "{thread}");
    assert_eq!(thread["deleted"], false, "{thread}");
    assert!(
        thread["content"].as_str().unwrap().contains("Demo Friday"),
        "{thread}"
    );

    // Unlisted: followers in `to`, Public in `cc`.
    let p2 = a.post(&[
        "alice",
        "Leaflets at the stall on Saturday",
        "--visibility",
        "unlisted",
    ]);
    let note = a.fetch_json(&p2).await;
    assert_eq!(note["to"], json!([followers]), "{note}");
    assert_eq!(note["cc"], json!([PUBLIC]), "{note}");
    let s = fed
        .wait("B to store the unlisted post", async || {
            b.stored_where(&p2, |_| true).await
        })
        .await;
    assert_eq!(s.visibility, "unlisted");

    // Followers only: not served to the public, but delivered to bob.
    let p3 = a.post(&[
        "alice",
        "Members only: meet at 1pm",
        "--visibility",
        "followers",
    ]);
    for (url, accept) in [
        (p3.clone(), AP),
        (p3.clone(), HTML),
        (format!("{p3}/replies"), AP),
        (format!("{p3}/context"), AP),
        (format!("{p3}/activity"), AP),
    ] {
        let (status, body) = a.fetch(&url, accept).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "GET {url} ({accept}): {body}"
        );
        assert!(!body.contains("Members only"), "{body}");
    }
    let mine = a.stored(&p3).await.unwrap();
    assert_eq!(mine.to, json!([followers]), "{mine:?}");
    assert!(!mine.to.to_string().contains(PUBLIC), "{mine:?}");
    assert!(!mine.cc.to_string().contains(PUBLIC), "{mine:?}");
    let s = fed
        .wait("B to store the followers-only post", async || {
            b.stored_where(&p3, |_| true).await
        })
        .await;
    assert_eq!(s.visibility, "followers");
    assert!(
        b.thread(&p3)["content"]
            .as_str()
            .unwrap()
            .contains("Members only")
    );

    // A content warning.
    let p4 = a.post(&["alice", "Photo of the banner", "--summary", "Loud noises"]);
    let note = a.fetch_json(&p4).await;
    assert_eq!(note["summary"], "Loud noises", "{note}");
    assert_eq!(note["sensitive"], true, "{note}");
    assert_eq!(note["to"], json!([PUBLIC]), "{note}");
    let s = fed
        .wait("B to store the post with a content warning", async || {
            b.stored_where(&p4, |_| true).await
        })
        .await;
    assert_eq!(s.summary.as_deref(), Some("Loud noises"), "{s:?}");
    assert!(s.sensitive, "{s:?}");
    assert_eq!(b.thread(&p4)["summary"], "Loud noises");

    // bob replies (with markup that must stay text); the reply lands under the post on A.
    let r1 = b.post(&[
        "bob",
        "Count me in! <script>alert(1)</script>",
        "--reply-to",
        &p1,
    ]);
    let reply = b.fetch_json(&r1).await;
    assert_eq!(reply["inReplyTo"], json!(p1), "{reply}");
    assert_eq!(reply["context"], json!(context), "{reply}");
    assert!(
        reply["cc"].as_array().unwrap().contains(&json!(alice)),
        "the author replied to is addressed: {reply}"
    );
    assert!(
        has_tag(&reply["tag"], "Mention", &alice, &a.handle("alice")),
        "{reply}"
    );
    let s = fed
        .wait("A to store bob's reply", async || {
            a.stored_where(&r1, |_| true).await
        })
        .await;
    assert_eq!(s.in_reply_to.as_deref(), Some(p1.as_str()));
    assert_eq!(shape(&a.thread(&p1)), [(p1.clone(), 0), (r1.clone(), 1)]);
    let note = a.fetch_json(&p1).await;
    assert_eq!(note["replies"]["totalItems"], 1, "{note}");
    let replies = a.fetch_json(&format!("{p1}/replies")).await;
    assert_eq!(replies["totalItems"], 1, "{replies}");
    let page = a.fetch_json(&format!("{p1}/replies?page=1")).await;
    assert_eq!(page["orderedItems"], json!([r1]), "{page}");

    // alice answers bob: three levels, on both nodes.
    let r2 = a.post(&["alice", "See you there, bob", "--reply-to", &r1]);
    let note = a.fetch_json(&r2).await;
    assert_eq!(note["inReplyTo"], json!(r1), "{note}");
    assert_eq!(note["context"], json!(context), "{note}");
    assert!(
        note["cc"].as_array().unwrap().contains(&json!(bob)),
        "{note}"
    );
    fed.wait("B to store alice's answer", async || {
        b.stored_where(&r2, |_| true).await
    })
    .await;
    let three = [(p1.clone(), 0), (r1.clone(), 1), (r2.clone(), 2)];
    assert_eq!(shape(&a.thread(&p1)), three);
    assert_eq!(shape(&b.thread(&p1)), three);
    let page = a.fetch_json(&format!("{p1}/replies?page=1")).await;
    assert_eq!(
        page["orderedItems"],
        json!([r1]),
        "direct replies only: {page}"
    );
    // FEP-7888: the whole thread.
    let ctx = a.fetch_json(&context).await;
    assert_eq!(ctx["totalItems"], 3, "{ctx}");
    let page = a.fetch_json(&format!("{context}?page=1")).await;
    assert_eq!(page["orderedItems"], json!([p1, r1, r2]), "{page}");

    // The thread page a browser gets: every reply nested under its parent, markup escaped.
    let (status, html) = a.fetch(&p1, HTML).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (i_root, i_r1, i_r2) = (
        html.find("Demo Friday").expect("the post is shown"),
        html.find("Count me in!").expect("bob's reply is shown"),
        html.find("See you there, bob")
            .expect("alice's answer is shown"),
    );
    assert!(i_root < i_r1 && i_r1 < i_r2, "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("sparklepants") && html.contains(&b.handle("bob")));
    let (art1, art2) = (article_of(&html, token(&r1)), article_of(&html, token(&r2)));
    assert!(art1.contains("Count me in!"), "{art1}");
    assert!(art2.contains("See you there"), "{art2}");
    assert!(art1.contains("margin-left: 2rem"), "{art1}");
    assert!(art2.contains("margin-left: 4rem"), "{art2}");

    // bob likes and boosts the post.
    let likes = format!("{p1}/likes");
    let shares = format!("{p1}/shares");
    b.cli_ok(&["like", "bob", &p1]);
    fed.wait("A to count bob's like", async || {
        want(a.total(&likes).await, 1)
    })
    .await;
    b.cli_ok(&["boost", "bob", &p1]);
    fed.wait("A to count bob's boost", async || {
        want(a.total(&shares).await, 1)
    })
    .await;
    let note = a.fetch_json(&p1).await;
    assert_eq!(note["likes"]["totalItems"], 1, "{note}");
    assert_eq!(note["shares"]["totalItems"], 1, "{note}");
    let thread = a.thread(&p1);
    assert_eq!(
        (thread["likes"].clone(), thread["shares"].clone()),
        (json!(1), json!(1))
    );
    // Twice is refused, and nothing more is sent.
    b.cli_fails(&["like", "bob", &p1]);
    b.cli_fails(&["boost", "bob", &p1]);
    fed.deliveries_settled(b, a).await;
    assert_eq!(a.total(&likes).await, 1);
    assert_eq!(a.total(&shares).await, 1);
    // Taken back.
    b.cli_ok(&["like", "bob", &p1, "--undo"]);
    fed.wait("A to drop bob's like", async || {
        want(a.total(&likes).await, 0)
    })
    .await;
    assert_eq!(a.total(&shares).await, 1);
    b.cli_ok(&["boost", "bob", &p1, "--undo"]);
    fed.wait("A to drop bob's boost", async || {
        want(a.total(&shares).await, 0)
    })
    .await;
    b.cli_fails(&["like", "bob", &p1, "--undo"]);

    // alice edits her post; B shows the new text.
    let new_text = format!(
        "Demo Friday, 2pm at the Job Centre #Streatham {}",
        b.handle("bob")
    );
    let out = a.cli_ok(&["edit", &p1, &new_text]);
    assert!(out.contains(&p1), "{out}");
    let note = a.fetch_json(&p1).await;
    assert!(note["updated"].is_string(), "{note}");
    assert!(note["content"].as_str().unwrap().contains("2pm"), "{note}");
    fed.wait("B to show the edited text", async || {
        b.stored_where(&p1, |s| s.content.contains("2pm")).await
    })
    .await;
    let thread = b.thread(&p1);
    assert!(
        thread["content"].as_str().unwrap().contains("2pm"),
        "{thread}"
    );
    assert_eq!(shape(&thread), three);
    // Only the author edits: bob's reply, stored on A, cannot be edited or deleted there.
    a.cli_fails(&["edit", &r1, "hijacked"]);
    a.cli_fails(&["delete-post", &r1]);
    let s = a.stored(&r1).await.unwrap();
    assert!(!s.content.contains("hijacked") && !s.deleted, "{s:?}");

    // The outbox: alice's public posts (not the unlisted or followers-only ones), newest first.
    let outbox_url = format!("{alice}/outbox");
    assert_eq!(a.total(&outbox_url).await, 3);
    let page = a.fetch_json(&format!("{outbox_url}?page=1")).await;
    let items = page["orderedItems"].as_array().expect("orderedItems");
    let objects: Vec<Value> = items.iter().map(|i| i["object"]["id"].clone()).collect();
    assert_eq!(objects, [json!(r2), json!(p4), json!(p1)], "{page}");
    for item in items {
        assert_eq!(item["type"], "Create", "{item}");
        assert_eq!(item["actor"], json!(alice), "{item}");
        assert_eq!(item["object"]["type"], "Note", "{item}");
        assert_eq!(item["object"]["attributedTo"], json!(alice), "{item}");
        let oid = item["object"]["id"].as_str().unwrap();
        assert_eq!(item["id"], json!(format!("{oid}/activity")), "{item}");
    }

    // alice deletes her post: a Tombstone on A, a deleted placeholder on B with the replies kept.
    let out = a.cli_ok(&["delete-post", &p1]);
    assert!(out.contains(&p1), "{out}");
    let (status, body) = a
        .fetch_once(&p1, AP, |status, _| status == StatusCode::GONE)
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let tomb: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tomb["type"], "Tombstone", "{tomb}");
    assert_eq!(tomb["id"], json!(p1), "{tomb}");
    assert!(!body.contains("2pm"), "{body}");
    fed.wait("B to mark the post deleted", async || {
        b.stored_where(&p1, |s| s.deleted).await
    })
    .await;
    let thread = b.thread(&p1);
    assert_eq!(thread["deleted"], true, "{thread}");
    assert!(!thread["content"].as_str().unwrap_or("").contains("2pm"));
    assert_eq!(shape(&thread), three, "the replies stay");
    assert_eq!(thread["replies"][0]["deleted"], false, "{thread}");
    assert!(
        thread["replies"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Count me in!")
    );
    a.cli_fails(&["edit", &p1, "too late"]);
    let total = |body: &str| serde_json::from_str::<Value>(body).map(|v| v["totalItems"].clone());
    let (_, outbox) = a
        .fetch_once(&outbox_url, AP, |_, body| total(body).is_ok_and(|t| t == 2))
        .await;
    assert_eq!(total(&outbox).ok(), Some(json!(2)), "{outbox}");

    // Every activity either node sent is at its id, except those of the followers-only post (private) and
    // those carrying the deleted post (gone).
    fed.deliveries_settled(a, b).await;
    fed.deliveries_settled(b, a).await;
    let kinds = assert_activities_fetchable(b, |_, _| Served::Yes).await;
    assert_eq!(
        kinds,
        ["Announce", "Create", "Follow", "Like", "Undo", "Undo"]
    );
    let kinds = assert_activities_fetchable(a, |kind, object| match object {
        Some(o) if o == p3 => Served::Private,
        Some(o) if o == p1 && matches!(kind, "Create" | "Update") => Served::Gone,
        _ => Served::Yes,
    })
    .await;
    assert_eq!(
        kinds,
        [
            "Accept", "Create", "Create", "Create", "Create", "Create", "Delete", "Update"
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// The admin API
// ---------------------------------------------------------------------------------------------------------

async fn admin_api_federates(site: Site) {
    let fed = two_nodes(site).await;
    let (a, b) = (&fed.a, &fed.b);

    let (status, view) = a
        .api(
            Method::POST,
            "/actors",
            Some(json!({"username": "org", "kind": "organization", "manually_approves_followers": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let org = view["id"].as_str().unwrap().to_string();
    let (status, view) = b
        .api(
            Method::POST,
            "/actors",
            Some(json!({"username": "bob", "kind": "person", "name": "sparklepants"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let bob = view["id"].as_str().unwrap().to_string();

    // bob follows org, who approves by hand.
    let (status, f) = b
        .api(
            Method::POST,
            "/actors/bob/follow",
            Some(json!({"target": a.handle("org")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{f}");
    assert_eq!(f["following"], json!(org), "{f}");
    assert_eq!(f["accepted"], false, "{f}");
    let follow_id = f["follow"].as_str().unwrap().to_string();
    fed.wait("A to list bob's request", async || {
        let (_, list) = a
            .api(Method::GET, "/actors/org/followers?pending=true", None)
            .await;
        want(ids(&list), vec![bob.clone()])
    })
    .await;
    let (status, list) = a.api(Method::GET, "/actors/org/followers", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, body) = a
        .api(
            Method::POST,
            "/actors/org/followers/approve",
            Some(json!({"follower": b.handle("bob")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], json!(bob), "{body}");
    let (_, list) = a.api(Method::GET, "/actors/org/followers", None).await;
    assert_eq!(ids(&list), vec![bob.clone()]);
    fed.wait("B to see the follow accepted", async || {
        want(b.follow_state(&bob, &org).await, Some(true))
    })
    .await;
    // The Follow B sent is at its id (Fedify fetches it again when it sees the Accept).
    let doc = b.fetch_json(&follow_id).await;
    assert_eq!(doc["type"], "Follow", "{doc}");
    assert_eq!(doc["object"], json!(org), "{doc}");

    // org posts; bob, a follower, gets it.
    let r = a
        .server
        .admin(Method::POST, "/actors/org/posts")
        .json(&json!({"text": "Open letter to the Job Centre #Streatham", "summary": "Long read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let p: Value = r.json().await.unwrap();
    let p = p["id"].as_str().unwrap().to_string();
    assert_eq!(location.as_deref(), Some(p.as_str()));
    let note = a.fetch_json(&p).await;
    assert_eq!(note["summary"], "Long read", "{note}");
    assert_eq!(note["sensitive"], true, "{note}");
    fed.wait("B to store org's post", async || {
        b.stored_where(&p, |_| true).await
    })
    .await;
    let thread_of = |node: &Node, url: &str| {
        node.server
            .admin(Method::GET, "/thread")
            .query(&[("url", url.to_string())])
    };
    let r = thread_of(b, &p).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let thread: Value = r.json().await.unwrap();
    assert_eq!(thread["id"], json!(p), "{thread}");
    assert_eq!(thread["summary"], "Long read", "{thread}");

    // bob replies through B's API; the reply lands in org's thread on A.
    let (status, body) = b
        .api(
            Method::POST,
            "/actors/bob/posts",
            Some(json!({"text": "Signed, and shared with my branch.", "reply_to": p})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reply = body["id"].as_str().unwrap().to_string();
    fed.wait("A's thread to show bob's reply", async || {
        let t: Value = thread_of(a, &p).send().await.unwrap().json().await.unwrap();
        want(shape(&t), vec![(p.clone(), 0), (reply.clone(), 1)])
    })
    .await;
    let t: Value = thread_of(a, &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(t["replies"][0]["author"], json!(b.handle("bob")), "{t}");
    assert_eq!(t["replies"][0]["author_name"], "sparklepants", "{t}");

    // Likes and boosts, and taking them back.
    let (likes, shares) = (format!("{p}/likes"), format!("{p}/shares"));
    for action in ["like", "boost"] {
        let (status, body) = b
            .api(
                Method::POST,
                &format!("/actors/bob/{action}"),
                Some(json!({"post": p})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{action}: {body}");
        assert!(body["id"].as_str().unwrap().starts_with(&b.site.url("/")));
    }
    fed.wait("A to count the like and the boost", async || {
        want((a.total(&likes).await, a.total(&shares).await), (1, 1))
    })
    .await;
    let (status, body) = b
        .api(Method::POST, "/actors/bob/like", Some(json!({"post": p})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    for action in ["unlike", "unboost"] {
        let (status, body) = b
            .api(
                Method::POST,
                &format!("/actors/bob/{action}"),
                Some(json!({"post": p})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{action}: {body}");
    }
    fed.wait("A to drop the like and the boost", async || {
        want((a.total(&likes).await, a.total(&shares).await), (0, 0))
    })
    .await;

    // Edit: only our own posts.
    let (status, body) = a
        .api(
            Method::PATCH,
            "/posts",
            Some(
                json!({"id": p, "text": "Open letter to the Job Centre (now with 300 signatures)"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], json!(p));
    assert!(a.fetch_json(&p).await["updated"].is_string());
    fed.wait("B to show the edit", async || {
        b.stored_where(&p, |s| s.content.contains("300 signatures"))
            .await
    })
    .await;
    let (status, body) = a
        .api(
            Method::PATCH,
            "/posts",
            Some(json!({"id": reply, "text": "hijacked"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Delete.
    let (status, body) = a
        .api(Method::DELETE, "/posts", Some(json!({"id": p})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(a.fetch(&p, AP).await.0, StatusCode::GONE);
    fed.wait("B to mark the post deleted", async || {
        b.stored_where(&p, |s| s.deleted).await
    })
    .await;
    let t: Value = thread_of(b, &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(t["deleted"], true, "{t}");
    assert_eq!(shape(&t), [(p.clone(), 0), (reply.clone(), 1)]);

    // Unfollow through the API.
    let (status, body) = b
        .api(
            Method::POST,
            "/actors/bob/unfollow",
            Some(json!({"target": org})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    fed.wait("A to drop bob from org's followers", async || {
        let (_, list) = a.api(Method::GET, "/actors/org/followers", None).await;
        want(list, json!([]))
    })
    .await;

    // The delivery statistics through the API agree with the command line.
    fed.deliveries_settled(a, b).await;
    fed.deliveries_settled(b, a).await;
    for (from, to) in [(a, b), (b, a)] {
        let (status, stats) = from.api(Method::GET, "/deliveries", None).await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats, from.cli_json(&["deliveries", "--json"]));
        let entry = stats
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["host"] == json!(to.host()))
            .unwrap_or_else(|| panic!("{stats}"));
        assert!(entry["delivered"].as_i64().unwrap() > 0, "{entry}");
        assert_eq!(entry["pending"], 0, "{entry}");
    }

    // Without the token nothing is posted.
    let posts_before = a.post_count().await;
    let r = a
        .server
        .http
        .post(a.site.url("/api/admin/actors/org/posts"))
        .json(&json!({"text": "not from the admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(a.post_count().await, posts_before);
}

on_both_databases!(
    follow_accept_unfollow_and_approval,
    posts_replies_interactions_edits_and_deletes,
    admin_api_federates,
);
