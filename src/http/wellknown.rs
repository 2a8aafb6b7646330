//! Discovery documents: WebFinger, host-meta, NodeInfo.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::db::{actors, now_ms, posts};
use crate::error::{Error, Result};
use crate::service::actors::servable;

pub fn router() -> Router<App> {
    Router::new()
        .route("/.well-known/webfinger", get(webfinger))
        .route("/.well-known/host-meta", get(host_meta))
        .route("/.well-known/nodeinfo", get(nodeinfo_links))
        .route("/nodeinfo/{version}", get(nodeinfo))
}

#[derive(Deserialize)]
struct WebfingerQuery {
    resource: Option<String>,
}

/// What a WebFinger `resource` names, once parsed.
#[derive(Debug, PartialEq, Eq)]
enum Resource {
    /// A local username.
    Local(String),
    /// Well-formed, but not on this node.
    Elsewhere,
}

/// Parses `acct:NAME@HOST` (the `acct:` and a leading `@` are optional) or one of our actor / profile URLs.
fn parse_resource(app: &App, resource: &str) -> Result<Resource> {
    let resource = resource.trim();
    if resource.starts_with("http://") || resource.starts_with("https://") {
        let url = url::Url::parse(resource).map_err(|e| {
            Error::bad_request(format!("resource {resource:?} is not a valid URL: {e}"))
        })?;
        return Ok(
            match app.urls.username_of(url.as_str().trim_end_matches('/')) {
                Some(name) => Resource::Local(name),
                None => Resource::Elsewhere,
            },
        );
    }
    let acct = resource.strip_prefix("acct:").unwrap_or(resource);
    let acct = acct.strip_prefix('@').unwrap_or(acct);
    let Some((user, host)) = acct.rsplit_once('@') else {
        return Err(Error::bad_request(format!(
            "resource {resource:?} is neither acct:USER@HOST nor an http(s) URL"
        )));
    };
    if user.is_empty()
        || host.is_empty()
        || user.contains(['@', '/', ' '])
        || host.contains(['/', ' '])
    {
        return Err(Error::bad_request(format!(
            "resource {resource:?} is not a valid acct: URI"
        )));
    }
    let ours = host
        .trim_end_matches('.')
        .eq_ignore_ascii_case(app.urls.domain());
    Ok(if ours {
        Resource::Local(user.to_string())
    } else {
        Resource::Elsewhere
    })
}

async fn webfinger(State(app): State<App>, Query(q): Query<WebfingerQuery>) -> Result<Response> {
    let resource = q
        .resource
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| Error::bad_request("the resource parameter is missing"))?;
    let name = match parse_resource(&app, &resource)? {
        Resource::Local(name) => name,
        Resource::Elsewhere => {
            return Err(Error::not_found(format!("{resource} is not on this node")));
        }
    };
    let served = servable(&app, &name).await?;
    let body = served.webfinger_json.get_or_init(|| {
        let (urls, name) = (&app.urls, &served.row.username);
        serde_json::to_vec(&json!({
            "subject": format!("acct:{}", urls.handle(name)),
            "aliases": [urls.profile(name), urls.actor(name)],
            "links": [
                {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": urls.profile(name)},
                {"rel": "self", "type": "application/activity+json", "href": urls.actor(name)},
            ]
        }))
        .expect("a WebFinger document serializes")
        .into()
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jrd+json; charset=utf-8"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        body.clone(),
    )
        .into_response())
}

async fn host_meta(State(app): State<App>) -> Response {
    let template = crate::text::escape_html(&app.urls.webfinger_template());
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\">\n  \
         <Link rel=\"lrdd\" template=\"{template}\"/>\n</XRD>\n"
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xrd+xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

async fn nodeinfo_links(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({
        "links": [
            {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": app.urls.nodeinfo("2.1")},
            {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": app.urls.nodeinfo("2.0")},
        ]
    }))
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

async fn nodeinfo(State(app): State<App>, Path(version): Path<String>) -> Result<Response> {
    let (version, profile) = match version.as_str() {
        "2.1" | "2.1.json" => ("2.1", "http://nodeinfo.diaspora.software/ns/schema/2.1#"),
        "2.0" | "2.0.json" => ("2.0", "http://nodeinfo.diaspora.software/ns/schema/2.0#"),
        other => {
            return Err(Error::not_found(format!(
                "NodeInfo version {other} is not served; 2.0 and 2.1 are"
            )));
        }
    };
    let now = now_ms();
    let users = actors::count_active_local(&app.db).await?;
    let active_month = actors::count_posting_local_since(&app.db, now - 30 * DAY_MS).await?;
    let active_halfyear = actors::count_posting_local_since(&app.db, now - 180 * DAY_MS).await?;
    let local_posts = posts::count_local(&app.db).await?;
    let mut software = json!({"name": "placard", "version": env!("CARGO_PKG_VERSION")});
    if version == "2.1" {
        software["repository"] = json!(env!("CARGO_PKG_REPOSITORY"));
        software["homepage"] = json!(app.urls.origin());
    }
    let doc = json!({
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": false,
        "usage": {
            "users": {"total": users, "activeMonth": active_month, "activeHalfyear": active_halfyear},
            "localPosts": local_posts
        },
        "metadata": {"nodeName": app.urls.domain()}
    });
    let content_type = format!("application/json; profile=\"{profile}\"");
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&content_type).map_err(anyhow::Error::from)?,
        )],
        serde_json::to_string(&doc).map_err(anyhow::Error::from)?,
    )
        .into_response())
}
