//! The launch builder: one app instance plus a placement become the Mesos
//! `TaskInfo` a LAUNCH operation carries, for the universal container runtime
//! (the Mesos containerizer).
//!
//! Everything here is a pure function of its inputs: no clock, no I/O, no
//! randomness except [`new_task_id`]. The scheduler persists the task record
//! (with the id from [`new_task_id`]) before it sends the ACCEPT built from
//! [`task_info`] (invariant 1 of the design, `docs/design.md#invariants`), so the builder never decides anything the
//! store does not already know.
//!
//! What the master checks (read in `src/master/validation.cpp` and
//! `src/common/validation.cpp` of apache/mesos) and how we meet it is noted
//! field by field below; a TaskInfo that would fail those checks, or that
//! cannot honour the app, is refused here with a [`LaunchError`] naming the
//! field, instead of becoming a TASK_ERROR later.
//!
//! # Task ids
//!
//! `<app>.<instance>.<uuid>`, the uuid a v4 UUID in its 32-hex-digit simple
//! form: unique per launch (a relaunch of instance 3 gets a new id, unlike the
//! original's `name-3`), and traceable: [`parse_task_id`] gives back the app
//! and the instance of any id we made, and `None` for any other id (tasks of
//! other frameworks' conventions, executor ids). App names hold no `.` (the
//! spec forbids it), so the split is unambiguous. Ids stay far below the
//! master's limit (255 characters, no `/`): at most 63 + 1 + 10 + 1 + 32.
//!
//! # The mapping, field by field
//!
//! | TaskInfo field | from | notes |
//! | --- | --- | --- |
//! | `name` | `name` | |
//! | `task_id` | [`LaunchRequest::task_id`] | must parse as ours, for this app and instance |
//! | `agent_id` | the offer's agent | |
//! | `resources` | placement, as given | never empty (the master refuses a task without resources) |
//! | `labels` | `labels`, then `hydrogen.app`, `hydrogen.instance`, `hydrogen.version` | |
//! | `command` | `command` (no custom executor) | see *Command* |
//! | `container` | `container` | see *Container* |
//! | `health_check` | `healthcheck` | see *Health check* |
//! | `executor` | `executor`, else [`LaunchDefaults::executor`] | see *Custom executor* |
//! | `data` | with a custom executor only | the task's `CommandInfo` as Mesos JSON |
//!
//! ## Labels
//!
//! The app's `labels` (sorted by key), then ours: `hydrogen.app` (the app
//! name), `hydrogen.instance` (the instance number) and `hydrogen.version`
//! (the app version the task runs, which the rolling update compares). Those
//! three keys are reserved: an app label with one of them is a
//! [`LaunchError::Reserved`] rather than a silent override, because tools
//! that read them (and our own reconciliation, reading tasks back from
//! `/master/state`) must be able to trust them.
//!
//! ## Command
//!
//! Without a custom executor the task runs under the Mesos command executor
//! and carries a `CommandInfo`:
//!
//! - `command.cmd` given: `value` = cmd, `shell` = true (`/bin/sh -c cmd`;
//!   set explicitly although it is the proto default, so the intent is on the
//!   wire).
//! - no `cmd` but a `container.image`: `shell` = false and no `value`. That is
//!   the combination for which the Mesos `docker/runtime` isolator runs the
//!   image's own `Entrypoint` + `Cmd` (with `shell` true, or with a `value`,
//!   it ignores them). Neither: [`LaunchError::MissingCommand`] (the spec
//!   refuses such apps already; this guards unvalidated input).
//! - `environment`: the app's `command.environment`, plus what we set:
//!   `PORT0`..`PORT<n-1>` (the host ports placement took, in its order) and
//!   `PORTS` (all of them, comma separated), `HYDROGEN_APP`,
//!   `HYDROGEN_INSTANCE`, `HYDROGEN_TASK_ID` and `HYDROGEN_APP_VERSION`.
//!   The app's own value wins over a `PORT*` variable (as in Marathon: an
//!   image may insist on `PORT0=80`), but the `HYDROGEN_*` names are
//!   reserved ([`LaunchError::Reserved`]): they identify the task. Variables
//!   are sorted by name and typed `VALUE` explicitly (the master refuses a
//!   `VALUE` variable without a value, so none is ever sent without one).
//! - `uris`: one `URI` per `command.uris[]` entry: `value` = uri,
//!   `extract` (default true, the Mesos default), `executable` (`execute`,
//!   default false), `cache` (default false), `output_file` when given. The
//!   three flags are always written, so what the fetcher does is readable in
//!   the TaskInfo.
//!
//! ## Container
//!
//! A `ContainerInfo` is sent only when something needs one: an image, a
//! volume or a network. Its `type` is always `MESOS` (the universal container
//! runtime; Hydrogen never uses the Docker containerizer). Volumes and CNI
//! networks need a `MESOS` ContainerInfo even without an image (the
//! `test-app` example: a CNI network, no image), and an app with none of the
//! three runs on the agent's host filesystem and network, as Mesos does
//! without a ContainerInfo.
//!
//! - `image` → `mesos.image` = `{type: DOCKER, docker: {name: image}}`
//!   (`cached` left to its default, true: the agent pulls once per tag).
//! - A host-path volume → `{container_path, host_path, mode}` with `mode`
//!   `RO` for `"ro"` and `RW` otherwise (Mesos requires a mode). We use the
//!   `Volume.host_path` field rather than a `HOST_PATH` source: it is served
//!   by the `filesystem/linux` isolator every image-capable agent runs,
//!   whereas the `HOST_PATH` source needs `volume/host_path` enabled as well.
//!   A relative `container_path` is inside the sandbox; an absolute one
//!   without an image must already exist on the agent (Mesos mounts onto the
//!   host's own filesystem then), which only the agent can check.
//! - A Docker volume → `{container_path, mode, source: {type: DOCKER_VOLUME,
//!   docker_volume: {driver, name, driver_options}}}` (needs the agent's
//!   `docker/volume` isolator). `container_path` defaults to the volume name
//!   (relative, so inside the sandbox) as the README's example gives none;
//!   `driver_options` holds one `Parameter` per driver option (`"k=v"`
//!   strings and `{"k": "v"}` objects alike; the README's `""` is dropped)
//!   and is omitted when there is none. The master requires exactly one of
//!   `host_path` / `image` / `source` per volume; the spec guarantees that.
//! - Each `network[]` entry → one `NetworkInfo`:
//!   - `name` → `name` (the CNI network). The spec requires it: the Mesos
//!     `network/cni` isolator skips unnamed `NetworkInfo`s, so an unnamed
//!     entry's static IPs, groups, labels and port mappings would silently
//!     do nothing (the README's static-IP example had none; our
//!     `full-enumeration.json` puts its IPs on `FE-CNI`). Names are
//!     distinct (the spec refuses a network joined twice).
//!   - each `ipaddress[]` → `ip_addresses[]`: `protocol` `IPv4`/`IPv6`
//!     (declared, else inferred from the address) and `ip_address`; an entry
//!     with only a protocol has no `ip_address`, which asks IPAM for one.
//!   - `groups`: the entry's `group`, then every address's `group`, first
//!     occurrence kept. Mesos has groups per NetworkInfo, not per address:
//!     the README's "this interface is also in group ..." means the same.
//!   - `labels`: the entry's `labels`, then every address's `labels`, in
//!     order, exact duplicates dropped. Mesos `Labels` may repeat a key, so
//!     the full enumeration's two `some_label` values both reach the CNI
//!     plugin.
//!   - `port_mapping[]` → `port_mappings[]`: `container_port`, `protocol`
//!     (`tcp`/`udp`, omitted when absent: Mesos assumes tcp) and `host_port`,
//!     which must be a port the task holds (below).
//!
//! ## Ports
//!
//! [`LaunchRequest::ports`] lists the host ports placement took from the
//! offer's `ports` resource, in order. Each must lie in a `ports` range of
//! [`LaunchRequest::resources`] (else the task would use a port Mesos may
//! give to someone else); there must be at least `resources.ports` of them.
//! A port mapping with a fixed `host_port` must name one of them. A mapping
//! with `host_port` 0 takes the next of them that no fixed mapping names: the
//! builder supports it, but the spec currently accepts only 1..=65535, so
//! such mappings need a spec change to be written. [`port_needs`] tells
//! placement which ports and how many to take. Shortfalls are
//! [`LaunchError::Ports`].
//!
//! ## Health check
//!
//! `healthcheck` (either form, through [`spec::HealthCheck::resolve`]) →
//! `HealthCheck` with `type` `HTTP` (`http: {scheme, port, path,
//! statuses}`; statuses omitted when empty, meaning 200..=399), `TCP`
//! (`tcp: {port}`) or `COMMAND` (`command`: a shell `CommandInfo` of the
//! check's `cmd`, environment and uris). Ports are container-side: the
//! command and default executors run HTTP and TCP checks inside the task's
//! network namespace. A `port_index` (the HTTP, TCP or endpoint form) becomes
//! the task's host port of that index in [`LaunchRequest::ports`] (the port
//! the task sees as `$PORT<index>`), or, when a port mapping of the task maps
//! that host port, the mapping's container port (where the app listens inside
//! its namespace); an index beyond the allocated ports is
//! [`LaunchError::Ports`] (the spec refuses one beyond `resources.ports`). Timing: `delay` → `delay_seconds`, `interval` →
//! `interval_seconds`, `timeout` → `timeout_seconds`, `graceperiod` →
//! `grace_period_seconds`, `fails` → `consecutive_failures`. Absent fields
//! are written with the Mesos defaults (15, 10, 20, 10 s and 3) rather than
//! left out, so the TaskInfo (and the State API showing it) says exactly what
//! runs; the values are the proto's defaults, so nothing changes on the agent.
//!
//! ## Custom executor
//!
//! With `executor` in the app, or else [`LaunchDefaults::executor`], the task
//! runs under that executor: `TaskInfo.executor` is set and
//! `TaskInfo.command` is not (the master requires exactly one of the two).
//!
//! - `executor_id` = `<task_id>.executor`: **one executor per task**. The
//!   master refuses a launch whose ExecutorInfo differs in any byte from the
//!   one already running under the same id on that agent, and ours carries
//!   per-task environment; sharing an executor per app version would also tie
//!   sibling tasks' lifetimes together (a crashing executor takes all its
//!   tasks) and make resource accounting depend on whether the executor was
//!   already up. The original ran one task per executor too. The cost is one
//!   executor process per task. The id does not parse as a task id.
//! - `type` CUSTOM, `framework_id` (the master requires it to match),
//!   `name` (the executor's `name`, else `hydrogen:<app>`), `source` = the
//!   task id (what the Mesos command executor uses; it keys per-executor
//!   metrics), labels = our three `hydrogen.*` labels.
//! - `command`: the executor's `cmd`; `shell` as given (default true). With
//!   `shell` false, `cmd` is the executable and `arguments` = `[cmd]` (Mesos
//!   execs `value` with `arguments` as the full argv, argv\[0\] included).
//!   `uris`: the executor's, then the app's `command.uris` (the fetcher only
//!   fetches the executor's `CommandInfo` when there is no task command; the
//!   seed README used `command.uris` to bring the executor binary).
//!   `environment`: the executor's `environment` plus our `PORT*` and
//!   `HYDROGEN_*` variables, so even a naive executor knows its task (the
//!   `HYDROGEN_*` names are reserved here too).
//! - `container`: the app's `ContainerInfo` (image, volumes, networks) goes on
//!   the **ExecutorInfo**, not on the TaskInfo: for a task with an executor
//!   the Mesos containerizer builds the container from the ExecutorInfo, so
//!   that is where the image, volumes and networks take effect (Marathon does
//!   the same).
//! - `resources`: none. The master only logs a warning for an executor
//!   without cpus/mem, and the agent sizes the executor's container as the
//!   sum of executor and task resources, so the task's resources (all
//!   placement took) cover it; asking for more would make placement carve a
//!   second set per task.
//! - What the task runs goes in `TaskInfo.data`: the Mesos JSON of the
//!   `CommandInfo` the command executor would have received (`value`,
//!   `shell`, full `environment`; no `uris`, which the fetcher has already
//!   put in the sandbox). JSON rather than protobuf so executors in any
//!   language read it with a JSON parser; the shape is Mesos's own, so one
//!   that links the Mesos protos can parse it as a `CommandInfo`.
//! - `health_check` stays on the TaskInfo: a custom executor is responsible
//!   for running it (Mesos's command and default executors do so for their
//!   tasks; a custom one must implement it, or the check is silently unused).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;

