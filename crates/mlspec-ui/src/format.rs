//! How values are shown and how addresses are built: every address is made from an id (which
//! the store's id rules keep to `[A-Za-z0-9._-]`) or from percent-encoded text, so no user text
//! can become a `javascript:` address or break out of an attribute.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use mlspec_spec::{Kind, Ref, RefTarget, Status};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::UiError;

/// The page of one object.
pub fn object_href(id: &str) -> String {
    format!("/ui/objects/{}", encode(id))
}

/// The list of one kind.
pub fn kind_href(kind: Kind) -> String {
    format!("/ui/kinds/{}", kind.as_str())
}

/// Every byte but RFC 3986's unreserved characters (letters, digits, `-._~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Where a reference leads: the object's page for an id, the list of its kind filtered to its
/// name for `Kind/name[@version]` (which version is current is the store's to resolve).
pub fn ref_href(reference: &Ref) -> String {
    match &reference.target {
        RefTarget::Id(id) => object_href(id.as_str()),
        RefTarget::Named { kind, name, .. } => {
            let filter = format!("name = {}", quoted(name.as_str()));
            format!("{}{}", kind_href(*kind), query_string([("where", filter.as_str())]))
        }
    }
}

/// `text` as a string literal of the store's query language.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `text` percent-encoded for a path segment or a query value (ids come out unchanged).
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, RESERVED).to_string()
}

/// A query string from (name, value) pairs, empty values left out.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    match parts.is_empty() {
        true => String::new(),
        false => format!("?{}", parts.join("&")),
    }
}

/// A field value as a table shows it: numbers with up to 6 significant digits.
pub fn value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number with up to 6 significant digits, without trailing zeros.
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let magnitude = x.abs().log10().floor();
    if !(-4.0..15.0).contains(&magnitude) {
        return format!("{x:.5e}");
    }
    let decimals = (5.0 - magnitude).max(0.0) as usize;
    let text = format!("{x:.decimals$}");
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => text,
    }
}

/// A lifecycle status as written in documents.
pub fn status(status: Status) -> &'static str {
    match status {
        Status::Active => "Active",
        Status::Deprecated => "Deprecated",
        Status::Archived => "Archived",
    }
}

/// A time as `2026-12-06 10:45:12`: from RFC 3339 (`2026-12-06T10:45:12.5Z`) or a
/// timestamp's display (`2026-12-06 10:45:12 UTC`), fractions of a second and the UTC mark
/// dropped.
pub fn time(text: &str) -> String {
    let mut shown = text.to_owned();
    if shown.as_bytes().get(10) == Some(&b'T') {
        shown.replace_range(10..11, " ");
    }
    let whole_seconds = shown.split('.').next().unwrap_or_default();
    whole_seconds
        .trim_end_matches(" UTC")
        .trim_end_matches('Z')
        .trim_end_matches("+00:00")
        .to_owned()
}

/// Seconds as people read them: `40 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    let whole = seconds as u64;
    match whole {
        0 => format!("{:.0} ms", seconds * 1000.0),
        1..60 => format!("{seconds:.1} s"),
        60..3600 => format!("{} min {} s", whole / 60, whole % 60),
        _ => format!("{} h {} min", whole / 3600, (whole % 3600) / 60),
    }
}

/// How long a run took, when it has both ends.
pub fn run_duration(run: &mlspec_spec::kinds::RunSpec) -> Option<String> {
    let (start, end) = (run.start_time?, run.end_time?);
    Some(duration((end - start).num_milliseconds() as f64 / 1000.0))
}

/// A query's parameters, or a 400 page that says which one is wrong.
pub fn query<T>(parsed: Result<Query<T>, QueryRejection>) -> Result<T, UiError> {
    parsed
        .map(|Query(q)| q)
        .map_err(|e| UiError::bad_request(format!("the address's query is not understood: {}", e.body_text())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_six_significant_digits() {
        assert_eq!(number(0.912345678), "0.912346");
        assert_eq!(number(1234.5), "1234.5");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-0.00012), "-0.00012");
        assert_eq!(number(1e20), "1.00000e20");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0.04), "40 ms");
        assert_eq!(duration(4.25), "4.2 s");
        assert_eq!(duration(185.0), "3 min 5 s");
        assert_eq!(duration(7800.0), "2 h 10 min");
        assert_eq!(duration(-1.0), "0 ms");
    }

    #[test]
    fn times_are_shown_to_the_second_in_utc() {
        for text in [
            "2026-11-30T09:58:00Z",
            "2026-11-30T09:58:00.123456Z",
            "2026-11-30 09:58:00 UTC",
            "2026-11-30T09:58:00+00:00",
        ] {
            assert_eq!(time(text), "2026-11-30 09:58:00", "{text}");
        }
    }

    #[test]
    fn addresses_never_carry_raw_text() {
        assert_eq!(object_href("a b\"<"), "/ui/objects/a%20b%22%3C");
        assert_eq!(object_href("01a24afa-aa07.x_y"), "/ui/objects/01a24afa-aa07.x_y");
        assert_eq!(object_href("../x"), "/ui/objects/..%2Fx");
        assert_eq!(query_string([("where", "x > 1"), ("page", "")]), "?where=x%20%3E%201");
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        let named: Ref = "Dataset/a@2".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ref_href(&named), "/ui/kinds/Dataset?where=name%20%3D%20%22a%22");
    }
}
