//! strand's internal gRPC over real sockets: a tonic server on 127.0.0.1:0 around in-memory
//! fakes of the cross-role traits, called through the real clients. What a role sends must be
//! what the other role receives, errors must keep their code, and a member that is down, slow
//! or sent garbage must fail the way callers expect.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod failures;
mod health;
mod pool;
mod round_trip;
mod support;
