//! Placement tests: hand-built offers in the shapes the master (and our
//! simulator) sends, apps read from JSON like the API reads them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::mesos::v1::resource::{AllocationInfo, DiskInfo, ReservationInfo, disk_info};
use crate::mesos::v1::value::Type as VType;
use hydrogen_sim::resources::ResourceSet;

// ---------------------------------------------------------------- builders

/// An app from JSON; `resources` given, the rest defaulted.
fn app(resources: Value) -> App {
    app_with(resources, json!({}))
}

/// An app with extra top-level fields (filters, strategy).
fn app_with(resources: Value, extra: Value) -> App {
    let mut v = json!({"name": "a", "resources": resources, "command": {"cmd": "true"}});
    if let (Value::Object(o), Value::Object(e)) = (&mut v, extra) {
        o.extend(e);
    }
    let app = App::from_value(&v).expect("test app");
    app.validate().expect("valid test app");
    app
}

fn unique() -> Value {
    json!({"strategy": {"type": "UNIQUE"}})
}

/// A resource allocated to `alloc`, reserved to `reserved` (`*`: none).
fn res(name: &str, ty: VType, alloc: &str, reserved: &str) -> v1::Resource {
    let mut r = v1::Resource {
        name: name.into(),
        allocation_info: Some(AllocationInfo {
            role: Some(alloc.into()),
        }),
        ..Default::default()
    };
    r.set_type(ty);
    if reserved != "*" {
        r.reservations.push(ReservationInfo {
            r#type: Some(v1::resource::reservation_info::Type::Static as i32),
            role: Some(reserved.into()),
            ..Default::default()
        });
    }
    r
}

fn scalar_in(name: &str, value: f64, alloc: &str, reserved: &str) -> v1::Resource {
    let mut r = res(name, VType::Scalar, alloc, reserved);
    r.scalar = Some(v1::value::Scalar { value });
    r
}

fn scalar(name: &str, value: f64) -> v1::Resource {
    scalar_in(name, value, "*", "*")
}

fn ports_in(ranges: &[(u64, u64)], alloc: &str) -> v1::Resource {
    let mut r = res("ports", VType::Ranges, alloc, "*");
    r.ranges = Some(v1::value::Ranges {
        range: ranges
            .iter()
            .map(|&(begin, end)| v1::value::Range { begin, end })
            .collect(),
    });
    r
}

fn disk_source(size: f64, kind: disk_info::source::Type, root: &str) -> v1::Resource {
    let mut r = scalar("disk", size);
    let mut source = disk_info::Source::default();
    source.set_type(kind);
    match kind {
        disk_info::source::Type::Path => {
            source.path = Some(disk_info::source::Path {
                root: Some(root.into()),
            })
        }
        _ => {
            source.mount = Some(disk_info::source::Mount {
                root: Some(root.into()),
            })
        }
    }
    r.disk = Some(DiskInfo {
        source: Some(source),
        ..Default::default()
    });
    r
}

fn offer_in(id: &str, agent: &str, alloc: &str, resources: Vec<v1::Resource>) -> v1::Offer {
    v1::Offer {
        id: v1::OfferId { value: id.into() },
        framework_id: v1::FrameworkId { value: "fw".into() },
        agent_id: v1::AgentId {
            value: agent.into(),
        },
        hostname: format!("{agent}.example"),
        resources,
        allocation_info: Some(AllocationInfo {
            role: Some(alloc.into()),
        }),
        ..Default::default()
    }
}

fn offer(id: &str, agent: &str, resources: Vec<v1::Resource>) -> v1::Offer {
    offer_in(id, agent, "*", resources)
}

/// A plain offer: cpus, mem, root disk, ports 31000-31099.
fn basic(id: &str, agent: &str, cpus: f64, mem: f64) -> v1::Offer {
    offer(
        id,
        agent,
        vec![
            scalar("cpus", cpus),
            scalar("mem", mem),
            scalar("disk", 10_000.0),
            ports_in(&[(31000, 31099)], "*"),
        ],
    )
}

fn text_attr(name: &str, v: &str) -> v1::Attribute {
    let mut a = v1::Attribute {
        name: name.into(),
        text: Some(v1::value::Text { value: v.into() }),
        ..Default::default()
    };
    a.set_type(VType::Text);
    a
}

fn scalar_attr(name: &str, v: f64) -> v1::Attribute {
    let mut a = v1::Attribute {
        name: name.into(),
        scalar: Some(v1::value::Scalar { value: v }),
        ..Default::default()
    };
    a.set_type(VType::Scalar);
    a
}

fn set_attr(name: &str, items: &[&str]) -> v1::Attribute {
    let mut a = v1::Attribute {
        name: name.into(),
        set: Some(v1::value::Set {
            item: items.iter().map(|s| s.to_string()).collect(),
        }),
        ..Default::default()
    };
    a.set_type(VType::Set);
    a
}

fn ranges_attr(name: &str, ranges: &[(u64, u64)]) -> v1::Attribute {
    let mut a = v1::Attribute {
        name: name.into(),
        ranges: Some(v1::value::Ranges {
            range: ranges
                .iter()
                .map(|&(begin, end)| v1::value::Range { begin, end })
                .collect(),
        }),
        ..Default::default()
    };
    a.set_type(VType::Ranges);
    a
}

fn no_tasks() -> HashMap<String, u32> {
    HashMap::new()
}

fn demand<'a>(app: &'a App, wanted: u32, tasks: &'a HashMap<String, u32>) -> Demand<'a> {
    Demand {
        app,
        wanted,
        tasks_per_agent: tasks,
    }
}

/// Thousandths of the named scalar in a placement.
fn amount(p: &Placement, name: &str) -> i64 {
    p.resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref())
        .map(|s| (s.value * 1000.0).round() as i64)
        .sum()
}

fn offers_of(out: &PlacementOutcome) -> Vec<usize> {
    out.placements.iter().map(|p| p.offer).collect()
}

/// The resource with its quantity removed: what Mesos matches on.
fn key(r: &v1::Resource) -> v1::Resource {
    v1::Resource {
        scalar: None,
        ranges: None,
        set: None,
        ..r.clone()
    }
}

