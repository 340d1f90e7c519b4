//! Integration tests of the tickdb server: each test boots the real server in-process on
//! 127.0.0.1:0 over a temporary data directory and talks HTTP to it.
//!
//! Modules by area: `api` (query endpoints, golden JSON, error paths), `write` (remote write
//! 1.0/2.0 and their failure modes), `import` (text import and export), `tools` (`tickdb tsdb`
//! commands and `promtool` against the server), `lifecycle` (readiness, the binary, SIGTERM,
//! maintenance), `overload` (write and query slots, 503), `robustness` (error envelopes,
//! body limits, random input), `prometheus` (end-to-end against a real Prometheus scraping and
//! remote-writing), `rules` (the rule engine in the server: rules and alerts API, reload,
//! restart), `backtest` (`tickdb rules backtest` over imported history), `kubernetes` (the Kubernetes
//! actuator against `fake_kube`, a fake Kubernetes API server).

mod actions;
mod admin;
mod alerting;
mod anomaly_cli;
mod api;
mod backtest;
mod docker;
mod dockerd;
mod fake_kube;
mod harness;
mod import;
mod kubernetes;
mod learned;
mod lifecycle;
mod notify;
mod overload;
mod prometheus;
mod robustness;
mod rules;
mod rules_cli;
mod tls;
mod tools;
mod write;
