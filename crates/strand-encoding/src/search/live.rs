//! TraceQL over traces held as OTLP (the ingester's live traces and head blocks).

use std::ops::ControlFlow;

use strand_model::TraceId;
use strand_proto::tempopb::Trace as OtlpTrace;
use strand_traceql::{FetchSpansRequest, FetchStats, SpansetFetcher, Trace};

use super::convert::trace_from_otlp;

/// Hands the engine whole traces decoded from OTLP, dropping spans the request's span filter
/// rules out and traces outside its time window.
pub struct OtlpFetcher<I> {
    traces: I,
}

impl<I> OtlpFetcher<I>
where
    I: Iterator<Item = (TraceId, OtlpTrace, u64)>,
{
    /// A fetcher over `(id, trace, encoded size)` items; each ID should appear once, with the
    /// trace's parts already combined.
    pub fn new(traces: I) -> Self {
        OtlpFetcher { traces }
    }
}

impl<I> SpansetFetcher for OtlpFetcher<I>
where
    I: Iterator<Item = (TraceId, OtlpTrace, u64)>,
{
    type Error = std::convert::Infallible;

    fn fetch(
        &mut self,
        request: &FetchSpansRequest,
        visit: &mut dyn FnMut(Trace) -> ControlFlow<()>,
    ) -> Result<FetchStats, Self::Error> {
        let mut stats = FetchStats::default();
        for (id, otlp, size) in &mut self.traces {
            let mut trace = trace_from_otlp(id, &otlp);
            stats.inspected_traces += 1;
            stats.inspected_spans += trace.spans.len() as u64;
            stats.inspected_bytes += size;
            let end = trace.start_unix_nano.saturating_add(trace.duration_nano);
            let in_range = (request.start_unix_nano == 0 || end >= request.start_unix_nano)
                && (request.end_unix_nano == 0 || trace.start_unix_nano <= request.end_unix_nano);
            if !in_range {
                continue;
            }
            if !request.span_filter.keeps_all() {
                let spans = std::mem::take(&mut trace.spans);
                trace.spans = spans.into_iter().filter(|span| request.span_filter.keep(&trace, span)).collect();
            }
            if !trace.spans.is_empty() && visit(trace).is_break() {
                break;
            }
        }
        Ok(stats)
    }
}
