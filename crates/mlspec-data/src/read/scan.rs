//! The CSV record scanner: finds where each record starts (physical line and byte offset, blank
//! lines and quoted line breaks counted) and enforces the reading limits before any record is
//! kept, with the same dialect (csv-core) as the Arrow decoder that parses the values.

use super::{Limits, Place};

/// A record's end, as the scanner saw it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    /// Where the record starts.
    pub place: Place,
    /// Its fields.
    pub fields: usize,
}

/// A limit the input broke, where.
#[derive(Clone, Debug)]
pub(super) struct Broken {
    pub place: Place,
    pub what: Limit,
}

/// The limits a record can break.
#[derive(Clone, Copy, Debug)]
pub(super) enum Limit {
    /// More fields than `max_columns`.
    Columns(usize),
    /// More bytes than `max_record_bytes`.
    RecordBytes(usize),
    /// A different number of fields than the header (found, expected).
    FieldCount(usize, usize),
}

/// What one call to [`Scanner::scan`] did.
pub(super) struct Scanned {
    /// Input bytes consumed.
    pub consumed: usize,
    /// The record that ended within them, if one did.
    pub record: Option<Record>,
}

pub(super) struct Scanner {
    parser: csv_core::Reader,
    scratch: Vec<u8>,
    ends: Vec<usize>,
    limits: Limits,
    /// Fields every record must have (the header's), once known.
    expected_fields: Option<usize>,
    /// Decompressed bytes consumed so far.
    offset: u64,
    /// The physical line of the next byte (1-based).
    line: u64,
    /// The record being read: where it started, its bytes and fields so far.
    current: Option<(Place, usize, usize)>,
}

impl Scanner {
    pub(super) fn new(dialect: &super::csv::Dialect, limits: Limits) -> Scanner {
        let mut builder = csv_core::ReaderBuilder::new();
        builder
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .escape(dialect.escape);
        Scanner {
            parser: builder.build(),
            scratch: vec![0; 1 << 16],
            ends: vec![0; 1 << 10],
            limits,
            expected_fields: None,
            offset: 0,
            line: 1,
            current: None,
        }
    }

    /// Every later record must have `fields` fields.
    pub(super) fn expect_fields(&mut self, fields: usize) {
        self.expected_fields = Some(fields);
    }

    /// Scans on from `place`, where a record (or blank lines) starts: for a block cut from
    /// the middle of the data.
    pub(super) fn resume_at(&mut self, place: Place) {
        self.line = place.line;
        self.offset = place.byte;
    }

    /// Where the scanner is: the record being read, else the next byte.
    pub(super) fn place(&self) -> Place {
        self.current.map_or(
            Place {
                line: self.line,
                byte: self.offset,
            },
            |(place, _, _)| place,
        )
    }

    /// Scans `input` (empty at the end of the data) up to the end of the next record.
    pub(super) fn scan(&mut self, input: &[u8]) -> Result<Scanned, Broken> {
        let mut consumed = 0;
        if self.current.is_none() {
            // Blank lines before a record are not part of it (csv-core skips them too).
            let skipped = input.iter().take_while(|b| matches!(b, b'\n' | b'\r')).count();
            self.advance(&input[..skipped]);
            consumed = skipped;
            if consumed == input.len() && !input.is_empty() {
                return Ok(Scanned { consumed, record: None });
            }
            self.current = Some((self.place(), 0, 0));
        }
        loop {
            let rest = &input[consumed..];
            let (result, nin, _, nends) = self.parser.read_record(rest, &mut self.scratch, &mut self.ends);
            self.advance(&rest[..nin]);
            consumed += nin;
            let Some((place, bytes, fields)) = &mut self.current else {
                return Ok(Scanned { consumed, record: None });
            };
            *bytes += nin;
            *fields += nends;
            let (place, bytes, fields) = (*place, *bytes, *fields);
            if bytes > self.limits.max_record_bytes {
                return Err(Broken {
                    place,
                    what: Limit::RecordBytes(self.limits.max_record_bytes),
                });
            }
            if fields > self.limits.max_columns {
                return Err(Broken {
                    place,
                    what: Limit::Columns(self.limits.max_columns),
                });
            }
            match result {
                csv_core::ReadRecordResult::OutputFull | csv_core::ReadRecordResult::OutputEndsFull => {}
                csv_core::ReadRecordResult::InputEmpty => return Ok(Scanned { consumed, record: None }),
                csv_core::ReadRecordResult::End => {
                    self.current = None;
                    return Ok(Scanned { consumed, record: None });
                }
                csv_core::ReadRecordResult::Record => {
                    self.current = None;
                    if let Some(expected) = self.expected_fields
                        && expected != fields
                    {
                        return Err(Broken {
                            place,
                            what: Limit::FieldCount(fields, expected),
                        });
                    }
                    return Ok(Scanned {
                        consumed,
                        record: Some(Record { place, fields }),
                    });
                }
            }
        }
    }

    fn advance(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    }
}
