//! Tests of the launch builder: one per mapping, the launch-time errors,
//! golden files for the example apps, protobuf round trip, task ids.

use std::path::PathBuf;

use proptest::prelude::{prop_assert_eq, proptest};
use prost::Message;
use serde_json::{Value, json};

use super::*;
use crate::mesos::encoding::{from_json, to_json_value};

const UUID: &str = "0123456789abcdef0123456789abcdef";

fn app(v: Value) -> App {
    let body = serde_json::to_vec(&json!([v])).unwrap();
    crate::spec::parse_apps(&body)
        .unwrap_or_else(|e| panic!("test app is invalid: {e}"))
        .remove(0)
}

fn base() -> Value {
    json!({
        "name": "web",
        "resources": {"cpu": 0.5, "mem": 64},
        "command": {"cmd": "sleep 10"}
    })
}

/// `base()` with `patch` merged in at the top level.
fn with(patch: Value) -> App {
    let mut v = base();
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    app(v)
}

fn scalar(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..Default::default()
    }
}

fn port_range(begin: u64, end: u64) -> v1::Resource {
    v1::Resource {
        name: "ports".into(),
        r#type: v1::value::Type::Ranges as i32,
        ranges: Some(v1::value::Ranges {
            range: vec![v1::value::Range { begin, end }],
        }),
        ..Default::default()
    }
}

/// A deterministic request: fixed ids, resources from the app, the given
/// host ports (inside one range 31000-31099).
fn request<'a>(app: &'a App, ports: &[u32]) -> LaunchRequest<'a> {
    let mut resources = vec![
        scalar("cpus", app.resources.cpu),
        scalar("mem", app.resources.mem),
    ];
    if let Some(disk) = &app.resources.disk {
        resources.push(scalar("disk", disk.size));
    }
    if !ports.is_empty() {
        resources.push(port_range(31000, 31099));
    }
    LaunchRequest {
        app,
        app_version: 7,
        instance: 0,
        task_id: format!("{}.0.{UUID}", app.name),
        agent_id: v1::AgentId {
            value: "agent-S1".into(),
        },
        framework_id: v1::FrameworkId {
            value: "hydrogen-fw".into(),
        },
        resources,
        ports: ports.to_vec(),
    }
}

fn build(app: &App) -> v1::TaskInfo {
    task_info(&request(app, &[]), &LaunchDefaults::default()).unwrap()
}

fn env_of(command: &v1::CommandInfo) -> BTreeMap<String, String> {
    command
        .environment
        .iter()
        .flat_map(|e| &e.variables)
        .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
        .collect()
}

