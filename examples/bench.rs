//! Placard's benchmarks (issue 6): one command per benchmark, results as medians of several runs. See
//! docs/performance.md for the results and what they mean.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example bench -- <benchmark> [--db sqlite|postgres|both] [--runs N]
//! ```
//!
//! Each run starts a real `placard serve` (`target/release/placard`, or `--bin`) on a fresh temporary site —
//! config allowing private addresses and switching the inbox rate limits off, a fresh SQLite file or a
//! PostgreSQL database created for the run and dropped after it — pinned to core 0 with `taskset -c 0`.
//! This process pins itself to core 1 once every request is built and signed (key generation and signing
//! use both cores before any server runs), and drives the load over 64 keep-alive HTTP/1.1 connections with
//! pre-serialized requests. Every run is bounded in time; all traffic stays on loopback.
//!
//! - **b1**: unique ~1.3 KB `Create(Note)` replies to a local post, draft-cavage signed by 200 remote actors
//!   whose keys are cached (each sent one request first); counts 2xx and checks that the number of stored
//!   posts equals the number of 2xx answers.
//! - **b1-dup**: as b1, with half the timed requests byte-for-byte replays of activities accepted before.
//! - **b1-replay**: only replays of accepted activities (the duplicate path alone).
//! - **b1-cold**: 1,000 senders never seen before, several requests each sent back to back; checks that
//!   the fake remote served each actor document exactly once.
//! - **b1-apf**: b1's load against the `activitypub_federation` example server (`--apf-bin`), for the
//!   side-by-side.
//! - **b2**: one post to 10,000 followers on 1,000 hosts (loopback listeners answering 202, no shared
//!   inboxes): time to queue, delivery rate, memory. **b2-dead**: the same with 10% of the hosts never
//!   answering. **b2-kill**: `kill -9` half way, then a restart. **b2-two**: two servers share the queue.
//! - **b12**: b1's timed load while b2's post fans out (memory with both, and a minute after).
//! - **b3**: GET host-meta (a static baseline), actor, WebFinger, a post, the first outbox page.
//! - **b4**: RSS one minute after start (`--idle-secs`).
//! - **db-micro**: what one sqlx round trip costs on this machine (in this process, on the generator's core).
//! - **all**: b4, b1, b1-dup, b1-cold, b3, b2.
//!
//! `--perf FILE` records a `perf` profile (cpu-clock, call graphs) of the server during the timed phase of
//! the first run of each benchmark (FILE gets the benchmark's name appended).

#[path = "bench/load.rs"]
mod load;
#[path = "bench/micro.rs"]
mod micro;
#[path = "bench/remote.rs"]
mod remote;
#[path = "bench/sink.rs"]
mod sink;
#[path = "bench/site.rs"]
mod site;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

use load::{Work, drive};
use remote::{Activity, FakeRemote, KeyPool, NoteFactory};
use site::{DbKind, Env, RssSampler, Site, self_cpu};

#[derive(Parser, Debug)]
#[command(about = "Placard benchmarks (see docs/performance.md)")]
struct Args {
    /// b1 | b1-dup | b1-replay | b1-cold | b1-apf | b2 | b2-dead | b2-kill | b2-two | b12 | b3 | b4 | db-micro | all
    /// (= b4, b1, b1-dup, b1-cold, b3, b2)
    bench: String,
    /// sqlite | postgres | both
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Runs per benchmark; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// B1: timed requests per run.
    #[arg(long, default_value_t = 30_000)]
    requests: usize,
    /// B1: remote actors with cached keys.
    #[arg(long, default_value_t = 200)]
    actors: usize,
    /// B1-cold: senders never seen before.
    #[arg(long, default_value_t = 1000)]
    cold_actors: usize,
    /// B1-cold: requests per cold sender, sent back to back.
    #[arg(long, default_value_t = 3)]
    cold_per_actor: usize,
    /// B3: seconds of load per endpoint (after one second of warm-up).
    #[arg(long, default_value_t = 5.0)]
    serve_secs: f64,
    /// B4: seconds to wait before reading the idle RSS.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// B2: followers of the posting actor.
    #[arg(long, default_value_t = 10_000)]
    followers: usize,
    /// B2: distinct hosts (host:port pairs) they are spread over.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// B2-dead: percentage of hosts that never answer.
    #[arg(long, default_value_t = 10)]
    dead_percent: usize,
    /// B1: after the timed phase, wait this long and record the RSS again (memory given back?).
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
    /// B2: how long to wait for the deliveries, in seconds.
    #[arg(long, default_value_t = 300)]
    fanout_timeout: u64,
    /// The placard binary (default: target/release/placard of this workspace).
    #[arg(long)]
    bin: Option<PathBuf>,
    #[arg(long, default_value = "0")]
    server_core: String,
    #[arg(long, default_value = "1")]
    client_core: String,
    /// PostgreSQL server to create the benchmark databases on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// Extra TOML appended to the server's config (e.g. "[delivery]\nworkers = 64").
    #[arg(long, default_value = "")]
    extra_config: String,
    /// B1-apf: the activitypub_federation example server binary (built in a scratch directory, see
    /// docs/performance.md), started as `BIN localhost:PORT` on the server core.
    #[arg(long)]
    apf_bin: Option<PathBuf>,
    /// Record a perf profile of the server during the first timed run to FILE.BENCH.
    #[arg(long)]
    perf: Option<PathBuf>,
}

/// One run's numbers, by name, in order.
#[derive(Default, Clone)]
struct RunResult {
    metrics: Vec<(String, f64)>,
    notes: Vec<String>,
}

