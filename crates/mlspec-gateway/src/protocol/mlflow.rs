//! MLflow scoring-server JSON bodies as tables (see the module above for the mapping; CSV
//! bodies are read by the `csv` module).

use serde_json::Value;

use super::table::{Naming, as_list, child, describe, from_value, list_rows, only_member, rows, unexpected};
use super::{ExtractError, Table};

pub(super) fn inputs(document: &Value, columns: &[String]) -> Result<Table, ExtractError> {
    let keys = ["dataframe_split", "dataframe_records", "instances", "inputs"];
    let naming = Naming::input(columns);
    match only_member(document, &keys)? {
        ("dataframe_split", split) => dataframe_split(split, columns),
        ("inputs", tensors) => from_value(tensors, "/inputs", &naming),
        (key, listed) => rows(listed, &format!("/{key}"), &naming),
    }
}

pub(super) fn outputs(document: &Value) -> Result<Table, ExtractError> {
    match (document, document.get("predictions")) {
        (Value::Array(_), _) => from_value(document, "", &Naming::PREDICTION),
        (_, Some(predictions)) => from_value(predictions, "/predictions", &Naming::PREDICTION),
        (other, None) => Err(unexpected(
            "",
            "an object with `predictions`, or a list",
            describe(other),
        )),
    }
}

/// pandas' split orientation: `{"columns"?, "data": [[row], ...], "index"?}`.
fn dataframe_split(split: &Value, columns: &[String]) -> Result<Table, ExtractError> {
    let pointer = "/dataframe_split";
    let data = split
        .get("data")
        .ok_or_else(|| unexpected(child(pointer, "data"), "the rows, a list of lists", "none"))?;
    let Value::Array(data) = data else {
        return Err(unexpected(
            child(pointer, "data"),
            "the rows, a list of lists",
            describe(data),
        ));
    };
    let named = split
        .get("columns")
        .map(|names| column_names(names, pointer))
        .transpose()?;
    let rows: Vec<&[Value]> = data.iter().map(as_list).collect();
    if let Some(names) = &named {
        check_widths(&rows, names.len(), &child(pointer, "data"))?;
    }
    let names = named.as_deref().unwrap_or(columns);
    list_rows(&rows, &child(pointer, "data"), &Naming::input(names))
}

/// The split's column names; pandas allows numbers, which are named by their JSON text.
fn column_names(names: &Value, pointer: &str) -> Result<Vec<String>, ExtractError> {
    let Value::Array(names) = names else {
        return Err(unexpected(
            child(pointer, "columns"),
            "a list of column names",
            describe(names),
        ));
    };
    Ok(names
        .iter()
        .map(|name| name.as_str().map_or_else(|| name.to_string(), str::to_owned))
        .collect())
}

/// Every row has one value per named column.
fn check_widths(rows: &[&[Value]], width: usize, pointer: &str) -> Result<(), ExtractError> {
    match rows.iter().enumerate().find(|(_, row)| row.len() != width) {
        Some((i, row)) => Err(unexpected(
            child(pointer, &i.to_string()),
            format!("{width} values, one per column"),
            row.len().to_string(),
        )),
        None => Ok(()),
    }
}
