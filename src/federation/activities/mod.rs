//! One file per activity: how we build the ones we send, and the checks and effects of the ones we receive.
//! `dispatch` is the accepted-activity switch: a type we do not handle is accepted and ignored.

pub mod accept;
pub mod announce;
pub mod create;
pub mod delete;
pub mod follow;
pub mod join;
pub mod like;
pub mod reject;
pub mod undo;
pub mod update;

use serde_json::Value;

use super::protocol::{self, first_id};
use super::resolve::{Budget, same_origin};
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::received;
use crate::error::{Error, Result};

/// An activity that passed the signature checks, with its verified actor.
pub struct Incoming<'a> {
    pub activity: &'a Value,
    pub id: Option<String>,
    pub actor: ActorRow,
    pub budget: &'a Budget,
}

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl Incoming<'_> {
    /// Begins the write transaction that applies the activity and records its id in it. `None` when another
    /// request recorded the same id first: the caller then does nothing.
    pub async fn begin(&self, app: &App) -> Result<Option<Tx>> {
        let mut tx = app.db.begin_write().await?;
        if let Some(id) = &self.id
            && !received::record(&mut tx, id).await?
        {
            return Ok(None);
        }
        Ok(Some(tx))
    }

    /// The id of the activity's `object`.
    pub fn object_id(&self) -> Result<String> {
        first_id(self.activity.get("object"))
            .ok_or_else(|| Error::bad_request("the activity has no object"))
    }

    /// The embedded object, if the object is embedded rather than a bare id.
    pub fn embedded_object(&self) -> Option<&Value> {
        protocol::embedded(self.activity, "object")
    }

    /// The activity's id, required for activities that are later referred to (Follow, Like, Announce).
    pub fn required_id(&self) -> Result<&str> {
        self.id
            .as_deref()
            .ok_or_else(|| Error::bad_request("the activity has no id"))
    }

    /// Refuses an embedded object that claims to come from another origin than the signer's.
    pub fn check_same_origin(&self, object_id: &str) -> Result<()> {
        if same_origin(object_id, &self.actor.ap_id) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{} may not speak for {object_id}, which is on another origin",
                self.actor.ap_id
            )))
        }
    }
}

pub async fn dispatch(app: &App, inc: &Incoming<'_>) -> Result<()> {
    match protocol::type_of(inc.activity) {
        Some("Follow") => follow::receive(app, inc).await,
        Some("Accept") => accept::receive(app, inc).await,
        Some("Reject") => reject::receive(app, inc).await,
        Some("Undo") => undo::receive(app, inc).await,
        Some("Create") => create::receive(app, inc).await,
        Some("Update") => update::receive(app, inc).await,
        Some("Delete") => delete::receive(app, inc).await,
        Some("Like") | Some("EmojiReact") => like::receive(app, inc).await,
        Some("Announce") => announce::receive(app, inc).await,
        Some("Join") => join::receive_join(app, inc).await,
        Some("Leave") => join::receive_leave(app, inc).await,
        Some(other) => {
            tracing::debug!(kind = other, "ignoring an activity type we do not handle");
            Ok(())
        }
        None => Err(Error::bad_request("the activity has no type")),
    }
}

/// The public collection, and the standard context of activities.
pub fn activity_context() -> Value {
    serde_json::json!("https://www.w3.org/ns/activitystreams")
}
