//! The ingester's write-ahead log.
//!
//! A WAL lives in one directory (the ingester keeps one per tenant) as numbered segment files,
//! `<20-digit sequence>.wal`. Each segment starts with an 8-byte header (magic and format
//! version), followed by records framed as `u32 LE length`, `u32 LE crc32 of the payload`,
//! payload.
//!
//! - [`Wal`] appends records through one writer thread per WAL that group-commits them: one
//!   write and one `fsync` cover every record queued while the previous group was being synced.
//!   An append resolves only once its record is durable.
//! - [`replay`] streams every segment back in order at startup, truncating a torn tail instead
//!   of failing. Run it before [`Wal::open`] on the same directory.
//! - [`encode_push_record`] and [`decode_push_record`] are the payload the ingester appends for
//!   each push.
//!
//! The WAL does not decide when segments are deleted: the ingester rotates when it cuts a block
//! and calls [`Wal::delete_segments_before`] once that block is safe elsewhere.

mod config;
mod error;
mod push;
mod record;
mod replay;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

pub use config::WalConfig;
pub use error::WalError;
pub use push::{decode_push_record, encode_push_record};
pub use record::MAX_RECORD_LEN;
pub use replay::{ReplayStats, replay};
pub use writer::{Wal, WalStats};
