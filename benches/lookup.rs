//! Trace-by-ID latency with 100 blocks in storage, after a restart.
//!
//! Traces go in over OTLP/gRPC in 100 rounds with a `POST /flush` after each, so exactly 100
//! blocks exist; then the server restarts, so its caches are cold and its ingester holds nothing:
//! every answer comes from blocks. After a warm-up on other IDs, known trace IDs are fetched with
//! `GET /api/v2/traces/{id}` (`Accept: application/protobuf`), one at a time and 4 in flight, and
//! every answer is decoded and checked (right trace ID, every span). Baselines in the same run:
//! `GET /api/echo` (the HTTP floor) and IDs that exist nowhere (every block's filter says no).
//! For contrast, the same spans written as a single block.
//!
//! The server counts every object-store request it makes (`strand_object_store_requests_total`,
//! by operation, and `strand_object_store_fetched_bytes_total`); `/metrics` is read before and
//! after each timed pass, so each pass also yields requests and bytes fetched per lookup.
//!
//! `cargo bench --bench lookup`; `STRAND_BENCH_BLOCKS` (default 100),
//! `STRAND_BENCH_REQUESTS_PER_BLOCK` (default 16, of 512 spans), `STRAND_BENCH_LOOKUPS`
//! (default 1000), `STRAND_BENCH_ONE_BLOCK=0` skips the single-block contrast. With 1,000 blocks:
//! `STRAND_BENCH_BLOCKS=1000 STRAND_BENCH_ONE_BLOCK=0 cargo bench --bench lookup`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use common::data::{Dataset, SEED, trace_id_in_round};
use common::load::{self, Plan, Transport};
use common::report::Report;
use common::server::{self, Server};
use common::{Percentiles, env_u64, ms};
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strand_proto::tempopb::TraceByIdResponse;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUESTS: usize = 400;
const CLIENTS: usize = 8;
const WARM_UP_LOOKUPS: usize = 200;
const IN_FLIGHT: usize = 4;
/// An unknown-ID lookup this slow read at least one block (a filter false positive); the ones
/// every filter rejects take about an echo round trip.
const SLOW_UNKNOWN: Duration = Duration::from_millis(3);

/// A trace the benchmark wrote, and how many spans it must come back with.
#[derive(Clone, Copy)]
struct Known {
    id: [u8; 16],
    spans: u32,
}

