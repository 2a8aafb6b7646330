//! Host health as the hot paths see it: a success is written to `hosts` at most once a minute per host.
//!
//! Every accepted inbox activity and every delivery is a success of its host. Writing each one was a write
//! transaction per request (the largest single cost of an inbox request after the insert itself, see
//! docs/performance.md); the health it records only matters at the scale of days (a host failing for 7 days
//! becomes unavailable), so a minute of delay changes nothing. A failure clears the mark, so the first success
//! after it is written at once.

use std::time::Duration;

use crate::db::{self, Db};
use crate::error::Result;

/// How long a recorded success stands for the next ones.
pub const SUCCESS_INTERVAL: Duration = Duration::from_secs(60);

pub struct HostHealth {
    recent_success: moka::sync::Cache<String, ()>,
}

impl Default for HostHealth {
    fn default() -> Self {
        HostHealth {
            recent_success: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SUCCESS_INTERVAL)
                .build(),
        }
    }
}

impl HostHealth {
    /// Records a success of `host`, unless one was recorded by this process in the last minute.
    pub async fn success(&self, db: &Db, host: &str) -> Result<()> {
        if self.recent_success.contains_key(host) {
            return Ok(());
        }
        db::hosts::record_success(db, host).await?;
        self.recent_success.insert(host.to_string(), ());
        Ok(())
    }

    /// Records a failure of `host` (always written).
    pub async fn failure(&self, db: &Db, host: &str, error: &str) -> Result<()> {
        self.recent_success.invalidate(host);
        db::hosts::record_failure(db, host, error).await
    }

    /// Whether this process saw `host` succeed in the last minute.
    pub fn recently_succeeded(&self, host: &str) -> bool {
        self.recent_success.contains_key(host)
    }
}
