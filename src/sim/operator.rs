//! `POST /api/v1`: the subset of the master's v1 operator API the
//! simulator serves (`include/mesos/v1/master/master.proto`). Only
//! `GET_FRAMEWORKS`, in JSON, the call Hydrogen makes at start-up to find
//! a framework of its own that the store forgot. Other calls answer 501
//! so a client cannot mistake them for served ones.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::http::Shared;
use super::master::{Framework, Master};
use crate::mesos::encoding::to_json_value;

/// Mesos `TimeInfo` of a wall-clock time in seconds.
fn time_info(seconds: f64) -> Value {
    json!({"nanoseconds": (seconds * 1e9) as i64})
}

/// One `Response.GetFrameworks.Framework`. As the real master: the
/// re-registration time starts equal to the registration time, and only a
/// removed framework has an unregistration time (a disconnected one has
/// none). Allocated and offered resources are left out.
fn framework_json(f: &Framework, active: bool, removed: bool) -> Value {
    let mut info = to_json_value(&f.info).unwrap_or(Value::Null);
    // The master always reports the id it assigned.
    info["id"] = json!({"value": f.id});
    let mut v = json!({
        "framework_info": info,
        "active": active,
        "connected": f.connected(),
        "recovered": false,
        "registered_time": time_info(f.registered_time),
    });
    v["reregistered_time"] = time_info(f.reregistered_time.unwrap_or(f.registered_time));
    if removed && let Some(t) = f.unregistered_time {
        v["unregistered_time"] = time_info(t);
    }
    v
}

/// The `Response` of a `GET_FRAMEWORKS` call, as the real master's JSON.
pub fn get_frameworks(m: &Master) -> Value {
    let mut frameworks: Vec<&Framework> = m.frameworks.values().collect();
    frameworks.sort_by(|a, b| a.id.cmp(&b.id));
    let frameworks: Vec<Value> = frameworks
        .into_iter()
        .map(|f| framework_json(f, f.connected(), false))
        .collect();
    let completed: Vec<Value> = m
        .completed_frameworks
        .iter()
        .map(|f| framework_json(f, false, true))
        .collect();
    json!({
        "type": "GET_FRAMEWORKS",
        "get_frameworks": {
            "frameworks": frameworks,
            "completed_frameworks": completed,
        }
    })
}

pub async fn operator(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the simulator's operator API takes application/json calls only",
        )
            .into_response();
    }
    let call: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body into JSON: {e}"),
            )
                .into_response();
        }
    };
    match call.get("type").and_then(Value::as_str) {
        Some("GET_FRAMEWORKS") => {
            let answer = get_frameworks(&shared.lock());
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                answer.to_string(),
            )
                .into_response()
        }
        Some(other) => (
            StatusCode::NOT_IMPLEMENTED,
            format!("the simulator does not serve the operator call {other}"),
        )
            .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            "Failed to validate master::Call: Expecting 'type' to be present",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::http::HeaderValue;

    use super::*;

    fn shared() -> Shared {
        let master = Master::new(
            Default::default(),
            "127.0.0.1:5050".parse().expect("addr"),
            "sim".into(),
            Instant::now(),
        );
        Shared {
            master: Arc::new(Mutex::new(master)),
        }
    }

    async fn call(content_type: &'static str, body: &str) -> (StatusCode, String) {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let response = operator(State(shared()), headers, body.to_string()).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
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
        let (status, body) = call("application/x-protobuf", "").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    }
}
