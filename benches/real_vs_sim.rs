//! The same launch on a real Apache Mesos and on `hydrogen sim`: one app of
//! `REAL_VS_SIM_TASKS` (default 200) tasks of 0.1 cpu on three agents of 8
//! cpus, deployed to a `hydrogen serve` (the release binary, memory store)
//! against each master in turn. Measures the time from the deploy to all
//! tasks RUNNING in the master's `/master/state`, and the framework's CPU
//! (user + system of the `hydrogen serve` process, from `/proc/PID/stat`)
//! over the same span. The real run forks a real command executor and a real
//! `sleep` per task, so it shows what the simulator hides.
//!
//! Needs `MESOS_HOME` (see `hydrogen_testkit::real_mesos`); without it, it
//! says so and prints a JSON line with `skipped`. Prints one JSON line. A
//! benchmark, not a test: it asserts nothing about the figures.

use std::time::{Duration, Instant};

use hydrogen_testkit::procs;
use hydrogen_testkit::real_mesos::{
    AgentOptions, MasterOptions, MesosInstall, RealCluster, Serve, http_get,
};
use serde_json::{Value, json};

const AGENTS: usize = 3;
const AGENT_CPUS: f64 = 8.0;

/// CPU seconds (user + system) of process `pid`, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces: fields start after its `)`.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5); 11 and 12 after `)`.
    (ticks(11) + ticks(12)) / 100.0
}

fn running_tasks(port: u16) -> usize {
    let Ok((200, body)) = http_get(port, "/master/state") else {
        return 0;
    };
    let state: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count()
}

/// Deploys the app to `hydrogen` and waits for every task to run on the
/// master at `port`: (seconds to all RUNNING, framework CPU seconds).
fn launch(hydrogen: &Serve, port: u16, tasks: u32) -> Value {
    let pid = hydrogen.pid().expect("hydrogen runs");
    // Let the subscription settle so the figure is the launch, not the start.
    let settle = Instant::now() + Duration::from_secs(60);
    while !hydrogen
        .api("GET", "/metrics", None)
        .1
        .as_str()
        .is_some_and(|m| m.contains("hydrogen_mesos_subscribed 1"))
    {
        assert!(Instant::now() < settle, "hydrogen never subscribed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    hydrogen.deploy(json!({
        "name": "bench",
        "resources": {"cpu": 0.1, "mem": 16},
        "instances": tasks,
        "command": {"cmd": "exec sleep 100000"},
    }));
    let deadline = Duration::from_secs(900);
    let mut last_seen = 0;
    loop {
        let running = running_tasks(port);
        if running >= tasks as usize {
            break;
        }
        if running != last_seen {
            eprintln!(
                "  {running}/{tasks} RUNNING after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            last_seen = running;
        }
        assert!(
            started.elapsed() < deadline,
            "only {running} of {tasks} tasks RUNNING after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seconds = started.elapsed().as_secs_f64();
    json!({
        "all_running_seconds": seconds,
        "framework_cpu_seconds": cpu_seconds(pid) - cpu_before,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("real_vs_sim: bench");
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches as tests: do nothing there.
        return;
    }
    let tasks: u32 = std::env::var("REAL_VS_SIM_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let Some(install) = MesosInstall::from_env() else {
        println!(
            "{}",
            json!({"bench": "real_vs_sim", "skipped": "MESOS_HOME is not set"})
        );
        return;
    };

    let agents: Vec<AgentOptions> = (1..=AGENTS)
        .map(|i| AgentOptions {
            cpus: AGENT_CPUS,
            mem: 8192,
            ..AgentOptions::numbered(i)
        })
        .collect();
    eprintln!("real Mesos: {AGENTS} agents × {AGENT_CPUS} cpus, {tasks} tasks");
    let real = {
        // Mesos's own ping timeout (15 s), not the tests' 1 s: 200 executors
        // starting on busy cores can keep an agent from answering pings for
        // seconds, and the master would then mark it unreachable mid-launch.
        let options = MasterOptions {
            agent_ping_timeout: Duration::from_secs(15),
            ..MasterOptions::default()
        };
        let cluster = RealCluster::start_with(install, options, agents);
        let hydrogen = Serve::start(&cluster.master_url(), &[]);
        launch(&hydrogen, cluster.master_port, tasks)
        // Dropping the cluster kills the agents, the executors and the tasks.
    };
    eprintln!("real: {real}");

    eprintln!("hydrogen sim: the same agents, {tasks} tasks");
    let cluster_file = tempfile::NamedTempFile::new().expect("temp file");
    let sim_agents: Vec<Value> = (1..=AGENTS)
        .map(|i| {
            json!({"hostname": format!("agent-{i}.sim"),
                   "resources": {"cpus": AGENT_CPUS, "mem": 8192, "disk": 4096, "ports": "[31000-31099]"},
                   "attributes": {"rack": format!("r{i}")}})
        })
        .collect();
    std::fs::write(
        cluster_file.path(),
        json!({ "agents": sim_agents }).to_string(),
    )
    .expect("cluster file");
    let sim = procs::Hydrogen::start(&[
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--cluster",
        cluster_file.path().to_str().expect("utf-8 path"),
        // The real master's allocation interval in the suite.
        "--allocation-interval",
        "100ms",
    ]);
    let sim_port: u16 = sim
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("sim port");
    let simulated = {
        let hydrogen = Serve::start(&sim.url, &[]);
        launch(&hydrogen, sim_port, tasks)
    };
    eprintln!("sim: {simulated}");
    println!(
        "{}",
        json!({"bench": "real_vs_sim", "tasks": tasks, "agents": AGENTS,
               "agent_cpus": AGENT_CPUS, "task_cpus": 0.1,
               "real": real, "sim": simulated})
    );
}
