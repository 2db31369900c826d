//! OTLP ingest through a cluster (2 distributors, 3 ingesters, replication factor 2) against the
//! single binary, end to end, in one run.
//!
//! Baselines, same run: prost-decoding the payloads on one thread (as `ingest` does), and the
//! single binary (`target: all`, the `ingest` config) under the same load. Then the cluster,
//! every role its own release-binary process with the same config, takes the same load split
//! over both distributors. For each: spans acknowledged per wall-clock second, spans per
//! CPU-second summed over every strand process (the cluster's ratio to the single binary is what
//! replication and the hop between roles cost), the CPU per role, push latency, peak RSS, and the
//! whole write path including `/flush` to blocks. A cheap correctness check: the ingesters'
//! `strand_ingester_spans_accepted_total` must sum to the replication factor times the spans
//! acknowledged, or the benchmark fails.
//!
//! `cargo bench --bench cluster`; `STRAND_BENCH_SECONDS` (default 20), `STRAND_BENCH_CLIENTS`
//! (default 8, split evenly over the distributors).

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Shape};
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
const SHAPE: Shape = Shape { distributors: 2, ingesters: 3, replication_factor: 2 };
/// Each distributor's exporters take stream positions from their own range of this many, so no
/// two distributors send the same trace (see `Dataset::at`).
const STRIDE: u64 = 1 << 32;
const ACCEPTED: &str = "strand_ingester_spans_accepted_total";
const MIB: f64 = (1 << 20) as f64;

