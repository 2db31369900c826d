//! The append side: a handle any task can append through, and the one thread that owns the file.
//!
//! Appends queue commands to the writer thread and wait on a oneshot for their acknowledgement.
//! The thread takes a group of queued records, frames them into one buffer, writes it with one
//! call, syncs once, and acknowledges the whole group. The queue is bounded in bytes by a
//! semaphore: an append takes permits for its frame before it enqueues, and the writer gives them
//! back once the group is on disk.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Semaphore, oneshot};

use super::record::{FRAME_HEADER_LEN, check_payload_len, put_frame};
use super::segment::{SEGMENT_HEADER_LEN, create_segment, list_segments, segment_path, sync_dir};
use super::{WalConfig, WalError};

/// A group buffer grown past this by a burst is shrunk back, so that an idle tenant's WAL does
/// not keep a burst's worth of memory.
const RETAINED_BUFFER: usize = 4 * 1024 * 1024;

/// Where an acknowledgement goes.
type Ack<T> = oneshot::Sender<Result<T, WalError>>;

enum Command {
    Append { payload: Bytes, permits: u32, ack: Ack<u64> },
    Rotate { ack: Ack<u64> },
    Close { ack: Ack<()> },
}

/// A command that ends a group: everything queued before it is committed first.
enum Control {
    Rotate(Ack<u64>),
    Close(Ack<()>),
}

/// What a WAL has done since it was opened, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Groups written: each is one write call (and one sync with `fsync` on).
    pub groups: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written to segments, frame headers included.
    pub bytes: u64,
    /// Syncs of segment files, including those that create and close segments.
    pub fsyncs: u64,
}

#[derive(Default)]
struct Counters {
    groups: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    fsyncs: AtomicU64,
}

/// What the handles and the writer thread share.
struct Shared {
    dir: PathBuf,
    current_segment: AtomicU64,
    closed: AtomicBool,
    /// Set once, by the writer, when a write or sync fails.
    failure: OnceLock<String>,
    /// Bytes (of frames) that may be queued or being written; see the module comment.
    pending: Semaphore,
    max_permits: u32,
    counters: Counters,
    #[cfg(test)]
    fail_next_write: AtomicBool,
}

impl Shared {
    /// The error for an append that cannot be taken.
    fn refusal(&self) -> WalError {
        if let Some(reason) = self.failure.get() {
            WalError::Failed { reason: reason.clone() }
        } else if self.closed.load(Ordering::Acquire) {
            WalError::Closed
        } else {
            WalError::Failed { reason: "the wal writer thread stopped".to_string() }
        }
    }

    fn check_open(&self) -> Result<(), WalError> {
        if self.failure.get().is_some() || self.closed.load(Ordering::Acquire) {
            return Err(self.refusal());
        }
        Ok(())
    }

    fn fail(&self, err: &WalError) {
        if self.failure.set(err.to_string()).is_ok() {
            tracing::error!(wal = %self.dir.display(), error = %err, "wal failed, refusing all further records");
        }
        // Wake appends waiting for room: they will never get it.
        self.pending.close();
    }
}

