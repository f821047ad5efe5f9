//! Where CSV records end, found fast. The parallel reader ([`super::parallel`]) cuts a file into
//! blocks of whole records on one thread while others parse them, so finding where a record
//! ends must cost far less than parsing it — and must agree exactly with the parser, or a block
//! would start inside a quoted field.
//!
//! A record ends at the first line break (CR or LF) outside quotes. What counts as "outside
//! quotes" follows csv-core, the parser Arrow decodes with, rule for rule:
//!
//! - a quote opens a quoted field only as the field's first byte; anywhere else in an unquoted
//!   field it is an ordinary byte (`5'11"` needs no quoting);
//! - inside quotes a doubled quote is a quote, and the escape byte (if the dialect has one)
//!   makes the next byte ordinary; any other quote closes the quotes, and what follows it up to
//!   the next delimiter is unquoted again (`"ab"c` is the field `abc`);
//! - line breaks before a record (blank lines) belong to no record; at the end of the data the
//!   last record ends wherever the data does, even inside quotes.
//!
//! Between the bytes that matter, `memchr` jumps ahead: a record without quotes costs one
//! vectorized search for a quote or a line break. (Dialects whose delimiter, quote or escape
//! is itself a line break are left to the sequential reader.) The tests hold every answer to
//! csv-core's own.

use super::csv::Dialect;

/// Finds the ends of records in one dialect.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecordEnds {
    delimiter: u8,
    quote: u8,
    escape: Option<u8>,
}

/// Whether a byte is a line break, which ends a record (csv-core's default terminator).
pub(super) fn is_line_break(byte: u8) -> bool {
    matches!(byte, b'\r' | b'\n')
}

impl RecordEnds {
    /// The record ends of `dialect`; `None` when one of its special bytes is a line break,
    /// which only a full parse tells apart.
    pub(super) fn new(dialect: &Dialect) -> Option<RecordEnds> {
        let special = [Some(dialect.delimiter), Some(dialect.quote), dialect.escape];
        if special.into_iter().flatten().any(is_line_break) {
            return None;
        }
        Some(RecordEnds {
            delimiter: dialect.delimiter,
            quote: dialect.quote,
            escape: dialect.escape,
        })
    }

    /// The end of the record that starts at `data[start]` (a byte that is not a line break):
    /// the index just past the line break that ends it; `None` when `data` ends first (more
    /// data decides, or at the end of the file the record ends with it).
    pub(super) fn end(&self, data: &[u8], start: usize) -> Option<usize> {
        // Unquoted from `at` on; `at` is a field's first byte when `field_start`.
        let (mut at, mut field_start) = (start, true);
        loop {
            let found = at + memchr::memchr3(self.quote, b'\r', b'\n', data.get(at..)?)?;
            if data.get(found) != Some(&self.quote) {
                return Some(found + 1);
            }
            // Between `at` and the quote only delimiters tell where fields start.
            let opens = if found == at {
                field_start
            } else {
                data.get(found - 1) == Some(&self.delimiter)
            };
            at = if opens {
                self.closing_quote(data, found + 1)? + 1
            } else {
                found + 1
            };
            field_start = false;
        }
    }

