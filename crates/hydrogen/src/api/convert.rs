//! Conversions between the gRPC messages (`hydrogen.v1`) and the app model
//! ([`crate::spec::App`]) and store records.
//!
//! proto → spec goes through the app *JSON*: each message is turned into the
//! `serde_json::Value` the REST face would have received, and that value is
//! read and validated by [`spec::parse_apps`] / [`spec::parse_app`]. So both
//! faces apply the same rules and report the same field paths
//! (`resources.cpu must be > 0`, `[1].name ...`), and a rule added to `spec`
//! needs no change here. Enum `*_UNSPECIFIED` values become absent keys (as in
//! JSON); an enum number this build does not know becomes its decimal text, so
//! spec rejects it with its usual wording (`strategy.type must be UNIQUE or
//! MUX, not "7"`). Non-finite doubles (which JSON cannot carry) are refused
//! before that, naming the field with the wording spec uses for code-built
//! apps ("must be a finite number"), rather than reaching spec as the text
//! `NaN` and being called "not a number".
//!
//! spec → proto is direct and total: a validated app always converts.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::proto as pb;
use crate::spec::{self, App, SpecError};
use crate::store::{AppGoal, AppStatus, TaskEvent, TaskRecord, TaskState, Termination};

// ------------------------------------------------------------ proto → spec

/// Reads the apps of a Deploy request with the REST POST rules.
pub fn apps_from_proto(apps: &[pb::App]) -> Result<Vec<App>, SpecError> {
    Ok(apps_from_proto_warned(apps)?
        .into_iter()
        .map(|p| p.app)
        .collect())
}

/// Reads the app of an Update request with the REST PUT rules.
pub fn app_from_proto(app: Option<&pb::App>) -> Result<App, SpecError> {
    Ok(app_from_proto_warned(app)?.app)
}

/// [`apps_from_proto`], with each app's warnings (ignored fields), as the
/// REST face reports them.
pub fn apps_from_proto_warned(apps: &[pb::App]) -> Result<Vec<spec::Parsed>, SpecError> {
    let single = apps.len() == 1;
    for (i, app) in apps.iter().enumerate() {
        let errors = non_finite(app);
        if !errors.is_empty() {
            return Err(SpecError::invalid((!single).then_some(i), errors));
        }
    }
    let array = Value::Array(apps.iter().map(app_to_json).collect());
    spec::parse_apps_warned(&to_bytes(&array))
}

/// [`app_from_proto`], with the app's warnings.
pub fn app_from_proto_warned(app: Option<&pb::App>) -> Result<spec::Parsed, SpecError> {
    let Some(app) = app else {
        return Err(SpecError::Body("app is required".into()));
    };
    let errors = non_finite(app);
    if !errors.is_empty() {
        return Err(SpecError::invalid(None, errors));
    }
    spec::parse_app_warned(&to_bytes(&app_to_json(app)))
}

/// Warnings as the gRPC face sends them.
pub fn warnings_to_proto(warnings: &[spec::Warning]) -> Vec<pb::Warning> {
    warnings
        .iter()
        .map(|w| pb::Warning {
            field: w.field.clone(),
            message: w.message.clone(),
        })
        .collect()
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // Serialising a Value cannot fail (string keys only).
    serde_json::to_vec(v).unwrap_or_default()
}

