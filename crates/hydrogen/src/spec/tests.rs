//! Tests of the whole model: the examples, round trips, strictness, every
//! validation rule with its path and message, and a no-panic property.

use std::path::PathBuf;

use proptest::prelude::{Just, any, prop, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as _;
use serde_json::{Value, json};

use super::*;

fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A small valid app to mutate in tests.
fn base() -> Value {
    json!({
        "name": "web",
        "resources": {"cpu": 0.5, "mem": 64},
        "command": {"cmd": "sleep 10"}
    })
}

/// Every field the model knows, beyond the README's enumeration.
fn everything() -> Value {
    json!({
        "name": "all_fields-1",
        "resources": {
            "cpu": 2, "mem": 512, "ports": 2, "role": "eng/web",
            "disk": {"size": 10, "source": {"type": "mount", "mount": "/mnt/d1"}}
        },
        "filters": [
            {"type": "text", "value": ["r1"], "attribute": "rack"},
            {"type": "SCALAR", "value": [8], "op": "GE", "attribute": "cores"},
            {"type": "Set", "value": ["ssd", "gpu"]},
            {"type": "ranges", "value": ["8080", "9000-9010"], "attribute": "ports"}
        ],
        "instances": 3,
        "strategy": {"type": "Mux", "effort": "best"},
        "command": {
            "cmd": "./server",
            "environment": {"PORT": "8080", "_X": "1"},
            "uris": [{"uri": "http://x/server.tgz", "extract": true, "execute": false,
                      "cache": true, "output_file": "server.tgz"}]
        },
        "container": {
            "image": "alpine:3",
            "volume": [
                {"container_path": "/data", "host_path": "/srv/data", "mode": "RW"},
                {"container_path": "vol", "source": {"type": "docker_volume",
                    "docker_volume": {"driver": "pxd", "name": "v1",
                                      "driveropts": ["size=10", {"repl": "3"}]}}}
            ],
            "network": [{
                "name": "overlay",
                "group": ["g1"],
                "labels": [{"a": "b"}],
                "ipaddress": [{"protocol": "IPv6"}],
                "port_mapping": [{"host_port": 31000, "container_port": 80, "protocol": "UDP"}]
            }]
        },
        "healthcheck": {
            "type": "HTTP",
            "http": {"port": 8080, "path": "/health", "scheme": "https", "statuses": [200, 204]},
            "delay": 1, "interval": 5, "timeout": 2.5, "graceperiod": 30, "fails": 3
        },
        "labels": {"team": "core"},
        "retry": {"time": "2.5", "exp_backoff": true, "total_retries": 4},
        "executor": {
            "name": "custom", "command": "./executor", "shell": false,
            "uri": "http://x/executor", "environment": {"LOG": "debug"}
        }
    })
}

fn one(v: &Value) -> Result<App, SpecError> {
    parse_app(&serde_json::to_vec(v).expect("test json"))
}

/// Sets `pointer` (a JSON pointer) in `base()` to `value` and returns the
/// validation errors of the result, which must read.
fn rule_errors(edit: impl FnOnce(&mut Value)) -> Vec<ValidationError> {
    let mut v = base();
    edit(&mut v);
    let app = App::from_value(&v).expect("shape is valid");
    app.validate().err().unwrap_or_default()
}

fn set(v: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let target = if parent.is_empty() {
        Some(&mut *v)
    } else {
        v.pointer_mut(parent)
    };
    match target.expect("parent exists") {
        Value::Object(m) => {
            m.insert(key.to_owned(), value);
        }
        Value::Array(a) => {
            let i: usize = key.parse().expect("index");
            a[i] = value;
        }
        _ => panic!("not a container"),
    }
}

/// Asserts `edit` breaks exactly one rule, at `field`, saying `message`.
#[track_caller]
fn assert_rule(field: &str, message: &str, edit: impl FnOnce(&mut Value)) {
    assert_eq!(rule_errors(edit), [ValidationError::new(field, message)]);
}

/// Asserts reading fails at `field` with a message containing `part`.
#[track_caller]
fn assert_shape(v: &Value, field: &str, part: &str) {
    let err = one(v).expect_err("must be rejected");
    let errors = err.errors();
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0].field, field, "{err}");
    assert!(
        errors[0].message.contains(part),
        "{:?} lacks {part:?}",
        errors[0].message
    );
}

// ---- examples ----------------------------------------------------------------

#[test]
fn full_enumeration_example_parses_with_every_field() {
    let apps = parse_apps(&example("full-enumeration.json")).expect("valid");
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(app.name, "Example-app");
    assert_eq!((app.resources.cpu, app.resources.mem), (1.5, 128.25));
    assert_eq!(app.resources.disk.as_ref().map(|d| d.size), Some(1024.0));
    assert_eq!(app.filters[0].kind, FilterType::Text);
    assert_eq!(app.filters[0].value, ["DEADBEEF00"]);
    assert_eq!(app.instances, 1);
    assert_eq!(app.strategy_type(), StrategyType::Unique);
    let command = app.command.as_ref().expect("command");
    assert_eq!(command.cmd.as_deref(), Some("/bin/echo hello world"));
    assert_eq!(command.environment.len(), 2);
    assert_eq!(command.uris[0].extract, Some(false));
    assert!(command.uris[0].execute());
    let container = app.container.as_ref().expect("container");
    assert_eq!(container.image.as_deref(), Some("debian:latest"));
    assert_eq!(container.volume[0].mode, Some(VolumeMode::Ro));
    assert_eq!(container.volume[0].host_path.as_deref(), Some("/var/log"));
    let docker = &container.volume[1]
        .source
        .as_ref()
        .expect("source")
        .docker_volume;
    assert_eq!(
        (docker.driver.as_str(), docker.name.as_str()),
        ("rexray", "test_volume")
    );
    assert_eq!(docker.driveropts, [DriverOpt::Text(String::new())]);
    assert!(docker.driver_parameters().is_empty());
    assert_eq!(
        container.volume[1].effective_container_path(),
        Some("test_volume")
    );
    assert_eq!(container.network.len(), 2);
    assert_eq!(container.network[0].name.as_deref(), Some("FE-CNI"));
    let ips = &container.network[0].ipaddress;
    assert_eq!(ips.len(), 3);
    assert_eq!(ips[0].group, ["prod"]);
    assert_eq!(ips[1].labels[0]["some_label"], "rad");
    assert_eq!(ips[2].protocol, Some(Protocol::Ipv6));
    assert_eq!(container.network[1].name.as_deref(), Some("BE-CNI"));
    assert_eq!(container.network[1].labels.len(), 2);
    let hc = app.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(
        hc.resolve(),
        Some(ResolvedCheck::Http {
            scheme: HttpScheme::Http,
            port: CheckPort::Number(8080),
            path: "/".into(),
            statuses: &[]
        })
    );
    assert_eq!(app.labels["purpose"], "Testing");
}

#[test]
fn test_app_example_parses() {
    let apps = parse_apps(&example("test-app.json")).expect("valid");
    let app = &apps[0];
    assert_eq!(app.name, "test-app");
    assert_eq!(app.instances, 5);
    assert_eq!(app.strategy_type(), StrategyType::Unique);
    assert_eq!(app.resources.disk.as_ref().map(|d| d.size), Some(1024.0));
    let network = &app.container.as_ref().expect("container").network;
    assert_eq!(network[0].name.as_deref(), Some("internal-network"));
    // PUT takes the same file (an array of one).
    assert_eq!(parse_app(&example("test-app.json")).expect("valid"), *app);
}