/// Checks that every placement's resources are entries of its offer (same
/// key) and that, per offer and key, the placements take no more than
/// offered and no port twice. Returns per offer and key the thousandths
/// taken.
fn assert_contained(offers: &[v1::Offer], out: &PlacementOutcome) {
    for (i, offer) in offers.iter().enumerate() {
        let mut keys: Vec<v1::Resource> = Vec::new();
        for r in &offer.resources {
            if !keys.contains(&key(r)) {
                keys.push(key(r));
            }
        }
        let mut taken = vec![0i64; keys.len()];
        let mut ports_taken: BTreeSet<u64> = BTreeSet::new();
        for p in out.placements.iter().filter(|p| p.offer == i) {
            for r in &p.resources {
                let k = keys
                    .iter()
                    .position(|k| *k == key(r))
                    .unwrap_or_else(|| panic!("{r:?} is not an entry of offer {i}"));
                if let Some(s) = &r.scalar {
                    assert!(s.value > 0.0, "empty entry {r:?}");
                    taken[k] += (s.value * 1000.0).round() as i64;
                }
                if let Some(ranges) = &r.ranges {
                    for range in &ranges.range {
                        for port in range.begin..=range.end {
                            assert!(ports_taken.insert(port), "port {port} taken twice");
                            let offered = offer
                                .resources
                                .iter()
                                .filter(|o| key(o) == key(r))
                                .filter_map(|o| o.ranges.as_ref())
                                .flat_map(|rs| rs.range.iter())
                                .any(|o| o.begin <= port && port <= o.end);
                            assert!(offered, "port {port} not offered");
                        }
                    }
                }
            }
            // The ports listed are the ports in the resources.
            let listed: BTreeSet<u64> = p.ports.iter().map(|&p| u64::from(p)).collect();
            let in_resources: BTreeSet<u64> = p
                .resources
                .iter()
                .filter_map(|r| r.ranges.as_ref())
                .flat_map(|rs| rs.range.iter().flat_map(|r| r.begin..=r.end))
                .collect();
            assert_eq!(listed, in_resources);
        }
        // The simulated master's own containment check (what its ACCEPT
        // validation runs), as an independent oracle.
        let all: Vec<v1::Resource> = out
            .placements
            .iter()
            .filter(|p| p.offer == i)
            .flat_map(|p| p.resources.iter().cloned())
            .collect();
        // The oracle refuses malformed offers as a master would; those are
        // covered by the per-entry checks below.
        let used = ResourceSet::from_protos(&all).expect("placements are valid resources");
        if let Ok(pool) = ResourceSet::from_protos(&offer.resources) {
            assert!(pool.contains(&used), "offer {i}: {used:?} not in {pool:?}");
        }
        for (k, used) in keys.iter().zip(&taken) {
            let offered: i64 = offer
                .resources
                .iter()
                .filter(|r| key(r) == *k)
                .filter_map(|r| r.scalar.as_ref())
                .map(|s| (s.value * 1000.0).round() as i64)
                .sum();
            assert!(*used <= offered, "offer {i}: {used} > {offered} of {k:?}");
        }
    }
}

// ------------------------------------------------------------ resources

#[test]
fn tasks_fill_an_offer_until_a_resource_runs_out() {
    let offers = [basic("o1", "a1", 2.0, 1024.0)];
    let app = app(json!({"cpu": 0.5, "mem": 128}));
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 10, &tasks)], "*");
    assert_eq!(out.placements.len(), 4, "cpu runs out after 4");
    assert_eq!(out.unplaced, [6]);
    assert!(out.unused_offers.is_empty());
    for p in &out.placements {
        assert_eq!(p.offer, 0);
        assert_eq!(p.demand, 0);
        assert_eq!(amount(p, "cpus"), 500);
        assert_eq!(amount(p, "mem"), 128_000);
        assert_eq!(amount(p, "disk"), 0, "no disk asked, none taken");
        assert!(p.ports.is_empty());
        assert!(p.resources.iter().all(|r| r.name != "ports"));
    }
    assert_eq!(
        out.rejections[0],
        Rejections {
            cpu: 1,
            ..Default::default()
        }
    );
    assert_contained(&offers, &out);
}

#[test]
fn mem_and_disk_run_out_too() {
    let offers = [basic("o1", "a1", 8.0, 400.0)];
    let a = app(json!({"cpu": 0.1, "mem": 100}));
    let d = app(json!({"cpu": 0.1, "mem": 1, "disk": {"size": 4000}}));
    let tasks = no_tasks();
    let out = place(
        &offers,
        &[demand(&a, 5, &tasks), demand(&d, 5, &tasks)],
        "*",
    );
    let per_demand = |i| out.placements.iter().filter(|p| p.demand == i).count();
    assert_eq!(per_demand(0), 3, "mem 400 minus 2 holds three 100 MB tasks");
    assert_eq!(per_demand(1), 2, "disk 10000 holds two 4000 MB tasks");
    assert_eq!(out.rejections[0].mem, 1);
    assert_eq!(out.rejections[1].disk, 1);
    assert_contained(&offers, &out);
}

#[test]
fn carving_is_exact_in_thousandths() {
    // 0.1 thirty times is 3.0000000000000013 in floats; Mesos fixed point
    // says exactly 3.0, and what is left must be exactly 0.2 - 0.1 * 2.
    let offers = [offer(
        "o1",
        "a1",
        vec![scalar("cpus", 3.2), scalar("mem", 1000.0)],
    )];
    let app = app(json!({"cpu": 0.1, "mem": 1}));
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 40, &tasks)], "*");
    assert_eq!(out.placements.len(), 32);
    let taken: i64 = out.placements.iter().map(|p| amount(p, "cpus")).sum();
    assert_eq!(taken, 3200, "sum of placements + remainder (0) == offer");
    for p in &out.placements {
        let cpus: Vec<f64> = p
            .resources
            .iter()
            .filter(|r| r.name == "cpus")
            .map(|r| r.scalar.as_ref().map_or(0.0, |s| s.value))
            .collect();
        assert_eq!(cpus, [0.1], "each entry holds exactly 0.1");
    }
    assert_contained(&offers, &out);
}

#[test]
fn a_task_spans_several_entries_of_one_resource() {
    // Two unreserved cpus entries (a master may split them): a 1.5 cpu task
    // takes 1.0 from the first and 0.5 from the second.
    let offers = [offer(
        "o1",
        "a1",
        vec![
            scalar("cpus", 1.0),
            scalar("cpus", 1.0),
            scalar("mem", 100.0),
        ],
    )];
    let app = app(json!({"cpu": 1.5, "mem": 10}));
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 2, &tasks)], "*");
    assert_eq!(out.placements.len(), 1);
    let cpus: Vec<f64> = out.placements[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .filter_map(|r| r.scalar.map(|s| s.value))
        .collect();
    assert_eq!(cpus, [1.0, 0.5]);
    assert_eq!(out.rejections[0].cpu, 1, "0.5 left is not enough");
}

#[test]
fn several_apps_share_an_offer_and_unused_offers_are_listed() {
    let offers = [
        basic("o1", "a1", 4.0, 4096.0),
        basic("o2", "a2", 4.0, 4096.0),
    ];
    let web = app(json!({"cpu": 1, "mem": 512}));
    let db = app(json!({"cpu": 2, "mem": 1024}));
    let tasks = no_tasks();
    let out = place(
        &offers,
        &[demand(&web, 2, &tasks), demand(&db, 1, &tasks)],
        "*",
    );
    assert_eq!(
        offers_of(&out),
        [0, 0, 0],
        "all three fit on the first offer"
    );
    assert_eq!(out.unused_offers, [1]);
    assert_eq!(out.unplaced, [0, 0]);
    assert_contained(&offers, &out);
}

#[test]
fn no_offers_or_no_demands() {
    let app = app(json!({"cpu": 1, "mem": 1}));
    let tasks = no_tasks();
    let out = place(&[], &[demand(&app, 3, &tasks)], "*");
    assert!(out.placements.is_empty());
    assert_eq!(out.unplaced, [3]);
    assert_eq!(out.rejections[0].total(), 0);

    let offers = [basic("o1", "a1", 1.0, 1.0), basic("o2", "a2", 1.0, 1.0)];
    let out = place(&offers, &[], "*");
    assert_eq!(out.unused_offers, [0, 1]);
    let out = place(&offers, &[demand(&app, 0, &tasks)], "*");
    assert_eq!(out.unused_offers, [0, 1]);
    assert_eq!(out.rejections, [Rejections::default()]);
}

