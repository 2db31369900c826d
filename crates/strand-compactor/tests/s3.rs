//! Compaction against a real S3-compatible server (`STRAND_TEST_S3_ENDPOINT`, set by
//! `bash .ci/run`). Like the other S3 tests it fails, rather than skips, without one.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::*;
use strand_backend::testing::TestBucket;
use strand_backend::{Backend, ObjectStoreExt, keys};
use strand_compactor::CompactionConfig;
use strand_model::TenantId;
use strand_overrides::Overrides;

#[tokio::test]
async fn blocks_on_s3_compact_into_one_and_the_inputs_are_deleted_after_the_grace_period() -> Result<()> {
    let bucket = TestBucket::create("compactor").await?;
    let backend = Backend::open(&bucket.backend_config("cluster-a"))?;
    let (tenant, clock) = (TenantId::new("acme")?, TestClock::new());
    let start = clock.now_secs() - 3 * HOUR;
    let traces: Vec<_> = (0..200).map(|n| (trace_id(n), trace(n, "api", 0..5, start + n))).collect();
    let late: Vec<_> = (150..250).map(|n| (trace_id(n), trace(n, "db", 5..8, start + n))).collect();
    // Two replicas of the first flush, one of the second.
    let inputs = vec![
        level_0_block(&backend, &tenant, &traces).await?,
        level_0_block(&backend, &tenant, &traces).await?,
        level_0_block(&backend, &tenant, &late).await?,
    ];
    let config =
        CompactionConfig { compacted_block_retention: strand_common::Duration::secs(60), ..Default::default() };
    let compactor =
        compactor(&backend, config, Overrides::default(), owns_all(), &clock).with_work_dir(std::env::temp_dir());

    let report = compactor.run_once().await?;
    assert_eq!((report.compactions, report.input_blocks, report.output_blocks), (1, 3, 1));
    assert_eq!(report.spans_out, 150 * 5 + 50 * 8 + 50 * 3);
    let live = indexed(&backend, &tenant).await?;
    assert_eq!(live.len(), 1);
    let expected = (0..250)
        .map(|n| {
            (
                trace_id(n),
                if n < 150 {
                    5
                } else if n < 200 {
                    8
                } else {
                    3
                },
            )
        })
        .collect();
    assert_eq!(spans_per_trace(&backend, &live, (0..250).map(trace_id)).await?, expected);
    for input in &inputs {
        let marker = keys::block_object(&tenant, input.block_id, keys::COMPACTED_META);
        backend.store().head(&marker).await.with_context(|| format!("{marker} missing"))?;
    }

    clock.advance(Duration::from_secs(120));
    assert_eq!(compactor.run_once().await?.compacted_deleted, 3);
    let folders: Vec<_> = backend.list_block_folders(&tenant).await?.into_iter().map(|f| f.block_id).collect();
    assert_eq!(folders, vec![live[0].block_id]);
    Ok(())
}