fn main() -> anyhow::Result<()> {
    let mut report = Report::new("cluster");
    let seconds = bench_duration(20);
    let clients = (env_u64("STRAND_BENCH_CLIENTS", 8) as usize).max(SHAPE.distributors);
    let data = Arc::new(Dataset::generate(REQUESTS, SEED)?);
    println!("{}", data.describe());
    let decode = data.prost_decode_rate(DECODE_PASSES)?;
    println!("baseline: prost decode, 1 thread, best of {DECODE_PASSES}: {decode:.0} spans/s");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let single = runtime.block_on(async {
        let folder = tempfile::tempdir()?;
        let server = Server::start(folder.path()).await?;
        let target = Target {
            endpoints: vec![server.otlp_grpc.clone()],
            processes: vec![("all", &server)],
            blocks: server.blocks_dir(),
            replication_factor: 1,
        };
        println!("single binary: {clients} exporters for {seconds:?} (after a {WARM_UP:?} warm-up)...");
        let run = measure(&target, Arc::clone(&data), clients, seconds).await?;
        server.stop().await?;
        anyhow::Ok(run)
    })?;
    let clustered = runtime.block_on(async {
        let folder = tempfile::tempdir()?;
        let cluster = Cluster::start(folder.path(), SHAPE).await?;
        let target = Target {
            endpoints: cluster.distributors.iter().map(|s| s.otlp_grpc.clone()).collect(),
            processes: cluster.processes().collect(),
            blocks: cluster.blocks.clone(),
            replication_factor: SHAPE.replication_factor as u64,
        };
        println!(
            "cluster ({} distributors, {} ingesters, replication factor {}): {clients} exporters for {seconds:?} (after a {WARM_UP:?} warm-up)...",
            SHAPE.distributors, SHAPE.ingesters, SHAPE.replication_factor
        );
        let run = measure(&target, Arc::clone(&data), clients, seconds).await?;
        cluster.stop().await?;
        anyhow::Ok(run)
    })?;

    report.add("OTLP protobuf size", data.bytes as f64 / data.spans as f64, "B/span");
    report.add("baseline: prost decode, 1 thread", decode, "spans/s");
    add_single(&mut report, &single, decode);
    add_cluster(&mut report, &clustered, &single);

    let mut failures = 0;
    let mut wrong_counts = Vec::new();
    for (name, run) in [("single binary", &single), ("cluster", &clustered)] {
        failures += run.load.failures + run.warm_up_failures;
        for sample in &run.load.failure_samples {
            eprintln!("{name} failure: {sample}");
        }
        let expected = run.replication_factor * run.total_spans;
        println!(
            "{name}: ingesters accepted {} spans; {} × {} spans acknowledged = {expected}",
            run.accepted, run.replication_factor, run.total_spans
        );
        if run.accepted != expected {
            wrong_counts.push(format!("{name}: ingesters accepted {} spans, expected {expected}", run.accepted));
        }
        if !run.problems.is_empty() {
            report.note(format!(
                "{name}: strand logged {} warnings/errors, first: {}",
                run.problems.len(),
                run.problems[0]
            ));
        }
        report.detail(name, run.detail());
    }
    let (distributor_cpu, ingester_cpu) =
        (clustered.role_window_cpu("distributor"), clustered.role_window_cpu("ingester"));
    report.note(format!(
        "per CPU-second of all strand processes, the cluster ingests {:.1}% of what the single binary does ({:.1}% of raw prost decode on one core, against {:.1}% for the single binary)",
        clustered.per_core() / single.per_core() * 100.0,
        clustered.per_core() / decode * 100.0,
        single.per_core() / decode * 100.0
    ));
    let micros = |cpu: f64, run: &Run| cpu / run.load.spans as f64 * 1e6;
    report.note(format!(
        "CPU per span acknowledged, receive window: single binary {:.1} µs; cluster {:.1} µs = distributors {:.1} µs ({:.0}%) + ingesters {:.1} µs ({:.0}%) for {} copies",
        micros(single.window_cpu(), &single),
        micros(clustered.window_cpu(), &clustered),
        micros(distributor_cpu, &clustered),
        distributor_cpu / clustered.window_cpu() * 100.0,
        micros(ingester_cpu, &clustered),
        ingester_cpu / clustered.window_cpu() * 100.0,
        clustered.replication_factor
    ));
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    report.note(format!(
        "all {} cluster processes and the load generator share the same {cpus} CPUs: wall-clock rates are not a scaling result; per CPU-second is the comparable figure",
        clustered.processes.len()
    ));
    report.note("every process: local blocks (one shared folder for the cluster), WAL fsync on, adaptive group commit, ingestion rate limit off, live traces up to 2 GiB per ingester; OTLP/gRPC");
    report.detail(
        "config",
        serde_json::json!({
            "seconds": seconds.as_secs(),
            "clients": clients,
            "requests": REQUESTS,
            "distributors": SHAPE.distributors,
            "ingesters": SHAPE.ingesters,
            "replication_factor": SHAPE.replication_factor,
            "machine": server::machine(),
        }),
    );
    report.print();
    println!("written to {}", report.write_json()?.display());
    anyhow::ensure!(failures == 0, "{failures} pushes failed; the figures above are not valid");
    anyhow::ensure!(wrong_counts.is_empty(), "spans accepted by the ingesters are off: {}", wrong_counts.join("; "));
    Ok(())
}

fn add_single(report: &mut Report, run: &Run, decode: f64) {
    let name = "single binary";
    let wall = run.load.wall.as_secs_f64();
    let latency = run.latency();
    report.add(format!("{name}: spans acknowledged / s (wall clock)"), run.load.spans as f64 / wall, "spans/s");
    report.compare(
        format!("{name}: spans / server CPU-s, receive window"),
        run.per_core(),
        "spans/s",
        decode,
        "prost decode, 1 thread",
    );
    report.compare(
        format!("{name}: spans / server CPU-s, whole write path incl. /flush"),
        run.whole_path_per_core(),
        "spans/s",
        decode,
        "prost decode, 1 thread",
    );
    report.add(format!("{name}: server CPU cores busy"), run.window_cpu() / wall, "cores");
    report.add(format!("{name}: load generator CPU cores busy"), run.generator_cpu / wall, "cores");
    report.add(format!("{name}: push latency p50"), ms(latency.p50), "ms");
    report.add(format!("{name}: push latency p99"), ms(latency.p99), "ms");
    report.add(format!("{name}: /flush after the run"), run.flush.as_secs_f64(), "s");
    report.add(format!("{name}: peak RSS"), run.peak_rss() as f64 / MIB, "MiB");
    report.add(format!("{name}: spans accepted by the ingester / acknowledged"), run.accepted_ratio(), "");
    report.add(format!("{name}: spans in blocks / acknowledged"), run.stored_ratio(), "");
}

