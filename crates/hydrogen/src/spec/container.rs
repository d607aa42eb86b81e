//! The `container` section: image, volumes and networks.
//!
//! Shapes follow the seed README (`volume[]`, `network[]`, `ipaddress[]`,
//! `driveropts`) and the original code (`port_mapping`, network-level
//! `group`). A network entry may combine a CNI `name`, `labels`, `group`,
//! static or IPAM `ipaddress` entries and `port_mapping`s; the launch code
//! turns each entry into one Mesos `NetworkInfo`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use super::error::{ValidationError, Warning};
use super::json::{Obj, ReadResult, array, at, join, keyword, string, string_map, uint32};

/// What to run the task in (Mesos universal container runtime).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Container {
    /// Docker image reference, e.g. `debian:latest`; none runs in the agent's
    /// filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Volumes to mount.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume: Vec<Volume>,
    /// Networks to join.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<Network>,
}

/// A host-path volume (`container_path` + `host_path` + `mode`) or a Docker
/// volume (`source`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Volume {
    /// Where it appears in the container; relative paths are inside the
    /// sandbox. Optional for Docker volumes (see [`Volume::effective_container_path`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    /// Absolute path on the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// Read-only or read-write; read-write when absent (Mesos needs one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<VolumeMode>,
    /// A Docker volume source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<VolumeSource>,
}

/// Volume access mode (`"ro"` / `"rw"`, any case on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeMode {
    /// Read-only (Mesos `RO`).
    Ro,
    /// Read-write (Mesos `RW`).
    Rw,
}

/// `{"type": "DOCKER", "docker_volume": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeSource {
    /// Always [`VolumeSourceType::Docker`] for now.
    #[serde(rename = "type")]
    pub kind: VolumeSourceType,
    /// The Docker volume to mount.
    pub docker_volume: DockerVolume,
}

/// Volume source type; `DOCKER` (the README) and `DOCKER_VOLUME` (the Mesos
/// name) both read as this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum VolumeSourceType {
    /// A volume managed by a Docker volume driver.
    #[serde(rename = "DOCKER")]
    Docker,
}

/// A Docker volume, mounted through a driver such as rexray or pxd.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerVolume {
    /// Driver name, e.g. `rexray`.
    pub driver: String,
    /// Volume name, e.g. `test_volume`.
    pub name: String,
    /// Driver options; the README writes `[""]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub driveropts: Vec<DriverOpt>,
}

/// One driver option: `"key=value"` text (the README's shape; `""` is
/// ignored) or a `{"key": "value"}` object (the original code's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DriverOpt {
    /// `"key=value"`, `"flag"` (empty value) or `""` (nothing).
    Text(String),
    /// `{"key": "value", ...}`.
    Map(BTreeMap<String, String>),
}

impl DockerVolume {
    /// Driver options as Mesos `Parameter`s (key, value), empty texts dropped.
    pub fn driver_parameters(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for opt in &self.driveropts {
            match opt {
                DriverOpt::Text(t) if t.trim().is_empty() => {}
                DriverOpt::Text(t) => match t.split_once('=') {
                    Some((k, v)) => out.push((k.trim().to_owned(), v.to_owned())),
                    None => out.push((t.trim().to_owned(), String::new())),
                },
                DriverOpt::Map(m) => out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
            }
        }
        out
    }
}

impl Volume {
    /// The container path to mount at: the given one, or for a Docker volume
    /// without one (as in the README) the volume's name, relative to the
    /// sandbox.
    pub fn effective_container_path(&self) -> Option<&str> {
        self.container_path
            .as_deref()
            .or_else(|| self.source.as_ref().map(|s| s.docker_volume.name.as_str()))
    }

    /// The mode to send to Mesos (read-write when absent).
    pub fn effective_mode(&self) -> VolumeMode {
        self.mode.unwrap_or(VolumeMode::Rw)
    }
}

/// One network to join.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Network {
    /// CNI network name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IP addresses: static (`ip`) or assigned by IPAM (`protocol` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ipaddress: Vec<IpAddress>,
    /// Network groups the interface belongs to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<String>,
    /// Labels passed to the CNI plugin, as the seed writes them:
    /// `[{"k": "v"}, ...]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<BTreeMap<String, String>>,
    /// Host to container port mappings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_mapping: Vec<PortMapping>,
}

/// One `ipaddress[]` entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct IpAddress {
    /// Groups of this interface (the README puts them here).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<String>,
    /// Labels of this interface, `[{"k": "v"}, ...]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<BTreeMap<String, String>>,
    /// The static address; absent asks IPAM for one of `protocol`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Declared protocol; inferred from `ip` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