    /// The index of the quote that closes a quoted field whose contents start at `at`; `None`
    /// when `data` ends first (a quote's meaning depends on the byte after it).
    fn closing_quote(&self, data: &[u8], mut at: usize) -> Option<usize> {
        loop {
            let rest = data.get(at..)?;
            let found = at
                + match self.escape {
                    Some(escape) => memchr::memchr2(self.quote, escape, rest)?,
                    None => memchr::memchr(self.quote, rest)?,
                };
            let next = *data.get(found + 1)?;
            if data.get(found) == Some(&self.quote) && next != self.quote {
                return Some(found);
            }
            // A doubled quote, or the escape and the byte it escapes.
            at = found + 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The records csv-core parses from `data`, each as its fields.
    fn parsed(ends: &RecordEnds, data: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut parser = csv_core::ReaderBuilder::new()
            .delimiter(ends.delimiter)
            .quote(ends.quote)
            .escape(ends.escape)
            .build();
        let (mut output, mut field_ends) = (vec![0; data.len() + 1], vec![0; data.len() + 1]);
        let (mut records, mut at) = (Vec::new(), 0);
        loop {
            let (result, read, _, fields) = parser.read_record(&data[at..], &mut output, &mut field_ends);
            at += read;
            match result {
                csv_core::ReadRecordResult::Record => {
                    let mut start = 0;
                    records.push(
                        field_ends[..fields]
                            .iter()
                            .map(|&end| {
                                let field = output[start..end].to_vec();
                                start = end;
                                field
                            })
                            .collect(),
                    );
                }
                csv_core::ReadRecordResult::End => return records,
                csv_core::ReadRecordResult::InputEmpty => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// `data` cut into records by [`RecordEnds`], blank lines dropped.
    fn pieces<'a>(ends: &RecordEnds, data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        let mut at = 0;
        loop {
            while data.get(at).is_some_and(|b| is_line_break(*b)) {
                at += 1;
            }
            if at == data.len() {
                return pieces;
            }
            let end = ends.end(data, at).unwrap_or(data.len());
            pieces.push(&data[at..end]);
            at = end;
        }
    }

    fn dialect() -> impl Strategy<Value = RecordEnds> {
        (
            prop::sample::select(vec![b',', b';', b'\t', b'|']),
            prop::sample::select(vec![b'"', b'\'']),
            prop::option::of(prop::sample::select(vec![b'\\', b'"'])),
        )
            .prop_map(|(delimiter, quote, escape)| RecordEnds {
                delimiter,
                quote,
                escape,
            })
    }

    fn csvish() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(b"ab,;\t|\"'\\\r\n ".to_vec()), 0..120)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Each piece is one whole record, and together they are csv-core's records.
        #[test]
        fn records_end_where_csv_core_ends_them(ends in dialect(), data in csvish()) {
            let whole = parsed(&ends, &data);
            let mut one_by_one = Vec::new();
            for piece in pieces(&ends, &data) {
                let records = parsed(&ends, piece);
                prop_assert_eq!(records.len(), 1, "{:?}", String::from_utf8_lossy(piece));
                one_by_one.extend(records);
            }
            prop_assert_eq!(one_by_one, whole);
        }

        /// An end found in the first bytes of the data is the end found in all of it: reads
        /// of any size cut records in the same places.
        #[test]
        fn an_end_does_not_depend_on_the_bytes_after_it(ends in dialect(), data in csvish(), cut in 0usize..120) {
            let cut = cut.min(data.len());
            let mut at = 0;
            while at < data.len() {
                if is_line_break(data[at]) {
                    at += 1;
                    continue;
                }
                let full = ends.end(&data, at);
                if let Some(early) = ends.end(&data[..cut], at) {
                    prop_assert_eq!(Some(early), full);
                }
                at = full.unwrap_or(data.len());
            }
        }
    }

    #[test]
    fn quotes_open_only_at_a_field_start() {
        let ends = RecordEnds {
            delimiter: b',',
            quote: b'"',
            escape: None,
        };
        assert_eq!(ends.end(b"5'11\",x\ny", 0), Some(8));
        assert_eq!(ends.end(b"\"a\nb\",c\nd", 0), Some(8));
        assert_eq!(ends.end(b"\"a\"\"\n\"\r\n", 0), Some(7));
        assert_eq!(ends.end(b"\"ab\"c\"\nd", 0), Some(7));
        assert_eq!(ends.end(b"\"open\n", 0), None);
        assert_eq!(ends.end(b"\"ends with a quote\"", 0), None);
        let escaped = RecordEnds {
            escape: Some(b'\\'),
            ..ends
        };
        assert_eq!(escaped.end(b"\"a\\\"\nb\"\n", 0), Some(8));
    }
}
