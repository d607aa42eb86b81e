//! The `hydrogen` command line: `serve` (production), `dev` (everything
//! embedded, for a first run), `sim` (a simulated Mesos master).

mod app_cli;
mod config;
mod config_file;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hydrogen::api::auth::ApiToken;
use hydrogen::api::conn::ConnLimits;
use hydrogen::api::server::{
    self, ApiConfig, DEFAULT_BODY_LIMIT, DEFAULT_LISTEN, DEFAULT_REQUEST_TIMEOUT,
};
use hydrogen::ha::{self, HaConfig};
use hydrogen::mesos::subscription::parse_masters;
use hydrogen::scheduler::runtime::SchedulerConfig;
use hydrogen::store::Store;
use hydrogen::store::memory::DEFAULT_EVENT_LOG_CAPACITY;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::redis::{Persistence, RedisOptions, RedisStore};
use hydrogen::store::timed::Timed;
use hydrogen_sim::{SimConfig, Simulator};
use hydrogen_time::HumaneDuration;
use hydrogen_tools::bench::e2e::E2eConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Hydrogen: a highly available Mesos framework for long-running containers.
#[derive(Debug, Parser)]
#[command(name = "hydrogen", version, about, long_about = None)]
struct Cli {
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, global = true, env = "HYDROGEN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

// Parsed once at start and moved once: the size of the biggest variant
// costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run Hydrogen against a Mesos cluster: the API on --listen, the
    /// scheduler while this instance holds the leader lease.
    #[command(after_help = config::SECRETS_HELP)]
    Serve(ServeArgs),
    /// Run everything in one process for a first try: a simulated Mesos
    /// master with agents, the memory store and the API on 127.0.0.1:8080.
    #[command(after_help = config::SECRETS_HELP)]
    Dev(DevArgs),
    /// Run a simulated Mesos master with fake agents, speaking the real v1
    /// scheduler HTTP API (for development, tests and demos).
    Sim(hydrogen_sim::SimArgs),
    /// Deploy, list, inspect, kill and watch apps on a running Hydrogen.
    App(app_cli::AppArgs),
    /// Benchmarks that report figures (see `make bench`).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Soak test of high availability: redis-server, a simulator and
    /// several `hydrogen serve`, a seeded random workload and faults, the
    /// invariants checked throughout. Prints the seed first and one JSON
    /// summary as the last line; exits 1 on any violation.
    Chaos(ChaosArgs),
}

#[derive(Debug, clap::Args)]
struct ChaosArgs {
    /// Seconds of faults and writes (split into rounds, each followed by a
    /// quiet period).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seed of every random decision (default: random; printed first).
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated agents.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// `hydrogen serve` instances sharing the Redis store.
    #[arg(long, default_value_t = 3)]
    instances: usize,
    /// Length of one round's fault window.
    #[arg(long, default_value = "30s")]
    round: HumaneDuration,
    /// How long the cluster may take to converge once faults stop.
    #[arg(long, default_value = "60s")]
    converge_within: HumaneDuration,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    redis_server: std::path::PathBuf,
    /// Run Redis as a primary, two replicas and three sentinels (all
    /// redis-server) and point the instances at them with
    /// redis+sentinel://; adds the redis_primary_kill fault (kill -9 the
    /// primary, back later as a replica) and drops redis_restart.
    #[arg(long)]
    sentinel: bool,
    /// With --sentinel: the instances' --redis-min-replicas. The default,
    /// every replica (2), is the only setting under which a primary that
    /// is frozen past a promotion (redis_stall_batch) loses nothing; 1, the
    /// product's default with replicas, survives redis_primary_kill only,
    /// so pair it with a --faults list without redis_stall_batch.
    #[arg(long, requires = "sentinel", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=2))]
    redis_min_replicas: u32,
    /// The hydrogen binary run as the children (default: this one).
    #[arg(long)]
    hydrogen_bin: Option<std::path::PathBuf>,
    /// Only these faults, comma-separated (default: every kind; the kinds
    /// are the keys of the summary's `faults`).
    #[arg(long, value_name = "KINDS")]
    faults: Option<String>,
    /// Leave these faults out, comma-separated.
    #[arg(long, value_name = "KINDS")]
    skip_faults: Option<String>,
    /// SSE watchers a `watcher_storm` opens on the leader.
    #[arg(long, default_value_t = 1000)]
    storm_sse: usize,
    /// gRPC `WatchTasks` streams a `watcher_storm` opens on the leader.
    #[arg(long, default_value_t = 200)]
    storm_grpc: usize,
    /// Apps in the batch deploy of a `redis_stall_batch`.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    batch_apps: u64,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The simulator, a memory store and the scheduler in one process:
    /// deploy apps × instances, time until all RUNNING, then lose a tenth
    /// of the agents and time the replacement. Prints one JSON object as
    /// the last line.
    E2e(E2eArgs),
}

