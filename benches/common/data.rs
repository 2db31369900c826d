//! Deterministic synthetic OTLP data shaped like the reference micro-benchmark (section 2.1 of
//! the performance notes): HTTP-server spans, 512 per request, 20 resources of 10 attributes,
//! 10 span attributes, random 16-byte trace IDs and 8-byte span IDs with parent links, and 1–4
//! spans per trace per request.
//!
//! Requests are generated and encoded once. Sending the same bytes again would repeat trace and
//! span IDs, which a tracing backend treats as more spans of the same traces (and may dedupe), so
//! every pass over the set ("round") rewrites the IDs in place with a per-round bijection:
//! round `r` of request `i` is a different, equally random set of traces with the same shape.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strand_proto::otlp::collector::ExportTraceServiceRequest;
use strand_proto::otlp::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};

/// The OpenTelemetry SDKs' default batch size.
pub const SPANS_PER_REQUEST: usize = 512;
/// Distinct resources (processes) the spans come from.
pub const RESOURCES: usize = 20;
/// The seed every benchmark uses, so runs compare like with like.
pub const SEED: u64 = 0x5354_5241_4e44;

const SERVICES: [&str; 10] =
    ["frontend", "checkout", "cart", "payment", "shipping", "catalog", "recommendation", "ad", "currency", "email"];
const LANGUAGES: [&str; 4] = ["go", "java", "python", "nodejs"];
/// Method, route, and how to make a concrete path from the route (`{}` takes a number).
const ROUTES: [(&str, &str, &str); 8] = [
    ("GET", "/api/products", "/api/products"),
    ("GET", "/api/products/{id}", "/api/products/{}"),
    ("POST", "/api/cart", "/api/cart"),
    ("GET", "/api/cart/{user_id}", "/api/cart/{}"),
    ("POST", "/api/checkout", "/api/checkout"),
    ("GET", "/api/recommendations", "/api/recommendations"),
    ("GET", "/api/ads", "/api/ads"),
    ("GET", "/healthz", "/healthz"),
];
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
];

/// One trace of a request: its ID as generated (round 0) and how many spans it has.
#[derive(Clone, Copy, Debug)]
pub struct TraceInfo {
    pub trace_id: [u8; 16],
    pub spans: u32,
}

/// An `ExportTraceServiceRequest`, encoded once, with the positions of its IDs.
pub struct EncodedRequest {
    /// The protobuf encoding of round 0.
    pub bytes: Bytes,
    /// Spans in the request.
    pub spans: usize,
    /// The traces in the request, as generated.
    pub traces: Vec<TraceInfo>,
    /// Offsets of every trace-ID (16 bytes) and span-ID / parent-span-ID (8 bytes) value.
    ids: Vec<(u32, u8)>,
}

impl EncodedRequest {
    /// The request as sent in `round`: round 0 is the original bytes (no copy); later rounds are
    /// a copy with every ID mapped through [`trace_id_in_round`] / [`span_id_in_round`].
    pub fn in_round(&self, round: u64) -> Bytes {
        if round == 0 {
            return self.bytes.clone();
        }
        let mut out = self.bytes.to_vec();
        for &(offset, len) in &self.ids {
            let at = offset as usize;
            match len {
                16 => {
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&out[at..at + 16]);
                    out[at..at + 16].copy_from_slice(&trace_id_in_round(id, round));
                }
                _ => {
                    let mut id = [0u8; 8];
                    id.copy_from_slice(&out[at..at + 8]);
                    out[at..at + 8].copy_from_slice(&span_id_in_round(id, round));
                }
            }
        }
        Bytes::from(out)
    }
}

/// A set of requests and its totals.
pub struct Dataset {
    pub requests: Vec<EncodedRequest>,
    /// Spans in one pass over `requests`.
    pub spans: u64,
    /// Encoded bytes in one pass over `requests`.
    pub bytes: u64,
}

