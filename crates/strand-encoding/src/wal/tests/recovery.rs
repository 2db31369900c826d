//! Replay of segments a crash (or a damaged disk) left behind.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::*;
use crate::wal::segment::{SEGMENT_HEADER_LEN, segment_path};
use crate::wal::{ReplayStats, Wal};

/// Writes `count` records to a fresh WAL and returns its only segment's path and bytes.
async fn one_segment(dir: &Path, count: u32) -> (PathBuf, Vec<u8>) {
    let wal = Wal::open(dir, &config()).unwrap();
    for i in 0..count {
        wal.append(record(0, i)).await.unwrap();
    }
    wal.close().await.unwrap();
    let path = segment_path(dir, wal.current_segment());
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Garbage a crash can leave after the last complete write: nothing, zeros (ext4 after a size
/// update without data), all ones, and noise.
fn garbage_tails() -> Vec<Vec<u8>> {
    let mut noise = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..64 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.push(state as u8);
    }
    vec![Vec::new(), vec![0; 64], vec![0xff; 64], noise]
}

#[tokio::test]
async fn torn_tail_is_truncated_at_every_offset_of_the_last_record() {
    let source = tempfile::tempdir().unwrap();
    let (path, original) = one_segment(source.path(), 5).await;
    let name = path.file_name().unwrap();
    let last_len = 8 + record(0, 4).len();
    let last_start = original.len() - last_len;
    let expected: Vec<Bytes> = (0..4).map(|i| record(0, i)).collect();

    for cut in last_start..original.len() {
        for garbage in garbage_tails() {
            let dir = tempfile::tempdir().unwrap();
            let torn = dir.path().join(name);
            let mut bytes = original[..cut].to_vec();
            bytes.extend_from_slice(&garbage);
            std::fs::write(&torn, &bytes).unwrap();

            let (records, stats) = replay_all(dir.path());
            assert_eq!(payloads(&records), expected, "cut at {cut}, {} bytes of garbage", garbage.len());
            assert_eq!(stats.truncated_bytes, (bytes.len() - last_start) as u64);
            assert_eq!(std::fs::metadata(&torn).unwrap().len(), last_start as u64);

            let (again, stats) = replay_all(dir.path());
            assert_eq!(payloads(&again), expected);
            assert_eq!((stats.truncated_bytes, stats.corrupt_records), (0, 0), "second replay is clean");
        }
    }
}

#[tokio::test]
async fn tear_inside_the_header_or_any_record_keeps_what_precedes_it() {
    let source = tempfile::tempdir().unwrap();
    let (path, original) = one_segment(source.path(), 6).await;
    let name = path.file_name().unwrap();
    // Record boundaries: the header, then each frame.
    let mut ends = vec![SEGMENT_HEADER_LEN];
    for i in 0..6 {
        ends.push(ends.last().unwrap() + 8 + record(0, i).len());
    }
    assert_eq!(*ends.last().unwrap(), original.len());
    for cut in (0..original.len()).step_by(3) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), &original[..cut]).unwrap();
        let complete = ends.iter().skip(1).filter(|end| **end <= cut).count() as u32;
        let (records, _) = replay_all(dir.path());
        assert_eq!(payloads(&records), (0..complete).map(|i| record(0, i)).collect::<Vec<_>>(), "cut at {cut}");
    }
}

#[tokio::test]
async fn a_torn_segment_does_not_stop_the_segments_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), &config()).unwrap();
    let first = wal.current_segment();
    wal.append(record(0, 0)).await.unwrap();
    wal.append(record(0, 1)).await.unwrap();
    wal.rotate().await.unwrap();
    wal.append(record(0, 2)).await.unwrap();
    wal.close().await.unwrap();

    let path = segment_path(dir.path(), first);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 3).unwrap();
    drop(file);

    let (records, stats) = replay_all(dir.path());
    assert_eq!(payloads(&records), vec![record(0, 0), record(0, 2)]);
    assert_eq!(stats.segments, 2);
    assert_eq!(stats.truncated_bytes, (8 + record(0, 1).len() - 3) as u64);
}

