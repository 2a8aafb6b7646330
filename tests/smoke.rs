mod common;

use common::*;

async fn create_then_fetch(site: Site) {
    let id = site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    assert_eq!(id.trim(), site.url("/users/alice"));
    let server = site.serve().await;
    let doc = server.get_json("/users/alice", AP).await;
    assert_eq!(doc["id"], site.url("/users/alice"));
}

on_both_databases!(create_then_fetch);
