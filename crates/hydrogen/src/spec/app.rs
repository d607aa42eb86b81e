//! The `App` and its smaller parts: resources, strategy, command, retry,
//! executor. Container, health check and filters have their own files.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::container::{Container, label_list};
use super::error::ValidationError;
use super::filter::Filter;
use super::healthcheck::HealthCheck;
use super::json::{
    Obj, ReadResult, array, at, boolean, join, keyword, number, string, string_map, text, uint32,
};

/// Longest app name: a DNS label, so names stay valid in Mesos-DNS records.
pub const MAX_NAME_LEN: usize = 63;
/// Most instances one app may ask for (the scale target is 100,000 tasks over
/// 1,000 apps; one app filling 10,000 agents is the largest sane request, and
/// a typo like `instances: 1000000` should not flood Mesos).
pub const MAX_INSTANCES: u32 = 10_000;
/// Most ports one app may ask for (a task cannot hold more distinct ports).
pub const MAX_PORTS: u32 = 65_535;
/// Smallest non-zero resource amount. Mesos does scalar arithmetic in fixed
/// point with three decimals (values are rounded to 0.001), so a smaller
/// amount is 0 to the master and the agent: the task would hold none of it
/// (an amount the offer "fits" that isolation then cannot honour).
pub const MIN_SCALAR: f64 = 0.001;
/// Most CPUs one task may ask for. The largest single machines have a few
/// thousand hardware threads; 100,000 leaves room for any agent that can
/// exist while still catching a typo (`"cpu": 1e9`) that no offer could ever
/// satisfy, which would only leave the app waiting forever.
pub const MAX_CPUS: f64 = 100_000.0;
/// Most memory or disk one task may ask for, in MB: 2^40 MB (one exbibyte),
/// beyond any agent's size (petabyte storage arrays are 2^30 MB), and far
/// inside what Mesos's fixed-point scalars can add up (about 9.2e15).
pub const MAX_MB: f64 = 1_099_511_627_776.0;

/// One application: what to run, how many, where and how.
///
/// Field names and nesting are the seed's JSON; enum-like strings are held
/// normalised ([`StrategyType`], [`super::FilterType`], ...) and serialise in
/// their canonical spelling. Equality is over this normalised form, so two
/// deployments of the same JSON (up to key order and the case of keywords)
/// compare equal: see [`App::spec_eq`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct App {
    /// Unique app name; prefixes task ids (`<name>.<instance>.<uuid>`).
    pub name: String,
    /// Resources of each task.
    pub resources: Resources,
    /// Placement filters on agent attributes; all must hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// How many tasks to keep running; 1 when absent, 0 keeps the app
    /// registered with nothing running.
    pub instances: u32,
    /// UNIQUE or MUX placement; see [`App::strategy_type`] for the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Box<Strategy>>,
    /// What each task runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Image, volumes and networks. Boxed, as every optional part (and
    /// `resources.disk`): most apps have none, and 10,000 apps should not
    /// each carry the room of parts they lack (issue 16: boxed, an app is
    /// 264 bytes, not 800).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Box<Container>>,
    /// Health check of each task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Box<HealthCheck>>,
    /// Task labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Relaunch policy as the original wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Box<Retry>>,
    /// A custom executor to run the tasks with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<Box<Executor>>,
    /// How a rolling update of this app proceeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Box<Upgrade>>,
}

/// `{"minimum_ready_share": 0.5, "max_surge": 2}`: this app's rolling
/// update settings, each overriding the scheduler's `--min-ready-share` /
/// `--surge`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Upgrade {
    /// Share of instances kept ready during an update when there is room
    /// (0 to 1). Without room beside the old tasks an update still replaces
    /// one slot at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ready_share: Option<f64>,
    /// New-version tasks started (or slots replaced in place) at once, >= 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<u32>,
}

/// Resources of one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resources {
    /// CPU shares, > 0.
    pub cpu: f64,
    /// Memory in MB, > 0.
    pub mem: f64,
    /// Disk; none asks for no disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<Box<Disk>>,
    /// How many host ports the task needs (taken from the offer's `ports`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<u32>,
    /// Mesos role every resource is taken from; the framework's first role
    /// when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Only resources reserved to the role (or an ancestor of it) are used,
    /// never unreserved ones; false when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_only: Option<bool>,
}