/// An object builder that leaves absent fields out, as a JSON author would.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn put(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), v.into());
        self
    }
    fn opt(mut self, key: &str, v: Option<Value>) -> Self {
        if let Some(v) = v {
            self.0.insert(key.to_owned(), v);
        }
        self
    }
    fn list(self, key: &str, items: Vec<Value>) -> Self {
        if items.is_empty() {
            self
        } else {
            self.put(key, Value::Array(items))
        }
    }
    fn map(self, key: &str, m: &BTreeMap<String, String>) -> Self {
        if m.is_empty() {
            self
        } else {
            self.put(key, json!(m))
        }
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// Every double of `a` that is NaN or infinite, by its JSON path: JSON has
/// no such numbers, so the spec rules (which read JSON) never see them.
fn non_finite(a: &pb::App) -> Vec<spec::ValidationError> {
    let mut doubles: Vec<(&str, Option<f64>)> = Vec::new();
    if let Some(r) = &a.resources {
        doubles.push(("resources.cpu", Some(r.cpu)));
        doubles.push(("resources.mem", Some(r.mem)));
        doubles.push(("resources.disk.size", r.disk.as_ref().map(|d| d.size)));
    }
    if let Some(h) = &a.healthcheck {
        doubles.push(("healthcheck.delay", h.delay));
        doubles.push(("healthcheck.interval", h.interval));
        doubles.push(("healthcheck.timeout", h.timeout));
        doubles.push(("healthcheck.graceperiod", h.graceperiod));
    }
    if let Some(r) = &a.retry {
        doubles.push(("retry.time", r.time));
    }
    if let Some(u) = &a.upgrade {
        doubles.push(("upgrade.minimum_ready_share", u.minimum_ready_share));
    }
    doubles
        .into_iter()
        .filter(|(_, v)| v.is_some_and(|v| !v.is_finite()))
        .map(|(field, _)| spec::ValidationError::new(field, "must be a finite number"))
        .collect()
}

fn num(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// An enum field as its JSON keyword: `None` for 0 (unspecified), the
/// keyword for a known value, the number's text otherwise.
fn keyword(value: i32, word: impl Fn(i32) -> Option<&'static str>) -> Option<Value> {
    if value == 0 {
        return None;
    }
    Some(Value::String(
        word(value).map_or_else(|| value.to_string(), str::to_owned),
    ))
}

fn app_to_json(a: &pb::App) -> Value {
    Obj::default()
        .put("name", a.name.clone())
        .opt("resources", a.resources.as_ref().map(resources_to_json))
        .list("filters", a.filters.iter().map(filter_to_json).collect())
        .opt("instances", a.instances.map(Value::from))
        .opt("strategy", a.strategy.as_ref().map(strategy_to_json))
        .opt("command", a.command.as_ref().map(command_to_json))
        .opt("container", a.container.as_ref().map(container_to_json))
        .opt(
            "healthcheck",
            a.healthcheck.as_ref().map(healthcheck_to_json),
        )
        .map("labels", &a.labels)
        .opt("retry", a.retry.as_ref().map(retry_to_json))
        .opt("executor", a.executor.as_ref().map(executor_to_json))
        .opt("upgrade", a.upgrade.as_ref().map(upgrade_to_json))
        .done()
}

fn upgrade_to_json(u: &pb::Upgrade) -> Value {
    Obj::default()
        .opt("minimum_ready_share", u.minimum_ready_share.map(num))
        .opt("max_surge", u.max_surge.map(Value::from))
        .done()
}

fn resources_to_json(r: &pb::Resources) -> Value {
    Obj::default()
        .put("cpu", num(r.cpu))
        .put("mem", num(r.mem))
        .opt(
            "disk",
            r.disk.as_ref().map(|d| {
                Obj::default()
                    .put("size", num(d.size))
                    .opt(
                        "source",
                        d.source.as_ref().map(|s| {
                            Obj::default()
                                .opt(
                                    "type",
                                    keyword(s.r#type, |v| match pb::DiskSourceType::try_from(v) {
                                        Ok(pb::DiskSourceType::Path) => Some("PATH"),
                                        Ok(pb::DiskSourceType::Mount) => Some("MOUNT"),
                                        _ => None,
                                    }),
                                )
                                .opt("path", s.path.clone().map(Value::from))
                                .opt("mount", s.mount.clone().map(Value::from))
                                .done()
                        }),
                    )
                    .done()
            }),
        )
        .opt("ports", r.ports.map(Value::from))
        .opt("role", r.role.clone().map(Value::from))
        .opt("reserved_only", r.reserved_only.map(Value::from))
        .done()
}

fn filter_to_json(f: &pb::Filter) -> Value {
    Obj::default()
        .opt(
            "type",
            keyword(f.r#type, |v| match pb::FilterType::try_from(v) {
                Ok(pb::FilterType::Text) => Some("TEXT"),
                Ok(pb::FilterType::Set) => Some("SET"),
                Ok(pb::FilterType::Scalar) => Some("SCALAR"),
                Ok(pb::FilterType::Ranges) => Some("RANGES"),
                _ => None,
            }),
        )
        // Always present: an empty list is a rule spec reports ("at least
        // one value"), not an absent field.
        .put("value", json!(f.value))
        .opt("attribute", f.attribute.clone().map(Value::from))
        .opt(
            "op",
            keyword(f.op, |v| match pb::ScalarOp::try_from(v) {
                Ok(pb::ScalarOp::Eq) => Some("eq"),
                Ok(pb::ScalarOp::Lt) => Some("lt"),
                Ok(pb::ScalarOp::Le) => Some("le"),
                Ok(pb::ScalarOp::Gt) => Some("gt"),
                Ok(pb::ScalarOp::Ge) => Some("ge"),
                _ => None,
            }),
        )
        .done()
}

