//! Follows: a local actor following a remote one (and unfollowing), and approving or rejecting followers.

use serde::Serialize;
use serde_json::json;

use crate::App;
use crate::db::actors::ActorRow;
use crate::db::{actors, follows, rfc3339};
use crate::error::{Error, Result};
use crate::federation::activities::{accept, follow, reject, undo};
use crate::federation::delivery;
use crate::federation::resolve::{self, Budget};
use crate::service::actors::get_servable;

/// `placard follow NAME TARGET`: sends `Follow`; the follow is pending until the target accepts.
pub async fn follow(
    app: &App,
    username: &str,
    target: &str,
) -> Result<(ActorRow, follows::FollowRow)> {
    let me = get_servable(app, username).await?;
    let them = resolve::actor_by_handle_or_url(app, target, &Budget::default()).await?;
    if them.is_local() {
        return Err(Error::unprocessable(
            "following local actors is not supported: both are on this node",
        ));
    }
    if let Some(existing) = follows::find(&app.db, me.id, them.id).await? {
        return Err(Error::conflict(format!(
            "{} already follows {} ({})",
            me.username,
            them.ap_id,
            if existing.accepted != 0 {
                "accepted"
            } else {
                "pending"
            }
        )));
    }
    let activity = follow::build(&app.urls, &me, &them);
    let mut tx = app.db.begin_write().await?;
    let row = follows::upsert(
        &mut tx,
        activity["id"].as_str().unwrap_or_default(),
        me.id,
        them.id,
        false,
    )
    .await?;
    delivery::queue(
        &mut tx,
        &me,
        &activity,
        std::slice::from_ref(&them.inbox_url),
    )
    .await?;
    tx.commit().await?;
    app.delivery_wakeup.notify_one();
    Ok((them, row))
}

/// `placard unfollow NAME TARGET`: removes the follow and sends `Undo(Follow)`.
pub async fn unfollow(app: &App, username: &str, target: &str) -> Result<ActorRow> {
    let me = get_servable(app, username).await?;
    let them = resolve::actor_by_handle_or_url(app, target, &Budget::default()).await?;
    let existing = follows::find(&app.db, me.id, them.id)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!("{} does not follow {}", me.username, them.ap_id))
        })?;
    let followed = json!({
        "id": existing.ap_id,
        "type": "Follow",
        "actor": me.ap_id,
        "object": them.ap_id,
    });
    let activity = undo::build(&app.urls, &me, &followed);
    let mut tx = app.db.begin_write().await?;
    sqlx::query("DELETE FROM follows WHERE id = $1")
        .bind(existing.id)
        .execute(&mut *tx)
        .await?;
    delivery::queue(
        &mut tx,
        &me,
        &activity,
        std::slice::from_ref(&them.inbox_url),
    )
    .await?;
    tx.commit().await?;
    app.delivery_wakeup.notify_one();
    Ok(them)
}

#[derive(Debug, Clone, Serialize)]
pub struct FollowerView {
    pub id: String,
    pub since: String,
}

pub async fn followers(app: &App, username: &str, pending: bool) -> Result<Vec<FollowerView>> {
    let me = get_servable(app, username).await?;
    Ok(follows::list_followers(&app.db, me.id, pending)
        .await?
        .into_iter()
        .map(|(id, since)| FollowerView {
            id,
            since: rfc3339(since),
        })
        .collect())
}

/// A pending follower of a local actor, named by id or handle.
async fn pending_follow(
    app: &App,
    username: &str,
    follower: &str,
) -> Result<(ActorRow, ActorRow, follows::FollowRow)> {
    let me = get_servable(app, username).await?;
    let them = match actors::find_by_ap_id(&app.db, follower).await? {
        Some(a) => a,
        None => resolve::actor_by_handle_or_url(app, follower, &Budget::default()).await?,
    };
    let row = follows::find(&app.db, them.id, me.id)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "{} has no follow request from {}",
                me.username, them.ap_id
            ))
        })?;
    if row.accepted != 0 {
        return Err(Error::conflict(format!(
            "{} already follows {}",
            them.ap_id, me.username
        )));
    }
    Ok((me, them, row))
}

fn follow_value(
    row: &follows::FollowRow,
    follower: &ActorRow,
    followee: &ActorRow,
) -> serde_json::Value {
    json!({"id": row.ap_id, "type": "Follow", "actor": follower.ap_id, "object": followee.ap_id})
}

/// Accepts a pending follower and sends `Accept(Follow)`.
pub async fn approve(app: &App, username: &str, follower: &str) -> Result<ActorRow> {
    let (me, them, row) = pending_follow(app, username, follower).await?;
    let activity = accept::build(&app.urls, &me, &follow_value(&row, &them, &me));
    let mut tx = app.db.begin_write().await?;
    sqlx::query("UPDATE follows SET accepted = 1, accepted_at = $1 WHERE id = $2")
        .bind(crate::db::now_ms())
        .bind(row.id)
        .execute(&mut *tx)
        .await?;
    delivery::queue(
        &mut tx,
        &me,
        &activity,
        std::slice::from_ref(&them.inbox_url),
    )
    .await?;
    tx.commit().await?;
    app.delivery_wakeup.notify_one();
    Ok(them)
}

/// Refuses a pending follower and sends `Reject(Follow)`.
pub async fn reject(app: &App, username: &str, follower: &str) -> Result<ActorRow> {
    let (me, them, row) = pending_follow(app, username, follower).await?;
    let activity = reject::build(&app.urls, &me, &follow_value(&row, &them, &me));
    let mut tx = app.db.begin_write().await?;
    sqlx::query("DELETE FROM follows WHERE id = $1")
        .bind(row.id)
        .execute(&mut *tx)
        .await?;
    delivery::queue(
        &mut tx,
        &me,
        &activity,
        std::slice::from_ref(&them.inbox_url),
    )
    .await?;
    tx.commit().await?;
    app.delivery_wakeup.notify_one();
    Ok(them)
}