#[test]
fn everything_parses_and_keeps_every_field() {
    let app = one(&everything()).expect("valid");
    assert_eq!(app.resources.ports, Some(2));
    assert_eq!(app.resources.role.as_deref(), Some("eng/web"));
    let source = app
        .resources
        .disk
        .as_ref()
        .and_then(|d| d.source.as_ref())
        .expect("source");
    assert_eq!(source.kind, DiskSourceType::Mount);
    assert_eq!(app.filters[1].op, Some(ScalarOp::Ge));
    assert_eq!(app.filters[1].value, ["8"]);
    assert_eq!(
        app.strategy.as_deref(),
        Some(&Strategy {
            kind: StrategyType::Mux,
            effort: Some("best".into())
        })
    );
    let container = app.container.as_ref().expect("container");
    assert_eq!(container.volume[0].effective_mode(), VolumeMode::Rw);
    let dv = &container.volume[1]
        .source
        .as_ref()
        .expect("source")
        .docker_volume;
    assert_eq!(
        dv.driver_parameters(),
        [
            ("size".to_owned(), "10".to_owned()),
            ("repl".to_owned(), "3".to_owned())
        ]
    );
    let net = &container.network[0];
    assert_eq!(net.ipaddress[0].effective_protocol(), Protocol::Ipv6);
    assert_eq!(
        net.port_mapping[0],
        PortMapping {
            host_port: 31000,
            container_port: 80,
            protocol: Some(PortProtocol::Udp)
        }
    );
    let hc = app.healthcheck.as_ref().expect("hc");
    assert_eq!(
        hc.resolve(),
        Some(ResolvedCheck::Http {
            scheme: HttpScheme::Https,
            port: CheckPort::Number(8080),
            path: "/health".into(),
            statuses: &[200, 204]
        })
    );
    assert_eq!(app.retry.as_ref().and_then(|r| r.time), Some(2.5));
    let ex = app.executor.as_ref().expect("executor");
    assert_eq!(ex.cmd, "./executor");
    assert_eq!(ex.shell, Some(false));
    assert_eq!(ex.uris[0].uri, "http://x/executor");
    assert!(ex.uris[0].execute());
}

// ---- round trips and idempotency ------------------------------------------------

fn round_trip(app: &App) -> App {
    let bytes = serde_json::to_vec(app).expect("serialise");
    parse_app(&bytes).unwrap_or_else(|e| panic!("re-parse: {e}"))
}

#[test]
fn round_trip_is_identity() {
    for app in [
        parse_app(&example("full-enumeration.json")).expect("valid"),
        parse_app(&example("test-app.json")).expect("valid"),
        one(&everything()).expect("valid"),
    ] {
        let again = round_trip(&app);
        assert_eq!(again, app);
        assert!(again.spec_eq(&app));
        assert_eq!(again.content_hash(), app.content_hash());
    }
}

#[test]
fn serialises_in_the_seed_shape() {
    let app = one(&everything()).expect("valid");
    let v = serde_json::to_value(&app).expect("serialise");
    assert_eq!(v["resources"]["cpu"], json!(2.0));
    assert_eq!(v["resources"]["disk"]["source"]["type"], "MOUNT");
    assert_eq!(v["filters"][0]["type"], "TEXT");
    assert_eq!(v["filters"][1]["op"], "ge");
    assert_eq!(v["filters"][1]["value"], json!(["8"]));
    assert_eq!(v["strategy"]["type"], "MUX");
    assert_eq!(v["container"]["volume"][0]["mode"], "rw");
    assert_eq!(v["container"]["volume"][1]["source"]["type"], "DOCKER");
    assert_eq!(
        v["container"]["volume"][1]["source"]["docker_volume"]["driveropts"][1],
        json!({"repl": "3"})
    );
    assert_eq!(
        v["container"]["network"][0]["ipaddress"][0]["protocol"],
        "ipv6"
    );
    assert_eq!(
        v["container"]["network"][0]["port_mapping"][0]["protocol"],
        "udp"
    );
    assert_eq!(v["healthcheck"]["type"], "http");
    assert_eq!(v["healthcheck"]["http"]["scheme"], "https");
    assert_eq!(v["retry"]["time"], "2.5");
    assert_eq!(v["executor"]["cmd"], "./executor");
    assert!(v["executor"].get("command").is_none());
    // README example: absent optional parts stay absent.
    let test_app = serde_json::to_value(parse_app(&example("test-app.json")).expect("valid"))
        .expect("serialise");
    let keys: Vec<_> = test_app
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "command",
            "container",
            "instances",
            "name",
            "resources",
            "strategy"
        ]
    );
}

#[test]
fn same_spec_in_other_words_is_equal() {
    let a = one(&json!({
        "name": "web", "resources": {"cpu": 1, "mem": 64},
        "command": {"cmd": "x"}, "strategy": {"type": "unique"},
        "filters": [{"type": "scalar", "value": ["4"]}], "labels": {"a": "1", "b": "2"}
    }))
    .expect("valid");
    let b = one(&json!({
        "labels": [{"b": "2"}, {"a": "1"}], "filters": [{"value": [4], "type": "SCALAR"}],
        "strategy": {"type": "UNIQUE"}, "command": {"cmd": "x", "uris": []},
        "resources": {"mem": 64.0, "cpu": 1.0, "role": null}, "name": "web", "instances": 1
    }))
    .expect("valid");
    assert!(a.spec_eq(&b));
    assert_eq!(a.fingerprint(), b.fingerprint());
    let mut c = a.clone();
    c.instances = 2;
    assert!(!a.spec_eq(&c));
    assert_ne!(a.content_hash(), c.content_hash());
}

#[test]
fn fingerprint_is_stable_across_builds() {
    // Pinned: a change here means stored versions would all look changed.
    let app = one(&base()).expect("valid");
    assert_eq!(app.fingerprint(), "cbe4b461c5e3ab17");
    assert_eq!(app.fingerprint(), format!("{:016x}", app.content_hash()));
    let json = serde_json::to_string(&app).expect("serialise");
    assert_eq!(
        json,
        r#"{"name":"web","resources":{"cpu":0.5,"mem":64.0},"instances":1,"command":{"cmd":"sleep 10"}}"#
    );
}

#[test]
fn serde_deserialize_reads_like_from_value() {
    let app: App = serde_json::from_value(everything()).expect("deserialize");
    assert_eq!(app, one(&everything()).expect("valid"));
    let err = serde_json::from_value::<App>(json!({"name": "x"})).expect_err("no resources");
    assert_eq!(err.to_string(), "resources is required");
}

// ---- body shapes -----------------------------------------------------------------

#[test]
fn post_body_must_be_a_non_empty_array() {
    assert!(matches!(parse_apps(b"[]"), Err(SpecError::Body(m)) if m.contains("at least one app")));
    let object = serde_json::to_vec(&base()).expect("json");
    assert!(matches!(parse_apps(&object), Err(SpecError::Body(m)) if m.contains("not an object")));
    assert!(matches!(parse_apps(b"\"x\""), Err(SpecError::Body(_))));
}

#[test]
fn put_body_is_one_app() {
    let app = one(&base()).expect("valid");
    let arr = serde_json::to_vec(&json!([base()])).expect("json");
    assert_eq!(parse_app(&arr).expect("array of one"), app);
    let two = serde_json::to_vec(&json!([base(), base()])).expect("json");
    assert!(matches!(parse_app(&two), Err(SpecError::Body(m)) if m.contains("array of 2")));
    assert!(matches!(parse_app(b"[]"), Err(SpecError::Body(_))));
    assert!(matches!(parse_app(b"42"), Err(SpecError::Body(m)) if m.contains("a number")));
}