/// A write-ahead log open for appending. Cheap to clone; all clones share one writer thread,
/// which stops once [`Wal::close`] is called or the last clone is dropped.
///
/// [`Wal::open`], [`Wal::delete_segments_before`] and [`super::replay`] do blocking file IO: call
/// them at startup or from `spawn_blocking`. [`Wal::append`], [`Wal::rotate`] and
/// [`Wal::close`] never block the runtime.
#[derive(Clone)]
pub struct Wal {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("current_segment", &self.current_segment())
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens the WAL in `dir`, creating the folder if needed, and starts its writer thread.
    ///
    /// Appends go to a new segment numbered after the highest one present: a segment a crash may
    /// have torn is never appended to. Run [`super::replay`] on `dir` before this, since replay
    /// of the old segments is what repairs and recovers them.
    pub fn open(dir: &Path, config: &WalConfig) -> Result<Wal, WalError> {
        create_dir(dir, config.fsync)?;
        let seq = match list_segments(dir)?.last() {
            None => 1,
            Some((last, path)) => last
                .checked_add(1)
                .ok_or_else(|| WalError::io("numbering segment after", path, std::io::ErrorKind::InvalidData.into()))?,
        };
        let file = create_segment(dir, seq, config.fsync)?;
        let max_permits =
            u32::try_from(config.max_pending_bytes.bytes().clamp(1, Semaphore::MAX_PERMITS as u64)).unwrap_or(u32::MAX);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            current_segment: AtomicU64::new(seq),
            closed: AtomicBool::new(false),
            failure: OnceLock::new(),
            pending: Semaphore::new(max_permits as usize),
            max_permits,
            counters: Counters::default(),
            #[cfg(test)]
            fail_next_write: AtomicBool::new(false),
        });
        if config.fsync {
            // Creating the segment synced it and the folder.
            shared.counters.fsyncs.fetch_add(2, Ordering::Relaxed);
        }
        let writer = Writer {
            shared: Arc::clone(&shared),
            fsync: config.fsync,
            interval: config.group_commit_interval.get(),
            segment_size: config.segment_size.bytes(),
            seq,
            file,
            written: SEGMENT_HEADER_LEN as u64,
            buf: Vec::new(),
            acks: Vec::new(),
            group_permits: 0,
        };
        let (commands, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("strand-wal".to_string())
            .spawn(move || writer.run(queue))
            .map_err(|err| WalError::io("starting the writer thread for", dir, err))?;
        Ok(Wal { shared, commands })
    }

    /// Appends one record and resolves once it is written (and synced, with `fsync` on), with the
    /// sequence of the segment it landed in.
    ///
    /// Waits while `max_pending_bytes` of records are queued. Dropping the future after it
    /// queued the record does not take the record back: it may still be written.
    pub async fn append(&self, payload: Bytes) -> Result<u64, WalError> {
        check_payload_len(payload.len())?;
        self.shared.check_open()?;
        // A record larger than the whole bound still goes through, alone.
        let frame = u32::try_from(payload.len() + FRAME_HEADER_LEN).unwrap_or(u32::MAX);
        let permits = frame.min(self.shared.max_permits);
        match self.shared.pending.acquire_many(permits).await {
            // The writer hands the permits back once the record is on disk.
            Ok(permit) => permit.forget(),
            Err(_) => return Err(self.shared.refusal()),
        }
        let (ack, acked) = oneshot::channel();
        if self.commands.send(Command::Append { payload, permits, ack }).is_err() {
            self.shared.pending.add_permits(permits as usize);
            return Err(self.shared.refusal());
        }
        acked.await.unwrap_or_else(|_| Err(self.shared.refusal()))
    }

    /// Syncs and closes the current segment and starts the next one, after every append queued
    /// before it. Returns the new segment's sequence; later appends land in it.
    pub async fn rotate(&self) -> Result<u64, WalError> {
        self.shared.check_open()?;
        let (ack, acked) = oneshot::channel();
        self.commands.send(Command::Rotate { ack }).map_err(|_| self.shared.refusal())?;
        acked.await.unwrap_or_else(|_| Err(self.shared.refusal()))
    }

    /// Writes everything queued so far, syncs and closes the segment, and stops the writer
    /// thread. Later appends on any clone fail with [`WalError::Closed`].
    pub async fn close(&self) -> Result<(), WalError> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Appends still waiting for room were not queued; they fail rather than wait forever.
        self.shared.pending.close();
        let (ack, acked) = oneshot::channel();
        if self.commands.send(Command::Close { ack }).is_err() {
            return match self.shared.failure.get() {
                Some(reason) => Err(WalError::Failed { reason: reason.clone() }),
                None => Ok(()),
            };
        }
        acked.await.unwrap_or_else(|_| Err(self.shared.refusal()))
    }

    /// Deletes the segments numbered below `seq`, typically once the blocks cut from them are
    /// flushed. The current segment is never deleted.
    pub fn delete_segments_before(&self, seq: u64) -> Result<(), WalError> {
        let limit = seq.min(self.current_segment());
        for (segment, path) in list_segments(&self.shared.dir)? {
            if segment >= limit {
                break;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(WalError::io("deleting segment", &path, err)),
            }
        }
        Ok(())
    }

    /// The sequence of the segment appends currently go to.
    pub fn current_segment(&self) -> u64 {
        self.shared.current_segment.load(Ordering::Acquire)
    }

    /// The folder this WAL lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Counters since open.
    pub fn stats(&self) -> WalStats {
        let counters = &self.shared.counters;
        WalStats {
            groups: counters.groups.load(Ordering::Relaxed),
            records: counters.records.load(Ordering::Relaxed),
            bytes: counters.bytes.load(Ordering::Relaxed),
            fsyncs: counters.fsyncs.load(Ordering::Relaxed),
        }
    }

    /// Makes the next group write fail, as a full or broken disk would.
    #[cfg(test)]
    pub(crate) fn fail_next_write(&self) {
        self.shared.fail_next_write.store(true, Ordering::Release);
    }
}

