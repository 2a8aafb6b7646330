//! What we accept: `POST /users/NAME/inbox` and `POST /inbox`.
//!
//! content type → JSON → HTTP signature parsed (digest, time window, covered components) → the same activity
//! id seen before? 202 → key found (memory, database, or fetched once) → signature verified (re-fetching the
//! key once if it fails, for rotations) → the key's owner must be the activity's actor → the activity's own
//! checks and effects, committed → 202.

use std::time::SystemTime;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;

use super::activities;
use super::keys::{CachedKey, SIGNER_ROW_TTL};
use super::protocol::{self, depth, str_prop};
use super::resolve::{self, Budget};
use super::signatures::{self, PendingSignature, RequestParts, SignatureError};
use crate::App;
use crate::db::{self, actors::ActorRow, received};
use crate::error::{Error, Result};

/// Refusals specific to the inbox, each with its status.
fn unauthorized(msg: impl Into<String>) -> Error {
    Error::Forbidden(msg.into())
}

/// Content types an inbox accepts.
pub fn acceptable_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        media.as_str(),
        "application/activity+json" | "application/ld+json" | "application/json"
    )
}

/// Handles one POST to an inbox. `path_and_query` is as received; the target URI is built on our public URL.
pub async fn receive(
    app: &App,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<StatusCode> {
    if !acceptable_content_type(headers) {
        return Err(Error::UnsupportedMediaType(
            "an inbox accepts application/activity+json or application/ld+json".into(),
        ));
    }
    let activity: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::bad_request(format!("the body is not valid JSON: {e}")))?;
    if depth(&activity) > protocol::MAX_JSON_DEPTH {
        return Err(Error::bad_request("the JSON is nested too deeply"));
    }
    if !activity.is_object() {
        return Err(Error::bad_request("the body is not a JSON object"));
    }
    let target_uri = format!("{}{}", app.urls.origin(), path_and_query);
    let pending = signatures::parse_request(
        &RequestParts {
            method: &Method::POST,
            path_and_query,
            target_uri: &target_uri,
            headers,
            body: &body,
        },
        SystemTime::now(),
    )
    .map_err(signature_error)?;

    if let Ok(key) = url::Url::parse(pending.key_id())
        && let Err(wait) = app.limits.check_host(&crate::db::deliveries::host_of(&key))
    {
        return Err(Error::TooManyRequests(wait));
    }
    let actor_id = protocol::first_id(activity.get("actor"))
        .ok_or_else(|| Error::bad_request("the activity has no actor"))?;
    if activity.get("id").is_some() && protocol::own_id(&activity).is_none() {
        return Err(Error::bad_request("the activity id is not usable"));
    }
    let activity_id = protocol::own_id(&activity).map(str::to_string);
    if app.is_blocked_url(&actor_id).await? || app.is_blocked_url(pending.key_id()).await? {
        return Err(Error::Forbidden(
            "the sender's domain is blocked on this node".into(),
        ));
    }
    if let Some(id) = &activity_id {
        if !resolve::same_origin(id, &actor_id) {
            return Err(unauthorized(format!(
                "the activity id {id} is not on its actor's origin"
            )));
        }
        // A duplicate changes nothing, so it is answered without verifying again. A `Create` with its object
        // embedded skips the database read: the post writer records its id and drops a duplicate in the
        // transaction that would store it, so a duplicate older than the memory is only verified again.
        if app.recent_activities.contains(id) {
            return Ok(StatusCode::ACCEPTED);
        }
        let embedded_create = protocol::type_of(&activity) == Some("Create")
            && protocol::embedded(&activity, "object").is_some();
        if !embedded_create && received::seen(&app.db, id).await? {
            return Ok(StatusCode::ACCEPTED);
        }
    }
    if app.urls.is_local(&actor_id) {
        return Err(unauthorized(
            "activities of local actors are not accepted from outside",
        ));
    }

    // An actor deleting itself that we never knew: nothing to do, and its key is gone with it.
    let is_self_delete = protocol::type_of(&activity) == Some("Delete")
        && protocol::first_id(activity.get("object")).as_deref() == Some(actor_id.as_str());
    if is_self_delete
        && db::actors::find_by_ap_id(&app.db, &actor_id)
            .await?
            .is_none()
    {
        return Ok(StatusCode::ACCEPTED);
    }

    let budget = Budget::default();
    let signer = verified_signer(app, &pending, &budget).await?;
    if signer.owner != actor_id {
        return Err(unauthorized(format!(
            "the request is signed by {}, not by the activity's actor {actor_id}",
            signer.owner
        )));
    }
    let actor = if signer.read_at.elapsed() < SIGNER_ROW_TTL {
        signer.actor.clone()
    } else {
        let row = db::actors::find_by_id(&app.db, signer.actor_id)
            .await?
            .ok_or_else(|| unauthorized("the signing actor is unknown"))?;
        if row.public_key_id == pending.key_id() && !row.is_local() {
            cache_key(app, &row)?;
        } else {
            app.keys.remote.invalidate(pending.key_id());
        }
        row
    };
    app.health.success(&app.db, &actor.domain).await?;
    activities::dispatch(
        app,
        &activities::Incoming {
            activity: &activity,
            id: activity_id.clone(),
            actor,
            budget: &budget,
        },
    )
    .await?;
    if let Some(id) = activity_id {
        app.recent_activities.insert(&id);
    }
    Ok(StatusCode::ACCEPTED)
}

