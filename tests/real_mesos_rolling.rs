//! Day-two behaviours (issue 15) against a real Apache Mesos: `hydrogen
//! serve` (the real binary) with a real `mesos-master` and posix
//! `mesos-agent`s on loopback. A rolling update of a UNIQUE app that fills
//! every agent replaces its tasks in place and ends with only new-version
//! processes; a failed task explains itself in State. Skipped (with a note)
//! when `MESOS_HOME` is unset; see `tests/common/real_mesos.rs`.

#[path = "common/procs.rs"]
#[allow(dead_code)]
mod procs;
#[path = "common/real_mesos.rs"]
mod real_mesos;

use std::time::{Duration, Instant};

use procs::Hydrogen;
use real_mesos::{RealCluster, processes_matching};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(90);

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
fn a_unique_update_filling_every_agent_rolls_in_place_on_real_mesos() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let hydrogen = serve(&cluster.master_url(), &[]);
    let old_marker = format!("sleep 3600.{}2", std::process::id());
    let new_marker = format!("sleep 3600.{}3", std::process::id());
    let app = |marker: &str| {
        json!({
            "name": "rolled",
            "resources": {"cpu": 0.1, "mem": 32},
            "instances": 2,
            "command": {"cmd": format!("/bin/{marker}")},
            "strategy": {"type": "unique"}
        })
    };
    let url = format!("{}/v1/api/app", hydrogen.url);
    let (status, body) = request("POST", &url, Some(&json!([app(&old_marker)])));
    assert_eq!(status, 200, "{body}");
    let until = Instant::now() + DEADLINE;
    while sleeps(&old_marker).len() < 2 {
        assert!(
            Instant::now() < until,
            "no v1 processes: {}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = Instant::now();
    let (status, body) = request("PUT", &url, Some(&app(&new_marker)));
    assert_eq!(status, 200, "{body}");
    let mut progress_seen = false;
    let until = Instant::now() + DEADLINE;
    loop {
        let (_, state) = request("GET", &format!("{url}?name=rolled"), None);
        let message = state["status"]["message"].as_str().unwrap_or_default();
        progress_seen |= message.contains("replacing them in place");
        if sleeps(&new_marker).len() == 2 && processes_matching(&old_marker).is_empty() {
            break;
        }
        assert!(
            Instant::now() < until,
            "update stuck; state {state:#}; {}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "figure: real Mesos in-place roll of 2 UNIQUE tasks took {:?}",
        started.elapsed()
    );
    assert!(progress_seen, "State said the update replaces in place");
    cluster.wait_state("2 RUNNING tasks", DEADLINE, |s| {
        framework_tasks(s, "Hydrogen", "TASK_RUNNING").len() == 2
    });
    // A task that dies explains itself: its slot's last termination.
    let victim = sleeps(&new_marker)
        .first()
        .map(|(pid, _)| *pid)
        .expect("a new process");
    let _ = std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status();
    let until = Instant::now() + DEADLINE;
    loop {
        let (_, state) = request("GET", &format!("{url}?name=rolled"), None);
        let ended = &state["status"]["recent_terminations"][0];
        if ended["state"] == "TASK_FAILED" {
            println!("real Mesos termination: {ended:#}");
            assert!(!ended["message"].as_str().unwrap_or_default().is_empty());
            break;
        }
        assert!(Instant::now() < until, "no termination in State: {state:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = request("DELETE", &url, Some(&json!({"name": "rolled"})));
    assert_eq!(status, 200);
    let until = Instant::now() + DEADLINE;
    while !(processes_matching(&new_marker).is_empty()
        && processes_matching(&old_marker).is_empty())
    {
        assert!(
            Instant::now() < until,
            "processes left behind: {:?} {:?}; master: {:?}; api: {:#}",
            processes_matching(&new_marker),
            processes_matching(&old_marker),
            summary(&cluster.state()),
            request("GET", &format!("{url}?name=rolled"), None).1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `sleep` processes (not the `sh -c` the command executor runs them
/// in: killing that one orphans the sleep, which the posix launcher leaves
/// running) whose command line holds `marker`.
fn sleeps(marker: &str) -> Vec<(u32, String)> {
    processes_matching(marker)
        .into_iter()
        .filter(|(_, cmdline)| cmdline.starts_with("/bin/sleep"))
        .collect()
}

/// Every task of every framework (active and completed) as `id state`.
fn summary(state: &Value) -> Vec<String> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| {
            f["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(f["completed_tasks"].as_array().into_iter().flatten())
        })
        .map(|t| format!("{} {}", t["id"], t["state"]))
        .collect()
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
