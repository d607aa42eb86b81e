//! The `healthcheck` section, in both shapes users know.
//!
//! The seed README promised `{"endpoint": "host:port"}`; the original code
//! accepted only `{type, tcp, http, command, ...}` (and rejected the README's
//! form). We accept both, never mixed; the rules are on [`HealthCheck`].
//!
//! # Ports from the offer
//!
//! A Mesos health check names a concrete port, but an app that takes its
//! ports from the offer (`resources.ports`) cannot know them in advance. So
//! HTTP and TCP checks take `port_index` instead of `port` (and the endpoint
//! form takes `healthcheck.port_index` with an endpoint without a port): the
//! index of one of the task's host ports, the one the task sees as
//! `$PORT<index>`. The launch code fills in the port ([`CheckPort::Index`]).

use serde::Serialize;
use serde_json::Value;

use super::app::Command;
use super::error::ValidationError;
use super::json::{Obj, ReadResult, array, join, keyword, number, string, uint32};

/// A health check; either `endpoint`, or `type` with its section.
///
/// `{"endpoint": "host:port"}` (the README's form, `[scheme://]host:port[/path]`)
/// is an HTTP GET on that port; the host is informative only, since Mesos
/// runs checks from the task's own agent. `{"type": "tcp", "tcp": {"port": 8080}}`,
/// `{"type": "http", "http": {"port": 8080, "path": "/health"}}` and
/// `{"type": "command", "command": {"cmd": "true"}}` are the original code's
/// forms. Mixing the two forms is rejected; `type` requires its own section
/// and no other. A check's port is a number (`port`) or one of the task's
/// host ports (`port_index`, see the module docs), never both. Timing fields are seconds (`interval` and `timeout` > 0,
/// `delay` and `graceperiod` >= 0); absent ones take the Mesos defaults.
/// [`HealthCheck::resolve`] gives the launch code one shape for both forms.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct HealthCheck {
    /// The README's form: `host:port`, an HTTP check on that port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The original code's form: which check to run.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<HealthCheckType>,
    /// Settings of a `tcp` check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// Settings of an `http` check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// The command of a `command` check (exit 0 = healthy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Seconds to wait before the first check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    /// Seconds between checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// Seconds before a check counts as failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Seconds after start during which failures do not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graceperiod: Option<f64>,
    /// Consecutive failures before the task is killed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fails: Option<u32>,
    /// With `endpoint` (which then names no port): check this host port of
    /// the task, `$PORT<index>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
}

/// Which check runs (`tcp`, `http`, `command`; any case on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckType {
    /// Connect to a port.
    Tcp,
    /// GET a path and check the status.
    Http,
    /// Run a command.
    Command,
}

/// `{"port": 8080}` or `{"port_index": 0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpCheck {
    /// Port to connect to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Or: the index of the task's host port to connect to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
}

/// `{"port": 8080, "path": "/health", "scheme": "http", "statuses": [200]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpCheck {
    /// Port to query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Or: the index of the task's host port to query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
    /// Path to GET; `/` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `http` or `https`; `http` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<HttpScheme>,
    /// Statuses counted healthy; 200..=399 when empty (the Mesos rule).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
}

/// HTTP scheme of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpScheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// The port a check runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckPort {
    /// This port number.
    Number(u32),
    /// The task's host port of this index (`$PORT<index>`), known at launch.
    Index(u32),
}

/// A health check in one shape, whichever form the user wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedCheck<'a> {
    /// An HTTP GET.
    Http {
        /// Scheme.
        scheme: HttpScheme,
        /// Port.
        port: CheckPort,
        /// Path, starting with `/`.
        path: String,
        /// Healthy statuses; empty means the Mesos default (200..=399).
        statuses: &'a [u32],
    },
    /// A TCP connect.
    Tcp {
        /// Port.
        port: CheckPort,
    },
    /// A command.
    Command(&'a Command),
}

