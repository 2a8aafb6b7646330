//! Placard: a federated microblog and forum node for campaign groups.
//!
//! `App` holds what every part needs (settings, database, URL builder); `http::router` builds the web app on
//! it. `main.rs` and the tests both start from here.

pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod federation;
pub mod http;
pub mod service;
pub mod text;
pub mod urls;

use std::ops::Deref;
use std::sync::Arc;

pub use config::Config;
pub use error::{Error, Result};

use db::Db;
use urls::Urls;

pub struct AppInner {
    pub config: Config,
    pub db: Db,
    pub urls: Urls,
    /// Guarded outbound HTTP.
    pub http: federation::fetch::HttpClient,
    /// Parsed keys, remote and local.
    pub keys: federation::keys::KeyStore,
    /// The instance actor's signer, loaded on first use.
    pub instance_signer: tokio::sync::OnceCell<federation::fetch::Signer>,
    /// Wakes this process's delivery workers when something is queued.
    pub delivery_wakeup: tokio::sync::Notify,
    /// Inbox rate limits.
    pub limits: http::limits::Limits,
    /// Host successes, written at most once a minute per host.
    pub health: federation::health::HostHealth,
    /// Servable local actors by lower-case username, for [`service::actors::LOCAL_ACTORS_TTL`].
    pub local_actors: moka::sync::Cache<String, Arc<service::actors::ServedActor>>,
    /// Serialized post and outbox documents, for [`service::served::SERVED_TTL`].
    pub served: service::served::Served,
    /// The group-commit writer of remote posts (the inbox's hottest write).
    pub writer: federation::writer::PostWriter,
    /// Ids of activities this process accepted lately: a re-delivery is answered without a database read.
    pub recent_activities: federation::recent::RecentIds,
    /// Stored posts by id, for the parent lookup of replies (a hot thread's root is read by every reply).
    pub parents: moka::sync::Cache<String, federation::activities::create::Parent>,
    /// Blocked domains, re-read from the database every few seconds (the command line may change them).
    blocks: std::sync::RwLock<(Option<std::time::Instant>, Arc<Vec<String>>)>,
}

/// How many recently accepted activity ids each process keeps in memory (older ones are found in the database).
pub const RECENT_ACTIVITIES: usize = 10_000;

/// How long a looked-up parent post is trusted. The writer checks again that the parent row exists.
pub const PARENTS_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// How long the in-memory copy of the domain blocks is trusted.
pub const BLOCKS_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// The shared state: cheap to clone.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    /// Connects to the database (without migrating) and builds the state.
    pub async fn connect(config: Config, max_connections: u32) -> Result<App> {
        let db = Db::connect(&config.database_url, max_connections).await?;
        Ok(App::with_db(config, db))
    }

    pub fn with_db(config: Config, db: Db) -> App {
        let urls = Urls::new(&config);
        let user_agent = format!("Placard/{} (+{})", env!("CARGO_PKG_VERSION"), urls.origin());
        let http = federation::fetch::HttpClient::new(
            config.federation.allow_private_addresses,
            &user_agent,
        )
        .expect("the HTTP client builds");
        let limits = http::limits::Limits::new(&config.limits);
        App(Arc::new(AppInner {
            limits,
            config,
            db,
            urls,
            http,
            keys: Default::default(),
            health: Default::default(),
            writer: Default::default(),
            served: Default::default(),
            local_actors: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(service::actors::LOCAL_ACTORS_TTL)
                .build(),
            recent_activities: federation::recent::RecentIds::new(
                RECENT_ACTIVITIES,
                std::time::Duration::from_secs(600),
            ),
            parents: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(PARENTS_TTL)
                .build(),
            instance_signer: Default::default(),
            delivery_wakeup: Default::default(),
            blocks: std::sync::RwLock::new((None, Arc::new(Vec::new()))),
        }))
    }

    /// Whether a host (`host` or `host:port`) is covered by a domain block.
    pub async fn is_blocked(&self, host: &str) -> Result<bool> {
        let host = db::blocks::canonical_host(host);
        let fresh = {
            let guard = self.blocks.read().expect("lock");
            guard
                .0
                .filter(|t| t.elapsed() < BLOCKS_TTL)
                .map(|_| guard.1.clone())
        };
        let list = match fresh {
            Some(l) => l,
            None => {
                let l = Arc::new(db::blocks::all(&self.db).await?);
                *self.blocks.write().expect("lock") = (Some(std::time::Instant::now()), l.clone());
                l
            }
        };
        Ok(list.iter().any(|b| db::blocks::covers(b, &host)))
    }

    /// Forgets the cached block list (after this process changed it).
    pub fn blocks_changed(&self) {
        self.blocks.write().expect("lock").0 = None;
    }

    /// Whether the host of a URL is blocked.
    pub async fn is_blocked_url(&self, url: &str) -> Result<bool> {
        match url::Url::parse(url) {
            Ok(u) => self.is_blocked(&db::deliveries::host_of(&u)).await,
            Err(_) => Ok(false),
        }
    }

    /// The signer of the instance actor (for fetches).
    pub async fn instance_signer(&self) -> Result<&federation::fetch::Signer> {
        self.instance_signer
            .get_or_try_init(|| async {
                let pair = db::instance::key_pair(&self.db).await?;
                let key = federation::keys::private_key_from_pem(&pair.private_key_pem)?;
                Ok::<_, Error>(federation::fetch::Signer {
                    key_id: self.urls.instance_key(),
                    key: Arc::new(key),
                })
            })
            .await
    }

    /// The signer of a local actor, its key parsed once.
    pub fn signer_for(&self, actor: &db::actors::ActorRow) -> Result<federation::fetch::Signer> {
        let pem = actor.private_key_pem.as_deref().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("{} has no private key", actor.ap_id))
        })?;
        let key = match self.keys.local.get(&actor.id) {
            Some(cached) if cached.0 == pem => cached.1.clone(),
            _ => {
                let k = Arc::new(federation::keys::private_key_from_pem(pem)?);
                self.keys
                    .local
                    .insert(actor.id, Arc::new((pem.to_string(), k.clone())));
                k
            }
        };
        Ok(federation::fetch::Signer {
            key_id: actor.public_key_id.clone(),
            key,
        })
    }
}
