//! The command line: `tickdb serve`, `tickdb tsdb import`, `tickdb tsdb dump`, `tickdb rules
//! check|test|backtest`, `tickdb token create|list|revoke`, `tickdb user hash-password`,
//! `tickdb audit verify`, `tickdb audit export`, `tickdb anomaly score`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::duration::PromDuration;

#[derive(Parser, Debug)]
#[command(
    name = "tickdb",
    version,
    about = "A Prometheus-compatible time-series database",
    after_help = "Example:\n  tickdb serve --data-dir ./data --listen 127.0.0.1:9201\n\n\
Run `tickdb <command> --help` for each command's options."
)]
pub struct Cli {
    /// Log line format. [default: logfmt]
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log level or tracing filter directive (e.g. `info`, `debug,hyper=info`). [default: info]
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: remote-write ingestion and the Prometheus HTTP API.
    #[command(
        after_help = "Example:\n  tickdb serve --data-dir /var/lib/tickdb --listen 0.0.0.0:9201 --retention 30d\n\n\
Then point Prometheus at it:\n  remote_write:\n    - url: http://HOST:9201/api/v1/write"
    )]
    Serve(Box<ServeArgs>),
    /// Offline operations on a data directory (the server must not be running on it).
    #[command(
        subcommand,
        after_help = "Example:\n  tickdb tsdb dump --data-dir ./data --match 'up' > up.txt\n  \
tickdb tsdb import --format openmetrics metrics.om --data-dir ./data"
    )]
    Tsdb(TsdbCommand),
    /// Validate rule files, run rule unit tests (like `promtool check rules` / `test rules`), and
    /// backtest rules over stored history.
    #[command(
        subcommand,
        after_help = "Example:\n  tickdb rules check rules/*.yml\n  tickdb rules test rules/alerts_test.yml\n  \
tickdb rules backtest rules/alerts.yml --from now-7d --to now"
    )]
    Rules(RulesCommand),
    /// Create, list and revoke API tokens (docs/security.md).
    #[command(
        subcommand,
        after_help = "Example:\n  tickdb token create --role reader --ttl 30d --subject grafana\n  tickdb token list\n  \
tickdb token revoke 5d41402abc4b2a76b9719d911017c592"
    )]
    Token(crate::auth::cli::TokenCommand),
    /// Basic-auth users (docs/security.md).
    #[command(subcommand, after_help = "Example:\n  tickdb user hash-password < password.txt")]
    User(crate::auth::cli::UserCommand),
    /// Verify or export the audit log of admin actions (`<data-dir>/audit`).
    #[command(
        subcommand,
        after_help = "Example:\n  tickdb audit verify --data-dir ./data --anchor anchor.json\n  \
tickdb audit export --data-dir ./data --format csv --since 2026-12-01T00:00:00Z > audit.csv"
    )]
    Audit(AuditCommand),
    /// The capacity report of a running server: per target, the resources forecast to cross
    /// their thresholds (forecast: rules) and when.
    #[command(after_help = "Example:\n  tickdb capacity --url http://127.0.0.1:9201\n  \
tickdb capacity --url https://tickdb.example:9201 --by server --token \"$TOKEN\"\n\n\
One line per forecast, soonest crossing first:\n  \
TARGET  RESOURCE  NOW  AT HORIZON (BAND)  THRESHOLD: crosses in 16h at ...; band 15h..18h")]
    Capacity(CapacityArgs),
    /// Run anomaly detectors offline (docs/anomaly.md).
    #[command(
        subcommand,
        after_help = "Example:\n  tickdb anomaly score --input cpu.csv --detector holt_winters:period=1d --output scored.csv"
    )]
    Anomaly(AnomalyCommand),
}

