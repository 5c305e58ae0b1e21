//! `alertd`, the daemon. Everything lives in the library; see [`alertd::cli::main`].

fn main() -> std::process::ExitCode {
    alertd::cli::main()
}