#[test]
fn malformed_offer_resources_are_ignored() {
    let mut unknown_type = scalar("cpus", 100.0);
    unknown_type.r#type = 42;
    let mut no_scalar = scalar("cpus", 100.0);
    no_scalar.scalar = None;
    let mut inverted = ports_in(&[(40000, 30000)], "*");
    inverted.name = "ports".into();
    let mut revocable = scalar("cpus", 100.0);
    revocable.revocable = Some(v1::resource::RevocableInfo {});
    let mut cpus_as_ranges = ports_in(&[(1, 100)], "*");
    cpus_as_ranges.name = "cpus".into();
    let offers = [offer(
        "o1",
        "a1",
        vec![
            scalar("cpus", f64::NAN),
            scalar("cpus", -5.0),
            scalar("cpus", f64::INFINITY),
            unknown_type,
            no_scalar,
            revocable,
            cpus_as_ranges,
            inverted,
            scalar("gpus", 4.0),
            scalar("cpus", 1.0),
            scalar("mem", 100.0),
        ],
    )];
    let app = app(json!({"cpu": 1, "mem": 10}));
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 3, &tasks)], "*");
    assert_eq!(
        out.placements.len(),
        1,
        "only the one good cpus entry counts"
    );
    let names: Vec<&str> = out.placements[0]
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["cpus", "mem"]);
    assert_eq!(
        out.placements[0].resources[0].scalar.map(|s| s.value),
        Some(1.0)
    );
    assert_contained(&offers, &out);

    let ports_app = app_ports(1);
    let out = place(&offers, &[demand(&ports_app, 1, &tasks)], "*");
    assert_eq!(out.rejections[0].ports, 1, "inverted ranges give no ports");
}

#[test]
fn unusable_app_numbers_never_fit() {
    // Only an unvalidated app can hold these; placement must not panic.
    let mut bad = app(json!({"cpu": 1, "mem": 1}));
    bad.resources.cpu = f64::NAN;
    let tasks = no_tasks();
    let offers = [basic("o1", "a1", 1e6, 1e6)];
    let out = place(&offers, &[demand(&bad, 1, &tasks)], "*");
    assert!(out.placements.is_empty());
    assert_eq!(out.rejections[0].cpu, 1);
    // A positive need too small for thousandths takes one thousandth.
    let mut tiny = app(json!({"cpu": 1, "mem": 1}));
    tiny.resources.cpu = 0.0001;
    let out = place(&offers, &[demand(&tiny, 1, &tasks)], "*");
    assert_eq!(amount(&out.placements[0], "cpus"), 1);
}

// ------------------------------------------------------------ roles

#[test]
fn reserved_resources_are_taken_first_and_only_by_their_role() {
    let offers = [offer_in(
        "o1",
        "a1",
        "web",
        vec![
            scalar_in("cpus", 2.0, "web", "*"),
            scalar_in("cpus", 1.0, "web", "web"),
            scalar_in("mem", 1000.0, "web", "*"),
        ],
    )];
    let app = app(json!({"cpu": 1.5, "mem": 100, "role": "web"}));
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 3, &tasks)], "*");
    assert_eq!(out.placements.len(), 2, "3 cpus hold two 1.5 cpu tasks");
    let first = &out.placements[0];
    let cpus: Vec<(f64, &str)> = first
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| (r.scalar.map_or(0.0, |s| s.value), reservation_role(r)))
        .collect();
    assert_eq!(cpus, [(1.0, "web"), (0.5, "*")], "reserved first");
    for p in &out.placements {
        for r in &p.resources {
            assert_eq!(
                r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
                Some("web"),
                "allocation_info preserved"
            );
        }
    }
    assert_contained(&offers, &out);
}

#[test]
fn an_offer_for_another_role_is_a_role_rejection() {
    let offers = [
        offer_in("o1", "a1", "web", vec![scalar_in("cpus", 8.0, "web", "*")]),
        basic("o2", "a2", 8.0, 8000.0),
    ];
    let app = app(json!({"cpu": 1, "mem": 1}));
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 1, &tasks)], "*");
    assert_eq!(offers_of(&out), [1]);
    assert_eq!(out.rejections[0].role, 1);

    // The app's own role overrides the framework's.
    let web = app_role("web");
    let out = place(&offers, &[demand(&web, 2, &tasks)], "*");
    assert_eq!(out.placements.len(), 0, "o1 has no mem, o2 is for *");
    assert_eq!(
        out.rejections[0],
        Rejections {
            role: 1,
            mem: 1,
            ..Default::default()
        }
    );
}

fn app_role(role: &str) -> App {
    app(json!({"cpu": 1, "mem": 1, "role": role}))
}

fn app_ports(n: u32) -> App {
    app(json!({"cpu": 0.01, "mem": 1, "ports": n}))
}

#[test]
fn resources_reserved_to_another_role_are_not_used() {
    // A (buggy or refined) offer allocated to "web" holding cpus reserved to
    // "db": not usable by web.
    let offers = [offer_in(
        "o1",
        "a1",
        "web",
        vec![
            scalar_in("cpus", 4.0, "web", "db"),
            scalar_in("mem", 100.0, "web", "*"),
        ],
    )];
    let tasks = no_tasks();
    let web = app_role("web");
    let out = place(&offers, &[demand(&web, 1, &tasks)], "*");
    assert_eq!(out.rejections[0].cpu, 1);
}

#[test]
fn reservations_serve_sub_roles() {
    let offers = [offer_in(
        "o1",
        "a1",
        "eng/web",
        vec![
            scalar_in("cpus", 1.0, "eng/web", "eng"),
            scalar_in("mem", 100.0, "eng/web", "eng/web"),
        ],
    )];
    let tasks = no_tasks();
    let sub = app_role("eng/web");
    let out = place(&offers, &[demand(&sub, 1, &tasks)], "*");
    assert_eq!(out.placements.len(), 1);
    assert!(reservation_serves("eng", "eng/web"));
    assert!(!reservation_serves("eng", "engineering"));
    assert!(!reservation_serves("eng/web", "eng"));
}

#[test]
fn reserved_only_takes_reserved_resources_and_never_unreserved_ones() {
    // Agent a1: 1 cpu reserved to eng (an ancestor), the rest unreserved;
    // agent a2: nothing reserved.
    let offers = [
        offer_in(
            "o1",
            "a1",
            "eng/web",
            vec![
                scalar_in("cpus", 1.0, "eng/web", "eng"),
                scalar_in("cpus", 4.0, "eng/web", "*"),
                scalar_in("mem", 256.0, "eng/web", "eng/web"),
                scalar_in("mem", 4096.0, "eng/web", "*"),
            ],
        ),
        offer_in(
            "o2",
            "a2",
            "eng/web",
            vec![
                scalar_in("cpus", 8.0, "eng/web", "*"),
                scalar_in("mem", 8192.0, "eng/web", "*"),
            ],
        ),
    ];
    let tasks = no_tasks();
    let only = app(json!({"cpu": 0.5, "mem": 128, "role": "eng/web", "reserved_only": true}));
    let out = place(&offers, &[demand(&only, 5, &tasks)], "*");
    assert_eq!(
        out.placements.len(),
        2,
        "two tasks fit in the 1 cpu / 256 MB reserved"
    );
    for p in &out.placements {
        assert_eq!(p.offer, 0);
        for r in &p.resources {
            assert_ne!(reservation_role(r), "*", "unreserved {r:?} used");
        }
    }
    assert_eq!(out.unplaced, [3]);
    assert_eq!(
        out.rejections[0],
        Rejections {
            cpu: 2,
            ..Default::default()
        },
        "o1 once its reservation is used up, o2 never: no reserved cpus"
    );
    assert_contained(&offers, &out);

    // Without reserved_only the same app spills over to unreserved ones.
    let any = app(json!({"cpu": 0.5, "mem": 128, "role": "eng/web"}));
    let out = place(&offers, &[demand(&any, 5, &tasks)], "*");
    assert_eq!(out.placements.len(), 5);
    assert_contained(&offers, &out);
}

