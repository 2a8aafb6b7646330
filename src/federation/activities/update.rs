//! `Update`: of a post (only by its author: content, summary, sensitivity, tags) or of an actor (only by
//! itself: the cached copy is refreshed). We send `Update(Note)` when one of ours edits a post.

use serde_json::{Value, json};

use super::Incoming;
use super::create::stored_content;
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::{actors, now_ms, posts};
use crate::error::{Error, Result};
use crate::federation::html::strip_tags;
use crate::federation::objects::event::EventIn;
use crate::federation::objects::note::{NoteIn, POST_TYPES};
use crate::federation::protocol::type_of;
use crate::federation::resolve::{self, ACTOR_TYPES};
use crate::urls::{Urls, new_token};

pub fn build(urls: &Urls, actor: &ActorRow, object: &Value) -> Value {
    json!({
        "@context": crate::federation::objects::note::note_context(),
        "id": urls.activity(&new_token()),
        "type": "Update",
        "actor": actor.ap_id,
        "published": crate::db::rfc3339(now_ms()),
        "to": object.get("to").cloned().unwrap_or(json!([])),
        "cc": object.get("cc").cloned().unwrap_or(json!([])),
        "object": object,
    })
}

/// The `Update` of one of our actors (profile or key changed), with the whole actor document.
pub fn build_actor(urls: &Urls, actor: &ActorRow) -> Value {
    let doc = serde_json::to_value(crate::federation::objects::actor::ApActor::from_local(
        actor, urls,
    ))
    .unwrap_or_default();
    let mut object = doc.clone();
    if let Some(o) = object.as_object_mut() {
        o.remove("@context");
    }
    json!({
        "@context": doc["@context"],
        "id": urls.activity(&new_token()),
        "type": "Update",
        "actor": actor.ap_id,
        "to": [crate::federation::protocol::PUBLIC],
        "object": object,
    })
}

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    let object_id = inc.object_id()?;
    inc.check_same_origin(&object_id)?;
    if object_id == inc.actor.ap_id {
        // The actor changed its profile or key. The embedded copy comes from the signer itself.
        let row = match inc
            .embedded_object()
            .filter(|o| type_of(o).is_some_and(|t| ACTOR_TYPES.contains(&t)))
        {
            Some(doc) => actors::upsert_remote(&app.db, &resolve::parse_actor(doc)?).await?,
            None => resolve::refresh_actor(app, &object_id, inc.budget).await?,
        };
        app.keys.remote.invalidate(&inc.actor.public_key_id);
        app.keys.remote.invalidate(&row.public_key_id);
        return Ok(());
    }
    let Some(post) = posts::find_by_ap_id(&app.db, &object_id).await? else {
        return Ok(()); // not something we store
    };
    if post.is_deleted() {
        return Ok(()); // a late edit never brings a deleted post back
    }
    if post.author_id != inc.actor.id {
        return Err(Error::Forbidden(format!(
            "{} cannot update {object_id}",
            inc.actor.ap_id
        )));
    }
    let object = match inc.embedded_object() {
        Some(o) => o.clone(),
        None => resolve::fetch(app, &object_id, inc.budget).await?,
    };
    let kind = type_of(&object).unwrap_or_default();
    let event = if kind == "Event" {
        Some(EventIn::parse(&object).map_err(Error::bad_request)?)
    } else if POST_TYPES.contains(&kind) {
        None
    } else {
        return Ok(());
    };
    let note = NoteIn::parse(&object).map_err(Error::bad_request)?;
    if note.id != post.ap_id || note.attributed_to != inc.actor.ap_id {
        return Err(Error::Forbidden(
            "the updated object is not the stored post of this actor".into(),
        ));
    }
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    posts::update_content(
        &mut tx,
        post.id,
        &stored_content(&note),
        None,
        note.summary.as_deref().map(strip_tags).as_deref(),
        note.sensitive,
        &serde_json::to_string(&note.tags).unwrap_or_default(),
    )
    .await?;
    if let Some(e) = &event {
        crate::db::events::upsert(&mut tx, &super::create::event_row(post.id, e)).await?;
    }
    tx.commit().await?;
    app.served.changed(&post.ap_id, post.in_reply_to.as_deref());
    Ok(())
}
