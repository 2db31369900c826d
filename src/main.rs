//! The `strand` binary: every role, or one of them, in one executable.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    strand_app::main()
}
