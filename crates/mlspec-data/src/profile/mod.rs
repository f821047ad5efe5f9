//! Profiling: one pass over the record batches, per column, with accumulators that merge — so
//! the batches can be shared among threads, and (with the profile's sketches) shards profiled
//! apart combine into the profile of the whole.
//!
//! [`profile`] reads on the calling thread and hands batches to `threads` workers, each with its
//! own [`Profiler`]; the workers' profilers are merged at the end. Statistics that a sketch
//! approximates say so: quantiles carry the KLL sketch's normalized rank error (about 1.65% for
//! k = 200: a reported quantile's true rank is within that of the requested rank with high
//! probability); distinct counts above [`strings::EXACT_LIMIT`] values are HyperLogLog estimates
//! (about 1.6% relative standard error, never above the values counted) and their top values
//! come from a frequent-items sketch. Counts, missing, mean, standard deviation, min, max,
//! zeros, true counts and time ranges are exact. Numeric statistics describe the finite values;
//! NaN (a missing value) and ±Infinity are counted apart. The document stays within the size a
//! reader accepts ([`budget`]).

pub mod budget;
pub mod column;
pub mod numeric;
mod recount;
pub mod strings;
pub mod table;

use std::collections::BTreeMap;
use std::sync::mpsc;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Schema};
use mlspec_spec::kinds::{DataProfileSpec, SliceProfile};
use mlspec_spec::newtypes::{Key, ShortText};
use mlspec_spec::values::Tags;

use crate::error::{DataError, ErrorKind};
use crate::read::Batches;
use column::Rows;
pub use numeric::OutlierRules;
use table::TableAcc;

/// Slices kept at most; a slice column with more values is refused, not silently cut.
pub const MAX_SLICES: usize = 1000;

/// Columns in one `--slice` set at most (its subsets are all sliced: 2^n − 1 crossings).
pub const MAX_SLICE_COLUMNS: usize = 3;

/// How to profile.
#[derive(Clone, Debug)]
pub struct ProfileOptions {
    /// Worker threads (1: profile on the reading thread).
    pub threads: usize,
    /// Outlier thresholds.
    pub outliers: OutlierRules,
    /// Slice column sets: each set is sliced by every one of its columns and by their
    /// crossings (`[country, gender]`: `country=…`, `gender=…`, `country=…,gender=…`).
    pub slices: Vec<Vec<String>>,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            outliers: OutlierRules::default(),
            slices: Vec::new(),
        }
    }
}

/// A slice's identity: its (column, value) pairs in column order.
type SliceKey = Vec<(String, String)>;

/// The running profile of a table and of its slices.
#[derive(Clone, Debug)]
pub struct Profiler {
    whole: TableAcc,
    /// Column index sets to slice by.
    slicings: Vec<Vec<usize>>,
    slices: BTreeMap<SliceKey, TableAcc>,
}

