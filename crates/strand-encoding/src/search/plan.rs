//! Which v1 columns a TraceQL fetch request needs, and where each attribute lives.

use std::collections::BTreeSet;

use strand_traceql::{AttributeScope, Condition, FetchSpansRequest, FieldRef, Intrinsic, Value};

use crate::block::schema::{self, RESOURCE_DEDICATED, SPAN_DEDICATED_INT, SPAN_DEDICATED_STR, block_schema};

/// The columns to read and the attributes to pick out of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ColumnPlan {
    /// Top-level columns to read, by name.
    pub(crate) columns: BTreeSet<&'static str>,
    /// Span attributes to look for in the generic `span_attrs` list.
    pub(crate) span_keys: Vec<String>,
    /// Resource attributes to look for in the generic `resource_attrs` list.
    pub(crate) resource_keys: Vec<String>,
    /// Positions in `SPAN_DEDICATED_STR` of the dedicated string columns to read.
    pub(crate) span_strings: Vec<usize>,
    /// Positions in `SPAN_DEDICATED_INT` of the dedicated integer columns to read.
    pub(crate) span_ints: Vec<usize>,
    /// Positions in `RESOURCE_DEDICATED` of the dedicated resource columns to read.
    pub(crate) resource_strings: Vec<usize>,
    /// Whether the instrumentation scope (name, version, attributes) is needed.
    pub(crate) instrumentation: bool,
    /// Whether events are needed.
    pub(crate) events: bool,
    /// Whether links are needed.
    pub(crate) links: bool,
    /// Whether nested set numbers (and child counts) are needed.
    pub(crate) nesting: bool,
}

/// Columns every search reads: identity, what results show, and the trace-level fields.
const ALWAYS: [&str; 9] = [
    schema::TRACE_ID,
    schema::SPAN_ID,
    schema::NAME,
    schema::START_UNIX_NANO,
    schema::DURATION_NANO,
    schema::ROOT_SERVICE_NAME,
    schema::ROOT_SPAN_NAME,
    schema::TRACE_START_UNIX_NANO,
    schema::TRACE_DURATION_NANO,
];

impl ColumnPlan {
    pub(crate) fn new(request: &FetchSpansRequest) -> ColumnPlan {
        let mut plan = ColumnPlan { columns: ALWAYS.into_iter().collect(), ..ColumnPlan::default() };
        for condition in &request.conditions {
            match &condition.field {
                FieldRef::Intrinsic(intrinsic) => plan.add_intrinsic(*intrinsic),
                FieldRef::Attribute { scope, name } => plan.add_attribute(*scope, name, condition),
            }
        }
        plan
    }

    /// Top-level schema field indexes to project.
    pub(crate) fn roots(&self) -> Vec<usize> {
        let schema = block_schema();
        self.columns.iter().filter_map(|name| schema.index_of(name).ok()).collect()
    }

    fn add_intrinsic(&mut self, intrinsic: Intrinsic) {
        let columns: &[&'static str] = match intrinsic {
            Intrinsic::Kind => &[schema::KIND],
            Intrinsic::Status => &[schema::STATUS_CODE],
            Intrinsic::StatusMessage => &[schema::STATUS_MESSAGE],
            Intrinsic::ParentId => &[schema::PARENT_SPAN_ID],
            Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent
            | Intrinsic::ChildCount
            | Intrinsic::Parent => {
                self.nesting = true;
                &[schema::NESTED_SET_LEFT, schema::NESTED_SET_RIGHT, schema::PARENT_INDEX]
            }
            Intrinsic::EventName | Intrinsic::EventTimeSinceStart => {
                self.events = true;
                &[schema::EVENTS]
            }
            Intrinsic::LinkTraceId | Intrinsic::LinkSpanId => {
                self.links = true;
                &[schema::LINKS]
            }
            Intrinsic::InstrumentationName | Intrinsic::InstrumentationVersion => {
                self.instrumentation = true;
                &[schema::SCOPE_NAME, schema::SCOPE_VERSION, schema::SCOPE_ATTRS]
            }
            Intrinsic::Name
            | Intrinsic::Duration
            | Intrinsic::SpanId
            | Intrinsic::TraceDuration
            | Intrinsic::RootName
            | Intrinsic::RootServiceName
            | Intrinsic::TraceId => &[],
        };
        self.columns.extend(columns);
    }

