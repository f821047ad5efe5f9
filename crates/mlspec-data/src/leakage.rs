//! Leakage between datasets (splits): rows, keys and near-duplicate rows found in more than
//! one input, with a proof of disjointness that can be checked again later.
//!
//! Each input's rows are hashed three ways ([`crate::rowhash`]): the whole row (all columns
//! but the ignored ones — a row id, say), the row after normalisation (case, whitespace,
//! rounding: near-duplicates), and the key columns. The hashes, with their row numbers, are
//! sorted, and every pair of inputs is compared by a merge walk, so memory is 24 bytes per row
//! and hash and time n log n. Each input's proof is the number of distinct row hashes and the
//! SHA-256 of their sorted list (`sha256:` of the 16-byte big-endian hashes): recomputed from
//! the same files later, equal digests show the same row sets, and so the same (dis)jointness.
//! A Split document carries the report in its spec form ([`LeakageReport::check`]).

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use mlspec_spec::kinds::LeakageCheck;
use mlspec_spec::newtypes::{Digest, InvalidValue, Key};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::error::{DataError, ErrorKind};
use crate::read::{ReadOptions, open};
use crate::rowhash::{Normalization, RowHasher};

/// Example pairs of rows reported per overlap.
pub const EXAMPLES: usize = 5;

/// What to compare.
#[derive(Clone, Debug, Default)]
pub struct LeakageOptions {
    /// Key columns: rows sharing a key across inputs leak (e.g. one user in two splits).
    pub keys: Vec<String>,
    /// Columns left out of the row hashes (e.g. a row id).
    pub ignore: Vec<String>,
    /// Normalisation for near-duplicates; none: no near-duplicate check.
    pub near: Option<Normalization>,
}

/// The hashers of one input's schema.
#[derive(Clone, Debug)]
pub struct Hashers {
    rows: RowHasher,
    near: Option<RowHasher>,
    keys: Option<RowHasher>,
}

impl Hashers {
    /// The columns rows are compared by (all but the ignored ones), sorted.
    pub fn row_columns(&self) -> Vec<String> {
        self.rows.column_names().into_iter().map(str::to_owned).collect()
    }

    /// Hashers for tables with this schema; `file` names it in errors.
    pub fn new(file: &str, schema: &Schema, options: &LeakageOptions) -> Result<Hashers, DataError> {
        let rows = RowHasher::new(file, schema, &[], &options.ignore, Normalization::default())?;
        let near = options
            .near
            .map(|n| RowHasher::new(file, schema, &[], &options.ignore, n))
            .transpose()?;
        let keys = if options.keys.is_empty() {
            None
        } else {
            Some(RowHasher::new(
                file,
                schema,
                &options.keys,
                &[],
                Normalization::default(),
            )?)
        };
        Ok(Hashers { rows, near, keys })
    }
}

/// The row hashes of one input.
#[derive(Clone, Debug, Default)]
pub struct HashedRows {
    name: String,
    rows: u64,
    whole: Vec<(u128, u64)>,
    near: Vec<(u128, u64)>,
    keys: Vec<(u128, u64)>,
    keyless: u64,
}

impl HashedRows {
    /// No rows yet of the input called `name`.
    pub fn new(name: &str) -> HashedRows {
        HashedRows {
            name: name.to_owned(),
            ..HashedRows::default()
        }
    }

    /// Adds a batch whose first row is row `first_row` of the input.
    pub fn add(&mut self, hashers: &Hashers, batch: &RecordBatch, first_row: u64) {
        self.rows += batch.num_rows() as u64;
        let numbered = |hashes: Vec<Option<u128>>| {
            hashes
                .into_iter()
                .enumerate()
                .filter_map(move |(i, h)| Some((h?, first_row + i as u64)))
        };
        self.whole.extend(numbered(hashers.rows.hashes(batch, true)));
        if let Some(near) = &hashers.near {
            self.near.extend(numbered(near.hashes(batch, true)));
        }
        if let Some(keys) = &hashers.keys {
            let hashes = keys.hashes(batch, false);
            self.keyless += hashes.iter().filter(|h| h.is_none()).count() as u64;
            self.keys.extend(numbered(hashes));
        }
    }

