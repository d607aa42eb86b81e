//! Optional bearer-token authentication for both faces.
//!
//! When a token is configured (`--api-token` / `HYDROGEN_API_TOKEN`), every
//! request but the health endpoints (`/healthz`, `/readyz` and the standard
//! gRPC health service, which probes must reach without secrets) and the web
//! console's static assets (which hold no data) needs
//! `authorization: Bearer <token>`. The comparison is constant-time in the
//! token's content (`subtle`), so response timing does not reveal how much of
//! a guess was right. The token is never logged: it lives only in
//! [`ApiToken`], whose `Debug` is redacted, and the access log records neither
//! headers nor bodies. A gRPC caller gets a gRPC UNAUTHENTICATED status, an
//! HTTP caller a 401 JSON error.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// A configured API token. `Debug` prints `ApiToken(<redacted>)`.
#[derive(Clone)]
pub struct ApiToken(Arc<str>);

impl ApiToken {
    /// Wraps a token.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(token.into())
    }

    /// Whether `presented` is this token (constant time in the content).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// Paths served without a token: liveness and readiness probes, and the
/// web console's static assets (they hold no data; the page asks for the
/// token and sends it with every data request).
pub fn is_public(path: &str) -> bool {
    path == "/healthz"
        || path == "/readyz"
        || path.starts_with("/grpc.health.v1.Health/")
        || super::console::is_console_path(path)
}

/// Whether a request speaks gRPC (its errors must be gRPC statuses).
pub fn is_grpc(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// The bearer token of a request, if it carries one.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Middleware: refuses requests without the configured token.
pub async fn require_token(
    State(token): State<Option<ApiToken>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(req).await;
    };
    if is_public(req.uri().path()) || bearer(&req).is_some_and(|t| token.matches(t)) {
        return next.run(req).await;
    }
    if is_grpc(&req) {
        return ApiError::Unauthenticated
            .to_status()
            .into_http::<axum::body::Body>();
    }
    ApiError::Unauthenticated.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_token_compares_whole_tokens_and_redacts() {
        let t = ApiToken::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret!"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "ApiToken(<redacted>)");
    }
}
