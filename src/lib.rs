//! tickdb's server: the `tickdb` binary's modules, exposed as a library so the integration
//! tests can start the real server in-process.
//!
//! - [`cli`], [`config`], [`logging`]: command line, YAML configuration, structured logs.
//! - [`auth`]: authentication (JWT, Basic), roles, scopes, rate limits and lockout.
//! - [`server`]: the HTTP server (remote write, import/export, the Prometheus API).
//! - [`remote`]: remote-write protobufs and decoding; [`openmetrics`]: text format parser.
//! - [`engine`] and [`backend`]: what the server needs from the query engine and the storage.
//! - [`rules_service`] (+ [`rules_source`]): the rule engine in the server; [`alerting`]: where
//!   alerts go (Alertmanager forward, routing to receivers, delivery).
//! - [`dump`], [`tsdb_import`]: the offline `tickdb tsdb` commands (values printed with
//!   [`query::format_go_g`], Go's `%g`); [`backtest`]: `tickdb rules backtest`, rule files
//!   replayed over stored history; [`progress`]: their progress bar.
//! - [`health`]: per-target health scores from the learned rules' state.
//! - [`actions`]: the scaling and recovery policies run against [`actuators`] (the Docker engine,
//!   the Kubernetes API), approvals, manual actions and their history.

pub mod actions;
pub mod actuators;
pub mod alerting;
pub mod allocator;
pub mod anomaly_cli;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod backtest;
pub mod capacity_cli;
pub mod cli;
pub mod config;
pub mod dump;
pub mod duration;
pub mod engine;
pub mod health;
pub mod logging;
pub mod notifier;
pub mod openmetrics;
pub mod progress;
pub mod remote;
pub mod rules_cli;
pub mod rules_service;
pub mod rules_source;
pub mod rules_store;
pub mod server;
pub mod tls;
pub mod tsdb_import;
pub mod wiring;
