//! Finding remote actors and objects: from the database when we have them, else fetched (signed by the
//! instance actor) from their own origin, checked and cached.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use url::Url;

use super::fetch::FetchError;
use super::protocol::{self, first_id, str_prop, text_prop};
use crate::App;
use crate::db::actors::{self, ActorRow, RemoteActor};
use crate::db::deliveries::host_of;
use crate::error::{Error, Result};

/// Actor types we federate with.
pub const ACTOR_TYPES: &[&str] = &["Person", "Organization", "Service", "Application", "Group"];

/// A cached remote actor older than this is fetched again when it is next needed.
pub const ACTOR_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// The most remote fetches one incoming activity (or one command) may cause.
pub const MAX_FETCHES: u32 = 50;

/// Counts the fetches made on behalf of one activity, and stops at [`MAX_FETCHES`].
pub struct Budget(AtomicU32);

impl Default for Budget {
    fn default() -> Self {
        Budget(AtomicU32::new(MAX_FETCHES))
    }
}

impl Budget {
    fn take(&self) -> Result<()> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| {
                Error::unprocessable(format!("more than {MAX_FETCHES} fetches for one activity"))
            })
    }
    pub fn used(&self) -> u32 {
        MAX_FETCHES - self.0.load(Ordering::SeqCst)
    }
}

pub fn fetch_error(e: FetchError) -> Error {
    match e {
        FetchError::Gone(u) => Error::Gone {
            message: format!("{u} is gone"),
            tombstone: None,
        },
        FetchError::Forbidden(..) => Error::Forbidden(e.to_string()),
        other => Error::unprocessable(other.to_string()),
    }
}

