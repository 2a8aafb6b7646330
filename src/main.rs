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

/// `mi_option_purge_delay` in `mi_option_e` (include/mimalloc.h), the same index in mimalloc 2.x and 3.x;
/// libmimalloc-sys 0.1.49 (which builds mimalloc 3.3.2) declares the function but not this constant.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed pages to the kernel at once instead of after mimalloc 3's default of one second. A delayed purge runs only
/// when the same thread next allocates, and the threads that served a load burst (tokio workers, SQLite
/// connection threads) are idle afterwards, so their freed pages stayed resident: measured on b12
/// (docs/performance.md), RSS a minute after the load was 58.5 MiB with the delay and 34.7 MiB without it, at no
/// measurable cost in throughput. `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: plain calls into the linked allocator's option table; the option index is only used with the
    // mimalloc 2.x and 3.x lines whose enums it was read from.
    unsafe {
        if matches!(libmimalloc_sys::mi_version() / 10_000, 2 | 3) {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(placard_main()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn placard_main() -> ExitCode {
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