#[test]
fn malformed_json_reports_line_and_column() {
    let err = parse_apps(b"[{\"name\": \"x\",\n  }]").expect_err("trailing comma");
    match err {
        SpecError::Syntax {
            line,
            column,
            ref message,
        } => {
            assert_eq!(line, 2);
            assert!(column > 0);
            assert!(!message.contains(" at line "), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse_apps(b""), Err(SpecError::Syntax { .. })));
    assert!(matches!(
        parse_apps(b"[1] x"),
        Err(SpecError::Syntax { .. })
    ));
    assert!(matches!(
        parse_app(b"{\"name\": \"\xff\"}"),
        Err(SpecError::Syntax { .. })
    ));
}

#[test]
fn duplicate_keys_are_rejected() {
    let err = parse_app(br#"{"name": "a", "name": "b", "resources": {"cpu": 1, "mem": 1}}"#)
        .expect_err("duplicate");
    assert!(
        matches!(&err, SpecError::Syntax { message, .. } if message.contains("duplicate key \"name\"")),
        "{err}"
    );
}

#[test]
fn errors_in_a_multi_app_body_carry_the_index() {
    // Validation runs per app before the duplicate-name check.
    let mut bad = base();
    set(&mut bad, "/resources/cpu", json!(0));
    let body = serde_json::to_vec(
        &json!([base(), {"name": "ok", "resources": {"cpu": 1, "mem": 1},
        "command": {"cmd": "x"}}, bad]),
    )
    .expect("json");
    let err = parse_apps(&body).expect_err("invalid");
    assert_eq!(err.field().as_deref(), Some("[2].resources.cpu"));
    let mut bad = base();
    set(&mut bad, "/name", json!("other"));
    set(&mut bad, "/resources/cpu", json!(0));
    let body = serde_json::to_vec(&json!([base(), bad])).expect("json");
    let err = parse_apps(&body).expect_err("invalid");
    assert_eq!(
        err,
        SpecError::invalid(
            Some(1),
            vec![ValidationError::new("resources.cpu", "must be > 0")]
        )
    );
    assert_eq!(err.field().as_deref(), Some("[1].resources.cpu"));
    assert_eq!(err.to_string(), "app [1]: resources.cpu must be > 0");
    // A single app's errors read without an index.
    let mut bad = base();
    set(&mut bad, "/resources/cpu", json!(0));
    let err = parse_apps(&serde_json::to_vec(&json!([bad])).expect("json")).expect_err("invalid");
    assert_eq!(err.to_string(), "resources.cpu must be > 0");
    assert_eq!(err.field().as_deref(), Some("resources.cpu"));
}

#[test]
fn duplicate_names_in_one_request_are_rejected() {
    let body = serde_json::to_vec(&json!([base(), base()])).expect("json");
    let err = parse_apps(&body).expect_err("duplicate");
    assert_eq!(err.field().as_deref(), Some("[1].name"));
    assert!(err.to_string().contains("also app [0]"), "{err}");
}

#[test]
fn every_rule_broken_is_reported() {
    let err = one(&json!({"name": "a b", "resources": {"cpu": -1, "mem": 0},
        "command": {"cmd": "x"}}))
    .expect_err("invalid");
    let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "resources.cpu", "resources.mem"]);
}

// ---- strictness: unknown fields and wrong types name the field ---------------------

#[test]
fn unknown_fields_are_rejected_by_path() {
    let cases: &[(&str, &str)] = &[
        ("/cpus", "cpus"),
        ("/resources/gpus", "resources.gpus"),
        ("/resources/disk", "resources.disk.size"),
        ("/command/shell", "command.shell"),
    ];
    for (pointer, field) in cases {
        let mut v = base();
        if *pointer == "/resources/disk" {
            set(&mut v, pointer, json!({"sise": 1}));
        } else {
            set(&mut v, pointer, json!(true));
        }
        let expected = if *field == "resources.disk.size" {
            "resources.disk.sise"
        } else {
            field
        };
        assert_shape(&v, expected, "is not a known field");
    }
    let mut v = base();
    set(
        &mut v,
        "/container",
        json!({"network": [{"name": "a"}, {"ipaddress": [{"ip": "10.0.0.1", "mask": 8}]}]}),
    );
    assert_shape(
        &v,
        "container.network[1].ipaddress[0].mask",
        "expected one of: group, labels, ip, protocol",
    );
    let mut v = base();
    set(
        &mut v,
        "/healthcheck",
        json!({"endpoint": "h:1", "path": "/x"}),
    );
    assert_shape(&v, "healthcheck.path", "is not a known field");
    let mut v = base();
    set(
        &mut v,
        "/filters",
        json!([{"type": "TEXT", "values": ["a"]}]),
    );
    assert_shape(&v, "filters[0].values", "is not a known field");
}

#[test]
fn wrong_types_name_the_field() {
    let cases = [
        (
            "/resources/cpu",
            json!("1.5"),
            "resources.cpu",
            "must be a number, not a string",
        ),
        ("/name", json!(5), "name", "must be a string, not a number"),
        ("/instances", json!(-1), "instances", "must be >= 0, not -1"),
        (
            "/instances",
            json!(1.5),
            "instances",
            "must be a whole number, not 1.5",
        ),
        (
            "/instances",
            json!(5_000_000_000_u64),
            "instances",
            "must be <= 4294967295",
        ),
        (
            "/filters",
            json!({"type": "TEXT"}),
            "filters",
            "must be an array, not an object",
        ),
        (
            "/labels",
            json!({"a": 1}),
            "labels.a",
            "must be a string, not a number",
        ),
        (
            "/command/uris",
            json!([{"uri": "x", "extract": "no"}]),
            "command.uris[0].extract",
            "must be true or false, not a string",
        ),
        (
            "/command/environment",
            json!(["A=B"]),
            "command.environment",
            "must be an object of strings, not an array",
        ),
        (
            "/resources",
            json!([]),
            "resources",
            "must be an object, not an array",
        ),
    ];
    for (pointer, value, field, message) in cases {
        let mut v = base();
        set(&mut v, pointer, value);
        let err = one(&v).expect_err(pointer);
        assert_eq!(
            err.errors(),
            [ValidationError::new(field, message)],
            "{pointer}"
        );
    }
    // 5.0 reads as 5: some encoders write every number as a float
    let mut v = base();
    set(&mut v, "/instances", json!(5.0));
    assert_eq!(one(&v).expect("valid").instances, 5);
}

#[test]
fn required_fields_name_the_field() {
    assert_shape(
        &json!({"resources": {"cpu": 1, "mem": 1}}),
        "name",
        "is required",
    );
    assert_shape(&json!({"name": "x"}), "resources", "is required");
    assert_shape(
        &json!({"name": "x", "resources": {"mem": 1}}),
        "resources.cpu",
        "is required",
    );
    assert_shape(
        &json!({"name": "x", "resources": {"cpu": 1, "mem": 1, "disk": {}}}),
        "resources.disk.size",
        "is required",
    );
    let mut v = base();
    set(&mut v, "/strategy", json!({}));
    assert_shape(&v, "strategy.type", "is required");
    let mut v = base();
    set(&mut v, "/executor", json!({"uri": "x"}));
    assert_shape(&v, "executor.cmd", "is required");
}