/// Same scheme, host and port, hosts compared in canonical form (case, trailing dot, IDNA) and exactly —
/// never as prefixes or suffixes.
pub fn same_origin(a: &str, b: &str) -> bool {
    fn key(u: &str) -> Option<(String, String, Option<u16>)> {
        let u = Url::parse(u).ok()?;
        let host = crate::db::blocks::canonical_host(u.host_str()?);
        Some((u.scheme().to_string(), host, u.port_or_known_default()))
    }
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Fetches a document by id, signed by the instance actor.
pub async fn fetch(app: &App, id: &str, budget: &Budget) -> Result<Value> {
    let url =
        Url::parse(id).map_err(|e| Error::unprocessable(format!("{id:?} is not a URL: {e}")))?;
    if app.urls.is_local(id) {
        return Err(Error::unprocessable(format!("{id} is local: not fetched")));
    }
    if app.is_blocked_url(id).await? {
        return Err(Error::Forbidden(format!(
            "{id} is on a blocked domain: not fetched"
        )));
    }
    budget.take()?;
    let signer = app.instance_signer().await?;
    app.http
        .get_activity_json(&url, Some(signer))
        .await
        .map_err(fetch_error)
}

/// Reads an actor document into what we store. `id` is where it was fetched from (already checked equal to
/// its `id`).
pub fn parse_actor(doc: &Value) -> Result<RemoteActor> {
    let bad = |why: &str| Error::unprocessable(format!("invalid actor document: {why}"));
    let id = protocol::own_id(doc).ok_or_else(|| bad("no usable id"))?;
    let url = Url::parse(id).map_err(|_| bad("id is not a URL"))?;
    let kind = protocol::type_of(doc).ok_or_else(|| bad("no type"))?;
    if !ACTOR_TYPES.contains(&kind) {
        return Err(bad(&format!("type {kind} is not an actor type")));
    }
    let username = str_prop(doc, "preferredUsername").ok_or_else(|| bad("no preferredUsername"))?;
    let inbox = str_prop(doc, "inbox").ok_or_else(|| bad("no inbox"))?;
    Url::parse(inbox).map_err(|_| bad("inbox is not a URL"))?;
    // The key must belong to this actor and live on its origin. Some servers publish several.
    let keys: Vec<&Value> = match doc.get("publicKey") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(k @ Value::Object(_)) => vec![k],
        _ => vec![],
    };
    let key = keys
        .into_iter()
        .find(|k| {
            str_prop(k, "owner").is_none_or(|o| o == id)
                && str_prop(k, "id").is_some_and(|kid| same_origin(kid, id))
                && str_prop(k, "publicKeyPem").is_some()
        })
        .ok_or_else(|| bad("no publicKey owned by the actor on its own origin"))?;
    let image =
        |k: &str| first_id(doc.get(k)).or_else(|| doc.get(k).and_then(|i| first_id(i.get("url"))));
    Ok(RemoteActor {
        ap_id: id.to_string(),
        kind: kind.to_string(),
        username: username.to_string(),
        domain: host_of(&url),
        display_name: super::html::to_text(&text_prop(doc, "name").unwrap_or_default()),
        summary: super::html::sanitize(&text_prop(doc, "summary").unwrap_or_default()),
        avatar_url: image("icon"),
        header_url: image("image"),
        profile_url: first_id(doc.get("url")),
        inbox_url: inbox.to_string(),
        shared_inbox_url: doc
            .get("endpoints")
            .and_then(|e| str_prop(e, "sharedInbox"))
            .filter(|u| Url::parse(u).is_ok())
            .map(str::to_string),
        followers_url: str_prop(doc, "followers").map(str::to_string),
        manually_approves_followers: doc
            .get("manuallyApprovesFollowers")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        discoverable: doc
            .get("discoverable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        public_key_id: str_prop(key, "id").unwrap_or_default().to_string(),
        public_key_pem: str_prop(key, "publicKeyPem")
            .unwrap_or_default()
            .to_string(),
    })
}

/// Fetches an actor and stores (or refreshes) it.
pub async fn refresh_actor(app: &App, id: &str, budget: &Budget) -> Result<ActorRow> {
    let doc = fetch(app, id, budget).await?;
    let remote = parse_actor(&doc)?;
    let row = actors::upsert_remote(&app.db, &remote).await?;
    app.keys.remote.invalidate(&row.public_key_id);
    Ok(row)
}

/// An actor by id: local, cached, or fetched.
pub async fn actor(app: &App, id: &str, budget: &Budget) -> Result<ActorRow> {
    if let Some(row) = actors::find_by_ap_id(&app.db, id).await? {
        let stale = row
            .fetched_at
            .is_some_and(|t| crate::db::now_ms() - t > ACTOR_TTL_MS);
        if row.is_local() || !stale {
            return Ok(row);
        }
        // A stale copy is still better than none when the origin is down.
        return Ok(refresh_actor(app, id, budget).await.unwrap_or(row));
    }
    if app.urls.is_local(id) {
        return Err(Error::not_found(format!("no local actor {id}")));
    }
    refresh_actor(app, id, budget).await
}

/// Resolves `@user@host`, `user@host` or an actor URL to an actor.
pub async fn actor_by_handle_or_url(app: &App, target: &str, budget: &Budget) -> Result<ActorRow> {
    let target = target.trim();
    if target.starts_with("http://") || target.starts_with("https://") {
        return actor(app, target, budget).await;
    }
    let handle = target.strip_prefix('@').unwrap_or(target);
    let (user, host) = handle
        .split_once('@')
        .filter(|(u, h)| !u.is_empty() && !h.is_empty())
        .ok_or_else(|| Error::bad_request(format!("{target:?} is neither @user@host nor a URL")))?;
    if host.eq_ignore_ascii_case(app.urls.domain()) {
        return actors::find_local(&app.db, user)
            .await?
            .filter(|a| !a.is_deleted())
            .ok_or_else(|| Error::not_found(format!("no local actor named {user}")));
    }
    if app.is_blocked(host).await? {
        return Err(Error::Forbidden(format!("{host} is blocked on this node")));
    }
    budget.take()?;
    let id = app.http.webfinger(user, host).await.map_err(fetch_error)?;
    actor(app, id.as_str(), budget).await
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn origins_compare_canonically_and_exactly() {
        assert!(same_origin(
            "https://Social.Example/users/a",
            "https://social.example./notes/1"
        ));
        assert!(same_origin(
            "https://social.example:443/a",
            "https://social.example/b"
        ));
        assert!(!same_origin(
            "https://social.example/a",
            "https://social.example.evil/b"
        ));
        assert!(!same_origin(
            "https://evil-social.example/a",
            "https://social.example/b"
        ));
        assert!(!same_origin(
            "https://social.example/a",
            "http://social.example/b"
        ));
        assert!(!same_origin(
            "https://social.example/a",
            "https://social.example:8443/b"
        ));
        assert!(!same_origin("not a url", "https://social.example/b"));
    }
}
