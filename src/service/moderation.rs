//! Moderation: blocking domains (nothing accepted from, fetched from or delivered to them; their follows
//! dropped) and removing a remote post from a thread.

use serde::Serialize;

use crate::App;
use crate::db::{blocks, posts, rfc3339};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct BlockView {
    pub domain: String,
    pub reason: Option<String>,
    pub since: String,
}

/// A domain as given by an admin, checked and made canonical: `example.com`, `sub.example.com`, or `host:port`.
pub fn parse_domain(input: &str) -> Result<String> {
    let d = input.trim();
    let d = d
        .strip_prefix("https://")
        .or_else(|| d.strip_prefix("http://"))
        .unwrap_or(d)
        .trim_end_matches('/');
    if d.is_empty() || d.contains(['/', '?', '#', '@', ' ']) {
        return Err(Error::unprocessable(format!(
            "{input:?} is not a domain (like spam.example)"
        )));
    }
    let canonical = blocks::canonical_host(d);
    let host = canonical
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(&canonical);
    if url::Host::parse(host).is_err() {
        return Err(Error::unprocessable(format!(
            "{input:?} is not a valid host name"
        )));
    }
    Ok(canonical)
}

/// Blocks a domain; returns the canonical domain and how many follows were dropped.
pub async fn block(app: &App, domain: &str, reason: Option<&str>) -> Result<(String, u64)> {
    let d = parse_domain(domain)?;
    if blocks::covers(&d, &blocks::canonical_host(app.urls.domain())) {
        return Err(Error::unprocessable(
            "this node's own domain cannot be blocked",
        ));
    }
    if !blocks::add(&app.db, &d, reason.map(str::trim).filter(|r| !r.is_empty())).await? {
        return Err(Error::conflict(format!("{d} is already blocked")));
    }
    app.blocks_changed();
    let dropped = blocks::apply(&app.db, &d).await?;
    Ok((d, dropped))
}

pub async fn unblock(app: &App, domain: &str) -> Result<String> {
    let d = parse_domain(domain)?;
    if !blocks::remove(&app.db, &d).await? {
        return Err(Error::not_found(format!("{d} is not blocked")));
    }
    app.blocks_changed();
    Ok(d)
}

pub async fn list(app: &App) -> Result<Vec<BlockView>> {
    Ok(blocks::list(&app.db)
        .await?
        .into_iter()
        .map(|(domain, reason, at)| BlockView {
            domain,
            reason,
            since: rfc3339(at),
        })
        .collect())
}

/// Removes a remote post (a reply, say) from its thread: it shows as removed, its replies keep their place.
pub async fn remove_post(app: &App, id: &str) -> Result<String> {
    let post = posts::find_by_ap_id(&app.db, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no post {id} here")))?;
    if post.local != 0 {
        return Err(Error::unprocessable(format!(
            "{id} is a local post: delete it with `placard delete-post` (which tells other servers)"
        )));
    }
    if post.is_deleted() {
        return Err(Error::conflict(format!("{id} is already removed")));
    }
    let mut tx = app.db.begin_write().await?;
    posts::mark_deleted(&mut tx, post.id).await?;
    tx.commit().await?;
    app.served.changed(&post.ap_id, post.in_reply_to.as_deref());
    Ok(post.ap_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_and_canonical() {
        assert_eq!(parse_domain("Spam.Example.").unwrap(), "spam.example");
        assert_eq!(
            parse_domain("https://spam.example/").unwrap(),
            "spam.example"
        );
        assert_eq!(parse_domain("localhost:8082").unwrap(), "localhost:8082");
        for bad in ["", "a/b", "user@spam.example", "spam example", "http://"] {
            assert!(parse_domain(bad).is_err(), "{bad:?}");
        }
    }
}
