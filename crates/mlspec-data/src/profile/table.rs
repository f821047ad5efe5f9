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

    /// Rows profiled.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The features' statistics (columns whose names are not valid feature keys are left out).
    pub fn features(&self, rules: OutlierRules) -> Vec<FeatureStats> {
        self.columns.iter().filter_map(|c| c.stats(rules)).collect()
    }
}
