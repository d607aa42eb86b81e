//! Shared fixtures of the API integration tests: the API served in-process
//! on 127.0.0.1:0 over a MemoryStore, clients for both faces, task events
//! written straight into the store under a lease, and deadline polling.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hydrogen::api::proto::app_service_client::AppServiceClient;
use hydrogen::api::server::ServeError;
use hydrogen::api::{ApiConfig, auth::ApiToken};
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Epoch, Store, TaskBatch, TaskEvent, TaskRecord, TaskState};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Everything waits at most this long for a condition.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running API server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub store: Arc<MemoryStore>,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<Result<(), ServeError>>,
    pub http: reqwest::Client,
}

/// A config for tests: loopback, an instance id, the given token.
pub fn config(token: Option<&str>) -> ApiConfig {
    ApiConfig {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        api_token: token.map(ApiToken::new),
        instance_id: "test-instance".into(),
        ..ApiConfig::default()
    }
}

pub async fn start(config: ApiConfig) -> TestServer {
    start_with_store(Arc::new(MemoryStore::default()), config).await
}

pub async fn start_with_store(store: Arc<MemoryStore>, config: ApiConfig) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(hydrogen::api::serve(
        Arc::clone(&store),
        config,
        listener,
        shutdown.clone(),
    ));
    TestServer {
        addr,
        base: format!("http://{addr}"),
        store,
        shutdown,
        handle,
        http: reqwest::Client::new(),
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn grpc(&self) -> AppServiceClient<Channel> {
        let channel = Channel::from_shared(self.base.clone())
            .expect("uri")
            .connect()
            .await
            .expect("connect grpc");
        AppServiceClient::new(channel)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.base.clone())
            .expect("uri")
            .connect()
            .await
            .expect("connect grpc")
    }

    /// Stops the server and waits for it to return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.handle)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server result");
    }
}

/// A small valid app as JSON.
pub fn app_json(name: &str, cmd: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "resources": {"cpu": 0.5, "mem": 64},
        "instances": 2,
        "command": {"cmd": cmd}
    })
}

/// Holds a scheduler lease on the store so tests can write task batches.
pub struct Writer {
    pub store: Arc<MemoryStore>,
    pub epoch: Epoch,
}

impl Writer {
    pub async fn new(store: &Arc<MemoryStore>) -> Self {
        let lease = store
            .acquire_lease("test-scheduler", "127.0.0.1:1", Duration::from_secs(3600))
            .await
            .expect("store")
            .expect("lease free");
        Self {
            store: Arc::clone(store),
            epoch: lease.epoch,
        }
    }

    /// Writes one task in `state`; returns the events appended.
    pub async fn task(&self, app: &str, instance: u32, state: TaskState) -> Vec<TaskEvent> {
        self.store
            .apply(
                self.epoch,
                TaskBatch {
                    upserts: vec![Arc::new(task(app, instance, state))],
                    ..TaskBatch::default()
                },
            )
            .await
            .expect("apply batch")
    }
}

/// A task record of `app`, slot `instance`, with a stable id.
pub fn task(app: &str, instance: u32, state: TaskState) -> TaskRecord {
    TaskRecord {
        state,
        healthy: Some(state == TaskState::TaskRunning),
        ips: vec![format!("10.0.0.{instance}")],
        ports: vec![31_000 + instance],
        updated_ms: 2,
        ..TaskRecord::staging(
            format!("{app}.{instance}.0000"),
            app,
            instance,
            1,
            format!("agent-{instance}"),
            format!("host-{instance}"),
            1,
        )
    }
}

/// Polls `check` until it returns `Some` or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Bearer metadata / header value.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A tonic request carrying a bearer token.
pub fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        bearer(token).parse().expect("ascii metadata"),
    );
    req
}

/// How a [`FlakyStore`] misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Delegates to the memory store.
    Up,
    /// Every call fails with `Unavailable`.
    Down,
    /// Every call waits this long first.
    Slow(Duration),
}

/// A memory store that can be made unavailable or slow, for the 503 /
/// UNAVAILABLE, timeout and graceful-shutdown tests.
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub mode: std::sync::Mutex<Mode>,
    /// Calls that reached the store (for tests that wait for a request to
    /// be in flight).
    pub calls: std::sync::atomic::AtomicU64,
}

impl FlakyStore {
    pub fn new() -> Self {
        Self {
            inner: MemoryStore::default(),
            mode: std::sync::Mutex::new(Mode::Up),
            calls: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode lock") = mode;
    }

    async fn gate(&self) -> Result<(), hydrogen::store::StoreError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mode = *self.mode.lock().expect("mode lock");
        match mode {
            Mode::Up => Ok(()),
            Mode::Down => Err(hydrogen::store::StoreError::Unavailable(
                "connection refused".into(),
            )),
            Mode::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        }
    }
}

