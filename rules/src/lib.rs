//! tickdb's rule engine: rule groups, recording and alerting rules and alert state.
//!
//! Queries and notifications are injected; this crate knows no HTTP. It is filled in by the
//! rules issue; for now it only re-exports the query crate so the dependency direction
//! `server -> rules -> query -> storage` is fixed from the start.
pub use query;
