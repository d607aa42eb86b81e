//! The Redis store: shared state for several Hydrogen instances (HA).
//!
//! Every instance connects to one Redis (standalone, or a primary behind
//! sentinels), reads and writes the same keys, and takes turns holding the
//! leader lease. The semantics are those of [`super::memory::MemoryStore`],
//! pinned by the shared conformance suite.
//!
//! # Layout
//!
//! All keys live under a configurable prefix (`hydrogen` by default), so
//! two Hydrogen clusters can share one Redis. With `P` the prefix:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:apps` | hash | app name → [`AppRecord`] JSON |
//! | `P:apps:rev` | string (counter) | bumped by every app write (create, update, kill, removal) |
//! | `P:view:rev` | string (counter) | bumped by every write of an app, task or status: [`super::ViewRevision::views`] |
//! | `P:tasks` | hash | task id → [`TaskRecord`] JSON |
//! | `P:app-tasks:{app}` | set | the task ids of one app |
//! | `P:statuses` | hash | app name → [`AppStatus`] JSON |
//! | `P:statuses:rev` | string (counter) | bumped by every batch that writes or drops statuses |
//! | `P:mesos` | string | the leader's [`MesosLink`] JSON (fenced write) |
//! | `P:mesos:rev` | string (counter) | bumped by every write of `P:mesos` |
//! | `P:framework-id` | string | the Mesos framework id |
//! | `P:events` | stream | the event log: entry id `<revision>-0`, fields `rev` and `event` ([`TaskEvent`] JSON) |
//! | `P:events:head` | string (counter) | the newest revision ever appended |
//! | `P:epoch` | string (number) | the fencing epoch: set by every lease acquisition to the server's clock in µs, or the last + 1 if larger (see `scripts::ACQUIRE_LEASE`) |
//! | `P:lease` | string, `PX` ttl | `{"instance_id", "address", "epoch"}` of the leader |
//! | `P:read-fence` | string (counter) | bumped before events are handed out with `--redis-min-replicas` (see [`Store::events_after`]) |
//! | `P:changes` | pub/sub channel | a message after every write that moves `apps:rev`, `events:head`, `statuses:rev` or `mesos:rev` |
//!
//! App names are restricted to `[A-Za-z0-9_-]` and a set's name ends with
//! the full app name, so `web` and `web2` never share a key.
//!
//! The event log's revisions are our own counter, not Redis stream ids:
//! they are contiguous (1, 2, 3 ...) like the memory store's, and the
//! stream id is `<revision>-0`, so reading "after revision r" is a direct
//! `XRANGE (r+1)-0 +`. The stream is trimmed exactly (`MAXLEN capacity`,
//! not `~`), so "is revision r still kept" is exact and the `Compacted`
//! error is the memory store's.
//!
//! # Atomicity: one Lua script per write
//!
//! Every write is one script call (see `scripts.rs`), which Redis runs
//! atomically:
//! - App writes (create, update, kill) are decided in Rust on the record
//!   just read and committed with a compare-and-set script; a lost race
//!   re-reads and decides again. Deciding in Rust keeps the exact
//!   `PartialEq` of specs the memory store uses.
//! - A scheduler batch ([`Store::apply`]) is ONE script call whatever its
//!   size (one round trip for 1,000 upserts): it checks `P:epoch` against
//!   the offered epoch (invariant 2 of the design, `docs/design.md#invariants`:
//!   a deposed leader writes nothing), then
//!   compares each upsert's state and health with the stored record to
//!   decide which ones append an event, appends them, and writes tasks,
//!   removals, statuses and app removals.
//! - The lease: acquire = a new epoch + `SET NX PX` when no lease key
//!   exists; renew = compare + `PEXPIRE`; release = compare + `DEL`.
//!   Expiry is Redis's own `PX`, so no instance's clock matters.
//!
//! # The changes feed
//!
//! [`Store::changes`] must move when *any* instance writes. Every script
//! that moves a counter also `PUBLISH`es on `P:changes`; one background
//! task per store listens on a pub/sub connection and re-reads
//! `P:apps:rev`, `P:events:head`, `P:statuses:rev`, `P:mesos:rev` and
//! `P:epoch` on each message, and also every second
//! in case a message was lost while its connection was down. Local writes
//! update the feed at once from the counters their script returns. The
//! counters only go up, so the feed keeps the maximum it has seen. The
//! task ends when the store is dropped.
//!
//! # Failures
//!
//! The connection is a [`ConnectionManager`], which reconnects by itself.
//! Every operation has a deadline ([`RedisOptions::timeout`]); a
//! connection error or a missed deadline is [`StoreError::Unavailable`]
//! naming Redis and its URL (without the password), so API writes fail
//! fast and the leader steps down instead of hanging. A record that does
//! not decode is [`StoreError::Corrupt`] naming its key.
//!
//! # Sentinel and replicas
//!
//! With `redis+sentinel://` the node is the primary the sentinels name
//! (`sentinel.rs`, the `redis` crate's Sentinel client). An operation that
//! fails in a way a failover explains (READONLY, MASTERDOWN, LOADING, a
//! refused or broken connection, a timeout) asks the sentinels again and,
//! when the primary moved, swaps the connections (shared, lease, changes
//! feed) to the new one. A background task listens to the sentinels'
//! `+switch-master` announcements and moves at once when one comes; the
//! changes feed also asks once per poll, for an announcement missed. Reads
//! are then retried within the deadline; writes only when Redis refused
//! them before running them, since a write of unknown fate is the caller's
//! to re-decide (app writes are compare-and-set, scheduler writes fenced).
//!
//! Every write is followed by `WAIT min_replicas` in the same pipeline, so
//! on the same connection even when the connection manager reconnects
//! ([`RedisOptions::min_replicas`], [`Shared::write`]); fewer confirmations make it
//! [`StoreError::Unavailable`], so nothing acts on a write a promotion
//! could lose. The README's HA section says what that does not cover.
//!
//! # TLS
//!
//! `rediss://host:port/db` connects with rustls (ring provider, so no C
//! toolchain beyond `cc` and nothing downloaded at build time). The server
//! certificate is checked against the system trust store, or against
//! [`RedisOptions::tls_ca_file`] for a private CA. There is no mode that
//! skips verification (client certificates are not supported yet).

mod scripts;
pub mod sentinel;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::aio::ConnectionManagerConfig;
use ::redis::sentinel::SentinelClient;
use ::redis::{Client, FromRedisValue, RedisError, Script, ToRedisArgs, Value};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};

use super::app_write::{self, Written};
use super::memory::DEFAULT_EVENT_LOG_CAPACITY;
use super::{
    AppRecord, AppSlice, AppStatus, Changes, CreateOutcome, Epoch, EventPage, LeaderInfo,
    LeaseAttempt, MesosLink, Store, StoreError, TaskBatch, TaskEvent, TaskRecord, UpdateOutcome,
    ViewDelta, ViewRevision, ViewSnapshot, view_log_excess,
};
use crate::spec::App;
use hydrogen_time::now_ms;

/// How a [`RedisStore`] names its keys and how long it waits.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Every key starts with `{prefix}:`.
    pub prefix: String,
    /// Events kept in the stream (exact).
    pub event_log_capacity: usize,
    /// Deadline of every operation, connecting included.
    pub timeout: Duration,
    /// How often the changes feed re-reads the counters on its own, in case
    /// a pub/sub message was lost (a reconnect); messages move it at once.
    pub changes_poll_interval: Duration,
    /// For `rediss://`: a PEM file of the CA that signed the server's
    /// certificate, when it is not in the system's trust store.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// For `redis+sentinel://`: the sentinels' own password (the URL's is
    /// the data nodes').
    pub sentinel_password: Option<String>,
    /// Replicas that must confirm every write (`WAIT`) before it counts;
    /// `None`: 1 when the primary has replicas when the store connects,
    /// else 0.
    pub min_replicas: Option<u32>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "hydrogen".to_string(),
            event_log_capacity: DEFAULT_EVENT_LOG_CAPACITY,
            timeout: Duration::from_secs(2),
            changes_poll_interval: Duration::from_secs(1),
            tls_ca_file: None,
            sentinel_password: None,
            min_replicas: None,
        }
    }
}

/// A compare-and-set that keeps losing means heavy contention on one app;
/// give up with a retryable error rather than spin.
const CAS_ATTEMPTS: usize = 32;

/// How soon the changes feed retries a lost subscription.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// Failing operations ask the sentinels for the primary at most this often.
const REDISCOVER_PAUSE: Duration = Duration::from_millis(100);

/// Task records written by one script call at most: Redis runs one script
/// at a time, and every other client (lease renewals too) waits for it.
const APPLY_CHUNK: usize = 2_000;

