//! Durability under load: an activity answered 2xx is committed before the answer. A real `placard serve` is
//! killed with SIGKILL while signed replies pour into its inbox; after a restart, every reply that was answered
//! 2xx is there. On both databases.

mod common;
#[path = "common/remote.rs"]
mod remote;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use remote::{FakeRemote, PostOptions};
use tokio::sync::Mutex;

const SENDERS: usize = 8;
const REPLIES: usize = 400;

async fn kill9_under_inbox_load_loses_no_accepted_activity(site: Site) {
    std::fs::write(
        &site.config_path,
        format!(
            "{}\n[federation]\nallow_private_addresses = true\n[limits]\ninbox_per_ip_per_minute = 0\ninbox_per_host_per_minute = 0\n",
            std::fs::read_to_string(&site.config_path).unwrap()
        ),
    )
    .unwrap();
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let post = site
        .cli_ok(&["post", "alice", "Tell us what happened"])
        .trim()
        .to_string();
    let remote = Arc::new(FakeRemote::start().await);
    for i in 0..SENDERS {
        remote.add_actor(&format!("s{i}"));
    }
    let mut server = site.serve().await;
    let inbox = site.url("/users/alice/inbox");
    // Pre-sign every request, so that the load is as fast as it can be.
    let mut requests = Vec::new();
    for i in 0..REPLIES {
        let actor = format!("s{}", i % SENDERS);
        let note = remote.note(&actor, &post, &format!("reply {i}"));
        let id = note["id"].as_str().unwrap().to_string();
        let body = serde_json::to_vec(&remote.create(&actor, note)).unwrap();
        let headers = remote.signed_headers(&actor, &inbox, &body, &PostOptions::default());
        requests.push((id, body, headers));
    }
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let http = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(requests));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (queue, accepted, http, inbox) =
            (queue.clone(), accepted.clone(), http.clone(), inbox.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((id, body, headers)) = queue.lock().await.pop() else {
                    break;
                };
                let mut req = http.post(&inbox).body(body);
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => accepted.lock().await.push(id),
                    Ok(r) => panic!("refused: {} {:?}", r.status(), r.text().await),
                    Err(_) => {} // the server died under this request: no promise was made
                }
            }
        }));
    }
    // Kill it in the middle of the load.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while accepted.lock().await.len() < REPLIES / 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the load did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = accepted.lock().await.clone();
    assert!(
        accepted.len() >= REPLIES / 4 && accepted.len() < REPLIES,
        "killed mid-way: {}",
        accepted.len()
    );
    // Restart (crash recovery on both databases) and check every accepted reply is stored, once.
    let _server = site.serve().await;
    let thread: serde_json::Value =
        serde_json::from_str(&site.cli_ok(&["thread", &post, "--json"])).unwrap();
    let stored: Vec<String> = thread["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let mut unique = stored.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), stored.len(), "a reply stored twice");
    let missing: Vec<&String> = accepted.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} replies answered 2xx are lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    // And the node still takes new ones.
    let note = remote.note("s0", &post, "after the restart");
    let r = remote
        .sign_and_post("s0", &inbox, &remote.create("s0", note))
        .await;
    assert_eq!(r.status(), 202);
}

on_both_databases!(kill9_under_inbox_load_loses_no_accepted_activity);
