//! Bodies as Mesos encodes them: `application/x-protobuf`, or
//! `application/json` with the proto field names (`framework_id`, not
//! `frameworkId`), enum values by name, 64-bit integers as JSON numbers and
//! bytes as base64 — Mesos's own JSON mapping, which differs from proto3's.
//!
//! JSON goes through the embedded descriptor set (prost-reflect), so every
//! message of the subset has a JSON face without hand-written serde code, and
//! unknown JSON fields are ignored as Mesos ignores them.

use std::sync::LazyLock;

use prost::{Message, Name};
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, ReflectMessage, SerializeOptions, Value,
};

use super::DESCRIPTOR_SET;

/// `Content-Type` of protobuf bodies and streams.
pub const PROTOBUF: &str = "application/x-protobuf";
/// `Content-Type` of JSON bodies and streams.
pub const JSON: &str = "application/json";

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    // The descriptor set is produced by our own build script from the same
    // files the types were generated from; failing to load it is a build bug.
    DescriptorPool::decode(DESCRIPTOR_SET).expect("embedded Mesos descriptor set is valid")
});

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("failed to parse protobuf {message}: {source}")]
    Protobuf {
        message: &'static str,
        source: prost::DecodeError,
    },
    #[error("failed to parse JSON {message}: {source}")]
    Json {
        message: &'static str,
        source: serde_json::Error,
    },
    #[error("no descriptor for message {0} (it is not in our Mesos proto subset)")]
    UnknownMessage(String),
}

/// The two body encodings of the v1 API (also `--mesos-encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The media type, as sent in `Content-Type` and `Accept`.
    pub fn media_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }

    /// The encoding named by a request's `Content-Type`. Like the master, only
    /// the exact media types are accepted: a `; charset=...` suffix is a 415
    /// on real Mesos, so it is refused here too.
    pub fn from_content_type(value: &str) -> Option<Self> {
        match value {
            PROTOBUF => Some(Encoding::Protobuf),
            JSON => Some(Encoding::Json),
            _ => None,
        }
    }

    /// The stream encoding the master picks for an `Accept` header: JSON when
    /// JSON is acceptable (including no header and `*/*`), else protobuf when
    /// that is, else none (the master answers 406).
    pub fn negotiate(accept: Option<&str>) -> Option<Self> {
        let Some(accept) = accept else {
            return Some(Encoding::Json);
        };
        if accepts(accept, JSON) {
            Some(Encoding::Json)
        } else if accepts(accept, PROTOBUF) {
            Some(Encoding::Protobuf)
        } else {
            None
        }
    }

    /// Serializes a message.
    pub fn encode<M: Message + Name>(self, message: &M) -> Vec<u8> {
        match self {
            Encoding::Protobuf => message.encode_to_vec(),
            Encoding::Json => to_json(message),
        }
    }

    /// Parses a message.
    pub fn decode<M: Message + Name + Default>(self, bytes: &[u8]) -> Result<M, CodecError> {
        match self {
            Encoding::Protobuf => M::decode(bytes).map_err(|source| CodecError::Protobuf {
                message: short_name::<M>(),
                source,
            }),
            Encoding::Json => from_json(bytes),
        }
    }
}

fn short_name<M: Name>() -> &'static str {
    M::NAME
}

/// Whether an `Accept` header value admits `media` (`type/subtype`), honouring
/// wildcards and `q=0` exclusions.
fn accepts(accept: &str, media: &str) -> bool {
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let candidate = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let specificity = if candidate == media {
            3
        } else if candidate == format!("{kind}/*") {
            2
        } else if candidate == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.is_some_and(|(_, q)| q > 0.0)
}

fn descriptor<M: Name>() -> Result<prost_reflect::MessageDescriptor, CodecError> {
    let full = M::full_name();
    POOL.get_message_by_name(&full)
        .ok_or(CodecError::UnknownMessage(full))
}

