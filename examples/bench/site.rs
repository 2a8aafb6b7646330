//! A benchmark site: a temporary directory with a config file and a fresh database (a SQLite file, or a
//! PostgreSQL database created for the run and dropped after it), and the `placard serve` process on it,
//! pinned to its core with `taskset`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;
use tempfile::TempDir;

use super::load;

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "SQLite",
            DbKind::Postgres => "PostgreSQL",
        }
    }
}

/// What every site shares: the binary, the port, the core, the PostgreSQL server.
#[derive(Clone)]
pub struct Env {
    pub bin: PathBuf,
    pub port: u16,
    pub server_core: String,
    pub postgres_admin_url: String,
    /// Extra TOML appended to each config file.
    pub extra_config: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Site {
    pub env: Env,
    pub dir: TempDir,
    pub database_url: String,
    pub config_path: PathBuf,
    pg_database: Option<String>,
}

impl Site {
    pub async fn new(env: &Env, db: DbKind) -> anyhow::Result<Site> {
        let dir = tempfile::Builder::new()
            .prefix("placard-bench-")
            .tempdir()?;
        let (database_url, pg_database) = match db {
            DbKind::Sqlite => (
                format!("sqlite://{}", dir.path().join("placard.db").display()),
                None,
            ),
            DbKind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&env.postgres_admin_url)
                    .await
                    .with_context(|| format!("PostgreSQL at {}", env.postgres_admin_url))?;
                let name = format!(
                    "placard_bench_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                );
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                let mut url = url::Url::parse(&env.postgres_admin_url)?;
                url.set_path(&format!("/{name}"));
                (url.to_string(), Some(name))
            }
        };
        let config_path = dir.path().join("config.toml");
        let config = format!(
            "public_url = \"http://localhost:{port}\"\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{database_url}\"\n\n\
             [admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n[federation]\nallow_private_addresses = true\n{extra}\n",
            port = env.port,
            extra = env.extra_config,
        );
        std::fs::write(&config_path, config)?;
        Ok(Site {
            env: env.clone(),
            dir,
            database_url,
            config_path,
            pg_database,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.env.port))
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.env.bin);
        cmd.current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config_path)
            .env_remove("RUST_LOG");
        for (k, _) in std::env::vars() {
            if k.starts_with("PLACARD_") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// Runs `placard ARGS` (unpinned: setup only) and returns stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.command().args(args).output()?;
        if !out.status.success() {
            bail!(
                "placard {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A connection pool of our own on the site's database (through Placard's own `Db`).
    pub async fn db(&self) -> anyhow::Result<placard::db::Db> {
        Ok(placard::db::Db::connect(&self.database_url, 2).await?)
    }

    /// Starts `taskset -c CORE placard serve` and waits until it answers.
    pub async fn serve(&self) -> anyhow::Result<Server> {
        let core = self.env.server_core.clone();
        self.serve_on(&core, self.env.port).await
    }

    /// Starts another `placard serve` on the same site: pinned to `core`, listening on `port`.
    pub async fn serve_on(&self, core: &str, port: u16) -> anyhow::Result<Server> {
        let log_path = self.dir.path().join(format!("serve-{port}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c")
            .arg(core)
            .arg(&self.env.bin)
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (k, _) in std::env::vars() {
            if k.starts_with("PLACARD_") {
                cmd.env_remove(k);
            }
        }
        if port != self.env.port {
            cmd.env("PLACARD_LISTEN", format!("127.0.0.1:{port}"));
        }
        let child = cmd.spawn().context("spawn taskset placard serve")?;
        let mut server = Server {
            child: Some(child),
            log_path,
            started: Instant::now(),
        };
        let ready = load::serialize(
            "GET",
            "/.well-known/nodeinfo",
            &format!("localhost:{}", self.env.port),
            &[],
            b"",
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.as_mut().expect("child").try_wait()? {
                bail!("placard serve exited with {status}:\n{}", server.log());
            }
            if let Ok((200, _)) = load::once(addr, &ready).await {
                break;
            }
            if Instant::now() > deadline {
                bail!("placard serve did not become ready:\n{}", server.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.started = Instant::now();
        Ok(server)
    }

    /// Drops the PostgreSQL database (the temporary directory goes with `self`).
    pub async fn cleanup(mut self) {
        if let Some(name) = self.pg_database.take()
            && let Ok(mut conn) = sqlx::PgConnection::connect(&self.env.postgres_admin_url).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // A site dropped without `cleanup` (an error path) still drops its database.
        if let Some(name) = self.pg_database.take() {
            let admin = self.env.postgres_admin_url.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running `placard serve`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub log_path: PathBuf,
    /// When it became ready.
    pub started: Instant,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `VmRSS` in KiB.
    pub fn rss_kib(&self) -> u64 {
        status_field(self.pid(), "VmRSS:")
    }

    /// Any `/proc/PID/status` field in KiB, e.g. `"RssAnon:"`.
    pub fn status_kib(&self, field: &str) -> u64 {
        status_field(self.pid(), field)
    }

    /// `VmHWM` (peak RSS) in KiB.
    pub fn hwm_kib(&self) -> u64 {
        status_field(self.pid(), "VmHWM:")
    }

    /// CPU time used so far (user + system).
    pub fn cpu(&self) -> Duration {
        cpu_of(&format!("/proc/{}/stat", self.pid()))
    }

    /// SIGTERM, then SIGKILL after 15 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    /// `kill -9`: no shutdown, no release of claimed rows.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of a `/proc/…/stat` file. Clock ticks are 100 per second on Linux (`getconf CLK_TCK`).
pub fn cpu_of(stat_path: &str) -> Duration {
    let Ok(s) = std::fs::read_to_string(stat_path) else {
        return Duration::ZERO;
    };
    // Fields after the command name in parentheses (which may contain spaces).
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return Duration::ZERO;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime 15.
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// This process's CPU time.
pub fn self_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

/// Samples a server's RSS every 100 ms until stopped; returns the highest sample in KiB.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut max = 0;
            while !s.load(Ordering::Relaxed) {
                max = max.max(status_field(pid, "VmRSS:"));
                std::thread::sleep(Duration::from_millis(100));
            }
            max.max(status_field(pid, "VmRSS:"))
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// The directory of the workspace (where `target/release/placard` is).
pub fn workspace_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
