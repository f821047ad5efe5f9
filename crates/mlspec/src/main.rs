//! `mlspec`: the MLSpec command-line tool.
//!
//! Exit codes: 0 success, 1 the command ran and found a violation (an invalid document, a
//! [`violation::Violation`] it returned), 2 the command could not do its job (bad flags,
//! unreadable input).

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mlspec_spec::Status;

#[macro_use]
mod output;

mod args;
mod columns;
mod commands;
mod datasets;
mod documents;
mod env;
mod evaluation;
mod examples;
mod files;
mod inputs;
mod listen;
mod monitoring;
mod openlineage;
mod pipeline;
mod progress;
mod report;
mod step;
mod store;
mod store_server;
mod table;
mod trust;
mod tune;
mod validation;
mod verdict;
mod violation;

/// MLSpec: typed, versioned metadata for every stage of the machine-learning lifecycle.
#[derive(Parser)]
#[command(name = "mlspec", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The metadata store: sqlite:PATH, a file path, postgres://USER@HOST:PORT/DB, or
    /// http://HOST:PORT (an `mlspec server`). Default:
    /// .mlspec/store.db in this directory or the nearest parent that has one.
    #[arg(
        long,
        global = true,
        env = env::STORE,
        hide_env_values = true,
        value_name = "URL"
    )]
    store: Option<String>,
    /// Who is acting, recorded as `createdBy` and in every store event. Default: the operating
    /// system's user.
    #[arg(long, global = true, env = env::USER, value_name = "NAME")]
    user: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    Validate(commands::validate::Args),
    Migrate(commands::migrate::Args),
    Schema(commands::schema::Args),
    New(commands::new::Args),
    Kinds(commands::kinds::Args),
    Init(commands::init::Args),
    Apply(commands::apply::Args),
    Get(commands::get::Args),
    List(commands::list::Args),
    /// Deprecate an object: still usable, with a warning.
    Deprecate(commands::lifecycle::StatusArgs),
    /// Archive an object: using it becomes an error, its name is free, it stays readable by id.
    Archive(commands::lifecycle::StatusArgs),
    /// Make a deprecated or archived object (or version) active again.
    Reactivate(commands::lifecycle::StatusArgs),
    Rename(commands::lifecycle::RenameArgs),
    Promote(commands::lifecycle::PromoteArgs),
    History(commands::history::Args),
    Lineage(commands::lineage::Args),
    Store(commands::store::Args),
    Db(commands::store::DbArgs),
    Server(commands::server::Args),
    Ui(commands::ui::Args),
    /// Serve a signed model package through the gateway: every request forwarded to its model
    /// server and logged, traffic split for rollouts, signals monitored.
    Serve(Box<commands::serve::Args>),
    /// Promote, abort or show the rollout a gateway (`mlspec serve --canary`) is running.
    Rollout(commands::rollout::Args),
    /// Evaluate a MonitoringPolicy over a recorded inference log (offline), or join delayed
    /// labels to logged requests (`monitor feedback`).
    Monitor(Box<commands::monitor::Args>),
    Step(commands::step::Args),
    Objectives(commands::objectives::Args),
    Data(Box<commands::data::Args>),
    Ingest(Box<commands::ingest::Args>),
    Training(commands::training::Args),
    Tune(Box<commands::tune::Args>),
    Eval(Box<commands::eval::Args>),
    Test(Box<commands::test::Args>),
    Keygen(commands::package::KeygenArgs),
    Package(commands::package::Args),
    Pipeline(commands::pipeline::Args),
    Recreate(commands::recreate::Args),
    Log(commands::log::Args),
    Demo(commands::demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    store::set_user(cli.user);
    let choice = store::StoreChoice { url: cli.store };
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Kinds(args) => commands::kinds::run(args),
        Command::Init(args) => commands::init::run(args, &choice),
        Command::Apply(args) => commands::apply::run(args, &choice),
        Command::Get(args) => commands::get::run(args, &choice),
        Command::List(args) => commands::list::run(args, &choice),
        Command::Deprecate(args) => commands::lifecycle::set_status(args, Status::Deprecated, &choice),
        Command::Archive(args) => commands::lifecycle::set_status(args, Status::Archived, &choice),
        Command::Reactivate(args) => commands::lifecycle::set_status(args, Status::Active, &choice),
        Command::Rename(args) => commands::lifecycle::rename(args, &choice),
        Command::Promote(args) => commands::lifecycle::promote(args, &choice),
        Command::History(args) => commands::history::run(args, &choice),
        Command::Lineage(args) => commands::lineage::run(args, &choice),
        Command::Store(args) => commands::store::run(args, &choice),
        Command::Db(args) => commands::store::upgrade(args, &choice),
        Command::Server(args) => commands::server::run(args, &choice),
        Command::Ui(args) => commands::ui::run(args, &choice),
        Command::Serve(args) => commands::serve::run(*args, &choice),
        Command::Rollout(args) => commands::rollout::run(args),
        Command::Monitor(args) => commands::monitor::run(*args, &choice),
        Command::Step(args) => commands::step::run(args, &choice),
        Command::Objectives(args) => commands::objectives::run(args, &choice),
        Command::Data(args) => commands::data::run(*args, &choice),
        Command::Ingest(args) => commands::ingest::run(*args, &choice),
        Command::Training(args) => commands::training::run(args, &choice),
        Command::Tune(args) => commands::tune::run(*args, &choice),
        Command::Eval(args) => commands::eval::run(*args, &choice),
        Command::Test(args) => commands::test::run(*args, &choice),
        Command::Keygen(args) => commands::package::keygen(args),
        Command::Package(args) => commands::package::run(args, &choice),
        Command::Pipeline(args) => commands::pipeline::run(args, &choice),
        Command::Recreate(args) => commands::recreate::run(args, &choice),
        Command::Log(args) => commands::log::run(args, &choice),
        Command::Demo(args) => commands::demo::run(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(error) => match error.downcast_ref::<violation::Violation>() {
            Some(violation) => violation.report(),
            None => {
                errln!("error: {error:#}");
                ExitCode::from(2)
            }
        },
    };
    output::finish(code)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
