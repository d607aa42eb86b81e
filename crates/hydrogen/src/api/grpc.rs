//! The gRPC face: `hydrogen.v1.AppService` over the core in `service.rs`.
//!
//! Each method converts its request (`convert.rs`: proto → app JSON → spec's
//! reader and rules), calls the core under the request timeout, and converts
//! the answer back; errors go through [`ApiError::to_status`], the same
//! mapping the REST face uses for its statuses.
//!
//! State and ListAll answer with bytes encoded once per app and store
//! revision (see [`super::service`]), and WatchTasks with the watch hub's
//! messages, encoded once for every watcher (see [`super::watch`]):
//! [`AppServiceRoutes`] routes those three methods to [`EncodedCodec`]
//! handlers, so an unchanged answer is neither rebuilt nor re-encoded;
//! every other method goes to the generated server.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

use crate::store::{Store, StoreError, TaskRecord};

use super::codec::EncodedCodec;
use super::convert;
use super::error::ApiError;
use super::proto as pb;
use super::proto::app_service_server::AppServiceServer;
use super::service::{ApiService, AppView, Face, Framing, TaskKey};
use super::watch::{self, WatchFrom, WatchOptions};

/// One app's share of a ListAll answer (and of a page): concatenated, the
/// shares are one `ListAllResponse`.
fn list_share(tasks: &[Arc<TaskRecord>]) -> Bytes {
    let share = pb::ListAllResponse {
        tasks: tasks.iter().map(|t| convert::task_to_proto(t)).collect(),
        next_page_token: String::new(),
    };
    Bytes::from(share.encode_to_vec())
}

/// Tasks per ListAll page when the request gives a token but no size.
pub const DEFAULT_PAGE_SIZE: usize = 1_000;
/// The largest ListAll page: about 3 MB encoded, under the 4 MB that
/// gRPC clients receive by default.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// ListAll's page tokens: the last listed task's key, opaque to clients
/// (URL-safe base64 of its NUL-separated parts; app names and task ids
/// cannot hold a NUL).
mod page_token {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::{ApiError, TaskKey};

