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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Bearer token of the admin API; with none the admin API is off.
    #[serde(default)]
    pub token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: Url::parse("http://localhost:8080").expect("static url"),
            listen: "127.0.0.1:8080".parse().expect("static address"),
            database_url: "sqlite://placard.db".to_string(),
            admin: AdminSettings::default(),
        }
    }
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
            .merge(Toml::file_exact(&file))
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
