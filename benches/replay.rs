//! WAL replay after a crash: how long a killed ingester takes to come back with everything it
//! had acknowledged, against the same-run baseline of reading the same WAL files sequentially
//! (what `cat` of the segments costs), so the replay rate reads as a share of raw read speed.
//!
//! The server runs with a 10-minute `trace_idle_period`, `trace_live_period` and
//! `max_block_duration`, so nothing is cut or flushed and every acknowledged span is only in the
//! WAL (fsync on) and in memory. About `STRAND_BENCH_WAL_BYTES` of OTLP goes in over OTLP/gRPC
//! (8 exporters); then the server is killed with SIGKILL and started again on the same folder.
//! Measured: time from start to `/ready` answering 200 (the ingester replays every segment
//! before it is ready), the replay rate in spans/s and MB/s of WAL, and peak RSS (`VmHWM`) when
//! ready. A `POST /flush` afterwards checks that the blocks hold every span acknowledged before
//! the crash. A fresh server's time to ready is measured too, so startup is not mistaken for
//! replay.
//!
//! The WAL was just written, so its pages are in the OS page cache. By default they are evicted
//! (`dd iflag=nocache count=0`, which needs no privileges) before the baseline read and again
//! before the restart, so both read from the disk, as after a machine crash; the baseline is then
//! the disk's sequential read speed. `STRAND_BENCH_REPLAY_CACHE=warm` leaves them cached, as after
//! a crash of the process alone. The page-cache read speed is measured in both cases.
//!
//! `cargo bench --bench replay`; `STRAND_BENCH_WAL_BYTES` (default 1GiB; a byte count or
//! `200MiB`, `1GiB`, `500MB`), `STRAND_BENCH_REPLAY_CACHE` (`cold`, the default, or `warm`).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::data::{Dataset, SEED};
use common::load::{self, Plan, Transport};
use common::report::Report;
use common::server::{self, Options, Server};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUESTS: usize = 400;
const CLIENTS: usize = 8;
/// Long enough that nothing leaves the live traces (and so the WAL holds everything).
const HOLD: Duration = Duration::from_secs(600);
const READY_LIMIT: Duration = Duration::from_secs(1800);
const DEFAULT_WAL_BYTES: u64 = 1 << 30;
const MIB: f64 = (1 << 20) as f64;