#[test]
fn framework_role_applies_to_legacy_offers_without_allocation_info() {
    // A framework without MULTI_ROLE: no allocation_info anywhere, the
    // reservation in the legacy `role` field.
    let mut cpus = scalar("cpus", 2.0);
    cpus.allocation_info = None;
    #[allow(deprecated)]
    {
        cpus.role = Some("ops".into());
    }
    let mut mem = scalar("mem", 100.0);
    mem.allocation_info = None;
    let mut o = offer("o1", "a1", vec![cpus, mem]);
    o.allocation_info = None;
    let offers = [o];
    let tasks = no_tasks();
    let plain = app(json!({"cpu": 1, "mem": 1}));
    let out = place(&offers, &[demand(&plain, 1, &tasks)], "ops");
    assert_eq!(out.placements.len(), 1);
    assert!(out.placements[0].resources[0].allocation_info.is_none());
    let out = place(&offers, &[demand(&plain, 1, &tasks)], "*");
    assert_eq!(out.rejections[0].cpu, 1, "cpus are reserved to ops");
}

// ------------------------------------------------------------ ports

#[test]
fn ports_come_from_the_ranges_lowest_first_and_never_twice() {
    let offers = [offer(
        "o1",
        "a1",
        vec![
            scalar("cpus", 8.0),
            scalar("mem", 8000.0),
            ports_in(&[(31005, 31010), (31000, 31002)], "*"),
        ],
    )];
    let app = app_ports(2);
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 5, &tasks)], "*");
    let ports: Vec<Vec<u32>> = out.placements.iter().map(|p| p.ports.clone()).collect();
    assert_eq!(
        ports,
        [
            vec![31000, 31001],
            vec![31002, 31005],
            vec![31006, 31007],
            vec![31008, 31009]
        ]
    );
    let second: Vec<(u64, u64)> = out.placements[1]
        .resources
        .iter()
        .filter(|r| r.name == "ports")
        .flat_map(|r| {
            r.ranges
                .as_ref()
                .map(|rs| rs.range.clone())
                .unwrap_or_default()
        })
        .map(|r| (r.begin, r.end))
        .collect();
    assert_eq!(second, [(31002, 31002), (31005, 31005)]);
    assert_eq!(
        out.rejections[0].ports, 1,
        "one port left for a 2-port task"
    );
    assert_contained(&offers, &out);
}

fn app_mapping(resources: Value, host_ports: &[u32]) -> App {
    let mappings: Vec<Value> = host_ports
        .iter()
        .map(|&p| json!({"host_port": p, "container_port": 80}))
        .collect();
    app_with(
        resources,
        json!({"container": {"network": [{"name": "n", "port_mapping": mappings}]}}),
    )
}

#[test]
fn fixed_host_ports_are_taken_exactly_and_only_once_per_agent() {
    let offers = vec![
        offer(
            "o1",
            "a1",
            vec![
                scalar("cpus", 4.0),
                scalar("mem", 1024.0),
                ports_in(&[(31000, 31002), (31005, 31010)], "*"),
            ],
        ),
        offer(
            "o2",
            "a2",
            vec![
                scalar("cpus", 4.0),
                scalar("mem", 1024.0),
                ports_in(&[(31000, 31004)], "*"),
            ],
        ),
        offer(
            "o3",
            "a3",
            vec![
                scalar("cpus", 4.0),
                scalar("mem", 1024.0),
                ports_in(&[(31007, 31007)], "*"),
            ],
        ),
    ];
    // A fixed mapping (31007) and resources.ports 2: two ports per task.
    let app = app_mapping(json!({"cpu": 0.1, "mem": 1, "ports": 2}), &[31007]);
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 3, &tasks)], "*");
    assert_contained(&offers, &out);
    assert_eq!(
        offers_of(&out),
        vec![0],
        "only o1 holds 31007 and a second port"
    );
    let p = &out.placements[0];
    assert_eq!(p.ports, vec![31007, 31000]);
    let ranges: Vec<(u64, u64)> = p
        .resources
        .iter()
        .filter(|r| r.name == "ports")
        .flat_map(|r| {
            r.ranges
                .iter()
                .flat_map(|x| x.range.iter().map(|r| (r.begin, r.end)))
        })
        .collect();
    assert_eq!(
        ranges,
        vec![(31000, 31000), (31007, 31007)],
        "sorted as Mesos writes them"
    );
    // o2 lacks 31007; o3 holds it but no second port; o1 gave it away to
    // the first task, so the second is refused there too.
    assert_eq!(out.rejections[0].ports, 3, "{:?}", out.rejections[0]);
}

#[test]
fn resources_ports_count_the_fixed_mappings_too() {
    let offers = vec![offer(
        "o1",
        "a1",
        vec![
            scalar("cpus", 4.0),
            scalar("mem", 1024.0),
            ports_in(&[(8000, 8100)], "*"),
        ],
    )];
    // resources.ports 3 with one fixed mapping: the fixed port plus two more.
    let app = app_mapping(json!({"cpu": 0.1, "mem": 1, "ports": 3}), &[8080]);
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 1, &tasks)], "*");
    assert_eq!(out.placements[0].ports, vec![8080, 8000, 8001]);
}

#[test]
fn take_port_splits_and_trims_ranges() {
    let mut r = vec![(10, 10), (20, 30)];
    assert!(take_port(&mut r, 10));
    assert!(take_port(&mut r, 25));
    assert!(take_port(&mut r, 20));
    assert!(take_port(&mut r, 30));
    assert!(!take_port(&mut r, 25));
    assert_eq!(r, vec![(21, 24), (26, 29)]);
    let mut m = vec![(0, 0), (7, 7), (3, 4), (5, 6), (9, 9)];
    merge_tail(&mut m, 1);
    assert_eq!(m, vec![(0, 0), (3, 7), (9, 9)]);
}

#[test]
fn ports_outside_the_host_range_are_not_used() {
    let offers = [offer(
        "o1",
        "a1",
        vec![
            scalar("cpus", 8.0),
            scalar("mem", 8000.0),
            ports_in(&[(0, 1), (65535, 70000)], "*"),
        ],
    )];
    let app = app_ports(1);
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 3, &tasks)], "*");
    let ports: Vec<u32> = out
        .placements
        .iter()
        .flat_map(|p| p.ports.clone())
        .collect();
    assert_eq!(ports, [1, 65535]);
}

// ------------------------------------------------------------ disk

