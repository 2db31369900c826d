//! Segment files: naming, listing, and the header that starts each one.
//!
//! A persisted format: a new layout gets a new [`SEGMENT_VERSION`], and replay learns to read it
//! next to the old one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::WalError;

/// The first four bytes of every segment.
const SEGMENT_MAGIC: [u8; 4] = *b"SWAL";

/// The record format of the segment, after the magic.
const SEGMENT_VERSION: u32 = 1;

/// Magic plus version.
pub(crate) const SEGMENT_HEADER_LEN: usize = 8;

const SEGMENT_EXTENSION: &str = ".wal";
const SEQUENCE_DIGITS: usize = 20;

/// `<dir>/<20-digit zero-padded sequence>.wal`, so that names sort like sequences.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{SEGMENT_EXTENSION}"))
}

/// The sequence of a segment file name, or `None` for anything else in the folder.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_EXTENSION)?;
    if digits.len() != SEQUENCE_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first. A missing folder holds no segments.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(WalError::io("listing", dir, err)),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| WalError::io("listing", dir, err))?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_name) {
            segments.push((seq, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(segments)
}

pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    let (magic, version) = header.split_at_mut(SEGMENT_MAGIC.len());
    magic.copy_from_slice(&SEGMENT_MAGIC);
    version.copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    header
}

/// Why a segment header cannot be read, or `None` if it can.
pub(crate) fn check_segment_header(header: [u8; SEGMENT_HEADER_LEN]) -> Option<String> {
    let [m0, m1, m2, m3, v0, v1, v2, v3] = header;
    if [m0, m1, m2, m3] != SEGMENT_MAGIC {
        return Some("not a wal segment (bad magic)".to_string());
    }
    let version = u32::from_le_bytes([v0, v1, v2, v3]);
    if version != SEGMENT_VERSION {
        return Some(format!("unsupported wal segment version {version}"));
    }
    None
}

/// Creates segment `seq` with its header. With `fsync`, the header and the folder entry are
/// synced too, so that records later synced into the file cannot vanish with an unsynced name.
pub(crate) fn create_segment(dir: &Path, seq: u64, fsync: bool) -> Result<File, WalError> {
    let path = segment_path(dir, seq);
    // create_new: a segment is written once, by one writer; never reuse a file a crash left.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|err| WalError::io("creating segment", &path, err))?;
    file.write_all(&segment_header()).map_err(|err| WalError::io("writing segment header", &path, err))?;
    if fsync {
        file.sync_all().map_err(|err| WalError::io("syncing segment", &path, err))?;
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Makes the folder's entries (new or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|err| WalError::io("syncing folder", dir, err))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_sequences_and_parse_back() {
        let dir = Path::new("wal");
        assert_eq!(segment_path(dir, 42), dir.join("00000000000000000042.wal"));
        assert_eq!(parse_segment_name("00000000000000000042.wal"), Some(42));
        assert_eq!(parse_segment_name("18446744073709551615.wal"), Some(u64::MAX));
        assert_eq!(parse_segment_name("99999999999999999999.wal"), None);
        assert_eq!(parse_segment_name("42.wal"), None);
        assert_eq!(parse_segment_name("0000000000000000004a.wal"), None);
        assert_eq!(parse_segment_name("00000000000000000042.wal.tmp"), None);
        assert_eq!(parse_segment_name("+0000000000000000042.wal"), None);
    }

    #[test]
    fn header_round_trips_and_rejects_others() {
        assert_eq!(check_segment_header(segment_header()), None);
        let mut bad_magic = segment_header();
        bad_magic[0] = b'X';
        assert!(check_segment_header(bad_magic).is_some());
        let mut future = segment_header();
        future[4] = 2;
        assert!(check_segment_header(future).unwrap().contains("version 2"));
    }

    #[test]
    fn lists_only_segments_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for seq in [10u64, 2, 7] {
            create_segment(dir.path(), seq, false).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let seqs: Vec<u64> = list_segments(dir.path()).unwrap().into_iter().map(|(seq, _)| seq).collect();
        assert_eq!(seqs, vec![2, 7, 10]);
        assert!(list_segments(&dir.path().join("missing")).unwrap().is_empty());
        assert!(create_segment(dir.path(), 7, false).is_err(), "segments are never reused");
    }
}
