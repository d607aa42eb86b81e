//! `hydrogen chaos`: a seeded soak test of high availability with real
//! processes. It starts `redis-server`, `hydrogen sim` with many agents and
//! several `hydrogen serve` sharing the Redis store, then runs rounds until
//! the duration is used up. Each round has a fault window, where a seeded
//! random mix of writes (deploy, rolling update, scale, kill, through any
//! instance) and faults (`faults::KINDS`) runs, and a quiet period: every
//! fault is repaired, then the cluster must converge within a bound. The
//! invariants (`check`) are checked throughout (doubled slots), at the end
//! of each round (convergence, orphans, acknowledged writes on every
//! instance) and at the end of the run (every instance's task watch against
//! the event log).
//!
//! The seed fixes the sequence of decisions (which write, which fault, which
//! victim, how long); the cluster's timing is real, so a replay with the
//! same seed injects the same schedule into a run that may interleave
//! differently. Children are killed when the run ends, fails or is
//! interrupted (Ctrl-C); their logs (warnings, or the `HYDROGEN_CHAOS_LOG`
//! filter) are kept in the run directory when a violation was found or
//! `HYDROGEN_CHAOS_LOG` is set.
//!
//! With `--sentinel` the store is a Redis primary, two replicas and three
//! sentinels instead of one `redis-server` (`sentinel`), and the faults
//! include killing the primary. Throughout, the simulated master must know
//! one framework, the first one registered (`framework_kept`).
//!
//! Files: `procs` (the child processes), `fixture` (the cluster and its two
//! views), `sentinel` (the Sentinel topology), `workload` (writes and the model of what they allow), `faults`,
//! with `batch` (the batch deploy of a Redis stall) and `storm` (the
//! watcher storm), `check` (the invariants), `summary` (the JSON line).

pub mod batch;
pub mod check;
pub mod faults;
pub mod fixture;
pub mod procs;
pub mod sentinel;
pub mod storm;
pub mod summary;
pub mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;

use batch::{Batch, BatchAnswer, Settled};
use check::{Seen, Violations, WatchLog};
use faults::{FaultConfig, Faults};
use fixture::Cluster;
use storm::StormRecord;
use summary::{BatchSummary, Convergence, ReturnSummary, StormSummary, Summary};
use workload::{Spec, Workload};

/// Why a chaos run could not be carried out (violations are results, not
/// errors).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// A child process or a resource could not be created.
    #[error("cannot start {what}: {reason}")]
    Spawn { what: String, reason: String },
    /// A child started but never reported that it listens.
    #[error("{0} did not start in time")]
    Start(String),
    /// No instance became leader after startup.
    #[error("no Hydrogen instance became leader within {0:?}; see the logs in {1}")]
    NoLeader(Duration, String),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// Total length of the fault windows.
    pub duration: Duration,
    pub seed: u64,
    pub agents: usize,
    pub instances: usize,
    /// Length of one round's fault window.
    pub round: Duration,
    /// How long the cluster may take to converge once faults stop.
    pub converge_within: Duration,
    pub redis_server: PathBuf,
    /// A Sentinel topology (primary, two replicas, three sentinels) instead
    /// of one Redis.
    pub sentinel: bool,
    /// The instances' `--redis-min-replicas` on the Sentinel topology.
    pub redis_min_replicas: u32,
    pub hydrogen: PathBuf,
    /// Which faults, and the size of the storms and batch deploys.
    pub faults: FaultConfig,
}

/// A run's result and where its logs are.
pub struct Report {
    pub summary: Summary,
    /// The first violations, for people.
    pub details: Vec<String>,
    /// The run directory, kept when there were violations.
    pub logs: Option<PathBuf>,
}

