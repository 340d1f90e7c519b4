//! Server configuration: YAML file (serde-saphyr) with embedded defaults; every option can also
//! be given as a command-line flag, which wins over the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::PromDuration;

/// The whole configuration. Field names are the YAML keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// HTTPS for the listener (both files set) instead of plain HTTP.
    pub tls: TlsConfig,
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub query: QueryConfig,
    pub write: WriteConfig,
    pub rules: RulesConfig,
    pub alerting: AlertingConfig,
    /// Authentication and authorisation (docs/security.md).
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
    /// The admin API (docs/admin-api.md).
    #[serde(default)]
    pub admin: AdminConfig,
    /// The audit log (docs/format/audit.md).
    #[serde(default)]
    pub audit: AuditConfig,
    /// Per-target health scores (docs/anomaly.md#health-score).
    #[serde(default)]
    pub health: crate::health::HealthConfig,
    /// What scaling and recovery rules act on (docs/scaling.md); none by default.
    #[serde(default)]
    pub actuators: ActuatorsConfig,
}

/// The actuators scaling and recovery rules act on; each is off unless its section is given.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ActuatorsConfig {
    /// The Docker engine (docs/actuators/docker.md); `docker: {}` for the local socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<crate::actuators::docker::DockerConfig>,
    /// The Kubernetes API (docs/actuators/kubernetes.md); `kubernetes: {}` for kubeconfig or
    /// in-cluster inference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<crate::actuators::kubernetes::KubeConfig>,
}

/// Limits of the admin API and of the notification API's requests.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Largest body of an admin or notification request (a rule group, a token request, a
    /// silence); larger ones get 413 before they are read whole.
    pub max_body_bytes: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig { max_body_bytes: 1 << 20 }
    }
}

/// The audit log's own retention, separate from the metrics'.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Audit segments whose every entry is older than this are removed (0, the default, keeps
    /// the log forever: never shorter than the metrics' retention unless set so).
    pub retention: PromDuration,
}

/// The listener's certificate and key (PEM), served with rustls.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert_file.as_os_str().is_empty()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `logfmt` or `json`.
    pub format: LogFormat,
    /// `error`, `warn`, `info`, `debug`, `trace` (or a tracing filter directive).
    pub level: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// How long blocks are kept.
    pub retention: PromDuration,
    /// How often the background task compacts the head and applies retention.
    pub maintain_interval: PromDuration,
    /// When WAL writes are fsync'd: `always` (a write is acknowledged after its fsync),
    /// `interval:<duration>` (e.g. `interval:1s`; acknowledged once written to the OS, fsync'd
    /// in the background) or `never` (only segment cuts, checkpoints and shutdown fsync).
    pub wal_fsync: String,
    /// Snappy-compress WAL records when that makes them smaller (Prometheus's
    /// `--storage.tsdb.wal-compression`, on by default there too; both read either).
    pub wal_compression: bool,
    /// How far behind a series' newest sample a sample is still accepted (0 = in-order only,
    /// like Prometheus's `out_of_order_time_window`).
    pub out_of_order_time_window: PromDuration,
    /// Size retention over blocks, WAL and head chunks, in bytes (0 = off).
    pub retention_size: u64,
    /// Maximum number of series in the head (0 = unlimited); appends creating more series are
    /// rejected (`series_limit`).
    pub max_series: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Maximum time one query may run.
    pub timeout: PromDuration,
    /// Queries evaluated at the same time.
    pub max_concurrency: usize,
    /// Queries allowed to wait for a slot; beyond that the API answers 503.
    pub max_queue: usize,
    /// Maximum samples a query may hold in memory.
    pub max_samples: usize,
    /// How far back an instant selector looks for a sample.
    pub lookback_delta: PromDuration,
    /// Maximum points per series of a range query (Prometheus: 11000).
    pub max_points_per_series: i64,
    /// Maximum size of a form-encoded POST body of the query API, in bytes; larger → 413.
    pub max_form_bytes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WriteConfig {
    /// Maximum size of a request body as sent (compressed), in bytes; larger → 413.
    pub max_body_bytes: usize,
    /// Maximum size of a body after snappy decompression, in bytes; larger → 413.
    pub max_decompressed_bytes: usize,
    /// Maximum series in one write request; more → 400.
    pub max_series_per_request: usize,
    /// Write requests handled at the same time; more wait up to `max_queue_wait`, then get 503
    /// (the sender backs off and retries).
    pub max_concurrency: usize,
    /// How long a write request waits for a free slot before 503.
    pub max_queue_wait: PromDuration,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    pub max_labels_per_series: usize,
    /// Series whose label sets and head refs are cached between writes (0 = off).
    pub series_cache_size: usize,
}

