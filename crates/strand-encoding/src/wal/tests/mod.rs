//! Tests of the WAL as the ingester uses it: append, crash (or tear the files as a crash would),
//! replay.
#![allow(clippy::unwrap_used)]

mod append;
mod crash;
mod recovery;

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{ReplayStats, WalConfig, replay};

pub(super) fn config() -> WalConfig {
    WalConfig::default()
}

/// A record that says who wrote it, with lengths that vary from record to record.
pub(super) fn record(task: u32, i: u32) -> Bytes {
    let mut text = format!("{task}:{i}:");
    text.extend(std::iter::repeat_n('x', (i as usize * 7 + task as usize) % 61));
    Bytes::from(text)
}

pub(super) fn parse_record(payload: &[u8]) -> (u32, u32) {
    let text = std::str::from_utf8(payload).unwrap();
    let mut parts = text.split(':');
    let task = parts.next().unwrap().parse().unwrap();
    let i = parts.next().unwrap().parse().unwrap();
    (task, i)
}

pub(super) fn replay_all(dir: &Path) -> (Vec<(u64, Bytes)>, ReplayStats) {
    let mut records = Vec::new();
    let stats = replay(dir, |seq, payload| records.push((seq, payload))).unwrap();
    (records, stats)
}

pub(super) fn payloads(records: &[(u64, Bytes)]) -> Vec<Bytes> {
    records.iter().map(|(_, payload)| payload.clone()).collect()
}

pub(super) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}
