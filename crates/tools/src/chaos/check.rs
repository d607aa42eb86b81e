//! The invariants, checked against the simulator's view (what Mesos runs)
//! and the API's view (what Hydrogen holds):
//!
//! - `duplicate_slot`: at most one live task per app slot and spec
//!   generation (the workload labels tasks with it) among the tasks Mesos
//!   can reach. A rolling update legitimately runs an
//!   old and a new version side by side; an agent coming back after its
//!   tasks were replaced legitimately shows two tasks of one version until
//!   Hydrogen kills the extra one. So a doubled (slot, version) counts only
//!   when the same tasks stay doubled for [`DUPLICATE_GRACE`].
//! - `convergence`: once faults stop, every app runs exactly its declared
//!   instances (one RUNNING task of the current spec per slot, healthy
//!   when the app has a health check, as both views agree) within the bound.
//! - `orphan_task`: once converged, Mesos runs no task of ours that no app
//!   owns (a killed app's, a slot past `instances`, an unknown id). Orphans
//!   also prevent convergence; when convergence times out with orphans
//!   present they are reported as such.
//! - `lost_write`: every instance answers, for every app, a spec the
//!   workload model allows (see `workload`).
//! - `watch_exactly_once`: see [`WatchLog`]; the watchers of a
//!   `watcher_storm` too (see `storm`, [`compare_storm`]).
//! - `batch_all_or_nothing`: a batch deploy during a Redis stall left every
//!   instance with all of its apps or none, as the answer said (see
//!   `batch`).
//! - `leader_kept`: a watcher storm did not change the leader (see `storm`).
//! - `framework_kept`: the simulated master knows one framework, the one
//!   registered first (checked after every round, in `super::run`).
//!
//! An agent that comes back after its tasks were replaced (`agent_return`)
//! brings stale copies into slots that run elsewhere: each such pair must
//! be down to one live task within [`DUPLICATE_GRACE`], whatever the two
//! versions (`duplicate_slot`, see [`DuplicateMonitor::expect_resolved`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::fixture::{ApiTask, SimTask};
use super::storm::StormRecord;
use super::workload::Spec;

/// How long a doubled slot may last (agent return, failover reconcile).
pub const DUPLICATE_GRACE: Duration = Duration::from_secs(15);

/// Every invariant, as named in the summary.
pub const INVARIANTS: &[&str] = &[
    "duplicate_slot",
    "convergence",
    "orphan_task",
    "lost_write",
    "watch_exactly_once",
    "batch_all_or_nothing",
    "leader_kept",
    "framework_kept",
];

/// Violations found so far.
#[derive(Debug, Default)]
pub struct Violations {
    pub counts: BTreeMap<&'static str, u64>,
    pub details: Vec<String>,
}