#[derive(Debug, clap::Args)]
struct E2eArgs {
    /// Simulated agents (cpus 4, mem 8192 each).
    #[arg(long, default_value_t = E2eConfig::default().agents)]
    agents: usize,
    /// Apps to deploy.
    #[arg(long, default_value_t = E2eConfig::default().apps)]
    apps: usize,
    /// Instances per app.
    #[arg(long, default_value_t = E2eConfig::default().instances)]
    instances: u32,
    /// Where state lives: `memory`, or `redis://[:password@]host:port/db`
    /// (`rediss://` for TLS). With Redis, the run's keys live under a fresh
    /// prefix `hydrogen-bench-<pid>-<ms>` and are deleted at the end; use a
    /// throwaway server (`scripts/with-redis.sh` runs a command next to one): the
    /// storm and deploy write tens of thousands of events.
    #[arg(long, default_value_t = E2eConfig::default().store)]
    store: String,
    /// CPUs per task.
    #[arg(long, default_value_t = E2eConfig::default().cpus)]
    cpus: f64,
    /// Mem (MB) per task.
    #[arg(long, default_value_t = E2eConfig::default().mem)]
    mem: f64,
    /// The simulator's allocation interval.
    #[arg(long, default_value_t = HumaneDuration(E2eConfig::default().allocation_interval))]
    allocation_interval: HumaneDuration,
    /// The simulator's task start delay (STARTING → RUNNING).
    #[arg(long, default_value_t = HumaneDuration(E2eConfig::default().task_start_delay))]
    task_start_delay: HumaneDuration,
    /// Fraction of agents lost in the storm (0: no storm).
    #[arg(long, default_value_t = E2eConfig::default().storm_fraction)]
    storm: f64,
    /// Give up a phase after this long.
    #[arg(long, default_value_t = HumaneDuration(E2eConfig::default().timeout))]
    timeout: HumaneDuration,
    /// Worker threads of the simulator's own runtime.
    #[arg(long, default_value_t = E2eConfig::default().sim_threads)]
    sim_threads: usize,
}