impl Dataset {
    /// Generates and encodes `requests` requests from `seed`, and checks that rewriting IDs for a
    /// later round produces what [`trace_id_in_round`] promises.
    pub fn generate(requests: usize, seed: u64) -> anyhow::Result<Dataset> {
        let mut generator = Generator::new(seed);
        let mut encoded = Vec::with_capacity(requests);
        for _ in 0..requests {
            let (request, traces) = generator.request();
            let bytes = request.encode_to_vec();
            let ids = locate_ids(&bytes, &request)?;
            encoded.push(EncodedRequest { bytes: Bytes::from(bytes), spans: SPANS_PER_REQUEST, traces, ids });
        }
        let dataset = Dataset {
            spans: encoded.iter().map(|r| r.spans as u64).sum(),
            bytes: encoded.iter().map(|r| r.bytes.len() as u64).sum(),
            requests: encoded,
        };
        dataset.check_rounds()?;
        Ok(dataset)
    }

    /// The ingest benchmarks' baseline: prost decode of every request on one thread, the best
    /// of `passes` passes, in spans/s.
    pub fn prost_decode_rate(&self, passes: usize) -> anyhow::Result<f64> {
        let mut best: f64 = 0.0;
        for _ in 0..passes {
            let started = std::time::Instant::now();
            for request in &self.requests {
                let decoded = ExportTraceServiceRequest::decode(request.bytes.clone())?;
                std::hint::black_box(&decoded);
            }
            best = best.max(self.spans as f64 / started.elapsed().as_secs_f64());
        }
        Ok(best)
    }

    /// One line for the benchmark's output: requests, spans, size.
    pub fn describe(&self) -> String {
        format!(
            "data: {} requests, {} spans, {:.1} MB of OTLP protobuf ({:.0} B/span)",
            self.requests.len(),
            self.spans,
            self.bytes as f64 / 1e6,
            self.bytes as f64 / self.spans as f64
        )
    }

    /// Request `sequence` of an endless stream over the set: request `sequence % len` in round
    /// `sequence / len`.
    pub fn at(&self, sequence: u64) -> (&EncodedRequest, u64) {
        let len = self.requests.len() as u64;
        (&self.requests[(sequence % len) as usize], sequence / len)
    }

    fn check_rounds(&self) -> anyhow::Result<()> {
        let Some(first) = self.requests.first() else { return Ok(()) };
        let round = 7;
        let decoded = ExportTraceServiceRequest::decode(first.in_round(round))?;
        let original = ExportTraceServiceRequest::decode(first.bytes.clone())?;
        let spans = |r: &ExportTraceServiceRequest| -> Vec<Span> {
            r.resource_spans
                .iter()
                .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter().cloned()))
                .collect()
        };
        for (moved, was) in spans(&decoded).iter().zip(spans(&original).iter()) {
            let expect_trace = trace_id_in_round(to_array(&was.trace_id)?, round);
            let expect_span = span_id_in_round(to_array(&was.span_id)?, round);
            anyhow::ensure!(moved.trace_id == expect_trace && moved.span_id == expect_span, "id rewriting is broken");
            if !was.parent_span_id.is_empty() {
                anyhow::ensure!(
                    moved.parent_span_id == span_id_in_round(to_array(&was.parent_span_id)?, round),
                    "parent id rewriting is broken"
                );
            }
            anyhow::ensure!(
                moved.name == was.name && moved.attributes == was.attributes,
                "rewriting touched more than ids"
            );
        }
        Ok(())
    }
}

