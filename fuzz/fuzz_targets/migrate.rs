//! Any text through `mlspec migrate`: never a panic, and every document it produces is valid,
//! can be written by the one writer (`encode`, which re-validates) and carries no secret the
//! redactor can find.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_spec::migrate::migrate;
use mlspec_spec::validate::{Encoding, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(migration) = migrate(text) {
        for document in &migration.documents {
            assert!(!document.check().has_errors(), "migrate produced an invalid document: {document:?}");
            if let Err(d) = encode(document, Encoding::Yaml) {
                panic!("migrate produced a document that cannot be written: {d:?}");
            }
        }
    }
});
