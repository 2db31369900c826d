//! The read-after-write checker, after Tempo's vulture.
//!
//! Every acknowledged trace can be rebuilt from its seed, index and start ([`hotrod::trace`]), so
//! the checker reads any of them back at any time: by ID (`GET /api/v2/traces/{id}`, protobuf)
//! and by a TraceQL search that must find it (`{ span.loadgen.trace_index = N }` in a window
//! around its start). What comes back by ID is compared field by field with the rebuilt trace.
//!
//! Outcomes are counted apart for *recent* traces (acknowledged less than `recent_age` before the
//! check, so normally still in the ingester) and *old* ones (flushed to blocks, maybe compacted).
//! While a writer runs, [`Checker::follow`] reads each new trace by ID as soon as it is
//! acknowledged, polling until it can be read (the time from acknowledgement to the first
//! successful read is the read-after-write latency), searches for every `search_every`-th, and
//! now and then checks a random old one. [`Checker::check_all`] reads back every trace of a log
//! once more, for example after a flush and a restart; it searches for consecutive traces
//! `search_batch` at a time (`{ span.loadgen.trace_index >= A && span.loadgen.trace_index <= B }`),
//! each of which must be in the answer. Searches cost far more than reads by ID, above all over
//! the ingester's recent data, hence the sampling and the batches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use strand_proto::otlp::trace::ResourceSpans;
use strand_proto::tempopb::{PartialStatus, SearchResponse, TraceByIdResponse};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::compare::first_difference;
use crate::hotrod;
use crate::sender::{WriteLog, Written, now_unix_nanos};
use crate::stats::Histogram;

/// Problems kept verbatim for the report.
const PROBLEM_SAMPLES: usize = 20;

/// Where to read and how hard to look.
#[derive(Clone, Debug)]
pub struct CheckerConfig {
    /// Tempo's HTTP API, `http://host:3200`.
    pub api: String,
    /// `X-Scope-OrgID`, when strand runs multi-tenant.
    pub tenant: Option<String>,
    /// Traces acknowledged less than this long ago count as recent, the others as old.
    pub recent_age: Duration,
    /// Checks in flight at once.
    pub concurrency: usize,
    /// How long a read (by ID, then by search) is retried before the trace counts as missing.
    pub read_timeout: Duration,
    /// The pause between two tries.
    pub poll_interval: Duration,
    /// Also look traces up by TraceQL search.
    pub search: bool,
    /// Searches cover the traces' start ± this.
    pub search_window: Duration,
    /// While following a writer: check every n-th acknowledged trace (1: all of them).
    pub check_every: u64,
    /// While following a writer: also search for every n-th trace checked (by index).
    pub search_every: u64,
    /// [`Checker::check_all`]: traces looked for by one search (1: one search per trace).
    pub search_batch: usize,
    /// While following a writer: random old traces checked per second (0: none).
    pub old_checks_per_second: f64,
    /// How long one HTTP request may take.
    pub request_timeout: Duration,
}