/// The rule engine (`rules.*`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Directory of Prometheus rule files (`*.yml`, `*.yaml`), read at start, on SIGHUP and on
    /// `POST /-/reload`; empty = no rules.
    pub dir: PathBuf,
    /// Interval of groups that set none (Prometheus's `global.evaluation_interval`).
    pub evaluation_interval: PromDuration,
    /// Evaluate rules against this Prometheus-API server (e.g. Mimir, Thanos, a
    /// VictoriaMetrics cluster) instead of the local engine; empty = local. Results are still
    /// written to the local storage.
    pub datasource_url: String,
    /// Timeout of one rule query against `datasource_url`.
    pub datasource_timeout: PromDuration,
    /// Labels added to alerts and available to templates as `$externalLabels`.
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Link base for alerts' `generatorURL` and `$externalURL`; empty = `http://<listen>`.
    pub external_url: String,
    /// Minimum time between two sends of a still-firing alert to notifiers.
    pub resend_delay: PromDuration,
    /// How long tickdb may have been down for alert `for` state to be restored.
    pub outage_tolerance: PromDuration,
    /// Minimum time an alert must still wait after a restore before it fires.
    pub for_grace_period: PromDuration,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            dir: PathBuf::new(),
            evaluation_interval: PromDuration::from_secs(60),
            datasource_url: String::new(),
            datasource_timeout: PromDuration::from_secs(30),
            external_labels: Default::default(),
            external_url: String::new(),
            resend_delay: PromDuration::from_secs(60),
            outage_tolerance: PromDuration::from_secs(3600),
            for_grace_period: PromDuration::from_secs(600),
        }
    }
}

/// Where alerts go (`alerting.*`): forwarded to Alertmanagers, and/or routed to tickdb's own
/// receivers by the notifications file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Alertmanager base URLs (e.g. `http://127.0.0.1:9093`); every alert is posted to each
    /// (`/api/v2/alerts`), as Prometheus does. Empty = no forwarding.
    pub alertmanagers: Vec<String>,
    /// Timeout of one post to an Alertmanager.
    pub alertmanager_timeout: PromDuration,
    /// Receivers, routing tree, inhibition, silences, throttling and escalation
    /// (docs/notifications.md); reloaded with the rules. Empty = no own notifications.
    pub notifications_file: PathBuf,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            alertmanagers: Vec::new(),
            alertmanager_timeout: PromDuration::from_secs(10),
            notifications_file: PathBuf::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 9201)),
            tls: TlsConfig::default(),
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            query: QueryConfig::default(),
            write: WriteConfig::default(),
            rules: RulesConfig::default(),
            alerting: AlertingConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            admin: AdminConfig::default(),
            audit: AuditConfig::default(),
            health: crate::health::HealthConfig::default(),
            actuators: ActuatorsConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Logfmt, level: "info".into() }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            retention: PromDuration::from_secs(15 * 86400),
            maintain_interval: PromDuration::from_secs(60),
            wal_fsync: "always".into(),
            wal_compression: true,
            out_of_order_time_window: PromDuration::default(),
            retention_size: 0,
            max_series: 0,
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            timeout: PromDuration::from_secs(120),
            max_concurrency: 20,
            max_queue: 200,
            max_samples: 50_000_000,
            lookback_delta: PromDuration::from_secs(300),
            max_points_per_series: 11_000,
            max_form_bytes: 10 << 20,
        }
    }
}