/// Offsets of each frame in a segment written by [`one_segment`].
fn frame_offsets(count: u32) -> Vec<usize> {
    let mut offsets = vec![SEGMENT_HEADER_LEN];
    for i in 0..count {
        offsets.push(offsets.last().unwrap() + 8 + record(0, i).len());
    }
    offsets.pop();
    offsets
}

#[tokio::test]
async fn a_bad_checksum_mid_segment_costs_only_that_record() {
    let source = tempfile::tempdir().unwrap();
    let (path, original) = one_segment(source.path(), 10).await;
    let offsets = frame_offsets(10);
    // Damage the payload of record 5, then (separately) the checksum field of record 3.
    for (damaged_record, byte) in [(5usize, offsets[5] + 8 + 2), (3, offsets[3] + 5)] {
        let dir = tempfile::tempdir().unwrap();
        let damaged_path = dir.path().join(path.file_name().unwrap());
        let mut bytes = original.clone();
        bytes[byte] ^= 0x40;
        std::fs::write(&damaged_path, &bytes).unwrap();

        let expected: Vec<Bytes> = (0..10).filter(|i| *i != damaged_record as u32).map(|i| record(0, i)).collect();
        for _ in 0..2 {
            let (records, stats) = replay_all(dir.path());
            assert_eq!(payloads(&records), expected);
            assert_eq!((stats.corrupt_records, stats.truncated_bytes), (1, 0));
            assert_eq!(std::fs::read(&damaged_path).unwrap(), bytes, "records after the damage are kept");
        }
    }
}

#[tokio::test]
async fn a_bad_checksum_on_the_last_record_is_a_torn_tail() {
    let source = tempfile::tempdir().unwrap();
    let (path, mut bytes) = one_segment(source.path(), 4).await;
    let last = *frame_offsets(4).last().unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join(path.file_name().unwrap());
    std::fs::write(&damaged, &bytes).unwrap();

    let (records, stats) = replay_all(dir.path());
    assert_eq!(payloads(&records), (0..3).map(|i| record(0, i)).collect::<Vec<_>>());
    assert_eq!((stats.truncated_bytes, stats.corrupt_records), ((bytes.len() - last) as u64, 0));
    assert_eq!(std::fs::metadata(&damaged).unwrap().len(), last as u64);
}

#[tokio::test]
async fn an_impossible_length_truncates_the_segment_there() {
    let source = tempfile::tempdir().unwrap();
    let (path, mut bytes) = one_segment(source.path(), 8).await;
    let offsets = frame_offsets(8);
    bytes[offsets[5]..offsets[5] + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join(path.file_name().unwrap());
    std::fs::write(&damaged, &bytes).unwrap();

    let (records, stats) = replay_all(dir.path());
    assert_eq!(payloads(&records), (0..5).map(|i| record(0, i)).collect::<Vec<_>>());
    assert_eq!(stats.truncated_bytes, (bytes.len() - offsets[5]) as u64);
}

#[tokio::test]
async fn replay_skips_files_it_cannot_read_and_open_numbers_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = one_segment(dir.path(), 3).await;
    std::fs::write(segment_path(dir.path(), 99), b"NOTAWAL!and some more bytes").unwrap();
    std::fs::write(segment_path(dir.path(), 100), b"SW").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();

    let (records, stats) = replay_all(dir.path());
    assert_eq!(payloads(&records), (0..3).map(|i| record(0, i)).collect::<Vec<_>>());
    assert_eq!(stats.segments, 1);
    let wal = Wal::open(dir.path(), &config()).unwrap();
    assert_eq!(wal.current_segment(), 101);
}

#[test]
fn replay_of_a_missing_folder_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (records, stats) = replay_all(&dir.path().join("never-created"));
    assert!(records.is_empty());
    assert_eq!(stats, ReplayStats::default());
}
