//! MLflow's `text/csv` bodies: a header row, then one record per row (RFC 4180, read by
//! csv-core).

use csv_core::{ReadRecordResult, Reader};

use super::table::{Cells, MAX_COLUMNS, check_size, finish, number_scalar};
use super::{Column, ExtractError, Scalar, Table};

pub(super) fn read(bytes: &[u8]) -> Result<Table, ExtractError> {
    let mut records = Records::new(bytes);
    let Some(header) = records.next_record()? else {
        return finish(0, Vec::new(), Cells::default(), "");
    };
    let mut columns: Vec<Column> = header
        .into_iter()
        .map(|name| Column {
            name,
            values: Vec::new(),
        })
        .collect();
    let mut rows = 0;
    while let Some(record) = records.next_record()? {
        if record.len() > columns.len() {
            let problem = format!("{} fields, more than the header's {}", record.len(), columns.len());
            return Err(ExtractError::Csv {
                record: records.count,
                problem,
            });
        }
        rows += 1;
        check_size(rows, columns.len(), "")?;
        let mut fields = record.into_iter();
        for column in &mut columns {
            column
                .values
                .push(fields.next().map_or(Scalar::Missing, |field| scalar(&field)));
        }
    }
    finish(rows, columns, Cells::default(), "")
}

/// A field as pandas reads it by default: empty or NaN is missing, then a boolean, a number, or
/// text.
fn scalar(field: &str) -> Scalar {
    match field {
        "" => Scalar::Missing,
        "true" | "True" | "TRUE" => Scalar::Bool(true),
        "false" | "False" | "FALSE" => Scalar::Bool(false),
        _ => field
            .trim()
            .parse::<f64>()
            .map_or_else(|_| Scalar::Text(field.to_owned()), number_scalar),
    }
}

/// The records of a CSV body, one at a time.
struct Records<'a> {
    reader: Reader,
    input: &'a [u8],
    /// Room for the longest possible record: no field is longer than the input.
    output: Vec<u8>,
    ends: Vec<usize>,
    /// Records read so far (1 is the header).
    count: usize,
}

impl<'a> Records<'a> {
    fn new(input: &'a [u8]) -> Self {
        let output = vec![0; input.len() + 1];
        let ends = vec![0; MAX_COLUMNS];
        Records {
            reader: Reader::new(),
            input,
            output,
            ends,
            count: 0,
        }
    }

    /// The next record's fields. A record can end only once the input is exhausted (the last
    /// one, without a line break), so its output and field ends accumulate across calls.
    fn next_record(&mut self) -> Result<Option<Vec<String>>, ExtractError> {
        let (mut written, mut fields) = (0, 0);
        loop {
            let output = self.output.get_mut(written..).unwrap_or_default();
            let ends = self.ends.get_mut(fields..).unwrap_or_default();
            let (result, read, more_output, more_fields) = self.reader.read_record(self.input, output, ends);
            self.input = self.input.get(read..).unwrap_or_default();
            written += more_output;
            fields += more_fields;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::Record => {
                    self.count += 1;
                    return self.fields(fields).map(Some);
                }
                ReadRecordResult::End => return Ok(None),
                ReadRecordResult::OutputEndsFull => {
                    let problem = format!("more than {MAX_COLUMNS} fields");
                    return Err(ExtractError::Csv {
                        record: self.count + 1,
                        problem,
                    });
                }
                ReadRecordResult::OutputFull => {
                    // Cannot happen: `output` is longer than the whole input.
                    let problem = "a field longer than the body".to_owned();
                    return Err(ExtractError::Csv {
                        record: self.count + 1,
                        problem,
                    });
                }
            }
        }
    }

    /// The record's fields as UTF-8 text.
    fn fields(&self, count: usize) -> Result<Vec<String>, ExtractError> {
        let mut start = 0;
        let ends = self.ends.get(..count).unwrap_or_default();
        ends.iter()
            .map(|&end| {
                let field = self.output.get(start..end).unwrap_or_default();
                start = end;
                String::from_utf8(field.to_vec()).map_err(|_| ExtractError::Csv {
                    record: self.count,
                    problem: "a field that is not UTF-8 text".to_owned(),
                })
            })
            .collect()
    }
}
