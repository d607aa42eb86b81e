//! `POST /api/v1`: the subset of the master's v1 operator API the
//! simulator serves (`include/mesos/v1/master/master.proto`, our subset in
//! `proto/mesos/v1/master/`). `GET_FRAMEWORKS`, the call Hydrogen makes at
//! start-up to find a framework of its own that the store forgot, in JSON
//! or protobuf, answered in JSON unless only protobuf is accepted, as the
//! real master negotiates; `DRAIN_AGENT` and `REACTIVATE_AGENT` (see
//! `drain.rs`),
//! `RESERVE_RESOURCES` and `UNRESERVE_RESOURCES` (see `reservations.rs`,
//! `202 Accepted`) and the
//! maintenance calls (see `maintenance.rs`): `UPDATE_MAINTENANCE_SCHEDULE`,
//! `START_MAINTENANCE` and `STOP_MAINTENANCE` answered `200 OK` with no
//! body, `GET_MAINTENANCE_SCHEDULE` and `GET_MAINTENANCE_STATUS` with their
//! response. Other calls answer 501 so a client cannot mistake them for
//! served ones.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;

use super::http::Shared;
use super::master::{Framework, Master};
use super::reservations::ReservationRefused;
use hydrogen_mesos::encoding::{JSON, PROTOBUF, from_json, to_json_value};
use hydrogen_mesos::v1::master::{Call, call, response};
use hydrogen_mesos::v1::{self, master};

/// Mesos `TimeInfo` of a wall-clock time in seconds.
fn time_info(seconds: f64) -> v1::TimeInfo {
    v1::TimeInfo {
        nanoseconds: (seconds * 1e9) as i64,
    }
}

/// One `Response.GetFrameworks.Framework`. As the real master: the
/// re-registration time starts equal to the registration time, and only a
/// removed framework has an unregistration time (a disconnected one has
/// none). Allocated and offered resources are left out.
fn framework(f: &Framework, active: bool, removed: bool) -> response::get_frameworks::Framework {
    let mut info = f.info.clone();
    // The master always reports the id it assigned.
    info.id = Some(v1::FrameworkId {
        value: f.id.clone(),
    });
    response::get_frameworks::Framework {
        framework_info: info,
        active,
        connected: f.connected(),
        recovered: false,
        registered_time: Some(time_info(f.registered_time)),
        reregistered_time: Some(time_info(f.reregistered_time.unwrap_or(f.registered_time))),
        unregistered_time: f.unregistered_time.filter(|_| removed).map(time_info),
        allocated_resources: Vec::new(),
        offered_resources: Vec::new(),
    }
}

/// The `Response` of a `GET_FRAMEWORKS` call.
pub fn get_frameworks(m: &Master) -> master::Response {
    let mut frameworks: Vec<&Framework> = m.frameworks.values().collect();
    frameworks.sort_by(|a, b| a.id.cmp(&b.id));
    master::Response {
        r#type: Some(response::Type::GetFrameworks as i32),
        get_frameworks: Some(response::GetFrameworks {
            frameworks: frameworks
                .into_iter()
                .map(|f| framework(f, f.connected(), false))
                .collect(),
            completed_frameworks: m
                .completed_frameworks
                .iter()
                .map(|f| framework(f, false, true))
                .collect(),
        }),
        ..Default::default()
    }
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

fn header_value(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// A `Response` in protobuf when only that is accepted, else in JSON
/// (adjusted by `fix`).
fn respond(
    answer: &master::Response,
    protobuf_only: bool,
    fix: impl FnOnce(&mut serde_json::Value),
) -> Response {
    if protobuf_only {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROTOBUF)],
            answer.encode_to_vec(),
        )
            .into_response();
    }
    let mut json = to_json_value(answer).unwrap_or_default();
    fix(&mut json);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, JSON)],
        json.to_string(),
    )
        .into_response()
}

/// `200 OK` with no body, or 400 with the master's reason.
fn done(outcome: Result<(), String>) -> Response {
    match outcome {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => text(StatusCode::BAD_REQUEST, e),
    }
}

/// The master's 400 for a call without the message its type names.
fn absent(field: &str) -> Response {
    text(
        StatusCode::BAD_REQUEST,
        format!("Failed to validate master::Call: Expecting '{field}' to be present"),
    )
}

/// `202 Accepted` with no body, as the master answers an operation it
/// applied, or its refusal.
fn reserved(outcome: Result<(), ReservationRefused>) -> Response {
    match outcome {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(ReservationRefused::BadRequest(e)) => text(StatusCode::BAD_REQUEST, e),
        Err(ReservationRefused::Conflict(e)) => text(StatusCode::CONFLICT, e),
        Err(ReservationRefused::NotModelled(e)) => text(StatusCode::NOT_IMPLEMENTED, e),
    }
}