use crate::mesos::encoding::to_json;
use crate::mesos::v1;
use crate::spec::{self, App, CheckPort, ResolvedCheck, VolumeMode};

pub use crate::spec::{LABEL_APP, LABEL_INSTANCE, LABEL_VERSION};
use crate::spec::{RESERVED_ENV_PREFIX, RESERVED_LABELS};
/// Suffix of executor ids: `<task_id>.executor`.
pub const EXECUTOR_ID_SUFFIX: &str = ".executor";

/// Mesos `HealthCheck.delay_seconds` default.
pub const DEFAULT_HEALTH_DELAY: f64 = 15.0;
/// Mesos `HealthCheck.interval_seconds` default.
pub const DEFAULT_HEALTH_INTERVAL: f64 = 10.0;
/// Mesos `HealthCheck.timeout_seconds` default.
pub const DEFAULT_HEALTH_TIMEOUT: f64 = 20.0;
/// Mesos `HealthCheck.grace_period_seconds` default.
pub const DEFAULT_HEALTH_GRACE: f64 = 10.0;
/// Mesos `HealthCheck.consecutive_failures` default.
pub const DEFAULT_HEALTH_FAILURES: u32 = 3;

const ENV_APP: &str = "HYDROGEN_APP";
const ENV_INSTANCE: &str = "HYDROGEN_INSTANCE";
const ENV_TASK_ID: &str = "HYDROGEN_TASK_ID";
const ENV_VERSION: &str = "HYDROGEN_APP_VERSION";