fn main() -> anyhow::Result<()> {
    let mut report = Report::new("replay");
    let target = wal_bytes_from_env()?;
    let cold = match std::env::var("STRAND_BENCH_REPLAY_CACHE").as_deref() {
        Err(_) | Ok("cold") => true,
        Ok("warm") => false,
        Ok(other) => bail!("STRAND_BENCH_REPLAY_CACHE={other:?}: expected cold or warm"),
    };
    let data = Arc::new(Dataset::generate(REQUESTS, SEED)?);
    let requests = target.div_ceil((data.bytes / data.requests.len() as u64).max(1)).max(1);
    // Live traces take more than their OTLP bytes; keep the limit out of the way.
    let options = Options {
        hold_live_traces: Some(HOLD),
        max_live_traces_bytes: Some(format!("{}", (target * 8).max(2 << 30))),
        ready_timeout: Some(READY_LIMIT),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    // Startup without a WAL, for comparison.
    let empty = tempfile::tempdir()?;
    let fresh_ready = runtime.block_on(async {
        let started = Instant::now();
        let server = Server::start_with(empty.path(), &options).await?;
        let ready = started.elapsed();
        server.stop().await?;
        anyhow::Ok(ready)
    })?;

    let folder = tempfile::tempdir()?;
    let (load, rss_before_kill) = runtime.block_on(async {
        let server = Server::start_with(folder.path(), &options).await?;
        println!("pushing {requests} requests (~{:.0} MiB of OTLP) over OTLP/gRPC...", target as f64 / MIB);
        let plan = Plan { first: 0, end: Some(requests), deadline: None };
        let load = load::drive(Transport::Grpc, &server.otlp_grpc, Arc::clone(&data), CLIENTS, plan).await?;
        let rss = server.rss_bytes()?;
        println!("killing strand (SIGKILL) with {} spans acknowledged...", load.spans);
        server.kill()?;
        anyhow::Ok((load, rss))
    })?;
    if load.failures > 0 {
        bail!("{} pushes failed, first: {}; no figures", load.failures, load.failure_samples.join("; "));
    }

    let segments = wal_segments(&folder.path().join("wal"))?;
    let wal_bytes: u64 = segments.iter().map(|(_, bytes)| bytes).sum();
    let files: Vec<PathBuf> = segments.iter().map(|(path, _)| path.clone()).collect();
    let warm_read = read_sequentially(&files)?;
    evict(&files)?;
    let cold_read = read_sequentially(&files)?;
    println!(
        "baseline: read {} WAL segments ({:.0} MiB) in {:.2} s from the page cache, {:.2} s from disk",
        files.len(),
        wal_bytes as f64 / MIB,
        warm_read.as_secs_f64(),
        cold_read.as_secs_f64()
    );
    if cold {
        evict(&files)?;
    }
    let (read, read_what) = if cold { (cold_read, "from disk") } else { (warm_read, "from the page cache") };

    println!("restarting strand on the same folder...");
    let replayed = runtime.block_on(async {
        let started = Instant::now();
        let server = Server::start_with(folder.path(), &options).await?;
        let ready = started.elapsed();
        let peak_at_ready = server.peak_rss_bytes()?;
        let rss_at_ready = server.rss_bytes()?;
        println!("ready after {:.2} s; flushing the replayed spans to check them...", ready.as_secs_f64());
        let flush = server.flush().await?;
        let peak_after_flush = server.peak_rss_bytes()?;
        let metas = server::block_metas(&server.blocks_dir())?;
        let replay_log = replay_log_spans(&server.data_dir);
        let problems = server.log_problems();
        server.stop().await?;
        anyhow::Ok(Replayed {
            ready,
            peak_at_ready,
            rss_at_ready,
            flush,
            peak_after_flush,
            metas,
            replay_log,
            problems,
        })
    })?;

    let spans = load.spans as f64;
    let ready = replayed.ready.as_secs_f64();
    let read_secs = read.as_secs_f64().max(1e-9);
    let mb_per_s = |time: Duration| wal_bytes as f64 / 1e6 / time.as_secs_f64().max(1e-9);
    let stored_spans: u64 = replayed.metas.iter().filter_map(|m| m["totalSpans"].as_u64()).sum();
    report.add("spans acknowledged before the crash", spans, "spans");
    report.add("OTLP acknowledged before the crash", load.bytes as f64 / MIB, "MiB");
    report.add("WAL on disk at the crash", wal_bytes as f64 / MIB, "MiB");
    report.add("WAL segments", files.len() as f64, "files");
    report.compare(
        format!("time to ready after the crash (replay, WAL {read_what})"),
        ready,
        "s",
        read_secs,
        format!("reading the WAL files sequentially {read_what}"),
    );
    report.add("time to ready, empty WAL (a fresh folder)", fresh_ready.as_secs_f64(), "s");
    report.compare(
        "replay rate, WAL bytes",
        wal_bytes as f64 / 1e6 / ready,
        "MB/s",
        mb_per_s(read),
        format!("sequential read of the WAL files {read_what}"),
    );
    report.add("sequential read of the WAL files from disk", mb_per_s(cold_read), "MB/s");
    report.add("sequential read of the WAL files from the page cache", mb_per_s(warm_read), "MB/s");
    report.add("replay rate, spans", spans / ready, "spans/s");
    report.add("replay rate, OTLP bytes", load.bytes as f64 / 1e6 / ready, "MB/s");
    report.compare(
        "peak RSS during replay (VmHWM at ready)",
        replayed.peak_at_ready as f64 / MIB,
        "MiB",
        wal_bytes as f64 / MIB,
        "WAL size",
    );
    report.add("RSS when ready", replayed.rss_at_ready as f64 / MIB, "MiB");
    report.add("RSS before the crash (spans in live traces)", rss_before_kill as f64 / MIB, "MiB");
    report.add("/flush of the replayed spans", replayed.flush.as_secs_f64(), "s");
    report.add("peak RSS including that /flush", replayed.peak_after_flush as f64 / MIB, "MiB");
    report.compare("spans in blocks after replay and /flush", stored_spans as f64, "spans", spans, "acknowledged");
    match replayed.replay_log {
        Some(logged) => {
            report.compare("spans the ingester logged as replayed", logged as f64, "spans", spans, "acknowledged")
        }
        None => report.note("the server log has no `replayed wal ... spans=` line to compare with"),
    }
    report.note(format!(
        "push: {} requests over OTLP/gRPC from {CLIENTS} exporters in {:.1} s; WAL fsync on; trace_idle_period, trace_live_period and max_block_duration {}s so nothing was flushed before the crash",
        load.requests,
        load.wall.as_secs_f64(),
        HOLD.as_secs()
    ));
    if cold {
        report.note("the WAL's pages were evicted from the OS page cache before the replay and before the baseline read, so both read from disk (as after a machine crash)");
    } else {
        report.note("the WAL's pages were in the OS page cache for both the replay and the baseline read (as after a crash of the process alone)");
    }
    report.note("time to ready runs from spawning the process to the first 200 from /ready (polled every 50 ms); the ingester replays every segment and writes what it replayed to a head block before it is ready, and flushes that block afterwards");
    if !replayed.problems.is_empty() {
        report.note(format!(
            "the server logged {} warnings/errors, first: {}",
            replayed.problems.len(),
            replayed.problems[0]
        ));
    }
    report.detail(
        "run",
        serde_json::json!({
            "target_wal_bytes": target,
            "requests": load.requests,
            "spans_acknowledged": load.spans,
            "otlp_bytes_acknowledged": load.bytes,
            "wal_bytes": wal_bytes,
            "wal_segments": files.len(),
            "cache": if cold { "cold" } else { "warm" },
            "read_seconds_disk": cold_read.as_secs_f64(),
            "read_seconds_page_cache": warm_read.as_secs_f64(),
            "ready_seconds": ready,
            "fresh_ready_seconds": fresh_ready.as_secs_f64(),
            "peak_rss_at_ready_bytes": replayed.peak_at_ready,
            "peak_rss_after_flush_bytes": replayed.peak_after_flush,
            "flush_seconds": replayed.flush.as_secs_f64(),
            "spans_in_blocks": stored_spans,
            "blocks": replayed.metas.len(),
            "replayed_spans_logged": replayed.replay_log,
            "server_warnings": replayed.problems,
        }),
    );
    report.print();
    println!("written to {}", report.write_json()?.display());
    anyhow::ensure!(
        stored_spans == load.spans,
        "the blocks hold {stored_spans} spans after replay, {} were acknowledged before the crash",
        load.spans
    );
    Ok(())
}

struct Replayed {
    ready: Duration,
    peak_at_ready: u64,
    rss_at_ready: u64,
    flush: Duration,
    peak_after_flush: u64,
    metas: Vec<serde_json::Value>,
    replay_log: Option<u64>,
    problems: Vec<String>,
}

/// `STRAND_BENCH_WAL_BYTES`: a byte count, optionally with a unit (`200MiB`, `1GiB`, `500MB`).
fn wal_bytes_from_env() -> anyhow::Result<u64> {
    let Ok(raw) = std::env::var("STRAND_BENCH_WAL_BYTES") else { return Ok(DEFAULT_WAL_BYTES) };
    let text = raw.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("STRAND_BENCH_WAL_BYTES={raw:?}: not a size"))?;
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => bail!("STRAND_BENCH_WAL_BYTES={raw:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, KB, MB or GB)"),
    };
    let bytes = (number * scale) as u64;
    anyhow::ensure!(bytes > 0, "STRAND_BENCH_WAL_BYTES={raw:?} must be above 0");
    Ok(bytes)
}

