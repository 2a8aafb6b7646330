//! `FakeRemote`: a real HTTP server in the test process standing in for a remote fediverse server.
//!
//! It listens on `127.0.0.1:PORT` and calls itself `http://localhost:PORT`. It serves, for the actors it holds,
//! `Person` documents (with `publicKey`, `inbox`, `endpoints.sharedInbox` unless turned off, `followers`) and
//! WebFinger; any extra document registered with [`FakeRemote::serve_json`]; and inboxes (`/users/NAME/inbox`
//! and the shared `/inbox`) that record every POST and answer with a programmable sequence of replies (status,
//! delay, `Retry-After`). GETs are counted per path, so a test can assert that something was fetched once.
//!
//! The server runs on a runtime of its own, on its own thread: a test blocked in a synchronous call (running
//! the `placard` binary, waiting for a process to exit) never stalls it. [`FakeRemote::stop`] closes the port
//! and every open connection (a host that is down); [`FakeRemote::start_again`] opens the same port again.
//!
//! Outgoing: [`FakeRemote::sign_and_post`] (draft-cavage, as Mastodon signs) and
//! [`FakeRemote::sign_and_post_rfc9421`] sign with the actor's key through Placard's own signing functions;
//! [`FakeRemote::post`] with a [`PostOptions`] can tamper with every part of a request (body changed after
//! signing, headers dropped or replaced after signing, a custom list of covered components, another key,
//! another time, no signature at all).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rsa::KeyPair;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use placard::federation::keys::{PemKeyPair, generate_rsa_2048, private_key_from_pem};
use placard::federation::signatures::{self, RequestParts, SignatureError};
use serde_json::{Value, json};
use url::Url;

pub const AP_JSON: &str = "application/activity+json";

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Now as RFC 3339, `2024-05-01T12:00:00Z`.
fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One answer of a fake inbox.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// How long to wait before answering.
    pub delay: Duration,
    /// A `Retry-After` header value, e.g. `"2"`.
    pub retry_after: Option<String>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            retry_after: None,
        }
    }
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
    pub fn retry_after(mut self, value: &str) -> Reply {
        self.retry_after = Some(value.to_string());
        self
    }
}

/// A POST the fake server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path, e.g. `/inbox` or `/users/bob/inbox`.
    pub path: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the request arrived (before any programmed delay).
    pub at: Instant,
    /// The status it was (or is being) answered with.
    pub status: u16,
    /// The fake server's origin, `http://localhost:PORT`.
    pub origin: String,
}

impl Received {
    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The activity's `type`.
    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }

    /// The activity's `id`.
    pub fn activity_id(&self) -> String {
        self.json()["id"].as_str().unwrap_or_default().to_string()
    }

    /// Checks the request's HTTP signature as a receiving server would (Placard's own verifier: covered
    /// components, time window, host, digest), with the public key given as PEM. Returns the key id.
    pub fn verify(&self, public_key_pem: &str) -> Result<String, SignatureError> {
        let target_uri = format!("{}{}", self.origin, self.path_and_query);
        let pending = signatures::parse_request(
            &RequestParts {
                method: &Method::POST,
                path_and_query: &self.path_and_query,
                target_uri: &target_uri,
                headers: &self.headers,
                body: &self.body,
            },
            SystemTime::now(),
        )?;
        let key = signatures::parse_public_key_pem(public_key_pem)?;
        pending.verify(&key)?;
        Ok(pending.key_id().to_string())
    }
}

/// How a request is signed (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    #[default]
    DraftCavage,
    Rfc9421,
    Unsigned,
}

