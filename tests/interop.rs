//! Interop with a real, independent ActivityPub server (issue 3, point 8): the Fedify 2.3.6 peer in
//! `tests/interop/` (see its README), started as a child process and driven over its JSON control API.
//!
//! The peer looks our actor up by URL and follows it, gets our `Accept`, receives our `Create(Note)` through
//! Fedify's own signature verifier, replies (the reply must land in our thread), likes and unlikes our note,
//! and unfollows. Every POST it makes to our inboxes must be accepted on the first knock with an RFC 9421
//! signature (Fedify silently falls back to draft-cavage when we refuse one).
//!
//! Node: `tests/interop/setup.sh` (run once per test process) installs Node 22 and Fedify from the npm
//! registry. When that fails the test is skipped with a printed reason, unless `TEST_REQUIRE_NODE=1` (set by
//! `.ci/run`), which makes it a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::*;

/// Loopback peers, and quick retries so a failed first delivery does not stall the test.
const SETTINGS: &str =
    "[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\n";

/// How long anything asynchronous (a delivery, the peer starting) may take.
const PATIENCE: Duration = Duration::from_secs(60);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn node_required() -> bool {
    std::env::var("TEST_REQUIRE_NODE").is_ok_and(|v| v == "1")
}

/// Runs `tests/interop/setup.sh` once per test process: the path of Node 22, or why the peer cannot run.
fn setup() -> &'static Result<PathBuf, String> {
    static SETUP: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SETUP.get_or_init(|| {
        let script = repo().join("tests/interop/setup.sh");
        let out = Command::new("sh")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let node = repo().join("tests/interop/node22");
        if !node.exists() {
            return Err(format!(
                "{} ran but {} is missing",
                script.display(),
                node.display()
            ));
        }
        Ok(node)
    })
}

/// Why a peer did not start.
enum PeerError {
    /// Node or the npm packages are not there: a skip, or a failure under `TEST_REQUIRE_NODE=1`.
    Unavailable(String),
    /// Node runs but the peer did not come up: always a failure.
    Broken(String),
}

/// The running Fedify peer; killed when dropped (its stdin closing stops it too).
struct Peer {
    child: Child,
    origin: String,
    actor: String,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Peer {
    /// Starts a peer and waits for its `READY` line. `None` when it was skipped (Node unavailable and not
    /// required); panics when Node is required but unavailable, or when the peer does not start.
    async fn start() -> Option<Peer> {
        match tokio::task::spawn_blocking(Peer::spawn).await.unwrap() {
            Ok(peer) => Some(peer),
            Err(PeerError::Unavailable(reason)) if !node_required() => {
                skipped(&format!(
                    "interop test, the Fedify peer cannot run: {reason}; \
                     set TEST_REQUIRE_NODE=1 to make this a failure"
                ));
                None
            }
            Err(PeerError::Unavailable(reason)) => {
                panic!("the Fedify peer is required (TEST_REQUIRE_NODE=1) but cannot run: {reason}")
            }
            Err(PeerError::Broken(reason)) => panic!("the Fedify peer did not start: {reason}"),
        }
    }

    fn spawn() -> Result<Peer, PeerError> {
        let node = setup().clone().map_err(PeerError::Unavailable)?;
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("peer.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(&node);
        // A developer's own PEER_* settings must not change what is tested (PEER_LOG_LEVEL=debug only says more).
        for (k, _) in std::env::vars() {
            if k.starts_with("PEER_") && k != "PEER_LOG_LEVEL" {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .arg(repo().join("tests/interop/peer.mjs"))
            .current_dir(dir.path())
            .env("PORT", "0")
            .env("PEER_EXIT_ON_STDIN_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| PeerError::Unavailable(format!("cannot run {}: {e}", node.display())))?;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(origin) = line.strip_prefix("READY ") {
                    let _ = tx.send(origin.trim().to_string());
                }
            }
        });
        let log_of = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        let deadline = Instant::now() + PATIENCE;
        let origin = loop {
            if let Ok(origin) = rx.recv_timeout(Duration::from_millis(100)) {
                break origin;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(PeerError::Broken(format!(
                    "it exited with {status} before READY:\n{}",
                    log_of(&log_path)
                )));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PeerError::Broken(format!(
                    "no READY line within {PATIENCE:?}:\n{}",
                    log_of(&log_path)
                )));
            }
        };
        Ok(Peer {
            child,
            actor: format!("{origin}/users/peer"),
            origin,
            log_path,
            _dir: dir,
            http: reqwest::Client::builder()
                .timeout(PATIENCE)
                .build()
                .unwrap(),
        })
    }