fn strategy_to_json(s: &pb::Strategy) -> Value {
    Obj::default()
        .opt(
            "type",
            keyword(s.r#type, |v| match pb::StrategyType::try_from(v) {
                Ok(pb::StrategyType::Unique) => Some("UNIQUE"),
                Ok(pb::StrategyType::Mux) => Some("MUX"),
                _ => None,
            }),
        )
        .opt("effort", s.effort.clone().map(Value::from))
        .done()
}

fn uri_to_json(u: &pb::Uri) -> Value {
    Obj::default()
        .put("uri", u.uri.clone())
        .opt("extract", u.extract.map(Value::from))
        .opt("execute", u.execute.map(Value::from))
        .opt("cache", u.cache.map(Value::from))
        .opt("output_file", u.output_file.clone().map(Value::from))
        .done()
}

fn command_to_json(c: &pb::Command) -> Value {
    Obj::default()
        .opt("cmd", c.cmd.clone().map(Value::from))
        .map("environment", &c.environment)
        .list("uris", c.uris.iter().map(uri_to_json).collect())
        .done()
}

fn string_maps(maps: &[pb::StringMap]) -> Vec<Value> {
    maps.iter().map(|m| json!(m.entries)).collect()
}

fn container_to_json(c: &pb::Container) -> Value {
    Obj::default()
        .opt("image", c.image.clone().map(Value::from))
        .list("volume", c.volume.iter().map(volume_to_json).collect())
        .list("network", c.network.iter().map(network_to_json).collect())
        .opt("type", c.r#type.clone().map(Value::from))
        .opt("tag", c.tag.clone().map(Value::from))
        .done()
}

fn volume_to_json(v: &pb::Volume) -> Value {
    Obj::default()
        .opt("container_path", v.container_path.clone().map(Value::from))
        .opt("host_path", v.host_path.clone().map(Value::from))
        .opt(
            "mode",
            keyword(v.mode, |m| match pb::VolumeMode::try_from(m) {
                Ok(pb::VolumeMode::Ro) => Some("ro"),
                Ok(pb::VolumeMode::Rw) => Some("rw"),
                _ => None,
            }),
        )
        .opt(
            "source",
            v.source.as_ref().map(|s| {
                Obj::default()
                    .opt(
                        "type",
                        keyword(s.r#type, |t| match pb::VolumeSourceType::try_from(t) {
                            Ok(pb::VolumeSourceType::Docker) => Some("DOCKER"),
                            _ => None,
                        }),
                    )
                    .opt(
                        "docker_volume",
                        s.docker_volume.as_ref().map(|d| {
                            Obj::default()
                                .put("driver", d.driver.clone())
                                .put("name", d.name.clone())
                                .list(
                                    "driveropts",
                                    d.driveropts
                                        .iter()
                                        .map(|o| match &o.opt {
                                            Some(pb::driver_opt::Opt::Text(t)) => json!(t),
                                            Some(pb::driver_opt::Opt::Map(m)) => json!(m.entries),
                                            // An empty oneof: the README's `""`.
                                            None => json!(""),
                                        })
                                        .collect(),
                                )
                                .done()
                        }),
                    )
                    .done()
            }),
        )
        .done()
}

