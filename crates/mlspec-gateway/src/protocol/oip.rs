//! Open Inference Protocol tensors as tables, JSON or binary (see the module above for the
//! mapping).

use serde_json::Value;

use super::table::{Cells, MAX_VALUES, check_size, child, describe, finish, number_scalar, unexpected};
use super::{Body, Column, ExtractError, Scalar, Table, json};

pub(super) fn inputs(body: &Body, columns: &[String]) -> Result<Table, ExtractError> {
    tensors(body, "inputs", columns)
}

pub(super) fn outputs(body: &Body) -> Result<Table, ExtractError> {
    tensors(body, "outputs", &[])
}

/// A tensor read as a block of `rows` × `width` values, row-major.
struct Tensor {
    name: String,
    pointer: String,
    rows: usize,
    width: usize,
    values: Vec<Scalar>,
}

/// The tensors listed under `key`, side by side.
fn tensors(body: &Body, key: &str, columns: &[String]) -> Result<Table, ExtractError> {
    let (header, mut binary) = split_binary(body)?;
    let document = json(header)?;
    let listed = document.get(key).and_then(Value::as_array).ok_or_else(|| {
        unexpected(
            "",
            format!("an object with an `{key}` list of tensors"),
            found_key(&document, key),
        )
    })?;
    let mut cells = Cells::default();
    let mut read = Vec::with_capacity(listed.len());
    for (i, tensor) in listed.iter().enumerate() {
        read.push(read_tensor(tensor, &format!("/{key}/{i}"), &mut binary, &mut cells)?);
    }
    side_by_side(read, columns, cells, &format!("/{key}"))
}

fn found_key(document: &Value, key: &str) -> String {
    match document.get(key) {
        Some(value) => format!("`{key}` is {}", describe(value)),
        None => describe(document),
    }
}

/// The JSON part of the body and, with the binary extension, the tensor data after it.
fn split_binary<'a>(body: &Body<'a>) -> Result<(&'a [u8], Option<Binary<'a>>), ExtractError> {
    let Some(length) = body.inference_header_length else {
        return Ok((body.bytes, None));
    };
    let (header, rest) = body.bytes.split_at_checked(length).ok_or_else(|| {
        unexpected(
            "",
            format!("a JSON header of {length} bytes (Inference-Header-Content-Length)"),
            format!("a body of {} bytes", body.bytes.len()),
        )
    })?;
    Ok((header, Some(Binary { rest })))
}

/// The binary tensor data not yet claimed by a tensor.
struct Binary<'a> {
    rest: &'a [u8],
}

impl<'a> Binary<'a> {
    fn take(&mut self, size: usize, pointer: &str) -> Result<&'a [u8], ExtractError> {
        let (taken, rest) = self.rest.split_at_checked(size).ok_or_else(|| {
            let expected = format!("{size} bytes of tensor data after the JSON header");
            unexpected(pointer, expected, format!("{} bytes left", self.rest.len()))
        })?;
        self.rest = rest;
        Ok(taken)
    }
}

fn read_tensor(
    tensor: &Value,
    pointer: &str,
    binary: &mut Option<Binary>,
    cells: &mut Cells,
) -> Result<Tensor, ExtractError> {
    let name = tensor.get("name").and_then(Value::as_str).ok_or_else(|| {
        unexpected(
            child(pointer, "name"),
            "the tensor's name, a string",
            found(tensor, "name"),
        )
    })?;
    let shape_pointer = child(pointer, "shape");
    let shape = shape(tensor.get("shape"), &shape_pointer)?;
    let (rows, width) = tabular(&shape, &shape_pointer)?;
    let count = rows * width; // bounded by `shape`'s check
    let values = match binary_size(tensor, pointer)? {
        Some(size) => {
            let bytes = take_binary(binary, size, pointer)?;
            decode(tensor, bytes, pointer, cells)?
        }
        None => json_data(tensor, pointer, cells)?,
    };
    if values.len() != count {
        let expected = format!("{count} elements (the product of shape {shape:?})");
        return Err(unexpected(child(pointer, "data"), expected, values.len().to_string()));
    }
    Ok(Tensor {
        name: name.to_owned(),
        pointer: pointer.to_owned(),
        rows,
        width,
        values,
    })
}

/// What a tensor holds under `key`, for error messages.
fn found(tensor: &Value, key: &str) -> String {
    tensor.get(key).map_or_else(|| "none".to_owned(), describe)
}

