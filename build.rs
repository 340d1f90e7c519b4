//! Generates the remote-write protobuf types with prost-build, compiling the .proto files with
//! protox (pure Rust): no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/prometheus/remote.proto", "proto/io/prometheus/write/v2/types.proto"];
    for f in files.iter().chain(&["proto/prometheus/types.proto"]) {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
