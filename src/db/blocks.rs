//! The `domain_blocks` table. A block of `example.com` covers its subdomains and every port; a block of
//! `host:port` covers only that port (for peers on one machine).

use super::{Db, now_ms};
use crate::error::Result;

/// A host as blocks compare it: lowercase, without a trailing dot, IDNA in ASCII form.
pub fn canonical_host(host: &str) -> String {
    let (h, port) = match host.rsplit_once(':') {
        Some((h, p))
            if !h.contains(']') && p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() =>
        {
            (h, Some(p))
        }
        _ => (host, None),
    };
    let h = h.trim_end_matches('.').to_lowercase();
    let h = url::Host::parse(&h).map(|x| x.to_string()).unwrap_or(h);
    match port {
        Some(p) => format!("{h}:{p}"),
        None => h,
    }
}

/// Whether `block` (as stored) covers `host` (`host` or `host:port`, canonical).
pub fn covers(block: &str, host: &str) -> bool {
    if block.contains(':') {
        return block == host;
    }
    let bare = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    bare == block || bare.ends_with(&format!(".{block}"))
}

pub async fn add(db: &Db, domain: &str, reason: Option<&str>) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO domain_blocks (domain, reason, created_at) VALUES ($1, $2, $3) ON CONFLICT (domain) DO NOTHING",
    )
    .bind(domain)
    .bind(reason)
    .bind(now_ms())
    .execute(&db.pool)
    .await?
    .rows_affected()
        > 0)
}

pub async fn remove(db: &Db, domain: &str) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM domain_blocks WHERE domain = $1")
        .bind(domain)
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

/// (domain, reason, created_at), alphabetically.
pub async fn list(db: &Db) -> Result<Vec<(String, Option<String>, i64)>> {
    Ok(sqlx::query_as::<_, (String, Option<String>, i64)>(
        "SELECT domain, reason, created_at FROM domain_blocks ORDER BY domain",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// Every blocked domain.
pub async fn all(db: &Db) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar::<_, String>("SELECT domain FROM domain_blocks")
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Drops every follow between local actors and actors of hosts the block covers, and gives up the deliveries
/// still queued to those hosts. Returns the number of follows dropped.
pub async fn apply(db: &Db, domain: &str) -> Result<u64> {
    let actors: Vec<(i64, String)> =
        sqlx::query_as::<_, (i64, String)>("SELECT id, domain FROM actors WHERE local = 0")
            .fetch_all(&db.pool)
            .await?;
    let mut n = 0;
    for (id, _) in actors
        .into_iter()
        .filter(|(_, h)| covers(domain, &canonical_host(h)))
    {
        n += sqlx::query("DELETE FROM follows WHERE follower_id = $1 OR followee_id = $2")
            .bind(id)
            .bind(id)
            .execute(&db.pool)
            .await?
            .rows_affected();
    }
    let hosts: Vec<String> = sqlx::query_scalar::<_, String>(
        "SELECT DISTINCT host FROM deliveries WHERE state = 'pending'",
    )
    .fetch_all(&db.pool)
    .await?;
    for host in hosts
        .into_iter()
        .filter(|h| covers(domain, &canonical_host(h)))
    {
        sqlx::query(
            "UPDATE deliveries SET state = 'failed', last_error = 'the domain is blocked', done_at = $1 \
             WHERE state = 'pending' AND host = $2",
        )
        .bind(now_ms())
        .bind(&host)
        .execute(&db.pool)
        .await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_and_coverage() {
        assert_eq!(canonical_host("Evil.Example."), "evil.example");
        assert_eq!(canonical_host("EVIL.example:8080"), "evil.example:8080");
        assert_eq!(canonical_host("bücher.example"), "xn--bcher-kva.example");
        assert!(covers("evil.example", "evil.example"));
        assert!(covers("evil.example", "sub.evil.example:443"));
        assert!(!covers("evil.example", "notevil.example"));
        assert!(!covers("evil.example", "evil.example.com"));
        assert!(covers("localhost:8082", "localhost:8082"));
        assert!(!covers("localhost:8082", "localhost:8081"));
    }
}
