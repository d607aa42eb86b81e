//! What to do about one app, decided from its desired spec and its observed
//! tasks: which instance slots need a task launched, which tasks to kill,
//! which records to forget, and whether the app itself can be forgotten.
//!
//! Pure and synchronous (no store, no Mesos, time passed in), so every rule
//! is pinned by unit and property tests. The runtime calls it whenever an
//! app or one of its tasks changes, and acts on the result.
//!
//! # Rules
//! - A task is *live* until it is terminal (or the master said it does not
//!   know it: TASK_UNKNOWN, which for us means the launch never happened).
//! - A slot `i` in `0..instances` is *covered* by a live task of slot `i`,
//!   except an unreachable one that has been unreachable longer than
//!   `unreachable_grace`: its slot gets a replacement while it stays on
//!   record (its agent may come back).
//! - A slot is also covered, for now, by a task *held* in TASK_UNKNOWN: one
//!   the master answered UNKNOWN for during the re-registration grace after
//!   a subscription ([`PlanConfig::reregister_until_ms`]). A master that
//!   lost its state answers UNKNOWN for tasks whose agents have not
//!   re-registered yet; they come back RUNNING seconds later, so the slot
//!   waits for the grace to end before it gets a replacement.
//! - Goal Kill: every live task is killed; terminal records are forgotten;
//!   the app is forgotten once no live task remains.
//! - Scale down: live tasks of slots `>= instances` are killed.
//! - Two live tasks of the same version in one slot (an unreachable task came
//!   back after its replacement started): the better one stays — ready over
//!   running over starting, then the newer — and the other is killed.
//! - Rolling update: a slot whose only live tasks are of an older version
//!   gets a new-version task, at most `surge` of them in flight (launched
//!   but not ready) at a time. An old task is killed once its slot's new task
//!   is *ready* (RUNNING, and healthy when the app has a health check), so
//!   the number of ready tasks never drops below what it was — except that
//!   `min_ready_share < 1` lets up to `floor(instances × (1 − share))` old
//!   tasks go ahead of their replacement, for clusters without room to surge.
//! - In place ([`Rollout::in_place`], decided by the core when the new
//!   version cannot be placed beside the old one: UNIQUE, fixed host ports,
//!   a full cluster): no surge; old tasks are killed `surge` slots at a time
//!   (more if `min_ready_share` allows) and their slots relaunched with the
//!   new version, so an update always makes progress.
//! - Paused ([`Rollout::paused`], new-version tasks kept failing): no slot
//!   still served by an old task is touched until the app changes again.
//! - Maintenance ([`plan_moving`]): a task on an agent going down for
//!   maintenance is treated as an old version is in a rolling update: its
//!   slot gets a task elsewhere (within `surge`, or ahead of it as far as
//!   `min_ready_share` allows) and the task is killed once that one is
//!   ready.
//! - Every kill says why ([`KillReason`]), and the plan says when it must
//!   look again ([`AppPlan::requeue_after_ms`]: an unreachable task's grace
//!   or the re-registration grace ending) instead of being re-run on every
//!   tick.

use std::collections::BTreeMap;

pub use super::effects::KillReason;
use crate::spec::App;
use crate::store::{AppGoal, AppRecord, TaskRecord, TaskState};

/// Tunables of the planner.
#[derive(Debug, Clone, Copy)]
pub struct PlanConfig {
    /// How long an unreachable task keeps its slot before a replacement.
    pub unreachable_grace_ms: u64,
    /// Share of instances that must stay ready during a rolling update.
    pub min_ready_share: f64,
    /// New-version tasks in flight at once during a rolling update.
    pub surge: u32,
    /// Wall ms at which the re-registration grace of the current Mesos
    /// subscription ends (0: none). A task that turned UNKNOWN before then
    /// is held until then (see the module docs); the core sets it per
    /// subscription, it is not a tunable.
    pub reregister_until_ms: u64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            unreachable_grace_ms: 5 * 60 * 1000,
            min_ready_share: 1.0,
            surge: 1,
            reregister_until_ms: 0,
        }
    }
}

