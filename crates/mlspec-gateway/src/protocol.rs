//! What the gateway reads from the bodies of model-serving protocols: the tabular features of a
//! request and the predictions of its answer, for the live drift monitor.
//!
//! Every protocol is turned into the same [`Table`]: named [`Column`]s of one [`Scalar`] per row.
//! A value that is not a number, string, boolean or null (an object, a nested list, a `{"b64": …}`
//! blob) cannot be monitored as a feature: it becomes [`Scalar::Missing`] and is counted in
//! [`Table::unreadable`], so the monitor can report how much it could not see. A floating-point
//! NaN is [`Scalar::Missing`] too, as pandas treats it. A body that does not have the protocol's
//! shape is an [`ExtractError`] naming the JSON pointer of the wrong part and what was expected
//! there; nothing here panics or allocates beyond a bound proportional to the body: a table of
//! more than [`MAX_VALUES`] values or [`MAX_COLUMNS`] columns is refused.
//!
//! # Open Inference Protocol (`oip`: KServe v2, Triton, MLServer, Seldon)
//!
//! `POST /v2/models/{m}[/versions/{v}]/infer` with
//! `{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data", "parameters"?}]}`.
//! `data` is row-major, flat or nested (nesting is flattened), and must hold as many elements as
//! the product of `shape`. Each tensor is a tabular block:
//!
//! | tensor shape | columns                                                                |
//! |--------------|------------------------------------------------------------------------|
//! | `[N]`, `[N, 1]` | one column named by the tensor (MLServer's pandas codec sends a table this way, one input per column) |
//! | `[N, F]`     | `F` columns `<name>_0` … `<name>_{F-1}`; for a request's only input, the operator's column names (the `columns` of [`inputs`]) |
//! | `[]`         | one row, one column named by the tensor                                 |
//!
//! A tensor of three or more dimensions (an image) is not tabular and is an error. All tensors of
//! a body must have the same `N`. BYTES elements are read as text, BOOL as booleans, INT*, UINT*,
//! FP16, BF16, FP32 and FP64 as numbers. Answers (`{"model_name", "id"?, "outputs": [...]}`) are
//! read the same way from `outputs`. With the binary tensor extension (the
//! `Inference-Header-Content-Length: n` header, [`Body::inference_header_length`]) the JSON is
//! the first `n` bytes and each tensor whose `parameters.binary_data_size` is set takes that many
//! bytes from what follows, in tensor order, little-endian (a BYTES element is a `u32` length and
//! its bytes, a BOOL one byte). The request id is the body's `id`.
//!
//! # TensorFlow Serving REST (`tfserving`)
//!
//! `POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict` (or `:classify`, `:regress`), with
//! exactly one of:
//!
//! - `{"instances": [...]}`, the row format (`examples` for classify and regress, alike): each
//!   row an object `{feature: value}` (a one-element list `[value]` is unwrapped, a longer list or
//!   `{"b64": …}` is unreadable), or a list of values by position (the operator's column names, else
//!   `input_0`, `input_1`, …), or a single value (one column `input`);
//! - `{"inputs": {feature: [one value per row]}}`, the columnar format (a list instead of the
//!   object is read as `instances`).
//!
//! `signature_name` is ignored. The answer's `{"predictions": [...]}` (or `results`) holds rows:
//! a value per row is the column `prediction`, a list per row `prediction_0`, `prediction_1`, …,
//! an object per row one column per key; `{"outputs": ...}` is an object of columns or a list
//! read as rows.
//!
//! # MLflow scoring server (`mlflow`)
//!
//! `POST /invocations`. A `text/csv` body is a table with a header row (an empty field is
//! missing, a number is a number, `true`/`false` a boolean, anything else text). A JSON body has
//! exactly one of `dataframe_split` (`{"columns"?, "data": [[row], ...], "index"?}`, each row as
//! long as `columns`), `dataframe_records` (`[{column: value}, ...]`), `instances` (as TF
//! Serving's rows) or `inputs` (a list of rows, or an object of columns); `params` is ignored.
//! The answer is `{"predictions": ...}` (a list of values, of lists or of objects, or an object of
//! columns) or a bare list, named as for TF Serving.
//!
//! # Plain JSON (`json`)
//!
//! Any other server: an object of values is one row, a list of objects is one row each, and an
//! object whose only non-empty list of objects is, say, `rows` or `data` holds the rows there. A
//! bare value is one row of the column `input` (in a request) or `prediction` (in an answer),
//! and a list of values or of lists is read as TF Serving's rows.

