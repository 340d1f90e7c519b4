//! Routing of alerts to receivers, Alertmanager-style: a routing tree (match, continue,
//! default), grouping with `group_wait`/`group_interval`/`repeat_interval`, de-duplication,
//! throttling, silences, inhibition, acknowledgement and escalation. Pure decisions with an
//! injected clock: the output is [`Notification`]s the server's transports deliver.
//!
//! Submodules: [`duration`] (Prometheus durations), [`matcher`] (Alertmanager matcher syntax),
//! [`config`] (the YAML configuration and its compiled routing tree), [`dispatcher`] (the state
//! machine: [`Dispatcher::receive`], [`Dispatcher::tick`], silences, acks, snapshots).

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Fingerprint, LabelMap};

pub mod config;
pub mod dispatcher;
pub mod duration;
pub mod matcher;

pub use config::{EscalationStep, InhibitRule, NotifyConfig, Route, SilenceDef, Throttle};
pub use dispatcher::{
    AckInfo, AlertState, AlertView, Dispatcher, DispatcherState, NotifyStats, SilenceState, SilenceView,
};

/// Errors of configuration and of the dispatcher's API.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NotifyError {
    /// The YAML did not parse or did not fit the schema (unknown key, bad duration, wrong type).
    #[error("notify config: {0}")]
    Yaml(String),
    /// A semantic error at a config path such as `route.routes[1].group_by`.
    #[error("notify config: {path}: {msg}")]
    Config { path: String, msg: String },
    #[error("unknown alert {0}")]
    UnknownAlert(Fingerprint),
    #[error("unknown silence {0:?}")]
    UnknownSilence(String),
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
    /// Silences from the configuration change only with the configuration.
    #[error("silence {0:?} comes from the configuration and cannot be expired through the API")]
    StaticSilence(String),
    #[error("silence {0:?} has already expired")]
    SilenceExpired(String),
}

/// Firing or resolved (of a notification as a whole, or of one alert in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// One alert inside a notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotifiedAlert {
    pub status: Status,
    pub fingerprint: Fingerprint,
    pub alert: Alert,
}

/// One message for one receiver: an aggregation group's alerts, as Alertmanager's webhook
/// payload carries them. Transports render it (Discord embed, Slack blocks, email, webhook JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The receiver's name (from the routing tree); the server maps it to a transport.
    pub receiver: String,
    /// Identifies the aggregation group (route path + group labels), Alertmanager's `groupKey`.
    pub group_key: String,
    /// Firing if any alert in it fires.
    pub status: Status,
    pub group_labels: LabelMap,
    pub common_labels: LabelMap,
    pub common_annotations: LabelMap,
    pub alerts: Vec<NotifiedAlert>,
    /// Escalation level that produced it (0 = the route's own receiver).
    pub escalation_level: usize,
    /// When the dispatcher produced it (Unix ms).
    pub created_ms: i64,
}
