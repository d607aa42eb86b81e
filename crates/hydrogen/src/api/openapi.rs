//! The OpenAPI 3 document of the REST face (`GET /openapi.json`).
//!
//! The operations are declared on doc-only functions rather than on the
//! handlers: the handlers are generic over the store, which utoipa's path
//! macro does not take. A test checks that the document lists exactly the
//! routes of [`super::rest::route_table`], so the two cannot drift.

#![allow(dead_code)] // the functions below exist only for their attributes

use serde_json::Value;
use utoipa::OpenApi;

use super::error::{ErrorBody, FieldError};
use super::rest::{
    ClusterBody, DeployResultBody, KillRequestBody, KillResultBody, ListEntryBody, NameQuery,
    ReadyBody, TaskBody, UpdateResultBody, VersionQuery, WarningBody, WatchQuery,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hydrogen REST API",
        description = "The original Hydrogen's JSON API (bodies parsed as JSON whatever the \
            Content-Type), plus the task watch, health and metrics. The same operations are \
            offered over gRPC as hydrogen.v1.AppService on the same port. When the server has \
            an API token, every route but /healthz, /readyz and the web console's static \
            assets (/ui/) needs `Authorization: Bearer <token>`. Errors are `{\"message\", \"code\", \"field\"}`.",
        version = "1"
    ),
    paths(
        deploy, update, kill, state, list_all, list_apps, watch, healthz, readyz, cluster, metrics,
        openapi
    ),
    components(schemas(
        ErrorBody,
        FieldError,
        DeployResultBody,
        UpdateResultBody,
        WarningBody,
        KillResultBody,
        KillRequestBody,
        TaskBody,
        ListEntryBody,
        ReadyBody,
        ClusterBody
    ))
)]
struct ApiDoc;

/// The document as JSON.
pub fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null)
}

/// Deploy one or more apps.
///
/// The body is a JSON array of apps (see examples/test-app.json). Deploying
/// an app that exists with the same spec changes nothing; a different spec
/// is a 409 (use PUT).
#[utoipa::path(
    post,
    path = "/v1/api/app",
    request_body(content = Vec<Object>, description = "A JSON array of apps"),
    responses(
        (status = 200, description = "Queued", body = Vec<DeployResultBody>),
        (status = 400, description = "Invalid JSON or app", body = ErrorBody),
        (status = 409, description = "Exists with another spec, or being killed", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn deploy() {}

/// Replace an app's spec.
///
/// The body is one app object (or an array of one).
#[utoipa::path(
    put,
    path = "/v1/api/app",
    params(VersionQuery),
    request_body(content = Object, description = "One app"),
    responses(
        (status = 200, description = "Updated", body = UpdateResultBody),
        (status = 400, description = "Invalid JSON or app", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 409, description = "Stale expected version, or being killed", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn update() {}

/// Kill an app.
///
/// The body is `{"name": "..."}` (optionally `expected_version`); with no
/// body, `?name=` is read instead.
#[utoipa::path(
    delete,
    path = "/v1/api/app",
    params(NameQuery),
    request_body(content = KillRequestBody),
    responses(
        (status = 200, description = "Kill requested", body = KillResultBody),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 409, description = "Stale expected version", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn kill() {}

/// The state of one app.
///
/// The spec's keys (`name`, `instances`, `resources`, `container`,
/// `command`, `labels`, `executor` ...), then `state` (`TASK_RUNNING` ...),
/// `version`, `goal`, `running`, `tasks`, `status` (why tasks wait).
#[utoipa::path(
    get,
    path = "/v1/api/app",
    params(NameQuery),
    responses(
        (status = 200, description = "The app", body = Object),
        (status = 400, description = "Missing name", body = ErrorBody),
        (status = 404, description = "No such app", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn state() {}

/// Every task known to Hydrogen.
#[utoipa::path(
    get,
    path = "/v1/api/app/all",
    responses(
        (status = 200, description = "Tasks", body = Vec<ListEntryBody>),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn list_all() {}

/// Task state changes as Server-Sent Events.
///
/// Each event has `id` = its revision, `event: task` and the event's JSON
/// as `data`. Reconnect with `Last-Event-ID` (or `?after=`) to resume without
/// a gap or a repeat. A revision the log no longer holds is a 410; if that
/// happens mid-stream an `event: error` is sent and the stream ends.
#[utoipa::path(
    get,
    path = "/v1/api/app/watch",
    params(
        WatchQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this revision")
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad revision", body = ErrorBody),
        (status = 410, description = "The log no longer holds the revision", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn watch() {}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = Object)))]
fn healthz() {}

/// Readiness: the store answers; who leads.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = ReadyBody),
        (status = 503, description = "Store unavailable", body = ReadyBody)
    )
)]
fn readyz() {}

/// Every app's State (spec, version, goal, tasks, scheduler status), by
/// name: what `GET /v1/api/app?name=` answers, for all apps at once.
#[utoipa::path(
    get,
    path = "/v1/api/apps",
    responses(
        (status = 200, description = "Every app's state", body = Vec<Object>),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn list_apps() {}

/// The cluster as this instance sees it: leader, epoch, Mesos masters,
/// framework id, and whether the leader is subscribed (as it recorded in
/// the store: every instance answers the same).
#[utoipa::path(
    get,
    path = "/v1/api/cluster",
    responses(
        (status = 200, description = "The cluster", body = ClusterBody),
        (status = 503, description = "Store unavailable", body = ErrorBody)
    )
)]
fn cluster() {}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
fn metrics() {}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3", body = Object)))]
fn openapi() {}
