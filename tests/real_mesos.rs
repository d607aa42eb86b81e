//! Hydrogen against a real Apache Mesos: `hydrogen serve` (the real binary)
//! with a real `mesos-master` and posix `mesos-agent`s on loopback. Every
//! assertion reads the master's `/master/state`, the API's answers or the
//! real processes the agents run. Skipped (with a note) when `MESOS_HOME`
//! is unset; see `tests/common/real_mesos.rs`.

#[path = "common/procs.rs"]
#[allow(dead_code)]
mod procs;
#[path = "common/real_mesos.rs"]
mod real_mesos;

use std::time::{Duration, Instant};

use procs::Hydrogen;
use real_mesos::{RealCluster, processes_matching};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);

fn serve(master: &str, extra: &[&str]) -> Hydrogen {
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--master",
        master,
        "--backoff-initial",
        "200ms",
        "--decline-refuse",
        "200ms",
    ];
    args.extend_from_slice(extra);
    Hydrogen::start(&args)
}

fn request(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let agent = ureq_like::Client;
    agent.send(method, url, body)
}

/// Tasks of the framework named `name` in `/master/state`, in `state`.
fn framework_tasks<'a>(state: &'a Value, name: &str, task_state: &str) -> Vec<&'a Value> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == name)
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["state"] == task_state)
        .collect()
}

#[test]
fn unique_app_runs_one_real_process_per_agent_and_delete_leaves_none() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let hydrogen = serve(&cluster.master_url(), &[]);
    // GNU sleep takes fractions: a duration no other test uses names the
    // real processes this app runs.
    let marker = format!("sleep 3600.{}1", std::process::id());
    let app = json!([{
        "name": "smoke",
        "resources": {"cpu": 0.1, "mem": 32},
        "instances": 2,
        "command": {"cmd": format!("/bin/{marker}")},
        "strategy": {"type": "unique"}
    }]);
    let (status, body) = request("POST", &format!("{}/v1/api/app", hydrogen.url), Some(&app));
    assert_eq!(status, 200, "{body}");

    let state = cluster.wait_state("2 RUNNING tasks on 2 agents", DEADLINE, |s| {
        let running = framework_tasks(s, "Hydrogen", "TASK_RUNNING");
        let agents: std::collections::BTreeSet<_> =
            running.iter().map(|t| t["slave_id"].to_string()).collect();
        running.len() == 2 && agents.len() == 2
    });
    assert_eq!(framework_tasks(&state, "Hydrogen", "TASK_RUNNING").len(), 2);

    let until = Instant::now() + DEADLINE;
    while processes_matching(&marker).len() < 2 {
        assert!(
            Instant::now() < until,
            "no real sleep processes: {}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let (status, body) = request(
        "DELETE",
        &format!("{}/v1/api/app", hydrogen.url),
        Some(&json!({"name": "smoke"})),
    );
    assert_eq!(status, 200, "{body}");
    cluster.wait_state("no running task", DEADLINE, |s| {
        framework_tasks(s, "Hydrogen", "TASK_RUNNING").is_empty()
    });
    let until = Instant::now() + DEADLINE;
    while !processes_matching(&marker).is_empty() {
        assert!(Instant::now() < until, "sleep processes left behind");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A blocking JSON client over the workspace's reqwest (async) with a
/// private runtime: the tests here are synchronous like their fixtures.
mod ureq_like {
    use serde_json::Value;

    pub struct Client;

    impl Client {
        pub fn send(&self, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                let mut request = reqwest::Client::new()
                    .request(method, url)
                    .timeout(std::time::Duration::from_secs(10));
                if let Some(body) = body {
                    request = request
                        .header("content-type", "application/json")
                        .body(body.to_string());
                }
                let response = request.send().await.expect("API answers");
                let status = response.status().as_u16();
                let text = response.text().await.expect("body");
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            })
        }
    }
}