impl Violations {
    pub fn record(&mut self, invariant: &'static str, detail: String) {
        *self.counts.entry(invariant).or_default() += 1;
        self.details.push(format!("{invariant}: {detail}"));
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// The app and slot of one of our task ids.
pub fn slot(id: &str) -> Option<(String, u32)> {
    hydrogen::scheduler::launch::parse_task_id(id).map(|(a, i)| (a.to_string(), i))
}

/// Live where Mesos can reach it: it may be running.
fn active(t: &SimTask) -> bool {
    !t.unreachable
        && matches!(
            t.state.as_str(),
            "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING"
        )
}

/// Watches for doubled slots across samples.
#[derive(Debug, Default)]
pub struct DuplicateMonitor {
    /// Doubled task sets and when each was first seen.
    seen: BTreeMap<BTreeSet<String>, Instant>,
    reported: BTreeSet<BTreeSet<String>>,
    /// (stale copy an agent brought back, the task that replaced it) and
    /// when the agent came back.
    returned: Vec<(String, String, Instant)>,
    /// Stale copies brought back into replaced slots, in all.
    pub brought_back: u64,
    /// Seconds each such pair took to come down to one live task.
    pub resolved_after: Vec<f64>,
}

impl DuplicateMonitor {
    /// An agent came back at `now` with `stale` tasks whose slots run
    /// `replacement`s: one of each pair must go within the grace.
    pub fn expect_resolved(&mut self, now: Instant, pairs: Vec<(String, String)>) {
        self.brought_back += pairs.len() as u64;
        self.returned
            .extend(pairs.into_iter().map(|(s, r)| (s, r, now)));
    }

    pub fn observe(&mut self, now: Instant, sim: &[SimTask], violations: &mut Violations) {
        self.observe_returned(now, sim, violations);
        let mut groups: BTreeMap<(String, u32, u32), BTreeSet<String>> = BTreeMap::new();
        for t in sim {
            if !active(t) {
                continue;
            }
            let (Some((app, instance)), Some(generation)) = (slot(&t.id), t.generation) else {
                continue;
            };
            groups
                .entry((app, instance, generation))
                .or_default()
                .insert(t.id.clone());
        }
        let doubled: BTreeSet<BTreeSet<String>> =
            groups.into_values().filter(|s| s.len() > 1).collect();
        self.seen.retain(|k, _| doubled.contains(k));
        for set in doubled {
            let since = *self.seen.entry(set.clone()).or_insert(now);
            if now.duration_since(since) >= DUPLICATE_GRACE && self.reported.insert(set.clone()) {
                violations.record(
                    "duplicate_slot",
                    format!(
                        "tasks {set:?} share a slot and version for {:.1} s",
                        now.duration_since(since).as_secs_f64()
                    ),
                );
            }
        }
    }

    fn observe_returned(&mut self, now: Instant, sim: &[SimTask], violations: &mut Violations) {
        let live: BTreeSet<&str> = sim
            .iter()
            .filter(|t| active(t))
            .map(|t| t.id.as_str())
            .collect();
        let mut kept = Vec::new();
        for (stale, replacement, since) in std::mem::take(&mut self.returned) {
            let waited = now.duration_since(since);
            if !live.contains(stale.as_str()) || !live.contains(replacement.as_str()) {
                self.resolved_after.push(waited.as_secs_f64());
            } else if waited >= DUPLICATE_GRACE {
                violations.record(
                    "duplicate_slot",
                    format!(
                        "{stale}, brought back by its agent, and {replacement}, which replaced it, both still run {:.1} s later",
                        waited.as_secs_f64()
                    ),
                );
            } else {
                kept.push((stale, replacement, since));
            }
        }
        self.returned = kept;
    }
}

/// Why the cluster is not converged yet (empty: converged).
pub fn not_converged(
    expected: &BTreeMap<String, Spec>,
    sim: &[SimTask],
    api: &BTreeMap<String, ApiTask>,
) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut orphans = Vec::new();
    let mut filled: BTreeSet<(String, u32)> = BTreeSet::new();
    for t in sim.iter().filter(|t| t.is_live()) {
        let owner = slot(&t.id).and_then(|(app, i)| {
            let e = expected.get(&app)?;
            (i < e.instances).then_some((app, i, e))
        });
        let Some((app, i, e)) = owner else {
            orphans.push(format!("{} ({})", t.id, t.state));
            continue;
        };
        let good = t.state == "TASK_RUNNING"
            && !t.unreachable
            && t.generation == Some(e.generation)
            && (!e.health_checked || t.healthy == Some(true))
            && api
                .get(&t.id)
                .is_some_and(|a| a.state == "TASK_RUNNING" && a.app == app && a.instance == i);
        if !good || !filled.insert((app.clone(), i)) {
            problems.push(format!(
                "{} {} unreachable={} healthy={:?} generation={:?} (want {}) api={:?}",
                t.id,
                t.state,
                t.unreachable,
                t.healthy,
                t.generation,
                e.generation,
                api.get(&t.id).map(|a| a.state.as_str())
            ));
        }
    }
    for (app, e) in expected {
        for i in 0..e.instances {
            if !filled.contains(&(app.clone(), i)) {
                problems.push(format!("{app}.{i}: no running task"));
            }
        }
    }
    // The API must not believe in live tasks Mesos does not run.
    let sim_ids: BTreeSet<&str> = sim
        .iter()
        .filter(|t| t.is_live())
        .map(|t| t.id.as_str())
        .collect();
    for (id, t) in api {
        let live = matches!(
            t.state.as_str(),
            "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_KILLING"
        );
        if live && !sim_ids.contains(id.as_str()) {
            problems.push(format!(
                "{id}: the API says {} but Mesos has no such task",
                t.state
            ));
        }
    }
    (problems, orphans)
}

/// One task event as a watch delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub revision: u64,
    pub task_id: String,
    pub state: i32,
    pub healthy: Option<bool>,
    pub message: String,
}