/// A new task id, `<app>.<instance>.<uuid>` (uuid v4, 32 lowercase hex
/// digits): unique per launch, traceable to app and instance.
pub fn new_task_id(app: &str, instance: u32) -> String {
    format!("{app}.{instance}.{}", uuid::Uuid::new_v4().simple())
}

/// The app and instance of a task id made by [`new_task_id`]; `None` for ids
/// that are not ours (wrong number of parts, an app name the spec would
/// refuse, a non-canonical instance number, a suffix that is not 32 lowercase
/// hex digits).
pub fn parse_task_id(id: &str) -> Option<(&str, u32)> {
    let mut parts = id.split('.');
    let (app, instance, uuid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let app_ok = !app.is_empty()
        && app.len() <= spec::MAX_NAME_LEN
        && app.starts_with(|c: char| c.is_ascii_alphanumeric())
        && app
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    // Canonical decimal only ("007" or "+7" are not ids we made).
    let instance_ok = !instance.is_empty()
        && instance.bytes().all(|b| b.is_ascii_digit())
        && (instance == "0" || !instance.starts_with('0'));
    let uuid_ok = uuid.len() == 32
        && uuid
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !(app_ok && instance_ok && uuid_ok) {
        return None;
    }
    Some((app, instance.parse().ok()?))
}

/// Everything one launch needs beyond the app: the placement's result.
#[derive(Debug, Clone)]
pub struct LaunchRequest<'a> {
    /// The app to run.
    pub app: &'a App,
    /// The app version the task runs (label `hydrogen.version`).
    pub app_version: u64,
    /// Instance slot, 0-based.
    pub instance: u32,
    /// From [`new_task_id`] for this app and instance, already persisted.
    pub task_id: String,
    /// The agent of the offer.
    pub agent_id: v1::AgentId,
    /// Our framework id (executors must carry it).
    pub framework_id: v1::FrameworkId,
    /// Resources carved from the offer by placement (already exact
    /// `v1::Resource` entries: roles, reservations, allocation info).
    pub resources: Vec<v1::Resource>,
    /// Host ports taken (for `PORT0`.., port mappings), in placement order;
    /// each inside a `ports` range of `resources`.
    pub ports: Vec<u32>,
}