impl RunResult {
    fn set(&mut self, name: &str, v: f64) {
        self.metrics.push((name.to_string(), v));
    }
    fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("    note: {s}");
        self.notes.push(s);
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn summarize(title: &str, runs: &[RunResult]) {
    println!("\n=== {title}: median of {} run(s) ===", runs.len());
    println!("| metric | median | runs |");
    println!("|---|---:|---|");
    let Some(first) = runs.first() else { return };
    for (name, _) in &first.metrics {
        let vals: Vec<f64> = runs
            .iter()
            .map(|r| {
                r.metrics
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(f64::NAN, |(_, v)| *v)
            })
            .collect();
        println!(
            "| {name} | {} | {} |",
            fmt(median(&vals)),
            vals.iter().map(|v| fmt(*v)).collect::<Vec<_>>().join(", ")
        );
    }
    for (i, r) in runs.iter().enumerate() {
        for n in &r.notes {
            println!("  run {}: {n}", i + 1);
        }
    }
}

/// The machine's busy CPU time (all cores) from /proc/stat, to tell how much else was running.
fn machine_busy() -> Duration {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0usize, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| f.get(i).copied().unwrap_or(0))
        .sum::<u64>();
    Duration::from_millis(busy * 10)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU accounting around a timed phase.
struct Meter {
    t0: Instant,
    server0: Duration,
    client0: Duration,
    machine0: Duration,
}

impl Meter {
    fn start(server: &site::Server) -> Meter {
        Meter {
            t0: Instant::now(),
            server0: server.cpu(),
            client0: self_cpu(),
            machine0: machine_busy(),
        }
    }
    /// Records the cores busy on average over the phase (server, generator, everything else); returns the
    /// server's CPU seconds.
    fn finish(&self, server: &site::Server, r: &mut RunResult) -> f64 {
        let wall = self.t0.elapsed().as_secs_f64();
        let server_secs = server.cpu().saturating_sub(self.server0).as_secs_f64();
        let s = server_secs / wall;
        let c = (self_cpu() - self.client0).as_secs_f64() / wall;
        let m = (machine_busy() - self.machine0).as_secs_f64() / wall;
        r.set("server CPU (cores)", s);
        r.set("generator CPU (cores)", c);
        r.set("other CPU (cores)", (m - s - c).max(0.0));
        server_secs
    }
}

/// `perf record` attached to the server, if asked for.
fn start_perf(args: &Args, name: &str, pid: u32, first_run: bool) -> Option<Child> {
    let base = args.perf.as_ref()?;
    if !first_run {
        return None;
    }
    let out = PathBuf::from(format!("{}.{name}", base.display()));
    Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "1999", "-g", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

fn stop_perf(p: Option<Child>) {
    if let Some(mut c) = p {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(c.id().to_string())
            .status();
        let _ = c.wait();
    }
}

struct Ctx {
    args: Args,
    env: Env,
    remote: Option<FakeRemote>,
    sets: Option<B1Sets>,
}

/// Every inbox request, signed before any timing.
struct B1Sets {
    warm_actors: Vec<String>,
    cold_actors: Vec<String>,
    /// One request per warm actor.
    warm: Arc<Vec<Vec<u8>>>,
    /// B1's timed requests.
    timed: Arc<Vec<Vec<u8>>>,
    /// B1-dup: accepted first (untimed), then replayed.
    dup_seed: Arc<Vec<Vec<u8>>>,
    /// B1-dup's timed requests: even indices new, odd ones replays of `dup_seed`.
    dup_timed: Arc<Vec<Vec<u8>>>,
    /// B1-cold: each cold actor's requests back to back.
    cold: Arc<Vec<Vec<u8>>>,
    /// B1-apf: the warm-up and B1's activities, signed for the example server's `/beta/inbox`.
    apf_warm: Arc<Vec<Vec<u8>>>,
    apf_timed: Arc<Vec<Vec<u8>>>,
}

const PARENT_TOKEN: &str = "benchparent";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let benches: Vec<&'static str> = match args.bench.as_str() {
        "all" => vec!["b4", "b1", "b1-dup", "b1-cold", "b3", "b2"],
        "b1" => vec!["b1"],
        "b1-dup" => vec!["b1-dup"],
        "b1-cold" => vec!["b1-cold"],
        "b2" => vec!["b2"],
        "b2-dead" => vec!["b2-dead"],
        "b2-kill" => vec!["b2-kill"],
        "b2-two" => vec!["b2-two"],
        "b12" => vec!["b12"],
        "b3" => vec!["b3"],
        "b4" => vec!["b4"],
        "db-micro" => vec!["db-micro"],
        "b1-apf" => vec!["b1-apf"],
        "b1-replay" => vec!["b1-replay"],
        other => {
            bail!(
                "unknown benchmark {other:?}: b1, b1-dup, b1-replay, b1-cold, b1-apf, b2, b2-dead, b2-kill, b2-two, b12, b3, b4, db-micro or all"
            )
        }
    };
    let dbs: Vec<DbKind> = match args.db.as_str() {
        "sqlite" => vec![DbKind::Sqlite],
        "postgres" => vec![DbKind::Postgres],
        "both" => vec![DbKind::Sqlite, DbKind::Postgres],
        other => bail!("--db: sqlite, postgres or both, not {other:?}"),
    };
    let bin = args
        .bin
        .clone()
        .unwrap_or_else(|| site::workspace_dir().join("target/release/placard"));
    if !bin.is_file() {
        bail!(
            "{} does not exist: run `cargo build --release` first",
            bin.display()
        );
    }
    let bin_for_probe = bin.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let env = Env {
            bin,
            port: free_port(0),
            server_core: args.server_core.clone(),
            postgres_admin_url: args.postgres_url.clone(),
            extra_config: format!(
                "{}{}",
                no_rate_limits(&bin_for_probe)?,
                args.extra_config.replace("\\n", "\n")
            ),
        };
        print_machine(&env);
        let mut ctx = Ctx {
            args,
            env,
            remote: None,
            sets: None,
        };
        if benches.iter().any(|b| b.starts_with("b1")) {
            prepare_b1(&mut ctx, &benches).await?;
        }
        pin_self(&ctx.args.client_core)?;
        for bench in &benches {
            for db in &dbs {
                let mut runs = Vec::new();
                for i in 0..ctx.args.runs {
                    println!(
                        "\n--- {bench} on {} run {}/{} (load average {}) ---",
                        where_(bench, *db),
                        i + 1,
                        ctx.args.runs,
                        loadavg()
                    );
                    let r = match *bench {
                        "b1" | "b1-dup" | "b1-cold" | "b1-replay" => {
                            b1_run(&ctx, *db, bench, i == 0).await
                        }
                        "b2" => b2_run(&ctx, *db, Fanout::Plain, i == 0).await,
                        "b2-dead" => b2_run(&ctx, *db, Fanout::DeadHosts, i == 0).await,
                        "b2-kill" => b2_run(&ctx, *db, Fanout::KillHalfWay, i == 0).await,
                        "b2-two" => b2_run(&ctx, *db, Fanout::TwoProcesses, i == 0).await,
                        "b12" => b2_run(&ctx, *db, Fanout::WithInbox, i == 0).await,
                        "b3" => b3_run(&ctx, *db, i == 0).await,
                        "b4" => b4_run(&ctx, *db).await,
                        "db-micro" => micro_run(&ctx, *db).await,
                        "b1-apf" => apf_run(&ctx, i == 0).await,
                        _ => unreachable!(),
                    };
                    match r {
                        Ok(r) => {
                            for (n, v) in &r.metrics {
                                println!("    {n}: {}", fmt(*v));
                            }
                            runs.push(r)
                        }
                        Err(e) => {
                            println!("    FAILED: {e:#}");
                            return Err(e);
                        }
                    }
                }
                summarize(&format!("{bench} on {}", where_(bench, *db)), &runs);
            }
        }
        Ok(())
    })
}

