//! TraceQL search and tag autocomplete through the real binary: traces pushed over OTLP, found by
//! `/api/search` while live in the ingester, and again from blocks in object storage after a
//! flush and a restart (when the ingester holds nothing). Expected answers are written by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::otlp::{self, kv, kv_int, kv_str, now_nanos};
use common::{StrandConfig, StrandProcess};
use reqwest::StatusCode;
use serde_json::Value;
use strand_proto::otlp::collector::ExportTraceServiceRequest;
use strand_proto::otlp::common::any_value;
use strand_proto::otlp::trace::{Span, Status, span, status};

const SEED: u64 = 0x5ea4c4;
const SECOND: u64 = 1_000_000_000;

/// The four test traces, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shop {
    /// frontend `GET /checkout` → cart `POST /cart` (500, error) → mysql `SELECT`.
    Checkout,
    /// frontend `GET /browse` → catalog `list`.
    Browse,
    /// payment `charge` (amount 42) → payment `fraud-check` (custom.flag true).
    Payment,
    /// frontend `GET /report`, 3 s, with 12 `render` children.
    Report,
}

const ALL: [Shop; 4] = [Shop::Checkout, Shop::Browse, Shop::Payment, Shop::Report];

impl Shop {
    fn id(self) -> [u8; 16] {
        otlp::trace_id(SEED, self as u64)
    }

    fn hex(self) -> String {
        hex::encode(self.id()).trim_start_matches('0').to_string()
    }
}

fn span(trace: Shop, n: u64, parent: Option<u64>, name: &str, start: u64, duration: u64, kind: span::SpanKind) -> Span {
    let id = trace.id();
    let mut span = otlp::span(&id, otlp::span_id(&id, n), parent.map(|p| otlp::span_id(&id, p)), name, start, duration);
    span.kind = kind as i32;
    span.attributes.clear();
    span
}

/// One export request per trace, with resources per service.
fn requests(start: u64) -> Vec<ExportTraceServiceRequest> {
    use span::SpanKind::{Client, Internal, Server};
    let mut checkout_root = span(Shop::Checkout, 0, None, "GET /checkout", start, 200_000_000, Server);
    checkout_root.attributes = vec![kv_str("http.method", "GET"), kv_int("http.status_code", 200)];
    let mut cart = span(Shop::Checkout, 1, Some(0), "POST /cart", start + 1_000_000, 150_000_000, Client);
    cart.attributes = vec![kv_str("http.method", "POST"), kv_int("http.status_code", 500)];
    cart.status = Some(Status { code: status::StatusCode::Error as i32, message: "boom".into() });
    let mut select = span(Shop::Checkout, 2, Some(1), "SELECT", start + 2_000_000, 5_000_000, Client);
    select.attributes = vec![kv_str("db.system", "mysql")];
    let checkout = ExportTraceServiceRequest {
        resource_spans: vec![
            otlp::batch("frontend", vec![checkout_root]),
            otlp::batch("cart", vec![cart]),
            otlp::batch("mysql", vec![select]),
        ],
    };

    let mut browse_root = span(Shop::Browse, 0, None, "GET /browse", start + SECOND, 80_000_000, Server);
    browse_root.attributes = vec![kv_str("http.method", "GET"), kv_int("http.status_code", 200)];
    let list = span(Shop::Browse, 1, Some(0), "list", start + SECOND + 1_000, 10_000_000, Internal);
    let browse = ExportTraceServiceRequest {
        resource_spans: vec![otlp::batch("frontend", vec![browse_root]), otlp::batch("catalog", vec![list])],
    };

    let mut charge = span(Shop::Payment, 0, None, "charge", start + 2 * SECOND, 50_000_000, Server);
    charge.attributes = vec![kv_int("amount", 42)];
    charge.status = Some(Status { code: status::StatusCode::Ok as i32, message: String::new() });
    let mut fraud = span(Shop::Payment, 1, Some(0), "fraud-check", start + 2 * SECOND + 1_000, 20_000_000, Internal);
    fraud.attributes = vec![kv("custom.flag", any_value::Value::BoolValue(true))];
    let payment = otlp::request("payment", vec![charge, fraud]);

    let report_root = span(Shop::Report, 0, None, "GET /report", start + 3 * SECOND, 3 * SECOND, Server);
    let renders = (1..=12)
        .map(|n| span(Shop::Report, n, Some(0), "render", start + 3 * SECOND + n * 1_000_000, 1_000_000, Internal));
    let report = otlp::request("frontend", std::iter::once(report_root).chain(renders).collect());

    vec![checkout, browse, payment, report]
}

/// What a search answered, with the shape checks every answer must pass.
struct Answer {
    traces: Vec<Value>,
}