/// The trace ID `id` (as generated) carries in `round`. A bijection for each round, so distinct
/// IDs stay distinct.
pub fn trace_id_in_round(id: [u8; 16], round: u64) -> [u8; 16] {
    if round == 0 {
        return id;
    }
    let (lo, hi) = id.split_at(8);
    let lo = mix(u64::from_le_bytes(lo.try_into().unwrap_or_default()) ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let hi = mix(u64::from_le_bytes(hi.try_into().unwrap_or_default()) ^ round.wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&lo.to_le_bytes());
    out[8..].copy_from_slice(&hi.to_le_bytes());
    out
}

/// The span ID `id` (as generated) carries in `round`.
pub fn span_id_in_round(id: [u8; 8], round: u64) -> [u8; 8] {
    if round == 0 {
        return id;
    }
    mix(u64::from_le_bytes(id) ^ round.wrapping_mul(0x1656_67b1_9e37_79f9)).to_le_bytes()
}

/// splitmix64's finaliser: a bijection on u64 that scrambles every bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn to_array<const N: usize>(bytes: &[u8]) -> anyhow::Result<[u8; N]> {
    bytes.try_into().map_err(|_| anyhow::anyhow!("expected a {N}-byte id, got {} bytes", bytes.len()))
}

/// Finds where each span's trace ID, span ID and parent span ID sit in the encoding, by scanning
/// forward for the field tag, length and value (spans are encoded in order, so the scan is linear).
fn locate_ids(bytes: &[u8], request: &ExportTraceServiceRequest) -> anyhow::Result<Vec<(u32, u8)>> {
    let mut ids = Vec::new();
    let mut cursor = 0;
    for span in request.resource_spans.iter().flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter())) {
        // Field 1 (trace_id), 2 (span_id) and 4 (parent_span_id), all length-delimited.
        let trace_at = find(bytes, cursor, &[&[0x0a, 16], span.trace_id.as_slice()].concat())?;
        ids.push(((trace_at + 2) as u32, 16));
        let span_at = find(bytes, trace_at, &[&[0x12, 8], span.span_id.as_slice()].concat())?;
        ids.push(((span_at + 2) as u32, 8));
        let mut end = span_at + 10;
        if !span.parent_span_id.is_empty() {
            let parent_at = find(bytes, trace_at, &[&[0x22, 8], span.parent_span_id.as_slice()].concat())?;
            ids.push(((parent_at + 2) as u32, 8));
            end = end.max(parent_at + 10);
        }
        cursor = end;
    }
    Ok(ids)
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> anyhow::Result<usize> {
    haystack
        .get(from..)
        .and_then(|rest| rest.windows(needle.len()).position(|w| w == needle))
        .map(|at| from + at)
        .ok_or_else(|| anyhow::anyhow!("an id is missing from the encoded request"))
}