/// The pause between two tries of an operation while the primary changes.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The key names, computed once.
#[derive(Debug)]
struct Keys {
    apps: String,
    apps_rev: String,
    view_rev: String,
    view_log: String,
    view_tracked: String,
    view_floor: String,
    tasks: String,
    app_tasks_prefix: String,
    statuses: String,
    statuses_rev: String,
    mesos: String,
    mesos_rev: String,
    framework_id: String,
    events: String,
    events_head: String,
    epoch: String,
    lease: String,
    read_fence: String,
    changes: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            apps: format!("{prefix}:apps"),
            apps_rev: format!("{prefix}:apps:rev"),
            view_rev: format!("{prefix}:view:rev"),
            view_log: format!("{prefix}:view:log"),
            view_tracked: format!("{prefix}:view:tracked"),
            view_floor: format!("{prefix}:view:floor"),
            tasks: format!("{prefix}:tasks"),
            app_tasks_prefix: format!("{prefix}:app-tasks:"),
            statuses: format!("{prefix}:statuses"),
            statuses_rev: format!("{prefix}:statuses:rev"),
            mesos: format!("{prefix}:mesos"),
            mesos_rev: format!("{prefix}:mesos:rev"),
            framework_id: format!("{prefix}:framework-id"),
            events: format!("{prefix}:events"),
            events_head: format!("{prefix}:events:head"),
            epoch: format!("{prefix}:epoch"),
            lease: format!("{prefix}:lease"),
            read_fence: format!("{prefix}:read-fence"),
            changes: format!("{prefix}:changes"),
        }
    }

    fn app_tasks(&self, app: &str) -> String {
        format!("{}{app}", self.app_tasks_prefix)
    }
}

struct Scripts {
    cas_app: Script,
    cas_apps: Script,
    apply: Script,
    trim_view_log: Script,
    set_framework_id: Script,
    set_mesos_link: Script,
    acquire_lease: Script,
    renew_lease: Script,
    release_lease: Script,
    app_tasks: Script,
    view_delta: Script,
    read_fence: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            cas_app: Script::new(scripts::CAS_APP),
            cas_apps: Script::new(scripts::CAS_APPS),
            apply: Script::new(scripts::APPLY),
            trim_view_log: Script::new(scripts::TRIM_VIEW_LOG),
            set_framework_id: Script::new(scripts::SET_FRAMEWORK_ID),
            set_mesos_link: Script::new(scripts::SET_MESOS_LINK),
            acquire_lease: Script::new(scripts::ACQUIRE_LEASE),
            renew_lease: Script::new(&scripts::renew_lease()),
            release_lease: Script::new(&scripts::release_lease()),
            app_tasks: Script::new(scripts::APP_TASKS),
            view_delta: Script::new(scripts::VIEW_DELTA),
            read_fence: Script::new(scripts::READ_FENCE),
        }
    }
}

/// One call of a script, built so it can join a pipeline (the `redis`
/// crate's `ScriptInvocation` cannot: its EVALSHA is private), which a
/// write must share with its `WAIT` (see [`Shared::write`]).
struct ScriptCall<'a> {
    script: &'a Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl<'a> ScriptCall<'a> {
    fn new(script: &'a Script) -> Self {
        Self {
            script,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    fn evalsha(&self) -> ::redis::Cmd {
        let mut cmd = ::redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash())
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        cmd
    }
}

/// How long a starting store waits for the sentinels to name a reachable
/// primary: an instance (re)started while the sentinels fail the primary
/// over (seconds: their down-after and failover timeouts) waits for the
/// new one instead of exiting. A wrong master name fails after this too,
/// since the sentinels answer both alike.
const SENTINEL_STARTUP_WAIT: Duration = Duration::from_secs(30);

/// Asks the sentinels for the primary until one is named and reachable,
/// for at most [`SENTINEL_STARTUP_WAIT`] (or `timeout`, if longer).
async fn first_primary(
    sentinel: &mut SentinelClient,
    shown: &str,
    master: &str,
    timeout: Duration,
) -> Result<Client, StoreError> {
    let deadline = tokio::time::Instant::now() + SENTINEL_STARTUP_WAIT.max(timeout);
    // A promotion takes seconds: asking five times a second is plenty.
    let pause = REDISCOVER_PAUSE * 5;
    let mut warned = false;
    loop {
        let error = match tokio::time::timeout(timeout, sentinel.async_get_client()).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) => format!(
                "redis at {shown}: the sentinels name no reachable primary for {master:?}: {e} \
                 (check the master name; during a failover, wait for the promotion)"
            ),
            Err(_) => format!("redis at {shown}: no sentinel answered within {timeout:?}"),
        };
        if tokio::time::Instant::now() + pause >= deadline {
            return Err(StoreError::Unavailable(error));
        }
        if !warned {
            tracing::warn!(redis = %shown, %error, "waiting for the sentinels to name a reachable primary");
            warned = true;
        }
        tokio::time::sleep(pause).await;
    }
}

/// Sends `pipe` and returns every reply, errors included.
async fn run_pipeline(
    pipe: &::redis::Pipeline,
    conn: &mut ConnectionManager,
) -> Result<Vec<Value>, RedisError> {
    pipe.query_async(conn).await
}

fn is_noscript(reply: Option<&Value>) -> bool {
    matches!(reply, Some(Value::ServerError(e))
        if e.kind() == Some(::redis::ServerErrorKind::NoScript))
}

/// The Redis node the store talks to: fixed for `redis://`, the current
/// primary for `redis+sentinel://`.
struct Node {
    client: Client,
    conn: ConnectionManager,
    /// Bumped each time the store moves to another primary; a failed
    /// operation names the generation it ran on, so a dozen operations
    /// failing together trigger one rediscovery, not a dozen.
    generation: u64,
    /// `host:port`, for logs and for "did the primary change".
    address: String,
}

/// The sentinels, asked for the primary; one question at a time.
struct Discovery {
    sentinel: SentinelClient,
    /// When the sentinels were last asked: failing operations ask at most
    /// once per [`REDISCOVER_PAUSE`].
    last_asked: Option<tokio::time::Instant>,
}

/// A connection of its own and the node generation it was opened for.
type DedicatedConnection = tokio::sync::Mutex<Option<(u64, ConnectionManager)>>;

/// Which connection an operation uses.
#[derive(Clone, Copy)]
enum Lane {
    /// The shared multiplexed connection (API reads and writes, batches).
    Main,
    /// The lease's own connection (see [`RedisStore`]).
    Lease,
    /// Writes that `WAIT` for replicas (`--redis-min-replicas` > 0): the
    /// server holds a connection's later commands while its `WAIT` waits,
    /// so on the shared one every API read would queue behind replication.
    Confirmed,
    /// The event log's read fence: watchers' fences neither wait behind
    /// the scheduler's confirmed writes nor hold them up. (`WAIT` counts
    /// the replication offset, which is the server's, so a fence on its
    /// own connection still covers every write made before it.)
    Fence,
}

/// What an error says about a write that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Redis refused it before running it (READONLY from a demoted
    /// primary, MASTERDOWN, LOADING, connection refused): nothing was
    /// written, so any operation may be retried on the new primary.
    NotApplied,
    /// The connection broke or the deadline passed: it may or may not have
    /// run. Only reads (and writes guarded by a compare-and-set the caller
    /// re-checks) may be retried.
    Unknown,
    /// Anything else (a script error, a bad reply): not a failover.
    Other,
}

fn classify(err: &RedisError) -> Failure {
    use ::redis::ErrorKind;
    use ::redis::ServerErrorKind;
    match err.kind() {
        ErrorKind::Server(
            ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown | ServerErrorKind::BusyLoading,
        ) => Failure::NotApplied,
        _ if err.is_connection_refusal() => Failure::NotApplied,
        _ if err.is_io_error() || err.is_timeout() || err.is_connection_dropped() => {
            Failure::Unknown
        }
        _ => Failure::Other,
    }
}

/// What the store and its background task share.
struct Shared {
    node: std::sync::RwLock<Node>,
    /// `None` for a fixed `redis://` node.
    discovery: Option<tokio::sync::Mutex<Discovery>>,
    conn_config: ConnectionManagerConfig,
    /// The lease's connection and the node generation it was opened for.
    lease: DedicatedConnection,
    /// The connection of [`Lane::Confirmed`].
    confirmed: DedicatedConnection,
    /// The connection of [`Lane::Fence`].
    fence: DedicatedConnection,
    /// `WAIT` for this many replicas after every write (0: no `WAIT`).
    min_replicas: u32,
    keys: Keys,
    /// The URL without its password, for error messages.
    url: String,
    timeout: Duration,
    poll_interval: Duration,
    changes: watch::Sender<Changes>,
}

impl Shared {
    fn unavailable(&self, err: &RedisError) -> StoreError {
        StoreError::Unavailable(format!("redis at {}: {err}", self.url))
    }

    fn late(&self, what: &str) -> StoreError {
        StoreError::Unavailable(format!(
            "redis at {} did not answer {what} within {:?}",
            self.url, self.timeout
        ))
    }

