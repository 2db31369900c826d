//! Search, tag and tag-value answers as JSON, with the same gogo `jsonpb` rules as `tempo_json`
//! (whose writer this reuses): only the fields of Grafana's pinned `tempo.proto`, in declaration
//! order; 64-bit integers as strings, 32-bit ones as numbers; zero and empty fields left out; map
//! keys sorted. `metrics` is always written, even when empty, as Tempo's frontend always sets it.

use strand_proto::tempopb::{
    MetadataMetrics, SearchMetrics, SearchResponse, SearchTagValuesResponse, SearchTagValuesV2Response,
    SearchTagsResponse, SearchTagsV2Response, SearchTagsV2Scope, ServiceStats, Span, SpanSet, TagValue,
    TraceSearchMetadata,
};

use crate::tempo_json::{Object, write_key_value, write_string};

/// `GET /api/search`: a `tempopb.SearchResponse`.
pub(crate) fn search_response(response: &SearchResponse) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + response.traces.len() * 512);
    let mut object = Object::open(&mut out);
    object.list("traces", &response.traces, write_trace);
    write_search_metrics(object.key("metrics"), response.metrics.as_ref().unwrap_or(&Default::default()));
    object.close();
    out
}

fn write_trace(out: &mut Vec<u8>, trace: &TraceSearchMetadata) {
    let mut object = Object::open(out);
    object.string("traceID", &trace.trace_id);
    object.string("rootServiceName", &trace.root_service_name);
    object.string("rootTraceName", &trace.root_trace_name);
    object.uint64("startTimeUnixNano", trace.start_time_unix_nano);
    object.uint32("durationMs", trace.duration_ms);
    if let Some(span_set) = &trace.span_set {
        write_span_set(object.key("spanSet"), span_set);
    }
    object.list("spanSets", &trace.span_sets, write_span_set);
    if !trace.service_stats.is_empty() {
        let mut services: Vec<(&String, &ServiceStats)> = trace.service_stats.iter().collect();
        services.sort_by(|a, b| a.0.cmp(b.0));
        let mut map = Object::open(object.key("serviceStats"));
        for (service, stats) in services {
            let mut entry = Object::open(map.key(service));
            entry.uint32("spanCount", stats.span_count);
            entry.uint32("errorCount", stats.error_count);
            entry.close();
        }
        map.close();
    }
    object.close();
}

fn write_span_set(out: &mut Vec<u8>, span_set: &SpanSet) {
    let mut object = Object::open(out);
    object.list("spans", &span_set.spans, write_span);
    object.uint32("matched", span_set.matched);
    object.list("attributes", &span_set.attributes, write_key_value);
    object.close();
}

fn write_span(out: &mut Vec<u8>, span: &Span) {
    let mut object = Object::open(out);
    object.string("spanID", &span.span_id);
    object.string("name", &span.name);
    object.uint64("startTimeUnixNano", span.start_time_unix_nano);
    object.uint64("durationNanos", span.duration_nanos);
    object.list("attributes", &span.attributes, write_key_value);
    object.close();
}

/// Only the seven fields Grafana's pinned proto knows: its strict parser rejects any other.
fn write_search_metrics(out: &mut Vec<u8>, metrics: &SearchMetrics) {
    let mut object = Object::open(out);
    object.uint32("inspectedTraces", metrics.inspected_traces);
    object.uint64("inspectedBytes", metrics.inspected_bytes);
    object.uint32("totalBlocks", metrics.total_blocks);
    object.uint32("completedJobs", metrics.completed_jobs);
    object.uint32("totalJobs", metrics.total_jobs);
    object.uint64("totalBlockBytes", metrics.total_block_bytes);
    object.uint64("inspectedSpans", metrics.inspected_spans);
    object.close();
}

fn write_metadata_metrics(out: &mut Vec<u8>, metrics: &MetadataMetrics) {
    let mut object = Object::open(out);
    object.uint64("inspectedBytes", metrics.inspected_bytes);
    object.uint32("totalJobs", metrics.total_jobs);
    object.uint32("completedJobs", metrics.completed_jobs);
    object.uint32("totalBlocks", metrics.total_blocks);
    object.uint64("totalBlockBytes", metrics.total_block_bytes);
    object.close();
}

