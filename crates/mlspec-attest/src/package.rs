//! A model package directory, read and checked: the model's files, the package document
//! [`PACKAGE_FILE`] that pins each by digest, and beside it the attestations [`ENVELOPES_FILE`],
//! one DSSE envelope per line (SLSA provenance; the verdict against the objectives), each an
//! in-toto statement whose subjects are every file and the package document.
//!
//! Trusting a package takes three checks, which [`verify_signed_package`] makes: each envelope
//! is signed by the trusted key, the signed manifest equals the files now (re-hashed), and — for
//! serving — the signed verdict passed. [`binding`] is what the lines of an inference log are
//! bound to: the package's name and version, and the digests of its attestations, pipeline and
//! training data ([`crate::log`]).
//!
//! Only the files asked for are read: the package document (within the spec's document limits),
//! the attestations (no larger than a document), and the model's files only to re-hash them.

use std::path::{Path, PathBuf};

use mlspec_spec::kinds::{ModelPackageSpec, Outcome};
use mlspec_spec::newtypes::Digest;
use mlspec_spec::rules::Severity;
use mlspec_spec::validate::{Diagnostic, Format, Limits, validate_text};
use mlspec_spec::{Document, Spec};

use crate::digest::{Manifest, file};
use crate::dsse::{Envelope, IN_TOTO};
use crate::error::{AttestError, ErrorKind};
use crate::keys::PublicKey;
use crate::log::Binding;
use crate::predicate::{self, VERDICT_V1};
use crate::statement::Statement;

/// The package document inside the model directory (a subject of the signature, not a file of
/// the package).
pub const PACKAGE_FILE: &str = "mlspec-package.yaml";

/// The attestations beside it: one DSSE envelope per line (SLSA provenance; the verdict).
pub const ENVELOPES_FILE: &str = "mlspec-package.intoto.jsonl";

/// What to do about a package that cannot be read or is not signed.
const SIGN_HINT: &str = "sign the package with `mlspec package sign`";