    fn node(&self) -> std::sync::RwLockReadGuard<'_, Node> {
        self.node.read().unwrap_or_else(|p| p.into_inner())
    }

    fn generation(&self) -> u64 {
        self.node().generation
    }

    fn client(&self) -> Client {
        self.node().client.clone()
    }

    /// The connection of `lane` and the node generation it belongs to.
    async fn connection(&self, lane: Lane) -> Result<(u64, ConnectionManager), StoreError> {
        match lane {
            Lane::Main => {
                let node = self.node();
                Ok((node.generation, node.conn.clone()))
            }
            Lane::Lease => self.dedicated(&self.lease, "the lease").await,
            Lane::Confirmed => self.dedicated(&self.confirmed, "confirmed writes").await,
            Lane::Fence => {
                self.dedicated(&self.fence, "the event log's read fence")
                    .await
            }
        }
    }

    /// `slot`'s connection, opened anew for each primary (node generation).
    async fn dedicated(
        &self,
        slot: &DedicatedConnection,
        what: &str,
    ) -> Result<(u64, ConnectionManager), StoreError> {
        let mut slot = slot.lock().await;
        let (generation, client) = {
            let node = self.node();
            (node.generation, node.client.clone())
        };
        if let Some((opened_for, conn)) = slot.as_ref()
            && *opened_for == generation
        {
            return Ok((generation, conn.clone()));
        }
        // Opened here, on the caller's runtime (the lease's: its thread's).
        let conn = match tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(client, self.conn_config.clone()),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(self.unavailable(&err)),
            Err(_) => return Err(self.late(&format!("a new connection for {what}"))),
        };
        *slot = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// Asks the sentinels for the primary and moves to it when it is not
    /// the node of generation `seen` any more. Without sentinels, or when
    /// another operation already moved on, does nothing.
    async fn rediscover(&self, seen: u64) {
        self.rediscover_or(seen, None).await;
    }

    /// A sentinel announced `announced` (a `+switch-master`): moves there
    /// at once, without asking (the other sentinels may not know yet).
    async fn follow_announcement(&self, announced: Client) {
        let seen = self.generation();
        self.rediscover_or(seen, Some(announced)).await;
    }

    async fn rediscover_or(&self, seen: u64, announced: Option<Client>) {
        let Some(discovery) = &self.discovery else {
            return;
        };
        let mut discovery = discovery.lock().await;
        if let Some(client) = announced {
            if self.generation() == seen {
                self.switch_to(client).await;
            }
            return;
        }
        if self.generation() != seen
            || discovery
                .last_asked
                .is_some_and(|at| at.elapsed() < REDISCOVER_PAUSE)
        {
            return;
        }
        discovery.last_asked = Some(tokio::time::Instant::now());
        let client = match tokio::time::timeout(self.timeout, discovery.sentinel.async_get_client())
            .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                tracing::warn!(redis = %self.url, %err, "the sentinels name no reachable primary yet");
                return;
            }
            Err(_) => {
                tracing::warn!(redis = %self.url, "the sentinels did not answer within {:?}", self.timeout);
                return;
            }
        };
        self.switch_to(client).await;
    }

    /// Moves to the primary `client` names, unless the store is there
    /// already. The caller holds the discovery lock, so two moves never
    /// race.
    async fn switch_to(&self, client: Client) {
        let address = client.get_connection_info().addr().to_string();
        if address == self.node().address {
            return;
        }
        let conn = match tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(client.clone(), self.conn_config.clone()),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => {
                tracing::warn!(redis = %self.url, primary = %address, %err, "cannot connect to the new primary yet");
                return;
            }
            Err(_) => return,
        };
        let mut node = self.node.write().unwrap_or_else(|p| p.into_inner());
        tracing::warn!(
            redis = %self.url,
            from = %node.address,
            to = %address,
            "the Redis primary changed; following it"
        );
        metrics::counter!("hydrogen_redis_primary_changes_total").increment(1);
        *node = Node {
            client,
            conn,
            generation: node.generation + 1,
            address,
        };
    }

    /// Runs `op` on the connection of `lane` within the deadline. After an
    /// error that may be a failover it rediscovers the primary (sentinels
    /// only) and tries again while the deadline allows, when that is safe:
    /// always after [`Failure::NotApplied`], after [`Failure::Unknown`] only
    /// when `idempotent`. Returns the connection that answered (for `WAIT`).
    async fn attempt<T, F, Fut>(
        &self,
        what: &str,
        lane: Lane,
        idempotent: bool,
        op: F,
    ) -> Result<(T, ConnectionManager), StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let (generation, conn) = self.connection(lane).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (err, failure) = match tokio::time::timeout(left, op(conn.clone())).await {
                Ok(Ok(value)) => return Ok((value, conn)),
                Ok(Err(err)) if !err.is_timeout() => (self.unavailable(&err), classify(&err)),
                // The connection's own response timeout is the same deadline.
                Ok(Err(_)) | Err(_) => (self.late(what), Failure::Unknown),
            };
            if failure == Failure::Other || self.discovery.is_none() {
                return Err(err);
            }
            self.rediscover(generation).await;
            let retry = failure == Failure::NotApplied || idempotent;
            if !retry || tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
                return Err(err);
            }
            // A pause, not a spin, while the sentinels promote a replica.
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// A read: retried across a failover within the deadline.
    async fn read<T, F, Fut>(&self, what: &str, op: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        Ok(self.attempt(what, Lane::Main, true, op).await?.0)
    }

    /// A write script and, when [`Shared::min_replicas`] asks for it,
    /// `WAIT` for that many replicas, sent as ONE pipeline: the answer
    /// counts only when enough replicas confirmed it. Fewer is
    /// [`StoreError::Unavailable`]: the write stays on the primary but is
    /// not acknowledged to anyone nor acted on, since a failover could
    /// still lose it.
    ///
    /// One pipeline, because `WAIT` counts the replicas that reached the
    /// last write of *its own connection*: sent apart, a reconnect between
    /// the two (the connection manager reconnects by itself) would put the
    /// `WAIT` on a fresh connection that wrote nothing, which every replica
    /// "confirms" at once. A pipeline goes out on one socket; if that
    /// socket breaks, both fail together and the write is of unknown fate.
    async fn write<T: FromRedisValue>(
        &self,
        what: &str,
        lane: Lane,
        call: &ScriptCall<'_>,
    ) -> Result<T, StoreError> {
        let needed = self.min_replicas;
        let lane = match lane {
            Lane::Main if needed > 0 => Lane::Confirmed,
            other => other,
        };
        // Half the deadline: WAIT holds up whatever follows it on this
        // connection, and the answer must still arrive within the deadline.
        let wait = self.timeout / 2;
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = ::redis::pipe();
        // Errors are answers here: a script's error is read from its slot.
        pipe.ignore_errors().add_command(call.evalsha());
        if needed > 0 {
            pipe.cmd("WAIT").arg(needed).arg(wait_ms);
        }
        let (mut replies, _) = self
            .attempt(what, lane, false, |mut conn| {
                let pipe = &pipe;
                async move {
                    let mut replies = run_pipeline(pipe, &mut conn).await?;
                    if is_noscript(replies.first()) {
                        // A restarted or promoted node without our scripts
                        // (EVALSHA refused, so nothing ran): load, resend.
                        call.script.load_async(&mut conn).await?;
                        replies = run_pipeline(pipe, &mut conn).await?;
                    }
                    // The script's own error (READONLY from a demoted
                    // primary, ...) is the operation's, for `attempt` to
                    // judge and maybe retry.
                    if let Some(Value::ServerError(err)) = replies.first() {
                        return Err(RedisError::from(err.clone()));
                    }
                    Ok(replies)
                }
            })
            .await?;
        let acked = (needed > 0).then(|| replies.pop());
        let reply = replies.into_iter().next().unwrap_or(Value::Nil);
        let value = T::from_redis_value(reply).map_err(|e| {
            StoreError::Corrupt(format!("redis at {}: {what} answered {e}", self.url))
        })?;
        let acked = match acked {
            None => return Ok(value),
            Some(Some(Value::Int(n))) => n,
            Some(other) => {
                return Err(StoreError::Unavailable(format!(
                    "redis at {}: {what} was sent but its replication could not be checked \
                     (WAIT answered {other:?}); it does not count: retry",
                    self.url
                )));
            }
        };
        if acked < i64::from(needed) {
            metrics::counter!("hydrogen_redis_unconfirmed_writes_total").increment(1);
            return Err(StoreError::Unavailable(format!(
                "redis at {}: {what} reached only {acked} of the {needed} replicas \
                 --redis-min-replicas requires within {wait:?}; it does not count, since a \
                 failover could lose it: retry once the replicas are back",
                self.url
            )));
        }
        Ok(value)
    }

    /// Raises the feed to at least these app and event counters.
    fn observe(&self, apps: u64, events: u64) {
        self.observe_changes(Changes {
            apps,
            events,
            ..Changes::default()
        });
    }

    /// Raises the feed to at least these counters (a zero moves nothing).
    fn observe_changes(&self, seen: Changes) {
        self.changes.send_if_modified(|c| {
            let next = Changes {
                apps: c.apps.max(seen.apps),
                events: c.events.max(seen.events),
                statuses: c.statuses.max(seen.statuses),
                mesos: c.mesos.max(seen.mesos),
                epoch: c.epoch.max(seen.epoch),
            };
            let moved = next != *c;
            *c = next;
            moved
        });
    }

    /// Reads the counters and raises the feed.
    async fn refresh(&self) -> Result<(), StoreError> {
        let keys = &self.keys;
        let cmd = ::redis::cmd("MGET")
            .arg(&keys.apps_rev)
            .arg(&keys.events_head)
            .arg(&keys.statuses_rev)
            .arg(&keys.mesos_rev)
            .arg(&keys.epoch)
            .clone();
        let raw: Vec<Option<String>> = self
            .read("MGET", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        let counter = |i: usize, key: &str| parse_counter(key, raw.get(i).cloned().flatten());
        self.observe_changes(Changes {
            apps: counter(0, &keys.apps_rev)?,
            events: counter(1, &keys.events_head)?,
            statuses: counter(2, &keys.statuses_rev)?,
            mesos: counter(3, &keys.mesos_rev)?,
            epoch: Epoch(counter(4, &keys.epoch)?),
        });
        Ok(())
    }
}