#[test]
fn null_counts_as_absent() {
    let mut v = base();
    set(&mut v, "/strategy", Value::Null);
    set(&mut v, "/labels", Value::Null);
    set(&mut v, "/instances", Value::Null);
    let app = one(&v).expect("valid");
    assert_eq!(
        (app.strategy, app.labels.len(), app.instances),
        (None, 0, 1)
    );
}

// ---- case-insensitive keywords -----------------------------------------------------

#[test]
fn keywords_are_case_insensitive() {
    for (word, kind) in [
        ("unique", StrategyType::Unique),
        ("Unique", StrategyType::Unique),
        ("MUX", StrategyType::Mux),
        ("mUx", StrategyType::Mux),
    ] {
        let mut v = base();
        set(&mut v, "/strategy", json!({"type": word}));
        assert_eq!(one(&v).expect("valid").strategy_type(), kind);
    }
    let mut v = base();
    set(
        &mut v,
        "/container",
        json!({"volume": [{"container_path": "a", "host_path": "/a", "mode": "RO"}],
        "network": [{"name": "n", "ipaddress": [{"ip": "10.0.0.1", "protocol": "IPV4"}]}]}),
    );
    let c = one(&v).expect("valid").container.expect("container");
    assert_eq!(c.volume[0].mode, Some(VolumeMode::Ro));
    assert_eq!(c.network[0].ipaddress[0].protocol, Some(Protocol::Ipv4));
    let mut v = base();
    set(
        &mut v,
        "/healthcheck",
        json!({"type": "TCP", "tcp": {"port": 80}}),
    );
    assert_eq!(
        one(&v).expect("valid").healthcheck.and_then(|h| h.kind),
        Some(HealthCheckType::Tcp)
    );
}

#[test]
fn unknown_keywords_name_the_rule() {
    let cases = [
        (
            "/strategy",
            json!({"type": "spread"}),
            "strategy.type",
            "must be UNIQUE or MUX, not \"spread\"",
        ),
        (
            "/strategy",
            json!({"type": 1}),
            "strategy.type",
            "must be UNIQUE or MUX, not a number",
        ),
        (
            "/container",
            json!({"volume": [{"host_path": "/a", "container_path": "a", "mode": "rx"}]}),
            "container.volume[0].mode",
            "must be ro or rw, not \"rx\"",
        ),
        (
            "/container",
            json!({"network": [{"ipaddress": [{"ip": "::1", "protocol": "ipv5"}]}]}),
            "container.network[0].ipaddress[0].protocol",
            "must be ipv4 or ipv6, not \"ipv5\"",
        ),
        (
            "/container",
            json!({"volume": [{"source": {"type": "NFS", "docker_volume": {"driver": "d", "name": "n"}}}]}),
            "container.volume[0].source.type",
            "must be DOCKER, not \"NFS\"",
        ),
        (
            "/healthcheck",
            json!({"type": "grpc"}),
            "healthcheck.type",
            "must be tcp, http or command, not \"grpc\"",
        ),
        (
            "/healthcheck",
            json!({"type": "http", "http": {"port": 1, "scheme": "ftp"}}),
            "healthcheck.http.scheme",
            "must be http or https, not \"ftp\"",
        ),
        (
            "/resources/disk",
            json!({"size": 1, "source": {"type": "BLOCK"}}),
            "resources.disk.source.type",
            "must be PATH or MOUNT, not \"BLOCK\"",
        ),
        (
            "/filters",
            json!([{"type": "TEXT", "value": ["a"]}, {"type": "GEO", "value": ["a"]}]),
            "filters[1].type",
            "must be TEXT, SET, SCALAR or RANGES, not \"GEO\"",
        ),
        (
            "/container",
            json!({"network": [{"name": "n", "port_mapping": [{"host_port": 1, "container_port": 1, "protocol": "sctp"}]}]}),
            "container.network[0].port_mapping[0].protocol",
            "must be tcp or udp, not \"sctp\"",
        ),
    ];
    for (pointer, value, field, message) in cases {
        let mut v = base();
        set(&mut v, pointer, value);
        let err = one(&v).expect_err(field);
        assert_eq!(err.errors(), [ValidationError::new(field, message)]);
    }
}

// ---- validation rules, one by one ----------------------------------------------------

#[test]
fn name_rules() {
    assert_rule("name", "must not be empty", |v| set(v, "/name", json!("")));
    assert_rule("name", "must be at most 63 characters", |v| {
        set(v, "/name", json!("a".repeat(64)))
    });
    for bad in ["a/b", "a b", "a.b", "app\t", "é"] {
        assert_rule(
            "name",
            "must contain only ASCII letters, digits, '-' and '_'",
            |v| set(v, "/name", json!(bad)),
        );
    }
    assert_rule("name", "must start with a letter or a digit", |v| {
        set(v, "/name", json!("-a"))
    });
    for good in ["a", "Example-app", "test_app-2", "9lives", &"a".repeat(63)] {
        assert!(
            rule_errors(|v| set(v, "/name", json!(good))).is_empty(),
            "{good}"
        );
    }
}

#[test]
fn resource_rules() {
    assert_rule("resources.cpu", "must be > 0", |v| {
        set(v, "/resources/cpu", json!(0))
    });
    assert_rule("resources.cpu", "must be > 0", |v| {
        set(v, "/resources/cpu", json!(-0.5))
    });
    assert_rule("resources.mem", "must be > 0", |v| {
        set(v, "/resources/mem", json!(-1))
    });
    assert_rule("resources.disk.size", "must be >= 0", |v| {
        set(v, "/resources/disk", json!({"size": -1}))
    });
    assert!(rule_errors(|v| set(v, "/resources/disk", json!({"size": 0}))).is_empty());
    assert_rule("resources.ports", "must be <= 65535", |v| {
        set(v, "/resources/ports", json!(65536))
    });
    assert_rule(
        "resources.disk.source.mount",
        "is not allowed with type PATH",
        |v| {
            set(
                v,
                "/resources/disk",
                json!({"size": 1, "source": {"type": "PATH", "mount": "/m"}}),
            )
        },
    );
    assert_rule("resources.disk.source.path", "must not be empty", |v| {
        set(
            v,
            "/resources/disk",
            json!({"size": 1, "source": {"type": "path", "path": ""}}),
        )
    });
    for good in ["*", "web", "eng/web", "a.b"] {
        assert!(
            rule_errors(|v| set(v, "/resources/role", json!(good))).is_empty(),
            "{good}"
        );
    }
    for bad in ["", "-x", "a b", "a//b", "..", "a/./b"] {
        let e = rule_errors(|v| set(v, "/resources/role", json!(bad)));
        assert_eq!(e.len(), 1, "{bad}");
        assert_eq!(e[0].field, "resources.role");
        assert!(
            e[0].message
                .starts_with("must be \"*\" or a Mesos role name"),
            "{}",
            e[0].message
        );
    }
}

#[test]
fn non_finite_numbers_are_rejected_when_built_in_code() {
    // JSON cannot carry NaN, but the gRPC face builds apps in code.
    let mut app = one(&base()).expect("valid");
    app.resources.cpu = f64::NAN;
    app.resources.mem = f64::INFINITY;
    app.resources.disk = Some(Box::new(Disk {
        size: f64::NAN,
        source: None,
    }));
    let errors = app.validate().expect_err("invalid");
    assert_eq!(
        errors,
        [
            ValidationError::new("resources.cpu", "must be a finite number"),
            ValidationError::new("resources.mem", "must be a finite number"),
            ValidationError::new("resources.disk.size", "must be a finite number"),
        ]
    );
}

