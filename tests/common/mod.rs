//! The harness shared by the end-to-end tests.
//!
//! [`StrandProcess`] starts the real `strand` binary on free loopback ports, with its WAL and
//! blocks in a temporary folder and its output in a log file there, and talks to it the way users
//! do: OTLP over gRPC and HTTP, and Tempo's HTTP API. [`compare`] checks a trace read back against
//! the one sent, field by field; [`tempo_json`] parses Tempo's JSON (base64 IDs, enum names,
//! 64-bit integers as strings) strictly; [`otlp`] builds OTLP requests by hand; [`sdk`] sends
//! traces through the real OpenTelemetry SDK exporters.
#![allow(dead_code)]

pub mod cluster;
pub mod compare;
pub mod otlp;
pub mod sdk;
pub mod tempo_json;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use strand_backend::testing::TestBucket;
use strand_proto::otlp::collector::trace_service_client::TraceServiceClient;
use strand_proto::otlp::collector::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use strand_proto::tempopb::{PartialStatus, Trace, TraceByIdResponse};
use tonic::transport::Channel;

/// How long a start (WAL replay included) may take before the test gives up.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a SIGTERM'd process may take to flush and exit.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The ports a strand process listens on.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// Tempo's HTTP API, `/ready`, `/metrics`, `/flush`.
    pub http: u16,
    /// OTLP/gRPC.
    pub otlp_grpc: u16,
    /// OTLP/HTTP.
    pub otlp_http: u16,
    /// Internal gRPC between roles (cluster targets only).
    pub grpc: u16,
}

impl Ports {
    /// Free ports for every listener.
    pub fn pick() -> Ports {
        Ports { http: free_port(), otlp_grpc: free_port(), otlp_http: free_port(), grpc: free_port() }
    }
}

/// How a process of a cluster finds the others (see `cluster.rs`).
#[derive(Clone, Debug, Default)]
pub struct ClusterWiring {
    /// `ingester.lifecycler.ring.members`: the ingesters' internal gRPC addresses.
    pub ingesters: Vec<String>,
    /// `ingester.lifecycler.ring.replication_factor`.
    pub replication_factor: usize,
    /// `query_frontend.queriers.members`.
    pub queriers: Vec<String>,
    /// Extra top-level YAML, such as a `compactor` section.
    pub extra_yaml: String,
}

/// Where blocks go.
#[derive(Clone, Debug)]
pub enum Storage {
    /// A folder inside the test's temporary folder.
    Local,
    /// A fresh bucket on the test S3 server (`STRAND_TEST_S3_ENDPOINT`).
    S3 { endpoint: String, bucket: String, access_key: String, secret_key: String, region: String },
}

/// The knobs the tests turn; everything else is strand's default.
#[derive(Clone, Debug)]
pub struct StrandConfig {
    pub storage: Storage,
    pub multitenancy_enabled: bool,
    pub trace_idle_period: &'static str,
    pub flush_check_period: &'static str,
    pub max_bytes_per_trace: Option<&'static str>,
    pub http_max_request_body_size: Option<&'static str>,
    pub grpc_max_recv_msg_size_mib: Option<u64>,
    /// `target`: `all` unless a cluster test says otherwise.
    pub target: &'static str,
    /// Set for the processes of a cluster.
    pub cluster: Option<ClusterWiring>,
    /// `storage.trace.blocklist_poll`, when not the default.
    pub blocklist_poll: Option<&'static str>,
    /// `ingester.complete_block_timeout`, when not the default.
    pub complete_block_timeout: Option<&'static str>,
}

impl StrandConfig {
    /// Local blocks, a 1 s idle period and a 500 ms flush check, so traces reach blocks quickly.
    pub fn local() -> StrandConfig {
        StrandConfig {
            storage: Storage::Local,
            multitenancy_enabled: false,
            trace_idle_period: "1s",
            flush_check_period: "500ms",
            max_bytes_per_trace: None,
            http_max_request_body_size: None,
            grpc_max_recv_msg_size_mib: None,
            target: "all",
            cluster: None,
            blocklist_poll: None,
            complete_block_timeout: None,
        }
    }

