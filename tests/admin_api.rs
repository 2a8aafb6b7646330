//! The JSON admin API under `/api/admin/`: creating, listing, showing, changing, suspending, deleting local
//! actors and rotating their keys, its validation, its authorization, what happens when it is off, and that the
//! command line and the API work on the same data. Every test runs a real `placard serve` on both databases.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

/// Sends a request and returns its status and its body as JSON (panicking, with the body, if it is not JSON).
async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let text = res.text().await.expect("body read");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text:?}"));
    (status, body)
}

/// Asserts that an answer is the JSON error `{"error": "…"}` with `status`, whose message contains every one
/// of `needles` (ignoring case).
fn assert_error(what: &str, got: &(StatusCode, Value), status: StatusCode, needles: &[&str]) {
    let (got_status, body) = got;
    assert_eq!(*got_status, status, "{what}: wrong status, body {body}");
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no \"error\" string in {body}"));
    assert!(!message.is_empty(), "{what}: empty error message");
    for needle in needles {
        assert!(
            message.to_lowercase().contains(&needle.to_lowercase()),
            "{what}: error message {message:?} does not mention {needle:?}"
        );
    }
}

/// `POST /api/admin/actors` with a JSON body.
fn create_req(server: &Server, body: &Value) -> reqwest::RequestBuilder {
    server.admin(Method::POST, "/actors").json(body)
}

/// Creates an actor through the API, asserting 201, and returns its view.
async fn api_create(server: &Server, body: Value) -> Value {
    let (status, view) = send(create_req(server, &body)).await;
    assert_eq!(status, StatusCode::CREATED, "create {body}: {view}");
    view
}

/// Every local actor, as the API lists them.
async fn api_list(server: &Server) -> Vec<Value> {
    let (status, body) = send(server.admin(Method::GET, "/actors")).await;
    assert_eq!(status, StatusCode::OK, "list: {body}");
    body.as_array().expect("the list is an array").clone()
}

/// One local actor, as the API shows it.
async fn api_show(server: &Server, name: &str) -> Value {
    let (status, body) = send(server.admin(Method::GET, &format!("/actors/{name}"))).await;
    assert_eq!(status, StatusCode::OK, "show {name}: {body}");
    body
}

/// `POST /api/admin/actors/NAME/ACTION` (suspend, unsuspend, rotate-key).
async fn api_action(server: &Server, name: &str, action: &str) -> (StatusCode, Value) {
    send(server.admin(Method::POST, &format!("/actors/{name}/{action}"))).await
}

async fn api_patch(server: &Server, name: &str, body: Value) -> (StatusCode, Value) {
    send(
        server
            .admin(Method::PATCH, &format!("/actors/{name}"))
            .json(&body),
    )
    .await
}

/// The actor document, as a federating server asks for it.
async fn actor_doc(server: &Server, name: &str) -> Value {
    server.get_json(&format!("/users/{name}"), AP).await
}

async fn actor_doc_status(server: &Server, name: &str) -> StatusCode {
    server.get(&format!("/users/{name}"), AP).await.status()
}

fn cli_list(site: &Site) -> Vec<Value> {
    let out = site.cli_ok(&["actor", "list", "--json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("actor list --json is not JSON ({e}): {out}"))
        .as_array()
        .expect("actor list --json is an array")
        .clone()
}

fn cli_show(site: &Site, name: &str) -> Value {
    let out = site.cli_ok(&["actor", "show", name, "--json"]);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("actor show --json is not JSON ({e}): {out}"))
}

fn usernames(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|a| a["username"].as_str().unwrap().to_string())
        .collect()
}

/// A complete, valid creation body.
fn full_body(username: &str) -> Value {
    json!({
        "username": username,
        "kind": "organization",
        "name": "Clean Air Campaign",
        "summary": "We campaign for clean air.",
        "fields": [
            {"name": "Meetings", "value": "Tuesdays"},
            {"name": "Website", "value": "https://campaign.example"}
        ],
        "avatar_url": "https://cdn.example/avatar.png",
        "header_url": "https://cdn.example/header.jpg",
        "manually_approves_followers": true,
        "discoverable": false
    })
}

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";

// ---------------------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------------------