/// A parsed `[scheme://]host:port[/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme, `http` when not given.
    pub scheme: HttpScheme,
    /// Host as written (informative).
    pub host: String,
    /// Port, 1..=65535; `None` only from [`parse_endpoint_without_port`].
    pub port: Option<u32>,
    /// Path, `/` when not given.
    pub path: String,
}

/// Parses an `endpoint`, saying what is wrong in a message that reads after
/// the field path.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    parse_endpoint_with(s, true)
}

/// Parses an `endpoint` that must not name a port
/// (`[scheme://]host[/path]`), as written with `healthcheck.port_index`.
pub fn parse_endpoint_without_port(s: &str) -> Result<Endpoint, String> {
    parse_endpoint_with(s, false)
}

fn parse_endpoint_with(s: &str, port_required: bool) -> Result<Endpoint, String> {
    let s = s.trim();
    let (scheme, rest) = match s.split_once("://") {
        Some((sch, rest)) if sch.eq_ignore_ascii_case("http") => (HttpScheme::Http, rest),
        Some((sch, rest)) if sch.eq_ignore_ascii_case("https") => (HttpScheme::Https, rest),
        Some((sch, _)) => return Err(format!("must use scheme http or https, not {sch:?}")),
        None => (HttpScheme::Http, s),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if !port_required {
        // `host` or `[v6]`: a port here would contradict port_index.
        let host = authority
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(authority);
        if authority.starts_with('[') != authority.ends_with(']')
            || (!authority.starts_with('[') && authority.contains(':'))
        {
            return Err(format!(
                "must be [scheme://]host[/path] without a port when port_index is given \
                 (the port is the task's host port of that index), not {s:?}"
            ));
        }
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || c == '[' || c == ']')
        {
            return Err(format!("must be [scheme://]host[/path], not {s:?}"));
        }
        return Ok(Endpoint {
            scheme,
            host: host.to_owned(),
            port: None,
            path,
        });
    }
    let wrong = || format!("must be host:port, not {s:?}");
    // `[::1]:8080` for IPv6 hosts, `host:port` otherwise.
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        let (h, p) = stripped.split_once("]:").ok_or_else(wrong)?;
        (h, p)
    } else {
        authority.rsplit_once(':').ok_or_else(wrong)?
    };
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c == '[' || c == ']')
    {
        return Err(wrong());
    }
    let port: u32 = port
        .parse()
        .ok()
        .filter(|p| (1..=65535).contains(p))
        .ok_or_else(|| format!("must end in a port in 1..=65535, not {s:?}"))?;
    Ok(Endpoint {
        scheme,
        host: host.to_owned(),
        port: Some(port),
        path,
    })
}

const KEYS: &[&str] = &[
    "endpoint",
    "type",
    "tcp",
    "http",
    "command",
    "delay",
    "interval",
    "timeout",
    "graceperiod",
    "fails",
    "port_index",
];
const TYPE_RULE: &str = "tcp, http or command";

