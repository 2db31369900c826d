//! Membership and health: which members the ring has (the configured list, with `dns+`
//! entries resolved) and which of them answer their health probe.
//!
//! There is no consensus and no gossip. Every process reads the same list and derives the
//! same tokens, and decides health for itself with a probe the caller supplies (a gRPC health
//! check in practice; the ring knows nothing of gRPC).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use futures::future::{BoxFuture, join_all};
use strand_common::CancellationToken;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::{MemberEntry, RingConfig};
use crate::ring::{Member, Ring};

/// Asks a member's client whether the member is alive. Bounded by the ring with
/// `health_check_timeout`; a probe that times out counts as a failure.
pub type Probe<C> = Arc<dyn Fn(C) -> BoxFuture<'static, bool> + Send + Sync>;

/// Makes the client of a member from its address (without `dns+`). Must not block or wait
/// for the member: members that are down still need a client, to be probed until they return.
pub type Connect<C> = Arc<dyn Fn(&str) -> C + Send + Sync>;

/// Resolves `host:port`; `tokio::net::lookup_host` outside tests.
pub(crate) type Resolve = Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// A resolver that does not answer must not hold up health checks for long.
const DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps the current [`Ring`] up to date with membership and health.
pub struct RingWatcher<C> {
    config: RingConfig,
    connect: Connect<C>,
    probe: Probe<C>,
    current: RwLock<Arc<Ring<C>>>,
    /// Also serialises refreshes, so two never probe or rebuild at once.
    discovery: tokio::sync::Mutex<Discovery>,
}

impl<C: Clone + Send + Sync + 'static> RingWatcher<C> {
    /// Resolves the members, makes their clients, and probes them once before returning, so
    /// the first ring already knows who is alive.
    pub async fn start(config: &RingConfig, connect: Connect<C>, probe: Probe<C>) -> Arc<RingWatcher<C>> {
        let resolve: Resolve = Arc::new(|address: String| {
            Box::pin(async move { tokio::net::lookup_host(address).await.map(Iterator::collect) })
        });
        Self::start_with_resolver(config, connect, probe, resolve).await
    }

    pub(crate) async fn start_with_resolver(
        config: &RingConfig,
        connect: Connect<C>,
        probe: Probe<C>,
        resolve: Resolve,
    ) -> Arc<RingWatcher<C>> {
        let mut discovery = Discovery::new(&config.members, resolve);
        discovery.resolve(true).await;
        let members: Vec<Arc<Member<C>>> =
            discovery.member_ids().into_iter().map(|id| Arc::new(Member::new(id.as_str(), connect(&id)))).collect();
        let watcher = RingWatcher {
            config: config.clone(),
            connect,
            probe,
            current: RwLock::new(Arc::new(Ring::new(Vec::new(), config.tokens_per_member))),
            discovery: tokio::sync::Mutex::new(discovery),
        };
        watcher.probe_all(&members).await;
        let ring = Ring::new(members, config.tokens_per_member);
        tracing::info!(members = ring.len(), healthy = ring.healthy_members().len(), "ring started");
        *watcher.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        Arc::new(watcher)
    }

    /// The current ring snapshot.
    pub fn ring(&self) -> Arc<Ring<C>> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Marks a member unhealthy until its next successful probe. Visible at once to everyone
    /// holding the current snapshot: health is shared, not copied.
    pub fn mark_unhealthy(&self, id: &str) {
        if let Some(member) = self.ring().member(id)
            && member.set_healthy(false)
        {
            tracing::warn!(member = id, "ring member marked unhealthy");
        }
    }

    /// Re-resolves `dns+` entries when `discovery_period` has passed (and those that found
    /// nothing, every time), probes every member, and publishes a new snapshot if the member
    /// set changed. Members that stay keep their client and their health flag.
    pub async fn refresh(&self) {
        let mut discovery = self.discovery.lock().await;
        let due = discovery.last_full.is_none_or(|last| last.elapsed() >= self.config.discovery_period.get());
        discovery.resolve(due).await;
        let ids = discovery.member_ids();
        let current = self.ring();
        let unchanged = ids.len() == current.len() && ids.iter().zip(current.members()).all(|(id, m)| id == m.id());
        if unchanged {
            self.probe_all(current.members()).await;
            return;
        }
        let members: Vec<Arc<Member<C>>> = ids
            .iter()
            .map(|id| match current.member(id) {
                Some(member) => Arc::clone(member),
                None => Arc::new(Member::new(id.as_str(), (self.connect)(id))),
            })
            .collect();
        self.probe_all(&members).await;
        let joined: Vec<&str> = ids.iter().filter(|id| current.member(id).is_none()).map(String::as_str).collect();
        let left: Vec<&str> = current
            .members()
            .iter()
            .map(|m| m.id())
            .filter(|id| ids.binary_search_by(|x| x.as_str().cmp(id)).is_err())
            .collect();
        tracing::info!(?joined, ?left, members = members.len(), "ring membership changed");
        let ring = Arc::new(Ring::new(members, self.config.tokens_per_member));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = ring;
    }

    /// Refreshes every `health_check_period` until `cancel`.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        // A zero period (only possible without validate) would spin.
        let period = self.config.health_check_period.get().max(std::time::Duration::from_millis(10));
        // start() already ran the first round.
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                () = async {
                    ticks.tick().await;
                    self.refresh().await;
                } => {}
            }
        }
    }

    /// Probes the members concurrently and logs every change of health.
    async fn probe_all(&self, members: &[Arc<Member<C>>]) {
        let timeout = self.config.health_check_timeout.get();
        let probes = members.iter().map(|member| {
            let probe = (self.probe)(member.client().clone());
            async move { tokio::time::timeout(timeout, probe).await.unwrap_or(false) }
        });
        let results = join_all(probes).await;
        for (member, passed) in members.iter().zip(results) {
            let was = member.record_probe(passed, self.config.health_check_failures);
            let healthy = member.is_healthy();
            if was && !healthy {
                tracing::warn!(member = member.id(), "ring member failed its health check");
            } else if !was && healthy {
                tracing::info!(member = member.id(), "ring member is healthy again");
            }
        }
    }
}

