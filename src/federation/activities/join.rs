//! `Join` and `Leave` of one of our events, as Mobilizon-style servers send them to RSVP. A `Join` of an event in
//! free join mode is accepted at once (`Accept(Join)`); `Leave` and `Undo(Join)` remove the participant.

use super::Incoming;
use crate::App;
use crate::db::posts::{self, PostRow};
use crate::db::{actors, events};
use crate::error::{Error, Result};
use crate::federation::delivery;
use crate::federation::protocol::{first_id, str_prop};

/// The local, live event an RSVP names.
async fn local_event(app: &App, id: &str) -> Result<Option<(PostRow, events::EventRow)>> {
    let Some(post) = posts::find_by_ap_id(&app.db, id)
        .await?
        .filter(|p| p.local != 0 && p.kind == "Event")
    else {
        return Ok(None);
    };
    if post.is_deleted() {
        return Err(Error::Gone {
            message: format!("{id} was deleted"),
            tombstone: None,
        });
    }
    Ok(events::find(&app.db, post.id).await?.map(|e| (post, e)))
}

pub async fn receive_join(app: &App, inc: &Incoming<'_>) -> Result<()> {
    let join_id = inc.required_id()?.to_string();
    let Some((post, event)) = local_event(app, &inc.object_id()?).await? else {
        return Ok(()); // not one of our events
    };
    if event.status == events::CANCELLED {
        return Err(Error::unprocessable("the event is cancelled"));
    }
    let organiser = actors::find_by_id(&app.db, post.author_id)
        .await?
        .ok_or_else(|| Error::not_found("the organiser is gone"))?;
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    if event.join_mode == "free" {
        events::add_participant(&mut tx, post.id, inc.actor.id, Some(&join_id)).await?;
        let join = serde_json::json!({
            "id": join_id,
            "type": "Join",
            "actor": inc.actor.ap_id,
            "object": post.ap_id,
        });
        let accept = crate::service::events::accept_join(app, &organiser, &join);
        delivery::queue(
            &mut tx,
            &organiser,
            &accept,
            std::slice::from_ref(&inc.actor.inbox_url),
        )
        .await?;
    }
    tx.commit().await?;
    app.served.changed(&post.ap_id, None);
    app.delivery_wakeup.notify_one();
    Ok(())
}

pub async fn receive_leave(app: &App, inc: &Incoming<'_>) -> Result<()> {
    leave(app, inc, &inc.object_id()?).await
}

/// Removes the sender from an event it named (`Leave`, or the `Join` inside an `Undo`).
pub async fn leave(app: &App, inc: &Incoming<'_>, event_id: &str) -> Result<()> {
    let Some((post, _)) = local_event(app, event_id).await? else {
        return Ok(());
    };
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    events::remove_participant(&mut tx, post.id, inc.actor.id).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, None);
    Ok(())
}

/// `Undo(Join)`: by the embedded Join's object, or by the Join's id.
pub async fn undo_join(app: &App, inc: &Incoming<'_>, inner: &serde_json::Value) -> Result<()> {
    if let Some(event_id) = first_id(inner.get("object")) {
        return leave(app, inc, &event_id).await;
    }
    if let Some(id) = str_prop(inner, "id")
        && let Some((post_id, actor_id)) = events::find_participation(&app.db, id).await?
        && actor_id == inc.actor.id
        && let Some(post) = posts::find_by_id(&app.db, post_id).await?
    {
        return leave(app, inc, &post.ap_id).await;
    }
    Ok(())
}
