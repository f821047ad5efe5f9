//! One module per subcommand.

pub mod kinds;
pub mod migrate;
pub mod new;
pub mod schema;
pub mod validate;

/// How a reporting command prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Readable text.
    Human,
    /// JSON on stdout.
    Json,
}
