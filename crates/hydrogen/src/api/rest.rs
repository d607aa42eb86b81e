//! The REST face: the original Hydrogen's JSON API (`/v1/api/app` ...), the
//! SSE task watch, health, readiness, metrics and the OpenAPI document.
//!
//! Handlers are thin: read the body as JSON whatever its Content-Type says
//! (the README's `curl -d` sends `application/x-www-form-urlencoded`), let
//! `spec` read and validate it, call the core, render the original's JSON
//! shapes (extended with new keys; `message` stays at the top). Every route
//! is declared once, in [`route_table`], which builds the router and which a
//! test compares with the OpenAPI document, so the document cannot miss a
//! route.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::spec;
use crate::store::{MesosLink, Store, TaskRecord};

use super::auth::is_grpc;
use super::error::ApiError;
use super::service::{ApiService, AppView, Face, Framing};
use super::watch::{self, WatchFrom, WatchOptions};

/// What every REST handler shares.
pub struct Shared<S> {
    /// The core.
    pub core: ApiService<S>,
    /// Body limit in bytes (for the 413 message).
    pub body_limit: usize,
    /// Cancelled on shutdown: ends SSE watches.
    pub shutdown: CancellationToken,
    /// The Mesos masters this instance is configured with (for
    /// `/v1/api/cluster`; the API itself never talks to them).
    pub masters: Vec<String>,
}

type St<S> = State<Arc<Shared<S>>>;

/// One REST route: path, method, handler.
pub type Route<S> = (&'static str, Method, MethodRouter<Arc<Shared<S>>>);

/// Every REST route. The router is built from this table and the OpenAPI
/// test checks the document against it.
pub fn route_table<S: Store>() -> Vec<Route<S>> {
    vec![
        ("/v1/api/app", Method::POST, post(deploy::<S>)),
        ("/v1/api/app", Method::PUT, put(update::<S>)),
        ("/v1/api/app", Method::DELETE, delete(kill::<S>)),
        ("/v1/api/app", Method::GET, get(state::<S>)),
        ("/v1/api/app/all", Method::GET, get(list_all::<S>)),
        ("/v1/api/apps", Method::GET, get(list_apps::<S>)),
        ("/v1/api/app/watch", Method::GET, get(watch_sse::<S>)),
        ("/healthz", Method::GET, get(healthz)),
        ("/readyz", Method::GET, get(readyz::<S>)),
        ("/v1/api/cluster", Method::GET, get(cluster::<S>)),
        ("/metrics", Method::GET, get(metrics_text)),
        ("/openapi.json", Method::GET, get(openapi_json)),
    ]
}

/// Whether `path` is a REST route (a bounded metric label); a test checks
/// it against [`route_table`].
pub fn is_rest_path(path: &str) -> bool {
    matches!(
        path,
        "/v1/api/app"
            | "/v1/api/app/all"
            | "/v1/api/apps"
            | "/v1/api/app/watch"
            | "/healthz"
            | "/readyz"
            | "/v1/api/cluster"
            | "/metrics"
            | "/openapi.json"
    )
}

/// Routes exempt from the request timeout (long-lived streams).
pub fn is_streaming(path: &str) -> bool {
    path == "/v1/api/app/watch"
}

/// The REST router (state still to be provided).
pub fn router<S: Store>(request_timeout: Duration) -> axum::Router<Arc<Shared<S>>> {
    let mut router = axum::Router::new();
    for (path, _, method_router) in route_table::<S>() {
        let method_router = if is_streaming(path) {
            method_router
        } else {
            method_router.layer(axum::middleware::from_fn(
                move |req: Request, next: Next| with_timeout(request_timeout, req, next),
            ))
        };
        router = router.route(path, method_router);
    }
    router.method_not_allowed_fallback(method_not_allowed)
}

async fn with_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

/// Middleware: a request whose declared `Content-Length` is over the body
/// limit gets 413 at once. Without it the handler would wait for a body it
/// will refuse anyway, until the request timeout (a client that declares
/// 10 MB and sends nothing held a task for 30 s, then got a 504).
pub async fn reject_declared_oversize(limit: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    next.run(req).await
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

/// Fallback for unknown paths: a JSON 404, or gRPC UNIMPLEMENTED for a gRPC
/// call to a service this server does not have.
pub async fn not_found(req: Request) -> Response {
    if is_grpc(&req) {
        return tonic::Status::unimplemented(format!("no gRPC service at {}", req.uri().path()))
            .into_http::<axum::body::Body>();
    }
    ApiError::RouteNotFound(req.uri().path().to_owned()).into_response()
}

/// A body read in full (under the limit); over the limit is a 413.
fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest {
                field: None,
                message: format!("could not read the request body: {rejection}"),
            }
        }
    })
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::BadRequest {
        field: None,
        message: format!("invalid query string: {}", e.body_text()),
    })
}