/// The package directory a PACKAGE argument names: the directory itself, or the one holding
/// the package document given.
pub fn package_dir(arg: &Path) -> PathBuf {
    if arg.is_file() {
        arg.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else {
        arg.to_path_buf()
    }
}

/// The package document of a model directory: one valid ModelPackage document.
pub fn read_package(dir: &Path) -> Result<(Document, ModelPackageSpec), AttestError> {
    let path = dir.join(PACKAGE_FILE);
    let document = read_document(&path)?;
    match &document.spec {
        Spec::ModelPackage(spec) => {
            let spec = spec.clone();
            Ok((document, spec))
        }
        _ => Err(AttestError::new(
            ErrorKind::Malformed,
            path.display().to_string(),
            format!("is {} {}, not a ModelPackage", document.kind(), document.metadata.name),
        )
        .with_hint("give a model package directory, one that `mlspec package build` made")),
    }
}

/// The one valid document of the file at `path`, read and validated within the spec's
/// document limits; the first error found (with its line, column and field) when it is not.
fn read_document(path: &Path) -> Result<Document, AttestError> {
    let name = path.display().to_string();
    let limits = Limits::default();
    let text = crate::files::read_text(
        path,
        limits.max_bytes,
        "a document",
        "build the package with `mlspec package build`",
    )?;
    let outcome = validate_text(&text, Format::detect(Some(&name), &text), &limits);
    let errors: Vec<&Diagnostic> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if let Some(first) = errors.first() {
        let more = (errors.len() + outcome.omitted.errors).saturating_sub(1);
        return Err(invalid_document(&name, first, more));
    }
    let count = outcome.documents.len();
    let mut documents = outcome.documents.into_iter();
    match (documents.next(), documents.next()) {
        (Some(document), None) => Ok(document),
        _ => Err(AttestError::new(
            ErrorKind::Malformed,
            &name,
            format!("holds {count} documents; a package document holds one"),
        )
        .with_hint("build the package again with `mlspec package build`")),
    }
}

/// The error for a document that does not validate: its first error, where it is, how many
/// more there are, and how to see them all.
fn invalid_document(name: &str, first: &Diagnostic, more: usize) -> AttestError {
    let position = first.position.map(|p| format!("line {}, column {}", p.line, p.column));
    let location: Vec<String> = position
        .into_iter()
        .chain(first.path.as_ref().map(|p| format!("at {p}")))
        .collect();
    let location = match location.is_empty() {
        true => String::new(),
        false => format!(" ({})", location.join(", ")),
    };
    let more = match more {
        0 => String::new(),
        n => format!("; and {n} more errors"),
    };
    let validate = format!("`mlspec validate {name}` lists every problem");
    let hint = match &first.hint {
        Some(hint) => format!("{hint}; {validate}"),
        None => validate,
    };
    AttestError::new(
        ErrorKind::Malformed,
        name,
        format!("is not a valid document: {}{location}{more}", first.message),
    )
    .with_hint(hint)
}

/// What checking a package's signatures found: the statements signed by the trusted key, and
/// every problem (a bad signature, a file that changed, a verdict not met).
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedPackage {
    /// The in-toto statements signed by the key, in file order.
    pub statements: Vec<Statement>,
    /// What does not hold, one sentence each, the envelope's `FILE:LINE` first when one is
    /// concerned.
    pub problems: Vec<String>,
}

/// Checks the package in `dir`: each envelope of its attestations file signed by `public`, an
/// in-toto statement, the signed manifest equal to the files now (the attestations file left
/// out), and — with `require_objectives_met` — a signed verdict that passed. An error when the
/// attestations cannot be read at all.
pub fn verify_signed_package(
    dir: &Path,
    public: &PublicKey,
    require_objectives_met: bool,
) -> Result<VerifiedPackage, AttestError> {
    let mut verified = signed_statements(dir, public)?;
    if let Some(statement) = verified.statements.first() {
        let signed = statement.manifest();
        let mut actual = Manifest::of(dir)?;
        actual.entries.retain(|e| e.path != ENVELOPES_FILE);
        let actual = actual.without_sizes();
        let differences = signed.differences(&actual);
        verified.problems.extend(differences.iter().map(ToString::to_string));
    }
    if require_objectives_met {
        verified.problems.extend(objectives_not_met(&verified.statements));
    }
    Ok(verified)
}

/// The statements of the package's attestations that `public` signed, and why each other
/// envelope does not count — without re-hashing the files (see [`verify_signed_package`]). An
/// error when the attestations cannot be read, a line is not an envelope, or there is none.
pub fn signed_statements(dir: &Path, public: &PublicKey) -> Result<VerifiedPackage, AttestError> {
    let path = dir.join(ENVELOPES_FILE);
    let limit = Limits::default().max_bytes;
    let text = crate::files::read_text(&path, limit, "an attestations file", SIGN_HINT)?;
    let mut verified = VerifiedPackage {
        statements: Vec::new(),
        problems: Vec::new(),
    };
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = format!("{}:{}", path.display(), i + 1);
        match signed_statement(line, &at, public)? {
            Ok(statement) => verified.statements.push(statement),
            Err(problems) => verified.problems.extend(problems),
        }
    }
    if verified.statements.is_empty() && verified.problems.is_empty() {
        return Err(
            AttestError::new(ErrorKind::Malformed, path.display().to_string(), "holds no envelope")
                .with_hint(SIGN_HINT),
        );
    }
    Ok(verified)
}

/// The in-toto statement of one envelope line signed by `public`, or why it does not count
/// (each problem prefixed with `at`); an error when the line is not an envelope.
fn signed_statement(line: &str, at: &str, public: &PublicKey) -> Result<Result<Statement, Vec<String>>, AttestError> {
    let envelope = Envelope::parse(line, at)?;
    let checked = envelope.verify(std::slice::from_ref(public))?;
    if checked.verified.is_empty() {
        return Ok(Err(checked
            .failures
            .into_iter()
            .map(|f| format!("{at}: {f}"))
            .collect()));
    }
    if envelope.payload_type != IN_TOTO {
        let problem = format!("{at}: the payload type is {}, not {IN_TOTO}", envelope.payload_type);
        return Ok(Err(vec![problem]));
    }
    Ok(serde_json::from_slice::<Statement>(&envelope.payload_bytes()?)
        .map_err(|e| vec![format!("{at}: the payload is not an in-toto statement: {e}")]))
}

/// Why the signed verdict does not show the objectives met: there is none, it cannot be read,
/// or it failed. `None` when it passed.
pub fn objectives_not_met(statements: &[Statement]) -> Option<String> {
    let Some(statement) = statements.iter().find(|s| s.predicate_type == VERDICT_V1) else {
        return Some("no signed verdict: the package was signed without a test report's verdict".into());
    };
    match statement.predicate_as::<predicate::Verdict>() {
        Err(e) => Some(format!("the signed verdict cannot be read: {e}")),
        Ok(verdict) if verdict.result != Outcome::Passed => Some(format!(
            "the signed verdict against \"{}\" is `failed`",
            verdict.objectives
        )),
        Ok(_) => None,
    }
}