/// What [`RedisStore::persistence`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// AOF on, or at least one RDB save point.
    Durable,
    /// No AOF and no save point: a restart loses everything.
    Volatile,
    /// Redis refused CONFIG GET (managed services do); the reason.
    Unknown(String),
}

impl Persistence {
    /// From the `[name, value]` answers of `CONFIG GET appendonly` and
    /// `CONFIG GET save`.
    fn from_config(appendonly: &[String], save: &[String]) -> Self {
        let value = |answer: &[String]| answer.get(1).map(|v| v.trim().to_string());
        match (value(appendonly), value(save)) {
            (Some(aof), Some(save)) => {
                if aof.eq_ignore_ascii_case("yes") || !save.is_empty() {
                    Persistence::Durable
                } else {
                    Persistence::Volatile
                }
            }
            _ => Persistence::Unknown("CONFIG GET answered no value for appendonly or save".into()),
        }
    }
}

/// See the module docs.
pub struct RedisStore {
    shared: Arc<Shared>,
    scripts: Scripts,
    capacity: usize,
    /// Dropped with the store: ends the changes task.
    _stop: oneshot::Sender<()>,
    /// Dropped with the store: ends the `+switch-master` listener.
    _stop_switches: Option<oneshot::Sender<()>>,
}

impl RedisStore {
    /// One batch in one script call (see [`Store::apply`] for the chunks).
    async fn apply_one(
        &self,
        epoch: Epoch,
        batch: TaskBatch,
    ) -> Result<Vec<TaskEvent>, StoreError> {
        let now = now_ms();
        let keys = self.keys();
        let mut call = ScriptCall::new(&self.scripts.apply);
        call.key(&keys.epoch)
            .key(&keys.tasks)
            .key(&keys.statuses)
            .key(&keys.apps)
            .key(&keys.apps_rev)
            .key(&keys.events)
            .key(&keys.events_head)
            .key(&keys.view_rev)
            .key(&keys.statuses_rev)
            .key(&keys.view_log)
            .key(&keys.view_tracked)
            .arg(epoch.to_string())
            .arg(&keys.app_tasks_prefix)
            .arg(self.capacity)
            .arg(&keys.changes)
            .arg(batch.upserts.len());
        // The events each upsert would append, revision filled in later.
        let mut events = Vec::with_capacity(batch.upserts.len());
        for task in &batch.upserts {
            let event = TaskEvent::of_task(task, 0, now);
            let healthy = match task.healthy {
                None => "",
                Some(true) => "1",
                Some(false) => "0",
            };
            call.arg(&task.task_id)
                .arg(&task.app)
                .arg(encode(&**task)?)
                .arg(task.state.as_str())
                .arg(healthy)
                .arg(encode(&event)?);
            events.push(event);
        }
        call.arg(batch.removals.len());
        for id in &batch.removals {
            call.arg(id);
        }
        call.arg(batch.app_removals.len());
        for name in &batch.app_removals {
            call.arg(name);
        }
        call.arg(batch.statuses.len());
        for status in &batch.statuses {
            call.arg(&status.app).arg(encode(status.as_ref())?);
        }
        let reply: Vec<Value> = self
            .shared
            .write("the batch script", Lane::Main, &call)
            .await?;
        match status(&reply)? {
            "ok" => {}
            "fenced" => return Err(fenced(epoch, &reply)),
            "corrupt" => return Err(corrupt(&reply)),
            other => return Err(unexpected(other)),
        }
        let n = events.len();
        self.shared.observe_changes(Changes {
            apps: int_at(&reply, 1)?,
            events: int_at(&reply, 2)?,
            statuses: int_at(&reply, 3 + n)?,
            ..Changes::default()
        });
        let (logged, alive) = (int_at(&reply, 4 + n)?, int_at(&reply, 5 + n)?);
        let excess = view_log_excess(
            usize::try_from(logged).unwrap_or(usize::MAX),
            usize::try_from(alive).unwrap_or(usize::MAX),
        );
        if excess > 0 {
            // Housekeeping after the batch counted: a trim that fails is
            // tried again at the next app removal.
            let mut trim = ScriptCall::new(&self.scripts.trim_view_log);
            trim.key(&keys.view_log).key(&keys.view_floor).arg(excess);
            if let Err(e) = self
                .shared
                .write::<i64>("the view log trim", Lane::Main, &trim)
                .await
            {
                tracing::warn!(error = %e, excess, "cannot trim the view log; it is tried again at the next app removal");
            }
        }
        let mut appended = Vec::new();
        for (i, mut event) in events.into_iter().enumerate() {
            let revision = int_at(&reply, 3 + i)?;
            if revision > 0 {
                event.revision = revision;
                appended.push(event);
            }
        }
        Ok(appended)
    }