/// Knobs for [`FakeRemote::post`]. The default is a correct draft-cavage signature by the actor's current key,
/// sent as `application/activity+json`.
#[derive(Clone, Default)]
pub struct PostOptions {
    pub scheme: Scheme,
    /// Sign exactly these components (draft-cavage header names such as `(request-target)`, `host`, `date`,
    /// `digest`; RFC 9421 identifiers such as `@method`, `@target-uri`, `content-digest`) with a signer of the
    /// test's own instead of Placard's. The body digest header is sent whether covered or not.
    pub covered: Option<Vec<String>>,
    /// The signing time (`Date` / `created`); now by default.
    pub time: Option<SystemTime>,
    /// Sent instead of the signed body.
    pub body_after_signing: Option<Vec<u8>>,
    /// Headers removed after signing.
    pub drop_headers: Vec<String>,
    /// Headers set (replaced) after signing, e.g. `("host", "localhost:1")` or a changed `date`.
    pub set_headers: Vec<(String, String)>,
    /// Sign as though the request went to this URL (another host or path), then send it to the real one.
    pub sign_for_url: Option<String>,
    /// Sign with this key instead of the actor's (the key id stays the actor's unless `key_id` is set).
    pub key: Option<Arc<KeyPair>>,
    pub key_id: Option<String>,
    /// The content type sent (and signed, for draft-cavage); `application/activity+json` by default.
    pub content_type: Option<String>,
    /// The `algorithm` (draft-cavage) or `alg` (RFC 9421) named by the test's own signer (used with `covered`);
    /// `rsa-sha256` / `rsa-v1_5-sha256` by default. The signature itself is always RSA PKCS#1 v1.5 SHA-256.
    pub algorithm: Option<String>,
}

impl PostOptions {
    pub fn rfc9421() -> PostOptions {
        PostOptions {
            scheme: Scheme::Rfc9421,
            ..Default::default()
        }
    }
    pub fn unsigned() -> PostOptions {
        PostOptions {
            scheme: Scheme::Unsigned,
            ..Default::default()
        }
    }
    pub fn covering(scheme: Scheme, components: &[&str]) -> PostOptions {
        PostOptions {
            scheme,
            covered: Some(components.iter().map(|c| c.to_string()).collect()),
            ..Default::default()
        }
    }
}

struct FakeActor {
    keys: PemKeyPair,
    key: Arc<KeyPair>,
    /// Keys replaced by [`FakeRemote::rotate_key`], oldest first.
    retired: Vec<Arc<KeyPair>>,
}

#[derive(Default)]
struct InboxState {
    queue: VecDeque<Reply>,
    default: Option<Reply>,
    in_flight: usize,
    max_in_flight: usize,
}

struct State {
    origin: String,
    shared_inbox: Mutex<bool>,
    actors: Mutex<HashMap<String, FakeActor>>,
    docs: Mutex<HashMap<String, Value>>,
    received: Mutex<Vec<Received>>,
    inboxes: Mutex<HashMap<String, InboxState>>,
    default_reply: Mutex<Reply>,
    fetches: Mutex<HashMap<String, usize>>,
    requests: AtomicUsize,
}

struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A fake remote server; stopped when dropped.
pub struct FakeRemote {
    pub port: u16,
    /// `http://localhost:PORT`.
    pub origin: String,
    state: Arc<State>,
    running: Mutex<Running>,
    http: reqwest::Client,
}

impl FakeRemote {
    /// Starts a fake server that advertises a shared inbox.
    pub async fn start() -> FakeRemote {
        FakeRemote::start_with(true).await
    }

    /// Starts a fake server whose actors advertise a shared inbox or not.
    pub async fn start_with(shared_inbox: bool) -> FakeRemote {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a fake remote");
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://localhost:{port}");
        let state = Arc::new(State {
            origin: origin.clone(),
            shared_inbox: Mutex::new(shared_inbox),
            actors: Default::default(),
            docs: Default::default(),
            received: Default::default(),
            inboxes: Default::default(),
            default_reply: Mutex::new(Reply::status(202)),
            fetches: Default::default(),
            requests: AtomicUsize::new(0),
        });
        let running = spawn_server(listener, state.clone());
        FakeRemote {
            port,
            origin,
            state,
            running: Mutex::new(running),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// Closes the port and every open connection: the host is down.
    pub fn stop(&self) {
        self.running.lock().unwrap().shutdown();
    }

    /// Opens the same port again after [`FakeRemote::stop`], with the same actors, records and replies.
    pub fn start_again(&self) {
        let mut running = self.running.lock().unwrap();
        running.shutdown();
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match std::net::TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("cannot bind 127.0.0.1:{} again: {e}", self.port),
            }
        };
        *running = spawn_server(listener, self.state.clone());
    }