impl Profiler {
    /// An empty profile of tables with this schema, sliced as `options` says.
    pub fn new(schema: &Schema, slices: &[Vec<String>]) -> Result<Profiler, DataError> {
        let mut slicings = Vec::new();
        for set in slices {
            if set.is_empty() || set.len() > MAX_SLICE_COLUMNS {
                return Err(DataError::new(
                    ErrorKind::InvalidArgument,
                    "--slice",
                    format!("a slice set has 1 to {MAX_SLICE_COLUMNS} columns, not {}", set.len()),
                ));
            }
            let indexes = set
                .iter()
                .map(|name| {
                    schema.index_of(name).map_err(|_| {
                        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                        DataError::new(
                            ErrorKind::NoSuchColumn,
                            "--slice",
                            format!("there is no column `{name}` to slice by"),
                        )
                        .with_column(name)
                        .with_hint(format!("columns: {}", names.join(", ")))
                    })
                })
                .collect::<Result<Vec<usize>, DataError>>()?;
            for mask in 1..(1usize << indexes.len()) {
                let subset: Vec<usize> = indexes
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| mask & (1 << bit) != 0)
                    .map(|(_, i)| *i)
                    .collect();
                if !slicings.contains(&subset) {
                    slicings.push(subset);
                }
            }
        }
        Ok(Profiler {
            whole: TableAcc::new(schema),
            slicings,
            slices: BTreeMap::new(),
        })
    }

    /// Adds a batch whose first row is row `first_row` of the input.
    pub fn add(&mut self, batch: &RecordBatch, first_row: u64) -> Result<(), DataError> {
        self.whole.add(batch, &Rows::From(first_row));
        if self.slicings.is_empty() {
            return Ok(());
        }
        for (key, indexes) in self.slice_groups(batch) {
            if !self.slices.contains_key(&key) && self.slices.len() >= MAX_SLICES {
                return Err(DataError::new(
                    ErrorKind::LimitExceeded,
                    "--slice",
                    format!("slicing makes more than {MAX_SLICES} slices"),
                )
                .with_hint("slice by columns with fewer distinct values"));
            }
            let rows: Vec<u64> = indexes.iter().map(|&r| first_row + u64::from(r)).collect();
            let part = take_record_batch(batch, &UInt32Array::from(indexes))
                .map_err(|e| DataError::new(ErrorKind::Internal, "--slice", e.to_string()))?;
            let schema = batch.schema();
            self.slices
                .entry(key)
                .or_insert_with(|| TableAcc::new(&schema))
                .add(&part, &Rows::Listed(&rows));
        }
        Ok(())
    }

    /// The batch's rows grouped by slice: each slice's key with the indexes of its rows (a row
    /// with a null in a slicing's column is in none of that slicing's slices).
    fn slice_groups(&self, batch: &RecordBatch) -> Vec<(SliceKey, Vec<u32>)> {
        let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        let texts: BTreeMap<usize, Vec<Option<String>>> = self
            .slicings
            .iter()
            .flatten()
            .map(|&i| (i, column_texts(batch, i)))
            .collect();
        let mut all = Vec::new();
        for slicing in &self.slicings {
            // Rows grouped by their values, borrowed; each group's key is built once.
            let mut groups: BTreeMap<Vec<&str>, Vec<u32>> = BTreeMap::new();
            'rows: for row in 0..batch.num_rows() {
                let mut values = Vec::with_capacity(slicing.len());
                for &i in slicing {
                    let Some(Some(value)) = texts.get(&i).and_then(|t| t.get(row)) else {
                        continue 'rows;
                    };
                    values.push(value.as_str());
                }
                groups.entry(values).or_default().push(row as u32);
            }
            all.extend(groups.into_iter().map(|(values, indexes)| {
                let key: SliceKey = slicing
                    .iter()
                    .zip(values)
                    .map(|(&i, value)| (names.get(i).cloned().unwrap_or_default(), value.to_owned()))
                    .collect();
                (key, indexes)
            }));
        }
        all
    }

    /// Folds in a profile of other rows of the same table.
    pub fn merge(&mut self, other: &Profiler) {
        self.whole.merge(&other.whole);
        for (key, theirs) in &other.slices {
            match self.slices.get_mut(key) {
                Some(mine) => mine.merge(theirs),
                None => {
                    self.slices.insert(key.clone(), theirs.clone());
                }
            }
        }
    }

    /// Rows profiled.
    pub fn rows(&self) -> u64 {
        self.whole.rows()
    }

    /// The profile of the whole table (not of its slices).
    pub fn whole(&self) -> &TableAcc {
        &self.whole
    }

    /// The profile a DataProfile document holds, restored from its statistics and sketches, to
    /// merge with others; `file` names the document in errors. A document whose statistics or
    /// sketches are missing or unreadable (one written by another program, or edited) is
    /// Malformed.
    pub fn restore(spec: &DataProfileSpec, file: &str) -> Result<Profiler, DataError> {
        Profiler::restored(spec).map_err(|why| DataError::new(ErrorKind::Malformed, file, why))
    }

    fn restored(spec: &DataProfileSpec) -> Result<Profiler, String> {
        let mut slices = BTreeMap::new();
        for slice in &spec.slices {
            let key: SliceKey = slice
                .name
                .as_str()
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(c, v)| (c.to_owned(), v.to_owned()))
                .collect();
            let table =
                TableAcc::restore(slice.rows, &slice.features).map_err(|e| format!("slice `{}`: {e}", slice.name))?;
            slices.insert(key, table);
        }
        Ok(Profiler {
            whole: TableAcc::restore(spec.rows, &spec.features)?,
            slicings: Vec::new(),
            slices,
        })
    }

    /// Appends the profile of the rows that follow these (another shard, from `other_file`): the
    /// result is the profile of both, with the other's row numbers counted after these rows.
    /// Profiles of other features (names or types) are an InvalidArgument.
    pub fn append(&mut self, mut other: Profiler, other_file: &str) -> Result<(), DataError> {
        if self.whole.signature() != other.whole.signature() {
            return Err(DataError::new(
                ErrorKind::InvalidArgument,
                other_file,
                "the profiles have different features (names or types); only profiles of the same columns merge",
            ));
        }
        let offset = self.rows();
        other.whole.shift_rows(offset);
        for table in other.slices.values_mut() {
            table.shift_rows(offset);
        }
        self.merge(&other);
        Ok(())
    }

    /// The profile as the spec's DataProfile body; slices are named `column=value[,…]`. Its
    /// mergeable state is trimmed to the document budget ([`budget::fit`]).
    pub fn spec(&self, rules: OutlierRules) -> DataProfileSpec {
        let slices = self
            .slices
            .iter()
            .filter_map(|(key, table)| {
                let name: Vec<String> = key.iter().map(|(c, v)| format!("{c}={v}")).collect();
                let filter: Tags = key
                    .iter()
                    .filter_map(|(c, v)| Some((Key::new(c.as_str()).ok()?, v.clone())))
                    .collect();
                Some(SliceProfile {
                    name: ShortText::new(name.join(",")).ok()?,
                    filter,
                    rows: table.rows(),
                    features: table.features(rules),
                })
            })
            .collect();
        let mut spec = DataProfileSpec {
            dataset: None,
            digest: None,
            rows: self.whole.rows(),
            features: self.whole.features(rules),
            slices,
        };
        budget::fit(&mut spec);
        spec
    }
}