/// The inbox rate limits (`[limits]`, 200 requests/s per IP by default) would turn a load test from one
/// address into a test of the limiter: they are switched off when the binary has them.
fn no_rate_limits(bin: &std::path::Path) -> anyhow::Result<String> {
    const LIMITS: &str = "\n[limits]\ninbox_per_ip_per_minute = 0\ninbox_per_host_per_minute = 0\n";
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "public_url = \"http://localhost:1\"\nlisten = \"127.0.0.1:1\"\ndatabase_url = \"sqlite://{}\"\n{LIMITS}",
            dir.path().join("probe.db").display()
        ),
    )?;
    let out = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .env_remove("RUST_LOG")
        .output()?;
    if out.status.success() {
        println!("the binary has inbox rate limits: switched off for the benchmarks");
        Ok(LIMITS.to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("limits") {
            bail!("placard migrate failed on a probe config: {err}");
        }
        Ok(String::new())
    }
}

/// A free port below the ephemeral range (32768–60999 here), so that no listener bound to port 0 later (the
/// fan-out sink binds a thousand) can take it while the server is between runs.
/// What a benchmark runs on, for headings: the database, or memory for the example server.
fn where_(bench: &str, db: DbKind) -> &'static str {
    if bench == "b1-apf" {
        "the example server (in memory)"
    } else {
        db.name()
    }
}

fn free_port(avoid: u16) -> u16 {
    let start = 20_000 + (std::process::id() % 5_000) as u16 * 2;
    (start..32_000)
        .chain(20_000..start)
        .find(|p| *p != avoid && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 32000")
}

fn print_machine(env: &Env) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {nproc} cores, {model}, {}; server {} on core {}, generator on core(s) given by --client-core",
        mem.split_whitespace().skip(1).collect::<Vec<_>>().join(" "),
        env.bin.display(),
        env.server_core
    );
}

/// Pins every thread of this process to `core` (new threads inherit it).
fn pin_self(core: &str) -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", core])
        .arg(std::process::id().to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .context("taskset")?;
    if !status.success() {
        bail!("taskset -a -p -c {core} failed");
    }
    Ok(())
}

/// Keys, the fake remote, and the signed inbox requests of the benchmarks asked for.
async fn prepare_b1(ctx: &mut Ctx, benches: &[&str]) -> anyhow::Result<()> {
    let a = &ctx.args;
    let wants = |b: &str| benches.contains(&b);
    let t = Instant::now();
    let pool = Arc::new(KeyPool::generate(16));
    let warm_actors: Vec<String> = (0..a.actors).map(|i| format!("w{i}")).collect();
    let cold_actors: Vec<String> = (0..a.cold_actors).map(|i| format!("c{i}")).collect();
    let all: Vec<String> = warm_actors.iter().chain(&cold_actors).cloned().collect();
    let remote = FakeRemote::start(free_port(ctx.env.port), &all, pool).await?;
    let local_origin = format!("http://localhost:{}", ctx.env.port);
    let parent = format!("{local_origin}/posts/{PARENT_TOKEN}");
    let inbox = format!("{local_origin}/inbox");
    let mut f = NoteFactory::new(&remote.origin, &local_origin, "alice", &parent);
    let round_robin = |f: &mut NoteFactory, n: usize| -> Vec<Activity> {
        (0..n)
            .map(|i| f.create(&warm_actors[i % warm_actors.len()]))
            .collect()
    };
    let n_or_0 = |yes: bool, n: usize| if yes { n } else { 0 };
    let warm: Vec<Activity> = warm_actors.iter().map(|w| f.create(w)).collect();
    let timed = round_robin(
        &mut f,
        n_or_0(wants("b1") || wants("b1-apf") || wants("b12"), a.requests),
    );
    let seed = round_robin(
        &mut f,
        n_or_0(wants("b1-dup") || wants("b1-replay"), a.requests / 2),
    );
    let fresh = round_robin(&mut f, n_or_0(wants("b1-dup"), a.requests / 2));
    let mut cold = Vec::new();
    if wants("b1-cold") {
        for c in &cold_actors {
            for _ in 0..a.cold_per_actor {
                cold.push(f.create(c));
            }
        }
    }
    let sizes: Vec<usize> = warm.iter().map(|x| x.body.len()).collect();
    println!(
        "prepared {} activities, body {}–{} bytes; signing…",
        warm.len() + timed.len() + seed.len() + fresh.len() + cold.len(),
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0)
    );
    let (apf_warm, apf_timed) = if wants("b1-apf") {
        let apf_inbox = format!("{local_origin}/beta/inbox");
        (
            remote::sign_all(&remote, &apf_inbox, &warm),
            remote::sign_all(&remote, &apf_inbox, &timed),
        )
    } else {
        (vec![], vec![])
    };
    let warm = remote::sign_all(&remote, &inbox, &warm);
    let timed = if wants("b1") || wants("b12") {
        remote::sign_all(&remote, &inbox, &timed)
    } else {
        vec![]
    };
    let seed = remote::sign_all(&remote, &inbox, &seed);
    let fresh = remote::sign_all(&remote, &inbox, &fresh);
    let cold = remote::sign_all(&remote, &inbox, &cold);
    let mut dup_timed = Vec::with_capacity(fresh.len() * 2);
    for (n, s) in fresh.iter().zip(&seed) {
        dup_timed.push(n.clone());
        dup_timed.push(s.clone());
    }
    println!(
        "keys and signatures ready in {:.1} s; request size {} bytes",
        t.elapsed().as_secs_f64(),
        warm.first().map_or(0, |r| r.len())
    );
    ctx.sets = Some(B1Sets {
        warm_actors,
        cold_actors,
        warm: Arc::new(warm),
        timed: Arc::new(timed),
        dup_seed: Arc::new(seed),
        dup_timed: Arc::new(dup_timed),
        cold: Arc::new(cold),
        apf_warm: Arc::new(apf_warm),
        apf_timed: Arc::new(apf_timed),
    });
    ctx.remote = Some(remote);
    Ok(())
}