/// `{"size": 1024.0, "source"?: {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disk {
    /// Size in MB, >= 0.
    pub size: f64,
    /// Take the disk from a PATH or MOUNT disk resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<DiskSource>,
}

/// `{"type": "PATH"|"MOUNT", "path"?: root, "mount"?: root}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskSource {
    /// PATH or MOUNT.
    #[serde(rename = "type")]
    pub kind: DiskSourceType,
    /// Root of a PATH disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Root of a MOUNT disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
}

/// Mesos disk source type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DiskSourceType {
    /// A PATH disk (shareable directory).
    Path,
    /// A MOUNT disk (whole volume).
    Mount,
}

/// `{"type": "unique"|"mux", "effort"?: ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Strategy {
    /// UNIQUE or MUX.
    #[serde(rename = "type")]
    pub kind: StrategyType,
    /// Kept for compatibility; the original never used it either.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

/// Deployment strategy (case-insensitive on input, upper-case on output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StrategyType {
    /// At most one task of the app per agent.
    Unique,
    /// Colocate: fill an agent before using the next.
    Mux,
}

/// What a task (or a command health check) runs.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Command {
    /// Shell command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Environment variables.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Files the Mesos fetcher downloads into the sandbox first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Uri>,
}

/// One fetcher URI. Absent flags take the Mesos defaults (see the getters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uri {
    /// What to fetch.
    pub uri: String,
    /// Unpack archives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Set the executable bit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execute: Option<bool>,
    /// Use the agent's fetcher cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// File name in the sandbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

impl Uri {
    /// Mesos extracts archives unless told not to.
    pub fn extract(&self) -> bool {
        self.extract.unwrap_or(true)
    }

    /// Not executable unless asked.
    pub fn execute(&self) -> bool {
        self.execute.unwrap_or(false)
    }

    /// Not cached unless asked.
    pub fn cache(&self) -> bool {
        self.cache.unwrap_or(false)
    }
}

/// `{"time": "<seconds>", "exp_backoff": bool, "total_retries": n}` from the
/// original: this app's relaunch policy, each field overriding the
/// `--backoff-*` default (the scheduler's `backoff` module applies it).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Retry {
    /// Seconds before the first relaunch after a failure (default
    /// `--backoff-initial`); a string on the wire, as the original wrote it.
    #[serde(
        serialize_with = "seconds_as_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub time: Option<f64>,
    /// Whether delays grow by `--backoff-factor` (default true); false keeps
    /// every delay at `time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp_backoff: Option<bool>,
    /// Relaunches allowed after consecutive failures; one more failure and
    /// the app stops relaunching until it is updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_retries: Option<u32>,
}

/// A custom executor (Mesos `ExecutorInfo` of type CUSTOM). Input also takes
/// `command` for `cmd` and a single `uri` string for `uris`; output is always
/// `cmd` and `uris`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Executor {
    /// Executor name shown by Mesos.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Command that starts the executor.
    pub cmd: String,
    /// Run `cmd` through `/bin/sh -c` (the default) or exec it directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    /// Files to fetch, typically the executor binary.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<Uri>,
    /// Environment of the executor.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

fn seconds_as_string<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secs) => s.serialize_str(&secs.to_string()),
        None => s.serialize_none(),
    }
}

const APP_KEYS: &[&str] = &[
    "name",
    "resources",
    "filters",
    "instances",
    "strategy",
    "command",
    "container",
    "healthcheck",
    "labels",
    "retry",
    "executor",
    "upgrade",
];

impl App {
    /// Reads an app from a JSON value: shape only (types, unknown fields,
    /// enum words), no rules. The request parsers also validate; this is for
    /// reading apps back from the store, where a rule added since must not
    /// make a stored app unreadable.
    pub fn from_value(v: &Value) -> Result<App, ValidationError> {
        Self::read(v, "")
    }