/// Sketch bytes as text in a document.
fn encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Sketch bytes from a document's text.
fn decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("a sketch is not valid base64: {e}"))
}

/// A column's values as text (nulls as `None`), for slice keys.
fn column_texts(batch: &RecordBatch, index: usize) -> Vec<Option<String>> {
    let column = batch.column(index);
    match cast(column, &DataType::Utf8) {
        Ok(text) => text.as_string::<i32>().iter().map(|v| v.map(str::to_owned)).collect(),
        Err(_) => vec![None; column.len()],
    }
}

/// Profiles every batch; `progress` is called after each batch with the bytes read so far.
pub fn profile(batches: Batches, options: &ProfileOptions, progress: impl FnMut(u64)) -> Result<Profiler, DataError> {
    let empty = Profiler::new(&batches.schema(), &options.slices)?;
    fold_batches(
        batches,
        options.threads,
        &empty,
        |profiler, batch, first_row| profiler.add(batch, first_row),
        |total, part| total.merge(&part),
        progress,
    )
}

/// Folds every batch (with the input row of its first row) into a state: on the reading
/// thread when `threads` is 1, else in `threads` workers, each folding the batches dealt to it
/// into its own copy of `empty`, their states merged at the end. `progress` is called after
/// each batch with the bytes read so far.
fn fold_batches<S: Clone + Send>(
    mut batches: Batches,
    threads: usize,
    empty: &S,
    add: impl Fn(&mut S, &RecordBatch, u64) -> Result<(), DataError> + Sync,
    merge: impl Fn(&mut S, S),
    mut progress: impl FnMut(u64),
) -> Result<S, DataError> {
    if threads <= 1 {
        let mut state = empty.clone();
        let mut first_row = 0u64;
        while let Some(batch) = batches.next() {
            let batch = batch?;
            add(&mut state, &batch, first_row)?;
            first_row += batch.num_rows() as u64;
            progress(batches.bytes_read());
        }
        return Ok(state);
    }
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..threads {
            let (send, receive) = mpsc::sync_channel::<(RecordBatch, u64)>(2);
            senders.push(send);
            let mut state = empty.clone();
            let add = &add;
            workers.push(scope.spawn(move || {
                for (batch, first_row) in receive {
                    add(&mut state, &batch, first_row)?;
                }
                Ok::<S, DataError>(state)
            }));
        }
        let mut first_row = 0u64;
        let mut outcome = Ok(());
        let mut i = 0usize;
        while let Some(batch) = batches.next() {
            i += 1;
            match batch {
                Ok(batch) => {
                    let rows = batch.num_rows() as u64;
                    if let Some(sender) = senders.get(i % senders.len()) {
                        let _ = sender.send((batch, first_row));
                    }
                    first_row += rows;
                }
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
            progress(batches.bytes_read());
        }
        drop(senders);
        let mut total = empty.clone();
        for worker in workers {
            match worker.join() {
                Ok(Ok(state)) => merge(&mut total, state),
                Ok(Err(error)) => outcome = Err(error),
                Err(_) => {
                    outcome = Err(DataError::new(
                        ErrorKind::Internal,
                        "profile",
                        "a profiling thread failed",
                    ))
                }
            }
        }
        outcome.map(|()| total)
    })
}
