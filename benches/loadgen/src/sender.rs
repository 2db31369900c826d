//! The writer: HotROD traces over OTLP/gRPC or OTLP/HTTP (protobuf), from N connections, at a
//! target rate or as fast as the server accepts.
//!
//! Each connection takes the next trace indices from a shared counter; with a target rate,
//! index `n` is due `n / rate` seconds after the start, so the connections together keep the
//! rate (and catch up after a slow answer). Overload answers are retried as OTLP exporters do:
//! HTTP 429/502/503/504 after `Retry-After` (or an exponential backoff), gRPC `UNAVAILABLE`,
//! `RESOURCE_EXHAUSTED` and the other retryable codes after the `RetryInfo` delay (or the
//! backoff). Every trace in an accepted request goes into the [`WriteLog`] with its start time and
//! when it was acknowledged, which is all a checker needs to rebuild it.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use prost::Message;
use serde_json::{Value, json};
use strand_proto::otlp::collector::trace_service_client::TraceServiceClient;
use strand_proto::otlp::collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::hotrod;
use crate::stats::Histogram;

/// The first wait before a retry without a server-given delay; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Failure messages kept verbatim for the report.
const FAILURE_SAMPLES: usize = 5;

/// Nanoseconds since the Unix epoch, now.
pub fn now_unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// Which OTLP transport a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC, `TraceService/Export`.
    Grpc,
    /// OTLP/HTTP, `POST /v1/traces` with a protobuf body.
    Http,
}

/// What the writer sends, where, and how fast.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// OTLP/gRPC endpoint, `http://host:4317`.
    pub otlp_grpc: String,
    /// OTLP/HTTP endpoint: `http://host:4318` (`/v1/traces` is added) or the full traces URL.
    pub otlp_http: String,
    /// Connection `k` uses `transports[k % len]`.
    pub transports: Vec<Transport>,
    /// Concurrent connections, each with one request in flight.
    pub connections: usize,
    /// Traces per second over all connections; 0 sends as fast as the server accepts.
    pub rate: f64,
    /// Stop after this long; `None` runs until the stop token fires.
    pub duration: Option<Duration>,
    /// Traces in each export request.
    pub traces_per_request: u64,
    /// Seeds every trace; with the index it makes the trace ID.
    pub seed: u64,
    /// The first trace index.
    pub first_index: u64,
    /// Compress requests with gzip.
    pub gzip: bool,
    /// `X-Scope-OrgID`, when strand runs multi-tenant.
    pub tenant: Option<String>,
    /// How long one push may take.
    pub timeout: Duration,
    /// How long a push is retried before it counts as failed.
    pub max_retry: Duration,
}

impl WriterConfig {
    /// 4 connections over OTLP/gRPC to a local strand, 10 traces/s, one trace per request.
    pub fn new(seed: u64) -> WriterConfig {
        WriterConfig {
            otlp_grpc: "http://127.0.0.1:4317".into(),
            otlp_http: "http://127.0.0.1:4318".into(),
            transports: vec![Transport::Grpc],
            connections: 4,
            rate: 10.0,
            duration: None,
            traces_per_request: 1,
            seed,
            first_index: 0,
            gzip: false,
            tenant: None,
            timeout: Duration::from_secs(30),
            max_retry: Duration::from_secs(120),
        }
    }
}

/// One acknowledged trace: enough to regenerate it ([`hotrod::trace`]) and to age it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The run's seed.
    pub seed: u64,
    /// The trace's index in the run.
    pub index: u64,
    /// The trace's start, as given to [`hotrod::trace`].
    pub start_unix_nano: u64,
    /// When the push holding it was acknowledged.
    pub acked_unix_nano: u64,
}

impl Written {
    /// The trace ID.
    pub fn trace_id(&self) -> [u8; 16] {
        hotrod::trace_id(self.seed, self.index)
    }