fn add_cluster(report: &mut Report, run: &Run, single: &Run) {
    let name = "cluster";
    let against = "single binary";
    let wall = run.load.wall.as_secs_f64();
    let single_wall = single.load.wall.as_secs_f64();
    let (latency, single_latency) = (run.latency(), single.latency());
    let processes = run.processes.len();
    let ingester_copies = run.load.spans * run.replication_factor;
    report.compare(
        format!("{name}: spans acknowledged / s (wall clock)"),
        run.load.spans as f64 / wall,
        "spans/s",
        single.load.spans as f64 / single_wall,
        against,
    );
    report.compare(
        format!("{name}: spans / CPU-s of all {processes} processes, receive window"),
        run.per_core(),
        "spans/s",
        single.per_core(),
        against,
    );
    report.compare(
        format!("{name}: spans / CPU-s of all {processes} processes, whole write path incl. /flush"),
        run.whole_path_per_core(),
        "spans/s",
        single.whole_path_per_core(),
        against,
    );
    report.compare(
        format!("{name}: spans / distributor CPU-s"),
        run.load.spans as f64 / run.role_window_cpu("distributor"),
        "spans/s",
        single.per_core(),
        against,
    );
    report.compare(
        format!("{name}: span copies / ingester CPU-s"),
        ingester_copies as f64 / run.role_window_cpu("ingester"),
        "spans/s",
        single.per_core(),
        against,
    );
    report.compare(
        format!("{name}: CPU cores busy, all processes"),
        run.window_cpu() / wall,
        "cores",
        single.window_cpu() / single_wall,
        against,
    );
    report.add(format!("{name}: distributors' CPU cores busy"), run.role_window_cpu("distributor") / wall, "cores");
    report.add(format!("{name}: ingesters' CPU cores busy"), run.role_window_cpu("ingester") / wall, "cores");
    report.add(format!("{name}: load generator CPU cores busy"), run.generator_cpu / wall, "cores");
    report.compare(format!("{name}: push latency p50"), ms(latency.p50), "ms", ms(single_latency.p50), against);
    report.compare(format!("{name}: push latency p99"), ms(latency.p99), "ms", ms(single_latency.p99), against);
    report.compare(
        format!("{name}: /flush of the ingesters, concurrently"),
        run.flush.as_secs_f64(),
        "s",
        single.flush.as_secs_f64(),
        against,
    );
    report.compare(
        format!("{name}: peak RSS, sum of {processes} processes"),
        run.peak_rss() as f64 / MIB,
        "MiB",
        single.peak_rss() as f64 / MIB,
        against,
    );
    report.add(format!("{name}: distributors' peak RSS, sum"), run.role_peak_rss("distributor") as f64 / MIB, "MiB");
    report.add(format!("{name}: ingesters' peak RSS, sum"), run.role_peak_rss("ingester") as f64 / MIB, "MiB");
    report.add(format!("{name}: spans accepted by the ingesters / acknowledged"), run.accepted_ratio(), "");
    report.add(format!("{name}: spans in blocks / acknowledged (before compaction)"), run.stored_ratio(), "");
}

/// What a load is sent to: the single binary, or the processes of a cluster.
struct Target<'a> {
    /// OTLP/gRPC endpoints, one per distributor; the exporters are split evenly over them.
    endpoints: Vec<String>,
    /// Every strand process with its role; those with an ingester serve `/flush` and `ACCEPTED`.
    processes: Vec<(&'static str, &'a Server)>,
    /// The block folder.
    blocks: PathBuf,
    /// Copies of each span the ingesters should accept.
    replication_factor: u64,
}

