//! `GET /master/state`: the master's state in the shape of the real
//! endpoint (`src/master/readonly_handler.cpp`): master identity, agents as
//! `slaves`, frameworks with their `tasks`, `completed_tasks`,
//! `unreachable_tasks` and `offers`, and `completed_frameworks`. Only the
//! fields tools commonly read are produced; tasks name their agent
//! `slave_id`, as the real endpoint does.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::cluster::attributes_json;
use super::http::Shared;
use super::master::{AgentState, Framework, MESOS_VERSION, Master, Task};
use super::resources::ResourceSet;
use hydrogen_mesos::encoding::to_json_value;
use hydrogen_mesos::v1::{self, TaskState};

fn state_name(s: TaskState) -> &'static str {
    s.as_str_name()
}

fn task_json(t: &Task, unreachable_view: bool) -> Value {
    let state = match (unreachable_view, t.unreachable) {
        (true, Some(s)) => s,
        _ => t.state,
    };
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|(s, ts, healthy)| {
            let mut container_id = json!({"value": t.container_id});
            if let Some(parent) = &t.parent_container_id {
                container_id["parent"] = json!({"value": parent});
            }
            let mut v = json!({
                "state": state_name(*s),
                "timestamp": ts,
                "container_status": {
                    "container_id": container_id,
                    "network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": t.ip}]}]
                }
            });
            if let Some(h) = healthy {
                v["healthy"] = json!(h);
            }
            v
        })
        .collect();
    let mut v = json!({
        "id": t.info.task_id.value,
        "name": t.info.name,
        "framework_id": t.framework_id,
        "executor_id": t.executor_id.clone().unwrap_or_default(),
        "slave_id": t.agent_id,
        "state": state_name(state),
        "resources": t.resources.state_summary(),
        "role": t.role,
        "statuses": statuses,
    });
    if let Some(labels) = &t.info.labels {
        v["labels"] = to_json_value(labels)
            .and_then(|l| l.get("labels").cloned())
            .unwrap_or_else(|| json!([]));
    }
    if let Some(d) = &t.info.discovery {
        v["discovery"] = to_json_value(d).unwrap_or(Value::Null);
    }
    if let Some(c) = &t.info.container {
        v["container"] = to_json_value(c).unwrap_or(Value::Null);
    }
    if let Some(h) = &t.info.health_check {
        v["health_check"] = to_json_value(h).unwrap_or(Value::Null);
    }
    v
}

