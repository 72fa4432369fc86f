//! The `sipguard` daemon and CLI: parses the command line, starts logging, and hands the
//! subcommand to its module in [`commands`]. Errors print as `error: ...` with exit code 1.
use std::process::ExitCode;

use clap::Parser as _;

mod args;
mod commands;

use args::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The audit prints its own report and exit code, and logs nothing.
    if let Command::Audit(args) = cli.command {
        return commands::audit::run(args);
    }
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Check(args) => commands::check::run(&args),
        Command::Status(args) => commands::status::run(&args),
        Command::DefaultConfig => commands::default_config::run(),
        Command::Ban(args) => commands::ban::ban(&args),
        Command::Unban(args) => commands::ban::unban(&args),
        Command::Bans(args) => commands::ban::list(&args),
        Command::Audit(_) => unreachable!("handled above"),
        Command::Detach(args) => commands::detach::run(&args),
        Command::Reload(args) => commands::reload::run(&args),
        Command::Install(args) => commands::install::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
