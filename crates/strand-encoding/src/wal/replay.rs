//! Reading a WAL back at startup.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use bytes::Bytes;

use super::WalError;
use super::record::{FRAME_HEADER_LEN, FrameHeader};
use super::segment::{SEGMENT_HEADER_LEN, check_segment_header, list_segments};

/// Read buffer per segment; memory use of replay is this plus the largest record.
const READ_BUFFER: usize = 256 * 1024;

/// What [`replay`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segments read (files with an unreadable header are skipped and not counted).
    pub segments: u64,
    /// Records handed to the callback.
    pub records: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    /// Bytes cut off the end of segments: torn writes from a crash, or garbage after them.
    pub truncated_bytes: u64,
    /// Records skipped because their checksum did not match, although valid records follow them
    /// in the same segment. A crash cannot cause that; a damaged disk can.
    pub corrupt_records: u64,
}

/// Calls `on_record` with `(segment sequence, payload)` for every valid record in `dir`, oldest
/// first, and repairs torn tails on the way.
///
/// Run it before [`super::Wal::open`] on the same folder: open starts a new segment after the
/// highest one, and replay must not race the writer.
///
/// A segment is read record by record, so memory stays bounded by one record. Where a segment
/// stops making sense (a short record, an impossible length, or a bad checksum with no valid
/// record after it), the file is truncated after its last valid record, with a warning, and
/// replay goes on with the next segment. A segment with an unknown header is skipped with a
/// warning. Corrupt data is never an error; only failing file operations are.
pub fn replay(dir: &Path, mut on_record: impl FnMut(u64, Bytes)) -> Result<ReplayStats, WalError> {
    let mut stats = ReplayStats::default();
    for (seq, path) in list_segments(dir)? {
        replay_segment(seq, &path, &mut on_record, &mut stats)?;
    }
    Ok(stats)
}

fn replay_segment(
    seq: u64,
    path: &Path,
    on_record: &mut impl FnMut(u64, Bytes),
    stats: &mut ReplayStats,
) -> Result<(), WalError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(WalError::io("opening segment", path, err)),
    };
    let file_len = file.metadata().map_err(|err| WalError::io("inspecting segment", path, err))?.len();
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);

    let mut header = [0u8; SEGMENT_HEADER_LEN];
    if let Err(err) = reader.read_exact(&mut header) {
        if err.kind() != ErrorKind::UnexpectedEof {
            return Err(WalError::io("reading segment", path, err));
        }
        // A crash while the segment was being created; it holds no records.
        tracing::warn!(segment = %path.display(), bytes = file_len, "skipping wal segment shorter than its header");
        return Ok(());
    }
    if let Some(reason) = check_segment_header(header) {
        tracing::warn!(segment = %path.display(), reason, "skipping wal segment");
        return Ok(());
    }
    stats.segments += 1;

    let mut pos = SEGMENT_HEADER_LEN as u64;
    // The end of the last valid record: where the file is cut if what follows is unreadable.
    let mut good_end = pos;
    // Records with a bad checksum since `good_end`; corrupt if a valid record follows, else tail.
    let mut unconfirmed_bad = 0u64;
    let problem = loop {
        let left = file_len.saturating_sub(pos);
        if left == 0 {
            break None;
        }
        if left < FRAME_HEADER_LEN as u64 {
            break Some("record header cut short");
        }
        let mut frame = [0u8; FRAME_HEADER_LEN];
        match reader.read_exact(&mut frame) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::UnexpectedEof => {
                break Some("record header cut short");
            }
            Err(err) => return Err(WalError::io("reading segment", path, err)),
        }
        let frame = FrameHeader::parse(frame);
        if !frame.len_is_plausible() {
            break Some("impossible record length");
        }
        let len = u64::from(frame.len);
        if len > left - FRAME_HEADER_LEN as u64 {
            break Some("record runs past the end of the segment");
        }
        let mut payload = Vec::with_capacity(frame.len as usize);
        match (&mut reader).take(len).read_to_end(&mut payload) {
            Ok(read) if read as u64 == len => {}
            Ok(_) => break Some("record cut short"),
            Err(err) => return Err(WalError::io("reading segment", path, err)),
        }
        let start = pos;
        pos += FRAME_HEADER_LEN as u64 + len;
        if !frame.matches(&payload) {
            unconfirmed_bad += 1;
            tracing::debug!(segment = %path.display(), offset = start, "wal record checksum mismatch");
            continue;
        }
        if unconfirmed_bad > 0 {
            tracing::warn!(
                segment = %path.display(),
                records = unconfirmed_bad,
                before_offset = start,
                "skipping wal records with bad checksums in the middle of a segment"
            );
            stats.corrupt_records += unconfirmed_bad;
            unconfirmed_bad = 0;
        }
        good_end = pos;
        stats.records += 1;
        stats.bytes += len;
        on_record(seq, Bytes::from(payload));
    };
    drop(reader);

    if good_end < file_len {
        let reason = problem.unwrap_or("checksum mismatch");
        truncate(path, good_end, file_len, reason)?;
        stats.truncated_bytes += file_len - good_end;
    }
    Ok(())
}

/// Cuts a segment after its last valid record, so the next replay reads it cleanly.
fn truncate(path: &Path, good_end: u64, file_len: u64, reason: &str) -> Result<(), WalError> {
    tracing::warn!(
        segment = %path.display(),
        offset = good_end,
        dropped_bytes = file_len - good_end,
        reason,
        "truncating torn wal segment tail"
    );
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|err| WalError::io("opening segment to truncate", path, err))?;
    file.set_len(good_end).map_err(|err| WalError::io("truncating segment", path, err))?;
    file.sync_all().map_err(|err| WalError::io("syncing segment", path, err))
}