/// IP protocol (`"ipv4"` / `"ipv6"`, any case on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl IpAddress {
    /// The protocol to send: declared, else inferred from `ip`, else IPv4 (the
    /// Mesos default).
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol
            .unwrap_or_else(|| match self.ip.as_deref().map(str::parse::<IpAddr>) {
                Some(Ok(IpAddr::V6(_))) => Protocol::Ipv6,
                _ => Protocol::Ipv4,
            })
    }
}

/// `{"host_port": 8080, "container_port": 80, "protocol": "tcp"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    /// Port on the agent.
    pub host_port: u32,
    /// Port in the container.
    pub container_port: u32,
    /// `tcp` or `udp`; Mesos assumes tcp when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<PortProtocol>,
}

/// Transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

const CONTAINER_KEYS: &[&str] = &["image", "volume", "network", "type", "tag"];

/// Keys of `container` the original Hydrogen accepted and never used, with
/// why they mean nothing here. Accepted again (old app files must keep
/// deploying) and reported as warnings rather than stored.
const IGNORED_CONTAINER_KEYS: &[(&str, &str)] = &[
    (
        "type",
        "is ignored: Hydrogen always runs tasks with the Mesos containerizer (the original ignored it too)",
    ),
    (
        "tag",
        "is ignored: put the tag in container.image (\"debian:12\"); the original ignored it too",
    ),
];

/// The fields of an app's JSON that are accepted but ignored, as warnings.
pub(crate) fn ignored_fields(app: &Value) -> Vec<Warning> {
    let Some(Value::Object(container)) = app.get("container") else {
        return Vec::new();
    };
    IGNORED_CONTAINER_KEYS
        .iter()
        .filter(|(key, _)| container.get(*key).is_some_and(|v| !v.is_null()))
        .map(|(key, why)| Warning::new(join("container", key), *why))
        .collect()
}
const VOLUME_KEYS: &[&str] = &["container_path", "host_path", "mode", "source"];
const SOURCE_KEYS: &[&str] = &["type", "docker_volume"];
const DOCKER_KEYS: &[&str] = &["driver", "name", "driveropts"];
const NETWORK_KEYS: &[&str] = &["name", "ipaddress", "group", "labels", "port_mapping"];
const IP_KEYS: &[&str] = &["group", "labels", "ip", "protocol"];
const MAPPING_KEYS: &[&str] = &["host_port", "container_port", "protocol"];

/// `[{"k": "v"}, ...]` as the seed writes network labels.
pub(crate) fn label_list(v: &Value, path: &str) -> ReadResult<Vec<BTreeMap<String, String>>> {
    array(v, path, string_map)
}

fn strings(v: &Value, path: &str) -> ReadResult<Vec<String>> {
    array(v, path, string)
}

impl Container {
    pub(crate) fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, CONTAINER_KEYS)?;
        // Read for their shape only (a string, as the original's struct
        // had): ignored, see IGNORED_CONTAINER_KEYS.
        o.opt("type", string)?;
        o.opt("tag", string)?;
        Ok(Container {
            image: o.opt("image", string)?,
            volume: o.list("volume", Volume::read)?,
            network: o.list("network", Network::read)?,
        })
    }

    pub(crate) fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        if let Some(image) = &self.image
            && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
        {
            errors.push(ValidationError::new(
                join(path, "image"),
                "must be a non-empty image reference without whitespace",
            ));
        }
        let volumes = join(path, "volume");
        for (i, v) in self.volume.iter().enumerate() {
            v.validate(&at(&volumes, i), errors);
            // The agent's docker/volume isolator fails such a container
            // ("Found duplicate docker volume with driver ... and name ...",
            // isolators/docker/volume/isolator.cpp), so every launch fails.
            let Some(dv) = v.source.as_ref().map(|s| &s.docker_volume) else {
                continue;
            };
            let first = self.volume[..i].iter().position(|w| {
                w.source.as_ref().is_some_and(|s| {
                    s.docker_volume.driver == dv.driver && s.docker_volume.name == dv.name
                })
            });
            if let Some(first) = first {
                errors.push(ValidationError::new(
                    join(&at(&volumes, i), "source.docker_volume"),
                    format!(
                        "mounts Docker volume {:?} of driver {:?} again (also {}): mount it once",
                        dv.name,
                        dv.driver,
                        at(&volumes, first)
                    ),
                ));
            }
        }
        let networks = join(path, "network");
        for (i, n) in self.network.iter().enumerate() {
            n.validate(&at(&networks, i), errors);
            // The CNI isolator fails such a container ("Attempted to join
            // CNI network '...' multiple times", isolators/network/cni/cni.cpp).
            let Some(name) = &n.name else { continue };
            if let Some(first) = self.network[..i]
                .iter()
                .position(|m| m.name.as_deref() == Some(name.as_str()))
            {
                errors.push(ValidationError::new(
                    join(&at(&networks, i), "name"),
                    format!(
                        "joins network {name:?} again (also {}): give each network once",
                        at(&networks, first)
                    ),
                ));
            }
        }
    }
}

