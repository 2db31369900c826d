//! OTLP ingest throughput, end to end, against the real release binary.
//!
//! Baseline, same run: prost-decoding the identical payloads on one thread, the least work any
//! OTLP receiver must do. Then strand (fresh data folder, fsync on) takes pushes from N
//! concurrent exporters for a fixed time over OTLP/gRPC, then again over OTLP/HTTP protobuf. For
//! each: spans acknowledged per wall-clock second, spans per server CPU-second (the load
//! generator shares the machine, so per-core is the comparable figure), push latency, and the CPU
//! for the whole write path including `/flush` to blocks.
//!
//! `cargo bench --bench ingest`; `STRAND_BENCH_SECONDS` (default 20), `STRAND_BENCH_CLIENTS`
//! (default 8).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::data::{Dataset, SEED};
use common::load::{self, LoadReport, Plan, Transport};
use common::report::Report;
use common::server::{self, Server};
use common::{Percentiles, bench_duration, env_u64, ms, own_cpu_seconds};

// The same allocator as the server, so the decode baseline is like for like.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUESTS: usize = 400;
const DECODE_PASSES: usize = 5;
const WARM_UP: Duration = Duration::from_secs(2);

fn main() -> anyhow::Result<()> {
    let mut report = Report::new("ingest");
    let seconds = bench_duration(20);
    let clients = env_u64("STRAND_BENCH_CLIENTS", 8) as usize;
    let data = Arc::new(Dataset::generate(REQUESTS, SEED)?);
    println!("{}", data.describe());

    let decode = data.prost_decode_rate(DECODE_PASSES)?;
    println!("baseline: prost decode, 1 thread, best of {DECODE_PASSES}: {decode:.0} spans/s");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut runs = Vec::new();
    for transport in [Transport::Grpc, Transport::Http] {
        println!("{}: {clients} exporters for {seconds:?} (after a {WARM_UP:?} warm-up)...", transport.name());
        runs.push(runtime.block_on(run(transport, Arc::clone(&data), clients, seconds))?);
    }

    report.add("OTLP protobuf size", data.bytes as f64 / data.spans as f64, "B/span");
    report.add("baseline: prost decode, 1 thread", decode, "spans/s");
    let mut failures = 0;
    for run in &mut runs {
        let name = run.transport.name();
        let wall = run.load.wall.as_secs_f64();
        let latency = Percentiles::of(&mut run.load.latencies);
        report.add(format!("{name}: spans acknowledged / s (wall clock)"), run.load.spans as f64 / wall, "spans/s");
        report.add(format!("{name}: OTLP acknowledged / s"), run.load.bytes as f64 / wall / 1e6, "MB/s");
        report.compare(
            format!("{name}: spans / server CPU-s, receive window"),
            run.load.spans as f64 / run.window_cpu,
            "spans/s",
            decode,
            "prost decode, 1 thread",
        );
        report.compare(
            format!("{name}: spans / server CPU-s, whole write path incl. /flush"),
            run.total_spans as f64 / run.total_cpu,
            "spans/s",
            decode,
            "prost decode, 1 thread",
        );
        report.add(format!("{name}: server CPU cores busy"), run.window_cpu / wall, "cores");
        report.add(format!("{name}: load generator CPU cores busy"), run.generator_cpu / wall, "cores");
        report.add(format!("{name}: push latency p50"), ms(latency.p50), "ms");
        report.add(format!("{name}: push latency p99"), ms(latency.p99), "ms");
        report.add(format!("{name}: push latency max"), ms(latency.max), "ms");
        report.add(format!("{name}: /flush after the run"), run.flush.as_secs_f64(), "s");
        report.add(format!("{name}: server peak RSS"), run.peak_rss as f64 / (1 << 20) as f64, "MiB");
        report.add(
            format!("{name}: spans in blocks / spans acknowledged"),
            run.stored_spans as f64 / run.total_spans as f64,
            "",
        );
        report.detail(
            &format!("{name} run"),
            serde_json::json!({
                "requests": run.load.requests,
                "spans_acknowledged": run.load.spans,
                "failures": run.load.failures,
                "failure_samples": run.load.failure_samples,
                "wall_seconds": wall,
                "server_cpu_seconds_window": run.window_cpu,
                "server_cpu_seconds_total": run.total_cpu,
                "spans_total_incl_warm_up": run.total_spans,
                "spans_in_blocks": run.stored_spans,
                "blocks": run.blocks,
                "latency_ms": { "p50": ms(latency.p50), "p90": ms(latency.p90), "p99": ms(latency.p99), "max": ms(latency.max) },
                "server_warnings": run.problems,
            }),
        );
        failures += run.load.failures + run.warm_up_failures;
        for sample in &run.load.failure_samples {
            eprintln!("{name} failure: {sample}");
        }
        if !run.problems.is_empty() {
            report.note(format!(
                "{name}: the server logged {} warnings/errors, first: {}",
                run.problems.len(),
                run.problems[0]
            ));
        }
    }
    let ratio = |run: &Run| run.load.spans as f64 / run.window_cpu / decode * 100.0;
    report.note(format!(
        "end-to-end OTLP/gRPC ingest per server core is {:.1}% of raw prost decode on one core ({:.1}% over OTLP/HTTP)",
        ratio(&runs[0]),
        ratio(&runs[1])
    ));
    report.note(format!(
        "the load generator ({clients} exporters sending pre-encoded requests, IDs rewritten per pass) runs on the same {} CPUs as the server; wall-clock rates are bounded by both",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    ));
    report.note("server: target all, local blocks, WAL fsync on, adaptive group commit, ingestion rate limit off, live traces up to 2 GiB; a fresh data folder per transport");
    report.detail("config", serde_json::json!({ "seconds": seconds.as_secs(), "clients": clients, "requests": REQUESTS, "machine": server::machine() }));
    report.print();
    println!("written to {}", report.write_json()?.display());
    anyhow::ensure!(failures == 0, "{failures} pushes failed; the figures above are not valid");
    Ok(())
}

