//! Tag summaries: the attribute keys and a capped sample of their values, per service.
//!
//! Built while a block is written (or, in the ingester, from live traces) so that autocomplete
//! never scans spans. Kept per resource service (`service.name`) so that the usual Grafana filter,
//! `{ resource.service.name = "x" }`, narrows values without a search. Stored next to the block
//! as `tags.json.zst`.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use strand_model::{TagScope, TypedValue};
use strand_proto::otlp::common::{KeyValue, any_value};
use strand_proto::tempopb::Trace;

use crate::block::BlockError;

/// Distinct values kept per key and service; past it the key is marked incomplete.
const MAX_VALUES_PER_KEY: usize = 100;
/// Keys kept per scope and service, so a client sending random keys cannot bloat the summary.
const MAX_KEYS_PER_SCOPE: usize = 1_000;
/// Longer values are not worth suggesting (stack traces, SQL).
const MAX_VALUE_LEN: usize = 256;

/// The values of one key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Values {
    #[serde(default, skip_serializing_if = "HashSet::is_empty")]
    string: HashSet<String>,
    #[serde(default, skip_serializing_if = "HashSet::is_empty")]
    int: HashSet<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    float: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bool: Vec<bool>,
    /// More values existed than were kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

impl Values {
    fn len(&self) -> usize {
        self.string.len() + self.int.len() + self.float.len() + self.bool.len()
    }

    fn add(&mut self, value: &any_value::Value) {
        use any_value::Value as V;
        match value {
            V::StringValue(s) => self.add_str(s),
            V::IntValue(i) => {
                if !self.int.contains(i) {
                    if self.is_full() {
                        self.truncated = true;
                    } else {
                        self.int.insert(*i);
                    }
                }
            }
            V::DoubleValue(f) => {
                if !self.float.iter().any(|x| x.to_bits() == f.to_bits()) {
                    if self.is_full() {
                        self.truncated = true;
                    } else {
                        self.float.push(*f);
                    }
                }
            }
            V::BoolValue(b) => {
                if !self.bool.contains(b) {
                    self.bool.push(*b);
                }
            }
            // A type autocomplete does not offer (arrays, maps, bytes).
            _ => self.truncated = true,
        }
    }

    /// Strings get their own entry point so span names and roots are added without a copy: this
    /// runs for every span of every block written.
    fn add_str(&mut self, s: &str) {
        if s.len() > MAX_VALUE_LEN {
            // Too long to be worth suggesting.
            self.truncated = true;
        } else if !self.string.contains(s) {
            if self.is_full() {
                self.truncated = true;
            } else {
                self.string.insert(s.to_string());
            }
        }
    }

    fn is_full(&self) -> bool {
        self.len() >= MAX_VALUES_PER_KEY
    }

    fn merge(&mut self, other: &Values) {
        for s in &other.string {
            self.add_str(s);
        }
        for i in &other.int {
            self.add(&any_value::Value::IntValue(*i));
        }
        for f in &other.float {
            self.add(&any_value::Value::DoubleValue(*f));
        }
        for b in &other.bool {
            self.add(&any_value::Value::BoolValue(*b));
        }
        self.truncated |= other.truncated;
    }

    fn typed(&self, out: &mut BTreeSet<TypedValue>) {
        let typed = |value_type: &str, value: String| TypedValue { value_type: value_type.to_string(), value };
        out.extend(self.string.iter().map(|s| typed("string", s.clone())));
        out.extend(self.int.iter().map(|i| typed("int", i.to_string())));
        out.extend(self.float.iter().map(|f| typed("float", f.to_string())));
        out.extend(self.bool.iter().map(|b| typed("bool", b.to_string())));
    }
}

/// Keys and values of one service, by scope (`span`, `resource`, `intrinsic`…).
type ServiceTags = BTreeMap<String, HashMap<String, Values>>;

/// Tag names and values seen in a set of traces, per service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TagSummary {
    services: BTreeMap<String, ServiceTags>,
}

