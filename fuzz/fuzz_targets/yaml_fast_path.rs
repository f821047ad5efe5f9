//! The fast block-YAML reader's contract: whenever it yields values, serde-saphyr yields the
//! same ones — as generic values and as typed documents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlspec_spec::Document;
use mlspec_spec::fast_yaml::{self, Budget};
use serde::Deserialize;

const BUDGET: Budget = Budget { depth: 64, nodes: 100_000, documents: 100 };

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let arena = bumpalo::Bump::new();
    let Some(nodes) = fast_yaml::parse(text, BUDGET, &arena) else { return };
    let values: Option<Vec<serde_json::Value>> = nodes.iter().map(|n| serde_json::Value::deserialize(n).ok()).collect();
    if let Some(values) = values {
        let reference: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("fast reader accepted what serde-saphyr refuses: {e}"));
        assert_eq!(values, reference);
    }
    let documents: Option<Vec<Document>> = nodes.iter().map(|n| Document::deserialize(n).ok()).collect();
    if let Some(documents) = documents {
        let reference: Vec<Document> =
            serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("fast reader accepted a document serde-saphyr refuses: {e}"));
        assert_eq!(documents, reference);
    }
});
