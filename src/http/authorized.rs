//! Authorized fetch (`[federation] authorized_fetch`): ActivityPub documents are served only to requests signed
//! by a server that is not blocked. Discovery (WebFinger, host-meta, NodeInfo), the instance actor, inboxes,
//! the admin API, HTML pages and calendars stay as they are.

use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::negotiate::{Wants, wants};
use crate::App;
use crate::error::Error;
use crate::federation::resolve::Budget;
use crate::federation::signatures::{self, RequestParts};

/// Paths that stay open whatever the setting.
fn is_open(path: &str) -> bool {
    path.starts_with("/.well-known/")
        || path.starts_with("/nodeinfo/")
        || path.starts_with("/api/")
        || path == "/actor"
        || path.ends_with(".ics")
        || path.ends_with(".atom")
}

/// Paths that only ever answer ActivityPub JSON, whatever `Accept` says.
fn is_activitypub_only(path: &str) -> bool {
    path.starts_with("/activities/")
        || [
            "/outbox",
            "/followers",
            "/following",
            "/collections/featured",
            "/activity",
            "/replies",
            "/context",
            "/likes",
            "/shares",
        ]
        .iter()
        .any(|s| path.ends_with(s))
}

pub async fn require_signature(State(app): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let applies = app.config.federation.authorized_fetch
        && matches!(*req.method(), Method::GET | Method::HEAD)
        && !is_open(path)
        && (is_activitypub_only(path) || wants(req.headers()) == Wants::ActivityJson);
    if !applies {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(req.uri().path())
        .to_string();
    let headers = req.headers().clone();
    match check(&app, &method, &path, &headers).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn check(
    app: &App,
    method: &Method,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> Result<(), Error> {
    let target_uri = format!("{}{}", app.urls.origin(), path);
    let pending = signatures::parse_request(
        &RequestParts {
            method,
            path_and_query: path,
            target_uri: &target_uri,
            headers,
            body: &[],
        },
        SystemTime::now(),
    )
    .map_err(|e| Error::SignatureRejected(format!("this node requires signed fetches: {e}")))?;
    if app.is_blocked_url(pending.key_id()).await? {
        return Err(Error::Forbidden(
            "the requesting domain is blocked on this node".into(),
        ));
    }
    let signer =
        crate::federation::inbox::verified_signer(app, &pending, &Budget::default()).await?;
    if app.is_blocked_url(&signer.owner).await? {
        return Err(Error::Forbidden(
            "the requesting domain is blocked on this node".into(),
        ));
    }
    Ok(())
}