    pub fn encode(key: &TaskKey) -> String {
        let raw = format!("{}\0{}\0{}", key.app, key.instance, key.task_id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(token: &str) -> Result<Option<TaskKey>, ApiError> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || ApiError::BadRequest {
            field: Some("page_token".into()),
            message: "is not a token this server gave (pass the previous page's \
                      next_page_token unchanged, or none for the first page)"
                .into(),
        };
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
        let mut parts = raw.split('\0');
        let (Some(app), Some(instance), Some(task_id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        Ok(Some(TaskKey {
            app: app.to_owned(),
            instance: instance.parse().map_err(|_| invalid())?,
            task_id: task_id.to_owned(),
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_token_names_the_task_it_was_made_from() {
            let key = TaskKey {
                app: "web".into(),
                instance: 12,
                task_id: "web.12.abc".into(),
            };
            assert_eq!(decode(&encode(&key)).expect("valid"), Some(key));
            assert_eq!(decode("").expect("empty"), None);
        }

        #[test]
        fn a_token_we_did_not_make_names_the_field() {
            for bad in ["%%%", "bm90IGEgdG9rZW4", &URL_SAFE_NO_PAD.encode("a\0x\0b")] {
                let err = decode(bad).expect_err(bad);
                assert!(
                    matches!(&err, ApiError::BadRequest { field: Some(f), .. } if f == "page_token"),
                    "{bad}: {err:?}"
                );
            }
        }
    }
}

/// The tonic service; build a server with [`GrpcService::into_server`].
pub struct GrpcService<S> {
    core: ApiService<S>,
    timeout: Duration,
    shutdown: CancellationToken,
}

impl<S> Clone for GrpcService<S> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            timeout: self.timeout,
            shutdown: self.shutdown.clone(),
        }
    }
}

impl<S: Store> GrpcService<S> {
    /// A gRPC face over `core`; unary calls give up after `timeout`, watches
    /// end when `shutdown` is cancelled.
    pub fn new(core: ApiService<S>, timeout: Duration, shutdown: CancellationToken) -> Self {
        Self {
            core,
            timeout,
            shutdown,
        }
    }

    /// The tonic server wrapping this service, decoding messages up to
    /// `max_message` bytes.
    pub fn into_server(self, max_message: usize) -> AppServiceRoutes<S> {
        AppServiceRoutes {
            encoded: self.clone(),
            generated: AppServiceServer::new(self).max_decoding_message_size(max_message),
            max_message,
        }
    }

    /// State, encoded (once per app and store revision).
    /// A watch whose messages are the hub's shared encodings.
    async fn watch_encoded(
        &self,
        req: pb::WatchTasksRequest,
    ) -> Result<EncodedEventStream, Status> {
        let from = req.after_revision.map_or(WatchFrom::Head, WatchFrom::After);
        let options = WatchOptions {
            app: req.app.filter(|a| !a.is_empty()),
            statuses: req.include_status,
            cluster: req.include_cluster,
        };
        let stream = self
            .timed(watch::watch(
                std::sync::Arc::clone(self.core.store()),
                &self.core.watch_hub(),
                from,
                options,
                self.shutdown.clone(),
            ))
            .await?;
        let messages = stream.flat_map(|chunk| {
            let messages: Vec<Result<Bytes, Status>> = match chunk {
                Ok(items) => items.iter().map(|i| Ok(i.grpc().clone())).collect(),
                Err(e) => vec![Err(e.to_status())],
            };
            futures_util::stream::iter(messages)
        });
        Ok(Box::pin(messages))
    }

    async fn state_encoded(&self, name: &str) -> Result<Bytes, Status> {
        let entry = self.timed(self.core.app(name)).await?;
        entry
            .state_body(Face::Proto, |view| {
                Bytes::from(app_state(view).encode_to_vec())
            })
            .ok_or_else(|| ApiError::from(StoreError::AppNotFound(name.to_owned())).to_status())
    }

    /// ListAll, encoded (each app's share once per store revision).
    async fn list_all_encoded(&self) -> Result<Bytes, Status> {
        let views = self.timed(self.core.views()).await?;
        // Concatenated encodings of `repeated Task tasks = 1` are one
        // ListAllResponse.
        let framing = Framing {
            open: b"",
            separator: b"",
            close: b"",
        };
        Ok(views.list_body(Face::Proto, framing, list_share))
    }

    /// One page of ListAll, or every task when the request asks for no
    /// paging (see `ListAllRequest`).
    async fn list_all_answer(&self, request: pb::ListAllRequest) -> Result<Bytes, Status> {
        if request.page_size == 0 && request.page_token.is_empty() {
            return self.list_all_encoded().await;
        }
        let after = page_token::decode(&request.page_token).map_err(|e| e.to_status())?;
        let limit = match request.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        let views = self.timed(self.core.views()).await?;
        let (parts, more) = views.task_page(after.as_ref(), limit);
        let mut page = BytesMut::new();
        for part in &parts {
            page.extend_from_slice(&part.render(Face::Proto, &list_share));
        }
        // Concatenated encodings are one message: the tasks add up, the
        // token comes last.
        if let (true, Some(last)) = (more, parts.last().and_then(|p| p.tasks().last())) {
            let token = pb::ListAllResponse {
                tasks: Vec::new(),
                next_page_token: page_token::encode(&TaskKey::of(last)),
            };
            page.extend_from_slice(&token.encode_to_vec());
        }
        Ok(page.freeze())
    }

    async fn timed<T>(&self, fut: impl Future<Output = Result<T, ApiError>>) -> Result<T, Status> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result.map_err(Status::from),
            Err(_) => Err(ApiError::Timeout(self.timeout).to_status()),
        }
    }
}

/// The proto `AppState` of a core view (shared with tests through
/// [`super::rest`]'s JSON, which renders the same view).
pub fn app_state(view: &AppView) -> pb::AppState {
    pb::AppState {
        spec: Some(convert::app_to_proto(&view.record.spec)),
        version: view.record.version,
        goal: convert::goal_to_proto(view.record.goal) as i32,
        tasks: view
            .tasks
            .iter()
            .map(|t| convert::task_to_proto(t))
            .collect(),
        status: view.status.as_deref().map(convert::status_to_proto),
        state: view.summary_state().to_owned(),
        running: view.running(),
        created_ms: view.record.created_ms,
        updated_ms: view.record.updated_ms,
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::TaskEvent, Status>> + Send>>;

/// A watch as encoded `TaskEvent` messages, one per item.
type EncodedEventStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

#[tonic::async_trait]
impl<S: Store> pb::app_service_server::AppService for GrpcService<S> {
    async fn deploy(
        &self,
        request: Request<pb::DeployRequest>,
    ) -> Result<Response<pb::DeployResponse>, Status> {
        let req = request.into_inner();
        let (results, warnings) = self
            .timed(async {
                let parsed = convert::apps_from_proto_warned(&req.apps)?;
                let (apps, warnings): (Vec<_>, Vec<_>) =
                    parsed.into_iter().map(|p| (p.app, p.warnings)).unzip();
                Ok::<_, ApiError>((self.core.deploy(apps).await?, warnings))
            })
            .await?;
        Ok(Response::new(pb::DeployResponse {
            // `deploy` answers one result per app, in request order.
            results: results
                .iter()
                .zip(&warnings)
                .map(|(d, w)| pb::DeployResult {
                    name: d.record.name().to_owned(),
                    version: d.record.version,
                    created: d.created,
                    message: d.message(),
                    warnings: convert::warnings_to_proto(w),
                })
                .collect(),
        }))
    }

    async fn kill(
        &self,
        request: Request<pb::KillRequest>,
    ) -> Result<Response<pb::KillResponse>, Status> {
        let req = request.into_inner();
        let record = self
            .timed(self.core.kill(&req.name, req.expected_version))
            .await?;
        Ok(Response::new(pb::KillResponse {
            name: record.name().to_owned(),
            version: record.version,
            message: format!("Task {} successfully killed", record.name()),
        }))
    }

    async fn update(
        &self,
        request: Request<pb::UpdateRequest>,
    ) -> Result<Response<pb::UpdateResponse>, Status> {
        let req = request.into_inner();
        let (updated, warnings) = self
            .timed(async {
                let parsed = convert::app_from_proto_warned(req.app.as_ref())?;
                let updated = self.core.update(parsed.app, req.expected_version).await?;
                Ok::<_, ApiError>((updated, parsed.warnings))
            })
            .await?;
        Ok(Response::new(pb::UpdateResponse {
            name: updated.record.name().to_owned(),
            version: updated.record.version,
            changed: updated.changed,
            message: format!("Task {} successfully updated", updated.record.name()),
            warnings: convert::warnings_to_proto(&warnings),
        }))
    }

    // State and ListAll are served by `AppServiceRoutes` with their
    // memoized encodings; these build the same answers for direct callers.
    async fn state(
        &self,
        request: Request<pb::StateRequest>,
    ) -> Result<Response<pb::AppState>, Status> {
        let req = request.into_inner();
        let entry = self.timed(self.core.app(&req.name)).await?;
        let view = entry
            .view()
            .ok_or_else(|| ApiError::from(StoreError::AppNotFound(req.name.clone())).to_status())?;
        Ok(Response::new(app_state(view)))
    }

    async fn list_all(
        &self,
        request: Request<pb::ListAllRequest>,
    ) -> Result<Response<pb::ListAllResponse>, Status> {
        let encoded = self.list_all_answer(request.into_inner()).await?;
        let answer = pb::ListAllResponse::decode(encoded).map_err(|e| {
            Status::internal(format!("ListAll: our own answer did not decode: {e}"))
        })?;
        Ok(Response::new(answer))
    }

    type WatchTasksStream = EventStream;

    /// Served by [`EncodedWatch`] (see [`AppServiceRoutes`]); this decodes
    /// the shared encodings again, for a server built without the routes.
    async fn watch_tasks(
        &self,
        request: Request<pb::WatchTasksRequest>,
    ) -> Result<Response<Self::WatchTasksStream>, Status> {
        let stream = self.watch_encoded(request.into_inner()).await?;
        let decoded = stream.map(|item| {
            item.and_then(|bytes| {
                pb::TaskEvent::decode(bytes)
                    .map_err(|e| Status::internal(format!("re-decoding a watch event: {e}")))
            })
        });
        Ok(Response::new(Box::pin(decoded)))
    }
}

/// `hydrogen.v1.AppService` as served: State and ListAll with their
/// memoized encodings, every other method by the generated server.
pub struct AppServiceRoutes<S> {
    encoded: GrpcService<S>,
    generated: AppServiceServer<GrpcService<S>>,
    max_message: usize,
}

impl<S> Clone for AppServiceRoutes<S> {
    fn clone(&self) -> Self {
        Self {
            encoded: self.encoded.clone(),
            generated: self.generated.clone(),
            max_message: self.max_message,
        }
    }
}

impl<S> NamedService for AppServiceRoutes<S> {
    const NAME: &'static str = pb::app_service_server::SERVICE_NAME;
}

/// The State method over [`GrpcService::state_encoded`].
struct EncodedState<S>(GrpcService<S>);

impl<S: Store> UnaryService<pb::StateRequest> for EncodedState<S> {
    type Response = Bytes;
    type Future = BoxFuture<'static, Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<pb::StateRequest>) -> Self::Future {
        let svc = self.0.clone();
        Box::pin(async move {
            let name = request.into_inner().name;
            svc.state_encoded(&name).await.map(Response::new)
        })
    }
}

/// The WatchTasks method over [`GrpcService::watch_encoded`].
struct EncodedWatch<S>(GrpcService<S>);

impl<S: Store> tonic::server::ServerStreamingService<pb::WatchTasksRequest> for EncodedWatch<S> {
    type Response = Bytes;
    type ResponseStream = EncodedEventStream;
    type Future = BoxFuture<'static, Result<Response<EncodedEventStream>, Status>>;

    fn call(&mut self, request: Request<pb::WatchTasksRequest>) -> Self::Future {
        let svc = self.0.clone();
        Box::pin(async move {
            svc.watch_encoded(request.into_inner())
                .await
                .map(Response::new)
        })
    }
}

/// The ListAll method over [`GrpcService::list_all_answer`].
struct EncodedListAll<S>(GrpcService<S>);

impl<S: Store> UnaryService<pb::ListAllRequest> for EncodedListAll<S> {
    type Response = Bytes;
    type Future = BoxFuture<'static, Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<pb::ListAllRequest>) -> Self::Future {
        let svc = self.0.clone();
        Box::pin(async move {
            svc.list_all_answer(request.into_inner())
                .await
                .map(Response::new)
        })
    }
}

impl<S: Store> tower::Service<http::Request<tonic::body::Body>> for AppServiceRoutes<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        // The generated server's settings: no compression, requests up to
        // `max_message`, answers unbounded.
        let limits = (Some(self.max_message), None);
        let max_message = self.max_message;
        let answer: Self::Future = match req.uri().path() {
            "/hydrogen.v1.AppService/State" => {
                let method = EncodedState(self.encoded.clone());
                Box::pin(async move {
                    let mut grpc = tonic::server::Grpc::new(EncodedCodec::default())
                        .apply_max_message_size_config(limits.0, limits.1);
                    Ok(grpc.unary(method, req).await)
                })
            }
            "/hydrogen.v1.AppService/WatchTasks" => {
                let method = EncodedWatch(self.encoded.clone());
                Box::pin(async move {
                    let mut grpc = tonic::server::Grpc::new(EncodedCodec::default())
                        .apply_max_message_size_config(limits.0, limits.1);
                    Ok(grpc.server_streaming(method, req).await)
                })
            }
            "/hydrogen.v1.AppService/ListAll" => {
                let method = EncodedListAll(self.encoded.clone());
                Box::pin(async move {
                    let mut grpc = tonic::server::Grpc::new(EncodedCodec::default())
                        .apply_max_message_size_config(limits.0, limits.1);
                    Ok(grpc.unary(method, req).await)
                })
            }
            _ => tower::Service::call(&mut self.generated, req),
        };
        Box::pin(async move {
            let response = answer.await?;
            Ok(oversize_is_resource_exhausted(response, max_message))
        })
    }
}

/// tonic refuses a request message over the limit with OUT_OF_RANGE; gRPC
/// says RESOURCE_EXHAUSTED (what grpc-go and grpc-java send, and what
/// clients retry on, or not, accordingly), with a message that says what
/// to do.
fn oversize_is_resource_exhausted(
    response: http::Response<tonic::body::Body>,
    max_message: usize,
) -> http::Response<tonic::body::Body> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() != tonic::Code::OutOfRange
        || !status
            .message()
            .starts_with("Error, decoded message length too large")
    {
        return response;
    }
    let found = status
        .message()
        .split("found ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("more than that");
    Status::resource_exhausted(format!(
        "the request message is {found} bytes, over the {max_message}-byte limit \
         (--body-limit): send fewer or smaller apps per call"
    ))
    .into_http()
}
