//! tickdb's rule engine: rule groups, recording and alerting rules, alert state, and the routing
//! of alerts to receivers (grouping, silences, inhibition, throttling, acknowledgement,
//! escalation).
//!
//! Queries and notifications are injected: the crate evaluates PromQL through a
//! [`source::QuerySource`] and hands alerts to whoever the server wires in. It knows no HTTP.
//!
//! Module map (the rule evaluation modules are being built; see the rules issue):
//! - [`alert`]: the alert as notifiers see it ([`alert::Alert`]) and the label-set fingerprint.
//! - [`source`]: the injected query function ([`source::LocalSource`] = the local engine).
//! - [`notify`]: routing tree, grouping, de-duplication, throttling, silences, inhibition,
//!   acknowledgement and escalation; transports are the server's.
pub use query;
pub use storage;

pub mod alert;
pub mod notify;
pub mod source;
