//! Serving both faces on one listener: the gRPC services (AppService, the
//! standard health service, server reflection) are routes of the same axum
//! router as the REST API, and `axum::serve` speaks HTTP/1.1 and HTTP/2
//! (prior knowledge, as gRPC clients use) on one port.
//!
//! Layers, outermost first: access log + metrics (every request), bearer
//! auth (every request but health), then per face: REST routes get the body
//! limit and the request timeout (not the SSE watch, which is long-lived);
//! gRPC gets its own message-size limit and per-call timeout inside
//! `grpc.rs`, because tower-http's timeout and limit layers would break
//! gRPC's framing and streams.
//!
//! Connections are accepted by `conn.rs`, which caps their number and
//! closes slow (header timeout) and idle ones.
//!
//! Shutdown: when the token is cancelled the health service turns
//! NOT_SERVING, watches end, the listener stops accepting, and in-flight
//! requests finish before [`serve`] returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::response::Response;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tower::ServiceExt;

use crate::store::Store;

use super::auth::{self, ApiToken};
use super::conn::{self, ConnLimits};
use super::grpc::GrpcService;
use super::proto::app_service_server::AppServiceServer;
use super::rest::{self, Shared};
use super::service::ApiService;

/// Default address of the API: the original Hydrogen's port, on loopback
/// only, so a first run is not open to the network (`--listen
/// 0.0.0.0:8080` serves others).
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
/// Default body limit of REST requests and gRPC messages: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default timeout of one (non-streaming) request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the API is served.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The address to listen on (used by the caller to bind; reported in
    /// logs). Default [`DEFAULT_LISTEN`], `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// When set, every request but health needs `Authorization: Bearer
    /// <token>`. Never logged (its `Debug` is redacted).
    pub api_token: Option<ApiToken>,
    /// Largest REST body / gRPC message accepted, in bytes.
    pub body_limit: usize,
    /// Longest a non-streaming request may take.
    pub request_timeout: Duration,
    /// This instance's id, compared with the lease holder by `/readyz`.
    pub instance_id: String,
    /// Why this instance refuses to lead; `/readyz` answers 503 with it.
    pub refusal: crate::ha::Refusal,
    /// Header and idle timeouts, connection cap.
    pub limits: ConnLimits,
    /// The election loop's lease while this instance leads (`None`: this
    /// process runs no elections, and `/readyz` trusts the store alone).
    pub leadership: Option<tokio::sync::watch::Receiver<Option<crate::store::LeaderInfo>>>,
    /// The Mesos masters, as configured (shown by `/v1/api/cluster`).
    pub masters: Vec<String>,
    /// The framework's roles; apps must use one (empty: not checked).
    pub roles: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            api_token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            instance_id: "hydrogen".into(),
            refusal: crate::ha::Refusal::default(),
            limits: ConnLimits::default(),
            leadership: None,
            masters: Vec::new(),
            roles: Vec::new(),
        }
    }
}

impl ApiConfig {
    /// Binds [`ApiConfig::listen`], for callers of [`serve`].
    pub async fn bind(&self) -> std::io::Result<TcpListener> {
        TcpListener::bind(self.listen).await
    }
}

/// Why the API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting or serving connections failed.
    #[error("api server i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The embedded descriptor set could not be loaded for reflection.
    #[error("grpc reflection: {0}")]
    Reflection(String),
}

/// Serves the API on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish and returns.
pub async fn serve<S: Store>(
    store: Arc<S>,
    config: ApiConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (app, health) = build(store, &config, shutdown.clone()).await?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, auth = config.api_token.is_some(), "api serving grpc and rest");
    tokio::spawn(histogram_upkeep(shutdown.clone()));
    let flip_health = async move {
        health
            .set_not_serving::<AppServiceServer<GrpcService<S>>>()
            .await;
    };
    conn::serve(listener, app, config.limits, shutdown, flip_health).await;
    tracing::info!(address = %local, "api stopped");
    Ok(())
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// Folds histogram samples into buckets on a timer: the exporter keeps
/// every raw sample until then, so with nobody scraping `/metrics` a busy
/// instance's memory would grow with its request count.
async fn histogram_upkeep(shutdown: CancellationToken) {
    let Some(handle) = rest::prometheus() else {
        return;
    };
    let mut tick = tokio::time::interval(UPKEEP_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            () = shutdown.cancelled() => return,
        }
    }
}

