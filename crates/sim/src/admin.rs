//! The fault-injection API under `/sim/` (routes and bodies are documented
//! in the module docs of `sim`). Every answer is JSON; bad input is a 4xx
//! with `{"error": "..."}`: 400 for a malformed body, 404 for an unknown
//! agent or task, 409 for a state that does not allow the change.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tracing::info;

use super::cluster::{AgentSpec, attributes_json};
use super::http::Shared;
use super::master::{AgentState, Leadership};
use hydrogen_mesos::v1::TaskState;
use hydrogen_time::parse_duration;

/// The `/sim/` routes.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/sim/agents", get(list_agents).post(add_agent))
        .route("/sim/agents/{id}", axum::routing::delete(agent_gone))
        .route("/sim/agents/{id}/unreachable", post(agent_unreachable))
        .route("/sim/agents/{id}/gone", post(agent_gone))
        .route("/sim/agents/{id}/reregister", post(agent_reregister))
        .route("/sim/tasks", get(list_tasks))
        .route("/sim/tasks/{id}/{action}", post(task_action))
        .route("/sim/master/failover", post(master_failover))
        .route("/sim/master/stall", post(master_stall))
        .route("/sim/master/leadership", post(master_leadership))
        .route("/sim/master/lose-on-accept", post(master_lose_on_accept))
        .route("/sim/acks/delay", post(acks_delay))
        .route("/sim/offers/pause", post(offers_pause))
        .route("/sim/offers/resume", post(offers_resume))
        .with_state(shared)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

fn ok(value: serde_json::Value) -> Response {
    axum::Json(value).into_response()
}

/// Parses an optional JSON body (empty means the type's default).
fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &Bytes) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn list_agents(State(shared): State<Shared>) -> Response {
    let m = shared.lock();
    let agents: Vec<_> = m
        .agents
        .values()
        .map(|a| {
            json!({
                "id": a.id,
                "hostname": a.hostname,
                "state": match a.state {
                    AgentState::Active => "active",
                    AgentState::Unreachable { .. } => "unreachable",
                    AgentState::Gone => "gone",
                },
                "resources": a.total.state_summary(),
                "used_resources": a.used.state_summary(),
                "offered_resources": a.offered.state_summary(),
                "attributes": attributes_json(&a.attributes),
                "tasks": a.tasks.len(),
            })
        })
        .collect();
    ok(json!({"agents": agents}))
}