/// Creates `dir` and any missing parents; with `fsync`, syncs the folders that gained an entry so
/// the WAL's own folder cannot disappear in a power loss.
fn create_dir(dir: &Path, fsync: bool) -> Result<(), WalError> {
    let mut missing = Vec::new();
    let mut ancestor = Some(dir);
    while let Some(path) = ancestor.filter(|p| !p.as_os_str().is_empty()) {
        match std::fs::metadata(path) {
            Ok(_) => break,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => missing.push(path),
            Err(err) => return Err(WalError::io("inspecting", path, err)),
        }
        ancestor = path.parent();
    }
    std::fs::create_dir_all(dir).map_err(|err| WalError::io("creating", dir, err))?;
    if fsync {
        for created in missing {
            match created.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
                _ => sync_dir(Path::new("."))?,
            }
        }
    }
    Ok(())
}

/// The writer thread's state: the open segment and the group being gathered.
struct Writer {
    shared: Arc<Shared>,
    fsync: bool,
    interval: std::time::Duration,
    segment_size: u64,
    seq: u64,
    file: File,
    /// Bytes in the current segment, header included.
    written: u64,
    /// The framed records of the group being gathered.
    buf: Vec<u8>,
    acks: Vec<Ack<u64>>,
    group_permits: u64,
}

impl Writer {
    fn run(mut self, queue: mpsc::Receiver<Command>) {
        while let Ok(first) = queue.recv() {
            let control = self.gather(first, &queue);
            self.commit();
            match control {
                None => {}
                Some(Control::Rotate(ack)) => {
                    let result = self.rotate();
                    let _ = ack.send(result);
                }
                Some(Control::Close(ack)) => {
                    let result = self.finish();
                    // Closed before acknowledging, so that a closed WAL has no open file.
                    drop(self);
                    let _ = ack.send(result);
                    return;
                }
            }
            if self.written >= self.segment_size && self.shared.failure.get().is_none() {
                // The group that filled the segment is already acknowledged; a failure here
                // fails the appends to come.
                if let Err(err) = self.roll() {
                    self.shared.fail(&err);
                }
            }
        }
        // Every handle is gone: nothing is left to acknowledge.
        let _ = self.finish();
    }

