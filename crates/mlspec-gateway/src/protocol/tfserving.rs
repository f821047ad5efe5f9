//! TensorFlow Serving's REST predict, classify and regress bodies as tables (see the module
//! above for the mapping).

use serde_json::Value;

use super::table::{Naming, from_value, only_member, rows};
use super::{ExtractError, Table};

pub(super) fn inputs(document: &Value, columns: &[String]) -> Result<Table, ExtractError> {
    let naming = Naming::input(columns);
    match only_member(document, &["instances", "inputs", "examples"])? {
        ("inputs", columnar) => from_value(columnar, "/inputs", &naming),
        (key, listed) => rows(listed, &format!("/{key}"), &naming),
    }
}

pub(super) fn outputs(document: &Value) -> Result<Table, ExtractError> {
    let (key, value) = only_member(document, &["predictions", "outputs", "results"])?;
    from_value(value, &format!("/{key}"), &Naming::PREDICTION)
}
