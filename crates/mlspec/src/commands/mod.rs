//! One module per subcommand.

pub mod apply;
pub mod data;
pub mod demo;
pub mod eval;
pub mod get;
pub mod history;
pub mod init;
pub mod kinds;
pub mod lifecycle;
pub mod lineage;
pub mod list;
pub mod log;
pub mod migrate;
pub mod new;
pub mod objectives;
pub mod package;
pub mod schema;
pub mod step;
pub mod store;
pub mod test;
pub mod validate;