    /// `localhost:PORT`, the host as deliveries and handles name it.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Adds an actor with a fresh RSA-2048 key and returns its id.
    pub fn add_actor(&self, name: &str) -> String {
        let keys = generate_rsa_2048().expect("generate a key");
        let key = Arc::new(private_key_from_pem(&keys.private_key_pem).expect("parse the key"));
        self.state.actors.lock().unwrap().insert(
            name.to_string(),
            FakeActor {
                keys,
                key,
                retired: vec![],
            },
        );
        self.actor_url(name)
    }

    pub fn actor_url(&self, name: &str) -> String {
        format!("{}/users/{name}", self.origin)
    }

    pub fn key_id(&self, name: &str) -> String {
        format!("{}#main-key", self.actor_url(name))
    }

    /// `/users/NAME/inbox`.
    pub fn inbox_path(&self, name: &str) -> String {
        format!("/users/{name}/inbox")
    }

    /// `@NAME@localhost:PORT`.
    pub fn handle(&self, name: &str) -> String {
        format!("@{name}@{}", self.host())
    }

    pub fn public_key_pem(&self, name: &str) -> String {
        self.with_actor(name, |a| a.keys.public_key_pem.clone())
    }

    pub fn key(&self, name: &str) -> Arc<KeyPair> {
        self.with_actor(name, |a| a.key.clone())
    }

    /// The key the actor had before the last rotation.
    pub fn previous_key(&self, name: &str) -> Arc<KeyPair> {
        self.with_actor(name, |a| {
            a.retired
                .last()
                .cloned()
                .expect("the key was never rotated")
        })
    }

    /// Replaces the actor's key: its document now publishes the new public key (same key id).
    pub fn rotate_key(&self, name: &str) {
        let keys = generate_rsa_2048().expect("generate a key");
        let key = Arc::new(private_key_from_pem(&keys.private_key_pem).expect("parse the key"));
        let mut actors = self.state.actors.lock().unwrap();
        let actor = actors.get_mut(name).expect("no such fake actor");
        let old = std::mem::replace(&mut actor.key, key);
        actor.retired.push(old);
        actor.keys = keys;
    }

    /// Whether actor documents advertise `endpoints.sharedInbox`.
    pub fn set_shared_inbox(&self, on: bool) {
        *self.state.shared_inbox.lock().unwrap() = on;
    }

    fn with_actor<T>(&self, name: &str, f: impl FnOnce(&FakeActor) -> T) -> T {
        let actors = self.state.actors.lock().unwrap();
        f(actors
            .get(name)
            .unwrap_or_else(|| panic!("no fake actor {name}")))
    }

    /// Serves `value` as ActivityPub JSON at `path`.
    pub fn serve_json(&self, path: &str, value: Value) {
        self.state
            .docs
            .lock()
            .unwrap()
            .insert(path.to_string(), value);
    }

    /// The answers `path` (an inbox) gives next, in order; after them, its default.
    pub fn reply_sequence(&self, path: &str, replies: Vec<Reply>) {
        let mut inboxes = self.state.inboxes.lock().unwrap();
        let inbox = inboxes.entry(path.to_string()).or_default();
        inbox.queue = replies.into();
    }

    /// The answer `path` gives when its sequence is used up.
    pub fn set_reply(&self, path: &str, reply: Reply) {
        let mut inboxes = self.state.inboxes.lock().unwrap();
        inboxes.entry(path.to_string()).or_default().default = Some(reply);
    }

