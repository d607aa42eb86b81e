//! Inputs shared by the micro benchmarks (`benches/`) and the end-to-end
//! run: offers in the shape the simulator sends (its default agents, built
//! with its own resource code), and a mix of apps with filters and
//! strategies.

use std::collections::HashMap;

use hydrogen::mesos::v1;
use hydrogen::spec::App;
use hydrogen_sim::cluster::default_agent;

/// One offer of the simulator's default agent number `i` (1-based): cpus 4,
/// mem 8192, disk 65536, ports `[31000-32000]`, attributes rack, zone,
/// cores, features, slots — exactly what the simulated master offers a
/// framework without MULTI_ROLE.
pub fn sim_offer(i: usize) -> v1::Offer {
    let spec = default_agent(i);
    let resources = spec
        .resource_set()
        .map(|r| r.to_protos(None, false))
        .unwrap_or_default();
    let attributes = spec.attribute_protos().unwrap_or_default();
    v1::Offer {
        id: v1::OfferId {
            value: format!("O{i}"),
        },
        framework_id: v1::FrameworkId {
            value: "bench-framework-0000".into(),
        },
        agent_id: v1::AgentId {
            value: format!("bench-master-S{i}"),
        },
        hostname: spec.hostname.clone(),
        url: Some(v1::Url {
            scheme: "http".into(),
            address: v1::Address {
                hostname: Some(spec.hostname.clone()),
                ip: Some(format!("10.0.{}.{}", i / 250, i % 250 + 1)),
                port: 5051,
            },
            path: Some("/slave(1)".into()),
            query: Vec::new(),
            fragment: None,
        }),
        resources,
        attributes,
        ..Default::default()
    }
}

/// `n` offers, one per default agent `1..=n`.
pub fn sim_offers(n: usize) -> Vec<v1::Offer> {
    (1..=n).map(sim_offer).collect()
}

/// App number `i` of the benchmark mix (`bench-{i}`), for `instances`
/// instances. Mixed shapes, as a real cluster has:
/// - sizes cycle through cpu 0.1 / 0.25 / 0.5 and mem 64 / 128 / 256 / 512;
/// - every third app has a filter: a rack (TEXT), a zone (TEXT), or the
///   `gpu` feature (SET), in turn;
/// - every other app is UNIQUE (one task per agent), the rest MUX;
/// - every fourth app takes one host port.
pub fn mixed_app(i: usize, instances: u32) -> App {
    let cpu = [0.1, 0.25, 0.5][i % 3];
    let mem = [64, 128, 256, 512][i % 4];
    let mut v = serde_json::json!({
        "name": format!("bench-{i}"),
        "instances": instances,
        "resources": {"cpu": cpu, "mem": mem},
        "command": {"cmd": "sleep 100000"},
        "labels": {"team": "bench"},
    });
    if i % 4 == 0 {
        v["resources"]["ports"] = serde_json::json!(1);
    }
    if i % 3 == 0 {
        v["filters"] = match (i / 3) % 3 {
            0 => serde_json::json!([{"type": "TEXT", "attribute": "rack",
                "value": [format!("rack-{}", i % 4 + 1)]}]),
            1 => serde_json::json!([{"type": "TEXT", "attribute": "zone",
                "value": ["zone-a", "zone-b"]}]),
            _ => serde_json::json!([{"type": "SET", "attribute": "features",
                "value": ["gpu"]}]),
        };
    }
    if i % 2 == 0 {
        v["strategy"] = serde_json::json!({"type": "UNIQUE"});
    }
    App::from_value(&v).unwrap_or_else(|e| panic!("benchmark app {i} is invalid: {e}"))
}

/// A plain app (`cpu`, `mem`, MUX, no filter): the end-to-end deploy.
pub fn plain_app(name: &str, instances: u32, cpu: f64, mem: f64) -> App {
    let v = serde_json::json!({
        "name": name,
        "instances": instances,
        "resources": {"cpu": cpu, "mem": mem},
        "command": {"cmd": "sleep 100000"},
    });
    App::from_value(&v).unwrap_or_else(|e| panic!("benchmark app {name} is invalid: {e}"))
}

/// Live tasks per agent for an app that already runs `tasks` tasks spread
/// round robin over `agents` agents (starting at `offset`), keyed by the
/// agent ids of [`sim_offer`].
pub fn spread_tasks(tasks: usize, agents: usize, offset: usize) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    if agents == 0 {
        return out;
    }
    for t in 0..tasks {
        let a = (offset + t) % agents + 1;
        *out.entry(format!("bench-master-S{a}")).or_insert(0) += 1;
    }
    out
}
