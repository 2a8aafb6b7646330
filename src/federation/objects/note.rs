//! The `Note`: the wire form of our posts, and what we read from remote ones.

use serde_json::{Value, json};

use crate::db::posts::PostRow;
use crate::db::rfc3339;
use crate::federation::protocol::{self, first_id, ids_of, str_prop, text_prop};
use crate::urls::Urls;

/// The JSON-LD context of notes: ActivityStreams plus the terms Mastodon adds.
pub fn note_context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        {
            "sensitive": "as:sensitive",
            "Hashtag": "as:Hashtag",
            "toot": "http://joinmastodon.org/ns#",
            "conversation": "ostatus:conversation",
            "ostatus": "http://ostatus.org#"
        }
    ])
}

/// Counts shown on a note.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoteCounts {
    pub replies: i64,
    pub likes: i64,
    pub shares: i64,
}

fn parse_list(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|_| json!([]))
}

/// The `Note` of one of our posts (without `@context`; see [`with_context`]).
pub fn local_note(post: &PostRow, author_ap_id: &str, urls: &Urls, counts: NoteCounts) -> Value {
    let id = &post.ap_id;
    let mut note = json!({
        "id": id,
        "type": "Note",
        "attributedTo": author_ap_id,
        "content": post.content,
        "published": rfc3339(post.published_at),
        "url": post.url.clone().unwrap_or_else(|| id.clone()),
        "to": parse_list(&post.to_json),
        "cc": parse_list(&post.cc_json),
        "sensitive": post.sensitive != 0,
        "summary": post.summary,
        "inReplyTo": post.in_reply_to,
        "tag": parse_list(&post.tags_json),
        "attachment": parse_list(&post.attachments_json),
        "replies": {
            "id": urls.replies(id),
            "type": "OrderedCollection",
            "totalItems": counts.replies,
            "first": urls.page(&urls.replies(id), 1),
        },
        "likes": {"id": urls.likes(id), "type": "Collection", "totalItems": counts.likes},
        "shares": {"id": urls.shares(id), "type": "Collection", "totalItems": counts.shares},
    });
    if let Some(ctx) = &post.context {
        note["context"] = json!(ctx);
        note["conversation"] = json!(ctx);
    }
    if let Some(src) = &post.source {
        note["source"] = json!({"content": src, "mediaType": "text/plain"});
    }
    if let Some(updated) = post.updated_at {
        note["updated"] = json!(rfc3339(updated));
    }
    note
}

/// A document with the note context added in front.
pub fn with_context(mut doc: Value) -> Value {
    if let Value::Object(map) = &mut doc {
        let mut out = serde_json::Map::with_capacity(map.len() + 1);
        out.insert("@context".into(), note_context());
        out.append(map);
        return Value::Object(out);
    }
    doc
}

/// The object types we store as posts.
pub const POST_TYPES: &[&str] = &["Note", "Article", "Page", "Question"];

/// A remote note as we read it: only what we store, normalized.
#[derive(Debug, Clone)]
pub struct NoteIn {
    pub id: String,
    pub kind: String,
    pub attributed_to: String,
    /// The HTML as sent (not yet sanitized).
    pub content: String,
    pub name: Option<String>,
    pub summary: Option<String>,
    pub sensitive: bool,
    pub in_reply_to: Option<String>,
    pub context: Option<String>,
    pub url: Option<String>,
    pub published: Option<i64>,
    pub updated: Option<i64>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub tags: Vec<Value>,
    pub attachments: Vec<Value>,
}

impl NoteIn {
    /// Reads a remote post object. Errors name what is missing.
    pub fn parse(v: &Value) -> Result<NoteIn, String> {
        let id = protocol::own_id(v)
            .ok_or("the object has no usable id")?
            .to_string();
        let kind = protocol::type_of(v)
            .ok_or("the object has no type")?
            .to_string();
        // Lemmy and others may send several; the first actor is the author.
        let attributed_to = ids_of(v.get("attributedTo"))
            .into_iter()
            .next()
            .ok_or("the object has no attributedTo")?;
        let time = |k: &str| {
            str_prop(v, k)
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_millis())
        };
        let list = |k: &str| match v.get(k) {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => vec![],
            Some(one) => vec![one.clone()],
        };
        Ok(NoteIn {
            id,
            kind,
            attributed_to,
            content: text_prop(v, "content").unwrap_or_default(),
            name: text_prop(v, "name"),
            summary: text_prop(v, "summary").filter(|s| !s.is_empty()),
            sensitive: v.get("sensitive").and_then(Value::as_bool).unwrap_or(false),
            in_reply_to: first_id(v.get("inReplyTo")),
            context: first_id(v.get("context")).or_else(|| first_id(v.get("conversation"))),
            url: first_id(v.get("url")),
            published: time("published"),
            updated: time("updated"),
            to: ids_of(v.get("to")),
            cc: ids_of(v.get("cc")),
            tags: list("tag"),
            attachments: list("attachment"),
        })
    }

    /// Public, unlisted, followers-only or direct, from the addressing.
    pub fn visibility(&self) -> &'static str {
        if self.to.iter().any(|t| protocol::is_public(t)) {
            "public"
        } else if self.cc.iter().any(|t| protocol::is_public(t)) {
            "unlisted"
        } else if self
            .to
            .iter()
            .chain(&self.cc)
            .any(|t| t.ends_with("/followers"))
        {
            "followers"
        } else {
            "direct"
        }
    }

    /// Ids of the actors this note mentions (tags of type Mention).
    pub fn mentions(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter(|t| protocol::has_type(t, "Mention"))
            .filter_map(|t| str_prop(t, "href").map(str::to_string))
            .collect()
    }
}