impl Volume {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, VOLUME_KEYS)?;
        Ok(Volume {
            container_path: o.opt("container_path", string)?,
            host_path: o.opt("host_path", string)?,
            mode: o.opt("mode", |v, p| {
                keyword(
                    v,
                    p,
                    &[("ro", VolumeMode::Ro), ("rw", VolumeMode::Rw)],
                    "ro or rw",
                )
            })?,
            source: o.opt("source", VolumeSource::read)?,
        })
    }

    fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        if let Some(cp) = &self.container_path
            && cp.trim().is_empty()
        {
            errors.push(ValidationError::new(
                join(path, "container_path"),
                "must not be empty",
            ));
        }
        match (&self.host_path, &self.source) {
            (Some(_), Some(_)) => errors.push(ValidationError::new(
                path,
                "must have either host_path or source, not both",
            )),
            (None, None) => errors.push(ValidationError::new(
                path,
                "must have host_path (a host volume) or source (a Docker volume)",
            )),
            (Some(host), None) => {
                if !host.starts_with('/') {
                    errors.push(ValidationError::new(
                        join(path, "host_path"),
                        format!("must be an absolute path, not {host:?}"),
                    ));
                }
                if self.container_path.is_none() {
                    errors.push(ValidationError::new(
                        join(path, "container_path"),
                        "is required with host_path",
                    ));
                }
            }
            (None, Some(source)) => {
                let docker = join(&join(path, "source"), "docker_volume");
                let dv = &source.docker_volume;
                if dv.driver.trim().is_empty() {
                    errors.push(ValidationError::new(
                        join(&docker, "driver"),
                        "must not be empty",
                    ));
                }
                if dv.name.trim().is_empty() {
                    errors.push(ValidationError::new(
                        join(&docker, "name"),
                        "must not be empty",
                    ));
                }
                let opts = join(&docker, "driveropts");
                for (i, opt) in dv.driveropts.iter().enumerate() {
                    let bad_key = match opt {
                        DriverOpt::Text(t) => t.trim_start().starts_with('='),
                        DriverOpt::Map(m) => m.keys().any(|k| k.trim().is_empty()),
                    };
                    if bad_key {
                        errors.push(ValidationError::new(
                            at(&opts, i),
                            "must have a non-empty option name",
                        ));
                    }
                }
            }
        }
    }
}

impl VolumeSource {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, SOURCE_KEYS)?;
        Ok(VolumeSource {
            kind: o.req("type", |v, p| {
                keyword(
                    v,
                    p,
                    &[
                        ("DOCKER", VolumeSourceType::Docker),
                        ("DOCKER_VOLUME", VolumeSourceType::Docker),
                    ],
                    "DOCKER",
                )
            })?,
            docker_volume: o.req("docker_volume", DockerVolume::read)?,
        })
    }
}

impl DockerVolume {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, DOCKER_KEYS)?;
        Ok(DockerVolume {
            driver: o.req("driver", string)?,
            name: o.req("name", string)?,
            driveropts: o.list("driveropts", |v, p| match v {
                Value::String(s) => Ok(DriverOpt::Text(s.clone())),
                Value::Object(_) => string_map(v, p).map(DriverOpt::Map),
                _ => Err(ValidationError::new(
                    p,
                    "must be a \"key=value\" string or a {\"key\": \"value\"} object",
                )),
            })?,
        })
    }
}