#[test]
fn disk_sources_root_path_and_mount() {
    use disk_info::source::Type::{Mount, Path};
    let mut persistent = scalar("disk", 50_000.0);
    persistent.disk = Some(DiskInfo {
        persistence: Some(disk_info::Persistence {
            id: "vol".into(),
            principal: None,
        }),
        ..Default::default()
    });
    let offers = [offer(
        "o1",
        "a1",
        vec![
            scalar("cpus", 100.0),
            scalar("mem", 100_000.0),
            persistent,
            scalar("disk", 1000.0),
            disk_source(500.0, Path, "/mnt/p"),
            disk_source(2000.0, Mount, "/mnt/m1"),
            disk_source(1000.0, Mount, "/mnt/m2"),
        ],
    )];
    let tasks = no_tasks();

    let root = app(json!({"cpu": 1, "mem": 1, "disk": {"size": 600}}));
    let out = place(&offers, &[demand(&root, 5, &tasks)], "*");
    assert_eq!(
        out.placements.len(),
        1,
        "root disk only, not PATH/MOUNT/volumes"
    );
    let disk = &out.placements[0].resources[2];
    assert!(disk.disk.is_none());
    assert_eq!(disk.scalar.map(|s| s.value), Some(600.0));

    let path = app(json!({"cpu": 1, "mem": 1,
        "disk": {"size": 200, "source": {"type": "PATH", "path": "/mnt/p"}}}));
    let out = place(&offers, &[demand(&path, 5, &tasks)], "*");
    assert_eq!(out.placements.len(), 2, "PATH split by size: 500 / 200");
    assert_eq!(amount(&out.placements[1], "disk"), 200_000);
    assert_eq!(
        out.placements[1].resources[2].disk,
        offers[0].resources[4].disk
    );
    let other_root = app(json!({"cpu": 1, "mem": 1,
        "disk": {"size": 200, "source": {"type": "PATH", "path": "/elsewhere"}}}));
    let out = place(&offers, &[demand(&other_root, 1, &tasks)], "*");
    assert_eq!(out.rejections[0].disk, 1);

    let mount = app(json!({"cpu": 1, "mem": 1,
        "disk": {"size": 800, "source": {"type": "MOUNT"}}}));
    let out = place(&offers, &[demand(&mount, 3, &tasks)], "*");
    assert_eq!(out.placements.len(), 2, "two MOUNT disks, each taken whole");
    assert_eq!(
        out.placements[0].resources[2], offers[0].resources[6],
        "smallest fitting MOUNT disk first, whole and unchanged"
    );
    assert_eq!(out.placements[1].resources[2], offers[0].resources[5]);
    assert_eq!(out.rejections[0].disk, 1);
    assert_contained(&offers, &out);

    let named = app(json!({"cpu": 1, "mem": 1,
        "disk": {"size": 800, "source": {"type": "MOUNT", "mount": "/mnt/m1"}}}));
    let out = place(&offers, &[demand(&named, 1, &tasks)], "*");
    assert_eq!(out.placements[0].resources[2], offers[0].resources[5]);

    let zero = app(json!({"cpu": 1, "mem": 1, "disk": {"size": 0}}));
    let out = place(&offers, &[demand(&zero, 1, &tasks)], "*");
    assert_eq!(
        amount(&out.placements[0], "disk"),
        0,
        "size 0 takes no disk"
    );
}

// ------------------------------------------------------------ filters

/// Four agents with attributes; returns the agents the app lands on.
fn filtered(filters: Value) -> (Vec<String>, Rejections) {
    let mut offers: Vec<v1::Offer> = (1..=4)
        .map(|i| basic(&format!("o{i}"), &format!("a{i}"), 1.0, 1000.0))
        .collect();
    offers[0].attributes = vec![
        text_attr("rack", "r1"),
        scalar_attr("cores", 8.0),
        set_attr("features", &["ssd", "gpu"]),
        ranges_attr("slots", &[(1, 8)]),
    ];
    offers[1].attributes = vec![
        text_attr("rack", "R2"),
        scalar_attr("cores", 16.0),
        set_attr("features", &["ssd"]),
        ranges_attr("slots", &[(1, 4), (5, 16)]),
    ];
    offers[2].attributes = vec![text_attr("zone", "r1"), scalar_attr("cores", 4.0)];
    // o4: no attributes
    let app = app_with(
        json!({"cpu": 1, "mem": 1}),
        json!({"filters": filters, "strategy": {"type": "UNIQUE"}}),
    );
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 4, &tasks)], "*");
    let agents = out
        .placements
        .iter()
        .map(|p| offers[p.offer].agent_id.value.clone())
        .collect();
    (agents, out.rejections[0].clone())
}

#[test]
fn text_filter() {
    let (agents, _) = filtered(json!([{"type": "TEXT", "value": ["r2"]}]));
    assert_eq!(agents, ["a2"], "case-insensitive");
    let (agents, _) = filtered(json!([{"type": "TEXT", "value": ["r1"]}]));
    assert_eq!(agents, ["a1", "a3"], "any text attribute without a name");
    let (agents, rej) = filtered(json!([{"type": "TEXT", "value": ["r1"], "attribute": "rack"}]));
    assert_eq!(agents, ["a1"]);
    assert_eq!(rej.filters, 3);
    assert_eq!(rej.filter_failures, BTreeMap::from([(0, 3)]));
}

#[test]
fn scalar_filter() {
    let (agents, _) = filtered(json!([{"type": "SCALAR", "value": ["8", "4"]}]));
    assert_eq!(agents, ["a1", "a3"]);
    let (agents, _) = filtered(json!([{"type": "SCALAR", "value": ["8"], "op": "ge"}]));
    assert_eq!(agents, ["a1", "a2"]);
    let (agents, _) = filtered(json!([{"type": "SCALAR", "value": ["8"], "op": "lt"}]));
    assert_eq!(agents, ["a3"]);
}

#[test]
fn set_filter() {
    let (agents, _) = filtered(json!([{"type": "SET", "value": ["ssd"]}]));
    assert_eq!(agents, ["a1", "a2"]);
    let (agents, _) = filtered(json!([{"type": "SET", "value": ["ssd", "gpu"]}]));
    assert_eq!(agents, ["a1"]);
}

#[test]
fn ranges_filter() {
    let (agents, _) = filtered(json!([{"type": "RANGES", "value": ["3-6"]}]));
    assert_eq!(agents, ["a1", "a2"], "adjacent ranges merge");
    let (agents, _) = filtered(json!([{"type": "RANGES", "value": ["7", "12"]}]));
    assert_eq!(agents, ["a2"]);
}

#[test]
fn all_filters_must_hold_and_the_first_failing_one_is_counted() {
    let (agents, rej) = filtered(json!([
        {"type": "SET", "value": ["ssd"]},
        {"type": "SCALAR", "value": ["16"], "attribute": "cores"},
    ]));
    assert_eq!(agents, ["a2"]);
    assert_eq!(rej.filters, 3);
    assert_eq!(
        rej.filter_failures,
        BTreeMap::from([(0, 2), (1, 1)]),
        "a3 and a4 fail the SET filter, a1 the SCALAR one"
    );
}

#[test]
fn attributes_of_unknown_type_are_dropped() {
    let mut odd = text_attr("rack", "r1");
    odd.r#type = 17;
    let mut missing = text_attr("rack", "r1");
    missing.text = None;
    assert_eq!(attribute(&odd), None);
    assert_eq!(attribute(&missing), None);
    assert_eq!(attribute(&scalar_attr("x", f64::NAN)), None);
    assert_eq!(
        attribute(&ranges_attr("slots", &[(1, 2)])),
        Some(spec::Attribute {
            name: "slots".into(),
            value: spec::AttributeValue::Ranges(vec![(1, 2)]),
        })
    );
}

// ------------------------------------------------------------ strategies