struct Run {
    transport: Transport,
    load: LoadReport,
    warm_up_failures: u64,
    /// Server CPU seconds during the timed window.
    window_cpu: f64,
    /// Server CPU seconds from ready until `/flush` returned, for `total_spans`.
    total_cpu: f64,
    total_spans: u64,
    generator_cpu: f64,
    flush: Duration,
    peak_rss: u64,
    stored_spans: u64,
    blocks: usize,
    problems: Vec<String>,
}

async fn run(transport: Transport, data: Arc<Dataset>, clients: usize, seconds: Duration) -> anyhow::Result<Run> {
    let folder = tempfile::tempdir()?;
    let server = Server::start(folder.path()).await?;
    let endpoint = match transport {
        Transport::Grpc => server.otlp_grpc.clone(),
        Transport::Http => server.otlp_http.clone(),
    };
    let cpu_at_ready = server.cpu_seconds()?;

    // The generated OTLP client first, then the raw-bytes exporters for the warm-up.
    let mut warm_spans = 0;
    let mut first = 0;
    if transport == Transport::Grpc {
        warm_spans += load::export_with_generated_client(&endpoint, &[data.requests[0].bytes.clone()]).await?;
        first = 1;
    }
    let warm_up = Plan { first, end: None, deadline: Some(Instant::now() + WARM_UP) };
    let warm = load::drive(transport, &endpoint, Arc::clone(&data), clients, warm_up).await?;
    warm_spans += warm.spans;
    for sample in &warm.failure_samples {
        eprintln!("warm-up failure: {sample}");
    }

    let cpu_before = server.cpu_seconds()?;
    let own_before = own_cpu_seconds();
    let timed = Plan { first: warm.next, end: None, deadline: Some(Instant::now() + seconds) };
    let load = load::drive(transport, &endpoint, data, clients, timed).await?;
    let cpu_after = server.cpu_seconds()?;
    let own_after = own_cpu_seconds();

    let flush = server.flush().await?;
    let cpu_flushed = server.cpu_seconds()?;
    let peak_rss = server.peak_rss_bytes()?;
    let metas = server::block_metas(&server.blocks_dir())?;
    let stored_spans = metas.iter().filter_map(|m| m["totalSpans"].as_u64()).sum();
    let problems = server.log_problems();
    server.stop().await?;

    Ok(Run {
        transport,
        window_cpu: cpu_after - cpu_before,
        total_cpu: cpu_flushed - cpu_at_ready,
        total_spans: warm_spans + load.spans,
        generator_cpu: own_after - own_before,
        warm_up_failures: warm.failures,
        load,
        flush,
        peak_rss,
        stored_spans,
        blocks: metas.len(),
        problems,
    })
}
