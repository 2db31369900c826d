//! Stored bytes per span: what a fixed set of spans costs on disk once strand has written it as
//! blocks, against the same-run baselines of the raw OTLP protobuf and zstd-3 of that protobuf.
//!
//! The spans go in over OTLP/gRPC (8 exporters), `POST /flush` waits until every block is
//! written, then every file under the blocks folder is summed and divided by the spans
//! acknowledged.
//!
//! `cargo bench --bench storage`; `STRAND_BENCH_SPANS` (default 1,000,000) and
//! `STRAND_BENCH_SECONDS` (default 30; the ingest stops there if the spans are not all in).

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::data::{Dataset, SEED, SPANS_PER_REQUEST};
use common::load::{self, Plan, Transport};
use common::report::Report;
use common::server::{self, Server};
use common::{bench_duration, env_u64};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUESTS: usize = 400;
const CLIENTS: usize = 8;
const ZSTD_LEVEL: i32 = 3;

fn main() -> anyhow::Result<()> {
    let mut report = Report::new("storage");
    let target_spans = env_u64("STRAND_BENCH_SPANS", 1_000_000);
    let seconds = bench_duration(30);
    let data = Arc::new(Dataset::generate(REQUESTS, SEED)?);
    let raw_per_span = data.bytes as f64 / data.spans as f64;
    let mut zstd_bytes = 0u64;
    for request in &data.requests {
        zstd_bytes += zstd::bulk::compress(&request.bytes, ZSTD_LEVEL)?.len() as u64;
    }
    let zstd_per_span = zstd_bytes as f64 / data.spans as f64;
    println!(
        "baselines over {} requests: raw OTLP {raw_per_span:.1} B/span, zstd-{ZSTD_LEVEL} per request {zstd_per_span:.1} B/span",
        REQUESTS
    );

    let requests = target_spans.div_ceil(SPANS_PER_REQUEST as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let folder = tempfile::tempdir()?;
    let measured = runtime.block_on(async {
        let server = Server::start(folder.path()).await?;
        println!(
            "ingesting {} spans over OTLP/gRPC (stopping after {seconds:?} if not done)...",
            requests * SPANS_PER_REQUEST as u64
        );
        let plan = Plan { first: 0, end: Some(requests), deadline: Some(Instant::now() + seconds) };
        let load = load::drive(Transport::Grpc, &server.otlp_grpc, Arc::clone(&data), CLIENTS, plan).await?;
        let flush = server.flush().await?;
        let peak_rss = server.peak_rss_bytes()?;
        let problems = server.log_problems();
        let blocks = server::sizes_by_name(&server.blocks_dir())?;
        let metas = server::block_metas(&server.blocks_dir())?;
        // The ingester keeps flushed head blocks on local disk for `complete_block_timeout`.
        let wal_left = server::sizes_by(&folder.path().join("wal"), |name| match name.rsplit_once('.') {
            Some((_, extension)) => format!("*.{extension}"),
            None => name.to_string(),
        })
        .unwrap_or_default();
        server.stop().await?;
        anyhow::Ok((load, flush, peak_rss, problems, blocks, metas, wal_left))
    })?;
    let (load, flush, peak_rss, problems, files, metas, wal_left) = measured;
    for sample in &load.failure_samples {
        eprintln!("failure: {sample}");
    }

    let spans = load.spans as f64;
    let total: u64 = files.values().map(|(_, bytes)| bytes).sum();
    let of = |name: &str| files.get(name).map(|(_, bytes)| *bytes).unwrap_or(0);
    let stored_spans: u64 = metas.iter().filter_map(|m| m["totalSpans"].as_u64()).sum();
    let stored_traces: u64 = metas.iter().filter_map(|m| m["totalTraces"].as_u64()).sum();

    report.add("spans acknowledged", spans, "spans");
    report.compare("spans in blocks (meta.json totalSpans)", stored_spans as f64, "spans", spans, "acknowledged");
    report.add("traces in blocks", stored_traces as f64, "traces");
    report.add("blocks written", metas.len() as f64, "blocks");
    report.compare(
        "stored bytes / span (all files) vs raw",
        total as f64 / spans,
        "B/span",
        raw_per_span,
        "raw OTLP protobuf",
    );
    report.compare(
        "stored bytes / span (all files) vs zstd",
        total as f64 / spans,
        "B/span",
        zstd_per_span,
        "zstd-3 of OTLP, per request",
    );
    report.compare(
        "data.parquet bytes / span",
        of("data.parquet") as f64 / spans,
        "B/span",
        zstd_per_span,
        "zstd-3 of OTLP, per request",
    );
    report.add("filter bytes / span", of("filter") as f64 / spans, "B/span");
    report.add("meta.json bytes / block", of("meta.json") as f64 / metas.len().max(1) as f64, "B");
    report.add("ingest rate (wall clock, 2 cores shared with the load)", spans / load.wall.as_secs_f64(), "spans/s");
    report.add("/flush", flush.as_secs_f64(), "s");
    let local: u64 = wal_left.values().map(|(_, bytes)| bytes).sum();
    report.add("ingester local disk (wal folder) after /flush", local as f64 / spans, "B/span");
    report.add("server peak RSS", peak_rss as f64 / (1 << 20) as f64, "MiB");
    for (name, (count, bytes)) in &files {
        report.note(format!("{name}: {count} file(s), {bytes} bytes ({:.2} B/span)", *bytes as f64 / spans));
    }
    for (name, (count, bytes)) in &wal_left {
        report.note(format!("wal folder after /flush: {name}: {count} file(s), {bytes} bytes"));
    }
    if load.spans < target_spans {
        report.note(format!("only {} of the {target_spans} spans were sent within {seconds:?}", load.spans));
    }
    if !problems.is_empty() {
        report.note(format!("the server logged {} warnings/errors, first: {}", problems.len(), problems[0]));
    }
    report.note("synthetic data: 8 routes, 4 user agents, 20 resources; real data compresses about 2x worse (reference section 2.1)");
    report.detail(
        "run",
        serde_json::json!({
            "target_spans": target_spans,
            "requests": load.requests,
            "failures": load.failures,
            "failure_samples": load.failure_samples,
            "files": files.iter().map(|(k, v)| (k.clone(), serde_json::json!({ "count": v.0, "bytes": v.1 }))).collect::<serde_json::Map<_, _>>(),
            "total_bytes": total,
            "raw_otlp_bytes_per_span": raw_per_span,
            "zstd3_otlp_bytes_per_span": zstd_per_span,
            "server_warnings": problems,
        }),
    );
    report.print();
    println!("written to {}", report.write_json()?.display());
    anyhow::ensure!(load.failures == 0, "{} pushes failed; the figures above are not valid", load.failures);
    anyhow::ensure!(
        stored_spans == load.spans,
        "blocks hold {stored_spans} spans but {} were acknowledged",
        load.spans
    );
    Ok(())
}
