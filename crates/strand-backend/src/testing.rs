//! Helpers for tests that need a real S3-compatible server.
//!
//! Compiled only with the `testing` feature, so production builds carry none of it. The server
//! itself is not started here: `bash .ci/run` starts one (moto) and exports
//! [`S3_ENDPOINT_ENV`]. A test that needs S3 calls [`TestBucket::create`] and gets a fresh,
//! uniquely named bucket, so tests can share one server and run in parallel.
//!
//! When the variable is missing the helpers return [`TestS3Error::NotConfigured`], whose message
//! tells the developer how to get a server. Tests must fail on it, never skip: a skipped S3 test
//! that reports a pass hides exactly the bugs it exists to catch.

use std::time::Duration;

use crate::{BackendConfig, BackendKind, S3Config};

/// The environment variable holding the base URL of the test S3 server, such as
/// `http://127.0.0.1:9000`.
pub const S3_ENDPOINT_ENV: &str = "STRAND_TEST_S3_ENDPOINT";

/// Why a test could not get a bucket.
#[derive(Debug, thiserror::Error)]
pub enum TestS3Error {
    /// No test S3 server is configured.
    #[error(
        "{S3_ENDPOINT_ENV} is not set, and this test needs a real S3-compatible server. \
         Run the whole suite with `bash .ci/run` from the repository root, which starts one (moto) \
         and sets it; or start your own and export {S3_ENDPOINT_ENV}=http://127.0.0.1:<port> \
         (plus AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY if it checks them)"
    )]
    NotConfigured,
    /// The variable is set but is not an `http://` or `https://` URL.
    #[error("{S3_ENDPOINT_ENV}={0:?} is not an http:// or https:// URL")]
    BadEndpoint(String),
    /// The server refused to create the bucket, or could not be reached.
    #[error("cannot create test bucket {bucket} at {endpoint}: {reason}")]
    CreateBucket {
        /// The bucket name.
        bucket: String,
        /// The server's base URL.
        endpoint: String,
        /// What the server or the HTTP client said.
        reason: String,
    },
}

/// The base URL of the test S3 server, from [`S3_ENDPOINT_ENV`], without a trailing `/`.
pub fn s3_endpoint() -> Result<String, TestS3Error> {
    let raw = std::env::var(S3_ENDPOINT_ENV).unwrap_or_default();
    let endpoint = raw.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Err(TestS3Error::NotConfigured);
    }
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TestS3Error::BadEndpoint(raw));
    }
    Ok(endpoint.to_string())
}

/// A bucket created for one test on the test S3 server.
///
/// Buckets are not deleted afterwards: the test server is throwaway (moto keeps everything in
/// memory and `.ci/run` stops it on exit), and leaving them makes a failed test inspectable.
#[derive(Clone, Debug)]
pub struct TestBucket {
    /// The server's base URL.
    pub endpoint: String,
    /// The bucket name, unique per call.
    pub name: String,
}

impl TestBucket {
    /// Creates a new bucket named after `hint` (for readable server logs) plus a random suffix.
    ///
    /// CreateBucket is sent unsigned, which moto accepts. Servers that insist on signed requests
    /// (Garage, s3s) need the bucket made another way.
    pub async fn create(hint: &str) -> Result<TestBucket, TestS3Error> {
        let endpoint = s3_endpoint()?;
        let name = bucket_name(hint);
        let failed =
            |reason: String| TestS3Error::CreateBucket { bucket: name.clone(), endpoint: endpoint.clone(), reason };
        // The server is on loopback: a proxy from the environment would only get in the way.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let response = client.put(format!("{endpoint}/{name}")).send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(failed(format!("HTTP {status}: {body}")));
        }
        Ok(TestBucket { endpoint, name })
    }

    /// A configuration that opens this bucket the way a user's `storage.trace.s3` would:
    /// path-style addressing over plain HTTP, with everything stored under `prefix`.
    ///
    /// Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` when set, else
    /// `testing`, which moto accepts.
    pub fn backend_config(&self, prefix: &str) -> BackendConfig {
        let env_or = |name: &str, default: &str| {
            std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
        };
        BackendConfig {
            kind: BackendKind::S3,
            s3: S3Config {
                bucket: self.name.clone(),
                endpoint: self.endpoint.clone(),
                access_key: env_or("AWS_ACCESS_KEY_ID", "testing"),
                secret_key: env_or("AWS_SECRET_ACCESS_KEY", "testing"),
                insecure: self.endpoint.starts_with("http://"),
                forcepathstyle: true,
                region: env_or("AWS_REGION", "us-east-1"),
                prefix: prefix.to_string(),
                ..S3Config::default()
            },
            ..BackendConfig::default()
        }
    }
}

/// `strand-<hint>-<32 hex>`: a valid S3 bucket name (3–63 characters of lowercase letters, digits
/// and hyphens) that no other call will produce.
fn bucket_name(hint: &str) -> String {
    let hint: String =
        hint.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(20).collect();
    let hint = hint.trim_matches('-');
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    if hint.is_empty() { format!("strand-{suffix}") } else { format!("strand-{hint}-{suffix}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_are_valid_and_unique() {
        let names = [bucket_name("Conformance_Suite!"), bucket_name(""), bucket_name(&"x".repeat(100))];
        for name in &names {
            assert!((3..=63).contains(&name.len()), "{name} has length {}", name.len());
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
            assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
        }
        assert!(names[0].starts_with("strand-conformance-suite-"), "{}", names[0]);
        assert_ne!(bucket_name("same"), bucket_name("same"));
    }
}
