//! The checks a real master makes on the tasks and executors of a LAUNCH /
//! LAUNCH_GROUP before it forwards them to an agent, as
//! `src/master/validation.cpp` (namespaces `task`, `task::group`,
//! `executor`) and `src/common/validation.cpp` write them, with their
//! messages word for word; and the checks a real agent's isolators make
//! when they prepare the container (`network/cni`, `docker/volume`), which
//! fail the task after it was accepted.
//!
//! Only the stateless checks live here: the ones that need the master's
//! state (unique task id, the offer's agent, the offered resources, an
//! executor already running on the agent) are in `accept.rs`, which calls
//! these in the master's order so the first error is the one Mesos reports.
//!
//! Fields our proto subset does not carry (`linux_info`, CSI volumes,
//! resource providers) cannot be checked: a framework sending them sees
//! them dropped on decoding, as an older master would.

use std::collections::HashSet;

use super::master::validate_id;
use super::resources::ResourceSet;
use hydrogen_mesos::v1;

/// What `Master::accept` changes in a launch before validating it: an
/// executor of a LAUNCH gets the framework id, a health check without a
/// `type` gets one from its `command` / `http` field (backwards
/// compatibility), and every task of a LAUNCH_GROUP gets the group's
/// executor.
pub(super) fn normalize_launch(op: &mut v1::offer::Operation, framework_id: &str) {
    if let Some(launch) = op.launch.as_mut() {
        for task in &mut launch.task_infos {
            if let Some(exec) = task.executor.as_mut()
                && exec.framework_id.is_none()
            {
                exec.framework_id = Some(v1::FrameworkId {
                    value: framework_id.to_string(),
                });
            }
            if let Some(hc) = task.health_check.as_mut()
                && hc.r#type.is_none()
            {
                match (hc.command.is_some(), hc.http.is_some()) {
                    (true, false) => hc.set_type(v1::health_check::Type::Command),
                    (false, true) => hc.set_type(v1::health_check::Type::Http),
                    _ => {}
                }
            }
        }
    }
    if let Some(group) = op.launch_group.as_mut() {
        for task in &mut group.task_group.tasks {
            if task.executor.is_none() {
                task.executor = Some(group.executor.clone());
            }
        }
    }
}

/// `validateAndUpgradeResources` (resources_utils.cpp): the resources of
/// every task and executor of a LAUNCH / LAUNCH_GROUP pass
/// `Resources::validate` before anything else is checked; one bad
/// resource fails the whole operation (every task in it gets TASK_ERROR
/// with this message).
pub(super) fn operation_resources(op: &v1::offer::Operation) -> Result<(), String> {
    if let Some(launch) = &op.launch {
        for task in &launch.task_infos {
            resources(&task.resources)?;
            if let Some(exec) = &task.executor {
                resources(&exec.resources)?;
            }
        }
    }
    if let Some(group) = &op.launch_group {
        resources(&group.executor.resources)?;
        for task in &group.task_group.tasks {
            resources(&task.resources)?;
            if let Some(exec) = &task.executor {
                resources(&exec.resources)?;
            }
        }
    }
    Ok(())
}

/// `Resources::validate(RepeatedPtrField<Resource>)` for the value
/// checks: `Resource '<resource>' is invalid: <why>`.
fn resources(list: &[v1::Resource]) -> Result<(), String> {
    for r in list {
        resource(r).map_err(|e| format!("Resource '{}' is invalid: {e}", describe(r)))?;
    }
    Ok(())
}