/// The tensor's dimensions, whose product is at most [`MAX_VALUES`].
fn shape(shape: Option<&Value>, pointer: &str) -> Result<Vec<usize>, ExtractError> {
    let bad = |found: String| unexpected(pointer, "a list of non-negative integers", found);
    let dims = shape
        .and_then(Value::as_array)
        .ok_or_else(|| bad(shape.map_or("none".to_owned(), describe)))?;
    let dims: Vec<usize> = dims
        .iter()
        .map(|dim| {
            let size = dim.as_u64().and_then(|size| usize::try_from(size).ok());
            size.ok_or_else(|| bad(format!("the dimension {}", short(dim))))
        })
        .collect::<Result<_, _>>()?;
    match dims.iter().try_fold(1_usize, |product, &dim| product.checked_mul(dim)) {
        Some(product) if product <= MAX_VALUES => Ok(dims),
        _ => Err(ExtractError::TooLarge {
            pointer: pointer.to_owned(),
            what: "values",
            limit: MAX_VALUES,
        }),
    }
}

/// A number as itself, another value by its kind (never a long text in a message).
fn short(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        other => describe(other),
    }
}

/// Rows and columns of a tabular shape: `[]`, `[N]`, `[N, F]`.
fn tabular(shape: &[usize], pointer: &str) -> Result<(usize, usize), ExtractError> {
    match *shape {
        [] => Ok((1, 1)),
        [rows] => Ok((rows, 1)),
        [rows, width] => Ok((rows, width)),
        _ => Err(unexpected(
            pointer,
            "a tabular shape: [N], [N, 1] or [N, F]",
            format!("{} dimensions", shape.len()),
        )),
    }
}

/// `parameters.binary_data_size`, when the tensor's data is binary.
fn binary_size(tensor: &Value, pointer: &str) -> Result<Option<usize>, ExtractError> {
    let Some(size) = tensor
        .get("parameters")
        .and_then(|parameters| parameters.get("binary_data_size"))
    else {
        return Ok(None);
    };
    size.as_u64()
        .and_then(|size| usize::try_from(size).ok())
        .map(Some)
        .ok_or_else(|| {
            unexpected(
                format!("{pointer}/parameters/binary_data_size"),
                "a byte count",
                describe(size),
            )
        })
}

fn take_binary<'a>(binary: &mut Option<Binary<'a>>, size: usize, pointer: &str) -> Result<&'a [u8], ExtractError> {
    let pointer = format!("{pointer}/parameters/binary_data_size");
    match binary {
        Some(binary) => binary.take(size, &pointer),
        None => Err(unexpected(
            pointer,
            "binary data announced by an Inference-Header-Content-Length header",
            "no such header",
        )),
    }
}

/// The tensor's JSON `data`, flattened.
fn json_data(tensor: &Value, pointer: &str, cells: &mut Cells) -> Result<Vec<Scalar>, ExtractError> {
    let data = tensor.get("data").ok_or_else(|| {
        unexpected(
            child(pointer, "data"),
            "the tensor's data (or parameters.binary_data_size)",
            "none",
        )
    })?;
    let mut values = Vec::new();
    flatten(data, cells, &mut values);
    Ok(values)
}

/// Nested lists in row-major order (serde_json's recursion limit bounds the depth).
fn flatten(data: &Value, cells: &mut Cells, values: &mut Vec<Scalar>) {
    match data {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, cells, values)),
        leaf => values.push(cells.read(leaf)),
    }
}

/// Binary tensor data as values of the tensor's `datatype`.
fn decode(tensor: &Value, bytes: &[u8], pointer: &str, cells: &mut Cells) -> Result<Vec<Scalar>, ExtractError> {
    let datatype_pointer = child(pointer, "datatype");
    let datatype = tensor.get("datatype").and_then(Value::as_str).ok_or_else(|| {
        unexpected(
            &datatype_pointer,
            "the tensor's datatype, a string",
            found(tensor, "datatype"),
        )
    })?;
    match datatype {
        "BYTES" => length_prefixed(bytes, pointer, cells),
        "BOOL" => Ok(bytes.iter().map(|&byte| Scalar::Bool(byte != 0)).collect()),
        _ => {
            let (size, convert) = fixed_width(datatype).ok_or_else(|| {
                unexpected(
                    &datatype_pointer,
                    "an OIP datatype (BOOL, BYTES, INT*, UINT*, FP16, BF16, FP32, FP64)",
                    datatype,
                )
            })?;
            if !bytes.len().is_multiple_of(size) {
                let expected = format!("a multiple of {size} bytes for {datatype}");
                return Err(unexpected(
                    format!("{pointer}/parameters/binary_data_size"),
                    expected,
                    bytes.len().to_string(),
                ));
            }
            Ok(bytes
                .chunks_exact(size)
                .map(|element| number_scalar(convert(element)))
                .collect())
        }
    }
}

