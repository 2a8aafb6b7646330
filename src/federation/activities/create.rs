//! `Create(Note)`: replies to our posts (at any depth), posts that mention or address our actors, and posts of
//! actors we follow are stored, sanitized and linked into their thread; anything else is ignored. We send it for
//! every post of ours.

use serde_json::{Value, json};

use super::Incoming;
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::events::{self, EventRow};
use crate::db::posts::{self, NewPost, PostRow};
use crate::db::{follows, now_ms};
use crate::error::{Error, Result};
use crate::federation::html::{sanitize, strip_tags, to_text};
use crate::federation::objects::event::EventIn;
use crate::federation::objects::note::{NoteIn, POST_TYPES};
use crate::federation::protocol::type_of;
use crate::federation::resolve;

/// The `Create` of one of our posts; its id is the post's id with `/activity`.
pub fn build(note: &Value, author: &ActorRow) -> Value {
    json!({
        "@context": crate::federation::objects::note::note_context(),
        "id": format!("{}/activity", note["id"].as_str().unwrap_or_default()),
        "type": "Create",
        "actor": author.ap_id,
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    })
}

pub async fn receive(app: &App, inc: &Incoming<'_>) -> Result<()> {
    let object_id = inc.object_id()?;
    let object = match inc.embedded_object() {
        Some(o) => {
            inc.check_same_origin(&object_id)?;
            o.clone()
        }
        // A bare id is fetched from its own origin, which vouches for it.
        None => {
            inc.check_same_origin(&object_id)?;
            resolve::fetch(app, &object_id, inc.budget).await?
        }
    };
    let Some(kind) = type_of(&object) else {
        return Err(Error::bad_request("the object has no type"));
    };
    let event = if kind == "Event" {
        Some(EventIn::parse(&object).map_err(Error::bad_request)?)
    } else if POST_TYPES.contains(&kind) {
        None
    } else {
        return Ok(()); // other object types are not stored
    };
    let note = NoteIn::parse(&object).map_err(Error::bad_request)?;
    if note.id != object_id {
        return Err(Error::bad_request(
            "the object's id differs from the activity's object",
        ));
    }
    if note.attributed_to != inc.actor.ap_id {
        return Err(Error::Forbidden(format!(
            "{} cannot create a post attributed to {}",
            inc.actor.ap_id, note.attributed_to
        )));
    }
    store(app, inc, &note, event.as_ref()).await
}

/// What a reply needs of its stored parent.
#[derive(Debug, Clone)]
pub struct Parent {
    pub id: i64,
    pub context: Option<String>,
}

impl From<&PostRow> for Parent {
    fn from(p: &PostRow) -> Self {
        Parent {
            id: p.id,
            context: p.context.clone(),
        }
    }
}

/// The stored post a reply answers, from memory when it was looked up lately (only found posts are kept).
async fn parent_of(app: &App, in_reply_to: &str) -> Result<Option<Parent>> {
    if let Some(p) = app.parents.get(in_reply_to) {
        return Ok(Some(p));
    }
    let Some(row) = posts::find_by_ap_id(&app.db, in_reply_to).await? else {
        return Ok(None);
    };
    let parent = Parent::from(&row);
    app.parents.insert(in_reply_to.to_string(), parent.clone());
    Ok(Some(parent))
}

/// Why a remote post concerns us, if it does: its parent is stored here, it names one of our actors, or a
/// local actor follows its author.
async fn parent_and_relevance(
    app: &App,
    author: &ActorRow,
    note: &NoteIn,
) -> Result<(Option<Parent>, bool)> {
    let parent = match &note.in_reply_to {
        Some(p) => parent_of(app, p).await?,
        None => None,
    };
    if parent.is_some() {
        return Ok((parent, true));
    }
    let names_local = note
        .mentions()
        .iter()
        .chain(&note.to)
        .chain(&note.cc)
        .any(|id| app.urls.username_of(id).is_some());
    if names_local {
        return Ok((None, true));
    }
    Ok((None, follows::has_local_follower(&app.db, author.id).await?))
}

/// The HTML we keep of a remote post: sanitized; a titled post (Lemmy's Page, an Article) keeps its title.
pub fn stored_content(note: &NoteIn) -> String {
    let body = sanitize(&note.content);
    match (&note.name, note.kind.as_str()) {
        (Some(name), "Page" | "Article" | "Question" | "Event") if !name.trim().is_empty() => {
            format!("<p><strong>{}</strong></p>{body}", strip_tags(name))
        }
        _ => body,
    }
}

async fn store(
    app: &App,
    inc: &Incoming<'_>,
    note: &NoteIn,
    event: Option<&EventIn>,
) -> Result<()> {
    let (parent, relevant) = parent_and_relevance(app, &inc.actor, note).await?;
    if !relevant {
        return Ok(());
    }
    let context = parent
        .as_ref()
        .and_then(|p| p.context.clone())
        .or_else(|| note.context.clone())
        .unwrap_or_else(|| note.id.clone());
    let new = NewPost {
        ap_id: note.id.clone(),
        local: false,
        kind: note.kind.clone(),
        author_id: inc.actor.id,
        content: stored_content(note),
        source: None,
        summary: note.summary.as_deref().map(strip_tags),
        sensitive: note.sensitive,
        visibility: note.visibility().to_string(),
        in_reply_to: note.in_reply_to.clone(),
        parent_id: parent.as_ref().map(|p| p.id),
        context: Some(context),
        url: note.url.clone(),
        published_at: note.published.unwrap_or_else(now_ms).min(now_ms()),
        to_json: serde_json::to_string(&note.to).unwrap_or_default(),
        cc_json: serde_json::to_string(&note.cc).unwrap_or_default(),
        tags_json: serde_json::to_string(&note.tags).unwrap_or_default(),
        attachments_json: serde_json::to_string(&note.attachments).unwrap_or_default(),
    };
    let Some(event) = event else {
        // Posts go through the group-commit writer, which records the activity id in the same transaction.
        let stored = app.writer.store(&app.db, inc.id.clone(), new).await?;
        if matches!(stored, crate::federation::writer::Stored::New) {
            app.served.changed(&note.id, note.in_reply_to.as_deref());
        }
        return Ok(());
    };
    let Some(mut tx) = inc.begin(app).await? else {
        return Ok(());
    };
    // A post already stored (delivered twice through different inboxes) is left as it is: `insert` ignores it.
    if let Some(row) = posts::insert(&mut tx, &new).await? {
        posts::adopt_orphans(&mut tx, &row).await?;
        events::upsert(&mut tx, &event_row(row.id, event)).await?;
    }
    tx.commit().await?;
    app.served.changed(&note.id, note.in_reply_to.as_deref());
    Ok(())
}

/// The stored calendar data of a remote event.
pub fn event_row(post_id: i64, e: &EventIn) -> EventRow {
    EventRow {
        post_id,
        name: to_text(&e.name),
        description: String::new(),
        start_at: e.start_at,
        end_at: e.end_at,
        timezone: e.timezone.clone(),
        location_name: e.location_name.as_deref().map(to_text),
        address: e.address.as_deref().map(to_text),
        latitude: e.latitude,
        longitude: e.longitude,
        status: if e.cancelled {
            events::CANCELLED
        } else {
            events::CONFIRMED
        }
        .to_string(),
        join_mode: e.join_mode.clone(),
        banner_url: e.banner_url.clone(),
        sequence: 0,
        participant_count: e.participant_count,
    }
}