/// API options shared by `serve` and `dev`.
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// Require `Authorization: Bearer TOKEN` on every API call but health
    /// checks (both gRPC and REST). Visible in `ps`: prefer the variable or
    /// --api-token-file.
    #[arg(long, env = "HYDROGEN_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// File holding the API token (trailing newline ignored).
    #[arg(long, env = "HYDROGEN_API_TOKEN_FILE", value_name = "FILE")]
    api_token_file: Option<std::path::PathBuf>,
    /// Largest request body (bytes).
    #[arg(long, env = "HYDROGEN_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Longest a non-streaming request may take.
    #[arg(long, env = "HYDROGEN_REQUEST_TIMEOUT", default_value_t = HumaneDuration(DEFAULT_REQUEST_TIMEOUT))]
    request_timeout: HumaneDuration,
    /// Longest a client may take to send a request's headers (a silent or
    /// slow connection is closed after it).
    #[arg(long, env = "HYDROGEN_HEADER_TIMEOUT", default_value_t = HumaneDuration(ConnLimits::default().header_timeout))]
    header_timeout: HumaneDuration,
    /// Longest a connection may stay open with no request running.
    #[arg(long, env = "HYDROGEN_IDLE_TIMEOUT", default_value_t = HumaneDuration(ConnLimits::default().idle_timeout))]
    idle_timeout: HumaneDuration,
    /// Most API connections open at once; more are closed on accept.
    #[arg(long, env = "HYDROGEN_MAX_CONNECTIONS", default_value_t = ConnLimits::default().max_connections as u64, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address of the API (gRPC and REST on one port).
    #[arg(long, env = "HYDROGEN_LISTEN", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Mesos masters, comma-separated (`http://m1:5050,http://m2:5050`);
    /// Hydrogen follows redirects to the leading one.
    #[arg(long, env = "HYDROGEN_MASTER", value_name = "URL[,URL...]")]
    master: String,
    /// Where state lives: `memory` (one instance), `redis://[:password@]host:port/db`
    /// (several instances, high availability) or
    /// `redis+sentinel://[:password@]host:port[,host:port...]/MASTER_NAME[/db]`
    /// (the primary the sentinels name; `rediss+sentinel://` for TLS). A password here is visible in
    /// `ps`: prefer the variable, --store-file or --redis-password-file.
    #[arg(
        long,
        env = "HYDROGEN_STORE",
        default_value = "memory",
        hide_env_values = true
    )]
    store: String,
    /// File holding the --store URL (trailing newline ignored).
    #[arg(long, env = "HYDROGEN_STORE_FILE", value_name = "FILE")]
    store_file: Option<std::path::PathBuf>,
    /// Password of the Redis store, added to the --store URL. Visible in
    /// `ps`: prefer the variable or --redis-password-file.
    #[arg(long, env = "HYDROGEN_REDIS_PASSWORD", hide_env_values = true)]
    redis_password: Option<String>,
    /// File holding the Redis password (trailing newline ignored).
    #[arg(long, env = "HYDROGEN_REDIS_PASSWORD_FILE", value_name = "FILE")]
    redis_password_file: Option<std::path::PathBuf>,
    /// Password of the sentinels of a redis+sentinel:// --store (the data
    /// nodes' password is --redis-password or the URL's). Visible in `ps`:
    /// prefer the variable or --redis-sentinel-password-file.
    #[arg(long, env = "HYDROGEN_REDIS_SENTINEL_PASSWORD", hide_env_values = true)]
    redis_sentinel_password: Option<String>,
    /// File holding the sentinels' password (trailing newline ignored).
    #[arg(
        long,
        env = "HYDROGEN_REDIS_SENTINEL_PASSWORD_FILE",
        value_name = "FILE"
    )]
    redis_sentinel_password_file: Option<std::path::PathBuf>,
    /// Replicas that must confirm each write (Redis WAIT) before Hydrogen
    /// acknowledges it or acts on it; fewer and the API answers 503 and the
    /// scheduler neither launches nor acknowledges. Default: 1 when the
    /// primary has replicas at start, else 0.
    #[arg(long, env = "HYDROGEN_REDIS_MIN_REPLICAS", value_name = "N")]
    redis_min_replicas: Option<u32>,
    /// Address other instances and clients reach this one at (default: --listen).
    #[arg(long, env = "HYDROGEN_ADVERTISE")]
    advertise: Option<String>,
    /// Unique id of this instance (default: hostname plus a random suffix).
    #[arg(long, env = "HYDROGEN_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Prefix of every Redis key, so several Hydrogen clusters can share one Redis.
    #[arg(long, env = "HYDROGEN_REDIS_PREFIX", default_value_t = RedisOptions::default().prefix)]
    redis_prefix: String,
    /// Deadline of every Redis operation; past it the API answers 503 and a
    /// leader steps down rather than guess.
    #[arg(long, env = "HYDROGEN_REDIS_TIMEOUT", default_value_t = HumaneDuration(RedisOptions::default().timeout))]
    redis_timeout: HumaneDuration,
    /// For rediss://: PEM file of the CA that signed the Redis server's certificate.
    #[arg(long, env = "HYDROGEN_REDIS_TLS_CA", value_name = "FILE")]
    redis_tls_ca: Option<std::path::PathBuf>,
    /// Lead even on a Redis without persistence (no AOF, no RDB save points):
    /// its restart forgets the framework id.
    #[arg(long, env = "HYDROGEN_ALLOW_VOLATILE_STORE")]
    allow_volatile_store: bool,
    /// Task events kept for watches to resume from (memory and Redis).
    #[arg(long, env = "HYDROGEN_EVENT_LOG_CAPACITY", default_value_t = DEFAULT_EVENT_LOG_CAPACITY as u64, value_parser = clap::value_parser!(u64).range(1..))]
    event_log_capacity: u64,
    /// Leader lease time to live: a dead leader is replaced after at most this.
    #[arg(long, env = "HYDROGEN_LEASE_TTL", default_value_t = HumaneDuration(ha_defaults().lease_ttl))]
    lease_ttl: HumaneDuration,
    /// How often the leader renews its lease (well below --lease-ttl).
    #[arg(long, env = "HYDROGEN_LEASE_RENEW", default_value_t = HumaneDuration(ha_defaults().renew_interval))]
    lease_renew: HumaneDuration,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    scheduler: config::SchedulerArgs,
}