impl CheckerConfig {
    /// A local strand's API, recent meaning 30 s, 8 checks in flight, 15 s to find a trace, a
    /// search for every 10th trace while following and for 20 traces at once in `check_all`.
    pub fn new(api: impl Into<String>) -> CheckerConfig {
        CheckerConfig {
            api: api.into(),
            tenant: None,
            recent_age: Duration::from_secs(30),
            concurrency: 8,
            read_timeout: Duration::from_secs(15),
            poll_interval: Duration::from_millis(100),
            search: true,
            search_window: Duration::from_secs(60),
            check_every: 1,
            search_every: 10,
            search_batch: 20,
            old_checks_per_second: 1.0,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Outcomes for one age class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Traces checked.
    pub checked: u64,
    /// Read back by ID and equal to the trace sent.
    pub found: u64,
    /// Answered 404 until the read timeout.
    pub missing: u64,
    /// Could not be read (not 200 or 404, or no answer) until the read timeout.
    pub errors: u64,
    /// Read back by ID but different from the trace sent.
    pub mismatched: u64,
    /// Searched for and found by TraceQL.
    pub search_found: u64,
    /// Searched for and not found by TraceQL until the read timeout.
    pub search_missing: u64,
}

impl Tally {
    /// Whether every trace checked was found and equal, and every one searched for was found.
    pub fn all_found(&self) -> bool {
        self.found == self.checked && self.search_missing == 0
    }

    fn to_json(&self) -> Value {
        json!({
            "checked": self.checked,
            "found": self.found,
            "missing": self.missing,
            "errors": self.errors,
            "mismatched": self.mismatched,
            "search_found": self.search_found,
            "search_missing": self.search_missing,
        })
    }
}

/// What the checker found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    /// Traces acknowledged less than `recent_age` before their check.
    pub recent: Tally,
    /// The others.
    pub old: Tally,
    /// From acknowledgement to the first successful read by ID, for traces checked as they were
    /// written.
    pub read_after_write: Histogram,
    /// From acknowledgement to the first search that found the trace, likewise.
    pub search_after_write: Histogram,
    /// Time of each read by ID.
    pub read_latency: Histogram,
    /// Time of each search.
    pub search_latency: Histogram,
    /// Sampled searches not made because every search slot was busy (searches were slower
    /// than the sampling asked for).
    pub searches_skipped: u64,
    /// The first problems, verbatim: which trace, what was wrong.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether every trace checked, recent or old, was found and equal.
    pub fn all_found(&self) -> bool {
        self.recent.all_found() && self.old.all_found()
    }

    /// The figures as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "recent": self.recent.to_json(),
            "old": self.old.to_json(),
            "read_after_write": self.read_after_write.to_json(),
            "search_after_write": self.search_after_write.to_json(),
            "read_latency": self.read_latency.to_json(),
            "search_latency": self.search_latency.to_json(),
            "searches_skipped": self.searches_skipped,
            "problems": self.problems,
        })
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let (r, o) = (&self.recent, &self.old);
        let rows: [(&str, u64, u64); 7] = [
            ("checked", r.checked, o.checked),
            ("found by ID, equal", r.found, o.found),
            ("missing by ID", r.missing, o.missing),
            ("read errors", r.errors, o.errors),
            ("mismatched", r.mismatched, o.mismatched),
            ("found by search", r.search_found, o.search_found),
            ("not found by search", r.search_missing, o.search_missing),
        ];
        let mut out = format!("{:<34} {:>10} {:>10}\n", "", "recent", "old");
        for (label, recent, old) in rows {
            out.push_str(&format!("{label:<34} {recent:>10} {old:>10}\n"));
        }
        let percent = |t: &Tally| match t.checked {
            0 => "-".to_string(),
            n => format!("{:.2}%", 100.0 * t.found as f64 / n as f64),
        };
        out.push_str(&format!("{:<34} {:>10} {:>10}\n", "found", percent(r), percent(o)));
        out.push_str(&format!("{:<34} {}\n", "read-after-write p50/p90/p99/max", self.read_after_write.summary()));
        out.push_str(&format!("{:<34} {}\n", "search-after-write p50/p90/p99/max", self.search_after_write.summary()));
        out.push_str(&format!("{:<34} {}\n", "read by ID p50/p90/p99/max", self.read_latency.summary()));
        out.push_str(&format!("{:<34} {}\n", "search p50/p90/p99/max", self.search_latency.summary()));
        if self.searches_skipped > 0 {
            out.push_str(&format!("{:<34} {}\n", "searches skipped (slots busy)", self.searches_skipped));
        }
        for problem in &self.problems {
            out.push_str(&format!("  {problem}\n"));
        }
        out
    }
}

/// How one read ended.
enum Read<T> {
    Found(T),
    Missing,
    Error(String),
}

/// Reads traces back and keeps the score.
pub struct Checker {
    config: CheckerConfig,
    http: reqwest::Client,
    report: Mutex<CheckReport>,
}

impl Checker {
    /// A checker with its own HTTP client.
    pub fn new(config: CheckerConfig) -> anyhow::Result<Arc<Checker>> {
        if config.concurrency == 0 || config.check_every == 0 || config.search_every == 0 || config.search_batch == 0 {
            anyhow::bail!("the checker needs at least one check in flight, and every sampling step ≥ 1");
        }
        reqwest::Url::parse(&config.api).with_context(|| format!("bad API URL {:?}", config.api))?;
        let http = reqwest::Client::builder().no_proxy().timeout(config.request_timeout).build()?;
        Ok(Arc::new(Checker { config, http, report: Mutex::new(CheckReport::default()) }))
    }