fn framework_json(m: &Master, f: &Framework, active: bool) -> Value {
    let mut used = ResourceSet::new();
    let tasks: Vec<Value> = f
        .tasks
        .values()
        .filter(|t| t.unreachable.is_none())
        .map(|t| {
            used.add(&t.resources);
            task_json(t, false)
        })
        .collect();
    // Executors' own resources count as used, as in the master's
    // `totalUsedResources`.
    for agent in m.agents.values() {
        for ((fid, _), r) in &agent.executors {
            if *fid == f.id {
                used.add(r);
            }
        }
    }
    let unreachable: Vec<Value> = f
        .tasks
        .values()
        .filter(|t| t.unreachable.is_some())
        .map(|t| task_json(t, true))
        .collect();
    let completed: Vec<Value> = f
        .completed_tasks
        .iter()
        .map(|t| task_json(t, false))
        .collect();
    let mut offered = ResourceSet::new();
    let offers: Vec<Value> = f
        .offers
        .iter()
        .filter_map(|id| m.offers.get(id))
        .map(|o| {
            offered.add(&o.resources);
            json!({
                "id": o.id,
                "framework_id": o.framework_id,
                "slave_id": o.agent_id,
                "resources": o.resources.state_summary(),
                "allocation_info": {"role": o.role},
            })
        })
        .collect();
    let capabilities: Vec<&str> = f
        .info
        .capabilities
        .iter()
        .map(|c| c.r#type().as_str_name())
        .collect();
    let mut allocated = used.clone();
    allocated.add(&offered);
    // `FullFrameworkWriter` (readonly_handler.cpp): no `pid` for HTTP
    // frameworks, `principal` only when set, `roles` for MULTI_ROLE
    // frameworks and `role` otherwise, `resources` = used + offered.
    let mut v = json!({
        "id": f.id,
        "name": f.info.name,
        "used_resources": used.state_summary(),
        "offered_resources": offered.state_summary(),
        "capabilities": capabilities,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "active": active && f.connected(),
        "connected": f.connected(),
        "recovered": false,
        "user": f.info.user,
        "failover_timeout": f.info.failover_timeout(),
        "checkpoint": f.info.checkpoint(),
        "registered_time": f.registered_time,
        "unregistered_time": f.unregistered_time.unwrap_or(0.0),
        "resources": allocated.state_summary(),
        "tasks": tasks,
        "unreachable_tasks": unreachable,
        "completed_tasks": completed,
        "offers": offers,
        "executors": executors_json(f),
        "offer_constraints": {},
    });
    if let Some(t) = f.reregistered_time {
        v["reregistered_time"] = json!(t);
    }
    if let Some(p) = &f.info.principal {
        v["principal"] = json!(p);
    }
    if f.has_capability(v1::framework_info::capability::Type::MultiRole) {
        v["roles"] = json!(f.roles);
    } else {
        v["role"] = json!(f.roles.first().cloned().unwrap_or_else(|| "*".into()));
    }
    if let Some(labels) = &f.info.labels {
        v["labels"] = to_json_value(labels)
            .and_then(|l| l.get("labels").cloned())
            .unwrap_or_else(|| json!([]));
    }
    v
}

/// The framework's executors as the real endpoint lists them
/// (`json(ObjectWriter*, const ExecutorInfo&)` in common/http.cpp, plus
/// `slave_id`): one per (agent, executor id) that a live task runs under.
/// Command tasks have none: the master never learns about the command
/// executor an agent makes for them.
fn executors_json(f: &Framework) -> Vec<Value> {
    let mut seen = std::collections::BTreeMap::new();
    for t in f.tasks.values().filter(|t| t.unreachable.is_none()) {
        if let Some(e) = &t.executor_info {
            seen.entry((t.agent_id.clone(), e.executor_id.value.clone()))
                .or_insert((e, t.role.clone()));
        }
    }
    seen.into_iter()
        .map(|((agent, _), (e, role))| {
            let command = e.command.clone().unwrap_or_default();
            let mut c = json!({
                "argv": command.arguments,
                "uris": command.uris.iter().map(|u| json!({"value": u.value, "executable": u.executable()})).collect::<Vec<_>>(),
            });
            if let Some(shell) = command.shell {
                c["shell"] = json!(shell);
            }
            if let Some(value) = &command.value {
                c["value"] = json!(value);
            }
            if let Some(env) = &command.environment {
                c["environment"] = to_json_value(env).unwrap_or(Value::Null);
            }
            let resources = ResourceSet::from_protos(&e.resources).unwrap_or_default();
            let mut v = json!({
                "executor_id": e.executor_id.value,
                "name": e.name.clone().unwrap_or_default(),
                "framework_id": e.framework_id.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
                "command": c,
                "resources": resources.state_summary(),
                "slave_id": agent,
            });
            if !e.resources.is_empty() {
                v["role"] = json!(role);
            }
            if let Some(labels) = &e.labels {
                v["labels"] = to_json_value(labels)
                    .and_then(|l| l.get("labels").cloned())
                    .unwrap_or_else(|| json!([]));
            }
            if e.r#type.is_some() {
                v["type"] = json!(e.r#type().as_str_name());
            }
            v
        })
        .collect()
}

/// The whole state document.
pub fn state_value(m: &Master) -> Value {
    let mut slaves = Vec::new();
    let mut unreachable_slaves = Vec::new();
    let mut activated = 0;
    let mut deactivated = 0;
    for a in m.agents.values() {
        let unreserved = a.total.for_roles(&["*"]);
        let mut reserved = serde_json::Map::new();
        let mut roles: Vec<String> = Vec::new();
        for p in a.total.to_protos(None, true) {
            let role = super::resources::reservation_role(&p);
            if role != "*" && !roles.contains(&role) {
                roles.push(role);
            }
        }
        for role in roles {
            reserved.insert(
                role.clone(),
                a.total.for_roles(&[role.as_str()]).state_summary(),
            );
        }
        // A drained agent is deactivated (`Master::deactivate`), and says
        // how far its drain went (`DrainInfo`).
        let drain = m.draining.get(&a.id);
        let active = a.state == AgentState::Active && drain.is_none();
        activated += usize::from(active);
        deactivated += usize::from(a.state == AgentState::Active && drain.is_some());
        let mut v = json!({
            "id": a.id,
            "pid": format!("slave(1)@{}:5051", a.ip),
            "hostname": a.hostname,
            "port": 5051,
            "registered_time": a.registered_time,
            "resources": a.total.state_summary(),
            "used_resources": a.used.state_summary(),
            "offered_resources": a.offered.state_summary(),
            "reserved_resources": Value::Object(reserved),
            "unreserved_resources": unreserved.state_summary(),
            "attributes": attributes_json(&a.attributes),
            "active": active,
            "deactivated": !active,
            "version": MESOS_VERSION,
            "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
        });
        if let Some(d) = drain {
            v["drain_info"] = json!({
                "state": if d.drained { "DRAINED" } else { "DRAINING" },
                "config": {"mark_gone": d.mark_gone},
            });
        }
        match &a.state {
            AgentState::Active => slaves.push(v),
            AgentState::Unreachable { since } => {
                unreachable_slaves
                    .push(json!({"id": a.id, "hostname": a.hostname, "timestamp": since}));
            }
            AgentState::Gone => {}
        }
    }
    let mut frameworks: Vec<&Framework> = m.frameworks.values().collect();
    frameworks.sort_by(|a, b| a.id.cmp(&b.id));
    let leader = m.master_info();
    let pid = leader.pid.clone().unwrap_or_default();
    json!({
        "version": MESOS_VERSION,
        "build_date": "2026-11-01 00:00:00",
        "build_time": 1_793_491_200.0,
        "build_user": "hydrogen-sim",
        "start_time": m.start_time,
        "elected_time": m.elected_time,
        "id": m.master_id,
        "pid": pid,
        "hostname": m.hostname,
        "capabilities": leader.capabilities.iter().map(|c| c.r#type().as_str_name()).collect::<Vec<_>>(),
        "leader": match &m.leadership {
            super::master::Leadership::Leading => json!(pid),
            super::master::Leadership::Following { leader } => json!(leader.as_ref().map(|l| format!("master@{l}"))),
        },
        "leader_info": to_json_value(&leader).unwrap_or(Value::Null),
        // Gauges (doubles) in the real master's document.
        "activated_slaves": activated as f64,
        "deactivated_slaves": deactivated as f64,
        "unreachable_slaves": unreachable_slaves.len(),
        "slaves": slaves,
        "recovered_slaves": [],
        "frameworks": frameworks.iter().map(|f| framework_json(m, f, true)).collect::<Vec<_>>(),
        "completed_frameworks": m.completed_frameworks.iter().map(|f| framework_json(m, f, false)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
        "flags": {
            "allocation_interval": format!("{}secs", m.timings.allocation_interval.as_secs_f64()),
            "offer_timeout": m.timings.offer_timeout.map(|d| format!("{}secs", d.as_secs_f64())),
        },
    })
}

/// `GET /master/state`.
pub async fn state(State(shared): State<Shared>) -> Response {
    let value = state_value(&shared.lock());
    axum::Json(value).into_response()
}

/// `GET /metrics/snapshot`: the master's gauges a client polls instead of
/// `/master/state` (which lists every task: tens of megabytes at 100,000
/// tasks, built under the master's lock). Named and shaped as Mesos does
/// (`master/tasks_running` ..., numbers as floats); only the gauges the
/// simulator can honestly count are there.
pub fn metrics_value(m: &Master) -> Value {
    let mut by_state: BTreeMap<&'static str, f64> =
        ["staging", "starting", "running", "killing", "unreachable"]
            .into_iter()
            .map(|s| (s, 0.0))
            .collect();
    for f in m.frameworks.values() {
        for t in f.tasks.values() {
            let name = match t.state {
                TaskState::TaskStaging => "staging",
                TaskState::TaskStarting => "starting",
                TaskState::TaskRunning => "running",
                TaskState::TaskKilling => "killing",
                TaskState::TaskUnreachable => "unreachable",
                _ => continue,
            };
            *by_state.entry(name).or_default() += 1.0;
        }
    }
    let mut out = serde_json::Map::new();
    for (state, n) in by_state {
        out.insert(format!("master/tasks_{state}"), json!(n));
    }
    let active = m
        .agents
        .values()
        .filter(|a| a.state == AgentState::Active)
        .count();
    out.insert("master/slaves_active".into(), json!(active as f64));
    let connected = m.frameworks.values().filter(|f| f.conn.is_some()).count();
    out.insert("master/frameworks_active".into(), json!(connected as f64));
    out.insert("master/elected".into(), json!(1.0));
    Value::Object(out)
}

/// `GET /metrics/snapshot`.
pub async fn metrics_snapshot(State(shared): State<Shared>) -> Response {
    let value = metrics_value(&shared.lock());
    axum::Json(value).into_response()
}