#[test]
fn unique_puts_one_task_per_agent_counting_existing_ones() {
    let offers = [
        basic("o1", "a1", 8.0, 8000.0),
        basic("o2", "a2", 8.0, 8000.0),
        basic("o3", "a2", 8.0, 8000.0), // a second offer from a2
        basic("o4", "a3", 8.0, 8000.0),
        basic("o5", "a4", 8.0, 8000.0),
    ];
    let app = app_with(json!({"cpu": 1, "mem": 1}), unique());
    let tasks = HashMap::from([("a3".to_string(), 1), ("a9".to_string(), 2)]);
    let out = place(&offers, &[demand(&app, 5, &tasks)], "*");
    let agents: Vec<&str> = out
        .placements
        .iter()
        .map(|p| offers[p.offer].agent_id.value.as_str())
        .collect();
    assert_eq!(agents, ["a1", "a2", "a4"]);
    assert_eq!(out.unplaced, [2]);
    assert_eq!(
        out.rejections[0],
        Rejections {
            unique: 2,
            ..Default::default()
        },
        "o3 (a2 just taken) and o4 (a3 already runs one)"
    );
    assert_eq!(out.unused_offers, [2, 3]);
}

#[test]
fn test_app_with_three_agents_explains_why_two_wait() {
    // The scenario: 5 UNIQUE instances, 3 agents.
    let offers: Vec<v1::Offer> = (1..=3)
        .map(|i| basic(&format!("o{i}"), &format!("a{i}"), 4.0, 4096.0))
        .collect();
    let app = app_with(json!({"cpu": 0.5, "mem": 128}), unique());
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 5, &tasks)], "*");
    assert_eq!(out.placements.len(), 3);
    assert_eq!(out.unplaced, [2]);
    // Next cycle, with those 3 running, nothing more fits, for UNIQUE.
    let tasks: HashMap<String, u32> = (1..=3).map(|i| (format!("a{i}"), 1)).collect();
    let out = place(&offers, &[demand(&app, 2, &tasks)], "*");
    assert_eq!(out.placements.len(), 0);
    assert_eq!(out.rejections[0].unique, 3);
}

#[test]
fn mux_fills_one_offer_before_the_next() {
    let offers = [
        basic("o1", "a1", 2.0, 8000.0),
        basic("o2", "a2", 2.0, 8000.0),
        basic("o3", "a3", 2.0, 8000.0),
    ];
    let app = app(json!({"cpu": 0.5, "mem": 1}));
    assert_eq!(app.strategy_type(), StrategyType::Mux);
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 6, &tasks)], "*");
    assert_eq!(offers_of(&out), [0, 0, 0, 0, 1, 1]);
    assert_eq!(out.unused_offers, [2]);
}

#[test]
fn mux_prefers_agents_that_already_run_the_app() {
    let offers = [
        basic("o1", "a1", 2.0, 8000.0),
        basic("o2", "a2", 1.0, 8000.0),
        basic("o3", "a3", 1.0, 8000.0),
    ];
    let app = app_with(
        json!({"cpu": 0.5, "mem": 1}),
        json!({"strategy": {"type": "mux"}}),
    );
    let tasks = HashMap::from([
        ("a3".to_string(), 5),
        ("a2".to_string(), 1),
        ("gone".to_string(), 9),
    ]);
    let out = place(&offers, &[demand(&app, 7, &tasks)], "*");
    assert_eq!(
        offers_of(&out),
        [2, 2, 1, 1, 0, 0, 0],
        "a3 (5 tasks), then a2 (1), then the rest in order"
    );
}

#[test]
fn mux_skips_offers_already_visited_in_the_preferred_pass() {
    // The preferred offer is in the middle: the second pass must not count
    // it twice.
    let offers = [
        basic("o1", "a1", 0.1, 8000.0),
        basic("o2", "a2", 1.0, 8000.0),
        basic("o3", "a3", 0.1, 8000.0),
    ];
    let app = app(json!({"cpu": 1, "mem": 1}));
    let tasks = HashMap::from([("a2".to_string(), 1)]);
    let out = place(&offers, &[demand(&app, 3, &tasks)], "*");
    assert_eq!(offers_of(&out), [1]);
    assert_eq!(out.rejections[0].cpu, 3, "each offer counted once");
}

// ------------------------------------------------------------ fairness

#[test]
fn competing_apps_take_turns_on_scarce_offers() {
    let offers = [basic("o1", "a1", 4.0, 8000.0)];
    let big = app(json!({"cpu": 1, "mem": 1}));
    let small = app(json!({"cpu": 1, "mem": 1}));
    let tasks = no_tasks();
    let out = place(
        &offers,
        &[demand(&big, 100, &tasks), demand(&small, 3, &tasks)],
        "*",
    );
    let order: Vec<usize> = out.placements.iter().map(|p| p.demand).collect();
    assert_eq!(
        order,
        [0, 1, 0, 1],
        "round robin, ties to the earlier demand"
    );
    assert_eq!(out.unplaced, [98, 1]);
}

#[test]
fn a_demand_that_fits_nowhere_does_not_stop_the_others() {
    let offers = [
        basic("o1", "a1", 2.0, 8000.0),
        basic("o2", "a2", 2.0, 8000.0),
    ];
    let huge = app(json!({"cpu": 64, "mem": 1}));
    let small = app(json!({"cpu": 1, "mem": 1}));
    let tasks = no_tasks();
    let out = place(
        &offers,
        &[demand(&huge, 1, &tasks), demand(&small, 4, &tasks)],
        "*",
    );
    assert_eq!(out.unplaced, [1, 0]);
    assert_eq!(out.rejections[0].cpu, 2);
    assert_eq!(
        out.rejections[1],
        Rejections {
            cpu: 1,
            ..Default::default()
        }
    );
}

// ------------------------------------------------------------ rejections

