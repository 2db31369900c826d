//! A strand cluster on loopback: every role its own `strand` process, all sharing one bucket on
//! the test S3 server, wired together through their rings.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{ClusterWiring, Ports, StrandConfig, StrandProcess};

/// How many of each role, and the replication factor.
#[derive(Clone, Debug)]
pub struct Shape {
    pub distributors: usize,
    pub ingesters: usize,
    pub replication_factor: usize,
    /// The `compactor` section, when the cluster has a compactor.
    pub compactor: Option<String>,
}

/// The running processes of a cluster.
pub struct Cluster {
    pub distributors: Vec<StrandProcess>,
    pub ingesters: Vec<StrandProcess>,
    pub querier: StrandProcess,
    pub frontend: StrandProcess,
    pub compactor: Option<StrandProcess>,
}

impl Cluster {
    /// Starts the cluster: ingesters first, so the others find them healthy, then the querier,
    /// the frontend, the distributors and the compactor. `base` sets storage and timings.
    pub async fn start(base: StrandConfig, shape: Shape) -> Cluster {
        let mut used = HashSet::new();
        let ingester_ports: Vec<Ports> = (0..shape.ingesters).map(|_| distinct_ports(&mut used)).collect();
        let querier_ports = distinct_ports(&mut used);
        let wiring = ClusterWiring {
            ingesters: ingester_ports.iter().map(|p| format!("127.0.0.1:{}", p.grpc)).collect(),
            replication_factor: shape.replication_factor,
            queriers: vec![format!("127.0.0.1:{}", querier_ports.grpc)],
            extra_yaml: String::new(),
        };
        let role = |target: &'static str| StrandConfig {
            target,
            cluster: Some(wiring.clone()),
            // Readers notice flushed and compacted blocks quickly.
            blocklist_poll: Some("1s"),
            ..base.clone()
        };

        let ingesters = futures::future::join_all(
            ingester_ports.into_iter().map(|ports| StrandProcess::start_on(role("ingester"), ports, "-config.file")),
        )
        .await;
        let querier = StrandProcess::start_on(role("querier"), querier_ports, "-config.file").await;
        let frontend = StrandProcess::start_on(role("query-frontend"), distinct_ports(&mut used), "-config.file").await;
        let distributor_ports: Vec<Ports> = (0..shape.distributors).map(|_| distinct_ports(&mut used)).collect();
        let distributors = futures::future::join_all(
            distributor_ports
                .into_iter()
                .map(|ports| StrandProcess::start_on(role("distributor"), ports, "-config.file")),
        )
        .await;
        let compactor = match shape.compactor {
            Some(section) => {
                let mut config = role("compactor");
                if let Some(wiring) = config.cluster.as_mut() {
                    wiring.extra_yaml = section;
                }
                Some(StrandProcess::start_on(config, distinct_ports(&mut used), "-config.file").await)
            }
            None => None,
        };
        Cluster { distributors, ingesters, querier, frontend, compactor }
    }

    /// Waits until every distributor's ring sees `healthy` ingesters serving, so a test does not
    /// race the health checks after starting or stopping one.
    pub async fn wait_for_healthy_ingesters(&self, healthy: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for distributor in &self.distributors {
            loop {
                let metrics = distributor.metrics().await;
                let seen =
                    super::metric_value(&metrics, "strand_ring_members", &[("ring", "ingester"), ("state", "healthy")]);
                if seen == Some(healthy as f64) {
                    break;
                }
                assert!(Instant::now() < deadline, "distributor saw {seen:?} healthy ingesters, not {healthy}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Every process's log, for failure messages.
    pub fn logs(&self) -> String {
        let all = self.ingesters.iter().chain(&self.distributors).chain([&self.querier, &self.frontend]);
        all.chain(self.compactor.as_ref()).map(|p| format!("===== {}\n{}", p.config.target, p.log())).collect()
    }
}

/// Free ports for one process, none of them handed to another process of the cluster: the
/// kernel may give a just-released ephemeral port out again, and a cluster picks dozens.
fn distinct_ports(used: &mut HashSet<u16>) -> Ports {
    loop {
        let ports = Ports::pick();
        let all = [ports.http, ports.otlp_grpc, ports.otlp_http, ports.grpc];
        let distinct: HashSet<u16> = all.into_iter().collect();
        if distinct.len() == all.len() && distinct.is_disjoint(used) {
            used.extend(all);
            return ports;
        }
    }
}
