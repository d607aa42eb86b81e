//! The gRPC face: `hydrogen.v1.AppService` over the core in `service.rs`.
//!
//! Each method converts its request (`convert.rs`: proto → app JSON → spec's
//! reader and rules), calls the core under the request timeout, and converts
//! the answer back; errors go through [`ApiError::to_status`], the same
//! mapping the REST face uses for its statuses.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::store::Store;

use super::convert;
use super::error::ApiError;
use super::proto as pb;
use super::service::{ApiService, AppView};
use super::watch::{self, WatchFrom};

/// The tonic service; build a server with [`GrpcService::into_server`].
pub struct GrpcService<S> {
    core: ApiService<S>,
    timeout: Duration,
    shutdown: CancellationToken,
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
    pub fn into_server(self, max_message: usize) -> pb::app_service_server::AppServiceServer<Self> {
        pb::app_service_server::AppServiceServer::new(self).max_decoding_message_size(max_message)
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
        tasks: view.tasks.iter().map(convert::task_to_proto).collect(),
        status: view.status.as_ref().map(convert::status_to_proto),
        state: view.summary_state().to_owned(),
        running: view.running(),
        created_ms: view.record.created_ms,
        updated_ms: view.record.updated_ms,
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::TaskEvent, Status>> + Send>>;

#[tonic::async_trait]
impl<S: Store> pb::app_service_server::AppService for GrpcService<S> {
    async fn deploy(
        &self,
        request: Request<pb::DeployRequest>,
    ) -> Result<Response<pb::DeployResponse>, Status> {
        let req = request.into_inner();
        let results = self
            .timed(async {
                let apps = convert::apps_from_proto(&req.apps)?;
                self.core.deploy(apps).await
            })
            .await?;
        Ok(Response::new(pb::DeployResponse {
            results: results
                .iter()
                .map(|d| pb::DeployResult {
                    name: d.record.name().to_owned(),
                    version: d.record.version,
                    created: d.created,
                    message: d.message(),
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
        let updated = self
            .timed(async {
                let app = convert::app_from_proto(req.app.as_ref())?;
                self.core.update(app, req.expected_version).await
            })
            .await?;
        Ok(Response::new(pb::UpdateResponse {
            name: updated.record.name().to_owned(),
            version: updated.record.version,
            changed: updated.changed,
            message: format!("Task {} successfully updated", updated.record.name()),
        }))
    }

    async fn state(
        &self,
        request: Request<pb::StateRequest>,
    ) -> Result<Response<pb::AppState>, Status> {
        let req = request.into_inner();
        let view = self.timed(self.core.state(&req.name)).await?;
        Ok(Response::new(app_state(&view)))
    }

    async fn list_all(
        &self,
        _request: Request<pb::ListAllRequest>,
    ) -> Result<Response<pb::ListAllResponse>, Status> {
        let tasks = self.timed(self.core.list_all()).await?;
        Ok(Response::new(pb::ListAllResponse {
            tasks: tasks.iter().map(convert::task_to_proto).collect(),
        }))
    }

    type WatchTasksStream = EventStream;

    async fn watch_tasks(
        &self,
        request: Request<pb::WatchTasksRequest>,
    ) -> Result<Response<Self::WatchTasksStream>, Status> {
        let req = request.into_inner();
        let from = req.after_revision.map_or(WatchFrom::Head, WatchFrom::After);
        let app = req.app.filter(|a| !a.is_empty());
        let stream = self
            .timed(watch::watch(
                std::sync::Arc::clone(self.core.store()),
                from,
                app,
                self.shutdown.clone(),
            ))
            .await?;
        let mapped = stream.map(|item| {
            item.map(|e| convert::event_to_proto(&e))
                .map_err(|e| e.to_status())
        });
        Ok(Response::new(Box::pin(mapped)))
    }
}