fn network_to_json(n: &pb::Network) -> Value {
    Obj::default()
        .opt("name", n.name.clone().map(Value::from))
        .list(
            "ipaddress",
            n.ipaddress
                .iter()
                .map(|ip| {
                    Obj::default()
                        .list("group", ip.group.iter().map(|g| json!(g)).collect())
                        .list("labels", string_maps(&ip.labels))
                        .opt("ip", ip.ip.clone().map(Value::from))
                        .opt(
                            "protocol",
                            keyword(ip.protocol, |p| match pb::IpProtocol::try_from(p) {
                                Ok(pb::IpProtocol::Ipv4) => Some("ipv4"),
                                Ok(pb::IpProtocol::Ipv6) => Some("ipv6"),
                                _ => None,
                            }),
                        )
                        .done()
                })
                .collect(),
        )
        .list("group", n.group.iter().map(|g| json!(g)).collect())
        .list("labels", string_maps(&n.labels))
        .list(
            "port_mapping",
            n.port_mapping
                .iter()
                .map(|m| {
                    Obj::default()
                        .put("host_port", m.host_port)
                        .put("container_port", m.container_port)
                        .opt(
                            "protocol",
                            keyword(m.protocol, |p| match pb::PortProtocol::try_from(p) {
                                Ok(pb::PortProtocol::Tcp) => Some("tcp"),
                                Ok(pb::PortProtocol::Udp) => Some("udp"),
                                _ => None,
                            }),
                        )
                        .done()
                })
                .collect(),
        )
        .done()
}

fn healthcheck_to_json(h: &pb::HealthCheck) -> Value {
    Obj::default()
        .opt("endpoint", h.endpoint.clone().map(Value::from))
        .opt(
            "type",
            keyword(h.r#type, |t| match pb::HealthCheckType::try_from(t) {
                Ok(pb::HealthCheckType::Tcp) => Some("tcp"),
                Ok(pb::HealthCheckType::Http) => Some("http"),
                Ok(pb::HealthCheckType::Command) => Some("command"),
                _ => None,
            }),
        )
        .opt(
            "tcp",
            h.tcp.as_ref().map(|t| {
                Obj::default()
                    .opt("port", proto_port(t.port))
                    .opt("port_index", t.port_index.map(Value::from))
                    .done()
            }),
        )
        .opt(
            "http",
            h.http.as_ref().map(|c| {
                Obj::default()
                    .opt("port", proto_port(c.port))
                    .opt("port_index", c.port_index.map(Value::from))
                    .opt("path", c.path.clone().map(Value::from))
                    .opt(
                        "scheme",
                        keyword(c.scheme, |s| match pb::HttpScheme::try_from(s) {
                            Ok(pb::HttpScheme::Http) => Some("http"),
                            Ok(pb::HttpScheme::Https) => Some("https"),
                            _ => None,
                        }),
                    )
                    .list("statuses", c.statuses.iter().map(|s| json!(s)).collect())
                    .done()
            }),
        )
        .opt("command", h.command.as_ref().map(command_to_json))
        .opt("delay", h.delay.map(num))
        .opt("interval", h.interval.map(num))
        .opt("timeout", h.timeout.map(num))
        .opt("graceperiod", h.graceperiod.map(num))
        .opt("fails", h.fails.map(Value::from))
        .opt("port_index", h.port_index.map(Value::from))
        .done()
}

