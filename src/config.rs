//! Typed settings: `config.toml` (or `--config PATH`), then `PLACARD_<KEY>` and
//! `PLACARD_<SECTION>__<KEY>` environment variables on top. Everything is checked before anything starts, and
//! every error names the setting it is about.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

/// The prefix of every environment override.
pub const ENV_PREFIX: &str = "PLACARD_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The URL the node is reached at; ids of everything local are built on it.
    pub public_url: Url,
    /// The address the HTTP server binds to.
    pub listen: SocketAddr,
    /// `sqlite://FILE` (created if missing) or `postgres://…`.
    pub database_url: String,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub federation: FederationSettings,
    #[serde(default)]
    pub delivery: DeliverySettings,
    #[serde(default)]
    pub events: EventSettings,
    #[serde(default)]
    pub limits: LimitSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Inbox requests accepted per minute from one IP address (0: no limit). Bursts of up to a tenth of a
    /// minute's worth are allowed.
    pub inbox_per_ip_per_minute: u32,
    /// Inbox requests accepted per minute signed by keys of one remote host (0: no limit).
    pub inbox_per_host_per_minute: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            inbox_per_ip_per_minute: 12_000,
            inbox_per_host_per_minute: 6_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSettings {
    /// Mastodon ignores `Update` of an Event: when an event's time or place changes, or it is cancelled, also
    /// send a short public `Note` saying so, with a link to the event.
    pub follow_up_notes: bool,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            follow_up_notes: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// Allow requests to loopback and private addresses. Off in production; on only to federate with peers
    /// on this machine (tests, local trials).
    pub allow_private_addresses: bool,
    /// Reading actors, posts and collections as ActivityPub JSON needs a valid HTTP signature from a server
    /// that is not blocked (WebFinger, NodeInfo, host-meta and the instance actor stay open; HTML pages too).
    pub authorized_fetch: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// Deliveries sent at once by this process (0 turns delivery off in this process). Sends are async I/O,
    /// so this is sized for hosts that answer slowly or never, not for threads.
    pub workers: usize,
    /// Deliveries sent at once to one host, so a slow host cannot hold every worker.
    pub per_host: usize,
    /// How long a failing delivery is retried before it is given up, in hours (at least 48).
    pub retry_hours: u64,
    /// The first retry's delay in seconds; each later one doubles it (with jitter), up to `max_backoff_seconds`.
    pub backoff_seconds: u64,
    pub max_backoff_seconds: u64,
    /// How long a claimed delivery stays reserved for the process that claimed it, in seconds; renewed while
    /// it works, so a process that dies (even `kill -9`) leaves its rows to others after at most this long.
    pub lease_seconds: u64,
    /// On SIGTERM, how long in-flight sends may take before the process exits anyway, in seconds.
    pub shutdown_grace_seconds: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            workers: 256,
            per_host: 4,
            retry_hours: 50,
            backoff_seconds: 30,
            max_backoff_seconds: 6 * 3600,
            lease_seconds: 60,
            shutdown_grace_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token of the admin API; with none the admin API is off.
    #[serde(default, deserialize_with = "string_or_number")]
    pub token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: Url::parse("http://localhost:8080").expect("static url"),
            listen: "127.0.0.1:8080".parse().expect("static address"),
            database_url: "sqlite://placard.db".to_string(),
            admin: AdminSettings::default(),
            federation: FederationSettings::default(),
            delivery: DeliverySettings::default(),
            events: EventSettings::default(),
            limits: LimitSettings::default(),
        }
    }
}

/// Environment values are read as TOML values, so a token of digits arrives as a number: take it as text.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        I(i64),
        U(u64),
        F(f64),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|r| match r {
        Raw::S(s) => s,
        Raw::I(i) => i.to_string(),
        Raw::U(u) => u.to_string(),
        Raw::F(f) => f.to_string(),
    }))
}

#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct ConfigError(pub String);

/// Minimum length of the admin token: short tokens are guessable.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl Config {
    /// Loads the settings. `path` is `--config`; when it is `None`, `config.toml` in the working directory is
    /// read if it exists (defaults otherwise). A path that was asked for explicitly must exist.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (file, explicit): (PathBuf, bool) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("config.toml"), false),
        };
        if explicit && !file.is_file() {
            return Err(ConfigError(format!(
                "--config: no such file: {}",
                file.display()
            )));
        }
        let figment = Figment::new()
            .merge(Serialized::defaults(Config::default()))
            .merge(if file.is_file() {
                Toml::file_exact(&file)
            } else {
                Toml::string("")
            })
            .merge(Env::prefixed(ENV_PREFIX).split("__"));
        let config: Config = figment.extract().map_err(|e| {
            ConfigError(
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Semantic checks the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let u = &self.public_url;
        if u.scheme() != "http" && u.scheme() != "https" {
            return Err(ConfigError(format!(
                "public_url: must be an http or https URL, got {u}"
            )));
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError(format!("public_url: has no host: {u}")));
        }
        if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
            return Err(ConfigError(format!(
                "public_url: must be a bare origin without path, query or fragment (like https://campaign.example), got {u}"
            )));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(ConfigError(format!(
                "public_url: must not contain credentials, got {u}"
            )));
        }
        let d = &self.delivery;
        if d.retry_hours < 48 {
            return Err(ConfigError(format!(
                "delivery.retry_hours: must be at least 48 (failing deliveries are retried for at least 2 days), got {}",
                d.retry_hours
            )));
        }
        if d.workers > 0 && d.per_host == 0 {
            return Err(ConfigError("delivery.per_host: must be at least 1".into()));
        }
        if d.backoff_seconds == 0 || d.max_backoff_seconds < d.backoff_seconds {
            return Err(ConfigError(
                "delivery.backoff_seconds: must be at least 1 and at most delivery.max_backoff_seconds".into(),
            ));
        }
        if d.lease_seconds < 5 {
            return Err(ConfigError(
                "delivery.lease_seconds: must be at least 5".into(),
            ));
        }
        crate::db::Backend::from_url(&self.database_url)
            .map_err(|e| ConfigError(format!("database_url: {e}")))?;
        if let Some(token) = self.admin_token()
            && token.len() < MIN_ADMIN_TOKEN_LEN
        {
            return Err(ConfigError(format!(
                "admin.token: must be at least {MIN_ADMIN_TOKEN_LEN} characters long"
            )));
        }
        Ok(())
    }

    /// The public origin without its trailing slash, e.g. `http://localhost:8080`.
    pub fn origin(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_string()
    }

    /// The host as other servers name us in handles: host and, if not the default, port (`localhost:8080`).
    pub fn domain(&self) -> String {
        let host = self.public_url.host_str().unwrap_or_default();
        match self.public_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// The admin token, if the admin API is on.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin.token.as_deref().filter(|t| !t.is_empty())
    }
}