    fn add_attribute(&mut self, scope: AttributeScope, name: &str, condition: &Condition) {
        match scope {
            AttributeScope::Span => self.add_span_attribute(name, condition, false),
            AttributeScope::Resource => self.add_resource_attribute(name, condition),
            AttributeScope::Unscoped => {
                // The span's value wins whatever its type, so even one that cannot match must
                // be read: it hides the resource's.
                self.add_span_attribute(name, condition, true);
                self.add_resource_attribute(name, condition);
            }
            AttributeScope::Event => {
                self.events = true;
                self.columns.insert(schema::EVENTS);
            }
            AttributeScope::Link => {
                self.links = true;
                self.columns.insert(schema::LINKS);
            }
            AttributeScope::Instrumentation => self.add_intrinsic(Intrinsic::InstrumentationName),
            // Validation refuses the parent scope; there is nothing to read for it.
            AttributeScope::Parent => {}
        }
    }

    fn add_span_attribute(&mut self, name: &str, condition: &Condition, every_type: bool) {
        let mut in_generic = true;
        if let Some(slot) = SPAN_DEDICATED_STR.iter().position(|(key, _, _)| *key == name) {
            push_unique(&mut self.span_strings, slot);
            self.columns.insert(SPAN_DEDICATED_STR[slot].1);
            in_generic = !compares_only(condition, |v| matches!(v, Value::Str(_)));
        } else if let Some(slot) = SPAN_DEDICATED_INT.iter().position(|(key, _)| *key == name) {
            push_unique(&mut self.span_ints, slot);
            self.columns.insert(SPAN_DEDICATED_INT[slot].1);
            in_generic = !compares_only(condition, |v| matches!(v, Value::Int(_) | Value::Float(_)));
        }
        // A dedicated key sent with another type (a string status code, say) stays in the
        // generic list, so it is read there too unless the comparison could not match it. The
        // one case this misses: a well-known key whose first occurrence is not a plain scalar (an
        // array, bytes, no value) or is a float status code, compared with a plain value. SDKs send these as plain strings and integers;
        // reading every span's generic list for the odd case would cost the most common
        // searches their fast path.
        if in_generic || every_type {
            push_unique(&mut self.span_keys, name.to_string());
            self.columns.insert(schema::SPAN_ATTRS);
        }
    }

    fn add_resource_attribute(&mut self, name: &str, condition: &Condition) {
        let mut in_generic = true;
        if let Some(slot) = RESOURCE_DEDICATED.iter().position(|(key, _)| *key == name) {
            push_unique(&mut self.resource_strings, slot);
            self.columns.insert(RESOURCE_DEDICATED[slot].1);
            in_generic = !compares_only(condition, |v| matches!(v, Value::Str(_)));
        }
        if in_generic {
            push_unique(&mut self.resource_keys, name.to_string());
            self.columns.insert(schema::RESOURCE_ATTRS);
        }
    }
}

/// True when the condition compares the field with literals that all satisfy `typed`: a value
/// of another type can then never match, so it need not be read.
fn compares_only(condition: &Condition, typed: impl Fn(&Value) -> bool) -> bool {
    condition.op.is_some() && !condition.operands.is_empty() && condition.operands.iter().all(typed)
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use strand_traceql::CompareOp;

    use super::*;

    fn request(conditions: Vec<Condition>) -> FetchSpansRequest {
        FetchSpansRequest { conditions, ..FetchSpansRequest::default() }
    }

    #[test]
    fn dedicated_attributes_skip_the_generic_list_when_types_guarantee_it() {
        let status = Condition {
            field: FieldRef::attribute(AttributeScope::Span, "http.status_code"),
            op: Some(CompareOp::GtEq),
            operands: vec![Value::Int(500)],
        };
        let plan = ColumnPlan::new(&request(vec![status]));
        assert!(plan.columns.contains("http_status_code"));
        assert!(!plan.columns.contains(schema::SPAN_ATTRS));
        assert!(plan.span_keys.is_empty());

        let as_string = Condition {
            field: FieldRef::attribute(AttributeScope::Span, "http.status_code"),
            op: Some(CompareOp::Eq),
            operands: vec![Value::str("500")],
        };
        let plan = ColumnPlan::new(&request(vec![as_string]));
        assert!(plan.columns.contains(schema::SPAN_ATTRS));
        assert_eq!(plan.span_keys, vec!["http.status_code".to_string()]);
    }

    #[test]
    fn unscoped_attributes_read_span_and_resource() {
        let service = Condition::read(FieldRef::attribute(AttributeScope::Unscoped, "service.name"));
        let plan = ColumnPlan::new(&request(vec![service]));
        assert!(plan.columns.contains("resource_service_name"));
        assert_eq!(plan.span_keys, vec!["service.name".to_string()]);
        assert_eq!(plan.resource_keys, vec!["service.name".to_string()]);
    }

    #[test]
    fn structural_fields_read_the_nesting_columns() {
        let plan = ColumnPlan::new(&request(vec![Condition::read(FieldRef::Intrinsic(Intrinsic::NestedSetParent))]));
        assert!(plan.nesting);
        assert!(plan.columns.contains(schema::PARENT_INDEX));
        assert_eq!(plan.roots().len(), plan.columns.len());
    }
}