/// A check's `port`: proto3 cannot tell 0 from absent, and 0 is never a
/// valid port, so 0 reads as absent (spec then asks for `port` or
/// `port_index`, as for JSON without either).
fn proto_port(port: u32) -> Option<Value> {
    (port != 0).then(|| Value::from(port))
}

fn retry_to_json(r: &pb::Retry) -> Value {
    Obj::default()
        .opt("time", r.time.map(num))
        .opt("exp_backoff", r.exp_backoff.map(Value::from))
        .opt("total_retries", r.total_retries.map(Value::from))
        .done()
}

fn executor_to_json(e: &pb::Executor) -> Value {
    Obj::default()
        .opt("name", e.name.clone().map(Value::from))
        .put("cmd", e.cmd.clone())
        .opt("shell", e.shell.map(Value::from))
        .list("uris", e.uris.iter().map(uri_to_json).collect())
        .map("environment", &e.environment)
        .done()
}

// ------------------------------------------------------------ spec → proto

fn labels(maps: &[BTreeMap<String, String>]) -> Vec<pb::StringMap> {
    maps.iter()
        .map(|m| pb::StringMap { entries: m.clone() })
        .collect()
}

fn uri(u: &spec::Uri) -> pb::Uri {
    pb::Uri {
        uri: u.uri.clone(),
        extract: u.extract,
        execute: u.execute,
        cache: u.cache,
        output_file: u.output_file.clone(),
    }
}

fn command(c: &spec::Command) -> pb::Command {
    pb::Command {
        cmd: c.cmd.clone(),
        environment: c.environment.clone(),
        uris: c.uris.iter().map(uri).collect(),
    }
}