#[derive(Args, Debug)]
pub struct CapacityArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:9201")]
    pub url: String,
    /// The label that names a target. [default: the server's health.target_label]
    #[arg(long)]
    pub by: Option<String>,
    /// A bearer token (reader role) when the server requires one.
    #[arg(long, env = "TICKDB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AnomalyCommand {
    /// Score a `timestamp,value` CSV with the detector code anomaly rules use.
    #[command(
        after_help = "Example:\n  tickdb anomaly score --input nab/data/realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv \\\n    \
--detector zscore:window=7d,robust=true > scored.csv\n\n\
The input has an optional header and `timestamp,value` lines; timestamps are\n\
`2014-04-01 00:00:00` (UTC), RFC 3339, or Unix seconds or milliseconds, in time order.\n\
The output is `timestamp,value,score,expected,lower,upper`: score in 0..1 (> 0.5 medium,\n\
> 0.667 high, > 0.833 critical), the band [lower, upper] where the value is normal; the\n\
last four are empty while the detector warms up. A summary goes to stderr.\n\n\
Detectors (KIND:PARAM=VALUE,...; every parameter optional):\n  \
zscore:window=7d,buckets=168,robust=false,sample=8,min_samples=100\n  \
holt_winters:period=1d,slots=288,alpha=0.1,beta=0.001,gamma=0.3,min_samples=12\n  \
gmm:components=2,train=1000,retrain_every=250,min_samples=200\n\
Any kind also takes likelihood=N (score how unusual the last N deviations are for this\n\
series; 0 = off) and likelihood_history=4000."
    )]
    Score(AnomalyScoreArgs),
}

#[derive(Args, Debug)]
pub struct AnomalyScoreArgs {
    /// The `timestamp,value` CSV to score.
    #[arg(long)]
    pub input: PathBuf,
    /// The detector, `KIND:PARAM=VALUE,...` (see below).
    #[arg(long)]
    pub detector: rules::anomaly::DetectorSpec,
    /// Write the scored CSV here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the whole hash chain (and an exported anchor): every line, link and hash.
    #[command(after_help = "Example:\n  tickdb audit verify --data-dir ./data\n  \
curl -s http://HOST:9201/api/v1/admin/audit/anchor | jq .data > anchor.json\n  \
tickdb audit verify --data-dir ./data --anchor anchor.json\n\n\
Prints `OK: N entries, head id X hash H` and exits 0, or\n  \
BROKEN: FILE:LINE: entry ID: REASON\n\
for the first broken entry and exits 1. With --anchor ({\"id\":..,\"hash\":..}) the log must\n\
still hold that entry unchanged, which detects a truncated tail.")]
    Verify(AuditVerifyArgs),
    /// Write audit entries to stdout, oldest first, as JSON lines or CSV.
    #[command(after_help = "Example:\n  tickdb audit export --data-dir ./data --actor alice --since 1764547200\n  \
tickdb audit export --format csv --action rule.update > rule-changes.csv")]
    Export(AuditExportArgs),
}

#[derive(Args, Debug)]
pub struct AuditVerifyArgs {
    /// Data directory (the log is in its `audit` directory).
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// JSON file with an anchor `{"id":N,"hash":"..."}` exported earlier.
    #[arg(long)]
    pub anchor: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditExportFormat {
    Jsonl,
    Csv,
}

#[derive(Args, Debug)]
pub struct AuditExportArgs {
    /// Data directory (the log is in its `audit` directory).
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: AuditExportFormat,
    /// Only entries of this actor (token subject).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only entries of this action (e.g. rule.update).
    #[arg(long)]
    pub action: Option<String>,
    /// Only entries at or after this time (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub since: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Check that rule files parse and are valid (`promtool check rules`).
    #[command(after_help = "Example:\n  tickdb rules check examples/rules/gameserver.yml\n\n\
Prints `SUCCESS: N rules found` per file, or `FAILED:` and each error as\n  \
FILE:LINE:COL: group \"NAME\", rule N, \"RULE\": MESSAGE\n\
and exits 1. Rules with the same name and labels are reported as a lint finding\n\
(exit 0, or 3 with --lint-fatal).")]
    Check(RulesCheckArgs),
    /// Run rule unit tests in promtool's test file format (`promtool test rules`).
    #[command(after_help = "Example:\n  tickdb rules test examples/rules/gameserver_test.yml\n\n\
