//! The environment variables `mlspec` reads, and those it sets for the commands it runs, named
//! once. The names are documented (docs/) and users' setups depend on them: they do not change.
//! The store's and the step server's own variables are named in their crates, next to the code
//! that reads them (`mlspec_store::STATEMENT_TIMEOUT_VAR`, `mlspec_server::serve`).

/// The metadata store's URL (`--store`).
pub const STORE: &str = "MLSPEC_STORE";
/// Who acts, as recorded in `createdBy` and events (`--user`).
pub const USER: &str = "MLSPEC_USER";
/// The older name of [`USER`], still read.
pub const ACTOR: &str = "MLSPEC_ACTOR";
/// Where step logs and the spool go when there is no project store.
pub const HOME: &str = "MLSPEC_HOME";
/// The most columns a data file may have (`--max-columns`).
pub const MAX_COLUMNS: &str = "MLSPEC_MAX_COLUMNS";
/// The most bytes a data record may have (`--max-record-bytes`).
pub const MAX_RECORD_BYTES: &str = "MLSPEC_MAX_RECORD_BYTES";
/// Set for a step's command: the URL of the step's endpoints.
pub const STEP_URL: &str = "MLSPEC_STEP_URL";
/// Set for a step's command: the file it may append metrics to, one JSON object a line.
pub const METRICS_FILE: &str = "MLSPEC_METRICS_FILE";
/// Set for a step's command: the id of the Run that records it.
pub const RUN_ID: &str = "MLSPEC_RUN_ID";
/// What every name above starts with; a step records the variables that do.
pub const PREFIX: &str = "MLSPEC_";
