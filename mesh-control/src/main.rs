//! The `mesh-control` binary; see [`mesh_control::cli`].

fn main() -> std::process::ExitCode {
    mesh_control::cli::main()
}