/// What one instance's watch delivered, across reconnects and restarts of
/// that instance.
///
/// "Exactly once, in order" is defined against the store's event log, the
/// one order there is: read in full from revision 0 by a fresh watch once
/// the cluster is quiet, it is the reference. A watch passes when (1) the
/// revisions it delivered strictly increase (nothing repeated or reordered,
/// even across reconnects that resume after the last revision seen), and (2)
/// once it caught up, its events are exactly the reference's, revision by
/// revision, with the same task, state, health and message. Per task this
/// is the task's changes, each once, in the order they happened. The
/// reference itself must show each change once: per task, no two
/// consecutive identical events (a retried status update recorded twice),
/// nothing after a terminal state, and no return to STAGING or STARTING
/// after RUNNING.
#[derive(Debug, Default)]
pub struct WatchLog {
    pub events: Vec<Seen>,
    /// Reconnects the client did not hide: the stream ended with an error.
    pub errors: Vec<String>,
    pub out_of_order: Vec<String>,
}

impl WatchLog {
    pub fn push(&mut self, event: Seen) {
        if let Some(last) = self.events.last()
            && event.revision <= last.revision
        {
            self.out_of_order.push(format!(
                "revision {} delivered after {}",
                event.revision, last.revision
            ));
            return;
        }
        self.events.push(event);
    }

    pub fn last_revision(&self) -> u64 {
        self.events.last().map_or(0, |e| e.revision)
    }
}

/// Problems of the reference log itself.
pub fn check_reference(reference: &[Seen]) -> Vec<String> {
    use hydrogen::api::proto::TaskState as S;
    let terminal = |s: i32| {
        S::try_from(s).is_ok_and(|s| {
            matches!(
                s,
                S::Finished
                    | S::Failed
                    | S::Killed
                    | S::Error
                    | S::Lost
                    | S::Dropped
                    | S::Gone
                    | S::GoneByOperator
            )
        })
    };
    let mut problems = Vec::new();
    let mut last: BTreeMap<&str, &Seen> = BTreeMap::new();
    let mut ran: BTreeSet<&str> = BTreeSet::new();
    for (i, e) in reference.iter().enumerate() {
        if i > 0 && e.revision <= reference[i - 1].revision {
            problems.push(format!(
                "log revision {} after {}",
                e.revision,
                reference[i - 1].revision
            ));
        }
        if let Some(prev) = last.get(e.task_id.as_str()) {
            if prev.state == e.state && prev.healthy == e.healthy && prev.message == e.message {
                problems.push(format!(
                    "task {} state {} recorded twice (revisions {} and {})",
                    e.task_id, e.state, prev.revision, e.revision
                ));
            }
            if terminal(prev.state) {
                problems.push(format!(
                    "task {} changed to {} at revision {} after terminal {} at {}",
                    e.task_id, e.state, e.revision, prev.state, prev.revision
                ));
            }
        }
        let early = e.state == S::Staging as i32 || e.state == S::Starting as i32;
        if early && ran.contains(e.task_id.as_str()) {
            problems.push(format!(
                "task {} back to {} at revision {} after RUNNING",
                e.task_id, e.state, e.revision
            ));
        }
        if e.state == S::Running as i32 {
            ran.insert(e.task_id.as_str());
        }
        last.insert(e.task_id.as_str(), e);
    }
    problems
}

