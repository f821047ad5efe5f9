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
/// The time, in seconds since 1970, to write into documents instead of the clock's (the
/// reproducible-builds convention): a pipeline step that sets it writes the same document each
/// time it runs.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The time a document records: `SOURCE_DATE_EPOCH` when it is set to a valid time, else now.
pub fn document_time() -> chrono::DateTime<chrono::Utc> {
    std::env::var(SOURCE_DATE_EPOCH)
        .ok()
        .and_then(|seconds| seconds.trim().parse::<i64>().ok())
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .unwrap_or_else(chrono::Utc::now)
}

/// What every name above starts with; a step records the variables that do.
pub const PREFIX: &str = "MLSPEC_";

/// The variable a command run with parameters (a search's trial, an ingested generator) reads
/// parameter `key` from: `MLSPEC_PARAM_` and the key in upper case, characters other than ASCII
/// letters and digits as `_` (`learning-rate` → `MLSPEC_PARAM_LEARNING_RATE`).
pub fn param_variable(key: &str) -> String {
    format!("MLSPEC_PARAM_{}", mlspec_spec::redact::variable_part(key))
}
