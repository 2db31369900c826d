//! Record framing: `u32 LE payload length`, `u32 LE crc32 of the payload`, payload.
//!
//! A persisted format: change it only by bumping the segment format version.

use super::WalError;

/// Bytes in front of every payload: its length and its checksum.
pub(crate) const FRAME_HEADER_LEN: usize = 8;

/// The largest record payload, 256 MiB. Replay treats a larger length as corruption, so the
/// writer refuses larger records rather than acknowledge one that replay would throw away.
pub const MAX_RECORD_LEN: usize = 256 * 1024 * 1024;

/// Refuses records that replay could not tell from corruption: empty ones (a zero-filled tail,
/// as some filesystems leave after a crash, would otherwise read as a run of valid empty
/// records) and ones over [`MAX_RECORD_LEN`].
pub(crate) fn check_payload_len(len: usize) -> Result<(), WalError> {
    if len == 0 || len > MAX_RECORD_LEN {
        return Err(WalError::RecordSize { len, max: MAX_RECORD_LEN });
    }
    Ok(())
}

/// Appends one framed record to `buf`. The length must have passed [`check_payload_len`].
pub(crate) fn put_frame(buf: &mut Vec<u8>, payload: &[u8]) {
    // Cannot saturate: check_payload_len keeps payloads at or under 256 MiB.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// The two fields in front of a payload, as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) len: u32,
    pub(crate) crc: u32,
}

impl FrameHeader {
    pub(crate) fn parse(bytes: [u8; FRAME_HEADER_LEN]) -> FrameHeader {
        let [l0, l1, l2, l3, c0, c1, c2, c3] = bytes;
        FrameHeader { len: u32::from_le_bytes([l0, l1, l2, l3]), crc: u32::from_le_bytes([c0, c1, c2, c3]) }
    }

    /// Whether the length could belong to a record the writer accepted.
    pub(crate) fn len_is_plausible(self) -> bool {
        usize::try_from(self.len).is_ok_and(|len| check_payload_len(len).is_ok())
    }

    pub(crate) fn matches(self, payload: &[u8]) -> bool {
        crc32fast::hash(payload) == self.crc
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_length_checksum_payload() {
        let mut buf = Vec::new();
        put_frame(&mut buf, b"hello");
        assert_eq!(&buf[..4], &5u32.to_le_bytes());
        assert_eq!(&buf[4..8], &crc32fast::hash(b"hello").to_le_bytes());
        assert_eq!(&buf[8..], b"hello");

        let header = FrameHeader::parse(buf[..8].try_into().unwrap());
        assert_eq!(header.len, 5);
        assert!(header.len_is_plausible());
        assert!(header.matches(b"hello"));
        assert!(!header.matches(b"hellO"));
    }

    #[test]
    fn empty_and_oversized_records_are_refused() {
        assert!(check_payload_len(0).is_err());
        assert!(check_payload_len(1).is_ok());
        assert!(check_payload_len(MAX_RECORD_LEN).is_ok());
        assert!(check_payload_len(MAX_RECORD_LEN + 1).is_err());
        assert!(!FrameHeader { len: 0, crc: 0 }.len_is_plausible());
        assert!(!FrameHeader { len: u32::MAX, crc: 0 }.len_is_plausible());
    }
}
