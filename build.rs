//! Generates Rust types for the Mesos v1 protobufs and Hydrogen's own API with
//! a pure-Rust compiler (protox): no system `protoc` needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let protos = [
        "proto/mesos/v1/mesos.proto",
        "proto/mesos/v1/scheduler.proto",
        "proto/mesos/v1/allocator/allocator.proto",
        "proto/mesos/v1/maintenance/maintenance.proto",
        "proto/mesos/v1/master/master.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    // The descriptor set is embedded so the JSON face can transcode with the
    // exact field names and enum names Mesos uses on the wire.
    std::fs::write(
        out_dir.join("mesos_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    prost_build::Config::new()
        .enable_type_names()
        .bytes(["."])
        .compile_fds(descriptors)?;

    // Hydrogen's API: tonic client and server stubs, plus the descriptor set
    // that gRPC server reflection serves (so grpcurl works without the file).
    let api = ["proto/hydrogen/v1/app.proto"];
    for p in &api {
        println!("cargo:rerun-if-changed={p}");
    }
    let api_descriptors = protox::compile(api, ["proto"])?;
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