    /// Like [`StrandConfig::local`], with blocks in a new bucket on the test S3 server. Panics
    /// (never skips) when no test S3 server is configured.
    pub async fn s3(hint: &str) -> StrandConfig {
        let bucket = match TestBucket::create(hint).await {
            Ok(bucket) => bucket,
            Err(err) => panic!("this test needs the test S3 server; run `bash .ci/run`: {err}"),
        };
        let s3 = bucket.backend_config("").s3;
        StrandConfig {
            storage: Storage::S3 {
                endpoint: s3.endpoint,
                bucket: s3.bucket,
                access_key: s3.access_key,
                secret_key: s3.secret_key,
                region: s3.region,
            },
            ..StrandConfig::local()
        }
    }

    /// The object store this config writes blocks to, opened the way strand opens it.
    pub fn open_backend(&self, dir: &Path) -> strand_backend::Backend {
        let config = match &self.storage {
            Storage::Local => strand_backend::BackendConfig {
                kind: strand_backend::BackendKind::Local,
                local: strand_backend::LocalConfig { path: dir.join("blocks").display().to_string() },
                ..Default::default()
            },
            Storage::S3 { endpoint, bucket, access_key, secret_key, region } => strand_backend::BackendConfig {
                kind: strand_backend::BackendKind::S3,
                s3: strand_backend::S3Config {
                    bucket: bucket.clone(),
                    endpoint: endpoint.clone(),
                    access_key: access_key.clone(),
                    secret_key: secret_key.clone(),
                    insecure: endpoint.starts_with("http://"),
                    forcepathstyle: true,
                    region: region.clone(),
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        strand_backend::Backend::open(&config).expect("open the test object store")
    }

    /// The YAML file strand reads, with Tempo's keys.
    pub fn to_yaml(&self, dir: &Path, ports: &Ports) -> String {
        let path = |name: &str| format!("{:?}", dir.join(name).display().to_string());
        let mut grpc = format!("{{ endpoint: \"127.0.0.1:{}\"", ports.otlp_grpc);
        if let Some(mib) = self.grpc_max_recv_msg_size_mib {
            grpc.push_str(&format!(", max_recv_msg_size_mib: {mib}"));
        }
        grpc.push_str(" }");
        let mut http = format!("{{ endpoint: \"127.0.0.1:{}\"", ports.otlp_http);
        if let Some(size) = self.http_max_request_body_size {
            http.push_str(&format!(", max_request_body_size: {size}"));
        }
        http.push_str(" }");
        let backend = match &self.storage {
            Storage::Local => format!("    backend: local\n    local: {{ path: {} }}\n", path("blocks")),
            Storage::S3 { endpoint, bucket, access_key, secret_key, region } => format!(
                "    backend: s3\n    s3:\n      bucket: {bucket:?}\n      endpoint: {endpoint:?}\n      \
                 access_key: {access_key:?}\n      secret_key: {secret_key:?}\n      insecure: true\n      \
                 forcepathstyle: true\n      region: {region:?}\n"
            ),
        };
        let overrides = match self.max_bytes_per_trace {
            Some(max) => {
                format!("overrides:\n  defaults:\n    global:\n      max_bytes_per_trace: {max}\n")
            }
            None => String::new(),
        };
        let complete =
            self.complete_block_timeout.map(|t| format!("  complete_block_timeout: {t}\n")).unwrap_or_default();
        let poll = self.blocklist_poll.map(|p| format!("    blocklist_poll: {p}\n")).unwrap_or_default();
        let (ring, queriers, extra) = match &self.cluster {
            Some(wiring) => (
                format!(
                    "  lifecycler:\n    ring:\n      replication_factor: {}\n      members: {:?}\n      \
                     health_check_period: 500ms\n",
                    wiring.replication_factor.max(1),
                    wiring.ingesters
                ),
                format!("query_frontend:\n  queriers:\n    members: {:?}\n", wiring.queriers),
                wiring.extra_yaml.clone(),
            ),
            None => Default::default(),
        };
        format!(
            "target: {target}\n\
             multitenancy_enabled: {multitenancy}\n\
             server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {http_port}\n  log_level: info\n\
             \x20 grpc_listen_address: 127.0.0.1\n  grpc_listen_port: {grpc_port}\n\
             distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc: {grpc}\n        http: {http}\n\
             ingester:\n  trace_idle_period: {idle}\n  flush_check_period: {check}\n{complete}{ring}\
             storage:\n  trace:\n{backend}    wal: {{ path: {wal} }}\n{poll}\
             {queriers}{overrides}{extra}",
            target = self.target,
            grpc_port = ports.grpc,
            multitenancy = self.multitenancy_enabled,
            http_port = ports.http,
            idle = self.trace_idle_period,
            check = self.flush_check_period,
            wal = path("wal"),
        )
    }
}

/// Which trace-by-ID endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `GET /api/traces/{id}`.
    V1,
    /// `GET /api/v2/traces/{id}`.
    V2,
}

/// Which answer encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    /// `Accept: application/protobuf`.
    Protobuf,
}

/// Every way to read a trace by ID.
pub const ALL_READS: [(Api, Format); 4] =
    [(Api::V1, Format::Json), (Api::V1, Format::Protobuf), (Api::V2, Format::Json), (Api::V2, Format::Protobuf)];

/// A trace read back, decoded.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub trace: Trace,
    /// v2 only: the answer said `PARTIAL`.
    pub partial: bool,
    /// v2 only: the answer's `message`.
    pub message: String,
}