impl TagSummary {
    /// Adds every attribute, span name and root of `trace`.
    pub fn add_trace(&mut self, trace: &Trace) {
        let mut root: Option<(&str, &str)> = None;
        for batch in &trace.resource_spans {
            let resource = batch.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
            let service = service_name(resource).unwrap_or_default();
            let tags = self.service_tags(service);
            add_all(tags, TagScope::Resource, resource);
            for scope_spans in &batch.scope_spans {
                if let Some(scope) = &scope_spans.scope {
                    add_all(tags, TagScope::Instrumentation, &scope.attributes);
                }
                // Names first, in their own pass: `names` holds the intrinsic scope's map borrowed
                // for the whole loop instead of looking it up again for every span.
                let names = scope_keys(tags, TagScope::Intrinsic);
                for span in &scope_spans.spans {
                    add_key_str(names, "name", &span.name);
                    if span.parent_span_id.is_empty() && root.is_none() {
                        root = Some((service, span.name.as_str()));
                    }
                }
                for span in &scope_spans.spans {
                    add_all(tags, TagScope::Span, &span.attributes);
                    for event in &span.events {
                        add_all(tags, TagScope::Event, &event.attributes);
                    }
                    for link in &span.links {
                        add_all(tags, TagScope::Link, &link.attributes);
                    }
                }
            }
        }
        if let Some((service, name)) = root {
            let intrinsics = scope_keys(self.service_tags(service), TagScope::Intrinsic);
            add_key_str(intrinsics, "rootServiceName", service);
            add_key_str(intrinsics, "rootName", name);
        }
    }

    fn service_tags(&mut self, service: &str) -> &mut ServiceTags {
        get_or_default(&mut self.services, service)
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &TagSummary) {
        for (service, scopes) in &other.services {
            let tags = self.services.entry(service.clone()).or_default();
            for (scope, keys) in scopes {
                let into = tags.entry(scope.clone()).or_default();
                for (key, values) in keys {
                    if into.len() < MAX_KEYS_PER_SCOPE || into.contains_key(key) {
                        into.entry(key.clone()).or_default().merge(values);
                    }
                }
            }
        }
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    fn services<'a>(&'a self, services: Option<&'a [String]>) -> impl Iterator<Item = &'a ServiceTags> + 'a {
        self.services
            .iter()
            .filter(move |(name, _)| services.is_none_or(|wanted| wanted.iter().any(|w| w == *name)))
            .map(|(_, tags)| tags)
    }

    /// Key names in `scope`, of the given services (all when `None`), added to `out`.
    pub fn names(&self, scope: TagScope, services: Option<&[String]>, out: &mut BTreeSet<String>) {
        for tags in self.services(services) {
            if let Some(keys) = tags.get(scope.as_str()) {
                out.extend(keys.keys().cloned());
            }
        }
    }

    /// Values of `key` in `scope` (span and resource both for `None`), of the given services,
    /// added to `out`.
    pub fn values(
        &self,
        scope: Option<TagScope>,
        key: &str,
        services: Option<&[String]>,
        out: &mut BTreeSet<TypedValue>,
    ) {
        let scopes: &[TagScope] = match &scope {
            Some(scope) => std::slice::from_ref(scope),
            None => &[TagScope::Span, TagScope::Resource],
        };
        for tags in self.services(services) {
            for scope in scopes {
                if let Some(values) = tags.get(scope.as_str()).and_then(|keys| keys.get(key)) {
                    values.typed(out);
                }
            }
        }
    }

    /// The summary as stored: zstd-compressed JSON.
    pub fn encode(&self) -> Result<Bytes, BlockError> {
        let json = serde_json::to_vec(self).map_err(|e| BlockError::corrupt("tags", e))?;
        Ok(Bytes::from(zstd::bulk::compress(&json, 3)?))
    }

    /// Reads a stored summary.
    pub fn decode(bytes: &[u8]) -> Result<TagSummary, BlockError> {
        let json = zstd::stream::decode_all(bytes)?;
        serde_json::from_slice(&json).map_err(|e| BlockError::corrupt("tags", e))
    }
}

