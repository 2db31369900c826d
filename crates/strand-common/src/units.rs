//! Sizes and durations in configuration, written as humans write them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A byte size: `500MiB`, `64KB`, `1048576`. Serialises back in the same human form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

impl Size {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Size {
        Size(n * 1024 * 1024)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// The size in bytes, as a `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if let Ok(n) = trimmed.parse::<u64>() {
            return Ok(Size(n));
        }
        trimmed
            .parse::<bytesize::ByteSize>()
            .map(|b| Size(b.as_u64()))
            .map_err(|_| format!("invalid size {s:?}: expected a number of bytes or a size such as 500MiB"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (unit, factor) in UNITS {
            if self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{}{unit}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Size(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A duration: `10s`, `30m`, `1h30m`, `250ms`. `0` means zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// `n` seconds.
    pub const fn secs(n: u64) -> Duration {
        Duration(std::time::Duration::from_secs(n))
    }

    /// `n` milliseconds.
    pub const fn millis(n: u64) -> Duration {
        Duration(std::time::Duration::from_millis(n))
    }

    /// The standard-library duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed == "0" {
            return Ok(Duration(std::time::Duration::ZERO));
        }
        humantime::parse_duration(trimmed)
            .map(Duration)
            .map_err(|_| format!("invalid duration {s:?}: expected a duration such as 10s, 5m or 250ms"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_written_and_print_back() {
        assert_eq!("500MiB".parse::<Size>(), Ok(Size(500 * 1024 * 1024)));
        assert_eq!("1024".parse::<Size>(), Ok(Size(1024)));
        assert_eq!(Size::mib(500).to_string(), "500MiB");
        assert_eq!(Size(1000).to_string(), "1000B");
        assert!("lots".parse::<Size>().is_err());
        let yaml: Size = serde_yaml::from_str("64KiB").unwrap();
        assert_eq!(yaml, Size(65536));
        let yaml: Size = serde_yaml::from_str("4096").unwrap();
        assert_eq!(yaml, Size(4096));
    }

    #[test]
    fn durations_parse_as_written_and_print_back() {
        assert_eq!("10s".parse::<Duration>(), Ok(Duration::secs(10)));
        assert_eq!("250ms".parse::<Duration>(), Ok(Duration::millis(250)));
        assert_eq!("0".parse::<Duration>(), Ok(Duration::secs(0)));
        assert_eq!(Duration::secs(90).to_string(), "1m 30s");
        assert_eq!("1m 30s".parse::<Duration>(), Ok(Duration::secs(90)));
        assert!("soon".parse::<Duration>().is_err());
    }
}
