//! The real `strand` release binary, started in a scratch folder on free loopback ports, and
//! what the kernel says about it (CPU time, peak memory).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The config every benchmark runs with: one process (`target: all`) without its compactor,
/// blocks in a local folder, the WAL synced before each acknowledgement (fsync on, adaptive
/// group commit, the defaults), and everything else at its default except two per-tenant safety
/// valves, so the benchmark measures strand and not its throttles: the ingestion rate limit is
/// off, and live traces may hold 2 GiB instead of 512 MiB (with the default 5 s idle period and
/// 10 s sweep, 512 MiB refuses pushes within seconds at the rates a 2-core machine reaches; see
/// docs/benchmarks.md). `{…}` are filled in per run.
const CONFIG: &str = r#"# written by strand's benchmarks
target: all
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_port: {internal_grpc}
  log_level: info
distributor:
  receivers:
    otlp:
      protocols:
        grpc: { endpoint: "127.0.0.1:{otlp_grpc}" }
        http: { endpoint: "127.0.0.1:{otlp_http}" }
storage:
  trace:
    backend: local
    local: { path: ./blocks }
    wal:
      path: ./wal
      fsync: true
# Each benchmark measures one thing: no compaction merges blocks under it.
compactor:
  disabled: true
overrides:
  defaults:
    ingestion:
      rate_limit_bytes: 0
      max_live_traces_bytes: 2GiB
"#;

/// What a benchmark changes from [`CONFIG`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep every span in a live trace for this long: `ingester.trace_idle_period`,
    /// `trace_live_period` and `max_block_duration` are all set to it (and `max_block_bytes`
    /// raised to 1 TiB), so nothing moves to a head block or storage while a benchmark measures
    /// what live traces cost. `None`: the defaults (5 s idle, 30 s live, 30 min per block).
    pub hold_live_traces: Option<Duration>,
    /// `max_live_traces_bytes` instead of 2 GiB, in the config's size syntax (`8GiB`).
    pub max_live_traces_bytes: Option<String>,
    /// How long to wait for `/ready` (default 120 s); a large WAL replays before it.
    pub ready_timeout: Option<Duration>,
}

impl Options {
    /// The config with these changes applied, its `{…}` ports still to fill in (see
    /// [`Server::start_config`]).
    pub fn config(&self) -> String {
        let mut config = CONFIG.to_string();
        if let Some(limit) = &self.max_live_traces_bytes {
            config = config.replace("max_live_traces_bytes: 2GiB", &format!("max_live_traces_bytes: {limit}"));
        }
        if let Some(hold) = self.hold_live_traces {
            let hold = format!("{}s", hold.as_secs().max(1));
            config.push_str(&format!(
                "ingester:\n  trace_idle_period: {hold}\n  trace_live_period: {hold}\n  max_block_duration: {hold}\n  max_block_bytes: 1TiB\n"
            ));
        }
        config
    }
}

/// A running `strand`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`: Tempo's API, `/ready`, `/flush`.
    pub http: String,
    /// `http://127.0.0.1:<port>`: OTLP/gRPC.
    pub otlp_grpc: String,
    /// `http://127.0.0.1:<port>/v1/traces`: OTLP/HTTP.
    pub otlp_http: String,
    /// `127.0.0.1:<port>`: internal gRPC, as a ring member entry names it.
    pub internal_grpc: String,
    /// The scratch folder: config, `blocks/`, `wal/`, `strand.log`.
    pub data_dir: PathBuf,
    client: reqwest::Client,
}