async fn create_with_every_field(site: Site) {
    let server = site.serve().await;
    let id = site.url("/users/clean_air");

    let res = create_req(&server, &full_body("clean_air"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(location, id);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let view: Value = res.json().await.unwrap();

    assert_eq!(view["id"], id);
    assert_eq!(view["username"], "clean_air");
    assert_eq!(view["handle"], format!("clean_air@localhost:{}", site.port));
    assert_eq!(view["kind"], "organization");
    assert_eq!(view["name"], "Clean Air Campaign");
    assert_eq!(view["summary"], "We campaign for clean air.");
    assert_eq!(
        view["fields"],
        json!([
            {"name": "Meetings", "value": "Tuesdays"},
            {"name": "Website", "value": "https://campaign.example"}
        ])
    );
    assert_eq!(view["avatar_url"], "https://cdn.example/avatar.png");
    assert_eq!(view["header_url"], "https://cdn.example/header.jpg");
    assert_eq!(view["manually_approves_followers"], true);
    assert_eq!(view["discoverable"], false);
    assert_eq!(view["status"], "active");
    assert_eq!(view["followers_count"], 0);
    assert_eq!(view["following_count"], 0);
    assert_eq!(view["posts_count"], 0);
    assert!(view["created_at"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(view["updated_at"].as_str().is_some_and(|s| !s.is_empty()));
    let pem = view["public_key_pem"].as_str().expect("public_key_pem");
    assert!(pem.trim_start().starts_with(PEM_BEGIN), "{pem}");
    assert!(
        !view.to_string().contains("PRIVATE KEY"),
        "the private key must never leave the node: {view}"
    );

    // The actor document says the same.
    let doc = actor_doc(&server, "clean_air").await;
    assert_eq!(doc["id"], id);
    assert_eq!(doc["type"], "Organization");
    assert_eq!(doc["preferredUsername"], "clean_air");
    assert_eq!(doc["name"], "Clean Air Campaign");
    assert_eq!(doc["summary"], "<p>We campaign for clean air.</p>");
    assert_eq!(doc["manuallyApprovesFollowers"], true);
    assert_eq!(doc["discoverable"], false);
    assert_eq!(doc["icon"]["type"], "Image");
    assert_eq!(doc["icon"]["url"], "https://cdn.example/avatar.png");
    assert_eq!(doc["icon"]["mediaType"], "image/png");
    assert_eq!(doc["image"]["url"], "https://cdn.example/header.jpg");
    assert_eq!(doc["image"]["mediaType"], "image/jpeg");
    let attachment = doc["attachment"].as_array().expect("attachment");
    assert_eq!(attachment.len(), 2, "{doc}");
    assert_eq!(attachment[0]["type"], "PropertyValue");
    assert_eq!(attachment[0]["name"], "Meetings");
    assert_eq!(attachment[0]["value"], "Tuesdays");
    assert_eq!(attachment[1]["name"], "Website");
    let website = attachment[1]["value"].as_str().unwrap();
    assert!(
        website.contains("href=\"https://campaign.example\""),
        "{website}"
    );
    assert_eq!(doc["publicKey"]["publicKeyPem"], view["public_key_pem"]);
    assert_eq!(doc["publicKey"]["owner"], id);

    // The one actor is in the list, and the command line sees it too.
    let list = api_list(&server).await;
    assert_eq!(list, vec![view.clone()]);
    assert_eq!(cli_list(&site), vec![view]);
}

async fn create_with_defaults(site: Site) {
    let server = site.serve().await;
    let view = api_create(&server, json!({"username": "alice", "kind": "person"})).await;
    assert_eq!(view["id"], site.url("/users/alice"));
    assert_eq!(view["kind"], "person");
    assert_eq!(view["name"], "");
    assert_eq!(view["summary"], "");
    assert_eq!(view["fields"], json!([]));
    assert_eq!(view["avatar_url"], Value::Null);
    assert_eq!(view["header_url"], Value::Null);
    assert_eq!(view["manually_approves_followers"], false);
    assert_eq!(view["discoverable"], true);
    assert_eq!(view["status"], "active");

    let doc = actor_doc(&server, "alice").await;
    assert_eq!(doc["type"], "Person");
    assert_eq!(doc["manuallyApprovesFollowers"], false);
    assert_eq!(doc["discoverable"], true);
    assert!(doc.get("icon").is_none(), "no avatar, no icon: {doc}");
    assert!(doc.get("image").is_none(), "no header, no image: {doc}");
    assert_eq!(doc["attachment"], json!([]));

    // The limits themselves are allowed.
    let thirty = "a".repeat(30);
    let fields: Vec<Value> = (0..8)
        .map(|i| json!({"name": format!("f{i}"), "value": "v"}))
        .collect();
    let view = api_create(
        &server,
        json!({"username": thirty, "kind": "person", "name": "n".repeat(100), "fields": fields}),
    )
    .await;
    assert_eq!(view["username"], thirty.as_str());
    assert_eq!(view["name"].as_str().unwrap().chars().count(), 100);
    assert_eq!(view["fields"].as_array().unwrap().len(), 8);

    // Each actor has its own key.
    let list = api_list(&server).await;
    assert_eq!(list.len(), 2);
    assert_ne!(list[0]["public_key_pem"], list[1]["public_key_pem"]);
}

// ---------------------------------------------------------------------------------------------------------
// List and show
// ---------------------------------------------------------------------------------------------------------

async fn list_and_show(site: Site) {
    let server = site.serve().await;
    assert_eq!(api_list(&server).await, Vec::<Value>::new());

    api_create(&server, json!({"username": "alice", "kind": "person"})).await;
    api_create(&server, json!({"username": "Bob", "kind": "person"})).await;
    api_create(
        &server,
        json!({"username": "carol", "kind": "organization"}),
    )
    .await;
    let (s, _) = api_action(&server, "bob", "suspend").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send(server.admin(Method::DELETE, "/actors/carol")).await;
    assert_eq!(s, StatusCode::OK);

    // Suspended and deleted actors are listed too, with their status, oldest first.
    let list = api_list(&server).await;
    assert_eq!(usernames(&list), ["alice", "Bob", "carol"]);
    let statuses: Vec<&str> = list.iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["active", "suspended", "deleted"]);
    assert_eq!(list[2]["kind"], "organization");

    // Shown by name, ignoring case; the stored spelling is kept.
    for name in ["Bob", "bob", "BOB", "bOb"] {
        let view = api_show(&server, name).await;
        assert_eq!(view["username"], "Bob", "{name}");
        assert_eq!(view["id"], site.url("/users/Bob"));
        assert_eq!(view["status"], "suspended");
        assert_eq!(view, list[1]);
    }
    assert_eq!(api_show(&server, "ALICE").await, list[0]);
    let carol = api_show(&server, "carol").await;
    assert_eq!(carol["status"], "deleted");

    // Unknown names.
    let got = send(server.admin(Method::GET, "/actors/nobody")).await;
    assert_error("show unknown", &got, StatusCode::NOT_FOUND, &["nobody"]);
    for (method, path) in [
        (Method::PATCH, "/actors/nobody"),
        (Method::DELETE, "/actors/nobody"),
        (Method::POST, "/actors/nobody/suspend"),
        (Method::POST, "/actors/nobody/unsuspend"),
        (Method::POST, "/actors/nobody/rotate-key"),
    ] {
        let mut req = server.admin(method.clone(), path);
        if method == Method::PATCH {
            req = req.json(&json!({"name": "x"}));
        }
        let got = send(req).await;
        assert_error(
            &format!("{method} {path}"),
            &got,
            StatusCode::NOT_FOUND,
            &["nobody"],
        );
    }
    assert_eq!(api_list(&server).await.len(), 3);

    // A method the route does not have.
    let got = send(server.admin(Method::PUT, "/actors/alice")).await;
    assert_error("PUT", &got, StatusCode::METHOD_NOT_ALLOWED, &["PUT"]);
}

// ---------------------------------------------------------------------------------------------------------
// Update
// ---------------------------------------------------------------------------------------------------------

async fn patch_changes_only_given_fields(site: Site) {
    let server = site.serve().await;
    let before = api_create(&server, full_body("clean_air")).await;

    // Only the name.
    let (s, after) = api_patch(&server, "clean_air", json!({"name": "Cleaner Air"})).await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_eq!(after["name"], "Cleaner Air");
    for key in [
        "id",
        "username",
        "handle",
        "kind",
        "summary",
        "fields",
        "avatar_url",
        "header_url",
        "manually_approves_followers",
        "discoverable",
        "status",
        "created_at",
        "public_key_pem",
    ] {
        assert_eq!(after[key], before[key], "{key} changed though not given");
    }
    assert_eq!(api_show(&server, "clean_air").await, after);
    let doc = actor_doc(&server, "clean_air").await;
    assert_eq!(doc["name"], "Cleaner Air");
    assert_eq!(doc["summary"], "<p>We campaign for clean air.</p>");
    assert_eq!(doc["icon"]["url"], "https://cdn.example/avatar.png");

    // An empty object changes nothing.
    let (s, same) = api_patch(&server, "clean_air", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    for key in [
        "name",
        "summary",
        "fields",
        "avatar_url",
        "header_url",
        "discoverable",
    ] {
        assert_eq!(same[key], after[key], "{key}");
    }

    // An empty avatar URL removes the avatar, and only the avatar.
    let (s, v) = api_patch(&server, "clean_air", json!({"avatar_url": ""})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["avatar_url"], Value::Null);
    assert_eq!(v["header_url"], "https://cdn.example/header.jpg");
    assert_eq!(v["name"], "Cleaner Air");
    let doc = actor_doc(&server, "clean_air").await;
    assert!(
        doc.get("icon").is_none(),
        "avatar removed, icon stays: {doc}"
    );
    assert_eq!(doc["image"]["url"], "https://cdn.example/header.jpg");

    // A new header, the summary and the flags.
    let (s, v) = api_patch(
        &server,
        "CLEAN_AIR",
        json!({
            "header_url": "https://cdn.example/new-header.webp",
            "summary": "Now with\n\nparagraphs.",
            "manually_approves_followers": false,
            "discoverable": true
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["header_url"], "https://cdn.example/new-header.webp");
    assert_eq!(v["summary"], "Now with\n\nparagraphs.");
    assert_eq!(v["manually_approves_followers"], false);
    assert_eq!(v["discoverable"], true);
    assert_eq!(v["avatar_url"], Value::Null);
    assert_eq!(v["fields"], before["fields"]);
    let doc = actor_doc(&server, "clean_air").await;
    assert_eq!(doc["image"]["url"], "https://cdn.example/new-header.webp");
    assert_eq!(doc["image"]["mediaType"], "image/webp");
    assert_eq!(doc["summary"], "<p>Now with</p><p>paragraphs.</p>");
    assert_eq!(doc["manuallyApprovesFollowers"], false);
    assert_eq!(doc["discoverable"], true);

    // `fields` replaces the whole list.
    let (s, v) = api_patch(
        &server,
        "clean_air",
        json!({"fields": [{"name": "Founded", "value": "2015"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["fields"], json!([{"name": "Founded", "value": "2015"}]));
    let doc = actor_doc(&server, "clean_air").await;
    assert_eq!(
        doc["attachment"],
        json!([{"type": "PropertyValue", "name": "Founded", "value": "2015"}])
    );
    let (s, v) = api_patch(&server, "clean_air", json!({"fields": []})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["fields"], json!([]));
    assert_eq!(
        actor_doc(&server, "clean_air").await["attachment"],
        json!([])
    );

    // An avatar can be set again.
    let (s, v) = api_patch(
        &server,
        "clean_air",
        json!({"avatar_url": "https://cdn.example/again.gif"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["avatar_url"], "https://cdn.example/again.gif");
    assert_eq!(
        actor_doc(&server, "clean_air").await["icon"]["url"],
        "https://cdn.example/again.gif"
    );

    // A refused change changes nothing, not even the parts of it that were valid.
    let stored = api_show(&server, "clean_air").await;
    for (body, needles) in [
        (
            json!({"name": "Fine", "avatar_url": "javascript:alert(1)"}),
            &["avatar", "http"][..],
        ),
        (
            json!({"summary": "Fine", "name": "n".repeat(101)}),
            &["display name", "101", "100"][..],
        ),
        (
            json!({"name": "Fine", "fields": vec![json!({"name": "k", "value": "v"}); 9]}),
            &["9", "8"][..],
        ),
        (
            json!({"name": "Fine", "username": "renamed"}),
            &["username"][..],
        ),
        (json!({"name": "Fine", "kind": "person"}), &["kind"][..]),
        (
            json!({"name": "Fine", "discoverable": "yes"}),
            &["discoverable"][..],
        ),
    ] {
        let got = api_patch(&server, "clean_air", body.clone()).await;
        assert_error(
            &format!("PATCH {body}"),
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            needles,
        );
    }
    assert_eq!(api_show(&server, "clean_air").await, stored);
}

// ---------------------------------------------------------------------------------------------------------
// Suspend, unsuspend
// ---------------------------------------------------------------------------------------------------------

async fn suspend_and_unsuspend(site: Site) {
    let server = site.serve().await;
    let created = api_create(&server, json!({"username": "alice", "kind": "person"})).await;
    api_create(&server, json!({"username": "bob", "kind": "person"})).await;
    assert_eq!(actor_doc_status(&server, "alice").await, StatusCode::OK);

    let (s, v) = api_action(&server, "alice", "suspend").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "suspended");
    assert_eq!(v["username"], "alice");
    assert_eq!(api_show(&server, "alice").await["status"], "suspended");
    assert_eq!(actor_doc_status(&server, "alice").await, StatusCode::GONE);
    // Only alice.
    assert_eq!(actor_doc_status(&server, "bob").await, StatusCode::OK);
    assert_eq!(api_show(&server, "bob").await["status"], "active");

    let got = api_action(&server, "ALICE", "suspend").await;
    assert_error(
        "suspend twice",
        &got,
        StatusCode::CONFLICT,
        &["already suspended"],
    );
    assert_eq!(api_show(&server, "alice").await["status"], "suspended");

    let (s, v) = api_action(&server, "Alice", "unsuspend").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "active");
    assert_eq!(actor_doc_status(&server, "alice").await, StatusCode::OK);
    // The actor comes back as it was, key included.
    let doc = actor_doc(&server, "alice").await;
    assert_eq!(doc["publicKey"]["publicKeyPem"], created["public_key_pem"]);
    assert_eq!(v["public_key_pem"], created["public_key_pem"]);

    let got = api_action(&server, "alice", "unsuspend").await;
    assert_error(
        "unsuspend when active",
        &got,
        StatusCode::CONFLICT,
        &["not suspended"],
    );
    assert_eq!(api_show(&server, "alice").await["status"], "active");

    // A suspended actor's profile can still be changed and its key rotated by the admin.
    let (s, _) = api_action(&server, "alice", "suspend").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api_patch(&server, "alice", json!({"name": "Alice"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["status"], "suspended",
        "a change must not lift a suspension"
    );
    assert_eq!(v["name"], "Alice");
    let (s, v) = api_action(&server, "alice", "rotate-key").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["status"], "suspended",
        "a new key must not lift a suspension"
    );
    assert_ne!(v["public_key_pem"], created["public_key_pem"]);
    assert_eq!(actor_doc_status(&server, "alice").await, StatusCode::GONE);
}

// ---------------------------------------------------------------------------------------------------------
// Rotate the key
// ---------------------------------------------------------------------------------------------------------

async fn rotate_key(site: Site) {
    let server = site.serve().await;
    let before = api_create(&server, json!({"username": "alice", "kind": "person"})).await;
    let other = api_create(&server, json!({"username": "bob", "kind": "person"})).await;
    let old_key = before["public_key_pem"].as_str().unwrap().to_string();
    assert_eq!(
        actor_doc(&server, "alice").await["publicKey"]["publicKeyPem"],
        old_key.as_str()
    );

    let (s, v) = api_action(&server, "alice", "rotate-key").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let new_key = v["public_key_pem"].as_str().unwrap().to_string();
    assert!(new_key.trim_start().starts_with(PEM_BEGIN), "{new_key}");
    assert_ne!(new_key, old_key, "rotate-key must give a new key");
    assert_eq!(v["status"], "active");
    assert_eq!(v["id"], before["id"]);
    assert_eq!(
        api_show(&server, "alice").await["public_key_pem"],
        new_key.as_str()
    );

    let doc = actor_doc(&server, "alice").await;
    assert_eq!(doc["publicKey"]["publicKeyPem"], new_key.as_str());
    assert_eq!(doc["publicKey"]["id"], site.url("/users/alice#main-key"));

    // Again, by another spelling.
    let (s, v) = api_action(&server, "ALICE", "rotate-key").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(v["public_key_pem"], new_key.as_str());
    assert_ne!(v["public_key_pem"], old_key.as_str());
    assert_eq!(
        actor_doc(&server, "alice").await["publicKey"]["publicKeyPem"],
        v["public_key_pem"]
    );

    // Nobody else's key changes.
    assert_eq!(
        api_show(&server, "bob").await["public_key_pem"],
        other["public_key_pem"]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------------------

async fn delete_actor(site: Site) {
    let server = site.serve().await;
    let created = api_create(&server, full_body("Clean_Air")).await;
    api_create(&server, json!({"username": "bob", "kind": "person"})).await;

    let (s, v) = send(server.admin(Method::DELETE, "/actors/clean_air")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "deleted");
    assert_eq!(v["id"], created["id"]);
    assert_eq!(v["username"], "Clean_Air");
    // The profile is wiped.
    assert_eq!(v["name"], "");
    assert_eq!(v["summary"], "");
    assert_eq!(v["fields"], json!([]));
    assert_eq!(v["avatar_url"], Value::Null);
    assert_eq!(v["header_url"], Value::Null);
    assert_eq!(api_show(&server, "clean_air").await["status"], "deleted");

    // Its id answers 410 with a Tombstone.
    let res = server.get("/users/Clean_Air", AP).await;
    assert_eq!(res.status(), StatusCode::GONE);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/activity+json"),
        "{content_type}"
    );
    let tomb: Value = res.json().await.unwrap();
    assert_eq!(tomb["type"], "Tombstone");
    assert_eq!(tomb["id"], created["id"]);
    assert_eq!(tomb["formerType"], "Organization");
    assert!(
        tomb["deleted"].as_str().is_some_and(|s| !s.is_empty()),
        "{tomb}"
    );
    assert_eq!(
        actor_doc_status(&server, "clean_air").await,
        StatusCode::GONE
    );
    assert_eq!(actor_doc_status(&server, "bob").await, StatusCode::OK);

    // A deleted actor can no longer be changed.
    let got = api_patch(&server, "clean_air", json!({"name": "Back"})).await;
    assert_error("PATCH deleted", &got, StatusCode::GONE, &["deleted"]);
    for action in ["suspend", "unsuspend", "rotate-key"] {
        let got = api_action(&server, "clean_air", action).await;
        assert_error(
            &format!("{action} deleted"),
            &got,
            StatusCode::GONE,
            &["deleted"],
        );
    }
    let got = send(server.admin(Method::DELETE, "/actors/CLEAN_AIR")).await;
    assert_error("delete twice", &got, StatusCode::GONE, &["deleted"]);
    let after = api_show(&server, "clean_air").await;
    assert_eq!(after["status"], "deleted");
    assert_eq!(after["name"], "");
    assert_eq!(after["public_key_pem"], v["public_key_pem"]);

    // Its name is never reused, in any spelling.
    for name in ["Clean_Air", "clean_air", "CLEAN_AIR"] {
        let got = send(create_req(
            &server,
            &json!({"username": name, "kind": "person"}),
        ))
        .await;
        assert_error(
            &format!("re-create {name}"),
            &got,
            StatusCode::CONFLICT,
            &["taken", "deleted"],
        );
    }
    let list = api_list(&server).await;
    assert_eq!(usernames(&list), ["Clean_Air", "bob"]);
    assert_eq!(list[0]["status"], "deleted");
    assert_eq!(list[1]["status"], "active");
}

// ---------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------

async fn validation_refuses_and_writes_nothing(site: Site) {
    let server = site.serve().await;
    api_create(&server, json!({"username": "Alice", "kind": "person"})).await;
    let before = api_list(&server).await;
    assert_eq!(before.len(), 1);

    let person = |extra: Value| {
        let mut body = json!({"username": "valid_name", "kind": "person"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let nine_fields: Vec<Value> = (0..9)
        .map(|i| json!({"name": format!("f{i}"), "value": "v"}))
        .collect();
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "space in username",
            person(json!({"username": "has space"})),
            vec!["username", "contains"],
        ),
        (
            "dash in username",
            person(json!({"username": "dash-name"})),
            vec!["username", "'-'"],
        ),
        (
            "dot in username",
            person(json!({"username": "dot.name"})),
            vec!["username", "'.'"],
        ),
        (
            "at in username",
            person(json!({"username": "a@b"})),
            vec!["username", "'@'"],
        ),
        (
            "unicode username",
            person(json!({"username": "ünïcode"})),
            vec!["username", "ü"],
        ),
        (
            "31-character username",
            person(json!({"username": "x".repeat(31)})),
            vec!["username", "30"],
        ),
        (
            "empty username",
            person(json!({"username": ""})),
            vec!["username", "empty"],
        ),
        (
            "unknown kind",
            person(json!({"kind": "group"})),
            vec!["kind", "group"],
        ),
        (
            "capitalised kind",
            person(json!({"kind": "Person"})),
            vec!["kind"],
        ),
        (
            "missing kind",
            json!({"username": "valid_name"}),
            vec!["kind"],
        ),
        (
            "missing username",
            json!({"kind": "person"}),
            vec!["username"],
        ),
        (
            "javascript avatar",
            person(json!({"avatar_url": "javascript:alert(1)"})),
            vec!["avatar", "http"],
        ),
        (
            "avatar not a URL",
            person(json!({"avatar_url": "not a url"})),
            vec!["avatar", "not a URL"],
        ),
        (
            "ftp header",
            person(json!({"header_url": "ftp://files.example/h.png"})),
            vec!["header", "http"],
        ),
        (
            "9 fields",
            person(json!({"fields": nine_fields})),
            vec!["9", "8", "fields"],
        ),
        (
            "field without a name",
            person(json!({"fields": [{"name": " ", "value": "v"}]})),
            vec!["field", "name"],
        ),
        (
            "field without a value key",
            person(json!({"fields": [{"name": "k"}]})),
            vec!["value"],
        ),
        (
            "101-character display name",
            person(json!({"name": "n".repeat(101)})),
            vec!["display name", "101"],
        ),
        (
            "101 non-ASCII characters",
            person(json!({"name": "é".repeat(101)})),
            vec!["display name", "101"],
        ),
        (
            "5001-character summary",
            person(json!({"summary": "s".repeat(5001)})),
            vec!["summary", "5001"],
        ),
        (
            "unknown field",
            person(json!({"colour": "green"})),
            vec!["colour"],
        ),
        (
            "wrong type",
            person(json!({"discoverable": "yes"})),
            vec!["discoverable"],
        ),
        ("not an object", json!("alice"), vec![]),
    ];
    for (what, body, needles) in &cases {
        let got = send(create_req(&server, body)).await;
        assert_error(what, &got, StatusCode::UNPROCESSABLE_ENTITY, needles);
    }
    // 100 "é" are 200 bytes but 100 characters: allowed, the limit counts characters.
    let ok = api_create(
        &server,
        person(json!({"username": "accents", "name": "é".repeat(100)})),
    )
    .await;
    assert_eq!(ok["name"].as_str().unwrap().chars().count(), 100);

    // Malformed JSON and a body that is not declared JSON are bad requests.
    let got = send(
        server
            .admin(Method::POST, "/actors")
            .header("Content-Type", "application/json")
            .body(r#"{"username": "valid_name", "kind": "person""#),
    )
    .await;
    assert_error("truncated JSON", &got, StatusCode::BAD_REQUEST, &[]);
    let got = send(
        server
            .admin(Method::POST, "/actors")
            .header("Content-Type", "application/json")
            .body("username=valid_name&kind=person"),
    )
    .await;
    assert_error("not JSON at all", &got, StatusCode::BAD_REQUEST, &[]);
    let got = send(
        server
            .admin(Method::POST, "/actors")
            .body(r#"{"username": "valid_name", "kind": "person"}"#),
    )
    .await;
    assert_error(
        "no Content-Type",
        &got,
        StatusCode::BAD_REQUEST,
        &["Content-Type: application/json"],
    );
    let got = send(
        server
            .admin(Method::POST, "/actors")
            .header("Content-Type", "text/plain")
            .body(r#"{"username": "valid_name", "kind": "person"}"#),
    )
    .await;
    assert_error(
        "text/plain",
        &got,
        StatusCode::BAD_REQUEST,
        &["Content-Type: application/json"],
    );
    let got = send(
        server
            .admin(Method::PATCH, "/actors/alice")
            .body(r#"{"name": "x"}"#),
    )
    .await;
    assert_error(
        "PATCH without Content-Type",
        &got,
        StatusCode::BAD_REQUEST,
        &["Content-Type"],
    );

    // The same name in another case clashes.
    for name in ["Alice", "alice", "ALICE"] {
        let got = send(create_req(
            &server,
            &json!({"username": name, "kind": "organization"}),
        ))
        .await;
        assert_error(
            &format!("clash {name}"),
            &got,
            StatusCode::CONFLICT,
            &["taken", "Alice"],
        );
    }

    // Nothing was written but the one valid actor.
    let after = api_list(&server).await;
    assert_eq!(usernames(&after), ["Alice", "accents"]);
    assert_eq!(after[0], before[0]);
    assert_eq!(cli_list(&site).len(), 2);
}

/// A username of 17 accented letters is 17 characters long (34 bytes): what is wrong with it is the letters, and
/// the message must say so rather than claim it is longer than 30 characters.
async fn username_error_names_the_bad_character(site: Site) {
    let server = site.serve().await;
    let name = "é".repeat(17);
    let (status, body) = send(create_req(
        &server,
        &json!({"username": name, "kind": "person"}),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"].as_str().expect("an error message");
    assert!(
        !message.contains("longer than"),
        "a 17-character username is not too long; the message should name the character 'é': {message:?}"
    );
    assert!(message.contains("'é'"), "{message:?}");
    assert_eq!(api_list(&server).await.len(), 0);
}

/// A body over the 1 MiB limit is refused with 413 from its Content-Length, before it is read (the test sends
/// only the headers, on a raw connection, and reads the answer), as a JSON error like every other admin API
/// error, and nothing is written.
async fn oversized_body_is_a_json_error(site: Site) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = site.serve().await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", site.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/admin/actors HTTP/1.1\r\nHost: localhost:{}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"username\": \"big\"",
        site.port,
        2 * 1024 * 1024
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer).to_string();
    let (head, text) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    assert!(head.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "a 413 should be JSON: {answer}"
    );
    let body = text
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or(text);
    let body: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("a 413 should be JSON ({e}): {answer:?}"));
    assert_error(
        "oversized body",
        &(StatusCode::PAYLOAD_TOO_LARGE, body),
        StatusCode::PAYLOAD_TOO_LARGE,
        &[],
    );
    assert_eq!(api_list(&server).await.len(), 0);
}

/// Many creations of one name at once, in different spellings: exactly one wins, the others are 409 (the
/// unique index, not only the check before it, must turn into a clean conflict), and one actor exists.
async fn concurrent_creates_of_one_name(site: Site) {
    let server = site.serve().await;
    let spellings = ["dup", "Dup", "DUP", "dUp", "duP", "DuP", "dup", "DUp"];
    let mut tasks = Vec::new();
    for name in spellings {
        let req = create_req(&server, &json!({"username": name, "kind": "person"}));
        tasks.push(tokio::spawn(send(req)));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert!(
                body["error"].as_str().is_some_and(|m| m.contains("taken")),
                "{body}"
            ),
            other => panic!("concurrent create answered {other}: {body}"),
        }
    }
    assert_eq!(created, 1, "exactly one creation must win");
    let list = api_list(&server).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["username"].as_str().unwrap().to_lowercase(), "dup");
}

// ---------------------------------------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------------------------------------

async fn unauthorized_requests_change_nothing(site: Site) {
    let server = site.serve().await;
    let alice = api_create(&server, full_body("alice")).await;

    // Ways of getting the Authorization header wrong.
    let longer = format!("Bearer {ADMIN_TOKEN}x");
    let shorter = format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    let basic = format!("Basic {ADMIN_TOKEN}");
    let no_scheme = ADMIN_TOKEN.to_string();
    let authorizations: Vec<(&str, Option<&str>)> = vec![
        ("no Authorization header", None),
        ("wrong token", Some("Bearer wrong-token-0123456789abcdef")),
        ("Basic scheme", Some(basic.as_str())),
        ("token with an extra character", Some(longer.as_str())),
        ("token missing its last character", Some(shorter.as_str())),
        ("token without a scheme", Some(no_scheme.as_str())),
        ("empty bearer token", Some("Bearer ")),
    ];
    let valid_create = json!({"username": "mallory", "kind": "person", "name": "Mallory"});
    let requests: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/actors", None),
        (Method::POST, "/actors", Some(valid_create.clone())),
        (Method::GET, "/actors/alice", None),
        (
            Method::PATCH,
            "/actors/alice",
            Some(json!({"name": "Hacked"})),
        ),
        (Method::DELETE, "/actors/alice", None),
        (Method::POST, "/actors/alice/suspend", None),
        (Method::POST, "/actors/alice/unsuspend", None),
        (Method::POST, "/actors/alice/rotate-key", None),
        // Authorization comes before the body is even read.
        (Method::POST, "/actors", Some(json!("not an actor"))),
    ];

    for (what, authorization) in &authorizations {
        for (method, path, body) in &requests {
            let mut req = server
                .http
                .request(method.clone(), server.url(&format!("/api/admin{path}")));
            if let Some(a) = authorization {
                req = req.header("Authorization", *a);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            let content_type = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            let text = res.text().await.unwrap();
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{what}: {method} {path} answered {text}"
            );
            assert!(
                content_type.starts_with("application/json"),
                "{what}: {method} {path}: {content_type}"
            );
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_error(
                &format!("{what}: {method} {path}"),
                &(status, body),
                StatusCode::UNAUTHORIZED,
                &["token"],
            );
            assert!(
                !text.contains("alice") && !text.contains(PEM_BEGIN),
                "{what}: {method} {path} leaked data: {text}"
            );
        }
    }

    // Nothing was created, changed, suspended, deleted or re-keyed: by the command line…
    let list = cli_list(&site);
    assert_eq!(usernames(&list), ["alice"]);
    assert_eq!(list[0], alice);
    // …and by an authorized request.
    let shown = api_show(&server, "alice").await;
    assert_eq!(shown, alice);
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["name"], "Clean Air Campaign");
    assert_eq!(shown["public_key_pem"], alice["public_key_pem"]);
    assert_eq!(api_list(&server).await.len(), 1);
    let doc = actor_doc(&server, "alice").await;
    assert_eq!(doc["publicKey"]["publicKeyPem"], alice["public_key_pem"]);
    assert_eq!(doc["name"], "Clean Air Campaign");
}

// ---------------------------------------------------------------------------------------------------------
// The admin API off
// ---------------------------------------------------------------------------------------------------------

/// Every admin route, each with a body that would be accepted were the API on.
fn every_admin_request(server: &Server) -> Vec<(String, reqwest::RequestBuilder)> {
    let valid = json!({"username": "mallory", "kind": "person"});
    vec![
        ("GET /actors".into(), server.admin(Method::GET, "/actors")),
        (
            "POST /actors".into(),
            server.admin(Method::POST, "/actors").json(&valid),
        ),
        (
            "GET /actors/alice".into(),
            server.admin(Method::GET, "/actors/alice"),
        ),
        (
            "PATCH /actors/alice".into(),
            server
                .admin(Method::PATCH, "/actors/alice")
                .json(&json!({"name": "Hacked"})),
        ),
        (
            "POST /actors/alice/suspend".into(),
            server.admin(Method::POST, "/actors/alice/suspend"),
        ),
        (
            "POST /actors/alice/unsuspend".into(),
            server.admin(Method::POST, "/actors/alice/unsuspend"),
        ),
        (
            "POST /actors/alice/rotate-key".into(),
            server.admin(Method::POST, "/actors/alice/rotate-key"),
        ),
        (
            "DELETE /actors/alice".into(),
            server.admin(Method::DELETE, "/actors/alice"),
        ),
        (
            "GET /actors without a token".into(),
            server.http.get(server.url("/api/admin/actors")),
        ),
    ]
}

async fn assert_admin_api_off(site: &Site, server: &Server, alice: &Value) {
    for (what, req) in every_admin_request(server) {
        let got = send(req).await;
        assert_error(&what, &got, StatusCode::NOT_FOUND, &["admin API is off"]);
    }
    assert!(
        server.log().contains("admin API is off"),
        "the log should say the admin API is off:\n{}",
        server.log()
    );
    // The rest of the node works, and nothing changed.
    let doc = actor_doc(server, "alice").await;
    assert_eq!(doc["publicKey"]["publicKeyPem"], alice["public_key_pem"]);
    let list = cli_list(site);
    assert_eq!(list, vec![alice.clone()]);
}

async fn admin_api_off_by_empty_token(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let alice = cli_show(&site, "alice");
    let server = Server::start(&site, &[("PLACARD_ADMIN__TOKEN", "")]).await;
    assert_admin_api_off(&site, &server, &alice).await;
}

async fn admin_api_off_without_token_setting(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let alice = cli_show(&site, "alice");
    let config = std::fs::read_to_string(&site.config_path).unwrap();
    let without: String = config
        .lines()
        .filter(|l| !l.trim_start().starts_with("token"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!without.contains(ADMIN_TOKEN), "{without}");
    std::fs::write(&site.config_path, without).unwrap();
    let server = site.serve().await;
    assert_admin_api_off(&site, &server, &alice).await;
}

// ---------------------------------------------------------------------------------------------------------
// The command line and the API see the same data
// ---------------------------------------------------------------------------------------------------------

async fn cli_and_api_agree(site: Site) {
    // Created by the command line before the server runs…
    site.cli_ok(&[
        "actor",
        "create",
        "Bob",
        "--kind",
        "person",
        "--name",
        "Bob B.",
        "--summary",
        "Cyclist.",
        "--field",
        "Pronouns=he/him",
        "--avatar",
        "https://cdn.example/bob.png",
        "--manual-approval",
    ]);
    let server = site.serve().await;
    // …read through the API.
    let bob = api_show(&server, "bob").await;
    assert_eq!(bob["username"], "Bob");
    assert_eq!(bob["name"], "Bob B.");
    assert_eq!(bob["summary"], "Cyclist.");
    assert_eq!(
        bob["fields"],
        json!([{"name": "Pronouns", "value": "he/him"}])
    );
    assert_eq!(bob["avatar_url"], "https://cdn.example/bob.png");
    assert_eq!(bob["manually_approves_followers"], true);
    assert_eq!(bob, cli_show(&site, "Bob"));

    // Created through the API, read by the command line.
    let carol = api_create(&server, full_body("carol")).await;
    assert_eq!(cli_show(&site, "CAROL"), carol);

    // Changed through the API, seen by the command line.
    let (s, changed) = api_patch(
        &server,
        "carol",
        json!({"name": "Carol's Campaign", "avatar_url": ""}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    let shown = cli_show(&site, "carol");
    assert_eq!(shown, changed);
    assert_eq!(shown["name"], "Carol's Campaign");
    assert_eq!(shown["avatar_url"], Value::Null);
    assert_eq!(shown["header_url"], "https://cdn.example/header.jpg");

    // Changed by the command line while the server runs, seen by the API and the actor document.
    site.cli_ok(&["actor", "update", "bob", "--name", "Robert", "--avatar", ""]);
    after_cli_change().await;
    let bob = api_show(&server, "bob").await;
    assert_eq!(bob["name"], "Robert");
    assert_eq!(bob["avatar_url"], Value::Null);
    assert_eq!(bob["summary"], "Cyclist.");
    let doc = actor_doc(&server, "bob").await;
    assert_eq!(doc["name"], "Robert");
    assert!(doc.get("icon").is_none(), "{doc}");

    // Suspended by the command line, unsuspended by the API, and the other way round.
    site.cli_ok(&["actor", "suspend", "bob"]);
    after_cli_change().await;
    assert_eq!(api_show(&server, "bob").await["status"], "suspended");
    assert_eq!(actor_doc_status(&server, "bob").await, StatusCode::GONE);
    let (s, _) = api_action(&server, "bob", "unsuspend").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cli_show(&site, "bob")["status"], "active");
    let (s, _) = api_action(&server, "carol", "suspend").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cli_show(&site, "carol")["status"], "suspended");
    let out = site.cli(&["actor", "suspend", "carol"]);
    assert!(
        !out.ok(),
        "suspending twice from the command line must fail"
    );
    assert!(out.stderr.contains("already suspended"), "{}", out.stderr);

    // A key rotated by the API is the command line's, and the other way round.
    let (s, rotated) = api_action(&server, "bob", "rotate-key").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        cli_show(&site, "bob")["public_key_pem"],
        rotated["public_key_pem"]
    );
    site.cli_ok(&["actor", "rotate-key", "bob"]);
    after_cli_change().await;
    let key = api_show(&server, "bob").await["public_key_pem"].clone();
    assert_ne!(key, rotated["public_key_pem"]);
    assert_eq!(
        actor_doc(&server, "bob").await["publicKey"]["publicKeyPem"],
        key
    );

    // Deleted by the command line: the API sees it deleted and refuses the name.
    site.cli_ok(&["actor", "delete", "carol"]);
    assert_eq!(api_show(&server, "carol").await["status"], "deleted");
    let got = send(create_req(
        &server,
        &json!({"username": "Carol", "kind": "person"}),
    ))
    .await;
    assert_error("re-create carol", &got, StatusCode::CONFLICT, &["taken"]);
    // A clash is a clash from either side.
    let out = site.cli(&["actor", "create", "BOB", "--kind", "person"]);
    assert!(!out.ok(), "creating BOB next to Bob must fail");

    // The two lists are the same.
    let api = api_list(&server).await;
    assert_eq!(usernames(&api), ["Bob", "carol"]);
    assert_eq!(api, cli_list(&site));
}

on_both_databases!(
    create_with_every_field,
    create_with_defaults,
    list_and_show,
    patch_changes_only_given_fields,
    suspend_and_unsuspend,
    rotate_key,
    delete_actor,
    validation_refuses_and_writes_nothing,
    concurrent_creates_of_one_name,
    username_error_names_the_bad_character,
    oversized_body_is_a_json_error,
    unauthorized_requests_change_nothing,
    admin_api_off_by_empty_token,
    admin_api_off_without_token_setting,
    cli_and_api_agree,
);

/// Every admin route refuses a request without the token and one with a wrong token (401, JSON), before it
/// reads the body or touches anything.
async fn every_admin_route_needs_the_token(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let server = site.serve().await;
    let routes: &[(Method, &str)] = &[
        (Method::GET, "/actors"),
        (Method::POST, "/actors"),
        (Method::GET, "/actors/alice"),
        (Method::PATCH, "/actors/alice"),
        (Method::DELETE, "/actors/alice"),
        (Method::POST, "/actors/alice/suspend"),
        (Method::POST, "/actors/alice/unsuspend"),
        (Method::POST, "/actors/alice/rotate-key"),
        (Method::POST, "/actors/alice/posts"),
        (Method::PATCH, "/posts"),
        (Method::DELETE, "/posts"),
        (Method::POST, "/actors/alice/follow"),
        (Method::POST, "/actors/alice/unfollow"),
        (Method::GET, "/actors/alice/followers"),
        (Method::POST, "/actors/alice/followers/approve"),
        (Method::POST, "/actors/alice/followers/reject"),
        (Method::POST, "/actors/alice/like"),
        (Method::POST, "/actors/alice/unlike"),
        (Method::POST, "/actors/alice/boost"),
        (Method::POST, "/actors/alice/unboost"),
        (Method::POST, "/actors/alice/events"),
        (Method::PATCH, "/events"),
        (Method::POST, "/events/cancel"),
        (Method::GET, "/domain-blocks"),
        (Method::POST, "/domain-blocks"),
        (Method::DELETE, "/domain-blocks/spam.example"),
        (Method::POST, "/posts/remove"),
        (Method::GET, "/thread?url=http://x.example/p"),
        (Method::GET, "/deliveries"),
    ];
    for (method, path) in routes {
        let url = server.url(&format!("/api/admin{path}"));
        for token in [None, Some("wrong-token-wrong-token-wrong")] {
            let mut req = server
                .http
                .request(method.clone(), &url)
                .header("Content-Type", "application/json")
                .body(r#"{"text": "x", "username": "mallory", "kind": "person", "domain": "spam.example"}"#);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let (status, body) = send(req).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}: {body}"
            );
            assert!(
                body["error"].as_str().is_some_and(|e| e.contains("token")),
                "{method} {path}: {body}"
            );
        }
    }
    // Nothing happened: alice is there, active, with no posts; no block.
    let show = site.cli_ok(&["actor", "show", "alice", "--json"]);
    let alice: Value = serde_json::from_str(&show).unwrap();
    assert_eq!(alice["status"], "active");
    assert_eq!(alice["posts_count"], 0);
    assert_eq!(site.cli_ok(&["domain", "list", "--json"]).trim(), "[]");
}

on_both_databases!(every_admin_route_needs_the_token);

// ---------------------------------------------------------------------------------------------------------
// Documents kept in memory follow this process's changes at once
// ---------------------------------------------------------------------------------------------------------

/// The path of one of our ids.
fn path_of(id: &str) -> String {
    reqwest::Url::parse(id)
        .expect("an id is a URL")
        .path()
        .to_string()
}

/// A post's JSON and the outbox's first page are kept in memory (`service::served`); every change made
/// through the server (edit, like, boost, a new post, a deletion) shows in the very next GET, with no wait.
async fn served_documents_follow_changes_at_once(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    site.cli_ok(&["actor", "create", "bob", "--kind", "person"]);
    let server = site.serve().await;
    let post = |text: &str| {
        server
            .admin(Method::POST, "/actors/alice/posts")
            .json(&json!({ "text": text }))
    };
    let (status, first) = send(post("First words")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().unwrap().to_string();
    let outbox = "/users/alice/outbox?page=1";
    // Read twice, so the second answer comes from memory.
    for _ in 0..2 {
        let note = server.get_json(&path_of(&id), AP).await;
        assert!(
            note["content"].as_str().unwrap().contains("First words"),
            "{note}"
        );
        assert_eq!(note["likes"]["totalItems"], 0, "{note}");
        assert_eq!(
            server.get_json(outbox, AP).await["orderedItems"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    let (status, body) = send(
        server
            .admin(Method::PATCH, "/posts")
            .json(&json!({ "id": id, "text": "Second thoughts" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let note = server.get_json(&path_of(&id), AP).await;
    assert!(
        note["content"]
            .as_str()
            .unwrap()
            .contains("Second thoughts"),
        "{note}"
    );
    let page = server.get_json(outbox, AP).await;
    assert!(page.to_string().contains("Second thoughts"), "{page}");

    for (action, count) in [("like", "likes"), ("boost", "shares")] {
        let (status, body) = send(
            server
                .admin(Method::POST, &format!("/actors/bob/{action}"))
                .json(&json!({ "post": id })),
        )
        .await;
        assert!(status.is_success(), "{action}: {status} {body}");
        let note = server.get_json(&path_of(&id), AP).await;
        assert_eq!(note[count]["totalItems"], 1, "after {action}: {note}");
        let page = server.get_json(outbox, AP).await;
        assert_eq!(
            page["orderedItems"][0]["object"][count]["totalItems"], 1,
            "{page}"
        );
    }

    let (status, second) = send(post("Another post")).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let page = server.get_json(outbox, AP).await;
    assert_eq!(page["orderedItems"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["totalItems"], 2, "{page}");

    let (status, body) = send(
        server
            .admin(Method::DELETE, "/posts")
            .json(&json!({ "id": id })),
    )
    .await;
    assert!(status.is_success(), "{status} {body}");
    let gone = server.get(&path_of(&id), AP).await;
    assert_eq!(gone.status(), StatusCode::GONE);
    let page = server.get_json(outbox, AP).await;
    assert_eq!(page["orderedItems"].as_array().unwrap().len(), 1, "{page}");
    assert!(!page.to_string().contains("Second thoughts"), "{page}");
}
on_both_databases!(served_documents_follow_changes_at_once);
