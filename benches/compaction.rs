//! Compaction throughput: level-0 blocks as RF=2 replication leaves them, merged into one.
//!
//! HotROD-shaped traces from the load generator (`strand_loadgen::hotrod`) are written as
//! `STRAND_BENCH_BLOCKS / 2` distinct level-0 blocks, each stored twice (two ingesters' copies),
//! in a local-folder bucket on tmpfs when the machine has one. Then, in the same run:
//!
//! 0. baseline: every input's columns read and decoded into Arrow, building no trace: the
//!    Parquet read alone;
//! 1. baseline: every input read back and decoded into traces (`BlockScan`), with no merging
//!    and no writing: what compaction cannot avoid doing;
//! 2. the merge alone (`compact_blocks`): k-way merge, dedupe, encode to a local file;
//! 3. a whole compaction pass (`Compactor::run_once`): merge, upload, retire the inputs, rebuild
//!    the index.
//!
//! Throughput is spans read per second per core (spans ÷ CPU seconds of this process, which the
//! scans' decoding spreads over both cores), so the figures read as ratios to the baseline.
//!
//! `cargo bench --bench compaction`; `STRAND_BENCH_SPANS` (input spans, default 400,000),
//! `STRAND_BENCH_BLOCKS` (default 8).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use common::report::Report;
use common::{env_u64, own_cpu_seconds};
use futures::future::try_join_all;
use strand_backend::{Backend, BackendConfig, BackendKind, BlockMeta, LocalConfig};
use strand_compactor::{CompactionConfig, Compactor, CompactorConfig};
use strand_encoding::{BlockConfig, BlockReader, BlockScan, BlockWriter, compact_blocks, upload_block};
use strand_loadgen::hotrod;
use strand_model::{BlockId, TenantId, TraceId};
use strand_overrides::Overrides;
use strand_proto::tempopb::Trace;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Seeds the generated traces.
const SEED: u64 = 0x00c0_4ac7;
/// About how many spans a HotROD trace has, to size blocks.
const SPANS_PER_TRACE: u64 = 65;

/// CPU and wall time of one measured phase.
struct Cost {
    cpu_seconds: f64,
    wall_seconds: f64,
}

async fn measure<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<(T, Cost)> {
    let (cpu, started) = (own_cpu_seconds(), Instant::now());
    let value = work.await?;
    Ok((value, Cost { cpu_seconds: own_cpu_seconds() - cpu, wall_seconds: started.elapsed().as_secs_f64() }))
}

fn main() -> anyhow::Result<()> {
    let spans = env_u64("STRAND_BENCH_SPANS", 400_000);
    let blocks = env_u64("STRAND_BENCH_BLOCKS", 8).max(2) / 2 * 2;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(spans, blocks))
}

/// A scratch folder on tmpfs when there is one, so the figures are CPU, not a shared disk.
fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    Ok(if shm.is_dir() { tempfile::tempdir_in(shm)? } else { tempfile::tempdir()? })
}

/// Writes `copies` identical level-0 blocks of distinct traces `first..first + count`.
async fn replicated_block(
    backend: &Backend,
    dir: &Path,
    traces: std::ops::Range<u64>,
    start_unix_nano: u64,
    copies: u64,
) -> anyhow::Result<Vec<BlockMeta>> {
    let mut ids: Vec<([u8; 16], u64)> = traces.map(|index| (hotrod::trace_id(SEED, index), index)).collect();
    ids.sort_unstable();
    let path = dir.join(format!("level-0-{}.parquet", ids.first().map(|(_, i)| *i).unwrap_or_default()));
    let file = std::fs::File::create(&path)?;
    let written = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut writer = BlockWriter::new(file, &BlockConfig::default())?;
        for (n, (id, index)) in ids.iter().enumerate() {
            let (_, resource_spans) = hotrod::trace(SEED, *index, start_unix_nano + n as u64 * 1_000_000);
            writer.add_trace(TraceId::from_bytes(id)?, Trace { resource_spans }, false)?;
        }
        Ok(writer.finish()?)
    })
    .await??;
    let mut metas = Vec::new();
    for _ in 0..copies {
        metas.push(upload_block(backend, &TenantId::single(), BlockId::new_random(), &path, &written, 0).await?);
    }
    std::fs::remove_file(&path)?;
    Ok(metas)
}

/// Decodes every column of every input into Arrow, all inputs at once, building nothing.
async fn decode_all(backend: &Backend, inputs: &[BlockMeta]) -> anyhow::Result<u64> {
    let reader = BlockReader::new(backend.clone(), inputs.len());
    let decodes = inputs.iter().map(|meta| strand_encoding::bench_support::decode_columns(&reader, meta));
    Ok(try_join_all(decodes).await?.into_iter().sum())
}

/// Reads and decodes every trace of every input, all inputs at once as compaction does.
async fn scan_all(backend: &Backend, inputs: &[BlockMeta]) -> anyhow::Result<u64> {
    let reader = BlockReader::new(backend.clone(), inputs.len());
    let scans = inputs.iter().map(|meta| {
        let reader = reader.clone();
        async move {
            let mut scan = BlockScan::open(&reader, meta).await?;
            let mut spans = 0;
            while let Some(trace) = scan.next().await? {
                spans += trace.spans;
            }
            anyhow::Ok(spans)
        }
    });
    Ok(try_join_all(scans).await?.into_iter().sum())
}

