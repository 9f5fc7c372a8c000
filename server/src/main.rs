//! The `peerlink-server` binary; see [`peerlink_server::cli::Args`] for flags.
#![forbid(unsafe_code)]

use clap::Parser;
use peerlink_server::cli::{run, Args};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("peerlink-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}
