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
use crate::error::{DataError, ErrorKind};
use crate::read::Batches;

/// The counts one table (the whole or a slice) needs: per numeric column, its fences and the
/// values found beyond each so far.
#[derive(Clone)]
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
                // The fences are over the finite values; NaN and infinities are counted apart.
                if let Some(value) = value.filter(|v| v.is_finite()) {
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

    /// Adds the counts of other rows of the same table.
    fn merge(&mut self, other: TableCounts) {
        for ((_, _, mine), (_, _, theirs)) in self.columns.iter_mut().zip(other.columns) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
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

/// The counts of the whole table and of the slices that need them.
#[derive(Clone)]
struct Counts {
    whole: TableCounts,
    slices: BTreeMap<SliceKey, TableCounts>,
    /// The numeric columns any of them counts.
    columns: Vec<usize>,
    rows: u64,
}

impl Counts {
    fn add(&mut self, profiler: &Profiler, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        let values = column_numbers(batch, &self.columns);
        self.whole.add(&values, None);
        if !self.slices.is_empty() {
            for (key, indexes) in profiler.slice_groups(batch) {
                if let Some(counts) = self.slices.get_mut(&key) {
                    counts.add(&values, Some(&indexes));
                }
            }
        }
    }

    fn merge(&mut self, other: Counts) {
        self.rows += other.rows;
        self.whole.merge(other.whole);
        for (key, counts) in other.slices {
            if let Some(mine) = self.slices.get_mut(&key) {
                mine.merge(counts);
            }
        }
    }
}

impl Profiler {
    /// The counts an outlier pass under `rules` would make (none when every count is exact).
    fn needed_counts(&self, rules: OutlierRules) -> Counts {
        let whole = TableCounts::needed(&self.whole, rules);
        let slices: BTreeMap<SliceKey, TableCounts> = self
            .slices
            .iter()
            .map(|(key, table)| (key.clone(), TableCounts::needed(table, rules)))
            .filter(|(_, counts)| !counts.is_empty())
            .collect();
        let mut columns: Vec<usize> = std::iter::once(&whole)
            .chain(slices.values())
            .flat_map(|counts| counts.columns.iter().map(|(i, _, _)| *i))
            .collect();
        columns.sort_unstable();
        columns.dedup();
        Counts {
            whole,
            slices,
            columns,
            rows: 0,
        }
    }

    /// Whether some outlier count under `rules` would be an estimate without another pass.
    pub fn needs_outlier_pass(&self, rules: OutlierRules) -> bool {
        !self.needed_counts(rules).columns.is_empty()
    }

    /// The columns an outlier pass reads: the numeric columns it counts and the slice columns
    /// (the rest can be skipped, [`crate::ReadOptions::only_columns`]).
    pub fn outlier_pass_columns(&self, rules: OutlierRules) -> Vec<usize> {
        let mut columns = self.needed_counts(rules).columns;
        columns.extend(self.slicings.iter().flatten());
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    /// Counts the outliers exactly, reading `batches` — the same data, in the same order, as
    /// was profiled, with at least [`Profiler::outlier_pass_columns`] — once more, in `threads`
    /// workers; `progress` is called after each batch with the bytes read so far.
    pub fn count_outliers(
        &mut self,
        batches: Batches,
        rules: OutlierRules,
        threads: usize,
        progress: impl FnMut(u64),
    ) -> Result<(), DataError> {
        let empty = self.needed_counts(rules);
        let profiler = &*self;
        let counts = super::fold_batches(
            batches,
            threads,
            &empty,
            |counts, batch, _| {
                counts.add(profiler, batch);
                Ok(())
            },
            Counts::merge,
            progress,
        )?;
        if counts.rows != self.rows() {
            return Err(DataError::new(
                ErrorKind::Changed,
                "profile",
                format!(
                    "the data changed while it was profiled ({} rows, then {})",
                    self.rows(),
                    counts.rows
                ),
            )
            .with_hint("profile a file that is not being written to"));
        }
        counts.whole.save(&mut self.whole, rules);
        for (key, table_counts) in counts.slices {
            if let Some(table) = self.slices.get_mut(&key) {
                table_counts.save(table, rules);
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