fn resource(r: &v1::Resource) -> Result<(), String> {
    use v1::value::Type;
    if r.name.is_empty() {
        return Err("Empty resource name".into());
    }
    match r.r#type() {
        Type::Scalar => {
            let Some(scalar) = r
                .scalar
                .as_ref()
                .filter(|_| r.ranges.is_none() && r.set.is_none())
            else {
                return Err("Invalid scalar resource".into());
            };
            // Mesos compares scalars in fixed point with three decimals:
            // a value that is not zero must not round to zero or below.
            let v = scalar.value;
            if v != 0.0 && (v * 1000.0).round() <= 0.0 {
                return Err("Invalid scalar resource: value <= 0".into());
            }
        }
        Type::Ranges => {
            let Some(ranges) = r
                .ranges
                .as_ref()
                .filter(|_| r.scalar.is_none() && r.set.is_none())
            else {
                return Err("Invalid ranges resource".into());
            };
            for (i, a) in ranges.range.iter().enumerate() {
                if a.begin > a.end {
                    return Err("Invalid ranges resource: begin > end".into());
                }
                if ranges.range[i + 1..]
                    .iter()
                    .any(|b| a.begin <= b.begin && b.begin <= a.end)
                {
                    return Err("Invalid ranges resource: overlapping ranges".into());
                }
            }
        }
        Type::Set => {
            let Some(set) = r
                .set
                .as_ref()
                .filter(|_| r.scalar.is_none() && r.ranges.is_none())
            else {
                return Err("Invalid set resource".into());
            };
            let mut seen = HashSet::new();
            if set.item.iter().any(|i| !seen.insert(i)) {
                return Err("Invalid set resource: duplicated elements".into());
            }
        }
        Type::Text => return Err("Unsupported resource type".into()),
    }
    Ok(())
}

/// `stringify(Resource)` for a resource as a framework sends it (no
/// allocation info yet): `cpus:-1`, `ports:[31000-31001]`, `zones:{a, b}`.
fn describe(r: &v1::Resource) -> String {
    let value = if let Some(s) = &r.scalar {
        s.value.to_string()
    } else if let Some(ranges) = &r.ranges {
        let parts: Vec<String> = ranges
            .range
            .iter()
            .map(|x| format!("{}-{}", x.begin, x.end))
            .collect();
        format!("[{}]", parts.join(", "))
    } else if let Some(set) = &r.set {
        format!("{{{}}}", set.item.join(", "))
    } else {
        String::new()
    };
    format!("{}:{value}", r.name)
}

/// `task::internal::validateTask` from the kill policy on (the id, unique
/// id and agent checks come first and need the master's state): kill
/// policy, max completion time, check, health check, resources present,
/// command info, container info, resource limits.
pub(super) fn task_fields(task: &v1::TaskInfo) -> Result<(), String> {
    if task
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
        .is_some_and(|g| g.nanoseconds < 0)
    {
        return Err("Task's 'kill_policy.grace_period' must be non-negative".into());
    }
    if task
        .max_completion_time
        .as_ref()
        .is_some_and(|d| d.nanoseconds < 0)
    {
        return Err("Task's `max_completion_time` must be non-negative".into());
    }
    if let Some(check) = &task.check {
        check_info(check).map_err(|e| format!("Task uses invalid check: {e}"))?;
    }
    if let Some(hc) = &task.health_check {
        health_check(hc).map_err(|e| format!("Task uses invalid health check: {e}"))?;
    }
    if task.resources.is_empty() {
        return Err("Task uses no resources".into());
    }
    ResourceSet::from_protos(&task.resources)
        .map_err(|e| format!("Task uses invalid resources: {e}"))?;
    if let Some(command) = &task.command {
        command_info(command).map_err(|e| format!("Task's `CommandInfo` is invalid: {e}"))?;
    }
    if let Some(container) = &task.container {
        container_info(container).map_err(|e| format!("Task's `ContainerInfo` is invalid: {e}"))?;
    }
    resource_limits(task)
}

/// `task::internal::validateResourceLimits` (the agents we model all have
/// the TASK_RESOURCE_LIMITS capability, as 1.11+ agents do).
fn resource_limits(task: &v1::TaskInfo) -> Result<(), String> {
    if task.limits.is_empty() {
        return Ok(());
    }
    if task.limits.keys().any(|k| k != "cpus" && k != "mem") {
        return Err("Only cpus and mem may be included in a task's resource limits".into());
    }
    let sum = |name: &str| -> Option<f64> {
        let mut found = false;
        let mut total = 0.0;
        for r in task.resources.iter().filter(|r| r.name == name) {
            if let Some(s) = &r.scalar {
                found = true;
                total += s.value;
            }
        }
        found.then_some(total)
    };
    if let Some(limit) = task.limits.get("cpus") {
        let Some(request) = sum("cpus") else {
            return Err(
                "When a CPU limit is specified, a CPU request must also be specified".into(),
            );
        };
        if limit.value < request {
            return Err("The cpu limit must be greater than or equal to the cpu request".into());
        }
    }
    if let Some(limit) = task.limits.get("mem") {
        let Some(request) = sum("mem") else {
            return Err(
                "When a memory limit is specified, a memory request must also be specified".into(),
            );
        };
        if !limit.value.is_infinite() && limit.value < request {
            return Err(
                "The memory limit must be greater than or equal to the memory request".into(),
            );
        }
    }
    Ok(())
}

