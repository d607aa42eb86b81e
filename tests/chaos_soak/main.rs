//! The short chaos soaks, as CI runs them: the real binary with a fixed
//! seed (`hydrogen chaos` starts its own redis-server, simulator and three
//! instances), which must finish with zero violations. One run mixes every
//! fault; one runs only the faults of the issue-16 probe (a Redis stall
//! during a batch deploy, a watcher storm on the leader, an agent returning
//! after its tasks were replaced) so each of them surely happens. One runs
//! on a Sentinel topology (`--sentinel`: a primary, two replicas, three
//! sentinels) and kills the Redis primary among other faults. `make
//! chaos` runs the ten-minute version with a random seed.
//!
//! A test binary of its own, not a module of `integration`: a soak's
//! invariants have deadlines (convergence, duplicates resolved within 15 s),
//! and run next to another test on CI's two cores they failed where alone
//! they pass. Cargo runs test binaries one after another.

use std::process::Command;
use std::sync::Mutex;

use hydrogen_testkit::procs::hydrogen_binary;
use serde_json::Value;

/// One chaos cluster at a time: two would fight over the machine's cores
/// and stretch every timing the runs depend on.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `hydrogen chaos ARGS --seed SEED`, checks the output's shape and
/// that nothing was violated, and returns the summary.
fn chaos(seed: &str, args: &[&str]) -> Value {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let output = Command::new(hydrogen_binary())
        .arg("chaos")
        .args(args)
        .args(["--seed", seed])
        .output()
        .expect("hydrogen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.starts_with(&format!("seed {seed}\n")),
        "the seed comes first: {stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not the JSON summary ({e}): {stdout}\n{stderr}"));
    let violations = summary["violations"].as_object().expect("violations");
    assert_eq!(violations.len(), 8, "every invariant is named: {summary}");
    assert!(
        violations.values().all(|v| v == 0),
        "violations: {summary}\n{stderr}"
    );
    assert!(output.status.success(), "exit status {:?}", output.status);
    assert!(
        summary["convergence_seconds"]["rounds"].as_u64() >= Some(1),
        "at least one round converged: {summary}"
    );
    assert!(summary["task_events"].as_u64() > Some(0), "{summary}");
    summary
}

#[test]
fn a_short_seeded_chaos_run_violates_nothing() {
    let summary = chaos("20261125", &["--duration", "50", "--round", "25s"]);
    let faults: u64 = summary["faults"]
        .as_object()
        .expect("faults")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(faults > 0, "faults were injected: {summary}");
}

#[test]
fn stalls_during_batch_deploys_watcher_storms_and_returning_agents_violate_nothing() {
    let summary = chaos(
        "20261202",
        &[
            "--duration",
            "60",
            "--round",
            "30s",
            "--faults",
            "redis_stall_batch,watcher_storm,agent_return",
            // Scaled down from 1,000 + 200 and 500 for two busy cores.
            "--storm-sse",
            "200",
            "--storm-grpc",
            "40",
            "--batch-apps",
            "200",
        ],
    );
    let faults = &summary["faults"];
    for kind in ["redis_stall_batch", "watcher_storm", "agent_return"] {
        assert!(
            faults[kind].as_u64() >= Some(1),
            "{kind} happened: {summary}"
        );
    }
    for kind in ["kill_leader", "agent_loss", "redis_restart"] {
        assert_eq!(faults[kind], 0, "{kind} was not asked for: {summary}");
    }
    let batches = &summary["batch_deploys"];
    assert_eq!(
        batches["written_all"]
            .as_u64()
            .zip(batches["written_none"].as_u64())
            .map(|(a, n)| a + n),
        batches["batches"].as_u64(),
        "every batch settled all or nothing: {summary}"
    );
    let storms = &summary["watcher_storms"];
    assert!(storms["sse_watchers"].as_u64() >= Some(200), "{summary}");
    assert!(storms["grpc_watchers"].as_u64() >= Some(40), "{summary}");
    assert_eq!(storms["leadership_changes"], 0, "{summary}");
}

#[test]
fn killing_the_redis_primary_behind_sentinels_violates_nothing() {
    let summary = chaos(
        "20261218",
        &[
            "--sentinel",
            // The product's default with replicas: enough for a primary
            // that dies (no freeze among these faults).
            "--redis-min-replicas",
            "1",
            "--duration",
            "45",
            "--round",
            "22s",
            "--faults",
            "redis_primary_kill,kill_leader,task_failure,ack_delay",
        ],
    );
    let faults = &summary["faults"];
    assert!(
        faults["redis_primary_kill"].as_u64() >= Some(2),
        "the primary was killed more than once: {summary}"
    );
    assert_eq!(
        faults["redis_restart"], 0,
        "the standalone fault does not apply: {summary}"
    );
    assert!(
        summary["writes"]["acknowledged"].as_u64() > Some(0),
        "{summary}"
    );
}
