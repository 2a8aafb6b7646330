//! Local posts: create (with mentions, hashtags, visibility, content warning, reply), edit and delete — each
//! stored and queued for delivery in one transaction. Also fetching a remote post to reply to.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::compose::{self, ResolvedMention};
use crate::App;
use crate::db::actors::ActorRow;
use crate::db::posts::{self, NewPost, PostRow};
use crate::db::{actors, interactions, now_ms};
use crate::error::{Error, Result};
use crate::federation::activities::{create, delete, update};
use crate::federation::delivery;
use crate::federation::html::strip_tags;
use crate::federation::objects::note::{self, NoteCounts, NoteIn, POST_TYPES};
use crate::federation::protocol::PUBLIC;
use crate::federation::resolve::{self, Budget};
use crate::service::actors::get_servable;
use crate::urls::new_token;

pub const MAX_TEXT_LEN: usize = 5_000;
pub const MAX_SUMMARY_LEN: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Unlisted,
    Followers,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Followers => "followers",
        }
    }
}

/// A new post, from the command line or the admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLocalPost {
    pub text: String,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub visibility: Visibility,
    /// A content warning.
    #[serde(default)]
    pub summary: Option<String>,
}

/// An edit: the new text and, optionally, a new content warning (`""` removes it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    pub text: String,
    #[serde(default)]
    pub summary: Option<String>,
}

fn check_text(text: &str, summary: Option<&str>) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::unprocessable("the post is empty"));
    }
    let n = text.chars().count();
    if n > MAX_TEXT_LEN {
        return Err(Error::unprocessable(format!(
            "the post is {n} characters, more than the {MAX_TEXT_LEN} allowed"
        )));
    }
    if let Some(s) = summary
        && s.chars().count() > MAX_SUMMARY_LEN
    {
        return Err(Error::unprocessable(format!(
            "the content warning is longer than {MAX_SUMMARY_LEN} characters"
        )));
    }
    Ok(())
}

/// Resolves the mentions of a text (WebFinger for remote ones). Mentions that do not resolve stay plain text.
async fn resolve_mentions(
    app: &App,
    text: &str,
    budget: &Budget,
) -> Vec<(ResolvedMention, ActorRow)> {
    let mut out = Vec::new();
    for m in compose::mentions(text) {
        match resolve::actor_by_handle_or_url(app, &m.handle, budget).await {
            Ok(actor) => {
                let acct = format!("@{}@{}", actor.username, actor.domain);
                out.push((
                    ResolvedMention {
                        handle: m.handle,
                        actor_id: actor.ap_id.clone(),
                        profile_url: actor
                            .profile_url
                            .clone()
                            .unwrap_or_else(|| actor.ap_id.clone()),
                        username: actor.username.clone(),
                        acct,
                    },
                    actor,
                ));
            }
            Err(e) => tracing::info!(mention = %m.handle, error = %e, "mention left as text"),
        }
    }
    out
}

