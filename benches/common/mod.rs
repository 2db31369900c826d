//! What strand's end-to-end benchmarks share: the synthetic HTTP-server spans of the reference
//! micro-benchmark (`data`), the real release binary in a scratch folder (`server`) or several
//! of them as a cluster on loopback (`cluster`), OTLP load
//! over gRPC and HTTP (`load`), and printing the figures as a table and as JSON (`report`).
//!
//! Each benchmark is a plain `fn main` (no harness): it measures its own same-run baseline next to
//! strand, so a figure can be read against what the machine does without strand in the way.
#![allow(dead_code)]

pub mod cluster;
pub mod data;
pub mod load;
pub mod report;
pub mod server;

use std::time::Duration;

/// A positive integer from the environment, or `default`. Benchmarks read their knobs here only.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(raw) => match raw.trim().parse::<u64>() {
            Ok(value) if value > 0 => value,
            _ => {
                eprintln!("ignoring {name}={raw:?}: expected a positive integer; using {default}");
                default
            }
        },
        Err(_) => default,
    }
}

/// `STRAND_BENCH_SECONDS`, the length of a timed load phase.
pub fn bench_duration(default_secs: u64) -> Duration {
    Duration::from_secs(env_u64("STRAND_BENCH_SECONDS", default_secs))
}

/// Latency percentiles of a set of samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles; sorts `samples` in place.
    pub fn of(samples: &mut [Duration]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |q: f64| {
            let index = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index]
        };
        let total: Duration = samples.iter().sum();
        Percentiles {
            count: samples.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
            mean: total / samples.len() as u32,
        }
    }
}

/// Milliseconds, for tables.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// CPU seconds (user + system) this benchmark process has used so far: the load generator's
/// share of the machine, since it runs on the same cores as the server.
pub fn own_cpu_seconds() -> f64 {
    server::cpu_seconds_of("self").unwrap_or(f64::NAN)
}