    /// The score so far.
    pub fn report(&self) -> CheckReport {
        self.report.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Starts the score again.
    pub fn reset(&self) {
        *self.report.lock().unwrap_or_else(PoisonError::into_inner) = CheckReport::default();
    }

    fn update(&self, change: impl FnOnce(&mut CheckReport)) {
        change(&mut self.report.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn problem(&self, text: String) {
        self.update(|report| {
            if report.problems.len() < PROBLEM_SAMPLES {
                report.problems.push(text);
            }
        });
    }

    /// Checks each trace `log` gains as soon as it is acknowledged, and random old ones, until
    /// `until` fires; then checks what was logged meanwhile and waits for every check to end.
    ///
    /// Reads by ID have `concurrency` slots; sampled searches have a quarter of that apart, so
    /// slow searches do not delay reads. A sampled search that finds every search slot busy is
    /// skipped and counted in [`CheckReport::searches_skipped`].
    pub async fn follow(self: &Arc<Self>, log: &WriteLog, until: &CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let search_permits = Arc::new(Semaphore::new((self.config.concurrency / 4).max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut rng = StdRng::seed_from_u64(now_unix_nanos());
        let old_period = (self.config.old_checks_per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / self.config.old_checks_per_second));
        let mut next_old = Instant::now() + old_period.unwrap_or_default();
        let mut cursor = 0;
        loop {
            let last_round = until.is_cancelled();
            let mut due = Vec::new();
            for entry in log.since(cursor) {
                cursor += 1;
                if entry.index % self.config.check_every == 0 {
                    due.push((entry, true));
                }
            }
            if !last_round
                && let Some(period) = old_period
                && Instant::now() >= next_old
            {
                next_old = Instant::now() + period;
                let cutoff = now_unix_nanos().saturating_sub(self.config.recent_age.as_nanos() as u64);
                let old = log.acked_before(cutoff);
                if old > 0
                    && let Some(entry) = log.get(rng.random_range(0..old))
                {
                    due.push((entry, false));
                }
            }
            for (entry, after_write) in due {
                if self.config.search && entry.index % self.config.search_every == 0 {
                    match Arc::clone(&search_permits).try_acquire_owned() {
                        Ok(permit) => {
                            let checker = Arc::clone(self);
                            tasks.spawn(async move {
                                checker.check_search(&[entry], after_write).await;
                                drop(permit);
                            });
                        }
                        Err(_) => self.update(|r| r.searches_skipped += 1),
                    }
                }
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                let checker = Arc::clone(self);
                tasks.spawn(async move {
                    checker.check_by_id(entry, after_write).await;
                    drop(permit);
                });
            }
            if last_round {
                break;
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                () = log.appended() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = until.cancelled() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Reads every entry back by ID, `concurrency` at a time, then (when searching) looks for
    /// all of them by search, `search_batch` consecutive traces per search and a quarter as many
    /// searches at a time; until done or `stop` fires.
    pub async fn check_all(self: &Arc<Self>, entries: Vec<Written>, stop: &CancellationToken) {
        let batches = if self.config.search { search_batches(&entries, self.config.search_batch) } else { Vec::new() };
        let reads = entries.into_iter().map(Job::ById);
        self.run_jobs(reads, self.config.concurrency, stop).await;
        let searches = batches.into_iter().map(Job::Search);
        self.run_jobs(searches, (self.config.concurrency / 4).max(1), stop).await;
    }

    async fn run_jobs(self: &Arc<Self>, jobs: impl Iterator<Item = Job>, slots: usize, stop: &CancellationToken) {
        let permits = Arc::new(Semaphore::new(slots));
        let mut tasks = tokio::task::JoinSet::new();
        for job in jobs {
            let permit = tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => permit,
                () = stop.cancelled() => break,
            };
            let Ok(permit) = permit else {
                break;
            };
            let checker = Arc::clone(self);
            tasks.spawn(async move {
                match job {
                    Job::ById(entry) => checker.check_by_id(entry, false).await,
                    Job::Search(batch) => checker.check_search(&batch, false).await,
                }
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Whether `entry` counts as recent now.
    fn class(&self, entry: &Written) -> (bool, &'static str) {
        let age = Duration::from_nanos(now_unix_nanos().saturating_sub(entry.acked_unix_nano));
        let recent = age < self.config.recent_age;
        (recent, if recent { "recent" } else { "old" })
    }

    fn tally(&self, recent: bool, change: impl FnOnce(&mut Tally)) {
        self.update(|report| change(if recent { &mut report.recent } else { &mut report.old }));
    }

    /// Reads one trace back by ID, compares it and scores it; `after_write`: it was just
    /// acknowledged, so the wait until it is readable is the read-after-write latency.
    async fn check_by_id(&self, entry: Written, after_write: bool) {
        let (recent, class) = self.class(&entry);
        let (id, expected) = hotrod::trace(entry.seed, entry.index, entry.start_unix_nano);
        let hex_id = hex::encode(id);
        let label = format!("trace {hex_id} (seed {}, index {}, {class})", entry.seed, entry.index);
        let deadline = Instant::now() + self.config.read_timeout;
        let outcome = match self.poll(deadline, || self.read_by_id(&hex_id)).await {
            Read::Found(batches) => {
                if after_write {
                    let waited = Duration::from_nanos(now_unix_nanos().saturating_sub(entry.acked_unix_nano));
                    self.update(|r| r.read_after_write.record(waited));
                }
                match first_difference(&expected, &batches) {
                    None => Tally { found: 1, ..Tally::default() },
                    Some(difference) => {
                        self.problem(format!("{label}: mismatched: {difference}"));
                        Tally { mismatched: 1, ..Tally::default() }
                    }
                }
            }
            Read::Missing => {
                self.problem(format!("{label}: missing by ID after {:?}", self.config.read_timeout));
                Tally { missing: 1, ..Tally::default() }
            }
            Read::Error(message) => {
                self.problem(format!("{label}: cannot read by ID: {message}"));
                Tally { errors: 1, ..Tally::default() }
            }
        };
        self.tally(recent, |tally| {
            tally.checked += 1;
            tally.found += outcome.found;
            tally.missing += outcome.missing;
            tally.errors += outcome.errors;
            tally.mismatched += outcome.mismatched;
        });
    }

    /// Searches until every trace of `batch` (one seed, close indices) was in an answer or the
    /// read timeout passes, and scores each.
    async fn check_search(&self, batch: &[Written], after_write: bool) {
        let mut waiting: HashMap<String, &Written> =
            batch.iter().map(|w| (hex::encode(w.trace_id()).trim_start_matches('0').to_string(), w)).collect();
        let deadline = Instant::now() + self.config.read_timeout;
        let mut last_error = None;
        while !waiting.is_empty() {
            match self.search(batch).await {
                Ok(found) => {
                    last_error = None;
                    for id in found {
                        if let Some(entry) = waiting.remove(&id) {
                            let (recent, _) = self.class(entry);
                            let waited = Duration::from_nanos(now_unix_nanos().saturating_sub(entry.acked_unix_nano));
                            self.update(|r| {
                                if after_write {
                                    r.search_after_write.record(waited);
                                }
                            });
                            self.tally(recent, |tally| tally.search_found += 1);
                        }
                    }
                }
                Err(message) => last_error = Some(message),
            }
            if waiting.is_empty() || Instant::now() + self.config.poll_interval > deadline {
                break;
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
        if waiting.is_empty() {
            return;
        }
        let mut missing: Vec<(&String, &&Written)> = waiting.iter().collect();
        missing.sort_by_key(|(_, entry)| entry.index);
        let named: Vec<String> = missing
            .iter()
            .take(3)
            .map(|(hex_id, entry)| format!("{hex_id} (seed {}, index {})", entry.seed, entry.index))
            .collect();
        let more = if missing.len() > named.len() {
            format!(" and {} more", missing.len() - named.len())
        } else {
            String::new()
        };
        let why = match &last_error {
            Some(message) => format!("search failed: {message}"),
            None => format!("not found by search after {:?}", self.config.read_timeout),
        };
        self.problem(format!("trace {}{more}: {why}", named.join(", ")));
        for (_, entry) in missing {
            let (recent, _) = self.class(entry);
            self.tally(recent, |tally| tally.search_missing += 1);
        }
    }

    /// Tries `read` until it finds something or `deadline` passes; the last outcome.
    async fn poll<T, F, Fut>(&self, deadline: Instant, mut read: F) -> Read<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Read<T>>,
    {
        loop {
            let outcome = read().await;
            if matches!(outcome, Read::Found(_)) || Instant::now() + self.config.poll_interval > deadline {
                return outcome;
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    fn get(&self, url: reqwest::Url) -> reqwest::RequestBuilder {
        let builder = self.http.get(url).header("accept", "application/protobuf");
        match &self.config.tenant {
            Some(tenant) => builder.header("x-scope-orgid", tenant),
            None => builder,
        }
    }

    /// `GET /api/v2/traces/{id}`: the trace's batches, or why not.
    async fn read_by_id(&self, hex_id: &str) -> Read<Vec<ResourceSpans>> {
        let url =
            match reqwest::Url::parse(&format!("{}/api/v2/traces/{hex_id}", self.config.api.trim_end_matches('/'))) {
                Ok(url) => url,
                Err(err) => return Read::Error(format!("bad URL: {err}")),
            };
        let sent = Instant::now();
        let answer = self.get(url).send().await;
        let answer = match answer {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|body| (status, body))
            }
            Err(err) => Err(err),
        };
        self.update(|r| r.read_latency.record(sent.elapsed()));
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(err) => return Read::Error(error_chain(&err)),
        };
        match status.as_u16() {
            200 => match TraceByIdResponse::decode(body.as_ref()) {
                Ok(answer) if answer.status == PartialStatus::Partial as i32 => {
                    Read::Error(format!("partial answer: {}", answer.message))
                }
                Ok(answer) => Read::Found(answer.trace.unwrap_or_default().resource_spans),
                Err(err) => Read::Error(format!("undecodable TraceByIDResponse: {err}")),
            },
            404 => Read::Missing,
            _ => Read::Error(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
            )),
        }
    }

    /// `GET /api/search` for the traces of `batch`, in a window around their starts: the IDs in
    /// the answer, printed as search results print them (lowercase hex without leading zeros).
    async fn search(&self, batch: &[Written]) -> Result<Vec<String>, String> {
        let (Some(first), Some(last)) = (batch.iter().map(|w| w.index).min(), batch.iter().map(|w| w.index).max())
        else {
            return Ok(Vec::new());
        };
        let key = hotrod::TRACE_INDEX_KEY;
        let query = if first == last {
            format!("{{ span.{key} = {first} }}")
        } else {
            format!("{{ span.{key} >= {first} && span.{key} <= {last} }}")
        };
        let window = self.config.search_window.as_secs().max(1);
        let earliest = batch.iter().map(|w| w.start_unix_nano).min().unwrap_or(0) / 1_000_000_000;
        let latest = batch.iter().map(|w| w.start_unix_nano).max().unwrap_or(0) / 1_000_000_000;
        // Room for every index in the range, and for other runs' traces with the same indices.
        let limit = 2 * (last - first + 1) + 20;
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/search", self.config.api.trim_end_matches('/')),
            [
                ("q", query),
                ("start", earliest.saturating_sub(window).to_string()),
                ("end", (latest + window + 1).to_string()),
                ("limit", limit.to_string()),
            ],
        )
        .map_err(|err| format!("bad URL: {err}"))?;
        let sent = Instant::now();
        let answer = match self.get(url).send().await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|body| (status, body))
            }
            Err(err) => Err(err),
        };
        self.update(|r| r.search_latency.record(sent.elapsed()));
        let (status, body) = answer.map_err(|err| error_chain(&err))?;
        if status.as_u16() != 200 {
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(format!("HTTP {status}: {text}"));
        }
        let answer =
            SearchResponse::decode(body.as_ref()).map_err(|err| format!("undecodable SearchResponse: {err}"))?;
        Ok(answer.traces.into_iter().map(|t| t.trace_id.trim_start_matches('0').to_ascii_lowercase()).collect())
    }
}

/// An error with its causes ("error sending request: … operation timed out").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Work for [`Checker::check_all`].
enum Job {
    ById(Written),
    Search(Vec<Written>),
}

/// Groups entries for searching: one seed per group, at most `size` traces whose indices lie
/// within `4 × size` of each other, so a range query stays narrow.
fn search_batches(entries: &[Written], size: usize) -> Vec<Vec<Written>> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|w| (w.seed, w.index));
    let mut batches: Vec<Vec<Written>> = Vec::new();
    for entry in sorted {
        match batches.last_mut() {
            Some(batch)
                if batch.len() < size
                    && batch.first().is_some_and(|first| {
                        first.seed == entry.seed && entry.index - first.index < 4 * size as u64
                    }) =>
            {
                batch.push(entry);
            }
            _ => batches.push(vec![entry]),
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(seed: u64, index: u64) -> Written {
        Written { seed, index, start_unix_nano: 0, acked_unix_nano: 0 }
    }

    #[test]
    fn search_batches_keep_to_one_seed_and_a_narrow_range() {
        let mut entries: Vec<Written> = (0..45).map(|n| written(1, n)).collect();
        entries.push(written(1, 500));
        entries.push(written(2, 3));
        entries.reverse();
        let batches = search_batches(&entries, 20);
        let shapes: Vec<(u64, u64, usize)> = batches.iter().map(|b| (b[0].seed, b[0].index, b.len())).collect();
        assert_eq!(shapes, [(1, 0, 20), (1, 20, 20), (1, 40, 5), (1, 500, 1), (2, 3, 1)]);
    }
}
