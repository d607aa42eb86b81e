//! Relaunch backoff per app: after each failure the next launch waits
//! `initial × factor^(failures−1)`, capped at `max`, so a crash-looping app
//! costs Mesos one launch per backoff period instead of one per offer. The
//! count resets once a task of the app has stayed ready for `reset_after`.
//!
//! Time is passed in (`Instant`), so tests step it by hand.

use std::collections::HashMap;
use std::time::{Duration, Instant};

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

#[derive(Debug, Clone, Copy, Default)]
struct AppBackoff {
    failures: u32,
    until: Option<Instant>,
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

    /// The delay after `failures` consecutive failures.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(failures - 1).unwrap_or(i32::MAX);
        let factor = self.config.factor.max(1.0).powi(exponent);
        let secs = self.config.initial.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.config.max.as_secs_f64() {
            self.config.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// A task of `app` failed at `now`.
    pub fn record_failure(&mut self, app: &str, now: Instant) {
        let failures = self
            .apps
            .get(app)
            .map_or(0, |b| b.failures)
            .saturating_add(1);
        let until = now + self.delay(failures);
        self.apps.insert(
            app.to_string(),
            AppBackoff {
                failures,
                until: Some(until),
            },
        );
    }

    /// A task of `app` has been ready since `ready_since`.
    pub fn record_ready(&mut self, app: &str, ready_since: Instant, now: Instant) {
        if now.saturating_duration_since(ready_since) >= self.config.reset_after {
            self.apps.remove(app);
        }
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
        let b = Backoffs::new(config());
        let delays: Vec<u64> = (0..7).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, vec![0, 1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn failures_block_then_release_then_reset() {
        let mut b = Backoffs::new(config());
        let t0 = Instant::now();
        assert_eq!(b.blocked_until("a", t0), None);
        b.record_failure("a", t0);
        b.record_failure("a", t0);
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