impl Answer {
    fn found(&self) -> BTreeSet<Shop> {
        self.traces
            .iter()
            .map(|t| {
                let id = t["traceID"].as_str().expect("traceID is a string");
                *ALL.iter().find(|s| s.hex() == id).unwrap_or_else(|| panic!("unknown trace {id} in {t}"))
            })
            .collect()
    }

    fn trace(&self, shop: Shop) -> &Value {
        self.traces.iter().find(|t| t["traceID"] == shop.hex()).unwrap_or_else(|| panic!("{shop:?} not found"))
    }
}

async fn search(server: &StrandProcess, query: &str, window: Option<(u64, u64)>) -> Answer {
    let mut params = vec![("q", query.to_string()), ("limit", "50".to_string())];
    if let Some((start, end)) = window {
        params.push(("start", start.to_string()));
        params.push(("end", end.to_string()));
    }
    let url = reqwest::Url::parse_with_params(&server.api_url("/api/search"), &params).unwrap();
    let response = server.http.get(url).send().await.expect("GET /api/search");
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "search {query:?} answered {body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(json["metrics"].is_object(), "metrics are always present: {json}");
    let traces = json.get("traces").and_then(Value::as_array).cloned().unwrap_or_default();
    for trace in &traces {
        assert!(trace["startTimeUnixNano"].is_string(), "64-bit integers are strings: {trace}");
        assert!(trace["durationMs"].is_u64() || trace.get("durationMs").is_none(), "32-bit are numbers: {trace}");
        assert_eq!(trace["spanSet"], trace["spanSets"][0], "spanSet repeats spanSets[0]: {trace}");
    }
    Answer { traces }
}

