//! Local actors on the web: the actor document (or profile page), its collections and its inbox.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::negotiate::{Wants, wants};
use super::{ActivityJson, render};
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::{follows, posts};
use crate::error::{Error, Result};
use crate::federation::objects::actor::{ApActor, ProfileField, parse_fields};
use crate::federation::objects::collection::{
    PAGE_SIZE, ordered_collection, ordered_collection_inline, ordered_collection_page,
};
use crate::service::actors::servable;
use crate::text::{escape_html, linkify_escaped, plain_to_html};

pub fn router() -> Router<App> {
    Router::new()
        .route("/users/{name}", get(actor))
        .route("/@{name}", get(profile_page))
        .route("/users/{name}/outbox", get(outbox))
        .route("/users/{name}/followers", get(followers))
        .route("/users/{name}/following", get(following))
        .route("/users/{name}/collections/featured", get(featured))
        .route("/users/{name}/inbox", post(inbox))
}

async fn actor(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let served = servable(&app, &name).await?;
    match wants(&headers) {
        Wants::ActivityJson => {
            let body = served.actor_json.get_or_init(|| {
                serde_json::to_vec(&ApActor::from_local(&served.row, &app.urls))
                    .expect("an actor document serializes")
                    .into()
            });
            Ok(super::activity_json_bytes(body.clone()))
        }
        Wants::Html => Ok(profile_html(&app, &served.row).await?.into_response()),
    }
}

async fn profile_page(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    actor(State(app), Path(name), headers).await
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfileTemplate<'a> {
    display_name: &'a str,
    handle: String,
    kind: &'a str,
    summary_html: String,
    /// (name, value as HTML): the value escaped, then its links made clickable.
    fields: Vec<(String, String)>,
    avatar_url: Option<&'a str>,
    header_url: Option<&'a str>,
    actor_url: String,
    followers: i64,
    following: i64,
    posts: i64,
}

async fn profile_html(app: &App, row: &ActorRow) -> Result<super::Page> {
    render(&ProfileTemplate {
        display_name: if row.display_name.is_empty() {
            &row.username
        } else {
            &row.display_name
        },
        handle: app.urls.handle(&row.username),
        kind: &row.kind,
        // Our own rendering of plain text: escaped before any markup is added.
        summary_html: plain_to_html(&row.summary),
        fields: parse_fields(&row.fields)
            .into_iter()
            .map(|f: ProfileField| (f.name, linkify_escaped(&escape_html(&f.value))))
            .collect(),
        avatar_url: row.avatar_url.as_deref(),
        header_url: row.header_url.as_deref(),
        actor_url: app.urls.actor(&row.username),
        followers: follows::count_followers(&app.db, row.id).await?,
        following: follows::count_following(&app.db, row.id).await?,
        posts: posts::count_public_by_author(&app.db, row.id).await?,
    })
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

/// `?page=N` (from 1; Mastodon's `?page=true` is page 1), or `None` for the collection itself.
fn page_number(q: &PageQuery) -> Result<Option<i64>> {
    match q.page.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(1)),
        Some(p) => match p.parse::<i64>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Ok(Some(n)),
            _ => Err(Error::bad_request(format!(
                "page must be a number from 1, got {p:?}"
            ))),
        },
    }
}

/// Serves a paged collection: the summary without `?page`, a page with it.
async fn paged<F, Fut>(id: String, total: i64, q: PageQuery, items: F) -> Result<Response>
where
    F: FnOnce(i64, i64) -> Fut,
    Fut: Future<Output = Result<Vec<String>>>,
{
    let doc = match page_number(&q)? {
        None => ordered_collection(&id, total),
        Some(page) => {
            let ids = items(PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
            ordered_collection_page(
                &id,
                page,
                total,
                ids.into_iter().map(Value::String).collect(),
            )
        }
    };
    Ok(ActivityJson(doc).into_response())
}

/// The outbox: the `Create` of each public post, newest first.
async fn outbox(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    let row = &servable(&app, &name).await?.row;
    let page = page_number(&q)?;
    if let Some(body) = app.served.outbox(row.id, page.unwrap_or(0)) {
        return Ok(super::activity_json_bytes(body));
    }
    let built_at = app.served.generation();
    let total = posts::count_public_by_author(&app.db, row.id).await?;
    let id = app.urls.outbox(&row.username);
    let doc = match page {
        None => ordered_collection(&id, total),
        Some(page) => {
            let mut items = Vec::new();
            let list =
                posts::public_by_author(&app.db, row.id, PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
            for object in crate::service::posts::wire_of_many(&app, &list, row).await? {
                let mut create = crate::federation::activities::create::build(&object, row);
                if let Some(o) = create.as_object_mut() {
                    o.remove("@context");
                }
                items.push(create);
            }
            ordered_collection_page(&id, page, total, items)
        }
    };
    let body = super::serialized(&doc)?;
    app.served
        .put_outbox(row.id, page.unwrap_or(0), built_at, body.clone());
    Ok(super::activity_json_bytes(body))
}

async fn followers(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    let row = &servable(&app, &name).await?.row;
    let total = follows::count_followers(&app.db, row.id).await?;
    paged(
        app.urls.followers(&row.username),
        total,
        q,
        |limit, offset| follows::follower_ids(&app.db, row.id, limit, offset),
    )
    .await
}

async fn following(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    let row = &servable(&app, &name).await?.row;
    let total = follows::count_following(&app.db, row.id).await?;
    paged(
        app.urls.following(&row.username),
        total,
        q,
        |limit, offset| follows::following_ids(&app.db, row.id, limit, offset),
    )
    .await
}

async fn featured(State(app): State<App>, Path(name): Path<String>) -> Result<Response> {
    let row = &servable(&app, &name).await?.row;
    let ids = posts::pinned_ids_by_author(&app.db, row.id).await?;
    Ok(ActivityJson(ordered_collection_inline(
        &app.urls.featured(&row.username),
        ids.into_iter().map(Value::String).collect(),
    ))
    .into_response())
}

/// The per-actor inbox. Unknown actors are 404 and suspended or deleted ones 410, before anything is read.
async fn inbox(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    servable(&app, &name).await?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    let status = crate::federation::inbox::receive(&app, path, &headers, body).await?;
    Ok(status.into_response())
}