fn main() -> anyhow::Result<()> {
    let blocks = env_u64("STRAND_BENCH_BLOCKS", 100);
    let per_block = env_u64("STRAND_BENCH_REQUESTS_PER_BLOCK", 16);
    let lookups = env_u64("STRAND_BENCH_LOOKUPS", 1000) as usize;
    let one_block = std::env::var("STRAND_BENCH_ONE_BLOCK").map(|v| v != "0").unwrap_or(true);
    let data = Arc::new(Dataset::generate(REQUESTS, SEED)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut report = Report::new("lookup");

    let many = tempfile::tempdir()?;
    let (known, written) = runtime.block_on(write_blocks(many.path(), &data, blocks, per_block, blocks))?;
    ensure!(written == blocks as usize, "expected {blocks} blocks (one per /flush), found {written} meta.json files");
    println!("{written} blocks hold {} traces; restarting strand...", known.len());
    let measured = runtime.block_on(measure(many.path(), &known, lookups, true))?;
    measured.add_to(&mut report, &format!("{written} blocks"), true);

    if one_block {
        let single = tempfile::tempdir()?;
        let (known_single, written_single) =
            runtime.block_on(write_blocks(single.path(), &data, blocks, per_block, 1))?;
        println!("contrast: the same {} traces in {written_single} block(s); restarting strand...", known_single.len());
        let contrast = runtime.block_on(measure(single.path(), &known_single, lookups, false))?;
        contrast.add_to(&mut report, &format!("{written_single} block(s)"), false);
    }

    report.note(format!(
        "{blocks} blocks of {} spans each ({per_block} requests of 512); server restarted before the lookups, warm-up of {WARM_UP_LOOKUPS} other IDs; the OS page cache is warm (files were just written)",
        per_block * 512
    ));
    report.note(
        "every found trace was decoded and checked: right trace ID and every span written; unknown IDs must answer 404",
    );
    report.note("client and server share the machine's 2 CPUs; latencies include the HTTP client");
    report.note("object-store requests: counted by the server at its object-store client (strand_object_store_requests_total); get_ranges counts the range requests it becomes; a background blocklist poll (every 30 s) that falls inside a pass is counted too");
    report.note("inspectedBytes counts only the blocks that held the trace; the object store's bytes also count blocks read because their filter said \"maybe\" (a false positive)");
    report.detail("config", serde_json::json!({ "blocks": blocks, "requests_per_block": per_block, "lookups": lookups, "in_flight": IN_FLIGHT }));
    report.print();
    println!("written to {}", report.write_json()?.display());
    Ok(())
}

/// Ingests `rounds × per_block` requests, flushing after each round (or only at the end when
/// `flushes` is 1), and returns the traces written and the number of blocks found on disk.
async fn write_blocks(
    folder: &Path,
    data: &Arc<Dataset>,
    rounds: u64,
    per_block: u64,
    flushes: u64,
) -> anyhow::Result<(Vec<Known>, usize)> {
    let server = Server::start(folder).await?;
    let started = Instant::now();
    let mut known = Vec::new();
    for round in 0..rounds {
        let plan = Plan { first: round * per_block, end: Some((round + 1) * per_block), deadline: None };
        let load = load::drive(Transport::Grpc, &server.otlp_grpc, Arc::clone(data), CLIENTS, plan).await?;
        if load.failures > 0 {
            bail!("{} pushes failed, first: {}", load.failures, load.failure_samples.join("; "));
        }
        for position in plan.first..plan.end.unwrap_or(plan.first) {
            let (request, pass) = data.at(position);
            known.extend(
                request.traces.iter().map(|t| Known { id: trace_id_in_round(t.trace_id, pass), spans: t.spans }),
            );
        }
        if flushes == rounds || round + 1 == rounds {
            server.flush().await?;
        }
    }
    println!("wrote {} traces in {:.1} s", known.len(), started.elapsed().as_secs_f64());
    let written = server::block_metas(&server.blocks_dir())?.len();
    server.stop().await?;
    Ok((known, written))
}

struct Measured {
    echo: Percentiles,
    first: Duration,
    sequential: Percentiles,
    concurrent: Percentiles,
    concurrent_rate: f64,
    unknown: Percentiles,
    /// Unknown-ID lookups slower than [`SLOW_UNKNOWN`]: some block's filter said "maybe" and
    /// the querier read that block.
    unknown_slow_share: f64,
    inspected_bytes_mean: f64,
    /// Resident memory once `/ready` answered after the restart.
    ready_rss: u64,
    /// Object-store use by the first lookup after the restart (cold caches).
    store_first: StoreUse,
    /// By the rest of the warm-up lookups.
    store_warm_up: StoreUse,
    store_sequential: StoreUse,
    store_concurrent: StoreUse,
    store_unknown: StoreUse,
    /// `inspectedBytes` summed over the sequential pass, to compare with the store's count.
    inspected_sequential: u64,
    peak_rss: u64,
    problems: Vec<String>,
}

impl Measured {
    fn add_to(&self, report: &mut Report, label: &str, with_concurrency: bool) {
        let echo = self.echo.p50;
        report.add(format!("{label}: GET /api/echo p50 (HTTP floor)"), ms(echo), "ms");
        report.compare(format!("{label}: first lookup after restart"), ms(self.first), "ms", ms(echo), "echo p50");
        for (what, p) in [("known ID, sequential", &self.sequential), ("unknown ID, sequential", &self.unknown)] {
            report.compare(format!("{label}: {what} p50"), ms(p.p50), "ms", ms(self.echo.p50), "echo p50");
            report.compare(format!("{label}: {what} p90"), ms(p.p90), "ms", ms(self.echo.p90), "echo p90");
            report.compare(format!("{label}: {what} p99"), ms(p.p99), "ms", ms(self.echo.p99), "echo p99");
            report.compare(format!("{label}: {what} max"), ms(p.max), "ms", ms(self.echo.max), "echo max");
        }
        if with_concurrency {
            let p = &self.concurrent;
            report.add(format!("{label}: known ID, {IN_FLIGHT} in flight p50"), ms(p.p50), "ms");
            report.add(format!("{label}: known ID, {IN_FLIGHT} in flight p90"), ms(p.p90), "ms");
            report.add(format!("{label}: known ID, {IN_FLIGHT} in flight p99"), ms(p.p99), "ms");
            report.add(format!("{label}: known ID, {IN_FLIGHT} in flight max"), ms(p.max), "ms");
            report.add(
                format!("{label}: known ID, {IN_FLIGHT} in flight throughput"),
                self.concurrent_rate,
                "lookups/s",
            );
        }
        report.add(
            format!("{label}: unknown IDs slower than {} ms (filter false positive)", SLOW_UNKNOWN.as_millis()),
            self.unknown_slow_share * 100.0,
            "%",
        );
        report.add(format!("{label}: inspectedBytes per lookup (mean)"), self.inspected_bytes_mean, "B");
        report.add(
            format!("{label}: object-store requests, first lookup after restart"),
            self.store_first.requests(),
            "requests",
        );
        report.add(
            format!("{label}: object-store requests per lookup, warm-up ({} lookups)", self.store_warm_up.lookups),
            self.store_warm_up.per_lookup(),
            "requests",
        );
        report.add(
            format!("{label}: object-store requests per lookup, known ID, sequential"),
            self.store_sequential.per_lookup(),
            "requests",
        );
        if with_concurrency {
            report.add(
                format!("{label}: object-store requests per lookup, known ID, {IN_FLIGHT} in flight"),
                self.store_concurrent.per_lookup(),
                "requests",
            );
        }
        report.add(
            format!("{label}: object-store requests per lookup, unknown ID"),
            self.store_unknown.per_lookup(),
            "requests",
        );
        report.compare(
            format!("{label}: object-store bytes fetched per lookup, known ID, sequential"),
            self.store_sequential.fetched_bytes / self.store_sequential.lookups.max(1) as f64,
            "B",
            self.inspected_sequential as f64 / self.store_sequential.lookups.max(1) as f64,
            "inspectedBytes the server reported",
        );
        report.add(
            format!("{label}: object-store bytes fetched per lookup, unknown ID"),
            self.store_unknown.fetched_bytes / self.store_unknown.lookups.max(1) as f64,
            "B",
        );
        for (what, used) in [
            ("first lookup", &self.store_first),
            ("known ID, sequential", &self.store_sequential),
            ("unknown ID", &self.store_unknown),
        ] {
            report.note(format!("{label}: {what}: requests per lookup by operation: {}", used.breakdown()));
        }
        report.add(
            format!("{label}: server RSS when ready after the restart"),
            self.ready_rss as f64 / (1 << 20) as f64,
            "MiB",
        );
        report.add(format!("{label}: server peak RSS"), self.peak_rss as f64 / (1 << 20) as f64, "MiB");
        if !self.problems.is_empty() {
            report.note(format!(
                "{label}: the server logged {} warnings/errors, first: {}",
                self.problems.len(),
                self.problems[0]
            ));
        }
        report.detail(
            label,
            serde_json::json!({
                "echo_ms": pct(&self.echo),
                "first_ms": ms(self.first),
                "known_sequential_ms": pct(&self.sequential),
                "known_concurrent_ms": pct(&self.concurrent),
                "unknown_sequential_ms": pct(&self.unknown),
                "unknown_slow_share": self.unknown_slow_share,
                "object_store": {
                    "first_lookup": self.store_first.to_json(),
                    "warm_up": self.store_warm_up.to_json(),
                    "known_sequential": self.store_sequential.to_json(),
                    "known_concurrent": self.store_concurrent.to_json(),
                    "unknown_sequential": self.store_unknown.to_json(),
                },
                "server_warnings": self.problems,
            }),
        );
    }
}

/// Object-store requests (by operation) and bytes fetched over some lookups: the difference of
/// the server's counters before and after.
#[derive(Clone, Debug, Default)]
struct StoreUse {
    lookups: usize,
    requests: BTreeMap<String, f64>,
    fetched_bytes: f64,
}

/// The server's object-store counters at one moment.
#[derive(Clone, Debug, Default)]
struct StoreCounters {
    requests: BTreeMap<String, f64>,
    fetched_bytes: f64,
}

const REQUESTS_METRIC: &str = "strand_object_store_requests_total";
const FETCHED_METRIC: &str = "strand_object_store_fetched_bytes_total";

impl StoreCounters {
    async fn read(server: &Server) -> anyhow::Result<StoreCounters> {
        let samples = server.metrics().await?;
        let mut requests = BTreeMap::new();
        for (series, value) in &samples {
            // strand_object_store_requests_total{operation="get_range"}
            if let Some(labels) = series.strip_prefix(REQUESTS_METRIC).and_then(|rest| rest.strip_prefix('{')) {
                let operation = labels.trim_end_matches('}').trim_start_matches("operation=").trim_matches('"');
                requests.insert(operation.to_string(), *value);
            }
        }
        ensure!(!requests.is_empty(), "the server's /metrics has no {REQUESTS_METRIC}: is the binary up to date?");
        let fetched_bytes = samples.get(FETCHED_METRIC).copied().unwrap_or(0.0);
        Ok(StoreCounters { requests, fetched_bytes })
    }

    /// What was used between `self` and `later`, over `lookups` lookups.
    fn until(&self, later: &StoreCounters, lookups: usize) -> StoreUse {
        let requests = later
            .requests
            .iter()
            .map(|(op, after)| (op.clone(), after - self.requests.get(op).copied().unwrap_or(0.0)))
            .collect();
        StoreUse { lookups, requests, fetched_bytes: later.fetched_bytes - self.fetched_bytes }
    }
}

impl StoreUse {
    fn requests(&self) -> f64 {
        self.requests.values().sum()
    }

    fn per_lookup(&self) -> f64 {
        self.requests() / self.lookups.max(1) as f64
    }

    /// `get_range 1.02, get 0.00, …`: the operations used, per lookup.
    fn breakdown(&self) -> String {
        let used: Vec<String> = self
            .requests
            .iter()
            .filter(|(_, count)| **count > 0.0)
            .map(|(op, count)| format!("{op} {:.3}", count / self.lookups.max(1) as f64))
            .collect();
        if used.is_empty() { "none".to_string() } else { used.join(", ") }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "lookups": self.lookups,
            "requests": self.requests,
            "requests_per_lookup": self.per_lookup(),
            "fetched_bytes": self.fetched_bytes,
        })
    }
}

