//! `hydrogen sim` as a process: it prints the bound address, serves
//! `/version` and `/master/state` with the default cluster, and `--help`
//! documents every flag (the command line is a contract).

use std::process::Stdio;
use std::time::Duration;

use hydrogen_testkit::procs;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn sim_binary_serves_the_default_cluster() {
    let mut child = Command::new(procs::hydrogen_binary())
        .args(["sim", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hydrogen sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("a line before the deadline")
        .expect("stdout readable")
        .expect("a line");
    let url = procs::announced(&line, procs::LISTENING)
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let version: Value = serde_json::from_str(
        &reqwest::get(format!("{url}/version"))
            .await
            .expect("version")
            .text()
            .await
            .expect("body"),
    )
    .expect("json");
    assert_eq!(version["version"], "1.11.0");

    let state: Value = serde_json::from_str(
        &reqwest::get(format!("{url}/master/state"))
            .await
            .expect("state")
            .text()
            .await
            .expect("body"),
    )
    .expect("json");
    let slaves = state["slaves"].as_array().expect("slaves");
    assert_eq!(slaves.len(), 5);
    assert_eq!(
        state["activated_slaves"], 5.0,
        "a gauge, a double as in a real master"
    );
    assert_eq!(slaves[0]["resources"]["cpus"], 4.0);
    assert_eq!(slaves[0]["resources"]["ports"], "[31000-32000]");
    assert!(slaves.iter().any(|s| s["hostname"] == "agent-1.sim"));
    assert!(slaves[0]["attributes"]["rack"].is_string());

    child.start_kill().expect("kill the child we started");
    let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
}

#[test]
fn sim_help_documents_every_flag() {
    let out = std::process::Command::new(procs::hydrogen_binary())
        .args(["sim", "--help"])
        .output()
        .expect("hydrogen sim --help runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--agents",
        "--cluster",
        "--allocation-interval",
        "--heartbeat-interval",
        "--task-start-delay",
        "--task-kill-delay",
        "--offer-timeout",
        "--status-update-retry",
        "--status-update-retry-max",
        "--hostname",
        "--not-leading",
        "--leader",
        "HYDROGEN_SIM_LISTEN",
        "HYDROGEN_SIM_AGENTS",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn sim_rejects_a_bad_cluster_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cluster.json");
    std::fs::write(
        &path,
        r#"{"agents": [{"hostname": "a", "resources": {"cpus": "x"}}]}"#,
    )
    .expect("write");
    let out = std::process::Command::new(procs::hydrogen_binary())
        .args(["sim", "--listen", "127.0.0.1:0", "--cluster"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid cluster"));
}
