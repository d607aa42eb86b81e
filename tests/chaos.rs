//! The short chaos soak, as CI runs it: the real binary with a fixed seed
//! (`hydrogen chaos` starts its own redis-server, simulator and three
//! instances), which must finish with zero violations. `make chaos` runs
//! the ten-minute version with a random seed.

use std::process::Command;

use serde_json::Value;

#[test]
fn a_short_seeded_chaos_run_violates_nothing() {
    let output = Command::new(env!("CARGO_BIN_EXE_hydrogen"))
        .args([
            "chaos",
            "--duration",
            "50",
            "--round",
            "25s",
            "--seed",
            "20261125",
        ])
        .output()
        .expect("hydrogen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.starts_with("seed 20261125\n"),
        "the seed comes first: {stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not the JSON summary ({e}): {stdout}\n{stderr}"));
    let violations = summary["violations"].as_object().expect("violations");
    assert_eq!(violations.len(), 5, "every invariant is named: {summary}");
    assert!(
        violations.values().all(|v| v == 0),
        "violations: {summary}\n{stderr}"
    );
    assert!(output.status.success(), "exit status {:?}", output.status);
    let faults: u64 = summary["faults"]
        .as_object()
        .expect("faults")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert!(faults > 0, "faults were injected: {summary}");
    assert!(
        summary["convergence_seconds"]["rounds"].as_u64() >= Some(1),
        "at least one round converged: {summary}"
    );
    assert!(summary["task_events"].as_u64() > Some(0), "{summary}");
}