    /// Connects to `url` (`redis://[:password@]host:port/db`, or
    /// `redis+sentinel://[:password@]host:port,.../MASTER[/db]` to follow
    /// the primary the sentinels name), checks that Redis answers, decides
    /// how many replicas must confirm each write, and starts the changes
    /// feed.
    ///
    /// The lease has its own connection: acquire, renew and release never
    /// queue behind API reads and batch writes on the shared multiplexed
    /// one (a thousand watchers' reads once delayed renewals until the
    /// leader fenced itself). It is opened on first use, on the runtime of
    /// that first use: the elections run on their own thread and runtime
    /// (see `ha::run_on`), so this connection's driver runs there too,
    /// where a saturated API runtime cannot delay it; and opened again
    /// there after the store moved to a new primary.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let invalid = |e: String| {
            StoreError::Unavailable(format!("redis at {shown}: invalid URL or TLS setup: {e}"))
        };
        let mut switches = None;
        let (client, discovery) = if sentinel::is_sentinel_url(url) {
            let parsed = sentinel::SentinelUrl::parse(url).map_err(invalid)?;
            let ca = read_ca(&options).map_err(invalid)?;
            if parsed.tls {
                // rustls needs one process-wide crypto provider; a second
                // install (another store, or someone else) fails harmlessly.
                let _ = ::rustls::crypto::ring::default_provider().install_default();
            }
            let sentinels = parsed
                .sentinel_clients(options.sentinel_password.as_deref(), ca.clone())
                .map_err(|e| invalid(e.to_string()))?;
            let mut sentinel = parsed
                .client(options.sentinel_password.as_deref(), ca.clone())
                .map_err(|e| invalid(e.to_string()))?;
            let client =
                first_primary(&mut sentinel, &shown, &parsed.master, options.timeout).await?;
            let discovery = Discovery {
                sentinel,
                last_asked: None,
            };
            switches = Some(Switches {
                url: parsed,
                ca,
                sentinels,
            });
            (client, Some(tokio::sync::Mutex::new(discovery)))
        } else {
            (open_client(url, &options).map_err(invalid)?, None)
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = match tokio::time::timeout(
            options.timeout,
            ConnectionManager::new_with_config(client.clone(), config.clone()),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(StoreError::Unavailable(format!("redis at {shown}: {e}"))),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "redis at {shown} did not accept a connection within {:?}",
                    options.timeout
                )));
            }
        };
        let replicas = connected_replicas(&conn, &shown, options.timeout).await?;
        let min_replicas = match options.min_replicas {
            Some(n) => {
                if u64::from(n) > replicas {
                    tracing::warn!(
                        redis = %shown,
                        required = n,
                        connected = replicas,
                        "--redis-min-replicas asks for more replicas than the primary has now: \
                         writes fail (503) until enough replicas are connected"
                    );
                }
                n
            }
            None => u32::from(replicas > 0),
        };
        tracing::info!(redis = %shown, replicas, min_replicas, "redis store connected");
        let (changes, _) = watch::channel(Changes::default());
        let address = client.get_connection_info().addr().to_string();
        let shared = Arc::new(Shared {
            node: std::sync::RwLock::new(Node {
                client,
                conn,
                generation: 0,
                address,
            }),
            discovery,
            conn_config: config,
            lease: DedicatedConnection::default(),
            confirmed: DedicatedConnection::default(),
            fence: DedicatedConnection::default(),
            min_replicas,
            keys: Keys::new(&options.prefix),
            url: shown,
            timeout: options.timeout,
            poll_interval: options.changes_poll_interval.max(Duration::from_millis(10)),
            changes,
        });
        shared.refresh().await?;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(watch_changes(Arc::clone(&shared), stopped));
        let stop_switches = switches.map(|switches| {
            let (stop, stopped) = oneshot::channel();
            tokio::spawn(watch_switches(Arc::clone(&shared), switches, stopped));
            stop
        });
        Ok(Self {
            shared,
            scripts: Scripts::new(),
            capacity: options.event_log_capacity.max(1),
            _stop: stop,
            _stop_switches: stop_switches,
        })
    }

    /// How many replicas must confirm each write (`--redis-min-replicas`,
    /// or the default decided when connecting).
    pub fn min_replicas(&self) -> u32 {
        self.shared.min_replicas
    }

    /// `host:port` of the node the store writes to now (the primary).
    pub fn primary_address(&self) -> String {
        self.shared.node().address.clone()
    }

    /// Reads the JSON value kept under `key` (the lease, the Mesos link).
    async fn read_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let cmd = ::redis::cmd("GET").arg(key).clone();
        let raw: Option<String> = self
            .shared
            .read("GET", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        raw.map(|raw| decode(&raw, || key.to_string())).transpose()
    }

    fn conn(&self) -> ConnectionManager {
        self.shared.node().conn.clone()
    }

    /// Whether this Redis keeps its data across a restart (AOF or RDB save
    /// points), from `CONFIG GET appendonly` and `CONFIG GET save`. A
    /// volatile Redis that restarts forgets the framework id, and the next
    /// leader would register a second framework while the first one's
    /// tasks run on unseen. Managed Redis services often refuse CONFIG:
    /// that is [`Persistence::Unknown`], not an error.
    pub async fn persistence(&self) -> Result<Persistence, StoreError> {
        let conn = self.conn();
        let get = |name: &'static str| {
            let mut conn = conn.clone();
            async move {
                let answer: Result<Vec<String>, ::redis::RedisError> = ::redis::cmd("CONFIG")
                    .arg("GET")
                    .arg(name)
                    .query_async(&mut conn)
                    .await;
                answer
            }
        };
        let timeout = self.shared.timeout;
        let both = async { (get("appendonly").await, get("save").await) };
        let (appendonly, save) = tokio::time::timeout(timeout, both).await.map_err(|_| {
            StoreError::Unavailable(format!(
                "redis at {}: CONFIG GET did not answer within {timeout:?}",
                self.shared.url
            ))
        })?;
        match (appendonly, save) {
            (Ok(appendonly), Ok(save)) => Ok(Persistence::from_config(&appendonly, &save)),
            (Err(e), _) | (_, Err(e)) if e.is_io_error() || e.is_timeout() => Err(
                StoreError::Unavailable(format!("redis at {}: {e}", self.shared.url)),
            ),
            (Err(e), _) | (_, Err(e)) => Ok(Persistence::Unknown(e.to_string())),
        }
    }

    /// Every value of the hash at `key`, decoded (in no particular order).
    async fn read_hash<T: DeserializeOwned>(&self, key: &str) -> Result<Vec<T>, StoreError> {
        let cmd = ::redis::cmd("HGETALL").arg(key).clone();
        let all: Vec<(String, String)> = self
            .shared
            .read("HGETALL", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        all.iter()
            .map(|(field, raw)| decode(raw, || format!("{key} field {field}")))
            .collect()
    }

    fn keys(&self) -> &Keys {
        &self.shared.keys
    }

    async fn read_app(&self, name: &str) -> Result<Option<(String, AppRecord)>, StoreError> {
        let cmd = ::redis::cmd("HGET")
            .arg(&self.keys().apps)
            .arg(name)
            .clone();
        let raw: Option<String> = self
            .shared
            .read("HGET", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        raw.map(|raw| {
            let record = decode(&raw, || format!("{} field {name}", self.keys().apps))?;
            Ok((raw, record))
        })
        .transpose()
    }

    /// Writes `record` if the stored app is still `expected` (raw JSON,
    /// `None` = absent). False when it changed meanwhile.
    async fn cas_app(
        &self,
        expected: Option<&str>,
        record: &AppRecord,
    ) -> Result<bool, StoreError> {
        let new = encode(record)?;
        let mut call = ScriptCall::new(&self.scripts.cas_app);
        call.key(&self.keys().apps)
            .key(&self.keys().apps_rev)
            .key(&self.keys().events_head)
            .key(&self.keys().view_rev)
            .key(&self.keys().view_log)
            .key(&self.keys().view_tracked)
            .arg(record.name())
            .arg(expected.unwrap_or(""))
            .arg(new)
            .arg(&self.keys().changes);
        let reply: Vec<Value> = self
            .shared
            .write("the app write script", Lane::Main, &call)
            .await?;
        match status(&reply)? {
            "ok" => {
                let apps = int_at(&reply, 1)?;
                let events = int_at(&reply, 2)?;
                self.shared.observe(apps, events);
                Ok(true)
            }
            "changed" => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// The read–decide–compare-and-set loop of the app writes. `decide`
    /// gets the current record and answers either a final result (no write)
    /// or the record to write and the result to return once written.
    async fn update_loop<T>(
        &self,
        name: &str,
        decide: impl Fn(Option<AppRecord>) -> Result<Decision<T>, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let current = self.read_app(name).await?;
            let (raw, record) = match current {
                Some((raw, record)) => (Some(raw), Some(record)),
                None => (None, None),
            };
            match decide(record)? {
                Decision::Done(result) => return Ok(result),
                Decision::Write(record, result) => {
                    if self.cas_app(raw.as_deref(), &record).await? {
                        return Ok(result);
                    }
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "redis at {}: app {name:?} kept changing under {CAS_ATTEMPTS} write attempts; retry",
            self.shared.url
        )))
    }

    /// A multi-app deploy: read every app in one round trip, decide in
    /// Rust, write them all with one compare-and-set script; a lost race
    /// reads and decides again.
    async fn create_apps_cas(&self, specs: &[App]) -> Result<Vec<CreateOutcome>, StoreError> {
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for _ in 0..CAS_ATTEMPTS {
            let cmd = ::redis::cmd("HMGET")
                .arg(&self.keys().apps)
                .arg(&names)
                .clone();
            let raws: Vec<Option<String>> = self
                .shared
                .read("HMGET", |mut conn| {
                    let cmd = &cmd;
                    async move { cmd.query_async(&mut conn).await }
                })
                .await
                .map_err(|e| match e {
                    StoreError::Unavailable(why) => StoreError::Unavailable(format!(
                        "{why}; none of the {} apps was written: deploy them again",
                        specs.len()
                    )),
                    other => other,
                })?;
            let now = now_ms();
            // name -> (raw read, record now: stored or decided in this batch)
            let mut seen: std::collections::HashMap<&str, (String, Option<AppRecord>)> =
                std::collections::HashMap::new();
            for (name, raw) in names.iter().zip(&raws) {
                if seen.contains_key(name) {
                    continue;
                }
                let record = match raw {
                    Some(raw) => Some(decode(raw, || {
                        format!("{} field {name}", self.keys().apps)
                    })?),
                    None => None,
                };
                seen.insert(name, (raw.clone().unwrap_or_default(), record));
            }
            let mut out = Vec::with_capacity(specs.len());
            let mut writes: Vec<(&str, String)> = Vec::new();
            for spec in specs {
                let (_, current) = seen
                    .get_mut(spec.name.as_str())
                    .ok_or_else(|| StoreError::Corrupt(format!("{} not read", spec.name)))?;
                let outcome = app_write::create(current.as_ref(), spec, now)?;
                if let Some(record) = outcome.written() {
                    writes.push((spec.name.as_str(), encode(record)?));
                    *current = Some(record.clone());
                }
                out.push(outcome);
            }
            if writes.is_empty() {
                return Ok(out);
            }
            let mut call = ScriptCall::new(&self.scripts.cas_apps);
            call.key(&self.keys().apps)
                .key(&self.keys().apps_rev)
                .key(&self.keys().events_head)
                .key(&self.keys().view_rev)
                .key(&self.keys().view_log)
                .key(&self.keys().view_tracked)
                .arg(&self.keys().changes);
            for (name, new) in &writes {
                let (raw, _) = &seen[name];
                call.arg(*name).arg(raw.as_str()).arg(new.as_str());
            }
            let what = format!(
                "the write of {} apps (all or none of them; \
                 deploying the same apps again is safe)",
                writes.len()
            );
            let reply: Vec<Value> = self.shared.write(&what, Lane::Main, &call).await?;
            match status(&reply)? {
                "ok" => {
                    let apps = int_at(&reply, 1)?;
                    let events = int_at(&reply, 2)?;
                    self.shared.observe(apps, events);
                    return Ok(out);
                }
                "changed" => continue,
                other => return Err(unexpected(other)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "redis at {}: the apps kept changing under {CAS_ATTEMPTS} write attempts; retry",
            self.shared.url
        )))
    }

    /// Adds the read of the four counters of a [`ViewRevision`] to `pipe`.
    fn view_counters<'p>(&self, pipe: &'p mut ::redis::Pipeline) -> &'p mut ::redis::Pipeline {
        let keys = self.keys();
        pipe.cmd("MGET")
            .arg(&keys.view_rev)
            .arg(&keys.apps_rev)
            .arg(&keys.events_head)
            .arg(&keys.view_tracked)
    }

    fn parse_view_revision(
        &self,
        (views, apps, events, tracked): ViewCounters,
    ) -> Result<ViewRevision, StoreError> {
        let keys = self.keys();
        Ok(ViewRevision {
            views: parse_counter(&keys.view_rev, views)?,
            apps: parse_counter(&keys.apps_rev, apps)?,
            events: parse_counter(&keys.events_head, events)?,
            tracked: parse_counter(&keys.view_tracked, tracked)?,
        })
    }

    /// Parses a stream entry into an event.
    fn parse_event(&self, entry: &::redis::streams::StreamId) -> Result<TaskEvent, StoreError> {
        let what = || format!("{} entry {}", self.keys().events, entry.id);
        let revision = entry
            .id
            .strip_suffix("-0")
            .and_then(|r| r.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("{}: not a revision id", what())))?;
        let raw: String = entry
            .get("event")
            .ok_or_else(|| StoreError::Corrupt(format!("{}: no event field", what())))?;
        let mut event: TaskEvent = decode(&raw, what)?;
        event.revision = revision;
        Ok(event)
    }
}