#[test]
fn instances_rules() {
    assert!(
        rule_errors(|v| set(v, "/instances", json!(0))).is_empty(),
        "0 allowed"
    );
    assert!(rule_errors(|v| set(v, "/instances", json!(MAX_INSTANCES))).is_empty());
    assert_rule("instances", "must be <= 10000", |v| {
        set(v, "/instances", json!(MAX_INSTANCES + 1))
    });
    assert_eq!(one(&base()).expect("valid").instances, 1, "absent means 1");
}

#[test]
fn command_rules() {
    assert_rule("command.cmd", "must not be empty", |v| {
        set(v, "/command/cmd", json!("  "))
    });
    assert_rule(
        "command.cmd",
        "is required unless container.image or executor is given",
        |v| set(v, "/command", json!({})),
    );
    assert!(
        rule_errors(|v| {
            set(v, "/command", json!({}));
            set(v, "/container", json!({"image": "nginx"}));
        })
        .is_empty(),
        "the image's entrypoint runs"
    );
    assert_rule(
        "command.environment.1BAD",
        "is not a valid variable name (letters, digits and '_', not starting with a digit)",
        |v| {
            set(
                v,
                "/command/environment",
                json!({"GOOD_1": "x", "1BAD": "y"}),
            )
        },
    );
    assert_rule(
        "command.environment.A-B",
        "is not a valid variable name (letters, digits and '_', not starting with a digit)",
        |v| set(v, "/command/environment", json!({"A-B": "y"})),
    );
    assert_rule("command.uris[1].uri", "must not be empty", |v| {
        set(
            v,
            "/command/uris",
            json!([{"uri": "http://x"}, {"uri": ""}]),
        )
    });
    assert_rule("command.uris[0].output_file", "must not be empty", |v| {
        set(
            v,
            "/command/uris",
            json!([{"uri": "http://x", "output_file": ""}]),
        )
    });
}

#[test]
fn filter_rules_through_the_app() {
    assert_rule("filters[0].value", "must not be empty", |v| {
        set(v, "/filters", json!([{"type": "TEXT", "value": []}]))
    });
    assert_rule(
        "filters[1].value[0]",
        "must be a number for a SCALAR filter, not \"many\"",
        |v| {
            set(
                v,
                "/filters",
                json!([{"type": "TEXT", "value": ["a"]}, {"type": "scalar", "value": ["many"]}]),
            )
        },
    );
    assert_rule("filters[0].op", "is only allowed with type SCALAR", |v| {
        set(
            v,
            "/filters",
            json!([{"type": "SET", "value": ["a"], "op": "eq"}]),
        )
    });
    let mut v = base();
    set(
        &mut v,
        "/filters",
        json!([{"type": "STRATEGY", "value": ["unique"]}]),
    );
    assert_shape(&v, "filters[0].type", "STRATEGY is not a filter");
}

#[test]
fn volume_rules() {
    let vol = |v: &mut Value, volume: Value| set(v, "/container", json!({"volume": [volume]}));
    assert_rule(
        "container.volume[0].host_path",
        "must be an absolute path, not \"var/log\"",
        |v| vol(v, json!({"container_path": "a", "host_path": "var/log"})),
    );
    assert_rule(
        "container.volume[0].container_path",
        "is required with host_path",
        |v| vol(v, json!({"host_path": "/var/log"})),
    );
    assert_rule(
        "container.volume[0].container_path",
        "must not be empty",
        |v| vol(v, json!({"host_path": "/var/log", "container_path": ""})),
    );
    assert_rule(
        "container.volume[0]",
        "must have host_path (a host volume) or source (a Docker volume)",
        |v| vol(v, json!({"container_path": "a", "mode": "ro"})),
    );
    assert_rule(
        "container.volume[0]",
        "must have either host_path or source, not both",
        |v| {
            vol(
                v,
                json!({"container_path": "a", "host_path": "/a",
            "source": {"type": "DOCKER", "docker_volume": {"driver": "d", "name": "n"}}}),
            )
        },
    );
    let errors = rule_errors(|v| {
        vol(
            v,
            json!({"source": {"type": "DOCKER", "docker_volume": {"driver": " ", "name": ""}}}),
        )
    });
    assert_eq!(
        errors,
        [
            ValidationError::new(
                "container.volume[0].source.docker_volume.driver",
                "must not be empty"
            ),
            ValidationError::new(
                "container.volume[0].source.docker_volume.name",
                "must not be empty"
            ),
        ]
    );
    assert_rule(
        "container.volume[0].source.docker_volume.driveropts[1]",
        "must have a non-empty option name",
        |v| {
            vol(
                v,
                json!({"source": {"type": "DOCKER", "docker_volume": {"driver": "d", "name": "n",
            "driveropts": ["a=b", "=x"]}}}),
            )
        },
    );
    let mut v = base();
    set(
        &mut v,
        "/container",
        json!({"volume": [{"source": {"type": "DOCKER", "docker_volume": {"name": "n"}}}]}),
    );
    assert_shape(
        &v,
        "container.volume[0].source.docker_volume.driver",
        "is required",
    );
    let mut v = base();
    set(
        &mut v,
        "/container",
        json!({"volume": [{"source": {"type": "DOCKER", "docker_volume": {"driver": "d", "name": "n", "driveropts": [1]}}}]}),
    );
    assert_shape(
        &v,
        "container.volume[0].source.docker_volume.driveropts[0]",
        "key=value",
    );
}

