//! Load benchmark of the API (not a timed test): REST and gRPC `State` and
//! `ListAll` under concurrent clients, with `API_BENCH_APPS` ×
//! `API_BENCH_INSTANCES` tasks stored (default 100 × 100 = 10,000).
//!
//! Two setups:
//! - `redis`: real processes, as in production HA: `redis-server`, the
//!   simulated master (`hydrogen sim`) and two `hydrogen serve` instances
//!   sharing the Redis store. The apps are deployed through the API and the
//!   bench waits until every task runs, so the leader's scheduler is live
//!   while we measure. Each scenario runs against the leader, then against
//!   the follower.
//! - `memory`: one in-process API over a MemoryStore holding the same
//!   number of tasks, written straight into the store (single instance).
//!
//! Every client is its own connection (HTTP/1.1 for REST, one HTTP/2
//! channel for gRPC) and reads each answer whole; neither face's answer is
//! parsed while timing (both are checked once before), so the figures are
//! the server's. Prints a table, then one JSON line for
//! `scripts/bench_report.py`.
//!
//! `cargo bench --bench api_load` (env: `API_BENCH_SECS`, default 3;
//! `API_BENCH_CLIENTS`, default 64; `API_BENCH_APPS`, `API_BENCH_INSTANCES`;
//! `API_BENCH_SETUPS`, default `memory,redis`, also `redis-replica-min0` and
//! `redis-replica-min1`: a primary with one replica, `--redis-min-replicas`
//! 0 or 1; `API_BENCH_HYDROGEN`, the
//! binary the redis setup serves with, default this build's).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use hydrogen::api::proto as pb;
use hydrogen::api::{ApiConfig, serve};
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Store, TaskBatch, TaskRecord, TaskState};
use hydrogen_testkit::procs::{Hydrogen, Redis};
use prost::Message;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy)]
struct Params {
    apps: u32,
    instances: u32,
    clients: usize,
    secs: u64,
}

impl Params {
    fn tasks(&self) -> usize {
        (self.apps * self.instances) as usize
    }
}

fn app_json(params: &Params) -> Value {
    let apps: Vec<Value> = (0..params.apps)
        .map(|a| {
            json!({"name": format!("app-{a}"), "resources": {"cpu": 0.01, "mem": 1},
                   "instances": params.instances, "command": {"cmd": "sleep 100000"},
                   "labels": {"team": "bench"}})
        })
        .collect();
    Value::Array(apps)
}

/// The memory setup's tasks, written straight into the store as a leader.
async fn seed_memory(store: &MemoryStore, params: &Params) -> Result<(), BoxError> {
    let lease = store
        .acquire_lease("bench", "127.0.0.1:0", Duration::from_secs(3600))
        .await?
        .ok_or("lease held")?;
    for app in hydrogen::spec::parse_apps(app_json(params).to_string().as_bytes())? {
        let name = app.name.clone();
        store.create_app(app).await?;
        let upserts: Vec<TaskRecord> = (0..params.instances)
            .map(|i| TaskRecord {
                state: TaskState::TaskRunning,
                healthy: Some(true),
                ips: vec![format!("10.0.{}.{i}", i % 250)],
                ..TaskRecord::staging(
                    format!("{name}.{i}.bench"),
                    name.clone(),
                    i,
                    1,
                    format!("agent-{i}"),
                    format!("host-{i}"),
                    0,
                )
            })
            .collect();
        let batch = TaskBatch {
            upserts: upserts.into_iter().map(std::sync::Arc::new).collect(),
            ..TaskBatch::default()
        };
        store.apply(lease.epoch, batch).await?;
    }
    Ok(())
}

/// Encodes requests with prost and hands answers back as raw bytes: the
/// gRPC counterpart of reading a REST body without parsing it.
#[derive(Clone, Copy)]
struct RawCodec<T>(std::marker::PhantomData<T>);

impl<T> Default for RawCodec<T> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

struct RawEncoder<T>(std::marker::PhantomData<T>);
struct RawDecoder;

