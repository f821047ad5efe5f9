//! Reading predictions: the label, prediction and score columns and the slice and sensitive
//! columns, checked and encoded (classes and slice values as small integers).

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Schema};

use super::metrics::{Confusion, Scored};
use mlspec_spec::kinds::Task;

use super::{EvalOptions, TASKS};
use crate::error::{DataError, ErrorKind};
use crate::read::{ReadOptions, open};

/// A slice: its (column, value) pairs and its rows.
pub type SliceRows = (Vec<(String, String)>, Vec<usize>);

/// Slices at most.
const MAX_SLICES: usize = 1000;

/// Classes at most (labels and predictions together): an Evaluation holds a confusion matrix
/// of classes² cells, and 500² = 250,000 is about half of what a document may hold.
pub const MAX_CLASSES: usize = 500;

/// A column of text values, dictionary-encoded; `None` is null.
#[derive(Clone, Debug, Default)]
struct Encoded {
    values: Vec<String>,
    codes: Vec<Option<u32>>,
    index: BTreeMap<String, u32>,
}

impl Encoded {
    fn push(&mut self, value: Option<&str>) {
        let code = value.map(|v| match self.index.get(v) {
            Some(code) => *code,
            None => {
                let code = self.values.len() as u32;
                self.values.push(v.to_owned());
                self.index.insert(v.to_owned(), code);
                code
            }
        });
        self.codes.push(code);
    }

    fn value(&self, row: usize) -> Option<&str> {
        let code = (*self.codes.get(row)?)?;
        self.values.get(code as usize).map(String::as_str)
    }
}

/// Predictions read into memory.
#[derive(Clone, Debug)]
pub struct Loaded {
    file: String,
    task: Task,
    classes: Vec<String>,
    labels: Vec<u32>,
    predictions: Vec<u32>,
    numbers: Vec<(f64, f64)>,
    scores: Option<Vec<f64>>,
    positive: Option<usize>,
    columns: BTreeMap<String, Encoded>,
}

/// Reads the predictions file.
pub fn load(path: &Path, read: &ReadOptions, options: &EvalOptions) -> Result<Loaded, DataError> {
    let file = path.display().to_string();
    let batches = open(path, read)?;
    let schema = batches.schema();
    let index = |name: &str| column_index(&file, &schema, name);
    let (label, prediction) = (index(&options.label)?, index(&options.prediction)?);
    let score = options.score.as_deref().map(index).transpose()?;
    let mut extra: Vec<String> = options
        .slices
        .iter()
        .flatten()
        .chain(&options.sensitive)
        .cloned()
        .collect();
    extra.sort();
    extra.dedup();
    let extra: Vec<(String, usize)> = extra
        .into_iter()
        .map(|name| index(&name).map(|i| (name, i)))
        .collect::<Result<_, _>>()?;
    let task = options.task.unwrap_or_else(|| match schema.field(label).data_type() {
        t if t.is_floating() => Task::Regression,
        _ => Task::Classification,
    });
    if !TASKS.contains(&task) {
        return Err(DataError::new(
            ErrorKind::InvalidArgument,
            &file,
            format!("{} is not evaluated, only classification and regression", task.as_str()),
        ));
    }
    let mut label_text = Encoded::default();
    let mut prediction_text = Encoded::default();
    let mut numbers = Vec::new();
    let mut scores = score.map(|_| Vec::new());
    let mut columns: BTreeMap<String, Encoded> = BTreeMap::new();
    let mut rows = 0usize;
    for batch in batches {
        let batch = batch?;
        let at = |i: usize| format!("row {}", rows + i);
        if task == Task::Classification {
            for (column, target) in [(label, &mut label_text), (prediction, &mut prediction_text)] {
                let name = schema.field(column).name();
                let text = cast(batch.column(column), &DataType::Utf8).map_err(|e| {
                    DataError::new(
                        ErrorKind::WrongType,
                        &file,
                        format!("cannot read `{name}` as classes: {e}"),
                    )
                    .with_column(name)
                })?;
                for (i, value) in text.as_string::<i32>().iter().enumerate() {
                    let value = value.ok_or_else(|| null_error(&file, name, &at(i)))?;
                    target.push(Some(value));
                    if target.values.len() > MAX_CLASSES {
                        return Err(too_many_classes(&file, name, &at(i)));
                    }
                }
            }
        } else {
            let y = numbers_of(&file, &schema, batch.column(label), label)?;
            let p = numbers_of(&file, &schema, batch.column(prediction), prediction)?;
            for (i, (&y, &p)) in y.iter().zip(p.iter()).enumerate() {
                let (Some(y), Some(p)) = (y, p) else {
                    let name = schema.field(if y.is_none() { label } else { prediction }).name();
                    return Err(null_error(&file, name, &at(i)));
                };
                for (value, column) in [(y, label), (p, prediction)] {
                    if !value.is_finite() {
                        return Err(not_finite(&file, schema.field(column).name(), value, &at(i)));
                    }
                }
                numbers.push((y, p));
            }
        }
        if let (Some(column), Some(scores)) = (score, scores.as_mut()) {
            let name = schema.field(column).name();
            for (i, value) in numbers_of(&file, &schema, batch.column(column), column)?
                .into_iter()
                .enumerate()
            {
                match value {
                    Some(v) if v.is_finite() => scores.push(v),
                    Some(v) => return Err(not_finite(&file, name, v, &at(i))),
                    None => return Err(null_error(&file, name, &at(i))),
                }
            }
        }
        for (name, column) in &extra {
            let text = cast(batch.column(*column), &DataType::Utf8).map_err(|e| {
                DataError::new(ErrorKind::WrongType, &file, format!("cannot slice by `{name}`: {e}")).with_column(name)
            })?;
            let encoded = columns.entry(name.clone()).or_default();
            for value in text.as_string::<i32>().iter() {
                encoded.push(value);
            }
        }
        rows += batch.num_rows();
    }
    if rows == 0 {
        return Err(DataError::new(ErrorKind::Empty, &file, "there are no rows to evaluate"));
    }
    let mut loaded = Loaded {
        file: file.clone(),
        task,
        classes: Vec::new(),
        labels: Vec::new(),
        predictions: Vec::new(),
        numbers,
        scores,
        positive: None,
        columns,
    };
    if task == Task::Classification {
        loaded.encode_classes(&label_text, &prediction_text);
        if loaded.classes.len() > MAX_CLASSES {
            return Err(too_many_classes(&file, &options.label, &format!("row {rows}")));
        }
        loaded.positive = loaded.find_positive(&file, options)?;
        if loaded.scores.is_some() && loaded.positive.is_none() {
            return Err(DataError::new(
                ErrorKind::InvalidArgument,
                &file,
                "a score column needs a binary task with a positive class",
            )
            .with_hint("name the positive class with --positive, or leave out --score"));
        }
    } else if score.is_some() {
        return Err(DataError::new(
            ErrorKind::InvalidArgument,
            &file,
            "--score applies to classification only",
        ));
    }
    Ok(loaded)
}

