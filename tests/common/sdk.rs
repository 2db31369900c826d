//! Traces made with the real OpenTelemetry SDK and sent by its own OTLP exporters, recording
//! exactly what each exporter was given so a test can compare what strand reads back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Compression, Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanProcessor};
use strand_proto::tempopb::Trace;

use super::compare::split_by_trace;

/// Checkout traces made, each crossing three services.
pub const CHECKOUT_TRACES: u64 = 4;
/// Spans in each checkout trace.
pub const SPANS_PER_CHECKOUT: usize = 6;
/// Single-span traces made.
pub const LONE_TRACES: u64 = 3;

/// What the SDK sent, by trace: the traces the test made, as the exporters encode them.
pub struct Sent {
    pub traces: BTreeMap<[u8; 16], Trace>,
    /// The first checkout trace, checked by hand as well.
    pub checkout: [u8; 16],
    /// Spans each exporter sent, by the protocol label of strand's metrics.
    pub spans_by_protocol: Vec<(&'static str, usize)>,
}

/// A span processor that keeps every finished span and the provider's resource, next to the
/// exporter, so the test knows exactly what the exporter was given.
#[derive(Clone, Debug, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<SpanData>>>,
    resource: Arc<Mutex<Option<Resource>>>,
}

impl SpanProcessor for Recorder {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        self.spans.lock().expect("recorder lock").push(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        *self.resource.lock().expect("recorder lock") = Some(resource.clone());
    }
}

impl Recorder {
    /// The OTLP batches the exporter built from the recorded spans.
    fn sent_batches(&self) -> Vec<strand_proto::otlp::trace::ResourceSpans> {
        let resource = self.resource.lock().expect("recorder lock").clone().expect("the provider set its resource");
        let spans = self.spans.lock().expect("recorder lock").clone();
        group_spans_by_resource_and_scope(spans, &ResourceAttributesWithSchema::from(&resource))
    }
}

struct Pipeline {
    provider: SdkTracerProvider,
    recorder: Recorder,
}

fn pipeline(exporter: SpanExporter, resource: Resource) -> Pipeline {
    let recorder = Recorder::default();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_span_processor(recorder.clone())
        .with_batch_exporter(exporter)
        .build();
    Pipeline { provider, recorder }
}

fn service(name: &'static str, extra: Vec<KeyValue>, schema_url: Option<&'static str>) -> Resource {
    let mut attributes = vec![KeyValue::new("service.name", name), KeyValue::new("service.namespace", "shop")];
    attributes.extend(extra);
    match schema_url {
        Some(url) => Resource::builder_empty().with_schema_url(attributes, url).build(),
        None => Resource::builder_empty().with_attributes(attributes).build(),
    }
}

/// An attribute of every type the SDK can send.
fn every_type(i: u64) -> Vec<KeyValue> {
    let i = i64::try_from(i).expect("small");
    vec![
        KeyValue::new("attr.string", "value"),
        KeyValue::new("attr.string.empty", ""),
        KeyValue::new("attr.string.unicode", "ünïcødé ✓ 漢字 🚀"),
        KeyValue::new("attr.bool.true", true),
        KeyValue::new("attr.bool.false", false),
        KeyValue::new("attr.int", 42 + i),
        KeyValue::new("attr.int.negative", -7_i64),
        KeyValue::new("attr.int.max", i64::MAX),
        KeyValue::new("attr.int.min", i64::MIN),
        KeyValue::new("attr.double", 3.25),
        KeyValue::new("attr.double.negative", -0.001),
        KeyValue::new("attr.double.large", 1.5e300),
        KeyValue::new(
            "attr.array.string",
            Value::Array(Array::String(vec![StringValue::from("a"), StringValue::from("b"), StringValue::from("")])),
        ),
        KeyValue::new("attr.array.bool", Value::Array(Array::Bool(vec![true, false]))),
        KeyValue::new("attr.array.int", Value::Array(Array::I64(vec![1, -2, i64::MAX]))),
        KeyValue::new("attr.array.double", Value::Array(Array::F64(vec![0.5, -1.25]))),
    ]
}

