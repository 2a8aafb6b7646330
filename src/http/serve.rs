//! `placard serve`: migrate, bind, serve until SIGTERM or Ctrl-C.

use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::{App, Config};

/// Database connections of a serving process on PostgreSQL.
pub const SERVE_CONNECTIONS: u32 = 16;

/// On SQLite. Writes take one lock whatever the number of connections, and the inbox's posts go through one
/// writer; each connection is a thread with its own page cache. With 16, the benchmark with inbox load and a
/// fan-out together peaked at 116 MiB (80 after the inbox's warm-up alone); with 4, at 68 MiB, with the
/// same throughput (docs/performance.md).
pub const SERVE_CONNECTIONS_SQLITE: u32 = 4;

/// How often the C heap's free pages are given back to the system (and, every sixth time, the rate limits
/// tidied).
const GIVE_BACK_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Gives the free pages of glibc's heap back to the system. Rust's allocations are mimalloc's, which returns
/// freed pages by itself; SQLite's (page caches, statements) are C allocations in glibc's per-thread arenas,
/// which keep freed memory until trimmed. After a burst of load and the closing of idle connections, the
/// RSS would otherwise stay at its peak (docs/performance.md, B4). Trimming a few MB of arenas takes well
/// under a millisecond.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's heap; it takes glibc's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub async fn run(config: Config) -> Result<()> {
    let connections = match crate::db::Backend::from_url(&config.database_url) {
        Ok(crate::db::Backend::Sqlite) => SERVE_CONNECTIONS_SQLITE,
        _ => SERVE_CONNECTIONS,
    };
    let app = App::connect(config, connections).await?;
    app.db.migrate().await?;
    let listen = app.config.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Unavailable(format!("listen: cannot bind {listen}: {e}")))?;
    if app.config.admin_token().is_none() {
        tracing::warn!("the admin API is off: no [admin] token is set");
    }
    tracing::info!(
        "placard {} listening on http://{} — public URL {}",
        env!("CARGO_PKG_VERSION"),
        listener.local_addr().map_err(anyhow::Error::from)?,
        app.urls.origin()
    );
    let workers = (app.config.delivery.workers > 0)
        .then(|| crate::federation::delivery::Workers::start(app.clone()));
    let tidy_app = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(GIVE_BACK_EVERY);
        let mut ticks = 0u64;
        loop {
            every.tick().await;
            ticks += 1;
            if ticks.is_multiple_of(6) {
                tidy_app.limits.tidy();
            }
            give_back_memory();
        }
    });
    let router = super::router(app);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| Error::Internal(e.into()));
    // The server has stopped taking requests; sends in flight get their grace period.
    if let Some(w) = workers {
        w.shutdown().await;
    }
    served
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
