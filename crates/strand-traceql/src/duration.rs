//! Duration literals: `1h30m`, `1.5s`, `250ms`, `10us`, `2d`.
//!
//! Tempo accepts two spellings and tries them in order: Prometheus durations (integer counts of
//! `y w d h m s ms`, biggest unit first, each at most once) and then Go's `time.ParseDuration`
//! (decimal counts of `h m s ms us µs μs ns`, in any order). Values are nanoseconds in an `i64`.

const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MINUTE;
const NANOS_PER_DAY: u64 = 24 * NANOS_PER_HOUR;

/// The largest magnitude a duration may have, as in Go: 2^63 - 1 nanoseconds.
const MAX_NANOS: u64 = i64::MAX as u64;

/// Parses a duration literal (no sign), trying the Prometheus form first, then Go's.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    parse_prometheus(text).or_else(|| parse_go(text))
}

/// Prometheus: `[0-9]+unit` groups, units strictly in the order y w d h m s ms.
fn parse_prometheus(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_rank = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let count: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if unit_len == 0 {
            return None;
        }
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let (rank, nanos) = match unit {
            "y" => (1, 365 * NANOS_PER_DAY),
            "w" => (2, 7 * NANOS_PER_DAY),
            "d" => (3, NANOS_PER_DAY),
            "h" => (4, NANOS_PER_HOUR),
            "m" => (5, NANOS_PER_MINUTE),
            "s" => (6, NANOS_PER_SECOND),
            "ms" => (7, NANOS_PER_MILLI),
            _ => return None,
        };
        if rank <= last_rank {
            return None;
        }
        last_rank = rank;
        if count > (1u64 << 63) / nanos {
            return None;
        }
        total = total.checked_add(count * nanos)?;
        if total > MAX_NANOS {
            return None;
        }
    }
    i64::try_from(total).ok()
}

/// Go's `time.ParseDuration`, without the sign (TraceQL spells negation as unary minus).
fn parse_go(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let first = rest.bytes().next()?;
        if !(first == b'.' || first.is_ascii_digit()) {
            return None;
        }
        let (whole, after_whole) = leading_int(rest)?;
        let had_whole = after_whole.len() != rest.len();
        rest = after_whole;
        let (mut fraction, mut scale, mut had_fraction) = (0u64, 1f64, false);
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (f, s, after_fraction) = leading_fraction(after_dot);
            had_fraction = after_fraction.len() != after_dot.len();
            (fraction, scale) = (f, s);
            rest = after_fraction;
        }
        if !had_whole && !had_fraction {
            return None;
        }
        let unit_len: usize =
            rest.char_indices().find(|&(_, c)| c == '.' || c.is_ascii_digit()).map_or(rest.len(), |(i, _)| i);
        if unit_len == 0 {
            return None;
        }
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let nanos: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SECOND,
            "m" => NANOS_PER_MINUTE,
            "h" => NANOS_PER_HOUR,
            _ => return None,
        };
        if whole > (1u64 << 63) / nanos {
            return None;
        }
        let mut value = whole * nanos;
        if fraction > 0 {
            // Go computes the fractional part in floating point, nanosecond-accurate up to hours.
            let extra = (fraction as f64 * (nanos as f64 / scale)) as u64;
            value = value.checked_add(extra)?;
            if value > 1u64 << 63 {
                return None;
            }
        }
        total = total.checked_add(value)?;
        if total > 1u64 << 63 {
            return None;
        }
    }
    if total > MAX_NANOS {
        return None;
    }
    i64::try_from(total).ok()
}

/// Digits at the start of `s` as an integer; `None` on overflow.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let mut value: u64 = 0;
    let mut consumed = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        if value > (1u64 << 63) / 10 {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
        if value > 1u64 << 63 {
            return None;
        }
        consumed += 1;
    }
    Some((value, s.get(consumed..).unwrap_or("")))
}

/// Digits after a decimal point: their value and the power of ten they are scaled by. Digits
/// beyond what fits are consumed and ignored.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let mut value: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    let mut consumed = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        consumed += 1;
        if overflow {
            continue;
        }
        if value > (MAX_NANOS) / 10 {
            overflow = true;
            continue;
        }
        let next = value * 10 + u64::from(b - b'0');
        if next > 1u64 << 63 {
            overflow = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, s.get(consumed..).unwrap_or(""))
}

/// Formats nanoseconds as a literal that parses back to the same value: the largest unit that
/// divides it exactly (`90m`, `1500ms`, `7ns`), with a leading `-` when negative.
pub(crate) fn format_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    if magnitude == 0 {
        return "0s".to_string();
    }
    const UNITS: [(u64, &str); 6] = [
        (NANOS_PER_HOUR, "h"),
        (NANOS_PER_MINUTE, "m"),
        (NANOS_PER_SECOND, "s"),
        (NANOS_PER_MILLI, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let (per, unit) = UNITS.iter().copied().find(|(per, _)| magnitude.is_multiple_of(*per)).unwrap_or((1, "ns"));
    format!("{sign}{}{unit}", magnitude / per)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn prometheus_units_and_compounds() {
        assert_eq!(parse_duration("1s"), Some(S));
        assert_eq!(parse_duration("1m"), Some(60 * S));
        assert_eq!(parse_duration("1h30m"), Some(90 * 60 * S));
        assert_eq!(parse_duration("1d"), Some(86_400 * S));
        assert_eq!(parse_duration("1w"), Some(7 * 86_400 * S));
        assert_eq!(parse_duration("1y"), Some(365 * 86_400 * S));
        assert_eq!(parse_duration("1s500ms"), Some(S + S / 2));
        assert_eq!(parse_duration("0"), Some(0));
    }

    #[test]
    fn go_units_fractions_and_any_order() {
        assert_eq!(parse_duration("1ns"), Some(1));
        assert_eq!(parse_duration("1us"), Some(1_000));
        assert_eq!(parse_duration("1\u{b5}s"), Some(1_000));
        assert_eq!(parse_duration("1.5s"), Some(S + S / 2));
        assert_eq!(parse_duration("1.5m"), Some(90 * S));
        assert_eq!(parse_duration(".5s"), Some(S / 2));
        assert_eq!(parse_duration("1m1h"), Some(61 * 60 * S));
        assert_eq!(parse_duration("1h15m30.918273645s"), Some(((3600 + 15 * 60 + 30) * S) + 918_273_645));
    }

    #[test]
    fn rejects_what_both_reject() {
        for text in ["", "1", "s", "1t", "1d1.5h", "1.5d", "1s2", "1..5s", "99999999999999999999s", "1hx"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(parse_duration("9223372036854775807ns"), Some(i64::MAX));
        assert_eq!(parse_duration("9223372036854775808ns"), None);
        assert_eq!(parse_duration("2562047h"), Some(2_562_047 * 3600 * S));
        assert_eq!(parse_duration("2562048h"), None);
    }

    #[test]
    fn formatting_round_trips() {
        for nanos in [0, 1, 999, 1_000, 1_500_000, S, 90 * S, 3600 * S, 3601 * S, i64::MAX, -S, -(i64::MAX)] {
            let text = format_duration(nanos);
            let (sign, body) = match text.strip_prefix('-') {
                Some(body) => (-1, body),
                None => (1, text.as_str()),
            };
            assert_eq!(parse_duration(body).map(|d| sign * d), Some(nanos), "{text}");
        }
        assert_eq!(format_duration(90 * 60 * S), "90m");
        assert_eq!(format_duration(1_500_000), "1500us");
    }
}