/// Sends the traces through the SDK's three exporters: gRPC with gzip to `grpc_url`, HTTP/protobuf
/// and HTTP/JSON with gzip to `http_url`, and returns what they sent once every export was
/// acknowledged.
pub async fn export_with_sdk(grpc_url: &str, http_url: &str) -> Sent {
    let timeout = Duration::from_secs(10);
    let grpc = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(grpc_url)
        .with_compression(Compression::Gzip)
        .with_timeout(timeout)
        .build()
        .expect("build the OTLP/gRPC exporter");
    let http_protobuf = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(http_url)
        .with_timeout(timeout)
        .build()
        .expect("build the OTLP/HTTP protobuf exporter");
    let http_json = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(http_url)
        .with_compression(Compression::Gzip)
        .with_timeout(timeout)
        .build()
        .expect("build the OTLP/HTTP JSON exporter");

    let frontend = pipeline(
        grpc,
        service(
            "frontend",
            vec![
                KeyValue::new("host.cpu.count", 16_i64),
                KeyValue::new("process.memory.ratio", 0.75),
                KeyValue::new("feature.canary", true),
                KeyValue::new("host.ips", Value::Array(Array::String(vec!["10.0.0.1".into(), "10.0.0.2".into()]))),
            ],
            Some("https://opentelemetry.io/schemas/1.26.0"),
        ),
    );
    let inventory =
        pipeline(http_protobuf, service("inventory", vec![KeyValue::new("service.version", "2.4.1")], None));
    let payments = pipeline(http_json, service("payments", vec![KeyValue::new("cloud.region", "eu-west-1")], None));

    let http_scope = InstrumentationScope::builder("frontend-http")
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.24.0")
        .with_attributes([KeyValue::new("scope.kind", "http"), KeyValue::new("scope.weight", 2_i64)])
        .build();
    let render_scope = InstrumentationScope::builder("frontend-render").build();
    let frontend_http = frontend.provider.tracer_with_scope(http_scope);
    let frontend_render = frontend.provider.tracer_with_scope(render_scope);
    let inventory_tracer = inventory
        .provider
        .tracer_with_scope(InstrumentationScope::builder("inventory-db").with_version("0.9.0").build());
    let payments_tracer =
        payments.provider.tracer_with_scope(InstrumentationScope::builder("payments").with_version("3.0.0").build());

    let base = SystemTime::now() - Duration::from_secs(30);
    let mut checkout_ids = Vec::new();
    let mut previous_root: Option<SpanContext> = None;
    for i in 0..CHECKOUT_TRACES {
        let start = base + Duration::from_millis(i * 100);
        // Microsecond steps plus odd nanoseconds, so that nanosecond precision is checked.
        let at = |us: u64| start + Duration::from_nanos(us * 1_000 + us % 7 + 1);

        let root = frontend_http
            .span_builder("GET /checkout")
            .with_kind(SpanKind::Server)
            .with_start_time(at(0))
            .with_attributes(every_type(i))
            .start(&frontend_http);
        let root_cx = Context::new().with_span(root);
        root_cx.span().add_event_with_timestamp(
            "request.received",
            at(5),
            vec![KeyValue::new("bytes", 512_i64), KeyValue::new("client", "mobile")],
        );
        root_cx.span().add_event_with_timestamp("no.attributes", at(6), vec![]);

        let render = frontend_render
            .span_builder("render cart")
            .with_kind(SpanKind::Internal)
            .with_start_time(at(10))
            .start_with_context(&frontend_render, &root_cx);
        Context::new().with_span(render).span().end_with_timestamp(at(90));

        let reserve = inventory_tracer
            .span_builder("reserve items")
            .with_kind(SpanKind::Server)
            .with_start_time(at(100))
            .with_attributes([KeyValue::new("items", 3_i64)])
            .start_with_context(&inventory_tracer, &root_cx);
        let reserve_cx = root_cx.with_span(reserve);
        let query = inventory_tracer
            .span_builder("SELECT stock")
            .with_kind(SpanKind::Client)
            .with_start_time(at(110))
            .with_attributes([
                KeyValue::new("db.system", "postgresql"),
                KeyValue::new("db.statement", "SELECT * FROM stock WHERE sku = $1"),
            ])
            .start_with_context(&inventory_tracer, &reserve_cx);
        let query_cx = Context::new().with_span(query);
        query_cx.span().set_status(Status::Ok);
        query_cx.span().end_with_timestamp(at(150));
        let publish = inventory_tracer
            .span_builder("publish reservation")
            .with_kind(SpanKind::Producer)
            .with_start_time(at(160))
            .start_with_context(&inventory_tracer, &reserve_cx);
        Context::new().with_span(publish).span().end_with_timestamp(at(170));
        reserve_cx.span().end_with_timestamp(at(180));

        let links = previous_root
            .take()
            .map(|previous| vec![Link::new(previous, vec![KeyValue::new("link.reason", "retry-of")], 0)])
            .unwrap_or_default();
        let charge = payments_tracer
            .span_builder("charge card")
            .with_kind(SpanKind::Consumer)
            .with_start_time(at(200))
            .with_links(links)
            .start_with_context(&payments_tracer, &root_cx);
        let charge_cx = Context::new().with_span(charge);
        charge_cx.span().add_event_with_timestamp(
            "exception",
            at(250),
            vec![
                KeyValue::new("exception.type", "CardDeclined"),
                KeyValue::new("exception.message", "card declined by issuer"),
            ],
        );
        charge_cx.span().set_status(Status::error("card declined"));
        charge_cx.span().end_with_timestamp(at(260));

        root_cx.span().set_attribute(KeyValue::new("http.status_code", 402_i64));
        root_cx.span().end_with_timestamp(at(300));
        let root_context = root_cx.span().span_context().clone();
        checkout_ids.push(root_context.trace_id().to_bytes());
        previous_root = Some(root_context);
    }

    // A span whose parent is remote, with a trace state, as after W3C propagation.
    let remote_parent = SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
        SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "opaque-value"), ("other", "1")]).expect("valid trace state"),
    );
    let remote_cx = Context::new().with_remote_span_context(remote_parent);
    let consumer = inventory_tracer
        .span_builder("handle message")
        .with_kind(SpanKind::Consumer)
        .with_start_time(base + Duration::from_millis(900))
        .start_with_context(&inventory_tracer, &remote_cx);
    Context::new().with_span(consumer).span().end_with_timestamp(base + Duration::from_millis(950));

    // Single-span traces from the JSON exporter.
    for i in 0..LONE_TRACES {
        let span = payments_tracer
            .span_builder(format!("refund {i}"))
            .with_kind(SpanKind::Internal)
            .with_start_time(base + Duration::from_millis(1_000 + i * 10))
            .with_attributes(every_type(i + 10))
            .start(&payments_tracer);
        let cx = Context::new().with_span(span);
        cx.span().set_status(Status::Ok);
        cx.span().end_with_timestamp(base + Duration::from_millis(1_005 + i * 10));
    }

    let pipelines = vec![frontend, inventory, payments];
    // Flushing blocks until the exporters are done; keep it off the async workers.
    let pipelines = tokio::task::spawn_blocking(move || {
        for pipeline in &pipelines {
            pipeline.provider.force_flush().expect("force_flush: every export acknowledged");
            pipeline.provider.shutdown().expect("shutdown");
        }
        pipelines
    })
    .await
    .expect("flush thread");

    let spans_by_protocol = ["grpc", "http_protobuf", "http_json"]
        .into_iter()
        .zip(&pipelines)
        .map(|(protocol, p)| (protocol, p.recorder.spans.lock().expect("recorder lock").len()))
        .collect();
    let batches: Vec<_> = pipelines.iter().flat_map(|p| p.recorder.sent_batches()).collect();
    let _ = tokio::task::spawn_blocking(move || drop(pipelines)).await;
    let traces = split_by_trace(&batches);
    let span_total: usize = traces.values().map(|t| super::compare::spans(t).len()).sum();
    assert_eq!(traces.len(), (CHECKOUT_TRACES + 1 + LONE_TRACES) as usize, "traces made");
    assert_eq!(span_total, CHECKOUT_TRACES as usize * SPANS_PER_CHECKOUT + 1 + LONE_TRACES as usize, "spans made");
    Sent { traces, checkout: checkout_ids[0], spans_by_protocol }
}
