//! What every loopback test needs: an in-memory fake of the cross-role traits that records
//! what it received, a real tonic server around it on 127.0.0.1:0, and the values sent and
//! answered.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strand_common::{CancellationToken, ServiceError};
use strand_model::{
    BlockId, BlockSlice, FoundTrace, IngesterQuerier, PushRequest, PushResponse, Pusher, SearchQuerier, SearchRequest,
    TagScope, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse, TenantId, TimeRange, TraceByIdQuerier,
    TraceBytes, TraceId, TypedValue,
};
use strand_proto::Message;
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};
use strand_proto::tempopb::{self, SearchMetrics, SearchResponse, ServiceStats, SpanSet, TraceSearchMetadata};
use strand_rpc::health::{HealthReporter, ServingStatus, health_reporter};
use strand_rpc::{GrpcClientConfig, INGESTER_SERVICE, QUERIER_SERVICE, ingester_server, querier_server};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::{Router, TcpIncoming};

/// Messages both test servers take: large enough for every answer, small enough that the
/// oversized-push test stays quick.
pub const SERVER_MAX_MESSAGE: usize = 1024 * 1024;

/// One call a fake received, with everything the server decoded from the wire.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Push(TenantId, PushRequest),
    FindTraceById(TenantId, TraceId),
    TraceById(TenantId, TraceId, TimeRange),
    SearchRecent(TenantId, SearchRequest),
    SearchBlock(TenantId, SearchRequest, BlockSlice),
    SearchTags(TenantId, TagsRequest),
    SearchTagValues(TenantId, TagValuesRequest),
}

/// An ingester and a querier in one: records every call, then waits `delay` and answers the
/// canned values (or `fail`).
pub struct Fake {
    pub push: PushResponse,
    pub found: Option<FoundTrace>,
    pub search: SearchResponse,
    pub tags: TagsResponse,
    pub values: TagValuesResponse,
    pub fail: Option<ServiceError>,
    pub delay: Duration,
    pub received: Mutex<Vec<Call>>,
}

impl Default for Fake {
    /// Answers the values of [`push_response`], [`found`], [`search_response`],
    /// [`tags_response`] and [`tag_values_response`].
    fn default() -> Self {
        Fake {
            push: push_response(),
            found: Some(found()),
            search: search_response(),
            tags: tags_response(),
            values: tag_values_response(),
            fail: None,
            delay: Duration::ZERO,
            received: Mutex::new(Vec::new()),
        }
    }
}

impl Fake {
    /// A fake that answers every call with `err`.
    pub fn failing(err: ServiceError) -> Arc<Fake> {
        Arc::new(Fake { fail: Some(err), ..Fake::default() })
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.received.lock().unwrap().clone()
    }

    async fn answer<T: Clone>(&self, call: Call, value: &T) -> Result<T, ServiceError> {
        self.received.lock().unwrap().push(call);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match &self.fail {
            Some(err) => Err(err.clone()),
            None => Ok(value.clone()),
        }
    }
}

#[async_trait]
impl Pusher for Fake {
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<PushResponse, ServiceError> {
        self.answer(Call::Push(tenant.clone(), request), &self.push).await
    }
}

#[async_trait]
impl IngesterQuerier for Fake {
    async fn find_trace_by_id(&self, tenant: &TenantId, id: TraceId) -> Result<Option<FoundTrace>, ServiceError> {
        self.answer(Call::FindTraceById(tenant.clone(), id), &self.found).await
    }

    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        self.answer(Call::SearchRecent(tenant.clone(), request.clone()), &self.search).await
    }

    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        self.answer(Call::SearchTags(tenant.clone(), request.clone()), &self.tags).await
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError> {
        self.answer(Call::SearchTagValues(tenant.clone(), request.clone()), &self.values).await
    }
}

#[async_trait]
impl TraceByIdQuerier for Fake {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, ServiceError> {
        self.answer(Call::TraceById(tenant.clone(), id, range), &self.found).await
    }
}

#[async_trait]
impl SearchQuerier for Fake {
    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        IngesterQuerier::search_recent(self, tenant, request).await
    }

    async fn search_block(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
        slice: &BlockSlice,
    ) -> Result<SearchResponse, ServiceError> {
        self.answer(Call::SearchBlock(tenant.clone(), request.clone(), slice.clone()), &self.search).await
    }

    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        IngesterQuerier::search_tags(self, tenant, request).await
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError> {
        IngesterQuerier::search_tag_values(self, tenant, request).await
    }
}

/// A real gRPC server on a loopback port, serving health and one strand service. Stops when
/// dropped.
pub struct TestServer {
    pub addr: String,
    pub health: HealthReporter,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// Serves `fake` as an ingester, reporting `strandpb.Ingester` as serving.
pub async fn serve_ingester(fake: Arc<Fake>) -> TestServer {
    let service = ingester_server(fake.clone(), fake, SERVER_MAX_MESSAGE, SERVER_MAX_MESSAGE);
    serve(INGESTER_SERVICE, |router| router.add_service(service)).await
}

/// Serves `fake` as a querier, reporting `strandpb.Querier` as serving.
pub async fn serve_querier(fake: Arc<Fake>) -> TestServer {
    let service = querier_server(fake.clone(), fake, SERVER_MAX_MESSAGE, SERVER_MAX_MESSAGE);
    serve(QUERIER_SERVICE, |router| router.add_service(service)).await
}

async fn serve(service_name: &str, add: impl FnOnce(Router) -> Router) -> TestServer {
    let (health, health_service) = health_reporter();
    health.set_service_status(service_name, ServingStatus::Serving).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let router = add(tonic::transport::Server::builder().add_service(health_service));
    let stop = CancellationToken::new();
    let signal = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        router.serve_with_incoming_shutdown(TcpIncoming::from(listener), signal).await.unwrap();
    });
    TestServer { addr, health, stop, task }
}