/// A post to reply to: ours, stored, or fetched (and stored with its author).
pub async fn resolve_post(app: &App, id: &str, budget: &Budget) -> Result<PostRow> {
    if let Some(p) = posts::find_by_ap_id(&app.db, id).await? {
        return Ok(p);
    }
    if app.urls.is_local(id) {
        return Err(Error::not_found(format!("no post {id}")));
    }
    let doc = resolve::fetch(app, id, budget).await?;
    let kind = crate::federation::protocol::type_of(&doc).unwrap_or_default();
    if !POST_TYPES.contains(&kind) {
        return Err(Error::unprocessable(format!(
            "{id} is a {kind}, not a post"
        )));
    }
    let note = NoteIn::parse(&doc).map_err(Error::unprocessable)?;
    if !resolve::same_origin(&note.attributed_to, &note.id) {
        return Err(Error::unprocessable(format!(
            "{id} is attributed to an actor of another origin"
        )));
    }
    let author = resolve::actor(app, &note.attributed_to, budget).await?;
    let parent = match &note.in_reply_to {
        Some(p) => posts::find_by_ap_id(&app.db, p).await?,
        None => None,
    };
    let context = parent
        .as_ref()
        .and_then(|p| p.context.clone())
        .or_else(|| note.context.clone())
        .unwrap_or_else(|| note.id.clone());
    let mut tx = app.db.begin_write().await?;
    let inserted = posts::insert(
        &mut tx,
        &NewPost {
            ap_id: note.id.clone(),
            local: false,
            kind: note.kind.clone(),
            author_id: author.id,
            content: create::stored_content(&note),
            source: None,
            summary: note.summary.as_deref().map(strip_tags),
            sensitive: note.sensitive,
            visibility: note.visibility().to_string(),
            in_reply_to: note.in_reply_to.clone(),
            parent_id: parent.map(|p| p.id),
            context: Some(context),
            url: note.url.clone(),
            published_at: note.published.unwrap_or_else(now_ms).min(now_ms()),
            to_json: serde_json::to_string(&note.to).unwrap_or_default(),
            cc_json: serde_json::to_string(&note.cc).unwrap_or_default(),
            tags_json: serde_json::to_string(&note.tags).unwrap_or_default(),
            attachments_json: serde_json::to_string(&note.attachments).unwrap_or_default(),
        },
    )
    .await?;
    if let Some(row) = &inserted {
        posts::adopt_orphans(&mut tx, row).await?;
    }
    tx.commit().await?;
    app.served.changed(&note.id, note.in_reply_to.as_deref());
    posts::find_by_ap_id(&app.db, id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored post {id} vanished")))
}

/// The `to` and `cc` of a post.
fn addressing(
    visibility: Visibility,
    followers: &str,
    mentioned: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut to = Vec::new();
    let mut cc = Vec::new();
    match visibility {
        Visibility::Public => {
            to.push(PUBLIC.to_string());
            cc.push(followers.to_string());
        }
        Visibility::Unlisted => {
            to.push(followers.to_string());
            cc.push(PUBLIC.to_string());
        }
        Visibility::Followers => to.push(followers.to_string()),
    }
    for m in mentioned {
        if !to.contains(m) && !cc.contains(m) {
            cc.push(m.clone());
        }
    }
    (to, cc)
}

/// The inbox that reaches a remote actor (its server's shared inbox when it has one).
fn inbox_of(a: &ActorRow) -> Option<String> {
    (!a.is_local()).then(|| {
        a.shared_inbox_url
            .clone()
            .unwrap_or_else(|| a.inbox_url.clone())
    })
}

/// The wire form of a stored local post.
pub async fn note_of(app: &App, post: &PostRow, author: &ActorRow) -> Result<Value> {
    let counts = posts::counts_of(&app.db, &[post.id])
        .await?
        .remove(&post.id)
        .unwrap_or_default();
    Ok(note::local_note(post, &author.ap_id, &app.urls, counts))
}

/// The wire forms of several posts of one author (an outbox page): the counts of all notes in one statement.
pub async fn wire_of_many(app: &App, list: &[PostRow], author: &ActorRow) -> Result<Vec<Value>> {
    let notes: Vec<i64> = list
        .iter()
        .filter(|p| p.kind != "Event")
        .map(|p| p.id)
        .collect();
    let counts = posts::counts_of(&app.db, &notes).await?;
    let mut out = Vec::with_capacity(list.len());
    for post in list {
        out.push(if post.kind == "Event" {
            wire_of(app, post, author).await?
        } else {
            let c = counts.get(&post.id).copied().unwrap_or_default();
            note::local_note(post, &author.ap_id, &app.urls, c)
        });
    }
    Ok(out)
}

/// The wire form of a stored local post or event (without `@context`).
pub async fn wire_of(app: &App, post: &PostRow, author: &ActorRow) -> Result<Value> {
    if post.kind == "Event" {
        let event = crate::db::events::find(&app.db, post.id)
            .await?
            .ok_or_else(|| Error::not_found("the event's data is gone"))?;
        crate::service::events::event_doc(app, post, &event, author).await
    } else {
        note_of(app, post, author).await
    }
}

/// The inboxes of the actors a post names (mentions, the author replied to), besides the author's followers.
fn named_inboxes(named: &[ActorRow]) -> Vec<String> {
    named.iter().filter_map(inbox_of).collect()
}

pub async fn create(app: &App, username: &str, new: NewLocalPost) -> Result<PostRow> {
    let summary = new
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    check_text(&new.text, summary)?;
    let author = get_servable(app, username).await?;
    let budget = Budget::default();
    let parent = match new
        .reply_to
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(url) => Some(resolve_post(app, url, &budget).await?),
        None => None,
    };
    if parent.as_ref().is_some_and(PostRow::is_deleted) {
        return Err(Error::unprocessable("the post replied to was deleted"));
    }
    let mut named: Vec<(ResolvedMention, ActorRow)> =
        resolve_mentions(app, &new.text, &budget).await;
    let parent_author = match &parent {
        Some(p) => actors::find_by_id(&app.db, p.author_id).await?,
        None => None,
    };
    let (content, mut tags) = compose::render(
        &new.text,
        &named.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        |t| app.urls.tag(t),
    );
    // The author of the post replied to is always addressed (and mentioned), as Mastodon does.
    if let Some(pa) = &parent_author
        && pa.id != author.id
        && !named.iter().any(|(_, a)| a.id == pa.id)
    {
        tags.push(mention_tag(pa));
        named.push((
            ResolvedMention {
                handle: String::new(),
                actor_id: pa.ap_id.clone(),
                profile_url: pa.profile_url.clone().unwrap_or_else(|| pa.ap_id.clone()),
                username: pa.username.clone(),
                acct: String::new(),
            },
            pa.clone(),
        ));
    }
    let named_actors: Vec<ActorRow> = named.into_iter().map(|(_, a)| a).collect();
    let (to, cc) = addressing(
        new.visibility,
        &app.urls.followers(&author.username),
        &named_actors
            .iter()
            .map(|a| a.ap_id.clone())
            .collect::<Vec<_>>(),
    );
    let ap_id = app.urls.post(&new_token());
    let context = parent
        .as_ref()
        .and_then(|p| p.context.clone())
        .unwrap_or_else(|| app.urls.context(&ap_id));
    let mut tx = app.db.begin_write().await?;
    let post = posts::insert(
        &mut tx,
        &NewPost {
            ap_id: ap_id.clone(),
            local: true,
            kind: "Note".into(),
            author_id: author.id,
            content,
            source: Some(new.text.clone()),
            summary: summary.map(str::to_string),
            sensitive: summary.is_some(),
            visibility: new.visibility.as_str().into(),
            in_reply_to: parent.as_ref().map(|p| p.ap_id.clone()),
            parent_id: parent.as_ref().map(|p| p.id),
            context: Some(context),
            url: Some(ap_id.clone()),
            published_at: now_ms(),
            to_json: serde_json::to_string(&to).map_err(anyhow::Error::from)?,
            cc_json: serde_json::to_string(&cc).map_err(anyhow::Error::from)?,
            tags_json: serde_json::to_string(&tags).map_err(anyhow::Error::from)?,
            attachments_json: "[]".into(),
        },
    )
    .await?
    .ok_or_else(|| Error::Internal(anyhow::anyhow!("post id collision")))?;
    let note = note::local_note(&post, &author.ap_id, &app.urls, NoteCounts::default());
    let activity = create::build(&note, &author);
    delivery::queue_to_followers(&mut tx, &author, &activity, &named_inboxes(&named_actors))
        .await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, post.in_reply_to.as_deref());
    app.delivery_wakeup.notify_one();
    Ok(post)
}

