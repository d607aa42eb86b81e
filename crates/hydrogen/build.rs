//! Generates Hydrogen's own API (`proto/hydrogen/v1/`) with a pure-Rust
//! compiler (protox): no system `protoc` needed. The Mesos protos are the
//! `hydrogen-mesos` crate's.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // Hydrogen's API: tonic client and server stubs, plus the descriptor set
    // that gRPC server reflection serves (so grpcurl works without the file).
    let api = ["../../proto/hydrogen/v1/app.proto"];
    for p in &api {
        println!("cargo:rerun-if-changed={p}");
    }
    let api_descriptors = protox::compile(api, ["../../proto"])?;
    std::fs::write(
        out_dir.join("hydrogen_descriptor.bin"),
        prost::Message::encode_to_vec(&api_descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .btree_map(".")
        .codec_path("crate::api::codec::ProtoCodec")
        .compile_fds(api_descriptors)?;
    Ok(())
}