/// Cluster-wide settings of the builder.
#[derive(Debug, Clone, Default)]
pub struct LaunchDefaults {
    /// Executor used for apps without their own (the global default); `None`
    /// runs such apps under the Mesos command executor.
    pub executor: Option<spec::Executor>,
}

/// The host ports a task of an app needs: placement must take every
/// `fixed` port and `count` ports in all (fixed ones included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortNeeds {
    /// Host ports named by port mappings, sorted, distinct.
    pub fixed: Vec<u32>,
    /// How many host ports in all: at least `resources.ports`, and enough for
    /// the fixed ports plus one per dynamic (`host_port` 0) mapping.
    pub count: u32,
}

/// What placement must take from an offer's `ports` for one task of `app`.
pub fn port_needs(app: &App) -> PortNeeds {
    let mut fixed = Vec::new();
    let mut dynamic = 0u32;
    for mapping in app
        .container
        .iter()
        .flat_map(|c| &c.network)
        .flat_map(|n| &n.port_mapping)
    {
        if mapping.host_port == 0 {
            dynamic = dynamic.saturating_add(1);
        } else {
            fixed.push(mapping.host_port);
        }
    }
    fixed.sort_unstable();
    fixed.dedup();
    let for_mappings = u32::try_from(fixed.len())
        .unwrap_or(u32::MAX)
        .saturating_add(dynamic);
    PortNeeds {
        count: app.resources.ports.unwrap_or(0).max(for_mappings),
        fixed,
    }
}

/// Why a TaskInfo cannot be built. Every variant names the field (a path in
/// the app, or a [`LaunchRequest`] field) and the rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LaunchError {
    /// The task id is not `<app>.<instance>.<uuid>` for this app and instance.
    #[error("task_id {task_id:?} must be {app}.{instance}.<32 hex digits> (see new_task_id)")]
    TaskId {
        /// The id given.
        task_id: String,
        /// The app it should name.
        app: String,
        /// The instance it should name.
        instance: u32,
    },
    /// Placement gave no resources (the master refuses such a task).
    #[error("resources must not be empty (the master refuses a task without resources)")]
    NoResources,
    /// Nothing to run: no `command.cmd`, no image, no executor.
    #[error("command.cmd is required unless container.image or an executor is given")]
    MissingCommand,
    /// The allocated host ports do not fit the app.
    #[error("{field} {message}")]
    Ports {
        /// Field path, e.g. `container.network[0].port_mapping[1].host_port`.
        field: String,
        /// The rule broken.
        message: String,
    },
    /// A label or environment variable uses a name Hydrogen sets itself.
    #[error("{field} is reserved: Hydrogen sets it on every task")]
    Reserved {
        /// Field path, e.g. `labels.hydrogen.app`.
        field: String,
    },
    /// The health check is incomplete (never for a validated app).
    #[error("healthcheck is incomplete: give endpoint, or type with its section")]
    HealthCheck,
}

