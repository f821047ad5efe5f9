//! Every seed example in the original formats migrates to documents `validate` accepts, except
//! the malformed ones, which get a located syntax error. Credentials are never copied.

use std::path::{Path, PathBuf};

use mlspec_spec::migrate::{MigrateError, migrate};
use mlspec_spec::validate::{Format, Limits, validate_text};

fn seed_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seed-examples");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e} (the vendored seed examples)", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The two seed files that are not YAML at all (tabs; a mis-indented mapping at line 247).
const MALFORMED: &[&str] = &["metadata_file_metadata.yaml", "model_packaging_model_packaging.yaml"];

#[test]
fn every_seed_example_migrates_to_valid_v1_or_a_located_error() {
    let files = seed_files();
    assert_eq!(files.len(), 28, "the seed examples changed");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match migrate(&text) {
            Err(MigrateError::Syntax { line, .. }) if MALFORMED.contains(&name.as_str()) => {
                assert!(line.is_some(), "{name}")
            }
            Err(e) => panic!("{name}: {e}"),
            Ok(migration) => {
                assert!(!MALFORMED.contains(&name.as_str()), "{name} should not parse");
                assert!(!migration.documents.is_empty(), "{name}");
                for document in &migration.documents {
                    let yaml = serde_saphyr::to_string(document).unwrap();
                    let outcome = validate_text(&yaml, Format::Yaml, &Limits::default());
                    assert!(
                        outcome.diagnostics.is_empty(),
                        "{name}: {yaml}\n{:#?}",
                        outcome.diagnostics
                    );
                }
            }
        }
    }
}

#[test]
fn inline_credentials_are_moved_out_never_copied() {
    let text = "schema_version: 0.0.1\nschema_type: datapath\nrun_id: r1\nstep_id: s1\nrun_date: 1970-01-01 00:00:00.00000\ndata_store: lake\nstorage_connection_type: AWS_BLOB\nconnection:\n  endpoint: S3://bucket/x\n  access_key_id: AKIAEXAMPLE\n  secret_access_key: TOPSECRET\n";
    let migration = migrate(text).unwrap();
    let output: String = migration
        .documents
        .iter()
        .map(|d| serde_saphyr::to_string(d).unwrap())
        .collect();
    assert!(
        !output.contains("TOPSECRET") && !output.contains("AKIAEXAMPLE"),
        "{output}"
    );
    assert!(output.contains("secretRef: env:MLSPEC_SECRET_ACCESS_KEY"), "{output}");
    assert_eq!(
        migration.notes.iter().filter(|n| n.contains("NOT copied")).count(),
        2,
        "{:?}",
        migration.notes
    );
}

/// Found by the migrate fuzz target: the original formats check no step references.
#[test]
fn migrated_documents_are_valid_whatever_the_original_says() {
    let pipelines = [
        // The order names a step that does not exist.
        "name: p\nsteps:\n  a: {cmd: run a}\n  b: {cmd: run b}\npipeline: [a, ghost, b]\n",
        // Two names that sanitize to the same v1 name.
        "name: p\nsteps:\n  'x y': {cmd: run}\n  'x-y': {cmd: run}\npipeline: ['x y', 'x-y']\n",
        // mlspec-lib steps whose `previous` fields form a cycle, and one naming a missing step.
        "schema_version: 0.0.1\nschema_type: workflow\nsteps:\n  a: {previous: b}\n  b: {previous: a}\n  c: {previous: nowhere}\n",
        // A component declaring an input twice.
        "schema_version: 0.1.0\nschema_type: component\nname: c\ninputs:\n  - a: {type: Integer}\n  - a: {type: Dataset}\noutputs:\n  - m: {type: LocalPath}\n  - m: {type: LocalPath}\ncommand: run it\n",
        // An inference-record sketch that lists a field twice.
        "applicationInfo:\n - applicationId\n - applicationId\nrequestInfo:\n - requestId\n",
    ];
    for text in pipelines {
        let migration = migrate(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        for document in &migration.documents {
            let findings = document.check();
            assert!(
                !findings.has_errors(),
                "{text}: {:?}\n{:?}",
                findings.items,
                migration.notes
            );
        }
        assert!(!migration.notes.is_empty(), "{text}: the changes are noted");
    }
}
