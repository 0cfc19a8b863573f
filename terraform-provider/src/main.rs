//! The plugin binary Terraform starts: it serves the provider over gRPC
//! and says where on stdout (the plugin handshake).

use std::process::ExitCode;

use terraform_provider::QuartermasterProvider;

#[tokio::main]
async fn main() -> ExitCode {
    match tf_provider::serve("quartermaster", QuartermasterProvider::default()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("terraform-provider-quartermaster: {error:#}");
            ExitCode::FAILURE
        }
    }
}
