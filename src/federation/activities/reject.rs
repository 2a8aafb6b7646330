//! `Reject(Follow)`: a remote actor refuses (or removes) one of our actors as a follower; we send it when an
//! admin rejects a pending follower.

use serde_json::{Value, json};

use super::{Incoming, accept};
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::follows;
use crate::error::Result;
use crate::urls::{Urls, new_token};

pub fn build(urls: &Urls, rejecter: &ActorRow, follow: &Value) -> Value {
    json!({
        "@context": super::activity_context(),
        "id": urls.activity(&new_token()),
        "type": "Reject",
        "actor": rejecter.ap_id,
        "object": accept::follow_reference(follow),
    })
}

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    if let Some(f) = accept::our_follow(app, inc).await? {
        follows::remove(&app.db, f.follower_id, f.followee_id).await?;
    }
    Ok(())
}