    pub(crate) fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, APP_KEYS)?;
        Ok(App {
            name: o.req("name", string)?,
            resources: o.req("resources", Resources::read)?,
            filters: o.list("filters", Filter::read)?,
            instances: o.opt("instances", uint32)?.unwrap_or(1),
            strategy: o.opt("strategy", Strategy::read)?.map(Box::new),
            command: o.opt("command", Command::read)?,
            container: o.opt("container", Container::read)?.map(Box::new),
            healthcheck: o.opt("healthcheck", HealthCheck::read)?.map(Box::new),
            labels: o.opt("labels", read_labels)?.unwrap_or_default(),
            retry: o.opt("retry", Retry::read)?.map(Box::new),
            executor: o.opt("executor", Executor::read)?.map(Box::new),
            upgrade: o.opt("upgrade", Upgrade::read)?.map(Box::new),
        })
    }

    /// Checks every rule; returns all broken ones, each with its field path.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errors = Vec::new();
        validate_name(&self.name, &mut errors);
        self.resources.validate("resources", &mut errors);
        for (i, f) in self.filters.iter().enumerate() {
            f.validate(&at("filters", i), &mut errors);
        }
        if self.instances > MAX_INSTANCES {
            errors.push(ValidationError::new(
                "instances",
                format!("must be <= {MAX_INSTANCES}"),
            ));
        }
        if let Some(command) = &self.command {
            command.validate("command", false, &mut errors);
        }
        let has_cmd = self.command.as_ref().is_some_and(|c| c.cmd.is_some());
        let has_image = self.container.as_ref().is_some_and(|c| c.image.is_some());
        if !has_cmd && !has_image && self.executor.is_none() {
            errors.push(ValidationError::new(
                "command.cmd",
                "is required unless container.image or executor is given",
            ));
        }
        if let Some(container) = &self.container {
            container.validate("container", &mut errors);
        }
        if let Some(hc) = &self.healthcheck {
            hc.validate("healthcheck", &mut errors);
            hc.validate_port_index(
                "healthcheck",
                self.resources.ports.unwrap_or(0),
                &mut errors,
            );
        }
        for key in self.labels.keys() {
            if key.trim().is_empty() {
                errors.push(ValidationError::new(
                    "labels",
                    "must not have an empty label key",
                ));
            } else if RESERVED_LABELS.contains(&key.as_str()) {
                errors.push(ValidationError::new(
                    join("labels", key),
                    "is reserved: Hydrogen sets it on every task; use another key",
                ));
            }
        }
        if let Some(retry) = &self.retry {
            match retry.time {
                Some(t) if !t.is_finite() || t < 0.0 => errors.push(ValidationError::new(
                    "retry.time",
                    "must be a number of seconds >= 0",
                )),
                _ => {}
            }
        }
        if let Some(executor) = &self.executor {
            executor.validate("executor", &mut errors);
        }
        if let Some(upgrade) = &self.upgrade {
            if upgrade
                .minimum_ready_share
                .is_some_and(|s| !s.is_finite() || !(0.0..=1.0).contains(&s))
            {
                errors.push(ValidationError::new(
                    "upgrade.minimum_ready_share",
                    "must be a number from 0 to 1",
                ));
            }
            if upgrade.max_surge == Some(0) {
                errors.push(ValidationError::new(
                    "upgrade.max_surge",
                    "must be >= 1 (at least one slot is replaced at a time)",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The placement strategy: the given one, MUX when absent. MUX because
    /// the original placed an app without a strategy wherever offers fit, with
    /// no per-agent limit; UNIQUE would leave tasks pending on small clusters
    /// that used to run them.
    pub fn strategy_type(&self) -> StrategyType {
        self.strategy.as_ref().map_or(StrategyType::Mux, |s| s.kind)
    }

    /// Whether `other` is the same spec: deploying it again is a no-op
    /// (invariant 5 of the design, `docs/design.md#invariants`). Compares the normalised model, so key order, the case
    /// of keywords, `"5"` vs `5` in filter values and absent vs empty lists
    /// do not matter.
    pub fn spec_eq(&self, other: &App) -> bool {
        self == other
    }

    /// A content hash of the normalised spec, stable across processes,
    /// builds and Rust versions (FNV-1a 64 over the canonical JSON), so HA
    /// instances agree on it. Equal specs hash equal.
    pub fn content_hash(&self) -> u64 {
        // Serialising these types cannot fail: every map has string keys.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// [`App::content_hash`] as 16 lowercase hex digits, for logs and APIs.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", self.content_hash())
    }
}

/// Reads through [`App::from_value`] (shape only, no validation), so the
/// store and other serde users get the same field names and errors.
impl<'de> Deserialize<'de> for App {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        App::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// `{"k": "v"}` (the README), or `[{"k": "v"}, ...]` (one version of the
/// original code), merged into one map; a key given twice with different
/// values is an error rather than a silent pick.
fn read_labels(v: &Value, path: &str) -> ReadResult<BTreeMap<String, String>> {
    if !v.is_array() {
        return string_map(v, path);
    }
    let mut merged = BTreeMap::new();
    for (i, map) in label_list(v, path)?.into_iter().enumerate() {
        for (k, val) in map {
            if merged.get(&k).is_some_and(|old| *old != val) {
                return Err(ValidationError::new(
                    at(path, i),
                    format!("gives label {k:?} a second, different value"),
                ));
            }
            merged.insert(k, val);
        }
    }
    Ok(merged)
}

/// Names prefix Mesos task ids `<name>.<instance>.<uuid>`: '.' would make
/// those ambiguous, '/' and whitespace are invalid in Mesos ids and sandbox
/// paths, and a DNS-label charset keeps Mesos-DNS names valid.
/// Label key naming the app of a task.
pub const LABEL_APP: &str = "hydrogen.app";
/// Label key giving a task's instance number.
pub const LABEL_INSTANCE: &str = "hydrogen.instance";
/// Label key giving the app version a task runs.
pub const LABEL_VERSION: &str = "hydrogen.version";
/// Label keys Hydrogen sets on every task. Reconciliation reads tasks back
/// by them, so an app may not set them: refused at deploy, not overridden.
pub const RESERVED_LABELS: [&str; 3] = [LABEL_APP, LABEL_INSTANCE, LABEL_VERSION];
/// Prefix of the variables identifying a task (`HYDROGEN_APP`,
/// `HYDROGEN_TASK_ID`, ...); an app may not set any of that prefix.
pub const RESERVED_ENV_PREFIX: &str = "HYDROGEN_";

/// A command line is a C string on the agent (`execve`, `/bin/sh -c`): a NUL
/// cuts it short or fails the launch, and the task would relaunch forever.
const NUL_IN_CMD: &str = "must not contain NUL (\\u0000): the agent runs it as a C string";

fn validate_name(name: &str, errors: &mut Vec<ValidationError>) {
    if name.is_empty() {
        errors.push(ValidationError::new("name", "must not be empty"));
        return;
    }
    if name.len() > MAX_NAME_LEN {
        errors.push(ValidationError::new(
            "name",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errors.push(ValidationError::new(
            "name",
            "must contain only ASCII letters, digits, '-' and '_'",
        ));
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        errors.push(ValidationError::new(
            "name",
            "must start with a letter or a digit",
        ));
    }
}

/// Environment variable names as POSIX shells accept them.
fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn validate_env(env: &BTreeMap<String, String>, path: &str, errors: &mut Vec<ValidationError>) {
    for (name, value) in env {
        if !valid_env_name(name) {
            errors.push(ValidationError::new(
                join(path, name),
                "is not a valid variable name (letters, digits and '_', not starting with a digit)",
            ));
        } else if name.starts_with(RESERVED_ENV_PREFIX) {
            errors.push(ValidationError::new(
                join(path, name),
                "is reserved: Hydrogen sets the HYDROGEN_* variables on every task; use another name",
            ));
        } else if value.contains('\0') {
            errors.push(ValidationError::new(
                join(path, name),
                "must not contain NUL",
            ));
        }
    }
}

fn validate_uris(uris: &[Uri], path: &str, errors: &mut Vec<ValidationError>) {
    for (i, u) in uris.iter().enumerate() {
        let p = at(path, i);
        if u.uri.trim().is_empty() {
            errors.push(ValidationError::new(join(&p, "uri"), "must not be empty"));
        }
        if let Some(out) = &u.output_file
            && out.trim().is_empty()
        {
            errors.push(ValidationError::new(
                join(&p, "output_file"),
                "must not be empty",
            ));
        }
    }
}

fn read_uri(v: &Value, path: &str) -> ReadResult<Uri> {
    let o = Obj::new(
        v,
        path,
        &["uri", "extract", "execute", "cache", "output_file"],
    )?;
    Ok(Uri {
        uri: o.req("uri", string)?,
        extract: o.opt("extract", boolean)?,
        execute: o.opt("execute", boolean)?,
        cache: o.opt("cache", boolean)?,
        output_file: o.opt("output_file", string)?,
    })
}

impl Resources {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(
            v,
            path,
            &["cpu", "mem", "disk", "ports", "role", "reserved_only"],
        )?;
        Ok(Resources {
            cpu: o.req("cpu", number)?,
            mem: o.req("mem", number)?,
            disk: o.opt("disk", |v, p| {
                let d = Obj::new(v, p, &["size", "source"])?;
                Ok(Box::new(Disk {
                    size: d.req("size", number)?,
                    source: d.opt("source", DiskSource::read)?,
                }))
            })?,
            ports: o.opt("ports", uint32)?,
            role: o.opt("role", string)?,
            reserved_only: o.opt("reserved_only", boolean)?,
        })
    }

    fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        check_amount(self.cpu, &join(path, "cpu"), false, MAX_CPUS, errors);
        check_amount(self.mem, &join(path, "mem"), false, MAX_MB, errors);
        if let Some(disk) = &self.disk {
            let dp = join(path, "disk");
            check_amount(disk.size, &join(&dp, "size"), true, MAX_MB, errors);
            if let Some(source) = &disk.source {
                source.validate(&join(&dp, "source"), errors);
            }
        }
        if let Some(ports) = self.ports
            && ports > MAX_PORTS
        {
            errors.push(ValidationError::new(
                join(path, "ports"),
                format!("must be <= {MAX_PORTS}"),
            ));
        }
        if let Some(role) = &self.role
            && let Err(message) = check_role(role)
        {
            errors.push(ValidationError::new(join(path, "role"), message));
        }
    }
}

/// A scalar resource amount: finite, > 0 (or 0 when `zero_ok`: no such
/// resource asked), not below what Mesos can represent and not above `max`.
fn check_amount(v: f64, path: &str, zero_ok: bool, max: f64, errors: &mut Vec<ValidationError>) {
    let message = if !v.is_finite() {
        "must be a finite number".to_owned()
    } else if v < 0.0 || (v == 0.0 && !zero_ok) {
        if zero_ok {
            "must be >= 0"
        } else {
            "must be > 0"
        }
        .to_owned()
    } else if v > 0.0 && v < MIN_SCALAR {
        format!(
            "must be at least {MIN_SCALAR}{}, not {v}: Mesos rounds resource amounts to 0.001, so this would be 0",
            if zero_ok { " (or 0)" } else { "" }
        )
    } else if v > max {
        // `e` notation: a typo's 1e300 would print as 301 digits.
        format!("must be at most {max}, not {v:e}: no agent offers that much")
    } else {
        return;
    };
    errors.push(ValidationError::new(path, message));
}

/// The Mesos role rules: `*`, or '/'-separated segments that are not empty,
/// `.` or `..`, do not start with '-' and hold no whitespace or '\\'.
pub fn check_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    let bad_segment = |s: &str| {
        s.is_empty()
            || s == "."
            || s == ".."
            || s.starts_with('-')
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\\' || c == '*')
    };
    if role.split('/').any(bad_segment) {
        return Err(format!(
            "must be \"*\" or a Mesos role name ('/'-separated, no whitespace, no segment empty, \".\", \"..\" or starting with '-'), not {role:?}"
        ));
    }
    Ok(())
}

impl DiskSource {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, &["type", "path", "mount"])?;
        Ok(DiskSource {
            kind: o.req("type", |v, p| {
                keyword(
                    v,
                    p,
                    &[
                        ("PATH", DiskSourceType::Path),
                        ("MOUNT", DiskSourceType::Mount),
                    ],
                    "PATH or MOUNT",
                )
            })?,
            path: o.opt("path", string)?,
            mount: o.opt("mount", string)?,
        })
    }

    fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        let (own, other) = match self.kind {
            DiskSourceType::Path => (("path", &self.path), ("mount", &self.mount)),
            DiskSourceType::Mount => (("mount", &self.mount), ("path", &self.path)),
        };
        if other.1.is_some() {
            errors.push(ValidationError::new(
                join(path, other.0),
                format!("is not allowed with type {}", own.0.to_uppercase()),
            ));
        }
        if let Some(root) = own.1
            && root.trim().is_empty()
        {
            errors.push(ValidationError::new(join(path, own.0), "must not be empty"));
        }
    }
}