#[derive(Debug, clap::Args)]
struct DevArgs {
    /// Address of the API (gRPC and REST on one port).
    #[arg(long, env = "HYDROGEN_LISTEN", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Number of simulated agents.
    #[arg(long, env = "HYDROGEN_DEV_AGENTS", default_value_t = SimConfig::default().agents.len() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    agents: u64,
    /// Address of the embedded simulated Mesos master.
    #[arg(
        long,
        env = "HYDROGEN_DEV_SIM_LISTEN",
        default_value_t = SimConfig::default().listen
    )]
    sim_listen: SocketAddr,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    scheduler: config::SchedulerArgs,
}

/// The election defaults, which `--lease-*` show and default to.
fn ha_defaults() -> HaConfig {
    HaConfig::new(String::new(), String::new())
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_env("HYDROGEN_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        token.cancel();
    });
}

fn api_config(args: &ApiArgs, listen: SocketAddr, instance_id: &str) -> anyhow::Result<ApiConfig> {
    Ok(ApiConfig {
        listen,
        api_token: config::secret(
            args.api_token.as_deref(),
            args.api_token_file.as_deref(),
            "api-token",
        )?
        .map(ApiToken::new),
        body_limit: args.body_limit,
        request_timeout: args.request_timeout.0,
        instance_id: instance_id.to_string(),
        leadership: None,
        refusal: Default::default(),
        roles: Vec::new(),
        limits: ConnLimits {
            header_timeout: nonzero(args.header_timeout.0, "--header-timeout")?,
            idle_timeout: nonzero(args.idle_timeout.0, "--idle-timeout")?,
            max_connections: usize::try_from(args.max_connections)
                .context("--max-connections: too large for this machine")?,
        },
        masters: Vec::new(),
    })
}

fn nonzero(d: Duration, flag: &str) -> anyhow::Result<Duration> {
    if d.is_zero() {
        bail!("{flag}: must be longer than zero");
    }
    Ok(d)
}

/// The masters as `/v1/api/cluster` shows them: without any credentials.
fn shown_masters(masters: &[reqwest::Url]) -> Vec<String> {
    masters
        .iter()
        .map(|m| {
            let mut m = m.clone();
            let _ = m.set_username("");
            let _ = m.set_password(None);
            m.to_string()
        })
        .collect()
}