fn mention_tag(a: &ActorRow) -> Value {
    json!({"type": "Mention", "href": a.ap_id, "name": format!("@{}@{}", a.username, a.domain)})
}

/// The author of the post a post replies to, when we have it.
async fn parent_author(app: &App, post: &PostRow) -> Result<Option<ActorRow>> {
    let Some(parent_id) = post.parent_id else {
        return Ok(None);
    };
    let Some(parent) = posts::find_by_id(&app.db, parent_id).await? else {
        return Ok(None);
    };
    actors::find_by_id(&app.db, parent.author_id).await
}

/// A local post by id, with its author; only the author's own posts can be changed.
async fn own_post(app: &App, id: &str) -> Result<(PostRow, ActorRow)> {
    let post = posts::find_by_ap_id(&app.db, id)
        .await?
        .filter(|p| p.local != 0)
        .ok_or_else(|| Error::not_found(format!("no local post {id}")))?;
    if post.is_deleted() {
        return Err(Error::Gone {
            message: format!("{id} was deleted"),
            tombstone: None,
        });
    }
    let author = actors::find_by_id(&app.db, post.author_id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("post without author")))?;
    Ok((post, author))
}

/// The actors a stored post named (for delivering its edits and deletion to the same people).
async fn named_in(app: &App, post: &PostRow) -> Result<Vec<ActorRow>> {
    let tags: Vec<Value> = serde_json::from_str(&post.tags_json).unwrap_or_default();
    let mut out = Vec::new();
    for t in tags.iter().filter(|t| t["type"] == "Mention") {
        if let Some(href) = t["href"].as_str()
            && let Some(a) = actors::find_by_ap_id(&app.db, href).await?
        {
            out.push(a);
        }
    }
    Ok(out)
}

