//! Dates and times in the year-first layouts Arrow's CSV inference does not know: `2012/01/01`,
//! `2012.01.01`, `2012-1-5`, and those followed by a time (`2012/01/01 13:45`, with seconds and
//! a fraction, `T` or a space between). Only year-first layouts are inferred: `01/02/2012` is
//! January 2 in one country and February 1 in another, so it stays a string.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};

/// A layout a column's values follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// A date: chrono's format.
    Date(&'static str),
    /// A date and a time.
    DateTime(&'static str),
}

const LAYOUTS: [Layout; 13] = [
    Layout::Date("%Y/%m/%d"),
    Layout::Date("%Y.%m.%d"),
    Layout::Date("%Y-%m-%d"),
    Layout::DateTime("%Y/%m/%d %H:%M:%S%.f"),
    Layout::DateTime("%Y/%m/%dT%H:%M:%S%.f"),
    Layout::DateTime("%Y/%m/%d %H:%M"),
    Layout::DateTime("%Y/%m/%dT%H:%M"),
    Layout::DateTime("%Y.%m.%d %H:%M:%S%.f"),
    Layout::DateTime("%Y.%m.%d %H:%M"),
    Layout::DateTime("%Y-%m-%d %H:%M:%S%.f"),
    Layout::DateTime("%Y-%m-%dT%H:%M:%S%.f"),
    Layout::DateTime("%Y-%m-%d %H:%M"),
    Layout::DateTime("%Y-%m-%dT%H:%M"),
];

impl Layout {
    /// The Arrow type the values become.
    pub(super) fn data_type(self) -> DataType {
        match self {
            Layout::Date(_) => DataType::Date32,
            Layout::DateTime(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    fn format(self) -> &'static str {
        match self {
            Layout::Date(f) | Layout::DateTime(f) => f,
        }
    }

    /// Days (dates) or microseconds (times) since the epoch.
    fn parse(self, text: &str) -> Option<i64> {
        // Four digits of year, then a separator: never a number or a day-first date.
        let bytes = text.as_bytes();
        if bytes.len() < 8 || !bytes[..4].iter().all(u8::is_ascii_digit) || !matches!(bytes[4], b'/' | b'.' | b'-') {
            return None;
        }
        match self {
            Layout::Date(format) => {
                let date = NaiveDate::parse_from_str(text, format).ok()?;
                Some((date - NaiveDate::default()).num_days())
            }
            Layout::DateTime(format) => NaiveDateTime::parse_from_str(text, format)
                .ok()
                .map(|t| t.and_utc().timestamp_micros()),
        }
    }

    /// Keeps the layouts `value` follows (all of them before the first value).
    pub(super) fn narrow(candidates: &mut Option<Vec<Layout>>, value: &str) {
        let kept = candidates.get_or_insert_with(|| LAYOUTS.to_vec());
        if !kept.is_empty() {
            kept.retain(|l| l.parse(value).is_some());
        }
    }

    /// The strings as dates or times; a value that does not follow the layout is an error with
    /// its row.
    pub(super) fn convert(self, strings: &ArrayRef) -> Result<ArrayRef, (usize, String)> {
        let strings = strings.as_string::<i32>();
        let mut values = Vec::with_capacity(strings.len());
        for (row, value) in strings.iter().enumerate() {
            values.push(match value {
                None => None,
                Some(text) => Some(self.parse(text).ok_or_else(|| {
                    (
                        row,
                        format!(
                            "`{text}` is not a date in the layout {} of the first rows",
                            self.format()
                        ),
                    )
                })?),
            });
        }
        Ok(match self {
            Layout::Date(_) => Arc::new(
                values
                    .into_iter()
                    .map(|v| v.and_then(|d| i32::try_from(d).ok()))
                    .collect::<Date32Array>(),
            ),
            Layout::DateTime(_) => Arc::new(values.into_iter().collect::<TimestampMicrosecondArray>()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn year_first_layouts_are_found_and_day_first_ones_are_not() {
        let of = |values: &[&str]| {
            let mut candidates = None;
            values.iter().for_each(|v| Layout::narrow(&mut candidates, v));
            candidates.and_then(|c| c.first().copied())
        };
        assert_eq!(of(&["2012/01/01", "2015/12/31"]), Some(Layout::Date("%Y/%m/%d")));
        assert_eq!(of(&["2012-1-5"]), Some(Layout::Date("%Y-%m-%d")));
        assert_eq!(
            of(&["2012/01/01 13:45", "2012/01/02 00:00"]),
            Some(Layout::DateTime("%Y/%m/%d %H:%M"))
        );
        assert_eq!(
            of(&["2012/01/01 13:45:10.25"]),
            Some(Layout::DateTime("%Y/%m/%d %H:%M:%S%.f"))
        );
        assert_eq!(of(&["01/02/2012"]), None);
        assert_eq!(of(&["2012/01/01", "soon"]), None);
        assert_eq!(of(&["2012/02/30"]), None);
        assert_eq!(of(&["20120101"]), None);
        assert_eq!(Layout::Date("%Y/%m/%d").parse("1970/01/02"), Some(1));
        assert_eq!(
            Layout::DateTime("%Y/%m/%d %H:%M").parse("1970/01/01 00:01"),
            Some(60_000_000)
        );
    }
}