#[test]
fn network_rules() {
    let net =
        |v: &mut Value, n: Value| set(v, "/container", json!({"network": [{"name": "a"}, n]}));
    assert_rule(
        "container.network[1].ipaddress[0].ip",
        "must be an IPv4 address (protocol is ipv4), not \"2600::1\"",
        |v| {
            net(
                v,
                json!({"name": "b", "ipaddress": [{"ip": "2600::1", "protocol": "ipv4"}]}),
            )
        },
    );
    assert_rule(
        "container.network[1].ipaddress[0].ip",
        "must be an IPv6 address (protocol is ipv6), not \"10.0.0.1\"",
        |v| {
            net(
                v,
                json!({"name": "b", "ipaddress": [{"ip": "10.0.0.1", "protocol": "ipv6"}]}),
            )
        },
    );
    assert_rule(
        "container.network[1].ipaddress[1].ip",
        "must be an IP address, not \"10.0.0.300\"",
        |v| {
            net(
                v,
                json!({"name": "b", "ipaddress": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.300"}]}),
            )
        },
    );
    assert_rule(
        "container.network[1].ipaddress[0]",
        "must give ip (a static address) or protocol (an address from IPAM)",
        |v| net(v, json!({"name": "b", "ipaddress": [{"group": ["g"]}]})),
    );
    // The Mesos CNI isolator skips unnamed entries: whatever they carry would
    // silently do nothing, so a name is required whatever else is given.
    for unnamed in [
        json!({"labels": [{"a": "b"}]}),
        json!({"ipaddress": [{"ip": "10.2.1.1"}]}),
        json!({"group": ["prod"]}),
        json!({"port_mapping": [{"host_port": 80, "container_port": 80}]}),
    ] {
        let errors = rule_errors(|v| net(v, unnamed.clone()));
        assert_eq!(errors.len(), 1, "{unnamed}: {errors:?}");
        assert_eq!(errors[0].field, "container.network[1].name", "{unnamed}");
        assert!(
            errors[0]
                .message
                .starts_with("is required: the Mesos CNI isolator ignores"),
            "{unnamed}: {}",
            errors[0].message
        );
    }
    assert_rule(
        "container.network[1].name",
        "is required: name the CNI network to join",
        |v| net(v, json!({})),
    );
    assert_rule(
        "container.network[1].name",
        "joins network \"a\" again (also container.network[0]): give each network once",
        |v| net(v, json!({"name": "a", "labels": [{"k": "v"}]})),
    );
    assert_rule(
        "container.network[1].name",
        "must be a non-empty network name without whitespace",
        |v| net(v, json!({"name": "a b"})),
    );
    assert_rule(
        "container.network[1].labels[1]",
        "must not have an empty label key",
        |v| net(v, json!({"name": "n", "labels": [{"a": "b"}, {"": "c"}]})),
    );
    assert_rule(
        "container.network[1].ipaddress[0].group[0]",
        "must not be empty",
        |v| {
            net(
                v,
                json!({"name": "b", "ipaddress": [{"ip": "10.0.0.1", "group": [""]}]}),
            )
        },
    );
    assert_rule(
        "container.network[1].port_mapping[0].host_port",
        "must be a port in 1..=65535, not 0",
        |v| {
            net(
                v,
                json!({"name": "n", "port_mapping": [{"host_port": 0, "container_port": 80}]}),
            )
        },
    );
    assert_rule(
        "container.network[1].port_mapping[0].container_port",
        "must be a port in 1..=65535, not 70000",
        |v| {
            net(
                v,
                json!({"name": "n", "port_mapping": [{"host_port": 80, "container_port": 70000}]}),
            )
        },
    );
    // protocol inferred when absent
    let app = one(&{
        let mut v = base();
        net(
            &mut v,
            json!({"name": "b", "ipaddress": [{"ip": "fe80::1"}, {"ip": "10.0.0.1"}]}),
        );
        v
    })
    .expect("valid");
    let ips = &app.container.expect("container").network[1].ipaddress;
    assert_eq!(ips[0].effective_protocol(), Protocol::Ipv6);
    assert_eq!(ips[1].effective_protocol(), Protocol::Ipv4);
    assert_rule(
        "container.image",
        "must be a non-empty image reference without whitespace",
        |v| set(v, "/container", json!({"image": "debian latest"})),
    );
}

#[test]
fn healthcheck_rules() {
    let hc = |v: &mut Value, h: Value| set(v, "/healthcheck", h);
    for bad in [
        "localhost",
        "localhost:0",
        "localhost:65536",
        "localhost:http",
        ":8080",
        "ftp://h:1",
    ] {
        let e = rule_errors(|v| hc(v, json!({"endpoint": bad})));
        assert_eq!(e.len(), 1, "{bad}");
        assert_eq!(e[0].field, "healthcheck.endpoint", "{bad}");
    }
    assert_rule(
        "healthcheck.endpoint",
        "must end in a port in 1..=65535, not \"localhost:0\"",
        |v| hc(v, json!({"endpoint": "localhost:0"})),
    );
    assert_rule(
        "healthcheck.endpoint",
        "must be host:port, not \"localhost\"",
        |v| hc(v, json!({"endpoint": "localhost"})),
    );
    for good in [
        "localhost:8080",
        "10.0.0.1:1",
        "[::1]:8080",
        "https://h:443/health",
    ] {
        assert!(
            rule_errors(|v| hc(v, json!({"endpoint": good}))).is_empty(),
            "{good}"
        );
    }
    assert_eq!(
        parse_endpoint("https://h:443/health"),
        Ok(Endpoint {
            scheme: HttpScheme::Https,
            host: "h".into(),
            port: Some(443),
            path: "/health".into()
        })
    );
    assert_rule(
        "healthcheck",
        "must use either endpoint or type, not both",
        |v| {
            hc(
                v,
                json!({"endpoint": "h:1", "type": "tcp", "tcp": {"port": 1}}),
            )
        },
    );
    assert_rule(
        "healthcheck.tcp",
        "is not allowed with endpoint (use type instead)",
        |v| hc(v, json!({"endpoint": "h:1", "tcp": {"port": 1}})),
    );
    assert_rule(
        "healthcheck.type",
        "is required (tcp, http or command), or give endpoint",
        |v| hc(v, json!({"interval": 5})),
    );
    assert_rule("healthcheck.tcp", "is required with type tcp", |v| {
        hc(v, json!({"type": "tcp"}))
    });
    assert_rule("healthcheck.http", "is only allowed with type http", |v| {
        hc(
            v,
            json!({"type": "tcp", "tcp": {"port": 1}, "http": {"port": 2}}),
        )
    });
    assert_rule(
        "healthcheck.tcp.port",
        "must be a port in 1..=65535, not 0 (for a port taken from the offer, give port_index)",
        |v| hc(v, json!({"type": "tcp", "tcp": {"port": 0}})),
    );
    assert_rule(
        "healthcheck.http.path",
        "must start with '/', not \"health\"",
        |v| {
            hc(
                v,
                json!({"type": "http", "http": {"port": 80, "path": "health"}}),
            )
        },
    );
    assert_rule(
        "healthcheck.http.statuses[1]",
        "must be an HTTP status in 100..=599, not 700",
        |v| {
            hc(
                v,
                json!({"type": "http", "http": {"port": 80, "statuses": [200, 700]}}),
            )
        },
    );
    assert_rule("healthcheck.command.cmd", "is required", |v| {
        hc(v, json!({"type": "command", "command": {}}))
    });
    assert_rule("healthcheck.interval", "must be > 0", |v| {
        hc(v, json!({"type": "tcp", "tcp": {"port": 1}, "interval": 0}))
    });
    assert_rule("healthcheck.timeout", "must be > 0", |v| {
        hc(v, json!({"type": "tcp", "tcp": {"port": 1}, "timeout": -1}))
    });
    assert_rule("healthcheck.graceperiod", "must be >= 0", |v| {
        hc(
            v,
            json!({"type": "tcp", "tcp": {"port": 1}, "graceperiod": -1}),
        )
    });
    assert_rule("healthcheck.delay", "must be >= 0", |v| {
        hc(v, json!({"type": "tcp", "tcp": {"port": 1}, "delay": -0.5}))
    });
    let app = one(&{
        let mut v = base();
        hc(
            &mut v,
            json!({"type": "command", "command": {"cmd": "true"}}),
        );
        v
    })
    .expect("valid");
    assert!(matches!(
        app.healthcheck
            .and_then(|h| h.resolve().map(|r| matches!(r, ResolvedCheck::Command(_)))),
        Some(true)
    ));
}

#[test]
fn label_rules() {
    assert_rule("labels", "must not have an empty label key", |v| {
        set(v, "/labels", json!({"": "x"}))
    });
    let mut v = base();
    set(&mut v, "/labels", json!([{"a": "1"}, {"a": "2"}]));
    assert_shape(&v, "labels[1]", "second, different value");
}

#[test]
fn retry_rules() {
    let app = one(&{
        let mut v = base();
        set(&mut v, "/retry", json!({"time": "10s"}));
        v
    })
    .expect("valid");
    assert_eq!(app.retry.and_then(|r| r.time), Some(10.0));
    let mut v = base();
    set(&mut v, "/retry", json!({"time": "soon"}));
    assert_shape(
        &v,
        "retry.time",
        "must be a number of seconds, not \"soon\"",
    );
    assert_rule("retry.time", "must be a number of seconds >= 0", |v| {
        set(v, "/retry", json!({"time": -1}))
    });
}

#[test]
fn executor_rules() {
    assert_rule("executor.cmd", "must not be empty", |v| {
        set(v, "/executor", json!({"cmd": ""}))
    });
    assert_rule("executor.name", "must not be empty", |v| {
        set(v, "/executor", json!({"cmd": "x", "name": ""}))
    });
    assert_rule("executor.uris[0].uri", "must not be empty", |v| {
        set(v, "/executor", json!({"cmd": "x", "uris": [{"uri": ""}]}))
    });
    assert_rule(
        "executor.environment.a b",
        "is not a valid variable name (letters, digits and '_', not starting with a digit)",
        |v| {
            set(
                v,
                "/executor",
                json!({"cmd": "x", "environment": {"a b": "1"}}),
            )
        },
    );
    let mut v = base();
    set(&mut v, "/executor", json!({"cmd": "x", "command": "y"}));
    assert_shape(&v, "executor.command", "duplicates cmd");
    // with an executor, command.cmd may be absent
    assert!(
        rule_errors(|v| {
            set(v, "/command", json!({}));
            set(v, "/executor", json!({"cmd": "./exec"}));
        })
        .is_empty()
    );
}

// ---- robustness -------------------------------------------------------------------------

fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "name",
            "resources",
            "cpu",
            "mem",
            "disk",
            "size",
            "unique",
            "MUX",
            "TEXT",
            "ro",
            "ipv4",
            "ipv6",
            "10.0.0.1",
            "::1",
            "h:80",
            "http",
            "tcp",
            "",
            "DOCKER",
            "1-5",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let keys = prop::sample::select(vec![
            "name",
            "resources",
            "cpu",
            "mem",
            "disk",
            "size",
            "source",
            "ports",
            "role",
            "reserved_only",
            "filters",
            "type",
            "value",
            "attribute",
            "op",
            "instances",
            "strategy",
            "command",
            "cmd",
            "environment",
            "uris",
            "uri",
            "container",
            "image",
            "volume",
            "network",
            "ipaddress",
            "ip",
            "protocol",
            "group",
            "labels",
            "healthcheck",
            "endpoint",
            "tcp",
            "http",
            "port",
            "retry",
            "time",
            "executor",
            "docker_volume",
            "driver",
            "driveropts",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Wraps an arbitrary value into a near-valid app so the fuzzing reaches deep
/// readers, not just the top-level type check.
fn near_app(inner: Value, slot: usize) -> Value {
    let mut v = base();
    let pointers = [
        "/resources",
        "/filters",
        "/container",
        "/healthcheck",
        "/command",
        "/executor",
        "/strategy",
        "/retry",
        "/labels",
        "/instances",
        "/name",
    ];
    set(&mut v, pointers[slot % pointers.len()], inner);
    v
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_apps(&bytes);
        let _ = parse_app(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json(), slot in 0usize..16) {
        for candidate in [v.clone(), json!([v.clone()]), near_app(v, slot)] {
            let bytes = serde_json::to_vec(&candidate).expect("json");
            let apps = parse_apps(&bytes);
            let app = parse_app(&bytes);
            if let Ok(app) = app {
                // Whatever is accepted round-trips and re-validates.
                prop_assert_eq!(round_trip(&app), app.clone());
                let _ = app.fingerprint();
                if let Some(hc) = &app.healthcheck { let _ = hc.resolve(); }
            }
            if let Err(e) = apps {
                let _ = (e.to_string(), e.field());
            }
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed(depth in 100usize..5000) {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let _ = parse_apps(body.as_bytes());
    }

    #[test]
    fn filters_evaluate_without_panicking(v in arb_json(), n in any::<f64>(), lo in any::<u64>(), hi in any::<u64>()) {
        let body = json!({"type": "RANGES", "value": [v.to_string()]});
        if let Ok(app) = App::from_value(&json!({"name": "a", "resources": {"cpu": 1, "mem": 1}, "filters": [body]})) {
            let attrs = [
                Attribute { name: "a".into(), value: AttributeValue::Scalar(n) },
                Attribute { name: "b".into(), value: AttributeValue::Ranges(vec![(lo, hi), (hi, lo)]) },
            ];
            let _ = filters_match(&app.filters, &attrs);
        }
    }
}

#[test]
fn reserved_labels_and_variables_are_refused_at_deploy() {
    assert_rule(
        "labels.hydrogen.app",
        "is reserved: Hydrogen sets it on every task; use another key",
        |v| {
            set(
                v,
                "/labels",
                json!({"hydrogen.app": "x", "hydrogen.team": "y"}),
            )
        },
    );
    assert_rule(
        "command.environment.HYDROGEN_TASK_ID",
        "is reserved: Hydrogen sets the HYDROGEN_* variables on every task; use another name",
        |v| {
            set(
                v,
                "/command/environment",
                json!({"HYDROGEN_TASK_ID": "x", "HYDRO": "y"}),
            )
        },
    );
}

// ---- input a real agent would fail on (issue 15 item 7) ----------------------

#[test]
fn resource_amounts_mesos_would_round_to_zero_or_no_agent_has_are_refused() {
    let tiny = "must be at least 0.001, not 0.0004: Mesos rounds resource amounts to 0.001, so this would be 0";
    assert_rule("resources.cpu", tiny, |v| {
        set(v, "/resources/cpu", json!(0.0004))
    });
    assert_rule("resources.mem", tiny, |v| {
        set(v, "/resources/mem", json!(0.0004))
    });
    assert_rule(
        "resources.disk.size",
        "must be at least 0.001 (or 0), not 0.0004: Mesos rounds resource amounts to 0.001, so this would be 0",
        |v| set(v, "/resources/disk", json!({"size": 0.0004})),
    );
    // The smallest amount Mesos keeps, and no disk at all, stay valid.
    for (pointer, value) in [
        ("/resources/cpu", json!(0.001)),
        ("/resources/mem", json!(0.001)),
        ("/resources/disk", json!({"size": 0})),
        ("/resources/cpu", json!(MAX_CPUS)),
        ("/resources/mem", json!(MAX_MB)),
    ] {
        assert!(
            rule_errors(|v| set(v, pointer, value.clone())).is_empty(),
            "{pointer} = {value}"
        );
    }
    assert_rule(
        "resources.cpu",
        "must be at most 100000, not 1e9: no agent offers that much",
        |v| set(v, "/resources/cpu", json!(1e9)),
    );
    assert_rule(
        "resources.mem",
        "must be at most 1099511627776, not 2.199023255552e12: no agent offers that much",
        |v| set(v, "/resources/mem", json!(MAX_MB * 2.0)),
    );
    assert_rule(
        "resources.disk.size",
        "must be at most 1099511627776, not 1e300: no agent offers that much",
        |v| set(v, "/resources/disk", json!({"size": 1e300})),
    );
}

#[test]
fn nul_in_a_command_line_is_refused() {
    let nul = "must not contain NUL (\\u0000): the agent runs it as a C string";
    assert_rule("command.cmd", nul, |v| {
        set(v, "/command/cmd", json!("sleep\u{0}10"))
    });
    assert_rule("healthcheck.command.cmd", nul, |v| {
        set(
            v,
            "/healthcheck",
            json!({"type": "command", "command": {"cmd": "true\u{0}"}}),
        )
    });
    assert_rule("executor.cmd", nul, |v| {
        set(v, "/executor", json!({"cmd": "./ex\u{0}ec"}))
    });
    // Through the request parser too: JSON's \u0000 escape is how it arrives.
    let body =
        br#"{"name": "web", "resources": {"cpu": 1, "mem": 8}, "command": {"cmd": "a\u0000b"}}"#;
    let err = parse_app(body).expect_err("refused");
    assert_eq!(err.field().as_deref(), Some("command.cmd"));
}

#[test]
fn the_same_docker_volume_twice_is_refused() {
    let docker = |driver: &str, name: &str, path: &str| {
        json!({"container_path": path, "source": {"type": "DOCKER",
            "docker_volume": {"driver": driver, "name": name}}})
    };
    assert_rule(
        "container.volume[2].source.docker_volume",
        "mounts Docker volume \"v\" of driver \"rexray\" again (also container.volume[0]): mount it once",
        |v| {
            set(
                v,
                "/container",
                json!({"volume": [docker("rexray", "v", "a"), docker("pxd", "v", "b"),
                                  docker("rexray", "v", "c")]}),
            )
        },
    );
    // Same name through another driver, or another name: distinct volumes.
    assert!(
        rule_errors(|v| set(
            v,
            "/container",
            json!({"volume": [docker("rexray", "v", "a"), docker("pxd", "v", "b"),
                              docker("rexray", "w", "c")]})
        ))
        .is_empty()
    );
}

#[test]
fn the_full_enumeration_names_every_network_it_configures() {
    // The original README's static IPs sat in an entry without a name, which
    // the CNI isolator skips; the example now puts them on FE-CNI.
    let app = parse_app(&example("full-enumeration.json")).expect("valid");
    let networks = &app.container.expect("container").network;
    assert!(networks.iter().all(|n| n.name.is_some()), "{networks:?}");
}

// ---- the original's JSON keeps working (issue 15 item 8) ---------------------

#[test]
fn container_type_and_tag_are_accepted_ignored_and_warned_about() {
    let mut v = base();
    set(
        &mut v,
        "/container",
        json!({"type": "MESOS", "tag": "latest", "image": "debian"}),
    );
    let body = serde_json::to_vec(&json!([v.clone()])).expect("json");
    let parsed = parse_apps_warned(&body).expect("accepted");
    assert_eq!(parsed.len(), 1);
    let fields: Vec<&str> = parsed[0]
        .warnings
        .iter()
        .map(|w| w.field.as_str())
        .collect();
    assert_eq!(fields, ["container.type", "container.tag"]);
    assert!(parsed[0].warnings[0].message.starts_with("is ignored"));
    // Ignored: the app is the one without them (same spec, same hash).
    let mut plain = base();
    set(&mut plain, "/container", json!({"image": "debian"}));
    let plain = one(&plain).expect("valid");
    assert_eq!(parsed[0].app, plain);
    assert_eq!(parsed[0].app.content_hash(), plain.content_hash());
    let stored = serde_json::to_value(&parsed[0].app).expect("serialise");
    assert_eq!(stored["container"], json!({"image": "debian"}));
    // PUT warns the same; an app without them has no warnings.
    let put = parse_app_warned(&serde_json::to_vec(&v).expect("json")).expect("accepted");
    assert_eq!(put.warnings, parsed[0].warnings);
    assert!(
        parse_app_warned(&serde_json::to_vec(&base()).expect("json"))
            .expect("valid")
            .warnings
            .is_empty()
    );
    // null is absent (no warning); another type is still a shape error.
    set(
        &mut v,
        "/container",
        json!({"type": null, "image": "debian"}),
    );
    assert!(
        parse_app_warned(&serde_json::to_vec(&v).expect("json"))
            .expect("valid")
            .warnings
            .is_empty()
    );
    set(&mut v, "/container", json!({"tag": 7, "image": "debian"}));
    assert_shape(&v, "container.tag", "must be a string");
}

// ---- health checks on the task's own ports (issue 15 item 9) ----------------

#[test]
fn port_index_names_one_of_the_tasks_host_ports() {
    let with_ports = |v: &mut Value, ports: u32, h: Value| {
        set(v, "/resources/ports", json!(ports));
        set(v, "/healthcheck", h);
    };
    let resolved = |ports: u32, h: Value| {
        let mut v = base();
        with_ports(&mut v, ports, h);
        let app = one(&v).expect("valid");
        let hc = app.healthcheck.expect("healthcheck");
        match hc.resolve().expect("resolves") {
            ResolvedCheck::Http { port, path, .. } => (port, Some(path)),
            ResolvedCheck::Tcp { port } => (port, None),
            ResolvedCheck::Command(_) => panic!("not a port check"),
        }
    };
    assert_eq!(
        resolved(
            2,
            json!({"type": "http", "http": {"port_index": 1, "path": "/ok"}})
        ),
        (CheckPort::Index(1), Some("/ok".to_owned()))
    );
    assert_eq!(
        resolved(1, json!({"type": "tcp", "tcp": {"port_index": 0}})),
        (CheckPort::Index(0), None)
    );
    assert_eq!(
        resolved(
            1,
            json!({"endpoint": "https://localhost/health", "port_index": 0})
        ),
        (CheckPort::Index(0), Some("/health".to_owned()))
    );
    assert_eq!(
        resolved(1, json!({"endpoint": "[::1]", "port_index": 0})),
        (CheckPort::Index(0), Some("/".to_owned()))
    );
    assert_rule(
        "healthcheck.http.port_index",
        "must be below resources.ports (2): the task holds $PORT0..$PORT1, not $PORT2",
        |v| with_ports(v, 2, json!({"type": "http", "http": {"port_index": 2}})),
    );
    assert_rule(
        "healthcheck.tcp.port_index",
        "needs resources.ports: it names one of the host ports the task takes from the offer (index 0 is $PORT0)",
        |v| {
            set(
                v,
                "/healthcheck",
                json!({"type": "tcp", "tcp": {"port_index": 0}}),
            )
        },
    );
    assert_rule(
        "healthcheck.http.port_index",
        "is not allowed with port: give a port number or a port_index, not both",
        |v| {
            with_ports(
                v,
                1,
                json!({"type": "http", "http": {"port": 80, "port_index": 0}}),
            )
        },
    );
    assert_rule(
        "healthcheck.http.port",
        "is required (or port_index: the index of one of the task's host ports, for an app that takes its ports from the offer)",
        |v| {
            set(
                v,
                "/healthcheck",
                json!({"type": "http", "http": {"path": "/"}}),
            )
        },
    );
    assert_rule(
        "healthcheck.endpoint",
        "must be [scheme://]host[/path] without a port when port_index is given (the port is the task's host port of that index), not \"localhost:8080\"",
        |v| with_ports(v, 1, json!({"endpoint": "localhost:8080", "port_index": 0})),
    );
    assert_rule(
        "healthcheck.port_index",
        "is only allowed with endpoint; with type http or tcp give http.port_index or tcp.port_index",
        |v| {
            with_ports(
                v,
                1,
                json!({"type": "tcp", "tcp": {"port": 80}, "port_index": 0}),
            )
        },
    );
    // Round trip keeps port_index and leaves port out.
    let mut v = base();
    with_ports(
        &mut v,
        1,
        json!({"type": "http", "http": {"port_index": 0}}),
    );
    let app = one(&v).expect("valid");
    let out = serde_json::to_value(&app).expect("serialise");
    assert_eq!(out["healthcheck"]["http"], json!({"port_index": 0}));
    assert_eq!(round_trip(&app), app);
}

/// The leader holds every app (issue 16: 10,000 apps under 3 KB each): a
/// part most apps lack is boxed, so its absence costs a pointer.
#[test]
fn an_app_keeps_its_optional_parts_boxed() {
    let size = std::mem::size_of::<App>();
    assert!(
        size <= 264,
        "App is {size} bytes (264 with its optional parts boxed): box the new optional part"
    );
}
