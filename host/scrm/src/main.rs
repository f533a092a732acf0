//! The `scrm` binary; see [`scrm::cli`].

/// mimalloc rather than the C library's allocator: under webhook load the host
/// allocates and frees small `String`s, `Vec`s and JSON trees per message from
/// several threads, where glibc's malloc spent 16 % of the CPU (docs/perf/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    scrm::cli::main()
}