/// The whole router (both faces, all layers), for callers that serve it
/// themselves. The returned reporter flips the gRPC health status.
pub async fn build<S: Store>(
    store: Arc<S>,
    config: &ApiConfig,
    shutdown: CancellationToken,
) -> Result<(axum::Router, tonic_health::server::HealthReporter), ServeError> {
    // Install the recorder before the first request records anything.
    let _ = rest::prometheus();
    let mut core = ApiService::new(store, config.instance_id.clone());
    if let Some(leadership) = &config.leadership {
        core = core.with_leadership(leadership.clone());
    }
    core = core
        .with_refusal(config.refusal.clone())
        .with_roles(config.roles.clone());
    let shared = Arc::new(Shared {
        core: core.clone(),
        body_limit: config.body_limit,
        shutdown: shutdown.clone(),
        masters: config.masters.clone(),
    });
    let body_limit = config.body_limit;
    let mut router: axum::Router = rest::router::<S>(config.request_timeout)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| rest::reject_declared_oversize(body_limit, req, next),
        ))
        .with_state(shared);

    let grpc =
        GrpcService::new(core, config.request_timeout, shutdown).into_server(config.body_limit);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<AppServiceServer<GrpcService<S>>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(super::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(super::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    router = add_grpc(router, grpc);
    router = add_grpc(router, health_service);
    router = add_grpc(router, reflection_v1);
    router = add_grpc(router, reflection_v1alpha);

    // The web console: static assets, no data (see `console.rs`).
    router = router.merge(super::console::router());

    let router = router
        .fallback(rest::not_found)
        .layer(axum::middleware::from_fn_with_state(
            config.api_token.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn(access_log));
    Ok((router, health))
}

/// Routes `/<service>/*` to a tonic service, as `tonic::service::Routes`
/// does (whose own router has a fallback and so cannot be merged).
fn add_grpc<T>(router: axum::Router, svc: T) -> axum::Router
where
    T: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    T::Future: Send + 'static,
{
    router.route_service(
        &format!("/{}/{{*rest}}", T::NAME),
        svc.map_request(|req: Request| req.map(tonic::body::Body::new)),
    )
}

/// gRPC methods served here, as request paths (`/package.Service/Method`):
/// ours from the embedded descriptor set, plus health and reflection.
fn grpc_methods() -> &'static std::collections::HashSet<String> {
    static METHODS: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    METHODS.get_or_init(|| {
        let mut methods: std::collections::HashSet<String> = [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        // The set is compiled in: it decodes, or the build is broken (and
        // then unknown methods are merely labelled `other`).
        if let Ok(pool) = prost_reflect::DescriptorPool::decode(super::FILE_DESCRIPTOR_SET) {
            for service in pool.services() {
                for method in service.methods() {
                    methods.insert(format!("/{}/{}", service.full_name(), method.name()));
                }
            }
        }
        methods
    })
}

/// A bounded metric label for a request: a known REST route or gRPC
/// method as it is, anything else `other`; a request refused for want of
/// a token is `unauthenticated` whatever its path. Clients must not grow
/// the label set (4,000 random paths once made 5.7 MB of `/metrics`).
fn route_label(path: &str, status: u16) -> &str {
    if status == 401 {
        "unauthenticated"
    } else if rest::is_rest_path(path) || grpc_methods().contains(path) {
        path
    } else {
        "other"
    }
}

/// A bounded metric label for an HTTP method: extension methods are `other`.
fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Access log and request metrics. Logs method, path, status (and the gRPC
/// status when the answer carries one in its headers) and latency; never
/// headers or bodies, so the API token cannot leak into logs.
async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let grpc_status = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let elapsed = start.elapsed();
    tracing::info!(
        target: "hydrogen::api::access",
        %method,
        path,
        status,
        grpc_status = grpc_status.as_deref().unwrap_or(""),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    let labels = [
        ("method", method_label(&method).to_owned()),
        ("route", route_label(&path, status).to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("hydrogen_api_requests_total", &labels).increment(1);
    metrics::histogram!("hydrogen_api_request_duration_seconds", &labels)
        .record(elapsed.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_known_routes_or_a_shared_one() {
        assert_eq!(route_label("/v1/api/app", 200), "/v1/api/app");
        assert_eq!(
            route_label("/hydrogen.v1.AppService/Deploy", 200),
            "/hydrogen.v1.AppService/Deploy"
        );
        assert_eq!(
            route_label("/grpc.health.v1.Health/Check", 200),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(route_label("/hydrogen.v1.AppService/Nope", 200), "other");
        assert_eq!(route_label("/grpc.health.v1.Health/x7", 200), "other");
        assert_eq!(route_label("/random/1234", 404), "other");
        assert_eq!(route_label("/v1/api/app", 401), "unauthenticated");
        assert_eq!(route_label("/random/1234", 401), "unauthenticated");
    }

    #[test]
    fn every_app_service_method_is_a_known_route() {
        for m in ["Deploy", "Update", "Kill", "State", "ListAll", "WatchTasks"] {
            let path = format!("/hydrogen.v1.AppService/{m}");
            assert!(grpc_methods().contains(&path), "{path}");
        }
    }

    #[test]
    fn extension_methods_share_one_label() {
        assert_eq!(method_label(&http::Method::GET), "GET");
        let odd = http::Method::from_bytes(b"FROBNICATE").expect("a token");
        assert_eq!(method_label(&odd), "other");
    }
}