    /// One line of a write log file.
    pub fn to_json(&self) -> Value {
        json!({
            "seed": self.seed,
            "index": self.index,
            "start_unix_nano": self.start_unix_nano,
            "acked_unix_nano": self.acked_unix_nano,
        })
    }

    /// Reads a line written by [`Written::to_json`].
    pub fn from_json(value: &Value) -> anyhow::Result<Written> {
        let field =
            |name: &str| value.get(name).and_then(Value::as_u64).with_context(|| format!("no {name} in {value}"));
        Ok(Written {
            seed: field("seed")?,
            index: field("index")?,
            start_unix_nano: field("start_unix_nano")?,
            acked_unix_nano: field("acked_unix_nano")?,
        })
    }
}

/// Every acknowledged trace, in the order the acknowledgements came; shared by writer and checker.
#[derive(Clone, Debug, Default)]
pub struct WriteLog {
    entries: Arc<Mutex<Vec<Written>>>,
    /// Wakes a follower as soon as entries arrive.
    appended: Arc<tokio::sync::Notify>,
}

impl WriteLog {
    /// An empty log.
    pub fn new() -> WriteLog {
        WriteLog::default()
    }

    /// A log holding `entries`, as read back from a file.
    pub fn from_entries(entries: Vec<Written>) -> WriteLog {
        WriteLog { entries: Arc::new(Mutex::new(entries)), appended: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Written>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends acknowledged traces.
    pub fn extend(&self, written: &[Written]) {
        self.lock().extend_from_slice(written);
        self.appended.notify_one();
    }

    /// Returns when entries were appended since the last call returned (at once if so).
    pub async fn appended(&self) {
        self.appended.notified().await;
    }

    /// How many traces were acknowledged.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was acknowledged yet.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Entry `n`.
    pub fn get(&self, n: usize) -> Option<Written> {
        self.lock().get(n).copied()
    }

    /// The entries from position `from` on.
    pub fn since(&self, from: usize) -> Vec<Written> {
        self.lock().get(from..).map(<[Written]>::to_vec).unwrap_or_default()
    }

    /// How many leading entries were acknowledged before `unix_nano` (acknowledgements arrive
    /// nearly in order, so this is nearly all of them).
    pub fn acked_before(&self, unix_nano: u64) -> usize {
        self.lock().partition_point(|w| w.acked_unix_nano < unix_nano)
    }

    /// Every entry.
    pub fn snapshot(&self) -> Vec<Written> {
        self.since(0)
    }
}

/// What a writer did.
#[derive(Clone, Debug, Default)]
pub struct WriteStats {
    /// Push attempts, retries included.
    pub attempts: u64,
    /// Requests accepted with nothing rejected.
    pub acked_requests: u64,
    /// Traces in those requests.
    pub acked_traces: u64,
    /// Spans in those requests.
    pub acked_spans: u64,
    /// Requests given up on: refused for good, rejected in part, or still refused after retries.
    pub failed_requests: u64,
    /// Spans in failed requests (for a partial success, the rejected ones).
    pub failed_spans: u64,
    /// Attempts that were retried.
    pub retries: u64,
    /// Request bytes sent, retries included, after compression.
    pub bytes: u64,
    /// Time of every attempt, answered OK or not.
    pub push_latency: Histogram,
    /// From the first connection to the last answer.
    pub elapsed: Duration,
    /// The first few failures, verbatim.
    pub failure_samples: Vec<String>,
}

impl WriteStats {
    fn merge(&mut self, other: WriteStats) {
        self.attempts += other.attempts;
        self.acked_requests += other.acked_requests;
        self.acked_traces += other.acked_traces;
        self.acked_spans += other.acked_spans;
        self.failed_requests += other.failed_requests;
        self.failed_spans += other.failed_spans;
        self.retries += other.retries;
        self.bytes += other.bytes;
        self.push_latency.merge(&other.push_latency);
        let room = FAILURE_SAMPLES.saturating_sub(self.failure_samples.len());
        self.failure_samples.extend(other.failure_samples.into_iter().take(room));
    }

    fn failure(&mut self, spans: u64, message: String) {
        self.failed_requests += 1;
        self.failed_spans += spans;
        if self.failure_samples.len() < FAILURE_SAMPLES {
            self.failure_samples.push(message);
        }
    }

    /// The figures as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "attempts": self.attempts,
            "acked_requests": self.acked_requests,
            "acked_traces": self.acked_traces,
            "acked_spans": self.acked_spans,
            "failed_requests": self.failed_requests,
            "failed_spans": self.failed_spans,
            "retries": self.retries,
            "bytes": self.bytes,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "push_latency": self.push_latency.to_json(),
            "failure_samples": self.failure_samples,
        })
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let seconds = self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let mut out = String::new();
        out.push_str(&format!("{:<34} {:.1} s\n", "written for", self.elapsed.as_secs_f64()));
        out.push_str(&format!(
            "{:<34} {} traces, {} spans ({:.1} traces/s, {:.0} spans/s)\n",
            "acknowledged",
            self.acked_traces,
            self.acked_spans,
            self.acked_traces as f64 / seconds,
            self.acked_spans as f64 / seconds
        ));
        out.push_str(&format!("{:<34} {} requests, {} spans\n", "failed", self.failed_requests, self.failed_spans));
        out.push_str(&format!("{:<34} {} of {} attempts\n", "retried", self.retries, self.attempts));
        out.push_str(&format!("{:<34} {}\n", "push latency p50 / p90 / p99 / max", self.push_latency.summary()));
        for sample in &self.failure_samples {
            out.push_str(&format!("  failure: {sample}\n"));
        }
        out
    }
}