/// Serves the API and runs elections (and the scheduler while leading)
/// until a signal.
async fn run<S: Store>(
    store: Arc<S>,
    listener: TcpListener,
    api: ApiConfig,
    ha_config: HaConfig,
    scheduler: SchedulerConfig,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    // Before the first metric is recorded, or it would be lost.
    let _ = hydrogen::telemetry::prometheus();
    // Printed once the store is usable: tests and scripts wait for it.
    println!("listening on http://{}", api.listen);
    let (leadership, _) = watch::channel(None);
    // `/readyz` and the `hydrogen_leader` gauge follow the election loop.
    let mut api = api;
    api.leadership = Some(leadership.subscribe());
    api.refusal = scheduler.refusal.clone();
    // A refusal set before the start (a volatile store) is for the life of
    // the process: this instance serves the API but never leads.
    let elections = match scheduler.refusal.get() {
        Some(_) => tokio::spawn(async {}),
        None => tokio::spawn(ha::run_dedicated(
            store.clone(),
            ha_config,
            scheduler,
            leadership,
            cancel.clone(),
        )),
    };
    let served = server::serve(store, api, listener, cancel.clone()).await;
    cancel.cancel();
    let _ = elections.await;
    served.context("the API server failed")
}

async fn bind(listen: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("{flag} {listen}: cannot listen there (in use? try another port)"))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let masters = parse_masters(&args.master).context("--master")?;
    let scheduler = args.scheduler.scheduler_config(masters)?;
    let listener = bind(args.listen, "--listen").await?;
    let local = listener.local_addr()?;
    let instance_id = args
        .instance_id
        .clone()
        .unwrap_or_else(config::default_instance_id);
    let mut api = api_config(&args.api, local, &instance_id)?;
    api.masters = shown_masters(&scheduler.masters);
    api.roles = scheduler.roles.clone();
    let mut ha_config = HaConfig::new(
        instance_id,
        config::advertised(local, args.advertise.as_deref()),
    );
    config::lease_timings(&mut ha_config, args.lease_ttl.0, args.lease_renew.0)?;
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let event_log_capacity = usize::try_from(args.event_log_capacity)
        .context("--event-log-capacity: too large for this machine")?;
    let store = store_url(&args)?;
    if store == "memory" {
        let store = Timed::new(MemoryStore::new(event_log_capacity), "memory");
        run(Arc::new(store), listener, api, ha_config, scheduler, cancel).await
    } else if store.starts_with("redis://")
        || store.starts_with("rediss://")
        || hydrogen::store::redis::sentinel::is_sentinel_url(&store)
    {
        let sentinel_password = config::secret(
            args.redis_sentinel_password.as_deref(),
            args.redis_sentinel_password_file.as_deref(),
            "redis-sentinel-password",
        )?;
        if sentinel_password.is_some() && !hydrogen::store::redis::sentinel::is_sentinel_url(&store)
        {
            bail!("--redis-sentinel-password: only for a redis+sentinel:// --store");
        }
        let options = RedisOptions {
            prefix: args.redis_prefix.clone(),
            event_log_capacity,
            timeout: args.redis_timeout.0,
            tls_ca_file: args.redis_tls_ca.clone(),
            sentinel_password,
            min_replicas: args.redis_min_replicas,
            ..RedisOptions::default()
        };
        let store = RedisStore::connect(&store, options)
            .await
            .context("--store: cannot use this Redis (is it running and reachable?)")?;
        check_persistence(&store, args.allow_volatile_store, &scheduler).await?;
        let store = Timed::new(store, "redis");
        run(Arc::new(store), listener, api, ha_config, scheduler, cancel).await
    } else {
        bail!(
            "--store {}: expected `memory`, `redis://[:password@]host:port/db` or \
             `redis+sentinel://[:password@]host:port[,host:port...]/MASTER_NAME[/db]`",
            hydrogen::store::redis::redact_url(&store)
        )
    }
}