impl Strategy {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, &["type", "effort"])?;
        Ok(Strategy {
            kind: o.req("type", |v, p| {
                keyword(
                    v,
                    p,
                    &[("UNIQUE", StrategyType::Unique), ("MUX", StrategyType::Mux)],
                    "UNIQUE or MUX",
                )
            })?,
            effort: o.opt("effort", text)?,
        })
    }
}

impl Command {
    pub(crate) fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, &["cmd", "environment", "uris"])?;
        Ok(Command {
            cmd: o.opt("cmd", string)?,
            environment: o.opt("environment", string_map)?.unwrap_or_default(),
            uris: o.list("uris", read_uri)?,
        })
    }

    /// `cmd_required`: a command health check is nothing without one; a task
    /// command may leave it to the image's entrypoint.
    pub(crate) fn validate(
        &self,
        path: &str,
        cmd_required: bool,
        errors: &mut Vec<ValidationError>,
    ) {
        match &self.cmd {
            Some(cmd) if cmd.trim().is_empty() => {
                errors.push(ValidationError::new(join(path, "cmd"), "must not be empty"));
            }
            Some(cmd) if cmd.contains('\0') => {
                errors.push(ValidationError::new(join(path, "cmd"), NUL_IN_CMD));
            }
            None if cmd_required => {
                errors.push(ValidationError::new(join(path, "cmd"), "is required"));
            }
            _ => {}
        }
        validate_env(&self.environment, &join(path, "environment"), errors);
        validate_uris(&self.uris, &join(path, "uris"), errors);
    }
}