    /// Stages `first` and whatever else is queued (or, with an interval, arrives in time) as one
    /// group. Stops early at a rotate or close, which the caller runs after the commit.
    fn gather(&mut self, first: Command, queue: &mpsc::Receiver<Command>) -> Option<Control> {
        let deadline = (!self.interval.is_zero()).then(|| Instant::now() + self.interval);
        let mut command = first;
        loop {
            match command {
                Command::Append { payload, permits, ack } => {
                    put_frame(&mut self.buf, &payload);
                    self.acks.push(ack);
                    self.group_permits += u64::from(permits);
                }
                Command::Rotate { ack } => return Some(Control::Rotate(ack)),
                Command::Close { ack } => return Some(Control::Close(ack)),
            }
            if self.group_permits >= u64::from(self.shared.max_permits) {
                // The queue is full: nothing more can arrive until this group is written.
                return None;
            }
            let next = match deadline {
                None => queue.try_recv().ok(),
                Some(deadline) => queue.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok(),
            };
            command = next?;
        }
    }

    /// Writes and syncs the staged group, then acknowledges every record in it.
    fn commit(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let result = match self.shared.failure.get() {
            Some(reason) => Err(reason.clone()),
            None => self.write_group().map_err(|err| {
                self.shared.fail(&err);
                err.to_string()
            }),
        };
        match result {
            Ok(()) => {
                for ack in self.acks.drain(..) {
                    let _ = ack.send(Ok(self.seq));
                }
            }
            Err(reason) => {
                for ack in self.acks.drain(..) {
                    let _ = ack.send(Err(WalError::Failed { reason: reason.clone() }));
                }
            }
        }
        self.buf.clear();
        self.buf.shrink_to(RETAINED_BUFFER);
        self.shared.pending.add_permits(usize::try_from(self.group_permits).unwrap_or(usize::MAX));
        self.group_permits = 0;
    }

    fn write_group(&mut self) -> Result<(), WalError> {
        #[cfg(test)]
        if self.shared.fail_next_write.swap(false, Ordering::AcqRel) {
            let err = std::io::Error::other("injected write failure");
            return Err(WalError::io("writing to segment", &self.path(), err));
        }
        self.file.write_all(&self.buf).map_err(|err| WalError::io("writing to segment", &self.path(), err))?;
        if self.fsync {
            self.file.sync_data().map_err(|err| WalError::io("syncing segment", &self.path(), err))?;
            self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        let bytes = self.buf.len() as u64;
        self.written += bytes;
        let counters = &self.shared.counters;
        counters.groups.fetch_add(1, Ordering::Relaxed);
        counters.records.fetch_add(self.acks.len() as u64, Ordering::Relaxed);
        counters.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    fn rotate(&mut self) -> Result<u64, WalError> {
        if let Some(reason) = self.shared.failure.get() {
            return Err(WalError::Failed { reason: reason.clone() });
        }
        self.roll().inspect_err(|err| self.shared.fail(err))
    }

    /// Syncs the current segment and switches to a new one.
    fn roll(&mut self) -> Result<u64, WalError> {
        self.sync_all()?;
        let next = self.seq.checked_add(1).ok_or_else(|| {
            WalError::io("numbering segment after", &self.path(), std::io::ErrorKind::InvalidData.into())
        })?;
        self.file = create_segment(&self.shared.dir, next, self.fsync)?;
        if self.fsync {
            self.shared.counters.fsyncs.fetch_add(2, Ordering::Relaxed);
        }
        self.seq = next;
        self.written = SEGMENT_HEADER_LEN as u64;
        self.shared.current_segment.store(next, Ordering::Release);
        Ok(next)
    }

    /// Syncs the segment before the thread lets go of it. A closed segment is synced even with
    /// `fsync` off: it happens once per segment, not once per push.
    fn finish(&mut self) -> Result<(), WalError> {
        if let Some(reason) = self.shared.failure.get() {
            return Err(WalError::Failed { reason: reason.clone() });
        }
        self.sync_all().inspect_err(|err| self.shared.fail(err))
    }

    fn sync_all(&mut self) -> Result<(), WalError> {
        self.file.sync_all().map_err(|err| WalError::io("syncing segment", &self.path(), err))?;
        self.shared.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn path(&self) -> PathBuf {
        segment_path(&self.shared.dir, self.seq)
    }
}