/// `executor::validate`: type, id, shutdown grace period, command,
/// container; the checks every executor of a LAUNCH or LAUNCH_GROUP gets
/// before the framework id and resources.
pub(super) fn executor(exec: &v1::ExecutorInfo) -> Result<(), String> {
    use v1::executor_info::Type;
    match exec.r#type.map(|_| exec.r#type()) {
        Some(Type::Default) => {
            if exec.command.is_some() {
                return Err("'ExecutorInfo.command' must not be set for 'DEFAULT' executor".into());
            }
            if let Some(c) = &exec.container {
                if c.r#type() != v1::container_info::Type::Mesos {
                    return Err(
                        "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor"
                            .into(),
                    );
                }
                if c.mesos.as_ref().is_some_and(|m| m.image.is_some()) {
                    return Err(
                        "'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor"
                            .into(),
                    );
                }
            }
        }
        Some(Type::Custom) => {
            if exec.command.is_none() {
                return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".into());
            }
        }
        Some(Type::Unknown) | None => {}
    }
    validate_id(&exec.executor_id.value)?;
    if exec
        .shutdown_grace_period
        .as_ref()
        .is_some_and(|d| d.nanoseconds < 0)
    {
        return Err("ExecutorInfo's 'shutdown_grace_period' must be non-negative".into());
    }
    if let Some(command) = &exec.command {
        command_info(command).map_err(|e| format!("Executor's `CommandInfo` is invalid: {e}"))?;
    }
    if let Some(container) = &exec.container {
        container_info(container)
            .map_err(|e| format!("Executor's `ContainerInfo` is invalid: {e}"))?;
    }
    Ok(())
}

/// `common::validation::validateCommandInfo`: its environment.
pub(super) fn command_info(command: &v1::CommandInfo) -> Result<(), String> {
    use v1::environment::variable::Type;
    let Some(env) = &command.environment else {
        return Ok(());
    };
    for var in &env.variables {
        let name = &var.name;
        match var.r#type() {
            Type::Secret => {
                let Some(secret) = &var.secret else {
                    return Err(format!(
                        "Environment variable '{name}' of type 'SECRET' must have a secret set"
                    ));
                };
                if var.value.is_some() {
                    return Err(format!(
                        "Environment variable '{name}' of type 'SECRET' must not have a value set"
                    ));
                }
                validate_secret(secret).map_err(|e| {
                    format!("Environment variable '{name}' specifies an invalid secret: {e}")
                })?;
                if secret.value.as_ref().is_some_and(|v| v.data.contains(&0u8)) {
                    return Err(format!(
                        "Environment variable '{name}' specifies a secret containing null bytes, which is not allowed in the environment"
                    ));
                }
            }
            Type::Value => {
                if var.value.is_none() {
                    return Err(format!(
                        "Environment variable '{name}' of type 'VALUE' must have a value set"
                    ));
                }
                if var.secret.is_some() {
                    return Err(format!(
                        "Environment variable '{name}' of type 'VALUE' must not have a secret set"
                    ));
                }
            }
            Type::Unknown => {
                return Err("Environment variable of type 'UNKNOWN' is not allowed".into());
            }
        }
    }
    Ok(())
}

fn validate_secret(secret: &v1::Secret) -> Result<(), String> {
    use v1::secret::Type;
    match secret.r#type() {
        Type::Reference => {
            let Some(reference) = &secret.reference else {
                return Err("Secret of type REFERENCE must have the 'reference' field set".into());
            };
            if secret.value.is_some() {
                return Err(format!(
                    "Secret '{}' of type REFERENCE must not have the 'value' field set",
                    reference.name
                ));
            }
        }
        Type::Value => {
            if secret.value.is_none() {
                return Err("Secret of type VALUE must have the 'value' field set".into());
            }
            if secret.reference.is_some() {
                return Err("Secret of type VALUE must not have the 'reference' field set".into());
            }
        }
        Type::Unknown => {}
    }
    Ok(())
}