enum Decision<T> {
    Done(T),
    Write(Box<AppRecord>, T),
}

impl<T: Written> Decision<T> {
    /// The write an app-write decision asks for, if any.
    fn of(outcome: T) -> Self {
        match outcome.written().cloned() {
            Some(record) => Decision::Write(Box::new(record), outcome),
            None => Decision::Done(outcome),
        }
    }
}

impl Store for RedisStore {
    async fn create_app(&self, spec: App) -> Result<CreateOutcome, StoreError> {
        self.update_loop(&spec.name, |existing| {
            app_write::create(existing.as_ref(), &spec, now_ms()).map(Decision::of)
        })
        .await
    }

    async fn create_apps(&self, specs: Vec<App>) -> Result<Vec<CreateOutcome>, StoreError> {
        self.create_apps_cas(&specs).await
    }

    async fn update_app(
        &self,
        spec: App,
        expected: Option<u64>,
    ) -> Result<UpdateOutcome, StoreError> {
        self.update_loop(&spec.name, |existing| {
            app_write::update(existing.as_ref(), &spec, expected, now_ms()).map(Decision::of)
        })
        .await
    }

    async fn kill_app(&self, name: &str, expected: Option<u64>) -> Result<AppRecord, StoreError> {
        self.update_loop(name, |existing| {
            app_write::kill(existing.as_ref(), name, expected, now_ms()).map(Decision::of)
        })
        .await
        .map(UpdateOutcome::into_record)
    }

    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        Ok(self.read_app(name).await?.map(|(_, record)| record))
    }

    async fn list_apps(&self) -> Result<Vec<Arc<AppRecord>>, StoreError> {
        let mut apps: Vec<AppRecord> = self.read_hash(&self.keys().apps).await?;
        apps.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        Ok(apps.into_iter().map(Arc::new).collect())
    }

    async fn list_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut tasks: Vec<TaskRecord> = self.read_hash(&self.keys().tasks).await?;
        tasks.sort_by(|a, b| {
            (&a.app, a.instance, &a.task_id).cmp(&(&b.app, b.instance, &b.task_id))
        });
        Ok(tasks)
    }

    async fn app_tasks(&self, app: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let mut call = self.scripts.app_tasks.prepare_invoke();
        call.key(self.keys().app_tasks(app)).key(&self.keys().tasks);
        let all: Vec<(String, String)> = self
            .shared
            .read("the app tasks script", |mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        let mut tasks = all
            .iter()
            .map(|(id, raw)| decode(raw, || format!("{} field {id}", self.keys().tasks)))
            .collect::<Result<Vec<TaskRecord>, _>>()?;
        tasks.sort_by(|a, b| (a.instance, &a.task_id).cmp(&(b.instance, &b.task_id)));
        Ok(tasks)
    }

    async fn view_revision(&self) -> Result<ViewRevision, StoreError> {
        let cmd = ::redis::cmd("MGET")
            .arg(&self.keys().view_rev)
            .arg(&self.keys().apps_rev)
            .arg(&self.keys().events_head)
            .arg(&self.keys().view_tracked)
            .clone();
        let counters: ViewCounters = self
            .shared
            .read("MGET", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        self.parse_view_revision(counters)
    }

    async fn view_snapshot(&self) -> Result<ViewSnapshot, StoreError> {
        let keys = self.keys();
        let mut pipe = ::redis::pipe();
        // MULTI: the counters and the three hashes are one cut.
        pipe.atomic();
        self.view_counters(&mut pipe)
            .cmd("HGETALL")
            .arg(&keys.apps)
            .cmd("HGETALL")
            .arg(&keys.tasks)
            .cmd("HGETALL")
            .arg(&keys.statuses);
        type Counters = ViewCounters;
        type Hash = Vec<(String, String)>;
        let (counters, apps, tasks, statuses): (Counters, Hash, Hash, Hash) = self
            .shared
            .read("the view snapshot read", |mut conn| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut conn).await }
            })
            .await?;
        let mut apps = apps
            .iter()
            .map(|(name, raw)| decode(raw, || format!("{} field {name}", keys.apps)))
            .collect::<Result<Vec<AppRecord>, _>>()?;
        apps.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        let apps = apps.into_iter().map(Arc::new).collect();
        let mut tasks = tasks
            .iter()
            .map(|(id, raw)| decode(raw, || format!("{} field {id}", keys.tasks)))
            .collect::<Result<Vec<TaskRecord>, _>>()?;
        tasks.sort_by(|a, b| {
            (&a.app, a.instance, &a.task_id).cmp(&(&b.app, b.instance, &b.task_id))
        });
        let statuses = statuses
            .iter()
            .map(|(app, raw)| {
                decode(raw, || format!("{} field {app}", keys.statuses)).map(Arc::new)
            })
            .collect::<Result<Vec<Arc<AppStatus>>, _>>()?;
        Ok(ViewSnapshot {
            revision: self.parse_view_revision(counters)?,
            apps,
            tasks: tasks.into_iter().map(Arc::new).collect(),
            statuses,
        })
    }

    async fn view_delta(&self, since: ViewRevision) -> Result<Option<ViewDelta>, StoreError> {
        let keys = self.keys();
        let mut call = self.scripts.view_delta.prepare_invoke();
        call.key(&keys.view_rev)
            .key(&keys.apps_rev)
            .key(&keys.events_head)
            .key(&keys.view_tracked)
            .key(&keys.view_floor)
            .key(&keys.view_log)
            .key(&keys.apps)
            .key(&keys.tasks)
            .key(&keys.statuses)
            .arg(since.views)
            .arg(since.tracked)
            .arg(&keys.app_tasks_prefix);
        let reply: Vec<Value> = self
            .shared
            .read("the view delta script", |mut conn| {
                let call = &call;
                async move { call.invoke_async(&mut conn).await }
            })
            .await?;
        match status(&reply)? {
            "full" => return Ok(None),
            "ok" => {}
            other => return Err(unexpected(other)),
        }
        let revision = ViewRevision {
            views: int_at(&reply, 1)?,
            apps: int_at(&reply, 2)?,
            events: int_at(&reply, 3)?,
            tracked: int_at(&reply, 4)?,
        };
        let mut apps = Vec::with_capacity(reply.len().saturating_sub(5));
        for entry in &reply[5..] {
            type Entry = (String, String, String, Vec<String>);
            let (name, record, status, tasks) =
                <Entry as ::redis::FromRedisValue>::from_redis_value_ref(entry).map_err(|e| {
                    StoreError::Corrupt(format!(
                        "the view delta script answered an entry that is not \
                         (name, app, status, tasks): {e}"
                    ))
                })?;
            let record = (!record.is_empty())
                .then(|| decode::<AppRecord>(&record, || format!("{} field {name}", keys.apps)))
                .transpose()?
                .map(Arc::new);
            let status = (!status.is_empty())
                .then(|| decode::<AppStatus>(&status, || format!("{} field {name}", keys.statuses)))
                .transpose()?
                .map(Arc::new);
            let mut tasks = tasks
                .iter()
                .map(|raw| {
                    decode::<TaskRecord>(raw, || format!("{} (a task of {name})", keys.tasks))
                })
                .collect::<Result<Vec<_>, _>>()?;
            tasks.sort_by(|a, b| (a.instance, &a.task_id).cmp(&(b.instance, &b.task_id)));
            apps.push(AppSlice {
                name,
                record,
                tasks: tasks.into_iter().map(Arc::new).collect(),
                status,
            });
        }
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(ViewDelta { revision, apps }))
    }

    async fn apply(&self, epoch: Epoch, batch: TaskBatch) -> Result<Vec<TaskEvent>, StoreError> {
        if batch.upserts.len() <= APPLY_CHUNK {
            return self.apply_one(epoch, batch).await;
        }
        // Redis runs one script at a time: a launch of 100,000 tasks in one
        // script held every other client (the lease's renewals among them)
        // for seconds, and the leader fenced itself. Chunks are fenced
        // each; a chunk that fails ends the batch, which leaves records of
        // tasks never launched, as a leader dying after its write would
        // (the next one reconciles them away). Removals and statuses go
        // with the last chunk, after every task.
        let TaskBatch {
            upserts,
            removals,
            app_removals,
            statuses,
        } = batch;
        let mut chunks: Vec<Vec<Arc<TaskRecord>>> =
            upserts.chunks(APPLY_CHUNK).map(<[_]>::to_vec).collect();
        let last = TaskBatch {
            upserts: chunks.pop().unwrap_or_default(),
            removals,
            app_removals,
            statuses,
        };
        let mut appended = Vec::new();
        for upserts in chunks {
            let chunk = TaskBatch {
                upserts,
                ..TaskBatch::default()
            };
            appended.extend(self.apply_one(epoch, chunk).await?);
        }
        appended.extend(self.apply_one(epoch, last).await?);
        Ok(appended)
    }

    async fn app_statuses(&self) -> Result<Vec<Arc<AppStatus>>, StoreError> {
        let cmd = ::redis::cmd("HGETALL").arg(&self.keys().statuses).clone();
        let raw: Vec<(String, String)> = self
            .shared
            .read("HGETALL", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        raw.iter()
            .map(|(app, raw)| {
                decode(raw, || format!("{} field {app}", self.keys().statuses)).map(Arc::new)
            })
            .collect()
    }

    async fn set_mesos_link(&self, epoch: Epoch, subscribed: bool) -> Result<(), StoreError> {
        let link = MesosLink {
            epoch,
            subscribed,
            updated_ms: now_ms(),
        };
        let keys = self.keys();
        let mut call = ScriptCall::new(&self.scripts.set_mesos_link);
        call.key(&keys.epoch)
            .key(&keys.mesos)
            .key(&keys.mesos_rev)
            .arg(epoch.to_string())
            .arg(encode(&link)?)
            .arg(&keys.changes);
        let reply: Vec<Value> = self
            .shared
            .write("the mesos link script", Lane::Main, &call)
            .await?;
        match status(&reply)? {
            "ok" => {
                self.shared.observe_changes(Changes {
                    mesos: int_at(&reply, 1)?,
                    epoch,
                    ..Changes::default()
                });
                Ok(())
            }
            "fenced" => Err(fenced(epoch, &reply)),
            other => Err(unexpected(other)),
        }
    }

    async fn mesos_link(&self) -> Result<Option<MesosLink>, StoreError> {
        self.read_json(&self.keys().mesos).await
    }

    async fn app_status(&self, app: &str) -> Result<Option<AppStatus>, StoreError> {
        let cmd = ::redis::cmd("HGET")
            .arg(&self.keys().statuses)
            .arg(app)
            .clone();
        let raw: Option<String> = self
            .shared
            .read("HGET", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        raw.map(|raw| decode(&raw, || format!("{} field {app}", self.keys().statuses)))
            .transpose()
    }

    async fn framework_id(&self) -> Result<Option<String>, StoreError> {
        let cmd = ::redis::cmd("GET").arg(&self.keys().framework_id).clone();
        self.shared
            .read("GET", |mut conn| {
                let cmd = &cmd;
                async move { cmd.query_async(&mut conn).await }
            })
            .await
    }

    async fn set_framework_id(&self, epoch: Epoch, id: &str) -> Result<(), StoreError> {
        let mut call = ScriptCall::new(&self.scripts.set_framework_id);
        call.key(&self.keys().epoch)
            .key(&self.keys().framework_id)
            .arg(epoch.to_string())
            .arg(id);
        let reply: Vec<Value> = self
            .shared
            .write("the framework id script", Lane::Main, &call)
            .await?;
        match status(&reply)? {
            "ok" => Ok(()),
            "fenced" => Err(fenced(epoch, &reply)),
            other => Err(unexpected(other)),
        }
    }

    async fn events_after(&self, after: u64, limit: usize) -> Result<EventPage, StoreError> {
        let keys = self.keys();
        let mut pipe = ::redis::pipe();
        pipe.atomic()
            .cmd("GET")
            .arg(&keys.events_head)
            .cmd("XRANGE")
            .arg(&keys.events)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .cmd("XRANGE")
            .arg(&keys.events)
            .arg(format!("{}-0", after.saturating_add(1)))
            .arg("+")
            .arg("COUNT")
            // COUNT 0 would mean "no limit" to some servers.
            .arg(limit.max(1));
        let (head, first, range): (
            Option<String>,
            ::redis::streams::StreamRangeReply,
            ::redis::streams::StreamRangeReply,
        ) = self
            .shared
            .read("the event log read", |mut conn| {
                let pipe = &pipe;
                async move { pipe.query_async(&mut conn).await }
            })
            .await?;
        let head = parse_counter(&keys.events_head, head)?;
        let oldest = match first.ids.first() {
            Some(entry) => self.parse_event(entry)?.revision,
            None => head + 1,
        };
        if after.saturating_add(1) < oldest && after < head {
            return Err(StoreError::Compacted {
                requested: after + 1,
                oldest,
            });
        }
        let events = if limit == 0 {
            Vec::new()
        } else {
            range
                .ids
                .iter()
                .map(|entry| self.parse_event(entry))
                .collect::<Result<Vec<_>, _>>()?
        };
        if !events.is_empty() && self.shared.min_replicas > 0 {
            // Read uncommitted otherwise: the primary shows a batch's
            // events before its WAIT confirmed them, and a watcher that
            // saw them would see other events under the same revisions
            // once a replica without them is promoted (the chaos soak on
            // Sentinel caught that). Replication is in order, so a write
            // made after this read and confirmed by enough replicas
            // proves they hold everything read; unconfirmed, nothing is
            // handed out (Unavailable: the caller reads again).
            let mut call = ScriptCall::new(&self.scripts.read_fence);
            call.key(&keys.read_fence);
            let _: i64 = self
                .shared
                .write("the read fence of the event log", Lane::Fence, &call)
                .await?;
        }
        Ok(EventPage { events, head })
    }

    fn changes(&self) -> watch::Receiver<Changes> {
        self.shared.changes.subscribe()
    }

    async fn try_acquire_lease(
        &self,
        instance_id: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<LeaseAttempt, StoreError> {
        let mut call = ScriptCall::new(&self.scripts.acquire_lease);
        call.key(&self.keys().lease)
            .key(&self.keys().epoch)
            .arg(instance_id)
            .arg(address)
            .arg(ttl_ms(ttl));
        let answer: redis::Value = self
            .shared
            .write("the lease acquisition script", Lane::Lease, &call)
            .await?;
        let raw = match answer {
            redis::Value::Int(left_ms) => {
                return Ok(LeaseAttempt::Held {
                    expires_in: u64::try_from(left_ms).ok().map(Duration::from_millis),
                });
            }
            other => <String as redis::FromRedisValue>::from_redis_value(other).map_err(|e| {
                StoreError::Corrupt(format!(
                    "the lease acquisition script answered neither a lease nor its remaining \
                     time ({e}); is another program writing {}?",
                    self.keys().lease
                ))
            })?,
        };
        let lease: LeaderInfo = decode(&raw, || self.keys().lease.clone())?;
        // Other instances see the new epoch at the feed's next re-read.
        self.shared.observe_changes(Changes {
            epoch: lease.epoch,
            ..Changes::default()
        });
        Ok(LeaseAttempt::Taken(lease))
    }

    async fn renew_lease(&self, lease: &LeaderInfo, ttl: Duration) -> Result<bool, StoreError> {
        let mut call = ScriptCall::new(&self.scripts.renew_lease);
        call.key(&self.keys().lease)
            .arg(&lease.instance_id)
            .arg(&lease.address)
            .arg(lease.epoch.to_string())
            .arg(ttl_ms(ttl));
        let renewed: i64 = self
            .shared
            .write("the lease renewal script", Lane::Lease, &call)
            .await?;
        Ok(renewed == 1)
    }

    async fn release_lease(&self, lease: &LeaderInfo) -> Result<(), StoreError> {
        let mut call = ScriptCall::new(&self.scripts.release_lease);
        call.key(&self.keys().lease)
            .arg(&lease.instance_id)
            .arg(&lease.address)
            .arg(lease.epoch.to_string());
        let _: i64 = self
            .shared
            .write("the lease release script", Lane::Lease, &call)
            .await?;
        Ok(())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, StoreError> {
        self.read_json(&self.keys().lease).await
    }
}

/// The changes feed's background task: see the module docs.
async fn watch_changes(shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut poll = tokio::time::interval(shared.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut messages: Option<::redis::aio::PubSubStream> = None;
    // The node generation the subscription was made on: after a failover
    // it listens to the new primary.
    let mut subscribed_on = shared.generation();
    let mut next_subscribe = tokio::time::Instant::now();
    loop {
        if messages.is_some() && subscribed_on != shared.generation() {
            messages = None;
            next_subscribe = tokio::time::Instant::now();
        }
        if messages.is_none() && tokio::time::Instant::now() >= next_subscribe {
            subscribed_on = shared.generation();
            let client = shared.client();
            tokio::select! {
                _ = &mut stop => return,
                stream = subscribe(&client, &shared) => messages = stream,
            }
            if messages.is_some() {
                // Whatever happened while we were not listening.
                let _ = shared.refresh().await;
            } else {
                next_subscribe = tokio::time::Instant::now() + RESUBSCRIBE_DELAY;
            }
        }
        // Some(message or end of stream), or None when it is time to retry
        // the subscription.
        let next_message = async {
            match messages.as_mut() {
                Some(stream) => Some(stream.next().await),
                None => {
                    tokio::time::sleep_until(next_subscribe).await;
                    None
                }
            }
        };
        tokio::select! {
            _ = &mut stop => return,
            message = next_message => match message {
                None => continue,
                Some(None) => {
                    tracing::warn!(redis = %shared.url, "changes subscription lost; resubscribing");
                    messages = None;
                    next_subscribe = tokio::time::Instant::now();
                    continue;
                }
                Some(Some(_)) => {}
            },
            _ = poll.tick() => {
                // A failover that no operation of ours has run into yet,
                // announced while `watch_switches` was not listening:
                // found within one poll.
                shared.rediscover(shared.generation()).await;
            }
        }
        if let Err(err) = shared.refresh().await {
            tracing::debug!(%err, "changes feed could not read the counters");
        }
    }
}

/// What the `+switch-master` listener needs: the sentinels to listen to,
/// and how to reach the primary one of them announces.
struct Switches {
    url: sentinel::SentinelUrl,
    ca: Option<Vec<u8>>,
    sentinels: Vec<Client>,
}

/// Listens to one sentinel's `+switch-master` at a time (the next one
/// when its connection is lost) and moves the store to the announced
/// primary at once: a failover is followed when the sentinels complete
/// it, not at the changes feed's next poll nor at the next failing
/// operation. The poll stays as the fallback for an announcement sent
/// while no one listened.
async fn watch_switches(shared: Arc<Shared>, switches: Switches, mut stop: oneshot::Receiver<()>) {
    if switches.sentinels.is_empty() {
        return;
    }
    let mut next = 0usize;
    loop {
        let client = &switches.sentinels[next % switches.sentinels.len()];
        next += 1;
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            Ok::<_, RedisError>(pubsub.into_on_message())
        };
        let subscribed = tokio::select! {
            _ = &mut stop => return,
            s = tokio::time::timeout(shared.timeout, attempt) => s,
        };
        match subscribed {
            Ok(Ok(mut messages)) => loop {
                let message = tokio::select! {
                    _ = &mut stop => return,
                    m = messages.next() => m,
                };
                let Some(message) = message else {
                    tracing::debug!(redis = %shared.url, "sentinel subscription lost; trying the next sentinel");
                    break;
                };
                let payload: String = message.get_payload().unwrap_or_default();
                let Some((host, port)) = sentinel::parse_switch(&payload, &switches.url.master)
                else {
                    continue;
                };
                match switches.url.node_client(&host, port, switches.ca.clone()) {
                    Ok(client) => shared.follow_announcement(client).await,
                    Err(err) => {
                        tracing::warn!(redis = %shared.url, %err, "cannot reach the announced primary; asking the sentinels");
                        shared.rediscover(shared.generation()).await;
                    }
                }
            },
            Ok(Err(err)) => {
                tracing::debug!(redis = %shared.url, %err, "cannot subscribe to a sentinel");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}

async fn subscribe(client: &Client, shared: &Shared) -> Option<::redis::aio::PubSubStream> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&shared.keys.changes).await?;
        Ok::<_, RedisError>(pubsub.into_on_message())
    };
    match tokio::time::timeout(shared.timeout, attempt).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(err)) => {
            tracing::debug!(redis = %shared.url, %err, "changes subscription failed");
            None
        }
        Err(_) => None,
    }
}

/// The PEM of `options.tls_ca_file`, if one is given.
fn read_ca(options: &RedisOptions) -> Result<Option<Vec<u8>>, String> {
    match &options.tls_ca_file {
        Some(path) => std::fs::read(path)
            .map(Some)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display())),
        None => Ok(None),
    }
}

