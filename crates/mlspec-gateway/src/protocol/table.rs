//! Tables from JSON rows and columns, the shapes every protocol but OIP's tensors share, and the
//! limits that keep a hostile body from costing more memory than its size.

use std::collections::HashMap;
use std::collections::HashSet;
use std::slice;

use serde_json::{Map, Value};

use super::{Column, ExtractError, Scalar, Table};

/// The most values (rows × columns) the gateway reads from one body.
pub const MAX_VALUES: usize = 1_000_000;
/// The most columns the gateway reads from one body.
pub const MAX_COLUMNS: usize = 4_096;

/// How unnamed columns are named: a value per row is the column `single`; a list per row gives
/// the columns `given[j]`, else `{single}_{j}`.
pub(super) struct Naming<'a> {
    single: &'a str,
    given: &'a [String],
}

impl<'a> Naming<'a> {
    pub(super) const PREDICTION: Naming<'static> = Naming {
        single: "prediction",
        given: &[],
    };

    /// Names for a request's features, `given` by the operator or not.
    pub(super) fn input(given: &'a [String]) -> Self {
        Naming { single: "input", given }
    }

    fn positional(&self, j: usize) -> String {
        self.given
            .get(j)
            .cloned()
            .unwrap_or_else(|| format!("{}_{j}", self.single))
    }
}

/// Reads JSON values as [`Scalar`]s, counting those it cannot.
#[derive(Default)]
pub(super) struct Cells {
    pub(super) unreadable: usize,
}

impl Cells {
    /// A number, string, boolean or null as itself (NaN as missing), a one-element list as its
    /// element, anything else as missing and counted.
    pub(super) fn read(&mut self, value: &Value) -> Scalar {
        match value {
            Value::Null => Scalar::Missing,
            Value::Bool(flag) => Scalar::Bool(*flag),
            Value::String(text) => Scalar::Text(text.clone()),
            Value::Number(number) => number.as_f64().map_or_else(|| self.unreadable(), number_scalar),
            Value::Array(items) if items.len() == 1 => self.read(&items[0]),
            Value::Array(_) | Value::Object(_) => self.unreadable(),
        }
    }

    pub(super) fn unreadable(&mut self) -> Scalar {
        self.unreadable += 1;
        Scalar::Missing
    }
}

/// A number, NaN being missing.
pub(super) fn number_scalar(number: f64) -> Scalar {
    if number.is_nan() {
        Scalar::Missing
    } else {
        Scalar::Number(number)
    }
}

