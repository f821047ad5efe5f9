//! The fast block-YAML reader agrees with serde-saphyr whenever it accepts an input, and it
//! accepts the documents MLSpec writes.

use std::path::{Path, PathBuf};

use bumpalo::Bump;
use mlspec_spec::Document;
use mlspec_spec::fast_yaml::{self, Budget};
use serde::Deserialize;

const BUDGET: Budget = Budget {
    depth: 64,
    nodes: 1_000_000,
    documents: 10_000,
};

/// What the fast reader makes of `text`, when it accepts it.
fn fast(text: &str) -> Option<Vec<Document>> {
    let arena = Bump::new();
    let nodes = fast_yaml::parse(text, BUDGET, &arena)?;
    nodes.iter().map(|n| Document::deserialize(n).ok()).collect()
}

/// Checks the contract on one input, as generic values and as typed documents; returns whether
/// the fast reader accepted it as documents.
fn agrees(name: &str, text: &str) -> bool {
    let arena = Bump::new();
    let values: Option<Vec<serde_json::Value>> = fast_yaml::parse(text, BUDGET, &arena)
        .and_then(|nodes| nodes.iter().map(|n| serde_json::Value::deserialize(n).ok()).collect());
    if let Some(values) = values {
        let reference: Vec<serde_json::Value> = serde_saphyr::from_multiple(text)
            .unwrap_or_else(|e| panic!("{name}: fast reader accepted values serde-saphyr refuses: {e}"));
        assert_eq!(values, reference, "{name}: values disagree");
    }
    let Some(documents) = fast(text) else { return false };
    let reference: Vec<Document> = serde_saphyr::from_multiple(text)
        .unwrap_or_else(|e| panic!("{name}: fast reader accepted what serde-saphyr refuses: {e}"));
    assert_eq!(documents, reference, "{name}: fast reader and serde-saphyr disagree");
    true
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn examples_fixtures_and_written_documents_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut accepted = 0;
    for path in yaml_files(&root.join("docs/spec/examples")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        accepted += usize::from(agrees(&name, &text));
        // What serde-saphyr writes (and `mlspec migrate` prints) must stay in the subset.
        let document: Document = serde_saphyr::from_str(&text).unwrap();
        let written = serde_saphyr::to_string(&document).unwrap();
        assert!(
            agrees(&format!("{name} (rewritten)"), &written),
            "{name}: written form left the subset:\n{written}"
        );
    }
    assert!(
        accepted >= 20,
        "the fast reader handled only {accepted} of the 23 examples"
    );
    for path in yaml_files(&root.join("crates/mlspec/tests/fixtures/invalid")) {
        agrees(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap());
    }
}

