//! `Follow`: a remote actor follows one of ours (accepted at once, or pending when the actor approves followers
//! by hand), and the `Follow` we send when one of ours follows a remote actor.

use serde_json::{Value, json};

use super::{Incoming, accept};
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::{actors, follows};
use crate::error::{Error, Result};
use crate::federation::delivery;
use crate::urls::{Urls, new_token};

/// The `Follow` a local actor sends.
pub fn build(urls: &Urls, follower: &ActorRow, target: &ActorRow) -> Value {
    json!({
        "@context": super::activity_context(),
        "id": urls.activity(&new_token()),
        "type": "Follow",
        "actor": follower.ap_id,
        "object": target.ap_id,
    })
}

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    let follow_id = inc.required_id()?.to_string();
    let object = inc.object_id()?;
    let Some(name) = app.urls.username_of(&object) else {
        return Ok(()); // not one of ours
    };
    let Some(target) = actors::find_local(&app.db, &name).await? else {
        return Err(Error::not_found(format!("no local actor {object}")));
    };
    if target.is_deleted() || target.is_suspended() {
        return Err(Error::Gone {
            message: format!("{} cannot be followed", target.ap_id),
            tombstone: None,
        });
    }
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    let auto = target.manually_approves_followers == 0;
    let row = follows::upsert(&mut tx, &follow_id, inc.actor.id, target.id, auto).await?;
    if row.accepted != 0 {
        let accept = accept::build(&app.urls, &target, inc.activity);
        delivery::queue(
            &mut tx,
            &target,
            &accept,
            std::slice::from_ref(&inc.actor.inbox_url),
        )
        .await?;
    }
    tx.commit().await?;
    app.delivery_wakeup.notify_one();
    Ok(())
}