/// An address nothing listens on: a port the OS just handed out and took back.
pub async fn dead_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

/// Client settings for tests: short enough that failures show within a test's budget.
pub fn client_config() -> GrpcClientConfig {
    GrpcClientConfig {
        remote_timeout: strand_common::Duration::secs(2),
        connect_timeout: strand_common::Duration::millis(500),
        ..GrpcClientConfig::default()
    }
}

pub fn tenant() -> TenantId {
    TenantId::new("team-a").unwrap()
}

pub fn trace_id(seed: u8) -> TraceId {
    TraceId(std::array::from_fn(|i| seed.wrapping_mul(17).wrapping_add(i as u8)))
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..Default::default()
    }
}

/// A trace of `spans` spans of one service.
pub fn trace(seed: u8, spans: u8) -> tempopb::Trace {
    let id = trace_id(seed);
    let spans = (1..=spans)
        .map(|n| Span {
            trace_id: id.as_bytes().to_vec(),
            span_id: vec![n; 8],
            parent_span_id: if n == 1 { Vec::new() } else { vec![1; 8] },
            name: format!("GET /api/{n}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(n),
            end_time_unix_nano: 1_700_000_000_500_000_000 + u64::from(n),
            attributes: vec![string_attribute("http.method", "GET")],
            ..Default::default()
        })
        .collect();
    tempopb::Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_attribute("service.name", "checkout")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// A push of two traces, each with its encoded spans and its own counts and times.
pub fn push_request() -> PushRequest {
    let entry = |seed: u8, spans: u8| TraceBytes {
        id: trace_id(seed),
        bytes: trace(seed, spans).encode_to_vec().into(),
        span_count: u32::from(spans),
        start_unix_nano: 1_700_000_000_000_000_000 + u64::from(seed),
        end_unix_nano: 1_700_000_009_000_000_000 + u64::from(seed),
    };
    PushRequest { traces: vec![entry(1, 3), entry(2, 1)] }
}

pub fn push_response() -> PushResponse {
    PushResponse { rejected_spans: 2, error_message: Some("trace too large: max 5000 bytes".to_string()) }
}

pub fn found() -> FoundTrace {
    FoundTrace { trace: trace(1, 3), truncated: true, inspected_bytes: 4096 }
}

pub fn search_request() -> SearchRequest {
    SearchRequest {
        query: r#"{ resource.service.name = "checkout" && duration > 1s }"#.to_string(),
        start_secs: 1_700_000_000,
        end_secs: 1_700_003_600,
        limit: 20,
        spans_per_span_set: 3,
    }
}

pub fn search_response() -> SearchResponse {
    let span_set = SpanSet {
        spans: vec![tempopb::Span {
            span_id: "0101010101010101".to_string(),
            name: "GET /api/1".to_string(),
            start_time_unix_nano: 1_700_000_000_000_000_001,
            duration_nanos: 500_000_000,
            attributes: vec![string_attribute("http.method", "GET")],
        }],
        matched: 1,
        attributes: Vec::new(),
    };
    SearchResponse {
        traces: vec![TraceSearchMetadata {
            trace_id: "112233445566778899aabbccddeeff".to_string(),
            root_service_name: "checkout".to_string(),
            root_trace_name: "GET /api/1".to_string(),
            start_time_unix_nano: 1_700_000_000_000_000_001,
            duration_ms: 500,
            span_set: Some(span_set.clone()),
            span_sets: vec![span_set],
            service_stats: HashMap::from([("checkout".to_string(), ServiceStats { span_count: 3, error_count: 1 })]),
        }],
        metrics: Some(SearchMetrics {
            inspected_traces: 12,
            inspected_bytes: 34_567,
            inspected_spans: 89,
            ..Default::default()
        }),
    }
}

pub fn block_slice() -> BlockSlice {
    BlockSlice {
        block_id: BlockId::parse("0f8e4c1a-7b2d-4e9f-a3c5-6d1b2e3f4a5b").unwrap(),
        first_row_group: 4,
        row_groups: 2,
    }
}

pub fn tags_request() -> TagsRequest {
    TagsRequest {
        scopes: vec![TagScope::Span, TagScope::Resource, TagScope::Intrinsic],
        query: Some(r#"{ span.http.method = "GET" }"#.to_string()),
        start_secs: 1_700_000_000,
        end_secs: 1_700_003_600,
        limit: 50,
    }
}

pub fn tags_response() -> TagsResponse {
    TagsResponse {
        scopes: vec![
            (TagScope::Resource, vec!["host.name".to_string(), "service.name".to_string()]),
            (TagScope::Span, vec!["http.method".to_string()]),
            (TagScope::Intrinsic, vec!["duration".to_string(), "name".to_string(), "status".to_string()]),
        ],
        inspected_bytes: 777,
    }
}

pub fn tag_values_request(scope: Option<TagScope>) -> TagValuesRequest {
    TagValuesRequest {
        scope,
        name: "http.method".to_string(),
        query: Some(r#"{ resource.service.name = "checkout" }"#.to_string()),
        start_secs: 1_700_000_000,
        end_secs: 1_700_003_600,
        limit: 10,
    }
}

pub fn tag_values_response() -> TagValuesResponse {
    TagValuesResponse {
        values: vec![
            TypedValue { value_type: "string".to_string(), value: "GET".to_string() },
            TypedValue { value_type: "int".to_string(), value: "200".to_string() },
        ],
        inspected_bytes: 321,
    }
}