#[test]
fn edge_cases_agree_or_decline() {
    let head = "apiVersion: mlspec/v1\nkind: Run\nmetadata:\n  name: r\n";
    let cases = [
        "spec:\n  status: Running\n  params: {a: 1, b: -2, c: 1.5e3, d: '007', e: \"x\\ty\", f: yes, g: 0x1F, h: 1_000, i: .5}\n",
        "spec:\n  status: Running\n  tags: {k: 'it''s', \"q\": \"\\u00e9\", n: ~, e: }\n",
        "spec:\n  status: Running\n  command:\n  - python\n  - --x\n  -   \"1000\"   # comment\n",
        "spec: # the body\n  status: Running\n  metrics:\n    - key: loss\n      value: [1, 2.5, {a: 3}]\n      step: 3\n",
        "spec:\n  status: Running\n  params:\n    long: this is\n      continued\n",
        "spec:\n  status: Running\n  params:\n    block: |\n      text\n",
        "spec:\n  status: &s Running\n",
        "spec:\n  status: Running\n  params: {x: 1}\n  params: {x: 2}\n",
        "spec:\n  status: Running\n  metrics: [{key: m, value: {a: 1, 'a': 2}}]\n",
        "spec:\n  status: Running\n  metrics:\n  - key: m\n    value:\n      a: 1\n      \"a\": 2\n",
        "spec:\n\tstatus: Running\n",
        "spec:\n  status: Running\n  tags: {1: a, true: b, null: c}\n",
        "spec:\n  status: Running\n  params: {v: 1.0, w: 2026-11-30, x: 1.2.0, y: 3f2a9c1, z: 1:30}\n",
        "spec:\n  status: Running\n  tags: {a: x #not a comment}\n}\n",
        "spec:\n  status: Running\n  tags: {a: 'x' y}\n",
        "spec:\n  status: Running\n  tags:\n    a: b: c\n",
        "spec:\n  status: Running\n---\n",
        "spec:\n  status: Running\n...\n",
        "spec:\n  status: Running\n  command:\n  - |\n    line one\n    line two\n  - >-\n    folded\n    text\n",
        "spec:\n  status: Running\n  tags:\n    a: >\n      x\n\n      y\n    b: |-\n      p\n      # not a comment\n",
        "spec:\n  status: Running\n  tags:\n    a: |\n      trailing  \n    b: >\n      x\n        deeper\n",
        "spec:\n  status: Running\n  tags:\n    a: |+\n      kept\n\n    b: |2\n      x\n",
        // Found by the yaml_fast_path fuzz target: YAML forbids non-printable characters.
        "spec:\n  status: Running\n  tags: {a: x\u{4}y, b: \"\u{7f}\", c: z\u{85}, d: \"\u{feff}\"}\n",
        "spec:\n  status: Running\n  tags: {a: x\u{0}y}\n",
        "spec:\n  status: Running\n  tags:\n    a: x\ry\n    b: x\u{2028}y\n",
        "spec:\r\n  status: Running\r\n  tags: {a: b}\r\n",
        "spec:\n  status: Running\n---#\n",
        "spec:\n  status: Running\n--- # next\n",
        // Found by the yaml_fast_path fuzz target: a comment needs whitespace before it.
        "spec:\n  status: \"Running\"# note\n",
        "spec:\n  status: 'Running'# note\n",
        "spec:\n  status: \"Running\" # note\n  tags: {a: b}# note\n",
        // Found by the yaml_fast_path fuzz target: a block scalar's last line looks like a comment.
        "spec:\n  status: Running\n  command:\n  - |\n    run\n     # c: 0\n",
        "spec:\n  status: Running\n  command:\n  - |\n    run\n\n",
        // Found by the yaml_fast_path fuzz target: YAML's merge key.
        "spec:\n  status: Running\n  tags: {a: b, <<: {c: d}}\n",
        "spec:\n  status: Running\n  tags:\n    a: b\n    <<: {c: d}\n",
        "spec:\n  status: Running\n  tags: {'<<': x}\n",
        // Words Rust's float parser knows.
        "spec:\n  status: Running\n  tags: {a: nan, b: NaN, c: inf, d: -Infinity, e: infinity}\n",
        "spec:\n  status: Running\n  params: {a: nan, b: inf}\n",
        // Found by the yaml_fast_path fuzz target: other spellings of true, false and null.
        "spec:\n  status: Running\n  tags: {a: truE, b: fAlse, c: nULL, d: True, e: NULL}\n",
        "spec:\n  status: Running\n  params: {a: truE}\n",
        // Found by the yaml_fast_path fuzz target: tabs in a plain key.
        "spec:\n  status: Running\n  metrics:\n  - key: m\n    value:\n      x\t\t: 1\n",
        "spec:\n  status: Running\n  metrics: [{key: m, value: {x\t: 1}}]\n",
        "spec:\n  status: Running\n  tags: {a: b, \"c\": d, e: {f: g}}\n",
    ];
    // Keys longer than YAML's 1024-character implicit-key limit.
    let long_key = "k".repeat(1100);
    let long_keys = [
        format!("spec:\n  status: Running\n  tags:\n    {long_key}: v\n"),
        format!("spec:\n  status: Running\n  tags: {{{long_key}: v}}\n"),
        format!("spec:\n  status: Running\n  tags: {{\"{long_key}\": v}}\n"),
    ];
    let cases: Vec<&str> = cases
        .iter()
        .copied()
        .chain(long_keys.iter().map(String::as_str))
        .collect();
    for (i, case) in cases.iter().enumerate() {
        agrees(&format!("case {i}"), &format!("{head}{case}"));
        agrees(&format!("case {i} after ---"), &format!("---\n{head}{case}"));
        agrees(&format!("case {i} twice"), &format!("{head}{case}---\n{head}{case}"));
    }
}

#[test]
fn the_budget_bounds_depth_and_nodes() {
    let deep = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
    assert!(fast_yaml::parse(&deep, BUDGET, &Bump::new()).is_none());
    let mut indented = String::new();
    for level in 0..100 {
        indented.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
    }
    assert!(fast_yaml::parse(&indented, BUDGET, &Bump::new()).is_none());
    let wide = format!("a: [{}]\n", vec!["1"; 100].join(", "));
    assert!(fast_yaml::parse(&wide, Budget { nodes: 50, ..BUDGET }, &Bump::new()).is_none());
    assert!(fast_yaml::parse(&wide, BUDGET, &Bump::new()).is_some());

    // Duplicate keys are caught in small and in large mappings.
    for size in [3, 40] {
        let keys: Vec<String> = (0..size).map(|i| format!("k{i}: {i}")).collect();
        let map = format!("{{{}}}", keys.join(", "));
        assert!(fast_yaml::parse(&format!("a: {map}\n"), BUDGET, &Bump::new()).is_some());
        let repeated = format!("a: {{{}, k1: again}}\n", keys.join(", "));
        assert!(fast_yaml::parse(&repeated, BUDGET, &Bump::new()).is_none(), "{size}");
        let block: String = keys
            .iter()
            .chain(std::iter::once(&"'k2': again".to_owned()))
            .map(|k| format!("{k}\n"))
            .collect();
        assert!(fast_yaml::parse(&block, BUDGET, &Bump::new()).is_none(), "{size} block");
    }
}
