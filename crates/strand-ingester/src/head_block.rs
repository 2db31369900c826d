//! The head block: complete traces of one tenant waiting to be cut into a Parquet block.
//!
//! Trace bytes are appended to a local file and only an index (trace ID → byte extents) stays in
//! memory, so the head block costs disk, not RAM. The file is never fsynced and never replayed:
//! every byte in it is also in WAL segments that are kept until the block is flushed, so at
//! start-up leftover head files are simply deleted.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use strand_model::{BlockId, TraceId};

/// Where one trace's bytes are in the head file. A trace appended more than once (it grew again
/// after being cut from the live traces) has several extents.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeadEntry {
    pub extents: Vec<(u64, u32)>,
    pub truncated: bool,
}

/// A head block being filled.
pub(crate) struct HeadBlock {
    pub id: BlockId,
    path: PathBuf,
    file: Arc<File>,
    len: u64,
    pub created: Instant,
    traces: HashMap<TraceId, HeadEntry>,
}

impl HeadBlock {
    pub fn create(dir: &Path) -> std::io::Result<HeadBlock> {
        std::fs::create_dir_all(dir)?;
        let id = BlockId::new_random();
        let path = dir.join(format!("{id}.head"));
        let file = File::options().create_new(true).read(true).write(true).open(&path)?;
        Ok(HeadBlock { id, path, file: Arc::new(file), len: 0, created: Instant::now(), traces: HashMap::new() })
    }

    pub fn bytes(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// Bytes this block holds for a trace, for the per-trace size limit.
    pub fn trace_bytes(&self, id: &TraceId) -> u64 {
        self.traces.get(id).map(|e| e.extents.iter().map(|(_, len)| u64::from(*len)).sum()).unwrap_or(0)
    }

    /// Appends a trace's encoded segments as one extent.
    pub fn append(&mut self, id: TraceId, segments: &[Bytes], truncated: bool) -> std::io::Result<()> {
        let joined = crate::live::join_segments(segments);
        let len = u32::try_from(joined.len()).map_err(|_| std::io::Error::other("trace larger than 4 GiB"))?;
        self.file.write_all_at(&joined, self.len)?;
        let entry = self.traces.entry(id).or_default();
        entry.extents.push((self.len, len));
        entry.truncated |= truncated;
        self.len += u64::from(len);
        Ok(())
    }

    /// Where a trace is, for reading outside the instance lock.
    pub fn locate(&self, id: &TraceId) -> Option<TraceLocation> {
        self.traces.get(id).map(|entry| TraceLocation { file: Arc::clone(&self.file), entry: entry.clone() })
    }

    /// Where every trace is.
    pub fn locate_all(&self) -> impl Iterator<Item = (TraceId, TraceLocation)> + '_ {
        self.traces
            .iter()
            .map(|(id, entry)| (*id, TraceLocation { file: Arc::clone(&self.file), entry: entry.clone() }))
    }

    /// Freezes the block: no more appends, readable and flushable from any thread.
    pub fn freeze(self) -> FrozenBlock {
        let mut ids: Vec<TraceId> = self.traces.keys().copied().collect();
        ids.sort_unstable();
        FrozenBlock { id: self.id, path: self.path, file: self.file, traces: self.traces, sorted_ids: ids }
    }
}

/// A cut head block: immutable, being flushed or kept for reads after its flush.
pub(crate) struct FrozenBlock {
    pub id: BlockId,
    pub path: PathBuf,
    file: Arc<File>,
    traces: HashMap<TraceId, HeadEntry>,
    pub sorted_ids: Vec<TraceId>,
}

impl FrozenBlock {
    pub fn locate(&self, id: &TraceId) -> Option<TraceLocation> {
        self.traces.get(id).map(|entry| TraceLocation { file: Arc::clone(&self.file), entry: entry.clone() })
    }

    /// Where every trace is.
    pub fn locate_all(&self) -> impl Iterator<Item = (TraceId, TraceLocation)> + '_ {
        self.traces
            .iter()
            .map(|(id, entry)| (*id, TraceLocation { file: Arc::clone(&self.file), entry: entry.clone() }))
    }

    /// Reads one trace's bytes (blocking IO).
    pub fn read(&self, id: &TraceId) -> std::io::Result<Option<(Bytes, bool)>> {
        match self.locate(id) {
            Some(location) => location.read().map(|bytes| Some((bytes, location.entry.truncated))),
            None => Ok(None),
        }
    }

    /// Deletes the backing file; the block must no longer be reachable.
    pub fn remove_file(&self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %err, "could not delete flushed head block");
        }
    }
}

/// A trace's place in a head file, readable without holding any lock.
pub(crate) struct TraceLocation {
    file: Arc<File>,
    pub entry: HeadEntry,
}

impl TraceLocation {
    /// Reads and joins the extents (blocking IO).
    pub fn read(&self) -> std::io::Result<Bytes> {
        let total: usize = self.entry.extents.iter().map(|(_, len)| *len as usize).sum();
        let mut buffer = vec![0u8; total];
        let mut at = 0;
        for (offset, len) in &self.entry.extents {
            let len = *len as usize;
            self.file.read_exact_at(&mut buffer[at..at + len], *offset)?;
            at += len;
        }
        Ok(Bytes::from(buffer))
    }
}