pub(super) fn unexpected(
    pointer: impl Into<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> ExtractError {
    ExtractError::Unexpected {
        pointer: pointer.into(),
        expected: expected.into(),
        found: found.into(),
    }
}

/// What kind of JSON value this is, for error messages.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Array(items) => format!("a list of {}", items.len()),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The JSON pointer of `key` inside `pointer`.
pub(super) fn child(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// Refuses a table of more than [`MAX_COLUMNS`] columns or [`MAX_VALUES`] values, before it is
/// allocated.
pub(super) fn check_size(rows: usize, columns: usize, pointer: &str) -> Result<(), ExtractError> {
    let too_large = |what, limit| ExtractError::TooLarge {
        pointer: pointer.to_owned(),
        what,
        limit,
    };
    if columns > MAX_COLUMNS {
        return Err(too_large("columns", MAX_COLUMNS));
    }
    match rows.checked_mul(columns) {
        Some(values) if values <= MAX_VALUES => Ok(()),
        _ => Err(too_large("values", MAX_VALUES)),
    }
}

/// The table of these columns, each `rows` long, once their names are known to be distinct.
pub(super) fn finish(rows: usize, columns: Vec<Column>, cells: Cells, pointer: &str) -> Result<Table, ExtractError> {
    check_size(rows, columns.len(), pointer)?;
    let mut seen = HashSet::new();
    if let Some(twice) = columns.iter().find(|column| !seen.insert(column.name.as_str())) {
        return Err(unexpected(
            pointer,
            "distinct column names",
            format!("`{}` twice", twice.name),
        ));
    }
    Ok(Table {
        rows,
        columns,
        unreadable: cells.unreadable,
    })
}

/// The one member of `document` named in `keys`: the protocol's choice of layout.
pub(super) fn only_member<'v>(
    document: &'v Value,
    keys: &[&'static str],
) -> Result<(&'static str, &'v Value), ExtractError> {
    let expected = || {
        let names: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
        format!("an object with exactly one of {}", names.join(", "))
    };
    let Value::Object(members) = document else {
        return Err(unexpected("", expected(), describe(document)));
    };
    let mut present = keys.iter().filter_map(|&key| Some((key, members.get(key)?)));
    match (present.next(), present.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err(unexpected("", expected(), "none of them")),
        (Some((first, _)), Some((second, _))) => {
            Err(unexpected("", expected(), format!("both `{first}` and `{second}`")))
        }
    }
}

/// A list as rows, an object as columns, a single value as one row.
pub(super) fn from_value(value: &Value, pointer: &str, naming: &Naming) -> Result<Table, ExtractError> {
    match value {
        Value::Array(rows) => from_rows(rows, pointer, naming),
        Value::Object(columns) => from_columns(columns, pointer),
        single => from_rows(slice::from_ref(single), pointer, naming),
    }
}

/// `value`, which must be a list, as rows.
pub(super) fn rows(value: &Value, pointer: &str, naming: &Naming) -> Result<Table, ExtractError> {
    match value {
        Value::Array(rows) => from_rows(rows, pointer, naming),
        other => Err(unexpected(pointer, "a list of rows", describe(other))),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RowKind {
    Object,
    List,
    Value,
}

impl RowKind {
    fn of(row: &Value) -> RowKind {
        match row {
            Value::Object(_) => RowKind::Object,
            Value::Array(_) => RowKind::List,
            _ => RowKind::Value,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RowKind::Object => "an object",
            RowKind::List => "a list",
            RowKind::Value => "a single value",
        }
    }
}

/// Rows that are all objects (one column per key), all lists (columns by position) or all
/// single values (one column).
pub(super) fn from_rows(rows: &[Value], pointer: &str, naming: &Naming) -> Result<Table, ExtractError> {
    let Some(first) = rows.first() else {
        return finish(0, Vec::new(), Cells::default(), pointer);
    };
    let kind = RowKind::of(first);
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, row)| RowKind::of(row) != kind) {
        let expected = format!("{} like the first row", kind.describe());
        return Err(unexpected(child(pointer, &i.to_string()), expected, describe(row)));
    }
    match kind {
        RowKind::Object => object_rows(rows, pointer),
        RowKind::List => {
            let lists: Vec<&[Value]> = rows.iter().map(as_list).collect();
            list_rows(&lists, pointer, naming)
        }
        RowKind::Value => {
            let mut cells = Cells::default();
            let values = rows.iter().map(|row| cells.read(row)).collect();
            let column = Column {
                name: naming.single.to_owned(),
                values,
            };
            finish(rows.len(), vec![column], cells, pointer)
        }
    }
}

/// A list's items; any other value as a list of itself.
pub(super) fn as_list(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        single => slice::from_ref(single),
    }
}

/// Objects as rows: a column per key in order of first appearance, missing where a row lacks it.
fn object_rows(rows: &[Value], pointer: &str) -> Result<Table, ExtractError> {
    let mut names: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for key in rows.iter().filter_map(Value::as_object).flat_map(Map::keys) {
        if !index.contains_key(key.as_str()) {
            check_size(0, names.len() + 1, pointer)?;
            index.insert(key, names.len());
            names.push(key);
        }
    }
    check_size(rows.len(), names.len(), pointer)?;
    let mut columns: Vec<Column> = names
        .iter()
        .map(|name| Column {
            name: (*name).to_owned(),
            values: vec![Scalar::Missing; rows.len()],
        })
        .collect();
    let mut cells = Cells::default();
    for (i, row) in rows.iter().enumerate() {
        for (key, value) in row.as_object().into_iter().flatten() {
            if let Some(column) = index.get(key.as_str()).and_then(|&j| columns.get_mut(j)) {
                column.values[i] = cells.read(value);
            }
        }
    }
    finish(rows.len(), columns, cells, pointer)
}

/// Lists as rows: column `j` from each row's `j`-th value, missing where a row is shorter.
pub(super) fn list_rows(rows: &[&[Value]], pointer: &str, naming: &Naming) -> Result<Table, ExtractError> {
    let width = rows.iter().map(|row| row.len()).max().unwrap_or(0);
    check_size(rows.len(), width, pointer)?;
    let mut cells = Cells::default();
    let columns = (0..width)
        .map(|j| {
            let values = rows
                .iter()
                .map(|row| row.get(j).map_or(Scalar::Missing, |value| cells.read(value)))
                .collect();
            Column {
                name: naming.positional(j),
                values,
            }
        })
        .collect();
    finish(rows.len(), columns, cells, pointer)
}

/// An object of columns: each member a list of one value per row (a single value is one row).
pub(super) fn from_columns(members: &Map<String, Value>, pointer: &str) -> Result<Table, ExtractError> {
    let mut named = members.iter().map(|(name, value)| (name, as_list(value)));
    let Some((first_name, first)) = named.next() else {
        return finish(0, Vec::new(), Cells::default(), pointer);
    };
    let rows = first.len();
    if let Some((name, values)) = named.find(|(_, values)| values.len() != rows) {
        let expected = format!("{rows} values, as many as `{first_name}` has (one per row)");
        return Err(unexpected(child(pointer, name), expected, values.len().to_string()));
    }
    check_size(rows, members.len(), pointer)?;
    let mut cells = Cells::default();
    let columns = members
        .iter()
        .map(|(name, value)| Column {
            name: name.clone(),
            values: as_list(value).iter().map(|cell| cells.read(cell)).collect(),
        })
        .collect();
    finish(rows, columns, cells, pointer)
}
