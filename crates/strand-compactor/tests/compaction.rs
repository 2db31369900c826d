//! Compaction over an in-memory bucket: what ends up live, retired and deleted.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, ensure};
use common::*;
use object_store::PutPayload;
use strand_backend::{Backend, BlockMeta, ObjectStoreExt, keys};
use strand_common::Duration as ConfigDuration;
use strand_compactor::{CompactionConfig, CycleReport};
use strand_encoding::{BlockConfig, compact_blocks, upload_block};
use strand_model::{BlockId, TenantId, TraceId};
use strand_overrides::Overrides;

/// Five ingester blocks of one window, the way RF=2 replication and a trace spread over two
/// flushes store them: blocks 0 and 1 are replicas of traces 0..40; blocks 2 and 3 are replicas
/// of traces 30..70, whose "db" spans for 30..40 arrived after the first flush; block 4 holds
/// traces 70..90 once. Returns the blocks and the spans each trace should end with.
async fn five_blocks(
    backend: &Backend,
    tenant: &TenantId,
    start_secs: u64,
) -> Result<(Vec<BlockMeta>, BTreeMap<TraceId, usize>)> {
    let first: Vec<_> = (0..40).map(|n| (trace_id(n), trace(n, "api", 0..4, start_secs + n))).collect();
    let second: Vec<_> = (30..70)
        .map(|n| {
            let spans = if n < 40 { 4..7 } else { 0..3 };
            (trace_id(n), trace(n, if n < 40 { "db" } else { "api" }, spans, start_secs + n))
        })
        .collect();
    let third: Vec<_> = (70..90).map(|n| (trace_id(n), trace(n, "queue", 0..2, start_secs + n))).collect();
    let mut blocks = Vec::new();
    for traces in [&first, &first, &second, &second, &third] {
        blocks.push(level_0_block(backend, tenant, traces).await?);
    }
    let expected = (0..90)
        .map(|n| {
            let spans = match n {
                0..30 => 4,
                30..40 => 7,
                40..70 => 3,
                _ => 2,
            };
            (trace_id(n), spans)
        })
        .collect();
    Ok((blocks, expected))
}

fn tiny_grace() -> CompactionConfig {
    CompactionConfig { compacted_block_retention: ConfigDuration::secs(60), ..CompactionConfig::default() }
}

async fn folders(backend: &Backend, tenant: &TenantId) -> Result<Vec<BlockId>> {
    Ok(backend.list_block_folders(tenant).await?.into_iter().map(|f| f.block_id).collect())
}

#[tokio::test]
async fn five_level_0_blocks_become_one_level_1_block_and_the_inputs_go_after_the_grace_period() -> Result<()> {
    let (backend, tenant, clock) = (Backend::in_memory(), TenantId::new("acme")?, TestClock::new());
    let (inputs, expected) = five_blocks(&backend, &tenant, clock.now_secs() - 3 * HOUR).await?;
    let compactor = compactor(&backend, tiny_grace(), Overrides::default(), owns_all(), &clock);

    let report = compactor.run_once().await?;
    let spans_in: u64 = inputs.iter().map(|m| m.total_spans).sum();
    let distinct = expected.values().sum::<usize>() as u64;
    assert_eq!(
        report,
        CycleReport {
            tenants: 1,
            compactions: 1,
            input_blocks: 5,
            output_blocks: 1,
            spans_in,
            spans_out: distinct,
            ..CycleReport::default()
        }
    );
    assert!(distinct < spans_in, "replicated spans are stored once");

    let live = indexed(&backend, &tenant).await?;
    assert_eq!(live.len(), 1, "the index lists the merged block only: {live:?}");
    let merged = &live[0];
    assert_eq!((merged.compaction_level, merged.total_traces, merged.total_spans), (1, 90, distinct));
    assert_eq!(spans_per_trace(&backend, &live, expected.keys().copied()).await?, expected);
    for input in &inputs {
        assert_eq!(backend.read_block_meta(&tenant, input.block_id).await?, None, "input still live");
        let compacted = backend.read_compacted_block_meta(&tenant, input.block_id).await?;
        assert_eq!(compacted.map(|c| c.meta), Some(input.clone()));
    }
    // Until the grace period passes, a querier holding the old blocklist still reads everything.
    assert_eq!(spans_per_trace(&backend, &inputs, expected.keys().copied()).await?, expected);
    assert_eq!(folders(&backend, &tenant).await?.len(), 6);

    clock.advance(Duration::from_secs(30));
    let report = compactor.run_once().await?;
    assert_eq!((report.compactions, report.compacted_deleted), (0, 0), "within the grace period nothing goes");

    clock.advance(Duration::from_secs(60));
    let report = compactor.run_once().await?;
    assert_eq!(report.compacted_deleted, 5);
    assert_eq!(folders(&backend, &tenant).await?, vec![merged.block_id]);
    assert_eq!(spans_per_trace(&backend, &live, expected.keys().copied()).await?, expected);
    Ok(())
}

