//! The progress bar of the offline commands (`tickdb tsdb import`, `tickdb rules backtest`):
//! drawn on stderr, and only when stderr is a terminal, so pipes, logs and tests see nothing.

use std::io::IsTerminal;

/// A bar of `len` steps drawn with `template` (indicatif's syntax, e.g.
/// `"{bar:40} {pos}/{len} samples ({eta})"`), or `None` when stderr is not a terminal.
pub fn terminal_bar(len: u64, template: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        b.set_style(style);
    }
    Some(b)
}