/// How a rolling update of one app proceeds (decided by the core).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    /// Replace old tasks in place instead of surging beside them.
    pub in_place: bool,
    /// Stop replacing old tasks (new-version tasks kept failing).
    pub paused: bool,
}

/// A task to kill and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedKill {
    pub task_id: String,
    pub reason: KillReason,
}

/// What to do for one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPlan {
    /// Slots that need a task of the current version now.
    pub launch: Vec<u32>,
    /// Live tasks to kill.
    pub kill: Vec<PlannedKill>,
    /// Terminal task records to forget.
    pub forget: Vec<String>,
    /// The app is killed and has no live task left.
    pub remove_app: bool,
    /// Plan again after this long (wall ms) even if nothing changes.
    pub requeue_after_ms: Option<u64>,
    /// Nothing to kill, forget or wait for, and every live task is a
    /// current-version task alone in its slot, reachable, not being
    /// killed: a task of the app moving between such states (STAGING →
    /// STARTING → RUNNING, a health change) leaves this plan as it is, so
    /// the core need not plan the app again for it (see [`is_steady_move`]).
    pub steady: bool,
}

impl AppPlan {
    /// The ids of the tasks to kill, in order.
    pub fn kill_ids(&self) -> Vec<String> {
        self.kill.iter().map(|k| k.task_id.clone()).collect()
    }

    fn kill(&mut self, task: &TaskRecord, reason: KillReason) {
        self.kill.push(PlannedKill {
            task_id: task.task_id.clone(),
            reason,
        });
    }
}

/// Whether a task still occupies (or may occupy) resources on Mesos.
pub fn is_live(state: TaskState) -> bool {
    !state.is_terminal() && state != TaskState::TaskUnknown
}

/// Whether a TASK_UNKNOWN task still holds its slot at `now_ms`: the
/// master said UNKNOWN within the re-registration grace, which has not
/// ended (its agent may still be re-registering with a new master).
pub fn is_held(task: &TaskRecord, now_ms: u64, config: &PlanConfig) -> bool {
    task.state == TaskState::TaskUnknown
        && task.updated_ms < config.reregister_until_ms
        && now_ms < config.reregister_until_ms
}

/// Whether a status update that takes a task of a [`AppPlan::steady`]
/// app from `before` to `after` leaves the app's plan unchanged: both live,
/// neither unreachable nor killing (the task keeps covering its slot alone,
/// and with no older version around readiness decides nothing).
pub fn is_steady_move(before: TaskState, after: TaskState) -> bool {
    let quiet =
        |s: TaskState| is_live(s) && s != TaskState::TaskUnreachable && s != TaskState::TaskKilling;
    quiet(before) && quiet(after)
}

/// Whether a task serves: RUNNING, and healthy when the app checks health.
pub fn is_ready(task: &TaskRecord, app: &App) -> bool {
    task.state == TaskState::TaskRunning
        && (app.healthcheck.is_none() || task.healthy == Some(true))
}

fn rank(task: &TaskRecord, app: &App) -> (u8, u64) {
    let level = if is_ready(task, app) {
        3
    } else if task.state == TaskState::TaskRunning {
        2
    } else if task.state == TaskState::TaskUnreachable {
        0
    } else {
        1
    };
    (level, task.created_ms)
}

/// Plans one app. `tasks` are all the app's task records; `now_ms` is wall
/// clock time (records carry wall clock times).
pub fn plan_app(
    app: &AppRecord,
    tasks: &[&TaskRecord],
    now_ms: u64,
    config: &PlanConfig,
) -> AppPlan {
    plan_rollout(app, tasks, now_ms, config, Rollout::default())
}

/// [`plan_app`] for an app whose update proceeds as `rollout` says.
pub fn plan_rollout(
    app: &AppRecord,
    tasks: &[&TaskRecord],
    now_ms: u64,
    config: &PlanConfig,
    rollout: Rollout,
) -> AppPlan {
    plan_moving(app, tasks, now_ms, config, rollout, &|_| false)
}

