//! The remote side of the inbox benchmarks: a fake fediverse server in this process that serves actor
//! documents (and counts how often each is fetched), and the activities its actors send, built and signed
//! (draft-cavage, with Placard's own signer, as Mastodon signs) before any timing starts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use aws_lc_rs::rsa::KeyPair;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use placard::federation::keys::{PemKeyPair, generate_rsa_2048, private_key_from_pem};
use placard::federation::signatures;
use serde_json::json;
use url::Url;

use super::load;

pub const AP_JSON: &str = "application/activity+json";

/// Keys shared among the fake actors: each actor has its own key id and document, but generating 1,200
/// RSA keys would take a minute, and verification costs the same whichever key it is.
pub struct KeyPool {
    pub pairs: Vec<(PemKeyPair, Arc<KeyPair>)>,
}

impl KeyPool {
    pub fn generate(n: usize) -> KeyPool {
        let pairs = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    s.spawn(move || {
                        (0..n)
                            .filter(|i| i % 2 == t)
                            .map(|_| {
                                let pem = generate_rsa_2048().expect("RSA key");
                                let key = Arc::new(
                                    private_key_from_pem(&pem.private_key_pem).expect("key"),
                                );
                                (pem, key)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("keygen"))
                .collect()
        });
        KeyPool { pairs }
    }
}

struct Remote {
    /// name → (actor document, fetch count).
    actors: HashMap<String, (Vec<u8>, AtomicU32)>,
}

/// The fake remote server: `http://localhost:PORT`, actors `/users/NAME`.
#[derive(Clone)]
pub struct FakeRemote {
    pub origin: String,
    state: Arc<Remote>,
    /// name → key index in the pool.
    keys: Arc<HashMap<String, usize>>,
    pool: Arc<KeyPool>,
}

impl FakeRemote {
    /// Binds `127.0.0.1:port` and serves `names` (spawned on the current runtime).
    pub async fn start(
        port: u16,
        names: &[String],
        pool: Arc<KeyPool>,
    ) -> anyhow::Result<FakeRemote> {
        let origin = format!("http://localhost:{port}");
        let mut actors = HashMap::new();
        let mut keys = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let k = i % pool.pairs.len();
            let id = format!("{origin}/users/{name}");
            let doc = json!({
                "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                "id": id,
                "type": "Person",
                "preferredUsername": name,
                "name": format!("Remote {name}"),
                "summary": "<p>A remote account of the benchmark.</p>",
                "inbox": format!("{id}/inbox"),
                "outbox": format!("{id}/outbox"),
                "followers": format!("{id}/followers"),
                "following": format!("{id}/following"),
                "url": format!("{origin}/@{name}"),
                "manuallyApprovesFollowers": false,
                "discoverable": true,
                "endpoints": {"sharedInbox": format!("{origin}/inbox")},
                "publicKey": {
                    "id": format!("{id}#main-key"),
                    "owner": id,
                    "publicKeyPem": pool.pairs[k].0.public_key_pem,
                },
            });
            actors.insert(name.clone(), (serde_json::to_vec(&doc)?, AtomicU32::new(0)));
            keys.insert(name.clone(), k);
        }
        let state = Arc::new(Remote { actors });
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let app = axum::Router::new()
            .route("/users/{name}", axum::routing::get(actor_doc))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeRemote {
            origin,
            state,
            keys: Arc::new(keys),
            pool,
        })
    }

    pub fn actor_id(&self, name: &str) -> String {
        format!("{}/users/{name}", self.origin)
    }

    pub fn reset_counts(&self) {
        for (_, c) in self.state.actors.values() {
            c.store(0, Ordering::SeqCst);
        }
    }

    /// How often each of `names` was fetched since the last reset.
    pub fn fetches(&self, names: &[String]) -> Vec<u32> {
        names
            .iter()
            .map(|n| {
                self.state
                    .actors
                    .get(n)
                    .map_or(0, |(_, c)| c.load(Ordering::SeqCst))
            })
            .collect()
    }

    pub fn key_of(&self, name: &str) -> Arc<KeyPair> {
        self.pool.pairs[self.keys[name]].1.clone()
    }
}

