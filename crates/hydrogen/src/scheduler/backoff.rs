//! Relaunch backoff per app: after each failure the next launch waits
//! `initial × factor^(failures−1)`, capped at `max`, so a crash-looping app
//! costs Mesos one launch per backoff period instead of one per offer. The
//! count resets once a task of the app that became ready after the last
//! failure has stayed ready for `reset_after` (a task that was already
//! running says nothing about whether the failing slot recovered).
//!
//! An app's `retry` overrides the global tunables ([`RetryPolicy`]): `time`
//! is its first delay, `exp_backoff: false` keeps every delay at `time`, and
//! `total_retries` caps the relaunches after consecutive failures: one more
//! failure and the app gives up until it is updated or a task recovers.
//!
//! Time is passed in (`Instant`), so tests step it by hand.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::spec::Retry;

/// Backoff tunables.
#[derive(Debug, Clone, Copy)]
pub struct BackoffConfig {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    /// A task ready this long resets the app's failure count.
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(60),
        }
    }
}

impl BackoffConfig {
    /// The policy of an app with this `retry` (none: the global tunables).
    pub fn policy(&self, retry: Option<&Retry>) -> RetryPolicy {
        let initial = retry.and_then(|r| r.time).map_or(self.initial, |secs| {
            Duration::try_from_secs_f64(secs).unwrap_or(self.max)
        });
        let factor = if retry.and_then(|r| r.exp_backoff) == Some(false) {
            1.0
        } else {
            self.factor
        };
        RetryPolicy {
            initial,
            factor,
            // An app asking for a longer first delay than the cap gets it.
            max: self.max.max(initial),
            limit: retry.and_then(|r| r.total_retries),
        }
    }
}

/// How one app backs off after failures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    /// Relaunches allowed after consecutive failures; `None`: no limit.
    pub limit: Option<u32>,
}