#[tokio::test]
async fn retention_retires_old_blocks_only_and_a_tenant_override_shortens_it() -> Result<()> {
    let (backend, clock) = (Backend::in_memory(), TestClock::new());
    let (acme, audit) = (TenantId::new("acme")?, TenantId::new("audit")?);
    let now = clock.now_secs();
    let old = level_0_block(&backend, &acme, &[(trace_id(1), trace(1, "api", 0..3, now - 15 * 24 * HOUR))]).await?;
    let kept = level_0_block(&backend, &acme, &[(trace_id(2), trace(2, "api", 0..3, now - 13 * 24 * HOUR))]).await?;
    let recent = level_0_block(&backend, &acme, &[(trace_id(3), trace(3, "api", 0..3, now - 2 * HOUR))]).await?;
    let short = level_0_block(&backend, &audit, &[(trace_id(4), trace(4, "api", 0..3, now - 2 * HOUR))]).await?;
    let overrides: Overrides = serde_yaml::from_str("per_tenant: { audit: { compaction: { block_retention: 1h } } }")?;
    let compactor = compactor(&backend, tiny_grace(), overrides, owns_all(), &clock);

    let report = compactor.run_once().await?;
    assert_eq!((report.tenants, report.retention_deleted, report.compactions), (2, 2, 0));
    let ids = |metas: Vec<BlockMeta>| metas.into_iter().map(|m| m.block_id).collect::<Vec<_>>();
    assert_eq!(ids(indexed(&backend, &acme).await?), vec![kept.block_id, recent.block_id]);
    assert!(indexed(&backend, &audit).await?.is_empty());
    assert!(backend.read_compacted_block_meta(&acme, old.block_id).await?.is_some());

    clock.advance(Duration::from_secs(120));
    let report = compactor.run_once().await?;
    assert_eq!(report.compacted_deleted, 2);
    assert_eq!(folders(&backend, &acme).await?.len(), 2);
    assert!(!folders(&backend, &acme).await?.contains(&old.block_id));
    assert!(folders(&backend, &audit).await?.is_empty(), "{}", short.block_id);
    Ok(())
}

#[tokio::test]
async fn a_byte_budget_retires_the_oldest_blocks_first() -> Result<()> {
    let (backend, tenant, clock) = (Backend::in_memory(), TenantId::new("acme")?, TestClock::new());
    let now = clock.now_secs();
    // One block per window, so nothing compacts: ages 10h, 7h, 4h, 1h.
    let mut blocks = Vec::new();
    for (n, age) in [(1, 10), (2, 7), (3, 4), (4, 1)] {
        blocks
            .push(level_0_block(&backend, &tenant, &[(trace_id(n), trace(n, "api", 0..50, now - age * HOUR))]).await?);
    }
    let bytes = |m: &BlockMeta| m.data_size + m.filter_size + m.tags_size;
    let budget = bytes(&blocks[2]) + bytes(&blocks[3]) + 1;
    let overrides: Overrides =
        serde_yaml::from_str(&format!("per_tenant: {{ acme: {{ compaction: {{ max_stored_bytes: {budget} }} }} }}"))?;
    let compactor = compactor(&backend, tiny_grace(), overrides, owns_all(), &clock);

    let report = compactor.run_once().await?;
    assert_eq!((report.budget_deleted, report.retention_deleted), (2, 0));
    let live: Vec<BlockId> = indexed(&backend, &tenant).await?.into_iter().map(|m| m.block_id).collect();
    assert_eq!(live, vec![blocks[2].block_id, blocks[3].block_id]);
    assert_eq!(compactor.run_once().await?.budget_deleted, 0, "under budget now");
    Ok(())
}