// ------------------------------------------------------------------ bodies

/// One entry of the POST answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeployResultBody {
    /// `Task <app> successfully queued` (the original's text).
    pub message: String,
    /// The app.
    pub name: String,
    /// Its version after the call.
    pub version: u64,
    /// False when the same spec was already deployed.
    pub created: bool,
    /// Fields of this app accepted but ignored (the original's
    /// `container.type`, `container.tag`); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<WarningBody>,
}

/// A field accepted but ignored: the call succeeded, the field did nothing.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WarningBody {
    /// Path of the field in the app, e.g. `container.type`.
    pub field: String,
    /// What happened to it.
    pub message: String,
}

fn warning_bodies(warnings: &[spec::Warning]) -> Vec<WarningBody> {
    warnings
        .iter()
        .map(|w| WarningBody {
            field: w.field.clone(),
            message: w.message.clone(),
        })
        .collect()
}

/// The PUT answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateResultBody {
    /// For humans.
    pub message: String,
    /// The app.
    pub name: String,
    /// Its version after the call.
    pub version: u64,
    /// False when the spec was the same.
    pub changed: bool,
    /// Fields of the app accepted but ignored; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<WarningBody>,
}

/// The DELETE answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KillResultBody {
    /// For humans.
    pub message: String,
    /// The app.
    pub name: String,
    /// Its version after the call.
    pub version: u64,
}

/// The DELETE body: `{"name": "..."}`, optionally with the expected version.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillRequestBody {
    /// The app to kill.
    pub name: String,
    /// Kill only if the app is at this version (409 otherwise).
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// `?name=` of GET and (optionally) DELETE.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NameQuery {
    /// The app.
    pub name: Option<String>,
}

/// `?expected_version=` of PUT.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct VersionQuery {
    /// Update only if the app is at this version (409 otherwise).
    pub expected_version: Option<u64>,
}

/// `?app=&after=&include=` of the watch.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WatchQuery {
    /// Only events of this app.
    pub app: Option<String>,
    /// Replay events after this revision (0: the whole log); the
    /// `Last-Event-ID` header, when sent, takes precedence. Neither: live
    /// events only.
    pub after: Option<u64>,
    /// Side events to stream too, comma-separated: `status` (an app's new
    /// scheduler status, SSE `event: status`, starting with every current
    /// one) and `cluster` (who leads, the epoch, whether it is subscribed
    /// to Mesos: `event: cluster`, starting with the current one). Neither
    /// carries an `id`, so `Last-Event-ID` stays the last task revision.
    pub include: Option<String>,
}

/// A task as the REST face shows it (the gRPC `Task`'s fields).
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TaskBody {
    /// `<app>.<instance>.<uuid>`.
    pub id: String,
    /// Its app.
    pub app: String,
    /// Its instance slot.
    pub instance: u32,
    /// `TASK_RUNNING` ...
    pub state: String,
    /// Its agent.
    pub agent_id: String,
    /// The agent's hostname.
    pub hostname: String,
    /// Its IPs.
    pub ips: Vec<String>,
    /// The host ports it holds, `$PORT0` first (empty when it holds none).
    pub ports: Vec<u32>,
    /// Health, when known.
    pub healthy: Option<bool>,
    /// The app version it runs.
    pub version: u64,
    /// The latest Mesos message.
    pub message: String,
    /// Launch time, ms since the epoch.
    pub created_ms: u64,
    /// Last change, ms since the epoch.
    pub updated_ms: u64,
}

impl From<&TaskRecord> for TaskBody {
    fn from(t: &TaskRecord) -> Self {
        Self {
            id: t.task_id.clone(),
            app: t.app.clone(),
            instance: t.instance,
            state: t.state.as_str().to_owned(),
            agent_id: t.agent_id.clone(),
            hostname: t.hostname.clone(),
            ips: t.ips.clone(),
            ports: t.ports.clone(),
            healthy: t.healthy,
            version: t.app_version,
            message: t.message.clone(),
            created_ms: t.created_ms,
            updated_ms: t.updated_ms,
        }
    }
}

