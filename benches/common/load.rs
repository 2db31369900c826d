//! OTLP load: N concurrent exporters pushing pre-encoded requests over gRPC or HTTP/protobuf,
//! each waiting for its answer before sending the next (as an SDK's batch exporter does).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use strand_proto::otlp::collector::trace_service_client::TraceServiceClient;
use strand_proto::otlp::collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use super::data::Dataset;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Which OTLP transport to push over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Grpc => "OTLP/gRPC",
            Transport::Http => "OTLP/HTTP protobuf",
        }
    }
}

/// Which requests to send: the stream positions `first..end` (see [`Dataset::at`]), stopping
/// early at `deadline`.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub first: u64,
    pub end: Option<u64>,
    pub deadline: Option<Instant>,
}

/// What a load phase achieved.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub requests: u64,
    /// Spans in requests answered OK with nothing rejected.
    pub spans: u64,
    pub bytes: u64,
    pub failures: u64,
    /// The first few failures, verbatim.
    pub failure_samples: Vec<String>,
    /// Push latency of every request, answered OK or not.
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    /// The first stream position not sent.
    pub next: u64,
}

impl LoadReport {
    /// Adds another exporter's (or distributor's) part of the same load; wall time is not
    /// summed, the caller sets it.
    pub fn add(&mut self, part: LoadReport) {
        self.requests += part.requests;
        self.spans += part.spans;
        self.bytes += part.bytes;
        self.failures += part.failures;
        let room = 5usize.saturating_sub(self.failure_samples.len());
        self.failure_samples.extend(part.failure_samples.into_iter().take(room));
        self.latencies.extend(part.latencies);
    }
}

/// Pushes `plan` from `clients` concurrent exporters to `endpoint` (an OTLP/gRPC base URL or
/// the OTLP/HTTP `/v1/traces` URL) and reports what was acknowledged.
pub async fn drive(
    transport: Transport,
    endpoint: &str,
    data: Arc<Dataset>,
    clients: usize,
    plan: Plan,
) -> anyhow::Result<LoadReport> {
    let sequence = Arc::new(AtomicU64::new(plan.first));
    let mut exporters = Vec::with_capacity(clients);
    for _ in 0..clients {
        exporters.push(Exporter::connect(transport, endpoint).await?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut exporter in exporters {
        let data = Arc::clone(&data);
        let sequence = Arc::clone(&sequence);
        tasks.spawn(async move {
            let mut report = LoadReport::default();
            loop {
                if plan.deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let position = sequence.fetch_add(1, Ordering::Relaxed);
                if plan.end.is_some_and(|end| position >= end) {
                    break;
                }
                let (request, round) = data.at(position);
                let body = request.in_round(round);
                let bytes = body.len() as u64;
                let sent = Instant::now();
                let outcome = exporter.export(body).await;
                report.latencies.push(sent.elapsed());
                report.requests += 1;
                report.bytes += bytes;
                match outcome {
                    Ok(()) => report.spans += request.spans as u64,
                    Err(err) => {
                        report.failures += 1;
                        if report.failure_samples.len() < 3 {
                            report.failure_samples.push(format!("{err:#}"));
                        }
                        // Refusals come back fast; pause as an SDK would rather than spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            report
        });
    }
    let mut total = LoadReport::default();
    while let Some(joined) = tasks.join_next().await {
        let part = joined.context("an exporter task panicked")?;
        total.add(part);
    }
    total.wall = started.elapsed();
    total.next = match plan.end {
        Some(end) => sequence.load(Ordering::Relaxed).min(end),
        None => sequence.load(Ordering::Relaxed),
    };
    Ok(total)
}

/// One exporter's connection.
enum Exporter {
    Grpc(tonic::client::Grpc<Channel>),
    Http { client: reqwest::Client, url: String },
}

impl Exporter {
    async fn connect(transport: Transport, endpoint: &str) -> anyhow::Result<Exporter> {
        Ok(match transport {
            Transport::Grpc => {
                let channel =
                    Channel::from_shared(endpoint.to_string())?.connect().await.context("cannot connect over gRPC")?;
                Exporter::Grpc(tonic::client::Grpc::new(channel))
            }
            Transport::Http => Exporter::Http {
                // One client per exporter, so each has its own connection as separate SDKs would.
                client: reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build()?,
                url: endpoint.to_string(),
            },
        })
    }

    /// Sends one encoded request; `Ok` only when the answer is OK and nothing was rejected.
    async fn export(&mut self, body: Bytes) -> anyhow::Result<()> {
        let answer = match self {
            Exporter::Grpc(grpc) => {
                grpc.ready().await.context("grpc channel not ready")?;
                let response = grpc
                    .unary(tonic::Request::new(body), PathAndQuery::from_static(EXPORT_PATH), RawCodec)
                    .await
                    .map_err(|status| anyhow::anyhow!("grpc {:?}: {}", status.code(), status.message()))?;
                response.into_inner()
            }
            Exporter::Http { client, url } => {
                let response = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let answer = response.bytes().await?;
                if status != reqwest::StatusCode::OK {
                    anyhow::bail!("http {status}: {}", String::from_utf8_lossy(&answer));
                }
                answer
            }
        };
        let answer = ExportTraceServiceResponse::decode(answer).context("undecodable export response")?;
        if let Some(partial) = answer.partial_success
            && partial.rejected_spans != 0
        {
            anyhow::bail!("{} spans rejected: {}", partial.rejected_spans, partial.error_message);
        }
        Ok(())
    }
}

/// Sends `bodies` through the generated OTLP client (decoding them first), to check that the
/// raw-bytes path the benchmarks time talks to the same service as every SDK does.
pub async fn export_with_generated_client(endpoint: &str, bodies: &[Bytes]) -> anyhow::Result<u64> {
    let mut client = TraceServiceClient::connect(endpoint.to_string()).await?;
    let mut spans = 0;
    for body in bodies {
        let request = ExportTraceServiceRequest::decode(body.clone())?;
        spans += request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum::<u64>();
        let answer =
            client.export(request).await.map_err(|s| anyhow::anyhow!("grpc {:?}: {}", s.code(), s.message()))?;
        if let Some(partial) = answer.into_inner().partial_success
            && partial.rejected_spans != 0
        {
            anyhow::bail!("{} spans rejected: {}", partial.rejected_spans, partial.error_message);
        }
    }
    Ok(spans)
}

/// A gRPC codec that sends already-encoded protobuf bytes and hands back the answer's bytes,
/// so the load generator spends no CPU re-encoding what it sends.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
