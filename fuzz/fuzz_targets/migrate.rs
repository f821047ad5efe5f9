//! Any text through `mlspec migrate`: never a panic, and every document it produces is valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_spec::migrate::migrate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(migration) = migrate(text) {
        for document in &migration.documents {
            assert!(!document.check().has_errors(), "migrate produced an invalid document: {document:?}");
        }
    }
});
