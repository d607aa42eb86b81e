//! The master's HTTP face: `POST /api/v1/scheduler` (calls and the
//! SUBSCRIBE event stream), `GET /version`, `/health`, `/redirect` and
//! `/master/state`, checked and answered in the order and words of
//! `Master::Http::scheduler` (`src/master/http.cpp`).
//!
//! Handlers are thin: they parse (refusing a call that lacks a proto2
//! `required` field, as C++ protobuf does: see `required.rs`), validate the
//! call as
//! `validation::scheduler::call::validate` does, then lock the state machine
//! for a short synchronous step. A SUBSCRIBE answer is a chunked body fed by
//! the framework's event channel, each event encoded in the negotiated
//! encoding and framed as RecordIO; when the client goes away the body is
//! dropped, and a guard in it reports the disconnection to the master.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures_util::StreamExt;
use prost::Message;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{debug, info};

use super::master::{Connection, MESOS_VERSION, Master, SubscribeOutcome};
use super::required;
use hydrogen_mesos::encoding::{Encoding, JSON, PROTOBUF, from_json};
use hydrogen_mesos::recordio;
use hydrogen_mesos::v1::scheduler::{Call, call};
use hydrogen_mesos::{SCHEDULER_PATH, STREAM_ID_HEADER};

/// The state machine shared by handlers, the admin API and the ticker.
///
/// A plain mutex, not an actor: every operation is a short synchronous step
/// with no await inside, so contention is brief, callers get their answer
/// (status code, admin result) directly, and unit tests drive the same
/// `Master` without a runtime.
#[derive(Clone)]
pub struct Shared {
    pub master: Arc<Mutex<Master>>,
}

impl Shared {
    /// Locks the master. A panic while holding the lock would be a bug in
    /// the simulator; the state is still the best we have, so keep serving.
    pub fn lock(&self) -> MutexGuard<'_, Master> {
        self.master.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Routes of the master (the admin API is merged in by `mod.rs`).
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route(SCHEDULER_PATH, any(scheduler))
        .route("/api/v1", axum::routing::post(super::operator::operator))
        .route("/version", get(version))
        .route("/health", get(health))
        .route("/redirect", get(redirect))
        .route("/master/redirect", get(redirect))
        .route("/master/state", get(super::state_json::state))
        .route(
            "/metrics/snapshot",
            get(super::state_json::metrics_snapshot),
        )
        .route("/state", get(super::state_json::state))
        .route("/master/state.json", get(super::state_json::state))
        .route(
            "/master/maintenance/schedule",
            any(super::maintenance::schedule_endpoint),
        )
        .route(
            "/master/maintenance/status",
            get(super::maintenance::status_endpoint),
        )
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    debug!(status = status.as_u16(), %message, "scheduler call refused");
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn accepted() -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// A 307 to the leader, with a scheme-less `Location` as Mesos sends.
fn redirect_to(leader: &str, path: &str) -> Response {
    let location = format!("//{leader}{path}");
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "invalid leader address"),
    }
}

