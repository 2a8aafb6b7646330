//! Posts on the web: each post at its id as `Note` JSON (or, for a browser, the HTML thread page), its
//! `replies`, `context` (FEP-7888), `likes` and `shares`; the activities we sent at their ids; the shared inbox
//! and the instance actor.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::negotiate::{Wants, wants};
use super::{ActivityJson, render};
use crate::App;
use crate::db::posts::PostRow;
use crate::db::{activities, actors, interactions, posts, rfc3339};
use crate::error::{Error, Result};
use crate::federation::objects::collection::{
    PAGE_SIZE, ordered_collection, ordered_collection_page,
};
use crate::federation::objects::note::with_context;
use crate::federation::{AS_CONTEXT, actor_context};
use crate::service::posts::{ThreadNode, thread};

pub fn router() -> Router<App> {
    let mut r = Router::new();
    // Notes and events share their routes: an object's id is its path, and its collections hang below it.
    for kind in ["posts", "events"] {
        r = r
            .route(&format!("/{kind}/{{token}}"), get(post_doc))
            .route(&format!("/{kind}/{{token}}/activity"), get(post_activity))
            .route(&format!("/{kind}/{{token}}/replies"), get(replies))
            .route(&format!("/{kind}/{{token}}/context"), get(context))
            .route(&format!("/{kind}/{{token}}/likes"), get(likes))
            .route(&format!("/{kind}/{{token}}/shares"), get(shares));
    }
    r.route("/activities/{token}", get(activity))
        .route("/inbox", post(shared_inbox))
        .route("/actor", get(instance_actor))
        .route("/actor/inbox", post(shared_inbox))
        .route("/actor/outbox", get(instance_outbox))
}

/// The id of the object a request is about: our origin and the path, less the collection's suffix.
fn object_id(app: &App, uri: &Uri, suffix: &str) -> String {
    let path = uri.path();
    format!(
        "{}{}",
        app.urls.origin(),
        path.strip_suffix(suffix).unwrap_or(path)
    )
}

/// A local post or event that may be shown to anyone: public or unlisted. Deleted → 410 with a Tombstone.
pub async fn public_post(app: &App, id: &str) -> Result<PostRow> {
    let id = id.to_string();
    let post = posts::find_by_ap_id(&app.db, &id)
        .await?
        .filter(|p| p.local != 0 && matches!(p.visibility.as_str(), "public" | "unlisted"))
        .ok_or_else(|| Error::not_found(format!("no post {id}")))?;
    if let Some(deleted) = post.deleted_at {
        return Err(Error::Gone {
            message: format!("{id} was deleted"),
            tombstone: Some(json!({
                "@context": AS_CONTEXT, "id": id, "type": "Tombstone", "formerType": post.kind,
                "deleted": rfc3339(deleted),
            })),
        });
    }
    Ok(post)
}

/// The wire form of a local post or event, without `@context`, and its author.
async fn object_of(app: &App, post: &PostRow) -> Result<(Value, crate::db::actors::ActorRow)> {
    let author = actors::find_by_id(&app.db, post.author_id)
        .await?
        .ok_or_else(|| Error::not_found("the author is gone"))?;
    Ok((
        crate::service::posts::wire_of(app, post, &author).await?,
        author,
    ))
}

async fn post_doc(State(app): State<App>, uri: Uri, headers: HeaderMap) -> Result<Response> {
    // An event's calendar entry: /events/TOKEN.ics.
    if let Some(id) = object_id(&app, &uri, "").strip_suffix(".ics") {
        return super::feeds::event_ics(&app, id).await;
    }
    let id = object_id(&app, &uri, "");
    let wanted = wants(&headers);
    if wanted == Wants::ActivityJson
        && let Some(body) = app.served.post(&id)
    {
        return Ok(super::activity_json_bytes(body));
    }
    let built_at = app.served.generation();
    let post = public_post(&app, &id).await?;
    match wanted {
        Wants::ActivityJson => {
            let (doc, _) = object_of(&app, &post).await?;
            let doc = if post.kind == "Event" {
                crate::service::events::with_event_context(doc)
            } else {
                with_context(doc)
            };
            let body = super::serialized(&doc)?;
            app.served.put_post(&id, built_at, body.clone());
            Ok(super::activity_json_bytes(body))
        }
        Wants::Html if post.kind == "Event" => {
            Ok(super::feeds::event_page(&app, &post).await?.into_response())
        }
        Wants::Html => Ok(thread_page(&app, &post).await?.into_response()),
    }
}