    /// The answer of every inbox without a reply of its own (202 at first).
    pub fn set_default_reply(&self, reply: Reply) {
        *self.state.default_reply.lock().unwrap() = reply;
    }

    /// The most requests `path` was answering at once.
    pub fn max_in_flight(&self, path: &str) -> usize {
        self.state
            .inboxes
            .lock()
            .unwrap()
            .get(path)
            .map_or(0, |i| i.max_in_flight)
    }

    /// Every POST received so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The POSTs received at `path` whose activity has type `kind`.
    pub fn received_of(&self, path: &str, kind: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path && r.kind() == kind)
            .collect()
    }

    /// How many GETs `path` has answered (query strings aside).
    pub fn fetch_count(&self, path: &str) -> usize {
        self.state
            .fetches
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// How many GETs of the actor's document.
    pub fn actor_fetches(&self, name: &str) -> usize {
        self.fetch_count(&format!("/users/{name}"))
    }

    /// Waits until `ready` holds for what was received, polling; panics with what was received after
    /// `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if ready(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = got
                    .iter()
                    .map(|r| format!("{} {} -> {}", r.path, r.kind(), r.status))
                    .collect();
                panic!(
                    "{}: timed out after {timeout:?} waiting for {what}; received {summary:#?}",
                    self.origin
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `path` has received `n` activities of type `kind`, and returns them.
    pub async fn wait_for_n(
        &self,
        path: &str,
        kind: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Received> {
        self.wait_for(&format!("{n} {kind} at {path}"), timeout, |got| {
            got.iter()
                .filter(|r| r.path == path && r.kind() == kind)
                .count()
                >= n
        })
        .await;
        self.received_of(path, kind)
    }

    /// A new id on this server, `/activities/N` (or another prefix).
    pub fn new_id(&self, prefix: &str) -> String {
        let n = self.state.requests.load(Ordering::SeqCst);
        let m = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        format!("{}/{prefix}/{m}-{n}", self.origin)
    }

    /// `Follow` of `object` by `actor`.
    pub fn follow(&self, actor: &str, object: &str) -> Value {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": self.new_id("follows"),
            "type": "Follow",
            "actor": self.actor_url(actor),
            "object": object,
        })
    }

    /// `Like` of `object` by `actor`.
    pub fn like(&self, actor: &str, object: &str) -> Value {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": self.new_id("likes"),
            "type": "Like",
            "actor": self.actor_url(actor),
            "object": object,
        })
    }

    /// A public `Note` by `actor` replying to `parent`, with an id on this server.
    pub fn note(&self, actor: &str, parent: &str, text: &str) -> Value {
        let id = self.new_id("notes");
        json!({
            "id": id,
            "type": "Note",
            "attributedTo": self.actor_url(actor),
            "inReplyTo": parent,
            "content": format!("<p>{text}</p>"),
            "published": now_rfc3339(),
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [format!("{}/followers", self.actor_url(actor))],
        })
    }

    /// `Create` of `note` by `actor`.
    pub fn create(&self, actor: &str, note: Value) -> Value {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{}/activity", note["id"].as_str().unwrap_or_default()),
            "type": "Create",
            "actor": self.actor_url(actor),
            "to": note["to"].clone(),
            "cc": note["cc"].clone(),
            "object": note,
        })
    }

    /// POSTs `activity` to `url`, signed draft-cavage by `actor` (as Mastodon does).
    pub async fn sign_and_post(
        &self,
        actor: &str,
        url: &str,
        activity: &Value,
    ) -> reqwest::Response {
        self.post(
            actor,
            url,
            serde_json::to_vec(activity).unwrap(),
            &PostOptions::default(),
        )
        .await
    }

    /// POSTs `activity` to `url`, signed RFC 9421 by `actor` (as Fedify does).
    pub async fn sign_and_post_rfc9421(
        &self,
        actor: &str,
        url: &str,
        activity: &Value,
    ) -> reqwest::Response {
        self.post(
            actor,
            url,
            serde_json::to_vec(activity).unwrap(),
            &PostOptions::rfc9421(),
        )
        .await
    }

    /// POSTs `body` to `url` as `actor`, signed (or tampered with) as `opts` says.
    pub async fn post(
        &self,
        actor: &str,
        url: &str,
        body: Vec<u8>,
        opts: &PostOptions,
    ) -> reqwest::Response {
        let headers = self.signed_headers(actor, url, &body, opts);
        let body = opts.body_after_signing.clone().unwrap_or(body);
        let mut req = self.http.post(url);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }

    /// The headers a request to `url` with `body` carries, signed as `opts` says (`Host` only when overridden).
    pub fn signed_headers(
        &self,
        actor: &str,
        url: &str,
        body: &[u8],
        opts: &PostOptions,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let content_type = opts.content_type.clone().unwrap_or_else(|| AP_JSON.into());
        let key = opts.key.clone().unwrap_or_else(|| self.key(actor));
        let key_id = opts.key_id.clone().unwrap_or_else(|| self.key_id(actor));
        let signed_url = Url::parse(opts.sign_for_url.as_deref().unwrap_or(url)).unwrap();
        let now = opts.time.unwrap_or_else(SystemTime::now);
        let mut headers: Vec<(HeaderName, HeaderValue)> = match (opts.scheme, &opts.covered) {
            (Scheme::Unsigned, _) => vec![
                (header::CONTENT_TYPE, hv(&content_type)),
                (
                    HeaderName::from_static("digest"),
                    hv(&signatures::sha256_digest_header(body)),
                ),
                (header::DATE, hv(&httpdate::fmt_http_date(now))),
            ],
            (Scheme::DraftCavage, None) => signatures::sign_draft_cavage(
                &key,
                &key_id,
                &Method::POST,
                &signed_url,
                Some(body),
                Some(&content_type),
                now,
            )
            .expect("sign draft-cavage"),
            (Scheme::Rfc9421, None) => {
                let mut h = signatures::sign_rfc9421(
                    &key,
                    &key_id,
                    &Method::POST,
                    &signed_url,
                    Some(body),
                    now,
                )
                .expect("sign RFC 9421");
                h.push((header::CONTENT_TYPE, hv(&content_type)));
                h
            }
            (Scheme::DraftCavage, Some(covered)) => cavage_custom(
                &key,
                &key_id,
                &signed_url,
                body,
                &content_type,
                covered,
                opts.algorithm.as_deref().unwrap_or("rsa-sha256"),
                now,
            ),
            (Scheme::Rfc9421, Some(covered)) => rfc9421_custom(
                &key,
                &key_id,
                &signed_url,
                body,
                &content_type,
                covered,
                opts.algorithm.as_deref().unwrap_or("rsa-v1_5-sha256"),
                now,
            ),
        };
        for name in &opts.drop_headers {
            headers.retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
        }
        for (name, value) in &opts.set_headers {
            headers.retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
            headers.push((
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap(),
                hv(value),
            ));
        }
        headers
    }
}

