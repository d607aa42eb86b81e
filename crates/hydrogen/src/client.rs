//! The Rust client of `hydrogen.v1.AppService`: what `hydrogen app ...`
//! uses, and what a Rust program embeds to drive Hydrogen. Same operations
//! as the Python, Go and TypeScript clients: deploy, update, kill, state,
//! list, and a task watch that resumes from the last revision it saw when
//! the connection drops.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::api::convert::app_to_proto;
use crate::api::proto::app_service_client::AppServiceClient;
use crate::api::proto::{
    AppState, DeployRequest, DeployResult, KillRequest, KillResponse, ListAllRequest, StateRequest,
    Task, TaskEvent, UpdateRequest, UpdateResponse, WatchTasksRequest,
};
use crate::spec::App;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid server address {0:?}: use http://host:port")]
    Address(String),
    #[error("invalid token: it must be printable ASCII")]
    Token,
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("{}", .0.message())]
    Rpc(#[from] Status),
}

impl ClientError {
    /// The gRPC code, when the server answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Rpc(s) => Some(s.code()),
            _ => None,
        }
    }
}

/// Adds `Authorization: Bearer` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// Tasks per ListAll page that [`Client::list_all`] asks for (a few
/// hundred kB each).
pub const LIST_PAGE_SIZE: u32 = 2_000;

/// A connection to one Hydrogen instance (any instance serves every call).
#[derive(Clone)]
pub struct Client {
    inner: AppServiceClient<InterceptedService<Channel, Bearer>>,
}

impl Client {
    /// Connects to `server` (`http://host:port`), with an optional API token.
    pub async fn connect(server: &str, token: Option<&str>) -> Result<Self, ClientError> {
        let endpoint = Endpoint::from_shared(server.to_string())
            .map_err(|_| ClientError::Address(server.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30));
        let bearer = match token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse::<MetadataValue<_>>()
                    .map_err(|_| ClientError::Token)?,
            ),
            None => None,
        };
        let channel = endpoint.connect().await.map_err(|e| ClientError::Connect {
            server: server.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            inner: AppServiceClient::with_interceptor(channel, Bearer(bearer)),
        })
    }

    /// Deploys apps (validated on the server with the same rules as REST).
    pub async fn deploy(&self, apps: &[App]) -> Result<Vec<DeployResult>, ClientError> {
        let request = DeployRequest {
            apps: apps.iter().map(app_to_proto).collect(),
        };
        Ok(self
            .inner
            .clone()
            .deploy(request)
            .await?
            .into_inner()
            .results)
    }

    /// Replaces an app's spec: a rolling update, or a scale.
    pub async fn update(
        &self,
        app: &App,
        expected_version: Option<u64>,
    ) -> Result<UpdateResponse, ClientError> {
        let request = UpdateRequest {
            app: Some(app_to_proto(app)),
            expected_version,
        };
        Ok(self.inner.clone().update(request).await?.into_inner())
    }

    /// Kills every task of an app, then forgets it.
    pub async fn kill(
        &self,
        name: &str,
        expected_version: Option<u64>,
    ) -> Result<KillResponse, ClientError> {
        let request = KillRequest {
            name: name.to_string(),
            expected_version,
        };
        Ok(self.inner.clone().kill(request).await?.into_inner())
    }

    /// One app: spec, version, tasks, why tasks wait.
    pub async fn state(&self, name: &str) -> Result<AppState, ClientError> {
        let request = StateRequest {
            name: name.to_string(),
        };
        Ok(self.inner.clone().state(request).await?.into_inner())
    }

    /// Every task Hydrogen knows, read a page of [`LIST_PAGE_SIZE`] at a
    /// time, so no answer outgrows gRPC's default 4 MB message limit.
    pub async fn list_all(&self) -> Result<Vec<Task>, ClientError> {
        let mut tasks = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListAllRequest {
                page_size: LIST_PAGE_SIZE,
                page_token,
            };
            let page = self.inner.clone().list_all(request).await?.into_inner();
            tasks.extend(page.tasks);
            if page.next_page_token.is_empty() {
                return Ok(tasks);
            }
            page_token = page.next_page_token;
        }
    }

    /// Task events after `after` (from now when `None`), for one app or all.
    /// The stream reconnects by itself when the connection drops, resuming
    /// after the last revision it delivered, so no event is missed or
    /// repeated; it ends with an error the server gives for good (e.g.
    /// OUT_OF_RANGE when the log no longer holds the revision).
    pub fn watch_tasks(
        &self,
        app: Option<String>,
        after: Option<u64>,
    ) -> ReceiverStream<Result<TaskEvent, ClientError>> {
        let (tx, rx) = mpsc::channel(256);
        let client = self.inner.clone();
        tokio::spawn(watch_loop(client, app, after, tx));
        ReceiverStream::new(rx)
    }
}

async fn watch_loop(
    mut client: AppServiceClient<InterceptedService<Channel, Bearer>>,
    app: Option<String>,
    mut after: Option<u64>,
    tx: mpsc::Sender<Result<TaskEvent, ClientError>>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        let request = WatchTasksRequest {
            app: app.clone(),
            after_revision: after,
            ..WatchTasksRequest::default()
        };
        let opened = client.watch_tasks(request).await;
        let mut stream = match opened {
            Ok(s) => s.into_inner(),
            Err(status) if retryable(status.code()) => {
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(status) => {
                let _ = tx.send(Err(status.into())).await;
                return;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(event)) => {
                    delay = Duration::from_millis(100);
                    after = Some(event.revision);
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(status) if retryable(status.code()) => break,
                Err(status) => {
                    let _ = tx.send(Err(status.into())).await;
                    return;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(delay).await;
    }
}

fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::DeadlineExceeded
    )
}
