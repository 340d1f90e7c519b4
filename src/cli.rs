//! The command line: `tickdb serve`, `tickdb tsdb import`, `tickdb tsdb dump`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::duration::PromDuration;

#[derive(Parser, Debug)]
#[command(name = "tickdb", version, about = "A Prometheus-compatible time-series database")]
pub struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log level or tracing filter directive (e.g. `info`, `debug,hyper=info`).
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
    #[command(subcommand)]
    Tsdb(TsdbCommand),
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
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Block retention (Prometheus duration, e.g. 15d).
    #[arg(long)]
    pub retention: Option<PromDuration>,
    /// Interval of the background compaction/retention task.
    #[arg(long)]
    pub maintain_interval: Option<PromDuration>,
    /// Maximum query run time.
    #[arg(long)]
    pub query_timeout: Option<PromDuration>,
    /// Queries evaluated concurrently.
    #[arg(long)]
    pub query_max_concurrency: Option<usize>,
    /// Queries allowed to wait for a slot.
    #[arg(long)]
    pub query_max_queue: Option<usize>,
    /// Maximum samples one query may load.
    #[arg(long)]
    pub query_max_samples: Option<usize>,
    /// Lookback delta of instant selectors.
    #[arg(long)]
    pub query_lookback_delta: Option<PromDuration>,
    /// Maximum points per series of a range query.
    #[arg(long)]
    pub query_max_points_per_series: Option<i64>,
    /// Maximum compressed write body in bytes.
    #[arg(long)]
    pub write_max_body_bytes: Option<usize>,
    /// Maximum decompressed write body in bytes.
    #[arg(long)]
    pub write_max_decompressed_bytes: Option<usize>,
    /// Maximum series per write request.
    #[arg(long)]
    pub write_max_series_per_request: Option<usize>,
    /// Write requests handled concurrently.
    #[arg(long)]
    pub write_max_concurrency: Option<usize>,
    /// Maximum label name length in bytes.
    #[arg(long)]
    pub write_max_label_name_length: Option<usize>,
    /// Maximum label value length in bytes.
    #[arg(long)]
    pub write_max_label_value_length: Option<usize>,
    /// Maximum labels per series.
    #[arg(long)]
    pub write_max_labels_per_series: Option<usize>,
    /// Series whose label sets are cached between writes (0 = off).
    #[arg(long)]
    pub write_series_cache_size: Option<usize>,
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
        set(&mut cfg.storage.retention, &self.retention);
        set(&mut cfg.storage.maintain_interval, &self.maintain_interval);
        set(&mut cfg.query.timeout, &self.query_timeout);
        set(&mut cfg.query.max_concurrency, &self.query_max_concurrency);
        set(&mut cfg.query.max_queue, &self.query_max_queue);
        set(&mut cfg.query.max_samples, &self.query_max_samples);
        set(&mut cfg.query.lookback_delta, &self.query_lookback_delta);
        set(&mut cfg.query.max_points_per_series, &self.query_max_points_per_series);
        set(&mut cfg.write.max_body_bytes, &self.write_max_body_bytes);
        set(&mut cfg.write.max_decompressed_bytes, &self.write_max_decompressed_bytes);
        set(&mut cfg.write.max_series_per_request, &self.write_max_series_per_request);
        set(&mut cfg.write.max_concurrency, &self.write_max_concurrency);
        set(&mut cfg.write.max_label_name_length, &self.write_max_label_name_length);
        set(&mut cfg.write.max_label_value_length, &self.write_max_label_value_length);
        set(&mut cfg.write.max_labels_per_series, &self.write_max_labels_per_series);
        set(&mut cfg.write.series_cache_size, &self.write_series_cache_size);
    }
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
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
