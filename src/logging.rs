//! Structured logs with tracing: `logfmt` (`ts=... level=info msg="..." key=value`) or JSON lines.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. A second call (e.g. in tests) is a no-op.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// The logfmt event formatter.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        write!(w, "ts={ts} level={} target={}", meta.level().as_str().to_ascii_lowercase(), meta.target())?;
        let mut v = LogfmtVisitor { out: String::new() };
        event.record(&mut v);
        writeln!(w, "{}", v.out)
    }
}

struct LogfmtVisitor {
    out: String,
}

impl LogfmtVisitor {
    fn push(&mut self, name: &str, value: &str) {
        let name = if name == "message" { "msg" } else { name };
        let _ = write!(self.out, " {name}=");
        if !value.is_empty() && !value.contains([' ', '"', '=', '\n', '\\']) {
            self.out.push_str(value);
        } else {
            let _ = write!(self.out, "{value:?}");
        }
    }
}

impl Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field.name(), &format!("{value:?}"));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field.name(), &value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        let mut v = LogfmtVisitor { out: String::new() };
        v.push("message", "hello world");
        v.push("addr", "127.0.0.1:9201");
        v.push("empty", "");
        assert_eq!(v.out, r#" msg="hello world" addr=127.0.0.1:9201 empty="""#);
    }
}
