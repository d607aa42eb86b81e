//! Leader election over the store's lease: every Hydrogen instance runs
//! [`run`]; the one holding the lease runs the scheduler for that lease's
//! fencing epoch, the others wait to take over.
//!
//! The leader renews its lease every `renew_interval`. It fences itself:
//! when no renewal has been confirmed for `ttl − safety_margin` (measured
//! from the moment the last confirmed renewal was *sent*, so network delay
//! only makes it stop earlier), it cancels its scheduler — which drops the
//! Mesos subscription and issues no further call — before the lease can
//! expire by its own clock and another instance can take over. Its store
//! writes are fenced by epoch in any case (invariant 2 of the design,
//! `docs/design.md#invariants`).
//!
//! A graceful stop releases the lease, so a planned handoff takes one
//! acquisition attempt instead of a TTL.
//!
//! A standby keeps a copy of the state current while another instance
//! leads ([`Standby`]), on the scheduler's runtime, so taking over reads
//! only what changed since.
//!
//! An acquisition whose answer was lost (the store stalled past our
//! timeout) may still run later and leave a lease naming us that we do not
//! know we hold: a ghost. After such an error, every "held by someone"
//! answer is checked against the lease's holder, and a lease naming us is
//! released at once and acquired again properly.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::scheduler::runtime::{Scheduler, SchedulerConfig};
use crate::scheduler::standby::Standby;
use crate::store::{LeaderInfo, LeaseAttempt, Store};

/// Why this instance refuses to lead (a volatile store, a framework of
/// ours the store forgot), shared by the election loop and the scheduler
/// with `/readyz`, which reports it.
#[derive(Debug, Clone, Default)]
pub struct Refusal(Arc<std::sync::Mutex<Option<String>>>);

impl Refusal {
    /// Sets (or, with `None`, clears) the reason.
    pub fn set(&self, why: Option<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// The current reason, if any.
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Lease timings and who we are.
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// Unique per process (e.g. hostname + random suffix).
    pub instance_id: String,
    /// Where this instance's API is reachable, for `/readyz` of the others.
    pub address: String,
    pub lease_ttl: Duration,
    pub renew_interval: Duration,
    /// Stop leading this long before the lease would expire.
    pub safety_margin: Duration,
    /// Pause between acquisition attempts while another instance leads.
    pub acquire_interval: Duration,
}

impl HaConfig {
    pub fn new(instance_id: String, address: String) -> Self {
        Self {
            instance_id,
            address,
            // Short on purpose: a standby takes over within about 1.5 s of
            // a leader's death (the failover target is 2 s), while a live
            // leader renews six times per TTL.
            lease_ttl: Duration::from_millis(1500),
            renew_interval: Duration::from_millis(250),
            safety_margin: Duration::from_millis(500),
            acquire_interval: Duration::from_millis(100),
        }
    }
}

/// Runs elections and the scheduler until `cancel` fires, on the current
/// runtime, for callers that do not follow the lease (tests, the
/// benchmark); [`run_dedicated`] publishes it for `/readyz`.
pub async fn run<S: Store>(
    store: Arc<S>,
    config: HaConfig,
    scheduler: SchedulerConfig,
    cancel: CancellationToken,
) {
    let (leadership, _) = watch::channel(None);
    let here = tokio::runtime::Handle::current();
    run_on(store, config, scheduler, leadership, cancel, here).await;
}

/// Runs elections and lease renewals on its own OS thread and
/// single-threaded runtime, and the scheduler on `scheduler_runtime`;
/// returns when `cancel` fires and the thread ended. A busy API (a
/// thousand watchers on two cores) then cannot delay a renewal until the
/// leader fences itself: the lease has a thread to itself (and, in Redis,
/// its own connection, opened from that thread).
pub async fn run_dedicated<S: Store>(
    store: Arc<S>,
    config: HaConfig,
    scheduler: SchedulerConfig,
    leadership: watch::Sender<Option<LeaderInfo>>,
    cancel: CancellationToken,
) {
    let scheduler_runtime = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("hydrogen-lease".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "cannot build the lease runtime");
                    return;
                }
            };
            runtime.block_on(run_on(
                store,
                config,
                scheduler,
                leadership,
                cancel,
                scheduler_runtime,
            ));
            drop(done_tx);
        });
    match spawned {
        Ok(_) => {
            let _ = done_rx.await;
        }
        Err(e) => warn!(error = %e, "cannot start the lease thread; this instance will not lead"),
    }
}

