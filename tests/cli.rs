//! The command line: actor management, its errors, settings, and migrations from empty.

mod common;

use common::*;
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn list(site: &Site) -> Vec<Value> {
    json(&site.cli_ok(&["actor", "list", "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

/// Runs a command that must fail; returns stderr.
fn fails(site: &Site, args: &[&str]) -> String {
    let out = site.cli(args);
    assert!(
        !out.ok(),
        "placard {args:?} should fail but printed {}",
        out.stdout
    );
    assert!(
        out.stdout.is_empty(),
        "a failing command prints nothing on stdout: {}",
        out.stdout
    );
    out.stderr
}

async fn actor_lifecycle(site: Site) {
    let id = site.cli_ok(&[
        "actor",
        "create",
        "mhrn",
        "--kind",
        "organization",
        "--name",
        "Mental Health Resistance Network",
        "--summary",
        "We campaign.",
        "--field",
        "Website=https://mhrn.example",
        "--field",
        "Meets=Fridays",
        "--avatar",
        "https://mhrn.example/a.png",
        "--manual-approval",
    ]);
    assert_eq!(id, format!("{}\n", site.url("/users/mhrn")));

    let shown = json(&site.cli_ok(&["actor", "show", "MHRN", "--json"]));
    assert_eq!(shown["id"], site.url("/users/mhrn"));
    assert_eq!(shown["kind"], "organization");
    assert_eq!(shown["name"], "Mental Health Resistance Network");
    assert_eq!(shown["summary"], "We campaign.");
    assert_eq!(shown["fields"][1]["name"], "Meets");
    assert_eq!(shown["fields"][1]["value"], "Fridays");
    assert_eq!(shown["avatar_url"], "https://mhrn.example/a.png");
    assert_eq!(shown["manually_approves_followers"], true);
    assert_eq!(shown["discoverable"], true);
    assert_eq!(shown["status"], "active");
    let key1 = shown["public_key_pem"].as_str().unwrap().to_string();
    assert!(key1.starts_with("-----BEGIN PUBLIC KEY-----"));

    // Human-readable forms.
    let text = site.cli_ok(&["actor", "show", "mhrn"]);
    assert!(
        text.contains("handle:             @mhrn@localhost:"),
        "{text}"
    );
    assert!(
        text.contains("field:              Website = https://mhrn.example"),
        "{text}"
    );
    site.cli_ok(&["actor", "create", "sparklepants", "--kind", "person"]);
    let table = site.cli_ok(&["actor", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[1].starts_with("mhrn ") && lines[1].contains("organization"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("sparklepants ") && lines[2].contains("person"),
        "{table}"
    );

    // Update changes only what is given.
    site.cli_ok(&[
        "actor",
        "update",
        "mhrn",
        "--summary",
        "New text",
        "--avatar",
        "",
        "--manual-approval",
        "false",
    ]);
    let shown = json(&site.cli_ok(&["actor", "show", "mhrn", "--json"]));
    assert_eq!(shown["summary"], "New text");
    assert_eq!(shown["name"], "Mental Health Resistance Network");
    assert_eq!(shown["avatar_url"], Value::Null);
    assert_eq!(shown["manually_approves_followers"], false);
    assert_eq!(shown["fields"].as_array().unwrap().len(), 2);
    site.cli_ok(&[
        "actor",
        "update",
        "mhrn",
        "--clear-fields",
        "--discoverable",
        "false",
    ]);
    let shown = json(&site.cli_ok(&["actor", "show", "mhrn", "--json"]));
    assert_eq!(shown["fields"], Value::Array(vec![]));
    assert_eq!(shown["discoverable"], false);

    // Suspend, unsuspend.
    site.cli_ok(&["actor", "suspend", "mhrn"]);
    assert_eq!(
        json(&site.cli_ok(&["actor", "show", "mhrn", "--json"]))["status"],
        "suspended"
    );
    assert!(fails(&site, &["actor", "suspend", "mhrn"]).contains("already suspended"));
    site.cli_ok(&["actor", "unsuspend", "mhrn"]);
    assert_eq!(
        json(&site.cli_ok(&["actor", "show", "mhrn", "--json"]))["status"],
        "active"
    );
    assert!(fails(&site, &["actor", "unsuspend", "mhrn"]).contains("not suspended"));

    // Key rotation makes a new key.
    site.cli_ok(&["actor", "rotate-key", "mhrn"]);
    let key2 = json(&site.cli_ok(&["actor", "show", "mhrn", "--json"]))["public_key_pem"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(key1, key2);
    assert!(key2.starts_with("-----BEGIN PUBLIC KEY-----"));

    // Delete: the row stays with status deleted; the name is never reused, in any case.
    let out = site.cli_ok(&["actor", "delete", "mhrn"]);
    assert!(out.contains(&site.url("/users/mhrn")));
    assert_eq!(
        json(&site.cli_ok(&["actor", "show", "mhrn", "--json"]))["status"],
        "deleted"
    );
    let err = fails(&site, &["actor", "create", "Mhrn", "--kind", "person"]);
    assert!(err.contains("taken") && err.contains("deleted"), "{err}");
    for args in [
        &["actor", "update", "mhrn", "--name", "x"][..],
        &["actor", "suspend", "mhrn"],
        &["actor", "rotate-key", "mhrn"],
        &["actor", "delete", "mhrn"],
    ] {
        assert!(fails(&site, args).contains("deleted"), "{args:?}");
    }
    assert_eq!(list(&site).len(), 2);
}

async fn invalid_input_writes_nothing(site: Site) {
    site.cli_ok(&["actor", "create", "alice", "--kind", "person"]);
    let before = list(&site);

    let clash = fails(
        &site,
        &["actor", "create", "ALICE", "--kind", "organization"],
    );
    assert!(clash.contains("taken"), "{clash}");
    for bad in [
        "has space",
        "dash-name",
        "dot.name",
        "émile",
        "a@b",
        "",
        &"x".repeat(31),
    ] {
        let err = fails(&site, &["actor", "create", bad, "--kind", "person"]);
        assert!(err.contains("username"), "{bad:?}: {err}");
    }
    let err = fails(
        &site,
        &[
            "actor",
            "create",
            "bob",
            "--kind",
            "person",
            "--avatar",
            "javascript:alert(1)",
        ],
    );
    assert!(err.contains("avatar"), "{err}");
    let err = fails(
        &site,
        &[
            "actor",
            "create",
            "bob",
            "--kind",
            "person",
            "--name",
            &"n".repeat(101),
        ],
    );
    assert!(err.contains("display name"), "{err}");
    let mut many = vec!["actor", "create", "bob", "--kind", "person"];
    for _ in 0..9 {
        many.extend(["--field", "a=b"]);
    }
    assert!(fails(&site, &many).contains("fields"));
    let err = fails(&site, &["actor", "show", "nobody"]);
    assert!(err.contains("no local actor named \"nobody\""), "{err}");
    for verb in ["update", "suspend", "unsuspend", "delete", "rotate-key"] {
        let err = fails(&site, &["actor", verb, "nobody"]);
        assert!(err.contains("nobody"), "{verb}: {err}");
    }
    let err = fails(
        &site,
        &[
            "actor",
            "update",
            "alice",
            "--header",
            "ftp://x.example/h.png",
        ],
    );
    assert!(err.contains("header"), "{err}");

    // Nothing was written by any of it.
    let after = list(&site);
    assert_eq!(before, after);
}

async fn wrong_arguments_are_usage_errors(site: Site) {
    for args in [
        &["actor", "create", "bob"][..],
        &["actor", "create", "bob", "--kind", "robot"],
        &[
            "actor", "create", "bob", "--kind", "person", "--field", "novalue",
        ],
        &["actor", "frobnicate"],
        &["nonsense"],
        &["actor", "update", "bob", "--discoverable", "maybe"],
    ] {
        let out = site.cli(args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("error:"), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    assert!(list(&site).is_empty());
}

async fn migrations_from_empty(site: Site) {
    assert_eq!(site.cli_ok(&["migrate"]).trim(), "migrations applied");
    // Running again is a no-op.
    assert_eq!(site.cli_ok(&["migrate"]).trim(), "migrations applied");
    let db = site.db().await;
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&db)
            .await
            .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count() as i64;
    assert_eq!(applied, files);
    for table in ["actors", "follows", "posts"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    // Both backends have the same migrations, under the same names.
    let names = |dir: &str| {
        let mut v: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
}

/// The command line and a running server share the database (WAL and busy timeout on SQLite).
async fn cli_and_server_share_the_database(site: Site) {
    let server = site.serve().await;
    assert_eq!(server.get("/users/carol", AP).await.status(), 404);
    // Several writers at once: the server's reads and a burst of CLI writes.
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let cmd_site = site.command();
            std::thread::spawn(move || {
                let mut cmd = cmd_site;
                cmd.args([
                    "actor",
                    "create",
                    &format!("member_{i}"),
                    "--kind",
                    "person",
                ])
                .output()
                .unwrap()
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    site.cli_ok(&["actor", "create", "carol", "--kind", "person"]);
    assert_eq!(server.get("/users/carol", AP).await.status(), 200);
    for i in 0..4 {
        assert_eq!(
            server.get(&format!("/users/member_{i}"), AP).await.status(),
            200
        );
    }
    // A running server serves a local actor from memory for up to a second: the suspension made by the
    // command line reaches it within that time.
    site.cli_ok(&["actor", "suspend", "carol"]);
    after_cli_change().await;
    assert_eq!(server.get("/users/carol", AP).await.status(), 410);
}

on_both_databases!(
    actor_lifecycle,
    invalid_input_writes_nothing,
    wrong_arguments_are_usage_errors,
    migrations_from_empty,
    cli_and_server_share_the_database,
);

// ---- Settings: these do not depend on the database backend. ----

async fn sqlite_site() -> Site {
    Site::new(Backend::Sqlite).await.unwrap()
}

/// `placard migrate` with the given config file contents and env; must fail with exit code 2 (settings) or
/// 1 (database), naming `needle`.
fn settings_error(site: &Site, config: &str, env: &[(&str, &str)], needle: &str) -> String {
    std::fs::write(&site.config_path, config).unwrap();
    let mut cmd = site.command();
    cmd.arg("migrate");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = CliOutput::from(cmd.output().unwrap());
    assert!(!out.ok(), "should fail: {config} {env:?}");
    assert!(
        out.stderr.contains(needle),
        "expected {needle:?} in: {}",
        out.stderr
    );
    out.stderr
}

#[tokio::test]
async fn invalid_settings_name_the_setting() {
    let site = sqlite_site().await;
    let db = format!("database_url = \"{}\"\n", site.database_url);
    let good = format!("public_url = \"http://localhost:1\"\nlisten = \"127.0.0.1:1\"\n{db}");

    settings_error(&site, &format!("{good}colour = \"red\"\n"), &[], "colour");
    settings_error(
        &site,
        &format!("{good}[admin]\ntokn = \"x\"\n"),
        &[],
        "tokn",
    );
    settings_error(&site, &good, &[("PLACARD_LISTN", "127.0.0.1:9")], "listn");
    settings_error(
        &site,
        &format!("public_url = \"not a url\"\n{db}"),
        &[],
        "public_url",
    );
    settings_error(
        &site,
        &format!("public_url = \"http://localhost:1/forum\"\n{db}"),
        &[],
        "public_url",
    );
    settings_error(
        &site,
        &format!("public_url = \"http://localhost:1/?x=1\"\n{db}"),
        &[],
        "public_url",
    );
    settings_error(
        &site,
        &format!("public_url = \"ftp://localhost\"\n{db}"),
        &[],
        "public_url",
    );
    settings_error(
        &site,
        &good,
        &[("PLACARD_PUBLIC_URL", "https://x.example/path")],
        "public_url",
    );
    settings_error(
        &site,
        &format!("listen = \"localhost\"\n{db}"),
        &[],
        "listen",
    );
    settings_error(
        &site,
        "database_url = \"mysql://localhost/x\"\n",
        &[],
        "database_url",
    );
    settings_error(
        &site,
        "database_url = \"postgres://postgres@127.0.0.1:1/nothing\"\n",
        &[],
        "database_url: cannot connect",
    );
    settings_error(
        &site,
        &format!("{good}[admin]\ntoken = \"short\"\n"),
        &[],
        "admin.token",
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_placard"))
        .args(["--config", "/nonexistent/placard.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/placard.toml"));
}

#[tokio::test]
async fn environment_overrides_the_file() {
    let site = sqlite_site().await;
    // The file says one public URL; the environment another, and a token.
    let port = free_port();
    let mut cmd = site.command();
    cmd.args(["actor", "create", "dora", "--kind", "person"])
        .env("PLACARD_PUBLIC_URL", format!("http://localhost:{port}"));
    let out = CliOutput::from(cmd.output().unwrap());
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("http://localhost:{port}/users/dora")
    );

    let token = "another-admin-token-9876543210";
    let server = Server::start(&site, &[("PLACARD_ADMIN__TOKEN", token)]).await;
    let r = server
        .http
        .get(server.url("/api/admin/actors"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = server
        .admin(reqwest::Method::GET, "/actors")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the file's token is overridden");
}

#[tokio::test]
async fn serve_says_where_it_listens() {
    let site = sqlite_site().await;
    let server = site.serve().await;
    let log = server.log();
    assert!(
        log.contains(&format!("listening on http://127.0.0.1:{}", site.port)),
        "{log}"
    );
    assert!(
        log.contains(&format!("public URL {}", site.base())),
        "{log}"
    );
}

#[tokio::test]
async fn shipped_config_works_as_is() {
    // The repository's config.toml, unchanged, from a fresh directory: SQLite file created on first use.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"),
        dir.path().join("config.toml"),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_placard"));
    cmd.current_dir(dir.path())
        .args(["actor", "create", "first", "--kind", "person"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("PLACARD_") {
            cmd.env_remove(k);
        }
    }
    let out = CliOutput::from(cmd.output().unwrap());
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "http://localhost:8080/users/first");
    assert!(dir.path().join("placard.db").is_file());
}
