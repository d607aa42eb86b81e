//! Health checks on a task's own ports, on a real Apache Mesos: an app takes
//! its port from the offer (`resources.ports`) and names it in its check by
//! `port_index`; Hydrogen fills in the host port at launch and the real
//! command executor's HTTP check (curl, run by the agent) must find the
//! app's server there and report the task healthy. Skipped (with a note)
//! when `MESOS_HOME` is unset; see `hydrogen_testkit::real_mesos`.

use std::time::{Duration, Instant};

use hydrogen_testkit::procs::Hydrogen;
use hydrogen_testkit::real_mesos::RealCluster;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(90);

/// One JSON request with a private runtime (the fixtures are synchronous).
fn request(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = reqwest::Client::new()
            .request(method, url)
            .timeout(Duration::from_secs(10));
        if let Some(body) = body {
            request = request.body(body.to_string());
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

/// The framework's tasks of app `name` in `/master/state`.
fn app_tasks<'a>(state: &'a Value, name: &str) -> Vec<&'a Value> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["name"] == "Hydrogen")
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["name"] == name)
        .collect()
}

/// The ports of a `/master/state` ports resource, `"[a-b, c-d]"`, in order.
fn task_ports(ranges: &Value) -> Vec<u16> {
    let text = ranges.as_str().unwrap_or_default();
    text.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|r| {
            let (b, e) = r.trim().split_once('-')?;
            Some((b.trim().parse::<u16>().ok()?, e.trim().parse::<u16>().ok()?))
        })
        .flat_map(|(b, e)| b..=e)
        .collect()
}

/// Whether the task's latest status says healthy.
fn healthy(task: &Value) -> Option<bool> {
    task["statuses"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(|s| s["healthy"].as_bool())
}

#[test]
fn http_check_by_port_index_reports_a_server_on_port0_healthy() {
    let Some(cluster) = RealCluster::start_agents(1) else {
        return;
    };
    let hydrogen = Hydrogen::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--master",
        &cluster.master_url(),
        "--backoff-initial",
        "200ms",
        "--decline-refuse",
        "200ms",
    ]);
    // Each app in its own way: the HTTP form, the endpoint form and TCP.
    let apps = json!([
        {
            "name": "hc-http",
            "resources": {"cpu": 0.1, "mem": 64, "ports": 1},
            "command": {"cmd": "exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"},
            "healthcheck": {"type": "http", "http": {"port_index": 0, "path": "/"},
                            "delay": 0, "interval": 1, "timeout": 5, "graceperiod": 60}
        },
        {
            "name": "hc-endpoint",
            "resources": {"cpu": 0.1, "mem": 64, "ports": 2},
            "command": {"cmd": "exec /usr/bin/python3 -m http.server $PORT1 --bind 127.0.0.1"},
            "healthcheck": {"endpoint": "http://localhost/", "port_index": 1,
                            "delay": 0, "interval": 1, "timeout": 5, "graceperiod": 60}
        },
        {
            "name": "hc-tcp",
            "resources": {"cpu": 0.1, "mem": 64, "ports": 1},
            "command": {"cmd": "exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"},
            "healthcheck": {"type": "tcp", "tcp": {"port_index": 0},
                            "delay": 0, "interval": 1, "timeout": 5, "graceperiod": 60}
        }
    ]);
    let (status, body) = request("POST", &format!("{}/v1/api/app", hydrogen.url), Some(&apps));
    assert_eq!(status, 200, "{body}");

    let names = ["hc-http", "hc-endpoint", "hc-tcp"];
    let state = cluster.wait_state("every task RUNNING and healthy", DEADLINE, |s| {
        names.iter().all(|name| {
            app_tasks(s, name)
                .iter()
                .any(|t| t["state"] == "TASK_RUNNING" && healthy(t) == Some(true))
        })
    });

    // The check Mesos ran is on the port the task was given: its port of
    // the index (from its ports resource, a range of the agent's), not a
    // number we made up.
    let agent_ports = cluster.agent_options(0).ports;
    for (name, index, kind) in [
        ("hc-http", 0, "http"),
        ("hc-endpoint", 1, "http"),
        ("hc-tcp", 0, "tcp"),
    ] {
        let tasks = app_tasks(&state, name);
        let task = tasks
            .iter()
            .find(|t| t["state"] == "TASK_RUNNING")
            .expect("running task");
        let ports = task_ports(&task["resources"]["ports"]);
        assert!(
            ports
                .iter()
                .all(|p| (agent_ports.0..=agent_ports.1).contains(p)),
            "{name}: ports {ports:?} not from the agent's {agent_ports:?}"
        );
        let checked = task["health_check"][kind]["port"].as_u64();
        assert_eq!(
            checked,
            ports.get(index).map(|p| u64::from(*p)),
            "{name}: the check's port is the task's port {index} of {ports:?}: {}",
            task["health_check"]
        );
        assert_eq!(healthy(task), Some(true), "{name}");
    }

    // Hydrogen's own view agrees: the API reports the tasks healthy.
    let until = Instant::now() + DEADLINE;
    for name in names {
        loop {
            let (status, body) = request(
                "GET",
                &format!("{}/v1/api/app?name={name}", hydrogen.url),
                None,
            );
            assert_eq!(status, 200, "{body}");
            let healthy_in_api = body["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["healthy"] == true));
            if healthy_in_api {
                break;
            }
            assert!(
                Instant::now() < until,
                "{name} never healthy in the API: {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    for name in names {
        let (status, body) = request(
            "DELETE",
            &format!("{}/v1/api/app", hydrogen.url),
            Some(&json!({"name": name})),
        );
        assert_eq!(status, 200, "{body}");
    }
    cluster.wait_state("no running task", DEADLINE, |s| {
        names.iter().all(|name| {
            app_tasks(s, name)
                .iter()
                .all(|t| t["state"] != "TASK_RUNNING")
        })
    });
}