/// `connected_slaves` of `INFO replication`: the replicas the primary
/// streams to now.
async fn connected_replicas(
    conn: &ConnectionManager,
    shown: &str,
    timeout: Duration,
) -> Result<u64, StoreError> {
    let mut conn = conn.clone();
    let info: String = match tokio::time::timeout(
        timeout,
        ::redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn),
    )
    .await
    {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => return Err(StoreError::Unavailable(format!("redis at {shown}: {e}"))),
        Err(_) => {
            return Err(StoreError::Unavailable(format!(
                "redis at {shown} did not answer INFO replication within {timeout:?}"
            )));
        }
    };
    Ok(parse_connected_replicas(&info))
}

fn parse_connected_replicas(info: &str) -> u64 {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("connected_slaves:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A client for `url`; `rediss://` gets rustls (ring), with the system's
/// trust store or `options.tls_ca_file`.
fn open_client(url: &str, options: &RedisOptions) -> Result<Client, String> {
    if !url.starts_with("rediss://") {
        return Client::open(url).map_err(|e| e.to_string());
    }
    // rustls needs one process-wide crypto provider; a second install
    // (another store, or someone else) fails harmlessly.
    let _ = ::rustls::crypto::ring::default_provider().install_default();
    let root_cert = read_ca(options)?;
    Client::build_with_tls(
        url,
        ::redis::TlsCertificates {
            client_tls: None,
            root_cert,
        },
    )
    .map_err(|e| e.to_string())
}

/// The URL with its password (if any) replaced, for messages.
/// `url` with its password replaced by `***`, fit for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("a record does not serialize: {e}")))
}

fn decode<T: DeserializeOwned>(raw: &str, what: impl FnOnce() -> String) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("{}: {e}", what())))
}

