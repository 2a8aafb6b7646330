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