/// [`run`] with the scheduler spawned on `scheduler_runtime`.
pub async fn run_on<S: Store>(
    store: Arc<S>,
    config: HaConfig,
    scheduler: SchedulerConfig,
    leadership: watch::Sender<Option<LeaderInfo>>,
    cancel: CancellationToken,
    scheduler_runtime: tokio::runtime::Handle,
) {
    // When the answer of an acquisition was lost (an error: the script may
    // still run in the store after a stall), until then.
    let mut unsettled_until: Option<Instant> = None;
    let standby = Standby::new();
    // Ends with the election loop: dropped below on every return.
    let following = cancel.child_token();
    let _stop_following = following.clone().drop_guard();
    scheduler_runtime.spawn(Arc::clone(&standby).follow(
        store.clone(),
        leadership.subscribe(),
        following,
    ));
    loop {
        let lease = tokio::select! {
            _ = cancel.cancelled() => return,
            lease = store.try_acquire_lease(&config.instance_id, &config.address, config.lease_ttl) => lease,
        };
        let lease = match lease {
            Ok(LeaseAttempt::Taken(lease)) => lease,
            Ok(LeaseAttempt::Held { expires_in }) => {
                if unsettled_until.is_some_and(|until| Instant::now() < until)
                    && settle_ghost_lease(store.as_ref(), &config).await
                {
                    // Released: take it properly at once.
                    continue;
                }
                wait(
                    &cancel,
                    next_attempt_in(config.acquire_interval, expires_in),
                )
                .await;
                continue;
            }
            Err(e) => {
                warn!(error = %e, "cannot reach the store to elect a leader");
                // Whatever ran of it ran by the time the store answers
                // again; a lease's life after that is one TTL at most.
                unsettled_until = Some(Instant::now() + config.lease_ttl * 2);
                wait(&cancel, config.acquire_interval).await;
                continue;
            }
        };
        unsettled_until = None;
        info!(epoch = lease.epoch.0, instance = %config.instance_id, "leading");
        metrics::gauge!("hydrogen_leader").set(1.0);
        metrics::gauge!("hydrogen_leader_epoch").set(lease.epoch.0 as f64);
        leadership.send_replace(Some(lease.clone()));
        lead(
            store.clone(),
            &config,
            scheduler.clone(),
            &standby,
            &lease,
            &cancel,
            &scheduler_runtime,
        )
        .await;
        leadership.send_replace(None);
        metrics::gauge!("hydrogen_leader").set(0.0);
        metrics::gauge!("hydrogen_scheduler_launch_ready").set(0.0);
        metrics::gauge!("hydrogen_mesos_subscribed").set(0.0);
        if let Err(e) = store.release_lease(&lease).await {
            warn!(error = %e, "could not release the lease; it will expire");
        }
        info!(epoch = lease.epoch.0, "no longer leading");
        if cancel.is_cancelled() {
            return;
        }
        wait(&cancel, config.acquire_interval).await;
    }
}

/// After an acquisition whose answer was lost: when the store's lease
/// names this instance although it does not lead, that acquisition ran
/// after all (a ghost lease: `/readyz` of every instance would call us the
/// leader while no scheduler runs, for up to a TTL). Releases it at once
/// (compare-and-delete of exactly that lease) and says whether it did.
async fn settle_ghost_lease<S: Store>(store: &S, config: &HaConfig) -> bool {
    let Ok(Some(holder)) = store.leader().await else {
        return false;
    };
    if holder.instance_id != config.instance_id {
        return false;
    }
    match store.release_lease(&holder).await {
        Ok(()) => {
            warn!(
                epoch = holder.epoch.0,
                "released a lease whose acquisition answer was lost (it ran after a store stall)"
            );
            true
        }
        Err(e) => {
            warn!(error = %e, epoch = holder.epoch.0, "cannot release a lease whose acquisition answer was lost; it will expire");
            false
        }
    }
}