impl Drop for FakeRemote {
    fn drop(&mut self) {
        if let Ok(mut r) = self.running.lock() {
            r.shutdown();
        }
    }
}

/// A fresh RSA-2048 key belonging to nobody.
pub fn stray_key() -> Arc<KeyPair> {
    let keys = generate_rsa_2048().unwrap();
    Arc::new(private_key_from_pem(&keys.private_key_pem).unwrap())
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| panic!("invalid header value {s:?}"))
}

fn authority(url: &Url) -> String {
    match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap()),
        None => url.host_str().unwrap().to_string(),
    }
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

fn rsa_sign(key: &KeyPair, message: &[u8]) -> String {
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        message,
        &mut sig,
    )
    .expect("RSA sign");
    base64::engine::general_purpose::STANDARD.encode(sig)
}

/// A draft-cavage signature over exactly `covered`, made independently of Placard's signer.
#[allow(clippy::too_many_arguments)]
fn cavage_custom(
    key: &KeyPair,
    key_id: &str,
    url: &Url,
    body: &[u8],
    content_type: &str,
    covered: &[String],
    algorithm: &str,
    now: SystemTime,
) -> Vec<(HeaderName, HeaderValue)> {
    let date = httpdate::fmt_http_date(now);
    let digest = signatures::sha256_digest_header(body);
    let lines: Vec<String> = covered
        .iter()
        .map(|name| {
            let value = match name.as_str() {
                "(request-target)" => format!("post {}", path_and_query(url)),
                "host" => authority(url),
                "date" => date.clone(),
                "digest" => digest.clone(),
                "content-type" => content_type.to_string(),
                other => panic!("the test signer does not know {other}"),
            };
            format!("{name}: {value}")
        })
        .collect();
    let signature = rsa_sign(key, lines.join("\n").as_bytes());
    vec![
        (header::DATE, hv(&date)),
        (HeaderName::from_static("digest"), hv(&digest)),
        (header::CONTENT_TYPE, hv(content_type)),
        (
            HeaderName::from_static("signature"),
            hv(&format!(
                "keyId=\"{key_id}\",algorithm=\"{algorithm}\",headers=\"{}\",signature=\"{signature}\"",
                covered.join(" ")
            )),
        ),
    ]
}