/// A running (or stopped) strand process and its folder.
pub struct StrandProcess {
    dir: tempfile::TempDir,
    pub config: StrandConfig,
    pub ports: Ports,
    config_path: PathBuf,
    config_flag: &'static str,
    child: Option<Child>,
    runs: usize,
    pub http: reqwest::Client,
}

impl StrandProcess {
    /// Writes the config, starts strand with `--config.file=…` and waits for `/ready`.
    pub async fn start(config: StrandConfig) -> StrandProcess {
        StrandProcess::start_with_flag(config, "--config.file").await
    }

    /// Like [`StrandProcess::start`], naming the config file with `flag` (`-config.file` is
    /// Tempo's spelling).
    pub async fn start_with_flag(config: StrandConfig, flag: &'static str) -> StrandProcess {
        StrandProcess::start_on(config, Ports::pick(), flag).await
    }

    /// Like [`StrandProcess::start`], on ports chosen by the caller (a cluster's processes must
    /// know each other's ports before any starts).
    pub async fn start_on(config: StrandConfig, ports: Ports, flag: &'static str) -> StrandProcess {
        let dir = tempfile::Builder::new().prefix("strand-e2e-").tempdir().expect("temporary folder");
        let config_path = dir.path().join("strand.yaml");
        std::fs::write(&config_path, config.to_yaml(dir.path(), &ports)).expect("write config");
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().expect("http client");
        let mut process =
            StrandProcess { dir, config, ports, config_path, config_flag: flag, child: None, runs: 0, http };
        process.spawn();
        process.wait_ready().await;
        process
    }

