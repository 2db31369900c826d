//! The whole configuration: one YAML file shaped like Tempo's, layered as
//! defaults → file → `STRAND_…` environment → command-line flags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strand_backend::{BackendConfig, BackendKind, LocalConfig, S3Config};
use strand_common::{Duration, Size};
use strand_compactor::CompactorConfig;
use strand_distributor::DistributorConfig;
use strand_encoding::{BlockConfig, WalConfig};
use strand_frontend::FrontendConfig;
use strand_ingester::IngesterConfig;
use strand_overrides::Overrides;
use strand_querier::QuerierConfig;
use strand_rpc::GrpcClientConfig;

/// Which roles this process runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Every role in one process, talking through in-process calls.
    #[default]
    All,
    /// OTLP receivers only.
    Distributor,
    /// WAL, live traces and block flushing only.
    Ingester,
    /// Trace lookups and search jobs only.
    Querier,
    /// Tempo's HTTP API, fanning out to queriers.
    QueryFrontend,
    /// Block compaction and retention.
    Compactor,
}

impl Target {
    /// The name used in config files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Distributor => "distributor",
            Target::Ingester => "ingester",
            Target::Querier => "querier",
            Target::QueryFrontend => "query-frontend",
            Target::Compactor => "compactor",
        }
    }
}

/// The top-level config. Every field has a default, unknown keys are errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which roles to run.
    pub target: Target,
    /// When true, every request must carry `X-Scope-OrgID`.
    pub multitenancy_enabled: bool,
    /// Listen addresses and process settings.
    pub server: ServerConfig,
    /// The distributor role.
    pub distributor: DistributorConfig,
    /// The ingester role.
    pub ingester: IngesterConfig,
    /// The querier role.
    pub querier: QuerierConfig,
    /// The query-frontend role.
    pub query_frontend: FrontendConfig,
    /// Object storage, WAL and block format.
    pub storage: StorageConfig,
    /// The compactor role: merging, retention.
    pub compactor: CompactorConfig,
    /// Per-tenant limits.
    pub overrides: Overrides,
    /// How distributors and queriers call ingesters in a cluster (Tempo's `ingester_client`).
    pub ingester_client: GrpcClientConfig,
    /// How the query-frontend calls queriers in a cluster.
    pub querier_client: GrpcClientConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target: Target::All,
            multitenancy_enabled: false,
            server: ServerConfig::default(),
            distributor: DistributorConfig::default(),
            ingester: IngesterConfig::default(),
            querier: QuerierConfig::default(),
            query_frontend: FrontendConfig::default(),
            storage: StorageConfig::default(),
            compactor: CompactorConfig::default(),
            overrides: Overrides::default(),
            ingester_client: GrpcClientConfig::for_ingesters(),
            querier_client: GrpcClientConfig::default(),
        }
    }
}

/// `server`, with Tempo's key names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP API (Tempo's query API, `/ready`, `/metrics`).
    pub http_listen_address: String,
    /// Port of the HTTP API.
    pub http_listen_port: u16,
    /// Address of the internal gRPC server between roles (ingesters and queriers serve on it;
    /// every role serves the `grpc.health.v1` health service there).
    pub grpc_listen_address: String,
    /// Port of the internal gRPC server.
    pub grpc_listen_port: u16,
    /// Largest message the internal gRPC server accepts.
    pub grpc_server_max_recv_msg_size: Size,
    /// Largest message the internal gRPC server sends.
    pub grpc_server_max_send_msg_size: Size,
    /// How long a SIGTERM may take: flushing head blocks included.
    pub graceful_shutdown_timeout: Duration,
    /// `error`, `warn`, `info`, `debug` or `trace`, or a full tracing filter.
    pub log_level: String,
    /// `logfmt` (human-readable) or `json`.
    pub log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: "0.0.0.0".to_string(),
            http_listen_port: 3200,
            grpc_listen_address: "0.0.0.0".to_string(),
            grpc_listen_port: 9095,
            grpc_server_max_recv_msg_size: Size::mib(64),
            grpc_server_max_send_msg_size: Size::mib(64),
            graceful_shutdown_timeout: Duration::secs(30),
            log_level: "info".to_string(),
            log_format: LogFormat::Logfmt,
        }
    }
}

/// How logs are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Logfmt,
    /// One JSON object per event.
    Json,
}

/// `storage`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Trace storage.
    pub trace: TraceStorageConfig,
}

/// `storage.trace`, with Tempo's key names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceStorageConfig {
    /// `local`, `s3` or `memory` (tests only).
    pub backend: BackendKind,
    /// Settings for `backend: local`.
    pub local: LocalConfig,
    /// Settings for `backend: s3`.
    pub s3: S3Config,
    /// The ingester's write-ahead log.
    pub wal: WalConfig,
    /// How blocks are encoded.
    pub block: BlockConfig,
    /// How often readers refresh their list of blocks.
    pub blocklist_poll: Duration,
}