/// `validation::scheduler::call::validate`.
fn validate_call(call: &Call) -> Result<(), String> {
    use call::Type as T;
    if call.r#type.is_none() {
        return Err("Expecting 'type' to be present".into());
    }
    if call.r#type() == T::Subscribe {
        let Some(sub) = &call.subscribe else {
            return Err("Expecting 'subscribe' to be present".into());
        };
        let info_id = sub
            .framework_info
            .id
            .as_ref()
            .map_or("", |i| i.value.as_str());
        let call_id = call.framework_id.as_ref().map_or("", |i| i.value.as_str());
        if info_id != call_id {
            return Err("'framework_id' differs from 'subscribe.framework_info.id'".into());
        }
        return Ok(());
    }
    if call.framework_id.is_none() {
        return Err("Expecting 'framework_id' to be present".into());
    }
    let present = |ok: bool, field: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("Expecting '{field}' to be present"))
        }
    };
    match call.r#type() {
        T::Accept => present(call.accept.is_some(), "accept"),
        T::Decline => present(call.decline.is_some(), "decline"),
        T::AcceptInverseOffers => present(
            call.accept_inverse_offers.is_some(),
            "accept_inverse_offers",
        ),
        T::DeclineInverseOffers => present(
            call.decline_inverse_offers.is_some(),
            "decline_inverse_offers",
        ),
        T::Kill => present(call.kill.is_some(), "kill"),
        T::Shutdown => present(call.shutdown.is_some(), "shutdown"),
        T::Acknowledge => {
            let Some(ack) = &call.acknowledge else {
                return Err("Expecting 'acknowledge' to be present".into());
            };
            valid_uuid(&ack.uuid)
        }
        T::AcknowledgeOperationStatus => {
            let Some(ack) = &call.acknowledge_operation_status else {
                return Err("Expecting 'acknowledge_operation_status' to be present".into());
            };
            valid_uuid(&ack.uuid)?;
            present(ack.agent_id.is_some(), "agent_id")
        }
        T::Reconcile => present(call.reconcile.is_some(), "reconcile"),
        T::ReconcileOperations => {
            present(call.reconcile_operations.is_some(), "reconcile_operations")
        }
        T::Message => present(call.message.is_some(), "message"),
        T::Request => present(call.request.is_some(), "request"),
        T::UpdateFramework => {
            let Some(u) = &call.update_framework else {
                return Err("Expecting 'update_framework' to be present".into());
            };
            let call_id = call.framework_id.as_ref().map_or("", |i| i.value.as_str());
            if u.framework_info
                .id
                .as_ref()
                .map_or("", |i| i.value.as_str())
                != call_id
            {
                return Err(
                    "'framework_id' differs from 'update_framework.framework_info.id'".into(),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `id::UUID::fromBytes`: 16 bytes with a known version nibble.
fn valid_uuid(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() != 16 || !(1..=5).contains(&(bytes[6] >> 4)) {
        return Err("Not a valid UUID".into());
    }
    Ok(())
}

/// Reports the end of a SUBSCRIBE stream to the master when the response
/// body is dropped (client gone, or the master closed the stream).
struct StreamGuard {
    shared: Shared,
    framework_id: String,
    stream_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        debug!(framework_id = %self.framework_id, stream_id = %self.stream_id, "event stream closed");
        self.shared
            .lock()
            .disconnected(Instant::now(), &self.framework_id, &self.stream_id);
    }
}

async fn scheduler(
    State(shared): State<Shared>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    if let Some(leader) = shared.lock().leader_redirect(now) {
        return match leader {
            Ok(l) => redirect_to(&l, SCHEDULER_PATH),
            Err(()) => text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected"),
        };
    }
    if method != Method::POST {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Expecting one of {{ 'POST' }}, but received '{method}'"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Expecting 'Content-Type' to be present",
        );
    };
    let encoding = content_type
        .to_str()
        .ok()
        .and_then(Encoding::from_content_type);
    let call: Call = match encoding {
        // `ParseFromString` also fails when a required field is missing.
        Some(Encoding::Protobuf) => match (
            Call::decode(body.as_ref()),
            required::missing_in_protobuf_call(&body),
        ) {
            (Ok(c), Some(missing)) if missing.is_empty() => c,
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "Failed to parse body into Call protobuf",
                );
            }
        },
        Some(Encoding::Json) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Failed to parse body into JSON: {}",
                        picojson_error(&body, &e)
                    ),
                );
            }
            let call = match from_json::<Call>(&body) {
                Ok(c) => c,
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("Failed to convert JSON into Call protobuf: {e}"),
                    );
                }
            };
            // stout's `protobuf::parse<T>` checks `IsInitialized()` last.
            let missing = required::missing_in_json_call(&body).unwrap_or_default();
            if !missing.is_empty() {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Failed to convert JSON into Call protobuf: Missing required fields: {}",
                        missing.join(", ")
                    ),
                );
            }
            call
        }
        None => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}"),
            );
        }
    };
    if let Err(e) = validate_call(&call) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("Failed to validate scheduler::Call: {e}"),
        );
    }
    let framework_id = call
        .framework_id
        .as_ref()
        .map(|f| f.value.clone())
        .unwrap_or_default();
    debug!(call = ?call.r#type(), framework_id, "scheduler call received");

    // `Master::Http::scheduler` negotiates the response type for
    // SUBSCRIBE and RECONCILE_OPERATIONS only (406 for anything else).
    let mut stream_encoding = Encoding::Json;
    if matches!(
        call.r#type(),
        call::Type::Subscribe | call::Type::ReconcileOperations
    ) {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let Some(negotiated) = Encoding::negotiate(accept) else {
            return text(
                StatusCode::NOT_ACCEPTABLE,
                format!("Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}'"),
            );
        };
        stream_encoding = negotiated;
    }
    if call.r#type() == call::Type::Subscribe {
        if headers.contains_key(STREAM_ID_HEADER) {
            return text(
                StatusCode::BAD_REQUEST,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        let Some(subscribe) = call.subscribe else {
            return text(
                StatusCode::BAD_REQUEST,
                "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
            );
        };
        return subscribe_stream(shared, now, subscribe, stream_encoding);
    }

    let stream_id = headers.get(STREAM_ID_HEADER).and_then(|v| v.to_str().ok());
    let mut master = shared.lock();
    if let Err(rejection) = master.check_call(&framework_id, stream_id) {
        let status = StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::BAD_REQUEST);
        return text(status, rejection.message);
    }
    // UNKNOWN passes validation and the framework and stream checks; only
    // the dispatch answers 501.
    if call.r#type() == call::Type::Unknown {
        return StatusCode::NOT_IMPLEMENTED.into_response();
    }
    if call.r#type() == call::Type::Accept && master.accepts_lost > 0 {
        // The master loses its leadership as the ACCEPT arrives (then wins
        // the election again): the launch never happens, the caller gets
        // what a master without a leader answers, every stream drops.
        master.accepts_lost -= 1;
        master.failover(now, None);
        return text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected");
    }
    if call.r#type() == call::Type::UpdateFramework {
        // `Master::updateFramework` answers synchronously: 200 with an
        // empty body, or the reason the update was refused.
        let Some(update) = call.update_framework else {
            return text(
                StatusCode::BAD_REQUEST,
                "Failed to validate scheduler::Call: Expecting 'update_framework' to be present",
            );
        };
        return match master.update_framework(now, &framework_id, update) {
            Ok(()) => {
                let mut r = StatusCode::OK.into_response();
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                r
            }
            Err(rejection) => {
                let status =
                    StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::BAD_REQUEST);
                text(status, rejection.message)
            }
        };
    }
    master.handle_call(now, &framework_id, call);
    accepted()
}