A test file names rule files (relative to it, globs allowed) and test groups:\n  \
rule_files: [gameserver.yml]\n  \
evaluation_interval: 1m\n  \
tests:\n    \
- interval: 1m\n      \
input_series:\n        \
- series: 'up{job=\"gameserver\", instance=\"game-1:9500\"}'\n          \
values: '0x10'\n      \
alert_rule_test:\n        \
- eval_time: 0s\n          \
alertname: GameServerDown\n          \
exp_alerts: []        # pending (for: 1m), not firing yet\n\n\
Expected alerts list their labels and rendered annotations (exp_labels, exp_annotations).\n\
Exits 1 if any test fails. See docs/rules-testing.md.")]
    Test(RulesTestArgs),
    /// Replay a rule file over stored history and report the alerts that would have fired.
    #[command(
        after_help = "Example:\n  tickdb rules backtest rules/gameserver.yml --from now-7d --to now --data-dir ./data\n  \
tickdb rules backtest alerts.yml --from 2026-12-01T00:00:00Z --to 2026-12-02T00:00:00Z --step 30s --format json\n\n\
Evaluates every group of FILE at --from, --from + step, ... up to --to with the live rule engine\n\
(for, keep_firing_for, query_offset, limit, group labels), reading the data directory directly\n\
(not while a server holds it: use a snapshot). Recorded series and ALERTS go to an in-memory\n\
overlay that later rules read; nothing is written to the data directory. Prints per rule:\n  \
firing  2026-12-01T10:05:00Z -> 2026-12-01T10:15:00Z 10m      peak 97.5       {instance=\"game-1\"}\n\
(start = when it fired, end = first evaluation where it was no longer active, peak = highest\n\
value while active), pending periods that never fired, and a summary. See docs/backtest.md."
    )]
    Backtest(RulesBacktestArgs),
}

/// Output format of `rules backtest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BacktestFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct RulesBacktestArgs {
    /// Rule file (Prometheus format, as `rules check` accepts it).
    pub file: PathBuf,
    /// Start: RFC 3339, Unix seconds, `now` or `now-<duration>` (e.g. now-7d).
    #[arg(long, allow_hyphen_values = true)]
    pub from: String,
    /// End (inclusive), in the same forms.
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    pub to: String,
    /// Time between evaluations. [default: each group's interval]
    #[arg(long)]
    pub step: Option<PromDuration>,
    /// Data directory to read. [default: the config's, else ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Server configuration to take the data directory, query limits and rule options from.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: BacktestFormat,
    /// Refuse to run when a group would be evaluated more often than this (0 = no limit).
    #[arg(long, default_value_t = 100_000)]
    pub max_steps: u64,
}

/// Which lint checks `rules check` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesLint {
    None,
    DuplicateRules,
}

#[derive(Args, Debug)]
pub struct RulesCheckArgs {
    /// Rule files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Lint checks to run.
    #[arg(long, value_enum, default_value = "duplicate-rules")]
    pub lint: RulesLint,
    /// Exit with code 3 when lint checks find something.
    #[arg(long)]
    pub lint_fatal: bool,
}

#[derive(Args, Debug)]
pub struct RulesTestArgs {
    /// Test files to run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Run only test groups whose name matches this regular expression; may be repeated.
    #[arg(long)]
    pub run: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum TsdbCommand {
    /// Backfill blocks from an OpenMetrics text file.
    #[command(after_help = "Example:\n  tickdb tsdb import --format openmetrics metrics.om --data-dir ./data\n\n\
The file holds samples with timestamps (in seconds) and ends with `# EOF`:\n  \
# TYPE http_requests counter\n  http_requests_total{code=\"200\"} 1027 1700000000\n  # EOF")]
    Import(ImportArgs),
    /// Print every sample as `{labels} value timestamp` lines (like `promtool tsdb dump`).
    #[command(
        after_help = "Example:\n  tickdb tsdb dump --data-dir ./data --match 'up{job=\"node\"}' --min-time 1700000000000"
    )]
    Dump(DumpArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    Openmetrics,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Input format.
    #[arg(long, value_enum, default_value = "openmetrics")]
    pub format: ImportFormat,
    /// The file to import.
    pub file: PathBuf,
    /// Data directory to write blocks into.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Data directory to read.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// Series selector; may be repeated (series matching any are dumped).
    #[arg(long = "match", default_value = "{__name__=~\".+\"}")]
    pub matches: Vec<String>,
    /// Minimum timestamp to dump, in milliseconds.
    #[arg(long, default_value_t = i64::MIN, allow_negative_numbers = true)]
    pub min_time: i64,
    /// Maximum timestamp to dump, in milliseconds.
    #[arg(long, default_value_t = i64::MAX, allow_negative_numbers = true)]
    pub max_time: i64,
}

