//! Compiles `proto/` with protox, a pure-Rust protobuf compiler, so no `protoc` install is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [root.join("tempopb/tempo.proto"), root.join("strandpb/internal.proto")];
    let includes = [root.clone(), root.join("extern")];
    let descriptors = protox::compile(files, includes)?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Pushed trace bytes are sliced out of the request buffer instead of copied.
        .bytes(".strandpb.TraceBytes.trace")
        .extern_path(".opentelemetry.proto.trace.v1", "::opentelemetry_proto::tonic::trace::v1")
        .extern_path(".opentelemetry.proto.common.v1", "::opentelemetry_proto::tonic::common::v1")
        .compile_fds(descriptors)?;

    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