impl Target<'_> {
    fn ingesters(&self) -> impl Iterator<Item = &Server> {
        self.processes.iter().filter(|(role, _)| *role != "distributor").map(|(_, server)| *server)
    }

    fn cpu_seconds(&self) -> anyhow::Result<Vec<f64>> {
        self.processes.iter().map(|(_, server)| server.cpu_seconds()).collect()
    }
}

/// One process's share of a run.
struct Process {
    role: &'static str,
    /// CPU seconds during the timed window.
    window_cpu: f64,
    /// CPU seconds from ready until `/flush` returned.
    total_cpu: f64,
    peak_rss: u64,
}

struct Run {
    /// The timed window, every distributor's exporters together.
    load: LoadReport,
    warm_up_failures: u64,
    /// Spans acknowledged from ready to the end of the timed window, warm-up included.
    total_spans: u64,
    replication_factor: u64,
    /// `ACCEPTED`, summed over the ingesters, read before `/flush`.
    accepted: u64,
    processes: Vec<Process>,
    generator_cpu: f64,
    flush: Duration,
    stored_spans: u64,
    blocks: usize,
    problems: Vec<String>,
}

impl Run {
    fn window_cpu(&self) -> f64 {
        self.processes.iter().map(|p| p.window_cpu).sum()
    }

    fn role_window_cpu(&self, role: &str) -> f64 {
        self.processes.iter().filter(|p| p.role == role).map(|p| p.window_cpu).sum()
    }

    fn total_cpu(&self) -> f64 {
        self.processes.iter().map(|p| p.total_cpu).sum()
    }

    fn peak_rss(&self) -> u64 {
        self.processes.iter().map(|p| p.peak_rss).sum()
    }

    fn role_peak_rss(&self, role: &str) -> u64 {
        self.processes.iter().filter(|p| p.role == role).map(|p| p.peak_rss).sum()
    }

    /// Spans acknowledged per CPU-second of every strand process, in the timed window.
    fn per_core(&self) -> f64 {
        self.load.spans as f64 / self.window_cpu()
    }

    /// Spans acknowledged per CPU-second of every strand process, from ready to flushed.
    fn whole_path_per_core(&self) -> f64 {
        self.total_spans as f64 / self.total_cpu()
    }

    fn latency(&self) -> Percentiles {
        Percentiles::of(&mut self.load.latencies.clone())
    }

    fn accepted_ratio(&self) -> f64 {
        self.accepted as f64 / self.total_spans as f64
    }

    fn stored_ratio(&self) -> f64 {
        self.stored_spans as f64 / self.total_spans as f64
    }

    fn detail(&self) -> serde_json::Value {
        let latency = self.latency();
        let processes: Vec<serde_json::Value> = self
            .processes
            .iter()
            .map(|p| {
                serde_json::json!({
                    "role": p.role,
                    "cpu_seconds_window": p.window_cpu,
                    "cpu_seconds_total": p.total_cpu,
                    "peak_rss_mib": p.peak_rss as f64 / MIB,
                })
            })
            .collect();
        serde_json::json!({
            "requests": self.load.requests,
            "spans_acknowledged": self.load.spans,
            "spans_total_incl_warm_up": self.total_spans,
            "spans_accepted_by_ingesters": self.accepted,
            "replication_factor": self.replication_factor,
            "failures": self.load.failures + self.warm_up_failures,
            "failure_samples": self.load.failure_samples,
            "wall_seconds": self.load.wall.as_secs_f64(),
            "generator_cpu_seconds": self.generator_cpu,
            "flush_seconds": self.flush.as_secs_f64(),
            "spans_in_blocks": self.stored_spans,
            "blocks": self.blocks,
            "latency_ms": { "p50": ms(latency.p50), "p90": ms(latency.p90), "p99": ms(latency.p99), "max": ms(latency.max) },
            "processes": processes,
            "server_warnings": self.problems,
        })
    }
}

