//! ACCEPT: offer validation, task validation and launch, as
//! `Master::accept` and `master/validation.cpp` do it.
//!
//! Invalid offers (unknown, rescinded, already used, another framework's,
//! duplicated, from several agents) void the whole call: every task in it
//! gets TASK_DROPPED (partition-aware frameworks) or TASK_LOST with
//! REASON_INVALID_OFFERS, and the valid offers among them go back to the
//! pool. With valid offers, each task is checked on its own and gets
//! TASK_ERROR (REASON_TASK_INVALID, or REASON_TASK_GROUP_INVALID for a
//! group) when invalid; valid tasks are launched from the offers' pooled
//! resources in order. What is left returns to the agent under the call's
//! filters. Master-made updates carry no uuid.
//!
//! Non-launch operations (RESERVE, CREATE, ...) are not modelled: they are
//! logged and ignored.

use std::collections::HashSet;
use std::time::Instant;

use tracing::{info, warn};

use super::master::{Master, Step, Task, Timer, master_status};
use super::resources::ResourceSet;
use super::validation;
use hydrogen_mesos::is_terminal;
use hydrogen_mesos::v1::scheduler::{Event, call, event};
use hydrogen_mesos::v1::{self, TaskState, offer::operation::Type as Op, task_status::Reason};

impl Master {
    fn send_status(&mut self, framework_id: &str, status: v1::TaskStatus) {
        let ev = Event {
            update: Some(event::Update { status }),
            ..super::master::event_of(event::Type::Update)
        };
        self.send(framework_id, ev);
    }

    /// Why the offers of an ACCEPT are not usable, in Mesos's words and in
    /// the order of `validation::offer::validate` (validation.cpp): each
    /// check runs over the whole list before the next (unique ids, then
    /// existence, framework, role, agent).
    fn validate_offers(
        &self,
        framework_id: &str,
        offer_ids: &[v1::OfferId],
    ) -> Result<String, String> {
        if offer_ids.is_empty() {
            return Err("No offers specified".into());
        }
        let mut seen = HashSet::new();
        for id in offer_ids {
            if !seen.insert(id.value.as_str()) {
                return Err(format!("Duplicate offer {} in offer list", id.value));
            }
        }
        let mut offers = Vec::with_capacity(offer_ids.len());
        for id in offer_ids {
            let offer = self
                .offers
                .get(&id.value)
                .ok_or_else(|| format!("Offer {} is no longer valid", id.value))?;
            offers.push((id, offer));
        }
        for (id, offer) in &offers {
            if offer.framework_id != framework_id {
                return Err(format!(
                    "Offer {} has invalid framework {} while framework {} is expected",
                    id.value, offer.framework_id, framework_id
                ));
            }
        }
        let role = &offers[0].1.role;
        for (id, offer) in &offers {
            if offer.role != *role {
                return Err(format!(
                    "Aggregated offers must be allocated to the same role. Offer {} uses role '{} but another is using role '{}",
                    id.value, offer.role, role
                ));
            }
        }
        let agent = &offers[0].1.agent_id;
        for (id, offer) in &offers {
            if offer.agent_id != *agent {
                return Err(format!(
                    "Aggregated offers must belong to one single agent. Offer {} uses agent {} and agent {}",
                    id.value, offer.agent_id, agent
                ));
            }
        }
        Ok(agent.clone())
    }

    /// ACCEPT.
    pub fn accept(&mut self, now: Instant, framework_id: &str, accept: call::Accept) {
        self.observe(now);
        let partition_aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.partition_aware());
        let agent_id = match self.validate_offers(framework_id, &accept.offer_ids) {
            Ok(a) => a,
            Err(error) => {
                warn!(framework_id, %error, "ACCEPT call used invalid offers");
                for id in &accept.offer_ids {
                    if self
                        .offers
                        .get(&id.value)
                        .is_some_and(|o| o.framework_id == framework_id)
                    {
                        self.remove_offer(&id.value, false, None);
                    }
                }
                let state = if partition_aware {
                    TaskState::TaskDropped
                } else {
                    TaskState::TaskLost
                };
                let message = format!("Task launched with invalid offers: {error}");
                for op in &accept.operations {
                    for task in launch_tasks(op) {
                        let s = master_status(
                            &task.task_id.value,
                            Some(&task.agent_id.value),
                            state,
                            Reason::InvalidOffers,
                            &message,
                            self.wall_now,
                        );
                        self.send_status(framework_id, s);
                    }
                }
                return;
            }
        };

