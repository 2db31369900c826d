//! Ingester resident memory per live span: what holding spans in live traces costs in RAM,
//! against the same-run baseline of the raw OTLP protobuf they arrived as.
//!
//! The server runs with a 10-minute `trace_idle_period`, `trace_live_period` and
//! `max_block_duration`, so every span pushed stays in a live trace for the whole run. Spans go
//! in over OTLP/gRPC (8 exporters) in two equal steps; after the server is ready and after each
//! step, the benchmark waits for the server's resident memory (`VmRSS`) to settle and reads it.
//! RSS per live span is the growth over the idle server divided by the spans held; the second
//! step alone gives the marginal cost, without one-time growth (thread stacks, connection and
//! allocator pools). `/metrics` confirms every trace pushed is still live and tells how many
//! bytes strand itself accounts for them (`strand_ingester_live_traces_bytes`, the figure
//! `max_live_traces_bytes` limits).
//!
//! `cargo bench --bench memory`; `STRAND_BENCH_LIVE_SPANS` (default 1,000,000, in two steps).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use common::data::{Dataset, SEED, SPANS_PER_REQUEST};
use common::env_u64;
use common::load::{self, Plan, Transport};
use common::report::Report;
use common::server::{Options, Server};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUESTS: usize = 400;
const CLIENTS: usize = 8;
/// Long enough that nothing leaves the live traces during the run.
const HOLD: Duration = Duration::from_secs(600);
/// RSS is steady once it moved less than this share over [`SETTLE_WINDOW`].
const SETTLE_TOLERANCE: f64 = 0.005;
const SETTLE_WINDOW: Duration = Duration::from_secs(5);
const SETTLE_LIMIT: Duration = Duration::from_secs(90);
const MIB: f64 = (1 << 20) as f64;

/// The server's state at a steady point.
#[derive(Clone, Copy, Debug)]
struct Steady {
    rss: u64,
    live_traces: f64,
    live_bytes: f64,
    accepted_spans: f64,
    /// How long RSS took to settle.
    settled_after: Duration,
}

