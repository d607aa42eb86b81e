//! The one JSON object a chaos run prints last: seed, duration, faults by
//! kind, writes by outcome, convergence times, what the storms, batch
//! deploys and returning agents came to, violations by invariant (every
//! invariant named, zero included, so a missing key is never read as
//! "none").

use std::collections::BTreeMap;

use serde::Serialize;

/// Convergence times over the rounds, seconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Convergence {
    pub rounds: usize,
    pub p50: Option<f64>,
    pub max: Option<f64>,
}

impl Convergence {
    /// From the converged rounds' times (rounds that never converged are
    /// violations, not samples).
    pub fn of(mut seconds: Vec<f64>) -> Self {
        seconds.sort_by(f64::total_cmp);
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        Self {
            rounds: seconds.len(),
            p50: (!seconds.is_empty()).then(|| round(seconds[(seconds.len() - 1) / 2])),
            max: seconds.last().copied().map(round),
        }
    }
}

/// The watcher storms, summed over the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StormSummary {
    pub storms: usize,
    /// Watchers that opened, over all storms.
    pub sse_watchers: usize,
    pub grpc_watchers: usize,
    pub seconds: f64,
    /// Events delivered, over all watchers.
    pub events_delivered: u64,
    /// Live delivery latency (now minus the event's timestamp), sampled.
    pub delivery_ms_p50: Option<u64>,
    pub delivery_ms_p99: Option<u64>,
    pub delivery_ms_max: Option<u64>,
    pub leadership_changes: usize,
    /// Failed renewals the leader counted during storms.
    pub lease_renewal_failures: f64,
    /// The leader's RSS with a storm's watchers open, largest seen.
    pub leader_rss_mb_max: Option<f64>,
}

impl StormSummary {
    /// Sums storms up; `latencies_ms` are every storm's samples.
    pub fn of(figures: &[super::storm::StormFigures]) -> Self {
        let mut lat: Vec<u64> = figures
            .iter()
            .flat_map(|f| f.latencies_ms.iter().copied())
            .collect();
        lat.sort_unstable();
        let at = |q: f64| {
            (!lat.is_empty()).then(|| {
                let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
                lat[i]
            })
        };
        let round = |v: f64| (v * 10.0).round() / 10.0;
        Self {
            storms: figures.len(),
            sse_watchers: figures.iter().map(|f| f.sse_opened).sum(),
            grpc_watchers: figures.iter().map(|f| f.grpc_opened).sum(),
            seconds: round(figures.iter().map(|f| f.seconds).sum()),
            events_delivered: figures.iter().map(|f| f.events_delivered).sum(),
            delivery_ms_p50: at(0.5),
            delivery_ms_p99: at(0.99),
            delivery_ms_max: lat.last().copied(),
            leadership_changes: figures.iter().map(|f| f.leadership_changes).sum(),
            lease_renewal_failures: figures
                .iter()
                .filter_map(|f| f.lease_renewal_failures)
                .sum(),
            leader_rss_mb_max: figures
                .iter()
                .filter_map(|f| f.leader_rss_mb)
                .max_by(f64::total_cmp)
                .map(round),
        }
    }
}

/// The batch deploys during Redis stalls.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BatchSummary {
    pub batches: usize,
    pub apps_each: usize,
    pub acknowledged: usize,
    pub refused: usize,
    pub unknown: usize,
    /// How they settled: every app written, or none.
    pub written_all: usize,
    pub written_none: usize,
}

/// Agents that came back after their tasks were replaced.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReturnSummary {
    /// Returns after every lost task had a replacement running.
    pub returned_after_replacement: u64,
    /// Stale copies brought back next to a replacement.
    pub stale_copies: u64,
    /// Seconds until each such slot was down to one task.
    pub resolved_seconds: Convergence,
}

/// The run's result.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    pub duration_seconds: f64,
    pub agents: usize,
    pub instances: usize,
    pub faults: BTreeMap<String, u64>,
    pub writes: BTreeMap<String, u64>,
    pub task_events: u64,
    pub convergence_seconds: Convergence,
    pub watcher_storms: StormSummary,
    pub batch_deploys: BatchSummary,
    pub agent_returns: ReturnSummary,
    pub violations: BTreeMap<String, u64>,
}

impl Summary {
    pub fn total_violations(&self) -> u64 {
        self.violations.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p50_is_the_lower_median_and_empty_has_none() {
        assert_eq!(
            Convergence::of(vec![3.0, 1.0, 2.0, 10.0]),
            Convergence {
                rounds: 4,
                p50: Some(2.0),
                max: Some(10.0)
            }
        );
        assert_eq!(
            Convergence::of(Vec::new()),
            Convergence {
                rounds: 0,
                p50: None,
                max: None
            }
        );
    }
}