/// Refuses to lead on a Redis without persistence unless
/// --allow-volatile-store: its restart would forget the framework id.
async fn check_persistence(
    store: &RedisStore,
    allow: bool,
    scheduler: &SchedulerConfig,
) -> anyhow::Result<()> {
    match store
        .persistence()
        .await
        .context("--store: cannot read the Redis persistence settings")?
    {
        Persistence::Durable => {}
        Persistence::Volatile if allow => tracing::warn!(
            "the Redis store has no persistence (no AOF, no RDB save points); leading anyway \
             (--allow-volatile-store): if it restarts, the framework id is lost"
        ),
        Persistence::Volatile => {
            let why = "refusing to lead: the Redis store has no persistence (appendonly no and \
                       no save points), so a Redis restart would forget the framework id and \
                       orphan every task; enable AOF (CONFIG SET appendonly yes) or RDB save \
                       points, or start Hydrogen with --allow-volatile-store";
            tracing::error!("{why}");
            scheduler.refusal.set(Some(why.to_string()));
        }
        Persistence::Unknown(e) => tracing::warn!(
            error = %e,
            "cannot check whether the Redis store persists its data (CONFIG GET refused, as \
             managed Redis services do); make sure it does: a Redis restart without \
             persistence forgets the framework id"
        ),
    }
    Ok(())
}

/// The store URL from --store or --store-file, with --redis-password(-file)
/// set in it.
fn store_url(args: &ServeArgs) -> anyhow::Result<String> {
    // --store always has a value (its default): the file wins over the
    // default only, and over a --store given too it is an error.
    let from_file = config::secret(None, args.store_file.as_deref(), "store")?;
    let store = match from_file {
        Some(_) if args.store != "memory" => {
            bail!("--store and --store-file: give one, not both")
        }
        Some(url) => url,
        None => args.store.clone(),
    };
    let password = config::secret(
        args.redis_password.as_deref(),
        args.redis_password_file.as_deref(),
        "redis-password",
    )?;
    config::store_with_password(&store, password.as_deref())
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    // Check every option before starting anything.
    let mut scheduler = args.scheduler.scheduler_config(Vec::new())?;
    let sim = Simulator::start(SimConfig {
        listen: args.sim_listen,
        agents: (1..=usize::try_from(args.agents).context("--agents: too many")?)
            .map(hydrogen_sim::cluster::default_agent)
            .collect(),
        ..SimConfig::default()
    })
    .await
    .with_context(|| {
        format!(
            "--sim-listen {}: cannot start the simulated master",
            args.sim_listen
        )
    })?;
    scheduler.masters = parse_masters(&sim.url()).context("simulated master url")?;
    let listener = bind(args.listen, "--listen").await?;
    let local = listener.local_addr()?;
    let instance_id = config::default_instance_id();
    let mut api = api_config(&args.api, local, &instance_id)?;
    api.masters = shown_masters(&scheduler.masters);
    api.roles = scheduler.roles.clone();
    let ha_config = HaConfig::new(instance_id, local.to_string());
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    println!("simulated mesos master on {}", sim.url());
    let result = run(
        Arc::new(Timed::new(MemoryStore::default(), "memory")),
        listener,
        api,
        ha_config,
        scheduler,
        cancel,
    )
    .await;
    sim.shutdown().await;
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli: Cli = config_file::parse();
    let server = match cli.command {
        Command::App(args) => {
            // A tool for people: errors as one line and a meaningful exit code.
            if let Err(e) = app_cli::run(args).await {
                eprintln!("error: {e:#}");
                std::process::exit(app_cli::exit_code(&e));
            }
            return Ok(());
        }
        other => other,
    };
    // Benchmarks measure the work, not a log line per task.
    let level = match server {
        Command::Bench(_) | Command::Chaos(_) => "warn",
        _ => "info",
    };
    init_logging(cli.log_format, level);
    match server {
        Command::Serve(args) => serve(args).await,
        Command::Dev(args) => dev(args).await,
        Command::Sim(args) => {
            let config = args
                .into_config()
                .context("invalid simulator configuration")?;
            hydrogen_sim::run_until_signal(config)
                .await
                .context("simulated master failed")
        }
        Command::App(_) => unreachable!("handled above"),
        Command::Bench(BenchCommand::E2e(args)) => bench_e2e(args).await,
        Command::Chaos(args) => chaos(args).await,
    }
}