/// Events written to a subscription's stream in one chunk, at most.
const EVENTS_PER_CHUNK: usize = 256;

fn subscribe_stream(
    shared: Shared,
    now: Instant,
    subscribe: call::Subscribe,
    encoding: Encoding,
) -> Response {
    let stream_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = shared.lock().subscribe(
        now,
        subscribe,
        Connection {
            stream_id: stream_id.clone(),
            tx,
        },
    );
    let guard = match outcome {
        SubscribeOutcome::Subscribed { framework_id } => {
            info!(framework_id, stream_id, "framework subscribed");
            Some(StreamGuard {
                shared: shared.clone(),
                framework_id,
                stream_id: stream_id.clone(),
            })
        }
        SubscribeOutcome::Refused { .. } => None,
    };
    // The events queued when the body is polled go out as one chunk: a
    // burst of 100,000 updates is then a few hundred writes, not 100,000
    // (each a chunk header and a write on our side, a read on the
    // framework's). The bytes on the wire are the same RecordIO stream.
    let stream = UnboundedReceiverStream::new(rx)
        .ready_chunks(EVENTS_PER_CHUNK)
        .map(move |events| {
            // The guard lives as long as the body stream.
            let _ = &guard;
            let mut chunk = bytes::BytesMut::new();
            for event in &events {
                recordio::write_record(&encoding.encode(event), &mut chunk);
            }
            Ok::<Bytes, std::convert::Infallible>(chunk.freeze())
        });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.media_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&stream_id) {
        headers.insert(STREAM_ID_HEADER, v);
    }
    response
}

