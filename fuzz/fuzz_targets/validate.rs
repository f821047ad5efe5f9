//! Any bytes, as YAML and as JSON, through the whole validation path: it must never panic and
//! must either accept documents or explain why not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_spec::validate::{Format, Limits, validate_bytes};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_bytes: 1 << 20, ..Limits::default() };
    for format in [Format::Yaml, Format::Json] {
        let outcome = validate_bytes(data, Some(format), None, &limits);
        assert!(outcome.has_errors() || !outcome.documents.is_empty());
    }
});
