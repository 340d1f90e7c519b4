//! The `tickdb` binary.

fn main() -> std::process::ExitCode {
    match tickdb::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickdb: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