/// Mesos-style JSON for a message.
pub fn to_json<M: Message + Name>(message: &M) -> Vec<u8> {
    to_json_value(message).map_or_else(|| b"{}".to_vec(), |v| v.to_string().into_bytes())
}

/// Mesos-style JSON for a message, as a value (for embedding in documents).
///
/// Like stout's writer (`json(ObjectWriter*, const Protobuf&)` in
/// `3rdparty/stout/include/stout/protobuf.hpp`, used by the master's
/// `serialize` for events and by `JSON::Protobuf` in its endpoints), this
/// writes every set field *and* every unset non-repeated field that has an
/// explicit `[default = ...]` and is not deprecated: an unset
/// `Filters.refuse_seconds` is written as `5.0`, an unset
/// `NetworkInfo.IPAddress.protocol` as `"IPv4"`, but the deprecated
/// `Resource.role` (`[default = "*"]`) is not. Unset fields without an
/// explicit default, empty repeated fields and unset messages are left out.
///
/// So a JSON round trip, as with Mesos, turns such unset fields into set
/// ones: the values read back through the accessors are the same, but a
/// prost struct with `None` comes back with `Some(default)`.
pub fn to_json_value<M: Message + Name>(message: &M) -> Option<serde_json::Value> {
    let desc = descriptor::<M>().ok()?;
    let mut dynamic = DynamicMessage::decode(desc, message.encode_to_vec().as_slice()).ok()?;
    fill_explicit_defaults(&mut dynamic);
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(true);
    let mut out = serde_json::Serializer::new(Vec::new());
    dynamic.serialize_with_options(&mut out, &options).ok()?;
    serde_json::from_slice(&out.into_inner()).ok()
}