/// The proto form of an app (total: every spec value has a proto value).
pub fn app_to_proto(a: &App) -> pb::App {
    use spec::{
        DiskSourceType, FilterType, HealthCheckType, HttpScheme, PortProtocol, Protocol, ScalarOp,
        StrategyType, VolumeMode,
    };
    pb::App {
        name: a.name.clone(),
        resources: Some(pb::Resources {
            cpu: a.resources.cpu,
            mem: a.resources.mem,
            disk: a.resources.disk.as_ref().map(|d| pb::Disk {
                size: d.size,
                source: d.source.as_ref().map(|s| pb::DiskSource {
                    r#type: match s.kind {
                        DiskSourceType::Path => pb::DiskSourceType::Path,
                        DiskSourceType::Mount => pb::DiskSourceType::Mount,
                    } as i32,
                    path: s.path.clone(),
                    mount: s.mount.clone(),
                }),
            }),
            ports: a.resources.ports,
            role: a.resources.role.clone(),
            reserved_only: a.resources.reserved_only,
        }),
        filters: a
            .filters
            .iter()
            .map(|f| pb::Filter {
                r#type: match f.kind {
                    FilterType::Text => pb::FilterType::Text,
                    FilterType::Set => pb::FilterType::Set,
                    FilterType::Scalar => pb::FilterType::Scalar,
                    FilterType::Ranges => pb::FilterType::Ranges,
                } as i32,
                value: f.value.clone(),
                attribute: f.attribute.clone(),
                op: f.op.map_or(pb::ScalarOp::Unspecified, |op| match op {
                    ScalarOp::Eq => pb::ScalarOp::Eq,
                    ScalarOp::Lt => pb::ScalarOp::Lt,
                    ScalarOp::Le => pb::ScalarOp::Le,
                    ScalarOp::Gt => pb::ScalarOp::Gt,
                    ScalarOp::Ge => pb::ScalarOp::Ge,
                }) as i32,
            })
            .collect(),
        instances: Some(a.instances),
        strategy: a.strategy.as_ref().map(|s| pb::Strategy {
            r#type: match s.kind {
                StrategyType::Unique => pb::StrategyType::Unique,
                StrategyType::Mux => pb::StrategyType::Mux,
            } as i32,
            effort: s.effort.clone(),
        }),
        command: a.command.as_ref().map(command),
        container: a.container.as_ref().map(|c| pb::Container {
            image: c.image.clone(),
            // Ignored on input, never stored.
            r#type: None,
            tag: None,
            volume: c
                .volume
                .iter()
                .map(|v| pb::Volume {
                    container_path: v.container_path.clone(),
                    host_path: v.host_path.clone(),
                    mode: v.mode.map_or(pb::VolumeMode::Unspecified, |m| match m {
                        VolumeMode::Ro => pb::VolumeMode::Ro,
                        VolumeMode::Rw => pb::VolumeMode::Rw,
                    }) as i32,
                    source: v.source.as_ref().map(|s| pb::VolumeSource {
                        r#type: pb::VolumeSourceType::Docker as i32,
                        docker_volume: Some(pb::DockerVolume {
                            driver: s.docker_volume.driver.clone(),
                            name: s.docker_volume.name.clone(),
                            driveropts: s
                                .docker_volume
                                .driveropts
                                .iter()
                                .map(|o| pb::DriverOpt {
                                    opt: Some(match o {
                                        spec::DriverOpt::Text(t) => {
                                            pb::driver_opt::Opt::Text(t.clone())
                                        }
                                        spec::DriverOpt::Map(m) => {
                                            pb::driver_opt::Opt::Map(pb::StringMap {
                                                entries: m.clone(),
                                            })
                                        }
                                    }),
                                })
                                .collect(),
                        }),
                    }),
                })
                .collect(),
            network: c
                .network
                .iter()
                .map(|n| pb::Network {
                    name: n.name.clone(),
                    ipaddress: n
                        .ipaddress
                        .iter()
                        .map(|ip| pb::IpAddress {
                            group: ip.group.clone(),
                            labels: labels(&ip.labels),
                            ip: ip.ip.clone(),
                            protocol: ip
                                .protocol
                                .map_or(pb::IpProtocol::Unspecified, |p| match p {
                                    Protocol::Ipv4 => pb::IpProtocol::Ipv4,
                                    Protocol::Ipv6 => pb::IpProtocol::Ipv6,
                                }) as i32,
                        })
                        .collect(),
                    group: n.group.clone(),
                    labels: labels(&n.labels),
                    port_mapping: n
                        .port_mapping
                        .iter()
                        .map(|m| pb::PortMapping {
                            host_port: m.host_port,
                            container_port: m.container_port,
                            protocol: m.protocol.map_or(
                                pb::PortProtocol::Unspecified,
                                |p| match p {
                                    PortProtocol::Tcp => pb::PortProtocol::Tcp,
                                    PortProtocol::Udp => pb::PortProtocol::Udp,
                                },
                            ) as i32,
                        })
                        .collect(),
                })
                .collect(),
        }),
        healthcheck: a.healthcheck.as_ref().map(|h| pb::HealthCheck {
            endpoint: h.endpoint.clone(),
            r#type: h
                .kind
                .map_or(pb::HealthCheckType::Unspecified, |k| match k {
                    HealthCheckType::Tcp => pb::HealthCheckType::Tcp,
                    HealthCheckType::Http => pb::HealthCheckType::Http,
                    HealthCheckType::Command => pb::HealthCheckType::Command,
                }) as i32,
            tcp: h.tcp.as_ref().map(|t| pb::TcpCheck {
                port: t.port.unwrap_or(0),
                port_index: t.port_index,
            }),
            http: h.http.as_ref().map(|c| pb::HttpCheck {
                port: c.port.unwrap_or(0),
                port_index: c.port_index,
                path: c.path.clone(),
                scheme: c.scheme.map_or(pb::HttpScheme::Unspecified, |s| match s {
                    HttpScheme::Http => pb::HttpScheme::Http,
                    HttpScheme::Https => pb::HttpScheme::Https,
                }) as i32,
                statuses: c.statuses.clone(),
            }),
            command: h.command.as_ref().map(command),
            delay: h.delay,
            interval: h.interval,
            timeout: h.timeout,
            graceperiod: h.graceperiod,
            fails: h.fails,
            port_index: h.port_index,
        }),
        labels: a.labels.clone(),
        retry: a.retry.as_ref().map(|r| pb::Retry {
            time: r.time,
            exp_backoff: r.exp_backoff,
            total_retries: r.total_retries,
        }),
        upgrade: a.upgrade.as_ref().map(|u| pb::Upgrade {
            minimum_ready_share: u.minimum_ready_share,
            max_surge: u.max_surge,
        }),
        executor: a.executor.as_ref().map(|e| pb::Executor {
            name: e.name.clone(),
            cmd: e.cmd.clone(),
            shell: e.shell,
            uris: e.uris.iter().map(uri).collect(),
            environment: e.environment.clone(),
        }),
    }
}

