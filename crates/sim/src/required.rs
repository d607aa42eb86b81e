//! proto2 `required` fields, checked as the master's protobuf library does.
//!
//! prost fills an absent required field with its default and never
//! complains, but the master parses calls with C++ protobuf:
//!
//! - a protobuf body goes through `Message::ParseFromString`, which fails
//!   when the parsed message is not `IsInitialized()` (the master answers
//!   `400 Failed to parse body into Call protobuf`);
//! - a JSON body goes through stout's `protobuf::parse<T>`
//!   (`3rdparty/stout/include/stout/protobuf.hpp`, `struct Parse`), which
//!   after filling the message answers
//!   `Error("Missing required fields: " + message.InitializationErrorString())`.
//!
//! `InitializationErrorString` joins `FindInitializationErrors` with `", "`,
//! and that walk (`ReflectionOps::FindInitializationErrors`) first lists
//! the unset required fields of a message in declaration order, then
//! recurses into its *set* message fields in field-number order
//! (`Reflection::ListFields`), prefixing `name.` for a singular field and
//! `name[i].` for an element of a repeated one. [`missing_required`]
//! reproduces that walk over a [`DynamicMessage`] decoded from the raw body,
//! where presence is still known.
//!
//! Fields outside our proto subset are unknown fields to the descriptor pool
//! and cannot be checked; every field our scheduler and the simulator use is
//! in the subset.

use std::sync::LazyLock;

use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage, Value,
};

use hydrogen_mesos::DESCRIPTOR_SET;

static CALL: LazyLock<MessageDescriptor> = LazyLock::new(|| {
    // Produced by our build script from the protos the types come from;
    // failing to load it is a build bug.
    DescriptorPool::decode(DESCRIPTOR_SET)
        .expect("embedded Mesos descriptor set is valid")
        .get_message_by_name("mesos.v1.scheduler.Call")
        .expect("mesos.v1.scheduler.Call is in the descriptor set")
});

/// The required-field paths missing from a protobuf-encoded `Call`, or
/// `None` when the body does not decode at all.
///
/// Every call is checked, 200,000 ACKNOWLEDGEs for a deploy of 100,000
/// tasks among them: a walk of the wire format first answers, without
/// building anything, that nothing is missing (the common case; building
/// the [`DynamicMessage`] was a third of the simulator's CPU in a large
/// deploy). Only when it cannot say so is the message built, for the exact
/// paths.
pub(super) fn missing_in_protobuf_call(body: &[u8]) -> Option<Vec<String>> {
    if complete(&CALL, body) {
        return Some(Vec::new());
    }
    let message = DynamicMessage::decode(CALL.clone(), body).ok()?;
    Some(missing_required(&message))
}

/// Whether the wire bytes of a `desc` message surely hold every required
/// field, at every depth of the messages they hold. False when unsure
/// (something missing, a required enum holding an unknown number, a
/// message field split over several occurrences, bytes that do not parse):
/// the caller then builds the message to know.
fn complete(desc: &MessageDescriptor, mut bytes: &[u8]) -> bool {
    // Required fields seen, by field number: a bit each up to 64, a list
    // beyond (Mesos numbers its fields low; no allocation in practice).
    let mut seen_low: u64 = 0;
    let mut seen_high: Vec<u32> = Vec::new();
    while !bytes.is_empty() {
        let Some(key) = varint(&mut bytes) else {
            return false;
        };
        let (number, wire) = ((key >> 3) as u32, key & 7);
        let field = desc.get_field(number);
        let value: &[u8] = match wire {
            0 => {
                let Some(v) = varint(&mut bytes) else {
                    return false;
                };
                if let Some(f) = &field
                    && f.is_required()
                    && let Kind::Enum(e) = f.kind()
                    && e.get_value(v as i32).is_none()
                {
                    // Unset to C++ protobuf: let the slow path say so.
                    continue;
                }
                &[]
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if bytes.len() < n {
                    return false;
                }
                let (v, rest) = bytes.split_at(n);
                bytes = rest;
                v
            }
            2 => {
                let Some(len) = varint(&mut bytes).and_then(|l| usize::try_from(l).ok()) else {
                    return false;
                };
                if bytes.len() < len {
                    return false;
                }
                let (v, rest) = bytes.split_at(len);
                bytes = rest;
                v
            }
            // Groups are not in the Mesos protos.
            _ => return false,
        };
        let Some(field) = field else {
            continue;
        };
        if let Kind::Message(sub) = field.kind() {
            if wire != 2 || !complete(&sub, value) {
                return false;
            }
            if !field.is_list() && !field.is_map() {
                // A second occurrence merges into the first: leave that
                // to the slow path.
                if seen(seen_low, &seen_high, number) {
                    return false;
                }
                mark(&mut seen_low, &mut seen_high, number);
                continue;
            }
        }
        if field.is_required() {
            mark(&mut seen_low, &mut seen_high, number);
        }
    }
    desc.fields()
        .filter(|f| f.is_required())
        .all(|f| seen(seen_low, &seen_high, f.number()))
}

