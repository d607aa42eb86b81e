//! The app model: every field of the app JSON users send, read strictly,
//! validated, and written back in the same shape.
//!
//! This module owns the *desired state* vocabulary of Hydrogen. The API reads
//! request bodies with [`parse_apps`] (POST: a JSON array) and [`parse_app`]
//! (PUT: one object, or an array of one); the store keeps [`App`]s as the
//! JSON [`App`] serialises to; the scheduler places and launches from them.
//! It imports nothing else from the crate, so every other module can depend
//! on it.
//!
//! # Compatibility
//!
//! Field names and nesting are the original Hydrogen's (its README and the
//! fields its code accepted beyond it, see `shared/seed/`): `cpu`, `mem`,
//! `disk.size`, `container.volume[]`, `container.network[].ipaddress[]`,
//! `driveropts`, `healthcheck.endpoint` *and* `healthcheck.type`, `retry.time`
//! as a string, and so on. `examples/full-enumeration.json` holds every field
//! (the README's enumeration made valid JSON: comments dropped, a missing comma
//! added, the `BE-CNI` entry — which the README's brackets put inside
//! `ipaddress` — moved to its own `network[]` entry, and the static IPs put on
//! `FE-CNI`: in an entry without a name the Mesos CNI isolator skips them).
//! `container.type` and `container.tag`, which the original accepted and
//! ignored, are accepted and ignored again, reported by
//! [`parse_apps_warned`] / [`parse_app_warned`] as [`Warning`]s. Keywords (`unique`, `TEXT`, `ro`, `ipv4`, `tcp`,
//! ...) are case-insensitive on input and held as enums; output spells them
//! canonically (`UNIQUE`, `TEXT`, `ro`, `ipv4`, `tcp`).
//!
//! # Strictness
//!
//! Unlike the original, unknown fields are rejected (a typo like `"cpus"` must
//! not silently deploy an app without its CPU limit), as are duplicate keys,
//! wrong types and unknown keywords. Every error names the JSON path and the
//! rule: `resources.cpu must be > 0`, `container.network[1].ipaddress[0].ip
//! must be an IPv4 address (protocol is ipv4), not "2600::1"`,
//! `filters[0].type must be TEXT, SET, SCALAR or RANGES, not "COLOUR"`. Reading
//! fails on the first shape error (as a deserializer would); validation then
//! reports every broken rule at once. `null` counts as an absent field.
//!
//! # Rules where the seed was silent
//!
//! - `name`: 1 to 63 ASCII letters, digits, `-` and `_`, starting with a
//!   letter or digit. No `.`: task ids are `<name>.<instance>.<uuid>`. No `/`
//!   or whitespace: invalid in Mesos ids and sandbox paths.
//! - `instances`: 1 when absent; 0 allowed (the app stays registered with
//!   nothing running, a scale-to-zero); at most [`MAX_INSTANCES`].
//! - `resources`: `cpu` and `mem` required, in [`MIN_SCALAR`]..=[`MAX_CPUS`]
//!   / [`MAX_MB`]; `disk.size` 0 or in that range (Mesos rounds amounts to
//!   0.001; the maxima are beyond any agent);
//!   `ports` (a count) at most 65535; `role` a Mesos role name;
//!   `reserved_only` a boolean.
//! - `strategy`: optional; [`App::strategy_type`] is MUX when absent.
//! - `command.cmd`: required unless the app has `container.image` (the
//!   image's entrypoint runs) or an `executor`; no NUL (nor in `executor.cmd`
//!   or a command check's `cmd`).
//! - `filters[].type`: TEXT, SET, SCALAR, RANGES. The README's `STRATEGY` is
//!   rejected with a pointer to the `strategy` field. Evaluation semantics,
//!   with an example per type: [`Filter`].
//! - `healthcheck`: `endpoint` or `type`, not both; see [`HealthCheck`].
//! - Volumes: `host_path` (absolute, with `container_path`) or a Docker
//!   `source` (driver and name required), not both; `mode` read-write when
//!   absent; a Docker volume (driver + name) at most once. Networks: `name`
//!   required (the Mesos CNI isolator skips unnamed entries, so their IPs,
//!   groups, labels and port mappings would do nothing) and distinct; each
//!   address has `ip` and/or `protocol` and the IP must parse as the
//!   protocol.
//! - `healthcheck` ports: `port` or `port_index` (one of the task's host
//!   ports, below `resources.ports`), see [`HealthCheck`].
//!
//! # Idempotency
//!
//! [`App`]'s equality is over the normalised model ([`App::spec_eq`]);
//! [`App::content_hash`] / [`App::fingerprint`] are stable across builds and
//! processes. Serialising and parsing again gives an equal app.

