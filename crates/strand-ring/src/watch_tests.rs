use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use strand_common::Duration;

use super::*;

/// Members' health as the fake probe reports it, by member ID; absent means healthy.
#[derive(Clone, Default)]
struct Health(Arc<Mutex<HashMap<String, bool>>>);

impl Health {
    fn set(&self, id: &str, healthy: bool) {
        self.0.lock().unwrap().insert(id.to_string(), healthy);
    }

    /// The client of a fake member is its ID; probing looks the ID up.
    fn probe(&self) -> Probe<String> {
        let health = self.clone();
        Arc::new(move |id: String| {
            let healthy = health.0.lock().unwrap().get(&id).copied().unwrap_or(true);
            Box::pin(async move { healthy })
        })
    }
}

fn counting_connect(connects: &Arc<AtomicUsize>) -> Connect<String> {
    let connects = Arc::clone(connects);
    Arc::new(move |address: &str| {
        connects.fetch_add(1, Ordering::Relaxed);
        address.to_string()
    })
}

fn config(members: &[&str]) -> RingConfig {
    RingConfig { members: members.iter().map(|m| m.to_string()).collect(), ..RingConfig::default() }
}

fn health_of(ring: &Ring<String>) -> Vec<(&str, bool)> {
    ring.members().iter().map(|m| (m.id(), m.is_healthy())).collect()
}

#[tokio::test]
async fn static_members_follow_their_probe() {
    let health = Health::default();
    health.set("b:9095", false);
    let connects = Arc::new(AtomicUsize::new(0));
    let watcher =
        RingWatcher::start(&config(&["c:9095", "a:9095", "b:9095"]), counting_connect(&connects), health.probe()).await;
    let ring = watcher.ring();
    assert_eq!(health_of(&ring), [("a:9095", true), ("b:9095", false), ("c:9095", true)]);
    assert_eq!(ring.members()[0].client(), "a:9095");

    // One passed probe brings a member back; a healthy one leaves only after
    // `health_check_failures` (3) failed probes in a row.
    health.set("b:9095", true);
    health.set("a:9095", false);
    watcher.refresh().await;
    assert!(Arc::ptr_eq(&ring, &watcher.ring()), "same members must keep the same snapshot");
    assert_eq!(health_of(&ring), [("a:9095", true), ("b:9095", true), ("c:9095", true)]);
    watcher.refresh().await;
    assert!(ring.member("a:9095").unwrap().is_healthy(), "two failed probes in a row are not enough");
    watcher.refresh().await;
    assert_eq!(health_of(&ring), [("a:9095", false), ("b:9095", true), ("c:9095", true)]);
    assert_eq!(connects.load(Ordering::Relaxed), 3, "members that stay must not reconnect");

    // A failed call seen by anyone is visible at once to holders of the snapshot…
    watcher.mark_unhealthy("c:9095");
    assert!(!ring.member("c:9095").unwrap().is_healthy());
    watcher.mark_unhealthy("not-a-member:1");
    // …until the next probe says otherwise.
    watcher.refresh().await;
    assert!(ring.member("c:9095").unwrap().is_healthy());
    // A member a failed call took out stays out while its probes fail, however few.
    health.set("c:9095", false);
    watcher.mark_unhealthy("c:9095");
    watcher.refresh().await;
    assert!(!ring.member("c:9095").unwrap().is_healthy());
}

#[tokio::test]
async fn a_probe_that_does_not_answer_in_time_counts_as_down() {
    let config = RingConfig { health_check_timeout: Duration::millis(20), ..config(&["a:1"]) };
    let probe: Probe<String> = Arc::new(|_| Box::pin(futures::future::pending()));
    let watcher = RingWatcher::start(&config, counting_connect(&Arc::default()), probe).await;
    assert_eq!(health_of(&watcher.ring()), [("a:1", false)]);
}

