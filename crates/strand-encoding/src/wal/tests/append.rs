//! Appending: acknowledgements, group commit, backpressure, rotation, failure and close.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::future::join_all;
use strand_common::{Duration, Size};

use super::*;
use crate::wal::segment::segment_path;
use crate::wal::{Wal, WalConfig, WalError};

#[test]
fn wal_handles_are_shareable() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Wal>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_replay_exactly_in_per_task_order() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let (tasks, per_task) = (16u32, 100u32);
    let mut set = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let wal = wal.clone();
        set.spawn(async move {
            for i in 0..per_task {
                let seq = wal.append(record(task, i)).await.unwrap();
                assert_eq!(seq, wal.current_segment());
            }
        });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
    wal.close().await.unwrap();

    let (records, stats) = replay_all(dir.path());
    assert_eq!(stats.records, u64::from(tasks * per_task));
    assert_eq!((stats.truncated_bytes, stats.corrupt_records), (0, 0));
    let mut seen: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (_, payload) in &records {
        let (task, i) = parse_record(payload);
        assert_eq!(payload, &record(task, i));
        seen.entry(task).or_default().push(i);
    }
    assert_eq!(seen.len(), tasks as usize);
    for indexes in seen.values() {
        assert_eq!(indexes, &(0..per_task).collect::<Vec<_>>(), "each task's records, once each, in order");
    }
    let payload_bytes: u64 = records.iter().map(|(_, p)| p.len() as u64).sum();
    assert_eq!(stats.bytes, payload_bytes);
}

#[tokio::test]
async fn group_commit_shares_syncs_between_concurrent_appends() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let before = wal.stats();
    let results = join_all((0..1000).map(|i| wal.append(record(0, i)))).await;
    assert!(results.iter().all(Result::is_ok));
    let stats = wal.stats();
    assert_eq!(stats.records, 1000);
    assert!(stats.groups < 1000, "{stats:?}");
    assert!(stats.fsyncs - before.fsyncs < 1000, "{stats:?}");
    assert_eq!(stats.fsyncs - before.fsyncs, stats.groups, "one sync per group");
}

#[tokio::test]
async fn group_commit_interval_waits_to_gather_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig { group_commit_interval: Duration::millis(200), ..config() };
    let wal = Wal::open(dir.path(), &config).unwrap();
    let results = join_all((0..100).map(|i| wal.append(record(0, i)))).await;
    assert!(results.iter().all(Result::is_ok));
    let stats = wal.stats();
    assert_eq!(stats.records, 100);
    assert!(stats.groups <= 2, "{stats:?}");
}

#[tokio::test]
async fn pending_bytes_bound_the_queue_and_larger_records_still_pass() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig { max_pending_bytes: Size(256), ..config() };
    let wal = Wal::open(dir.path(), &config).unwrap();
    let payload = Bytes::from(vec![b'p'; 100]);
    let results = join_all((0..200).map(|_| wal.append(payload.clone()))).await;
    assert!(results.iter().all(Result::is_ok));
    // 108-byte frames under a 256-byte bound: at most two records per group.
    let stats = wal.stats();
    assert!(stats.groups >= 100, "{stats:?}");
    wal.append(Bytes::from(vec![b'q'; 1000])).await.unwrap();
    wal.close().await.unwrap();
    assert_eq!(replay_all(dir.path()).1.records, 201);
}

#[tokio::test]
async fn fsync_off_still_acknowledges_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &WalConfig { fsync: false, ..config() }).unwrap();
    for i in 0..10 {
        wal.append(record(0, i)).await.unwrap();
    }
    assert_eq!(wal.stats().fsyncs, 0);
    assert!(wal.stats().groups >= 1);
    // Acknowledged means handed to the OS: readable before the segment is closed.
    let (records, _) = replay_all(dir.path());
    assert_eq!(payloads(&records), (0..10).map(|i| record(0, i)).collect::<Vec<_>>());
    wal.close().await.unwrap();
    assert_eq!(wal.stats().fsyncs, 1, "a closed segment is synced even with fsync off");
}

#[tokio::test]
async fn rotate_orders_with_appends_and_delete_removes_only_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let first = wal.current_segment();
    assert_eq!(wal.append(record(0, 0)).await.unwrap(), first);
    let second = wal.rotate().await.unwrap();
    assert_eq!(second, first + 1);
    assert_eq!(wal.current_segment(), second);
    assert_eq!(wal.append(record(0, 1)).await.unwrap(), second);
    let third = wal.rotate().await.unwrap();
    assert_eq!(wal.append(record(0, 2)).await.unwrap(), third);
    assert_eq!(segment_files(dir.path()).len(), 3);

    wal.delete_segments_before(third).unwrap();
    assert_eq!(segment_files(dir.path()), vec![segment_path(dir.path(), third)]);
    wal.delete_segments_before(u64::MAX).unwrap();
    assert_eq!(segment_files(dir.path()), vec![segment_path(dir.path(), third)], "current segment is kept");
    assert_eq!(wal.dir(), dir.path());
    wal.close().await.unwrap();

    let (records, stats) = replay_all(dir.path());
    assert_eq!(records, vec![(third, record(0, 2))]);
    assert_eq!(stats.segments, 1);
}