/// `common::validation::validateContainerInfo`: volumes, then the Docker
/// info of a DOCKER container.
pub(super) fn container_info(container: &v1::ContainerInfo) -> Result<(), String> {
    for volume in &container.volumes {
        validate_volume(volume).map_err(|e| format!("Invalid volume: {e}"))?;
    }
    if container.r#type() == v1::container_info::Type::Docker {
        let Some(docker) = &container.docker else {
            return Err("DockerInfo 'docker' is not set for DOCKER typed ContainerInfo".into());
        };
        if docker.parameters.iter().any(|p| p.key == "name") {
            return Err("Parameter in DockerInfo must not be 'name'".into());
        }
    }
    Ok(())
}

fn validate_volume(volume: &v1::Volume) -> Result<(), String> {
    use v1::volume::source::Type;
    let count = usize::from(volume.host_path.is_some())
        + usize::from(volume.image.is_some())
        + usize::from(volume.source.is_some());
    if count != 1 {
        return Err("Only one of them should be set: 'host_path', 'image' and 'source'".into());
    }
    if let Some(source) = &volume.source {
        // An unset or unknown `type` reads as UNKNOWN, which Mesos refuses.
        match source.r#type() {
            Type::DockerVolume if source.docker_volume.is_none() => {
                return Err("'source.docker_volume' is not set for DOCKER_VOLUME volume".into());
            }
            Type::HostPath if source.host_path.is_none() => {
                return Err("'source.host_path' is not set for HOST_PATH volume".into());
            }
            Type::SandboxPath if source.sandbox_path.is_none() => {
                return Err("'source.sandbox_path' is not set for SANDBOX_PATH volume".into());
            }
            Type::Secret if source.secret.is_none() => {
                return Err("'source.secret' is not set for SECRET volume".into());
            }
            Type::DockerVolume | Type::HostPath | Type::SandboxPath | Type::Secret => {}
            _ => return Err("'source.type' is unknown".into()),
        }
    }
    Ok(())
}

/// `common::validation::validateHealthCheck`.
pub(super) fn health_check(hc: &v1::HealthCheck) -> Result<(), String> {
    use v1::health_check::Type;
    if hc.r#type.is_none() {
        return Err("HealthCheck must specify 'type'".into());
    }
    match hc.r#type() {
        Type::Command => {
            let Some(command) = &hc.command else {
                return Err("Expecting 'command' to be set for COMMAND health check".into());
            };
            if command.value.is_none() {
                return Err(format!(
                    "Command health check must contain {}",
                    shell_kind(command)
                ));
            }
            command_info(command)
                .map_err(|e| format!("Health check's `CommandInfo` is invalid: {e}"))?;
        }
        Type::Http => {
            let Some(http) = &hc.http else {
                return Err("Expecting 'http' to be set for HTTP health check".into());
            };
            if let Some(scheme) = &http.scheme
                && scheme != "http"
                && scheme != "https"
            {
                return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
            }
            if let Some(path) = &http.path
                && !path.starts_with('/')
            {
                return Err(format!(
                    "The path '{path}' of HTTP health check must start with '/'"
                ));
            }
        }
        Type::Tcp => {
            if hc.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP health check".into());
            }
        }
        Type::Unknown => return Err("'UNKNOWN' is not a valid health check type".into()),
    }
    non_negative("delay_seconds", hc.delay_seconds)?;
    non_negative("grace_period_seconds", hc.grace_period_seconds)?;
    non_negative("interval_seconds", hc.interval_seconds)?;
    non_negative("timeout_seconds", hc.timeout_seconds)
}