fn main() -> anyhow::Result<()> {
    let mut report = Report::new("memory");
    let total_spans = env_u64("STRAND_BENCH_LIVE_SPANS", 1_000_000);
    let data = Arc::new(Dataset::generate(REQUESTS, SEED)?);
    let raw_per_span = data.bytes as f64 / data.spans as f64;
    let total_requests = total_spans.div_ceil(SPANS_PER_REQUEST as u64).max(2);
    let steps = [total_requests / 2, total_requests];

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let folder = tempfile::tempdir()?;
    let (idle, after, peak_rss, problems, failures) = runtime.block_on(async {
        let options = Options {
            hold_live_traces: Some(HOLD),
            max_live_traces_bytes: Some("64GiB".to_string()),
            ..Options::default()
        };
        let server = Server::start_with(folder.path(), &options).await?;
        let idle = settle(&server).await?;
        println!("idle: RSS {:.1} MiB", idle.rss as f64 / MIB);
        let mut after = Vec::new();
        let mut failures = 0;
        let mut first = 0;
        for end in steps {
            let spans = end * SPANS_PER_REQUEST as u64;
            println!("pushing up to {spans} spans over OTLP/gRPC...");
            let plan = Plan { first, end: Some(end), deadline: None };
            let load = load::drive(Transport::Grpc, &server.otlp_grpc, Arc::clone(&data), CLIENTS, plan).await?;
            failures += load.failures;
            for sample in &load.failure_samples {
                eprintln!("failure: {sample}");
            }
            first = end;
            let steady = settle(&server).await?;
            println!(
                "{spans} spans live: RSS {:.1} MiB (settled after {:.1} s)",
                steady.rss as f64 / MIB,
                steady.settled_after.as_secs_f64()
            );
            after.push((end, steady));
        }
        let peak_rss = server.peak_rss_bytes()?;
        let problems = server.log_problems();
        server.stop().await?;
        anyhow::Ok((idle, after, peak_rss, problems, failures))
    })?;
    if failures > 0 {
        bail!("{failures} pushes failed; no figures");
    }

    // The traces pushed, to check they are all still live.
    let traces_until = |end: u64| -> u64 { (0..end).map(|position| data.at(position).0.traces.len() as u64).sum() };
    report.add("server RSS, idle after ready", idle.rss as f64 / MIB, "MiB");
    let mut previous: Option<(u64, Steady)> = None;
    for &(end, steady) in &after {
        let spans = end * SPANS_PER_REQUEST as u64;
        let traces = traces_until(end);
        ensure!(
            steady.accepted_spans as u64 == spans,
            "the server accepted {} spans, {spans} were pushed",
            steady.accepted_spans
        );
        ensure!(
            steady.live_traces as u64 == traces,
            "{} live traces after pushing {traces}: some left the live traces, so the figures would not be per live span",
            steady.live_traces
        );
        let label = format!("{spans} live spans");
        report.add(format!("{label}: server RSS"), steady.rss as f64 / MIB, "MiB");
        report.compare(
            format!("{label}: RSS growth per live span"),
            (steady.rss as f64 - idle.rss as f64) / spans as f64,
            "B/span",
            raw_per_span,
            "raw OTLP protobuf",
        );
        if let Some((previous_end, before)) = previous {
            let added = (end - previous_end) * SPANS_PER_REQUEST as u64;
            report.compare(
                format!("{label}: marginal RSS per live span (last {added} spans)"),
                (steady.rss as f64 - before.rss as f64) / added as f64,
                "B/span",
                raw_per_span,
                "raw OTLP protobuf",
            );
        }
        report.compare(
            format!("{label}: live-trace bytes strand accounts per span"),
            steady.live_bytes / spans as f64,
            "B/span",
            raw_per_span,
            "raw OTLP protobuf",
        );
        report.compare(
            format!("{label}: RSS growth / accounted live-trace bytes"),
            (steady.rss as f64 - idle.rss as f64) / steady.live_bytes,
            "x",
            1.0,
            "accounted bytes",
        );
        report.add(format!("{label}: live traces"), steady.live_traces, "traces");
        report.add(format!("{label}: RSS settled after"), steady.settled_after.as_secs_f64(), "s");
        previous = Some((end, steady));
    }
    report.add("server peak RSS (VmHWM) over the run", peak_rss as f64 / MIB, "MiB");
    report.note(format!(
        "spans held in live traces: trace_idle_period, trace_live_period and max_block_duration {}s; max_live_traces_bytes 64GiB; nothing was cut or flushed (checked: live traces = traces pushed)",
        HOLD.as_secs()
    ));
    report.note(format!(
        "RSS read once it moved less than {:.1}% over {} s (at most {} s); the server uses mimalloc, whose freed memory is returned to the OS lazily",
        SETTLE_TOLERANCE * 100.0,
        SETTLE_WINDOW.as_secs(),
        SETTLE_LIMIT.as_secs()
    ));
    report.note("RSS growth includes everything pushing cost the process and it kept: live traces, their index, WAL and gRPC buffers, and allocator caches");
    if !problems.is_empty() {
        report.note(format!("the server logged {} warnings/errors, first: {}", problems.len(), problems[0]));
    }
    report.detail(
        "run",
        serde_json::json!({
            "live_spans": total_spans,
            "steps_requests": steps,
            "idle": steady_json(&idle),
            "steps": after.iter().map(|(end, s)| serde_json::json!({ "requests": end, "state": steady_json(s) })).collect::<Vec<_>>(),
            "raw_otlp_bytes_per_span": raw_per_span,
            "server_warnings": problems,
        }),
    );
    report.print();
    println!("written to {}", report.write_json()?.display());
    Ok(())
}

fn steady_json(steady: &Steady) -> serde_json::Value {
    serde_json::json!({
        "rss_bytes": steady.rss,
        "live_traces": steady.live_traces,
        "live_traces_bytes": steady.live_bytes,
        "spans_accepted": steady.accepted_spans,
        "settled_after_s": steady.settled_after.as_secs_f64(),
    })
}

/// Waits until the server's RSS holds still, then reads it and the ingester's gauges.
async fn settle(server: &Server) -> anyhow::Result<Steady> {
    let started = Instant::now();
    let mut samples: Vec<(Instant, u64)> = Vec::new();
    let rss = loop {
        let now = Instant::now();
        let rss = server.rss_bytes()?;
        samples.push((now, rss));
        samples.retain(|(at, _)| now.duration_since(*at) <= SETTLE_WINDOW);
        let covered = samples
            .first()
            .is_some_and(|(at, _)| now.duration_since(*at) + Duration::from_millis(300) >= SETTLE_WINDOW);
        let low = samples.iter().map(|(_, r)| *r).min().unwrap_or(rss) as f64;
        let high = samples.iter().map(|(_, r)| *r).max().unwrap_or(rss) as f64;
        if covered && high - low <= SETTLE_TOLERANCE * high {
            break rss;
        }
        if started.elapsed() > SETTLE_LIMIT {
            eprintln!("RSS still moving after {SETTLE_LIMIT:?} ({low} to {high} bytes); reading it anyway");
            break rss;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let metrics = server.metrics().await?;
    let gauge = |name: &str| metrics.get(name).copied().unwrap_or(f64::NAN);
    Ok(Steady {
        rss,
        live_traces: gauge("strand_ingester_live_traces"),
        live_bytes: gauge("strand_ingester_live_traces_bytes"),
        accepted_spans: gauge("strand_ingester_spans_accepted_total"),
        settled_after: started.elapsed(),
    })
}