/// The generated OTLP client once, a warm-up, the timed window, then `/flush` on every
/// ingester at once.
async fn measure(target: &Target<'_>, data: Arc<Dataset>, clients: usize, seconds: Duration) -> anyhow::Result<Run> {
    let cpu_at_ready = target.cpu_seconds()?;
    // Position 0 through the generated client, so the raw-bytes exporters talk to the same
    // service every SDK does; the first distributor's exporters start after it.
    let mut total_spans =
        load::export_with_generated_client(&target.endpoints[0], &[data.requests[0].bytes.clone()]).await?;
    let firsts: Vec<u64> = (0..target.endpoints.len() as u64).map(|i| i * STRIDE + u64::from(i == 0)).collect();
    let (warm, nexts) = drive_all(target, &data, clients, &firsts, Instant::now() + WARM_UP).await?;
    total_spans += warm.spans;
    for sample in &warm.failure_samples {
        eprintln!("warm-up failure: {sample}");
    }

    let cpu_before = target.cpu_seconds()?;
    let own_before = own_cpu_seconds();
    let (load, _) = drive_all(target, &data, clients, &nexts, Instant::now() + seconds).await?;
    let cpu_after = target.cpu_seconds()?;
    let own_after = own_cpu_seconds();
    total_spans += load.spans;

    let mut accepted = 0.0;
    for ingester in target.ingesters() {
        let metrics = ingester.metrics().await?;
        accepted += metrics.get(ACCEPTED).copied().ok_or_else(|| anyhow::anyhow!("no {ACCEPTED} in /metrics"))?;
    }

    let started = Instant::now();
    futures::future::try_join_all(target.ingesters().map(Server::flush)).await?;
    let flush = started.elapsed();
    let cpu_flushed = target.cpu_seconds()?;

    let mut processes = Vec::with_capacity(target.processes.len());
    let mut problems = Vec::new();
    for (i, (role, server)) in target.processes.iter().enumerate() {
        processes.push(Process {
            role,
            window_cpu: cpu_after[i] - cpu_before[i],
            total_cpu: cpu_flushed[i] - cpu_at_ready[i],
            peak_rss: server.peak_rss_bytes()?,
        });
        problems.extend(server.log_problems().into_iter().map(|line| format!("{role}: {line}")));
    }
    let metas = server::block_metas(&target.blocks)?;
    Ok(Run {
        warm_up_failures: warm.failures,
        load,
        total_spans,
        replication_factor: target.replication_factor,
        accepted: accepted as u64,
        processes,
        generator_cpu: own_after - own_before,
        flush,
        stored_spans: metas.iter().filter_map(|m| m["totalSpans"].as_u64()).sum(),
        blocks: metas.len(),
        problems,
    })
}

/// Drives every endpoint at once until `deadline`, `clients` exporters split evenly over them,
/// endpoint `i` sending stream positions from `firsts[i]` up to the end of its `STRIDE`. Returns
/// the reports together and where each endpoint's positions stopped.
async fn drive_all(
    target: &Target<'_>,
    data: &Arc<Dataset>,
    clients: usize,
    firsts: &[u64],
    deadline: Instant,
) -> anyhow::Result<(LoadReport, Vec<u64>)> {
    let count = target.endpoints.len();
    let drives = target.endpoints.iter().zip(firsts).enumerate().map(|(i, (endpoint, &first))| {
        let share = clients / count + usize::from(i < clients % count);
        let plan = Plan { first, end: Some((first / STRIDE + 1) * STRIDE), deadline: Some(deadline) };
        load::drive(Transport::Grpc, endpoint, Arc::clone(data), share, plan)
    });
    let parts = futures::future::try_join_all(drives).await?;
    let mut total = LoadReport::default();
    let mut nexts = Vec::with_capacity(count);
    for part in parts {
        let (wall, next) = (part.wall, part.next);
        total.add(part);
        total.wall = total.wall.max(wall);
        nexts.push(next);
    }
    Ok((total, nexts))
}
