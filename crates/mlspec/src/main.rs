//! `mlspec`: the MLSpec command-line tool.
//!
//! Exit codes: 0 success, 1 the command ran and found a violation (an invalid document),
//! 2 the command could not do its job (bad flags, unreadable input).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod examples;
mod inputs;
mod report;

/// MLSpec: typed, versioned metadata for every stage of the machine-learning lifecycle.
#[derive(Parser)]
#[command(name = "mlspec", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Validate(commands::validate::Args),
    Migrate(commands::migrate::Args),
    Schema(commands::schema::Args),
    New(commands::new::Args),
    Kinds(commands::kinds::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Kinds(args) => commands::kinds::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
