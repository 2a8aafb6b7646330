//! Host health: a host failing for 7 days is marked unavailable and gets no more deliveries; one success
//! clears it. On both databases, through the library against the site's database.

mod common;
#[path = "common/remote.rs"]
mod remote;

use common::*;
use placard::db::{Db, hosts, now_ms};

async fn db_of(site: &Site) -> Db {
    let db = Db::connect(&site.database_url, 2).await.unwrap();
    db.migrate().await.unwrap();
    db
}

async fn unavailable_after_seven_days_cleared_by_one_success(site: Site) {
    let db = db_of(&site).await;
    let host = "dead.example";
    // Failing for a day: not yet unavailable.
    hosts::record_failure(&db, host, "connection refused")
        .await
        .unwrap();
    assert!(!hosts::is_unavailable(&db, host).await.unwrap());
    sqlx::query("UPDATE hosts SET failing_since = $1 WHERE host = $2")
        .bind(now_ms() - 24 * 3_600_000)
        .bind(host)
        .execute(&db.pool)
        .await
        .unwrap();
    hosts::record_failure(&db, host, "connection refused")
        .await
        .unwrap();
    assert!(!hosts::is_unavailable(&db, host).await.unwrap());
    // Failing since more than 7 days: the next failure marks it unavailable.
    sqlx::query("UPDATE hosts SET failing_since = $1 WHERE host = $2")
        .bind(now_ms() - hosts::UNAVAILABLE_AFTER_MS - 60_000)
        .bind(host)
        .execute(&db.pool)
        .await
        .unwrap();
    hosts::record_failure(&db, host, "connection refused")
        .await
        .unwrap();
    assert!(hosts::is_unavailable(&db, host).await.unwrap());
    // Other hosts are not affected.
    assert!(!hosts::is_unavailable(&db, "alive.example").await.unwrap());
    // One success clears it, and failing starts again from zero.
    hosts::record_success(&db, host).await.unwrap();
    assert!(!hosts::is_unavailable(&db, host).await.unwrap());
    hosts::record_failure(&db, host, "timeout").await.unwrap();
    assert!(!hosts::is_unavailable(&db, host).await.unwrap());
    let since: i64 = sqlx::query_scalar("SELECT failing_since FROM hosts WHERE host = $1")
        .bind(host)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(now_ms() - since < 60_000, "failing_since restarted");
}

/// A delivery to an unavailable host is given up without contacting it.
async fn no_delivery_to_an_unavailable_host(site: Site) {
    let site = site;
    std::fs::write(
        &site.config_path,
        format!(
            "{}\n[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\n",
            std::fs::read_to_string(&site.config_path).unwrap()
        ),
    )
    .unwrap();
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let db = db_of(&site).await;
    // A follower on a "host" nobody listens on, marked unavailable.
    let port = free_port();
    let host = format!("localhost:{port}");
    sqlx::query(
        "INSERT INTO actors (ap_id, local, kind, username, username_lower, domain, inbox_url, public_key_id, \
         public_key_pem, created_at, updated_at) VALUES ($1, 0, 'Person', 'gone', 'gone', $2, $3, $4, 'x', $5, $6)",
    )
    .bind(format!("http://{host}/users/gone"))
    .bind(&host)
    .bind(format!("http://{host}/users/gone/inbox"))
    .bind(format!("http://{host}/users/gone#main-key"))
    .bind(now_ms())
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO follows (follower_id, followee_id, accepted, created_at) \
         SELECT g.id, a.id, 1, $1 FROM actors g, actors a WHERE g.username = 'gone' AND a.username = 'alice'",
    )
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO hosts (host, failing_since, unavailable_since) VALUES ($1, $2, $3)")
        .bind(&host)
        .bind(now_ms() - 8 * 24 * 3_600_000)
        .bind(now_ms())
        .execute(&db.pool)
        .await
        .unwrap();
    site.cli_ok(&["post", "alice", "Anyone there?"]);
    let _server = site.serve().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let out = site.cli_ok(&["deliveries", "--json"]);
        let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
        let row = stats
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["host"] == host.as_str())
            .cloned();
        if let Some(r) = row
            && r["failed"] == 1
        {
            assert_eq!(r["pending"], 0);
            assert_eq!(r["delivered"], 0);
            assert!(
                r["last_error"].as_str().unwrap().contains("unavailable"),
                "{r}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not given up: {out}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A follower whose inbox answers 410 Gone is removed; a follower on a healthy host is not.
async fn a_gone_follower_is_removed(site: Site) {
    std::fs::write(
        &site.config_path,
        format!(
            "{}\n[federation]\nallow_private_addresses = true\n[delivery]\nbackoff_seconds = 1\n",
            std::fs::read_to_string(&site.config_path).unwrap()
        ),
    )
    .unwrap();
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let _server = site.serve().await;
    let gone = remote::FakeRemote::start_with(false).await;
    let alive = remote::FakeRemote::start_with(false).await;
    gone.add_actor("ghost");
    alive.add_actor("reader");
    for (r, name) in [(&gone, "ghost"), (&alive, "reader")] {
        let follow = r.follow(name, &site.url("/users/alice"));
        let res = r
            .sign_and_post(name, &site.url("/users/alice/inbox"), &follow)
            .await;
        assert_eq!(res.status(), 202);
    }
    let followers = |site: &Site| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&site.cli_ok(&["followers", "alice", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(followers(&site).len(), 2);
    gone.set_reply(&gone.inbox_path("ghost"), remote::Reply::status(410));
    site.cli_ok(&["post", "alice", "Still there?"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while followers(&site).len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the gone follower was not removed: {:?}",
            followers(&site)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(followers(&site), vec![alive.actor_url("reader")]);
    alive
        .wait_for_n(
            &alive.inbox_path("reader"),
            "Create",
            1,
            std::time::Duration::from_secs(15),
        )
        .await;
}

on_both_databases!(
    unavailable_after_seven_days_cleared_by_one_success,
    no_delivery_to_an_unavailable_host,
    a_gone_follower_is_removed
);
