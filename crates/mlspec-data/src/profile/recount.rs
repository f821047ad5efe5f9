//! The outlier pass: exact outlier counts where one pass cannot give them.
//!
//! The fences (Q1 − k·IQR, mean ± z·σ) are only known once every value has been seen, so one
//! pass counts exactly only the values beyond a fence that the kept extremes hold. Where more
//! lie beyond, [`Profiler::count_outliers`] reads the data again — only the numeric columns
//! concerned and the slice columns matter — and counts against the now fixed fences, for the
//! whole table and for each slice.

use std::collections::BTreeMap;

use arrow::array::{Array, Float64Array, RecordBatch};

use super::column::numbers;
use super::numeric::{Fence, OutlierRules};
use super::table::TableAcc;
use super::{Profiler, SliceKey};
use crate::error::DataError;
use crate::read::Batches;

/// The counts one table (the whole or a slice) needs: per numeric column, its fences and the
/// values found beyond each so far.
struct TableCounts {
    columns: Vec<(usize, [Fence; 2], [u64; 2])>,
}

impl TableCounts {
    /// The columns of `table` whose counts would be estimates under `rules`.
    fn needed(table: &TableAcc, rules: OutlierRules) -> TableCounts {
        let columns = table
            .columns()
            .iter()
            .enumerate()
            .filter_map(|(i, column)| {
                let numeric = column.numeric().filter(|n| n.needs_count(rules))?;
                Some((i, numeric.fences(rules)?, [0, 0]))
            })
            .collect();
        TableCounts { columns }
    }

    fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Counts the values beyond the fences among these rows of the batch (all when `None`).
    fn add(&mut self, values: &BTreeMap<usize, Float64Array>, rows: Option<&[u32]>) {
        for (column, fences, counts) in &mut self.columns {
            let Some(values) = values.get(column) else { continue };
            let mut count = |value: Option<f64>| {
                if let Some(value) = value.filter(|v| !v.is_nan()) {
                    for (fence, count) in fences.iter().zip(counts.iter_mut()) {
                        *count += u64::from(fence.excludes(value));
                    }
                }
            };
            match rows {
                None => values.iter().for_each(&mut count),
                Some(rows) => rows.iter().for_each(|&row| {
                    count(
                        Some(row as usize)
                            .filter(|&r| values.is_valid(r))
                            .map(|r| values.value(r)),
                    )
                }),
            }
        }
    }

    /// Records the counts in the table's accumulators.
    fn save(self, table: &mut TableAcc, rules: OutlierRules) {
        for (column, _, counts) in self.columns {
            if let Some(numeric) = table.columns_mut().get_mut(column).and_then(|c| c.numeric_mut()) {
                numeric.set_counts(rules, counts);
            }
        }
    }
}

impl Profiler {
    /// Whether some outlier count under `rules` would be an estimate without another pass.
    pub fn needs_outlier_pass(&self, rules: OutlierRules) -> bool {
        std::iter::once(&self.whole)
            .chain(self.slices.values())
            .any(|table| !TableCounts::needed(table, rules).is_empty())
    }

    /// Counts the outliers exactly, reading `batches` — the same data, in the same order, as
    /// was profiled — once more.
    /// `progress` is called after each batch with the bytes read so far.
    pub fn count_outliers(
        &mut self,
        mut batches: Batches,
        rules: OutlierRules,
        mut progress: impl FnMut(u64),
    ) -> Result<(), DataError> {
        let mut whole = TableCounts::needed(&self.whole, rules);
        let mut slices: BTreeMap<SliceKey, TableCounts> = self
            .slices
            .iter()
            .map(|(key, table)| (key.clone(), TableCounts::needed(table, rules)))
            .filter(|(_, counts)| !counts.is_empty())
            .collect();
        let columns: Vec<usize> = std::iter::once(&whole)
            .chain(slices.values())
            .flat_map(|counts| counts.columns.iter().map(|(i, _, _)| *i))
            .collect();
        let mut rows = 0u64;
        while let Some(batch) = batches.next() {
            let batch = batch?;
            progress(batches.bytes_read());
            rows += batch.num_rows() as u64;
            let values = column_numbers(&batch, &columns);
            whole.add(&values, None);
            if !slices.is_empty() {
                for (key, indexes) in self.slice_groups(&batch) {
                    if let Some(counts) = slices.get_mut(&key) {
                        counts.add(&values, Some(&indexes));
                    }
                }
            }
        }
        if rows != self.rows() {
            return Err(DataError::new(
                "profile",
                format!(
                    "the data changed while it was profiled ({} rows, then {rows})",
                    self.rows()
                ),
            )
            .with_hint("profile a file that is not being written to"));
        }
        whole.save(&mut self.whole, rules);
        for (key, counts) in slices {
            if let Some(table) = self.slices.get_mut(&key) {
                counts.save(table, rules);
            }
        }
        Ok(())
    }
}

/// These columns of the batch as floats.
fn column_numbers(batch: &RecordBatch, columns: &[usize]) -> BTreeMap<usize, Float64Array> {
    columns
        .iter()
        .filter_map(|&i| Some((i, numbers(batch.columns().get(i)?)?)))
        .collect()
}