fn service_name(attributes: &[KeyValue]) -> Option<&str> {
    attributes.iter().find(|kv| kv.key == "service.name").and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    })
}

fn add_all(tags: &mut ServiceTags, scope: TagScope, attributes: &[KeyValue]) {
    if attributes.is_empty() {
        return;
    }
    let keys = scope_keys(tags, scope);
    for kv in attributes {
        if let Some(value) = kv.value.as_ref().and_then(|v| v.value.as_ref())
            && let Some(values) = key_values(keys, &kv.key)
        {
            values.add(value);
        }
    }
}

fn scope_keys(tags: &mut ServiceTags, scope: TagScope) -> &mut HashMap<String, Values> {
    get_or_default(tags, scope.as_str())
}

/// `map.entry(key.to_string()).or_default()` without allocating the key when it is there, which
/// is almost always: this runs for every span of every block written. (Returning `get_mut`'s
/// borrow from one branch and inserting in the other does not pass today's borrow checker.)
#[allow(clippy::expect_used)]
fn get_or_default<'a, V: Default>(map: &'a mut BTreeMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

fn add_key_str(keys: &mut HashMap<String, Values>, key: &str, value: &str) {
    if let Some(values) = key_values(keys, key) {
        values.add_str(value);
    }
}

/// The values of `key`, created if the scope still has room for another key.
fn key_values<'a>(keys: &'a mut HashMap<String, Values>, key: &str) -> Option<&'a mut Values> {
    if !keys.contains_key(key) {
        if keys.len() >= MAX_KEYS_PER_SCOPE {
            return None;
        }
        keys.insert(key.to_string(), Values::default());
    }
    keys.get_mut(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strand_proto::otlp::common::AnyValue;
    use strand_proto::otlp::resource::Resource;
    use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn trace(service: &str, span_attrs: Vec<KeyValue>) -> Trace {
        Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", any_value::Value::StringValue(service.into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span { name: format!("{service}-op"), attributes: span_attrs, ..Default::default() }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn typed(value_type: &str, value: &str) -> TypedValue {
        TypedValue { value_type: value_type.into(), value: value.into() }
    }

    #[test]
    fn values_are_typed_and_narrowed_by_service() {
        let mut summary = TagSummary::default();
        summary.add_trace(&trace("cart", vec![kv("http.status_code", any_value::Value::IntValue(200))]));
        summary.add_trace(&trace("shop", vec![kv("http.status_code", any_value::Value::IntValue(500))]));
        let summary = TagSummary::decode(&summary.encode().unwrap()).unwrap();

        let mut all = BTreeSet::new();
        summary.values(Some(TagScope::Span), "http.status_code", None, &mut all);
        assert_eq!(all, BTreeSet::from([typed("int", "200"), typed("int", "500")]));

        let mut shop = BTreeSet::new();
        summary.values(None, "http.status_code", Some(&["shop".to_string()]), &mut shop);
        assert_eq!(shop, BTreeSet::from([typed("int", "500")]));

        let mut roots = BTreeSet::new();
        summary.values(Some(TagScope::Intrinsic), "rootServiceName", None, &mut roots);
        assert_eq!(roots, BTreeSet::from([typed("string", "cart"), typed("string", "shop")]));

        let mut names = BTreeSet::new();
        summary.names(TagScope::Resource, None, &mut names);
        assert_eq!(names, BTreeSet::from(["service.name".to_string()]));
    }

    #[test]
    fn high_cardinality_keys_are_capped() {
        let mut summary = TagSummary::default();
        for i in 0..(MAX_VALUES_PER_KEY as i64 + 50) {
            summary.add_trace(&trace("svc", vec![kv("request.id", any_value::Value::IntValue(i))]));
        }
        let mut values = BTreeSet::new();
        summary.values(Some(TagScope::Span), "request.id", None, &mut values);
        assert_eq!(values.len(), MAX_VALUES_PER_KEY);
    }
}