impl Default for FlakyStore {
    fn default() -> Self {
        Self::new()
    }
}

use hydrogen::spec::App;
use hydrogen::store::{
    AppRecord, AppStatus, Changes, CreateOutcome, EventPage, LeaderInfo, LeaseAttempt, MesosLink,
    StoreError, ViewDelta, ViewRevision, ViewSnapshot,
};

impl Store for FlakyStore {
    async fn create_app(&self, spec: App) -> Result<CreateOutcome, StoreError> {
        self.gate().await?;
        self.inner.create_app(spec).await
    }
    async fn update_app(
        &self,
        spec: App,
        v: Option<u64>,
    ) -> Result<hydrogen::store::UpdateOutcome, StoreError> {
        self.gate().await?;
        self.inner.update_app(spec, v).await
    }
    async fn kill_app(&self, name: &str, v: Option<u64>) -> Result<AppRecord, StoreError> {
        self.gate().await?;
        self.inner.kill_app(name, v).await
    }
    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        self.gate().await?;
        self.inner.get_app(name).await
    }
    async fn list_apps(&self) -> Result<Vec<Arc<AppRecord>>, StoreError> {
        self.gate().await?;
        self.inner.list_apps().await
    }
    async fn list_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.gate().await?;
        self.inner.list_tasks().await
    }
    async fn app_tasks(&self, app: &str) -> Result<Vec<TaskRecord>, StoreError> {
        self.gate().await?;
        self.inner.app_tasks(app).await
    }
    async fn view_revision(&self) -> Result<ViewRevision, StoreError> {
        self.gate().await?;
        self.inner.view_revision().await
    }
    async fn view_snapshot(&self) -> Result<ViewSnapshot, StoreError> {
        self.gate().await?;
        self.inner.view_snapshot().await
    }
    async fn view_delta(&self, since: ViewRevision) -> Result<Option<ViewDelta>, StoreError> {
        self.gate().await?;
        self.inner.view_delta(since).await
    }
    async fn apply(&self, epoch: Epoch, batch: TaskBatch) -> Result<Vec<TaskEvent>, StoreError> {
        self.gate().await?;
        self.inner.apply(epoch, batch).await
    }
    async fn app_status(&self, app: &str) -> Result<Option<AppStatus>, StoreError> {
        self.gate().await?;
        self.inner.app_status(app).await
    }
    async fn app_statuses(&self) -> Result<Vec<Arc<AppStatus>>, StoreError> {
        self.gate().await?;
        self.inner.app_statuses().await
    }
    async fn set_mesos_link(&self, epoch: Epoch, subscribed: bool) -> Result<(), StoreError> {
        self.gate().await?;
        self.inner.set_mesos_link(epoch, subscribed).await
    }
    async fn mesos_link(&self) -> Result<Option<MesosLink>, StoreError> {
        self.gate().await?;
        self.inner.mesos_link().await
    }
    async fn framework_id(&self) -> Result<Option<String>, StoreError> {
        self.gate().await?;
        self.inner.framework_id().await
    }
    async fn set_framework_id(&self, epoch: Epoch, id: &str) -> Result<(), StoreError> {
        self.gate().await?;
        self.inner.set_framework_id(epoch, id).await
    }
    async fn events_after(&self, after: u64, limit: usize) -> Result<EventPage, StoreError> {
        self.gate().await?;
        self.inner.events_after(after, limit).await
    }
    fn changes(&self) -> tokio::sync::watch::Receiver<Changes> {
        self.inner.changes()
    }
    async fn try_acquire_lease(
        &self,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<LeaseAttempt, StoreError> {
        self.gate().await?;
        self.inner.try_acquire_lease(id, address, ttl).await
    }
    async fn renew_lease(&self, lease: &LeaderInfo, ttl: Duration) -> Result<bool, StoreError> {
        self.gate().await?;
        self.inner.renew_lease(lease, ttl).await
    }
    async fn release_lease(&self, lease: &LeaderInfo) -> Result<(), StoreError> {
        self.gate().await?;
        self.inner.release_lease(lease).await
    }
    async fn leader(&self) -> Result<Option<LeaderInfo>, StoreError> {
        self.gate().await?;
        self.inner.leader().await
    }
}

/// A server over any store (the flaky one): its address, shutdown and task.
pub struct GenericServer {
    pub base: String,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<Result<(), ServeError>>,
}

pub async fn start_generic<S: Store>(store: Arc<S>, config: ApiConfig) -> GenericServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(hydrogen::api::serve(
        store,
        config,
        listener,
        shutdown.clone(),
    ));
    GenericServer {
        base: format!("http://{addr}"),
        shutdown,
        handle,
    }
}
