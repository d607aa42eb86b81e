//! The `healthcheck` section, in both shapes users know.
//!
//! The seed README promised `{"endpoint": "host:port"}`; the original code
//! accepted only `{type, tcp, http, command, ...}` (and rejected the README's
//! form). We accept both, never mixed; the rules are on [`HealthCheck`].

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
/// and no other. Timing fields are seconds (`interval` and `timeout` > 0,
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

/// `{"port": 8080}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpCheck {
    /// Port to connect to.
    pub port: u32,
}

/// `{"port": 8080, "path": "/health", "scheme": "http", "statuses": [200]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpCheck {
    /// Port to query.
    pub port: u32,
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

/// A health check in one shape, whichever form the user wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedCheck<'a> {
    /// An HTTP GET.
    Http {
        /// Scheme.
        scheme: HttpScheme,
        /// Port.
        port: u32,
        /// Path, starting with `/`.
        path: String,
        /// Healthy statuses; empty means the Mesos default (200..=399).
        statuses: &'a [u32],
    },
    /// A TCP connect.
    Tcp {
        /// Port.
        port: u32,
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
    /// Port, 1..=65535.
    pub port: u32,
    /// Path, `/` when not given.
    pub path: String,
}

/// Parses an `endpoint`, saying what is wrong in a message that reads after
/// the field path.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
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
        port,
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
                let t = Obj::new(v, p, &["port"])?;
                Ok(TcpCheck {
                    port: t.req("port", uint32)?,
                })
            })?,
            http: o.opt("http", |v, p| {
                let h = Obj::new(v, p, &["path", "port", "scheme", "statuses"])?;
                Ok(HttpCheck {
                    port: h.req("port", uint32)?,
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
                if let Err(message) = parse_endpoint(endpoint) {
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
        if let Some(tcp) = &self.tcp {
            check_port(tcp.port, &join(&join(path, "tcp"), "port"), errors);
        }
        if let Some(http) = &self.http {
            let hp = join(path, "http");
            check_port(http.port, &join(&hp, "port"), errors);
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

    /// The check to run, whichever form was written; `None` when the check is
    /// incomplete (never for a validated app).
    pub fn resolve(&self) -> Option<ResolvedCheck<'_>> {
        if let Some(endpoint) = &self.endpoint {
            let e = parse_endpoint(endpoint).ok()?;
            return Some(ResolvedCheck::Http {
                scheme: e.scheme,
                port: e.port,
                path: e.path,
                statuses: &[],
            });
        }
        match self.kind? {
            HealthCheckType::Tcp => self
                .tcp
                .as_ref()
                .map(|t| ResolvedCheck::Tcp { port: t.port }),
            HealthCheckType::Http => self.http.as_ref().map(|h| ResolvedCheck::Http {
                scheme: h.scheme.unwrap_or(HttpScheme::Http),
                port: h.port,
                path: h.path.clone().unwrap_or_else(|| "/".to_owned()),
                statuses: &h.statuses,
            }),
            HealthCheckType::Command => self.command.as_ref().map(ResolvedCheck::Command),
        }
    }
}

fn check_port(port: u32, path: &str, errors: &mut Vec<ValidationError>) {
    if !(1..=65535).contains(&port) {
        errors.push(ValidationError::new(
            path,
            format!("must be a port in 1..=65535, not {port}"),
        ));
    }
}
