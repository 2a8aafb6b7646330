//! `Like` (and Misskey's `EmojiReact`) of a post we store: counted once per actor and post.

use super::Incoming;
use crate::App;
use crate::db::{interactions, posts};
use crate::error::Result;

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    interact(app, inc, interactions::LIKE).await
}

/// Records a like or boost of a stored post; other objects are ignored.
pub async fn interact(app: &App, inc: &Incoming<'_>, kind: &str) -> Result<()> {
    let id = inc.required_id()?.to_string();
    let object = inc.object_id()?;
    // Mastodon names the post of a boost by its web address at times: look that up too, on the same origin.
    let post = match posts::find_by_ap_id(&app.db, &object).await? {
        Some(p) => Some(p),
        None => posts::find_by_url(&app.db, &object).await?,
    };
    let Some(post) = post else {
        return Ok(());
    };
    if post.is_deleted() {
        return Ok(());
    }
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    interactions::add(&mut tx, &id, kind, inc.actor.id, post.id).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, None);
    Ok(())
}