mod csv;
mod mlflow;
mod oip;
mod plain;
mod table;
mod tfserving;

use serde_json::Value;

pub use table::{MAX_COLUMNS, MAX_VALUES};

/// A model-serving protocol whose bodies the gateway can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The Open Inference Protocol (KServe v2), REST binding.
    Oip,
    /// TensorFlow Serving's REST API.
    TfServing,
    /// MLflow's scoring server (`mlflow models serve`).
    Mlflow,
    /// Plain JSON rows, for servers that follow no standard protocol.
    Json,
}

impl Protocol {
    const ALL: [Protocol; 4] = [Protocol::Oip, Protocol::TfServing, Protocol::Mlflow, Protocol::Json];

    /// `oip` | `tfserving` | `mlflow` | `json`, for `--protocol`.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Self::ALL.into_iter().find(|protocol| protocol.name() == name)
    }

    /// The name [`Protocol::from_name`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Oip => "oip",
            Protocol::TfServing => "tfserving",
            Protocol::Mlflow => "mlflow",
            Protocol::Json => "json",
        }
    }

    /// The protocol whose inference endpoint `path` is (a query string is ignored):
    /// `/v2/models/{m}[/versions/{v}]/infer` → [`Protocol::Oip`];
    /// `/v1/models/{m}[/versions/{v}|/labels/{l}]:predict` (or `:classify`, `:regress`) →
    /// [`Protocol::TfServing`]; `/invocations` → [`Protocol::Mlflow`]; `None` otherwise (the
    /// caller falls back to [`Protocol::Json`] or its `--protocol`).
    pub fn detect(path: &str) -> Option<Protocol> {
        let path = path.split_once('?').map_or(path, |(path, _query)| path);
        if is_oip_inference(path) {
            Some(Protocol::Oip)
        } else if is_tf_serving_inference(path) {
            Some(Protocol::TfServing)
        } else if path == "/invocations" {
            Some(Protocol::Mlflow)
        } else {
            None
        }
    }

    /// Whether `method path` is an inference call of this protocol (health and metadata calls are
    /// not monitored). For [`Protocol::Json`], which has no fixed paths, every `POST` is.
    pub fn is_inference(self, method: &str, path: &str) -> bool {
        method.eq_ignore_ascii_case("POST") && (self == Protocol::Json || Protocol::detect(path) == Some(self))
    }
}

/// `/v2/models/{m}[/versions/{v}]/infer`.
fn is_oip_inference(path: &str) -> bool {
    path.strip_prefix("/v2/models/")
        .and_then(|rest| rest.strip_suffix("/infer"))
        .is_some_and(|model| is_model_path(model, &["versions"]))
}

/// `/v1/models/{m}[/versions/{v}|/labels/{l}]:{predict|classify|regress}`.
fn is_tf_serving_inference(path: &str) -> bool {
    path.strip_prefix("/v1/models/")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(model, verb)| {
            matches!(verb, "predict" | "classify" | "regress") && is_model_path(model, &["versions", "labels"])
        })
}

/// `{m}` or `{m}/{qualifier}/{v}` with non-empty segments.
fn is_model_path(path: &str, qualifiers: &[&str]) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        [model] => !model.is_empty(),
        [model, qualifier, value] => !model.is_empty() && qualifiers.contains(qualifier) && !value.is_empty(),
        _ => false,
    }
}

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Number(f64),
    Text(String),
    Bool(bool),
    /// Null, absent from its row, NaN, or unreadable (see [`Table::unreadable`]).
    Missing,
}

/// A named column: one value per row of its table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// `values.len()` is the table's `rows`.
    pub values: Vec<Scalar>,
}