/// How long a follower waits before its next attempt: the attempt period,
/// or less when the holder's lease lapses sooner, so a dead leader's lease
/// is taken the moment it lapses rather than up to a period later (half a
/// period on average, about 50 ms of a failover).
fn next_attempt_in(period: Duration, expires_in: Option<Duration>) -> Duration {
    // Past the lapse by a hair: the store's clock decides, and an attempt
    // a moment early would find the lease still held.
    const PAST_THE_LAPSE: Duration = Duration::from_millis(2);
    expires_in.map_or(period, |left| period.min(left + PAST_THE_LAPSE))
}

async fn wait(cancel: &CancellationToken, period: Duration) {
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = tokio::time::sleep(period) => {}
    }
}

/// One leadership term: the scheduler runs while renewals succeed.
async fn lead<S: Store>(
    store: Arc<S>,
    config: &HaConfig,
    scheduler: SchedulerConfig,
    standby: &Arc<Standby>,
    lease: &LeaderInfo,
    cancel: &CancellationToken,
    scheduler_runtime: &tokio::runtime::Handle,
) {
    let term = cancel.child_token();
    let mut running = scheduler_runtime.spawn(
        Scheduler::new(store.clone(), lease.epoch, scheduler)
            .with_standby(Arc::clone(standby))
            .run(term.clone()),
    );
    let valid_for = config.lease_ttl.saturating_sub(config.safety_margin);
    let mut fence_at = Instant::now() + valid_for;
    let mut next_renew = Instant::now() + config.renew_interval;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            done = &mut running => {
                match done {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!(error = %e, "scheduler stopped"),
                    Err(e) => warn!(error = %e, "scheduler task failed"),
                }
                return;
            }
            _ = tokio::time::sleep_until(fence_at) => {
                warn!(epoch = lease.epoch.0, "lease renewal unconfirmed; fencing myself before it can expire");
                break;
            }
            _ = tokio::time::sleep_until(next_renew) => {
                let sent = Instant::now();
                next_renew = sent + config.renew_interval;
                let renewal = tokio::time::timeout(config.renew_interval, store.renew_lease(lease, config.lease_ttl)).await;
                match renewal {
                    Ok(Ok(true)) => {
                        metrics::counter!("hydrogen_lease_renewals_total").increment(1);
                        fence_at = sent + valid_for;
                    }
                    Ok(Ok(false)) => {
                        warn!(epoch = lease.epoch.0, "lease lost to another instance");
                        break;
                    }
                    Ok(Err(e)) => {
                        metrics::counter!("hydrogen_lease_renewal_failures_total").increment(1);
                        warn!(error = %e, "lease renewal failed");
                    }
                    Err(_) => {
                        metrics::counter!("hydrogen_lease_renewal_failures_total").increment(1);
                        warn!("lease renewal timed out");
                    }
                }
            }
        }
    }
    term.cancel();
    let _ = running.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_attempts_again_at_the_lapse_when_it_comes_before_the_period() {
        let period = Duration::from_millis(100);
        assert_eq!(next_attempt_in(period, None), period);
        assert_eq!(
            next_attempt_in(period, Some(Duration::from_millis(900))),
            period
        );
        let soon = next_attempt_in(period, Some(Duration::from_millis(30)));
        assert!(
            soon > Duration::from_millis(30) && soon < period,
            "{soon:?}"
        );
        // A lease that lapses as we look: try again at once, not a period later.
        assert!(next_attempt_in(period, Some(Duration::ZERO)) < Duration::from_millis(10));
    }
}
