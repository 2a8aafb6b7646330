use std::process::ExitCode;

use clap::Parser;
use placard::Config;
use placard::cli::{Cli, Command, run};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc. Measured on B1 (docs/performance.md): glibc's allocator was 17% of the
/// request path (`malloc_consolidate`, `unlink_chunk` on the large buffers of batched statements), and its
/// per-thread arenas (one per SQLite connection thread) kept the peak after the load. Built with `no_thp`:
/// with transparent huge pages its arenas made the idle heap 14.7 MiB instead of 4.7 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr so that command output on stdout stays clean. RUST_LOG sets the level.
    let default = if matches!(cli.command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