fn signature_error(e: SignatureError) -> Error {
    Error::SignatureRejected(e.to_string())
}

/// Finds the key a request is signed with and verifies the signature with it. A key we had cached that no
/// longer verifies is fetched again (at most once per actor per interval), for remote key rotations.
pub(crate) async fn verified_signer(
    app: &App,
    sig: &PendingSignature,
    budget: &Budget,
) -> Result<std::sync::Arc<CachedKey>> {
    let key_id = sig.key_id().to_string();
    let (key, fresh) = match known_key(app, &key_id).await? {
        Some(k) => (k, false),
        None => {
            // One fetch per key at a time: requests that arrive together for an unknown sender wait for the
            // first one's fetch and then find the key cached.
            let lock = app.keys.fetching.get_with(key_id.clone(), Default::default);
            let _guard = lock.lock().await;
            match known_key(app, &key_id).await? {
                Some(k) => (k, false),
                None => (fetch_key(app, &key_id, budget).await?, true),
            }
        }
    };
    match sig.verify(&key.key) {
        Ok(()) => Ok(key),
        Err(e) if fresh => Err(signature_error(e)),
        Err(e) => {
            // At most one re-fetch per actor per interval, whatever the number of bad signatures: the first
            // request to insert the mark does it, atomically.
            let first = app
                .keys
                .refetched
                .entry(key.owner.clone())
                .or_insert(())
                .is_fresh();
            if !first {
                return Err(signature_error(e));
            }
            app.keys.remote.invalidate(&key_id);
            let again = fetch_key(app, &key_id, budget).await?;
            sig.verify(&again.key).map_err(signature_error)?;
            Ok(again)
        }
    }
}

/// A key from memory, or from the database (an actor we cached before).
async fn known_key(app: &App, key_id: &str) -> Result<Option<std::sync::Arc<CachedKey>>> {
    if let Some(k) = app.keys.remote.get(key_id) {
        return Ok(Some(k));
    }
    let Some(row) = db::actors::find_by_key_id(&app.db, key_id).await? else {
        return Ok(None);
    };
    if row.is_local() {
        return Err(unauthorized("a local key cannot sign incoming requests"));
    }
    Ok(Some(cache_key(app, &row)?))
}

fn cache_key(app: &App, row: &ActorRow) -> Result<std::sync::Arc<CachedKey>> {
    let key = signatures::parse_public_key_pem(&row.public_key_pem)
        .map_err(|e| unauthorized(format!("the key of {} is unusable: {e}", row.ap_id)))?;
    let cached = std::sync::Arc::new(CachedKey {
        owner: row.ap_id.clone(),
        actor_id: row.id,
        key,
        actor: row.clone(),
        read_at: std::time::Instant::now(),
    });
    app.keys
        .remote
        .insert(row.public_key_id.clone(), cached.clone());
    Ok(cached)
}

/// Fetches the actor a key id names (the key id without its fragment is the actor, for Mastodon and most
/// others; some servers serve the key as its own document with an `owner`).
async fn fetch_key(app: &App, key_id: &str, budget: &Budget) -> Result<std::sync::Arc<CachedKey>> {
    let mut url = url::Url::parse(key_id)
        .map_err(|_| unauthorized(format!("keyId {key_id:?} is not a URL")))?;
    url.set_fragment(None);
    let doc = resolve::fetch(app, url.as_str(), budget).await?;
    let row = if doc.get("publicKeyPem").is_some() && doc.get("inbox").is_none() {
        // A key document: its owner is the actor, on the same origin.
        let owner =
            str_prop(&doc, "owner").ok_or_else(|| unauthorized("the key document has no owner"))?;
        if !resolve::same_origin(owner, key_id) {
            return Err(unauthorized("the key's owner is on another origin"));
        }
        resolve::refresh_actor(app, owner, budget).await?
    } else {
        // The actor itself (fetched from its own id, so it is authentic).
        let row = db::actors::upsert_remote(&app.db, &resolve::parse_actor(&doc)?).await?;
        app.keys.remote.invalidate(&row.public_key_id);
        row
    };
    if row.public_key_id != key_id {
        return Err(unauthorized(format!(
            "{} does not publish the key {key_id}",
            row.ap_id
        )));
    }
    cache_key(app, &row)
}