impl LaunchError {
    /// The field the error is about.
    pub fn field(&self) -> &str {
        match self {
            LaunchError::TaskId { .. } => "task_id",
            LaunchError::NoResources => "resources",
            LaunchError::MissingCommand => "command.cmd",
            LaunchError::Ports { field, .. } | LaunchError::Reserved { field } => field,
            LaunchError::HealthCheck => "healthcheck",
        }
    }
}

/// Builds the TaskInfo for one launch (see the module docs for the mapping).
pub fn task_info(
    req: &LaunchRequest<'_>,
    defaults: &LaunchDefaults,
) -> Result<v1::TaskInfo, LaunchError> {
    let app = req.app;
    check_task_id(req)?;
    if req.resources.is_empty() {
        return Err(LaunchError::NoResources);
    }
    check_ports(req)?;
    let host_ports = mapping_host_ports(app, &req.ports)?;
    let labels = task_labels(req)?;
    let environment = task_environment(req)?;
    let executor = app.executor.as_deref().or(defaults.executor.as_ref());
    let command = task_command(app, environment, executor.is_some())?;
    let container = container_info(app, &host_ports);
    let health_check = app
        .healthcheck
        .as_ref()
        .map(|hc| health_check(hc, app, &req.ports, &host_ports))
        .transpose()?;

    let mut task = v1::TaskInfo {
        name: app.name.clone(),
        task_id: v1::TaskId {
            value: req.task_id.clone(),
        },
        agent_id: req.agent_id.clone(),
        resources: req.resources.clone(),
        health_check,
        labels: Some(labels),
        ..Default::default()
    };
    match executor {
        None => {
            task.command = Some(command);
            task.container = container;
        }
        Some(executor) => {
            // The task's command, minus the URIs the executor's fetch brings.
            let data = v1::CommandInfo {
                uris: Vec::new(),
                ..command
            };
            task.data = Some(Bytes::from(to_json(&data)));
            task.executor = Some(executor_info(req, executor, container)?);
        }
    }
    Ok(task)
}

fn check_task_id(req: &LaunchRequest<'_>) -> Result<(), LaunchError> {
    match parse_task_id(&req.task_id) {
        Some((app, instance)) if app == req.app.name && instance == req.instance => Ok(()),
        _ => Err(LaunchError::TaskId {
            task_id: req.task_id.clone(),
            app: req.app.name.clone(),
            instance: req.instance,
        }),
    }
}

/// The allocated ports: distinct, inside the request's `ports` ranges, and
/// as many as the app asks for.
fn check_ports(req: &LaunchRequest<'_>) -> Result<(), LaunchError> {
    let ranges: Vec<(u64, u64)> = req
        .resources
        .iter()
        .filter(|r| r.name == "ports")
        .filter_map(|r| r.ranges.as_ref())
        .flat_map(|r| r.range.iter().map(|x| (x.begin, x.end)))
        .collect();
    for (i, port) in req.ports.iter().enumerate() {
        if req.ports[..i].contains(port) {
            return Err(ports_error(
                format!("ports[{i}]"),
                format!("must not repeat port {port}"),
            ));
        }
        let p = u64::from(*port);
        if !ranges.iter().any(|&(b, e)| b <= p && p <= e) {
            return Err(ports_error(
                format!("ports[{i}]"),
                format!("must lie in a ports range of the task's resources, {port} does not"),
            ));
        }
    }
    let wanted = req.app.resources.ports.unwrap_or(0);
    if req.ports.len() < wanted as usize {
        return Err(ports_error(
            "resources.ports".into(),
            format!(
                "asks for {wanted} host ports, placement allocated {}",
                req.ports.len()
            ),
        ));
    }
    Ok(())
}

fn ports_error(field: String, message: String) -> LaunchError {
    LaunchError::Ports { field, message }
}