    /// Starts the process again on the same folder and ports, and waits for `/ready`.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart() needs the process stopped first");
        self.spawn();
        self.wait_ready().await;
    }

    fn spawn(&mut self) {
        self.runs += 1;
        let log_path = self.log_path(self.runs);
        let log = File::create(&log_path).expect("create log file");
        let log_err = log.try_clone().expect("clone log file");
        let child = Command::new(env!("CARGO_BIN_EXE_strand"))
            .arg(format!("{}={}", self.config_flag, self.config_path.display()))
            .current_dir(self.dir.path())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .expect("spawn the strand binary");
        self.child = Some(child);
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = self.api_url("/ready");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("strand exited with {status} before it was ready\n{}", self.log());
            }
            if let Ok(response) = self.http.get(&url).timeout(Duration::from_secs(2)).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("strand was not ready within {READY_TIMEOUT:?}\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("kill9() needs a running process");
        child.kill().expect("send SIGKILL");
        child.wait().expect("reap the killed process");
    }

    /// SIGTERM, then waits for the process to exit and returns how it exited.
    pub async fn sigterm_and_wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("sigterm_and_wait() needs a running process");
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM failed: {sent}");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for strand") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("strand did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The test's temporary folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `storage.trace.wal.path`.
    pub fn wal_dir(&self) -> PathBuf {
        self.dir.path().join("wal")
    }

    /// `storage.trace.local.path`.
    pub fn blocks_dir(&self) -> PathBuf {
        self.dir.path().join("blocks")
    }

    /// Blocks in local object storage: folders holding a `meta.json` (written last).
    pub fn local_block_count(&self) -> usize {
        fn walk(dir: &Path) -> usize {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { walk(&path) } else { usize::from(entry.file_name() == "meta.json") }
                })
                .sum()
        }
        assert!(matches!(self.config.storage, Storage::Local), "local_block_count() needs local storage");
        walk(&self.blocks_dir())
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.path().join(format!("strand-run{run}.log"))
    }

    /// Everything every run of the process printed.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for run in 1..=self.runs {
            let text = std::fs::read_to_string(self.log_path(run)).unwrap_or_default();
            out.push_str(&format!("----- strand log, run {run} -----\n{text}"));
        }
        out
    }

    /// `http://127.0.0.1:<http port><path>`.
    pub fn api_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.http)
    }

    /// The OTLP/HTTP traces URL.
    pub fn otlp_http_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.ports.otlp_http)
    }

    /// The OTLP/gRPC endpoint.
    pub fn otlp_grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.otlp_grpc)
    }

    /// Asserts that `/ready` answers 200 `ready`.
    pub async fn assert_ready(&self) {
        let response = self.http.get(self.api_url("/ready")).send().await.expect("GET /ready");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, reqwest::StatusCode::OK, "/ready said {body:?}\n{}", self.log());
        assert_eq!(body.trim(), "ready");
    }

    /// `POST /flush`: every live trace cut into blocks and in object storage when it returns.
    pub async fn flush(&self) {
        let response = self.http.post(self.api_url("/flush")).send().await.expect("POST /flush");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "POST /flush said {body:?}");
    }

    /// A raw OTLP/gRPC client.
    pub async fn grpc_client(&self) -> TraceServiceClient<Channel> {
        TraceServiceClient::connect(self.otlp_grpc_url()).await.expect("connect to OTLP/gRPC")
    }

    /// One OTLP/gRPC export, with `X-Scope-OrgID` when `tenant` is given.
    pub async fn push_grpc(
        &self,
        client: &mut TraceServiceClient<Channel>,
        request: ExportTraceServiceRequest,
        tenant: Option<&str>,
    ) -> Result<ExportTraceServiceResponse, tonic::Status> {
        let mut request = tonic::Request::new(request);
        if let Some(tenant) = tenant {
            request.metadata_mut().insert("x-scope-orgid", tenant.parse().expect("tenant header"));
        }
        client.export(request).await.map(tonic::Response::into_inner)
    }

    /// One OTLP/HTTP protobuf export; the raw answer.
    pub async fn post_otlp_protobuf(
        &self,
        request: &ExportTraceServiceRequest,
        tenant: Option<&str>,
    ) -> reqwest::Response {
        let mut builder = self
            .http
            .post(self.otlp_http_url())
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec());
        if let Some(tenant) = tenant {
            builder = builder.header("x-scope-orgid", tenant);
        }
        builder.send().await.expect("POST /v1/traces")
    }

    /// One OTLP/HTTP protobuf export that must succeed; the decoded answer.
    pub async fn push_http(
        &self,
        request: &ExportTraceServiceRequest,
        tenant: Option<&str>,
    ) -> ExportTraceServiceResponse {
        let response = self.post_otlp_protobuf(request, tenant).await;
        let status = response.status();
        let content_type = header(&response, "content-type");
        let body = response.bytes().await.expect("read OTLP/HTTP answer");
        assert_eq!(status, reqwest::StatusCode::OK, "OTLP/HTTP push refused: {}", String::from_utf8_lossy(&body));
        assert_eq!(content_type, "application/x-protobuf", "answer to a protobuf push");
        ExportTraceServiceResponse::decode(body.as_ref()).expect("decode ExportTraceServiceResponse")
    }

    /// `GET` of a trace by ID; the raw answer.
    pub async fn get_trace(
        &self,
        api: Api,
        format: Format,
        id: &str,
        tenant: Option<&str>,
        query: &str,
    ) -> reqwest::Response {
        let path = match api {
            Api::V1 => format!("/api/traces/{id}{query}"),
            Api::V2 => format!("/api/v2/traces/{id}{query}"),
        };
        let mut builder = self.http.get(self.api_url(&path));
        builder = match format {
            Format::Json => builder.header("accept", "application/json"),
            Format::Protobuf => builder.header("accept", "application/protobuf"),
        };
        if let Some(tenant) = tenant {
            builder = builder.header("x-scope-orgid", tenant);
        }
        builder.send().await.expect("GET trace by ID")
    }

    /// A trace that must exist, read one way and decoded.
    pub async fn fetch(&self, api: Api, format: Format, id: &str, tenant: Option<&str>) -> Fetched {
        let response = self.get_trace(api, format, id, tenant, "").await;
        let status = response.status();
        let content_type = header(&response, "content-type");
        let body = response.bytes().await.expect("read trace answer");
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "{api:?} {format:?} read of trace {id}: {}",
            String::from_utf8_lossy(&body)
        );
        match format {
            Format::Json => {
                assert!(
                    content_type.starts_with("application/json"),
                    "{api:?} JSON answer has Content-Type {content_type:?}"
                );
                let value: serde_json::Value = serde_json::from_slice(&body)
                    .unwrap_or_else(|e| panic!("{api:?} answer is not JSON ({e}): {}", String::from_utf8_lossy(&body)));
                match api {
                    Api::V1 => Fetched { trace: tempo_json::parse_v1(&value), partial: false, message: String::new() },
                    Api::V2 => {
                        let v2 = tempo_json::parse_v2(&value);
                        Fetched { trace: v2.trace, partial: v2.status == "PARTIAL", message: v2.message }
                    }
                }
            }
            Format::Protobuf => {
                assert!(
                    content_type.starts_with("application/protobuf"),
                    "{api:?} protobuf answer has Content-Type {content_type:?}"
                );
                match api {
                    Api::V1 => Fetched {
                        trace: Trace::decode(body.as_ref()).expect("decode tempopb.Trace"),
                        partial: false,
                        message: String::new(),
                    },
                    Api::V2 => {
                        let answer =
                            TraceByIdResponse::decode(body.as_ref()).expect("decode tempopb.TraceByIDResponse");
                        Fetched {
                            trace: answer.trace.unwrap_or_default(),
                            partial: answer.status == PartialStatus::Partial as i32,
                            message: answer.message,
                        }
                    }
                }
            }
        }
    }

    /// Reads trace `id` through v1 and v2, JSON and protobuf, and checks each against `expected`.
    pub async fn assert_trace_everywhere(&self, id: &str, expected: &Trace, context: &str) {
        for (api, format) in ALL_READS {
            let fetched = self.fetch(api, format, id, None).await;
            compare::assert_same_trace(&format!("{context}, {api:?} {format:?}, trace {id}"), expected, &fetched.trace);
        }
    }

    /// Reads `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.api_url("/metrics")).send().await.expect("GET /metrics");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.text().await.expect("read /metrics")
    }
}

impl Drop for StrandProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
    }
}

/// A header of a response as text, empty when missing.
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// The sum of every sample of metric `name` whose labels include all of `labels`, or `None`
/// when no sample matches. Reads Prometheus' text format.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        let matches =
            labels.iter().all(|(key, want)| label_text.split(',').any(|pair| pair == format!("{key}=\"{want}\"")));
        if matches {
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("metric line {line:?} has no number"));
            total = Some(total.unwrap_or(0.0) + value);
        }
    }
    total
}
