//! A local actor likes or boosts a post (ours or remote), and takes it back: `Like`, `Announce`, `Undo`.

use serde_json::{Value, json};

use crate::App;
use crate::db::actors::ActorRow;
use crate::db::posts::PostRow;
use crate::db::{actors, interactions, now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::federation::activities::undo;
use crate::federation::delivery;
use crate::federation::protocol::PUBLIC;
use crate::federation::resolve::Budget;
use crate::service::actors::get_servable;
use crate::service::posts::resolve_post;
use crate::urls::new_token;

/// Like or Announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Like,
    Boost,
}

impl Kind {
    fn stored(self) -> &'static str {
        match self {
            Kind::Like => interactions::LIKE,
            Kind::Boost => interactions::ANNOUNCE,
        }
    }
}

fn build(app: &App, kind: Kind, me: &ActorRow, post: &PostRow, author: &ActorRow) -> Value {
    let id = app.urls.activity(&new_token());
    match kind {
        Kind::Like => json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": id, "type": "Like", "actor": me.ap_id, "object": post.ap_id,
        }),
        Kind::Boost => json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": id, "type": "Announce", "actor": me.ap_id, "object": post.ap_id,
            "published": rfc3339(now_ms()),
            "to": [PUBLIC], "cc": [author.ap_id, app.urls.followers(&me.username)],
        }),
    }
}

/// Queues a like, a boost or their undo, inside `tx`: to the post's author when remote, and a boost (or its
/// undo) to every follower of the booster as well.
async fn send(
    tx: &mut sqlx::AnyConnection,
    kind: Kind,
    me: &ActorRow,
    author: &ActorRow,
    activity: &Value,
) -> Result<()> {
    let mut out = Vec::new();
    if !author.is_local() {
        out.push(
            author
                .shared_inbox_url
                .clone()
                .unwrap_or_else(|| author.inbox_url.clone()),
        );
    }
    if kind == Kind::Boost {
        delivery::queue_to_followers(tx, me, activity, &out).await?;
    } else {
        delivery::queue(tx, me, activity, &out).await?;
    }
    Ok(())
}

async fn target(
    app: &App,
    username: &str,
    post_url: &str,
) -> Result<(ActorRow, PostRow, ActorRow)> {
    let me = get_servable(app, username).await?;
    let post = resolve_post(app, post_url, &Budget::default()).await?;
    if post.is_deleted() {
        return Err(Error::Gone {
            message: format!("{post_url} was deleted"),
            tombstone: None,
        });
    }
    let author = actors::find_by_id(&app.db, post.author_id)
        .await?
        .ok_or_else(|| Error::not_found("the post's author is unknown"))?;
    Ok((me, post, author))
}

/// Likes or boosts a post; returns the activity id.
pub async fn add(app: &App, kind: Kind, username: &str, post_url: &str) -> Result<String> {
    let (me, post, author) = target(app, username, post_url).await?;
    if interactions::find(&app.db, kind.stored(), me.id, post.id)
        .await?
        .is_some()
    {
        return Err(Error::conflict(format!(
            "{} already did that to {post_url}",
            me.username
        )));
    }
    let activity = build(app, kind, &me, &post, &author);
    let id = activity["id"].as_str().unwrap_or_default().to_string();
    let mut tx = app.db.begin_write().await?;
    interactions::add(&mut tx, &id, kind.stored(), me.id, post.id).await?;
    send(&mut tx, kind, &me, &author, &activity).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, None);
    app.delivery_wakeup.notify_one();
    Ok(id)
}

/// Takes a like or boost back (sends `Undo`).
pub async fn remove(app: &App, kind: Kind, username: &str, post_url: &str) -> Result<()> {
    let (me, post, author) = target(app, username, post_url).await?;
    let existing = interactions::find(&app.db, kind.stored(), me.id, post.id)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!("{} has not done that to {post_url}", me.username))
        })?;
    let undone = json!({
        "id": existing, "type": kind.stored(), "actor": me.ap_id, "object": post.ap_id,
    });
    let activity = undo::build(&app.urls, &me, &undone);
    let mut tx = app.db.begin_write().await?;
    interactions::remove(&mut tx, kind.stored(), &existing, me.id, Some(post.id)).await?;
    send(&mut tx, kind, &me, &author, &activity).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, None);
    app.delivery_wakeup.notify_one();
    Ok(())
}