/// `tickdb serve` flags. Every option of the config file has a flag; a flag given on the
/// command line overrides the file.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// YAML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory. [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on. [default: 127.0.0.1:9201]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key-file.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert-file.
    #[arg(long)]
    pub tls_key_file: Option<PathBuf>,
    /// Block retention (Prometheus duration, e.g. 30d; 0 keeps blocks forever). [default: 15d]
    #[arg(long)]
    pub retention: Option<PromDuration>,
    /// Audit log retention, separate from --retention (0 keeps the log forever). [default: 0s]
    #[arg(long)]
    pub audit_retention: Option<PromDuration>,
    /// Largest admin or notification API request body in bytes. [default: 1048576]
    #[arg(long)]
    pub admin_max_body_bytes: Option<usize>,
    /// Basic-auth users file (YAML, argon2 hashes; `auth/users.yml` under --data-dir unless set).
    /// [default: ./data/auth/users.yml]
    #[arg(long)]
    pub auth_users_file: Option<PathBuf>,
    /// Require credentials for queries and writes on a loopback listener too. [default: false]
    #[arg(long)]
    pub auth_require_on_loopback: Option<bool>,
    /// Interval of the background compaction/retention task. [default: 1m]
    #[arg(long)]
    pub maintain_interval: Option<PromDuration>,
    /// WAL fsync policy: always, never or interval:<duration> (e.g. interval:1s). [default: always]
    #[arg(long)]
    pub wal_fsync: Option<String>,
    /// Snappy-compress WAL records, as Prometheus does by default. [default: true]
    #[arg(long)]
    pub wal_compression: Option<bool>,
    /// Accept samples up to this far behind a series' newest sample (0 = in order only). [default: 0s]
    #[arg(long)]
    pub out_of_order_time_window: Option<PromDuration>,
    /// Size retention over blocks, WAL and head chunks in bytes (0 = off). [default: 0]
    #[arg(long)]
    pub retention_size: Option<u64>,
    /// Maximum number of series in the head (0 = unlimited). [default: 0]
    #[arg(long)]
    pub max_series: Option<usize>,
    /// Maximum query run time. [default: 2m]
    #[arg(long)]
    pub query_timeout: Option<PromDuration>,
    /// Queries evaluated concurrently. [default: 20]
    #[arg(long)]
    pub query_max_concurrency: Option<usize>,
    /// Queries allowed to wait for a slot. [default: 200]
    #[arg(long)]
    pub query_max_queue: Option<usize>,
    /// Maximum samples one query may load. [default: 50000000]
    #[arg(long)]
    pub query_max_samples: Option<usize>,
    /// Lookback delta of instant selectors. [default: 5m]
    #[arg(long)]
    pub query_lookback_delta: Option<PromDuration>,
    /// Maximum points per series of a range query. [default: 11000]
    #[arg(long)]
    pub query_max_points_per_series: Option<i64>,
    /// Maximum form-encoded POST body of the query API in bytes. [default: 10485760]
    #[arg(long)]
    pub query_max_form_bytes: Option<usize>,
    /// Maximum compressed write body in bytes. [default: 33554432]
    #[arg(long)]
    pub write_max_body_bytes: Option<usize>,
    /// Maximum decompressed write body in bytes. [default: 134217728]
    #[arg(long)]
    pub write_max_decompressed_bytes: Option<usize>,
    /// Maximum series per write request. [default: 100000]
    #[arg(long)]
    pub write_max_series_per_request: Option<usize>,
    /// Write requests handled concurrently. [default: 16]
    #[arg(long)]
    pub write_max_concurrency: Option<usize>,
    /// How long a write waits for a free slot before 503. [default: 5s]
    #[arg(long)]
    pub write_max_queue_wait: Option<PromDuration>,
    /// Maximum label name length in bytes. [default: 1024]
    #[arg(long)]
    pub write_max_label_name_length: Option<usize>,
    /// Maximum label value length in bytes. [default: 4096]
    #[arg(long)]
    pub write_max_label_value_length: Option<usize>,
    /// Maximum labels per series. [default: 64]
    #[arg(long)]
    pub write_max_labels_per_series: Option<usize>,
    /// Series whose label sets are cached between writes (0 = off). [default: 524288]
    #[arg(long)]
    pub write_series_cache_size: Option<usize>,
    /// Directory of Prometheus rule files, reloaded on SIGHUP and POST /-/reload (empty = none). [default: ]
    #[arg(long)]
    pub rules_dir: Option<PathBuf>,
    /// Interval of rule groups that set none. [default: 1m]
    #[arg(long)]
    pub rules_evaluation_interval: Option<PromDuration>,
    /// Evaluate rules against this Prometheus-API URL instead of the local engine. [default: ]
    #[arg(long)]
    pub rules_datasource_url: Option<String>,
    /// Forward alerts to this Alertmanager (repeat for several). [default: ]
    #[arg(long = "alertmanager-url")]
    pub alertmanager_urls: Vec<String>,
    /// Receivers and routing of tickdb's own notifications (docs/notifications.md). [default: ]
    #[arg(long)]
    pub notifications_file: Option<PathBuf>,
}