/// The random source and fixed parts (resources) of the data set.
struct Generator {
    rng: StdRng,
    resources: Vec<(Resource, String)>,
    now_nanos: u64,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        let mut rng = StdRng::seed_from_u64(seed);
        let resources = (0..RESOURCES).map(|i| resource(i, &mut rng)).collect();
        let now_nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        Generator { rng, resources, now_nanos }
    }

    /// One request of [`SPANS_PER_REQUEST`] spans, and the traces in it.
    fn request(&mut self) -> (ExportTraceServiceRequest, Vec<TraceInfo>) {
        let mut by_resource: Vec<Vec<Span>> = vec![Vec::new(); RESOURCES];
        let mut traces = Vec::new();
        let mut spans = 0;
        while spans < SPANS_PER_REQUEST {
            let count = self.rng.random_range(1..=4).min(SPANS_PER_REQUEST - spans);
            let resource = self.rng.random_range(0..RESOURCES);
            let trace_id: [u8; 16] = self.rng.random();
            let host = self.resources[resource].1.clone();
            self.trace(trace_id, count, &host, &mut by_resource[resource]);
            traces.push(TraceInfo { trace_id, spans: count as u32 });
            spans += count;
        }
        let scope = InstrumentationScope {
            name: "io.opentelemetry.http-server".to_string(),
            version: "1.32.0".to_string(),
            ..Default::default()
        };
        let resource_spans = by_resource
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(i, spans)| ResourceSpans {
                resource: Some(self.resources[i].0.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope.clone()),
                    spans,
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
            })
            .collect();
        (ExportTraceServiceRequest { resource_spans }, traces)
    }

    /// A server span and `count - 1` descendants: client and internal spans inside it.
    fn trace(&mut self, trace_id: [u8; 16], count: usize, host: &str, out: &mut Vec<Span>) {
        let rng = &mut self.rng;
        let (method, route, path_pattern) = ROUTES[rng.random_range(0..ROUTES.len())];
        let path = path_pattern.replace("{}", &rng.random_range(1..2000u32).to_string());
        let user_agent = USER_AGENTS[rng.random_range(0..USER_AGENTS.len())];
        let client = format!("10.0.{}.{}", rng.random_range(0..4u8), rng.random_range(1..255u8));
        let failed = rng.random_bool(0.02);
        let not_found = !failed && route.contains('{') && rng.random_bool(0.03);
        // Started within the last 10 s; root spans last 1 ms to ~1 s, log-uniformly.
        let start = self.now_nanos - rng.random_range(0..10_000_000_000u64);
        let duration = (1e6 * 1000f64.powf(rng.random::<f64>())) as u64;
        let mut made: Vec<(Vec<u8>, u64, u64)> = Vec::with_capacity(count);
        for index in 0..count {
            let span_id: [u8; 8] = rng.random();
            let (parent, kind, name, begin, length) = if index == 0 {
                (Vec::new(), span::SpanKind::Server, format!("{method} {route}"), start, duration)
            } else {
                let (parent_id, parent_start, parent_length) = made[rng.random_range(0..made.len())].clone();
                let length = (parent_length as f64 * rng.random_range(0.05..0.8)) as u64 + 1_000;
                let begin = parent_start + rng.random_range(0..=parent_length.saturating_sub(length).max(1));
                let (kind, name) = if rng.random_bool(0.6) {
                    (span::SpanKind::Client, method.to_string())
                } else {
                    (span::SpanKind::Internal, format!("render {route}"))
                };
                (parent_id, kind, name, begin, length)
            };
            let status_code = if failed {
                500
            } else if not_found {
                404
            } else {
                200
            };
            let status = if failed && index == 0 {
                Some(Status { message: "upstream request failed".to_string(), code: status::StatusCode::Error as i32 })
            } else {
                None
            };
            out.push(Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: parent.clone(),
                name,
                kind: kind as i32,
                start_time_unix_nano: begin,
                end_time_unix_nano: begin + length,
                attributes: vec![
                    string("http.request.method", method),
                    string("url.path", &path),
                    string("url.scheme", if index == 0 { "https" } else { "http" }),
                    string("http.route", route),
                    int("http.response.status_code", status_code),
                    string("server.address", host),
                    int("server.port", if index == 0 { 443 } else { 8080 }),
                    string("client.address", &client),
                    string("user_agent.original", user_agent),
                    string("network.protocol.version", if index == 0 { "2" } else { "1.1" }),
                ],
                status,
                ..Default::default()
            });
            made.push((span_id.to_vec(), begin, length));
        }
    }
}

/// Resource `index`: two instances of each of ten services, spread over five nodes.
fn resource(index: usize, rng: &mut StdRng) -> (Resource, String) {
    let service = SERVICES[index / 2];
    let host = format!("ip-10-0-{}-{}.ec2.internal", index % 5, rng.random_range(1..255u8));
    let pod = format!("{service}-{:08x}-{:05x}", rng.random::<u32>(), rng.random_range(0..0xfffffu32));
    let attributes = vec![
        string("service.name", service),
        string("service.version", &format!("1.{}.{}", index % 4, rng.random_range(0..20u8))),
        string("service.namespace", "shop"),
        string("deployment.environment.name", "production"),
        string("host.name", &host),
        string("k8s.namespace.name", "shop"),
        string("k8s.pod.name", &pod),
        string("k8s.deployment.name", service),
        string("k8s.node.name", &format!("node-{}", index % 5)),
        string("telemetry.sdk.language", LANGUAGES[index % LANGUAGES.len()]),
    ];
    (Resource { attributes, ..Default::default() }, host)
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}