/// [`plan_rollout`] for an app some of whose tasks (`moving`) are on
/// agents going down for maintenance: they are replaced elsewhere the way a
/// rolling update replaces old versions (see the module docs).
pub fn plan_moving(
    app: &AppRecord,
    tasks: &[&TaskRecord],
    now_ms: u64,
    config: &PlanConfig,
    rollout: Rollout,
    moving: &dyn Fn(&TaskRecord) -> bool,
) -> AppPlan {
    let mut plan = AppPlan::default();
    let mut live: Vec<&TaskRecord> = Vec::new();
    // Slots covered by a held UNKNOWN task (kept on record, so that its
    // RUNNING, when its agent is back, finds it).
    let mut held: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    let holding = app.goal == AppGoal::Run;
    for task in tasks {
        if is_live(task.state) {
            live.push(task);
        } else if holding && task.instance < app.spec.instances && is_held(task, now_ms, config) {
            held.insert(task.instance);
        } else {
            plan.forget.push(task.task_id.clone());
        }
    }

    if app.goal == AppGoal::Kill {
        for t in live.iter().filter(|t| t.state != TaskState::TaskKilling) {
            plan.kill(t, KillReason::AppGone);
        }
        plan.remove_app = live.is_empty();
        return plan;
    }

    let spec = &app.spec;
    let instances = spec.instances;
    let mut slots: BTreeMap<u32, Vec<&TaskRecord>> = BTreeMap::new();
    for task in live {
        if task.instance >= instances {
            plan.kill(task, KillReason::ScaleDown);
        } else {
            slots.entry(task.instance).or_default().push(task);
        }
    }

    let stale_unreachable = |t: &TaskRecord| {
        t.state == TaskState::TaskUnreachable
            && now_ms.saturating_sub(t.updated_ms) >= config.unreachable_grace_ms
    };
    // An unreachable task's grace ending changes the plan: look again then.
    plan.requeue_after_ms = slots
        .values()
        .flatten()
        .filter(|t| t.state == TaskState::TaskUnreachable && !stale_unreachable(t))
        .map(|t| {
            t.updated_ms
                .saturating_add(config.unreachable_grace_ms)
                .saturating_sub(now_ms)
        })
        .min();
    if !held.is_empty() {
        let until = config.reregister_until_ms.saturating_sub(now_ms);
        plan.requeue_after_ms = Some(plan.requeue_after_ms.map_or(until, |r| r.min(until)));
    }

    // Rolling update bookkeeping across slots.
    let mut in_flight_new = 0u32;
    let mut outdated_slots = Vec::new();
    let mut slots_without_ready = 0u32;
    for instance in 0..instances {
        let Some(tasks) = slots.get_mut(&instance) else {
            if !held.contains(&instance) {
                plan.launch.push(instance);
            }
            slots_without_ready += 1;
            continue;
        };
        let (mut current, old): (Vec<&TaskRecord>, Vec<&TaskRecord>) = tasks
            .iter()
            .partition(|t| t.app_version >= app.config_version && !moving(t));
        // Duplicates of the current version: keep the best.
        current.sort_by_key(|t| std::cmp::Reverse(rank(t, spec)));
        if current.len() > 1 {
            let best_is_usable = !stale_unreachable(current[0]);
            let keep = if best_is_usable { 1 } else { 0 };
            for extra in current.iter().skip(keep) {
                if extra.state != TaskState::TaskUnreachable || best_is_usable {
                    plan.kill(extra, KillReason::Duplicate);
                }
            }
        }
        let serving_current = current.iter().find(|t| !stale_unreachable(t));
        match serving_current {
            Some(task) if is_ready(task, spec) => {
                // The new task serves: old ones go.
                for t in old.iter().filter(|t| t.state != TaskState::TaskKilling) {
                    let reason = if t.app_version >= app.config_version {
                        KillReason::Maintenance
                    } else {
                        KillReason::Replaced
                    };
                    plan.kill(t, reason);
                }
            }
            Some(_) => {
                in_flight_new += u32::from(!old.is_empty());
                if !old.iter().any(|t| is_ready(t, spec)) {
                    slots_without_ready += 1;
                }
            }
            None => {
                let old_usable: Vec<&&TaskRecord> =
                    old.iter().filter(|t| !stale_unreachable(t)).collect();
                if old_usable.is_empty() {
                    if !held.contains(&instance) {
                        plan.launch.push(instance);
                    }
                    slots_without_ready += 1;
                } else if old_usable
                    .iter()
                    .all(|t| t.kill_sent || t.state == TaskState::TaskKilling)
                {
                    // Its old task is on its way out; the slot relaunches
                    // once it is gone.
                    slots_without_ready += 1;
                } else {
                    outdated_slots.push((
                        instance,
                        old_usable
                            .into_iter()
                            .copied()
                            .collect::<Vec<&TaskRecord>>(),
                    ));
                }
            }
        }
    }

    if rollout.paused {
        // Slots still served by an old task keep it.
        outdated_slots.clear();
    }
    let surge = config.surge.max(1);
    let share = config.min_ready_share.clamp(0.0, 1.0);
    // Truncation is the point: a share of 0.75 of 5 lets 1 go, not 2.
    let allowed_unready = (f64::from(instances) * (1.0 - share)).floor() as u32;
    if rollout.in_place {
        // Nothing fits beside the old tasks: replace them in their slots,
        // `surge` at a time (or as many as the ready share allows), even when
        // that takes the app below its share: an update must progress.
        let budget = surge
            .max(allowed_unready)
            .saturating_sub(slots_without_ready);
        for (_, old) in outdated_slots.into_iter().take(budget as usize) {
            for t in old.iter().filter(|t| t.state != TaskState::TaskKilling) {
                plan.kill(t, KillReason::MakeRoom);
            }
        }
    } else {
        // Start new-version tasks for outdated slots, within the surge.
        let surge_room = surge.saturating_sub(in_flight_new);
        let mut unready_budget = allowed_unready.saturating_sub(slots_without_ready);
        for (i, (instance, old)) in outdated_slots.into_iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            if index < surge_room {
                plan.launch.push(instance);
            } else if unready_budget > 0 {
                // No room to surge: let an old task go first.
                unready_budget -= 1;
                for t in old.iter().filter(|t| t.state != TaskState::TaskKilling) {
                    plan.kill(t, KillReason::MakeRoom);
                }
            }
        }
    }
    plan.launch.sort_unstable();
    plan.launch.dedup();
    plan.kill.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    plan.kill.dedup_by(|a, b| a.task_id == b.task_id);
    plan.steady = plan.kill.is_empty()
        && plan.forget.is_empty()
        && plan.requeue_after_ms.is_none()
        && held.is_empty()
        && slots.values().all(|tasks| {
            matches!(tasks.as_slice(), [t] if t.app_version >= app.config_version
                && !moving(t)
                && t.state != TaskState::TaskUnreachable
                && t.state != TaskState::TaskKilling
                && !t.kill_sent)
        });
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AppGoal;
    use proptest::prelude::*;

    fn app(instances: u32, version: u64, health: bool) -> AppRecord {
        let hc = if health {
            r#", "healthcheck": {"endpoint": "localhost:8080"}"#
        } else {
            ""
        };
        let body = format!(
            r#"{{"name": "web", "resources": {{"cpu": 0.1, "mem": 32}}, "instances": {instances}, "command": {{"cmd": "sleep 100"}}{hc}}}"#
        );
        AppRecord {
            spec: crate::spec::parse_app(body.as_bytes()).expect("test app"),
            version,
            config_version: version,
            goal: AppGoal::Run,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn task(id: &str, instance: u32, version: u64, state: TaskState) -> TaskRecord {
        TaskRecord {
            state,
            ..TaskRecord::staging(id, "web", instance, version, "a", "h", 10)
        }
    }

    fn plan(app: &AppRecord, tasks: &[TaskRecord]) -> AppPlan {
        let refs: Vec<&TaskRecord> = tasks.iter().collect();
        plan_app(app, &refs, 1_000, &PlanConfig::default())
    }

    #[test]
    fn an_unknown_task_within_the_reregister_grace_holds_its_slot_until_it_ends() {
        let config = PlanConfig {
            reregister_until_ms: 5_000,
            ..PlanConfig::default()
        };
        let unknown = task("u", 0, 1, TaskState::TaskUnknown);
        let late = TaskRecord {
            updated_ms: 5_000,
            ..task("late", 1, 1, TaskState::TaskUnknown)
        };
        let running = task("r", 2, 1, TaskState::TaskRunning);
        let beyond = task("b", 3, 1, TaskState::TaskUnknown);
        let all = [&unknown, &late, &running, &beyond];
        let p = plan_app(&app(3, 1, false), &all, 4_000, &config);
        // Slot 0 waits; slot 1 turned UNKNOWN after the grace's end would
        // have come (too late to be a re-registration) and is replaced; a
        // held task beyond `instances` is not kept.
        assert_eq!(p.launch, vec![1]);
        assert!(p.kill.is_empty(), "{p:?}");
        assert_eq!(p.forget, vec!["late".to_string(), "b".to_string()]);
        assert_eq!(p.requeue_after_ms, Some(1_000));
        // At the grace's end the slot is replaced and the record forgotten.
        let p = plan_app(&app(3, 1, false), &all, 5_000, &config);
        assert_eq!(p.launch, vec![0, 1]);
        assert!(p.forget.contains(&"u".to_string()));
        assert_eq!(p.requeue_after_ms, None);
        // A killed app does not wait for it.
        let mut killed = app(3, 1, false);
        killed.goal = AppGoal::Kill;
        let p = plan_app(&killed, &all, 4_000, &config);
        assert!(p.forget.contains(&"u".to_string()), "{p:?}");
    }

    #[test]
    fn a_new_app_launches_every_slot() {
        let p = plan(&app(3, 1, false), &[]);
        assert_eq!(p.launch, vec![0, 1, 2]);
        assert!(p.kill.is_empty() && !p.remove_app);
    }

    #[test]
    fn terminal_tasks_are_forgotten_and_replaced() {
        let tasks = [
            task("a", 0, 1, TaskState::TaskRunning),
            task("b", 1, 1, TaskState::TaskFailed),
        ];
        let p = plan(&app(2, 1, false), &tasks);
        assert_eq!(p.launch, vec![1]);
        assert_eq!(p.forget, vec!["b".to_string()]);
    }

    #[test]
    fn unknown_to_the_master_means_gone() {
        let p = plan(
            &app(1, 1, false),
            &[task("a", 0, 1, TaskState::TaskUnknown)],
        );
        assert_eq!(p.launch, vec![0]);
        assert_eq!(p.forget, vec!["a".to_string()]);
    }

    #[test]
    fn scale_down_kills_the_highest_slots() {
        let tasks = [
            task("a", 0, 1, TaskState::TaskRunning),
            task("b", 1, 1, TaskState::TaskRunning),
            task("c", 2, 1, TaskState::TaskRunning),
        ];
        let p = plan(&app(1, 1, false), &tasks);
        assert_eq!(p.kill_ids(), vec!["b".to_string(), "c".to_string()]);
        assert!(p.launch.is_empty());
    }

    #[test]
    fn kill_goal_kills_everything_then_removes_the_app() {
        let mut record = app(2, 2, false);
        record.goal = AppGoal::Kill;
        let tasks = [
            task("a", 0, 1, TaskState::TaskRunning),
            task("b", 1, 1, TaskState::TaskKilling),
            task("c", 1, 1, TaskState::TaskKilled),
        ];
        let p = plan(&record, &tasks);
        assert_eq!(
            p.kill_ids(),
            vec!["a".to_string()],
            "a KILLING task is not killed again"
        );
        assert_eq!(p.forget, vec!["c".to_string()]);
        assert!(!p.remove_app);
        let done = plan(&record, &[task("c", 1, 1, TaskState::TaskKilled)]);
        assert!(done.remove_app);
    }

    #[test]
    fn unreachable_keeps_its_slot_for_the_grace_period() {
        let mut t = task("a", 0, 1, TaskState::TaskUnreachable);
        t.updated_ms = 1_000;
        let config = PlanConfig {
            unreachable_grace_ms: 500,
            ..PlanConfig::default()
        };
        let record = app(1, 1, false);
        assert!(plan_app(&record, &[&t], 1_200, &config).launch.is_empty());
        assert_eq!(plan_app(&record, &[&t], 1_600, &config).launch, vec![0]);
    }

    #[test]
    fn a_returning_task_and_its_replacement_keep_one() {
        let mut back = task("old", 0, 1, TaskState::TaskRunning);
        back.created_ms = 1;
        let mut replacement = task("new", 0, 1, TaskState::TaskRunning);
        replacement.created_ms = 2;
        let p = plan(&app(1, 1, false), &[back, replacement]);
        assert_eq!(
            p.kill_ids(),
            vec!["old".to_string()],
            "the newer of two equal tasks stays"
        );
        assert!(p.launch.is_empty());
    }

    #[test]
    fn rolling_update_surges_then_kills_old_when_new_is_ready() {
        let record = app(2, 2, true);
        let old = [
            task("o0", 0, 1, TaskState::TaskRunning),
            task("o1", 1, 1, TaskState::TaskRunning),
        ];
        // Surge 1: one new task at a time, nothing killed yet.
        let p = plan(&record, &old);
        assert_eq!(p.launch, vec![0]);
        assert!(p.kill.is_empty());

        // The new task runs but is not healthy yet: wait.
        let mut n0 = task("n0", 0, 2, TaskState::TaskRunning);
        let p = plan(&record, &[old[0].clone(), old[1].clone(), n0.clone()]);
        assert!(p.launch.is_empty() && p.kill.is_empty(), "{p:?}");

        // Healthy: its old task goes, the next slot starts.
        n0.healthy = Some(true);
        let p = plan(&record, &[old[0].clone(), old[1].clone(), n0]);
        assert_eq!(p.kill_ids(), vec!["o0".to_string()]);
        assert_eq!(p.launch, vec![1]);
    }

    #[test]
    fn min_ready_share_lets_old_tasks_go_first_without_room() {
        let record = app(4, 2, false);
        let old: Vec<TaskRecord> = (0..4)
            .map(|i| task(&format!("o{i}"), i, 1, TaskState::TaskRunning))
            .collect();
        let config = PlanConfig {
            min_ready_share: 0.5,
            surge: 1,
            ..PlanConfig::default()
        };
        let refs: Vec<&TaskRecord> = old.iter().collect();
        let p = plan_app(&record, &refs, 1_000, &config);
        assert_eq!(p.launch, vec![0], "one surges");
        assert_eq!(p.kill.len(), 2, "two may go unready: 4 × (1 − 0.5)");
    }

    #[test]
    fn in_place_replaces_one_slot_at_a_time_until_all_are_new() {
        let record = app(3, 2, false);
        let in_place = Rollout {
            in_place: true,
            paused: false,
        };
        let config = PlanConfig::default();
        let mut tasks: Vec<TaskRecord> = (0..3)
            .map(|i| task(&format!("o{i}"), i, 1, TaskState::TaskRunning))
            .collect();
        let run = |tasks: &[TaskRecord]| {
            let refs: Vec<&TaskRecord> = tasks.iter().collect();
            plan_rollout(&record, &refs, 1_000, &config, in_place)
        };
        // No surge launch: one old task makes room (min_ready_share 1.0
        // cannot hold without room, and the update must progress).
        let p = run(&tasks);
        assert!(p.launch.is_empty(), "{p:?}");
        assert_eq!(p.kill_ids(), vec!["o0".to_string()]);
        assert_eq!(p.kill[0].reason, KillReason::MakeRoom);
        // While it is being killed, nothing else goes.
        tasks[0].kill_sent = true;
        let p = run(&tasks);
        assert!(p.kill.is_empty() && p.launch.is_empty(), "{p:?}");
        // Gone: its slot relaunches with the new version, still one at a time.
        tasks[0].state = TaskState::TaskKilled;
        let p = run(&tasks);
        assert_eq!(p.launch, vec![0]);
        assert!(p.kill.is_empty(), "{p:?}");
        // The new task is ready: the next slot makes room.
        tasks.remove(0);
        tasks.push(task("n0", 0, 2, TaskState::TaskRunning));
        let p = run(&tasks);
        assert_eq!(p.kill_ids(), vec!["o1".to_string()]);
        // A surge of 2 replaces two slots at once.
        let wide = PlanConfig {
            surge: 2,
            ..PlanConfig::default()
        };
        let refs: Vec<&TaskRecord> = tasks.iter().collect();
        let p = plan_rollout(&record, &refs, 1_000, &wide, in_place);
        assert_eq!(p.kill_ids(), vec!["o1".to_string(), "o2".to_string()]);
    }

    #[test]
    fn a_paused_update_leaves_old_tasks_alone() {
        let record = app(2, 2, false);
        let tasks = [
            task("o0", 0, 1, TaskState::TaskRunning),
            task("o1", 1, 1, TaskState::TaskRunning),
        ];
        let refs: Vec<&TaskRecord> = tasks.iter().collect();
        for in_place in [false, true] {
            let rollout = Rollout {
                in_place,
                paused: true,
            };
            let p = plan_rollout(&record, &refs, 1_000, &PlanConfig::default(), rollout);
            assert!(p.launch.is_empty() && p.kill.is_empty(), "{p:?}");
        }
    }

    #[test]
    fn an_unreachable_task_asks_to_be_planned_again_when_its_grace_ends() {
        let mut t = task("a", 0, 1, TaskState::TaskUnreachable);
        t.updated_ms = 1_000;
        let config = PlanConfig {
            unreachable_grace_ms: 500,
            ..PlanConfig::default()
        };
        let record = app(1, 1, false);
        let p = plan_app(&record, &[&t], 1_200, &config);
        assert_eq!(p.requeue_after_ms, Some(300));
        let p = plan_app(&record, &[&t], 1_600, &config);
        assert_eq!(p.requeue_after_ms, None, "{p:?}");
    }

    #[test]
    fn scale_up_only_adds_slots() {
        let tasks = [task("a", 0, 1, TaskState::TaskRunning)];
        let p = plan(&app(3, 1, false), &tasks);
        assert_eq!(p.launch, vec![1, 2]);
        assert!(p.kill.is_empty());
    }

    /// The live states a steady app's tasks move between.
    fn quiet_state() -> impl Strategy<Value = TaskState> {
        prop::sample::select(vec![
            TaskState::TaskStaging,
            TaskState::TaskStarting,
            TaskState::TaskRunning,
        ])
    }

    fn any_state() -> impl Strategy<Value = TaskState> {
        prop::sample::select(vec![
            TaskState::TaskStaging,
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskFinished,
            TaskState::TaskFailed,
            TaskState::TaskKilled,
            TaskState::TaskLost,
            TaskState::TaskUnreachable,
            TaskState::TaskUnknown,
        ])
    }

    proptest! {
        #[test]
        fn never_launches_into_a_slot_with_a_ready_current_task(
            instances in 0u32..6,
            tasks in prop::collection::vec((0u32..8, 1u64..3, any_state(), any::<bool>()), 0..12),
        ) {
            let record = app(instances, 2, false);
            let records: Vec<TaskRecord> = tasks
                .iter()
                .enumerate()
                .map(|(i, (slot, version, state, _))| task(&format!("t{i}"), *slot, *version, *state))
                .collect();
            let p = plan(&record, &records);
            for slot in &p.launch {
                prop_assert!(*slot < instances);
                let covered = records.iter().any(|t| {
                    t.instance == *slot && t.app_version == 2 && is_live(t.state)
                });
                prop_assert!(!covered, "slot {} launched though covered: {:?}", slot, p);
            }
            for id in &p.kill_ids() {
                let t = records.iter().find(|t| &t.task_id == id).expect("kills known tasks");
                prop_assert!(is_live(t.state));
            }
            // Every slot is covered by a live task or a launch.
            for slot in 0..instances {
                let covered = records.iter().any(|t| t.instance == slot && is_live(t.state));
                prop_assert!(covered || p.launch.contains(&slot));
            }
        }

        /// What lets the core skip planning a steady app again: a quiet
        /// move of any one task leaves the plan (and its steadiness) as it
        /// was, with or without a health check, in place or paused.
        #[test]
        fn a_quiet_move_leaves_a_steady_plan_unchanged(
            health in any::<bool>(),
            in_place in any::<bool>(),
            paused in any::<bool>(),
            slots in prop::collection::vec(prop::option::of((quiet_state(), any::<bool>())), 1..8),
            moved in 0usize..8,
            to in quiet_state(),
            healthy in any::<bool>(),
        ) {
            let instances = u32::try_from(slots.len()).expect("few slots");
            let record = app(instances, 2, health);
            let records: Vec<TaskRecord> = slots
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.map(|(state, h)| (i, state, h)))
                .map(|(i, state, h)| TaskRecord {
                    healthy: Some(h),
                    ..task(&format!("t{i}"), u32::try_from(i).expect("few"), 2, state)
                })
                .collect();
            let rollout = Rollout { in_place, paused };
            let config = PlanConfig::default();
            let refs: Vec<&TaskRecord> = records.iter().collect();
            let before = plan_rollout(&record, &refs, 1_000, &config, rollout);
            prop_assert!(before.steady, "{:?}", before);
            if records.is_empty() {
                return Ok(());
            }
            let moved = moved % records.len();
            prop_assert!(is_steady_move(records[moved].state, to));
            let mut after_records = records.clone();
            after_records[moved].state = to;
            after_records[moved].healthy = Some(healthy);
            after_records[moved].updated_ms = 2_000;
            let refs: Vec<&TaskRecord> = after_records.iter().collect();
            let after = plan_rollout(&record, &refs, 3_000, &config, rollout);
            prop_assert_eq!(before, after);
        }
    }

    #[test]
    fn only_a_plan_with_nothing_to_do_but_launch_is_steady() {
        let cfg = PlanConfig::default();
        let steady = |app: &AppRecord, tasks: &[TaskRecord]| {
            let refs: Vec<&TaskRecord> = tasks.iter().collect();
            plan_app(app, &refs, 1_000, &cfg).steady
        };
        let running = task("a", 0, 2, TaskState::TaskRunning);
        // Waiting slots do not unsettle it: a launch fills them.
        assert!(steady(&app(3, 2, false), std::slice::from_ref(&running)));
        // An old version, a duplicate, an unreachable or killed task, a
        // record to forget, or a task beyond the instances do.
        let unsteady = [
            vec![task("o", 0, 1, TaskState::TaskRunning)],
            vec![running.clone(), task("d", 0, 2, TaskState::TaskStarting)],
            vec![task("u", 0, 2, TaskState::TaskUnreachable)],
            vec![task("k", 0, 2, TaskState::TaskKilling)],
            vec![TaskRecord {
                kill_sent: true,
                ..running.clone()
            }],
            vec![running.clone(), task("f", 1, 2, TaskState::TaskFailed)],
            vec![task("x", 5, 2, TaskState::TaskRunning)],
        ];
        for tasks in unsteady {
            assert!(!steady(&app(3, 2, false), &tasks), "{tasks:?}");
        }
        let killed = AppRecord {
            goal: AppGoal::Kill,
            ..app(3, 2, false)
        };
        assert!(!steady(&killed, std::slice::from_ref(&running)));
    }
}