// `Object::list` hands each item of a `Vec<String>` by reference.
#[allow(clippy::ptr_arg)]
fn write_text(out: &mut Vec<u8>, text: &String) {
    write_string(out, text);
}

/// `GET /api/search/tags`: a `tempopb.SearchTagsResponse`.
pub(crate) fn tags_response(response: &SearchTagsResponse) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut object = Object::open(&mut out);
    object.list("tagNames", &response.tag_names, write_text);
    write_metadata_metrics(object.key("metrics"), response.metrics.as_ref().unwrap_or(&Default::default()));
    object.close();
    out
}

/// `GET /api/v2/search/tags`: a `tempopb.SearchTagsV2Response`.
pub(crate) fn tags_v2_response(response: &SearchTagsV2Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut object = Object::open(&mut out);
    object.list("scopes", &response.scopes, write_scope);
    write_metadata_metrics(object.key("metrics"), response.metrics.as_ref().unwrap_or(&Default::default()));
    object.close();
    out
}

fn write_scope(out: &mut Vec<u8>, scope: &SearchTagsV2Scope) {
    let mut object = Object::open(out);
    object.string("name", &scope.name);
    object.list("tags", &scope.tags, write_text);
    object.close();
}

/// `GET /api/search/tag/{tag}/values`: a `tempopb.SearchTagValuesResponse`.
pub(crate) fn tag_values_response(response: &SearchTagValuesResponse) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut object = Object::open(&mut out);
    object.list("tagValues", &response.tag_values, write_text);
    write_metadata_metrics(object.key("metrics"), response.metrics.as_ref().unwrap_or(&Default::default()));
    object.close();
    out
}

/// `GET /api/v2/search/tag/{tag}/values`: a `tempopb.SearchTagValuesV2Response`.
pub(crate) fn tag_values_v2_response(response: &SearchTagValuesV2Response) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut object = Object::open(&mut out);
    object.list("tagValues", &response.tag_values, write_tag_value);
    write_metadata_metrics(object.key("metrics"), response.metrics.as_ref().unwrap_or(&Default::default()));
    object.close();
    out
}