    /// `host:port`, as handles name the peer.
    fn domain(&self) -> &str {
        self.origin.trim_start_matches("http://")
    }

    /// A control call: `(status, JSON answer)`.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.origin));
        if let Some(body) = body {
            req = req.json(body);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            Err(e) => (0, json!({"error": format!("request failed: {e}")})),
        }
    }

    async fn state(&self) -> Value {
        let (status, state) = self
            .call(reqwest::Method::GET, "/control/state", None)
            .await;
        assert_eq!(status, 200, "GET /control/state: {state}");
        state
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two servers under test, with failure reports that show both sides.
struct Interop<'a> {
    site: &'a Site,
    server: &'a Server,
    peer: &'a Peer,
}

impl Interop<'_> {
    /// Panics with `msg`, the peer's state and log, and Placard's server log.
    async fn fail(&self, msg: &str) -> ! {
        let (_, state) = self
            .peer
            .call(reqwest::Method::GET, "/control/state", None)
            .await;
        panic!(
            "{msg}\n\n===== peer /control/state =====\n{}\n\n===== peer log =====\n{}\n\n\
             ===== placard serve log =====\n{}",
            serde_json::to_string_pretty(&state).unwrap_or_default(),
            self.peer.log(),
            self.server.log()
        );
    }

    async fn check(&self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.fail(&msg()).await;
        }
    }

    /// A control POST that must answer 200.
    async fn control(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self
            .peer
            .call(reqwest::Method::POST, path, Some(&body))
            .await;
        if status != 200 {
            self.fail(&format!(
                "POST {path} {body} answered {status}:\n{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            ))
            .await;
        }
        answer
    }

    /// Polls `probe` until it gives something.
    async fn eventually<T>(&self, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {PATIENCE:?} waiting for: {what}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `placard ARGS --json`, parsed.
    async fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.site.cli(args);
        if !out.ok() {
            self.fail(&format!(
                "placard {args:?} failed ({:?}): {}\n{}",
                out.code, out.stderr, out.stdout
            ))
            .await;
        }
        match serde_json::from_str(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                self.fail(&format!(
                    "placard {args:?} printed no JSON ({e}): {}",
                    out.stdout
                ))
                .await
            }
        }
    }

    /// The peer's state must show no activity that failed Fedify's checks (signature, parsing, listeners).
    async fn no_rejections(&self, when: &str) {
        let state = self.peer.state().await;
        for list in ["unverified", "errors", "sendErrors"] {
            let entries = state[list].as_array().cloned().unwrap_or_default();
            self.check(entries.is_empty(), || {
                format!(
                    "{when}: the peer's `{list}` is not empty:\n{}",
                    serde_json::to_string_pretty(&entries).unwrap_or_default()
                )
            })
            .await;
        }
    }

    /// What the peer POSTed to our inboxes for one control call (`sent.http`) must be one RFC 9421-signed POST
    /// answered 202: no double-knock fallback to draft-cavage. Returns a one-line summary.
    async fn first_knock_rfc9421(&self, what: &str, answer: &Value) -> String {
        let sent = &answer["sent"];
        let posts: Vec<&Value> = sent["http"]
            .as_array()
            .map(|a| a.iter().filter(|h| h["method"] == "POST").collect())
            .unwrap_or_default();
        let summary = posts
            .iter()
            .map(|p| {
                format!(
                    "POST {} [{}, keyId {}] -> {}",
                    p["url"].as_str().unwrap_or("?"),
                    p["signature"]["spec"].as_str().unwrap_or("?"),
                    p["signature"]["keyId"].as_str().unwrap_or("?"),
                    p["status"]
                )
            })
            .collect::<Vec<_>>()
            .join("; then ");
        let ok = sent["ok"] == true
            && posts.len() == 1
            && posts[0]["signature"]["spec"] == "rfc9421"
            && posts[0]["status"] == 202;
        self.check(ok, || {
            format!(
                "{what}: the peer's delivery to Placard was not one RFC 9421-signed POST answered 202 \
                 (first knock). Attempts: {summary}\nsent = {}",
                serde_json::to_string_pretty(sent).unwrap_or_default()
            )
        })
        .await;
        format!("{what}: {summary}")
    }
}

