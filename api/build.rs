//! Compiles proto/northbound.proto (our management API) and proto/gnmi.proto
//! (gNMI 0.10) with protox (pure Rust: no protoc needed) into client and
//! server stubs.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = protox::compile(["proto/northbound.proto", "proto/gnmi.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(files)?;
    println!("cargo:rerun-if-changed=proto/northbound.proto");
    println!("cargo:rerun-if-changed=proto/gnmi.proto");
    Ok(())
}
