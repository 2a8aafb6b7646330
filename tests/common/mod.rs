//! Test harness: a `Site` is a temporary directory with a config file, a fresh database (a SQLite file, or a
//! PostgreSQL database created for the test and dropped after it) and a free port. `site.cli(…)` runs the real
//! `placard` binary against it; `site.serve()` starts a real `placard serve` process on it.
//!
//! PostgreSQL: `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) is the server to create
//! test databases on. When it cannot be reached the PostgreSQL variant of a test is skipped with a printed
//! reason, unless `TEST_REQUIRE_POSTGRES=1` (set by `.ci/run`), which turns the skip into a failure.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;
use tempfile::TempDir;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
pub const AP: &str = "application/activity+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn NAME(site: Site)` once on SQLite and once on PostgreSQL, as `NAME::sqlite` and
/// `NAME::postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let site = $crate::common::Site::new($crate::common::Backend::Sqlite).await.expect("sqlite site");
                super::$name(site).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(site) = $crate::common::Site::new($crate::common::Backend::Postgres).await {
                    super::$name(site).await
                }
            }
        }
    )* };
}

/// How long a running server may take to see a change of a local actor made by the command line: it serves
/// local actors from memory for `LOCAL_ACTORS_TTL` (1 s).
pub const LOCAL_ACTOR_PROPAGATION: std::time::Duration = std::time::Duration::from_millis(1_300);

/// Waits until a running server sees a change of a local actor made by the command line.
pub async fn after_cli_change() {
    tokio::time::sleep(LOCAL_ACTOR_PROPAGATION).await;
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn postgres_required() -> bool {
    std::env::var("TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// Says that a test was skipped and why, on the real stderr: libtest captures `eprintln!` of passing tests,
/// but not direct writes, so the reason shows in a plain `cargo test` run.
pub fn skipped(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// A port for a server a test starts, free when picked. Taken below Linux's ephemeral range (32768-60999):
/// a port from that range, released and handed to `placard serve`, could be taken meanwhile as the source
/// port of an outgoing connection or by a `bind(0)` (seen in CI: "Address already in use"). Each test process
/// starts at its own offset and walks on, so concurrent tests of one binary never get the same port.
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (start + n) % SPAN).expect("below 32768");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN);
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Site {
    pub backend: Backend,
    pub dir: TempDir,
    pub database_url: String,
    pub port: u16,
    pub config_path: PathBuf,
    pg_database: Option<String>,
    /// Extra settings appended to the config file.
    extra: String,
}

impl Site {
    /// A fresh site, or `None` when PostgreSQL is wanted, unreachable and not required.
    pub async fn new(backend: Backend) -> Option<Site> {
        Site::with_settings(backend, "").await
    }

    /// A fresh site whose config file ends with `extra` (TOML).
    pub async fn with_settings(backend: Backend, extra: &str) -> Option<Site> {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("placard.db").display()),
                None,
            ),
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) if !postgres_required() => {
                        skipped(&format!(
                            "PostgreSQL test, no server at {admin} ({e}); set TEST_POSTGRES_URL, \
                             or TEST_REQUIRE_POSTGRES=1 to make this a failure"
                        ));
                        return None;
                    }
                    Err(e) => panic!(
                        "PostgreSQL is required (TEST_REQUIRE_POSTGRES=1) but {admin} failed: {e}"
                    ),
                };
                let name = format!(
                    "placard_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    chrono_like_now()
                );
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                (url.to_string(), Some(name))
            }
        };
        let port = free_port();
        let config_path = dir.path().join("config.toml");
        let site = Site {
            backend,
            dir,
            database_url,
            port,
            config_path,
            pg_database,
            extra: extra.to_string(),
        };
        site.write_config();
        Some(site)
    }

    pub fn write_config(&self) {
        let config = format!(
            "public_url = \"{}\"\nlisten = \"127.0.0.1:{}\"\ndatabase_url = \"{}\"\n\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n{}\n",
            self.base(),
            self.port,
            self.database_url,
            self.extra
        );
        std::fs::write(&self.config_path, config).unwrap();
    }

    /// `http://localhost:PORT`: the public URL and the address the server answers on.
    pub fn base(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The `placard` binary, run in the site's directory with its config file.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_placard"));
        cmd.current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config_path)
            .env_remove("RUST_LOG");
        // A developer's own PLACARD_* settings must not leak into the tests.
        for (k, _) in std::env::vars() {
            if k.starts_with("PLACARD_") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// Runs `placard --config … ARGS` to completion.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let out = self.command().args(args).output().expect("run placard");
        CliOutput::from(out)
    }

    /// Runs `placard ARGS`, asserts success and returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.ok(),
            "placard {args:?} failed: {}\n{}",
            out.stderr,
            out.stdout
        );
        out.stdout
    }

    /// Starts `placard serve` and waits until it answers.
    pub async fn serve(&self) -> Server {
        Server::start(self, &[]).await
    }

    /// A database connection of the test's own, to look at what the node stored.
    pub async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await
            .unwrap()
    }
}

fn chrono_like_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

impl Drop for Site {
    fn drop(&mut self) {
        let Some(name) = self.pg_database.take() else {
            return;
        };
        let admin = postgres_admin_url();
        // Drop runs inside the test's runtime: do the async work on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for CliOutput {
    fn from(o: Output) -> Self {
        CliOutput {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl CliOutput {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// A running `placard serve` process; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub log_path: PathBuf,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn start(site: &Site, env: &[(&str, &str)]) -> Server {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let log_path = site.dir.path().join(format!("serve-{n}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = site.command();
        cmd.arg("serve")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn placard serve");
        let mut server = Server {
            child: Some(child),
            base: site.base(),
            log_path,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("placard serve exited with {status}:\n{}", self.log());
            }
            if let Ok(r) = self
                .http
                .get(self.url("/.well-known/nodeinfo"))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("placard serve did not become ready:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// GET with an `Accept` header.
    pub async fn get(&self, path: &str, accept: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("Accept", accept)
            .send()
            .await
            .unwrap()
    }

    /// GET, expecting 200 and JSON.
    pub async fn get_json(&self, path: &str, accept: &str) -> serde_json::Value {
        let r = self.get(path, accept).await;
        assert_eq!(r.status(), 200, "GET {path}: {:?}", r.text().await);
        r.json().await.unwrap()
    }

    /// An admin API request with the right token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(&format!("/api/admin{path}")))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// Sends SIGKILL and waits.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit, returning how long it took.
    pub fn terminate(&mut self) -> Duration {
        let start = Instant::now();
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
        start.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}