#[tokio::test]
async fn appends_queued_before_rotate_land_in_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let first = wal.current_segment();
    let before = join_all((0..50).map(|i| wal.append(record(0, i))));
    let (before, rotated) = tokio::join!(before, wal.rotate());
    let rotated = rotated.unwrap();
    assert!(before.into_iter().all(|seq| seq.unwrap() == first));
    assert_eq!(wal.append(record(1, 0)).await.unwrap(), rotated);
}

#[tokio::test]
async fn reopen_starts_a_new_segment_and_old_records_still_replay() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let first = wal.current_segment();
    wal.append(record(0, 0)).await.unwrap();
    wal.append(record(0, 1)).await.unwrap();
    drop(wal);

    let (records, _) = replay_all(dir.path());
    assert_eq!(records, vec![(first, record(0, 0)), (first, record(0, 1))]);
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let second = wal.current_segment();
    assert!(second > first);
    assert_eq!(wal.append(record(0, 2)).await.unwrap(), second);
    wal.close().await.unwrap();

    let (records, stats) = replay_all(dir.path());
    assert_eq!(records, vec![(first, record(0, 0)), (first, record(0, 1)), (second, record(0, 2))]);
    assert_eq!(stats.segments, 2);
}

#[tokio::test]
async fn segments_roll_at_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &WalConfig { segment_size: Size(1024), ..config() }).unwrap();
    let mut expected = Vec::new();
    for i in 0..100 {
        let seq = wal.append(record(0, i)).await.unwrap();
        expected.push((seq, record(0, i)));
    }
    wal.close().await.unwrap();
    let files = segment_files(dir.path());
    assert!(files.len() >= 5, "{} segments", files.len());
    for file in &files {
        // A segment is rolled after the group that reaches the size, so it overshoots by one group.
        assert!(std::fs::metadata(file).unwrap().len() < 1024 + 200);
    }
    let (records, stats) = replay_all(dir.path());
    assert_eq!(records, expected);
    assert_eq!(stats.segments, files.len() as u64);
}

#[tokio::test]
async fn a_failed_write_fails_its_group_and_everything_after() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    wal.append(record(0, 0)).await.unwrap();
    wal.fail_next_write();
    let results = join_all((1..51).map(|i| wal.append(record(0, i)))).await;
    for result in results {
        assert!(matches!(result, Err(WalError::Failed { .. })), "{result:?}");
    }
    assert!(matches!(wal.append(record(0, 99)).await, Err(WalError::Failed { .. })));
    assert!(matches!(wal.rotate().await, Err(WalError::Failed { .. })));
    assert!(matches!(wal.close().await, Err(WalError::Failed { .. })));
    let (records, _) = replay_all(dir.path());
    assert_eq!(payloads(&records), vec![record(0, 0)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_keeps_every_acknowledged_record_and_refuses_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let mut set = tokio::task::JoinSet::new();
    for task in 0..8 {
        let wal = wal.clone();
        set.spawn(async move {
            let mut acked = Vec::new();
            for i in 0..1000 {
                match wal.append(record(task, i)).await {
                    Ok(_) => acked.push(record(task, i)),
                    Err(WalError::Closed) => break,
                    Err(err) => panic!("{err}"),
                }
            }
            acked
        });
    }
    // Close while the tasks are still appending.
    while wal.stats().records < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    wal.close().await.unwrap();
    let mut acked = BTreeSet::new();
    while let Some(done) = set.join_next().await {
        acked.extend(done.unwrap());
    }
    assert!(matches!(wal.append(record(9, 0)).await, Err(WalError::Closed)));
    assert!(matches!(wal.rotate().await, Err(WalError::Closed)));
    wal.close().await.unwrap();

    let replayed: BTreeSet<Bytes> = payloads(&replay_all(dir.path()).0).into_iter().collect();
    assert!(!acked.is_empty());
    assert!(acked.is_subset(&replayed));
}

#[tokio::test]
async fn empty_and_oversized_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    assert!(matches!(wal.append(Bytes::new()).await, Err(WalError::RecordSize { len: 0, .. })));
    let huge = Bytes::from(vec![0u8; crate::wal::MAX_RECORD_LEN + 1]);
    assert!(matches!(wal.append(huge).await, Err(WalError::RecordSize { .. })));
    wal.append(record(0, 0)).await.unwrap();
}

#[tokio::test]
async fn open_creates_missing_folders() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("wal").join("single-tenant");
    let wal = Wal::open(&nested, &config()).unwrap();
    wal.append(record(0, 0)).await.unwrap();
    wal.close().await.unwrap();
    assert_eq!(replay_all(&nested).1.records, 1);
}
