//! The JSON admin API under `/api/admin/`, behind `Authorization: Bearer <[admin] token>`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::App;
use crate::error::{Error, Result};
use crate::service::actors::{self, ActorChanges, ActorView, NewActor};

pub fn router() -> Router<App> {
    Router::new()
        .route("/actors", get(list).post(create))
        .route("/actors/{name}", get(show).patch(update).delete(delete))
        .route("/actors/{name}/suspend", post(suspend))
        .route("/actors/{name}/unsuspend", post(unsuspend))
        .route("/actors/{name}/rotate-key", post(rotate_key))
        .route("/actors/{name}/posts", post(create_post))
        .route(
            "/posts",
            axum::routing::patch(edit_post).delete(delete_post),
        )
        .route("/actors/{name}/follow", post(follow))
        .route("/actors/{name}/unfollow", post(unfollow))
        .route("/actors/{name}/followers", get(followers))
        .route("/actors/{name}/followers/approve", post(approve))
        .route("/actors/{name}/followers/reject", post(reject))
        .route("/actors/{name}/like", post(like))
        .route("/actors/{name}/unlike", post(unlike))
        .route("/actors/{name}/boost", post(boost))
        .route("/actors/{name}/unboost", post(unboost))
        .route("/actors/{name}/events", post(create_event))
        .route("/events", axum::routing::patch(update_event))
        .route("/events/cancel", post(cancel_event))
        .route("/domain-blocks", get(list_blocks).post(block_domain))
        .route(
            "/domain-blocks/{domain}",
            axum::routing::delete(unblock_domain),
        )
        .route("/posts/remove", post(remove_post))
        .route("/thread", get(thread))
        .route("/deliveries", get(deliveries))
}

/// Proof that the request carries the admin token. Checked before the body is read.
pub struct Admin;

impl FromRequestParts<App> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Admin> {
        let Some(expected) = app.config.admin_token() else {
            return Err(Error::not_found(
                "the admin API is off: set [admin] token to turn it on",
            ));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Error::Unauthorized)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), expected.as_bytes())
            .map_err(|_| Error::Unauthorized)?;
        Ok(Admin)
    }
}

/// `Json`, with its rejections turned into our JSON errors.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(Error::unprocessable(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::bad_request(
                "the body must be JSON, sent with Content-Type: application/json",
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::PayloadTooLarge(crate::http::MAX_BODY_BYTES))
            }
            Err(e) => Err(Error::bad_request(e.body_text())),
        }
    }
}

async fn view(app: &App, row: &crate::db::actors::ActorRow) -> Result<Json<ActorView>> {
    Ok(Json(ActorView::load(app, row).await?))
}

async fn list(_: Admin, State(app): State<App>) -> Result<Json<Vec<ActorView>>> {
    let mut out = Vec::new();
    for row in actors::list(&app).await? {
        out.push(ActorView::load(&app, &row).await?);
    }
    Ok(Json(out))
}

async fn create(
    _: Admin,
    State(app): State<App>,
    ApiJson(new): ApiJson<NewActor>,
) -> Result<Response> {
    let row = actors::create(&app, new).await?;
    let location = row.ap_id.clone();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        view(&app, &row).await?,
    )
        .into_response())
}

async fn show(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<ActorView>> {
    view(&app, &actors::get(&app, &name).await?).await
}

async fn update(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(changes): ApiJson<ActorChanges>,
) -> Result<Json<ActorView>> {
    view(&app, &actors::update(&app, &name, changes).await?).await
}

async fn delete(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<ActorView>> {
    view(&app, &actors::delete(&app, &name).await?).await
}

async fn suspend(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<ActorView>> {
    view(&app, &actors::suspend(&app, &name).await?).await
}

async fn unsuspend(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<ActorView>> {
    view(&app, &actors::unsuspend(&app, &name).await?).await
}

async fn rotate_key(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<ActorView>> {
    view(&app, &actors::rotate_key(&app, &name).await?).await
}

// ---- Posts, follows, likes and boosts, threads, deliveries ----

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PostTarget {
    /// The post's id (URL).
    id: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PostEditBody {
    id: String,
    text: String,
    #[serde(default)]
    summary: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorTarget {
    /// `@user@host` or an actor URL.
    target: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PostRef {
    post: String,
}

#[derive(serde::Deserialize)]
struct FollowersQuery {
    #[serde(default)]
    pending: bool,
}

#[derive(serde::Deserialize)]
struct ThreadQuery {
    url: String,
}

fn id_json(id: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({"id": id}))
}

async fn create_post(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(new): ApiJson<crate::service::posts::NewLocalPost>,
) -> Result<Response> {
    let post = crate::service::posts::create(&app, &name, new).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, post.ap_id.clone())],
        id_json(&post.ap_id),
    )
        .into_response())
}

async fn edit_post(
    _: Admin,
    State(app): State<App>,
    ApiJson(b): ApiJson<PostEditBody>,
) -> Result<Json<serde_json::Value>> {
    let edit = crate::service::posts::PostEdit {
        text: b.text,
        summary: b.summary,
    };
    Ok(id_json(
        &crate::service::posts::edit(&app, &b.id, edit).await?.ap_id,
    ))
}

async fn delete_post(
    _: Admin,
    State(app): State<App>,
    ApiJson(b): ApiJson<PostTarget>,
) -> Result<Json<serde_json::Value>> {
    Ok(id_json(
        &crate::service::posts::delete(&app, &b.id).await?.ap_id,
    ))
}

async fn follow(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<ActorTarget>,
) -> Result<Response> {
    let (them, row) = crate::service::follows::follow(&app, &name, &b.target).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"following": them.ap_id, "follow": row.ap_id, "accepted": row.accepted != 0})),
    )
        .into_response())
}

