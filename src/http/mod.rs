//! The web side: one module per resource, each with its `router()`.

pub mod actors;
pub mod admin;
pub mod authorized;
pub mod feeds;
pub mod limits;
pub mod negotiate;
pub mod posts;
pub mod serve;
pub mod wellknown;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::App;
use crate::error::Error;

/// The content type of the ActivityPub documents we serve.
pub const AP_CONTENT_TYPE: &str = "application/activity+json; charset=utf-8";

/// Largest request body the node reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole web app.
pub fn router(app: App) -> Router {
    Router::new()
        .merge(wellknown::router())
        .merge(actors::router())
        .merge(posts::router())
        .merge(feeds::router())
        .nest("/api/admin", admin::router())
        .layer(axum::middleware::from_fn_with_state(app.clone(), limits::per_ip))
        .layer(axum::middleware::from_fn_with_state(app.clone(), authorized::require_signature))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(app)
}

async fn not_found(req: Request) -> Error {
    Error::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> Response {
    let body = serde_json::json!({
        "error": format!("method {} is not allowed on {}", req.method(), req.uri().path())
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Errors made outside our handlers — the body limit's 413, and axum's own rejections of a path or query it
/// cannot read — come as plain text: give them our JSON error shape like every other error.
async fn json_error_bodies(res: Response) -> Response {
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !res.status().is_client_error() || !plain {
        return res;
    }
    let status = res.status();
    let text = match axum::body::to_bytes(res.into_body(), 64 * 1024).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let text = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the request body is larger than the {MAX_BODY_BYTES} bytes allowed")
    } else {
        text
    };
    (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
}

/// An ActivityStreams document, served as `application/activity+json` and varying on `Accept`.
pub struct ActivityJson<T>(pub T);

impl<T: Serialize> IntoResponse for ActivityJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => activity_json_bytes(body.into()),
            Err(e) => Error::Internal(e.into()).into_response(),
        }
    }
}

/// An ActivityStreams document serialized, to keep in memory and serve with [`activity_json_bytes`].
pub fn serialized<T: Serialize>(doc: &T) -> crate::error::Result<axum::body::Bytes> {
    Ok(serde_json::to_vec(doc).map_err(anyhow::Error::from)?.into())
}

/// An ActivityStreams document already serialized (one kept in memory).
pub fn activity_json_bytes(body: axum::body::Bytes) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(AP_CONTENT_TYPE),
            ),
            (header::VARY, HeaderValue::from_static("Accept")),
        ],
        body,
    )
        .into_response()
}

/// An HTML page, rendered by askama, with a strict Content-Security-Policy.
pub struct Page(pub String);

pub const HTML_CSP: &str = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; \
                            form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::VARY, HeaderValue::from_static("Accept")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(HTML_CSP),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            self.0,
        )
            .into_response()
    }
}

/// Renders a template into a [`Page`].
pub fn render<T: askama::Template>(t: &T) -> Result<Page, Error> {
    t.render().map(Page).map_err(|e| Error::Internal(e.into()))
}