/// Queries and the traces each must find, written by hand from the data above.
fn expectations() -> Vec<(&'static str, Vec<Shop>)> {
    use Shop::*;
    vec![
        (r#"{ resource.service.name = "cart" }"#, vec![Checkout]),
        ("{ span.http.status_code >= 500 }", vec![Checkout]),
        ("{ span.amount = 42 }", vec![Payment]),
        (r#"{ name =~ "GET /.*" }"#, vec![Checkout, Browse, Report]),
        (r#"{ name =~ "GET" }"#, vec![]),
        (r#"{ resource.service.name = "frontend" } >> { span.db.system = "mysql" }"#, vec![Checkout]),
        (r#"{ resource.service.name = "catalog" } > { }"#, vec![]),
        ("{ } | count() > 10", vec![Report]),
        ("{ status = error }", vec![Checkout]),
        ("{ duration > 2s }", vec![Report]),
        (r#"{ rootServiceName = "payment" }"#, vec![Payment]),
        ("{ .custom.flag = true }", vec![Payment]),
        (r#"{ resource.service.name = "frontend" } && { resource.service.name = "catalog" }"#, vec![Browse]),
        ("{ kind = client && span.http.method = \"POST\" }", vec![Checkout]),
        ("{ }", vec![Checkout, Browse, Payment, Report]),
    ]
}

async fn check_queries(server: &StrandProcess, window: Option<(u64, u64)>, context: &str) {
    for (query, expected) in expectations() {
        let answer = search(server, query, window).await;
        let expected: BTreeSet<Shop> = expected.into_iter().collect();
        assert_eq!(answer.found(), expected, "{context}: {query}");
    }

    // The shape Grafana renders: root names, duration, and the matched spans.
    let answer = search(server, "{ } | count() > 10", window).await;
    let report = answer.trace(Shop::Report);
    assert_eq!(report["rootServiceName"], "frontend", "{context}: {report}");
    assert_eq!(report["rootTraceName"], "GET /report", "{context}: {report}");
    assert_eq!(report["durationMs"], 3000, "{context}: {report}");
    assert_eq!(report["spanSets"][0]["matched"], 13, "{context}: {report}");
    assert_eq!(report["spanSets"][0]["spans"].as_array().map(Vec::len), Some(3), "spss defaults to 3: {report}");

    let answer = search(server, "{ status = error }", window).await;
    let checkout = answer.trace(Shop::Checkout);
    let spans = checkout["spanSets"][0]["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 1, "{context}: {checkout}");
    assert_eq!(spans[0]["name"], "POST /cart", "{context}: {checkout}");
    assert_eq!(spans[0]["spanID"], hex::encode(otlp::span_id(&Shop::Checkout.id(), 1)), "{context}: {checkout}");
    assert_eq!(spans[0]["durationNanos"], "150000000", "{context}: {checkout}");
    let attributes = spans[0]["attributes"].as_array().expect("attributes");
    assert!(
        attributes.iter().any(|a| a["key"] == "status" && a["value"]["stringValue"] == "error"),
        "{context}: the condition's field comes back as an attribute: {checkout}"
    );
}

async fn check_tags(server: &StrandProcess, window: Option<(u64, u64)>, context: &str) {
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some((start, end)) = window {
        params.push(("start", start.to_string()));
        params.push(("end", end.to_string()));
    }
    let get = |path: &str, extra: Vec<(&'static str, String)>| {
        let url = reqwest::Url::parse_with_params(&server.api_url(path), params.iter().chain(&extra)).unwrap();
        let request = server.http.get(url);
        async move {
            let response = request.send().await.expect("GET tags");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };

    let tags = get("/api/v2/search/tags", vec![]).await;
    let scope = |name: &str| -> BTreeSet<String> {
        tags["scopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    assert!(scope("resource").contains("service.name"), "{context}: {tags}");
    let span_tags = scope("span");
    for key in ["http.method", "http.status_code", "db.system", "amount", "custom.flag"] {
        assert!(span_tags.contains(key), "{context}: span tag {key} in {tags}");
    }
    assert!(scope("intrinsic").contains("duration"), "{context}: {tags}");

    let values = |json: Value| -> BTreeSet<(String, String)> {
        json["tagValues"]
            .as_array()
            .expect("tagValues")
            .iter()
            .map(|v| (v["type"].as_str().unwrap().to_string(), v["value"].as_str().unwrap().to_string()))
            .collect()
    };
    let services = values(get("/api/v2/search/tag/resource.service.name/values", vec![]).await);
    let expected: BTreeSet<(String, String)> = ["cart", "catalog", "frontend", "mysql", "payment"]
        .iter()
        .map(|s| ("string".to_string(), s.to_string()))
        .collect();
    assert_eq!(services, expected, "{context}");

    // Narrowed by the filter Grafana sends once a service is picked.
    let codes = values(
        get(
            "/api/v2/search/tag/span.http.status_code/values",
            vec![("q", r#"{ resource.service.name = "cart" }"#.to_string())],
        )
        .await,
    );
    assert_eq!(codes, BTreeSet::from([("int".to_string(), "500".to_string())]), "{context}");
    let unfiltered = values(get("/api/v2/search/tag/span.http.status_code/values", vec![]).await);
    assert_eq!(unfiltered.len(), 2, "{context}: {unfiltered:?}");
    // A filter that does not parse is ignored, never an error.
    let ignored = values(
        get("/api/v2/search/tag/span.http.status_code/values", vec![("q", "{ resource.service.name = ".to_string())])
            .await,
    );
    assert_eq!(ignored, unfiltered, "{context}");

    let status = values(get("/api/v2/search/tag/status/values", vec![]).await);
    assert!(status.contains(&("keyword".to_string(), "error".to_string())), "{context}: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_live_and_stored_traces() {
    let mut server = StrandProcess::start(StrandConfig::local()).await;
    server.assert_ready().await;
    let start = now_nanos() - 120 * SECOND;
    let mut client = server.grpc_client().await;
    for (n, request) in requests(start).into_iter().enumerate() {
        if n % 2 == 0 {
            server.push_http(&request, None).await;
        } else {
            server.push_grpc(&mut client, request, None).await.expect("gRPC push");
        }
    }
    let now_secs = now_nanos() / SECOND;
    let window = Some((now_secs - 3600, now_secs + 60));

    // Live: no window means recent data only, as in Tempo.
    check_queries(&server, None, "live").await;
    check_tags(&server, None, "live").await;

    // Stored: flushed, then restarted, so only the blocks can answer.
    server.flush().await;
    assert!(server.sigterm_and_wait().await.success(), "{}", server.log());
    server.restart().await;
    server.assert_ready().await;
    let recent_only = search(&server, "{ }", None).await;
    assert!(recent_only.traces.is_empty(), "after a restart the ingester holds nothing");
    check_queries(&server, window, "blocks").await;
    check_tags(&server, window, "blocks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_searches_get_400_with_the_parser_message() {
    let server = StrandProcess::start(StrandConfig::local()).await;
    server.assert_ready().await;
    let cases = [
        ("/api/search?q=%7B%20.a%20%3D%20", "invalid TraceQL query"),
        ("/api/search?q=%7B%201%20%3D%20%22a%22%20%7D", "invalid TraceQL query"),
        ("/api/search?q=%7B%7D&limit=0", "invalid limit"),
        ("/api/search?q=%7B%7D&start=200&end=100", "start"),
        ("/api/search?q=%7B%7D&tags=a%3Db", "can't specify tags and q"),
        ("/api/v2/search/tag/%7B%7D/values", "please provide a valid tagName"),
    ];
    for (path, message) in cases {
        let response = server.http.get(server.api_url(path)).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body.contains(message), "{path}: {body:?} should mention {message:?}");
    }
    // The parser says where: line and column.
    let response = server.http.get(server.api_url("/api/search?q=%7B%20.a%20%3D%20")).send().await.unwrap();
    let body = response.text().await.unwrap();
    assert!(body.contains("line 1") && body.contains("col"), "{body}");
}
