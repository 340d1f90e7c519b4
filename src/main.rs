//! The `tickdb` binary.

/// jemalloc rather than glibc malloc: under remote-write load about a fifth less CPU per sample
/// and a little less peak RSS (glibc's per-thread arenas stay fragmented with many writer
/// threads); mimalloc doubled RSS. Measured with `benches/compare/compare.py`, see
/// docs/benchmarks.md.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    match tickdb::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickdb: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