/// The raw counters of a [`ViewRevision`]: `view:rev`, `apps:rev`,
/// `events:head`, `view:tracked`.
type ViewCounters = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn parse_counter(key: &str, raw: Option<String>) -> Result<u64, StoreError> {
    match raw {
        None => Ok(0),
        Some(raw) => raw
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{key}: {raw:?} is not a counter"))),
    }
}

/// The status word of a script reply.
fn status(reply: &[Value]) -> Result<&str, StoreError> {
    match reply.first() {
        Some(Value::BulkString(bytes)) => std::str::from_utf8(bytes).map_err(|_| unexpected("?")),
        Some(Value::SimpleString(s)) => Ok(s),
        _ => Err(unexpected("an empty reply")),
    }
}

fn int_at(reply: &[Value], i: usize) -> Result<u64, StoreError> {
    match reply.get(i) {
        Some(Value::Int(n)) => u64::try_from(*n).map_err(|_| unexpected("a negative counter")),
        Some(Value::BulkString(bytes)) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| unexpected("a non-numeric counter")),
        _ => Err(unexpected("a short reply")),
    }
}

fn string_at(reply: &[Value], i: usize) -> String {
    match reply.get(i) {
        Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Some(Value::SimpleString(s)) => s.clone(),
        Some(Value::Int(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn fenced(offered: Epoch, reply: &[Value]) -> StoreError {
    match string_at(reply, 1).parse() {
        Ok(current) => StoreError::Fenced {
            offered,
            current: Epoch(current),
        },
        Err(_) => StoreError::Corrupt(format!(
            "the fencing epoch {:?} is not a number",
            string_at(reply, 1)
        )),
    }
}

fn corrupt(reply: &[Value]) -> StoreError {
    StoreError::Corrupt(format!("{}: not a valid record", string_at(reply, 1)))
}

fn unexpected(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a redis script answered {what}, which hydrogen does not expect"
    ))
}

#[cfg(test)]
mod persistence_tests {
    use super::{Failure, Persistence, classify, parse_connected_replicas};

    #[test]
    fn replicas_are_counted_from_info_replication() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=x\r\n";
        assert_eq!(parse_connected_replicas(info), 2);
        assert_eq!(parse_connected_replicas("role:master\r\n"), 0);
    }

    #[test]
    fn only_refusals_are_known_not_to_have_run() {
        let server = |code: &str| {
            ::redis::RedisError::from((
                ::redis::ErrorKind::Server(match code {
                    "READONLY" => ::redis::ServerErrorKind::ReadOnly,
                    "MASTERDOWN" => ::redis::ServerErrorKind::MasterDown,
                    _ => ::redis::ServerErrorKind::ResponseError,
                }),
                "from the server",
            ))
        };
        assert_eq!(classify(&server("READONLY")), Failure::NotApplied);
        assert_eq!(classify(&server("MASTERDOWN")), Failure::NotApplied);
        assert_eq!(classify(&server("ERR")), Failure::Other);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            classify(&::redis::RedisError::from(refused)),
            Failure::NotApplied
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            classify(&::redis::RedisError::from(reset)),
            Failure::Unknown
        );
    }

    fn answer(name: &str, value: &str) -> Vec<String> {
        vec![name.to_string(), value.to_string()]
    }

    #[test]
    fn volatile_only_without_aof_and_save_points() {
        let p =
            |aof, save| Persistence::from_config(&answer("appendonly", aof), &answer("save", save));
        assert_eq!(p("no", ""), Persistence::Volatile);
        assert_eq!(p("no", "3600 1 300 100"), Persistence::Durable);
        assert_eq!(p("yes", ""), Persistence::Durable);
        assert!(matches!(
            Persistence::from_config(&[], &answer("save", "")),
            Persistence::Unknown(_)
        ));
    }
}