impl<T: Message + Send + 'static> Codec for RawCodec<T> {
    type Encode = T;
    type Decode = Bytes;
    type Encoder = RawEncoder<T>;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder(std::marker::PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl<T: Message> Encoder for RawEncoder<T> {
    type Item = T;
    type Error = tonic::Status;
    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(buf)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    RestState,
    GrpcState,
    RestListAll,
    GrpcListAll,
    /// Every page of a paged ListAll (2,000 tasks a page), as
    /// `hydrogen::client::Client::list_all` reads it: one request here is
    /// the whole walk.
    GrpcListAllPaged,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::RestState,
    Scenario::GrpcState,
    Scenario::RestListAll,
    Scenario::GrpcListAll,
    Scenario::GrpcListAllPaged,
];

impl Scenario {
    fn face(self) -> &'static str {
        match self {
            Scenario::RestState | Scenario::RestListAll => "REST",
            Scenario::GrpcState | Scenario::GrpcListAll | Scenario::GrpcListAllPaged => "gRPC",
        }
    }
    fn call(self) -> &'static str {
        match self {
            Scenario::RestState | Scenario::GrpcState => "State",
            Scenario::RestListAll | Scenario::GrpcListAll => "ListAll",
            Scenario::GrpcListAllPaged => "ListAll paged",
        }
    }
}

struct Client {
    base: String,
    http: reqwest::Client,
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

impl Client {
    async fn connect(base: &str) -> Result<Self, BoxError> {
        let channel = tonic::transport::Channel::from_shared(base.to_owned())?
            .connect()
            .await?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc = grpc.max_decoding_message_size(usize::MAX);
        Ok(Self {
            base: base.to_owned(),
            // One pool per client: every client has its own connection.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?,
            grpc,
        })
    }