#[tokio::test]
async fn dns_entries_resolve_to_one_member_per_address() {
    let watcher = RingWatcher::start(
        &config(&["dns+localhost:1234", "static:9095"]),
        counting_connect(&Arc::default()),
        Health::default().probe(),
    )
    .await;
    let ring = watcher.ring();
    let ids: Vec<&str> = ring.members().iter().map(|m| m.id()).collect();
    assert!(ids.len() >= 2, "{ids:?}");
    assert!(ids.contains(&"static:9095"));
    let resolved: Vec<&&str> = ids.iter().filter(|id| **id != "static:9095").collect();
    assert!(resolved.iter().all(|id| id.ends_with(":1234") && !id.contains("localhost")), "{ids:?}");
}

/// A resolver whose answer the test changes; `None` makes it fail.
#[derive(Clone, Default)]
struct FakeDns(Arc<Mutex<Option<Vec<SocketAddr>>>>);

impl FakeDns {
    fn answer(&self, addresses: Option<&[&str]>) {
        *self.0.lock().unwrap() = addresses.map(|a| a.iter().map(|s| s.parse().unwrap()).collect());
    }

    fn resolver(&self) -> Resolve {
        let dns = self.clone();
        Arc::new(move |_| {
            let answer = dns.0.lock().unwrap().clone();
            Box::pin(async move { answer.ok_or_else(|| std::io::Error::other("SERVFAIL")) })
        })
    }
}

#[tokio::test]
async fn membership_follows_dns_and_survives_resolution_failures() {
    let dns = FakeDns::default();
    dns.answer(Some(&["10.0.0.1:9095", "10.0.0.2:9095"]));
    let connects = Arc::new(AtomicUsize::new(0));
    // A zero period resolves on every refresh.
    let config = RingConfig { discovery_period: Duration::secs(0), ..config(&["dns+ingesters:9095"]) };
    let health = Health::default();
    let watcher =
        RingWatcher::start_with_resolver(&config, counting_connect(&connects), health.probe(), dns.resolver()).await;
    let first = watcher.ring();
    assert_eq!(health_of(&first), [("10.0.0.1:9095", true), ("10.0.0.2:9095", true)]);

    // One pod replaced: a new snapshot, the staying member keeps its client and flag.
    dns.answer(Some(&["10.0.0.3:9095", "10.0.0.2:9095"]));
    health.set("10.0.0.3:9095", false);
    watcher.refresh().await;
    let second = watcher.ring();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(health_of(&second), [("10.0.0.2:9095", true), ("10.0.0.3:9095", false)]);
    assert!(Arc::ptr_eq(first.member("10.0.0.2:9095").unwrap(), second.member("10.0.0.2:9095").unwrap()));
    assert_eq!(connects.load(Ordering::Relaxed), 3);

    // A DNS failure or an empty answer keeps the members found before.
    dns.answer(None);
    watcher.refresh().await;
    dns.answer(Some(&[]));
    watcher.refresh().await;
    assert!(Arc::ptr_eq(&second, &watcher.ring()));
}

#[tokio::test]
async fn an_entry_that_found_nothing_is_retried_before_the_discovery_period() {
    let dns = FakeDns::default();
    dns.answer(None);
    let config = RingConfig { discovery_period: Duration::secs(3600), ..config(&["dns+ingesters:9095"]) };
    let watcher = RingWatcher::start_with_resolver(
        &config,
        counting_connect(&Arc::default()),
        Health::default().probe(),
        dns.resolver(),
    )
    .await;
    assert!(watcher.ring().is_empty());
    dns.answer(Some(&["10.0.0.1:9095"]));
    watcher.refresh().await;
    assert_eq!(watcher.ring().len(), 1);
    // Found something: now it waits for the period.
    dns.answer(Some(&["10.0.0.1:9095", "10.0.0.2:9095"]));
    watcher.refresh().await;
    assert_eq!(watcher.ring().len(), 1);
}

#[tokio::test]
async fn run_refreshes_until_cancelled() {
    let health = Health::default();
    let config = RingConfig { health_check_period: Duration::millis(10), ..config(&["a:1"]) };
    let watcher = RingWatcher::start(&config, counting_connect(&Arc::default()), health.probe()).await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&watcher).run(cancel.clone()));
    health.set("a:1", false);
    let ring = watcher.ring();
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while ring.member("a:1").unwrap().is_healthy() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("run never probed");
    cancel.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(5), task).await.expect("run ignored cancel").unwrap();
}