#[test]
fn rejection_rules_are_checked_in_order() {
    // One offer per rule, each failing exactly that rule and passing the
    // earlier ones.
    let mut filtered_out = basic("o2", "a2", 8.0, 8000.0);
    filtered_out.attributes = vec![text_attr("rack", "r2")];
    let rack1 = |mut o: v1::Offer| {
        o.attributes = vec![text_attr("rack", "r1")];
        o
    };
    let offers = [
        rack1(offer_in("o1", "a1", "other", vec![])),
        filtered_out,
        rack1(basic("o3", "a3", 8.0, 8000.0)),
        rack1(basic("o4", "a4", 0.5, 8000.0)),
        rack1(basic("o5", "a5", 8.0, 10.0)),
        rack1(offer(
            "o6",
            "a6",
            vec![scalar("cpus", 8.0), scalar("mem", 8000.0)],
        )),
        rack1(offer(
            "o7",
            "a7",
            vec![
                scalar("cpus", 8.0),
                scalar("mem", 8000.0),
                scalar("disk", 100.0),
            ],
        )),
    ];
    let app = app_with(
        json!({"cpu": 1, "mem": 100, "disk": {"size": 10}, "ports": 1}),
        json!({"strategy": {"type": "UNIQUE"},
               "filters": [{"type": "TEXT", "value": ["r1"], "attribute": "rack"}]}),
    );
    let tasks = HashMap::from([("a3".to_string(), 1)]);
    let out = place(&offers, &[demand(&app, 1, &tasks)], "*");
    assert!(out.placements.is_empty());
    assert_eq!(
        out.rejections[0],
        Rejections {
            role: 1,
            filters: 1,
            filter_failures: BTreeMap::from([(0, 1)]),
            unique: 1,
            cpu: 1,
            mem: 1,
            disk: 1,
            ports: 1,
        }
    );
    assert_eq!(out.rejections[0].total(), 7);
    assert_eq!(out.unused_offers, [0, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_satisfied_demand_does_not_count_offers_it_never_looked_at() {
    let offers = [
        basic("o1", "a1", 8.0, 8000.0),
        basic("o2", "a2", 8.0, 8000.0),
    ];
    let app = app(json!({"cpu": 1, "mem": 1}));
    let tasks = no_tasks();
    let out = place(&offers, &[demand(&app, 2, &tasks)], "*");
    assert_eq!(out.rejections[0].total(), 0);
}

// ------------------------------------------------------------ properties

#[derive(Debug, Clone)]
struct GenOffer {
    agent: usize,
    role: usize,
    cpus: Vec<(u32, bool)>, // thousandths, reserved to the role
    mem: u32,
    disk: u32,
    ports: Vec<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct GenDemand {
    cpu: u32,
    mem: u32,
    disk: u32,
    ports: u32,
    unique: bool,
    role: usize,
    wanted: u32,
    existing: Vec<(usize, u32)>,
}

const ROLES: [&str; 2] = ["*", "web"];

fn gen_offer() -> impl Strategy<Value = GenOffer> {
    (
        0..4usize,
        0..2usize,
        prop::collection::vec((0..4000u32, any::<bool>()), 1..3),
        0..4000u32,
        0..3000u32,
        prop::collection::vec((30000..30020u64, 0..6u64), 0..4),
    )
        .prop_map(|(agent, role, cpus, mem, disk, ports)| GenOffer {
            agent,
            role,
            cpus,
            mem,
            disk,
            ports: ports.into_iter().map(|(b, len)| (b, b + len)).collect(),
        })
}

fn gen_demand() -> impl Strategy<Value = GenDemand> {
    (
        1..1500u32,
        1..1500u32,
        0..800u32,
        0..3u32,
        any::<bool>(),
        0..2usize,
        0..8u32,
        prop::collection::vec((0..5usize, 0..3u32), 0..3),
    )
        .prop_map(
            |(cpu, mem, disk, ports, unique, role, wanted, existing)| GenDemand {
                cpu,
                mem,
                disk,
                ports,
                unique,
                role,
                wanted,
                existing,
            },
        )
}

fn build_offer(i: usize, g: &GenOffer) -> v1::Offer {
    let role = ROLES[g.role];
    let mut resources: Vec<v1::Resource> = g
        .cpus
        .iter()
        .map(|&(m, reserved)| {
            scalar_in(
                "cpus",
                f64::from(m) / 1000.0,
                role,
                if reserved { role } else { "*" },
            )
        })
        .collect();
    resources.push(scalar_in("mem", f64::from(g.mem), role, "*"));
    resources.push(scalar_in("disk", f64::from(g.disk), role, "*"));
    if !g.ports.is_empty() {
        resources.push(ports_in(&g.ports, role));
    }
    offer_in(&format!("o{i}"), &format!("a{}", g.agent), role, resources)
}

fn build_app(g: &GenDemand) -> App {
    let mut resources = json!({
        "cpu": f64::from(g.cpu) / 1000.0,
        "mem": f64::from(g.mem),
        "disk": {"size": f64::from(g.disk)},
        "ports": g.ports,
    });
    if g.role != 0 {
        resources["role"] = json!(ROLES[g.role]);
    }
    let strategy = if g.unique { "UNIQUE" } else { "MUX" };
    app_with(resources, json!({"strategy": {"type": strategy}}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn placements_respect_offers_roles_and_unique(
        gen_offers in prop::collection::vec(gen_offer(), 0..8),
        gen_demands in prop::collection::vec(gen_demand(), 0..4),
    ) {
        let offers: Vec<v1::Offer> =
            gen_offers.iter().enumerate().map(|(i, g)| build_offer(i, g)).collect();
        let apps: Vec<App> = gen_demands.iter().map(build_app).collect();
        let tasks: Vec<HashMap<String, u32>> = gen_demands
            .iter()
            .map(|g| g.existing.iter().map(|&(a, n)| (format!("a{a}"), n)).collect())
            .collect();
        let demands: Vec<Demand<'_>> = gen_demands
            .iter()
            .enumerate()
            .map(|(i, g)| demand(&apps[i], g.wanted, &tasks[i]))
            .collect();
        let out = place(&offers, &demands, "*");

        // Every placement's resources are entries of its offer, within its
        // quantities, ports never reused.
        assert_contained(&offers, &out);

        // Shape of the outcome.
        prop_assert_eq!(out.rejections.len(), demands.len());
        prop_assert_eq!(out.unplaced.len(), demands.len());
        let used: BTreeSet<usize> = out.placements.iter().map(|p| p.offer).collect();
        for i in 0..offers.len() {
            prop_assert_eq!(out.unused_offers.contains(&i), !used.contains(&i));
        }

        for (d, g) in gen_demands.iter().enumerate() {
            let mine: Vec<&Placement> = out.placements.iter().filter(|p| p.demand == d).collect();
            prop_assert_eq!(mine.len() as u32 + out.unplaced[d], g.wanted);
            for p in &mine {
                // Exactly what the app asks for.
                prop_assert_eq!(amount(p, "cpus"), i64::from(g.cpu));
                prop_assert_eq!(amount(p, "mem"), i64::from(g.mem) * 1000);
                prop_assert_eq!(amount(p, "disk"), i64::from(g.disk) * 1000);
                prop_assert_eq!(p.ports.len() as u32, g.ports);
                // All allocated to the app's role.
                for r in &p.resources {
                    prop_assert_eq!(
                        r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
                        Some(ROLES[g.role])
                    );
                    let reserved = reservation_role(r);
                    prop_assert!(reserved == "*" || reserved == ROLES[g.role]);
                }
            }
            if g.unique {
                let mut per_agent: HashMap<&str, u32> = HashMap::new();
                for p in &mine {
                    *per_agent.entry(offers[p.offer].agent_id.value.as_str()).or_default() += 1;
                }
                for (agent, n) in per_agent {
                    let existing = tasks[d].get(agent).copied().unwrap_or(0);
                    prop_assert!(n == 1 && existing == 0, "agent {} doubled", agent);
                }
            }
            // A pending demand looked at every offer, each counted once.
            if out.unplaced[d] > 0 {
                prop_assert!(out.rejections[d].total() as usize <= offers.len());
                let placed_offers: BTreeSet<usize> = mine.iter().map(|p| p.offer).collect();
                prop_assert!(
                    out.rejections[d].total() as usize + placed_offers.len() >= offers.len(),
                    "every offer was visited"
                );
            }
        }
    }
}

// ------------------------------------------------------------ scale

/// The scale target's shape: 10,000 offers × 1,000 apps. Run with
/// `cargo test --release --lib scheduler::placement::tests::scale -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn scale_10k_offers_1k_apps() {
    let offers: Vec<v1::Offer> = (0..10_000)
        .map(|i| {
            let mut o = basic(&format!("o{i}"), &format!("a{i}"), 16.0, 65_536.0);
            o.attributes = vec![
                text_attr("rack", &format!("r{}", i % 50)),
                scalar_attr("cores", 16.0),
            ];
            o
        })
        .collect();
    let apps: Vec<App> = (0..1_000)
        .map(|i| {
            let mut extra = json!({});
            if i % 3 == 0 {
                extra["filters"] = json!([{"type": "TEXT", "attribute": "rack",
                    "value": [format!("r{}", i % 50)]}]);
            }
            if i % 2 == 0 {
                extra["strategy"] = json!({"type": "UNIQUE"});
            }
            app_with(json!({"cpu": 0.5, "mem": 512, "ports": 1}), extra)
        })
        .collect();
    let tasks = no_tasks();
    let idle: Vec<Demand<'_>> = apps.iter().map(|a| demand(a, 0, &tasks)).collect();
    let start = std::time::Instant::now();
    let out = place(&offers, &idle, "*");
    let setup = start.elapsed();
    assert_eq!(out.unused_offers.len(), 10_000);
    let demands: Vec<Demand<'_>> = apps.iter().map(|a| demand(a, 20, &tasks)).collect();
    let start = std::time::Instant::now();
    let out = place(&offers, &demands, "*");
    let satisfiable = start.elapsed();
    assert_eq!(out.placements.len(), 20_000);

    // Worst case: every app pending (too big for any offer), so every
    // demand visits every offer.
    let huge: Vec<App> = (0..1_000)
        .map(|_| app(json!({"cpu": 64, "mem": 512})))
        .collect();
    let demands: Vec<Demand<'_>> = huge.iter().map(|a| demand(a, 1, &tasks)).collect();
    let start = std::time::Instant::now();
    let out = place(&offers, &demands, "*");
    let pending = start.elapsed();
    assert_eq!(out.rejections[0].cpu, 10_000);
    eprintln!("setup: {setup:?}, satisfiable: {satisfiable:?}, all pending: {pending:?}");
}

// ---------------------------------------------------------------- internals

#[test]
fn agent_offers_list_each_agents_offers_in_offer_order() {
    // Offers 0..6 from agents 2, 0, 2, 1, 0, 2; agent 3 has none.
    let index = AgentOffers::new(&[2, 0, 2, 1, 0, 2], 4);
    assert_eq!(index.of(0), &[1, 4]);
    assert_eq!(index.of(1), &[3]);
    assert_eq!(index.of(2), &[0, 2, 5]);
    assert_eq!(index.of(3), &[] as &[usize]);
    assert_eq!(index.of(4), &[] as &[usize]);
    let empty = AgentOffers::new(&[], 0);
    assert_eq!(empty.of(0), &[] as &[usize]);
}

#[test]
fn several_offers_of_one_agent_are_all_preferred_for_mux() {
    // Agent S2 runs a task of the app and has two offers, interleaved with
    // another agent's: both of S2's come first, in offer order.
    let offers = vec![
        basic("o0", "S1", 1.0, 1024.0),
        basic("o1", "S2", 1.0, 1024.0),
        basic("o2", "S1", 1.0, 1024.0),
        basic("o3", "S2", 1.0, 1024.0),
    ];
    let a = app(json!({"cpu": 1.0, "mem": 16}));
    let tasks = HashMap::from([("S2".to_string(), 1)]);
    let out = place(&offers, &[demand(&a, 3, &tasks)], "*");
    assert_eq!(offers_of(&out), vec![1, 3, 0]);
}

#[test]
fn a_placement_copies_each_carved_entry_once_with_its_share() {
    // cpus over two entries, mem from one, two port ranges from one entry.
    let offers = vec![offer(
        "o",
        "S1",
        vec![
            scalar("cpus", 0.25),
            scalar("cpus", 1.0),
            scalar("mem", 512.0),
            ports_in(&[(31000, 31000), (31005, 31010)], "*"),
        ],
    )];
    let a = app(json!({"cpu": 0.5, "mem": 100, "ports": 2}));
    let out = place(&offers, &[demand(&a, 1, &no_tasks())], "*");
    let p = &out.placements[0];
    let scalars: Vec<(&str, Option<f64>)> = p
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.scalar.map(|s| s.value)))
        .collect();
    assert_eq!(
        scalars,
        vec![
            ("cpus", Some(0.25)),
            ("cpus", Some(0.25)),
            ("mem", Some(100.0)),
            ("ports", None)
        ]
    );
    let ranges: Vec<(u64, u64)> = p.resources[3]
        .ranges
        .iter()
        .flat_map(|r| r.range.iter().map(|x| (x.begin, x.end)))
        .collect();
    assert_eq!(ranges, vec![(31000, 31000), (31005, 31005)]);
    assert_eq!(p.ports, vec![31000, 31005]);
    assert_contained(&offers, &out);
}

#[test]
fn offers_with_the_roles_reservations_are_used_before_the_shared_pool() {
    // a1 and a3 are unreserved; a2 holds 1 cpu and 256 MB dynamically
    // reserved to eng (labels and all), which must come back as offered.
    let dynamic = |mut r: v1::Resource| {
        r.reservations = vec![ReservationInfo {
            r#type: Some(v1::resource::reservation_info::Type::Dynamic as i32),
            role: Some("eng".into()),
            labels: Some(v1::Labels {
                labels: vec![v1::Label {
                    key: "owner".into(),
                    value: Some("eng".into()),
                }],
            }),
            ..Default::default()
        }];
        r
    };
    let offers = [
        offer_in(
            "o1",
            "a1",
            "eng",
            vec![
                scalar_in("cpus", 4.0, "eng", "*"),
                scalar_in("mem", 4096.0, "eng", "*"),
            ],
        ),
        offer_in(
            "o2",
            "a2",
            "eng",
            vec![
                scalar_in("cpus", 4.0, "eng", "*"),
                scalar_in("mem", 4096.0, "eng", "*"),
                dynamic(scalar_in("cpus", 1.0, "eng", "*")),
                dynamic(scalar_in("mem", 256.0, "eng", "*")),
            ],
        ),
        offer_in(
            "o3",
            "a3",
            "eng",
            vec![
                scalar_in("cpus", 4.0, "eng", "*"),
                scalar_in("mem", 4096.0, "eng", "*"),
            ],
        ),
    ];
    let tasks = no_tasks();
    for strategy in [json!({}), unique()] {
        let web = app_with(
            json!({"cpu": 0.25, "mem": 32, "role": "eng"}),
            strategy.clone(),
        );
        let out = place(&offers, &[demand(&web, 1, &tasks)], "*");
        assert_eq!(
            offers_of(&out),
            vec![1],
            "{strategy}: the reserved agent first"
        );
        let placed = &out.placements[0].resources;
        assert!(
            placed.iter().all(|r| r.reservations.len() == 1
                && r.reservations[0].r#type
                    == Some(v1::resource::reservation_info::Type::Dynamic as i32)
                && r.reservations[0]
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.labels.len() == 1)),
            "{strategy}: carved from the reservation as offered: {placed:?}"
        );
    }
    // MUX: four fit in the reservation, the fifth goes where the app runs.
    let web = app(json!({"cpu": 0.25, "mem": 32, "role": "eng"}));
    let out = place(&offers, &[demand(&web, 5, &tasks)], "*");
    assert_eq!(offers_of(&out), vec![1, 1, 1, 1, 1]);
    let reserved_cpu: i64 = out
        .placements
        .iter()
        .flat_map(|p| &p.resources)
        .filter(|r| r.name == "cpus" && !r.reservations.is_empty())
        .filter_map(|r| r.scalar.map(|s| (s.value * 1000.0).round() as i64))
        .sum();
    assert_eq!(reserved_cpu, 1000, "the whole reservation is used first");
    // Another role's app never sees a2's reservation first.
    let other = app(json!({"cpu": 0.25, "mem": 32}));
    let offers_star: Vec<v1::Offer> = offers
        .iter()
        .cloned()
        .map(|mut o| {
            for r in &mut o.resources {
                r.allocation_info = Some(AllocationInfo {
                    role: Some("*".into()),
                });
            }
            o
        })
        .collect();
    let out = place(&offers_star, &[demand(&other, 1, &tasks)], "*");
    assert_eq!(
        offers_of(&out),
        vec![0],
        "offer order for a role without reservations"
    );
}