impl<C> std::fmt::Debug for RingWatcher<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingWatcher").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The configured entries and what the `dns+` ones resolved to last.
struct Discovery {
    statics: Vec<String>,
    /// `(host:port to resolve, member IDs it resolved to last)`.
    dns: Vec<(String, Vec<String>)>,
    resolve: Resolve,
    /// When every `dns+` entry was last resolved.
    last_full: Option<Instant>,
}

impl Discovery {
    fn new(entries: &[String], resolve: Resolve) -> Discovery {
        let mut statics = Vec::new();
        let mut dns = Vec::new();
        for entry in entries {
            match MemberEntry::parse(entry) {
                Ok(MemberEntry::Static(address)) => statics.push(address.to_string()),
                Ok(MemberEntry::Dns(address)) => dns.push((address.to_string(), Vec::new())),
                // validate() refuses these; a watcher started without it still runs.
                Err(error) => tracing::warn!(entry, %error, "ignoring ring member entry"),
            }
        }
        Discovery { statics, dns, resolve, last_full: None }
    }

    /// Resolves every `dns+` entry if `all`, else only those that have no members yet.
    async fn resolve(&mut self, all: bool) {
        let lookups =
            self.dns.iter().enumerate().filter(|(_, (_, ids))| all || ids.is_empty()).map(|(i, (address, _))| {
                let lookup = (self.resolve)(address.clone());
                async move { (i, tokio::time::timeout(DNS_TIMEOUT, lookup).await) }
            });
        for (i, result) in join_all(lookups).await {
            let result = match result {
                Ok(Ok(addresses)) => Ok(addresses),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no answer within {DNS_TIMEOUT:?}")),
            };
            self.update(i, result);
        }
        if all {
            self.last_full = Some(Instant::now());
        }
    }

    /// Takes a resolution of entry `i`. Failures and empty answers keep the previous members:
    /// a DNS blip must not empty the ring.
    fn update(&mut self, i: usize, result: Result<Vec<SocketAddr>, String>) {
        let Some((address, ids)) = self.dns.get_mut(i) else { return };
        match result {
            Ok(addresses) if !addresses.is_empty() => {
                let mut resolved: Vec<String> = addresses.iter().map(SocketAddr::to_string).collect();
                resolved.sort_unstable();
                resolved.dedup();
                *ids = resolved;
            }
            Ok(_) => tracing::warn!(address = %address, kept = ids.len(), "ring member name resolved to nothing"),
            Err(error) => {
                tracing::warn!(address = %address, %error, kept = ids.len(), "cannot resolve ring member name")
            }
        }
    }

    /// Every member ID, sorted and distinct (as [`Ring`] orders its members).
    fn member_ids(&self) -> Vec<String> {
        let ids: BTreeSet<&String> = self.statics.iter().chain(self.dns.iter().flat_map(|(_, ids)| ids)).collect();
        ids.into_iter().cloned().collect()
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
