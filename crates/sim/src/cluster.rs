//! Agent descriptions: the default cluster, the `--cluster` file and the
//! body of `POST /sim/agents` share one JSON shape, [`AgentSpec`]:
//!
//! ```json
//! {
//!   "hostname": "agent-1.sim",
//!   "resources": {"cpus": 4, "mem": 8192, "disk": 65536, "ports": "[31000-32000]"},
//!   "reserved": {"web": {"cpus": 1, "mem": 1024}},
//!   "attributes": {"rack": "r1", "cores": 8, "features": ["ssd", "gpu"], "slots": "[1-8]"}
//! }
//! ```
//!
//! A resource or attribute value is a number (SCALAR), a string in range
//! syntax `[a-b,c-d]` (RANGES), an array of strings (SET), or, for attributes
//! only, any other string (TEXT). `resources` are unreserved (role `*`);
//! `reserved` maps a role to resources statically reserved for it. A cluster
//! file is `{"agents": [AgentSpec, ...]}` or a bare array of them.

use serde::Deserialize;
use serde_json::Value as Json;

use super::resources::{Key, Quantity, ResourceSet, UNRESERVED, parse_ranges};
use hydrogen_mesos::v1;

/// One agent to add to the simulated cluster.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub hostname: String,
    #[serde(default)]
    pub resources: serde_json::Map<String, Json>,
    #[serde(default)]
    pub reserved: serde_json::Map<String, Json>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, Json>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ClusterFile {
    Wrapped { agents: Vec<AgentSpec> },
    Bare(Vec<AgentSpec>),
}

/// Parses a cluster file's contents.
pub fn parse_cluster(text: &str) -> Result<Vec<AgentSpec>, String> {
    let file: ClusterFile = serde_json::from_str(text).map_err(|e| {
        format!("expected {{\"agents\": [{{\"hostname\": ..., \"resources\": {{...}}}}]}}: {e}")
    })?;
    let agents = match file {
        ClusterFile::Wrapped { agents } | ClusterFile::Bare(agents) => agents,
    };
    for a in &agents {
        a.validate()?;
    }
    Ok(agents)
}

/// The default agent number `i` (1-based) of a cluster of `--agents N`.
pub fn default_agent(i: usize) -> AgentSpec {
    let zone = ["zone-a", "zone-b", "zone-c"][(i - 1) % 3];
    let json = serde_json::json!({
        "hostname": format!("agent-{i}.sim"),
        "resources": {"cpus": 4, "mem": 8192, "disk": 65536, "ports": "[31000-32000]"},
        "attributes": {
            "rack": format!("rack-{}", (i - 1) % 4 + 1),
            "zone": zone,
            "cores": 4,
            "features": if i % 2 == 0 { serde_json::json!(["ssd", "gpu"]) } else { serde_json::json!(["ssd"]) },
            "slots": "[1-8]"
        }
    });
    // The literal above has exactly the AgentSpec shape.
    serde_json::from_value(json).unwrap_or_else(|_| AgentSpec {
        hostname: format!("agent-{i}.sim"),
        resources: Default::default(),
        reserved: Default::default(),
        attributes: Default::default(),
    })
}

fn quantity(name: &str, value: &Json) -> Result<Quantity, String> {
    match value {
        Json::Number(n) => {
            let v = n.as_f64().filter(|v| v.is_finite() && *v >= 0.0);
            let v =
                v.ok_or_else(|| format!("resource {name}: {n} is not a non-negative number"))?;
            let (_, q) = ResourceSet::scalar(name, UNRESERVED, v);
            Ok(q)
        }
        Json::String(s) => parse_ranges(s).map(Quantity::Ranges).ok_or_else(|| {
            format!("resource {name}: {s:?} is not a range list like \"[31000-32000]\"")
        }),
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .map(Quantity::Set)
            .ok_or_else(|| format!("resource {name}: a set must be an array of strings")),
        _ => Err(format!(
            "resource {name}: expected a number, a range list or an array of strings"
        )),
    }
}

impl AgentSpec {
    /// Checks hostname, resources and attributes.
    pub fn validate(&self) -> Result<(), String> {
        if self.hostname.trim().is_empty() {
            return Err("agent hostname must not be empty".into());
        }
        self.resource_set()?;
        self.attribute_protos()?;
        Ok(())
    }

