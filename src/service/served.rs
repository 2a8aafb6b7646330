//! The serialized documents of the hottest read routes, kept in memory for [`SERVED_TTL`]: a local post's
//! (or event's) ActivityStreams JSON, by its id, and the pages of a local actor's outbox.
//!
//! Every change this process makes to what they show — a post written, edited or deleted, a reply, like,
//! boost or participation stored or taken back, an actor changed — calls [`Served::changed`] (or
//! [`Served::clear`]) after it commits and before it answers, so this process never serves a copy older than
//! its own writes. A change made by another process (the command line, a second `placard serve`) is seen
//! within the TTL, as for the local actors (`service::actors::LOCAL_ACTORS_TTL`).
//!
//! A copy built from reads that a change overtook is never served: every change advances a generation,
//! a post's copy is dropped again when the generation moved while it was built, and an outbox page is served
//! only while the generation it was built at is the current one (any change may move a post into or out of a
//! page, or change its counts, so outbox pages are not tracked one by one).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use moka::sync::Cache;

/// How long a serialized document is served from memory.
pub const SERVED_TTL: Duration = Duration::from_secs(1);

/// At most this many bytes of documents are kept (the outbox's first page is about 31 KB).
const MAX_BYTES: u64 = 4 << 20;

pub struct Served {
    generation: AtomicU64,
    /// A local post's JSON (with `@context`), by its id.
    posts: Cache<String, Bytes>,
    /// Outbox documents by (author id, page; 0 = the collection), with the generation they were built at.
    outboxes: Cache<(i64, i64), (u64, Bytes)>,
}

impl Default for Served {
    fn default() -> Self {
        Served {
            generation: AtomicU64::new(0),
            posts: Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|k: &String, v: &Bytes| (k.len() + v.len()).try_into().unwrap_or(u32::MAX))
                .time_to_live(SERVED_TTL)
                .build(),
            outboxes: Cache::builder()
                .max_capacity(MAX_BYTES)
                .weigher(|_, v: &(u64, Bytes)| v.1.len().try_into().unwrap_or(u32::MAX))
                .time_to_live(SERVED_TTL)
                .build(),
        }
    }
}

/// Where a read began: pass it back with what it built.
#[derive(Clone, Copy)]
pub struct Generation(u64);

impl Served {
    /// Take before reading what a document is built from.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::SeqCst))
    }

    pub fn post(&self, ap_id: &str) -> Option<Bytes> {
        self.posts.get(ap_id)
    }

    pub fn put_post(&self, ap_id: &str, built_at: Generation, body: Bytes) {
        self.posts.insert(ap_id.to_string(), body);
        // A change that committed while this was built has moved the generation: its own `changed` may have
        // run before the insert above, so the copy is dropped here.
        if self.generation.load(Ordering::SeqCst) != built_at.0 {
            self.posts.invalidate(ap_id);
        }
    }

    pub fn outbox(&self, author_id: i64, page: i64) -> Option<Bytes> {
        let (built_at, body) = self.outboxes.get(&(author_id, page))?;
        (built_at == self.generation.load(Ordering::SeqCst)).then_some(body)
    }

    pub fn put_outbox(&self, author_id: i64, page: i64, built_at: Generation, body: Bytes) {
        self.outboxes.insert((author_id, page), (built_at.0, body));
    }

    /// A post changed, or its replies, likes or shares did: its copy, its parent's (whose reply count may
    /// have changed) and every outbox page are dropped.
    pub fn changed(&self, ap_id: &str, in_reply_to: Option<&str>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.posts.invalidate(ap_id);
        if let Some(parent) = in_reply_to {
            self.posts.invalidate(parent);
        }
    }

    /// Something many documents show changed (an actor deleted or suspended, say): everything is dropped.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.posts.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_drops_the_post_its_parent_and_the_outbox() {
        let s = Served::default();
        let g = s.generation();
        s.put_post("p", g, Bytes::from_static(b"p"));
        s.put_post("parent", g, Bytes::from_static(b"parent"));
        s.put_post("other", g, Bytes::from_static(b"other"));
        s.put_outbox(1, 1, g, Bytes::from_static(b"page"));
        assert_eq!(s.post("p").as_deref(), Some(&b"p"[..]));
        assert_eq!(s.outbox(1, 1).as_deref(), Some(&b"page"[..]));
        s.changed("p", Some("parent"));
        assert!(s.post("p").is_none());
        assert!(s.post("parent").is_none());
        assert_eq!(s.post("other").as_deref(), Some(&b"other"[..]));
        assert!(s.outbox(1, 1).is_none());
        s.clear();
        assert!(s.post("other").is_none());
    }

    #[test]
    fn a_copy_built_across_a_change_is_not_kept() {
        let s = Served::default();
        let before = s.generation();
        // A change commits while the documents are being built from reads made before it.
        s.changed("p", None);
        s.put_post("p", before, Bytes::from_static(b"stale"));
        s.put_outbox(1, 1, before, Bytes::from_static(b"stale"));
        assert!(s.post("p").is_none());
        assert!(s.outbox(1, 1).is_none());
        // Built after the change: kept.
        let after = s.generation();
        s.put_post("p", after, Bytes::from_static(b"fresh"));
        s.put_outbox(1, 1, after, Bytes::from_static(b"fresh"));
        assert_eq!(s.post("p").as_deref(), Some(&b"fresh"[..]));
        assert_eq!(s.outbox(1, 1).as_deref(), Some(&b"fresh"[..]));
    }
}