async fn post_activity(State(app): State<App>, uri: Uri) -> Result<Response> {
    let post = public_post(&app, &object_id(&app, &uri, "/activity")).await?;
    let (doc, author) = object_of(&app, &post).await?;
    let mut create = crate::federation::activities::create::build(&doc, &author);
    if post.kind == "Event" {
        create["@context"] = crate::federation::objects::event::event_context();
    }
    Ok(ActivityJson(create).into_response())
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

fn page_of(q: &PageQuery) -> Result<Option<i64>> {
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

async fn replies(State(app): State<App>, uri: Uri, Query(q): Query<PageQuery>) -> Result<Response> {
    let post = public_post(&app, &object_id(&app, &uri, "/replies")).await?;
    let id = app.urls.replies(&post.ap_id);
    let total = posts::count_replies(&app.db, post.id).await?;
    let doc = match page_of(&q)? {
        None => ordered_collection(&id, total),
        Some(page) => {
            let all = posts::reply_ids(&app.db, post.id, page * PAGE_SIZE).await?;
            let items = all
                .into_iter()
                .skip(((page - 1) * PAGE_SIZE) as usize)
                .map(Value::String)
                .collect();
            ordered_collection_page(&id, page, total, items)
        }
    };
    Ok(ActivityJson(doc).into_response())
}

/// FEP-7888: the thread a post starts, as an ordered collection of every post in it we know.
async fn context(State(app): State<App>, uri: Uri, Query(q): Query<PageQuery>) -> Result<Response> {
    let post = public_post(&app, &object_id(&app, &uri, "/context")).await?;
    let id = app.urls.context(&post.ap_id);
    let members: Vec<PostRow> = posts::in_context(&app.db, &id, crate::service::posts::MAX_THREAD)
        .await?
        .into_iter()
        .filter(|p| !p.is_deleted() && matches!(p.visibility.as_str(), "public" | "unlisted"))
        .collect();
    let total = members.len() as i64;
    let mut doc = match page_of(&q)? {
        None => ordered_collection(&id, total),
        Some(page) => {
            let items = members
                .iter()
                .skip(((page - 1) * PAGE_SIZE) as usize)
                .take(PAGE_SIZE as usize)
                .map(|p| Value::String(p.ap_id.clone()))
                .collect();
            ordered_collection_page(&id, page, total, items)
        }
    };
    doc["attributedTo"] = json!(
        actors::find_by_id(&app.db, post.author_id)
            .await?
            .map(|a| a.ap_id)
    );
    Ok(ActivityJson(doc).into_response())
}

async fn counted(app: &App, uri: &Uri, kind: &str) -> Result<Response> {
    let suffix = if kind == interactions::LIKE {
        "/likes"
    } else {
        "/shares"
    };
    let post = public_post(app, &object_id(app, uri, suffix)).await?;
    let id = if kind == interactions::LIKE {
        app.urls.likes(&post.ap_id)
    } else {
        app.urls.shares(&post.ap_id)
    };
    Ok(ActivityJson(json!({
        "@context": AS_CONTEXT,
        "id": id,
        "type": "Collection",
        "totalItems": interactions::count(&app.db, post.id, kind).await?,
    }))
    .into_response())
}

async fn likes(State(app): State<App>, uri: Uri) -> Result<Response> {
    counted(&app, &uri, interactions::LIKE).await
}

async fn shares(State(app): State<App>, uri: Uri) -> Result<Response> {
    counted(&app, &uri, interactions::ANNOUNCE).await
}

/// An activity we sent, at its id (Fedify, for one, fetches our `Follow` again when it sees our `Accept`).
/// Activities about posts that are not public stay private.
async fn activity(State(app): State<App>, Path(token): Path<String>) -> Result<Response> {
    let id = app.urls.activity(&token);
    let row = activities::find_by_ap_id(&app.db, &id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no activity {id}")))?;
    if let Some(object) = &row.object_ap_id
        && let Some(p) = posts::find_by_ap_id(&app.db, object).await?
        && (!matches!(p.visibility.as_str(), "public" | "unlisted")
            || (p.is_deleted() && matches!(row.kind.as_str(), "Create" | "Update")))
    {
        // Not public, or it carries the content of a post deleted since.
        return Err(Error::not_found(format!("no activity {id}")));
    }
    let doc: Value = serde_json::from_str(&row.json).map_err(anyhow::Error::from)?;
    Ok(ActivityJson(doc).into_response())
}

async fn shared_inbox(
    State(app): State<App>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    Ok(
        crate::federation::inbox::receive(&app, path, &headers, body)
            .await?
            .into_response(),
    )
}

/// The instance actor: an `Application` whose key signs our fetches (for servers with authorized fetch).
async fn instance_actor(State(app): State<App>) -> Result<Response> {
    let keys = crate::db::instance::key_pair(&app.db).await?;
    let urls = &app.urls;
    Ok(ActivityJson(json!({
        "@context": actor_context(),
        "id": urls.instance_actor(),
        "type": "Application",
        "preferredUsername": urls.domain(),
        "name": "Placard",
        "inbox": format!("{}/inbox", urls.instance_actor()),
        "outbox": format!("{}/outbox", urls.instance_actor()),
        "endpoints": {"sharedInbox": urls.shared_inbox()},
        "manuallyApprovesFollowers": true,
        "publicKey": {"id": urls.instance_key(), "owner": urls.instance_actor(), "publicKeyPem": keys.public_key_pem},
    }))
    .into_response())
}

/// The instance actor publishes nothing: its outbox is empty.
async fn instance_outbox(State(app): State<App>) -> Response {
    ActivityJson(ordered_collection(
        &format!("{}/outbox", app.urls.instance_actor()),
        0,
    ))
    .into_response()
}

#[derive(Template)]
#[template(path = "thread.html")]
struct ThreadTemplate<'a> {
    root: &'a ThreadNode,
    nodes: Vec<FlatNode<'a>>,
}

/// A thread node with its depth, for rendering nested replies without recursion in the template.
struct FlatNode<'a> {
    node: &'a ThreadNode,
    depth: usize,
}

fn flatten<'a>(n: &'a ThreadNode, depth: usize, out: &mut Vec<FlatNode<'a>>) {
    out.push(FlatNode { node: n, depth });
    for r in &n.replies {
        flatten(r, depth + 1, out);
    }
}

async fn thread_page(app: &App, post: &PostRow) -> Result<super::Page> {
    let tree = thread(app, &post.ap_id, true).await?;
    let mut nodes = Vec::new();
    for r in &tree.replies {
        flatten(r, 1, &mut nodes);
    }
    render(&ThreadTemplate { root: &tree, nodes })
}
