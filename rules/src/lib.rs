//! tickdb's rule engine: rule files, recording and alerting rules, alert state, rule groups and
//! their scheduling, promtool-format rule unit tests, and the routing of alerts to receivers
//! (grouping, silences, inhibition, throttling, acknowledgement, escalation).
//!
//! Queries and notifications are injected: the crate evaluates PromQL through a
//! [`source::QuerySource`] (the local engine or a remote Prometheus-API datasource, chosen by
//! the server), writes its output through [`storage::Appendable`], and hands alerts to whoever
//! the server wires in. It knows no HTTP.
//!
//! Module map:
//! - [`alert`]: the alert as notifiers see it ([`alert::Alert`]) and the label-set fingerprint.
//! - [`source`]: the injected query function.
//! - [`template`]: Prometheus's Go-template subset for labels and annotations.
//! - [`file`]: the Prometheus rule file format, parsed and validated with positions.
//! - [`recording`], [`alerting`]: the two rule kinds; `alerting` holds the alert state machine.
//! - [`group`]: one rule group's evaluation (rules in order, output appended, stale markers,
//!   `for` state restored); [`manager`]: runs the groups on their intervals, reloads.
//! - [`unittest`]: `promtool test rules` files.
//! - [`notify`]: routing tree, grouping, de-duplication, throttling, silences, inhibition,
//!   acknowledgement and escalation; transports are the server's.
//! - [`scaling`]: scaling and recovery decisions (HPA arithmetic, back-off, circuit breaker);
//!   the server reads replicas and acts through its actuators.
pub use query;
pub use storage;

pub mod alert;
pub mod alerting;
pub mod anomaly;
pub mod file;
pub mod group;
pub mod learned;
pub mod manager;
pub mod notify;
pub mod recording;
pub mod scaling;
pub mod source;
pub mod template;
pub mod unittest;