/// The host port of every port mapping, per network entry: fixed ones must
/// be allocated, dynamic ones (0) take the allocated ports no fixed mapping
/// names, in order.
fn mapping_host_ports(app: &App, ports: &[u32]) -> Result<Vec<Vec<u32>>, LaunchError> {
    let Some(container) = &app.container else {
        return Ok(Vec::new());
    };
    let fixed = port_needs(app).fixed;
    let mut free = ports.iter().copied().filter(|p| !fixed.contains(p));
    let mut out = Vec::with_capacity(container.network.len());
    for (n, network) in container.network.iter().enumerate() {
        let mut host_ports = Vec::with_capacity(network.port_mapping.len());
        for (m, mapping) in network.port_mapping.iter().enumerate() {
            let field = format!("container.network[{n}].port_mapping[{m}].host_port");
            let port = if mapping.host_port == 0 {
                free.next().ok_or_else(|| {
                    ports_error(
                        field,
                        format!(
                            "is 0 (any allocated port) but all {} allocated host ports are taken",
                            ports.len()
                        ),
                    )
                })?
            } else if ports.contains(&mapping.host_port) {
                mapping.host_port
            } else {
                return Err(ports_error(
                    field,
                    format!(
                        "{} must be one of the host ports allocated to the task ({})",
                        mapping.host_port,
                        join_ports(ports)
                    ),
                ));
            };
            host_ports.push(port);
        }
        out.push(host_ports);
    }
    Ok(out)
}

fn join_ports(ports: &[u32]) -> String {
    let mut s = String::new();
    for (i, p) in ports.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{p}");
    }
    s
}

fn label(key: &str, value: &str) -> v1::Label {
    v1::Label {
        key: key.to_owned(),
        value: Some(value.to_owned()),
    }
}

fn our_labels(req: &LaunchRequest<'_>) -> Vec<v1::Label> {
    vec![
        label(LABEL_APP, &req.app.name),
        label(LABEL_INSTANCE, &req.instance.to_string()),
        label(LABEL_VERSION, &req.app_version.to_string()),
    ]
}

fn task_labels(req: &LaunchRequest<'_>) -> Result<v1::Labels, LaunchError> {
    let mut labels = Vec::with_capacity(req.app.labels.len() + RESERVED_LABELS.len());
    for (k, v) in &req.app.labels {
        if RESERVED_LABELS.contains(&k.as_str()) {
            return Err(LaunchError::Reserved {
                field: format!("labels.{k}"),
            });
        }
        labels.push(label(k, v));
    }
    labels.extend(our_labels(req));
    Ok(v1::Labels { labels })
}

/// `PORT0..`, `PORTS` and the `HYDROGEN_*` identity.
fn our_environment(req: &LaunchRequest<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (i, port) in req.ports.iter().enumerate() {
        env.insert(format!("PORT{i}"), port.to_string());
    }
    if !req.ports.is_empty() {
        env.insert("PORTS".to_owned(), join_ports(&req.ports));
    }
    env.insert(ENV_APP.to_owned(), req.app.name.clone());
    env.insert(ENV_INSTANCE.to_owned(), req.instance.to_string());
    env.insert(ENV_TASK_ID.to_owned(), req.task_id.clone());
    env.insert(ENV_VERSION.to_owned(), req.app_version.to_string());
    env
}

fn task_environment(req: &LaunchRequest<'_>) -> Result<BTreeMap<String, String>, LaunchError> {
    let mut env = our_environment(req);
    if let Some(command) = &req.app.command {
        for (k, v) in &command.environment {
            if k.starts_with(RESERVED_ENV_PREFIX) {
                return Err(LaunchError::Reserved {
                    field: format!("command.environment.{k}"),
                });
            }
            env.insert(k.clone(), v.clone());
        }
    }
    Ok(env)
}

fn environment(env: BTreeMap<String, String>) -> v1::Environment {
    v1::Environment {
        variables: env
            .into_iter()
            .map(|(name, value)| v1::environment::Variable {
                name,
                r#type: Some(v1::environment::variable::Type::Value as i32),
                value: Some(value),
                secret: None,
            })
            .collect(),
    }
}

fn uri(u: &spec::Uri) -> v1::command_info::Uri {
    v1::command_info::Uri {
        value: u.uri.clone(),
        executable: Some(u.execute()),
        extract: Some(u.extract()),
        cache: Some(u.cache()),
        output_file: u.output_file.clone(),
    }
}

/// The task's command. With a custom executor and neither `cmd` nor image,
/// the executor decides what runs: `shell` true, no `value`.
fn task_command(
    app: &App,
    env: BTreeMap<String, String>,
    has_executor: bool,
) -> Result<v1::CommandInfo, LaunchError> {
    let cmd = app.command.as_ref().and_then(|c| c.cmd.clone());
    let has_image = app.container.as_ref().is_some_and(|c| c.image.is_some());
    let shell = match &cmd {
        Some(_) => true,
        // The image's Entrypoint/Cmd run only with shell false and no value.
        None if has_image => false,
        None if has_executor => true,
        None => return Err(LaunchError::MissingCommand),
    };
    Ok(v1::CommandInfo {
        uris: app.command.iter().flat_map(|c| &c.uris).map(uri).collect(),
        environment: Some(environment(env)),
        shell: Some(shell),
        value: cmd,
        arguments: Vec::new(),
        user: None,
    })
}

