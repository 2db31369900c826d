//! Latency histograms of bounded size, so an hour-long run keeps constant memory.

use std::time::Duration;

use serde_json::{Value, json};

/// Exact below 32 µs, then 16 buckets per power of two (at most 6% wide) up to `u64::MAX` µs.
const BUCKETS: usize = 32 + 59 * 16;

/// A log-linear histogram of durations, with microsecond resolution.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_micros: u128,
    max: Duration,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], count: 0, sum_micros: 0, max: Duration::ZERO }
    }
}

fn bucket(micros: u64) -> usize {
    if micros < 32 {
        return micros as usize;
    }
    let exponent = 63 - u64::from(micros.leading_zeros());
    let sub = (micros >> (exponent - 4)) & 15;
    (32 + (exponent - 5) * 16 + sub) as usize
}

/// The smallest value that falls in bucket `index`.
fn lower_bound(index: usize) -> u64 {
    if index < 32 {
        return index as u64;
    }
    let exponent = (index as u64 - 32) / 16 + 5;
    let sub = (index as u64 - 32) % 16;
    (16 + sub) << (exponent - 4)
}

impl Histogram {
    /// Counts one sample.
    pub fn record(&mut self, value: Duration) {
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        if let Some(slot) = self.counts.get_mut(bucket(micros)) {
            *slot += 1;
        }
        self.count += 1;
        self.sum_micros += u128::from(micros);
        self.max = self.max.max(value);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_micros += other.sum_micros;
        self.max = self.max.max(other.max);
    }

    /// Samples counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The mean, exact.
    pub fn mean(&self) -> Duration {
        match self.count {
            0 => Duration::ZERO,
            n => Duration::from_micros(u64::try_from(self.sum_micros / u128::from(n)).unwrap_or(u64::MAX)),
        }
    }

    /// The `q` quantile (0..=1), to within a bucket's width (6%): the middle of the bucket holding
    /// the nearest-rank sample, never above the largest sample.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let low = lower_bound(index);
                let high = lower_bound(index + 1).max(low + 1);
                return Duration::from_micros(low + (high - low) / 2).min(self.max);
            }
        }
        self.max
    }

    /// `p50 / p90 / p99 / max` in milliseconds, for tables.
    pub fn summary(&self) -> String {
        if self.count == 0 {
            return "no samples".to_string();
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{:.1} / {:.1} / {:.1} / {:.1} ms",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.9)),
            ms(self.quantile(0.99)),
            ms(self.max)
        )
    }

    /// Count, mean, percentiles and max in milliseconds.
    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        json!({
            "count": self.count,
            "mean_ms": ms(self.mean()),
            "p50_ms": ms(self.quantile(0.5)),
            "p90_ms": ms(self.quantile(0.9)),
            "p99_ms": ms(self.quantile(0.99)),
            "max_ms": ms(self.max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        for micros in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let index = bucket(micros);
            assert!(index < BUCKETS, "{micros} µs");
            assert!(lower_bound(index) <= micros, "{micros} µs in bucket {index}");
            if index + 1 < BUCKETS {
                assert!(lower_bound(index + 1) > micros, "{micros} µs in bucket {index}");
            }
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut histogram = Histogram::default();
        for ms in 1..=1000 {
            histogram.record(Duration::from_millis(ms));
        }
        let p50 = histogram.quantile(0.5).as_secs_f64() * 1000.0;
        let p99 = histogram.quantile(0.99).as_secs_f64() * 1000.0;
        assert!((470.0..530.0).contains(&p50), "p50 {p50}");
        assert!((940.0..1000.0).contains(&p99), "p99 {p99}");
        assert_eq!(histogram.max(), Duration::from_millis(1000));
        assert_eq!(histogram.count(), 1000);
    }
}
