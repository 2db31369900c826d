//! The consistent-hash ring of distributed strand.
//!
//! Distributors place each trace on its replicas with it ([`trace_key`], [`replicate`]),
//! queriers list the ingesters to ask, and compactors split jobs by [`Ring::owner`].
//!
//! The ring owns tokens, replication sets, the quorum write and membership. It has no
//! consensus of its own: members come from a static list or the DNS of a headless service,
//! tokens derive from member IDs so every process computes the same ring alone, and liveness
//! comes from a health probe the caller supplies. It knows nothing of gRPC or of what the
//! members are.
#![warn(missing_docs)]

mod config;
mod hash;
mod replicate;
mod ring;
mod watch;

pub use config::RingConfig;
pub use hash::{compaction_key, member_tokens, ring_hash, trace_key};
pub use replicate::{ReplicaError, ReplicateError, Replied, replicate};
pub use ring::{Member, Ring, write_quorum};
pub use watch::{Connect, Probe, RingWatcher};