fn mark(low: &mut u64, high: &mut Vec<u32>, number: u32) {
    if (1..=64).contains(&number) {
        *low |= 1 << (number - 1);
    } else if !high.contains(&number) {
        high.push(number);
    }
}

fn seen(low: u64, high: &[u32], number: u32) -> bool {
    if (1..=64).contains(&number) {
        low & (1 << (number - 1)) != 0
    } else {
        high.contains(&number)
    }
}

/// A protobuf varint off the front of `bytes`.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

/// The required-field paths missing from a JSON-encoded `Call`, or `None`
/// when the body does not parse (the caller reports parse errors itself).
pub(super) fn missing_in_json_call(body: &[u8]) -> Option<Vec<String>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let message = DynamicMessage::deserialize_with_options(CALL.clone(), &mut de, &options).ok()?;
    de.end().ok()?;
    Some(missing_required(&message))
}

/// `Message::FindInitializationErrors`: every unset required field, at any
/// depth, as protobuf prints its path (`subscribe.framework_info.user`,
/// `accept.operations[0].launch.task_infos[1].name`).
pub(super) fn missing_required(message: &DynamicMessage) -> Vec<String> {
    let mut errors = Vec::new();
    find(message, "", &mut errors);
    errors
}

fn find(message: &DynamicMessage, prefix: &str, errors: &mut Vec<String>) {
    let desc = message.descriptor();
    // Required fields of this message, in declaration order
    // (`descriptor->field(i)`).
    for raw in &desc.descriptor_proto().field {
        let Some(field) = u32::try_from(raw.number())
            .ok()
            .and_then(|n| desc.get_field(n))
        else {
            continue;
        };
        if field.is_required() && !is_set(message, &field) {
            errors.push(format!("{prefix}{}", field.name()));
        }
    }
    // Then the set message fields, in field-number order (`ListFields`).
    for field in desc.fields() {
        if !matches!(field.kind(), Kind::Message(_)) || !message.has_field(&field) {
            continue;
        }
        match message.get_field(&field).as_ref() {
            Value::Message(sub) => find(sub, &format!("{prefix}{}.", field.name()), errors),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(sub) = item {
                        find(sub, &format!("{prefix}{}[{i}].", field.name()), errors);
                    }
                }
            }
            Value::Map(entries) => {
                // A map is a repeated entry message to protobuf; only the
                // value of an entry can be a message with required fields.
                let mut keys: Vec<_> = entries.keys().collect();
                keys.sort_by_key(|k| format!("{k:?}"));
                for (i, key) in keys.into_iter().enumerate() {
                    if let Some(Value::Message(sub)) = entries.get(key) {
                        find(
                            sub,
                            &format!("{prefix}{}[{i}].value.", field.name()),
                            errors,
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// `Reflection::HasField` for a required field. proto2 enums are closed:
/// C++ protobuf moves an unknown number into the unknown fields, so a
/// required enum holding one is unset.
fn is_set(message: &DynamicMessage, field: &FieldDescriptor) -> bool {
    if !message.has_field(field) {
        return false;
    }
    match (field.kind(), message.get_field(field).as_ref()) {
        (Kind::Enum(e), Value::EnumNumber(n)) => e.get_value(*n).is_some(),
        _ => true,
    }
}

/// A protobuf `Call` body from JSON, keeping required fields unset (prost
/// would fill them in), for tests of the HTTP layer.
#[cfg(test)]
pub(super) fn protobuf_call_from_json(json: &str) -> Vec<u8> {
    use prost::Message;
    let mut de = serde_json::Deserializer::from_str(json);
    DynamicMessage::deserialize(CALL.clone(), &mut de)
        .expect("test JSON is a Call")
        .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_missing(body: &str) -> Vec<String> {
        missing_in_json_call(body.as_bytes()).expect("parses")
    }

    #[test]
    fn paths_are_printed_as_protobuf_prints_them() {
        assert_eq!(
            json_missing(r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{}}}"#),
            [
                "subscribe.framework_info.user",
                "subscribe.framework_info.name"
            ]
        );
        assert_eq!(
            json_missing(
                r#"{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"},{}],
                   "operations":[{"type":"LAUNCH","launch":{"task_infos":[
                     {"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"}},
                     {"task_id":{"value":"t2"},"agent_id":{},"resources":[{"type":"SCALAR","scalar":{}}]}]}}]}}"#
            ),
            [
                "accept.offer_ids[1].value",
                "accept.operations[0].launch.task_infos[1].name",
                "accept.operations[0].launch.task_infos[1].agent_id.value",
                "accept.operations[0].launch.task_infos[1].resources[0].name",
                "accept.operations[0].launch.task_infos[1].resources[0].scalar.value",
            ]
        );
    }

    #[test]
    fn complete_calls_and_unset_optional_messages_pass() {
        assert!(json_missing(r#"{"type":"REVIVE","framework_id":{"value":"f"}}"#).is_empty());
        // An unset optional message is not walked; `null` leaves a field unset.
        assert!(json_missing(r#"{"type":"KILL","framework_id":null}"#).is_empty());
        assert_eq!(
            json_missing(r#"{"type":"KILL","kill":{"task_id":null}}"#),
            ["kill.task_id"]
        );
    }

    /// The wire walk says "complete" exactly when the built message has
    /// nothing missing (for bodies without a message field repeated, where
    /// it leaves the answer to the slow path by design).
    #[test]
    fn the_wire_walk_agrees_with_the_built_message() {
        let cases = [
            r#"{"type":"REVIVE","framework_id":{"value":"f"}}"#,
            r#"{"type":"KILL","kill":{"task_id":{"value":"t"}}}"#,
            r#"{"type":"KILL","kill":{"task_id":null}}"#,
            r#"{"type":"KILL","kill":{"task_id":{}}}"#,
            r#"{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAA"}}"#,
            r#"{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"uuid":"AAAA"}}"#,
            r#"{"type":"ACCEPT","accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"n","task_id":{"value":"t"},"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}]}}]}}"#,
            r#"{"type":"ACCEPT","accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"n","task_id":{"value":"t"},"agent_id":{"value":"a"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{}}]}]}}]}}"#,
            r#"{"type":"ACCEPT","accept":{"offer_ids":[{}],"operations":[]}}"#,
        ];
        for json in cases {
            let body = protobuf_call_from_json(json);
            let message = DynamicMessage::decode(CALL.clone(), body.as_slice()).expect("decodes");
            let missing = missing_required(&message);
            assert_eq!(
                complete(&CALL, &body),
                missing.is_empty(),
                "{json}: {missing:?}"
            );
            assert_eq!(missing_in_protobuf_call(&body), Some(missing), "{json}");
        }
        // Bytes that do not parse: unsure, and the slow path says so.
        assert!(!complete(&CALL, &[0x0a, 0x05, 0x01]));
        assert_eq!(missing_in_protobuf_call(&[0x0a, 0x05, 0x01]), None);
    }

    /// prost writes every required field, even one left at its default, so
    /// calls from `hydrogen_mesos::calls` always pass, in both encodings.
    #[test]
    fn calls_built_by_our_client_are_complete() {
        use hydrogen_mesos::calls;
        use hydrogen_mesos::encoding::Encoding;
        use hydrogen_mesos::v1;
        let task = v1::TaskInfo {
            resources: vec![v1::Resource::default()],
            command: Some(v1::CommandInfo::default()),
            ..Default::default()
        };
        let all = [
            calls::subscribe(v1::FrameworkInfo::default()),
            calls::accept(
                vec![calls::offer_id("")],
                vec![calls::launch(vec![task])],
                Some(calls::refuse_for(1.0)),
            ),
            calls::decline(vec![calls::offer_id("o")], None),
            calls::kill(calls::task_id(""), None),
            calls::acknowledge(calls::agent_id(""), calls::task_id(""), Default::default()),
            calls::reconcile(vec![(calls::task_id("t"), Some(calls::agent_id("a")))]),
            calls::teardown(),
        ];
        for call in all {
            let proto = missing_in_protobuf_call(&Encoding::Protobuf.encode(&call));
            assert_eq!(proto, Some(vec![]), "{call:?}");
            let json = missing_in_json_call(&Encoding::Json.encode(&call));
            assert_eq!(json, Some(vec![]), "{call:?}");
        }
    }

    #[test]
    fn a_required_enum_with_an_unknown_number_is_unset() {
        // Resource { name (1) = "cpus", type (2) = 99 }: not a Value.Type.
        let resource = [0x0a, 4, b'c', b'p', b'u', b's', 0x10, 99];
        // Call { request (11) { requests (1) { resources (2) } } }
        let mut request = vec![0x12, resource.len() as u8];
        request.extend_from_slice(&resource);
        let mut requests = vec![0x0a, request.len() as u8];
        requests.extend_from_slice(&request);
        let mut call = vec![0x5a, requests.len() as u8];
        call.extend_from_slice(&requests);
        assert_eq!(
            missing_in_protobuf_call(&call).expect("decodes"),
            ["request.requests[0].resources[0].type"]
        );
    }
}