async fn add_agent(State(shared): State<Shared>, bytes: Bytes) -> Response {
    let spec: AgentSpec = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid agent: {e}")),
    };
    match shared.lock().add_agent(&spec) {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

fn agent_change(
    shared: &Shared,
    id: &str,
    change: impl FnOnce(&mut super::master::Master) -> Result<(), String>,
) -> Response {
    let mut m = shared.lock();
    if !m.agents.contains_key(id) {
        return error(StatusCode::NOT_FOUND, format!("no agent '{id}'"));
    }
    match change(&mut m) {
        Ok(()) => ok(json!({"id": id})),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

async fn agent_unreachable(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    agent_change(&shared, &id, |m| m.mark_unreachable(&id))
}

async fn agent_gone(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    agent_change(&shared, &id, |m| m.mark_gone(&id))
}

async fn agent_reregister(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    agent_change(&shared, &id, |m| m.reregister(Instant::now(), &id))
}

async fn list_tasks(State(shared): State<Shared>) -> Response {
    let m = shared.lock();
    let tasks: Vec<_> = m
        .frameworks
        .values()
        .flat_map(|f| f.tasks.values())
        .map(|t| {
            json!({
                "framework_id": t.framework_id,
                "task_id": t.info.task_id.value,
                "agent_id": t.agent_id,
                "state": t.state.as_str_name(),
                "unreachable": t.unreachable.is_some(),
                "healthy": t.healthy,
                "unacknowledged_updates": t.pending.len(),
                "ip": t.ip,
            })
        })
        .collect();
    ok(json!({"tasks": tasks}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskActionBody {
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FrameworkQuery {
    framework_id: Option<String>,
}

async fn task_action(
    State(shared): State<Shared>,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<FrameworkQuery>,
    bytes: Bytes,
) -> Response {
    let b: TaskActionBody = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let now = Instant::now();
    let mut m = shared.lock();
    let (fw, task) = match m.find_task(&id, q.framework_id.as_deref()) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::NOT_FOUND, e),
    };
    info!(task_id = %id, action, "admin task action");
    let result = match action.as_str() {
        "fail" => m.end_task(now, &fw, &task, TaskState::TaskFailed, b.message),
        "finish" => m.end_task(now, &fw, &task, TaskState::TaskFinished, b.message),
        "unhealthy" => m.set_health(now, &fw, &task, false),
        "healthy" => m.set_health(now, &fw, &task, true),
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("unknown task action '{other}' (fail, finish, unhealthy, healthy)"),
            );
        }
    };
    match result {
        Ok(()) => ok(json!({"framework_id": fw, "task_id": task})),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailoverBody {
    /// How long no leader is known after the failover, e.g. "2s".
    leaderless: Option<String>,
}

async fn master_failover(State(shared): State<Shared>, bytes: Bytes) -> Response {
    let b: FailoverBody = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let leaderless = match b.leaderless.as_deref().map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("leaderless: {e}")),
    };
    let mut m = shared.lock();
    m.failover(Instant::now(), leaderless);
    ok(json!({"master_id": m.master_id}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StallBody {
    /// How long the master sends nothing at all, e.g. "30s".
    duration: Option<String>,
}

async fn master_stall(State(shared): State<Shared>, bytes: Bytes) -> Response {
    let b: StallBody = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let Some(text) = b.duration else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"duration\": \"30s\"}",
        );
    };
    let d = match parse_duration(&text) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("duration: {e}")),
    };
    shared.lock().stalled_until = Some(Instant::now() + d);
    info!(duration = ?d, "master stalled: no events will be sent");
    ok(json!({"stalled_for_ms": d.as_millis() as u64}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeadershipBody {
    leading: bool,
    /// `host:port` of the leader when not leading; absent ⇒ no leader known.
    leader: Option<String>,
}

async fn master_leadership(State(shared): State<Shared>, bytes: Bytes) -> Response {
    let b: LeadershipBody = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body must be {{\"leading\": bool, \"leader\": \"host:port\"?}}: {e}"),
            );
        }
    };
    if b.leading && b.leader.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "a leading master names no other leader",
        );
    }
    if let Some(l) = &b.leader
        && (l.contains('/') || !l.contains(':'))
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("leader {l:?} must be host:port"),
        );
    }
    let mut m = shared.lock();
    if b.leading {
        m.leadership = Leadership::Leading;
    } else {
        // Losing leadership drops every subscription, as a real master
        // that is no longer elected does.
        m.failover(Instant::now(), None);
        m.leadership = Leadership::Following {
            leader: b.leader.clone(),
        };
    }
    info!(leading = b.leading, leader = ?b.leader, "leadership changed");
    ok(json!({"leading": b.leading, "leader": b.leader}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoseOnAcceptBody {
    count: u32,
}

async fn master_lose_on_accept(State(shared): State<Shared>, bytes: Bytes) -> Response {
    let b: LoseOnAcceptBody = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("body must be {{\"count\": n}}: {e}"),
            );
        }
    };
    shared.lock().accepts_lost = b.count;
    info!(
        count = b.count,
        "the next ACCEPTs will meet a leadership loss"
    );
    ok(json!({"accepts_lost": b.count}))
}

async fn acks_delay(State(shared): State<Shared>, bytes: Bytes) -> Response {
    let b: StallBody = match body(&bytes) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let Some(text) = b.duration else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"duration\": \"5s\"}",
        );
    };
    let d = match parse_duration(&text) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("duration: {e}")),
    };
    shared.lock().acks_ignored_until = Some(Instant::now() + d);
    info!(duration = ?d, "acknowledgements ignored: updates will be retried");
    ok(json!({"acks_ignored_for_ms": d.as_millis() as u64}))
}

async fn offers_pause(State(shared): State<Shared>) -> Response {
    shared.lock().offers_paused = true;
    ok(json!({"offers_paused": true}))
}

async fn offers_resume(State(shared): State<Shared>) -> Response {
    shared.lock().offers_paused = false;
    ok(json!({"offers_paused": false}))
}
