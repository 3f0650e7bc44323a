//! Generates the certificate service's gRPC code (`proto/ca.proto`) with the protoc binary that
//! `protoc-bin-vendored` ships, so a new machine needs no system protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(config, &["proto/ca.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto/ca.proto");
    Ok(())
}
