//! A data file read whole into columns — numbers as f64, anything else as text — for the
//! commands that compare or score small files row by row (prediction files, the demo's parts).

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};

/// One column's values (None: missing).
pub enum Column {
    Numbers(Vec<Option<f64>>),
    Texts(Vec<Option<String>>),
}

/// Every column of the file at `path`, in order: numeric columns as f64, others as text.
pub fn read_columns(path: &Path) -> anyhow::Result<Vec<(String, Column)>> {
    let batches = mlspec_data::open(path, &mlspec_data::ReadOptions::default())?;
    let schema = batches.schema();
    let mut columns: Vec<(String, Column)> = schema
        .fields()
        .iter()
        .map(|f| {
            let numeric = f.data_type().is_numeric();
            (
                f.name().clone(),
                if numeric {
                    Column::Numbers(Vec::new())
                } else {
                    Column::Texts(Vec::new())
                },
            )
        })
        .collect();
    for batch in batches {
        let batch = batch?;
        for ((_, column), array) in columns.iter_mut().zip(batch.columns()) {
            match column {
                Column::Numbers(values) => {
                    let cast = arrow::compute::cast(array, &DataType::Float64)?;
                    let numbers = cast.as_primitive::<Float64Type>();
                    values.extend((0..numbers.len()).map(|i| numbers.is_valid(i).then(|| numbers.value(i))));
                }
                Column::Texts(values) => {
                    let cast = arrow::compute::cast(array, &DataType::Utf8)?;
                    let texts = cast.as_string::<i32>();
                    values.extend((0..texts.len()).map(|i| texts.is_valid(i).then(|| texts.value(i).to_owned())));
                }
            }
        }
    }
    Ok(columns)
}
