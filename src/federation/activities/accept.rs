//! `Accept(Follow)`: we send it when one of our actors takes a follower; we receive it when a remote actor
//! takes one of ours.

use serde_json::{Value, json};

use super::Incoming;
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::{actors, follows};
use crate::error::Result;
use crate::federation::protocol::{first_id, str_prop};
use crate::urls::{Urls, new_token};

/// The `Accept` of a follow, embedding the `Follow` as it was received.
pub fn build(urls: &Urls, accepter: &ActorRow, follow: &Value) -> Value {
    json!({
        "@context": super::activity_context(),
        "id": urls.activity(&new_token()),
        "type": "Accept",
        "actor": accepter.ap_id,
        "object": follow_reference(follow),
    })
}

/// The `Follow` as we embed it in our answers: its id, type, actor and object.
pub fn follow_reference(follow: &Value) -> Value {
    json!({
        "id": str_prop(follow, "id"),
        "type": "Follow",
        "actor": first_id(follow.get("actor")),
        "object": first_id(follow.get("object")),
    })
}

/// Finds the follow (made by one of our actors, of the answering actor) an Accept or Reject is about: by the
/// Follow's id, or — for servers that do not echo it — by its embedded actor and object.
pub async fn our_follow(app: &App, inc: &Incoming<'_>) -> Result<Option<follows::FollowRow>> {
    let object_id = first_id(inc.activity.get("object"));
    if let Some(id) = &object_id
        && let Some(f) = follows::find_by_ap_id(&app.db, id).await?
    {
        return Ok((f.followee_id == inc.actor.id).then_some(f));
    }
    let Some(embedded) = inc.embedded_object() else {
        return Ok(None);
    };
    let (Some(follower), Some(followee)) = (
        first_id(embedded.get("actor")),
        first_id(embedded.get("object")),
    ) else {
        return Ok(None);
    };
    if followee != inc.actor.ap_id {
        return Ok(None);
    }
    let Some(local) = actors::find_by_ap_id(&app.db, &follower)
        .await?
        .filter(|a| a.is_local())
    else {
        return Ok(None);
    };
    follows::find(&app.db, local.id, inc.actor.id).await
}

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    if let Some(f) = our_follow(app, inc).await?
        && f.accepted == 0
    {
        follows::accept(&app.db, f.id).await?;
    }
    Ok(())
}