/// `common::validation::validateCheckInfo`.
pub(super) fn check_info(check: &v1::CheckInfo) -> Result<(), String> {
    use v1::check_info::Type;
    if check.r#type.is_none() {
        return Err("CheckInfo must specify 'type'".into());
    }
    match check.r#type() {
        Type::Command => {
            let Some(command) = &check.command else {
                return Err("Expecting 'command' to be set for COMMAND check".into());
            };
            let command = &command.command;
            if command.value.is_none() {
                return Err(format!(
                    "Command check must contain {}",
                    shell_kind(command)
                ));
            }
            command_info(command).map_err(|e| format!("Check's `CommandInfo` is invalid: {e}"))?;
        }
        Type::Http => {
            let Some(http) = &check.http else {
                return Err("Expecting 'http' to be set for HTTP check".into());
            };
            if let Some(path) = &http.path
                && !path.starts_with('/')
            {
                return Err(format!(
                    "The path '{path}' of HTTP check must start with '/'"
                ));
            }
        }
        Type::Tcp => {
            if check.tcp.is_none() {
                return Err("Expecting 'tcp' to be set for TCP check".into());
            }
        }
        Type::Unknown => return Err("'UNKNOWN' is not a valid check type".into()),
    }
    non_negative("delay_seconds", check.delay_seconds)?;
    non_negative("interval_seconds", check.interval_seconds)?;
    non_negative("timeout_seconds", check.timeout_seconds)
}

fn shell_kind(command: &v1::CommandInfo) -> &'static str {
    if command.shell() {
        "'shell command'"
    } else {
        "'executable path'"
    }
}

fn non_negative(field: &str, value: Option<f64>) -> Result<(), String> {
    if value.is_some_and(|v| v < 0.0) {
        return Err(format!("Expecting '{field}' to be non-negative"));
    }
    Ok(())
}

/// `task::group::internal::validateTask`: what a task of a LAUNCH_GROUP
/// needs beyond a LAUNCH task (after [`task_fields`]).
pub(super) fn group_task(task: &v1::TaskInfo) -> Result<(), String> {
    if task.executor.is_none() {
        return Err("'TaskInfo.executor' must be set".into());
    }
    if let Some(c) = &task.container {
        if !c.network_infos.is_empty()
            && task.health_check.as_ref().is_some_and(|h| {
                matches!(
                    h.r#type(),
                    v1::health_check::Type::Http | v1::health_check::Type::Tcp
                )
            })
        {
            return Err("HTTP and TCP health checks are not supported for nested containers not joining parent's network".into());
        }
        if c.r#type() == v1::container_info::Type::Docker {
            return Err("Docker ContainerInfo is not supported on the task".into());
        }
    }
    if !task.limits.is_empty() {
        // `share_cgroups: false` is in `linux_info`, which our subset does
        // not carry: limits on a group task can never be valid here.
        return Err("Resource limits may only be set for tasks within a task group when the 'share_cgroups' field is set to 'false'.".into());
    }
    Ok(())
}

/// Why a real agent fails a container at launch although the master
/// accepted it: the CNI isolator refuses to join one network twice, the
/// Docker volume isolator to mount one (driver, name) twice, and a Docker
/// volume without a driver. The agent then sends TASK_FAILED with
/// REASON_CONTAINER_LAUNCH_FAILED and this message.
pub(super) fn agent_launch_failure(task: &v1::TaskInfo) -> Option<String> {
    let container = task.container.as_ref()?;
    // Both isolators only prepare MESOS containers.
    if container.r#type() != v1::container_info::Type::Mesos {
        return None;
    }
    let mut networks = HashSet::new();
    for network in &container.network_infos {
        // An entry without a name is skipped by the CNI isolator.
        let Some(name) = &network.name else {
            continue;
        };
        if !networks.insert(name.as_str()) {
            return Some(format!(
                "Failed to launch container: Attempted to join CNI network '{name}' multiple times"
            ));
        }
    }
    let mut volumes = HashSet::new();
    for volume in &container.volumes {
        let Some(source) = &volume.source else {
            continue;
        };
        if source.r#type() != v1::volume::source::Type::DockerVolume {
            continue;
        }
        let Some(dv) = &source.docker_volume else {
            continue;
        };
        let Some(driver) = &dv.driver else {
            return Some(format!(
                "Failed to launch container: The volume driver is not specified for volume '{}'",
                dv.name
            ));
        };
        if !volumes.insert((driver.as_str(), dv.name.as_str())) {
            return Some(format!(
                "Failed to launch container: Found duplicate docker volume with driver '{driver}' and name '{}'",
                dv.name
            ));
        }
    }
    None
}