impl Server {
    /// Starts the binary in `data_dir` (which may hold data from an earlier run: that is a
    /// restart) and waits until `/ready` answers 200.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Server> {
        Server::start_with(data_dir, &Options::default()).await
    }

    /// [`Server::start`] with some of the config changed.
    pub async fn start_with(data_dir: &Path, options: &Options) -> anyhow::Result<Server> {
        let ready_timeout = options.ready_timeout.unwrap_or(Duration::from_secs(120));
        Server::start_config(data_dir, &options.config(), ready_timeout).await
    }

    /// Starts the binary with `config`, a variant of [`Options::config`] (another target, ring
    /// members…), filling in its `{http}`, `{internal_grpc}`, `{otlp_grpc}` and `{otlp_http}`
    /// with free ports, and waits up to `ready_timeout` for `/ready`.
    pub async fn start_config(data_dir: &Path, config: &str, ready_timeout: Duration) -> anyhow::Result<Server> {
        let ports = free_ports(4)?;
        let config = config
            .replace("{http}", &ports[0].to_string())
            .replace("{internal_grpc}", &ports[1].to_string())
            .replace("{otlp_grpc}", &ports[2].to_string())
            .replace("{otlp_http}", &ports[3].to_string());
        std::fs::create_dir_all(data_dir)?;
        std::fs::write(data_dir.join("strand.yaml"), config)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data_dir.join("strand.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_strand"))
            .arg("-config.file=strand.yaml")
            .current_dir(data_dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start the strand binary")?;
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(330)).build()?;
        let mut server = Server {
            child,
            http: format!("http://127.0.0.1:{}", ports[0]),
            otlp_grpc: format!("http://127.0.0.1:{}", ports[2]),
            otlp_http: format!("http://127.0.0.1:{}/v1/traces", ports[3]),
            internal_grpc: format!("127.0.0.1:{}", ports[1]),
            data_dir: data_dir.to_path_buf(),
            client,
        };
        server.wait_ready(ready_timeout).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let url = format!("{}/ready", self.http);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("strand exited during startup ({status}); log:\n{}", self.log_tail());
            }
            if let Ok(response) = self.client.get(&url).timeout(Duration::from_secs(2)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("strand was not ready after {limit:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system, all threads) the server has used since it started.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds_of(&self.pid().to_string())
    }

    /// Peak resident memory (`VmHWM`) in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        status_kib(self.pid(), "VmHWM:").map(|kib| kib * 1024)
    }

    /// Current resident memory (`VmRSS`) in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        status_kib(self.pid(), "VmRSS:").map(|kib| kib * 1024)
    }

    /// Tempo's `POST /flush`: returns once every live trace and head block is in object storage.
    pub async fn flush(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = self.client.post(format!("{}/flush", self.http)).send().await?;
        let status = response.status();
        if !status.is_success() {
            bail!("POST /flush answered {status}: {}", response.text().await.unwrap_or_default());
        }
        Ok(started.elapsed())
    }

    /// Every sample `/metrics` serves, keyed by name and labels as printed
    /// (`strand_object_store_requests_total{operation="get"}`).
    pub async fn metrics(&self) -> anyhow::Result<std::collections::BTreeMap<String, f64>> {
        let response = self.client.get(format!("{}/metrics", self.http)).send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("GET /metrics answered {status}: {text}");
        }
        let mut samples = std::collections::BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            // `name{labels} value`; label values may hold spaces, the value never does.
            let (series, value) = line.rsplit_once(' ').with_context(|| format!("unexpected metrics line {line:?}"))?;
            if let Ok(value) = value.parse::<f64>() {
                samples.insert(series.to_string(), value);
            }
        }
        Ok(samples)
    }

    /// The folder blocks are written under.
    pub fn blocks_dir(&self) -> PathBuf {
        self.data_dir.join("blocks")
    }

    /// Sends SIGTERM and waits for a clean exit (the server flushes on the way out).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("strand exited with {status} after SIGTERM; log:\n{}", self.log_tail());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("strand did not stop within 120 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL, as a crash would, and waits until it is gone: nothing is
    /// flushed or synced on the way out.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("kill -9 strand")?;
        self.child.wait()?;
        Ok(())
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_dir.join("strand.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Lines of the server's log at WARN or ERROR level.
    pub fn log_problems(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.data_dir.join("strand.log")).unwrap_or_default();
        text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).map(str::to_string).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached with the process still running when a benchmark failed half way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Distinct free loopback ports (bound to port 0, then released).
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..count).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// CPU seconds of `/proc/<pid>` (`pid` may be `self`): utime + stime over the clock tick.
pub fn cpu_seconds_of(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields after it start at field 3 (state).
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).context("unexpected /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / clock_ticks() as f64)
}

fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100)
    })
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line =
        status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(line.split_whitespace().nth(1).context("malformed status line")?.parse()?)
}

/// Files and bytes under `dir`, grouped by file name (`data.parquet`, `filter`, …).
pub fn sizes_by_name(dir: &Path) -> anyhow::Result<std::collections::BTreeMap<String, (u64, u64)>> {
    sizes_by(dir, str::to_string)
}

/// Every regular file under `dir` (recursively) with its size, in no particular order.
pub fn files_under(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push((entry.path(), entry.metadata()?.len()));
            }
        }
    }
    Ok(files)
}

/// Files and bytes under `dir`, grouped by `key` of the file name.
pub fn sizes_by(
    dir: &Path,
    key: impl Fn(&str) -> String,
) -> anyhow::Result<std::collections::BTreeMap<String, (u64, u64)>> {
    let mut sizes = std::collections::BTreeMap::new();
    for (path, len) in files_under(dir)? {
        let name = key(&path.file_name().unwrap_or_default().to_string_lossy());
        let slot: &mut (u64, u64) = sizes.entry(name).or_default();
        slot.0 += 1;
        slot.1 += len;
    }
    Ok(sizes)
}

/// Every `meta.json` under `dir`, parsed.
pub fn block_metas(dir: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    files_under(dir)?
        .into_iter()
        .filter(|(path, _)| path.file_name().is_some_and(|name| name == "meta.json"))
        .map(|(path, _)| Ok(serde_json::from_slice(&std::fs::read(path)?)?))
        .collect()
}

/// A summary of the machine, for the record.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    serde_json::json!({ "cpus": cpus, "cpu_model": model, "mem_total_gib": mem_kib as f64 / 1024.0 / 1024.0 })
}