async fn chaos(args: ChaosArgs) -> anyhow::Result<()> {
    if args.instances < 2 {
        bail!("--instances: at least 2, or there is no failover to test");
    }
    if args.agents == 0 {
        bail!("--agents: at least one agent is needed to run anything");
    }
    if args.storm_sse + args.storm_grpc == 0 {
        bail!(
            "--storm-sse, --storm-grpc: a storm needs at least one watcher (leave watcher_storm out with --skip-faults instead)"
        );
    }
    let kinds = |flag: &str, list: &Option<String>| match list {
        Some(l) => hydrogen_tools::chaos::faults::parse_kinds(l)
            .map_err(|e| anyhow::anyhow!("--{flag}: {e}")),
        None => Ok(Vec::new()),
    };
    let only = kinds("faults", &args.faults)?;
    let skip = kinds("skip-faults", &args.skip_faults)?;
    let enabled: Vec<&'static str> = hydrogen_tools::chaos::faults::KINDS
        .iter()
        .copied()
        .filter(|k| (only.is_empty() || only.contains(k)) && !skip.contains(k))
        .collect();
    if enabled.is_empty() {
        bail!("--faults, --skip-faults: no fault kind is left to inject");
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    // First, so a run that dies can still be replayed.
    println!("seed {seed}");
    let hydrogen = match args.hydrogen_bin {
        Some(p) => p,
        None => {
            std::env::current_exe().context("cannot find this executable; pass --hydrogen-bin")?
        }
    };
    let config = hydrogen_tools::chaos::ChaosConfig {
        duration: std::time::Duration::from_secs(args.duration),
        seed,
        agents: args.agents,
        instances: args.instances,
        round: args.round.0,
        converge_within: args.converge_within.0,
        redis_server: args.redis_server,
        sentinel: args.sentinel,
        redis_min_replicas: args.redis_min_replicas,
        hydrogen,
        faults: hydrogen_tools::chaos::faults::FaultConfig {
            kinds: enabled,
            storm: hydrogen_tools::chaos::storm::StormSize {
                sse: args.storm_sse,
                grpc: args.storm_grpc,
            },
            batch_apps: usize::try_from(args.batch_apps).context("--batch-apps: too large")?,
        },
    };
    let report = hydrogen_tools::chaos::run(config).await?;
    for detail in report.details.iter().take(10) {
        eprintln!("violation: {detail}");
    }
    if let Some(dir) = &report.logs {
        eprintln!("logs kept in {}", dir.display());
    }
    println!("{}", serde_json::to_string(&report.summary)?);
    if report.summary.total_violations() > 0 {
        std::process::exit(1);
    }
    Ok(())
}

async fn bench_e2e(args: E2eArgs) -> anyhow::Result<()> {
    let config = E2eConfig {
        agents: args.agents,
        apps: args.apps,
        instances: args.instances,
        cpus: args.cpus,
        mem: args.mem,
        allocation_interval: args.allocation_interval.0,
        task_start_delay: args.task_start_delay.0,
        storm_fraction: args.storm,
        timeout: args.timeout.0,
        sim_threads: args.sim_threads,
        store: args.store,
    };
    let report = hydrogen_tools::bench::e2e::run(config).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
