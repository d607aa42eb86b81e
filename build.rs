//! Generates Rust types for the Mesos v1 protobufs (and, from the API issue on,
//! Hydrogen's own API) with a pure-Rust compiler: no system `protoc` needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/mesos/v1/mesos.proto",
        "proto/mesos/v1/scheduler.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
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
    Ok(())
}