/// One entry of `/v1/api/app/all`: the original's `Name` and `State`, then
/// the task's fields.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListEntryBody {
    /// The task's app (the original's key).
    #[serde(rename = "Name")]
    pub name: String,
    /// The task's state (the original's key).
    #[serde(rename = "State")]
    pub state: String,
    /// The task.
    #[serde(flatten)]
    pub task: TaskBody,
}

impl From<&TaskRecord> for ListEntryBody {
    fn from(t: &TaskRecord) -> Self {
        Self {
            name: t.app.clone(),
            state: t.state.as_str().to_owned(),
            task: TaskBody::from(t),
        }
    }
}

/// `/readyz`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReadyBody {
    /// The store answers.
    pub ready: bool,
    /// This instance holds the leader lease.
    pub leader: bool,
    /// The lease holder's instance id.
    pub leader_id: Option<String>,
    /// The lease holder's API address.
    pub leader_address: Option<String>,
    /// The lease's fencing epoch.
    pub epoch: Option<u64>,
    /// Whether the leader is subscribed to Mesos, as the store says (on
    /// every instance); null when the store could not tell. Reported only:
    /// readiness never depends on it.
    pub mesos: Option<MesosBody>,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `mesos` of `/readyz`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MesosBody {
    /// The current leader's scheduler is subscribed to a Mesos master.
    pub subscribed: bool,
}

/// `/v1/api/cluster`: who leads and what this instance knows of Mesos.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterBody {
    /// The instance that answered.
    pub instance_id: String,
    /// Whether it holds the leader lease.
    pub leader: bool,
    /// The lease holder's instance id, if the lease is held.
    pub leader_id: Option<String>,
    /// The lease holder's API address.
    pub leader_address: Option<String>,
    /// The lease's fencing epoch.
    pub epoch: Option<u64>,
    /// The Mesos masters this instance is configured with.
    pub masters: Vec<String>,
    /// The framework id Mesos gave Hydrogen, once subscribed once.
    pub framework_id: Option<String>,
    /// Whether the leader's scheduler is subscribed to Mesos, as the leader
    /// recorded it in the store under its epoch: every instance answers the
    /// same. False when nobody leads or the leader has not subscribed yet.
    pub subscribed: bool,
}

/// The JSON of one app's state: the spec's keys (`name`, `instances`,
/// `resources`, `container`, `command`, `labels`, `executor` ... as the
/// original answered), then `state`, `version`, `config_version` (tasks
/// launched at or after it are current; older ones get rolled), `goal`,
/// `running`, `tasks`, `status`, `created_ms`, `updated_ms`.
pub fn app_state_json(view: &AppView) -> Value {
    let mut obj = match serde_json::to_value(&view.record.spec) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let tasks: Vec<TaskBody> = view.tasks.iter().map(|t| TaskBody::from(&**t)).collect();
    obj.insert("state".into(), json!(view.summary_state()));
    obj.insert("version".into(), json!(view.record.version));
    obj.insert("config_version".into(), json!(view.record.config_version));
    obj.insert("goal".into(), json!(view.record.goal));
    obj.insert("running".into(), json!(view.running()));
    obj.insert("tasks".into(), json!(tasks));
    obj.insert("status".into(), json!(view.status.as_deref()));
    obj.insert("created_ms".into(), json!(view.record.created_ms));
    obj.insert("updated_ms".into(), json!(view.record.updated_ms));
    Value::Object(obj)
}

// ---------------------------------------------------------------- handlers