impl RetryPolicy {
    /// The delay after `failures` consecutive failures.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(failures - 1).unwrap_or(i32::MAX);
        let factor = self.factor.max(1.0).powi(exponent);
        let secs = self.initial.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct AppBackoff {
    failures: u32,
    until: Option<Instant>,
    last_failure: Instant,
    gave_up: bool,
}

/// Backoff state of every app.
#[derive(Debug, Default)]
pub struct Backoffs {
    config: BackoffConfig,
    apps: HashMap<String, AppBackoff>,
}

impl Backoffs {
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            apps: HashMap::new(),
        }
    }

    /// The policy of an app with this `retry`.
    pub fn policy(&self, retry: Option<&Retry>) -> RetryPolicy {
        self.config.policy(retry)
    }

    /// A task of an app with `policy` failed at `now`.
    pub fn record_failure(&mut self, app: &str, policy: RetryPolicy, now: Instant) {
        let failures = self
            .apps
            .get(app)
            .map_or(0, |b| b.failures)
            .saturating_add(1);
        let gave_up = policy.limit.is_some_and(|limit| failures > limit);
        let until = (!gave_up).then(|| now + policy.delay(failures));
        self.apps.insert(
            app.to_string(),
            AppBackoff {
                failures,
                until,
                last_failure: now,
                gave_up,
            },
        );
    }

    /// A task of `app` has been ready since `ready_since`.
    pub fn record_ready(&mut self, app: &str, ready_since: Instant, now: Instant) {
        let recovered = self.apps.get(app).is_some_and(|b| {
            ready_since >= b.last_failure
                && now.saturating_duration_since(ready_since) >= self.config.reset_after
        });
        if recovered {
            self.apps.remove(app);
        }
    }

    /// Whether `app` used up its `retry.total_retries`.
    pub fn gave_up(&self, app: &str) -> bool {
        self.apps.get(app).is_some_and(|b| b.gave_up)
    }

    /// When `app` may launch again, if it must wait.
    pub fn blocked_until(&self, app: &str, now: Instant) -> Option<Instant> {
        self.apps
            .get(app)
            .and_then(|b| b.until)
            .filter(|until| *until > now)
    }

    pub fn failures(&self, app: &str) -> u32 {
        self.apps.get(app).map_or(0, |b| b.failures)
    }

    /// The earliest moment a backoff ends, to wake up for it.
    pub fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.apps
            .values()
            .filter_map(|b| b.until)
            .filter(|u| *u > now)
            .min()
    }

    /// The apps with failures on record.
    pub fn apps(&self) -> impl Iterator<Item = &str> {
        self.apps.keys().map(String::as_str)
    }

    pub fn forget(&mut self, app: &str) {
        self.apps.remove(app);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(10),
            reset_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn delays_grow_and_cap() {
        let p = config().policy(None);
        let delays: Vec<u64> = (0..7).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(delays, vec![0, 1, 2, 4, 8, 10, 10]);
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(10));
    }

    fn retry(time: Option<f64>, exp: Option<bool>, total: Option<u32>) -> Retry {
        Retry {
            time,
            exp_backoff: exp,
            total_retries: total,
        }
    }

    #[test]
    fn an_apps_retry_overrides_the_global_tunables() {
        let c = config();
        let steady = c.policy(Some(&retry(Some(3.0), Some(false), None)));
        let delays: Vec<u64> = (1..5).map(|n| steady.delay(n).as_secs()).collect();
        assert_eq!(delays, vec![3, 3, 3, 3], "exp_backoff false keeps time");
        let growing = c.policy(Some(&retry(Some(0.5), None, None)));
        let delays: Vec<u128> = (1..4).map(|n| growing.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![500, 1000, 2000], "the factor still applies");
        let long = c.policy(Some(&retry(Some(60.0), None, None)));
        assert_eq!(
            long.delay(3),
            Duration::from_secs(60),
            "a longer first delay beats the cap"
        );
        assert_eq!(c.policy(Some(&retry(None, None, None))), c.policy(None));
    }

    #[test]
    fn total_retries_caps_relaunches_after_consecutive_failures() {
        let mut b = Backoffs::new(config());
        let policy = b.policy(Some(&retry(None, None, Some(2))));
        let t0 = Instant::now();
        b.record_failure("a", policy, t0);
        b.record_failure("a", policy, t0);
        assert!(!b.gave_up("a"), "two relaunches allowed");
        assert!(b.blocked_until("a", t0).is_some());
        b.record_failure("a", policy, t0);
        assert!(b.gave_up("a"));
        assert_eq!(
            b.blocked_until("a", t0),
            None,
            "no timer: it waits for a change"
        );
        assert_eq!(b.next_expiry(t0), None);
        assert_eq!(b.failures("a"), 3);
        // Zero relaunches: the first failure gives up.
        let never = b.policy(Some(&retry(None, None, Some(0))));
        b.record_failure("z", never, t0);
        assert!(b.gave_up("z"));
        b.forget("a");
        assert!(!b.gave_up("a"), "an update starts over");
    }

    #[test]
    fn only_a_task_ready_since_the_last_failure_resets_the_count() {
        let mut b = Backoffs::new(config());
        let policy = b.policy(None);
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(100);
        b.record_failure("a", policy, later);
        // A sibling ready since before the failure, for a long time.
        b.record_ready("a", t0, later + Duration::from_secs(60));
        assert_eq!(b.failures("a"), 1);
        b.record_ready("a", later, later + Duration::from_secs(31));
        assert_eq!(b.failures("a"), 0);
    }

    #[test]
    fn failures_block_then_release_then_reset() {
        let mut b = Backoffs::new(config());
        let t0 = Instant::now();
        assert_eq!(b.blocked_until("a", t0), None);
        let policy = b.policy(None);
        b.record_failure("a", policy, t0);
        b.record_failure("a", policy, t0);
        assert_eq!(b.blocked_until("a", t0), Some(t0 + Duration::from_secs(2)));
        assert_eq!(b.blocked_until("a", t0 + Duration::from_secs(3)), None);
        assert_eq!(b.next_expiry(t0), Some(t0 + Duration::from_secs(2)));
        // Ready, but not long enough: the count stays.
        b.record_ready("a", t0, t0 + Duration::from_secs(5));
        assert_eq!(b.failures("a"), 2);
        b.record_ready("a", t0, t0 + Duration::from_secs(31));
        assert_eq!(b.failures("a"), 0);
        assert_eq!(b.failures("b"), 0, "apps are independent");
    }
}
