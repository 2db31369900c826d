//! Criterion micro-benchmark of block building: `BlockWriter::add_trace` for every trace of 20
//! pushes (10,240 spans in about 4,000 traces, in trace-ID order, as the ingester flushes a head
//! block) and `finish`, which writes the Parquet footer, syncs the file and builds the filter.
//! The file is on tmpfs (`/dev/shm`) when the machine has it, so the sync costs nothing and the
//! figure is the CPU cost of encoding.
//!
//! Same-run baseline: zstd level 1 (the block's page compression) of the same spans as OTLP, each
//! of the 20 `ExportTraceServiceRequest` bodies compressed with one reused context: the cost of
//! compressing the data with no columns, no Parquet and no filter.
//!
//! ```sh
//! cargo bench -p strand-encoding --bench block
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::File;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strand_encoding::{BlockConfig, BlockWriter, WrittenBlock};

use common::data;

// The ingester runs on mimalloc; measure with it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUESTS: usize = 20;

fn block(c: &mut Criterion) {
    let dataset = data::Dataset::generate(REQUESTS, data::SEED).expect("generating the requests");
    let traces: Vec<_> = common::traces(&dataset.requests).into_iter().collect();
    let config = BlockConfig::default();
    let dir = common::scratch_dir();
    let path = dir.path().join("data.parquet");
    // The writer takes each trace by value, as the ingester hands over the traces it decodes;
    // the copies are made outside the timed part.
    let write_block = |traces: Vec<_>| -> WrittenBlock {
        let mut writer = BlockWriter::new(File::create(&path).unwrap(), &config).unwrap();
        for (id, trace) in traces {
            writer.add_trace(id, trace, false).unwrap();
        }
        writer.finish().unwrap()
    };
    let mut zstd = zstd::bulk::Compressor::new(config.zstd_level).unwrap();
    let mut compress =
        || -> usize { dataset.requests.iter().map(|request| zstd.compress(&request.bytes).unwrap().len()).sum() };

    let written = write_block(traces.clone());
    assert_eq!(written.total_spans, dataset.spans, "every span is in the block");
    eprintln!(
        "{} spans in {} traces: OTLP {} B, zstd-{} of it {} B, block data.parquet {} B + filter {} B",
        dataset.spans,
        written.total_traces,
        dataset.bytes,
        config.zstd_level,
        compress(),
        written.data_size,
        written.filter.len(),
    );

    let mut group = c.benchmark_group("block_10k_spans");
    group.throughput(Throughput::Elements(dataset.spans));
    // An iteration takes tens of milliseconds; criterion's minimum of 10 samples is plenty.
    group.sample_size(10);
    group.bench_function("baseline_zstd1_of_otlp", |b| b.iter(|| black_box(compress())));
    group.bench_function("add_trace_and_finish", |b| {
        b.iter_batched(|| traces.clone(), write_block, BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, block);
criterion_main!(benches);