async fn deploy<S: Store>(
    State(st): St<S>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Vec<DeployResultBody>>, ApiError> {
    let body = body_bytes(body, st.body_limit)?;
    let (apps, warnings): (Vec<_>, Vec<_>) = spec::parse_apps_warned(&body)?
        .into_iter()
        .map(|p| (p.app, p.warnings))
        .unzip();
    let results = st.core.deploy(apps).await?;
    // `deploy` answers one result per app, in request order.
    Ok(Json(
        results
            .iter()
            .zip(&warnings)
            .map(|(d, w)| DeployResultBody {
                message: d.message(),
                name: d.record.name().to_owned(),
                version: d.record.version,
                created: d.created,
                warnings: warning_bodies(w),
            })
            .collect(),
    ))
}

async fn update<S: Store>(
    State(st): St<S>,
    q: Result<Query<VersionQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UpdateResultBody>, ApiError> {
    let q = query(q)?;
    let body = body_bytes(body, st.body_limit)?;
    let parsed = spec::parse_app_warned(&body)?;
    let updated = st.core.update(parsed.app, q.expected_version).await?;
    Ok(Json(UpdateResultBody {
        message: format!("Task {} successfully updated", updated.record.name()),
        name: updated.record.name().to_owned(),
        version: updated.record.version,
        changed: updated.changed,
        warnings: warning_bodies(&parsed.warnings),
    }))
}

async fn kill<S: Store>(
    State(st): St<S>,
    q: Result<Query<NameQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<KillResultBody>, ApiError> {
    let q = query(q)?;
    let body = body_bytes(body, st.body_limit)?;
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        // No body: `DELETE /v1/api/app?name=web` is accepted too.
        KillRequestBody {
            name: q.name.ok_or_else(|| ApiError::BadRequest {
                field: Some("name".into()),
                message: "is required (body {\"name\": \"...\"} or ?name=)".into(),
            })?,
            expected_version: None,
        }
    } else {
        serde_json::from_slice::<KillRequestBody>(&body).map_err(|e| ApiError::BadRequest {
            field: kill_body_field(&e),
            message: format!("body must be {{\"name\": \"...\"}}: {e}"),
        })?
    };
    let record = st
        .core
        .kill(&request.name, request.expected_version)
        .await?;
    Ok(Json(KillResultBody {
        message: format!("Task {} successfully killed", record.name()),
        name: record.name().to_owned(),
        version: record.version,
    }))
}

/// Which key of a DELETE body serde complained about, if it says.
fn kill_body_field(e: &serde_json::Error) -> Option<String> {
    let text = e.to_string();
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(text[start..start + len].to_owned())
}

async fn state<S: Store>(
    State(st): St<S>,
    q: Result<Query<NameQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let name = query(q)?.name.ok_or_else(|| ApiError::BadRequest {
        field: Some("name".into()),
        message: "is required (?name=<app>)".into(),
    })?;
    let entry = st.core.app(&name).await?;
    let body = entry
        .state_body(Face::Json, |view| to_json_bytes(&app_state_json(view)))
        .ok_or_else(|| crate::store::StoreError::AppNotFound(name.clone()))?;
    Ok(json_response(body))
}

/// `/v1/api/app/all` as JSON bytes: the array of every task's
/// [`ListEntryBody`], each app's entries rendered once while it is
/// unchanged (see [`super::service`]).
async fn list_all_body<S: Store>(core: &ApiService<S>) -> Result<Bytes, ApiError> {
    let views = core.views().await?;
    let framing = Framing {
        open: b"[",
        separator: b",",
        close: b"]",
    };
    Ok(views.list_body(Face::Json, framing, |tasks| {
        let entries: Vec<ListEntryBody> = tasks.iter().map(|t| ListEntryBody::from(&**t)).collect();
        let array = to_json_bytes(&entries);
        // The share is the array's inside: the body joins the shares.
        array.slice(1..array.len().saturating_sub(1).max(1))
    }))
}

async fn list_all<S: Store>(State(st): St<S>) -> Result<Response, ApiError> {
    Ok(json_response(list_all_body(&st.core).await?))
}

/// `/v1/api/apps`: the State answer of every app, by name, as one array
/// (each app's rendering shared with `GET /v1/api/app?name=`).
async fn list_apps<S: Store>(State(st): St<S>) -> Result<Response, ApiError> {
    let views = st.core.views().await?;
    let mut body = BytesMut::new();
    body.extend_from_slice(b"[");
    let mut first = true;
    for entry in views.apps() {
        let Some(state) = entry.state_body(Face::Json, |view| to_json_bytes(&app_state_json(view)))
        else {
            continue;
        };
        if !first {
            body.extend_from_slice(b",");
        }
        first = false;
        body.extend_from_slice(&state);
    }
    body.extend_from_slice(b"]");
    Ok(json_response(body.freeze()))
}

/// Serialising our own bodies cannot fail (string keys, finite numbers).
fn to_json_bytes<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn watch_sse<S: Store>(
    State(st): St<S>,
    q: Result<Query<WatchQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest {
                    field: Some("Last-Event-ID".into()),
                    message: "must be an event revision (a whole number)".into(),
                })?,
        ),
        None => None,
    };
    let from = last_event_id
        .or(q.after)
        .map_or(WatchFrom::Head, WatchFrom::After);
    let mut options = WatchOptions {
        app: q.app.filter(|a| !a.is_empty()),
        ..WatchOptions::default()
    };
    for kind in q.include.iter().flat_map(|i| i.split(',')) {
        match kind.trim() {
            "status" => options.statuses = true,
            "cluster" => options.cluster = true,
            "" => {}
            other => {
                return Err(ApiError::BadRequest {
                    field: Some("include".into()),
                    message: format!(
                        "unknown event kind {other:?}: use `status`, `cluster` or both, comma-separated"
                    ),
                });
            }
        }
    }
    let hub = st.core.watch_hub();
    let stream = watch::watch(
        Arc::clone(st.core.store()),
        &hub,
        from,
        options,
        st.shutdown.clone(),
    )
    .await?;
    Ok(sse_response(stream))
}