fn write_tag_value(out: &mut Vec<u8>, value: &TagValue) {
    let mut object = Object::open(out);
    object.string("type", &value.r#type);
    object.string("value", &value.value);
    object.close();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strand_proto::otlp::common::{AnyValue, KeyValue, any_value};

    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    /// The example of section 3.3 of the API contract, byte for byte in jsonpb's field order.
    #[test]
    fn contract_search_example() {
        let span_set = SpanSet {
            spans: vec![Span {
                span_id: "563d623c76514f8e".into(),
                start_time_unix_nano: 1_684_778_327_735_077_898,
                duration_nanos: 446_979_497,
                attributes: vec![KeyValue {
                    key: "status".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue("error".into())) }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            matched: 1,
            attributes: Vec::new(),
        };
        let response = SearchResponse {
            traces: vec![TraceSearchMetadata {
                trace_id: "2f3e0cee77ae5dc9c17ade3689eb2e54".into(),
                root_service_name: "shop-backend".into(),
                root_trace_name: "update-billing".into(),
                start_time_unix_nano: 1_684_778_327_699_392_724,
                duration_ms: 557,
                span_set: Some(span_set.clone()),
                span_sets: vec![span_set],
                service_stats: [("shop-backend".to_string(), ServiceStats { span_count: 4, error_count: 1 })].into(),
            }],
            metrics: Some(SearchMetrics {
                inspected_traces: 3100,
                inspected_bytes: 3_811_736,
                total_blocks: 13,
                completed_jobs: 1,
                total_jobs: 1,
                total_block_bytes: 1_048_576,
                inspected_spans: 52_000,
            }),
        };
        let span = r#"{"spans":[{"spanID":"563d623c76514f8e","startTimeUnixNano":"1684778327735077898","durationNanos":"446979497","attributes":[{"key":"status","value":{"stringValue":"error"}}]}],"matched":1}"#;
        let expected = format!(
            concat!(
                r#"{{"traces":[{{"traceID":"2f3e0cee77ae5dc9c17ade3689eb2e54","rootServiceName":"shop-backend","#,
                r#""rootTraceName":"update-billing","startTimeUnixNano":"1684778327699392724","durationMs":557,"#,
                r#""spanSet":{span},"spanSets":[{span}],"serviceStats":{{"shop-backend":{{"spanCount":4,"errorCount":1}}}}}}],"#,
                r#""metrics":{{"inspectedTraces":3100,"inspectedBytes":"3811736","totalBlocks":13,"completedJobs":1,"#,
                r#""totalJobs":1,"totalBlockBytes":"1048576","inspectedSpans":"52000"}}}}"#
            ),
            span = span
        );
        assert_eq!(text(search_response(&response)), expected);
    }

    #[test]
    fn empty_answers_keep_only_metrics() {
        assert_eq!(text(search_response(&SearchResponse::default())), r#"{"metrics":{}}"#);
        assert_eq!(text(tags_response(&SearchTagsResponse::default())), r#"{"metrics":{}}"#);
        assert_eq!(text(tags_v2_response(&SearchTagsV2Response::default())), r#"{"metrics":{}}"#);
        assert_eq!(text(tag_values_response(&SearchTagValuesResponse::default())), r#"{"metrics":{}}"#);
        assert_eq!(text(tag_values_v2_response(&SearchTagValuesV2Response::default())), r#"{"metrics":{}}"#);
    }

    #[test]
    fn service_stats_are_sorted_and_empty_entries_kept() {
        let trace = TraceSearchMetadata {
            trace_id: "1".into(),
            service_stats: [
                ("b".to_string(), ServiceStats::default()),
                ("a".to_string(), ServiceStats { span_count: 1, error_count: 0 }),
            ]
            .into(),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_trace(&mut out, &trace);
        assert_eq!(text(out), r#"{"traceID":"1","serviceStats":{"a":{"spanCount":1},"b":{}}}"#);
    }

    #[test]
    fn tag_answers_match_the_contract_examples() {
        let v1 = SearchTagsResponse {
            tag_names: vec!["http.method".into(), "service.name".into()],
            metrics: Some(MetadataMetrics { inspected_bytes: 630_188, ..Default::default() }),
        };
        assert_eq!(
            text(tags_response(&v1)),
            r#"{"tagNames":["http.method","service.name"],"metrics":{"inspectedBytes":"630188"}}"#
        );
        let v2 = SearchTagsV2Response {
            scopes: vec![SearchTagsV2Scope { name: "resource".into(), tags: vec!["k6".into(), "service.name".into()] }],
            metrics: Some(MetadataMetrics {
                inspected_bytes: 377_046,
                total_jobs: 2,
                completed_jobs: 2,
                total_blocks: 1,
                total_block_bytes: 9,
            }),
        };
        assert_eq!(
            text(tags_v2_response(&v2)),
            r#"{"scopes":[{"name":"resource","tags":["k6","service.name"]}],"metrics":{"inspectedBytes":"377046","totalJobs":2,"completedJobs":2,"totalBlocks":1,"totalBlockBytes":"9"}}"#
        );
        let values = SearchTagValuesResponse {
            tag_values: vec!["auth-service".into(), "cart-service".into()],
            metrics: Some(MetadataMetrics { inspected_bytes: 431_380, ..Default::default() }),
        };
        assert_eq!(
            text(tag_values_response(&values)),
            r#"{"tagValues":["auth-service","cart-service"],"metrics":{"inspectedBytes":"431380"}}"#
        );
        let typed = SearchTagValuesV2Response {
            tag_values: vec![TagValue { r#type: "keyword".into(), value: "ok".into() }],
            metrics: None,
        };
        assert_eq!(
            text(tag_values_v2_response(&typed)),
            r#"{"tagValues":[{"type":"keyword","value":"ok"}],"metrics":{}}"#
        );
    }
}