/// An RFC 9421 signature over exactly `covered`, made independently of Placard's signer.
#[allow(clippy::too_many_arguments)]
fn rfc9421_custom(
    key: &KeyPair,
    key_id: &str,
    url: &Url,
    body: &[u8],
    content_type: &str,
    covered: &[String],
    alg: &str,
    now: SystemTime,
) -> Vec<(HeaderName, HeaderValue)> {
    let content_digest = signatures::content_digest_header(body);
    let created = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let list: Vec<String> = covered.iter().map(|c| format!("\"{c}\"")).collect();
    let params = format!(
        "({});created={created};keyid=\"{key_id}\";alg=\"{alg}\"",
        list.join(" ")
    );
    let mut base = String::new();
    for c in covered {
        let value = match c.as_str() {
            "@method" => "POST".to_string(),
            "@target-uri" => url.to_string(),
            "@authority" => authority(url),
            "@path" => url.path().to_string(),
            "content-digest" => content_digest.clone(),
            "content-type" => content_type.to_string(),
            other => panic!("the test signer does not know {other}"),
        };
        base.push_str(&format!("\"{c}\": {value}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {params}"));
    let signature = rsa_sign(key, base.as_bytes());
    vec![
        (
            HeaderName::from_static("content-digest"),
            hv(&content_digest),
        ),
        (header::CONTENT_TYPE, hv(content_type)),
        (
            HeaderName::from_static("signature-input"),
            hv(&format!("sig1={params}")),
        ),
        (
            HeaderName::from_static("signature"),
            hv(&format!("sig1=:{signature}:")),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------------------
// The server

fn spawn_server(listener: std::net::TcpListener, state: Arc<State>) -> Running {
    listener.set_nonblocking(true).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().fallback(
                move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                    handle(state.clone(), method, uri, headers, body)
                },
            );
            tokio::select! {
                _ = axum::serve(listener, app) => {}
                _ = stop_rx => {}
            }
        });
        // Drops every connection and every handler still sleeping.
        rt.shutdown_background();
    });
    Running {
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// Decrements an inbox's in-flight count however its handler ends.
struct InFlight(Arc<State>, String);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut inboxes) = self.0.inboxes.lock()
            && let Some(i) = inboxes.get_mut(&self.1)
        {
            i.in_flight = i.in_flight.saturating_sub(1);
        }
    }
}

