//! `Announce` (a boost) of a post we store: counted once per actor and post.

use super::Incoming;
use super::like::interact;
use crate::App;
use crate::db::interactions;
use crate::error::Result;

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    interact(app, inc, interactions::ANNOUNCE).await
}