/// BYTES elements: each a little-endian `u32` length and that many bytes, read as UTF-8 text.
fn length_prefixed(mut bytes: &[u8], pointer: &str, cells: &mut Cells) -> Result<Vec<Scalar>, ExtractError> {
    let truncated = |left: usize| {
        unexpected(
            format!("{pointer}/parameters/binary_data_size"),
            "BYTES elements, each a 4-byte length and its bytes",
            format!("{left} bytes that end inside an element"),
        )
    };
    let mut values = Vec::new();
    while !bytes.is_empty() {
        let (length, rest) = bytes.split_first_chunk::<4>().ok_or_else(|| truncated(bytes.len()))?;
        let length = usize::try_from(u32::from_le_bytes(*length)).map_err(|_| truncated(bytes.len()))?;
        let (element, rest) = rest.split_at_checked(length).ok_or_else(|| truncated(bytes.len()))?;
        values.push(match std::str::from_utf8(element) {
            Ok(text) => Scalar::Text(text.to_owned()),
            Err(_) => cells.unreadable(),
        });
        bytes = rest;
    }
    Ok(values)
}

/// How to read one little-endian element of a numeric datatype.
type ReadElement = fn(&[u8]) -> f64;

/// The byte width of a numeric datatype and how to read one element.
fn fixed_width(datatype: &str) -> Option<(usize, ReadElement)> {
    Some(match datatype {
        "UINT8" => (1, |b| f64::from(u8::from_le_bytes(le(b)))),
        "INT8" => (1, |b| f64::from(i8::from_le_bytes(le(b)))),
        "UINT16" => (2, |b| f64::from(u16::from_le_bytes(le(b)))),
        "INT16" => (2, |b| f64::from(i16::from_le_bytes(le(b)))),
        "UINT32" => (4, |b| f64::from(u32::from_le_bytes(le(b)))),
        "INT32" => (4, |b| f64::from(i32::from_le_bytes(le(b)))),
        // 64-bit integers beyond 2^53 round to the nearest f64, as JSON numbers do.
        "UINT64" => (8, |b| u64::from_le_bytes(le(b)) as f64),
        "INT64" => (8, |b| i64::from_le_bytes(le(b)) as f64),
        "FP16" => (2, |b| half(u16::from_le_bytes(le(b)))),
        "BF16" => (2, |b| {
            f64::from(f32::from_bits(u32::from(u16::from_le_bytes(le(b))) << 16))
        }),
        "FP32" => (4, |b| f64::from(f32::from_le_bytes(le(b)))),
        "FP64" => (8, |b| f64::from_le_bytes(le(b))),
        _ => return None,
    })
}

/// An element's bytes as an array (elements come from `chunks_exact`, so always `N` long).
fn le<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap_or([0; N])
}

/// An IEEE 754 half-precision number.
fn half(bits: u16) -> f64 {
    let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f64.powi(-24),
        0x1f if fraction == 0.0 => f64::INFINITY,
        0x1f => f64::NAN,
        _ => (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// The tensors' columns side by side; all must have the same number of rows.
fn side_by_side(tensors: Vec<Tensor>, names: &[String], cells: Cells, pointer: &str) -> Result<Table, ExtractError> {
    let rows = tensors.first().map_or(0, |tensor| tensor.rows);
    if let Some(other) = tensors.iter().find(|tensor| tensor.rows != rows) {
        let expected = format!("{rows} rows, as the first tensor has (shape [N, …])");
        return Err(unexpected(
            child(&other.pointer, "shape"),
            expected,
            format!("{} rows", other.rows),
        ));
    }
    let width: usize = tensors.iter().map(|tensor| tensor.width).sum();
    check_size(rows, width, pointer)?;
    let only = tensors.len() == 1;
    let mut columns = Vec::with_capacity(width);
    for tensor in tensors {
        columns.extend(tensor_columns(tensor, if only { names } else { &[] }));
    }
    finish(rows, columns, cells, pointer)
}

/// One column for a `[N]` or `[N, 1]` tensor, else `names[j]` or `<name>_<j>` for each `j`.
fn tensor_columns(tensor: Tensor, names: &[String]) -> Vec<Column> {
    if tensor.width == 1 {
        return vec![Column {
            name: tensor.name,
            values: tensor.values,
        }];
    }
    (0..tensor.width)
        .map(|j| Column {
            name: names.get(j).cloned().unwrap_or_else(|| format!("{}_{j}", tensor.name)),
            values: tensor.values.iter().skip(j).step_by(tensor.width).cloned().collect(),
        })
        .collect()
}