/// A fresh site with the local actor `alice` and her post `/posts/benchparent`, migrated, not yet serving.
async fn setup_site(ctx: &Ctx, db: DbKind) -> anyhow::Result<Site> {
    let site = Site::new(&ctx.env, db).await?;
    site.cli(&["migrate"])?;
    site.cli(&[
        "actor", "create", "alice", "--kind", "person", "--name", "Alice",
    ])?;
    let pdb = site.db().await?;
    let alice = placard::db::actors::find_local(&pdb, "alice")
        .await?
        .context("alice was not created")?;
    let config = placard::Config::load(Some(&site.config_path))?;
    let urls = placard::urls::Urls::new(&config);
    let ap_id = urls.post(PARENT_TOKEN);
    let text = "Demonstration on Saturday at ten, station square. Who is coming?";
    let mut conn = pdb.pool.acquire().await?;
    placard::db::posts::insert(
        &mut conn,
        &placard::db::posts::NewPost {
            ap_id: ap_id.clone(),
            local: true,
            kind: "Note".into(),
            author_id: alice.id,
            content: format!("<p>{text}</p>"),
            source: Some(text.into()),
            summary: None,
            sensitive: false,
            visibility: "public".into(),
            in_reply_to: None,
            parent_id: None,
            context: Some(urls.context(&ap_id)),
            url: Some(ap_id.clone()),
            published_at: placard::db::now_ms(),
            to_json: serde_json::to_string(&["https://www.w3.org/ns/activitystreams#Public"])?,
            cc_json: serde_json::to_string(&[urls.followers("alice")])?,
            tags_json: "[]".into(),
            attachments_json: "[]".into(),
        },
    )
    .await?
    .context("the parent post was not inserted")?;
    drop(conn);
    pdb.pool.close().await;
    Ok(site)
}

async fn count_remote_posts(site: &Site) -> anyhow::Result<i64> {
    let pdb = site.db().await?;
    let n = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM posts WHERE local = 0")
        .fetch_one(&pdb.pool)
        .await?;
    pdb.pool.close().await;
    Ok(n)
}

/// B1's warm-up: one request from each of its senders, so that their keys are fetched and cached. Every one
/// must be accepted.
async fn warm_up(
    addr: std::net::SocketAddr,
    conns: usize,
    sets: &B1Sets,
) -> anyhow::Result<load::Outcome> {
    let w = drive(
        addr,
        conns,
        Work::List(sets.warm.clone()),
        Duration::from_secs(120),
    )
    .await;
    if w.ok() != sets.warm.len() {
        bail!(
            "warm-up: {} of {} accepted ({})",
            w.ok(),
            w.total(),
            w.failures()
        );
    }
    Ok(w)
}