// ---------------------------------------------------------- store → proto

/// The proto enum of a task state.
pub fn task_state_to_proto(s: TaskState) -> pb::TaskState {
    match s {
        TaskState::TaskStaging => pb::TaskState::Staging,
        TaskState::TaskStarting => pb::TaskState::Starting,
        TaskState::TaskRunning => pb::TaskState::Running,
        TaskState::TaskKilling => pb::TaskState::Killing,
        TaskState::TaskFinished => pb::TaskState::Finished,
        TaskState::TaskFailed => pb::TaskState::Failed,
        TaskState::TaskKilled => pb::TaskState::Killed,
        TaskState::TaskError => pb::TaskState::Error,
        TaskState::TaskLost => pb::TaskState::Lost,
        TaskState::TaskDropped => pb::TaskState::Dropped,
        TaskState::TaskUnreachable => pb::TaskState::Unreachable,
        TaskState::TaskGone => pb::TaskState::Gone,
        TaskState::TaskGoneByOperator => pb::TaskState::GoneByOperator,
        TaskState::TaskUnknown => pb::TaskState::Unknown,
    }
}

/// A task record as a proto `Task`.
pub fn task_to_proto(t: &TaskRecord) -> pb::Task {
    pb::Task {
        id: t.task_id.clone(),
        app: t.app.clone(),
        instance: t.instance,
        state: task_state_to_proto(t.state) as i32,
        agent_id: t.agent_id.clone(),
        hostname: t.hostname.clone(),
        ips: t.ips.clone(),
        ports: t.ports.clone(),
        healthy: t.healthy,
        version: t.app_version,
        message: t.message.clone(),
        created_ms: t.created_ms,
        updated_ms: t.updated_ms,
    }
}

/// A log event as a proto `TaskEvent`.
pub fn event_to_proto(e: &TaskEvent) -> pb::TaskEvent {
    pb::TaskEvent {
        revision: e.revision,
        app: e.app.clone(),
        task_id: e.task_id.clone(),
        instance: e.instance,
        state: task_state_to_proto(e.state) as i32,
        healthy: e.healthy,
        agent_id: e.agent_id.clone(),
        hostname: e.hostname.clone(),
        message: e.message.clone(),
        timestamp_ms: e.timestamp_ms,
        status: None,
        cluster: None,
    }
}

/// The proto enum of an app goal.
pub fn goal_to_proto(g: AppGoal) -> pb::AppGoal {
    match g {
        AppGoal::Run => pb::AppGoal::Run,
        AppGoal::Kill => pb::AppGoal::Kill,
    }
}

/// The scheduler status of an app as a proto `AppStatus`.
pub fn status_to_proto(s: &AppStatus) -> pb::AppStatus {
    pb::AppStatus {
        waiting: s.waiting,
        backoff_until_ms: s.backoff_until_ms,
        consecutive_failures: s.consecutive_failures,
        rejections: s.rejections.clone(),
        message: s.message.clone(),
        updated_ms: s.updated_ms,
        last_terminations: s
            .last_terminations
            .iter()
            .map(|(slot, t)| (*slot, termination_to_proto(t)))
            .collect(),
        recent_terminations: s
            .recent_terminations
            .iter()
            .map(termination_to_proto)
            .collect(),
    }
}

