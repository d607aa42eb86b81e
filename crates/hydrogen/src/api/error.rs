//! One error type for both faces of the API, and its mapping to HTTP statuses,
//! gRPC codes and the JSON error body.
//!
//! Handlers never choose a status themselves: they return [`ApiError`], and
//! [`ApiError::code`] decides, so REST and gRPC cannot drift apart. The JSON
//! body keeps the original Hydrogen's top-level `message` (old scripts read
//! it) and adds `code` (stable, snake_case) and `field` (the JSON path of the
//! offending field, when there is one), plus `errors` listing every broken
//! rule of an invalid app.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic_types::{ErrorDetails, StatusExt};

use crate::spec::{SpecError, ValidationError};
use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The app (or list of apps) in the request breaks the spec's rules.
    #[error("{0}")]
    Spec(#[from] SpecError),
    /// Some other request input is wrong (a missing `name`, a bad revision).
    #[error("{}", field_message(field.as_deref(), message))]
    BadRequest {
        /// The offending field or parameter, if one.
        field: Option<String>,
        /// The rule broken; reads after the field.
        message: String,
    },
    /// The store refused or failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The body is larger than the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The route exists, but not for this method.
    #[error("method {method} is not allowed here")]
    MethodNotAllowed {
        /// The method used.
        method: String,
    },
    /// No such route.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The bearer token is missing or wrong (never says which, nor echoes it).
    #[error("a valid bearer token is required (authorization: Bearer <token>)")]
    Unauthenticated,
    /// The request took longer than the configured timeout.
    #[error(
        "request timed out after {0:?}; a write may still complete (a deploy writes all its \
         apps or none): read the result back before retrying, or retry (the same write is idempotent)"
    )]
    Timeout(Duration),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

fn field_message(field: Option<&str>, message: &str) -> String {
    match field {
        Some(f) => format!("{f} {message}"),
        None => message.to_owned(),
    }
}

/// The error classes, each with one HTTP status and one gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400 / INVALID_ARGUMENT.
    InvalidArgument,
    /// 401 / UNAUTHENTICATED.
    Unauthenticated,
    /// 404 / NOT_FOUND.
    NotFound,
    /// 405 / UNIMPLEMENTED.
    MethodNotAllowed,
    /// 409 / ALREADY_EXISTS.
    AlreadyExists,
    /// 409 / FAILED_PRECONDITION.
    FailedPrecondition,
    /// 410 / OUT_OF_RANGE: the event log no longer holds the revision.
    OutOfRange,
    /// 413 / RESOURCE_EXHAUSTED.
    PayloadTooLarge,
    /// 500 / INTERNAL.
    Internal,
    /// 503 / UNAVAILABLE.
    Unavailable,
    /// 504 / DEADLINE_EXCEEDED.
    DeadlineExceeded,
}

impl ErrorCode {
    /// The HTTP status of this class.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::AlreadyExists | ErrorCode::FailedPrecondition => StatusCode::CONFLICT,
            ErrorCode::OutOfRange => StatusCode::GONE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The gRPC code of this class.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
            ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::MethodNotAllowed => tonic::Code::Unimplemented,
            ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
            ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorCode::OutOfRange => tonic::Code::OutOfRange,
            ErrorCode::PayloadTooLarge => tonic::Code::ResourceExhausted,
            ErrorCode::Internal => tonic::Code::Internal,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
        }
    }
}

/// The JSON error body of the REST face.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for humans (the original Hydrogen's key).
    pub message: String,
    /// The error class, e.g. `invalid_argument`, `not_found`.
    pub code: String,
    /// JSON path of the offending field (`resources.cpu`, `[1].name`), or
    /// null.
    pub field: Option<String>,
    /// Every broken rule of an invalid app (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One broken rule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field.
    pub field: String,
    /// The rule broken.
    pub message: String,
}

impl ApiError {
    /// The error class.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Spec(_) | ApiError::BadRequest { .. } => ErrorCode::InvalidArgument,
            ApiError::Store(e) => match e {
                StoreError::AppNotFound(_) => ErrorCode::NotFound,
                StoreError::AppConflict { .. } => ErrorCode::AlreadyExists,
                StoreError::VersionMismatch { .. } | StoreError::AppKilling(_) => {
                    ErrorCode::FailedPrecondition
                }
                StoreError::Compacted { .. } => ErrorCode::OutOfRange,
                // The API writes unfenced; a fencing refusal here would be a
                // transient leadership change in a backend: retry.
                StoreError::Unavailable(_) | StoreError::Fenced { .. } => ErrorCode::Unavailable,
                StoreError::Corrupt(_) => ErrorCode::Internal,
            },
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::RouteNotFound(_) => ErrorCode::NotFound,
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::Timeout(_) => ErrorCode::DeadlineExceeded,
            ApiError::ShuttingDown => ErrorCode::Unavailable,
        }
    }

    /// The offending field's path, when there is one.
    pub fn field(&self) -> Option<String> {
        match self {
            ApiError::Spec(e) => e.field(),
            ApiError::BadRequest { field, .. } => field.clone(),
            _ => None,
        }
    }

    /// Every broken rule, with paths prefixed by the app's index when the
    /// request held several apps.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let ApiError::Spec(SpecError::Invalid { index, errors }) = self else {
            return Vec::new();
        };
        errors
            .iter()
            .map(|ValidationError { field, message }| FieldError {
                field: match (index, field.is_empty()) {
                    (Some(i), true) => format!("[{i}]"),
                    (Some(i), false) => format!("[{i}].{field}"),
                    (None, _) => field.clone(),
                },
                message: message.clone(),
            })
            .collect()
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.to_string(),
            code: serde_json::to_value(self.code())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            field: self.field(),
            errors: self.field_errors(),
        }
    }

    /// The gRPC status of this error; invalid input carries a
    /// `google.rpc.BadRequest` detail listing every broken rule.
    pub fn to_status(&self) -> tonic::Status {
        let code = self.code().grpc_code();
        let message = self.to_string();
        let violations = self.field_errors();
        if violations.is_empty() {
            if let Some(field) = self.field() {
                return tonic::Status::with_error_details(
                    code,
                    message.clone(),
                    ErrorDetails::with_bad_request_violation(field, message),
                );
            }
            return tonic::Status::new(code, message);
        }
        let mut details = ErrorDetails::new();
        for v in violations {
            details.add_bad_request_violation(v.field, v.message);
        }
        tonic::Status::with_error_details(code, message, details)
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        e.to_status()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code().http_status();
        let mut response = (status, Json(self.body())).into_response();
        if matches!(self, ApiError::Unauthenticated) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.code() == ErrorCode::Unavailable {
            // Store failovers (a Redis primary replaced by Sentinel) and
            // leadership changes settle within seconds: say when to retry.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