fn column_index(file: &str, schema: &Schema, name: &str) -> Result<usize, DataError> {
    schema.index_of(name).map_err(|_| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        DataError::new(ErrorKind::NoSuchColumn, file, format!("there is no column `{name}`"))
            .with_column(name)
            .with_hint(format!("columns: {}", names.join(", ")))
    })
}

/// The refusal of a label, prediction or score that is NaN or infinite: metrics of such values
/// are not numbers (scikit-learn refuses them too).
fn not_finite(file: &str, column: &str, value: f64, at: &str) -> DataError {
    let what = if value.is_nan() { "NaN" } else { "infinite" };
    DataError::new(ErrorKind::NonFinite, file, format!("`{column}` is {what}"))
        .at(at)
        .with_column(column)
        .with_hint("labels, predictions and scores must be finite numbers; drop or fix the row")
}

/// The refusal of more classes than an Evaluation can hold.
fn too_many_classes(file: &str, column: &str, at: &str) -> DataError {
    DataError::new(
        ErrorKind::LimitExceeded,
        file,
        format!("the labels and predictions have more than {MAX_CLASSES} classes"),
    )
    .at(at)
    .with_column(column)
    .with_hint(format!(
        "an Evaluation holds at most {MAX_CLASSES} classes (its confusion matrix has classes² cells); \
             is this a regression task (--task regression), or the wrong --label/--prediction column?"
    ))
}

fn null_error(file: &str, column: &str, at: &str) -> DataError {
    DataError::new(ErrorKind::MissingValue, file, format!("`{column}` is missing"))
        .at(at)
        .with_column(column)
        .with_hint("every row needs a label, a prediction (and a score, with --score); drop or fix it")
}

fn numbers_of(
    file: &str,
    schema: &Schema,
    array: &arrow::array::ArrayRef,
    column: usize,
) -> Result<Vec<Option<f64>>, DataError> {
    let name = schema.field(column).name();
    let numeric = array.data_type().is_numeric();
    let floats = cast(array, &DataType::Float64)
        .ok()
        .filter(|_| numeric)
        .ok_or_else(|| {
            DataError::new(
                ErrorKind::WrongType,
                file,
                format!("`{name}` is {}, not a number", array.data_type()),
            )
            .with_column(name)
            .with_hint("--task regression and --score need numeric columns")
        })?;
    Ok(floats.as_primitive::<Float64Type>().iter().collect())
}

impl Loaded {
    /// Classes sorted; labels and predictions as indexes into them.
    fn encode_classes(&mut self, labels: &Encoded, predictions: &Encoded) {
        let mut classes: Vec<String> = labels.values.iter().chain(&predictions.values).cloned().collect();
        classes.sort();
        classes.dedup();
        let position = |text: &Encoded| -> Vec<u32> {
            let map: Vec<u32> = text
                .values
                .iter()
                .map(|v| classes.binary_search(v).map_or(0, |i| i as u32))
                .collect();
            text.codes
                .iter()
                .map(|c| c.and_then(|c| map.get(c as usize).copied()).unwrap_or(0))
                .collect()
        };
        self.labels = position(labels);
        self.predictions = position(predictions);
        self.classes = classes;
    }

