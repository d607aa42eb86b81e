//! The README's first run, through the real binary: `hydrogen dev` starts
//! the simulated master, the memory store and the API; the seed's curl
//! examples deploy, read, list and kill the `test-app` example.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use hydrogen_testkit::{procs, web};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);

struct Dev {
    _process: procs::Hydrogen,
    api: String,
    sim: String,
}

fn start_dev() -> Dev {
    start_dev_with(&[])
}

fn start_dev_with(extra: &[&str]) -> Dev {
    let mut args = vec!["--agents", "5"];
    args.extend_from_slice(extra);
    let (process, sim) = procs::Hydrogen::dev(&args);
    Dev {
        api: process.url.clone(),
        sim,
        _process: process,
    }
}

/// What `curl -X METHOD URL -d BODY` sends: form encoding, not JSON.
async fn curl(method: reqwest::Method, url: &str, body: Option<String>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
    }
    let response = request.send().await.expect("request answered");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn poll<T>(what: &str, f: impl AsyncFnMut() -> Option<T>) -> T {
    web::poll(DEADLINE, what, f).await
}

#[tokio::test]
async fn the_readme_first_run_works_against_hydrogen_dev() {
    let dev = start_dev();
    let app = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/test-app.json"
    ))
    .expect("example");

    // curl -X POST hydrogen:8080/v1/api/app -d@my-app.json
    let (status, body) = curl(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", dev.api),
        Some(app),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["message"], "Task test-app successfully queued");

    // curl -X GET hydrogen:8080/v1/api/app?name=test-app, until 5 run.
    let state = poll("5 running tasks", async || {
        let (status, body) = curl(
            reqwest::Method::GET,
            &format!("{}/v1/api/app?name=test-app", dev.api),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let running = body["tasks"].as_array().map_or(0, |t| {
            t.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
        });
        (running == 5).then_some(body)
    })
    .await;
    assert_eq!(state["name"], "test-app");
    assert_eq!(state["instances"], 5);

    // The simulated master runs them on five distinct agents.
    let master: Value = reqwest::get(format!("{}/master/state", dev.sim))
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let agents: std::collections::BTreeSet<&str> = master["frameworks"][0]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["slave_id"].as_str())
        .collect();
    assert_eq!(agents.len(), 5);

    // curl -X GET hydrogen:8080/v1/api/app/all
    let (status, all) = curl(
        reqwest::Method::GET,
        &format!("{}/v1/api/app/all", dev.api),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let entries = all.as_array().expect("a list");
    assert_eq!(entries.len(), 5);
    assert!(
        entries
            .iter()
            .all(|e| e["Name"] == "test-app" && e["State"] == "TASK_RUNNING")
    );

    // curl -X DELETE hydrogen:8080/v1/api/app -d'{"name": "test-app"}'
    let (status, body) = curl(
        reqwest::Method::DELETE,
        &format!("{}/v1/api/app", dev.api),
        Some(r#"{"name": "test-app"}"#.into()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    poll("the app gone", async || {
        let (status, _) = curl(
            reqwest::Method::GET,
            &format!("{}/v1/api/app?name=test-app", dev.api),
            None,
        )
        .await;
        (status == 404).then_some(())
    })
    .await;
    // The master forgets a task once its terminal update is acknowledged,
    // which may come just after the app is gone from Hydrogen.
    poll("no task left on the master", async || {
        let master: Value = reqwest::get(format!("{}/master/state", dev.sim))
            .await
            .expect("state")
            .json()
            .await
            .expect("json");
        master["frameworks"][0]["tasks"]
            .as_array()
            .is_none_or(|t| t.is_empty())
            .then_some(())
    })
    .await;
}

