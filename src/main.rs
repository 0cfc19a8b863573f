//! `quartermaster`: the control plane's command line. It parses arguments,
//! reads configuration and wires the crates together; nothing more.

mod cli;
mod local_postgres;
mod server;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    server::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::Error::new(err)),
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// One readable line on stderr, causes joined, and a non-zero exit.
fn fail(err: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "quartermaster: {err:#}");
    ExitCode::FAILURE
}