impl Retry {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, &["time", "exp_backoff", "total_retries"])?;
        Ok(Retry {
            time: o.opt("time", |v, p| match v {
                Value::Number(_) => number(v, p),
                // "<seconds>" as the original wrote it; a trailing "s" is
                // tolerated since Go durations look like that.
                Value::String(s) => s
                    .trim()
                    .trim_end_matches('s')
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f + 0.0)
                    .ok_or_else(|| {
                        ValidationError::new(p, format!("must be a number of seconds, not {s:?}"))
                    }),
                _ => Err(ValidationError::new(
                    p,
                    "must be a number of seconds (string or number)",
                )),
            })?,
            exp_backoff: o.opt("exp_backoff", boolean)?,
            total_retries: o.opt("total_retries", uint32)?,
        })
    }
}

impl Upgrade {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, &["minimum_ready_share", "max_surge"])?;
        Ok(Upgrade {
            minimum_ready_share: o.opt("minimum_ready_share", number)?,
            max_surge: o.opt("max_surge", uint32)?,
        })
    }
}

impl Executor {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(
            v,
            path,
            &[
                "name",
                "cmd",
                "command",
                "shell",
                "uri",
                "uris",
                "environment",
            ],
        )?;
        if o.has("cmd") && o.has("command") {
            return Err(ValidationError::new(
                o.path_of("command"),
                "duplicates cmd: give one of them",
            ));
        }
        let cmd = match o.opt("cmd", string)? {
            Some(cmd) => cmd,
            None => o.req("command", string).map_err(|e| {
                if e.message == "is required" {
                    ValidationError::new(o.path_of("cmd"), "is required")
                } else {
                    e
                }
            })?,
        };
        let mut uris = Vec::new();
        if let Some(uri) = o.opt("uri", string)? {
            uris.push(Uri {
                uri,
                extract: None,
                execute: Some(true),
                cache: None,
                output_file: None,
            });
        }
        uris.extend(
            o.opt("uris", |v, p| array(v, p, read_uri))?
                .unwrap_or_default(),
        );
        Ok(Executor {
            name: o.opt("name", string)?,
            cmd,
            shell: o.opt("shell", boolean)?,
            uris,
            environment: o.opt("environment", string_map)?.unwrap_or_default(),
        })
    }

    fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        if let Some(name) = &self.name
            && name.trim().is_empty()
        {
            errors.push(ValidationError::new(
                join(path, "name"),
                "must not be empty",
            ));
        }
        if self.cmd.trim().is_empty() {
            errors.push(ValidationError::new(join(path, "cmd"), "must not be empty"));
        } else if self.cmd.contains('\0') {
            errors.push(ValidationError::new(join(path, "cmd"), NUL_IN_CMD));
        }
        validate_env(&self.environment, &join(path, "environment"), errors);
        validate_uris(&self.uris, &join(path, "uris"), errors);
    }
}