/// Appends the interop settings to the config `on_both_databases!` wrote.
fn add_settings(site: &Site) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&site.config_path)
        .unwrap();
    writeln!(f, "\n{SETTINGS}").unwrap();
}

fn text_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

async fn fedify_peer_follows_gets_posts_and_replies(site: Site) {
    add_settings(&site);
    let alice = site
        .cli_ok(&["actor", "create", "alice", "--kind", "person"])
        .trim()
        .to_string();
    assert_eq!(alice, site.url("/users/alice"));
    let server = site.serve().await;
    let Some(peer) = Peer::start().await else {
        return;
    };
    let t = Interop {
        site: &site,
        server: &server,
        peer: &peer,
    };
    let mut knocks = Vec::new();

    // 1. The peer looks alice up by URL and follows her. Fedify only sees `publicKey` when our @context has
    //    the security vocabulary; the control API refuses to follow an actor without a usable key.
    let follow = t.control("/control/follow", json!({"actor": alice})).await;
    let follow_id = text_of(&follow["followId"]).to_string();
    let key = &follow["actor"]["publicKey"];
    t.check(
        follow["actor"]["id"] == alice.as_str()
            && key["id"] == format!("{alice}#main-key")
            && key["owner"] == alice.as_str(),
        || {
            format!(
                "Fedify's view of our actor: expected id {alice}, publicKey {alice}#main-key owned by it; got {}",
                serde_json::to_string_pretty(&follow["actor"]).unwrap_or_default()
            )
        },
    )
    .await;
    knocks.push(t.first_knock_rfc9421("Follow", &follow).await);

    // 2. Placard lists the peer as a follower, and its Accept reaches the peer and passes Fedify's checks.
    t.eventually("`placard followers alice` lists the peer", async || {
        let list = t.cli_json(&["followers", "alice", "--json"]).await;
        list.as_array()?
            .iter()
            .any(|f| f["id"] == peer.actor.as_str())
            .then_some(())
    })
    .await;
    let accept = t
        .eventually("the peer sees our Accept of its Follow", async || {
            let state = peer.state().await;
            if state["followAccepted"] != true
                || state["lastAccepted"]["followId"] != follow_id.as_str()
            {
                return None;
            }
            state["accepts"]
                .as_array()?
                .iter()
                .rev()
                .find(|a| a["followId"] == follow_id.as_str())
                .cloned()
        })
        .await;
    t.check(
        accept["valid"] == true
            && accept["actor"] == alice.as_str()
            && accept["matchesSentFollow"] == true,
        || {
            format!(
                "the Accept Fedify received is not a valid Accept of its Follow by alice: {}",
                serde_json::to_string_pretty(&accept).unwrap_or_default()
            )
        },
    )
    .await;
    let accept_signature = accept["signature"].clone();
    t.no_rejections("after the Accept").await;

    // 3. `placard post` → the peer receives a Create(Note) that Fedify's verifier accepted.
    let text = "Hello Fedify, from Placard: the meeting is on Thursday";
    let note_id = site.cli_ok(&["post", "alice", text]).trim().to_string();
    let note = t
        .eventually("the peer receives our Create(Note)", async || {
            let state = peer.state().await;
            state["notes"]
                .as_array()?
                .iter()
                .find(|n| n["id"] == note_id.as_str())
                .cloned()
        })
        .await;
    t.check(
        note["type"] == "Note"
            && note["attributedTo"] == alice.as_str()
            && note["actor"] == alice.as_str()
            && text_of(&note["content"]).contains(text),
        || {
            format!(
                "the Note as Fedify parsed it: expected attributedTo/actor {alice} and content with {text:?}; got {}",
                serde_json::to_string_pretty(&note).unwrap_or_default()
            )
        },
    )
    .await;
    let create_id = text_of(&note["activityId"]).to_string();
    let state = peer.state().await;
    let create = state["creates"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == create_id.as_str()))
        .cloned()
        .unwrap_or_default();
    t.check(
        create["type"] == "Create"
            && create["actorIsAuthor"] == true
            && create["resolveError"].is_null(),
        || {
            format!(
                "the Create carrying our note: {}",
                serde_json::to_string_pretty(&create).unwrap_or_default()
            )
        },
    )
    .await;
    let create_request = state["requests"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["activityId"] == create_id.as_str()))
        .cloned()
        .unwrap_or_default();
    t.check(create_request["status"] == 202, || {
        format!(
            "the peer's inbox did not answer our Create with 202: {}",
            serde_json::to_string_pretty(&create_request).unwrap_or_default()
        )
    })
    .await;
    t.no_rejections("after the Create(Note)").await;

    // 4. The peer replies (addressed to alice, found through our note's attributedTo); the reply lands in
    //    alice's thread.
    let reply_text = "Thursday works for us, see you there";
    let reply = t
        .control(
            "/control/reply",
            json!({"inReplyTo": note_id, "content": format!("<p>{reply_text}</p>")}),
        )
        .await;
    let reply_id = text_of(&reply["noteId"]).to_string();
    t.check(reply["parentAuthor"] == alice.as_str(), || {
        format!("the peer's reply is not addressed to alice: {reply}")
    })
    .await;
    knocks.push(t.first_knock_rfc9421("Create(Note) reply", &reply).await);
    let thread = t
        .eventually("the reply appears in `placard thread`", async || {
            let thread = t.cli_json(&["thread", &note_id, "--json"]).await;
            thread["replies"]
                .as_array()?
                .iter()
                .any(|r| r["id"] == reply_id.as_str())
                .then_some(thread)
        })
        .await;
    let in_thread = thread["replies"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["id"] == reply_id.as_str()))
        .cloned()
        .unwrap_or_default();
    t.check(
        thread["id"] == note_id.as_str()
            && text_of(&in_thread["content"]).contains(reply_text)
            && in_thread["author"] == format!("@peer@{}", peer.domain()),
        || {
            format!(
                "our thread: expected {note_id} with the reply {reply_id} by @peer@{} saying {reply_text:?}; got {}",
                peer.domain(),
                serde_json::to_string_pretty(&thread).unwrap_or_default()
            )
        },
    )
    .await;

    // 5. Like and undo: counted on our note.
    let note_path = note_id
        .strip_prefix(&site.base())
        .unwrap_or(&note_id)
        .to_string();
    let likes_of = async || {
        let doc = server.get_json(&note_path, AP).await;
        let collection = server.get_json(&format!("{note_path}/likes"), AP).await;
        (
            doc["likes"]["totalItems"].clone(),
            collection["totalItems"].clone(),
        )
    };
    let like = t.control("/control/like", json!({"object": note_id})).await;
    knocks.push(t.first_knock_rfc9421("Like", &like).await);
    let likes = likes_of().await;
    t.check(likes == (json!(1), json!(1)), || {
        format!("after the peer's Like, (note likes.totalItems, likes collection totalItems) = {likes:?}, expected 1")
    })
    .await;
    let unlike = t
        .control("/control/undo-like", json!({"object": note_id}))
        .await;
    knocks.push(t.first_knock_rfc9421("Undo(Like)", &unlike).await);
    let likes = likes_of().await;
    t.check(likes == (json!(0), json!(0)), || {
        format!("after the peer's Undo(Like), likes = {likes:?}, expected 0")
    })
    .await;

    // 6. Unfollow: Placard drops the follower.
    let undo = t
        .control("/control/undo-follow", json!({"actor": alice}))
        .await;
    knocks.push(t.first_knock_rfc9421("Undo(Follow)", &undo).await);
    let followers = t.cli_json(&["followers", "alice", "--json"]).await;
    t.check(followers.as_array().is_some_and(|f| f.is_empty()), || {
        format!("after the peer's Undo(Follow), alice's followers are {followers}")
    })
    .await;
    t.no_rejections("at the end").await;

    // What each side used, for whoever runs this with --nocapture.
    eprintln!(
        "interop ({:?}) with the Fedify peer at {}:\n  peer → Placard: {}\n  Placard → peer: Accept signed {}, Create signed {} (inbox {})",
        site.backend,
        peer.origin,
        knocks.join("\n                  "),
        accept_signature,
        note["signature"],
        note["inbox"],
    );
}