impl ServeArgs {
    /// Overrides `cfg` with the flags that were given.
    pub fn apply(&self, cfg: &mut Config) {
        fn set<T: Clone>(dst: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *dst = v.clone();
            }
        }
        set(&mut cfg.data_dir, &self.data_dir);
        set(&mut cfg.listen, &self.listen);
        set(&mut cfg.tls.cert_file, &self.tls_cert_file);
        set(&mut cfg.tls.key_file, &self.tls_key_file);
        set(&mut cfg.storage.retention, &self.retention);
        set(&mut cfg.audit.retention, &self.audit_retention);
        set(&mut cfg.admin.max_body_bytes, &self.admin_max_body_bytes);
        set(&mut cfg.auth.basic_auth_users_file, &self.auth_users_file);
        set(&mut cfg.auth.require_on_loopback, &self.auth_require_on_loopback);
        set(&mut cfg.storage.maintain_interval, &self.maintain_interval);
        set(&mut cfg.storage.wal_fsync, &self.wal_fsync);
        set(&mut cfg.storage.wal_compression, &self.wal_compression);
        set(&mut cfg.storage.out_of_order_time_window, &self.out_of_order_time_window);
        set(&mut cfg.storage.retention_size, &self.retention_size);
        set(&mut cfg.storage.max_series, &self.max_series);
        set(&mut cfg.query.timeout, &self.query_timeout);
        set(&mut cfg.query.max_concurrency, &self.query_max_concurrency);
        set(&mut cfg.query.max_queue, &self.query_max_queue);
        set(&mut cfg.query.max_samples, &self.query_max_samples);
        set(&mut cfg.query.lookback_delta, &self.query_lookback_delta);
        set(&mut cfg.query.max_points_per_series, &self.query_max_points_per_series);
        set(&mut cfg.query.max_form_bytes, &self.query_max_form_bytes);
        set(&mut cfg.write.max_body_bytes, &self.write_max_body_bytes);
        set(&mut cfg.write.max_decompressed_bytes, &self.write_max_decompressed_bytes);
        set(&mut cfg.write.max_series_per_request, &self.write_max_series_per_request);
        set(&mut cfg.write.max_concurrency, &self.write_max_concurrency);
        set(&mut cfg.write.max_queue_wait, &self.write_max_queue_wait);
        set(&mut cfg.write.max_label_name_length, &self.write_max_label_name_length);
        set(&mut cfg.write.max_label_value_length, &self.write_max_label_value_length);
        set(&mut cfg.write.max_labels_per_series, &self.write_max_labels_per_series);
        set(&mut cfg.write.series_cache_size, &self.write_series_cache_size);
        set(&mut cfg.rules.dir, &self.rules_dir);
        set(&mut cfg.rules.evaluation_interval, &self.rules_evaluation_interval);
        set(&mut cfg.rules.datasource_url, &self.rules_datasource_url);
        if !self.alertmanager_urls.is_empty() {
            cfg.alerting.alertmanagers = self.alertmanager_urls.clone();
        }
        set(&mut cfg.alerting.notifications_file, &self.notifications_file);
    }
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    crate::tls::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let mut cfg = match &args.config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            args.apply(&mut cfg);
            if let Some(f) = cli.log_format {
                cfg.log.format = f;
            }
            if let Some(l) = &cli.log_level {
                cfg.log.level = l.clone();
            }
            cfg.validate()?;
            crate::logging::init(cfg.log.format, &cfg.log.level);
            let mut flags = cfg.flag_values();
            if let Some(p) = &args.config {
                flags.insert("config".into(), p.display().to_string());
            }
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(async move {
                let engine = crate::wiring::engine(&cfg);
                let handle = crate::server::start(cfg, Box::new(crate::wiring::open_storage), engine, flags).await?;
                handle.join().await
            })
        }
        Command::Tsdb(cmd) => {
            crate::logging::init(cli.log_format.unwrap_or_default(), cli.log_level.as_deref().unwrap_or("warn"));
            match cmd {
                TsdbCommand::Import(a) => crate::tsdb_import::run(&a),
                TsdbCommand::Dump(a) => crate::dump::run(&a, &mut std::io::stdout().lock()),
            }
        }
        Command::Rules(cmd) => {
            crate::logging::init(cli.log_format.unwrap_or_default(), cli.log_level.as_deref().unwrap_or("error"));
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            let code = match cmd {
                RulesCommand::Check(a) => crate::rules_cli::check(&a, &mut out, &mut err)?,
                RulesCommand::Test(a) => crate::rules_cli::test(&a, &mut out, &mut err)?,
                RulesCommand::Backtest(a) => {
                    crate::backtest::run(&a, &mut out)?;
                    0
                }
            };
            std::io::Write::flush(&mut out)?;
            if code != 0 {
                // The exit code is the result (promtool's 1 and 3), not an error to print.
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Token(cmd) => {
            crate::logging::init(cli.log_format.unwrap_or_default(), cli.log_level.as_deref().unwrap_or("warn"));
            crate::auth::cli::token(&cmd, &mut std::io::stdout().lock(), &mut std::io::stderr().lock())
        }
        Command::User(cmd) => crate::auth::cli::user(&cmd, &mut std::io::stdin().lock(), &mut std::io::stdout().lock()),
        Command::Capacity(a) => crate::capacity_cli::run(&a, &mut std::io::stdout().lock()),
        Command::Audit(cmd) => {
            crate::logging::init(cli.log_format.unwrap_or_default(), cli.log_level.as_deref().unwrap_or("error"));
            let mut out = std::io::stdout().lock();
            match cmd {
                AuditCommand::Verify(a) => {
                    let code = crate::audit::cli::run_verify(&a, &mut out)?;
                    std::io::Write::flush(&mut out)?;
                    if code != 0 {
                        std::process::exit(code);
                    }
                    Ok(())
                }
                AuditCommand::Export(a) => crate::audit::cli::run_export(&a, &mut out),
            }
        }
        Command::Anomaly(AnomalyCommand::Score(a)) => {
            crate::logging::init(cli.log_format.unwrap_or_default(), cli.log_level.as_deref().unwrap_or("error"));
            crate::anomaly_cli::score(&a, &mut std::io::stdout().lock(), &mut std::io::stderr().lock())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command's long help (what `--help` prints) has an example.
    #[test]
    fn every_command_has_an_example() {
        fn walk(cmd: &mut clap::Command, path: &str, out: &mut Vec<String>) {
            let help = cmd.render_long_help().to_string();
            if !help.contains("Example:\n  tickdb ") {
                out.push(path.to_string());
            }
            for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
                let p = format!("{path} {}", sub.get_name());
                walk(sub, &p, out);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = Cli::command();
        cmd.build();
        walk(&mut cmd, "tickdb", &mut missing);
        assert!(missing.is_empty(), "no example in the help of: {missing:?}");
    }

    /// The `[default: ...]` each flag's help shows is the configuration's real default.
    #[test]
    fn help_shows_the_real_defaults() {
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").expect("serve");
        for (flag, value) in Config::default().flag_values() {
            let arg = serve.get_arguments().chain(cmd.get_arguments()).find(|a| a.get_long() == Some(flag.as_str()));
            let help = arg.and_then(|a| a.get_help()).map(|h| h.to_string()).unwrap_or_default();
            assert!(help.ends_with(&format!("[default: {value}]")), "--{flag}: {help:?}");
        }
    }

    #[test]
    fn flags_override_config() {
        let cli = Cli::parse_from([
            "tickdb",
            "serve",
            "--listen",
            "127.0.0.1:1",
            "--query-timeout",
            "10s",
            "--log-format",
            "json",
        ]);
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        let mut cfg = Config::default();
        args.apply(&mut cfg);
        assert_eq!(cfg.listen.port(), 1);
        assert_eq!(cfg.query.timeout, PromDuration::from_secs(10));
        assert_eq!(cli.log_format, Some(LogFormat::Json));
        assert_eq!(cfg.data_dir, Config::default().data_dir);
    }
}