async fn b1_run(ctx: &Ctx, db: DbKind, bench: &str, first: bool) -> anyhow::Result<RunResult> {
    let sets = ctx.sets.as_ref().expect("prepared");
    let remote = ctx.remote.as_ref().expect("prepared");
    let conns = ctx.args.connections;
    let site = setup_site(ctx, db).await?;
    let mut server = site.serve().await?;
    let addr = site.addr();
    let mut r = RunResult::default();
    remote.reset_counts();
    let mut committed_before = 0usize;
    if bench != "b1-cold" {
        let w = warm_up(addr, conns, sets)
            .await
            .with_context(|| server.log())?;
        let f = remote.fetches(&sets.warm_actors);
        if f.iter().any(|&n| n != 1) {
            r.note(format!(
                "warm-up fetched actor documents {} times for {} actors",
                f.iter().sum::<u32>(),
                f.len()
            ));
        }
        committed_before += w.ok();
    }
    if bench == "b1-dup" || bench == "b1-replay" {
        let s = drive(
            addr,
            conns,
            Work::List(sets.dup_seed.clone()),
            Duration::from_secs(600),
        )
        .await;
        if s.ok() != sets.dup_seed.len() {
            bail!(
                "dup seed: {} of {} accepted ({})",
                s.ok(),
                s.total(),
                s.failures()
            );
        }
        committed_before += s.ok();
    }
    let list = match bench {
        "b1" => sets.timed.clone(),
        "b1-dup" => sets.dup_timed.clone(),
        "b1-replay" => sets.dup_seed.clone(),
        _ => sets.cold.clone(),
    };
    let sampler = RssSampler::start(server.pid());
    let meter = Meter::start(&server);
    let perf = start_perf(
        &ctx.args,
        &format!("{bench}-{}", db.name()),
        server.pid(),
        first,
    );
    let out = drive(addr, conns, Work::List(list), Duration::from_secs(900)).await;
    stop_perf(perf);
    let server_secs = meter.finish(&server, &mut r);
    r.set(
        "server CPU µs per 2xx",
        server_secs * 1e6 / out.ok().max(1) as f64,
    );
    let peak = sampler.finish();
    let hwm = server.hwm_kib();
    let settle = ctx.args.settle_secs;
    if settle > 0 {
        tokio::time::sleep(Duration::from_secs(settle)).await;
        r.set(
            &format!("RSS MiB {settle} s after the load"),
            server.rss_kib() as f64 / 1024.0,
        );
    }
    server.stop();

    r.set("requests", out.total() as f64);
    r.set("accepted (2xx) /s", out.ok_per_sec());
    r.set("p50 ms", out.percentile_ms(50.0));
    r.set("p99 ms", out.percentile_ms(99.0));
    r.set("p99.9 ms", out.percentile_ms(99.9));
    r.set("max ms", out.percentile_ms(100.0));
    r.set("non-2xx", (out.total() - out.ok()) as f64);
    r.set("peak RSS MiB (100 ms samples)", peak as f64 / 1024.0);
    r.set("peak RSS MiB (VmHWM)", hwm as f64 / 1024.0);
    if out.ok() != out.total() {
        r.note(format!("non-2xx answers: {}", out.failures()));
    }
    // Unique activities answered 2xx must each have their post committed.
    let unique_ok = match bench {
        "b1-dup" => {
            let fresh_ok = out
                .samples
                .iter()
                .filter(|s| s.index % 2 == 0 && (200..300).contains(&s.status))
                .count();
            let dup_ok = out.ok() - fresh_ok;
            r.set(
                "unique accepted /s",
                fresh_ok as f64 / out.elapsed.as_secs_f64(),
            );
            r.set("duplicates answered 2xx", dup_ok as f64);
            fresh_ok
        }
        "b1-replay" => 0,
        _ => out.ok(),
    };
    let stored = count_remote_posts(&site).await?;
    let expected = (committed_before + unique_ok) as i64;
    r.set(
        "stored posts = 2xx (1 = yes)",
        (stored == expected) as i64 as f64,
    );
    if stored != expected {
        r.note(format!(
            "MISMATCH: {stored} remote posts stored, {expected} unique activities answered 2xx"
        ));
    }
    if bench == "b1-cold" {
        let f = remote.fetches(&sets.cold_actors);
        let once = f.iter().filter(|&&n| n == 1).count();
        let more = f.iter().filter(|&&n| n > 1).count();
        let never = f.iter().filter(|&&n| n == 0).count();
        r.set("actor documents fetched", f.iter().sum::<u32>() as f64);
        r.set("actors fetched more than once", more as f64);
        r.set(
            "actors fetched exactly once (1 = all)",
            (once == f.len()) as i64 as f64,
        );
        if once != f.len() {
            r.note(format!(
                "FETCH ASSERTION FAILED: of {} cold actors, {once} fetched once, {more} more than once (max {}), {never} never",
                f.len(),
                f.iter().max().unwrap_or(&0)
            ));
        }
    }
    site.cleanup().await;
    Ok(r)
}