#[tokio::test]
async fn a_compactor_that_owns_nothing_changes_nothing() -> Result<()> {
    let (backend, tenant, clock) = (Backend::in_memory(), TenantId::new("acme")?, TestClock::new());
    let now = clock.now_secs();
    five_blocks(&backend, &tenant, now - 3 * HOUR).await?;
    level_0_block(&backend, &tenant, &[(trace_id(500), trace(500, "api", 0..2, now - 30 * 24 * HOUR))]).await?;
    let abandoned = BlockId::new_random();
    backend.store().put(&keys::block_object(&tenant, abandoned, keys::DATA), PutPayload::from_static(b"x")).await?;
    let before = backend.list_block_folders(&tenant).await?;
    clock.advance(Duration::from_secs(2 * HOUR));

    let nobody = compactor(&backend, tiny_grace(), Overrides::default(), Arc::new(|_, _| false), &clock);
    let report = nobody.run_once().await?;
    assert_eq!(report, CycleReport { tenants: 1, ..CycleReport::default() });
    assert_eq!(backend.list_block_folders(&tenant).await?, before);

    // The owner does all of it: compaction, retention, and the abandoned folder.
    let owner = compactor(&backend, tiny_grace(), Overrides::default(), owns_all(), &clock);
    let report = owner.run_once().await?;
    assert_eq!((report.compactions, report.retention_deleted, report.abandoned_deleted), (1, 1, 1));
    assert!(!folders(&backend, &tenant).await?.contains(&abandoned));
    Ok(())
}

#[tokio::test]
async fn two_compactors_with_complementary_ownership_compact_each_window_exactly_once() -> Result<()> {
    let (backend, tenant, clock) = (Backend::in_memory(), TenantId::new("acme")?, TestClock::new());
    let now = clock.now_secs();
    let mut expected = BTreeMap::new();
    for window in 0..4u64 {
        let start = (now - (10 + window) * HOUR) / HOUR * HOUR;
        let traces: Vec<_> =
            (0..10).map(|i| window * 100 + i).map(|n| (trace_id(n), trace(n, "api", 0..3, start + n % 100))).collect();
        for _replica in 0..3 {
            level_0_block(&backend, &tenant, &traces).await?;
        }
        expected.extend(traces.iter().map(|(id, _)| (*id, 3)));
    }
    let even: strand_compactor::Ownership = Arc::new(|_, window| (window / HOUR).is_multiple_of(2));
    let odd: strand_compactor::Ownership = Arc::new(|_, window| !(window / HOUR).is_multiple_of(2));
    let a = compactor(&backend, tiny_grace(), Overrides::default(), even, &clock);
    let b = compactor(&backend, tiny_grace(), Overrides::default(), odd, &clock);

    let (from_a, from_b) = tokio::join!(a.run_once(), b.run_once());
    let (from_a, from_b) = (from_a?, from_b?);
    assert_eq!((from_a.compactions, from_a.input_blocks), (2, 6));
    assert_eq!((from_b.compactions, from_b.input_blocks), (2, 6));

    // Their index rebuilds raced; the next pass of either settles it.
    a.run_once().await?;
    let live = indexed(&backend, &tenant).await?;
    assert_eq!(live.len(), 4, "one block per window: {live:?}");
    assert!(live.iter().all(|m| m.compaction_level == 1 && m.total_spans == 30));
    assert_eq!(spans_per_trace(&backend, &live, expected.keys().copied()).await?, expected);
    let (again_a, again_b) = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(again_a?.compactions + again_b?.compactions, 0);
    Ok(())
}

