//! Query-string reading shared by the search and tag routes, with Tempo's (Go's) error texts,
//! since clients and Tempo's own tests match on them.

use std::time::Duration;

use crate::error::FrontendError;

/// The query string as ordered pairs, read the way Go's `url.Values.Get` reads it: the first value
/// of a key counts, and an empty value is the same as no value.
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    /// The first value of `name`, if it is not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
    }

    /// `name` as an unsigned 32-bit number, if given.
    pub(crate) fn u32(&self, name: &str) -> Result<Option<u32>, FrontendError> {
        self.get(name).map(|text| parse_u32(name, text)).transpose()
    }

    /// `start` and `end`, 0 when not given. When either is set, `end` must be after `start`.
    pub(crate) fn time_range(&self) -> Result<(u32, u32), FrontendError> {
        let start = self.u32("start")?.unwrap_or(0);
        let end = self.u32("end")?.unwrap_or(0);
        if (start != 0 || end != 0) && end <= start {
            return Err(FrontendError::StartNotBeforeEnd { start: start.into(), end: end.into() });
        }
        Ok((start, end))
    }
}

/// Go's `strconv.ParseUint(text, 10, 32)`, failing with `invalid <name>: strconv.ParseUint: ...`.
fn parse_u32(name: &str, text: &str) -> Result<u32, FrontendError> {
    let reason = if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        "invalid syntax"
    } else {
        match text.parse::<u32>() {
            Ok(value) => return Ok(value),
            Err(_) => "value out of range",
        }
    };
    Err(FrontendError::InvalidRequest(format!("invalid {name}: strconv.ParseUint: parsing {text:?}: {reason}")))
}

/// Go's `time.ParseDuration`: `300ms`, `1.5h`, `2h45m`; units `ns`, `us`/`µs`, `ms`, `s`, `m`,
/// `h`. Errors are Go's (`time: invalid duration "x"`). Negative durations are refused: Tempo
/// would wrap them into huge numbers.
pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Some(magnitude) = unsigned.strip_prefix('-') {
        return if magnitude.trim_start_matches(['0', '.']).is_empty() {
            Ok(Duration::ZERO)
        } else {
            Err("must not be negative".to_string())
        };
    }
    if unsigned == "0" {
        return Ok(Duration::ZERO);
    }
    if unsigned.is_empty() {
        return Err(invalid());
    }
    let mut rest = unsigned;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => return Err(format!("time: unknown unit {other:?} in duration {text:?}")),
        };
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid())? };
        let mut nanos = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            nanos += u128::from(digit - b'0') * place;
        }
        total = total.checked_add(nanos).filter(|t| *t <= i64::MAX as u128).ok_or_else(invalid)?;
        rest = next;
    }
    Ok(Duration::from_nanos(u64::try_from(total).map_err(|_| invalid())?))
}

/// A duration printed the way Go's `time.Duration.String` prints it (`168h0m0s`, `1.5s`, `100ms`).
pub(crate) fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = decimal(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, minutes) => format!("{minutes}m{seconds}s"),
        (hours, minutes) => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `value / scale`, with the fraction's trailing zeros dropped.
fn decimal(value: u128, scale: u128) -> String {
    let (whole, rest) = (value / scale, value % scale);
    if rest == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    format!("{whole}.{rest:0digits$}").trim_end_matches('0').to_string()
}

/// Percent-decodes a path segment once. `None` if the result is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |offset: usize| bytes.get(index + offset).and_then(|b| (*b as char).to_digit(16));
        match (bytes[index], hex(1), hex(2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn message(err: FrontendError) -> String {
        err.to_string()
    }

    #[test]
    fn values_are_read_like_go_url_values() {
        let p = params(&[("a", "1"), ("a", "2"), ("b", ""), ("b", "x")]);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), None);
    }

    #[test]
    fn numbers_fail_with_gos_messages() {
        assert_eq!(params(&[("limit", "7")]).u32("limit").unwrap(), Some(7));
        assert_eq!(
            message(params(&[("limit", "x")]).u32("limit").unwrap_err()),
            r#"invalid limit: strconv.ParseUint: parsing "x": invalid syntax"#
        );
        assert_eq!(
            message(params(&[("start", "-1")]).u32("start").unwrap_err()),
            r#"invalid start: strconv.ParseUint: parsing "-1": invalid syntax"#
        );
        assert_eq!(
            message(params(&[("end", "4294967296")]).u32("end").unwrap_err()),
            r#"invalid end: strconv.ParseUint: parsing "4294967296": value out of range"#
        );
    }

    #[test]
    fn time_ranges_need_end_after_start() {
        assert_eq!(params(&[]).time_range().unwrap(), (0, 0));
        assert_eq!(params(&[("start", "10"), ("end", "20")]).time_range().unwrap(), (10, 20));
        assert_eq!(params(&[("end", "20")]).time_range().unwrap(), (0, 20));
        assert_eq!(
            message(params(&[("start", "20"), ("end", "20")]).time_range().unwrap_err()),
            "http parameter start must be before end. received start=20 end=20"
        );
        assert_eq!(
            message(params(&[("start", "20")]).time_range().unwrap_err()),
            "http parameter start must be before end. received start=20 end=0"
        );
    }

    #[test]
    fn go_durations_parse() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(parse_go_duration("100ms"), Ok(ms(100)));
        assert_eq!(parse_go_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_go_duration("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse_go_duration(".5s"), Ok(ms(500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("1500us"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_go_duration("2µs"), Ok(Duration::from_micros(2)));
        assert_eq!(parse_go_duration("abc"), Err(r#"time: invalid duration "abc""#.into()));
        assert_eq!(parse_go_duration("10"), Err(r#"time: missing unit in duration "10""#.into()));
        assert_eq!(parse_go_duration("10x"), Err(r#"time: unknown unit "x" in duration "10x""#.into()));
        assert_eq!(parse_go_duration("-1s"), Err("must not be negative".into()));
        assert_eq!(parse_go_duration("99999999999h"), Err(r#"time: invalid duration "99999999999h""#.into()));
    }

    #[test]
    fn go_durations_print() {
        assert_eq!(go_duration(Duration::from_secs(168 * 3600)), "168h0m0s");
        assert_eq!(go_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(go_duration(Duration::from_millis(90_500)), "1m30.5s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_nanos(446_979_497)), "446.979497ms");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn path_segments_decode_once() {
        assert_eq!(percent_decode("a%2Fb%3Ac").unwrap(), "a/b:c");
        assert_eq!(percent_decode("%252F").unwrap(), "%2F");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("caf%C3%A9").unwrap(), "café");
        assert!(percent_decode("%FF").is_none());
    }
}
