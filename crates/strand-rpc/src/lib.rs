//! strand's internal gRPC: how roles call each other when they run as separate processes.
//!
//! Each cross-role trait of `strand-model` gets a client here that implements it, and a server
//! that exposes any implementation of it, so the roles never see the wire:
//!
//! - [`IngesterClient`] / [`ingester_server`]: `Pusher` and `IngesterQuerier`.
//! - [`QuerierClient`] / [`querier_server`]: `TraceByIdQuerier` and `SearchQuerier`.
//! - [`QuerierPool`]: the frontend's round-robin over healthy queriers.
//! - [`RingIngesters`]: the querier's list of healthy ingesters.
//!
//! Errors keep their [`strand_common::ErrorCode`] across the wire ([`status`]). The single
//! binary uses none of this: its roles call each other in process.
#![warn(missing_docs)]

mod channel;
mod convert;
pub mod health;
mod ingester;
mod peer;
mod pool;
mod querier;
mod ring_ingesters;
pub mod status;

pub use channel::{GrpcClientConfig, lazy_channel};
pub use ingester::{INGESTER_READS, INGESTER_SERVICE, IngesterClient, IngesterService, ingester_server};
pub use pool::QuerierPool;
pub use querier::{QUERIER_SERVICE, QuerierClient, QuerierService, querier_server};
pub use ring_ingesters::RingIngesters;