fn pct(p: &Percentiles) -> serde_json::Value {
    serde_json::json!({ "count": p.count, "p50": ms(p.p50), "p90": ms(p.p90), "p99": ms(p.p99), "max": ms(p.max), "mean": ms(p.mean) })
}

/// Restarts strand on `folder` and times lookups.
async fn measure(folder: &Path, known: &[Known], lookups: usize, with_concurrency: bool) -> anyhow::Result<Measured> {
    let server = Server::start(folder).await?;
    let ready_rss = server.rss_bytes()?;
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build()?;
    let mut rng = StdRng::seed_from_u64(SEED ^ 0x1007);
    let wanted = WARM_UP_LOOKUPS + lookups * if with_concurrency { 2 } else { 1 };
    ensure!(known.len() >= wanted, "only {} traces written, {wanted} needed", known.len());
    let picked: Vec<Known> =
        rand::seq::index::sample(&mut rng, known.len(), wanted).into_iter().map(|i| known[i]).collect();
    let (warm_up, rest) = picked.split_at(WARM_UP_LOOKUPS);
    let (sequential_ids, concurrent_ids) = rest.split_at(lookups);

    let mut inspected = 0u64;
    let at_ready = StoreCounters::read(&server).await?;
    let first = Instant::now();
    inspected += fetch(&client, &server.http, warm_up[0]).await?;
    let first = first.elapsed();
    let after_first = StoreCounters::read(&server).await?;
    for &trace in &warm_up[1..] {
        fetch(&client, &server.http, trace).await?;
    }
    let after_warm_up = StoreCounters::read(&server).await?;

    let mut echo = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let started = Instant::now();
        let response = client.get(format!("{}/api/echo", server.http)).send().await?;
        ensure!(response.status().is_success(), "echo answered {}", response.status());
        response.bytes().await?;
        echo.push(started.elapsed());
    }

    let mut sequential = Vec::with_capacity(lookups);
    let mut inspected_sequential = 0u64;
    let before_sequential = StoreCounters::read(&server).await?;
    for &trace in sequential_ids {
        let started = Instant::now();
        inspected_sequential += fetch(&client, &server.http, trace).await?;
        sequential.push(started.elapsed());
    }
    inspected += inspected_sequential;
    let after_sequential = StoreCounters::read(&server).await?;

    let mut concurrent = Vec::new();
    let mut concurrent_rate = f64::NAN;
    if with_concurrency {
        let ids: Arc<Vec<Known>> = Arc::new(concurrent_ids.to_vec());
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..IN_FLIGHT {
            let (ids, next, client, base) = (Arc::clone(&ids), Arc::clone(&next), client.clone(), server.http.clone());
            workers.spawn(async move {
                let mut times = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&trace) = ids.get(index) else { break };
                    let at = Instant::now();
                    fetch(&client, &base, trace).await?;
                    times.push(at.elapsed());
                }
                anyhow::Ok(times)
            });
        }
        while let Some(joined) = workers.join_next().await {
            concurrent.extend(joined.context("lookup worker panicked")??);
        }
        concurrent_rate = concurrent.len() as f64 / started.elapsed().as_secs_f64();
    }
    let after_concurrent = StoreCounters::read(&server).await?;

    let mut unknown = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let id: [u8; 16] = rng.random();
        let started = Instant::now();
        let response = client
            .get(format!("{}/api/v2/traces/{}", server.http, hex::encode(id)))
            .header("accept", "application/protobuf")
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        unknown.push(started.elapsed());
        ensure!(
            status == reqwest::StatusCode::NOT_FOUND,
            "unknown trace {} answered {status}, not 404",
            hex::encode(id)
        );
    }

    let after_unknown = StoreCounters::read(&server).await?;

    let unknown_slow_share = unknown.iter().filter(|&&t| t > SLOW_UNKNOWN).count() as f64 / unknown.len().max(1) as f64;
    let peak_rss = server.peak_rss_bytes()?;
    let problems = server.log_problems();
    server.stop().await?;
    Ok(Measured {
        ready_rss,
        store_first: at_ready.until(&after_first, 1),
        store_warm_up: after_first.until(&after_warm_up, warm_up.len() - 1),
        store_sequential: before_sequential.until(&after_sequential, sequential.len()),
        store_concurrent: after_sequential.until(&after_concurrent, concurrent.len()),
        store_unknown: after_concurrent.until(&after_unknown, unknown.len()),
        inspected_sequential,
        unknown_slow_share,
        echo: Percentiles::of(&mut echo),
        first,
        sequential: Percentiles::of(&mut sequential),
        concurrent: Percentiles::of(&mut concurrent),
        concurrent_rate,
        unknown: Percentiles::of(&mut unknown),
        inspected_bytes_mean: inspected as f64 / (1 + sequential_ids.len()) as f64,
        peak_rss,
        problems,
    })
}

/// Fetches one known trace and checks it; returns the `inspectedBytes` the server reported.
async fn fetch(client: &reqwest::Client, base: &str, trace: Known) -> anyhow::Result<u64> {
    let id = hex::encode(trace.id);
    let response =
        client.get(format!("{base}/api/v2/traces/{id}")).header("accept", "application/protobuf").send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::OK {
        bail!("trace {id} answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let decoded =
        TraceByIdResponse::decode(body).with_context(|| format!("trace {id}: undecodable TraceByIDResponse"))?;
    let spans: Vec<_> = decoded
        .trace
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect();
    ensure!(spans.iter().all(|s| s.trace_id == trace.id), "trace {id}: a span with another trace ID came back");
    ensure!(
        spans.len() == trace.spans as usize,
        "trace {id}: {} spans came back, {} were written",
        spans.len(),
        trace.spans
    );
    Ok(decoded.metrics.map(|m| m.inspected_bytes).unwrap_or(0))
}
