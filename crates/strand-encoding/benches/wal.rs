//! Criterion micro-benchmark of `Wal::append` with `fsync: false`: one push record at a time, as
//! a lone exporter's pushes arrive. The record is what the ingester appends for a push of 512
//! spans: `encode_push_record` of the push's traces, about 330 KB, as every trace carries its own
//! copy of its resource.
//!
//! Same-run baseline: `write_all` of the same payload bytes to a plain file. The difference is
//! the WAL's own work: the crc32 and a copy into its group buffer, the hand-off to its writer
//! thread and back, and the `sync_all` of each 128 MiB segment it closes (done even with
//! `fsync: false`).
//!
//! Both write to tmpfs (`/dev/shm`, when the machine has it), so the figures are CPU and memory
//! cost, not the disk's: on a disk, that once-per-segment sync writes the whole segment out and
//! would dominate the figure. Both start over in a new file every 128 MiB, outside the timing, so
//! memory use stays bounded.
//!
//! ```sh
//! cargo bench -p strand-encoding --bench wal
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strand_encoding::{Wal, WalConfig, encode_push_record};

use common::data;

// The ingester runs on mimalloc; measure with it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn wal(c: &mut Criterion) {
    let dataset = data::Dataset::generate(1, data::SEED).expect("generating the request");
    let record = encode_push_record(&common::trace_bytes(&common::traces(&dataset.requests)));
    let config = WalConfig { fsync: false, ..WalConfig::default() };
    let segment_size = config.segment_size.bytes();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = common::scratch_dir();
    eprintln!("push record of {} spans: {} bytes", dataset.spans, record.len());

    let mut group = c.benchmark_group("wal_push_record");
    group.throughput(Throughput::Bytes(record.len() as u64));
    group.bench_function("baseline_write_all", |b| {
        let path = dir.path().join("plain");
        let mut file = File::create(&path).unwrap();
        let mut written = 0;
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                if written >= segment_size {
                    file = File::create(&path).unwrap();
                    written = 0;
                }
                let started = Instant::now();
                file.write_all(&record).unwrap();
                elapsed += started.elapsed();
                written += record.len() as u64;
            }
            elapsed
        })
    });
    group.bench_function("wal_append", |b| {
        let wal = Wal::open(&dir.path().join("wal"), &config).unwrap();
        let mut segment = wal.current_segment();
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                runtime.block_on(wal.append(Bytes::clone(&record))).unwrap();
                elapsed += started.elapsed();
                // What the ingester does once the blocks cut from old segments are flushed.
                if wal.current_segment() != segment {
                    segment = wal.current_segment();
                    wal.delete_segments_before(segment).unwrap();
                }
            }
            elapsed
        });
        runtime.block_on(wal.close()).unwrap();
    });
    group.finish();
}

criterion_group!(benches, wal);
criterion_main!(benches);
