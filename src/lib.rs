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
}

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
        App(Arc::new(AppInner { config, db, urls }))
    }
}