/// The features of a request, or the predictions of an answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub rows: usize,
    /// Distinct names, in the order the body gave them.
    pub columns: Vec<Column>,
    /// How many values were neither number, string, boolean nor null (objects, nested lists,
    /// `{"b64": …}`, non-UTF-8 bytes): each is recorded as [`Scalar::Missing`].
    pub unreadable: usize,
}

/// An HTTP body with the headers that say how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body<'a> {
    pub bytes: &'a [u8],
    /// The `Content-Type` header (MLflow reads `text/csv` as CSV).
    pub content_type: Option<&'a str>,
    /// The `Inference-Header-Content-Length` header of the OIP binary tensor extension: the
    /// length of the JSON part, binary tensor data following it.
    pub inference_header_length: Option<usize>,
}

impl<'a> Body<'a> {
    /// A body without the headers that change how it is read.
    pub fn new(bytes: &'a [u8]) -> Self {
        Body {
            bytes,
            content_type: None,
            inference_header_length: None,
        }
    }
}

/// Why a body could not be read as its protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("the body is not JSON ({0}); check the server's protocol (--protocol)")]
    NotJson(String),
    #[error("{}: expected {expected}, found {found}", at(.pointer))]
    Unexpected {
        pointer: String,
        expected: String,
        found: String,
    },
    #[error(
        "{}: more than {limit} {what}; the gateway does not monitor bodies that large",
        at(.pointer)
    )]
    TooLarge {
        pointer: String,
        what: &'static str,
        limit: usize,
    },
    #[error("CSV record {record}: {problem}")]
    Csv { record: usize, problem: String },
}

/// Where a JSON pointer is, in words.
fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        "at the top of the body".to_owned()
    } else {
        format!("at {pointer}")
    }
}

/// The request's features. `columns` names the columns of a single 2-D input (an `[N, F]`
/// tensor, or rows given as lists) when the request does not name them; without them such
/// columns are `input_0`, `input_1`, … (OIP: `<input name>_<j>`).
pub fn inputs(protocol: Protocol, body: &Body, columns: &[String]) -> Result<Table, ExtractError> {
    match protocol {
        Protocol::Oip => oip::inputs(body, columns),
        Protocol::TfServing => tfserving::inputs(&json(body.bytes)?, columns),
        Protocol::Mlflow if is_csv(body.content_type) => csv::read(body.bytes),
        Protocol::Mlflow => mlflow::inputs(&json(body.bytes)?, columns),
        Protocol::Json => plain::read(&json(body.bytes)?, &table::Naming::input(columns)),
    }
}

/// The answer's predictions, one column per output: the output's name, or `prediction` when
/// unnamed, or `prediction_<j>` for a 2-D output (OIP: `<output name>_<j>`).
pub fn outputs(protocol: Protocol, body: &Body) -> Result<Table, ExtractError> {
    match protocol {
        Protocol::Oip => oip::outputs(body),
        Protocol::TfServing => tfserving::outputs(&json(body.bytes)?),
        Protocol::Mlflow => mlflow::outputs(&json(body.bytes)?),
        Protocol::Json => plain::read(&json(body.bytes)?, &table::Naming::PREDICTION),
    }
}

/// The request id a protocol carries in the body (OIP `id`), if any. Binary tensor data after
/// the JSON does not hinder it.
pub fn request_id(protocol: Protocol, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct WithId {
        id: Option<String>,
    }
    if protocol != Protocol::Oip {
        return None;
    }
    let mut documents = serde_json::Deserializer::from_slice(body).into_iter::<WithId>();
    documents.next()?.ok()?.id
}

/// The body as a JSON document.
fn json(bytes: &[u8]) -> Result<Value, ExtractError> {
    serde_json::from_slice(bytes).map_err(|error| ExtractError::NotJson(error.to_string()))
}

/// Whether the `Content-Type` is `text/csv` (with any parameters).
fn is_csv(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let mime = value.split_once(';').map_or(value, |(mime, _parameters)| mime);
        mime.trim().eq_ignore_ascii_case("text/csv")
    })
}