    /// Adds the hashes of other rows of the same input (numbered as in the input).
    pub fn merge(&mut self, other: HashedRows) {
        self.rows += other.rows;
        self.whole.extend(other.whole);
        self.near.extend(other.near);
        self.keys.extend(other.keys);
        self.keyless += other.keyless;
    }

    /// Sorts the hashes for comparison.
    fn finish(&mut self) {
        for hashes in [&mut self.whole, &mut self.near, &mut self.keys] {
            hashes.sort_unstable();
        }
    }

    /// Rows hashed.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// Hashes every row of a file.
pub fn hash_file(path: &Path, read: &ReadOptions, options: &LeakageOptions) -> Result<HashedRows, DataError> {
    let file = path.display().to_string();
    let batches = open(path, read)?;
    let hashers = Hashers::new(&file, &batches.schema(), options)?;
    let mut hashed = HashedRows::new(&file);
    for batch in batches {
        let batch = batch?;
        let first_row = hashed.rows;
        hashed.add(&hashers, &batch, first_row);
    }
    Ok(hashed)
}

/// The columns rows of the file are compared by: all but `ignore`, sorted by name.
pub fn row_columns(path: &Path, read: &ReadOptions, ignore: &[String]) -> Result<Vec<String>, DataError> {
    let file = path.display().to_string();
    let batches = open(path, read)?;
    let hasher = RowHasher::new(&file, &batches.schema(), &[], ignore, Normalization::default())?;
    Ok(hasher.column_names().into_iter().map(str::to_owned).collect())
}

/// One input's summary and proof.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputProof {
    /// The input.
    pub name: String,
    /// Its rows.
    pub rows: u64,
    /// Distinct row hashes.
    pub distinct_rows: u64,
    /// `sha256:` of the sorted distinct row hashes.
    pub rows_digest: Digest,
    /// Distinct keys (with `--key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_keys: Option<u64>,
    /// `sha256:` of the sorted distinct key hashes (with `--key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_digest: Option<Digest>,
    /// Rows with a null in a key column: they have no key and are not compared by key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_without_key: Option<u64>,
}

/// What two inputs share by one measure.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overlap {
    /// Distinct values (rows or keys) found in both.
    pub distinct: u64,
    /// Rows of the first input that have one.
    pub rows_a: u64,
    /// Rows of the second input that have one.
    pub rows_b: u64,
    /// `rows_a` over the first input's rows.
    pub fraction_a: f64,
    /// `rows_b` over the second input's rows.
    pub fraction_b: f64,
    /// Example pairs (row in the first, row in the second), 0-based: the first shared rows
    /// of the first input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<(u64, u64)>,
}

/// What one pair of inputs shares.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairLeakage {
    /// The first input.
    pub a: String,
    /// The second input.
    pub b: String,
    /// Identical rows (ignored columns aside).
    pub rows: Overlap,
    /// Rows identical after normalisation (exact duplicates included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_duplicates: Option<Overlap>,
    /// Shared keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Overlap>,
}

impl PairLeakage {
    /// Whether the pair shares anything.
    pub fn leaks(&self) -> bool {
        [Some(&self.rows), self.near_duplicates.as_ref(), self.keys.as_ref()]
            .into_iter()
            .flatten()
            .any(|o| o.distinct > 0)
    }
}

/// The leakage check of several inputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeakageReport {
    /// The columns rows were compared by.
    pub row_columns: Vec<String>,
    /// The key columns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Each input, with its proof.
    pub inputs: Vec<InputProof>,
    /// Each pair of inputs.
    pub pairs: Vec<PairLeakage>,
    /// Whether any pair shares a row, a near-duplicate or a key.
    pub leaked: bool,
}

