//! The flags that several commands share, as clap argument groups and value types: how data
//! files are read (`CsvArgs`) and where and how a written document goes (`OutputArgs`). The
//! `--format` values themselves are [`crate::output::Format`].

use std::path::PathBuf;
use std::time::Duration;

use mlspec_attest::log::Fsync;

use arrow::datatypes::{DataType, TimeUnit};
use mlspec_data::{CsvOptions, DEFAULT_NULL_VALUES, Limits, ReadOptions};

use crate::output::{Format, YAML_OR_JSON, formats};

/// CSV dialect and typing, and the reading limits.
#[derive(clap::Args)]
pub struct CsvArgs {
    /// The CSV field separator (default `,`, or tab for .tsv).
    #[arg(long, value_parser = single_byte)]
    delimiter: Option<u8>,
    /// The CSV has no header line (columns are named column_1, …).
    #[arg(long)]
    no_header: bool,
    /// Rows read to infer CSV and JSON Lines column types.
    #[arg(long, default_value_t = 1000)]
    infer_rows: usize,
    /// A column's type instead of the inferred one (repeatable): COL=int|float|string|bool|timestamp.
    #[arg(long = "type", value_name = "COL=TYPE", value_parser = column_type)]
    types: Vec<(String, DataType)>,
    /// A CSV field that is a missing value (repeatable; exact and case-sensitive), besides the
    /// defaults: empty, NA, N/A, n/a, NULL, null, #N/A, <NA>.
    #[arg(long = "null-value", value_name = "TOKEN")]
    null_values: Vec<String>,
    /// Only the --null-value tokens are missing values (an empty field too only with
    /// `--null-value ''`): for data where `NA` is a value, such as Namibia's country code.
    #[arg(long)]
    no_default_nulls: bool,
    /// The most columns a file may have.
    #[arg(long, value_name = "N", env = crate::env::MAX_COLUMNS, default_value_t = Limits::DEFAULT_MAX_COLUMNS)]
    max_columns: usize,
    /// The most bytes a record may have (a CSV record with all its fields, a JSON Lines line).
    #[arg(long, value_name = "N", env = crate::env::MAX_RECORD_BYTES, default_value_t = Limits::DEFAULT_MAX_RECORD_BYTES)]
    max_record_bytes: usize,
}

impl CsvArgs {
    pub fn read_options(&self) -> ReadOptions {
        let mut null_values: Vec<String> = if self.no_default_nulls {
            Vec::new()
        } else {
            DEFAULT_NULL_VALUES.iter().map(|s| (*s).to_owned()).collect()
        };
        null_values.extend(self.null_values.iter().cloned());
        ReadOptions {
            csv: CsvOptions {
                header: !self.no_header,
                delimiter: self.delimiter,
                infer_rows: self.infer_rows,
                types: self.types.clone(),
                null_values,
                ..CsvOptions::default()
            },
            limits: Limits {
                max_columns: self.max_columns,
                max_record_bytes: self.max_record_bytes,
            },
            warn: Some(warn_user),
            ..ReadOptions::default()
        }
    }
}

/// A reader's warning, on standard error.
fn warn_user(text: &str) {
    errln!("warning: {text}");
}

/// Where and how a command writes its document.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Write the document here instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The document's format.
    #[arg(long, value_parser = formats(YAML_OR_JSON), default_value = "yaml")]
    pub format: Format,
}

fn single_byte(text: &str) -> Result<u8, String> {
    match text.as_bytes() {
        [byte] => Ok(*byte),
        b"\\t" => Ok(b'\t'),
        _ => Err(format!("`{text}` is not one ASCII character")),
    }
}

fn column_type(text: &str) -> Result<(String, DataType), String> {
    let (column, name) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not COL=TYPE"))?;
    let data_type = match name {
        "int" | "integer" => DataType::Int64,
        "float" | "double" => DataType::Float64,
        "string" | "text" => DataType::Utf8,
        "bool" | "boolean" => DataType::Boolean,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        other => {
            return Err(format!(
                "unknown type `{other}`; use int, float, string, bool or timestamp"
            ));
        }
    };
    Ok((column.to_owned(), data_type))
}

/// An `--fsync` value: `never`, `line`, every N lines, or at most every T milliseconds (`Tms`).
pub fn fsync(text: &str) -> Result<Fsync, String> {
    match text {
        "never" => Ok(Fsync::Never),
        "line" => Ok(Fsync::EveryLine),
        _ => {
            if let Some(ms) = text.strip_suffix("ms") {
                let ms: u64 = ms.parse().map_err(|_| format!("`{text}` is not Tms"))?;
                Ok(Fsync::Every(Duration::from_millis(ms)))
            } else {
                let n: u64 = text
                    .parse()
                    .map_err(|_| format!("`{text}` is not never, line, N or Tms"))?;
                Ok(Fsync::EveryLines(n.max(1)))
            }
        }
    }
}