/// How a task ended, as a proto `TaskTermination`.
fn termination_to_proto(t: &Termination) -> pb::TaskTermination {
    pb::TaskTermination {
        task_id: t.task_id.clone(),
        instance: t.instance,
        app_version: t.app_version,
        state: task_state_to_proto(t.state) as i32,
        reason: t.reason.clone(),
        source: t.source.clone(),
        message: t.message.clone(),
        agent_id: t.agent_id.clone(),
        hostname: t.hostname.clone(),
        at_ms: t.at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_apps() -> Vec<App> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/full-enumeration.json"
        );
        let bytes = std::fs::read(path).expect("example file");
        spec::parse_apps(&bytes).expect("valid example")
    }

    #[test]
    fn api_convert_round_trips_the_full_enumeration() {
        for app in example_apps() {
            let proto = app_to_proto(&app);
            let back = apps_from_proto(std::slice::from_ref(&proto)).expect("valid");
            assert_eq!(back, vec![app]);
        }
    }

    #[test]
    fn api_convert_reports_spec_paths_and_unknown_enums() {
        let mut proto = app_to_proto(&example_apps()[0]);
        proto.resources.as_mut().expect("resources").cpu = 0.0;
        let err = apps_from_proto(&[proto.clone()]).expect_err("cpu 0");
        assert_eq!(err.field().as_deref(), Some("resources.cpu"));

        proto.resources.as_mut().expect("resources").cpu = 1.0;
        proto.strategy = Some(pb::Strategy {
            r#type: 42,
            effort: None,
        });
        let err = apps_from_proto(&[proto.clone()]).expect_err("enum 42");
        assert_eq!(err.field().as_deref(), Some("strategy.type"));
        assert!(err.to_string().contains("\"42\""), "{err}");

        proto.strategy = None;
        proto.resources.as_mut().expect("resources").mem = f64::NAN;
        let err = apps_from_proto(&[proto.clone()]).expect_err("nan");
        assert_eq!(err.field().as_deref(), Some("resources.mem"));
        assert_eq!(err.errors()[0].message, "must be a finite number");
    }

    #[test]
    fn api_convert_names_every_non_finite_double() {
        let mut proto = app_to_proto(&example_apps()[0]);
        proto.resources = Some(pb::Resources {
            cpu: f64::INFINITY,
            mem: f64::NEG_INFINITY,
            disk: Some(pb::Disk {
                size: f64::NAN,
                ..Default::default()
            }),
            ..Default::default()
        });
        proto.retry = Some(pb::Retry {
            time: Some(f64::NAN),
            ..Default::default()
        });
        proto.upgrade = Some(pb::Upgrade {
            minimum_ready_share: Some(f64::INFINITY),
            ..Default::default()
        });
        let err = app_from_proto(Some(&proto)).expect_err("non-finite");
        let fields: Vec<&str> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "resources.cpu",
                "resources.mem",
                "resources.disk.size",
                "retry.time",
                "upgrade.minimum_ready_share"
            ]
        );
        assert!(
            err.errors()
                .iter()
                .all(|e| e.message == "must be a finite number")
        );
        // In a batch, the app is named by its position.
        let good = app_to_proto(&example_apps()[0]);
        let err = apps_from_proto(&[good, proto]).expect_err("second app");
        assert_eq!(err.field().as_deref(), Some("[1].resources.cpu"));
    }

    #[test]
    fn api_convert_rejects_empty_deploy_and_missing_update_app() {
        assert!(matches!(apps_from_proto(&[]), Err(SpecError::Body(_))));
        assert!(matches!(app_from_proto(None), Err(SpecError::Body(_))));
    }
}