impl LeakageReport {
    /// The report as a Split document's leakage check: what the inputs (the parts, named by
    /// role) share, and each one's row-hash digest. The engine names every column as a key, so
    /// an error here is a bug (Internal), named after the first input.
    pub fn check(&self) -> Result<LeakageCheck, DataError> {
        let internal = |e: InvalidValue| {
            let first = self.inputs.first().map_or("", |input| input.name.as_str());
            DataError::new(ErrorKind::Internal, first, e.to_string())
        };
        let keys = |names: &[String]| names.iter().map(|k| Key::new(k.as_str())).collect::<Result<_, _>>();
        let digests = self
            .inputs
            .iter()
            .map(|input| Ok((Key::new(input.name.as_str())?, input.rows_digest.clone())))
            .collect::<Result<_, InvalidValue>>();
        Ok(LeakageCheck {
            keys: keys(&self.keys).map_err(internal)?,
            row_columns: keys(&self.row_columns).map_err(internal)?,
            shared_rows: self.pairs.iter().map(|p| p.rows.distinct).sum(),
            shared_keys: self
                .pairs
                .iter()
                .filter_map(|p| p.keys.as_ref())
                .map(|k| k.distinct)
                .sum(),
            row_hash_digests: digests.map_err(internal)?,
        })
    }
}

/// Compares every pair of inputs. `row_columns` and `keys` are reported as given.
pub fn compare(mut inputs: Vec<HashedRows>, row_columns: Vec<String>, keys: Vec<String>) -> LeakageReport {
    for input in &mut inputs {
        input.finish();
    }
    let with_keys = !keys.is_empty();
    let with_near = inputs.iter().any(|i| !i.near.is_empty());
    let proofs = inputs
        .iter()
        .map(|input| {
            let (distinct_rows, rows_digest) = set_digest(&input.whole);
            let key_proof = with_keys.then(|| set_digest(&input.keys));
            InputProof {
                name: input.name.clone(),
                rows: input.rows,
                distinct_rows,
                rows_digest,
                distinct_keys: key_proof.as_ref().map(|(n, _)| *n),
                keys_digest: key_proof.map(|(_, d)| d),
                rows_without_key: with_keys.then_some(input.keyless),
            }
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in inputs.iter().enumerate() {
        for b in inputs.iter().skip(i + 1) {
            pairs.push(PairLeakage {
                a: a.name.clone(),
                b: b.name.clone(),
                rows: overlap(&a.whole, &b.whole, a.rows, b.rows),
                near_duplicates: with_near.then(|| overlap(&a.near, &b.near, a.rows, b.rows)),
                keys: with_keys.then(|| overlap(&a.keys, &b.keys, a.rows, b.rows)),
            });
        }
    }
    let leaked = pairs.iter().any(PairLeakage::leaks);
    LeakageReport {
        row_columns,
        keys,
        inputs: proofs,
        pairs,
        leaked,
    }
}

/// The number of distinct hashes and `sha256:` of their sorted big-endian bytes.
pub fn set_digest(sorted: &[(u128, u64)]) -> (u64, Digest) {
    let mut hasher = Sha256::new();
    let mut distinct = 0u64;
    let mut previous = None;
    for &(hash, _) in sorted {
        if previous != Some(hash) {
            hasher.update(hash.to_be_bytes());
            distinct += 1;
            previous = Some(hash);
        }
    }
    (distinct, Digest::sha256_finish(hasher))
}

/// What two sorted hash lists share.
fn overlap(a: &[(u128, u64)], b: &[(u128, u64)], rows_a: u64, rows_b: u64) -> Overlap {
    let mut found = Overlap::default();
    let (mut i, mut j) = (0, 0);
    while let (Some(&(x, row_a)), Some(&(y, row_b))) = (a.get(i), b.get(j)) {
        match x.cmp(&y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let end_a = i + a[i..].iter().take_while(|(h, _)| *h == x).count();
                let end_b = j + b[j..].iter().take_while(|(h, _)| *h == x).count();
                found.distinct += 1;
                found.rows_a += (end_a - i) as u64;
                found.rows_b += (end_b - j) as u64;
                // The examples are the shared rows that come first in the first input.
                found.examples.push((row_a, row_b));
                if found.examples.len() > EXAMPLES {
                    found.examples.sort_unstable();
                    found.examples.truncate(EXAMPLES);
                }
                (i, j) = (end_a, end_b);
            }
        }
    }
    found.examples.sort_unstable();
    found.fraction_a = share(found.rows_a, rows_a);
    found.fraction_b = share(found.rows_b, rows_b);
    found
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}