/// What the lines of a package's log are bound to: `name@version`; the attestation file's
/// digest; the pipeline (the training reference's pinned digest, else the package document's);
/// the training data (SHA-256 of the sorted dataset references, each with its pinned digest).
pub fn binding(dir: &Path) -> Result<Binding, AttestError> {
    let (document, spec) = read_package(dir)?;
    binding_of(dir, &document, &spec)
}

/// [`binding`], the package document already read.
pub(crate) fn binding_of(dir: &Path, document: &Document, spec: &ModelPackageSpec) -> Result<Binding, AttestError> {
    let envelopes = dir.join(ENVELOPES_FILE);
    if !envelopes.exists() {
        return Err(AttestError::new(
            ErrorKind::Unverified,
            dir.display().to_string(),
            format!("is not signed (no {ENVELOPES_FILE})"),
        )
        .with_hint(SIGN_HINT));
    }
    let pipeline = match spec.training.as_ref().and_then(|t| t.digest.clone()) {
        Some(digest) => digest.to_string(),
        None => file(&dir.join(PACKAGE_FILE))?.prefixed()?.to_string(),
    };
    let mut datasets: Vec<String> = spec.datasets.iter().map(ToString::to_string).collect();
    datasets.sort();
    Ok(Binding {
        model: format!("{}@{}", document.metadata.name, spec.version),
        package: file(&envelopes)?.prefixed()?.to_string(),
        pipeline,
        data: Digest::sha256_of(datasets.join("\n")).to_string(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dsse::Envelope;
    use crate::keys::{Algorithm, SigningKey};
    use crate::statement::Subject;

    /// A package document naming one file, `weights.bin`, of `digest`.
    fn package_document(digest: &str) -> String {
        format!(
            "apiVersion: mlspec/v1
kind: ModelPackage
metadata:
  name: churn
spec:
  version: 1.0.0
  format: onnx
  files:
    - {{path: weights.bin, digest: 'sha256:{digest}', size: 7}}
  training: Training/churn-train
  datasets: [Dataset/churn-train@1]
  testReport: TestReport/churn-test
  verdict: {{objectives: Objectives/churn, result: passed, criteria: []}}
"
        )
    }

    /// Makes `dir` a package signed by `key` whose signed verdict is `result`.
    pub(crate) fn signed_package(dir: &Path, key: &SigningKey, result: Outcome) {
        std::fs::write(dir.join("weights.bin"), b"weights").unwrap();
        let weights = file(&dir.join("weights.bin")).unwrap().sha256;
        std::fs::write(dir.join(PACKAGE_FILE), package_document(&weights)).unwrap();
        let document = file(&dir.join(PACKAGE_FILE)).unwrap().sha256;
        let subjects = vec![
            Subject::sha256("weights.bin", &weights),
            Subject::sha256(PACKAGE_FILE, &document),
        ];
        let verdict = predicate::Verdict {
            objectives: "Objectives/churn".into(),
            result,
            test_report: None,
            criteria: Vec::new(),
        };
        let payload = serde_json::to_vec(&Statement::new(subjects, verdict)).unwrap();
        let envelope = Envelope::sign(IN_TOTO, &payload, &[key]);
        std::fs::write(
            dir.join(ENVELOPES_FILE),
            serde_json::to_string(&envelope).unwrap() + "\n",
        )
        .unwrap();
    }

    fn key() -> SigningKey {
        SigningKey::generate(Algorithm::Ed25519).unwrap()
    }

    #[test]
    fn a_signed_package_verifies_and_a_changed_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = key();
        signed_package(dir.path(), &key, Outcome::Passed);
        let verified = verify_signed_package(dir.path(), &key.public(), true).unwrap();
        assert!(verified.problems.is_empty(), "{:?}", verified.problems);
        assert_eq!(verified.statements.len(), 1);
        std::fs::write(dir.path().join("weights.bin"), b"changed").unwrap();
        let verified = verify_signed_package(dir.path(), &key.public(), true).unwrap();
        assert_eq!(verified.problems.len(), 1, "{:?}", verified.problems);
        assert!(verified.problems[0].contains("weights.bin"), "{:?}", verified.problems);
    }

    #[test]
    fn another_key_and_a_failed_verdict_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        signed_package(dir.path(), &key(), Outcome::Failed);
        let verified = verify_signed_package(dir.path(), &key().public(), true).unwrap();
        assert!(verified.statements.is_empty());
        assert!(
            verified.problems.iter().any(|p| p.contains("no key given has the id")),
            "{:?}",
            verified.problems
        );
        assert!(
            verified.problems.iter().any(|p| p.starts_with("no signed verdict")),
            "{:?}",
            verified.problems
        );
        let signer = key();
        signed_package(dir.path(), &signer, Outcome::Failed);
        let verified = verify_signed_package(dir.path(), &signer.public(), true).unwrap();
        assert_eq!(
            verified.problems,
            ["the signed verdict against \"Objectives/churn\" is `failed`"]
        );
        assert!(
            verify_signed_package(dir.path(), &signer.public(), false)
                .unwrap()
                .problems
                .is_empty()
        );
    }

    #[test]
    fn attestations_that_are_missing_empty_or_not_envelopes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let key = key();
        signed_package(dir.path(), &key, Outcome::Passed);
        let envelopes = dir.path().join(ENVELOPES_FILE);
        std::fs::write(&envelopes, "\n \n").unwrap();
        let empty = signed_statements(dir.path(), &key.public()).unwrap_err();
        assert_eq!(empty.kind, ErrorKind::Malformed);
        assert!(empty.to_string().contains("holds no envelope"), "{empty}");
        std::fs::write(&envelopes, "{}\n").unwrap();
        let garbage = signed_statements(dir.path(), &key.public()).unwrap_err();
        assert!(garbage.to_string().contains(":1: is not a DSSE envelope"), "{garbage}");
        std::fs::remove_file(&envelopes).unwrap();
        let missing = verify_signed_package(dir.path(), &key.public(), false).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::Io);
        assert!(missing.to_string().contains("`mlspec package sign`"), "{missing}");
        let unsigned = binding(dir.path()).unwrap_err();
        assert_eq!(unsigned.kind, ErrorKind::Unverified);
        assert!(
            unsigned
                .to_string()
                .contains("is not signed (no mlspec-package.intoto.jsonl)"),
            "{unsigned}"
        );
    }

    #[test]
    fn the_binding_names_the_package_its_attestations_pipeline_and_data() {
        let dir = tempfile::tempdir().unwrap();
        signed_package(dir.path(), &key(), Outcome::Passed);
        let bound = binding(dir.path()).unwrap();
        assert_eq!(bound.model, "churn@1.0.0");
        let envelopes = file(&dir.path().join(ENVELOPES_FILE)).unwrap();
        assert_eq!(bound.package, format!("sha256:{}", envelopes.sha256));
        let document = file(&dir.path().join(PACKAGE_FILE)).unwrap();
        assert_eq!(bound.pipeline, format!("sha256:{}", document.sha256));
        assert_eq!(bound.data, Digest::sha256_of("Dataset/churn-train@1").to_string());
    }

    #[test]
    fn a_package_document_that_is_not_one_valid_model_package_is_refused_with_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PACKAGE_FILE);
        std::fs::write(
            &path,
            package_document(&"a".repeat(64)).replace("version: 1.0.0", "version: [1]"),
        )
        .unwrap();
        let invalid = read_package(dir.path()).unwrap_err();
        assert_eq!(invalid.kind, ErrorKind::Malformed);
        let said = invalid.to_string();
        assert!(said.contains("is not a valid document: "), "{said}");
        assert!(said.contains("line 6, column"), "{said}");
        assert!(said.contains("at /spec/version"), "{said}");
        assert!(said.contains("`mlspec validate "), "{said}");
        let two =
            package_document(&"a".repeat(64)) + "---\n" + &package_document(&"b".repeat(64)).replace("churn", "other");
        std::fs::write(&path, two).unwrap();
        let said = read_package(dir.path()).unwrap_err().to_string();
        assert!(said.contains("holds 2 documents"), "{said}");
        let experiment =
            "apiVersion: mlspec/v1\nkind: Experiment\nmetadata:\n  name: churn\nspec:\n  goal: Who leaves?\n";
        std::fs::write(&path, experiment).unwrap();
        let said = read_package(dir.path()).unwrap_err().to_string();
        assert!(said.contains("is Experiment churn, not a ModelPackage"), "{said}");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let said = read_package(dir.path()).unwrap_err().to_string();
        assert!(said.contains("is not a regular file"), "{said}");
    }

    #[test]
    fn a_package_argument_names_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        signed_package(dir.path(), &key(), Outcome::Passed);
        assert_eq!(package_dir(dir.path()), dir.path());
        assert_eq!(package_dir(&dir.path().join(PACKAGE_FILE)), dir.path());
        assert_eq!(package_dir(Path::new("missing")), Path::new("missing"));
    }
}
