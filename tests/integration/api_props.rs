//! Property tests against a live server: arbitrary bytes and arbitrary JSON
//! shapes to the REST parser, arbitrary bytes as protobuf to every gRPC
//! method. Nothing panics or answers 5xx / INTERNAL; every rejection is a
//! 4xx with a JSON `message`, or INVALID_ARGUMENT (NOT_FOUND and friends
//! only for input that decodes to a well-formed request).

use std::sync::{Arc, OnceLock};

use bytes::{Buf, BufMut};
use http::uri::PathAndQuery;
use hydrogen::api::proto as pb;
use proptest::prelude::*;
use prost::Message;
use serde_json::{Value, json};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::api_fixture::{TestServer, app_json, config, start};

/// One server (and runtime) for every case.
fn fixture() -> &'static (tokio::runtime::Runtime, TestServer) {
    static FIXTURE: OnceLock<(tokio::runtime::Runtime, TestServer)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let srv = rt.block_on(start(config(None)));
        (rt, srv)
    })
}

async fn rest_call(srv: &TestServer, method: reqwest::Method, body: Vec<u8>) -> Result<(), String> {
    let resp = srv
        .http
        .request(method.clone(), srv.url("/v1/api/app"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        return Ok(());
    }
    if !status.is_client_error() {
        return Err(format!("{method}: {status} {text}"));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{method}: {e}: {text}"))?;
    if v["message"].as_str().is_none_or(str::is_empty) || v["code"].as_str().is_none() {
        return Err(format!("{method}: error without message/code: {text}"));
    }
    Ok(())
}

fn check_rest(body: Vec<u8>) -> Result<(), TestCaseError> {
    let (rt, srv) = fixture();
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        rt.block_on(rest_call(srv, method, body.clone()))
            .map_err(TestCaseError::fail)?;
    }
    Ok(())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_]{0,8}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("resources".to_owned()),
                    Just("cpu".to_owned()),
                    Just("mem".to_owned()),
                    Just("instances".to_owned()),
                    Just("container".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid app with one key replaced by an arbitrary value.
fn mutated_app() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(vec!["name"]),
            Just(vec!["instances"]),
            Just(vec!["resources"]),
            Just(vec!["resources", "cpu"]),
            Just(vec!["resources", "disk"]),
            Just(vec!["command"]),
            Just(vec!["command", "cmd"]),
            Just(vec!["container"]),
            Just(vec!["filters"]),
            Just(vec!["healthcheck"]),
            Just(vec!["labels"]),
            Just(vec!["strategy"]),
        ],
        arb_json(),
        "[a-z]{1,8}",
    )
        .prop_map(|(path, value, name)| {
            let mut app = app_json(&name, "sleep 1");
            let mut at = &mut app;
            for key in &path[..path.len() - 1] {
                at = &mut at[*key];
            }
            at[path[path.len() - 1]] = value;
            app
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn api_props_rest_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_rest(body)?;
    }

    #[test]
    fn api_props_rest_arbitrary_json(v in arb_json()) {
        check_rest(v.to_string().into_bytes())?;
        check_rest(json!([v]).to_string().into_bytes())?;
    }

    #[test]
    fn api_props_rest_mutated_apps(app in mutated_app()) {
        check_rest(json!([app]).to_string().into_bytes())?;
        check_rest(app.to_string().into_bytes())?;
    }

    #[test]
    fn api_props_grpc_arbitrary_protobuf(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let (rt, srv) = fixture();
        rt.block_on(check_grpc(srv, body)).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn api_props_grpc_mutated_apps(app in mutated_app()) {
        // Whatever JSON spec accepts can be sent as protobuf; a random app
        // that does not parse is skipped (its proto form cannot exist).
        let (rt, srv) = fixture();
        if let Ok(apps) = hydrogen::spec::parse_apps(json!([app]).to_string().as_bytes()) {
            let req = pb::DeployRequest { apps: vec![hydrogen::api::convert::app_to_proto(&apps[0])] };
            rt.block_on(check_grpc(srv, req.encode_to_vec())).map_err(TestCaseError::fail)?;
        }
    }
}

/// Whether bytes decode as a method's request message.
type Decodes = fn(&[u8]) -> bool;

/// Sends raw bytes to every AppService method.
async fn check_grpc(srv: &TestServer, body: Vec<u8>) -> Result<(), String> {
    let channel = grpc_channel(srv).await;
    let methods: [(&'static str, Decodes); 5] = [
        ("Deploy", |b| pb::DeployRequest::decode(b).is_ok()),
        ("Update", |b| pb::UpdateRequest::decode(b).is_ok()),
        ("Kill", |b| pb::KillRequest::decode(b).is_ok()),
        ("State", |b| pb::StateRequest::decode(b).is_ok()),
        ("ListAll", |b| pb::ListAllRequest::decode(b).is_ok()),
    ];
    for (method, decodes) in methods {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.map_err(|e| e.to_string())?;
        let path = PathAndQuery::try_from(format!("/hydrogen.v1.AppService/{method}"))
            .map_err(|e| e.to_string())?;
        let result = grpc
            .unary(tonic::Request::new(body.clone()), path, RawCodec)
            .await;
        let code = match result {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        let ok = if decodes(&body) {
            matches!(
                code,
                Code::Ok
                    | Code::InvalidArgument
                    | Code::NotFound
                    | Code::AlreadyExists
                    | Code::FailedPrecondition
            )
        } else {
            code == Code::InvalidArgument
        };
        if !ok {
            return Err(format!("{method} answered {code:?} to {body:?}"));
        }
    }
    Ok(())
}

async fn grpc_channel(srv: &TestServer) -> tonic::transport::Channel {
    static CHANNEL: OnceLock<Arc<tonic::transport::Channel>> = OnceLock::new();
    if let Some(c) = CHANNEL.get() {
        return (**c).clone();
    }
    let c = srv.channel().await;
    let _ = CHANNEL.set(Arc::new(c.clone()));
    c
}

/// Sends and receives message bytes as they are.
#[derive(Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut out = vec![0; buf.remaining()];
        buf.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}
