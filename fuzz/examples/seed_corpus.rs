//! Writes the committed seed corpora under `fuzz/seeds/` (run on stable:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`).
//!
//! - `rest_app_json`: the repository's example apps, plus the PUT form of one.
//! - `mesos_event_stream`: a SUBSCRIBED, HEARTBEAT, OFFERS, UPDATE, RESCIND,
//!   FAILURE, ERROR stream as a master sends it, framed by our RecordIO
//!   encoder, in protobuf and in Mesos JSON, each with a chunking header
//!   (see the target's input layout).

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use hydrogen::mesos::encoding::Encoding;
use hydrogen::mesos::recordio::write_record;
use hydrogen::mesos::v1::scheduler::{Event, event};
use hydrogen::mesos::v1::{self, value};

fn main() -> std::io::Result<()> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = fuzz.join("../examples");

    let apps = seeds_dir(fuzz, "rest_app_json")?;
    for name in ["test-app.json", "full-enumeration.json"] {
        fs::copy(examples.join(name), apps.join(name))?;
    }
    // PUT takes one object.
    let text = fs::read_to_string(examples.join("test-app.json"))?;
    let object = text.trim().trim_start_matches('[').trim_end_matches(']');
    fs::write(apps.join("put-object.json"), object)?;

    let stream = seeds_dir(fuzz, "mesos_event_stream")?;
    let events = recorded_events();
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let mut framed = BytesMut::new();
        for e in &events {
            write_record(&encoding.encode(e), &mut framed);
        }
        let kind = match encoding {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "json",
        };
        // Whole, and cut in chunks of 1, 7 and 200 bytes.
        fs::write(
            stream.join(format!("{kind}-whole")),
            with_header(&[], &framed),
        )?;
        fs::write(
            stream.join(format!("{kind}-chunked")),
            with_header(&[0, 6, 199], &framed),
        )?;
        for (i, e) in events.iter().enumerate() {
            let mut one = BytesMut::new();
            write_record(&encoding.encode(e), &mut one);
            let name = format!("{kind}-{i}-{:?}", e.r#type()).to_lowercase();
            fs::write(stream.join(name), with_header(&[], &one))?;
        }
    }
    Ok(())
}

fn seeds_dir(fuzz: &Path, target: &str) -> std::io::Result<PathBuf> {
    let dir = fuzz.join("seeds").join(target);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn with_header(sizes: &[u8], stream: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(sizes.len()).unwrap_or(0)];
    out.extend_from_slice(sizes);
    out.extend_from_slice(stream);
    out
}

fn of(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn scalar(name: &str, v: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Default::default()
    }
}

fn recorded_events() -> Vec<Event> {
    let framework_id = v1::FrameworkId {
        value: "5c1e1e8c-0f53-4d6a-9d0f-2f3b5f6a7b8c-0000".into(),
    };
    let agent_id = v1::AgentId {
        value: "5c1e1e8c-0f53-4d6a-9d0f-2f3b5f6a7b8c-S1".into(),
    };
    let subscribed = Event {
        subscribed: Some(event::Subscribed {
            framework_id: framework_id.clone(),
            heartbeat_interval_seconds: Some(15.0),
            master_info: Some(v1::MasterInfo {
                id: "master-1".into(),
                ip: 16_777_343,
                port: 5050,
                pid: Some("master@127.0.0.1:5050".into()),
                hostname: Some("master-1".into()),
                version: Some("1.11.0".into()),
                address: Some(v1::Address {
                    hostname: Some("master-1".into()),
                    ip: Some("127.0.0.1".into()),
                    port: 5050,
                }),
                ..Default::default()
            }),
        }),
        ..of(event::Type::Subscribed)
    };
    let offers = Event {
        offers: Some(event::Offers {
            offers: vec![v1::Offer {
                id: v1::OfferId {
                    value: "5c1e1e8c-O1".into(),
                },
                framework_id: framework_id.clone(),
                agent_id: agent_id.clone(),
                hostname: "agent-1".into(),
                url: Some(v1::Url {
                    scheme: "http".into(),
                    address: v1::Address {
                        hostname: Some("agent-1".into()),
                        ip: Some("10.0.0.11".into()),
                        port: 5051,
                    },
                    path: Some("/slave(1)".into()),
                    query: Vec::new(),
                    fragment: None,
                }),
                resources: vec![
                    scalar("cpus", 8.0),
                    scalar("mem", 31_744.0),
                    scalar("disk", 102_400.0),
                    v1::Resource {
                        name: "ports".into(),
                        r#type: value::Type::Ranges as i32,
                        ranges: Some(value::Ranges {
                            range: vec![value::Range {
                                begin: 31_000,
                                end: 32_000,
                            }],
                        }),
                        ..Default::default()
                    },
                ],
                attributes: vec![
                    v1::Attribute {
                        name: "rack".into(),
                        r#type: value::Type::Text as i32,
                        text: Some(value::Text { value: "r1".into() }),
                        ..Default::default()
                    },
                    v1::Attribute {
                        name: "zone".into(),
                        r#type: value::Type::Set as i32,
                        set: Some(value::Set {
                            item: vec!["a".into(), "b".into()],
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        }),
        ..of(event::Type::Offers)
    };
    let update = Event {
        update: Some(event::Update {
            status: v1::TaskStatus {
                task_id: v1::TaskId {
                    value: "web.0.7e0c4f5e-6d1a-4c53-9a57-1f0b0c1d2e3f".into(),
                },
                state: v1::TaskState::TaskRunning as i32,
                message: Some("container is running".into()),
                source: Some(v1::task_status::Source::Executor as i32),
                agent_id: Some(agent_id.clone()),
                timestamp: Some(1_764_000_000.25),
                uuid: Some(Bytes::from_static(&[7; 16])),
                healthy: Some(true),
                container_status: Some(v1::ContainerStatus {
                    network_infos: vec![v1::NetworkInfo {
                        ip_addresses: vec![v1::network_info::IpAddress {
                            ip_address: Some("10.0.0.11".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
        }),
        ..of(event::Type::Update)
    };
    let rescind = Event {
        rescind: Some(event::Rescind {
            offer_id: v1::OfferId {
                value: "5c1e1e8c-O1".into(),
            },
        }),
        ..of(event::Type::Rescind)
    };
    let failure = Event {
        failure: Some(event::Failure {
            agent_id: Some(agent_id),
            executor_id: None,
            status: None,
        }),
        ..of(event::Type::Failure)
    };
    let error = Event {
        error: Some(event::Error {
            message: "Framework failed over".into(),
        }),
        ..of(event::Type::Error)
    };
    vec![
        subscribed,
        of(event::Type::Heartbeat),
        offers,
        update,
        rescind,
        failure,
        error,
    ]
}
