//! Any bytes, as YAML and as JSON, through the whole validation path: it must never panic and
//! must either accept documents or explain why not, within the diagnostics limit; every
//! accepted document is written back by the one writer (`encode`) in every encoding. Any text
//! through the redactor: redacting is idempotent and leaves no secret it can find.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_spec::redact::{find, redact, redact_args};
use mlspec_spec::validate::{Encoding, Format, Limits, encode, validate_bytes};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_bytes: 1 << 20, max_diagnostics: 7, ..Limits::default() };
    for format in [Format::Yaml, Format::Json] {
        let outcome = validate_bytes(data, Some(format), None, &limits);
        assert!(outcome.has_errors() || !outcome.documents.is_empty());
        assert!(outcome.diagnostics.len() <= limits.max_diagnostics);
        for document in &outcome.documents {
            for encoding in [Encoding::Json, Encoding::JsonPretty, Encoding::Yaml] {
                if let Err(d) = encode(document, encoding) {
                    panic!("a valid document could not be written as {encoding:?}: {d:?}");
                }
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let redacted = redact(text);
        assert_eq!(redact(&redacted), redacted);
        assert!(find(&redacted).is_empty(), "{redacted:?}");
        let args: Vec<&str> = text.split_whitespace().collect();
        let _ = redact_args(&args);
    }
});