        // Pool the offers' resources; the offers are used up either way.
        let mut pool = ResourceSet::new();
        let mut role = String::from("*");
        for id in &accept.offer_ids {
            if let Some(offer) = self.offers.remove(&id.value) {
                if let Some(fw) = self.frameworks.get_mut(framework_id) {
                    fw.offers.remove(&id.value);
                }
                if let Some(agent) = self.agents.get_mut(&offer.agent_id) {
                    agent.offers.remove(&id.value);
                    agent.offered.subtract(&offer.resources);
                }
                role = offer.role.clone();
                pool.add(&offer.resources);
            }
        }

        for mut op in accept.operations {
            if let Err(e) = validation::operation_resources(&op) {
                warn!(framework_id, error = %e, "launch with invalid resources");
                let reason = if op.r#type() == Op::LaunchGroup {
                    Reason::TaskGroupInvalid
                } else {
                    Reason::TaskInvalid
                };
                for task in launch_tasks(&op) {
                    let s = master_status(
                        &task.task_id.value,
                        Some(&task.agent_id.value),
                        TaskState::TaskError,
                        reason,
                        &e,
                        self.wall_now,
                    );
                    self.send_status(framework_id, s);
                }
                continue;
            }
            validation::normalize_launch(&mut op, framework_id);
            match op.r#type() {
                Op::Launch => {
                    let tasks = op.launch.map(|l| l.task_infos).unwrap_or_default();
                    for task in tasks {
                        match self.validate_task(framework_id, &agent_id, &task, &pool, &role) {
                            Ok((resources, executor_charge)) => {
                                pool.subtract(&resources);
                                if let Some(charge) = &executor_charge {
                                    pool.subtract(charge);
                                }
                                let executor_info = task.executor.as_ref().cloned();
                                self.launch(
                                    now,
                                    framework_id,
                                    &agent_id,
                                    &role,
                                    task,
                                    resources,
                                    executor_info,
                                    executor_charge,
                                );
                            }
                            Err(e) => {
                                warn!(framework_id, task_id = %task.task_id.value, error = %e, "invalid task");
                                let s = master_status(
                                    &task.task_id.value,
                                    Some(&task.agent_id.value),
                                    TaskState::TaskError,
                                    Reason::TaskInvalid,
                                    &e,
                                    self.wall_now,
                                );
                                self.send_status(framework_id, s);
                            }
                        }
                    }
                }
                Op::LaunchGroup => {
                    let Some(group) = op.launch_group else {
                        continue;
                    };
                    match self.validate_group(framework_id, &agent_id, &group, &pool, &role) {
                        Ok((per_task, new_executor)) => {
                            for (i, (task, resources)) in
                                group.task_group.tasks.into_iter().zip(per_task).enumerate()
                            {
                                // A new executor is charged once, with
                                // the first task of the group.
                                let executor_charge = (i == 0 && new_executor).then(|| {
                                    ResourceSet::from_protos(&group.executor.resources)
                                        .unwrap_or_default()
                                });
                                pool.subtract(&resources);
                                if let Some(charge) = &executor_charge {
                                    pool.subtract(charge);
                                }
                                self.launch(
                                    now,
                                    framework_id,
                                    &agent_id,
                                    &role,
                                    task,
                                    resources,
                                    Some(group.executor.clone()),
                                    executor_charge,
                                );
                            }
                        }
                        Err(e) => {
                            warn!(framework_id, error = %e, "invalid task group");
                            for task in &group.task_group.tasks {
                                let s = master_status(
                                    &task.task_id.value,
                                    Some(&task.agent_id.value),
                                    TaskState::TaskError,
                                    Reason::TaskGroupInvalid,
                                    &e,
                                    self.wall_now,
                                );
                                self.send_status(framework_id, s);
                            }
                        }
                    }
                }
                other => {
                    warn!(framework_id, operation = ?other, "offer operation not modelled by the simulator; ignored");
                }
            }
        }

        // Unused resources go back with the call's filters.
        let refuse = self.refuse_duration(accept.filters.as_ref());
        if !pool.is_empty()
            && let Some(agent) = self.agents.get_mut(&agent_id)
        {
            agent.free.add(&pool);
            if let Some(refuse) = refuse
                && let Some(fw) = self.frameworks.get_mut(framework_id)
            {
                fw.filters
                    .entry(role.clone())
                    .or_default()
                    .insert(agent_id.clone(), now + refuse);
            }
        }
    }

    /// Checks one TaskInfo of a LAUNCH in the order of
    /// `task::validate` (validation.cpp); returns the resources it takes
    /// (its executor's too when that executor is new on the agent).
    fn validate_task(
        &self,
        framework_id: &str,
        agent_id: &str,
        task: &v1::TaskInfo,
        pool: &ResourceSet,
        role: &str,
    ) -> Result<(ResourceSet, Option<ResourceSet>), String> {
        self.validate_task_common(framework_id, agent_id, task)?;
        if task.executor.is_some() == task.command.is_some() {
            return Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into());
        }
        let own = ResourceSet::from_protos(&task.resources)
            .map_err(|e| format!("Task uses invalid resources: {e}"))?;
        let mut total = own.clone();
        let mut executor_charge = None;
        if let Some(exec) = &task.executor {
            // `normalize_launch` has filled in its framework id.
            self.validate_executor_common(framework_id, agent_id, exec)?;
            if exec.r#type.is_some() && exec.r#type() != v1::executor_info::Type::Custom {
                return Err("'ExecutorInfo.type' must be 'CUSTOM'".into());
            }
            if exec.command.is_none() {
                return Err("'ExecutorInfo.command' must be set".into());
            }
            if self
                .executor_on(framework_id, agent_id, &exec.executor_id.value)
                .is_none()
            {
                let exec = ResourceSet::from_protos(&exec.resources)
                    .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
                total.add(&exec);
                executor_charge = Some(exec);
            }
        }
        if !pool.contains(&total) {
            return Err(format!(
                "Total resources {} required by task and its executor is more than available {}",
                total.describe_allocated(role),
                pool.describe_allocated(role)
            ));
        }
        Ok((own, executor_charge))
    }

    /// `task::internal::validateTask`: the id, unique id and agent checks
    /// (which need the master's state), then the stateless ones.
    fn validate_task_common(
        &self,
        framework_id: &str,
        agent_id: &str,
        task: &v1::TaskInfo,
    ) -> Result<(), String> {
        let id = &task.task_id.value;
        super::master::validate_id(id)?;
        if let Some(existing) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(id))
        {
            return Err(if existing.unreachable.is_some() {
                format!("Task reuses the ID of an unreachable task: {id}")
            } else {
                format!("Task has duplicate ID: {id}")
            });
        }
        if task.agent_id.value != agent_id {
            return Err(format!(
                "Task uses invalid agent {} while agent {} is expected",
                task.agent_id.value, agent_id
            ));
        }
        validation::task_fields(task)
    }

    /// `executor::internal::validate`: the stateless checks, the framework
    /// id, the resources, and agreement with an executor of that id the
    /// agent already runs for the framework.
    fn validate_executor_common(
        &self,
        framework_id: &str,
        agent_id: &str,
        exec: &v1::ExecutorInfo,
    ) -> Result<(), String> {
        validation::executor(exec)?;
        let Some(fid) = &exec.framework_id else {
            return Err("'ExecutorInfo.framework_id' must be set".into());
        };
        if fid.value != framework_id {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {})",
                fid.value, framework_id
            ));
        }
        if exec.resources.is_empty() {
            // Nothing to check: command executors have none.
        } else {
            ResourceSet::from_protos(&exec.resources)
                .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
        }
        if let Some(existing) = self.executor_on(framework_id, agent_id, &exec.executor_id.value)
            && existing != exec
        {
            // Mesos appends both infos in protobuf text format; the ids say
            // which executor is meant.
            return Err(format!(
                "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID.\n\
                 Existing ExecutorInfo: {:?}\nExecutorInfo: {:?}",
                existing.executor_id.value, exec.executor_id.value
            ));
        }
        Ok(())
    }

    /// The info of the executor `executor_id` of the framework on the
    /// agent, while a live task runs under it (`Slave::hasExecutor`).
    fn executor_on(
        &self,
        framework_id: &str,
        agent_id: &str,
        executor_id: &str,
    ) -> Option<&v1::ExecutorInfo> {
        // From the agent's own task index, not the framework's every task.
        let fw = self.frameworks.get(framework_id)?;
        self.agents
            .get(agent_id)?
            .tasks
            .iter()
            .filter(|(f, _)| f == framework_id)
            .filter_map(|(_, t)| fw.tasks.get(t))
            .filter(|t| t.agent_id == agent_id && !is_terminal(t.state))
            .filter_map(|t| t.executor_info.as_ref())
            .find(|e| e.executor_id.value == executor_id)
    }

    /// Checks a LAUNCH_GROUP in the order of `task::group::validate`;
    /// returns each task's resources and whether the executor is new on
    /// the agent (its resources are then charged too).
    fn validate_group(
        &self,
        framework_id: &str,
        agent_id: &str,
        group: &v1::offer::operation::LaunchGroup,
        pool: &ResourceSet,
        role: &str,
    ) -> Result<(Vec<ResourceSet>, bool), String> {
        let exec = &group.executor;
        let mut per_task = Vec::with_capacity(group.task_group.tasks.len());
        let mut total = ResourceSet::new();
        let mut ids = HashSet::new();
        for task in &group.task_group.tasks {
            self.validate_task_common(framework_id, agent_id, task)
                .and_then(|()| validation::group_task(task))
                .map_err(|e| format!("Task '{}' is invalid: {e}", task.task_id.value))?;
            if !ids.insert(task.task_id.value.as_str()) {
                return Err(format!(
                    "Task '{}' is invalid: Task has duplicate ID: {}",
                    task.task_id.value, task.task_id.value
                ));
            }
            let r = ResourceSet::from_protos(&task.resources).map_err(|e| {
                format!(
                    "Task '{}' is invalid: Task uses invalid resources: {e}",
                    task.task_id.value
                )
            })?;
            total.add(&r);
            per_task.push(r);
        }
        self.validate_executor_common(framework_id, agent_id, exec)?;
        if exec.r#type.is_none() {
            return Err("'ExecutorInfo.type' must be set".into());
        }
        if exec.r#type() == v1::executor_info::Type::Unknown {
            return Err("Unknown executor type".into());
        }
        if exec
            .container
            .as_ref()
            .is_some_and(|c| c.r#type() == v1::container_info::Type::Docker)
        {
            return Err("Docker ContainerInfo is not supported on the executor".into());
        }
        for task in &group.task_group.tasks {
            if task.executor.is_some() && task.executor.as_ref() != Some(exec) {
                return Err(format!(
                    "The `ExecutorInfo` of task '{}' is different from executor '{}'",
                    task.task_id.value, exec.executor_id.value
                ));
            }
        }
        let exec_resources = ResourceSet::from_protos(&exec.resources)
            .map_err(|e| format!("Executor uses invalid resources: {e}"))?;
        let cpus = exec_resources.scalar_total("cpus");
        if cpus < 0.01 {
            return Err(format!(
                "Executor '{}' uses less CPUs ({}) than the minimum required (0.01)",
                exec.executor_id.value,
                if cpus > 0.0 {
                    cpus.to_string()
                } else {
                    "None".into()
                }
            ));
        }
        let mem = exec_resources.scalar_total("mem");
        if mem < 32.0 {
            return Err(format!(
                "Executor '{}' uses less memory ({}) than the minimum required (32MB)",
                exec.executor_id.value,
                if mem > 0.0 {
                    format!("{mem}MB")
                } else {
                    "None".into()
                }
            ));
        }
        if exec_resources.scalar_total("disk") <= 0.0 {
            return Err(format!(
                "Executor '{}' uses no disk",
                exec.executor_id.value
            ));
        }
        let new_executor = self
            .executor_on(framework_id, agent_id, &exec.executor_id.value)
            .is_none();
        if new_executor {
            total.add(&exec_resources);
        }
        if !pool.contains(&total) {
            return Err(format!(
                "Total resources {} required by task group and its executor are more than available {}",
                total.describe_allocated(role),
                pool.describe_allocated(role)
            ));
        }
        if let Some(command) = &exec.command {
            validation::command_info(command).map_err(|e| {
                format!(
                    "Executor '{}'contains an invalid command: {e}",
                    exec.executor_id.value
                )
            })?;
        }
        Ok((per_task, new_executor))
    }

    /// Starts a validated task: STAGING now, STARTING and RUNNING later.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        now: Instant,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        info: v1::TaskInfo,
        resources: ResourceSet,
        executor_info: Option<v1::ExecutorInfo>,
        executor_charge: Option<ResourceSet>,
    ) {
        let task_id = info.task_id.value.clone();
        // The CNI isolator skips a network entry without a name: its
        // static address does nothing.
        let requested = info
            .container
            .as_ref()
            .and_then(|c| c.network_infos.iter().find(|n| n.name.is_some()));
        let network_name = requested.and_then(|n| n.name.clone());
        let static_ip = requested
            .and_then(|n| n.ip_addresses.iter().find_map(|a| a.ip_address.clone()))
            .filter(|ip| !ip.is_empty());
        let ip = match (static_ip, requested) {
            (Some(ip), _) => ip,
            // A container on a named network gets its own address.
            (None, Some(_)) => self.new_task_ip(),
            // Host networking: the agent's address.
            (None, None) => self
                .agents
                .get(agent_id)
                .map(|a| a.ip.clone())
                .unwrap_or_default(),
        };
        let executor_id = executor_info.as_ref().map(|e| e.executor_id.value.clone());
        let launch_failure = validation::agent_launch_failure(&info).is_some();
        // Tasks of a group (the DEFAULT executor) nest in the executor's
        // container, which the first task of the executor creates.
        let parent_container_id = executor_info
            .as_ref()
            .filter(|e| e.r#type() == v1::executor_info::Type::Default)
            .map(|e| {
                self.frameworks
                    .get(framework_id)
                    .zip(self.agents.get(agent_id))
                    .and_then(|(f, agent)| {
                        agent
                            .tasks
                            .iter()
                            .filter(|(fid, _)| fid == framework_id)
                            .filter_map(|(_, t)| f.tasks.get(t))
                            .find(|t| {
                                t.agent_id == agent_id
                                    && !is_terminal(t.state)
                                    && t.executor_id.as_deref()
                                        == Some(e.executor_id.value.as_str())
                            })
                    })
                    .and_then(|t| t.parent_container_id.clone())
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
            });
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.used.add(&resources);
            if let (Some(charge), Some(e)) = (executor_charge, executor_info.as_ref()) {
                agent.used.add(&charge);
                agent.executors.insert(
                    (framework_id.to_string(), e.executor_id.value.clone()),
                    charge,
                );
            }
            agent
                .tasks
                .insert((framework_id.to_string(), task_id.clone()));
        }
        let task = Task {
            info,
            framework_id: framework_id.to_string(),
            agent_id: agent_id.to_string(),
            executor_id,
            executor_info,
            parent_container_id,
            role: role.to_string(),
            resources,
            state: TaskState::TaskStaging,
            unreachable: None,
            pending: Default::default(),
            retry_backoff: self.timings.status_update_retry,
            retry_gen: 0,
            step_gen: 0,
            killing: false,
            healthy: None,
            ip,
            network_name,
            container_id: uuid::Uuid::new_v4().to_string(),
            statuses: vec![(TaskState::TaskStaging, self.wall_now, None)],
        };
        debug_assert!(!is_terminal(task.state));
        info!(framework_id, task_id, agent_id, "launching task");
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            fw.tasks.insert(task_id.clone(), task);
        }
        self.stats.tasks_launched += 1;
        self.stats.offer_events_at_last_launch = self.stats.offer_events;
        // The executor reports STARTING as soon as it runs the task; a
        // container the agent's isolators refuse never starts.
        let step = if launch_failure {
            Step::LaunchFailed
        } else {
            Step::Starting
        };
        self.schedule(
            now,
            Timer::TaskStep {
                framework_id: framework_id.to_string(),
                task_id,
                step,
                generation: 0,
            },
        );
    }
}

/// The tasks a LAUNCH or LAUNCH_GROUP operation names.
fn launch_tasks(op: &v1::offer::Operation) -> Vec<&v1::TaskInfo> {
    match op.r#type() {
        Op::Launch => op.launch.iter().flat_map(|l| l.task_infos.iter()).collect(),
        Op::LaunchGroup => op
            .launch_group
            .iter()
            .flat_map(|g| g.task_group.tasks.iter())
            .collect(),
        _ => Vec::new(),
    }
}
