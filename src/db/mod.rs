//! The database: one `sqlx::AnyPool` that is SQLite or PostgreSQL, chosen by the URL. Queries are written once,
//! in the SQL both understand, with `$N` placeholders in ascending order (SQLite reads `$N` as parameter N).
//! Portable column types only: BIGINT/INTEGER for numbers, flags (0/1) and times (Unix milliseconds), TEXT
//! for the rest. One module per table.

pub mod activities;
pub mod actors;
pub mod blocks;
pub mod deliveries;
pub mod events;
pub mod fanouts;
pub mod follows;
pub mod hosts;
pub mod instance;
pub mod interactions;
pub mod posts;
pub mod received;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Connection, Executor};

use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite connection waits for a lock before giving up with "busy".
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of an open connection (for functions that run inside a caller's transaction).
    pub fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn from_url(url: &str) -> std::result::Result<Backend, String> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(format!(
                "must start with sqlite: or postgres://, got {}",
                redact(url)
            ))
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// The URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The current time as stored: Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Stored milliseconds as RFC 3339 (UTC, seconds precision), as ActivityPub documents carry them.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A list (or any value) as the JSON text bound to the parameter of [`Db::json_ints`], [`Db::json_texts`],
/// [`Db::json_text_rows`] and the batch inserts that read a JSON array.
pub fn json_param<T: serde::Serialize + ?Sized>(value: &T) -> crate::error::Result<String> {
    serde_json::to_string(value).map_err(|e| crate::error::Error::Internal(e.into()))
}

/// An optional `f64` as the text to bind where the SQL says `CAST($n AS DOUBLE PRECISION)`. sqlx 0.8.6's `Any`
/// driver sends a NULL `f64` to PostgreSQL typed `float4` (`any/arguments.rs` swaps Real and Double), so a
/// statement first prepared with a NULL then refused every real value ("incorrect binary data format in bind
/// parameter N"). Rust prints an `f64` in the shortest form that reads back to the same value.
pub fn f64_param(v: Option<f64>) -> Option<String> {
    v.map(|v| v.to_string())
}

impl Db {
    /// A subquery of the integers in the JSON array bound at `$n` (bind [`json_param`] of the list). Lists of any length go in one parameter, so
    /// the statement's text (and its prepared form, cached per connection) is the same whatever the length:
    /// `IN ($1, $2, …)` made a new prepared statement for every length, and SQLite looks each `$N` name up in
    /// a list as it parses, which is quadratic in the number of parameters.
    pub fn json_ints(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => format!("SELECT value FROM json_each(${n})"),
            Backend::Postgres => format!("SELECT json_array_elements_text(${n}::json)::bigint"),
        }
    }

    /// A subquery of the strings in the JSON array bound at `$n` (see [`Db::json_ints`]).
    pub fn json_texts(&self, n: usize) -> String {
        format!("SELECT value FROM {}", self.json_text_rows(n))
    }

    /// A table function of the strings in the JSON array bound at `$n`, one row each, in a column `value`.
    pub fn json_text_rows(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => format!("json_each(${n})"),
            Backend::Postgres => format!("json_array_elements_text(${n}::json)"),
        }
    }

    /// How long a pool connection may stay idle before it is closed (see [`Db::connect`]).
    pub const IDLE_CLOSE: Duration = Duration::from_secs(20);

    /// Connects (creating a SQLite file when missing). Errors name the `database_url` setting.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        install_default_drivers();
        let backend = Backend::from_url(url).map_err(|e| {
            Error::Unavailable(format!("the database is unavailable: database_url: {e}"))
        })?;
        let url = match backend {
            // `mode=rwc` creates the file on first start unless the URL says otherwise.
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                if url.contains('?') {
                    format!("{url}&mode=rwc")
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            _ => url.to_string(),
        };
        let options = sqlx::any::AnyConnectOptions::from_str(&url).map_err(|e| {
            Error::Unavailable(format!(
                "the database is unavailable: database_url: {}: {e}",
                redact(&url)
            ))
        })?;
        // One direct connection first: a pool would only report "timed out" where the driver says why
        // (refused, unknown host, authentication failed, no such database…).
        let probe = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::AnyConnection::connect_with(&options),
        )
        .await;
        match probe {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => {
                return Err(Error::Unavailable(format!(
                    "the database is unavailable: database_url: cannot connect to {}: {e}",
                    redact(&url)
                )));
            }
            Err(_) => {
                return Err(Error::Unavailable(format!(
                    "the database is unavailable: database_url: cannot connect to {}: no answer within 10 s",
                    redact(&url)
                )));
            }
        }
        // A connection idle for IDLE_CLOSE is closed (one stays open): after a burst of load, a SQLite
        // connection's thread, page cache and heap are given back (an in-memory database keeps its
        // connections, which are the database).
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .idle_timeout((!in_memory).then_some(Self::IDLE_CLOSE))
            .acquire_timeout(Duration::from_secs(10))
            // A local SQLite file cannot drop a connection; the ping would be a round trip to its thread.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the command line and a running server share the file; the busy timeout makes
                        // a writer wait for the other instead of failing.
                        conn.execute(
                            format!(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;"
                            )
                            .as_str(),
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| Error::Unavailable(format!("the database is unavailable: database_url: cannot connect to {}: {e}", redact(&url))))?;
        Ok(Db { pool, backend })
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("migration failed: {e}")))
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so two
    /// writers queue on the busy timeout instead of one failing when it upgrades a read lock.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// True when the error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}
