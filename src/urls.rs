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