pub async fn operator(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = header_value(&headers, header::CONTENT_TYPE);
    let parsed = if content_type.starts_with(JSON) {
        from_json::<Call>(&body).map_err(|e| format!("Failed to parse body into Call: {e}"))
    } else if content_type.starts_with(PROTOBUF) {
        Call::decode(body.as_ref()).map_err(|e| format!("Failed to parse body into Call: {e}"))
    } else {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of {JSON} or {PROTOBUF}, not {content_type:?}"),
        );
    };
    let call = match parsed {
        Ok(c) => c,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    // JSON is preferred when both are accepted (or Accept is absent).
    let accept = header_value(&headers, header::ACCEPT);
    let protobuf_only =
        accept.contains(PROTOBUF) && !accept.contains(JSON) && !accept.contains("*/*");
    match call.r#type.map(call::Type::try_from) {
        Some(Ok(call::Type::GetFrameworks)) => {
            let answer = get_frameworks(&shared.lock());
            respond(&answer, protobuf_only, |json| {
                // The real master writes both lists even when empty
                // (`jsonifyGetFrameworks`); the generic writer leaves empty
                // repeated fields out.
                for list in ["frameworks", "completed_frameworks"] {
                    if json["get_frameworks"].get(list).is_none() {
                        json["get_frameworks"][list] = serde_json::Value::Array(Vec::new());
                    }
                }
            })
        }
        Some(Ok(call::Type::GetMaintenanceSchedule)) => {
            let answer = master::Response {
                r#type: Some(response::Type::GetMaintenanceSchedule as i32),
                get_maintenance_schedule: Some(response::GetMaintenanceSchedule {
                    schedule: shared.lock().maintenance.schedule.clone(),
                }),
                ..Default::default()
            };
            respond(&answer, protobuf_only, |_| {})
        }
        Some(Ok(call::Type::GetMaintenanceStatus)) => {
            let answer = master::Response {
                r#type: Some(response::Type::GetMaintenanceStatus as i32),
                get_maintenance_status: Some(response::GetMaintenanceStatus {
                    status: shared.lock().maintenance_status(),
                }),
                ..Default::default()
            };
            respond(&answer, protobuf_only, |_| {})
        }
        Some(Ok(call::Type::UpdateMaintenanceSchedule)) => {
            let Some(update) = call.update_maintenance_schedule else {
                return absent("update_maintenance_schedule");
            };
            done(shared.lock().update_maintenance_schedule(update.schedule))
        }
        Some(Ok(call::Type::StartMaintenance)) => {
            let Some(start) = call.start_maintenance else {
                return absent("start_maintenance");
            };
            done(shared.lock().start_maintenance(&start.machines))
        }
        Some(Ok(call::Type::StopMaintenance)) => {
            let Some(stop) = call.stop_maintenance else {
                return absent("stop_maintenance");
            };
            done(shared.lock().stop_maintenance(&stop.machines))
        }
        Some(Ok(call::Type::DrainAgent)) => {
            let Some(drain) = call.drain_agent else {
                return absent("drain_agent");
            };
            match shared.lock().drain_agent(
                std::time::Instant::now(),
                &drain.agent_id.value,
                drain.mark_gone.unwrap_or(false),
            ) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(e) => text(StatusCode::BAD_REQUEST, e),
            }
        }
        Some(Ok(call::Type::ReactivateAgent)) => {
            let Some(reactivate) = call.reactivate_agent else {
                return absent("reactivate_agent");
            };
            done(
                shared
                    .lock()
                    .reactivate_agent(std::time::Instant::now(), &reactivate.agent_id.value),
            )
        }
        Some(Ok(call::Type::ReserveResources)) => {
            let Some(reserve) = call.reserve_resources else {
                return absent("reserve_resources");
            };
            reserved(shared.lock().reserve_resources(
                std::time::Instant::now(),
                &reserve.agent_id.value,
                &reserve.source,
                &reserve.resources,
            ))
        }
        Some(Ok(call::Type::UnreserveResources)) => {
            let Some(unreserve) = call.unreserve_resources else {
                return absent("unreserve_resources");
            };
            reserved(shared.lock().unreserve_resources(
                std::time::Instant::now(),
                &unreserve.agent_id.value,
                &unreserve.resources,
            ))
        }
        None | Some(Ok(call::Type::Unknown)) => absent("type"),
        Some(Ok(other)) => text(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "the simulator does not serve the operator call {}",
                other.as_str_name()
            ),
        ),
        Some(Err(_)) => text(
            StatusCode::NOT_IMPLEMENTED,
            "the simulator does not serve this operator call",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::http::HeaderValue;
    use serde_json::{Value, json};

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

    async fn call(content_type: &'static str, body: &str) -> (StatusCode, String) {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let response = operator(State(shared()), headers, Bytes::from(body.to_string())).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn a_protobuf_call_gets_a_protobuf_answer_when_only_that_is_accepted() {
        let call = Call {
            r#type: Some(call::Type::GetFrameworks as i32),
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        headers.insert(header::ACCEPT, HeaderValue::from_static(PROTOBUF));
        let response = operator(State(shared()), headers, Bytes::from(call.encode_to_vec())).await;
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let answer = master::Response::decode(bytes.as_ref()).expect("a protobuf Response");
        assert_eq!(answer.r#type(), response::Type::GetFrameworks);
        assert!(
            answer
                .get_frameworks
                .is_some_and(|g| g.frameworks.is_empty())
        );
    }

    #[tokio::test]
    async fn get_frameworks_answers_the_real_shape_and_other_calls_are_refused() {
        let (status, body) = call("application/json", r#"{"type":"GET_FRAMEWORKS"}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(answer["type"], "GET_FRAMEWORKS");
        assert_eq!(answer["get_frameworks"]["frameworks"], json!([]));
        assert_eq!(answer["get_frameworks"]["completed_frameworks"], json!([]));

        let (status, body) = call("application/json", r#"{"type":"GET_TASKS"}"#).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{body}");
        assert!(body.contains("GET_TASKS"), "{body}");
        let (status, body) = call("application/json", "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("'type'"), "{body}");
        let (status, _) = call("application/json", "{").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = call("text/plain", "").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    }
}
