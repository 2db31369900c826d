//! A strand cluster on loopback: ingesters and distributors, each its own release-binary
//! process with the benchmarks' config (see `server`), sharing one local block folder that
//! stands in for the bucket. Ingest only: no querier, query-frontend or compactor.
//!
//! Not a module of `common` (whose `mod.rs` every benchmark shares): a benchmark that wants it
//! declares `#[path = "common/cluster.rs"] mod cluster;` next to `mod common;`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::server::{Options, Server};

/// How long an ingester may take to be ready (an empty WAL replays at once).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long distributors may take to see every ingester healthy.
const RING_TIMEOUT: Duration = Duration::from_secs(30);

/// How many of each role, and the replication factor.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub distributors: usize,
    pub ingesters: usize,
    pub replication_factor: usize,
}

/// The running processes of a cluster.
pub struct Cluster {
    pub distributors: Vec<Server>,
    pub ingesters: Vec<Server>,
    /// The block folder every process shares.
    pub blocks: PathBuf,
}

impl Cluster {
    /// Starts the ingesters, then the distributors with the ingesters' internal gRPC addresses
    /// as their ring, each in its own folder under `root`, and waits until every distributor
    /// sees every ingester healthy, so the first pushes do not race the health checks.
    pub async fn start(root: &Path, shape: Shape) -> anyhow::Result<Cluster> {
        let blocks = root.join("blocks");
        std::fs::create_dir_all(&blocks)?;
        let mut ingesters = Vec::with_capacity(shape.ingesters);
        for i in 1..=shape.ingesters {
            let config = role_config("ingester", &blocks, None)?;
            ingesters.push(Server::start_config(&root.join(format!("ingester-{i}")), &config, READY_TIMEOUT).await?);
        }
        let members: Vec<String> = ingesters.iter().map(|s| s.internal_grpc.clone()).collect();
        let mut distributors = Vec::with_capacity(shape.distributors);
        for i in 1..=shape.distributors {
            let config = role_config("distributor", &blocks, Some((shape.replication_factor, &members)))?;
            distributors
                .push(Server::start_config(&root.join(format!("distributor-{i}")), &config, READY_TIMEOUT).await?);
        }
        let cluster = Cluster { distributors, ingesters, blocks };
        cluster.wait_for_healthy_ingesters().await?;
        Ok(cluster)
    }

    /// Every process with its role, distributors first.
    pub fn processes(&self) -> impl Iterator<Item = (&'static str, &Server)> {
        let distributors = self.distributors.iter().map(|s| ("distributor", s));
        distributors.chain(self.ingesters.iter().map(|s| ("ingester", s)))
    }

    async fn wait_for_healthy_ingesters(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + RING_TIMEOUT;
        let want = self.ingesters.len() as f64;
        for distributor in &self.distributors {
            loop {
                let metrics = distributor.metrics().await?;
                let healthy = metrics
                    .iter()
                    .find(|(series, _)| {
                        series.starts_with("strand_ring_members{")
                            && series.contains(r#"ring="ingester""#)
                            && series.contains(r#"state="healthy""#)
                    })
                    .map(|(_, value)| *value);
                if healthy == Some(want) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "a distributor saw {healthy:?} healthy ingesters, not {want}, after {RING_TIMEOUT:?}; log:\n{}",
                        distributor.log_tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Stops the distributors, then the ingesters (each flushes on SIGTERM), in reverse start order.
    pub async fn stop(self) -> anyhow::Result<()> {
        for server in self.distributors.into_iter().rev().chain(self.ingesters.into_iter().rev()) {
            server.stop().await?;
        }
        Ok(())
    }
}

/// The benchmarks' config ([`Options::config`], so fsync, overrides and receivers are the same
/// as the single binary's) for one role: its target, internal gRPC on loopback, the shared block
/// folder, and for a distributor the ingesters' ring.
fn role_config(target: &str, blocks: &Path, ring: Option<(usize, &[String])>) -> anyhow::Result<String> {
    let mut config = Options::default().config();
    let blocks = format!("local: {{ path: {:?} }}", blocks.display().to_string());
    config = replace_once(&config, "target: all", &format!("target: {target}"))?;
    config = replace_once(&config, "local: { path: ./blocks }", &blocks)?;
    config = replace_once(
        &config,
        "  grpc_listen_port: {internal_grpc}",
        "  grpc_listen_address: 127.0.0.1\n  grpc_listen_port: {internal_grpc}",
    )?;
    if let Some((replication_factor, members)) = ring {
        config.push_str(&format!(
            "ingester:\n  lifecycler:\n    ring:\n      replication_factor: {replication_factor}\n      members: {members:?}\n"
        ));
    }
    Ok(config)
}

/// `text` with its one `from` replaced, so a change to the base config cannot silently leave a
/// role misconfigured.
fn replace_once(text: &str, from: &str, to: &str) -> anyhow::Result<String> {
    let found = text.matches(from).count();
    anyhow::ensure!(found == 1, "expected {from:?} once in benches/common/server.rs's CONFIG, found it {found} times");
    Ok(text.replacen(from, to, 1))
}
