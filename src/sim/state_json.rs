//! `GET /master/state`: the master's state in the shape of the real
//! endpoint (`src/master/readonly_handler.cpp`): master identity, agents as
//! `slaves`, frameworks with their `tasks`, `completed_tasks`,
//! `unreachable_tasks` and `offers`, and `completed_frameworks`. Only the
//! fields tools commonly read are produced; tasks name their agent
//! `slave_id`, as the real endpoint does.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::cluster::attributes_json;
use super::http::Shared;
use super::master::{AgentState, Framework, MESOS_VERSION, Master, Task};
use super::resources::ResourceSet;
use crate::mesos::encoding::to_json_value;
use crate::mesos::v1::TaskState;

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
            let mut v = json!({
                "state": state_name(*s),
                "timestamp": ts,
                "container_status": {
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
    json!({
        "id": f.id,
        "name": f.info.name,
        "user": f.info.user,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "pid": Value::Null,
        "active": active && f.connected(),
        "connected": f.connected(),
        "recovered": false,
        "role": f.roles.first().cloned().unwrap_or_else(|| "*".into()),
        "roles": f.roles,
        "principal": f.info.principal,
        "checkpoint": f.info.checkpoint(),
        "failover_timeout": f.info.failover_timeout(),
        "capabilities": capabilities,
        "registered_time": f.registered_time,
        "unregistered_time": f.unregistered_time.unwrap_or(0.0),
        "resources": used.state_summary(),
        "used_resources": used.state_summary(),
        "offered_resources": offered.state_summary(),
        "tasks": tasks,
        "unreachable_tasks": unreachable,
        "completed_tasks": completed,
        "offers": offers,
        "executors": [],
        "completed_executors": [],
    })
}

/// The whole state document.
pub fn state_value(m: &Master) -> Value {
    let mut slaves = Vec::new();
    let mut unreachable_slaves = Vec::new();
    let mut activated = 0;
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
        let active = a.state == AgentState::Active;
        activated += usize::from(active);
        let v = json!({
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
        "git_tag": MESOS_VERSION,
        "build_user": "hydrogen-sim",
        "start_time": m.start_time,
        "elected_time": m.elected_time,
        "id": m.master_id,
        "pid": pid,
        "hostname": m.hostname,
        "leader": match &m.leadership {
            super::master::Leadership::Leading => json!(pid),
            super::master::Leadership::Following { leader } => json!(leader.as_ref().map(|l| format!("master@{l}"))),
        },
        "leader_info": to_json_value(&leader).unwrap_or(Value::Null),
        "activated_slaves": activated,
        "deactivated_slaves": 0,
        "unreachable_slaves": unreachable_slaves.len(),
        "slaves": slaves,
        "recovered_slaves": [],
        "unreachable_slaves_info": unreachable_slaves,
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
