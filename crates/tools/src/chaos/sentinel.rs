//! The Sentinel topology of `hydrogen chaos --sentinel`: a primary, two
//! replicas and three `redis-server --sentinel` (quorum 2) on loopback,
//! the instances pointed at them with `redis+sentinel://`.
//!
//! The cluster keeps the node the sentinels name as primary in
//! `Cluster::redis` (so the faults that freeze or wait for "Redis" act on
//! the primary) and the other nodes here. The `redis_primary_kill` fault
//! kill -9s the primary; its repair waits for the sentinels to promote a
//! replica, makes that node `Cluster::redis`, and restarts the dead one on
//! its port and directory as a replica of the new primary, never as a
//! primary: a node that came back as a primary with its old data would
//! take writes the sentinels are about to throw away.

use std::path::Path;
use std::time::Duration;

use super::ChaosError;
use super::procs::{Redis, SentinelProc};

/// The name the sentinels monitor the primary under.
pub const MASTER: &str = "chaos";

/// A primary silent this long is failed over: short, so a kill costs
/// seconds, as in the Sentinel tests.
const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// How long the topology may take to form, or a promotion to happen.
const SETTLE: Duration = Duration::from_secs(60);

/// The replicas and sentinels (the primary is `Cluster::redis`).
pub struct Topology {
    pub replicas: Vec<Redis>,
    pub sentinels: Vec<SentinelProc>,
}

/// One command to the Redis or sentinel on loopback `port`, within 2 s.
async fn query<T: ::redis::FromRedisValue>(port: u16, cmd: &::redis::Cmd) -> Option<T> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let attempt = async {
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        cmd.query_async(&mut conn).await.ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

/// A field of `INFO replication` on the node on `port`.
async fn replication_field(port: u16, field: &str) -> Option<String> {
    let info: String = query(port, ::redis::cmd("INFO").arg("replication")).await?;
    info.lines().find_map(|l| {
        l.trim()
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::to_string)
    })
}

async fn settle(what: &str, mut ok: impl AsyncFnMut() -> bool) -> Result<(), ChaosError> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !ok().await {
        if tokio::time::Instant::now() > deadline {
            return Err(ChaosError::Start(what.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

impl Topology {
    /// Starts the primary, its two replicas and the sentinels, their files
    /// under `dir`, and waits until the sentinels know every replica and
    /// each other (a failover needs both). Returns the primary apart.
    pub async fn start(binary: &Path, dir: &Path) -> Result<(Redis, Self), ChaosError> {
        let node_dir = |name: &str| -> Result<std::path::PathBuf, ChaosError> {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).map_err(|e| ChaosError::Spawn {
                what: format!("directory {}", d.display()),
                reason: e.to_string(),
            })?;
            Ok(d)
        };
        let primary = Redis::start(binary, &node_dir("redis-0")?).await?;
        let mut replicas = Vec::new();
        for i in 1..=2 {
            let d = node_dir(&format!("redis-{i}"))?;
            replicas.push(Redis::start_replica_of(binary, &d, Some(primary.port)).await?);
        }
        let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
        settle("the Redis replicas (never in sync)", async || {
            let mut linked = true;
            for port in &ports {
                linked &= replication_field(*port, "master_link_status")
                    .await
                    .as_deref()
                    == Some("up");
            }
            linked
                && replication_field(primary.port, "connected_slaves")
                    .await
                    .as_deref()
                    == Some("2")
        })
        .await?;
        let sentinel_dir = node_dir("sentinels")?;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(
                SentinelProc::start(binary, &sentinel_dir, MASTER, primary.port, 2, DOWN_AFTER)
                    .await?,
            );
        }
        let sentinel_ports: Vec<u16> = sentinels.iter().map(|s| s.port).collect();
        settle(
            "the sentinels (they never learnt the replicas and each other)",
            async || {
                for port in &sentinel_ports {
                    let replicas: Option<Vec<::redis::Value>> =
                        query(*port, ::redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER)).await;
                    let others: Option<Vec<::redis::Value>> =
                        query(*port, ::redis::cmd("SENTINEL").arg("SENTINELS").arg(MASTER)).await;
                    if !(replicas.is_some_and(|r| r.len() == 2)
                        && others.is_some_and(|o| o.len() == 2))
                    {
                        return false;
                    }
                }
                true
            },
        )
        .await?;
        Ok((
            primary,
            Self {
                replicas,
                sentinels,
            },
        ))
    }

    /// `redis+sentinel://` naming every sentinel.
    pub fn url(&self) -> String {
        hydrogen_testkit::redis_server::sentinel_url(self.sentinels.iter().map(|s| s.port), MASTER)
    }

    /// The primary's port as the first sentinel that answers names it.
    pub async fn named_primary(&self) -> Option<u16> {
        for s in &self.sentinels {
            let addr: Option<Vec<String>> = query(
                s.port,
                ::redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER),
            )
            .await;
            if let Some(port) = addr.and_then(|a| a.get(1)?.parse().ok()) {
                return Some(port);
            }
        }
        None
    }

    /// Every replica runs and is not frozen.
    pub fn whole(&self) -> bool {
        self.replicas.iter().all(Redis::is_serving)
    }

    /// Ready for the next primary kill: the sentinels name `primary`, it
    /// streams to both replicas, and both say their link is up. Killing
    /// it earlier would test a half-formed topology (a replica still in
    /// its full sync cannot be promoted), not Hydrogen.
    pub async fn settled(&self, primary: &Redis) -> bool {
        if !(primary.is_serving() && self.whole()) {
            return false;
        }
        if self.named_primary().await != Some(primary.port)
            || replication_field(primary.port, "connected_slaves")
                .await
                .as_deref()
                != Some("2")
        {
            return false;
        }
        for r in &self.replicas {
            if replication_field(r.port, "master_link_status")
                .await
                .as_deref()
                != Some("up")
            {
                return false;
            }
        }
        true
    }

    /// When the sentinels name one of the replicas as primary and it
    /// answers, swaps it with `primary` (so `primary` is always the node
    /// they name). True when `primary` is the named, serving node.
    pub async fn follow(&mut self, primary: &mut Redis) -> bool {
        let Some(named) = self.named_primary().await else {
            return false;
        };
        if named == primary.port {
            return primary.is_serving();
        }
        let Some(r) = self.replicas.iter_mut().find(|r| r.port == named) else {
            return false;
        };
        if !r.is_serving() {
            return false;
        }
        std::mem::swap(r, primary);
        true
    }

    /// After `primary` was killed: waits until the sentinels promoted a
    /// replica and follows it, then restarts every dead node as a replica
    /// of the new primary.
    pub async fn rejoin(&mut self, primary: &mut Redis) -> Result<(), ChaosError> {
        let deadline = tokio::time::Instant::now() + SETTLE;
        while !(self.follow(primary).await) {
            if tokio::time::Instant::now() > deadline {
                return Err(ChaosError::Start(
                    "a promoted replica (the sentinels named none within 60 s)".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for r in self.replicas.iter_mut().filter(|r| !r.is_running()) {
            r.replica_of = Some(primary.port);
            r.spawn().await?;
        }
        Ok(())
    }
}
