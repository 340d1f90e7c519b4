//! The notification side of alerting: where the dispatcher's [`Notification`]s and the rule
//! engine's alerts leave the process.
//!
//! - [`config`]: the notifications file (Alertmanager-like `receivers:` next to the routing
//!   tree that [`rules::notify::NotifyConfig`] parses), secrets from inline values, `*_file`
//!   and `${ENV}` references ([`secret`]), resolved into [`Receivers`].
//! - Transports, each rendering a [`Notification`]: [`webhook`] (Alertmanager's webhook JSON,
//!   version 4), [`discord`] (an embed), [`slack`] (Block Kit), [`email`] (SMTP via lettre);
//!   [`render`] holds what they share (Alertmanager's subject line, Go's time format, safe
//!   truncation), [`transport`] the HTTP plumbing and the retry classification.
//! - Reliable delivery: [`queue`] (one fsync'd file per job under the data directory) and
//!   [`delivery`] (the [`Notifier`]: retries with exponential backoff and full jitter, bounded
//!   concurrency per receiver integration, metrics, a masked status view).
//! - [`alertmanager`]: Prometheus's notifier, forwarding alerts to external Alertmanagers.
//!
//! Nothing here decides *whether* to notify: routing, grouping, silences and escalation are
//! the dispatcher's (`rules::notify`); this module only delivers what it is handed.

use std::path::PathBuf;

pub mod alertmanager;
pub mod config;
pub mod delivery;
pub mod discord;
pub mod email;
pub mod queue;
pub mod render;
pub mod secret;
pub mod slack;
pub mod transport;
pub mod webhook;

pub use alertmanager::{AlertmanagerForwarder, ForwarderOptions};
pub use config::{Integration, IntegrationKind, NotificationsFile, Receiver, Receivers};
pub use delivery::{
    Clock, DeliveryOptions, IntegrationStatus, ManualClock, Notifier, NotifierStatus, ReceiverStatus, SystemClock,
};
pub use rules::notify::{Notification, NotifiedAlert, Status};
pub use secret::Secret;

/// Installs the process's TLS crypto provider (see [`crate::tls`]); re-exported because every
/// outgoing client in this module needs it first.
pub use crate::tls::install_crypto_provider;

/// Errors of loading the notifications file and of the delivery queue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The YAML did not parse (with line and column when the parser gave them).
    #[error("{file}: {msg}")]
    Yaml { file: String, msg: String },
    /// A semantic error at a config path such as `receivers[1].email_configs[0].to`.
    #[error("{file}: {path}: {msg}")]
    Config { file: String, path: String, msg: String },
    /// The routing part was rejected by the dispatcher's validation.
    #[error("{file}: {source}")]
    Notify { file: String, source: rules::notify::NotifyError },
    /// A notification named a receiver that is not configured.
    #[error("unknown receiver {0:?}")]
    UnknownReceiver(String),
    /// An alertmanager URL did not parse (shown masked).
    #[error("invalid alertmanager URL {url:?}: {msg}")]
    BadUrl { url: String, msg: String },
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }
}