impl HealthCheck {
    pub(crate) fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, KEYS)?;
        Ok(HealthCheck {
            endpoint: o.opt("endpoint", string)?,
            kind: o.opt("type", |v, p| {
                keyword(
                    v,
                    p,
                    &[
                        ("tcp", HealthCheckType::Tcp),
                        ("http", HealthCheckType::Http),
                        ("command", HealthCheckType::Command),
                    ],
                    TYPE_RULE,
                )
            })?,
            tcp: o.opt("tcp", |v, p| {
                let t = Obj::new(v, p, &["port", "port_index"])?;
                Ok(TcpCheck {
                    port: t.opt("port", uint32)?,
                    port_index: t.opt("port_index", uint32)?,
                })
            })?,
            http: o.opt("http", |v, p| {
                let h = Obj::new(v, p, &["path", "port", "port_index", "scheme", "statuses"])?;
                Ok(HttpCheck {
                    port: h.opt("port", uint32)?,
                    port_index: h.opt("port_index", uint32)?,
                    path: h.opt("path", string)?,
                    scheme: h.opt("scheme", |v, p| {
                        keyword(
                            v,
                            p,
                            &[("http", HttpScheme::Http), ("https", HttpScheme::Https)],
                            "http or https",
                        )
                    })?,
                    statuses: h
                        .opt("statuses", |v, p| array(v, p, uint32))?
                        .unwrap_or_default(),
                })
            })?,
            command: o.opt("command", Command::read)?,
            delay: o.opt("delay", number)?,
            interval: o.opt("interval", number)?,
            timeout: o.opt("timeout", number)?,
            graceperiod: o.opt("graceperiod", number)?,
            fails: o.opt("fails", uint32)?,
            port_index: o.opt("port_index", uint32)?,
        })
    }

    pub(crate) fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        let sections = [
            ("tcp", self.tcp.is_some(), HealthCheckType::Tcp),
            ("http", self.http.is_some(), HealthCheckType::Http),
            ("command", self.command.is_some(), HealthCheckType::Command),
        ];
        match (&self.endpoint, self.kind) {
            (Some(_), Some(_)) => errors.push(ValidationError::new(
                path,
                "must use either endpoint or type, not both",
            )),
            (Some(endpoint), None) => {
                let parsed = if self.port_index.is_some() {
                    parse_endpoint_without_port(endpoint)
                } else {
                    parse_endpoint(endpoint)
                };
                if let Err(message) = parsed {
                    errors.push(ValidationError::new(join(path, "endpoint"), message));
                }
                for (key, present, _) in sections {
                    if present {
                        errors.push(ValidationError::new(
                            join(path, key),
                            "is not allowed with endpoint (use type instead)",
                        ));
                    }
                }
            }
            (None, None) => errors.push(ValidationError::new(
                join(path, "type"),
                format!("is required ({TYPE_RULE}), or give endpoint"),
            )),
            (None, Some(kind)) => {
                for (key, present, of) in sections {
                    if present && of != kind {
                        errors.push(ValidationError::new(
                            join(path, key),
                            format!("is only allowed with type {key}"),
                        ));
                    } else if !present && of == kind {
                        errors.push(ValidationError::new(
                            join(path, key),
                            format!("is required with type {key}"),
                        ));
                    }
                }
            }
        }
        if self.port_index.is_some() && self.endpoint.is_none() {
            errors.push(ValidationError::new(
                join(path, "port_index"),
                "is only allowed with endpoint; with type http or tcp give http.port_index or tcp.port_index",
            ));
        }
        if let Some(tcp) = &self.tcp {
            check_port_choice(tcp.port, tcp.port_index, &join(path, "tcp"), errors);
        }
        if let Some(http) = &self.http {
            let hp = join(path, "http");
            check_port_choice(http.port, http.port_index, &hp, errors);
            if let Some(p) = &http.path
                && !p.starts_with('/')
            {
                errors.push(ValidationError::new(
                    join(&hp, "path"),
                    format!("must start with '/', not {p:?}"),
                ));
            }
            for (i, s) in http.statuses.iter().enumerate() {
                if !(100..=599).contains(s) {
                    errors.push(ValidationError::new(
                        format!("{}[{i}]", join(&hp, "statuses")),
                        format!("must be an HTTP status in 100..=599, not {s}"),
                    ));
                }
            }
        }
        if let Some(command) = &self.command {
            command.validate(&join(path, "command"), true, errors);
        }
        for (key, value, strictly_positive) in [
            ("delay", self.delay, false),
            ("interval", self.interval, true),
            ("timeout", self.timeout, true),
            ("graceperiod", self.graceperiod, false),
        ] {
            match value {
                Some(v) if !v.is_finite() => {
                    errors.push(ValidationError::new(
                        join(path, key),
                        "must be a finite number",
                    ));
                }
                Some(v) if strictly_positive && v <= 0.0 => {
                    errors.push(ValidationError::new(join(path, key), "must be > 0"));
                }
                Some(v) if v < 0.0 => {
                    errors.push(ValidationError::new(join(path, key), "must be >= 0"));
                }
                _ => {}
            }
        }
    }

    /// Every `port_index` must name one of the `ports` host ports the task
    /// takes from the offer (`resources.ports`).
    pub(crate) fn validate_port_index(
        &self,
        path: &str,
        ports: u32,
        errors: &mut Vec<ValidationError>,
    ) {
        let indexes = [
            (join(path, "port_index"), self.port_index),
            (
                join(&join(path, "tcp"), "port_index"),
                self.tcp.as_ref().and_then(|t| t.port_index),
            ),
            (
                join(&join(path, "http"), "port_index"),
                self.http.as_ref().and_then(|h| h.port_index),
            ),
        ];
        for (field, index) in indexes {
            match index {
                Some(_) if ports == 0 => errors.push(ValidationError::new(
                    field,
                    "needs resources.ports: it names one of the host ports the task takes from the offer (index 0 is $PORT0)",
                )),
                Some(i) if i >= ports => errors.push(ValidationError::new(
                    field,
                    format!(
                        "must be below resources.ports ({ports}): the task holds $PORT0..$PORT{}, not $PORT{i}",
                        ports - 1
                    ),
                )),
                _ => {}
            }
        }
    }

    /// The check to run, whichever form was written; `None` when the check is
    /// incomplete (never for a validated app).
    pub fn resolve(&self) -> Option<ResolvedCheck<'_>> {
        if let Some(endpoint) = &self.endpoint {
            let (e, port) = match self.port_index {
                Some(i) => (
                    parse_endpoint_without_port(endpoint).ok()?,
                    CheckPort::Index(i),
                ),
                None => {
                    let e = parse_endpoint(endpoint).ok()?;
                    let port = CheckPort::Number(e.port?);
                    (e, port)
                }
            };
            return Some(ResolvedCheck::Http {
                scheme: e.scheme,
                port,
                path: e.path,
                statuses: &[],
            });
        }
        match self.kind? {
            HealthCheckType::Tcp => self.tcp.as_ref().and_then(|t| {
                Some(ResolvedCheck::Tcp {
                    port: check_port_of(t.port, t.port_index)?,
                })
            }),
            HealthCheckType::Http => self.http.as_ref().and_then(|h| {
                Some(ResolvedCheck::Http {
                    scheme: h.scheme.unwrap_or(HttpScheme::Http),
                    port: check_port_of(h.port, h.port_index)?,
                    path: h.path.clone().unwrap_or_else(|| "/".to_owned()),
                    statuses: &h.statuses,
                })
            }),
            HealthCheckType::Command => self.command.as_ref().map(ResolvedCheck::Command),
        }
    }
}

/// `port` wins over `port_index` only in unvalidated input (validation
/// refuses both).
fn check_port_of(port: Option<u32>, port_index: Option<u32>) -> Option<CheckPort> {
    port.map(CheckPort::Number)
        .or(port_index.map(CheckPort::Index))
}

/// A `tcp` or `http` section (at `path`) has exactly one of `port` (a port
/// number) and `port_index`.
fn check_port_choice(
    port: Option<u32>,
    port_index: Option<u32>,
    path: &str,
    errors: &mut Vec<ValidationError>,
) {
    match (port, port_index) {
        (None, None) => errors.push(ValidationError::new(
            join(path, "port"),
            "is required (or port_index: the index of one of the task's host ports, for an app that takes its ports from the offer)",
        )),
        (Some(_), Some(_)) => errors.push(ValidationError::new(
            join(path, "port_index"),
            "is not allowed with port: give a port number or a port_index, not both",
        )),
        (Some(port), None) if !(1..=65535).contains(&port) => {
            errors.push(ValidationError::new(
                join(path, "port"),
                format!(
                    "must be a port in 1..=65535, not {port} (for a port taken from the offer, give port_index)"
                ),
            ));
        }
        _ => {}
    }
}
