//! Scale-out: two `placard serve` processes on one database share the delivery queue, and every delivery is
//! sent exactly once.

mod common;
#[path = "common/remote.rs"]
mod remote;

use std::time::{Duration, Instant};

use common::*;
use remote::FakeRemote;

const REMOTES: usize = 4;
const FOLLOWERS_PER_REMOTE: usize = 25;
const POSTS: usize = 3;

async fn two_processes_send_each_delivery_once(site: Site) {
    std::fs::write(
        &site.config_path,
        format!(
            "{}\n[federation]\nallow_private_addresses = true\n[delivery]\nworkers = 8\nper_host = 4\nbackoff_seconds = 1\n",
            std::fs::read_to_string(&site.config_path).unwrap()
        ),
    )
    .unwrap();
    site.cli_ok(&["actor", "create", "alice", "--kind", "organization"]);
    // 100 followers on 4 remote hosts, each with its own inbox (no shared inbox), inserted directly.
    let db = site.db().await;
    let remotes: Vec<FakeRemote> = futures_join(REMOTES).await;
    let now = chrono_now();
    for r in &remotes {
        for i in 0..FOLLOWERS_PER_REMOTE {
            let name = format!("f{i}");
            let id = r.actor_url(&name);
            sqlx::query(
                "INSERT INTO actors (ap_id, local, kind, username, username_lower, domain, inbox_url, public_key_id, \
                 public_key_pem, created_at, updated_at) VALUES ($1, 0, 'Person', $2, $3, $4, $5, $6, 'x', $7, $8)",
            )
            .bind(&id)
            .bind(&name)
            .bind(&name)
            .bind(r.host())
            .bind(r.url(&r.inbox_path(&name)))
            .bind(format!("{id}#main-key"))
            .bind(now)
            .bind(now)
            .execute(&db)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO follows (follower_id, followee_id, accepted, created_at) \
                 SELECT f.id, a.id, 1, $1 FROM actors f, actors a WHERE f.ap_id = $2 AND a.username = 'alice'",
            )
            .bind(now)
            .bind(&id)
            .execute(&db)
            .await
            .unwrap();
        }
    }
    // Queue the posts first, then start both processes at once so they compete for the same rows.
    let mut posts = Vec::new();
    for i in 0..POSTS {
        posts.push(
            site.cli_ok(&["post", "alice", &format!("Announcement {i}")])
                .trim()
                .to_string(),
        );
    }
    let second_port = free_port().to_string();
    let listen = format!("127.0.0.1:{second_port}");
    let env_second = [("PLACARD_LISTEN", listen.as_str())];
    let (first, second) =
        tokio::join!(Server::start(&site, &[]), Server::start(&site, &env_second));
    let expected = REMOTES * FOLLOWERS_PER_REMOTE * POSTS;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: usize = remotes.iter().map(|r| r.received().len()).sum();
        if got >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {got} of {expected} deliveries arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let any duplicate that would come, come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for r in &remotes {
        for i in 0..FOLLOWERS_PER_REMOTE {
            let path = r.inbox_path(&format!("f{i}"));
            let creates = r.received_of(&path, "Create");
            assert_eq!(creates.len(), POSTS, "{path} on {}", r.host());
            let mut ids: Vec<String> = creates
                .iter()
                .map(|c| c.json()["object"]["id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            let mut want = posts.clone();
            want.sort();
            assert_eq!(ids, want, "each post exactly once at {path}");
        }
    }
    let total: usize = remotes.iter().map(|r| r.received().len()).sum();
    assert_eq!(total, expected, "no duplicates");
    let stats: serde_json::Value =
        serde_json::from_str(&site.cli_ok(&["deliveries", "--json"])).unwrap();
    let delivered: i64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["delivered"].as_i64().unwrap())
        .sum();
    assert_eq!(delivered as usize, expected);
    drop(first);
    drop(second);
}

async fn futures_join(n: usize) -> Vec<FakeRemote> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = FakeRemote::start_with(false).await;
        for i in 0..FOLLOWERS_PER_REMOTE {
            r.add_actor(&format!("f{i}"));
        }
        out.push(r);
    }
    out
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

on_both_databases!(two_processes_send_each_delivery_once);
