//! Live traces: spans of traces that may still grow, kept as the encoded bytes they arrived in.
//!
//! Each push appends a `Bytes` segment (a zero-copy slice of the request) to its trace. Encoded
//! `Trace` messages concatenate into a valid `Trace`, so reading a live trace is one decode of the
//! joined segments, and nothing is decoded on the write path.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use strand_model::{TraceBytes, TraceId};

/// One trace still receiving spans.
#[derive(Clone, Debug)]
pub(crate) struct LiveTrace {
    pub segments: Vec<Bytes>,
    pub bytes: usize,
    pub first_append: Instant,
    pub last_append: Instant,
    pub truncated: bool,
}

/// The live traces of one tenant.
#[derive(Default)]
pub(crate) struct LiveTraces {
    traces: HashMap<TraceId, LiveTrace>,
    bytes: usize,
}

impl LiveTraces {
    pub fn len(&self) -> usize {
        self.traces.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, id: &TraceId) -> Option<&LiveTrace> {
        self.traces.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TraceId, &LiveTrace)> {
        self.traces.iter()
    }

    /// Appends spans to a trace, creating it if new.
    pub fn append(&mut self, entry: TraceBytes, now: Instant) {
        let len = entry.bytes.len();
        let trace = self.traces.entry(entry.id).or_insert_with(|| LiveTrace {
            segments: Vec::new(),
            bytes: 0,
            first_append: now,
            last_append: now,
            truncated: false,
        });
        trace.segments.push(entry.bytes);
        trace.bytes += len;
        trace.last_append = now;
        self.bytes += len;
    }

    pub fn mark_truncated(&mut self, id: &TraceId) {
        if let Some(trace) = self.traces.get_mut(id) {
            trace.truncated = true;
        }
    }

    /// The traces that are complete at `now`: idle for `idle`, or live for longer than
    /// `max_live`. Sorted by ID.
    pub fn complete_ids(&self, now: Instant, idle: std::time::Duration, max_live: std::time::Duration) -> Vec<TraceId> {
        let mut done: Vec<TraceId> = self
            .traces
            .iter()
            .filter(|(_, t)| {
                now.duration_since(t.last_append) >= idle || now.duration_since(t.first_append) >= max_live
            })
            .map(|(id, _)| *id)
            .collect();
        done.sort_unstable();
        done
    }

    /// Removes and returns those of `ids` still live, sorted by ID.
    pub fn take(&mut self, ids: &[TraceId]) -> Vec<(TraceId, LiveTrace)> {
        self.remove_sorted(ids.to_vec())
    }

    /// Removes and returns every trace, sorted by ID.
    pub fn take_all(&mut self) -> Vec<(TraceId, LiveTrace)> {
        let all: Vec<TraceId> = self.traces.keys().copied().collect();
        self.remove_sorted(all)
    }

    /// A copy of every trace (segments are reference-counted, so this copies no span bytes).
    pub fn snapshot(&self) -> Vec<(TraceId, LiveTrace)> {
        self.traces.iter().map(|(id, t)| (*id, t.clone())).collect()
    }

    fn remove_sorted(&mut self, mut ids: Vec<TraceId>) -> Vec<(TraceId, LiveTrace)> {
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| {
                let trace = self.traces.remove(&id)?;
                self.bytes -= trace.bytes;
                Some((id, trace))
            })
            .collect()
    }
}

/// Joins a trace's segments into one encoded `Trace`.
pub(crate) fn join_segments(segments: &[Bytes]) -> Bytes {
    match segments {
        [one] => one.clone(),
        many => {
            let mut joined = Vec::with_capacity(many.iter().map(Bytes::len).sum());
            for segment in many {
                joined.extend_from_slice(segment);
            }
            Bytes::from(joined)
        }
    }
}
