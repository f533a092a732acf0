//! The `scrm` binary; see [`scrm::cli`].

fn main() -> std::process::ExitCode {
    scrm::cli::main()
}
