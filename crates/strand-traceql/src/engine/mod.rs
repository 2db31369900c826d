//! The engine: evaluates a search query on one trace at a time.
//!
//! - `value`: values while evaluating, and Tempo's operator rules.
//! - `eval`: field expressions compiled for evaluation on a span.
//! - `spanset`, `structural`: pipelines, spanset operators, aggregates, `by()`.
//! - `compile`: what storage must read and may skip ([`Query::fetch_request`]).
//! - `search`: a whole search over a [`SpansetFetcher`](crate::SpansetFetcher).
//!
//! A query is compiled once into a [`Plan`] (fields resolved, literals converted, regexes
//! compiled); the plan is what runs per trace.

mod compile;
mod eval;
mod search;
mod spanset;
mod structural;
mod value;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests_eval;
#[cfg(test)]
mod tests_fetch;
#[cfg(test)]
mod tests_spanset;

use std::cell::RefCell;
use std::sync::Arc;

pub use search::{SearchOutcome, search};

use self::compile::fields_read;
use self::eval::Output;
use self::spanset::{PipelinePlan, Set};
use crate::ast::{Query, QueryExpr};
use crate::data::{Attribute, Trace, Value};
use crate::result::{MatchedSpan, MatchedSpanset, TraceMatch};

/// A query compiled for evaluation. `Send + Sync`: one plan serves every worker of a search.
#[derive(Debug)]
pub(crate) struct Plan {
    /// `None` for metrics queries, which search does not evaluate.
    pipeline: Option<PipelinePlan>,
    /// The fields shown on each matched span.
    outputs: Vec<Output>,
}

impl Plan {
    pub(crate) fn new(query: &Query) -> Plan {
        let QueryExpr::Search(pipeline) = &query.expr else {
            return Plan { pipeline: None, outputs: Vec::new() };
        };
        let mut outputs: Vec<Output> = Vec::new();
        for field in fields_read(query) {
            if let Some(output) = Output::new(&field).filter(|o| outputs.iter().all(|seen| seen.key != o.key)) {
                outputs.push(output);
            }
        }
        Plan { pipeline: Some(PipelinePlan::new(pipeline)), outputs }
    }

    pub(crate) fn evaluate(&self, trace: &Trace) -> Option<TraceMatch> {
        let pipeline = self.pipeline.as_ref()?;
        if trace.spans.is_empty() {
            return None;
        }
        let all = Set { spans: (0..trace.spans.len()).collect(), attributes: Vec::new() };
        let sets = pipeline.run(trace, vec![all]);
        if sets.is_empty() {
            return None;
        }
        let spansets = sets
            .into_iter()
            .map(|set| MatchedSpanset {
                spans: set.spans.iter().map(|&index| self.matched_span(trace, index)).collect(),
                attributes: set.attributes,
            })
            .collect();
        Some(TraceMatch { spansets })
    }

    fn matched_span(&self, trace: &Trace, index: usize) -> MatchedSpan {
        let attributes = match trace.spans.get(index) {
            Some(span) => self
                .outputs
                .iter()
                .filter_map(|output| {
                    let value = output.field.owned(trace, span);
                    (!matches!(value, Value::Nil)).then(|| Attribute { key: output.key.clone(), value })
                })
                .collect(),
            None => Vec::new(),
        };
        MatchedSpan { index, attributes }
    }
}

/// Plans this thread compiled lately, with the queries they were compiled from.
const CACHED_PLANS: usize = 8;

thread_local! {
    static PLANS: RefCell<Vec<(Query, Arc<Plan>)>> = const { RefCell::new(Vec::new()) };
}

/// The plan for `query`, compiled once per thread. [`Query`] has no room for a compiled form,
/// so plans are found again by comparing queries, which costs far less than compiling.
fn plan_for(query: &Query) -> Arc<Plan> {
    PLANS.with(|cell| {
        let mut plans = cell.borrow_mut();
        if let Some((_, plan)) = plans.iter().find(|(cached, _)| cached == query) {
            return plan.clone();
        }
        let plan = Arc::new(Plan::new(query));
        if plans.len() >= CACHED_PLANS {
            plans.remove(0);
        }
        plans.push((query.clone(), plan.clone()));
        plan
    })
}

impl Query {
    /// Evaluates a search query on one trace whose spans already passed the request's span
    /// filter. `None` when no spanset survives, and for metrics queries.
    ///
    /// The compiled form is cached per thread; [`search`] compiles once per call instead.
    pub fn evaluate(&self, trace: &Trace) -> Option<TraceMatch> {
        plan_for(self).evaluate(trace)
    }
}
