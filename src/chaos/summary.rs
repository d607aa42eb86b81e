//! The one JSON object a chaos run prints last: seed, duration, faults by
//! kind, writes by outcome, convergence times, violations by invariant
//! (every invariant named, zero included, so a missing key is never read as
//! "none").

use std::collections::BTreeMap;

use serde::Serialize;

/// Convergence times over the rounds, seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