pub async fn edit(app: &App, id: &str, edit: PostEdit) -> Result<PostRow> {
    let (post, author) = own_post(app, id).await?;
    if post.kind == "Event" {
        return Err(Error::unprocessable(format!(
            "{id} is an event: change it with `placard event update`"
        )));
    }
    if post.kind == "Event" {
        return Err(Error::unprocessable(format!(
            "{id} is an event: change it with `placard event update`"
        )));
    }
    let summary = edit.summary.as_deref().map(str::trim);
    check_text(&edit.text, summary)?;
    let budget = Budget::default();
    let named = resolve_mentions(app, &edit.text, &budget).await;
    let (content, mut tags) = compose::render(
        &edit.text,
        &named.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        |t| app.urls.tag(t),
    );
    // The author of the post replied to stays addressed.
    if let Some(pa) = parent_author(app, &post).await?
        && pa.id != author.id
        && !tags.iter().any(|t| t["href"] == json!(pa.ap_id))
    {
        tags.push(mention_tag(&pa));
    }
    let new_summary = match summary {
        Some("") => None,
        Some(s) => Some(s.to_string()),
        None => post.summary.clone(),
    };
    let mut tx = app.db.begin_write().await?;
    let updated = posts::update_content(
        &mut tx,
        post.id,
        &content,
        Some(&edit.text),
        new_summary.as_deref(),
        new_summary.is_some(),
        &serde_json::to_string(&tags).map_err(anyhow::Error::from)?,
    )
    .await?;
    let mut targets = named_in(app, &updated).await?;
    targets.extend(named.into_iter().map(|(_, a)| a));
    let note = note::local_note(&updated, &author.ap_id, &app.urls, NoteCounts::default());
    let activity = update::build(&app.urls, &author, &note::with_context(note));
    delivery::queue_to_followers(&mut tx, &author, &activity, &named_inboxes(&targets)).await?;
    tx.commit().await?;
    app.served
        .changed(&updated.ap_id, updated.in_reply_to.as_deref());
    app.delivery_wakeup.notify_one();
    Ok(updated)
}

pub async fn delete(app: &App, id: &str) -> Result<PostRow> {
    let (post, author) = own_post(app, id).await?;
    let targets = named_in(app, &post).await?;
    let to: Value = serde_json::from_str(&post.to_json).unwrap_or_else(|_| json!([]));
    let cc: Value = serde_json::from_str(&post.cc_json).unwrap_or_else(|_| json!([]));
    let mut tx = app.db.begin_write().await?;
    posts::mark_deleted(&mut tx, post.id).await?;
    let activity = delete::build(&app.urls, &author, &post.ap_id, &to, &cc);
    delivery::queue_to_followers(&mut tx, &author, &activity, &named_inboxes(&targets)).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, post.in_reply_to.as_deref());
    app.delivery_wakeup.notify_one();
    Ok(post)
}

/// A post and its replies, as a tree, for `placard thread` and the HTML thread page.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadNode {
    pub id: String,
    pub author: String,
    pub author_name: String,
    pub published: String,
    pub content: String,
    pub summary: Option<String>,
    pub deleted: bool,
    pub likes: i64,
    pub shares: i64,
    pub replies: Vec<ThreadNode>,
}

/// The most posts a thread shows.
pub const MAX_THREAD: i64 = 2_000;

/// The thread a post belongs to, rooted at `id` (its replies at any depth). With `public_only`, replies that
/// are not public or unlisted are left out (with what hangs below them), as public pages must.
pub async fn thread(app: &App, id: &str, public_only: bool) -> Result<ThreadNode> {
    let root = posts::find_by_ap_id(&app.db, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no post {id} here")))?;
    let mut all = match &root.context {
        Some(c) => posts::in_context(&app.db, c, MAX_THREAD).await?,
        None => vec![root.clone()],
    };
    if public_only {
        all.retain(|p| p.id == root.id || matches!(p.visibility.as_str(), "public" | "unlisted"));
    }
    let mut authors = std::collections::HashMap::new();
    for p in &all {
        if let std::collections::hash_map::Entry::Vacant(e) = authors.entry(p.author_id)
            && let Some(a) = actors::find_by_id(&app.db, p.author_id).await?
        {
            e.insert(a);
        }
    }
    let mut counts = std::collections::HashMap::new();
    for p in &all {
        counts.insert(
            p.id,
            (
                interactions::count(&app.db, p.id, interactions::LIKE).await?,
                interactions::count(&app.db, p.id, interactions::ANNOUNCE).await?,
            ),
        );
    }
    fn build(
        p: &PostRow,
        all: &[PostRow],
        authors: &std::collections::HashMap<i64, ActorRow>,
        counts: &std::collections::HashMap<i64, (i64, i64)>,
        depth: usize,
    ) -> ThreadNode {
        let author = authors.get(&p.author_id);
        let (likes, shares) = counts.get(&p.id).copied().unwrap_or_default();
        ThreadNode {
            id: p.ap_id.clone(),
            author: author
                .map(|a| format!("@{}@{}", a.username, a.domain))
                .unwrap_or_default(),
            author_name: author.map(|a| a.display_name.clone()).unwrap_or_default(),
            published: crate::db::rfc3339(p.published_at),
            content: p.content.clone(),
            summary: p.summary.clone(),
            deleted: p.is_deleted(),
            likes,
            shares,
            replies: if depth > 200 {
                vec![]
            } else {
                all.iter()
                    .filter(|c| c.parent_id == Some(p.id) && c.id != p.id)
                    .map(|c| build(c, all, authors, counts, depth + 1))
                    .collect()
            },
        }
    }
    Ok(build(&root, &all, &authors, &counts, 0))
}
