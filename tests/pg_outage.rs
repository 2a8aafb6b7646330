//! A lost PostgreSQL connection answers 503, never 500, and the node recovers by itself. Every connection of
//! the test's own database is cut (pg_terminate_backend) while requests run.

mod common;

use std::time::Duration;

use common::*;
use sqlx::Connection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_database_connections_are_503_then_recover() {
    let Some(site) = Site::new(Backend::Postgres).await else {
        return;
    };
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let server = site.serve().await;
    let db_name = url::Url::parse(&site.database_url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for round in 0..5 {
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&db_name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(
            round > 0 || !cut.is_empty(),
            "the server had connections to cut"
        );
        for _ in 0..10 {
            statuses.push(server.get("/users/alice", AP).await.status().as_u16());
            statuses.push(
                server
                    .get("/.well-known/nodeinfo", "application/json")
                    .await
                    .status()
                    .as_u16(),
            );
        }
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 200 or 503 while connections are cut: {statuses:?}"
    );
    // The database refuses connections for a while: answers are 503 with a JSON error, never 500.
    sqlx::query(&format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db_name)
        .execute(&mut admin)
        .await
        .unwrap();
    // The followers collection reads the database at every request. (The actor document may be served from
    // memory for up to a second: that is 200 or 503, never 500.)
    let mut down = Vec::new();
    for _ in 0..5 {
        let r = server.get("/users/alice/followers", AP).await;
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        down.push((status, body));
        let actor = server.get("/users/alice", AP).await.status().as_u16();
        assert!(actor == 200 || actor == 503, "the actor document: {actor}");
    }
    sqlx::query(&format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    assert!(
        down.iter()
            .all(|(s, b)| *s == 503 && b["error"].as_str().is_some_and(|e| e.contains("database"))),
        "503 with a JSON error while the database is away: {down:?}\n{}",
        server
            .log()
            .lines()
            .filter(|l| l.contains("ERROR"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Afterwards everything works again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        assert_eq!(server.get("/users/alice", AP).await.status(), 200);
    }
    site.cli_ok(&["actor", "create", "bob", "--kind", "person"]);
    assert_eq!(server.get("/users/bob", AP).await.status(), 200);
}