/// Runs the soak; Ctrl-C stops it and kills every child.
pub async fn run(config: ChaosConfig) -> Result<Report, ChaosError> {
    let dir = std::env::temp_dir().join(format!(
        "hydrogen-chaos-{}-{}",
        config.seed,
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| ChaosError::Spawn {
        what: format!("run directory {}", dir.display()),
        reason: e.to_string(),
    })?;
    let result = tokio::select! {
        r = run_in(&config, &dir) => r,
        _ = tokio::signal::ctrl_c() => Err(ChaosError::Interrupted),
    };
    // Verbose child logs were asked for to be read: keep them too.
    let keep = match &result {
        Ok(report) => {
            report.summary.total_violations() > 0
                || std::env::var_os("HYDROGEN_CHAOS_LOG").is_some()
        }
        Err(_) => true,
    };
    if keep {
        return result.map(|mut r| {
            r.logs = Some(dir);
            r
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_in(config: &ChaosConfig, dir: &std::path::Path) -> Result<Report, ChaosError> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut cluster = Cluster::start(
        &config.hydrogen,
        &config.redis_server,
        dir,
        config.agents,
        config.instances,
        config.sentinel,
        config.redis_min_replicas,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.leader().await.is_none() {
        if Instant::now() > deadline {
            return Err(ChaosError::NoLeader(
                Duration::from_secs(60),
                dir.display().to_string(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stop_watches = CancellationToken::new();
    let watches: Vec<Arc<Mutex<WatchLog>>> = cluster
        .instances
        .iter()
        .map(|p| {
            let log = Arc::new(Mutex::new(WatchLog::default()));
            tokio::spawn(watch(p.url.clone(), log.clone(), stop_watches.clone()));
            log
        })
        .collect();
    let _stop = stop_watches.clone().drop_guard();

    let mut workload = Workload::default();
    let mut faults = Faults::new(config.faults.clone());
    let mut violations = Violations::default();
    let mut duplicates = check::DuplicateMonitor::default();
    let mut storms: Vec<StormRecord> = Vec::new();
    let mut storm_figures = Vec::new();
    let mut converged_after = Vec::new();
    // The framework id the first leader registered: every later leader
    // must resume it, whatever Redis went through.
    let mut framework: Option<String> = None;
    let head = |watches: &[Arc<Mutex<WatchLog>>]| {
        watches
            .iter()
            .filter_map(|w| w.lock().ok().map(|l| l.last_revision()))
            .max()
            .unwrap_or(0)
    };
    let started = Instant::now();
    let end = started + config.duration;
    let mut round = 0;
    while Instant::now() < end {
        round += 1;
        let window_end = (Instant::now() + config.round).min(end);
        while Instant::now() < window_end {
            faults.repair(&mut cluster, false).await?;
            if rng.random_bool(0.5) {
                workload.step(&mut rng, &cluster).await;
            } else {
                faults
                    .inject(&mut rng, &mut cluster, head(&watches))
                    .await?;
            }
            take_fault_results(
                &mut faults,
                &mut duplicates,
                &mut storms,
                &mut storm_figures,
                &mut violations,
            );
            if let Some(sim) = cluster.sim_tasks().await {
                duplicates.observe(Instant::now(), &sim, &mut violations);
            }
            let pause = Duration::from_millis(rng.random_range(100..=800));
            tokio::time::sleep(pause).await;
        }
        faults.heal(&mut cluster).await?;
        take_fault_results(
            &mut faults,
            &mut duplicates,
            &mut storms,
            &mut storm_figures,
            &mut violations,
        );
        let quiet = Instant::now();
        let expected = resolve(&cluster, &mut workload, &mut violations, config).await;
        match converge(
            &cluster,
            &expected,
            &mut duplicates,
            &mut violations,
            config,
        )
        .await
        {
            Some(()) => {
                let took = quiet.elapsed().as_secs_f64();
                // Progress for people; the summary is the result.
                eprintln!(
                    "round {round}: {} apps, faults so far {:?}, converged {took:.2} s after the faults stopped",
                    expected.len(),
                    faults.counts
                );
                converged_after.push(took);
                check_framework(&cluster, &mut framework, &mut violations).await;
                check_writes(&cluster, &workload, &expected, &mut violations).await;
                check_batches(&cluster, &mut faults.batches, &mut violations).await;
            }
            None => {
                // Not converged: the next round starts from a broken cluster,
                // which would only repeat the same finding.
                break;
            }
        }
    }
    let duration = started.elapsed().as_secs_f64();
    let task_events = check_watches(&cluster, &watches, &storms, &mut violations).await;

    let mut fault_counts: BTreeMap<String, u64> =
        faults::KINDS.iter().map(|k| (k.to_string(), 0)).collect();
    for (k, n) in &faults.counts {
        fault_counts.insert(k.to_string(), *n);
    }
    let mut violation_counts: BTreeMap<String, u64> = check::INVARIANTS
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    for (k, n) in &violations.counts {
        violation_counts.insert(k.to_string(), *n);
    }
    let summary = Summary {
        seed: config.seed,
        duration_seconds: (duration * 10.0).round() / 10.0,
        agents: config.agents,
        instances: config.instances,
        faults: fault_counts,
        writes: workload
            .writes
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        task_events,
        convergence_seconds: Convergence::of(converged_after),
        watcher_storms: StormSummary::of(&storm_figures),
        batch_deploys: batch_summary(&faults.batches, config.faults.batch_apps),
        agent_returns: ReturnSummary {
            returned_after_replacement: faults.returned_replaced,
            stale_copies: duplicates.brought_back,
            resolved_seconds: Convergence::of(duplicates.resolved_after.clone()),
        },
        violations: violation_counts,
    };
    Ok(Report {
        summary,
        details: violations.details,
        logs: None,
    })
}

/// Hands what the faults produced to the checks: stale copies brought
/// back to the duplicate check, ended storms' problems to the violations
/// and their records (for the end-of-run comparison) and figures.
fn take_fault_results(
    faults: &mut Faults,
    duplicates: &mut check::DuplicateMonitor,
    storms: &mut Vec<StormRecord>,
    figures: &mut Vec<storm::StormFigures>,
    violations: &mut Violations,
) {
    if !faults.brought_back.is_empty() {
        duplicates.expect_resolved(Instant::now(), std::mem::take(&mut faults.brought_back));
    }
    for outcome in faults.storms.drain(..) {
        for p in outcome.watch_problems.into_iter().take(20) {
            violations.record("watch_exactly_once", p);
        }
        for p in outcome.leadership_problems {
            violations.record("leader_kept", p);
        }
        storms.push(outcome.record);
        figures.push(outcome.figures);
    }
}

/// Judges every answered batch deploy against what each instance holds
/// (see `batch`): all or nothing, as answered, and as first settled.
async fn check_batches(cluster: &Cluster, batches: &mut [Batch], violations: &mut Violations) {
    if batches.iter().all(|b| b.answer.is_none() || b.reported) {
        return;
    }
    for i in cluster.up() {
        let Some(held) = cluster.app_names(i).await else {
            violations.record(
                "batch_all_or_nothing",
                format!("instance {i} did not list its apps after convergence"),
            );
            continue;
        };
        for (n, b) in batches.iter_mut().enumerate() {
            let Some(answer) = b.answer.clone() else {
                continue;
            };
            if b.reported {
                continue;
            }
            let present = b.present(&held);
            let problem = match (batch::judge(&answer, present, b.names.len()), b.settled) {
                (Err(e), _) => Some(e),
                (Ok(now), Some(before)) if now != before => Some(format!(
                    "settled as {before:?} earlier, {now:?} now ({present} of {} apps)",
                    b.names.len()
                )),
                (Ok(now), _) => {
                    b.settled = Some(now);
                    None
                }
            };
            if let Some(p) = problem {
                b.reported = true;
                violations.record(
                    "batch_all_or_nothing",
                    format!("batch {n} (answer {answer:?}) on instance {i}: {p}"),
                );
            }
        }
    }
}

fn batch_summary(batches: &[Batch], apps_each: usize) -> BatchSummary {
    let count = |f: &dyn Fn(&Batch) -> bool| batches.iter().filter(|b| f(b)).count();
    BatchSummary {
        batches: batches.len(),
        apps_each,
        acknowledged: count(&|b| matches!(b.answer, Some(BatchAnswer::Acked { .. }))),
        refused: count(&|b| matches!(b.answer, Some(BatchAnswer::Refused(_)))),
        unknown: count(&|b| matches!(b.answer, Some(BatchAnswer::Unknown(_)))),
        written_all: count(&|b| b.settled == Some(Settled::All)),
        written_none: count(&|b| b.settled == Some(Settled::None)),
    }
}

/// Settles what each app must look like after the round: the API's spec
/// when the model allows it (an unknown write that landed, or not), else a
/// `lost_write` and the model's acknowledged spec. Killed apps that are
/// gone are dropped from the model.
async fn resolve(
    cluster: &Cluster,
    workload: &mut Workload,
    violations: &mut Violations,
    config: &ChaosConfig,
) -> BTreeMap<String, Spec> {
    let mut expected = BTreeMap::new();
    let names: Vec<String> = workload.apps.keys().cloned().collect();
    for name in names {
        let deadline = Instant::now() + config.converge_within;
        let answer = loop {
            let mut answer = None;
            for i in cluster.up() {
                if let Some(a) = cluster.app_state(i, &name).await {
                    answer = Some(a);
                    break;
                }
            }
            // A kill takes effect once the tasks are gone: wait for that.
            let killing = answer
                .as_ref()
                .and_then(|a| a.as_ref())
                .is_some_and(|doc| doc["goal"] == "KILL");
            if (answer.is_some() && !killing) || Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let Some(model) = workload.apps.get_mut(&name) else {
            continue;
        };
        let actual: Option<Spec> = match &answer {
            Some(Some(doc)) if doc["goal"] != "KILL" => Spec::from_state(doc),
            _ => None,
        };
        if answer.is_none() {
            violations.record(
                "convergence",
                format!("no instance answered for app {name} within the bound"),
            );
            continue;
        }
        if !model.candidates().contains(&actual) {
            violations.record(
                "lost_write",
                format!(
                    "app {name}: the API holds {actual:?}, acknowledged {:?}, maybe {:?}",
                    model.acked, model.maybe
                ),
            );
        }
        model.acked = actual.clone();
        model.maybe.clear();
        match actual {
            Some(spec) => {
                expected.insert(name, spec);
            }
            None if model.killed => {
                workload.apps.remove(&name);
            }
            None => {}
        }
    }
    expected
}

/// Polls both views until the cluster runs exactly `expected`.
async fn converge(
    cluster: &Cluster,
    expected: &BTreeMap<String, Spec>,
    duplicates: &mut check::DuplicateMonitor,
    violations: &mut Violations,
    config: &ChaosConfig,
) -> Option<()> {
    let deadline = Instant::now() + config.converge_within;
    let slow = Instant::now() + config.converge_within / 4;
    let mut told = false;
    let mut last = (Vec::new(), Vec::new());
    loop {
        if let (Some(sim), Some(api)) = (cluster.sim_tasks().await, cluster.api_tasks().await) {
            duplicates.observe(Instant::now(), &sim, violations);
            let (problems, orphans) = check::not_converged(expected, &sim, &api);
            if problems.is_empty() && orphans.is_empty() {
                return Some(());
            }
            if !told && Instant::now() > slow {
                told = true;
                eprintln!("still converging: {problems:?} orphans {orphans:?}");
            }
            last = (problems, orphans);
        }
        if Instant::now() > deadline {
            let (problems, orphans) = last;
            if !orphans.is_empty() {
                violations.record(
                    "orphan_task",
                    format!("tasks no app owns still run: {orphans:?}"),
                );
            }
            if !problems.is_empty() || orphans.is_empty() {
                violations.record(
                    "convergence",
                    format!(
                        "not converged within {:?}: {problems:?}",
                        config.converge_within
                    ),
                );
            }
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The simulated master knows exactly one framework, the same one as at
/// the end of every earlier round: a leader that found no framework id in
/// the store (a write a Redis failover lost) would register a second one.
async fn check_framework(
    cluster: &Cluster,
    first: &mut Option<String>,
    violations: &mut Violations,
) {
    let Some(ids) = cluster.frameworks().await else {
        violations.record(
            "framework_kept",
            "the simulator did not list its frameworks".into(),
        );
        return;
    };
    match (first.as_ref(), ids.as_slice()) {
        (_, []) => {}
        (None, [only]) => *first = Some(only.clone()),
        (Some(known), [only]) if known == only => {}
        _ => violations.record(
            "framework_kept",
            format!("the master knows frameworks {ids:?}, first {first:?}"),
        ),
    }
}

/// Every instance answers the settled spec for every app.
async fn check_writes(
    cluster: &Cluster,
    workload: &Workload,
    expected: &BTreeMap<String, Spec>,
    violations: &mut Violations,
) {
    for i in cluster.up() {
        for name in workload.apps.keys() {
            let Some(answer) = cluster.app_state(i, name).await else {
                violations.record(
                    "lost_write",
                    format!("instance {i} did not answer for app {name} after convergence"),
                );
                continue;
            };
            let actual = answer.as_ref().and_then(Spec::from_state);
            if actual.as_ref() != expected.get(name) {
                violations.record(
                    "lost_write",
                    format!(
                        "instance {i} answers {actual:?} for app {name}, others {:?}",
                        expected.get(name)
                    ),
                );
            }
        }
    }
}

/// Follows one instance's task watch from revision 0 with the Rust client,
/// which resumes after the last revision it delivered when the connection
/// drops (the instance is restarted on the same address).
async fn watch(url: String, log: Arc<Mutex<WatchLog>>, stop: CancellationToken) {
    let mut after = 0u64;
    while !stop.is_cancelled() {
        let client = match hydrogen::client::Client::connect(&url, None).await {
            Ok(c) => c,
            Err(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(300)) => continue,
                    _ = stop.cancelled() => return,
                }
            }
        };
        let mut events = client.watch_tasks(None, Some(after));
        loop {
            let next = tokio::select! {
                n = events.next() => n,
                _ = stop.cancelled() => return,
            };
            match next {
                Some(Ok(e)) => {
                    after = e.revision;
                    let seen = Seen {
                        revision: e.revision,
                        task_id: e.task_id,
                        state: e.state,
                        healthy: e.healthy,
                        message: e.message,
                    };
                    if let Ok(mut l) = log.lock() {
                        l.push(seen);
                    }
                }
                Some(Err(err)) => {
                    // The client gave up: a code it does not retry.
                    if let Ok(mut l) = log.lock() {
                        l.errors
                            .push(format!("watch of {url} ended after {after}: {err}"));
                    }
                    break;
                }
                None => break,
            }
        }
    }
}

/// Reads the whole event log through a fresh watch, waits for every
/// instance's watch to catch up, and compares (see `check::WatchLog`),
/// the storms' watchers too (`check::compare_storm`). Returns the number
/// of events in the log.
async fn check_watches(
    cluster: &Cluster,
    watches: &[Arc<Mutex<WatchLog>>],
    storms: &[StormRecord],
    violations: &mut Violations,
) -> u64 {
    let Some(&i) = cluster.up().first() else {
        return 0;
    };
    // Every revision some watcher was handed must be in the log: read at
    // least that far.
    let seen_head = watches
        .iter()
        .filter_map(|log| log.lock().ok().map(|l| l.last_revision()))
        .chain(storms.iter().map(|s| s.until))
        .max()
        .unwrap_or(0);
    let reference = match read_log(&cluster.instances[i].url, seen_head).await {
        Ok(r) => r,
        Err(e) => {
            violations.record("watch_exactly_once", format!("cannot read the log: {e}"));
            return 0;
        }
    };
    for p in check::check_reference(&reference).into_iter().take(20) {
        violations.record("watch_exactly_once", format!("event log: {p}"));
    }
    for (n, storm) in storms.iter().enumerate() {
        for p in check::compare_storm(&reference, storm).into_iter().take(20) {
            violations.record("watch_exactly_once", format!("storm {n}: {p}"));
        }
    }
    let head = reference.last().map_or(0, |e| e.revision);
    for (w, log) in watches.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let caught_up = log
                .lock()
                .map(|l| l.last_revision() >= head)
                .unwrap_or(true);
            if caught_up || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let problems = match log.lock() {
            Ok(l) => check::compare_watch(&reference, &l),
            Err(_) => vec!["watch log poisoned".to_string()],
        };
        for p in problems.into_iter().take(20) {
            violations.record("watch_exactly_once", format!("watch of instance {w}: {p}"));
        }
    }
    reference.len() as u64
}

/// How long the final read of the log may take: the store may still be
/// failing over when the last round ends (a stalled primary continued in
/// the quiet period is failed over after it), and the watch waits that out.
const LOG_READ_DEADLINE: Duration = Duration::from_secs(60);

/// The event log from revision 0 up to its head: at least `seen_head` (the
/// furthest any watcher got), then until events stop coming (the cluster
/// is quiet). A silence alone does not end the read before `seen_head`:
/// the client's watch rides out UNAVAILABLE (a Redis failover) by retrying
/// without a word, and a log read during one would look empty.
async fn read_log(url: &str, seen_head: u64) -> Result<Vec<Seen>, String> {
    let client = hydrogen::client::Client::connect(url, None)
        .await
        .map_err(|e| e.to_string())?;
    let mut events = client.watch_tasks(None, Some(0));
    let mut out: Vec<Seen> = Vec::new();
    let deadline = Instant::now() + LOG_READ_DEADLINE;
    loop {
        let head = out.last().map_or(0, |e| e.revision);
        let silence = if head < seen_head {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::from_secs(3)
        };
        let next = match tokio::time::timeout(silence, events.next()).await {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(_) if head >= seen_head => break,
            Err(_) => {
                return Err(format!(
                    "the log reached revision {head} within {LOG_READ_DEADLINE:?}, and watchers \
                     were handed revisions up to {seen_head}"
                ));
            }
        };
        let e = next.map_err(|e| e.to_string())?;
        out.push(Seen {
            revision: e.revision,
            task_id: e.task_id,
            state: e.state,
            healthy: e.healthy,
            message: e.message,
        });
    }
    Ok(out)
}