/// How often an idle SSE watch sends a comment line, so proxies and
/// clients see the connection alive (axum's `KeepAlive` default).
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The SSE body: the hub's frames as they are (each event's `id: <revision>`
/// for `Last-Event-ID`, `event: task`, `data: <JSON>`), one write per
/// chunk, a comment every [`SSE_KEEP_ALIVE`] while idle, and an `event:
/// error` frame before the stream ends on an error.
fn sse_response(watch: watch::TaskWatch) -> Response {
    let tick =
        tokio::time::interval_at(tokio::time::Instant::now() + SSE_KEEP_ALIVE, SSE_KEEP_ALIVE);
    let body = futures_util::stream::unfold((watch, tick), |(mut watch, mut tick)| async move {
        let frame = tokio::select! {
            item = watch.next() => match item? {
                Ok(chunk) => sse_chunk(&chunk),
                Err(e) => Bytes::from(format!(
                    "event: error\ndata: {}\n\n",
                    serde_json::to_string(&e.body()).unwrap_or_default()
                )),
            },
            _ = tick.tick() => Bytes::from_static(b":\n\n"),
        };
        Some((Ok::<_, Infallible>(frame), (watch, tick)))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// One write for a chunk: its frames, shared when there is one.
fn sse_chunk(chunk: &[watch::Item]) -> Bytes {
    if let [one] = chunk {
        return one.sse().clone();
    }
    let mut out = BytesMut::with_capacity(chunk.iter().map(|i| i.sse().len()).sum());
    for item in chunk {
        out.extend_from_slice(item.sse());
    }
    out.freeze()
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz<S: Store>(State(st): St<S>) -> (StatusCode, Json<ReadyBody>) {
    let readiness = st.core.readiness().await;
    let mesos = match &readiness {
        Ok(r) => st
            .core
            .store()
            .mesos_link()
            .await
            .ok()
            .map(|link| MesosBody {
                subscribed: MesosLink::leader_subscribed(link.as_ref(), r.leader.as_ref()),
            }),
        Err(_) => None,
    };
    match readiness {
        Ok(r) if r.refusal.is_some() => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ReadyBody {
                ready: false,
                leader: r.is_leader,
                leader_id: r.leader.as_ref().map(|l| l.instance_id.clone()),
                leader_address: r.leader.as_ref().map(|l| l.address.clone()),
                epoch: r.leader.as_ref().map(|l| l.epoch.0),
                mesos,
                error: r.refusal,
            }),
        ),
        Ok(r) => (
            StatusCode::OK,
            Json(ReadyBody {
                ready: true,
                leader: r.is_leader,
                leader_id: r.leader.as_ref().map(|l| l.instance_id.clone()),
                leader_address: r.leader.as_ref().map(|l| l.address.clone()),
                epoch: r.leader.as_ref().map(|l| l.epoch.0),
                mesos,
                error: None,
            }),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ReadyBody {
                ready: false,
                leader: false,
                leader_id: None,
                leader_address: None,
                epoch: None,
                mesos: None,
                error: Some(e.to_string()),
            }),
        ),
    }
}

async fn cluster<S: Store>(State(st): St<S>) -> Result<Json<ClusterBody>, ApiError> {
    let readiness = st.core.readiness().await?;
    let framework_id = st.core.store().framework_id().await?;
    let link = st.core.store().mesos_link().await?;
    let leader = readiness.leader.as_ref();
    Ok(Json(ClusterBody {
        instance_id: st.core.instance_id().to_owned(),
        leader: readiness.is_leader,
        leader_id: leader.map(|l| l.instance_id.clone()),
        leader_address: leader.map(|l| l.address.clone()),
        epoch: leader.map(|l| l.epoch.0),
        masters: st.masters.clone(),
        framework_id,
        subscribed: MesosLink::leader_subscribed(link.as_ref(), leader),
    }))
}

pub use crate::telemetry::prometheus;

async fn metrics_text() -> Response {
    match prometheus() {
        Some(handle) => {
            handle.run_upkeep();
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
                .into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "# another metrics recorder is installed in this process\n",
        )
            .into_response(),
    }
}

async fn openapi_json() -> Json<Value> {
    Json(super::openapi::document())
}