    /// One call; the answer's bytes.
    async fn call(&mut self, scenario: Scenario, app: &str) -> Result<Bytes, BoxError> {
        match scenario {
            Scenario::RestState | Scenario::RestListAll => {
                let url = if scenario == Scenario::RestState {
                    format!("{}/v1/api/app?name={app}", self.base)
                } else {
                    format!("{}/v1/api/app/all", self.base)
                };
                let response = self.http.get(url).send().await?;
                if !response.status().is_success() {
                    return Err(format!("status {}", response.status()).into());
                }
                Ok(response.bytes().await?)
            }
            Scenario::GrpcState => {
                self.grpc.ready().await?;
                let request = tonic::Request::new(pb::StateRequest { name: app.into() });
                let path = http::uri::PathAndQuery::from_static("/hydrogen.v1.AppService/State");
                let response = self
                    .grpc
                    .unary(request, path, RawCodec::<pb::StateRequest>::default())
                    .await?;
                Ok(response.into_inner())
            }
            Scenario::GrpcListAll => {
                self.grpc.ready().await?;
                let request = tonic::Request::new(pb::ListAllRequest::default());
                let path = http::uri::PathAndQuery::from_static("/hydrogen.v1.AppService/ListAll");
                let response = self
                    .grpc
                    .unary(request, path, RawCodec::<pb::ListAllRequest>::default())
                    .await?;
                Ok(response.into_inner())
            }
            Scenario::GrpcListAllPaged => {
                let path = http::uri::PathAndQuery::from_static("/hydrogen.v1.AppService/ListAll");
                let mut page_token = String::new();
                let mut tasks = Vec::new();
                loop {
                    self.grpc.ready().await?;
                    let request = tonic::Request::new(pb::ListAllRequest {
                        page_size: hydrogen::client::LIST_PAGE_SIZE,
                        page_token,
                    });
                    let response = self
                        .grpc
                        .unary(
                            request,
                            path.clone(),
                            RawCodec::<pb::ListAllRequest>::default(),
                        )
                        .await?;
                    // The token must be read to go on; the tasks are kept
                    // as they came (concatenated, they are one answer).
                    let page = response.into_inner();
                    let next = pb::ListAllResponse::decode(page.clone())?.next_page_token;
                    tasks.extend_from_slice(&page);
                    if next.is_empty() {
                        return Ok(Bytes::from(tasks));
                    }
                    page_token = next;
                }
            }
        }
    }
}

/// Parses one answer of each kind and checks it holds what was stored.
async fn check_answers(base: &str, params: &Params) -> Result<(), BoxError> {
    let mut client = Client::connect(base).await?;
    let rest_all: Vec<Value> =
        serde_json::from_slice(&client.call(Scenario::RestListAll, "").await?)?;
    let grpc_all = pb::ListAllResponse::decode(client.call(Scenario::GrpcListAll, "").await?)?;
    let grpc_paged =
        pb::ListAllResponse::decode(client.call(Scenario::GrpcListAllPaged, "").await?)?;
    if grpc_paged.tasks != grpc_all.tasks {
        return Err(format!(
            "paged ListAll differs from the one-answer form: {} tasks, not {}",
            grpc_paged.tasks.len(),
            grpc_all.tasks.len()
        )
        .into());
    }
    let rest_one: Value =
        serde_json::from_slice(&client.call(Scenario::RestState, "app-0").await?)?;
    let grpc_one = pb::AppState::decode(client.call(Scenario::GrpcState, "app-0").await?)?;
    let ok = rest_all.len() == params.tasks()
        && grpc_all.tasks.len() == params.tasks()
        && rest_one["tasks"].as_array().map(Vec::len) == Some(params.instances as usize)
        && grpc_one.tasks.len() == params.instances as usize;
    if !ok {
        return Err(format!(
            "answers do not hold the stored tasks: REST ListAll {}, gRPC ListAll {}, gRPC State {}",
            rest_all.len(),
            grpc_all.tasks.len(),
            grpc_one.tasks.len()
        )
        .into());
    }
    Ok(())
}

struct Figures {
    setup: &'static str,
    instance: &'static str,
    scenario: Scenario,
    requests: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

impl Figures {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    fn json(&self) -> Value {
        json!({"setup": self.setup, "instance": self.instance, "face": self.scenario.face(),
               "call": self.scenario.call(), "requests_per_s": self.rps().round(),
               "p50_ms": self.p50.as_secs_f64() * 1e3, "p99_ms": self.p99.as_secs_f64() * 1e3,
               "errors": self.errors})
    }
}

async fn run(
    base: &str,
    setup: &'static str,
    instance: &'static str,
    scenario: Scenario,
    params: &Params,
) -> Result<Figures, BoxError> {
    let mut clients = Vec::with_capacity(params.clients);
    for _ in 0..params.clients {
        clients.push(Client::connect(base).await?);
    }
    // Warm every connection (and whatever the server caches) untimed; a
    // failure here is counted like any other.
    let mut warm_errors = 0;
    for client in &mut clients {
        if client.call(scenario, "app-0").await.is_err() {
            warm_errors += 1;
        }
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(params.secs);
    let apps = params.apps as usize;
    let mut workers = Vec::new();
    for (w, mut client) in clients.into_iter().enumerate() {
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = w;
            while Instant::now() < deadline {
                i += 1;
                let app = format!("app-{}", i % apps);
                let start = Instant::now();
                match client.call(scenario, &app).await {
                    Ok(_) => latencies.push(start.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = warm_errors;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let figures = Figures {
        setup,
        instance,
        scenario,
        requests: all.len(),
        secs,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    };
    println!(
        "| {:<6} | {:<8} | {:<4} | {:<7} | {:>9.0} | {:>9.2} | {:>9.2} | {:>6} |",
        setup,
        instance,
        scenario.face(),
        scenario.call(),
        figures.rps(),
        figures.p50.as_secs_f64() * 1e3,
        figures.p99.as_secs_f64() * 1e3,
        errors
    );
    Ok(figures)
}

async fn memory_setup(params: &Params) -> Result<Vec<Figures>, BoxError> {
    let store = Arc::new(MemoryStore::default());
    seed_memory(&store, params).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(
        Arc::clone(&store),
        ApiConfig::default(),
        listener,
        shutdown.clone(),
    ));
    check_answers(&base, params).await?;
    let mut out = Vec::new();
    for scenario in SCENARIOS {
        out.push(run(&base, "memory", "single", scenario, params).await?);
    }
    shutdown.cancel();
    server.await??;
    Ok(out)
}

async fn get_json(url: &str) -> Option<Value> {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// Tasks the API reports running.
async fn running_in_store(base: &str) -> usize {
    get_json(&format!("{base}/v1/api/app/all"))
        .await
        .and_then(|v| v.as_array().cloned())
        .map_or(0, |tasks| {
            tasks
                .iter()
                .filter(|t| t["State"] == "TASK_RUNNING")
                .count()
        })
}

fn cluster_file(agents: u32) -> Result<tempfile::NamedTempFile, BoxError> {
    let agents: Vec<Value> = (1..=agents)
        .map(|i| {
            json!({"hostname": format!("big-{i}.sim"),
                   "resources": {"cpus": 1000, "mem": 1_000_000, "disk": 1_000_000, "ports": "[31000-32000]"}})
        })
        .collect();
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), json!({"agents": agents}).to_string())?;
    Ok(file)
}

/// `min_replicas`: `Some(n)` adds a replica and serves with
/// `--redis-min-replicas n` (every write waits for it), for the cost of
/// durability across a Redis failover.
fn redis_setup(
    rt: &tokio::runtime::Runtime,
    params: &Params,
    min_replicas: Option<u32>,
) -> Result<Vec<Figures>, BoxError> {
    let redis = Redis::start();
    let _replica = min_replicas.map(|_| Redis::start_replica_of(redis.port));
    let min = min_replicas.unwrap_or(0).to_string();
    let label: &'static str = match min_replicas {
        None => "redis",
        Some(0) => "redis-replica-min0",
        Some(_) => "redis-replica-min1",
    };
    let cluster = cluster_file(20)?;
    let sim = Hydrogen::start(&[
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--cluster",
        cluster.path().to_str().ok_or("temp path is not utf-8")?,
        "--allocation-interval",
        "200ms",
        "--task-start-delay",
        "10ms",
    ]);
    // `API_BENCH_HYDROGEN`: another build of the binary for the served
    // instances (to compare builds with the same client).
    let binary = std::env::var("API_BENCH_HYDROGEN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hydrogen").to_owned());
    let serve = || {
        Hydrogen::start_binary(
            &binary,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--master",
                &sim.url,
                "--store",
                &redis.url(),
                "--redis-min-replicas",
                &min,
            ],
        )
    };
    let instances = [serve(), serve()];
    rt.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/api/app", instances[0].url))
            .body(app_json(params).to_string())
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("deploy failed: {}", response.status()).into());
        }
        let started = Instant::now();
        while running_in_store(&instances[0].url).await < params.tasks() {
            if started.elapsed() > Duration::from_secs(600) {
                return Err("the tasks never all ran".into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!(
            "{} tasks running after {:.1} s",
            params.tasks(),
            started.elapsed().as_secs_f64()
        );
        let mut leader = None;
        let started = Instant::now();
        while leader.is_none() {
            for (i, h) in instances.iter().enumerate() {
                let ready = get_json(&format!("{}/readyz", h.url)).await;
                if ready.is_some_and(|r| r["leader"] == true) {
                    leader = Some(i);
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err("no instance leads".into());
            }
        }
        let leader = leader.unwrap_or(0);
        let mut out = Vec::new();
        for (role, url) in [
            ("leader", &instances[leader].url),
            ("follower", &instances[1 - leader].url),
        ] {
            check_answers(url, params).await?;
            for scenario in SCENARIOS {
                out.push(run(url, label, role, scenario, params).await?);
            }
        }
        Ok(out)
    })
}

fn main() -> Result<(), BoxError> {
    if std::env::args().any(|a| a == "--list") {
        println!("api_load: bench");
        return Ok(());
    }
    // `cargo test --all-targets` runs benches as tests; the load runs only
    // under `cargo bench` (which passes --bench).
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let params = Params {
        apps: u32::try_from(env_or("API_BENCH_APPS", 100))?,
        instances: u32::try_from(env_or("API_BENCH_INSTANCES", 100))?,
        clients: usize::try_from(env_or("API_BENCH_CLIENTS", 64))?,
        secs: env_or("API_BENCH_SECS", 3),
    };
    let setups = std::env::var("API_BENCH_SETUPS").unwrap_or_else(|_| "memory,redis".into());
    let rt = tokio::runtime::Runtime::new()?;
    println!(
        "api_load: {} apps x {} instances = {} tasks, {} clients, {} s per scenario",
        params.apps,
        params.instances,
        params.tasks(),
        params.clients,
        params.secs
    );
    println!("| setup  | instance | face | call    |     req/s |  p50 (ms) |  p99 (ms) | errors |");
    println!("| ------ | -------- | ---- | ------- | --------- | --------- | --------- | ------ |");
    let mut all = Vec::new();
    for setup in setups.split(',') {
        match setup.trim() {
            "memory" => all.extend(rt.block_on(memory_setup(&params))?),
            "redis" => all.extend(redis_setup(&rt, &params, None)?),
            "redis-replica-min0" => all.extend(redis_setup(&rt, &params, Some(0))?),
            "redis-replica-min1" => all.extend(redis_setup(&rt, &params, Some(1))?),
            other => {
                return Err(format!(
                    "unknown setup {other:?} (memory, redis, redis-replica-min0, redis-replica-min1)"
                )
                .into());
            }
        }
    }
    println!(
        "{}",
        json!({"bench": "api_load", "tasks": params.tasks(), "apps": params.apps,
               "clients": params.clients, "secs_per_scenario": params.secs,
               "results": all.iter().map(Figures::json).collect::<Vec<_>>()})
    );
    Ok(())
}