    /// The positive class of a binary task: `--positive`, else `1` or `true` when the classes
    /// are `0`/`1` or `false`/`true`.
    fn find_positive(&self, file: &str, options: &EvalOptions) -> Result<Option<usize>, DataError> {
        if let Some(positive) = &options.positive {
            let found = self.classes.iter().position(|c| c == positive);
            return match found {
                Some(k) if self.classes.len() <= 2 => Ok(Some(k)),
                Some(_) => Err(DataError::new(
                    ErrorKind::InvalidArgument,
                    file,
                    "--positive needs a binary task (two classes)",
                )),
                None => Err(
                    DataError::new(ErrorKind::InvalidArgument, file, format!("`{positive}` is not a class"))
                        .with_hint(format!("classes: {}", self.classes.join(", "))),
                ),
            };
        }
        let names: Vec<&str> = self.classes.iter().map(String::as_str).collect();
        Ok(match names.as_slice() {
            ["0", "1"] | ["1"] => self.classes.iter().position(|c| c == "1"),
            ["false", "true"] | ["true"] => self.classes.iter().position(|c| c == "true"),
            _ => None,
        })
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        if self.task == Task::Classification {
            self.labels.len()
        } else {
            self.numbers.len()
        }
    }

    /// The file read, as errors name it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The task: classification or regression (ranking is refused by [`load`]).
    pub fn task(&self) -> Task {
        self.task
    }

    /// The classes, sorted.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The positive class's index (binary tasks).
    pub fn positive(&self) -> Option<usize> {
        self.positive
    }

    /// The confusion matrix of these rows.
    pub fn confusion(&self, rows: &[usize]) -> Confusion {
        let mut confusion = Confusion::new(self.classes.len());
        for &row in rows {
            if let (Some(&a), Some(&p)) = (self.labels.get(row), self.predictions.get(row)) {
                confusion.add(a as usize, p as usize);
            }
        }
        confusion
    }

    /// These rows' scores with whether each is positive, sorted (binary tasks with scores).
    pub fn scored(&self, rows: &[usize]) -> Option<Scored> {
        let (scores, positive) = (self.scores.as_ref()?, self.positive?);
        Some(Scored::new(
            rows.iter()
                .filter_map(|&r| Some((*scores.get(r)?, *self.labels.get(r)? as usize == positive)))
                .collect(),
        ))
    }

    /// These rows' (label, prediction) pairs (regression).
    pub fn pairs(&self, rows: &[usize]) -> Vec<(f64, f64)> {
        rows.iter().filter_map(|&r| self.numbers.get(r).copied()).collect()
    }

    /// The rows of each value of an attribute, by value (rows where it is null left out).
    pub fn groups(&self, attribute: &str) -> Option<Vec<(String, Vec<usize>)>> {
        let column = self.columns.get(attribute)?;
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for row in 0..self.rows() {
            if let Some(value) = column.value(row) {
                groups.entry(value).or_default().push(row);
            }
        }
        Some(groups.into_iter().map(|(v, rows)| (v.to_owned(), rows)).collect())
    }

    /// Every slice of each set's columns and their crossings, with its rows, named by its
    /// (column, value) pairs in column order; at most 1,000.
    pub fn slices(&self, sets: &[Vec<String>]) -> Result<Vec<SliceRows>, DataError> {
        let mut slicings: Vec<Vec<&str>> = Vec::new();
        for set in sets {
            for mask in 1..(1usize << set.len().min(16)) {
                let subset: Vec<&str> = set
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| mask & (1 << bit) != 0)
                    .map(|(_, c)| c.as_str())
                    .collect();
                if !slicings.contains(&subset) {
                    slicings.push(subset);
                }
            }
        }
        let mut slices = Vec::new();
        for slicing in slicings {
            let columns: Vec<&Encoded> = slicing.iter().filter_map(|c| self.columns.get(*c)).collect();
            let mut groups: BTreeMap<Vec<&str>, Vec<usize>> = BTreeMap::new();
            'rows: for row in 0..self.rows() {
                let mut key = Vec::with_capacity(columns.len());
                for column in &columns {
                    let Some(value) = column.value(row) else { continue 'rows };
                    key.push(value);
                }
                groups.entry(key).or_default().push(row);
            }
            for (values, rows) in groups {
                let filter = slicing
                    .iter()
                    .zip(values)
                    .map(|(c, v)| ((*c).to_owned(), v.to_owned()))
                    .collect();
                slices.push((filter, rows));
            }
        }
        if slices.len() > MAX_SLICES {
            return Err(DataError::new(
                ErrorKind::LimitExceeded,
                &self.file,
                format!(
                    "slicing makes {} slices, more than {MAX_SLICES}; slice by columns with fewer values",
                    slices.len()
                ),
            ));
        }
        Ok(slices)
    }
}
