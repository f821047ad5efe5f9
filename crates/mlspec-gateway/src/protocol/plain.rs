//! Plain JSON bodies as tables (see the module above for the mapping).

use std::slice;

use serde_json::{Map, Value};

use super::table::{Naming, child, from_rows};
use super::{ExtractError, Table};

pub(super) fn read(document: &Value, naming: &Naming) -> Result<Table, ExtractError> {
    match document {
        Value::Array(rows) => from_rows(rows, "", naming),
        Value::Object(members) => match only_list_of_objects(members) {
            Some((key, rows)) => from_rows(rows, &child("", key), naming),
            None => from_rows(slice::from_ref(document), "", naming),
        },
        single => from_rows(slice::from_ref(single), "", naming),
    }
}

/// The object's only member that is a non-empty list of objects: the rows of a wrapped table.
fn only_list_of_objects(members: &Map<String, Value>) -> Option<(&str, &[Value])> {
    let mut lists = members.iter().filter_map(|(key, value)| match value {
        Value::Array(rows) if !rows.is_empty() && rows.iter().all(Value::is_object) => {
            Some((key.as_str(), rows.as_slice()))
        }
        _ => None,
    });
    match (lists.next(), lists.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}