async fn version() -> Response {
    axum::Json(serde_json::json!({
        "version": MESOS_VERSION,
        "build_date": "2020-01-01 00:00:00",
        "build_time": 1577836800.0,
        "build_user": "hydrogen-sim",
        "git_sha": "0000000000000000000000000000000000000000",
        "git_tag": MESOS_VERSION,
        "git_branch": "hydrogen-sim",
    }))
    .into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

/// `GET /redirect`: to the leading master's base URL (this one when it
/// leads), 503 when no leader is known.
async fn redirect(State(shared): State<Shared>) -> Response {
    let mut master = shared.lock();
    match master.leader_redirect(Instant::now()) {
        None => {
            let me = format!("{}:{}", master.hostname, master.address.port());
            redirect_to(&me, "")
        }
        Some(Ok(leader)) => redirect_to(&leader, ""),
        Some(Err(())) => text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected"),
    }
}

/// A JSON syntax error worded as picojson (which the master parses with)
/// words it: `syntax error at line N near: <rest of that line>`, the rest
/// starting at the offending character, control characters left out.
fn picojson_error(body: &[u8], e: &serde_json::Error) -> String {
    let line = e.line().max(1);
    let text = String::from_utf8_lossy(body);
    let rest: String = text
        .split('\n')
        .nth(line - 1)
        .map(|l| {
            l.chars()
                .skip(e.column().saturating_sub(1))
                .filter(|c| *c >= ' ')
                .collect()
        })
        .unwrap_or_default();
    format!("syntax error at line {line} near: {rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        let master = Master::new(
            Default::default(),
            "127.0.0.1:5050".parse().expect("addr"),
            "sim".into(),
            Instant::now(),
            crate::master::wall_clock(),
        );
        Shared {
            master: Arc::new(Mutex::new(master)),
        }
    }

    async fn post_json(shared: &Shared, accept: Option<&str>, body: &str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(a).expect("header"));
        }
        scheduler(
            State(shared.clone()),
            Method::POST,
            headers,
            Bytes::from(body.to_string()),
        )
        .await
    }

    /// `Master::Http::scheduler` (src/master/http.cpp): an UNKNOWN call
    /// goes through the framework lookup and stream checks before the
    /// dispatch answers 501; RECONCILE_OPERATIONS negotiates `Accept`.
    #[tokio::test]
    async fn unknown_call_is_checked_before_501_and_accept_is_negotiated() {
        let shared = shared();
        let r = post_json(
            &shared,
            None,
            r#"{"type":"UNKNOWN","framework_id":{"value":"nope"}}"#,
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = post_json(
            &shared,
            Some("text/plain"),
            r#"{"type":"RECONCILE_OPERATIONS","framework_id":{"value":"x"},"reconcile_operations":{}}"#,
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
        // Other calls ignore `Accept`.
        let r = post_json(
            &shared,
            Some("text/plain"),
            r#"{"type":"REVIVE","framework_id":{"value":"x"}}"#,
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    async fn post_protobuf(shared: &Shared, body: Vec<u8>) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        scheduler(
            State(shared.clone()),
            Method::POST,
            headers,
            Bytes::from(body),
        )
        .await
    }

    async fn body_text(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    /// Calls lacking a proto2 `required` field, with the paths
    /// `FindInitializationErrors` prints for them.
    const MISSING_REQUIRED: &[(&str, &str)] = &[
        // Depth 1: a required field of a message set directly on the call.
        (
            r#"{"type":"KILL","framework_id":{"value":"f"},"kill":{}}"#,
            "kill.task_id",
        ),
        (
            r#"{"type":"REVIVE","framework_id":{}}"#,
            "framework_id.value",
        ),
        // Depth 2.
        (
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}"#,
            "subscribe.framework_info.user",
        ),
        (
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{}}}"#,
            "subscribe.framework_info.user, subscribe.framework_info.name",
        ),
        // Inside repeated fields, at any depth.
        (
            r#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o1"},{}]}}"#,
            "decline.offer_ids[1].value",
        ),
        (
            r#"{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o1"}],
               "operations":[{"type":"LAUNCH","launch":{"task_infos":[{"task_id":{"value":"t"},
               "agent_id":{"value":"a"},"resources":[{"type":"SCALAR","scalar":{"value":1}}]}]}}]}}"#,
            "accept.operations[0].launch.task_infos[0].name, \
             accept.operations[0].launch.task_infos[0].resources[0].name",
        ),
    ];

    /// `Master::Http::scheduler` (src/master/http.cpp): stout's JSON parse
    /// ends with `Missing required fields: ` + `InitializationErrorString()`
    /// (3rdparty/stout/include/stout/protobuf.hpp), before any validation.
    #[tokio::test]
    async fn json_calls_missing_required_fields_are_refused_with_their_paths() {
        let shared = shared();
        for (body, paths) in MISSING_REQUIRED {
            let r = post_json(&shared, None, body).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(
                body_text(r).await,
                format!(
                    "Failed to convert JSON into Call protobuf: Missing required fields: {paths}"
                ),
                "{body}"
            );
        }
    }

    /// `v1Call.ParseFromString` fails on an uninitialized message.
    #[tokio::test]
    async fn protobuf_calls_missing_required_fields_fail_to_parse() {
        let shared = shared();
        for (json, _) in MISSING_REQUIRED {
            let r = post_protobuf(&shared, required::protobuf_call_from_json(json)).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{json}");
            assert_eq!(
                body_text(r).await,
                "Failed to parse body into Call protobuf",
                "{json}"
            );
        }
    }

    /// The same calls, complete, get past parsing (to the framework check).
    #[tokio::test]
    async fn complete_calls_get_past_parsing() {
        let shared = shared();
        let kill =
            r#"{"type":"KILL","framework_id":{"value":"f"},"kill":{"task_id":{"value":"t"}}}"#;
        for r in [
            post_json(&shared, None, kill).await,
            post_protobuf(&shared, required::protobuf_call_from_json(kill)).await,
        ] {
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            let text = body_text(r).await;
            assert!(
                !text.contains("parse") && !text.contains("Missing"),
                "{text}"
            );
        }
        let subscribe =
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#;
        let r = post_protobuf(&shared, required::protobuf_call_from_json(subscribe)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = post_json(&shared, None, subscribe).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn uuid_validation_matches_stout() {
        assert!(valid_uuid(uuid::Uuid::new_v4().as_bytes()).is_ok());
        assert!(valid_uuid(b"short").is_err());
        assert!(valid_uuid(&[0u8; 16]).is_err());
    }

    #[test]
    fn subscribe_id_mismatch_is_a_validation_error() {
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            framework_id: Some(hydrogen_mesos::v1::FrameworkId { value: "a".into() }),
            subscribe: Some(call::Subscribe::default()),
            ..Default::default()
        };
        assert_eq!(
            validate_call(&call),
            Err("'framework_id' differs from 'subscribe.framework_info.id'".into())
        );
        let kill = Call {
            r#type: Some(call::Type::Kill as i32),
            ..Default::default()
        };
        assert_eq!(
            validate_call(&kill),
            Err("Expecting 'framework_id' to be present".into())
        );
    }

    #[test]
    fn json_syntax_errors_are_worded_as_picojson_words_them() {
        let parse = |body: &[u8]| {
            let e = serde_json::from_slice::<serde_json::Value>(body).expect_err("invalid JSON");
            picojson_error(body, &e)
        };
        // The text the real master answered in tests/integration/real_mesos_sim_differential.rs.
        assert_eq!(
            parse(b"\x01garbage"),
            "syntax error at line 1 near: garbage"
        );
        // The rest of the line from the offending character (the `o`:
        // picojson, like serde, reads `n` as the start of `null`).
        assert_eq!(
            parse(b"{\n\"type\": nope}"),
            "syntax error at line 2 near: ope}"
        );
    }
}
