//! The `hydrogen` command line.

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Hydrogen: a highly available Mesos framework for long-running containers.
#[derive(Debug, Parser)]
#[command(name = "hydrogen", version, about, long_about = None)]
struct Cli {
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, global = true, env = "HYDROGEN_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a simulated Mesos master with fake agents, speaking the real v1
    /// scheduler HTTP API (for development, tests and demos).
    Sim(hydrogen::sim::SimArgs),
}

fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_env("HYDROGEN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    match cli.command {
        Command::Sim(args) => {
            let config = args
                .into_config()
                .context("invalid simulator configuration")?;
            hydrogen::sim::run_until_signal(config)
                .await
                .context("simulated master failed")?;
        }
    }
    Ok(())
}
