//! The tag routes through the router, against an in-memory querier: what the querier is asked,
//! the scopes and values answered, greedy and percent-encoded tag names, and the JSON shapes.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use strand_model::{TagScope, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse, TypedValue};

use crate::tags::INTRINSIC_TAGS;
use crate::testing::{Call, FakeSearch, error, get, state};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

/// A querier knowing a few tags in every attribute scope.
fn tagged() -> Arc<FakeSearch> {
    Arc::new(FakeSearch {
        tags: TagsResponse {
            scopes: vec![
                (TagScope::Resource, names(&["service.name", "k6"])),
                (TagScope::Span, names(&["http.method", "service.name"])),
                (TagScope::Event, names(&["exception.message"])),
                (TagScope::Link, names(&["link-type"])),
            ],
            inspected_bytes: 377_046,
        },
        values: TagValuesResponse {
            values: vec![
                TypedValue { value_type: "string".into(), value: "auth-service".into() },
                TypedValue { value_type: "string".into(), value: "cart-service".into() },
                TypedValue { value_type: "int".into(), value: "7".into() },
            ],
            inspected_bytes: 431_380,
        },
        ..Default::default()
    })
}

async fn json_of(fake: Arc<FakeSearch>, uri: &str) -> serde_json::Value {
    let (status, content_type, body) = get(state(fake, &[]), uri, None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"), "{uri}");
    serde_json::from_slice(&body).unwrap()
}

fn tags_request(fake: &FakeSearch) -> TagsRequest {
    match fake.calls().as_slice() {
        [Call::Tags(request)] => request.clone(),
        other => panic!("expected one tags call, got {other:?}"),
    }
}

fn values_request(fake: &FakeSearch) -> TagValuesRequest {
    match fake.calls().as_slice() {
        [Call::Values(request)] => request.clone(),
        other => panic!("expected one tag values call, got {other:?}"),
    }
}

#[tokio::test]
async fn v1_tags_list_resource_and_span_names_flat() {
    let fake = tagged();
    let body = json_of(fake.clone(), "/api/search/tags").await;
    assert_eq!(
        body,
        json!({"tagNames": ["http.method", "k6", "service.name"], "metrics": {"inspectedBytes": "377046"}})
    );
    assert_eq!(tags_request(&fake).scopes, [TagScope::Resource, TagScope::Span]);

    let fake = tagged();
    let body = json_of(fake.clone(), "/api/search/tags?scope=event&limit=1&start=10&end=20&q=%7B%7D").await;
    assert_eq!(body["tagNames"], json!(["exception.message"]));
    assert_eq!(
        tags_request(&fake),
        TagsRequest { scopes: vec![TagScope::Event], query: Some("{}".into()), start_secs: 10, end_secs: 20, limit: 1 }
    );

    let fake = tagged();
    let body = json_of(fake.clone(), "/api/search/tags?scope=intrinsic").await;
    assert_eq!(body["tagNames"], json!(INTRINSIC_TAGS));
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn tag_parameters_are_checked() {
    assert_eq!(
        error(state(tagged(), &[]), "/api/search/tags?scope=bogus", StatusCode::BAD_REQUEST).await,
        "invalid scope: bogus"
    );
    assert_eq!(
        error(state(tagged(), &[]), "/api/v2/search/tags?scope=Span", StatusCode::BAD_REQUEST).await,
        "invalid scope: Span"
    );
    let body = error(state(tagged(), &[]), "/api/v2/search/tags?limit=-1", StatusCode::BAD_REQUEST).await;
    assert_eq!(body, r#"invalid limit: strconv.ParseUint: parsing "-1": invalid syntax"#);
    let body = error(state(tagged(), &[]), "/api/search/tag/x/values?start=5&end=4", StatusCode::BAD_REQUEST).await;
    assert_eq!(body, "http parameter start must be before end. received start=5 end=4");
}

#[tokio::test]
async fn v2_tags_are_grouped_by_scope_with_the_intrinsics() {
    let fake = tagged();
    let body = json_of(fake.clone(), "/api/v2/search/tags").await;
    assert_eq!(
        body,
        json!({"scopes": [
            {"name": "resource", "tags": ["k6", "service.name"]},
            {"name": "span", "tags": ["http.method", "service.name"]},
            {"name": "intrinsic", "tags": ["duration", "event:name", "kind", "name", "rootName", "rootServiceName",
                "span:duration", "span:kind", "span:name", "span:status", "span:statusMessage", "status",
                "statusMessage", "trace:duration", "trace:rootName", "trace:rootService", "traceDuration"]},
            {"name": "event", "tags": ["exception.message"]},
            {"name": "link", "tags": ["link-type"]}],
          "metrics": {"inspectedBytes": "377046"}})
    );
    assert_eq!(
        tags_request(&fake).scopes,
        [TagScope::Resource, TagScope::Span, TagScope::Event, TagScope::Link, TagScope::Instrumentation]
    );

    let fake = tagged();
    let body = json_of(fake.clone(), "/api/v2/search/tags?limit=1&scope=span").await;
    assert_eq!(body["scopes"], json!([{"name": "span", "tags": ["http.method"]}]));
}

#[tokio::test]
async fn an_unparseable_filter_is_ignored() {
    let fake = tagged();
    json_of(fake.clone(), "/api/v2/search/tags?q=%7B+.a+%3D").await;
    assert_eq!(tags_request(&fake).query, None);
    let fake = tagged();
    let body = json_of(fake.clone(), "/api/v2/search/tag/resource.service.name/values?q=%7B+span.x+%3D").await;
    assert_eq!(body["tagValues"][0], json!({"type": "string", "value": "auth-service"}));
    assert_eq!(values_request(&fake).query, None);
    let fake = tagged();
    json_of(fake.clone(), "/api/v2/search/tag/resource.service.name/values?q=%7B+span.x+%3D+1+%7D").await;
    assert_eq!(values_request(&fake).query.as_deref(), Some("{ span.x = 1 }"));
}

#[tokio::test]
async fn v1_values_are_plain_strings_of_a_bare_name() {
    let fake = tagged();
    let body = json_of(fake.clone(), "/api/search/tag/service.name/values?limit=2").await;
    assert_eq!(body, json!({"tagValues": ["7", "auth-service"], "metrics": {"inspectedBytes": "431380"}}));
    assert_eq!(
        values_request(&fake),
        TagValuesRequest {
            scope: None,
            name: "service.name".into(),
            query: None,
            start_secs: 0,
            end_secs: 0,
            limit: 2
        }
    );
    let body = json_of(Arc::default(), "/api/search/tag/status.code/values").await;
    assert_eq!(body["tagValues"], json!(["error", "ok", "unset"]));
}

#[tokio::test]
async fn v2_values_are_typed_and_intrinsic_enums_synthesized() {
    let fake = tagged();
    let body = json_of(fake.clone(), "/api/v2/search/tag/status/values").await;
    assert_eq!(
        body,
        json!({"tagValues": [{"type": "keyword", "value": "ok"}, {"type": "keyword", "value": "error"},
                             {"type": "keyword", "value": "unset"}], "metrics": {}})
    );
    let body = json_of(fake.clone(), "/api/v2/search/tag/span:kind/values").await;
    let kinds: Vec<_> = body["tagValues"].as_array().unwrap().iter().map(|v| v["value"].clone()).collect();
    assert_eq!(kinds, ["client", "server", "producer", "consumer", "internal", "unspecified"]);
    assert_eq!(json_of(fake.clone(), "/api/v2/search/tag/duration/values").await, json!({"metrics": {}}));
    assert_eq!(json_of(fake.clone(), "/api/v2/search/tag/traceDuration/values").await, json!({"metrics": {}}));
    assert!(fake.calls().is_empty(), "none of these read any data");

    for path in ["rootServiceName", "trace:rootService"] {
        let fake = tagged();
        json_of(fake.clone(), &format!("/api/v2/search/tag/{path}/values")).await;
        let request = values_request(&fake);
        assert_eq!((request.scope, request.name.as_str()), (Some(TagScope::Intrinsic), "rootServiceName"), "{path}");
    }
    let fake = tagged();
    let body = json_of(fake.clone(), "/api/v2/search/tag/.service.name/values?limit=1").await;
    assert_eq!(body["tagValues"], json!([{"type": "string", "value": "auth-service"}]));
    assert_eq!((values_request(&fake).scope, values_request(&fake).limit), (None, 1));
}

#[tokio::test]
async fn tag_names_are_greedy_and_decoded_once() {
    for (path, scope, name) in [
        ("span.http%2Fa:b", Some(TagScope::Span), "http/a:b"),
        ("resource.a/b/c", Some(TagScope::Resource), "a/b/c"),
        ("resource.service.name", Some(TagScope::Resource), "service.name"),
        ("event.x%252F", Some(TagScope::Event), "x%2F"),
    ] {
        let fake = tagged();
        json_of(fake.clone(), &format!("/api/v2/search/tag/{path}/values")).await;
        let request = values_request(&fake);
        assert_eq!((request.scope, request.name.as_str()), (scope, name), "{path}");
    }
    let fake = tagged();
    json_of(fake.clone(), "/api/search/tag/k8s%2Fpod.name/values").await;
    assert_eq!(values_request(&fake).name, "k8s/pod.name");
}

#[tokio::test]
async fn invalid_v2_tag_names_are_400() {
    let body = error(state(tagged(), &[]), "/api/v2/search/tag/app.user.id/values", StatusCode::BAD_REQUEST).await;
    assert!(body.starts_with("please provide a valid tagName: failed to parse identifier app.user.id"), "{body}");
    let (status, _, _) = get(state(tagged(), &[]), "/api/v2/search/tag/status", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Tag answers as Grafana's pinned proto has them; any other key fails to parse.
mod pinned {
    // Every field of the pinned proto is declared so that its key is accepted, read or not.
    #![allow(dead_code)]

    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct Metrics {
        pub inspected_bytes: Option<String>,
        pub total_jobs: Option<u32>,
        pub completed_jobs: Option<u32>,
        pub total_blocks: Option<u32>,
        pub total_block_bytes: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct Tags {
        pub tag_names: Vec<String>,
        pub metrics: Metrics,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct TagsV2 {
        pub scopes: Vec<Scope>,
        pub metrics: Metrics,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Scope {
        pub name: String,
        pub tags: Vec<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct Values {
        pub tag_values: Vec<String>,
        pub metrics: Metrics,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct ValuesV2 {
        pub tag_values: Vec<TagValue>,
        pub metrics: Metrics,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct TagValue {
        pub r#type: String,
        pub value: String,
    }
}

async fn body_of(uri: &str) -> String {
    let (_, _, body) = get(state(tagged(), &[]), uri, None).await;
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn tag_json_is_exactly_what_grafanas_pinned_proto_accepts() {
    let tags: pinned::Tags = serde_json::from_str(&body_of("/api/search/tags").await).unwrap();
    assert_eq!(tags.tag_names.len(), 3);
    assert_eq!(tags.metrics.inspected_bytes.as_deref(), Some("377046"));
    let check_unused = |m: &pinned::Metrics| {
        assert_eq!(
            (m.total_jobs, m.completed_jobs, m.total_blocks, m.total_block_bytes.as_deref()),
            (None, None, None, None)
        );
    };
    check_unused(&tags.metrics);

    let v2: pinned::TagsV2 = serde_json::from_str(&body_of("/api/v2/search/tags").await).unwrap();
    assert_eq!(
        v2.scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["resource", "span", "intrinsic", "event", "link"]
    );
    assert!(v2.scopes.iter().all(|scope| !scope.tags.is_empty()));
    check_unused(&v2.metrics);

    let values: pinned::Values = serde_json::from_str(&body_of("/api/search/tag/service.name/values").await).unwrap();
    assert_eq!(values.tag_values, ["7", "auth-service", "cart-service"]);

    let text = body_of("/api/v2/search/tag/resource.service.name/values").await;
    let typed: pinned::ValuesV2 = serde_json::from_str(&text).unwrap();
    assert_eq!((typed.tag_values[2].r#type.as_str(), typed.tag_values[2].value.as_str()), ("int", "7"));
    assert_eq!(typed.metrics.inspected_bytes.as_deref(), Some("431380"));
    let extra = text.replacen(r#""metrics":{"#, r#""metrics":{"backendBytes":"1","#, 1);
    assert!(serde_json::from_str::<pinned::ValuesV2>(&extra).is_err(), "the mirror must refuse unknown keys");
}