/// How a storm's watchers differ from the reference: each must have
/// delivered exactly the log's revisions within (`after`, `until`], with
/// the log's content (empty: none).
pub fn compare_storm(reference: &[Seen], storm: &StormRecord) -> Vec<String> {
    let expected: Vec<u64> = reference
        .iter()
        .map(|e| e.revision)
        .filter(|r| *r > storm.after && *r <= storm.until)
        .collect();
    let want: BTreeSet<u64> = expected.iter().copied().collect();
    let mut problems = Vec::new();
    for (seq, count) in &storm.sequences {
        if *seq == expected {
            continue;
        }
        let got: BTreeSet<u64> = seq.iter().copied().collect();
        let missed: Vec<u64> = want.difference(&got).copied().take(10).collect();
        let extra: Vec<u64> = got.difference(&want).copied().take(10).collect();
        problems.push(format!(
            "{count} storm watchers (after revision {}) delivered {} of the log's {} events up to {}: missed {missed:?}, not in the log {extra:?}",
            storm.after,
            seq.len(),
            expected.len(),
            storm.until
        ));
    }
    let by_rev: BTreeMap<u64, &Seen> = reference.iter().map(|e| (e.revision, e)).collect();
    for (rev, e) in &storm.events {
        if let Some(r) = by_rev.get(rev)
            && *r != e
        {
            problems.push(format!(
                "storm watchers got revision {rev} as {e:?}, the log holds {r:?}"
            ));
        }
    }
    problems
}