/// Every WAL segment (`*.wal`) under `dir`, with its size, in path order (segments are named by
/// sequence number, so that is the order they were written and are replayed in).
fn wal_segments(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut segments: Vec<(PathBuf, u64)> = server::files_under(dir)?
        .into_iter()
        .filter(|(path, _)| path.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    anyhow::ensure!(!segments.is_empty(), "no WAL segments under {}", dir.display());
    Ok(segments)
}

/// Drops the files' pages from the OS page cache (`POSIX_FADV_DONTNEED` through GNU dd, which
/// needs no privileges; the WAL is fsynced, so its pages are clean and can go).
fn evict(files: &[PathBuf]) -> anyhow::Result<()> {
    for path in files {
        let status = std::process::Command::new("dd")
            .arg(format!("if={}", path.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .context("running dd to evict the WAL from the page cache")?;
        anyhow::ensure!(status.success(), "dd iflag=nocache failed on {}: {status}", path.display());
    }
    Ok(())
}

/// The baseline: reads every file start to end in 1 MiB chunks, as `cat` would.
fn read_sequentially(files: &[PathBuf]) -> anyhow::Result<Duration> {
    let mut buffer = vec![0u8; 1 << 20];
    let started = Instant::now();
    let mut total = 0u64;
    for path in files {
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            total += read as u64;
        }
    }
    let elapsed = started.elapsed();
    std::hint::black_box(total);
    Ok(elapsed)
}

/// The spans the ingester logged as replayed (`replayed wal … spans=N`), summed over the lines
/// (one per tenant; the folder's only restart is the one after the crash), if the log says.
fn replay_log_spans(data_dir: &Path) -> Option<u64> {
    let log = std::fs::read_to_string(data_dir.join("strand.log")).ok()?;
    let mut spans = None;
    for line in log.lines() {
        if line.contains("replayed wal") {
            let value = line.split_whitespace().find_map(|field| field.strip_prefix("spans="))?;
            let value: u64 = value.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
            *spans.get_or_insert(0) += value;
        }
    }
    spans
}