#[tokio::test]
async fn a_compaction_cut_short_after_its_block_went_live_is_finished_by_the_next_pass() -> Result<()> {
    let (backend, tenant, clock) = (Backend::in_memory(), TenantId::new("acme")?, TestClock::new());
    let (inputs, expected) = five_blocks(&backend, &tenant, clock.now_secs() - 3 * HOUR).await?;
    // What a compactor that crashed between uploading the merged block and retiring its inputs
    // leaves: the merged block of three inputs live next to all five inputs.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("merged.parquet");
    let written =
        compact_blocks(&backend, &inputs[..3], &BlockConfig::default(), std::fs::File::create(&path)?).await?;
    upload_block(&backend, &tenant, BlockId::new_random(), &path, &written, 1).await?;
    let live = backend.rebuild_tenant_index(&tenant).await?.metas;
    assert_eq!(live.len(), 6);
    assert_eq!(spans_per_trace(&backend, &live, expected.keys().copied()).await?, expected, "readable meanwhile");

    let compactor = compactor(&backend, tiny_grace(), Overrides::default(), owns_all(), &clock);
    clock.advance(Duration::from_secs(3 * HOUR)); // the window is closed: levels 0 and 1 merge too
    let mut passes = 0;
    while compactor.run_once().await?.compactions > 0 {
        passes += 1;
        ensure!(passes < 5, "compaction does not settle");
    }
    let live = indexed(&backend, &tenant).await?;
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].total_spans, expected.values().sum::<usize>() as u64, "no span stored twice");
    assert_eq!(spans_per_trace(&backend, &live, expected.keys().copied()).await?, expected);
    Ok(())
}

#[tokio::test]
async fn an_abandoned_upload_is_deleted_after_an_hour_and_a_fresh_one_is_not() -> Result<()> {
    let (backend, tenant, clock) = (Backend::in_memory(), TenantId::new("acme")?, TestClock::new());
    let uploading = BlockId::new_random();
    backend.store().put(&keys::block_object(&tenant, uploading, keys::DATA), PutPayload::from_static(b"x")).await?;
    let compactor = compactor(&backend, tiny_grace(), Overrides::default(), owns_all(), &clock);
    assert_eq!(compactor.run_once().await?.abandoned_deleted, 0);
    assert_eq!(folders(&backend, &tenant).await?, vec![uploading]);
    clock.advance(Duration::from_secs(HOUR + 5));
    assert_eq!(compactor.run_once().await?.abandoned_deleted, 1);
    assert!(folders(&backend, &tenant).await?.is_empty());
    Ok(())
}

/// A querier that reads the blocklist over and over while compaction runs finds every trace
/// whole in every version of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_miss_a_trace_during_compaction() -> Result<()> {
    let (memory, tenant, clock) = (Backend::in_memory(), TenantId::new("acme")?, TestClock::new());
    let (_, all) = five_blocks(&memory, &tenant, clock.now_secs() - 3 * HOUR).await?;
    memory.rebuild_tenant_index(&tenant).await?;
    // Every write takes 250 ms from here on, as on a slow S3, so that a step done too early would
    // leave a gap readers see; a sample of traces from every group keeps their polls quick.
    let backend = Backend::new(Arc::new(slow::SlowWrites {
        inner: Arc::clone(memory.store()),
        delay: Duration::from_millis(250),
    }));
    let expected: BTreeMap<TraceId, usize> = all.into_iter().filter(|(id, _)| id.0[15] % 6 == 0).collect();
    let done = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (backend, tenant, expected, done, checks) =
            (backend.clone(), tenant.clone(), expected.clone(), Arc::clone(&done), Arc::clone(&checks));
        tokio::spawn(async move {
            let mut versions = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                // Queriers in a cluster read the index; the single binary's blocklist rebuilds it
                // from a listing. Both views must hold every trace at every moment.
                let from_index = indexed(&backend, &tenant).await?;
                let from_listing = backend.rebuild_tenant_index(&tenant).await?.metas;
                for view in [&from_index, &from_listing] {
                    let found = spans_per_trace(&backend, view, expected.keys().copied()).await?;
                    let blocks: Vec<BlockId> = view.iter().map(|m| m.block_id).collect();
                    ensure!(found == expected, "a reader of blocks {blocks:?} missed spans");
                }
                checks.fetch_add(1, Ordering::SeqCst);
                let version: Vec<BlockId> = from_listing.iter().map(|m| m.block_id).collect();
                if versions.last() != Some(&version) {
                    versions.push(version);
                }
                if finished {
                    return Ok(versions.len());
                }
            }
        })
    };
    // The reader has seen the index as the ingesters left it before compaction starts.
    while checks.load(Ordering::SeqCst) == 0 && !reader.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let compactor = compactor(&backend, tiny_grace(), Overrides::default(), owns_all(), &clock);
    let report = compactor.run_once().await?;
    done.store(true, Ordering::SeqCst);
    let versions = reader.await??;
    assert_eq!(report.compactions, 1);
    assert!(versions >= 2, "the reader saw the index before and after compaction");
    assert!(checks.load(Ordering::SeqCst) >= 2);
    Ok(())
}