/// Sets, at every depth, the unset fields stout's JSON writer emits with
/// their default: non-repeated, an explicit `[default = ...]`, not
/// deprecated (`reflection->HasField(message, field) ||
/// (field->has_default_value() && !field->options().deprecated())`).
fn fill_explicit_defaults(message: &mut DynamicMessage) {
    let desc = message.descriptor();
    for field in desc.fields() {
        if message.has_field(&field) {
            match message.get_field_mut(&field) {
                Value::Message(sub) => fill_explicit_defaults(sub),
                Value::List(items) => {
                    for item in items {
                        if let Value::Message(sub) = item {
                            fill_explicit_defaults(sub);
                        }
                    }
                }
                Value::Map(entries) => {
                    for value in entries.values_mut() {
                        if let Value::Message(sub) = value {
                            fill_explicit_defaults(sub);
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        let raw = field.field_descriptor_proto();
        let deprecated = raw.options.as_ref().is_some_and(|o| o.deprecated());
        // A oneof member is left alone: setting it would clear the member
        // that is set (no member of a Mesos oneof has a default anyway).
        if field.is_list()
            || field.is_map()
            || raw.default_value.is_none()
            || deprecated
            || field.containing_oneof().is_some()
        {
            continue;
        }
        message.set_field(&field, field.default_value());
    }
}

/// Parses Mesos-style JSON (proto field names or their lowerCamel forms; enum
/// names or numbers; 64-bit integers as numbers or strings; unknown fields
/// ignored).
pub fn from_json<M: Message + Name + Default>(bytes: &[u8]) -> Result<M, CodecError> {
    let desc = descriptor::<M>()?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let dynamic =
        DynamicMessage::deserialize_with_options(desc, &mut de, &options).map_err(|source| {
            CodecError::Json {
                message: short_name::<M>(),
                source,
            }
        })?;
    de.end().map_err(|source| CodecError::Json {
        message: short_name::<M>(),
        source,
    })?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|source| CodecError::Protobuf {
        message: short_name::<M>(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_master() {
        assert_eq!(Encoding::negotiate(None), Some(Encoding::Json));
        assert_eq!(Encoding::negotiate(Some("*/*")), Some(Encoding::Json));
        assert_eq!(
            Encoding::negotiate(Some(PROTOBUF)),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::negotiate(Some("application/json")),
            Some(Encoding::Json)
        );
        assert_eq!(
            Encoding::negotiate(Some("application/x-protobuf, application/json;q=0")),
            Some(Encoding::Protobuf)
        );
        assert_eq!(Encoding::negotiate(Some("text/html")), None);
        assert_eq!(
            Encoding::negotiate(Some("application/*")),
            Some(Encoding::Json)
        );
    }

    #[test]
    fn content_type_must_be_exact() {
        assert_eq!(
            Encoding::from_content_type(PROTOBUF),
            Some(Encoding::Protobuf)
        );
        assert_eq!(Encoding::from_content_type(JSON), Some(Encoding::Json));
        assert_eq!(
            Encoding::from_content_type("application/json; charset=utf-8"),
            None
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
        assert_eq!(
            Encoding::from_content_type("application/x-www-form-urlencoded"),
            None
        );
    }

    use crate::v1::scheduler::{Event, event};
    use crate::v1::{self, value};

    fn offer_event() -> Event {
        Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(event::Offers {
                offers: vec![v1::Offer {
                    id: v1::OfferId { value: "o1".into() },
                    framework_id: v1::FrameworkId { value: "f1".into() },
                    agent_id: v1::AgentId { value: "a1".into() },
                    hostname: "agent-1".into(),
                    resources: vec![v1::Resource {
                        name: "ports".into(),
                        r#type: value::Type::Ranges as i32,
                        ranges: Some(value::Ranges {
                            range: vec![value::Range {
                                begin: 31000,
                                end: 32000,
                            }],
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn json_uses_the_mesos_mapping() {
        let json: serde_json::Value =
            serde_json::from_slice(&Encoding::Json.encode(&offer_event())).expect("valid json");
        assert_eq!(json["type"], "OFFERS");
        let offer = &json["offers"]["offers"][0];
        assert_eq!(offer["agent_id"]["value"], "a1");
        assert_eq!(offer["resources"][0]["type"], "RANGES");
        // 64-bit integers stay numbers, as Mesos writes them.
        assert_eq!(offer["resources"][0]["ranges"]["range"][0]["begin"], 31000);
    }

    #[test]
    fn json_and_protobuf_round_trip() {
        let original = offer_event();
        for encoding in [Encoding::Json, Encoding::Protobuf] {
            let back: Event = encoding
                .decode(&encoding.encode(&original))
                .expect("round trip");
            assert_eq!(back, original, "{encoding:?}");
        }
    }

    #[test]
    fn json_ignores_unknown_fields_and_takes_strings_for_int64() {
        let body = br#"{"type":"OFFERS","future_field":{"x":1},"offers":{"offers":[{"id":{"value":"o"},"framework_id":{"value":"f"},"agent_id":{"value":"a"},"hostname":"h","resources":[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":"1","end":"2"}]}}]}]}}"#;
        let event: Event = Encoding::Json.decode(body).expect("tolerant parse");
        let offers = event.offers.expect("offers");
        let range = &offers.offers[0].resources[0]
            .ranges
            .as_ref()
            .expect("ranges")
            .range[0];
        assert_eq!((range.begin, range.end), (1, 2));
    }

    #[test]
    fn bytes_are_base64_in_json() {
        let status = v1::TaskStatus {
            task_id: v1::TaskId { value: "t".into() },
            state: v1::TaskState::TaskRunning as i32,
            uuid: Some(bytes::Bytes::from_static(&[0xff; 16])),
            ..Default::default()
        };
        let json: serde_json::Value =
            serde_json::from_slice(&Encoding::Json.encode(&status)).expect("json");
        assert_eq!(json["uuid"], "/////////////////////w==");
        assert_eq!(json["state"], "TASK_RUNNING");
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert!(Encoding::Json.decode::<Event>(b"{not json").is_err());
        assert!(Encoding::Json.decode::<Event>(br#"{"offers":5}"#).is_err());
        assert!(
            Encoding::Json
                .decode::<Event>(br#"{"type":"OFFERS"} trailing"#)
                .is_err()
        );
        assert!(
            Encoding::Protobuf
                .decode::<Event>(&[0xff, 0xff, 0xff])
                .is_err()
        );
    }

    #[test]
    fn unknown_enum_names_from_a_newer_master_leave_the_field_unset() {
        let event: Event = Encoding::Json
            .decode(br#"{"type":"SOME_FUTURE_EVENT"}"#)
            .expect("tolerated");
        assert_eq!(event.r#type(), event::Type::Unknown);
    }

    fn json_of<M: Message + Name>(message: &M) -> serde_json::Value {
        serde_json::from_slice(&to_json(message)).expect("valid json")
    }

    /// stout's JSON writer (`json(ObjectWriter*, const Protobuf&)`,
    /// 3rdparty/stout/include/stout/protobuf.hpp) writes unset fields that
    /// have an explicit, non-deprecated default.
    #[test]
    fn json_writes_unset_fields_with_explicit_defaults() {
        assert_eq!(
            json_of(&v1::Filters::default()),
            serde_json::json!({"refuse_seconds": 5.0})
        );
        // Nested, and inside a repeated field.
        let network = v1::NetworkInfo {
            ip_addresses: vec![
                v1::network_info::IpAddress {
                    ip_address: Some("10.0.0.1".into()),
                    ..Default::default()
                },
                v1::network_info::IpAddress {
                    protocol: Some(v1::network_info::Protocol::IPv6 as i32),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            json_of(&network),
            serde_json::json!({"ip_addresses": [
                {"protocol": "IPv4", "ip_address": "10.0.0.1"},
                {"protocol": "IPv6"},
            ]})
        );
        // `failover_timeout` and `checkpoint` have defaults; the deprecated
        // `role` (default "*") does not appear; `user` and `name` are
        // required, so always present.
        assert_eq!(
            json_of(&v1::FrameworkInfo::default()),
            serde_json::json!({"user": "", "name": "", "failover_timeout": 0.0, "checkpoint": false})
        );
        let command = json_of(&v1::CommandInfo {
            uris: vec![v1::command_info::Uri {
                value: "http://x/y.tgz".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(command["shell"], true);
        assert_eq!(
            command["uris"][0],
            serde_json::json!({"value": "http://x/y.tgz", "extract": true})
        );
        let check = json_of(&v1::HealthCheck {
            r#type: Some(v1::health_check::Type::Tcp as i32),
            tcp: Some(v1::health_check::TcpCheckInfo {
                port: 80,
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            check,
            serde_json::json!({
                "delay_seconds": 15.0, "interval_seconds": 10.0, "timeout_seconds": 20.0,
                "consecutive_failures": 3, "grace_period_seconds": 10.0,
                "type": "TCP", "tcp": {"port": 80, "protocol": "IPv4"},
            })
        );
        let image = json_of(&v1::Image {
            r#type: v1::image::Type::Docker as i32,
            ..Default::default()
        });
        assert_eq!(image, serde_json::json!({"type": "DOCKER", "cached": true}));
    }

    #[test]
    fn set_fields_win_over_defaults_and_unset_messages_stay_out() {
        assert_eq!(
            json_of(&v1::Filters {
                refuse_seconds: Some(1.5)
            }),
            serde_json::json!({"refuse_seconds": 1.5})
        );
        // The Resource of `offer_event` has only the deprecated default.
        let json: serde_json::Value =
            serde_json::from_slice(&Encoding::Json.encode(&offer_event())).expect("json");
        let resource = &json["offers"]["offers"][0]["resources"][0];
        assert!(resource.get("role").is_none(), "{resource}");
        // TaskInfo has no defaults of its own, and its unset messages (whose
        // fields have defaults) are not written.
        let task = json_of(&v1::TaskInfo::default());
        assert_eq!(
            task,
            serde_json::json!({"name": "", "task_id": {"value": ""}, "agent_id": {"value": ""}})
        );
    }

    /// As with Mesos, a JSON round trip sets the defaulted fields: the
    /// values are the same, and the JSON is a fixed point.
    #[test]
    fn json_round_trip_of_defaults_keeps_the_values() {
        let filters: v1::Filters =
            from_json(&to_json(&v1::Filters::default())).expect("round trip");
        assert_eq!(filters.refuse_seconds, Some(5.0));
        assert_eq!(
            filters.refuse_seconds(),
            v1::Filters::default().refuse_seconds()
        );
        let info = v1::FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            ..Default::default()
        };
        let json = to_json(&info);
        let back: v1::FrameworkInfo = from_json(&json).expect("round trip");
        assert_eq!(back.failover_timeout(), info.failover_timeout());
        assert_eq!(back.checkpoint(), info.checkpoint());
        assert!(
            !String::from_utf8_lossy(&json).contains("\"role\""),
            "deprecated default not written"
        );
        assert_eq!(to_json(&back), json);
        // Protobuf bytes of the read-back message decode to what Mesos sees.
        assert_eq!(
            Encoding::Protobuf
                .decode::<v1::FrameworkInfo>(&Encoding::Protobuf.encode(&back))
                .expect("protobuf"),
            back
        );
    }

    /// No Mesos oneof member has a default (the writer skips oneof members
    /// so as not to clear the one that is set).
    #[test]
    fn no_oneof_member_has_an_explicit_default() {
        for message in POOL.all_messages() {
            for field in message.fields() {
                assert!(
                    field.containing_oneof().is_none()
                        || field.field_descriptor_proto().default_value.is_none(),
                    "{}",
                    field.full_name()
                );
            }
        }
    }

    /// Inputs the `mesos_event_stream` fuzz target once failed on
    /// (tests/fuzz-regressions/mesos_event_stream/, in the target's layout:
    /// byte 0 = number of chunk-size bytes, then the RecordIO stream). Each
    /// event decodes, re-encodes to the same protobuf bytes, and its JSON is
    /// a fixed point. `nan-cpus-offer`: an offer whose `cpus` is NaN.
    #[test]
    fn fuzz_regressions_decode_and_round_trip() {
        use tokio_util::codec::Decoder;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fuzz-regressions/mesos_event_stream");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("regression dir") {
            let path = entry.expect("dir entry").path();
            let data = std::fs::read(&path).expect("regression input");
            let skip = 1 + usize::from(data[0] % 8);
            let mut buf = bytes::BytesMut::from(&data[skip.min(data.len())..]);
            let mut codec = super::super::recordio::RecordIoCodec::default();
            while let Ok(Some(record)) = codec.decode(&mut buf) {
                let Ok(event) = Encoding::Protobuf.decode::<Event>(&record) else {
                    continue;
                };
                let bytes = Encoding::Protobuf.encode(&event);
                let again: Event = Encoding::Protobuf.decode(&bytes).expect("re-decode");
                assert_eq!(Encoding::Protobuf.encode(&again), bytes, "{path:?}");
                let json = to_json(&event);
                let back: Event = from_json(&json).expect("our JSON reads back");
                assert_eq!(to_json(&back), json, "{path:?}");
                seen += 1;
            }
        }
        assert!(seen > 0, "no event decoded from {dir:?}");
    }

    #[test]
    fn proto2_defaults_hold() {
        assert_eq!(v1::Filters::default().refuse_seconds(), 5.0);
        assert_eq!(v1::FrameworkInfo::default().failover_timeout(), 0.0);
        assert!(v1::CommandInfo::default().shell());
    }
}