async fn unfollow(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<ActorTarget>,
) -> Result<Json<serde_json::Value>> {
    Ok(id_json(
        &crate::service::follows::unfollow(&app, &name, &b.target)
            .await?
            .ap_id,
    ))
}

async fn followers(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<FollowersQuery>,
) -> Result<Json<Vec<crate::service::follows::FollowerView>>> {
    Ok(Json(
        crate::service::follows::followers(&app, &name, q.pending).await?,
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowerRef {
    follower: String,
}

async fn approve(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<FollowerRef>,
) -> Result<Json<serde_json::Value>> {
    Ok(id_json(
        &crate::service::follows::approve(&app, &name, &b.follower)
            .await?
            .ap_id,
    ))
}

async fn reject(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<FollowerRef>,
) -> Result<Json<serde_json::Value>> {
    Ok(id_json(
        &crate::service::follows::reject(&app, &name, &b.follower)
            .await?
            .ap_id,
    ))
}

async fn interact(
    app: &App,
    name: &str,
    post: &str,
    kind: crate::service::interactions::Kind,
    undo: bool,
) -> Result<Response> {
    use crate::service::interactions;
    if undo {
        interactions::remove(app, kind, name, post).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        let id = interactions::add(app, kind, name, post).await?;
        Ok((StatusCode::CREATED, id_json(&id)).into_response())
    }
}

async fn like(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<PostRef>,
) -> Result<Response> {
    interact(
        &app,
        &name,
        &b.post,
        crate::service::interactions::Kind::Like,
        false,
    )
    .await
}

async fn unlike(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<PostRef>,
) -> Result<Response> {
    interact(
        &app,
        &name,
        &b.post,
        crate::service::interactions::Kind::Like,
        true,
    )
    .await
}

async fn boost(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<PostRef>,
) -> Result<Response> {
    interact(
        &app,
        &name,
        &b.post,
        crate::service::interactions::Kind::Boost,
        false,
    )
    .await
}

async fn unboost(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<PostRef>,
) -> Result<Response> {
    interact(
        &app,
        &name,
        &b.post,
        crate::service::interactions::Kind::Boost,
        true,
    )
    .await
}

async fn thread(
    _: Admin,
    State(app): State<App>,
    axum::extract::Query(q): axum::extract::Query<ThreadQuery>,
) -> Result<Json<crate::service::posts::ThreadNode>> {
    Ok(Json(
        crate::service::posts::thread(&app, &q.url, false).await?,
    ))
}

async fn deliveries(
    _: Admin,
    State(app): State<App>,
) -> Result<Json<Vec<crate::db::deliveries::HostStats>>> {
    Ok(Json(crate::db::deliveries::stats(&app.db).await?))
}

// ---- Events ----

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventUpdateBody {
    id: String,
    #[serde(flatten)]
    fields: crate::service::events::EventInput,
}

fn event_json(
    post: &crate::db::posts::PostRow,
    e: &crate::db::events::EventRow,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "id": post.ap_id,
        "name": e.name,
        "summary": crate::service::calendar::summary_line(e),
        "status": e.status,
        "sequence": e.sequence,
        "participant_count": e.participant_count,
    }))
}

async fn create_event(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<crate::service::events::EventInput>,
) -> Result<Response> {
    let (post, event) = crate::service::events::create(&app, &name, input).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, post.ap_id.clone())],
        event_json(&post, &event),
    )
        .into_response())
}

async fn update_event(
    _: Admin,
    State(app): State<App>,
    ApiJson(b): ApiJson<EventUpdateBody>,
) -> Result<Json<serde_json::Value>> {
    let (post, event) = crate::service::events::update(&app, &b.id, b.fields).await?;
    Ok(event_json(&post, &event))
}

async fn cancel_event(
    _: Admin,
    State(app): State<App>,
    ApiJson(b): ApiJson<PostTarget>,
) -> Result<Json<serde_json::Value>> {
    let (post, event) = crate::service::events::cancel(&app, &b.id).await?;
    Ok(event_json(&post, &event))
}

// ---- Moderation ----

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockBody {
    domain: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn list_blocks(
    _: Admin,
    State(app): State<App>,
) -> Result<Json<Vec<crate::service::moderation::BlockView>>> {
    Ok(Json(crate::service::moderation::list(&app).await?))
}

async fn block_domain(
    _: Admin,
    State(app): State<App>,
    ApiJson(b): ApiJson<BlockBody>,
) -> Result<Response> {
    let (domain, dropped) =
        crate::service::moderation::block(&app, &b.domain, b.reason.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"domain": domain, "follows_dropped": dropped})),
    )
        .into_response())
}

async fn unblock_domain(
    _: Admin,
    State(app): State<App>,
    Path(domain): Path<String>,
) -> Result<Json<serde_json::Value>> {
    Ok(Json(
        serde_json::json!({"domain": crate::service::moderation::unblock(&app, &domain).await?}),
    ))
}

async fn remove_post(
    _: Admin,
    State(app): State<App>,
    ApiJson(b): ApiJson<PostTarget>,
) -> Result<Json<serde_json::Value>> {
    Ok(id_json(
        &crate::service::moderation::remove_post(&app, &b.id).await?,
    ))
}
