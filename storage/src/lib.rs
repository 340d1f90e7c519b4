//! tickdb's storage engine.
//!
//! - Data model and contract: [`Labels`], [`Matcher`], [`Sample`], the [`Queryable`] /
//!   [`Querier`] / [`Appender`] traits the query engine and the server use.
//! - [`chunkenc`]: Prometheus's XOR chunk encoding, bit-exact.
//! - [`wal`]: segmented, CRC-32C checked write-ahead log with group commit.
//! - [`head`]: in-memory series, postings index, memory-mapped full chunks, appenders.
//! - [`index`], [`chunks`], [`tombstones`], [`block`]: the Prometheus TSDB block format.
//! - [`querier`]: one querier over any [`reader::BlockReader`] (head or block) and the merge
//!   across them; [`compact`]: one compactor for both; [`db`]: the database that ties it all.
//!
//! This crate has no workspace dependencies; everything above it talks to it through
//! [`storage`]'s traits.

pub mod block;
pub mod chunkenc;
pub mod chunks;
pub mod compact;
pub mod db;
pub mod error;
pub mod head;
pub mod index;
pub mod labels;
pub mod matcher;
pub mod metrics;
#[allow(unsafe_code)]
pub mod mmap;
pub mod querier;
pub mod reader;
pub mod storage;
pub mod tombstones;
pub mod wal;

pub use error::{AppendError, Error, Result};
pub use labels::{Label, LabelLimits, Labels, LabelsBuilder, METRIC_NAME, SymbolTable};
pub use matcher::{MatchType, Matcher};
pub use storage::{
    Appendable, Appender, CommitStats, Querier, Queryable, STALE_NAN_BITS, Sample, SampleIterator, SelectHints, Series,
    SeriesRef, SeriesSet, Timestamp, VecSampleIterator, is_stale_nan,
};
