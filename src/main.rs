//! `quartermaster`: the control plane's command line. It parses arguments,
//! reads configuration and wires the crates together; nothing more.

mod cli;
mod dev_gateway;
mod local_postgres;
mod server;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

const SERVICE: telemetry::Service = telemetry::Service {
    name: "quartermaster",
    version: env!("CARGO_PKG_VERSION"),
};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::Error::new(err)),
    };
    let telemetry = match telemetry::init(SERVICE, runtime.handle()) {
        Ok(telemetry) => telemetry,
        Err(err) => return fail(&anyhow::Error::new(err)),
    };
    let result = runtime.block_on(cli.run());
    // The last spans are sent on the runtime: before it goes.
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// One readable line on stderr, causes joined, and a non-zero exit.
fn fail(err: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "quartermaster: {err:#}");
    ExitCode::FAILURE
}