async fn run(spans: u64, blocks: u64) -> anyhow::Result<()> {
    let mut report = Report::new("compaction");
    let dir = scratch_dir()?;
    let backend = Backend::open(&BackendConfig {
        kind: BackendKind::Local,
        local: LocalConfig { path: dir.path().join("bucket").display().to_string() },
        ..BackendConfig::default()
    })?;
    // Every trace starts in one compaction window, two hours ago.
    let now_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let window_start = (now_secs / 3600 - 2) * 3600;
    let traces_per_block = (spans / blocks).div_ceil(SPANS_PER_TRACE);
    let build = Instant::now();
    let mut inputs = Vec::new();
    for set in 0..blocks / 2 {
        let traces = set * traces_per_block..(set + 1) * traces_per_block;
        let start = (window_start + 60 + set) * 1_000_000_000;
        inputs.extend(replicated_block(&backend, dir.path(), traces, start, 2).await?);
    }
    let spans_in: u64 = inputs.iter().map(|m| m.total_spans).sum();
    let bytes_in: u64 = inputs.iter().map(|m| m.data_size + m.filter_size + m.tags_size).sum();
    println!(
        "built {} level-0 blocks ({} distinct, each stored twice) with {spans_in} spans in {:.1} s",
        inputs.len(),
        inputs.len() / 2,
        build.elapsed().as_secs_f64()
    );

    let (decoded, decode) = measure(decode_all(&backend, &inputs)).await?;
    anyhow::ensure!(decoded == spans_in, "the Parquet read decoded {decoded} rows of {spans_in}");
    let (scanned, scan) = measure(scan_all(&backend, &inputs)).await?;
    anyhow::ensure!(scanned == spans_in, "the scan read {scanned} spans of {spans_in}");

    let local = dir.path().join("merged.parquet");
    let (merged, merge) = measure(async {
        let file = std::fs::File::create(&local)?;
        Ok(compact_blocks(&backend, &inputs, &BlockConfig::default(), file).await?)
    })
    .await?;
    std::fs::remove_file(&local)?;
    anyhow::ensure!(merged.total_spans * 2 == spans_in, "replicated spans must be stored once");

    let compactor = Compactor::new(
        CompactorConfig {
            compaction: CompactionConfig { max_input_blocks: inputs.len(), ..CompactionConfig::default() },
            ..CompactorConfig::default()
        },
        backend.clone(),
        Arc::new(Overrides::default()),
        Arc::new(|_, _| true),
    )
    .with_work_dir(dir.path());
    let (cycle_report, cycle) = measure(async { Ok(compactor.run_once().await?) }).await?;
    anyhow::ensure!(cycle_report.compactions == 1, "expected one compaction, got {cycle_report:?}");
    let output = backend.read_tenant_index(&TenantId::single()).await?.context("no tenant index")?.metas;
    let bytes_out: u64 = output.iter().map(|m| m.data_size + m.filter_size + m.tags_size).sum();
    let spans_out = cycle_report.spans_out;

    let per_core = |cost: &Cost| spans_in as f64 / cost.cpu_seconds;
    let baseline = "scan only: read + decode the inputs";
    report.add("input spans (2 copies of each)", spans_in as f64, "spans");
    report.add("output spans", spans_out as f64, "spans");
    report.add("Parquet read only (decode inputs' columns), per core", per_core(&decode), "spans/s");
    report.compare(
        "scan only (read + decode inputs into traces), per core",
        per_core(&scan),
        "spans/s",
        per_core(&decode),
        "Parquet read only",
    );
    report.compare("merge + encode (compact_blocks), per core", per_core(&merge), "spans/s", per_core(&scan), baseline);
    report.compare(
        "whole pass (merge, upload, commit), per core",
        per_core(&cycle),
        "spans/s",
        per_core(&scan),
        baseline,
    );
    report.compare(
        "whole pass, wall clock (2 cores)",
        spans_in as f64 / cycle.wall_seconds,
        "spans/s",
        spans_in as f64 / scan.wall_seconds,
        "scan only, wall clock",
    );
    report.add("stored bytes / input span (inputs)", bytes_in as f64 / spans_in as f64, "B/span");
    report.compare(
        "stored bytes / output span (merged block)",
        bytes_out as f64 / spans_out as f64,
        "B/span",
        bytes_in as f64 / spans_in as f64,
        "inputs, per input span",
    );
    report.note(format!(
        "CPU seconds: Parquet read {:.2}, scan {:.2}, merge {:.2}, pass {:.2}; wall seconds: {:.2}, {:.2}, {:.2}, {:.2}",
        decode.cpu_seconds,
        scan.cpu_seconds,
        merge.cpu_seconds,
        cycle.cpu_seconds,
        decode.wall_seconds,
        scan.wall_seconds,
        merge.wall_seconds,
        cycle.wall_seconds
    ));
    report.note("throughput counts input spans: each distinct span is read twice (RF=2) and written once");
    report.note("the local-folder bucket is on tmpfs when /dev/shm exists: no disk or network in the figures");
    report.detail(
        "run",
        serde_json::json!({
            "blocks": inputs.len(),
            "spans_in": spans_in,
            "spans_out": spans_out,
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
            "row_groups_out": output.iter().map(|m| m.row_groups).sum::<u32>(),
        }),
    );
    report.print();
    println!("written to {}", report.write_json()?.display());
    Ok(())
}