    /// All the agent's resources, unreserved and reserved.
    pub fn resource_set(&self) -> Result<ResourceSet, String> {
        let mut set = ResourceSet::new();
        for (name, value) in &self.resources {
            set.add_one(
                Key {
                    name: name.clone(),
                    role: UNRESERVED.into(),
                    dynamic: None,
                },
                quantity(name, value)?,
            );
        }
        for (role, resources) in &self.reserved {
            if role == UNRESERVED || role.is_empty() || role.starts_with('/') {
                return Err(format!(
                    "reserved: {role:?} is not a role resources can be reserved for"
                ));
            }
            let Json::Object(resources) = resources else {
                return Err(format!("reserved.{role}: expected an object of resources"));
            };
            for (name, value) in resources {
                set.add_one(
                    Key {
                        name: name.clone(),
                        role: role.clone(),
                        dynamic: None,
                    },
                    quantity(name, value)?,
                );
            }
        }
        Ok(set)
    }

    /// The agent's attributes as protobufs.
    pub fn attribute_protos(&self) -> Result<Vec<v1::Attribute>, String> {
        let mut out = Vec::with_capacity(self.attributes.len());
        for (name, value) in &self.attributes {
            let mut a = v1::Attribute {
                name: name.clone(),
                ..Default::default()
            };
            match value {
                Json::Number(n) => {
                    let v = n
                        .as_f64()
                        .ok_or_else(|| format!("attribute {name}: bad number"))?;
                    a.set_type(v1::value::Type::Scalar);
                    a.scalar = Some(v1::value::Scalar { value: v });
                }
                Json::String(s) if s.trim_start().starts_with('[') => {
                    let ranges = parse_ranges(s)
                        .ok_or_else(|| format!("attribute {name}: {s:?} is not a range list"))?;
                    a.set_type(v1::value::Type::Ranges);
                    a.ranges = Some(v1::value::Ranges {
                        range: ranges
                            .into_iter()
                            .map(|(begin, end)| v1::value::Range { begin, end })
                            .collect(),
                    });
                }
                Json::String(s) => {
                    a.set_type(v1::value::Type::Text);
                    a.text = Some(v1::value::Text { value: s.clone() });
                }
                Json::Array(items) => {
                    let item = items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            format!("attribute {name}: a set must be an array of strings")
                        })?;
                    a.set_type(v1::value::Type::Set);
                    a.set = Some(v1::value::Set { item });
                }
                _ => {
                    return Err(format!(
                        "attribute {name}: expected a number, a string or an array of strings"
                    ));
                }
            }
            out.push(a);
        }
        Ok(out)
    }
}

/// Attributes as `/master/state` prints them: scalars as numbers, text as
/// strings, ranges and sets in their text forms.
pub fn attributes_json(attributes: &[v1::Attribute]) -> Json {
    let mut map = serde_json::Map::new();
    for a in attributes {
        let value = match a.r#type() {
            v1::value::Type::Scalar => {
                serde_json::json!(a.scalar.as_ref().map_or(0.0, |s| s.value))
            }
            v1::value::Type::Text => {
                serde_json::json!(a.text.as_ref().map_or("", |t| t.value.as_str()))
            }
            v1::value::Type::Ranges => {
                let parts: Vec<String> = a
                    .ranges
                    .iter()
                    .flat_map(|r| r.range.iter().map(|x| format!("{}-{}", x.begin, x.end)))
                    .collect();
                serde_json::json!(format!("[{}]", parts.join(", ")))
            }
            v1::value::Type::Set => {
                let items: Vec<String> =
                    a.set.iter().flat_map(|s| s.item.iter().cloned()).collect();
                serde_json::json!(format!("{{{}}}", items.join(", ")))
            }
        };
        map.insert(a.name.clone(), value);
    }
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_agents_are_valid() {
        for i in 1..=6 {
            let a = default_agent(i);
            a.validate().expect("default agent is valid");
            assert_eq!(a.resource_set().expect("valid").scalar_total("cpus"), 4.0);
            assert_eq!(a.attribute_protos().expect("valid").len(), 5);
        }
    }

    #[test]
    fn cluster_file_shapes() {
        let text = r#"{"agents": [{"hostname": "a", "resources": {"cpus": 2, "ports": "[1-3]"},
            "reserved": {"web": {"cpus": 1}}, "attributes": {"rack": "r1", "f": ["x"]}}]}"#;
        let agents = parse_cluster(text).expect("valid");
        let set = agents[0].resource_set().expect("valid");
        assert_eq!(set.scalar_total("cpus"), 3.0);
        assert!(parse_cluster(r#"[{"hostname": "a", "resources": {"cpus": "x"}}]"#).is_err());
        assert!(parse_cluster(r#"[{"hostname": ""}]"#).is_err());
        assert!(parse_cluster(r#"[{"hostname": "a", "bogus": 1}]"#).is_err());
    }
}
