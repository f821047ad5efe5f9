//! Fitting and applying with one read of the data. Transforming training data takes two passes
//! — the mappings must be learned from all of it before any row can be mapped — and parsing a
//! CSV file is most of the work of each. So while [`fit_spooling`](super::fit_spooling) reads
//! the file to fit, it also writes every batch it parsed, uncompressed, to a *spool*: an Arrow
//! IPC stream in a temporary directory beside the output. [`Spool::apply`] then reads the
//! spool instead of the file: Arrow's own layout, copied back into memory rather than parsed.
//! The batches come back exactly as the reader gave them, so the output has the bytes that
//! [`apply`](super::apply) on the file gives. Memory stays bounded (one batch at a time goes
//! to disk); the disk holds the file's data once more, in Arrow's layout, until the spool is
//! dropped, which removes its directory, whether applying succeeded or not.
//!
//! The stream format (rather than the IPC file format) is used because it allows a dictionary
//! column's dictionary to change from batch to batch, as a Parquet file's may.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::ipc::writer::StreamWriter;

use super::{Applied, Fitted, apply_batches};
use crate::error::{DataError, ErrorKind};
use crate::read::{Format, open_ipc_stream};

/// The spool being written, during the fitting pass.
pub(super) struct Spooling {
    spool: Spool,
    writer: StreamWriter<BufWriter<File>>,
}

/// The batches of a file read once, kept on disk until the transformed data is written.
pub struct Spool {
    /// Removed, with the spool, when dropped.
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// The data file spooled, named in errors.
    file: String,
    out: PathBuf,
    format: Format,
}

impl Spooling {
    /// Starts a spool of `file`'s batches (with `schema`) in a new temporary directory beside
    /// `out`, which will be written in `format`.
    pub(super) fn create(file: &str, out: &Path, format: Format, schema: &Schema) -> Result<Spooling, DataError> {
        let beside = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let cannot = |e: &dyn std::fmt::Display| {
            DataError::new(
                ErrorKind::Io,
                &beside.display().to_string(),
                format!("cannot write the spool of {file} here: {e}"),
            )
            .with_hint("the transformed data's directory must be writable, with room for the data once more")
        };
        let dir = tempfile::Builder::new()
            .prefix(".mlspec-spool-")
            .tempdir_in(beside)
            .map_err(|e| cannot(&e))?;
        let path = dir.path().join("batches.arrows");
        let created = File::create(&path).map_err(|e| cannot(&e))?;
        let writer =
            StreamWriter::try_new(BufWriter::with_capacity(1 << 20, created), schema).map_err(|e| cannot(&e))?;
        Ok(Spooling {
            spool: Spool {
                _dir: dir,
                path,
                file: file.to_owned(),
                out: out.to_owned(),
                format,
            },
            writer,
        })
    }

    /// Adds a batch to the spool.
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.writer.write(batch).map_err(|e| self.spool.write_error(&e))
    }

    /// Ends the spool, ready to be read back.
    pub(super) fn finish(mut self) -> Result<Spool, DataError> {
        self.writer.finish().map_err(|e| self.spool.write_error(&e))?;
        let written = self.writer.into_inner().map_err(|e| self.spool.write_error(&e))?;
        written
            .into_inner()
            .map_err(|e| self.spool.write_error(&e.into_error()))?;
        Ok(self.spool)
    }
}

impl Spool {
    /// Its size on disk, in bytes: what [`Spool::apply`]'s progress counts up to.
    pub fn size(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Where [`Spool::apply`] writes: the output given to [`fit_spooling`](super::fit_spooling).
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Applies `fitted` (the document `fitted_file`, named in errors) to the spooled batches,
    /// writing [`Spool::out`] exactly as [`apply`](super::apply) writes it from the file; `progress` is called after each batch
    /// with the spool's bytes read. The spool is removed when this returns.
    pub fn apply(self, fitted: &Fitted, fitted_file: &str, progress: impl FnMut(u64)) -> Result<Applied, DataError> {
        let batches = open_ipc_stream(&self.path, &self.file)?;
        apply_batches(
            batches,
            &self.file,
            fitted,
            fitted_file,
            (&self.out, self.format),
            progress,
        )
    }

    fn write_error(&self, error: &dyn std::fmt::Display) -> DataError {
        DataError::new(
            ErrorKind::Io,
            &self.file,
            format!("cannot spool the batches read to {}: {error}", self.path.display()),
        )
        .with_hint("the transformed data's directory needs room for the data once more")
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::super::{Plan, apply, fit, fit_spooling};
    use crate::read::ReadOptions;

    /// Over many small batches, the spool gives back what reading the file again gives: the
    /// same fitted values, the same output bytes, and leaves nothing behind.
    #[test]
    fn spooled_batches_transform_as_the_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("x,city,z\n");
        for i in 0..1000u32 {
            let x = if i % 7 == 0 {
                String::new()
            } else {
                format!("{}", f64::from(i).sin() * 1e3)
            };
            writeln!(csv, "{x},c{},{}", i % 13, i % 5).unwrap();
        }
        let input = dir.path().join("data.csv");
        std::fs::write(&input, csv).unwrap();
        let plan = Plan::parse(
            "features:\n  - {feature: x, impute: median, standardize: true}\n  - {feature: city, vocabulary: true}\n  - {feature: z, bucketize: {quantiles: 3}}\noutliers:\n  - {feature: x, method: iqr}\n",
            "plan.yaml",
        )
        .unwrap();
        let read = ReadOptions {
            batch_size: 64,
            ..ReadOptions::default()
        };
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        for format in ["parquet", "jsonl"] {
            let (once, twice) = (out.join(format!("once.{format}")), out.join(format!("twice.{format}")));
            let fitted = fit(&input, &read, &plan, |_| {}).unwrap();
            let applied = apply(&input, &read, &fitted, "fitted", &twice, |_| {}).unwrap();
            let (spooled_fit, spool) = fit_spooling(&input, &read, &plan, &once, |_| {}).unwrap();
            assert_eq!(spooled_fit, fitted);
            assert!(spool.size() > 0);
            assert_eq!(spool.apply(&fitted, "fitted", |_| {}).unwrap(), applied);
            assert_eq!(
                std::fs::read(&once).unwrap(),
                std::fs::read(&twice).unwrap(),
                "{format}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 4, "{left:?}");
    }
}