/// `hydrogen app ...` against `hydrogen dev`, with its exit codes.
#[tokio::test]
async fn the_app_command_line_drives_hydrogen_dev() {
    let dev = start_dev();
    let app = |args: &[&str]| {
        let output = Command::new(procs::hydrogen_binary())
            .arg("app")
            .args(args)
            .args(["--server", &dev.api])
            .output()
            .expect("hydrogen app runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/test-app.json");
    let (code, out, err) = app(&["deploy", example]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("test-app"), "{out}");
    assert!(!err.contains("warning"), "{err}");

    // A watch started now sees the tasks come up.
    let mut watch = Command::new(procs::hydrogen_binary())
        .args([
            "app", "watch", "test-app", "--after", "0", "--json", "--server", &dev.api,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("watch runs");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let first: Value =
        serde_json::from_str(&lines.next().expect("an event").expect("line")).expect("json");
    assert_eq!(first["app"], "test-app");
    assert!(first["revision"].as_u64().is_some_and(|r| r >= 1));
    let _ = watch.kill();
    let _ = watch.wait();

    poll("5 running in `app state`", async || {
        let (code, out, _) = app(&["state", "test-app", "--json"]);
        let state: Value = serde_json::from_str(&out).ok()?;
        (code == 0 && state["running"] == 5).then_some(())
    })
    .await;
    let (code, out, _) = app(&["state", "test-app"]);
    assert_eq!(code, 0);
    assert!(out.contains("running 5/5"), "{out}");
    let (code, out, _) = app(&["list"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().filter(|l| l.contains("RUNNING")).count(),
        5,
        "{out}"
    );

    let (code, _, err) = app(&["state", "no-such-app"]);
    assert_eq!(code, 3, "not found: {err}");
    let bad = std::env::temp_dir().join(format!("hydrogen-bad-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"[{"name": "x", "resources": {"cpu": -1, "mem": 32}, "command": {"cmd": "true"}}]"#,
    )
    .expect("temp file");
    let (code, _, err) = app(&["deploy", bad.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(code, 5, "invalid input: {err}");
    assert!(err.contains("resources.cpu"), "{err}");
    let (code, _, err) = app(&["kill", "test-app"]);
    assert_eq!(code, 0, "{err}");

    // The original's ignored container.type deploys, with a warning.
    let legacy = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        legacy.path(),
        r#"[{"name": "legacy", "resources": {"cpu": 0.1, "mem": 32},
             "command": {"cmd": "sleep 60"}, "container": {"type": "MESOS"}}]"#,
    )
    .expect("write");
    let (code, out, err) = app(&["deploy", legacy.path().to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("legacy"), "{out}");
    assert!(
        err.contains("warning: app legacy: container.type is ignored"),
        "{err}"
    );
}

/// `--executor-cmd` (the original's `-executor.*`): an app without an
/// executor of its own launches under the global one, not the command
/// executor. (Which custom executor an app gets is pinned by the launch
/// golden files: the simulator's state shows executor ids, not infos.)
#[tokio::test]
async fn the_global_executor_runs_apps_without_their_own() {
    let dev = start_dev_with(&[
        "--executor-cmd",
        "./hydrogen-executor",
        "--executor-uri",
        "http://repo.example/hydrogen-executor",
    ]);
    let apps = serde_json::json!([
        {"name": "plain", "resources": {"cpu": 0.1, "mem": 32}, "command": {"cmd": "sleep 60"}},
        {"name": "own", "resources": {"cpu": 0.1, "mem": 32}, "command": {"cmd": "sleep 60"},
         "executor": {"cmd": "./own-executor"}}
    ]);
    let (status, body) = curl(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", dev.api),
        Some(apps.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The simulated master's state names each task's executor.
    let tasks = poll("both tasks launched", async || {
        let (_, state) = curl(
            reqwest::Method::GET,
            &format!("{}/master/state", dev.sim),
            None,
        )
        .await;
        let tasks: Vec<Value> = state["frameworks"]
            .as_array()?
            .iter()
            .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
            .collect();
        (tasks.len() == 2).then_some(tasks)
    })
    .await;
    // Under the Mesos command executor a task has no executor id; under a
    // custom one (global or its own) it is `<task id>.executor`.
    for task in &tasks {
        let id = task["id"].as_str().unwrap_or_default();
        assert_eq!(
            task["executor_id"].as_str(),
            Some(format!("{id}.executor").as_str()),
            "{task}"
        );
    }
}
