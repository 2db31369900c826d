use serde::{Deserialize, Serialize};

/// Which object store holds the blocks (`storage.trace.backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A folder on local disk.
    #[default]
    Local,
    /// Any S3-compatible bucket.
    S3,
    /// Process memory; for tests only, lost on exit.
    Memory,
}

/// `storage.trace.local`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// The folder blocks are written under.
    pub path: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig { path: "./data/blocks".to_string() }
    }
}

/// `storage.trace.s3`, with Tempo's key names.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// `host:port` (or a full URL) of the S3 endpoint; empty means AWS.
    pub endpoint: String,
    /// Access key ID; empty falls back to the `AWS_ACCESS_KEY_ID` environment.
    pub access_key: String,
    /// Secret access key; empty falls back to `AWS_SECRET_ACCESS_KEY`.
    pub secret_key: String,
    /// Session token, for temporary credentials.
    pub session_token: String,
    /// Use plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO, Garage and most non-AWS stores need.
    pub forcepathstyle: bool,
    /// Signing region.
    pub region: String,
    /// A key prefix under which everything is stored, so several clusters can share a bucket.
    pub prefix: String,
}

/// Everything needed to open a [`crate::Backend`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendConfig {
    /// Which store.
    pub kind: BackendKind,
    /// Settings for [`BackendKind::Local`].
    pub local: LocalConfig,
    /// Settings for [`BackendKind::S3`].
    pub s3: S3Config,
}

impl BackendConfig {
    /// Checks what can be checked without talking to the store.
    pub fn validate(&self) -> Result<(), String> {
        match self.kind {
            BackendKind::Local if self.local.path.trim().is_empty() => {
                Err("storage.trace.local.path must not be empty".to_string())
            }
            BackendKind::S3 if self.s3.bucket.trim().is_empty() => {
                Err("storage.trace.s3.bucket must be set when storage.trace.backend is s3".to_string())
            }
            _ => Ok(()),
        }
    }
}