impl Default for WriteConfig {
    fn default() -> Self {
        WriteConfig {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 128 << 20,
            max_series_per_request: 100_000,
            max_concurrency: 16,
            max_queue_wait: PromDuration::from_secs(5),
            max_label_name_length: storage::labels::DEFAULT_MAX_LABEL_NAME_LEN,
            max_label_value_length: storage::labels::DEFAULT_MAX_LABEL_VALUE_LEN,
            max_labels_per_series: storage::labels::DEFAULT_MAX_LABELS_PER_SERIES,
            series_cache_size: 1 << 19,
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("parsing config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a YAML file; absent keys take their defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })
    }

    /// Parses YAML text (an empty document is the default configuration).
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.tls.cert_file.as_os_str().is_empty() != self.tls.key_file.as_os_str().is_empty() {
            return bad("tls.cert_file and tls.key_file must be set together");
        }
        if self.query.max_concurrency == 0 {
            return bad("query.max_concurrency must be at least 1");
        }
        if self.write.max_concurrency == 0 {
            return bad("write.max_concurrency must be at least 1");
        }
        if self.query.max_points_per_series <= 0 {
            return bad("query.max_points_per_series must be positive");
        }
        if self.query.timeout.0 == Duration::ZERO {
            return bad("query.timeout must be positive");
        }
        if self.storage.maintain_interval.0 == Duration::ZERO {
            return bad("storage.maintain_interval must be positive");
        }
        if self.rules.evaluation_interval.0 == Duration::ZERO {
            return bad("rules.evaluation_interval must be positive");
        }
        let url = &self.rules.datasource_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!("rules.datasource_url must be an http(s) URL, got {url:?}")));
        }
        for u in &self.alerting.alertmanagers {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!("alerting.alertmanagers: {u:?} is not an http(s) URL")));
            }
        }
        if self.alerting.alertmanager_timeout.0 == Duration::ZERO {
            return bad("alerting.alertmanager_timeout must be positive");
        }
        if !rules::file::is_label_name(&self.health.target_label) {
            return Err(ConfigError::Invalid(format!(
                "health.target_label: invalid label name {:?}",
                self.health.target_label
            )));
        }
        if self.admin.max_body_bytes < 1024 {
            return bad("admin.max_body_bytes must be at least 1024");
        }
        self.fsync_policy()?;
        self.auth.validate().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(())
    }

    /// The Basic-auth users file in effect (`auth/users.yml` under the data dir unless set).
    pub fn users_file(&self) -> PathBuf {
        if self.auth.basic_auth_users_file.as_os_str().is_empty() {
            self.data_dir.join(crate::auth::basic::USERS_FILE)
        } else {
            self.auth.basic_auth_users_file.clone()
        }
    }

    /// The parsed `storage.wal_fsync`.
    pub fn fsync_policy(&self) -> Result<storage::wal::FsyncPolicy, ConfigError> {
        self.storage
            .wal_fsync
            .parse()
            .map_err(|e: storage::Error| ConfigError::Invalid(format!("storage.wal_fsync: {e}")))
    }

    /// Every option under its command-line flag name with its effective value (served by
    /// `/api/v1/status/flags`).
    pub fn flag_values(&self) -> std::collections::BTreeMap<String, String> {
        let q = &self.query;
        let w = &self.write;
        [
            ("data-dir", self.data_dir.display().to_string()),
            ("listen", self.listen.to_string()),
            ("log-format", format!("{:?}", self.log.format).to_lowercase()),
            ("log-level", self.log.level.clone()),
            ("retention", self.storage.retention.to_string()),
            ("audit-retention", self.audit.retention.to_string()),
            ("admin-max-body-bytes", self.admin.max_body_bytes.to_string()),
            ("auth-users-file", self.users_file().display().to_string()),
            ("auth-require-on-loopback", self.auth.require_on_loopback.to_string()),
            ("maintain-interval", self.storage.maintain_interval.to_string()),
            ("wal-fsync", self.storage.wal_fsync.clone()),
            ("wal-compression", self.storage.wal_compression.to_string()),
            ("out-of-order-time-window", self.storage.out_of_order_time_window.to_string()),
            ("retention-size", self.storage.retention_size.to_string()),
            ("max-series", self.storage.max_series.to_string()),
            ("query-timeout", q.timeout.to_string()),
            ("query-max-concurrency", q.max_concurrency.to_string()),
            ("query-max-queue", q.max_queue.to_string()),
            ("query-max-samples", q.max_samples.to_string()),
            ("query-lookback-delta", q.lookback_delta.to_string()),
            ("query-max-points-per-series", q.max_points_per_series.to_string()),
            ("query-max-form-bytes", q.max_form_bytes.to_string()),
            ("write-max-body-bytes", w.max_body_bytes.to_string()),
            ("write-max-decompressed-bytes", w.max_decompressed_bytes.to_string()),
            ("write-max-series-per-request", w.max_series_per_request.to_string()),
            ("write-max-concurrency", w.max_concurrency.to_string()),
            ("write-max-queue-wait", w.max_queue_wait.to_string()),
            ("write-max-label-name-length", w.max_label_name_length.to_string()),
            ("write-max-label-value-length", w.max_label_value_length.to_string()),
            ("write-max-labels-per-series", w.max_labels_per_series.to_string()),
            ("write-series-cache-size", w.series_cache_size.to_string()),
            ("rules-dir", self.rules.dir.display().to_string()),
            ("rules-evaluation-interval", self.rules.evaluation_interval.to_string()),
            ("rules-datasource-url", self.rules.datasource_url.clone()),
            ("alertmanager-url", self.alerting.alertmanagers.join(",")),
            ("notifications-file", self.alerting.notifications_file.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The configuration as YAML (served by `/api/v1/status/config`).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_partial_files() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let c = Config::parse("listen: 0.0.0.0:9999\nquery:\n  timeout: 30s\n  max_concurrency: 4\n").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9999".parse().unwrap());
        assert_eq!(c.query.timeout, PromDuration::from_secs(30));
        assert_eq!(c.query.max_concurrency, 4);
        assert_eq!(c.query.max_queue, QueryConfig::default().max_queue);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(Config::parse("nope: 1\n").is_err());
        assert!(Config::parse("query:\n  timeout: 5 minutes\n").is_err());
        assert!(Config::parse("log:\n  format: xml\n").is_err());
        let mut c = Config::default();
        c.query.max_concurrency = 0;
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.storage.wal_fsync = "sometimes".into();
        assert!(c.validate().unwrap_err().to_string().contains("storage.wal_fsync"));
        c.storage.wal_fsync = "interval:1s".into();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn flag_names_exist_on_the_command_line() {
        use clap::CommandFactory;
        let cmd = crate::cli::Cli::command();
        let serve = cmd.find_subcommand("serve").expect("serve");
        for name in Config::default().flag_values().keys() {
            let known = serve.get_arguments().chain(cmd.get_arguments()).any(|a| a.get_long() == Some(name.as_str()));
            assert!(known, "--{name} is not a flag");
        }
    }

    /// docs/operations.md shows the complete default file and a row for every option's flag.
    #[test]
    fn operations_doc_matches_the_defaults() {
        let doc = include_str!("../docs/operations.md");
        let start = doc.find("A complete file with every default:").expect("default file section");
        let yaml = doc[start..].split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).expect("yaml block");
        assert_eq!(Config::parse(yaml).unwrap(), Config::default());
        for (flag, value) in Config::default().flag_values() {
            let row = format!("| `--{flag}` | `{value}`");
            assert!(doc.contains(&row), "docs/operations.md has no row with {row:?}");
        }
    }

    #[test]
    fn yaml_round_trip() {
        let c = Config::default();
        assert_eq!(Config::parse(&c.to_yaml()).unwrap(), c);
    }
}
