use std::fmt;

/// Why an identifier was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A trace ID given in hex was longer than 32 characters.
    #[error("trace IDs can't be larger than 128 bits")]
    TraceIdTooLong,
    /// A trace ID given in hex held a character that is not a hex digit.
    #[error("trace IDs can only contain hex characters: invalid character '{character}' at position {position}")]
    NotHex {
        /// The offending character.
        character: char,
        /// Its position, counted from 1 as Tempo does.
        position: usize,
    },
    /// A trace ID given in hex was empty.
    #[error("trace ID is empty")]
    Empty,
    /// A binary trace ID was not 16 bytes.
    #[error("trace ids must be 128 bit, received {0} bits")]
    TraceIdLength(usize),
    /// A binary span ID was not 8 bytes, or was all zeros.
    #[error("span ids must be 64 bit and not all zero, received {0} bits")]
    SpanIdInvalid(usize),
    /// A block ID was not a UUID.
    #[error("invalid block ID {0:?}")]
    BlockId(String),
}

/// A 128-bit trace ID, always stored as 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// Reads a trace ID from the 16 raw bytes OTLP carries. Any other length is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<TraceId, IdError> {
        <[u8; 16]>::try_from(bytes).map(TraceId).map_err(|_| IdError::TraceIdLength(bytes.len() * 8))
    }

    /// Parses a hex trace ID the way Tempo's query API does: 1 to 32 hex digits in any case,
    /// an odd length gets a leading `0`, and shorter IDs are left-padded with zeros, so the
    /// leading-zero-stripped IDs that search results carry (and 64-bit Zipkin/Jaeger IDs) resolve.
    pub fn parse_hex(text: &str) -> Result<TraceId, IdError> {
        if text.is_empty() {
            return Err(IdError::Empty);
        }
        if text.len() > 32 {
            return Err(IdError::TraceIdTooLong);
        }
        let mut id = [0u8; 16];
        // Walk from the last digit backwards, filling bytes from the end.
        for (index_from_end, character) in text.chars().rev().enumerate() {
            let value = character
                .to_digit(16)
                .ok_or_else(|| IdError::NotHex { character, position: text.chars().count() - index_from_end })?
                as u8;
            let byte = 15 - index_from_end / 2;
            if index_from_end % 2 == 0 {
                id[byte] |= value;
            } else {
                id[byte] |= value << 4;
            }
        }
        Ok(TraceId(id))
    }

    /// Lowercase hex, all 32 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Lowercase hex with leading zeros removed, as Tempo prints trace IDs in search results.
    pub fn to_hex_trimmed(&self) -> String {
        let full = self.to_hex();
        let trimmed = full.trim_start_matches('0');
        if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.to_hex())
    }
}

/// A 64-bit span ID, never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

impl SpanId {
    /// Reads a span ID from the 8 raw bytes OTLP carries; other lengths and all-zero IDs are refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<SpanId, IdError> {
        match <[u8; 8]>::try_from(bytes) {
            Ok(id) if id != [0; 8] => Ok(SpanId(id)),
            _ => Err(IdError::SpanIdInvalid(bytes.len() * 8)),
        }
    }

    /// Lowercase hex, all 16 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.to_hex())
    }
}

/// A block's identity: a random UUID, which is also its folder name in object storage.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct BlockId(pub uuid::Uuid);

impl BlockId {
    /// A fresh random block ID.
    pub fn new_random() -> BlockId {
        BlockId(uuid::Uuid::new_v4())
    }

    /// Parses the hyphenated UUID form used in object keys.
    pub fn parse(text: &str) -> Result<BlockId, IdError> {
        uuid::Uuid::parse_str(text).map(BlockId).map_err(|_| IdError::BlockId(text.to_string()))
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_hex_ids_are_left_padded() {
        let id = TraceId::parse_hex("abc").unwrap();
        assert_eq!(id.to_hex(), "00000000000000000000000000000abc");
        let id = TraceId::parse_hex("5B8EFFF798038103D269B633813FC700").unwrap();
        assert_eq!(id.to_hex(), "5b8efff798038103d269b633813fc700");
        let id = TraceId::parse_hex("1").unwrap();
        assert_eq!(id.0[15], 1);
    }

    #[test]
    fn bad_hex_ids_say_what_is_wrong() {
        assert_eq!(TraceId::parse_hex(&"a".repeat(33)), Err(IdError::TraceIdTooLong));
        assert_eq!(
            TraceId::parse_hex("12x4").unwrap_err().to_string(),
            "trace IDs can only contain hex characters: invalid character 'x' at position 3"
        );
        assert_eq!(TraceId::parse_hex(""), Err(IdError::Empty));
    }

    #[test]
    fn trimmed_hex_drops_leading_zeros_only() {
        let id = TraceId::parse_hex("00f0").unwrap();
        assert_eq!(id.to_hex_trimmed(), "f0");
        assert_eq!(TraceId::default().to_hex_trimmed(), "0");
    }

    #[test]
    fn binary_ids_must_have_exact_lengths() {
        assert!(TraceId::from_bytes(&[1; 16]).is_ok());
        assert_eq!(TraceId::from_bytes(&[1; 8]), Err(IdError::TraceIdLength(64)));
        assert!(SpanId::from_bytes(&[1; 8]).is_ok());
        assert_eq!(SpanId::from_bytes(&[0; 8]), Err(IdError::SpanIdInvalid(64)));
        assert_eq!(SpanId::from_bytes(&[1; 4]), Err(IdError::SpanIdInvalid(32)));
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in any::<[u8; 16]>()) {
            let id = TraceId(bytes);
            prop_assert_eq!(TraceId::parse_hex(&id.to_hex()).unwrap(), id);
            prop_assert_eq!(TraceId::parse_hex(&id.to_hex().to_uppercase()).unwrap(), id);
            prop_assert_eq!(TraceId::parse_hex(&id.to_hex_trimmed()).unwrap(), id);
        }
    }
}