mod app;
mod container;
mod error;
mod filter;
mod healthcheck;
mod json;

#[cfg(test)]
mod tests;

pub use app::{
    App, Command, Disk, DiskSource, DiskSourceType, Executor, LABEL_APP, LABEL_INSTANCE,
    LABEL_VERSION, MAX_CPUS, MAX_INSTANCES, MAX_MB, MAX_NAME_LEN, MAX_PORTS, MIN_SCALAR,
    RESERVED_ENV_PREFIX, RESERVED_LABELS, Resources, Retry, Strategy, StrategyType, Upgrade, Uri,
    check_role,
};
pub use container::{
    Container, DockerVolume, DriverOpt, IpAddress, Network, PortMapping, PortProtocol, Protocol,
    Volume, VolumeMode, VolumeSource, VolumeSourceType,
};
pub use error::{SpecError, ValidationError, Warning};
pub use filter::{Attribute, AttributeValue, Filter, FilterType, ScalarOp, filters_match};
pub use healthcheck::{
    CheckPort, Endpoint, HealthCheck, HealthCheckType, HttpCheck, HttpScheme, ResolvedCheck,
    TcpCheck, parse_endpoint, parse_endpoint_without_port,
};

use serde_json::Value;

/// Reads and validates a POST body: a JSON array of one or more apps with
/// distinct names. Errors inside an app carry its index when the array holds
/// more than one. Fields accepted but ignored are dropped silently; use
/// [`parse_apps_warned`] to report them.
pub fn parse_apps(body: &[u8]) -> Result<Vec<App>, SpecError> {
    Ok(parse_apps_warned(body)?
        .into_iter()
        .map(|p| p.app)
        .collect())
}

/// Reads and validates a PUT body: one app object, or an array of exactly
/// one (as old scripts may send the POST file to PUT). See [`parse_app_warned`].
pub fn parse_app(body: &[u8]) -> Result<App, SpecError> {
    Ok(parse_app_warned(body)?.app)
}

/// An app read from a request, with the fields it had that Hydrogen accepts
/// but ignores (the original's `container.type` and `container.tag`).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The validated app.
    pub app: App,
    /// Ignored fields, paths relative to the app object; empty for most apps.
    pub warnings: Vec<Warning>,
}

/// [`parse_apps`], keeping each app's warnings (in body order).
pub fn parse_apps_warned(body: &[u8]) -> Result<Vec<Parsed>, SpecError> {
    let value = json::parse_json(body)?;
    let Value::Array(items) = value else {
        return Err(SpecError::Body(format!(
            "body must be a json array of apps ([{{...}}]), not {}",
            json::kind(&value)
        )));
    };
    if items.is_empty() {
        return Err(SpecError::Body(
            "body must hold at least one app, not an empty array".into(),
        ));
    }
    let single = items.len() == 1;
    let mut apps: Vec<Parsed> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let index = (!single).then_some(i);
        let parsed = read_valid(item, index)?;
        if let Some(first) = apps.iter().position(|a| a.app.name == parsed.app.name) {
            return Err(SpecError::invalid(
                index,
                vec![ValidationError::new(
                    "name",
                    format!(
                        "must be unique in the request ({:?} is also app [{first}])",
                        parsed.app.name
                    ),
                )],
            ));
        }
        apps.push(parsed);
    }
    Ok(apps)
}

/// [`parse_app`], keeping the app's warnings.
pub fn parse_app_warned(body: &[u8]) -> Result<Parsed, SpecError> {
    let value = json::parse_json(body)?;
    match &value {
        Value::Object(_) => read_valid(&value, None),
        Value::Array(items) if items.len() == 1 => read_valid(&items[0], None),
        Value::Array(items) => Err(SpecError::Body(format!(
            "body must be one app (an object, or an array of exactly one), not an array of {}",
            items.len()
        ))),
        other => Err(SpecError::Body(format!(
            "body must be an app object, not {}",
            json::kind(other)
        ))),
    }
}

fn read_valid(v: &Value, index: Option<usize>) -> Result<Parsed, SpecError> {
    let app = App::read(v, "").map_err(|e| SpecError::invalid(index, vec![e]))?;
    app.validate()
        .map_err(|errors| SpecError::invalid(index, errors))?;
    Ok(Parsed {
        app,
        warnings: container::ignored_fields(v),
    })
}
