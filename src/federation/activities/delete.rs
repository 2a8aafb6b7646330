//! `Delete`: of a post (only by its author; a `Tombstone` or a bare id) or of an actor by itself (its follows,
//! likes, boosts and posts go). We send `Delete` when one of ours deletes a post.

use serde_json::{Value, json};

use super::Incoming;
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::{actors, now_ms, posts, rfc3339};
use crate::error::{Error, Result};
use crate::federation::protocol::PUBLIC;
use crate::urls::{Urls, new_token};

/// The `Delete` of one of our posts, with a `Tombstone`.
pub fn build(urls: &Urls, actor: &ActorRow, post_id: &str, to: &Value, cc: &Value) -> Value {
    json!({
        "@context": super::activity_context(),
        "id": urls.activity(&new_token()),
        "type": "Delete",
        "actor": actor.ap_id,
        "to": to,
        "cc": cc,
        "object": {"id": post_id, "type": "Tombstone", "deleted": rfc3339(now_ms())},
    })
}

/// The `Delete` of one of our actors, to its followers.
pub fn build_actor(urls: &Urls, actor: &ActorRow) -> Value {
    json!({
        "@context": super::activity_context(),
        "id": urls.activity(&new_token()),
        "type": "Delete",
        "actor": actor.ap_id,
        "to": [PUBLIC],
        "object": actor.ap_id,
    })
}

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    let object_id = inc.object_id()?;
    if object_id == inc.actor.ap_id {
        actors::delete_remote(&app.db, inc.actor.id).await?;
        app.keys.remote.invalidate(&inc.actor.public_key_id);
        // Its replies, likes and boosts of our posts went with it.
        app.served.clear();
        return Ok(());
    }
    let Some(post) = posts::find_by_ap_id(&app.db, &object_id).await? else {
        return Ok(());
    };
    if post.author_id != inc.actor.id {
        return Err(Error::Forbidden(format!(
            "{} cannot delete {object_id}",
            inc.actor.ap_id
        )));
    }
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    posts::mark_deleted(&mut tx, post.id).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, post.in_reply_to.as_deref());
    Ok(())
}
