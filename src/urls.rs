//! The only place that builds ids and paths of local things. Everything else asks here.

use crate::config::Config;

#[derive(Debug, Clone)]
pub struct Urls {
    origin: String,
    domain: String,
}

impl Urls {
    pub fn new(config: &Config) -> Urls {
        Urls {
            origin: config.origin(),
            domain: config.domain(),
        }
    }

    /// `http://localhost:8080`, no trailing slash.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// `localhost:8080` — the part after the `@` in handles.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn actor(&self, username: &str) -> String {
        format!("{}/users/{username}", self.origin)
    }
    pub fn actor_key(&self, username: &str) -> String {
        format!("{}#main-key", self.actor(username))
    }
    pub fn inbox(&self, username: &str) -> String {
        format!("{}/inbox", self.actor(username))
    }
    pub fn outbox(&self, username: &str) -> String {
        format!("{}/outbox", self.actor(username))
    }
    pub fn followers(&self, username: &str) -> String {
        format!("{}/followers", self.actor(username))
    }
    pub fn following(&self, username: &str) -> String {
        format!("{}/following", self.actor(username))
    }
    pub fn featured(&self, username: &str) -> String {
        format!("{}/collections/featured", self.actor(username))
    }
    /// The HTML profile page (the actor's `url`).
    pub fn profile(&self, username: &str) -> String {
        format!("{}/@{username}", self.origin)
    }
    pub fn shared_inbox(&self) -> String {
        format!("{}/inbox", self.origin)
    }
    pub fn handle(&self, username: &str) -> String {
        format!("{username}@{}", self.domain)
    }
    pub fn webfinger_template(&self) -> String {
        format!("{}/.well-known/webfinger?resource={{uri}}", self.origin)
    }
    pub fn nodeinfo(&self, version: &str) -> String {
        format!("{}/nodeinfo/{version}", self.origin)
    }
    /// A local post's id: `/posts/TOKEN`.
    pub fn post(&self, token: &str) -> String {
        format!("{}/posts/{token}", self.origin)
    }
    /// A local event's id: `/events/TOKEN`.
    pub fn event(&self, token: &str) -> String {
        format!("{}/events/{token}", self.origin)
    }
    /// An iCalendar feed of an actor's upcoming events.
    pub fn actor_calendar(&self, username: &str) -> String {
        format!("{}/events.ics", self.actor(username))
    }
    /// The Atom feed of an actor's posts and events.
    pub fn actor_feed(&self, username: &str) -> String {
        format!("{}/feed.atom", self.actor(username))
    }
    /// The token of one of our post ids.
    pub fn post_token<'a>(&self, id: &'a str) -> Option<&'a str> {
        let token = id.strip_prefix(&self.origin)?.strip_prefix("/posts/")?;
        (!token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(token)
    }
    /// Collections of a post, built on its id.
    pub fn replies(&self, post_id: &str) -> String {
        format!("{post_id}/replies")
    }
    pub fn likes(&self, post_id: &str) -> String {
        format!("{post_id}/likes")
    }
    pub fn shares(&self, post_id: &str) -> String {
        format!("{post_id}/shares")
    }
    /// The thread (FEP-7888 `context`) that starts at one of our posts.
    pub fn context(&self, root_post_id: &str) -> String {
        format!("{root_post_id}/context")
    }
    /// An activity we send: `/activities/TOKEN`.
    pub fn activity(&self, token: &str) -> String {
        format!("{}/activities/{token}", self.origin)
    }
    /// A hashtag's page.
    pub fn tag(&self, name: &str) -> String {
        format!("{}/tags/{name}", self.origin)
    }
    /// The instance actor, which signs our fetches.
    pub fn instance_actor(&self) -> String {
        format!("{}/actor", self.origin)
    }
    pub fn instance_key(&self) -> String {
        format!("{}/actor#main-key", self.origin)
    }
    /// Whether a URL is on this node.
    pub fn is_local(&self, url: &str) -> bool {
        url.strip_prefix(&self.origin)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// A page of a paged collection.
    pub fn page(&self, collection: &str, page: i64) -> String {
        format!("{collection}?page={page}")
    }

    /// The username if `url` is one of our actor ids or profile pages.
    pub fn username_of(&self, url: &str) -> Option<String> {
        let rest = url.strip_prefix(&self.origin)?;
        let name = rest
            .strip_prefix("/users/")
            .or_else(|| rest.strip_prefix("/@"))?;
        (!name.is_empty() && !name.contains(['/', '?', '#'])).then(|| name.to_string())
    }
}

/// A new token for ids: time-ordered (milliseconds, then 20 random bits), in base 36.
pub fn new_token() -> String {
    let ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let mut r = [0u8; 4];
    aws_lc_rs::rand::fill(&mut r).expect("system randomness");
    let n = (ms << 20) | (u32::from_le_bytes(r) as u64 & 0xf_ffff);
    let mut digits = Vec::new();
    let mut x = n;
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(x % 36) as usize]);
        x /= 36;
        if x == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("ascii")
}
