//! `alertd`, the daemon. Everything lives in the library; see [`alertd::cli::main`].

/// mimalloc instead of glibc's malloc: the notifier and the store allocate many small,
/// short-lived objects from several threads, where glibc's per-thread arenas cost CPU
/// (consolidation) and keep freed memory as RSS (see README "Benchmarks").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    alertd::cli::main()
}