async fn actor_doc(State(state): State<Arc<Remote>>, Path(name): Path<String>) -> Response {
    match state.actors.get(&name) {
        Some((doc, count)) => {
            count.fetch_add(1, Ordering::SeqCst);
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(AP_JSON))],
                doc.clone(),
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// One activity to send: who sends it and its body.
pub struct Activity {
    pub actor: String,
    pub body: Vec<u8>,
}

/// Builds `Create(Note)` replies to `parent` (a post of `local_actor` on `local_origin`), about 1.3 KB each,
/// shaped like Mastodon's.
pub struct NoteFactory {
    pub remote_origin: String,
    pub local_origin: String,
    pub local_actor: String,
    pub parent: String,
    next: u64,
    run_tag: u64,
}

impl NoteFactory {
    pub fn new(remote_origin: &str, local_origin: &str, local_actor: &str, parent: &str) -> Self {
        let run_tag = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        NoteFactory {
            remote_origin: remote_origin.into(),
            local_origin: local_origin.into(),
            local_actor: local_actor.into(),
            parent: parent.into(),
            next: 1,
            run_tag,
        }
    }

    pub fn create(&mut self, actor: &str) -> Activity {
        let n = self.next;
        self.next += 1;
        let origin = &self.remote_origin;
        let actor_id = format!("{origin}/users/{actor}");
        let note_id = format!("{actor_id}/statuses/{}{n:08}", self.run_tag);
        let local_actor_id = format!("{}/users/{}", self.local_origin, self.local_actor);
        let local_host = self.local_origin.trim_start_matches("http://");
        let published = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let public = "https://www.w3.org/ns/activitystreams#Public";
        let followers = format!("{actor_id}/followers");
        let make = |filler: &str| {
            json!({
                "@context": [
                    "https://www.w3.org/ns/activitystreams",
                    {"sensitive": "as:sensitive", "toot": "http://joinmastodon.org/ns#"}
                ],
                "id": format!("{note_id}/activity"),
                "type": "Create",
                "actor": actor_id,
                "published": published,
                "to": [public],
                "cc": [followers, local_actor_id],
                "object": {
                    "id": note_id,
                    "type": "Note",
                    "summary": null,
                    "inReplyTo": self.parent,
                    "published": published,
                    "url": format!("{origin}/@{actor}/{n}"),
                    "attributedTo": actor_id,
                    "to": [public],
                    "cc": [followers, local_actor_id],
                    "sensitive": false,
                    "content": format!(
                        "<p><span class=\"h-card\"><a href=\"{}/@{}\" class=\"u-url mention\">@<span>{}</span></a></span> {filler}</p>",
                        self.local_origin, self.local_actor, self.local_actor
                    ),
                    "attachment": [],
                    "tag": [{
                        "type": "Mention",
                        "href": local_actor_id,
                        "name": format!("@{}@{local_host}", self.local_actor),
                    }],
                }
            })
        };
        const WORDS: &str = "We will march on Saturday from the station square to the town hall; bring \
            banners, water and a friend. Stewards meet at nine by the fountain. ";
        let base = serde_json::to_vec(&make("")).expect("json").len();
        let target = 1300usize;
        let mut filler = String::new();
        while base + filler.len() < target {
            filler.push_str(WORDS);
        }
        filler.truncate(target.saturating_sub(base).max(40));
        let filler = filler.trim_end().to_string();
        Activity {
            actor: actor.into(),
            body: serde_json::to_vec(&make(&filler)).expect("json"),
        }
    }
}

/// Signs each activity for `POST {inbox_url}` as its actor (draft-cavage, `rsa-sha256`, covering
/// `(request-target) host date digest content-type`) and serializes the request. Two threads.
pub fn sign_all(remote: &FakeRemote, inbox_url: &str, activities: &[Activity]) -> Vec<Vec<u8>> {
    let url = Url::parse(inbox_url).expect("inbox URL");
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().expect("host")),
        None => url.host_str().expect("host").to_string(),
    };
    let path = url.path().to_string();
    let sign_one = |a: &Activity| -> Vec<u8> {
        let key = remote.key_of(&a.actor);
        let key_id = format!("{}#main-key", remote.actor_id(&a.actor));
        let headers = signatures::sign_draft_cavage(
            &key,
            &key_id,
            &Method::POST,
            &url,
            Some(&a.body),
            Some(AP_JSON),
            SystemTime::now(),
        )
        .expect("sign");
        let mut h: Vec<(String, String)> = headers
            .into_iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    v.to_str().expect("ascii").to_string(),
                )
            })
            .collect();
        h.push(("User-Agent".into(), "placard-bench (Mastodon-like)".into()));
        load::serialize("POST", &path, &host, &h, &a.body)
    };
    let half = activities.len().div_ceil(2).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = activities
            .chunks(half)
            .map(|chunk| s.spawn(move || chunk.iter().map(sign_one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}