fn labels_of(labels: &Option<v1::Labels>) -> Vec<(String, String)> {
    labels
        .iter()
        .flat_map(|l| &l.labels)
        .map(|l| (l.key.clone(), l.value.clone().unwrap_or_default()))
        .collect()
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

fn error_field(app: &App, ports: &[u32]) -> String {
    let err = task_info(&request(app, ports), &LaunchDefaults::default()).unwrap_err();
    err.field().to_owned()
}

// ---------------------------------------------------------------- task ids

#[test]
fn task_ids_are_unique_and_parse_back() {
    let a = new_task_id("web", 3);
    let b = new_task_id("web", 3);
    assert_ne!(a, b);
    assert!(a.starts_with("web.3."));
    assert_eq!(parse_task_id(&a), Some(("web", 3)));
}

#[test]
fn foreign_ids_do_not_parse() {
    for id in [
        "",
        "web",
        "web.3",
        "web-3",
        &format!("web.3.{UUID}.executor"),
        &format!("web.03.{UUID}"),
        &format!("web.+3.{UUID}"),
        &format!("web.x.{UUID}"),
        &format!("web.4294967296.{UUID}"),
        &format!(".3.{UUID}"),
        &format!("-web.3.{UUID}"),
        &format!("we b.3.{UUID}"),
        "web.3.0123456789ABCDEF0123456789ABCDEF",
        "web.3.0123456789abcdef",
        "web.3.0123456789abcdef-0123-4567-89ab-cdef01234567",
    ] {
        assert_eq!(parse_task_id(id), None, "{id:?}");
    }
    assert_eq!(parse_task_id(&format!("web.0.{UUID}")), Some(("web", 0)));
}

proptest! {
    #[test]
    fn new_task_id_round_trips(
        app in "[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}",
        instance in proptest::prelude::any::<u32>(),
    ) {
        let id = new_task_id(&app, instance);
        prop_assert_eq!(parse_task_id(&id), Some((app.as_str(), instance)));
        // Always a valid Mesos id.
        proptest::prop_assert!(id.len() <= 255 && !id.contains('/'));
    }
}

// ------------------------------------------------------------ basic fields

#[test]
fn command_task_carries_identity_resources_and_shell_command() {
    let a = with(json!({"labels": {"team": "core", "a": "1"}}));
    let req = request(&a, &[]);
    let t = task_info(&req, &LaunchDefaults::default()).unwrap();
    assert_eq!(t.name, "web");
    assert_eq!(t.task_id.value, format!("web.0.{UUID}"));
    assert_eq!(t.agent_id.value, "agent-S1");
    assert_eq!(t.resources, req.resources);
    assert!(t.executor.is_none() && t.data.is_none());
    assert!(t.container.is_none(), "nothing needs a ContainerInfo");
    assert!(t.health_check.is_none());
    let c = t.command.as_ref().unwrap();
    assert_eq!(c.value.as_deref(), Some("sleep 10"));
    assert_eq!(c.shell, Some(true));
    assert!(c.uris.is_empty() && c.arguments.is_empty());
    assert_eq!(
        labels_of(&t.labels),
        vec![
            kv("a", "1"),
            kv("team", "core"),
            kv(LABEL_APP, "web"),
            kv(LABEL_INSTANCE, "0"),
            kv(LABEL_VERSION, "7"),
        ]
    );
}

#[test]
fn environment_has_app_vars_and_ours_sorted_and_typed() {
    let a = with(json!({"command": {"cmd": "x", "environment": {"B": "2", "A": "1"}}}));
    let t = build(&a);
    let c = t.command.unwrap();
    let env = c.environment.as_ref().unwrap();
    let names: Vec<&str> = env.variables.iter().map(|v| v.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(
        env.variables
            .iter()
            .all(|v| v.r#type == Some(1) && v.value.is_some())
    );
    let env = env_of(&c);
    assert_eq!(env["A"], "1");
    assert_eq!(env["B"], "2");
    assert_eq!(env["HYDROGEN_APP"], "web");
    assert_eq!(env["HYDROGEN_INSTANCE"], "0");
    assert_eq!(env["HYDROGEN_TASK_ID"], format!("web.0.{UUID}"));
    assert_eq!(env["HYDROGEN_APP_VERSION"], "7");
    assert!(!env.contains_key("PORTS") && !env.contains_key("PORT0"));
}

#[test]
fn uris_carry_every_flag_with_mesos_defaults() {
    let a = with(json!({"command": {"cmd": "x", "uris": [
        {"uri": "http://a/x.tgz"},
        {"uri": "http://a/bin", "extract": false, "execute": true, "cache": true,
         "output_file": "tool"}
    ]}}));
    let uris = build(&a).command.unwrap().uris;
    assert_eq!(
        uris,
        vec![
            v1::command_info::Uri {
                value: "http://a/x.tgz".into(),
                executable: Some(false),
                extract: Some(true),
                cache: Some(false),
                output_file: None,
            },
            v1::command_info::Uri {
                value: "http://a/bin".into(),
                executable: Some(true),
                extract: Some(false),
                cache: Some(true),
                output_file: Some("tool".into()),
            },
        ]
    );
}

#[test]
fn image_without_cmd_runs_the_entrypoint() {
    let mut v = base();
    v["command"] = json!({"environment": {"X": "1"}});
    v["container"] = json!({"image": "redis:7"});
    let t = build(&app(v));
    let c = t.command.as_ref().unwrap();
    assert_eq!(c.shell, Some(false));
    assert_eq!(c.value, None);
    assert!(c.arguments.is_empty());
    assert_eq!(env_of(c)["X"], "1");
    let ci = t.container.unwrap();
    assert_eq!(ci.r#type, v1::container_info::Type::Mesos as i32);
    let image = ci.mesos.unwrap().image.unwrap();
    assert_eq!(image.r#type, v1::image::Type::Docker as i32);
    assert_eq!(image.docker.unwrap().name, "redis:7");
    assert_eq!(image.cached, None);
}

#[test]
fn image_with_cmd_runs_the_cmd_in_a_shell() {
    let t = build(&with(json!({"container": {"image": "debian:latest"}})));
    let c = t.command.unwrap();
    assert_eq!(
        (c.shell, c.value.as_deref()),
        (Some(true), Some("sleep 10"))
    );
}

#[test]
fn missing_command_is_an_error() {
    // Only reachable with an unvalidated app (the spec refuses it).
    let mut a = with(json!({}));
    a.command = None;
    assert_eq!(error_field(&a, &[]), "command.cmd");
    assert_eq!(
        task_info(&request(&a, &[]), &LaunchDefaults::default()),
        Err(LaunchError::MissingCommand)
    );
}

// --------------------------------------------------------------- container

#[test]
fn networks_without_image_still_get_a_mesos_container() {
    let t = build(&with(
        json!({"container": {"network": [{"name": "internal-network"}]}}),
    ));
    let ci = t.container.unwrap();
    assert_eq!(ci.r#type, v1::container_info::Type::Mesos as i32);
    assert!(ci.mesos.is_none());
    assert_eq!(ci.network_infos.len(), 1);
    assert_eq!(
        ci.network_infos[0].name.as_deref(),
        Some("internal-network")
    );
    assert!(ci.network_infos[0].labels.is_none());
}

#[test]
fn volumes_without_image_get_a_mesos_container() {
    let t = build(&with(json!({"container": {"volume": [
        {"container_path": "data", "host_path": "/srv/data"}
    ]}})));
    let ci = t.container.unwrap();
    assert!(ci.mesos.is_none());
    assert_eq!(
        ci.volumes,
        vec![v1::Volume {
            mode: v1::volume::Mode::Rw as i32,
            container_path: "data".into(),
            host_path: Some("/srv/data".into()),
            image: None,
            source: None,
        }]
    );
}

#[test]
fn host_volume_modes() {
    let t = build(&with(json!({"container": {"volume": [
        {"container_path": "a", "host_path": "/a", "mode": "RO"},
        {"container_path": "b", "host_path": "/b", "mode": "rw"}
    ]}})));
    let modes: Vec<i32> = t
        .container
        .unwrap()
        .volumes
        .iter()
        .map(|v| v.mode)
        .collect();
    assert_eq!(
        modes,
        vec![v1::volume::Mode::Ro as i32, v1::volume::Mode::Rw as i32]
    );
}

#[test]
fn docker_volumes_carry_driver_name_and_options() {
    let t = build(&with(json!({"container": {"volume": [
        {"container_path": "/data", "mode": "ro", "source": {"type": "DOCKER_VOLUME",
          "docker_volume": {"driver": "pxd", "name": "v1",
                            "driveropts": ["size=10", "", {"repl": "3"}, "flag"]}}},
        {"source": {"type": "docker",
          "docker_volume": {"driver": "rexray", "name": "plain", "driveropts": [""]}}}
    ]}})));
    let vols = t.container.unwrap().volumes;
    let v = &vols[0];
    assert_eq!(
        (v.container_path.as_str(), v.mode),
        ("/data", v1::volume::Mode::Ro as i32)
    );
    assert_eq!(v.host_path, None);
    let src = v.source.as_ref().unwrap();
    assert_eq!(
        src.r#type,
        Some(v1::volume::source::Type::DockerVolume as i32)
    );
    let dv = src.docker_volume.as_ref().unwrap();
    assert_eq!(
        (dv.driver.as_deref(), dv.name.as_str()),
        (Some("pxd"), "v1")
    );
    let params: Vec<(&str, &str)> = dv
        .driver_options
        .as_ref()
        .unwrap()
        .parameter
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(params, vec![("size", "10"), ("repl", "3"), ("flag", "")]);
    // No container_path: the volume name, in the sandbox; RW by default; no
    // options at all when only "" was given.
    let v = &vols[1];
    assert_eq!(
        (v.container_path.as_str(), v.mode),
        ("plain", v1::volume::Mode::Rw as i32)
    );
    assert!(
        v.source
            .as_ref()
            .unwrap()
            .docker_volume
            .as_ref()
            .unwrap()
            .driver_options
            .is_none()
    );
}

#[test]
fn network_addresses_groups_and_labels() {
    let t = build(&with(json!({"container": {"network": [{
        "name": "overlay",
        "group": ["g1", "prod"],
        "labels": [{"net": "a"}, {"same": "x"}],
        "ipaddress": [
            {"ip": "10.0.0.5", "group": ["prod", "g2"], "labels": [{"ip": "one"}, {"same": "x"}]},
            {"ip": "2600::1"},
            {"protocol": "ipv6"},
            {"ip": " 10.0.0.6 ", "protocol": "ipv4", "labels": [{"ip": "two"}]}
        ]
    }]}})));
    let n = &t.container.unwrap().network_infos[0];
    assert_eq!(n.name.as_deref(), Some("overlay"));
    let ips: Vec<(Option<i32>, Option<&str>)> = n
        .ip_addresses
        .iter()
        .map(|ip| (ip.protocol, ip.ip_address.as_deref()))
        .collect();
    let (v4, v6) = (
        Some(v1::network_info::Protocol::IPv4 as i32),
        Some(v1::network_info::Protocol::IPv6 as i32),
    );
    assert_eq!(
        ips,
        vec![
            (v4, Some("10.0.0.5")),
            (v6, Some("2600::1")),
            (v6, None), // IPAM
            (v4, Some("10.0.0.6")),
        ]
    );
    assert_eq!(n.groups, vec!["g1", "prod", "g2"]);
    assert_eq!(
        labels_of(&n.labels),
        vec![
            kv("net", "a"),
            kv("same", "x"),
            kv("ip", "one"),
            kv("ip", "two")
        ]
    );
    assert!(n.port_mappings.is_empty());
}

#[test]
fn one_network_info_per_entry_in_order() {
    let t = build(&with(json!({"container": {"network": [
        {"name": "a"}, {"name": "c", "ipaddress": [{"ip": "10.1.1.1"}]}, {"name": "b"}
    ]}})));
    let names: Vec<Option<&str>> = t
        .container
        .as_ref()
        .unwrap()
        .network_infos
        .iter()
        .map(|n| n.name.as_deref())
        .collect();
    assert_eq!(names, vec![Some("a"), Some("c"), Some("b")]);
}

// ------------------------------------------------------------------- ports

#[test]
fn ports_become_port_variables() {
    let a = with(json!({"resources": {"cpu": 1, "mem": 1, "ports": 2}}));
    let t = task_info(&request(&a, &[31005, 31002]), &LaunchDefaults::default()).unwrap();
    let env = env_of(t.command.as_ref().unwrap());
    assert_eq!(env["PORT0"], "31005");
    assert_eq!(env["PORT1"], "31002");
    assert_eq!(env["PORTS"], "31005,31002");
    assert!(!env.contains_key("PORT2"));
}

#[test]
fn the_app_may_override_port_variables_but_not_identity() {
    let a = with(json!({"resources": {"cpu": 1, "mem": 1, "ports": 1},
                        "command": {"cmd": "x", "environment": {"PORT0": "80"}}}));
    let t = task_info(&request(&a, &[31000]), &LaunchDefaults::default()).unwrap();
    assert_eq!(env_of(t.command.as_ref().unwrap())["PORT0"], "80");

    // The spec refuses reserved names at deploy; launch still guards apps
    // that never went through validation.
    let mut a = with(json!({"command": {"cmd": "x"}}));
    if let Some(command) = a.command.as_mut() {
        command
            .environment
            .insert("HYDROGEN_APP".into(), "other".into());
    }
    assert_eq!(error_field(&a, &[]), "command.environment.HYDROGEN_APP");
}

#[test]
fn fixed_port_mappings_must_be_allocated() {
    let a = with(
        json!({"container": {"network": [{"name": "n", "port_mapping": [
            {"host_port": 31010, "container_port": 80, "protocol": "tcp"},
            {"host_port": 31011, "container_port": 53, "protocol": "udp"},
            {"host_port": 31012, "container_port": 8080}
        ]}]}}),
    );
    let t = task_info(
        &request(&a, &[31012, 31010, 31011]),
        &LaunchDefaults::default(),
    )
    .unwrap();
    let pm = &t.container.unwrap().network_infos[0].port_mappings;
    let got: Vec<(u32, u32, Option<&str>)> = pm
        .iter()
        .map(|m| (m.host_port, m.container_port, m.protocol.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (31010, 80, Some("tcp")),
            (31011, 53, Some("udp")),
            (31012, 8080, None)
        ]
    );

    let err = task_info(&request(&a, &[31010, 31011]), &LaunchDefaults::default()).unwrap_err();
    assert_eq!(
        err.field(),
        "container.network[0].port_mapping[2].host_port"
    );
    assert!(err.to_string().contains("31012"), "{err}");
}

#[test]
fn dynamic_port_mappings_take_free_allocated_ports() {
    // host_port 0 is not accepted by the spec today; the builder supports it.
    let mut a = with(json!({"container": {"network": [
        {"name": "n", "port_mapping": [{"host_port": 31001, "container_port": 80}]},
        {"name": "m", "port_mapping": [{"host_port": 1, "container_port": 81},
                                       {"host_port": 1, "container_port": 82}]}
    ]}}));
    let maps = &mut a.container.as_mut().unwrap().network[1].port_mapping;
    maps[0].host_port = 0;
    maps[1].host_port = 0;
    assert_eq!(
        port_needs(&a),
        PortNeeds {
            fixed: vec![31001],
            count: 3
        }
    );
    let t = task_info(
        &request(&a, &[31001, 31007, 31003]),
        &LaunchDefaults::default(),
    )
    .unwrap();
    let nets = t.container.unwrap().network_infos;
    assert_eq!(nets[0].port_mappings[0].host_port, 31001);
    let hp: Vec<u32> = nets[1].port_mappings.iter().map(|m| m.host_port).collect();
    assert_eq!(hp, vec![31007, 31003]);

    // More mappings than ports.
    let err = task_info(&request(&a, &[31001, 31007]), &LaunchDefaults::default()).unwrap_err();
    assert_eq!(
        err.field(),
        "container.network[1].port_mapping[1].host_port"
    );
}

#[test]
fn allocated_ports_must_be_in_the_resources_and_enough() {
    let a = with(json!({"resources": {"cpu": 1, "mem": 1, "ports": 2}}));
    assert_eq!(error_field(&a, &[31000]), "resources.ports");
    assert_eq!(error_field(&a, &[31000, 32000]), "ports[1]");
    assert_eq!(error_field(&a, &[31000, 31000]), "ports[1]");
    // Ports without any ports resource.
    let mut req = request(&a, &[31000, 31001]);
    req.resources.retain(|r| r.name != "ports");
    let err = task_info(&req, &LaunchDefaults::default()).unwrap_err();
    assert_eq!(err.field(), "ports[0]");
}

#[test]
fn port_needs_counts_resources_ports_and_mappings() {
    assert_eq!(port_needs(&with(json!({}))), PortNeeds::default());
    let a = with(json!({"resources": {"cpu": 1, "mem": 1, "ports": 5},
        "container": {"network": [{"name": "n", "port_mapping": [
            {"host_port": 9000, "container_port": 80},
            {"host_port": 8000, "container_port": 81},
            {"host_port": 9000, "container_port": 82}]}]}}));
    assert_eq!(
        port_needs(&a),
        PortNeeds {
            fixed: vec![8000, 9000],
            count: 5
        }
    );
}

// ------------------------------------------------------------ health check

#[test]
fn endpoint_health_check_is_http_with_mesos_defaults() {
    let t = build(&with(
        json!({"healthcheck": {"endpoint": "localhost:8080"}}),
    ));
    let hc = t.health_check.unwrap();
    assert_eq!(hc.r#type, Some(v1::health_check::Type::Http as i32));
    let http = hc.http.unwrap();
    assert_eq!(
        (http.scheme.as_deref(), http.port, http.path.as_deref()),
        (Some("http"), 8080, Some("/"))
    );
    assert!(http.statuses.is_empty());
    assert_eq!(hc.delay_seconds, Some(15.0));
    assert_eq!(hc.interval_seconds, Some(10.0));
    assert_eq!(hc.timeout_seconds, Some(20.0));
    assert_eq!(hc.grace_period_seconds, Some(10.0));
    assert_eq!(hc.consecutive_failures, Some(3));
    assert!(hc.tcp.is_none() && hc.command.is_none());
}

#[test]
fn http_health_check_with_every_field() {
    let t = build(&with(json!({"healthcheck": {
        "type": "HTTP",
        "http": {"port": 9000, "path": "/health", "scheme": "https", "statuses": [200, 204]},
        "delay": 1, "interval": 2.5, "timeout": 3, "graceperiod": 4, "fails": 5
    }})));
    let hc = t.health_check.unwrap();
    let http = hc.http.unwrap();
    assert_eq!(http.scheme.as_deref(), Some("https"));
    assert_eq!((http.port, http.path.as_deref()), (9000, Some("/health")));
    assert_eq!(http.statuses, vec![200, 204]);
    assert_eq!(http.protocol, None);
    assert_eq!(
        (
            hc.delay_seconds,
            hc.interval_seconds,
            hc.timeout_seconds,
            hc.grace_period_seconds,
            hc.consecutive_failures
        ),
        (Some(1.0), Some(2.5), Some(3.0), Some(4.0), Some(5))
    );
}

#[test]
fn port_index_checks_take_the_tasks_host_port() {
    let ports = [31005, 31002];
    let check_port = |hc: Value| {
        let a = with(json!({"resources": {"cpu": 1, "mem": 1, "ports": 2}, "healthcheck": hc}));
        let t = task_info(&request(&a, &ports), &LaunchDefaults::default()).unwrap();
        let hc = t.health_check.unwrap();
        hc.http
            .map(|h| (h.port, h.path))
            .or(hc.tcp.map(|t| (t.port, None)))
            .unwrap()
    };
    // $PORT1 is the second port placement took.
    assert_eq!(
        check_port(json!({"type": "http", "http": {"port_index": 1, "path": "/ok"}})),
        (31002, Some("/ok".to_owned()))
    );
    assert_eq!(
        check_port(json!({"type": "tcp", "tcp": {"port_index": 0}})),
        (31005, None)
    );
    assert_eq!(
        check_port(json!({"endpoint": "http://localhost/health", "port_index": 0})),
        (31005, Some("/health".to_owned()))
    );
    // A fixed port number is sent as written.
    assert_eq!(
        check_port(json!({"type": "tcp", "tcp": {"port": 6379}})),
        (6379, None)
    );
}

#[test]
fn port_index_of_a_mapped_host_port_checks_the_container_port() {
    // Mesos runs the check inside the task's network namespace, where the
    // app listens on the mapping's container port.
    let a = with(json!({
        "resources": {"cpu": 1, "mem": 1, "ports": 2},
        "container": {"network": [{"name": "n", "port_mapping": [
            {"host_port": 31010, "container_port": 80}]}]},
        "healthcheck": {"type": "http", "http": {"port_index": 1}}
    }));
    let t = task_info(&request(&a, &[31011, 31010]), &LaunchDefaults::default()).unwrap();
    assert_eq!(t.health_check.unwrap().http.unwrap().port, 80);
    // An unmapped host port is checked as it is.
    let a = with(json!({
        "resources": {"cpu": 1, "mem": 1, "ports": 2},
        "container": {"network": [{"name": "n", "port_mapping": [
            {"host_port": 31010, "container_port": 80}]}]},
        "healthcheck": {"type": "tcp", "tcp": {"port_index": 0}}
    }));
    let t = task_info(&request(&a, &[31011, 31010]), &LaunchDefaults::default()).unwrap();
    assert_eq!(t.health_check.unwrap().tcp.unwrap().port, 31011);
}

#[test]
fn port_index_beyond_the_allocated_ports_is_a_launch_error() {
    // The spec refuses it at deploy; launch guards unvalidated apps.
    let mut a = with(json!({"resources": {"cpu": 1, "mem": 1, "ports": 1},
                            "healthcheck": {"type": "tcp", "tcp": {"port_index": 0}}}));
    if let Some(tcp) = a.healthcheck.as_mut().and_then(|h| h.tcp.as_mut()) {
        tcp.port_index = Some(3);
    }
    let err = task_info(&request(&a, &[31000]), &LaunchDefaults::default()).unwrap_err();
    assert_eq!(err.field(), "healthcheck.tcp.port_index");
    assert_eq!(
        err.to_string(),
        "healthcheck.tcp.port_index is 3 but the task holds 1 host ports (ask for more with resources.ports)"
    );
}

#[test]
fn tcp_health_check() {
    let t = build(&with(
        json!({"healthcheck": {"type": "tcp", "tcp": {"port": 6379}}}),
    ));
    let hc = t.health_check.unwrap();
    assert_eq!(hc.r#type, Some(v1::health_check::Type::Tcp as i32));
    assert_eq!(hc.tcp.unwrap().port, 6379);
    assert!(hc.http.is_none());
}

#[test]
fn command_health_check() {
    let t = build(&with(json!({"healthcheck": {"type": "command",
        "command": {"cmd": "test -f /ready", "environment": {"Z": "1"},
                    "uris": [{"uri": "http://a/probe"}]}}})));
    let hc = t.health_check.unwrap();
    assert_eq!(hc.r#type, Some(v1::health_check::Type::Command as i32));
    let c = hc.command.unwrap();
    assert_eq!(
        (c.shell, c.value.as_deref()),
        (Some(true), Some("test -f /ready"))
    );
    assert_eq!(env_of(&c)["Z"], "1");
    assert_eq!(c.uris.len(), 1);
}

#[test]
fn incomplete_health_check_is_an_error() {
    let mut a = with(json!({}));
    a.healthcheck = Some(Box::default());
    assert_eq!(error_field(&a, &[]), "healthcheck");
}

// ----------------------------------------------------------------- labels

#[test]
fn our_label_keys_are_reserved() {
    // Refused at deploy by the spec; launch still guards unvalidated apps.
    let mut a = with(json!({}));
    a.labels.insert("hydrogen.version".into(), "9".into());
    assert_eq!(error_field(&a, &[]), "labels.hydrogen.version");
    // Other keys under the prefix are the user's.
    let t = build(&with(json!({"labels": {"hydrogen.team": "x"}})));
    assert!(labels_of(&t.labels).contains(&kv("hydrogen.team", "x")));
}

// ----------------------------------------------------------- request errors

#[test]
fn the_task_id_must_be_ours_for_this_app_and_instance() {
    let a = with(json!({}));
    for id in [
        format!("other.0.{UUID}"),
        format!("web.1.{UUID}"),
        "web".to_owned(),
    ] {
        let mut req = request(&a, &[]);
        req.task_id = id;
        let err = task_info(&req, &LaunchDefaults::default()).unwrap_err();
        assert_eq!(err.field(), "task_id");
    }
}

#[test]
fn a_task_without_resources_is_refused() {
    let a = with(json!({}));
    let mut req = request(&a, &[]);
    req.resources.clear();
    assert_eq!(
        task_info(&req, &LaunchDefaults::default()),
        Err(LaunchError::NoResources)
    );
}

// ---------------------------------------------------------- custom executor

fn executor_app() -> App {
    with(json!({
        "command": {"cmd": "./serve", "environment": {"A": "1"},
                    "uris": [{"uri": "http://a/app.tgz"}, {"uri": "http://a/exec"}]},
        "container": {"image": "alpine:3", "network": [{"name": "n"}]},
        "healthcheck": {"type": "tcp", "tcp": {"port": 80}},
        "executor": {"name": "my exec", "cmd": "./exec --flag", "shell": true,
                     "uri": "http://a/exec", "environment": {"E": "2"}}
    }))
}

#[test]
fn custom_executor_replaces_the_command() {
    let a = executor_app();
    let t = build(&a);
    assert!(t.command.is_none(), "exactly one of command and executor");
    assert!(t.container.is_none(), "the container goes on the executor");
    assert!(t.health_check.is_some(), "the executor runs the check");
    let e = t.executor.unwrap();
    assert_eq!(e.r#type, Some(v1::executor_info::Type::Custom as i32));
    assert_eq!(e.executor_id.value, format!("web.0.{UUID}.executor"));
    assert_eq!(parse_task_id(&e.executor_id.value), None);
    assert_eq!(e.framework_id.unwrap().value, "hydrogen-fw");
    assert_eq!(e.name.as_deref(), Some("my exec"));
    #[allow(deprecated)]
    let source = e.source.clone();
    assert_eq!(source, Some(format!("web.0.{UUID}")));
    assert!(e.resources.is_empty());
    assert_eq!(labels_of(&e.labels).len(), 3);
    let ci = e.container.unwrap();
    assert_eq!(
        ci.mesos.unwrap().image.unwrap().docker.unwrap().name,
        "alpine:3"
    );
    assert_eq!(ci.network_infos[0].name.as_deref(), Some("n"));
    let c = e.command.unwrap();
    assert_eq!(
        (c.value.as_deref(), c.shell),
        (Some("./exec --flag"), Some(true))
    );
    assert!(c.arguments.is_empty());
    // The executor's URI first, then the app's, each once.
    let uris: Vec<&str> = c.uris.iter().map(|u| u.value.as_str()).collect();
    assert_eq!(uris, vec!["http://a/exec", "http://a/app.tgz"]);
    assert_eq!(c.uris[0].executable, Some(true));
    let env = env_of(&c);
    assert_eq!(env["E"], "2");
    assert_eq!(env["HYDROGEN_TASK_ID"], format!("web.0.{UUID}"));
    assert!(!env.contains_key("A"), "the app's env travels in data");
}

#[test]
fn custom_executor_gets_the_task_command_in_data() {
    let t = build(&executor_app());
    let data = t.data.unwrap();
    let json: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(json["value"], "./serve");
    assert_eq!(json["shell"], true);
    assert!(json.get("uris").is_none());
    let command: v1::CommandInfo = from_json(&data).unwrap();
    let env = env_of(&command);
    assert_eq!(env["A"], "1");
    assert_eq!(env["HYDROGEN_APP"], "web");
}

#[test]
fn the_default_executor_applies_to_apps_without_their_own() {
    let defaults = LaunchDefaults {
        executor: Some(spec::Executor {
            cmd: "/opt/exec".into(),
            shell: Some(false),
            ..Default::default()
        }),
    };
    let a = with(json!({}));
    let t = task_info(&request(&a, &[]), &defaults).unwrap();
    assert!(t.command.is_none());
    let e = t.executor.unwrap();
    assert_eq!(e.name.as_deref(), Some("hydrogen:web"));
    let c = e.command.unwrap();
    assert_eq!(c.shell, Some(false));
    assert_eq!(c.value.as_deref(), Some("/opt/exec"));
    assert_eq!(c.arguments, vec!["/opt/exec"]);
    // The app's own executor wins over the default.
    let t = task_info(&request(&executor_app(), &[]), &defaults).unwrap();
    assert_eq!(t.executor.unwrap().name.as_deref(), Some("my exec"));
}

#[test]
fn executor_environment_may_not_set_our_identity() {
    let defaults = LaunchDefaults {
        executor: Some(spec::Executor {
            cmd: "/opt/exec".into(),
            environment: BTreeMap::from([("HYDROGEN_TASK_ID".into(), "x".into())]),
            ..Default::default()
        }),
    };
    let err = task_info(&request(&with(json!({})), &[]), &defaults).unwrap_err();
    assert_eq!(err.field(), "executor.environment.HYDROGEN_TASK_ID");
}

#[test]
fn an_executor_app_without_cmd_or_image_leaves_the_choice_to_the_executor() {
    let a = app(json!({"name": "e", "resources": {"cpu": 1, "mem": 1},
                       "executor": {"cmd": "./exec"}}));
    let t = build(&a);
    let command: v1::CommandInfo = from_json(&t.data.unwrap()).unwrap();
    assert_eq!((command.shell, command.value), (Some(true), None));
}

// ------------------------------------------------------- golden, round trip

fn example_app(file: &str) -> App {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(file);
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    crate::spec::parse_apps(&body).unwrap().remove(0)
}

/// Compares with the checked-in golden file, or rewrites it when
/// `UPDATE_GOLDEN=1`.
fn check_golden(name: &str, task: &v1::TaskInfo) -> Value {
    let actual = to_json_value(task).expect("TaskInfo has a JSON form");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/scheduler/golden")
        .join(name);
    let pretty = serde_json::to_string_pretty(&actual).unwrap() + "\n";
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, pretty).unwrap();
        return actual;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {} (run with UPDATE_GOLDEN=1 to create it): {e}",
            path.display()
        )
    });
    let expected: Value = serde_json::from_str(&expected).unwrap();
    assert_eq!(
        actual, expected,
        "{name} differs from the golden file; if the change is intended, run with UPDATE_GOLDEN=1. actual:\n{pretty}"
    );
    actual
}

#[test]
fn golden_test_app() {
    let a = example_app("test-app.json");
    let t = task_info(&request(&a, &[]), &LaunchDefaults::default()).unwrap();
    let json = check_golden("test-app.taskinfo.json", &t);
    assert_eq!(json["container"]["type"], "MESOS");
    assert_eq!(
        json["container"]["network_infos"][0]["name"],
        "internal-network"
    );
    assert_eq!(json["command"]["value"], "/bin/sleep 500");
}

#[test]
fn golden_full_enumeration_carries_every_field() {
    let a = example_app("full-enumeration.json");
    let t = task_info(&request(&a, &[]), &LaunchDefaults::default()).unwrap();
    let j = check_golden("full-enumeration.taskinfo.json", &t);

    assert_eq!(j["name"], "Example-app");
    let res: Vec<&str> = j["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(res, vec!["cpus", "mem", "disk"]);

    // Command, environment, URIs.
    let cmd = &j["command"];
    assert_eq!(cmd["value"], "/bin/echo hello world");
    assert_eq!(cmd["shell"], true);
    let env: BTreeMap<&str, &str> = cmd["environment"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["value"].as_str().unwrap()))
        .collect();
    assert_eq!(env["VARIABLE_NAME1"], "VARIABLE_VALUE1");
    assert_eq!(env["VARIABLE_NAME2"], "VARIABLE_VALUE2");
    assert_eq!(env["HYDROGEN_APP"], "Example-app");
    assert_eq!(
        cmd["uris"],
        json!([{"value": "http://some-mesos-dns.mesos:9001/executor",
                "executable": true, "extract": false, "cache": false}])
    );

    // Image and both volume kinds.
    let c = &j["container"];
    assert_eq!(c["type"], "MESOS");
    assert_eq!(
        c["mesos"]["image"],
        // `cached` is unset on the wire; Mesos's JSON writes its default.
        json!({"type": "DOCKER", "docker": {"name": "debian:latest"}, "cached": true})
    );
    assert_eq!(
        c["volumes"][0],
        json!({"container_path": "example/log", "host_path": "/var/log", "mode": "RO"})
    );
    assert_eq!(
        c["volumes"][1],
        json!({"container_path": "test_volume", "mode": "RW", "source": {
            "type": "DOCKER_VOLUME",
            "docker_volume": {"driver": "rexray", "name": "test_volume"}}})
    );

    // Every network, with IPs, groups and labels.
    let nets = c["network_infos"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    // The static IPs ride on a named network: the CNI isolator skips
    // unnamed NetworkInfos, so the spec refuses them.
    assert_eq!(nets[0]["name"], "FE-CNI");
    assert_eq!(
        nets[0]["ip_addresses"],
        json!([
            {"protocol": "IPv4", "ip_address": "10.2.1.1"},
            {"protocol": "IPv4", "ip_address": "10.2.1.25"},
            {"protocol": "IPv6", "ip_address": "2600::1"}
        ])
    );
    assert_eq!(nets[0]["groups"], json!(["prod", "QA"]));
    assert_eq!(
        nets[0]["labels"]["labels"],
        json!([{"key": "some_label", "value": "awesome"}, {"key": "some_label", "value": "rad"}])
    );
    assert_eq!(
        nets[1],
        json!({"name": "BE-CNI", "labels": {"labels": [
            {"key": "testIP", "value": "11.11.11.1"},
            {"key": "testValue", "value": "someString"}]}})
    );

    // Health check from the endpoint, with the Mesos defaults written out.
    assert_eq!(
        j["health_check"],
        json!({"type": "HTTP",
               "http": {"scheme": "http", "port": 8080, "path": "/", "protocol": "IPv4"},
               "delay_seconds": 15.0, "interval_seconds": 10.0, "timeout_seconds": 20.0,
               "consecutive_failures": 3, "grace_period_seconds": 10.0})
    );

    // Labels: the app's, then ours.
    assert_eq!(
        j["labels"]["labels"],
        json!([
            {"key": "purpose", "value": "Testing"},
            {"key": "hydrogen.app", "value": "Example-app"},
            {"key": "hydrogen.instance", "value": "0"},
            {"key": "hydrogen.version", "value": "7"}
        ])
    );
}

#[test]
fn golden_full_enumeration_with_the_default_executor() {
    let a = example_app("full-enumeration.json");
    let defaults = LaunchDefaults {
        executor: Some(spec::Executor {
            name: Some("hydrogen-executor".into()),
            cmd: "./executor".into(),
            shell: None,
            uris: vec![spec::Uri {
                uri: "http://some-mesos-dns.mesos:9001/executor".into(),
                extract: Some(false),
                execute: Some(true),
                cache: None,
                output_file: None,
            }],
            environment: BTreeMap::from([("EXECUTOR_LOG".into(), "debug".into())]),
        }),
    };
    let t = task_info(&request(&a, &[]), &defaults).unwrap();
    let j = check_golden("full-enumeration.executor.taskinfo.json", &t);
    assert!(j.get("command").is_none() && j.get("container").is_none());
    assert_eq!(j["executor"]["type"], "CUSTOM");
    assert_eq!(
        j["executor"]["container"]["mesos"]["image"]["docker"]["name"],
        "debian:latest"
    );
    // The app's URI equals the executor's: fetched once.
    assert_eq!(
        j["executor"]["command"]["uris"].as_array().unwrap().len(),
        1
    );
}

#[test]
fn task_infos_round_trip_through_protobuf_and_json() {
    let defaults = LaunchDefaults::default();
    let full = example_app("full-enumeration.json");
    let test_app = example_app("test-app.json");
    let exec = executor_app();
    let with_ports = with(json!({"resources": {"cpu": 1, "mem": 1, "ports": 1},
        "container": {"network": [{"name": "n", "port_mapping": [
            {"host_port": 31000, "container_port": 80, "protocol": "udp"}]}]}}));
    for (a, ports) in [
        (&full, &[][..]),
        (&test_app, &[][..]),
        (&exec, &[][..]),
        (&with_ports, &[31000][..]),
    ] {
        let t = task_info(&request(a, ports), &defaults).unwrap();
        let bytes = t.encode_to_vec();
        let back = v1::TaskInfo::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, t);
        // Mesos's JSON spells out unset fields that have defaults, so the
        // struct comes back with them set; the JSON is what must be stable.
        let json = crate::mesos::encoding::to_json(&t);
        let back: v1::TaskInfo = from_json(&json).unwrap();
        assert_eq!(crate::mesos::encoding::to_json(&back), json);
    }
}