impl Default for TraceStorageConfig {
    fn default() -> Self {
        TraceStorageConfig {
            backend: BackendKind::Local,
            local: LocalConfig::default(),
            s3: S3Config::default(),
            wal: WalConfig::default(),
            block: BlockConfig::default(),
            blocklist_poll: Duration::secs(30),
        }
    }
}

impl TraceStorageConfig {
    /// The part the backend needs.
    pub fn backend_config(&self) -> BackendConfig {
        BackendConfig { kind: self.backend, local: self.local.clone(), s3: self.s3.clone() }
    }
}

/// A config that could not be loaded; the message names the file, key or variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Prefix of environment variables that override config keys. Nested keys are joined with `__`:
/// `STRAND_SERVER__HTTP_LISTEN_PORT=3201` sets `server.http_listen_port`.
pub const ENV_PREFIX: &str = "STRAND_";

impl Config {
    /// Builds the config from an optional YAML document and the process environment (passed in,
    /// so loading stays a pure function that tests can drive).
    pub fn load(yaml: Option<&str>, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut document: serde_yaml::Value = match yaml {
            Some(text) if !text.trim().is_empty() => {
                serde_yaml::from_str(text).map_err(|e| ConfigError(format!("invalid YAML: {e}")))?
            }
            _ => serde_yaml::Value::Mapping(Default::default()),
        };
        if document.is_null() {
            document = serde_yaml::Value::Mapping(Default::default());
        }
        apply_env(&mut document, env)?;
        let config: Config = serde_yaml::from_value(document).map_err(|e| ConfigError(describe_yaml_error(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects impossible settings with a message a user can act on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks = [
            self.distributor.validate(),
            self.ingester.validate(),
            self.querier.validate(),
            self.overrides.validate(),
            self.storage.trace.backend_config().validate(),
            self.query_frontend.validate(),
            self.compactor.validate(),
            self.ingester_client.validate("ingester_client"),
            self.querier_client.validate("querier_client"),
            self.cluster_members(),
        ];
        for check in checks {
            check.map_err(ConfigError)?;
        }
        if self.storage.trace.wal.path.trim().is_empty() {
            return Err(ConfigError("storage.trace.wal.path must not be empty".into()));
        }
        if self.storage.trace.blocklist_poll.get().is_zero() {
            return Err(ConfigError("storage.trace.blocklist_poll must be above 0".into()));
        }
        Ok(())
    }

    /// A role that calls other roles over the network needs to know where they are.
    fn cluster_members(&self) -> Result<(), String> {
        let ingesters = &self.ingester.lifecycler.ring.members;
        let queriers = &self.query_frontend.queriers.members;
        match self.target {
            Target::Distributor | Target::Querier if ingesters.is_empty() => Err(format!(
                "target {} needs ingester.lifecycler.ring.members: the ingesters' gRPC addresses",
                self.target.name()
            )),
            Target::QueryFrontend if queriers.is_empty() => {
                Err("target query-frontend needs query_frontend.queriers.members: the queriers' gRPC addresses".into())
            }
            _ => Ok(()),
        }
    }

    /// The effective config as YAML, for `--print-config`.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

/// Sets `STRAND_A__B=value` at `a.b`, parsing the value as a YAML scalar so numbers and booleans
/// keep their types. Variables whose first segment is not a top-level key are not config
/// (`STRAND_TEST_…` in tests, for example) and are left alone.
fn apply_env(document: &mut serde_yaml::Value, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    const TOP_LEVEL: [&str; 12] = [
        "target",
        "multitenancy_enabled",
        "server",
        "distributor",
        "ingester",
        "querier",
        "query_frontend",
        "storage",
        "compactor",
        "overrides",
        "ingester_client",
        "querier_client",
    ];
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if !keys.first().is_some_and(|k| TOP_LEVEL.contains(&k.as_str())) {
            continue;
        }
        let value: serde_yaml::Value =
            serde_yaml::from_str(raw).unwrap_or_else(|_| serde_yaml::Value::String(raw.clone()));
        let mut node = &mut *document;
        for (depth, key) in keys.iter().enumerate() {
            let mapping = match node {
                serde_yaml::Value::Mapping(m) => m,
                _ => return Err(ConfigError(format!("{name}: {} is not a section", keys[..depth].join(".")))),
            };
            let key = serde_yaml::Value::String(key.clone());
            if depth + 1 == keys.len() {
                mapping.insert(key, value.clone());
                break;
            }
            node = mapping.entry(key).or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
            if node.is_null() {
                *node = serde_yaml::Value::Mapping(Default::default());
            }
        }
    }
    Ok(())
}

fn describe_yaml_error(err: &serde_yaml::Error) -> String {
    match err.location() {
        Some(at) => format!("invalid config at line {} column {}: {err}", at.line(), at.column()),
        None => format!("invalid config: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_tempo_ports_and_data_folder() {
        let config = Config::load(None, &BTreeMap::new()).unwrap();
        assert_eq!(config.target, Target::All);
        assert_eq!(config.server.http_listen_port, 3200);
        let otlp = &config.distributor.receivers.otlp.protocols;
        assert_eq!(otlp.grpc.as_ref().unwrap().endpoint, "0.0.0.0:4317");
        assert_eq!(otlp.http.as_ref().unwrap().endpoint, "0.0.0.0:4318");
        assert_eq!(config.storage.trace.local.path, "./data/blocks");
        assert_eq!(config.storage.trace.wal.path, "./data/wal");
    }

    #[test]
    fn tempo_keys_are_accepted() {
        let yaml = r#"
target: all
multitenancy_enabled: false
server: { http_listen_address: 0.0.0.0, http_listen_port: 3200, grpc_listen_port: 9095 }
distributor:
  receivers:
    otlp:
      protocols:
        grpc: { endpoint: "0.0.0.0:4317" }
        http: { endpoint: "0.0.0.0:4318" }
ingester: { trace_idle_period: 10s, max_block_duration: 30m, max_block_bytes: 500MiB, flush_check_period: 10s }
storage:
  trace:
    backend: s3
    local: { path: ./data/blocks }
    wal: { path: ./data/wal }
    s3: { bucket: traces, endpoint: "127.0.0.1:9000", access_key: a, secret_key: b, insecure: true, forcepathstyle: true, region: us-east-1, prefix: "" }
"#;
        let config = Config::load(Some(yaml), &BTreeMap::new()).unwrap();
        assert_eq!(config.ingester.trace_idle_period, Duration::secs(10));
        assert_eq!(config.ingester.max_block_bytes, strand_common::Size::mib(500));
        assert_eq!(config.storage.trace.backend, BackendKind::S3);
        assert_eq!(config.storage.trace.s3.endpoint, "127.0.0.1:9000");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::load(Some("ingester: { trace_idle_perod: 5s }"), &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("trace_idle_perod"), "{err}");
        let err = Config::load(Some("storage: { trace: { backnd: s3 } }"), &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("backnd"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::load(
            Some("server: { http_listen_port: 3200 }"),
            &env(&[
                ("STRAND_SERVER__HTTP_LISTEN_PORT", "3300"),
                ("STRAND_STORAGE__TRACE__BACKEND", "memory"),
                ("STRAND_MULTITENANCY_ENABLED", "true"),
                ("STRAND_TEST_S3_ENDPOINT", "http://ignored"),
                ("HOME", "/ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.http_listen_port, 3300);
        assert_eq!(config.storage.trace.backend, BackendKind::Memory);
        assert!(config.multitenancy_enabled);
        let err = Config::load(None, &env(&[("STRAND_SERVER__HTTP_PORT", "1")])).unwrap_err();
        assert!(err.to_string().contains("http_port"), "{err}");
    }

    #[test]
    fn impossible_values_are_refused_with_the_key() {
        let err = Config::load(Some("storage: { trace: { backend: s3 } }"), &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("storage.trace.s3.bucket"), "{err}");
        let err = Config::load(
            Some("distributor: { receivers: { otlp: { protocols: { grpc: { endpoint: nowhere } } } } }"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("grpc.endpoint"), "{err}");
    }

    #[test]
    fn printed_config_loads_back_to_the_same_config() {
        let config = Config::load(Some("ingester: { trace_idle_period: 2s }"), &BTreeMap::new()).unwrap();
        assert_eq!(Config::load(Some(&config.to_yaml()), &BTreeMap::new()).unwrap(), config);
    }

    #[test]
    fn the_example_configs_in_deploy_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let cluster = root.join("cluster");
        let roles = cluster.join("roles");
        let mut seen = 0;
        for dir in [&root, &cluster, &roles] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
                let is_config = name.ends_with(".yaml") && (dir != &root || name.starts_with("strand"));
                if !is_config {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let config =
                    Config::load(Some(&text), &BTreeMap::new()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                // A role file must be a config for that role, not for the single binary.
                if dir == &roles {
                    assert_eq!(format!("{}.yaml", config.target.name()), name, "{}", path.display());
                }
                seen += 1;
            }
        }
        assert!(seen >= 8, "expected the example configs under deploy/, found {seen}");
    }
}