/// How a watch's events differ from the reference (empty: none).
pub fn compare_watch(reference: &[Seen], watched: &WatchLog) -> Vec<String> {
    let mut problems: Vec<String> = watched.out_of_order.clone();
    problems.extend(watched.errors.iter().cloned());
    let by_rev: BTreeMap<u64, &Seen> = reference.iter().map(|e| (e.revision, e)).collect();
    let got: BTreeMap<u64, &Seen> = watched.events.iter().map(|e| (e.revision, e)).collect();
    for (rev, e) in &by_rev {
        match got.get(rev) {
            None => problems.push(format!("missed revision {rev} ({} {})", e.task_id, e.state)),
            Some(g) if g != e => problems.push(format!("revision {rev} differs: {g:?} vs {e:?}")),
            Some(_) => {}
        }
    }
    for rev in got.keys() {
        if !by_rev.contains_key(rev) {
            problems.push(format!("revision {rev} is not in the log"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(revision: u64, task: &str, state: i32) -> Seen {
        Seen {
            revision,
            task_id: task.into(),
            state,
            healthy: None,
            message: String::new(),
        }
    }

    #[test]
    fn a_watch_must_match_the_log_revision_by_revision() {
        let reference = vec![seen(1, "a", 1), seen(2, "a", 3), seen(3, "b", 1)];
        let mut w = WatchLog::default();
        for e in &reference {
            w.push(e.clone());
        }
        assert!(compare_watch(&reference, &w).is_empty());
        // A repeat after a reconnect is refused and reported.
        w.push(seen(2, "a", 3));
        assert_eq!(compare_watch(&reference, &w).len(), 1);
        let mut gap = WatchLog::default();
        gap.push(reference[0].clone());
        gap.push(reference[2].clone());
        assert_eq!(compare_watch(&reference, &gap).len(), 1);
    }

    #[test]
    fn the_log_shows_each_change_once_and_in_order() {
        let ok = vec![
            seen(1, "a", 1),
            seen(2, "a", 2),
            seen(3, "a", 3),
            seen(5, "a", 7),
        ];
        assert!(check_reference(&ok).is_empty());
        let twice = vec![seen(1, "a", 3), seen(2, "a", 3)];
        assert_eq!(check_reference(&twice).len(), 1);
        let after_terminal = vec![seen(1, "a", 7), seen(2, "a", 3)];
        assert_eq!(check_reference(&after_terminal).len(), 1);
        let backwards = vec![seen(1, "a", 3), seen(2, "a", 2)];
        assert_eq!(check_reference(&backwards).len(), 1);
    }

    #[test]
    fn a_slot_doubled_past_the_grace_is_reported_once() {
        let t = |id: &str| SimTask {
            id: id.into(),
            agent_id: "a1".into(),
            state: "TASK_RUNNING".into(),
            unreachable: false,
            healthy: None,
            generation: Some(1),
        };
        let a = format!("web.0.{}", "a".repeat(32));
        let b = format!("web.0.{}", "b".repeat(32));
        let sim = vec![t(&a), t(&b)];
        let mut m = DuplicateMonitor::default();
        let mut v = Violations::default();
        let t0 = Instant::now();
        m.observe(t0, &sim, &mut v);
        m.observe(t0 + Duration::from_secs(5), &sim, &mut v);
        assert_eq!(v.total(), 0, "within the grace");
        m.observe(t0 + DUPLICATE_GRACE, &sim, &mut v);
        m.observe(t0 + DUPLICATE_GRACE * 2, &sim, &mut v);
        assert_eq!(v.total(), 1);
    }

    fn running(id: &str, generation: u32) -> SimTask {
        SimTask {
            id: id.into(),
            agent_id: "a1".into(),
            state: "TASK_RUNNING".into(),
            unreachable: false,
            healthy: None,
            generation: Some(generation),
        }
    }

    #[test]
    fn a_stale_copy_next_to_its_replacement_must_go_within_the_grace() {
        let stale = format!("web.0.{}", "a".repeat(32));
        let fresh = format!("web.0.{}", "b".repeat(32));
        // Different versions: the generic check would let them be.
        let both = vec![running(&stale, 1), running(&fresh, 2)];
        let t0 = Instant::now();
        let mut m = DuplicateMonitor::default();
        let mut v = Violations::default();
        m.expect_resolved(t0, vec![(stale.clone(), fresh.clone())]);
        m.observe(t0 + Duration::from_secs(1), &both, &mut v);
        assert_eq!(v.total(), 0, "within the grace");
        m.observe(t0 + DUPLICATE_GRACE, &both, &mut v);
        assert_eq!(v.counts.get("duplicate_slot"), Some(&1));
        m.observe(t0 + DUPLICATE_GRACE * 2, &both, &mut v);
        assert_eq!(v.total(), 1, "reported once");
        assert_eq!(m.brought_back, 1);

        // Killed in time: resolved, and how long it took is kept.
        let mut m = DuplicateMonitor::default();
        let mut v = Violations::default();
        m.expect_resolved(t0, vec![(stale.clone(), fresh.clone())]);
        let mut killed = running(&stale, 1);
        killed.state = "TASK_KILLED".into();
        m.observe(
            t0 + Duration::from_secs(2),
            &[killed, running(&fresh, 2)],
            &mut v,
        );
        m.observe(t0 + DUPLICATE_GRACE * 2, &both, &mut v);
        assert_eq!(v.total(), 0);
        assert_eq!(m.resolved_after, vec![2.0]);
    }

    #[test]
    fn storm_watchers_must_deliver_the_log_within_their_range() {
        let reference = vec![
            seen(1, "a", 1),
            seen(2, "a", 3),
            seen(4, "b", 1),
            seen(6, "b", 3),
        ];
        let record = |seqs: Vec<(Vec<u64>, usize)>| StormRecord {
            after: 1,
            until: 4,
            sequences: seqs.into_iter().collect(),
            events: [(2, seen(2, "a", 3)), (4, seen(4, "b", 1))]
                .into_iter()
                .collect(),
        };
        assert!(compare_storm(&reference, &record(vec![(vec![2, 4], 1000)])).is_empty());
        let gap = record(vec![(vec![2, 4], 999), (vec![4], 1)]);
        let problems = compare_storm(&reference, &gap);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("missed [2]"), "{problems:?}");
        let mut differs = record(vec![(vec![2, 4], 1000)]);
        differs.events.insert(4, seen(4, "b", 3));
        assert_eq!(compare_storm(&reference, &differs).len(), 1);
    }
}
