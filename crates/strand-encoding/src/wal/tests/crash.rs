//! A real crash: a child process appends until it is killed with SIGKILL.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use strand_common::Size;

use super::*;
use crate::wal::{Wal, WalConfig};

/// When set, [`kill_9_loses_no_acknowledged_record`] is the child process that appends until
/// it is killed, and this is its WAL folder.
const CRASH_CHILD_DIR: &str = "STRAND_WAL_CRASH_CHILD_DIR";

#[test]
fn kill_9_loses_no_acknowledged_record() {
    if let Some(dir) = std::env::var_os(CRASH_CHILD_DIR) {
        crash_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Run this same test in a child process, in child mode.
    let module = module_path!();
    let test_name = format!("{}::kill_9_loses_no_acknowledged_record", module.split_once("::").unwrap().1);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &test_name, "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());

    let mut acked: BTreeMap<u32, u32> = BTreeMap::new();
    let mut lines = stdout.lines();
    let mut count = 0;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let Some(ack) = line.strip_prefix("acked ") else {
            continue;
        };
        let (task, i) = parse_record(ack.as_bytes());
        acked.insert(task, i);
        count += 1;
        if count == 3000 {
            break;
        }
    }
    assert_eq!(count, 3000, "the child stopped before it was killed");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // Lines printed before the kill were acknowledged too.
    for line in lines {
        if let Some(ack) = line.unwrap().strip_prefix("acked ") {
            let (task, i) = parse_record(ack.as_bytes());
            acked.insert(task, i);
        }
    }

    let (records, _) = replay_all(dir.path());
    let mut replayed: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (_, payload) in &records {
        let (task, i) = parse_record(payload);
        assert_eq!(payload, &record(task, i));
        replayed.entry(task).or_default().push(i);
    }
    for (task, last_acked) in &acked {
        let indexes = replayed.get(task).cloned().unwrap_or_default();
        // Each task appends one record at a time, so what survives is a prefix without holes
        // that covers everything acknowledged (and at most the one record in flight).
        assert_eq!(indexes, (0..indexes.len() as u32).collect::<Vec<_>>(), "task {task}");
        assert!(indexes.len() as u32 > *last_acked, "task {task} lost acknowledged records");
    }
    let (_, again) = replay_all(dir.path());
    assert_eq!(again.truncated_bytes, 0);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Appends from several tasks until killed, printing each acknowledgement after it arrives.
fn crash_child(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // Small segments, so the kill may also land while one is rolled.
        let wal = Wal::open(dir, &WalConfig { segment_size: Size(16 * 1024), ..config() }).unwrap();
        let mut set = tokio::task::JoinSet::new();
        for task in 0..8 {
            let wal = wal.clone();
            set.spawn(async move {
                // Bounded, in case the parent never kills this process.
                for i in 0..200_000 {
                    wal.append(record(task, i)).await.unwrap();
                    println!("acked {task}:{i}");
                }
            });
        }
        while set.join_next().await.is_some() {}
    });
}