fn container_info(app: &App, host_ports: &[Vec<u32>]) -> Option<v1::ContainerInfo> {
    let c = app.container.as_ref()?;
    if c.image.is_none() && c.volume.is_empty() && c.network.is_empty() {
        return None;
    }
    Some(v1::ContainerInfo {
        r#type: v1::container_info::Type::Mesos as i32,
        volumes: c.volume.iter().map(volume).collect(),
        mesos: c.image.as_ref().map(|name| v1::container_info::MesosInfo {
            image: Some(v1::Image {
                r#type: v1::image::Type::Docker as i32,
                docker: Some(v1::image::Docker {
                    name: name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        network_infos: c
            .network
            .iter()
            .enumerate()
            .map(|(i, n)| network_info(n, host_ports.get(i).map_or(&[], Vec::as_slice)))
            .collect(),
        ..Default::default()
    })
}

fn volume(v: &spec::Volume) -> v1::Volume {
    let mode = match v.effective_mode() {
        VolumeMode::Ro => v1::volume::Mode::Ro,
        VolumeMode::Rw => v1::volume::Mode::Rw,
    };
    let source = v.source.as_ref().map(|s| {
        let params = s.docker_volume.driver_parameters();
        v1::volume::Source {
            r#type: Some(v1::volume::source::Type::DockerVolume as i32),
            docker_volume: Some(v1::volume::source::DockerVolume {
                driver: Some(s.docker_volume.driver.clone()),
                name: s.docker_volume.name.clone(),
                driver_options: (!params.is_empty()).then(|| v1::Parameters {
                    parameter: params
                        .into_iter()
                        .map(|(key, value)| v1::Parameter { key, value })
                        .collect(),
                }),
            }),
            ..Default::default()
        }
    });
    v1::Volume {
        mode: mode as i32,
        container_path: v.effective_container_path().unwrap_or_default().to_owned(),
        // A volume has exactly one of host_path and source (the spec checks).
        host_path: if source.is_some() {
            None
        } else {
            v.host_path.clone()
        },
        image: None,
        source,
    }
}

fn network_info(n: &spec::Network, host_ports: &[u32]) -> v1::NetworkInfo {
    let mut groups: Vec<String> = Vec::new();
    for g in n
        .group
        .iter()
        .chain(n.ipaddress.iter().flat_map(|ip| &ip.group))
    {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    let mut labels: Vec<v1::Label> = Vec::new();
    for map in n
        .labels
        .iter()
        .chain(n.ipaddress.iter().flat_map(|ip| &ip.labels))
    {
        for (k, v) in map {
            let l = label(k, v);
            if !labels.contains(&l) {
                labels.push(l);
            }
        }
    }
    v1::NetworkInfo {
        ip_addresses: n
            .ipaddress
            .iter()
            .map(|ip| v1::network_info::IpAddress {
                protocol: Some(match ip.effective_protocol() {
                    spec::Protocol::Ipv4 => v1::network_info::Protocol::IPv4 as i32,
                    spec::Protocol::Ipv6 => v1::network_info::Protocol::IPv6 as i32,
                }),
                ip_address: ip.ip.as_ref().map(|s| s.trim().to_owned()),
            })
            .collect(),
        name: n.name.clone(),
        groups,
        labels: (!labels.is_empty()).then_some(v1::Labels { labels }),
        port_mappings: n
            .port_mapping
            .iter()
            .zip(host_ports)
            .map(|(m, &host_port)| v1::network_info::PortMapping {
                host_port,
                container_port: m.container_port,
                protocol: m.protocol.map(|p| {
                    match p {
                        spec::PortProtocol::Tcp => "tcp",
                        spec::PortProtocol::Udp => "udp",
                    }
                    .to_owned()
                }),
            })
            .collect(),
    }
}

/// The port number a check runs against. A `port_index` names the task's
/// host port `$PORT<index>`; when a port mapping of the task maps that host
/// port, the check gets the mapping's container port instead, because Mesos
/// runs HTTP and TCP checks inside the task's network namespace, where the
/// app listens on the container port.
fn check_port(
    port: CheckPort,
    hc: &spec::HealthCheck,
    app: &App,
    ports: &[u32],
    host_ports: &[Vec<u32>],
) -> Result<u32, LaunchError> {
    let index = match port {
        CheckPort::Number(p) => return Ok(p),
        CheckPort::Index(i) => i,
    };
    let field = match (&hc.endpoint, hc.kind) {
        (Some(_), _) => "healthcheck.port_index",
        (None, Some(spec::HealthCheckType::Tcp)) => "healthcheck.tcp.port_index",
        _ => "healthcheck.http.port_index",
    };
    let host = usize::try_from(index)
        .ok()
        .and_then(|i| ports.get(i))
        .copied()
        .ok_or_else(|| {
            ports_error(
                field.into(),
                format!(
                    "is {index} but the task holds {} host ports (ask for more with resources.ports)",
                    ports.len()
                ),
            )
        })?;
    let networks = app.container.iter().flat_map(|c| &c.network);
    let mapped = networks
        .zip(host_ports)
        .flat_map(|(n, hosts)| n.port_mapping.iter().zip(hosts))
        .find(|(_, h)| **h == host)
        .map(|(m, _)| m.container_port);
    Ok(mapped.unwrap_or(host))
}

fn health_check(
    hc: &spec::HealthCheck,
    app: &App,
    ports: &[u32],
    host_ports: &[Vec<u32>],
) -> Result<v1::HealthCheck, LaunchError> {
    use v1::health_check as h;
    let mut out = v1::HealthCheck {
        delay_seconds: Some(hc.delay.unwrap_or(DEFAULT_HEALTH_DELAY)),
        interval_seconds: Some(hc.interval.unwrap_or(DEFAULT_HEALTH_INTERVAL)),
        timeout_seconds: Some(hc.timeout.unwrap_or(DEFAULT_HEALTH_TIMEOUT)),
        consecutive_failures: Some(hc.fails.unwrap_or(DEFAULT_HEALTH_FAILURES)),
        grace_period_seconds: Some(hc.graceperiod.unwrap_or(DEFAULT_HEALTH_GRACE)),
        ..Default::default()
    };
    match hc.resolve().ok_or(LaunchError::HealthCheck)? {
        ResolvedCheck::Http {
            scheme,
            port,
            path,
            statuses,
        } => {
            out.r#type = Some(h::Type::Http as i32);
            out.http = Some(h::HttpCheckInfo {
                protocol: None,
                scheme: Some(
                    match scheme {
                        spec::HttpScheme::Http => "http",
                        spec::HttpScheme::Https => "https",
                    }
                    .to_owned(),
                ),
                port: check_port(port, hc, app, ports, host_ports)?,
                path: Some(path),
                statuses: statuses.to_vec(),
            });
        }
        ResolvedCheck::Tcp { port } => {
            out.r#type = Some(h::Type::Tcp as i32);
            out.tcp = Some(h::TcpCheckInfo {
                protocol: None,
                port: check_port(port, hc, app, ports, host_ports)?,
            });
        }
        ResolvedCheck::Command(command) => {
            let cmd = command.cmd.clone().ok_or(LaunchError::HealthCheck)?;
            out.r#type = Some(h::Type::Command as i32);
            out.command = Some(v1::CommandInfo {
                uris: command.uris.iter().map(uri).collect(),
                environment: (!command.environment.is_empty())
                    .then(|| environment(command.environment.clone())),
                shell: Some(true),
                value: Some(cmd),
                ..Default::default()
            });
        }
    }
    Ok(out)
}

#[allow(deprecated)] // ExecutorInfo.source: deprecated in the proto, still shown by Mesos.
fn executor_info(
    req: &LaunchRequest<'_>,
    executor: &spec::Executor,
    container: Option<v1::ContainerInfo>,
) -> Result<v1::ExecutorInfo, LaunchError> {
    let shell = executor.shell.unwrap_or(true);
    let mut env = our_environment(req);
    for (k, v) in &executor.environment {
        if k.starts_with(RESERVED_ENV_PREFIX) {
            return Err(LaunchError::Reserved {
                field: format!("executor.environment.{k}"),
            });
        }
        env.insert(k.clone(), v.clone());
    }
    let mut uris: Vec<v1::command_info::Uri> = executor.uris.iter().map(uri).collect();
    for u in req.app.command.iter().flat_map(|c| &c.uris).map(uri) {
        if !uris.iter().any(|have| have.value == u.value) {
            uris.push(u);
        }
    }
    Ok(v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Custom as i32),
        executor_id: v1::ExecutorId {
            value: format!("{}{EXECUTOR_ID_SUFFIX}", req.task_id),
        },
        framework_id: Some(req.framework_id.clone()),
        command: Some(v1::CommandInfo {
            uris,
            environment: Some(environment(env)),
            shell: Some(shell),
            value: Some(executor.cmd.clone()),
            arguments: if shell {
                Vec::new()
            } else {
                vec![executor.cmd.clone()]
            },
            user: None,
        }),
        container,
        name: Some(
            executor
                .name
                .clone()
                .unwrap_or_else(|| format!("hydrogen:{}", req.app.name)),
        ),
        source: Some(req.task_id.clone()),
        labels: Some(v1::Labels {
            labels: our_labels(req),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests;
