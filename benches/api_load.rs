//! Load benchmark of the API (not a timed test): REST and gRPC `State` and
//! `ListAll` under concurrent clients, against a MemoryStore holding
//! `APPS` apps with `TASKS_PER_APP` tasks each. Prints requests/s, p50 and
//! p99 latency per scenario.
//!
//! `cargo bench --bench api_load` (env: `API_BENCH_SECS`, default 3;
//! `API_BENCH_CLIENTS`, default 32).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrogen::api::proto as pb;
use hydrogen::api::proto::app_service_client::AppServiceClient;
use hydrogen::api::{ApiConfig, serve};
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Store, TaskBatch, TaskRecord, TaskState};
use tokio_util::sync::CancellationToken;

const APPS: usize = 100;
const TASKS_PER_APP: u32 = 10;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn seed(store: &MemoryStore) -> Result<(), Box<dyn std::error::Error>> {
    let lease = store
        .acquire_lease("bench", "127.0.0.1:0", Duration::from_secs(3600))
        .await?
        .ok_or("lease held")?;
    for a in 0..APPS {
        let name = format!("app-{a}");
        let body = serde_json::json!([{
            "name": name, "resources": {"cpu": 0.1, "mem": 32},
            "instances": TASKS_PER_APP, "command": {"cmd": "sleep 1000"},
            "labels": {"team": "bench"}
        }]);
        let apps = hydrogen::spec::parse_apps(body.to_string().as_bytes())?;
        for app in apps {
            store.create_app(app).await?;
        }
        let upserts = (0..TASKS_PER_APP)
            .map(|i| TaskRecord {
                task_id: format!("{name}.{i}.bench"),
                app: name.clone(),
                instance: i,
                app_version: 1,
                agent_id: format!("agent-{i}"),
                hostname: format!("host-{i}"),
                state: TaskState::TaskRunning,
                healthy: Some(true),
                ips: vec![format!("10.0.{a}.{i}")],
                message: String::new(),
                kill_sent: false,
                created_ms: 0,
                updated_ms: 0,
            })
            .collect();
        store
            .apply(
                lease.epoch,
                TaskBatch {
                    upserts,
                    ..TaskBatch::default()
                },
            )
            .await?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Scenario {
    RestState,
    RestListAll,
    GrpcState,
    GrpcListAll,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::RestState => "REST GET /v1/api/app?name=",
            Scenario::RestListAll => "REST GET /v1/api/app/all",
            Scenario::GrpcState => "gRPC State",
            Scenario::GrpcListAll => "gRPC ListAll",
        }
    }
}

async fn run(
    base: &str,
    scenario: Scenario,
    clients: usize,
    secs: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let http = reqwest::Client::new();
    let channel = tonic::transport::Channel::from_shared(base.to_owned())?
        .connect()
        .await?;
    let mut workers = Vec::new();
    for w in 0..clients {
        let http = http.clone();
        let mut grpc = AppServiceClient::new(channel.clone());
        let base = base.to_owned();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = w;
            while Instant::now() < deadline {
                i += 1;
                let name = format!("app-{}", i % APPS);
                let start = Instant::now();
                let ok = match scenario {
                    Scenario::RestState => http
                        .get(format!("{base}/v1/api/app?name={name}"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success()),
                    Scenario::RestListAll => {
                        match http.get(format!("{base}/v1/api/app/all")).send().await {
                            Ok(r) => r.bytes().await.is_ok(),
                            Err(_) => false,
                        }
                    }
                    Scenario::GrpcState => grpc.state(pb::StateRequest { name }).await.is_ok(),
                    Scenario::GrpcListAll => grpc.list_all(pb::ListAllRequest {}).await.is_ok(),
                };
                if ok {
                    latencies.push(start.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{:<28} clients={clients:<3} req/s={:>9.0} p50={:>8.2?} p99={:>8.2?} errors={errors}",
        scenario.name(),
        all.len() as f64 / secs as f64,
        pct(0.50),
        pct(0.99),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --all-targets` runs benches as tests; the load runs only
    // under `cargo bench` (which passes --bench).
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let secs = env_or("API_BENCH_SECS", 3);
    let clients = usize::try_from(env_or("API_BENCH_CLIENTS", 32))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let store = Arc::new(MemoryStore::default());
        seed(&store).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            Arc::clone(&store),
            ApiConfig::default(),
            listener,
            shutdown.clone(),
        ));
        println!(
            "api_load: {APPS} apps x {TASKS_PER_APP} tasks, {clients} clients, {secs}s per scenario"
        );
        for scenario in [
            Scenario::RestState,
            Scenario::RestListAll,
            Scenario::GrpcState,
            Scenario::GrpcListAll,
        ] {
            run(&base, scenario, clients, secs).await?;
        }
        shutdown.cancel();
        server.await??;
        Ok(())
    })
}