impl Network {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, NETWORK_KEYS)?;
        Ok(Network {
            name: o.opt("name", string)?,
            ipaddress: o.list("ipaddress", IpAddress::read)?,
            group: o.opt("group", strings)?.unwrap_or_default(),
            labels: o.opt("labels", label_list)?.unwrap_or_default(),
            port_mapping: o.list("port_mapping", PortMapping::read)?,
        })
    }

    fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        match &self.name {
            Some(name) if name.trim().is_empty() || name.chars().any(char::is_whitespace) => {
                errors.push(ValidationError::new(
                    join(path, "name"),
                    "must be a non-empty network name without whitespace",
                ));
            }
            None if self.ipaddress.is_empty()
                && self.group.is_empty()
                && self.labels.is_empty()
                && self.port_mapping.is_empty() =>
            {
                errors.push(ValidationError::new(
                    join(path, "name"),
                    "is required: name the CNI network to join",
                ));
            }
            // The Mesos network/cni isolator skips a NetworkInfo without a
            // name (`if (!networkInfo.has_name()) continue;` in cni.cpp): its
            // static IPs, groups, labels and port mappings would silently do
            // nothing while the task runs on the host network.
            None => errors.push(ValidationError::new(
                join(path, "name"),
                "is required: the Mesos CNI isolator ignores a network entry without a name, \
                 so its ipaddress, group, labels and port_mapping would silently do nothing; \
                 name the CNI network they belong to",
            )),
            _ => {}
        }
        validate_groups(&self.group, &join(path, "group"), errors);
        validate_labels(&self.labels, &join(path, "labels"), errors);
        let ips = join(path, "ipaddress");
        for (i, ip) in self.ipaddress.iter().enumerate() {
            ip.validate(&at(&ips, i), errors);
        }
        let mappings = join(path, "port_mapping");
        for (i, m) in self.port_mapping.iter().enumerate() {
            let p = at(&mappings, i);
            for (key, port) in [
                ("host_port", m.host_port),
                ("container_port", m.container_port),
            ] {
                if !(1..=65535).contains(&port) {
                    errors.push(ValidationError::new(
                        join(&p, key),
                        format!("must be a port in 1..=65535, not {port}"),
                    ));
                }
            }
        }
    }
}

impl IpAddress {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, IP_KEYS)?;
        Ok(IpAddress {
            group: o.opt("group", strings)?.unwrap_or_default(),
            labels: o.opt("labels", label_list)?.unwrap_or_default(),
            ip: o.opt("ip", string)?,
            protocol: o.opt("protocol", |v, p| {
                keyword(
                    v,
                    p,
                    &[("ipv4", Protocol::Ipv4), ("ipv6", Protocol::Ipv6)],
                    "ipv4 or ipv6",
                )
            })?,
        })
    }

    fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        validate_groups(&self.group, &join(path, "group"), errors);
        validate_labels(&self.labels, &join(path, "labels"), errors);
        match (&self.ip, self.protocol) {
            (None, None) => errors.push(ValidationError::new(
                path,
                "must give ip (a static address) or protocol (an address from IPAM)",
            )),
            (None, Some(_)) => {}
            (Some(ip), protocol) => match (ip.trim().parse::<IpAddr>(), protocol) {
                (Err(_), _) => errors.push(ValidationError::new(
                    join(path, "ip"),
                    format!("must be an IP address, not {ip:?}"),
                )),
                (Ok(IpAddr::V6(_)), Some(Protocol::Ipv4)) => errors.push(ValidationError::new(
                    join(path, "ip"),
                    format!("must be an IPv4 address (protocol is ipv4), not {ip:?}"),
                )),
                (Ok(IpAddr::V4(_)), Some(Protocol::Ipv6)) => errors.push(ValidationError::new(
                    join(path, "ip"),
                    format!("must be an IPv6 address (protocol is ipv6), not {ip:?}"),
                )),
                _ => {}
            },
        }
    }
}

impl PortMapping {
    fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, MAPPING_KEYS)?;
        Ok(PortMapping {
            host_port: o.req("host_port", uint32)?,
            container_port: o.req("container_port", uint32)?,
            protocol: o.opt("protocol", |v, p| {
                keyword(
                    v,
                    p,
                    &[("tcp", PortProtocol::Tcp), ("udp", PortProtocol::Udp)],
                    "tcp or udp",
                )
            })?,
        })
    }
}

fn validate_groups(groups: &[String], path: &str, errors: &mut Vec<ValidationError>) {
    for (i, g) in groups.iter().enumerate() {
        if g.trim().is_empty() {
            errors.push(ValidationError::new(at(path, i), "must not be empty"));
        }
    }
}

/// Label keys must be non-empty (Mesos drops or rejects empty keys).
fn validate_labels(
    labels: &[BTreeMap<String, String>],
    path: &str,
    errors: &mut Vec<ValidationError>,
) {
    for (i, map) in labels.iter().enumerate() {
        if map.keys().any(|k| k.trim().is_empty()) {
            errors.push(ValidationError::new(
                at(path, i),
                "must not have an empty label key",
            ));
        }
    }
}