/// Issue 4: the Fedify peer receives our `Create(Event)` and reads its name, start time and place with Fedify's
/// own vocabulary types (`Event`, `Place`).
async fn fedify_peer_reads_our_event(site: Site) {
    add_settings(&site);
    let alice = site
        .cli_ok(&["actor", "create", "alice", "--kind", "organization"])
        .trim()
        .to_string();
    let server = site.serve().await;
    let Some(peer) = Peer::start().await else {
        return;
    };
    let t = Interop {
        site: &site,
        server: &server,
        peer: &peer,
    };
    t.control("/control/follow", json!({"actor": alice})).await;
    t.eventually("the peer's follow is accepted", async || {
        (peer.state().await["followAccepted"] == true).then_some(())
    })
    .await;
    let event_id = site
        .cli_ok(&[
            "event",
            "create",
            "alice",
            "--name",
            "Demonstration at Streatham Job Centre",
            "--start",
            "2015-06-26T12:00:00+01:00",
            "--end",
            "2015-06-26T15:00:00+01:00",
            "--timezone",
            "Europe/London",
            "--location-name",
            "Streatham Job Centre",
            "--address",
            "Streatham High Road, London",
            "--latitude",
            "51.4285",
            "--longitude",
            "-0.1313",
        ])
        .trim()
        .to_string();
    let create = t
        .eventually("the peer receives our Create(Event)", async || {
            let state = peer.state().await;
            state["creates"]
                .as_array()?
                .iter()
                .find(|c| c["object"]["id"] == event_id.as_str())
                .cloned()
        })
        .await;
    let event = &create["object"];
    t.check(
        event["type"] == "Event"
            && event["name"] == "Demonstration at Streatham Job Centre"
            && event["startTime"] == "2015-06-26T11:00:00Z"
            && event["endTime"] == "2015-06-26T14:00:00Z"
            && event["attributedTo"] == alice.as_str()
            && event["location"]["type"] == "Place"
            && event["location"]["name"] == "Streatham Job Centre"
            && event["location"]["latitude"] == 51.4285
            && event["location"]["longitude"] == -0.1313
            && text_of(&event["summary"]).starts_with("Fri 26 June 2015, 12:00–15:00 BST"),
        || {
            format!(
                "the Event as Fedify parsed it: {}",
                serde_json::to_string_pretty(event).unwrap_or_default()
            )
        },
    )
    .await;
    t.no_rejections("after the Create(Event)").await;
}

on_both_databases!(
    fedify_peer_follows_gets_posts_and_replies,
    fedify_peer_reads_our_event
);
