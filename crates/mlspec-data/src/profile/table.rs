//! The running profile of a table (or of one slice of it): its rows and one accumulator per
//! column.

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use mlspec_spec::kinds::FeatureStats;

use super::column::{ColumnAcc, Rows};
use super::numeric::OutlierRules;

/// Rows and per-column accumulators.
#[derive(Clone, Debug)]
pub struct TableAcc {
    rows: u64,
    columns: Vec<ColumnAcc>,
}

impl TableAcc {
    /// An empty profile of tables with this schema.
    pub fn new(schema: &Schema) -> TableAcc {
        TableAcc {
            rows: 0,
            columns: schema
                .fields()
                .iter()
                .map(|f| ColumnAcc::new(f.name(), f.data_type()))
                .collect(),
        }
    }

    /// The accumulators a profile document's features describe. Err: which feature cannot be
    /// restored and why, which [`super::Profiler::restore`] reports with the file.
    pub(crate) fn restore(rows: u64, features: &[FeatureStats]) -> Result<TableAcc, String> {
        let columns = features
            .iter()
            .map(|f| ColumnAcc::restore(f).map_err(|e| format!("feature `{}`: {e}", f.name)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(TableAcc { rows, columns })
    }

    /// The columns' names and types.
    pub fn signature(&self) -> Vec<(&str, mlspec_spec::kinds::FeatureType)> {
        self.columns.iter().map(ColumnAcc::signature).collect()
    }

    /// Shifts the row numbers kept (when these rows follow `offset` others).
    pub fn shift_rows(&mut self, offset: u64) {
        for column in &mut self.columns {
            column.shift_rows(offset);
        }
    }

    /// Adds a batch; `rows` numbers its rows in the input.
    pub fn add(&mut self, batch: &RecordBatch, rows: &Rows<'_>) {
        self.rows += batch.num_rows() as u64;
        for (column, array) in self.columns.iter_mut().zip(batch.columns()) {
            column.add(array, rows);
        }
    }

    /// Folds in a profile of other rows of the same table.
    pub fn merge(&mut self, other: &TableAcc) {
        self.rows += other.rows;
        for (column, theirs) in self.columns.iter_mut().zip(&other.columns) {
            column.merge(theirs);
        }
    }

    /// The columns' accumulators.
    pub fn columns(&self) -> &[ColumnAcc] {
        &self.columns
    }

    /// The columns' accumulators, to record outlier counts in.
    pub fn columns_mut(&mut self) -> &mut [ColumnAcc] {
        &mut self.columns
    }

    /// Rows profiled.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The features' statistics (columns whose names are not valid feature keys are left out).
    pub fn features(&self, rules: OutlierRules) -> Vec<FeatureStats> {
        self.columns.iter().filter_map(|c| c.stats(rules)).collect()
    }
}