async fn handle(
    state: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let path = uri.path().to_string();
    if method == Method::GET || method == Method::HEAD {
        *state
            .fetches
            .lock()
            .unwrap()
            .entry(path.clone())
            .or_insert(0) += 1;
        return get(&state, &uri);
    }
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let is_inbox = path == "/inbox"
        || path
            .strip_prefix("/users/")
            .and_then(|rest| rest.strip_suffix("/inbox"))
            .is_some_and(|name| state.actors.lock().unwrap().contains_key(name));
    let reply = if is_inbox {
        let mut inboxes = state.inboxes.lock().unwrap();
        let inbox = inboxes.entry(path.clone()).or_default();
        inbox.in_flight += 1;
        inbox.max_in_flight = inbox.max_in_flight.max(inbox.in_flight);
        inbox
            .queue
            .pop_front()
            .or_else(|| inbox.default.clone())
            .unwrap_or_else(|| state.default_reply.lock().unwrap().clone())
    } else {
        Reply::status(404)
    };
    let _guard = is_inbox.then(|| InFlight(state.clone(), path.clone()));
    state.received.lock().unwrap().push(Received {
        path: path.clone(),
        path_and_query: uri
            .path_and_query()
            .map_or(path.clone(), |p| p.as_str().to_string()),
        headers,
        body,
        at: Instant::now(),
        status: reply.status,
        origin: state.origin.clone(),
    });
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = StatusCode::from_u16(reply.status).unwrap().into_response();
    if let Some(ra) = &reply.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, hv(ra));
    }
    response
}

fn ap_json(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(AP_JSON))],
        serde_json::to_vec(&value).unwrap(),
    )
        .into_response()
}

fn get(state: &State, uri: &Uri) -> Response {
    let path = uri.path();
    let origin = &state.origin;
    if path == "/.well-known/webfinger" {
        let resource = uri
            .query()
            .and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "resource")
                    .map(|(_, v)| v.into_owned())
            })
            .unwrap_or_default();
        let host = origin.trim_start_matches("http://");
        let name = resource
            .strip_prefix("acct:")
            .and_then(|r| r.strip_suffix(&format!("@{host}")))
            .unwrap_or_default();
        if !state.actors.lock().unwrap().contains_key(name) {
            return StatusCode::NOT_FOUND.into_response();
        }
        let doc = json!({
            "subject": resource,
            "links": [{"rel": "self", "type": AP_JSON, "href": format!("{origin}/users/{name}")}],
        });
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jrd+json"),
            )],
            doc.to_string(),
        )
            .into_response();
    }
    if let Some(doc) = state.docs.lock().unwrap().get(path) {
        return ap_json(doc.clone());
    }
    if let Some(rest) = path.strip_prefix("/users/") {
        let (name, sub) = match rest.split_once('/') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let actors = state.actors.lock().unwrap();
        let Some(actor) = actors.get(name) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let id = format!("{origin}/users/{name}");
        return match sub {
            None => {
                let mut doc = json!({
                    "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                    "id": id,
                    "type": "Person",
                    "preferredUsername": name,
                    "name": format!("Fake {name}"),
                    "inbox": format!("{id}/inbox"),
                    "outbox": format!("{id}/outbox"),
                    "followers": format!("{id}/followers"),
                    "following": format!("{id}/following"),
                    "url": format!("{origin}/@{name}"),
                    "publicKey": {
                        "id": format!("{id}#main-key"),
                        "owner": id,
                        "publicKeyPem": actor.keys.public_key_pem,
                    },
                });
                if *state.shared_inbox.lock().unwrap() {
                    doc["endpoints"] = json!({"sharedInbox": format!("{origin}/inbox")});
                }
                ap_json(doc)
            }
            Some(c @ ("followers" | "following" | "outbox")) => ap_json(json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": format!("{id}/{c}"),
                "type": "OrderedCollection",
                "totalItems": 0,
                "orderedItems": [],
            })),
            Some(_) => StatusCode::NOT_FOUND.into_response(),
        };
    }
    StatusCode::NOT_FOUND.into_response()
}
