//! `Undo` of a `Follow`, `Like` or `Announce`: only the actor who did it can undo it. We send `Undo(Follow)`
//! when one of ours unfollows.

use serde_json::{Value, json};

use super::Incoming;
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::{actors, follows, interactions, posts};
use crate::error::{Error, Result};
use crate::federation::protocol::{self, first_id, str_prop};
use crate::urls::{Urls, new_token};

pub fn build(urls: &Urls, actor: &ActorRow, undone: &Value) -> Value {
    json!({
        "@context": super::activity_context(),
        "id": urls.activity(&new_token()),
        "type": "Undo",
        "actor": actor.ap_id,
        "object": undone,
    })
}

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    let inner_id = inc.object_id()?;
    let Some(inner) = inc.embedded_object() else {
        // A bare id: undo whatever of this actor's we know under that id.
        return undo_by_id(app, inc, &inner_id).await;
    };
    if let Some(actor) = first_id(inner.get("actor"))
        && actor != inc.actor.ap_id
    {
        return Err(Error::Forbidden(format!(
            "{} cannot undo an activity of {actor}",
            inc.actor.ap_id
        )));
    }
    match protocol::type_of(inner) {
        Some("Follow") => {
            let object = first_id(inner.get("object")).unwrap_or_default();
            if let Some(target) = actors::find_by_ap_id(&app.db, &object)
                .await?
                .filter(|a| a.is_local())
            {
                follows::remove(&app.db, inc.actor.id, target.id).await?;
            }
            Ok(())
        }
        Some(kind @ ("Like" | "EmojiReact" | "Announce")) => {
            let kind = if kind == "Announce" {
                interactions::ANNOUNCE
            } else {
                interactions::LIKE
            };
            let post = match first_id(inner.get("object")) {
                Some(o) => posts::find_by_ap_id(&app.db, &o).await?,
                None => None,
            };
            let Some(mut tx) = inc.begin(app).await? else {
                return Ok(());
            };
            interactions::remove(
                &mut tx,
                kind,
                &inner_id,
                inc.actor.id,
                post.as_ref().map(|p| p.id),
            )
            .await?;
            tx.commit().await?;
            match &post {
                Some(p) => app.served.changed(&p.ap_id, None),
                None => app.served.clear(),
            }
            Ok(())
        }
        Some("Join") => super::join::undo_join(app, inc, inner).await,
        _ => undo_by_id(app, inc, str_prop(inner, "id").unwrap_or(&inner_id)).await,
    }
}

async fn undo_by_id(app: &App, inc: &Incoming<'_>, id: &str) -> Result<()> {
    if let Some(f) = follows::find_by_ap_id(&app.db, id).await?
        && f.follower_id == inc.actor.id
    {
        follows::remove(&app.db, f.follower_id, f.followee_id).await?;
        return Ok(());
    }
    if let Some((post_id, actor_id)) = crate::db::events::find_participation(&app.db, id).await?
        && actor_id == inc.actor.id
        && let Some(post) = posts::find_by_id(&app.db, post_id).await?
    {
        return super::join::leave(app, inc, &post.ap_id).await;
    }
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    for kind in [interactions::LIKE, interactions::ANNOUNCE] {
        interactions::remove(&mut tx, kind, id, inc.actor.id, None).await?;
    }
    tx.commit().await?;
    // Which post the like or boost was of is not known here.
    app.served.clear();
    Ok(())
}
