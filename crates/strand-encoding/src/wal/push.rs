//! The record the ingester appends for a push.
//!
//! Layout (all integers little-endian): `u8 kind` (1 = push, version 1), `u32 trace count`, then
//! per trace `[u8; 16] trace id`, `u64 start_unix_nano`, `u64 end_unix_nano`, `u32 span_count`,
//! `u32 length`, `length` bytes of an encoded `tempopb.Trace`. A persisted format: a change gets
//! a new kind byte, and the decoder keeps reading the old ones.

use bytes::{BufMut, Bytes, BytesMut};
use strand_model::{TraceBytes, TraceId};

use super::WalError;

const PUSH_RECORD_V1: u8 = 1;
const RECORD_HEADER_LEN: usize = 1 + 4;
const TRACE_HEADER_LEN: usize = 16 + 8 + 8 + 4 + 4;

/// Encodes the traces of one push as a WAL record payload.
///
/// Counts and lengths are 32-bit: a push too large for them is far over
/// [`super::MAX_RECORD_LEN`], so [`super::Wal::append`] refuses it before it could be misread.
pub fn encode_push_record(traces: &[TraceBytes]) -> Bytes {
    let size = RECORD_HEADER_LEN + traces.iter().map(|t| TRACE_HEADER_LEN + t.bytes.len()).sum::<usize>();
    let mut buf = BytesMut::with_capacity(size);
    buf.put_u8(PUSH_RECORD_V1);
    buf.put_u32_le(u32::try_from(traces.len()).unwrap_or(u32::MAX));
    for trace in traces {
        buf.put_slice(&trace.id.0);
        buf.put_u64_le(trace.start_unix_nano);
        buf.put_u64_le(trace.end_unix_nano);
        buf.put_u32_le(trace.span_count);
        buf.put_u32_le(u32::try_from(trace.bytes.len()).unwrap_or(u32::MAX));
        buf.put_slice(&trace.bytes);
    }
    buf.freeze()
}

/// Decodes a payload written by [`encode_push_record`]. The trace bytes are slices of `payload`,
/// not copies. Anything malformed (unknown kind, a length past the end, trailing bytes) is an
/// error, never a panic.
pub fn decode_push_record(payload: Bytes) -> Result<Vec<TraceBytes>, WalError> {
    let mut reader = Reader { payload: &payload, pos: 0 };
    let kind = reader.array::<1>("record kind")?;
    if kind != [PUSH_RECORD_V1] {
        return Err(WalError::corrupt(format!("unknown record kind {}", kind[0])));
    }
    let count = reader.u32("trace count")?;
    // Bound the allocation by what the payload could hold, not by what it claims.
    let most = reader.remaining() / TRACE_HEADER_LEN;
    let mut traces = Vec::with_capacity(usize::try_from(count).unwrap_or(usize::MAX).min(most));
    for _ in 0..count {
        let id = TraceId(reader.array::<16>("trace id")?);
        let start_unix_nano = reader.u64("start time")?;
        let end_unix_nano = reader.u64("end time")?;
        let span_count = reader.u32("span count")?;
        let len = reader.u32("trace length")?;
        let range = reader.take(usize::try_from(len).unwrap_or(usize::MAX), "trace bytes")?;
        traces.push(TraceBytes { id, bytes: payload.slice(range), span_count, start_unix_nano, end_unix_nano });
    }
    if reader.remaining() != 0 {
        return Err(WalError::corrupt(format!("{} bytes after the last trace", reader.remaining())));
    }
    Ok(traces)
}

/// A bounds-checked cursor over a payload.
struct Reader<'a> {
    payload: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.payload.len() - self.pos
    }

    /// The range of the next `len` bytes, consumed.
    fn take(&mut self, len: usize, what: &str) -> Result<std::ops::Range<usize>, WalError> {
        if len > self.remaining() {
            return Err(WalError::corrupt(format!(
                "{what}: needs {len} bytes, {} left in the record",
                self.remaining()
            )));
        }
        let range = self.pos..self.pos + len;
        self.pos = range.end;
        Ok(range)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], WalError> {
        let range = self.take(N, what)?;
        self.payload
            .get(range)
            .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
            .ok_or_else(|| WalError::corrupt(format!("{what}: out of bounds")))
    }

    fn u32(&mut self, what: &str) -> Result<u32, WalError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, WalError> {
        self.array(what).map(u64::from_le_bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn trace_strategy() -> impl Strategy<Value = TraceBytes> {
        (any::<[u8; 16]>(), prop::collection::vec(any::<u8>(), 0..200), any::<u32>(), any::<u64>(), any::<u64>())
            .prop_map(|(id, bytes, span_count, start, end)| TraceBytes {
                id: TraceId(id),
                bytes: Bytes::from(bytes),
                span_count,
                start_unix_nano: start,
                end_unix_nano: end,
            })
    }

    proptest! {
        #[test]
        fn push_records_round_trip(traces in prop::collection::vec(trace_strategy(), 0..20)) {
            let payload = encode_push_record(&traces);
            let decoded = decode_push_record(payload.clone()).unwrap();
            prop_assert_eq!(&decoded, &traces);
            // Zero-copy: every trace's bytes point into the payload.
            let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
            for trace in decoded.iter().filter(|t| !t.bytes.is_empty()) {
                prop_assert!(range.contains(&(trace.bytes.as_ptr() as usize)));
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_push_record(Bytes::from(bytes));
        }

        #[test]
        fn damaged_records_are_rejected_or_decoded_without_panic(
            traces in prop::collection::vec(trace_strategy(), 1..5),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            xor in 1u8..,
        ) {
            let payload = encode_push_record(&traces);
            // Any strict prefix is missing bytes, and is always refused.
            let cut = cut.index(payload.len());
            prop_assert!(decode_push_record(payload.slice(..cut)).is_err());
            // A flipped byte may still decode (if it lands in trace bytes) but must not panic.
            let mut damaged = payload.to_vec();
            let at = flip.index(damaged.len());
            damaged[at] ^= xor;
            let _ = decode_push_record(Bytes::from(damaged));
        }
    }

    #[test]
    fn malformed_records_are_refused() {
        let traces = vec![TraceBytes {
            id: TraceId([7; 16]),
            bytes: Bytes::from_static(b"spans"),
            span_count: 2,
            start_unix_nano: 10,
            end_unix_nano: 20,
        }];
        let good = encode_push_record(&traces).to_vec();
        assert_eq!(good.len(), RECORD_HEADER_LEN + TRACE_HEADER_LEN + 5);

        let mut unknown_kind = good.clone();
        unknown_kind[0] = 2;
        assert!(decode_push_record(Bytes::from(unknown_kind)).unwrap_err().to_string().contains("kind 2"));

        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_push_record(Bytes::from(trailing)).is_err());

        let mut huge_count = good.clone();
        huge_count[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_push_record(Bytes::from(huge_count)).is_err());

        let mut long_trace = good.clone();
        let len_at = RECORD_HEADER_LEN + TRACE_HEADER_LEN - 4;
        long_trace[len_at..len_at + 4].copy_from_slice(&6u32.to_le_bytes());
        assert!(decode_push_record(Bytes::from(long_trace)).is_err());

        assert!(decode_push_record(Bytes::new()).is_err());
        assert_eq!(decode_push_record(encode_push_record(&[])).unwrap(), Vec::new());
    }
}