/// B1 against the `activitypub_federation` example server (in memory, no database): the same activities,
/// warm keys, connections and cores. Only 2xx answers are counted; its store cannot be inspected.
async fn apf_run(ctx: &Ctx, first: bool) -> anyhow::Result<RunResult> {
    let sets = ctx.sets.as_ref().expect("prepared");
    let remote = ctx.remote.as_ref().expect("prepared");
    let bin = ctx
        .args
        .apf_bin
        .as_ref()
        .context("b1-apf needs --apf-bin PATH")?;
    let dir = tempfile::tempdir()?;
    let log_path = dir.path().join("apf.log");
    let log = std::fs::File::create(&log_path)?;
    let host = format!("localhost:{}", ctx.env.port);
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg(&ctx.env.server_core)
        .arg(bin)
        .arg(&host)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], ctx.env.port));
    let probe = get_request(&host, "/beta", Some("application/activity+json"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = load::once(addr, &probe).await {
            break;
        }
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!(
                "the example server did not start: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id();
    let conns = ctx.args.connections;
    let mut r = RunResult::default();
    remote.reset_counts();
    let w = drive(
        addr,
        conns,
        Work::List(sets.apf_warm.clone()),
        Duration::from_secs(120),
    )
    .await;
    if w.ok() != w.total() {
        r.note(format!(
            "warm-up: {} of {} accepted ({})",
            w.ok(),
            w.total(),
            w.failures()
        ));
    }
    let stat = format!("/proc/{pid}/stat");
    let (t0, s0, c0, m0) = (
        Instant::now(),
        site::cpu_of(&stat),
        self_cpu(),
        machine_busy(),
    );
    let sampler = RssSampler::start(pid);
    let perf = start_perf(&ctx.args, "b1-apf", pid, first);
    let out = drive(
        addr,
        conns,
        Work::List(sets.apf_timed.clone()),
        Duration::from_secs(900),
    )
    .await;
    stop_perf(perf);
    let wall = t0.elapsed().as_secs_f64();
    let s = (site::cpu_of(&stat) - s0).as_secs_f64() / wall;
    let c = (self_cpu() - c0).as_secs_f64() / wall;
    let m = (machine_busy() - m0).as_secs_f64() / wall;
    let peak = sampler.finish();
    let _ = child.kill();
    let _ = child.wait();
    r.set("server CPU (cores)", s);
    r.set("generator CPU (cores)", c);
    r.set("other CPU (cores)", (m - s - c).max(0.0));
    r.set("requests", out.total() as f64);
    r.set("accepted (2xx) /s", out.ok_per_sec());
    r.set("p50 ms", out.percentile_ms(50.0));
    r.set("p99 ms", out.percentile_ms(99.0));
    r.set("p99.9 ms", out.percentile_ms(99.9));
    r.set("max ms", out.percentile_ms(100.0));
    r.set("non-2xx", (out.total() - out.ok()) as f64);
    r.set("peak RSS MiB (100 ms samples)", peak as f64 / 1024.0);
    if out.ok() != out.total() {
        r.note(format!("non-2xx answers: {}", out.failures()));
    }
    Ok(r)
}

fn get_request(host: &str, path: &str, accept: Option<&str>) -> Vec<u8> {
    let mut h = vec![("User-Agent".to_string(), "placard-bench".to_string())];
    if let Some(a) = accept {
        h.push(("Accept".into(), a.into()));
    }
    load::serialize("GET", path, host, &h, b"")
}

fn admin_post(host: &str, path: &str, json: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(json).expect("json");
    load::serialize(
        "POST",
        path,
        host,
        &[
            (
                "Authorization".into(),
                format!("Bearer {}", site::ADMIN_TOKEN),
            ),
            ("Content-Type".into(), "application/json".into()),
        ],
        &body,
    )
}

async fn b3_run(ctx: &Ctx, db: DbKind, first: bool) -> anyhow::Result<RunResult> {
    let site = setup_site(ctx, db).await?;
    let mut server = site.serve().await?;
    let addr = site.addr();
    let host = format!("localhost:{}", ctx.env.port);
    // Twenty more public posts, so the first outbox page is full.
    for i in 0..20 {
        let req = admin_post(
            &host,
            "/api/admin/actors/alice/posts",
            &serde_json::json!({"text": format!("Post number {i} of the benchmark: meet at the square, bring a friend. #demo")}),
        );
        let (status, body) = load::once(addr, &req).await?;
        if status != 201 {
            bail!(
                "creating a post: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    let ap = "application/activity+json";
    let endpoints = [
        (
            "host-meta (static, no database)",
            get_request(&host, "/.well-known/host-meta", None),
        ),
        ("actor", get_request(&host, "/users/alice", Some(ap))),
        (
            "webfinger",
            get_request(
                &host,
                &format!("/.well-known/webfinger?resource=acct:alice@{host}"),
                None,
            ),
        ),
        (
            "post",
            get_request(&host, &format!("/posts/{PARENT_TOKEN}"), Some(ap)),
        ),
        (
            "outbox page 1",
            get_request(&host, "/users/alice/outbox?page=1", Some(ap)),
        ),
    ];
    let mut r = RunResult::default();
    for (name, req) in endpoints {
        let (status, body) = load::once(addr, &req).await?;
        if status != 200 {
            bail!("{name}: {status} {}", String::from_utf8_lossy(&body));
        }
        let req = Arc::new(req);
        // Warm-up.
        drive(
            addr,
            ctx.args.connections,
            Work::Repeat {
                request: req.clone(),
                for_: Duration::from_secs(1),
            },
            Duration::from_secs(30),
        )
        .await;
        let meter = Meter::start(&server);
        let perf = start_perf(
            &ctx.args,
            &format!("b3-{}-{}", name.replace(' ', "-"), db.name()),
            server.pid(),
            first,
        );
        let out = drive(
            addr,
            ctx.args.connections,
            Work::Repeat {
                request: req,
                for_: Duration::from_secs_f64(ctx.args.serve_secs),
            },
            Duration::from_secs_f64(ctx.args.serve_secs + 30.0),
        )
        .await;
        stop_perf(perf);
        let mut m = RunResult::default();
        let server_secs = meter.finish(&server, &mut m);
        m.set(
            "server CPU µs per request",
            server_secs * 1e6 / out.ok().max(1) as f64,
        );
        r.set(&format!("{name}: body bytes"), body.len() as f64);
        r.set(&format!("{name}: requests/s"), out.ok_per_sec());
        r.set(&format!("{name}: p50 ms"), out.percentile_ms(50.0));
        r.set(&format!("{name}: p99 ms"), out.percentile_ms(99.0));
        r.set(&format!("{name}: non-2xx"), (out.total() - out.ok()) as f64);
        for (n, v) in m.metrics {
            r.set(&format!("{name}: {n}"), v);
        }
        if out.ok() != out.total() {
            r.note(format!("{name}: non-2xx answers: {}", out.failures()));
        }
    }
    server.stop();
    site.cleanup().await;
    Ok(r)
}

async fn b4_run(ctx: &Ctx, db: DbKind) -> anyhow::Result<RunResult> {
    let site = setup_site(ctx, db).await?;
    let mut server = site.serve().await?;
    let mut r = RunResult::default();
    tokio::time::sleep(Duration::from_secs(1)).await;
    r.set("RSS MiB 1 s after ready", server.rss_kib() as f64 / 1024.0);
    let wait = Duration::from_secs(ctx.args.idle_secs);
    let elapsed = server.started.elapsed();
    if wait > elapsed {
        tokio::time::sleep(wait - elapsed).await;
    }
    r.set(
        &format!("idle RSS MiB {} s after ready", ctx.args.idle_secs),
        server.rss_kib() as f64 / 1024.0,
    );
    r.set(
        "  of which anonymous (heap, stacks) MiB",
        server.status_kib("RssAnon:") as f64 / 1024.0,
    );
    r.set(
        "  of which file-backed (binary, libraries) MiB",
        server.status_kib("RssFile:") as f64 / 1024.0,
    );
    r.set("threads", thread_count(server.pid()) as f64);
    server.stop();
    site.cleanup().await;
    Ok(r)
}

async fn micro_run(ctx: &Ctx, db: DbKind) -> anyhow::Result<RunResult> {
    let site = setup_site(ctx, db).await?;
    let mut r = RunResult::default();
    for (n, v) in micro::run(&site).await? {
        r.set(&n, v);
    }
    site.cleanup().await;
    Ok(r)
}

fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// The variants of B2.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fanout {
    Plain,
    /// Every tenth host (`--dead-percent`) accepts connections and never answers.
    DeadHosts,
    /// `kill -9` of the server when half the inboxes have the post, then a restart (leases of 5 s).
    KillHalfWay,
    /// A second `placard serve` on the same database, on the client core, shares the queue.
    TwoProcesses,
    /// B1's timed load (after its warm-up) runs while the post fans out; then a minute of rest, for memory.
    WithInbox,
}

async fn b2_run(ctx: &Ctx, db: DbKind, mode: Fanout, first: bool) -> anyhow::Result<RunResult> {
    let a = &ctx.args;
    let with_dead = mode == Fanout::DeadHosts;
    let dead = if with_dead {
        a.hosts * a.dead_percent / 100
    } else {
        0
    };
    let sink = sink::Sink::start(a.hosts - dead, dead).await?;
    // Host i is dead when it falls on the dead share, spread evenly over the list.
    let mut ports = Vec::with_capacity(a.hosts);
    let (mut li, mut di) = (0, 0);
    for i in 0..a.hosts {
        let is_dead = dead > 0 && (i * dead / a.hosts) != ((i + 1) * dead / a.hosts);
        if is_dead {
            ports.push((sink.dead_ports[di], true));
            di += 1;
        } else {
            ports.push((sink.live_ports[li], false));
            li += 1;
        }
    }
    let mut env = ctx.env.clone();
    if mode == Fanout::KillHalfWay {
        // The killed process's leases run out after 5 s instead of 60 s.
        env.extra_config
            .push_str("\n[delivery]\nlease_seconds = 5\n");
    }
    let with_inbox = mode == Fanout::WithInbox;
    let site = if with_inbox {
        // B1's site: alice and the post its replies answer.
        setup_site(ctx, db).await?
    } else {
        let site = Site::new(&env, db).await?;
        site.cli(&["migrate"])?;
        site.cli(&[
            "actor", "create", "alice", "--kind", "person", "--name", "Alice",
        ])?;
        site
    };
    let t = Instant::now();
    let live_followers = insert_followers(&site, &ports, a.followers).await?;
    println!(
        "    inserted {} followers on {} hosts in {:.1} s",
        a.followers,
        a.hosts,
        t.elapsed().as_secs_f64()
    );
    let mut server = site.serve().await?;
    let second = if mode == Fanout::TwoProcesses {
        Some(
            site.serve_on(&a.client_core, free_port(ctx.env.port))
                .await?,
        )
    } else {
        None
    };
    let addr = site.addr();
    let host = format!("localhost:{}", ctx.env.port);
    let mut r = RunResult::default();
    if with_inbox {
        tokio::time::sleep(Duration::from_secs(2)).await;
        r.set(
            "RSS MiB before the inbox warm-up",
            server.rss_kib() as f64 / 1024.0,
        );
        warm_up(addr, a.connections, ctx.sets.as_ref().expect("prepared")).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = server.rss_kib();
    let second_cpu0 = second.as_ref().map(|s| s.cpu());
    let sampler = RssSampler::start(server.pid());
    let meter = Meter::start(&server);
    let perf = start_perf(
        &ctx.args,
        &format!("b2{}-{}", if with_dead { "-dead" } else { "" }, db.name()),
        server.pid(),
        first,
    );
    let req = admin_post(
        &host,
        "/api/admin/actors/alice/posts",
        &serde_json::json!({"text": "Big demonstration tomorrow at ten, station square. Please share!"}),
    );
    let inbox_load = with_inbox.then(|| {
        let sets = ctx.sets.as_ref().expect("prepared");
        tokio::spawn(drive(
            addr,
            a.connections,
            Work::List(sets.timed.clone()),
            Duration::from_secs(900),
        ))
    });
    // Large fan-outs are answered once the post and its fan-out job are stored; the rows per inbox follow.
    let fanouts_db = site.db().await?;
    let t0 = Instant::now();
    let (status, body) = load::once(addr, &req).await?;
    let queued = t0.elapsed();
    let fully_queued = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM fanouts")
                .fetch_one(&fanouts_db.pool)
                .await
                .unwrap_or(-1);
            if jobs == 0 || Instant::now() > deadline {
                let at = t0.elapsed();
                fanouts_db.pool.close().await;
                return at;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let rss_queued = server.rss_kib();
    if status != 201 {
        bail!(
            "creating the post: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let deadline = t0 + Duration::from_secs(a.fanout_timeout);
    if mode == Fanout::KillHalfWay {
        while (sink.total() as usize) < live_followers / 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill9();
        let at_kill = sink.total();
        // What the killed process held: claimed, not recorded. At most these can arrive twice.
        let pdb = site.db().await?;
        let (in_flight,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND claimed_by IS NOT NULL",
        )
        .fetch_one(&pdb.pool)
        .await?;
        let (recorded,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'")
                .fetch_one(&pdb.pool)
                .await?;
        pdb.pool.close().await;
        r.set("received by the sink at kill -9", at_kill as f64);
        r.set("recorded delivered at kill -9", recorded as f64);
        r.set(
            "claimed, not recorded at kill -9 (bound on duplicates)",
            in_flight as f64,
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let restart = Instant::now();
        server = site.serve().await?;
        r.set(
            "restart until ready ms",
            restart.elapsed().as_secs_f64() * 1000.0,
        );
    }
    while (sink.total() as usize) < live_followers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if mode == Fanout::KillHalfWay {
        // Everything arrived: wait for any late duplicate.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let delivered = sink.total() as usize;
    let last = sink.state.last_at.lock().expect("lock").unwrap_or(t0);
    if let Some(load) = inbox_load {
        let out = load.await?;
        r.set("B1 accepted (2xx) /s, during the fan-out", out.ok_per_sec());
        r.set("B1 p99 ms", out.percentile_ms(99.0));
        r.set("B1 non-2xx", (out.total() - out.ok()) as f64);
    }
    let span = last.saturating_duration_since(t0).as_secs_f64();
    stop_perf(perf);
    let server_secs = meter.finish(&server, &mut r);
    // Late duplicates show up within a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let peak = sampler.finish();
    let hwm = server.hwm_kib();
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid())).map_or(0, |d| d.count());
    let (dups, reached): (u32, usize) = {
        let per_inbox = sink.state.per_inbox.lock().expect("lock");
        (
            per_inbox.values().map(|n| n.saturating_sub(1)).sum(),
            per_inbox.values().filter(|n| **n > 0).count(),
        )
    };
    if let (Some(s2), Some(c0)) = (&second, second_cpu0) {
        let secs = (s2.cpu() - c0).as_secs_f64();
        r.set("second process CPU-seconds", secs);
        r.set(
            "deliveries per CPU-second, both processes",
            delivered as f64 / (server_secs + secs).max(1e-9),
        );
    }
    r.set(
        "time to queue (POST answered) ms",
        queued.as_secs_f64() * 1000.0,
    );
    if let Ok(at) = fully_queued.await {
        r.set(
            "time until every inbox's row is queued ms",
            at.as_secs_f64() * 1000.0,
        );
    }
    r.set("healthy inboxes", live_followers as f64);
    r.set("delivered to healthy inboxes", delivered as f64);
    r.set("healthy inboxes reached at least once", reached as f64);
    r.set("duplicate deliveries", dups as f64);
    r.set(
        "delivery rate /s (until the last one)",
        delivered as f64 / span.max(1e-9),
    );
    r.set(
        "deliveries per server CPU-second",
        delivered as f64 / server_secs.max(1e-9),
    );
    r.set("idle RSS MiB", idle as f64 / 1024.0);
    r.set("RSS MiB right after queueing", rss_queued as f64 / 1024.0);
    r.set("peak RSS MiB (100 ms samples)", peak as f64 / 1024.0);
    r.set("peak RSS MiB (VmHWM)", hwm as f64 / 1024.0);
    r.set(
        "peak - idle MiB",
        (hwm.max(peak) as f64 - idle as f64) / 1024.0,
    );
    r.set("server open fds after delivery", fds as f64);
    r.set(
        "connections the sink accepted",
        sink.state
            .connections
            .load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    if with_inbox {
        // Back near idle within a minute (issue 6, B4)?
        tokio::time::sleep(Duration::from_secs(60)).await;
        r.set(
            "RSS MiB 60 s after the load",
            server.rss_kib() as f64 / 1024.0,
        );
    }
    if delivered < live_followers {
        r.note(format!(
            "only {delivered} of {live_followers} healthy inboxes reached within {} s",
            a.fanout_timeout
        ));
    }
    // The deliveries are signed by alice: check one.
    let sample = sink.state.sample.lock().expect("lock").clone();
    if let Some((port, path, headers, body)) = sample {
        let pdb = site.db().await?;
        let alice = placard::db::actors::find_local(&pdb, "alice")
            .await?
            .context("alice")?;
        pdb.pool.close().await;
        let target = format!("http://127.0.0.1:{port}{path}");
        let ok = placard::federation::signatures::parse_request(
            &placard::federation::signatures::RequestParts {
                method: &axum::http::Method::POST,
                path_and_query: &path,
                target_uri: &target,
                headers: &headers,
                body: &body,
            },
            std::time::SystemTime::now(),
        )
        .and_then(|p| {
            let key = placard::federation::signatures::parse_public_key_pem(&alice.public_key_pem)?;
            p.verify(&key)
        });
        r.set(
            "sampled delivery signature valid (1 = yes)",
            ok.is_ok() as i64 as f64,
        );
        if let Err(e) = ok {
            r.note(format!("a delivery's signature does not verify: {e}"));
        }
    }
    server.stop();
    if let Some(mut s2) = second {
        s2.stop();
    }
    site.cleanup().await;
    Ok(r)
}

/// Inserts `n` remote followers of alice spread round-robin over `ports` (no shared inboxes, so each
/// follower is its own delivery). Returns how many are on live hosts.
async fn insert_followers(site: &Site, ports: &[(u16, bool)], n: usize) -> anyhow::Result<usize> {
    let pdb = site.db().await?;
    let alice = placard::db::actors::find_local(&pdb, "alice")
        .await?
        .context("alice")?;
    // Any valid key will do: followers never sign anything here.
    let pem = alice.public_key_pem.replace('\'', "");
    let now = placard::db::now_ms();
    let mut live = 0;
    let mut tx = pdb.pool.begin().await?;
    for chunk_start in (0..n).step_by(500) {
        let mut sql = String::from(
            "INSERT INTO actors (ap_id, local, kind, username, username_lower, domain, inbox_url, \
             public_key_id, public_key_pem, created_at, updated_at, fetched_at) VALUES ",
        );
        for f in chunk_start..(chunk_start + 500).min(n) {
            let (port, dead) = ports[f % ports.len()];
            if !dead {
                live += 1;
            }
            let id = format!("http://127.0.0.1:{port}/users/f{f}");
            if f != chunk_start {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "('{id}', 0, 'Person', 'f{f}', 'f{f}', '127.0.0.1:{port}', '{id}/inbox', '{id}#main-key', '{pem}', {now}, {now}, {now})"
            ));
        }
        sqlx::query(&sql).execute(&mut *tx).await?;
    }
    sqlx::query(&format!(
        "INSERT INTO follows (ap_id, follower_id, followee_id, accepted, created_at, accepted_at) \
         SELECT ap_id || '/follow', id, {}, 1, {now}, {now} FROM actors WHERE local = 0",
        alice.id
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    pdb.pool.close().await;
    Ok(live)
}