/// Writes HotROD traces until `config.duration` passes or `stop` fires, logging every
/// acknowledged trace in `log`.
pub async fn write(config: &WriterConfig, log: &WriteLog, stop: &CancellationToken) -> anyhow::Result<WriteStats> {
    if config.connections == 0 || config.transports.is_empty() || config.traces_per_request == 0 {
        bail!("the writer needs at least one connection, one transport and one trace per request");
    }
    if !(config.rate.is_finite() && config.rate >= 0.0) {
        bail!("the rate must be a number of traces per second, or 0 for as fast as accepted");
    }
    let tenant = match &config.tenant {
        Some(tenant) => Some(tenant.parse::<MetadataValue<Ascii>>().context("the tenant is not a valid header value")?),
        None => None,
    };
    let mut connections = Vec::with_capacity(config.connections);
    for n in 0..config.connections {
        let transport = config.transports[n % config.transports.len()];
        connections.push(Connection::open(transport, config, tenant.clone()).await?);
    }

    let started = Instant::now();
    let schedule_start = tokio::time::Instant::now();
    let deadline = config.duration.map(|d| schedule_start + d);
    let next_index = Arc::new(AtomicU64::new(config.first_index));
    let mut tasks = tokio::task::JoinSet::new();
    for mut connection in connections {
        let (config, log, stop, next_index) = (config.clone(), log.clone(), stop.clone(), Arc::clone(&next_index));
        tasks.spawn(async move {
            let mut stats = WriteStats::default();
            let stopped = || stop.is_cancelled() || deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
            while !stopped() {
                let first = next_index.fetch_add(config.traces_per_request, Ordering::Relaxed);
                if config.rate > 0.0 {
                    let due =
                        schedule_start + Duration::from_secs_f64((first - config.first_index) as f64 / config.rate);
                    let end = deadline.unwrap_or(due);
                    tokio::select! {
                        () = tokio::time::sleep_until(due.min(end)) => {}
                        () = stop.cancelled() => break,
                    }
                    if stopped() {
                        break;
                    }
                }
                // Traces started this long ago have ended, as an SDK would export them.
                let start = now_unix_nanos().saturating_sub(hotrod::MAX_TRACE_DURATION.as_nanos() as u64);
                let mut request = ExportTraceServiceRequest::default();
                let mut written = Vec::new();
                for index in first..first + config.traces_per_request {
                    let (_, batches) = hotrod::trace(config.seed, index, start);
                    request.resource_spans.extend(batches);
                    written.push(Written { seed: config.seed, index, start_unix_nano: start, acked_unix_nano: 0 });
                }
                if connection.push(&request, &config, &stop, &mut stats).await {
                    let acked = now_unix_nanos();
                    for entry in &mut written {
                        entry.acked_unix_nano = acked;
                    }
                    stats.acked_traces += written.len() as u64;
                    log.extend(&written);
                }
            }
            stats
        });
    }
    let mut total = WriteStats::default();
    while let Some(joined) = tasks.join_next().await {
        total.merge(joined.context("a writer connection panicked")?);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// How one attempt went.
enum Attempt {
    /// Accepted; `rejected` spans of it were not (a partial success).
    Accepted { rejected: u64, message: String },
    /// Refused for now; try again after the delay the server asked for, if any.
    Retry { delay: Option<Duration>, message: String },
    /// Refused for good.
    Failed(String),
}

/// One connection: a gRPC channel or an HTTP client of its own.
enum Connection {
    Grpc { client: TraceServiceClient<Channel>, tenant: Option<MetadataValue<Ascii>> },
    Http { client: reqwest::Client, url: reqwest::Url, tenant: Option<String>, gzip: bool },
}

impl Connection {
    async fn open(
        transport: Transport,
        config: &WriterConfig,
        tenant: Option<MetadataValue<Ascii>>,
    ) -> anyhow::Result<Connection> {
        Ok(match transport {
            Transport::Grpc => {
                let channel = Channel::from_shared(config.otlp_grpc.clone())
                    .with_context(|| format!("bad OTLP/gRPC endpoint {:?}", config.otlp_grpc))?
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(config.timeout)
                    .tcp_nodelay(true)
                    .connect()
                    .await
                    .with_context(|| format!("cannot connect to OTLP/gRPC at {}", config.otlp_grpc))?;
                let mut client = TraceServiceClient::new(channel).max_decoding_message_size(16 << 20);
                if config.gzip {
                    client =
                        client.send_compressed(CompressionEncoding::Gzip).accept_compressed(CompressionEncoding::Gzip);
                }
                Connection::Grpc { client, tenant }
            }
            Transport::Http => {
                let mut url = reqwest::Url::parse(&config.otlp_http)
                    .with_context(|| format!("bad OTLP/HTTP endpoint {:?}", config.otlp_http))?;
                if url.path().is_empty() || url.path() == "/" {
                    url.set_path("/v1/traces");
                }
                // A client per connection, holding one keep-alive connection, as separate SDKs would.
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .timeout(config.timeout)
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .build()?;
                Connection::Http { client, url, tenant: config.tenant.clone(), gzip: config.gzip }
            }
        })
    }

    /// Pushes `request`, retrying what may be retried; whether every span was accepted.
    async fn push(
        &mut self,
        request: &ExportTraceServiceRequest,
        config: &WriterConfig,
        stop: &CancellationToken,
        stats: &mut WriteStats,
    ) -> bool {
        let spans = hotrod::span_count(&request.resource_spans) as u64;
        let body = match self {
            Connection::Grpc { .. } => Vec::new(),
            Connection::Http { gzip, .. } => match encode_body(request, *gzip) {
                Ok(body) => body,
                Err(err) => {
                    stats.failure(spans, format!("cannot encode the request: {err}"));
                    return false;
                }
            },
        };
        let first_attempt = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let sent = Instant::now();
            let attempt = match self {
                Connection::Grpc { client, tenant } => {
                    stats.bytes += request.encoded_len() as u64;
                    export_grpc(client, tenant.as_ref(), request.clone()).await
                }
                Connection::Http { client, url, tenant, gzip } => {
                    stats.bytes += body.len() as u64;
                    export_http(client, url, tenant.as_deref(), *gzip, body.clone()).await
                }
            };
            stats.push_latency.record(sent.elapsed());
            stats.attempts += 1;
            match attempt {
                Attempt::Accepted { rejected: 0, .. } => {
                    stats.acked_requests += 1;
                    stats.acked_spans += spans;
                    return true;
                }
                Attempt::Accepted { rejected, message } => {
                    stats.acked_spans += spans.saturating_sub(rejected);
                    stats.failure(rejected, format!("{rejected} of {spans} spans rejected: {message}"));
                    return false;
                }
                Attempt::Failed(message) => {
                    stats.failure(spans, message);
                    return false;
                }
                Attempt::Retry { delay, message } => {
                    if stop.is_cancelled() || first_attempt.elapsed() >= config.max_retry {
                        stats.failure(spans, format!("gave up after retrying: {message}"));
                        return false;
                    }
                    stats.retries += 1;
                    let wait = delay.unwrap_or(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => {
                            stats.failure(spans, format!("stopped while retrying: {message}"));
                            return false;
                        }
                    }
                }
            }
        }
    }
}

fn encode_body(request: &ExportTraceServiceRequest, gzip: bool) -> std::io::Result<Vec<u8>> {
    let raw = request.encode_to_vec();
    if !gzip {
        return Ok(raw);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&raw)?;
    encoder.finish()
}

fn accepted(answer: ExportTraceServiceResponse) -> Attempt {
    match answer.partial_success {
        Some(partial) => {
            Attempt::Accepted { rejected: partial.rejected_spans.max(0) as u64, message: partial.error_message }
        }
        None => Attempt::Accepted { rejected: 0, message: String::new() },
    }
}

async fn export_grpc(
    client: &mut TraceServiceClient<Channel>,
    tenant: Option<&MetadataValue<Ascii>>,
    request: ExportTraceServiceRequest,
) -> Attempt {
    let mut request = tonic::Request::new(request);
    if let Some(tenant) = tenant {
        request.metadata_mut().insert("x-scope-orgid", tenant.clone());
    }
    match client.export(request).await {
        Ok(answer) => accepted(answer.into_inner()),
        Err(status) => {
            use tonic::Code;
            let message = format!("gRPC {:?}: {}", status.code(), status.message());
            // The codes OTLP exporters retry (RESOURCE_EXHAUSTED: strand attaches RetryInfo).
            match status.code() {
                Code::Unavailable
                | Code::ResourceExhausted
                | Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
                | Code::OutOfRange
                | Code::DataLoss => {
                    let delay = status.get_details_retry_info().and_then(|info| info.retry_delay);
                    Attempt::Retry { delay, message }
                }
                _ => Attempt::Failed(message),
            }
        }
    }
}

async fn export_http(
    client: &reqwest::Client,
    url: &reqwest::Url,
    tenant: Option<&str>,
    gzip: bool,
    body: Vec<u8>,
) -> Attempt {
    let mut builder = client.post(url.clone()).header("content-type", "application/x-protobuf").body(body);
    if gzip {
        builder = builder.header("content-encoding", "gzip");
    }
    if let Some(tenant) = tenant {
        builder = builder.header("x-scope-orgid", tenant);
    }
    let response = match builder.send().await {
        Ok(response) => response,
        // Connection refused or reset, or a timeout: an exporter tries again.
        Err(err) => return Attempt::Retry { delay: None, message: format!("OTLP/HTTP: {err}") },
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(err) => return Attempt::Retry { delay: None, message: format!("OTLP/HTTP answer: {err}") },
    };
    if status.is_success() {
        return match ExportTraceServiceResponse::decode(body.as_ref()) {
            Ok(answer) => accepted(answer),
            Err(err) => Attempt::Failed(format!("OTLP/HTTP {status}: undecodable answer: {err}")),
        };
    }
    let text = String::from_utf8_lossy(&body);
    let message = format!("OTLP/HTTP {status}: {}", text.chars().take(300).collect::<String>());
    match status.as_u16() {
        429 | 502 | 503 | 504 => Attempt::Retry { delay: retry_after, message },
        _ => Attempt::Failed(message),
    }
}
