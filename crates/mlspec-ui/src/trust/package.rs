//! A ModelPackage's page: what it is (version, format), what made it (model, training, data,
//! test report — each a link when the store holds it), every file with its size and digest,
//! the IO signature, the signatures, and the verdict against the objectives.
//!
//! The store's document says what the package should be; only its signed directory can prove
//! it. When the server has the package (`--packages DIR` holds `DIR/NAME`) and trusted keys
//! (`--pubkey`), the page verifies it as `mlspec package verify` does: each attestation signed
//! by a key, every file re-hashed against the signed digests, and the signed verdict read. A
//! package larger than [`MAX_REHASHED_BYTES`] or with more than [`MAX_REHASHED_FILES`] files
//! has its signatures checked but its files not re-hashed, and the page says so.

use maud::{Markup, html};
use mlspec_attest::keys::PublicKey;
use mlspec_attest::package::{
    VerifiedPackage, objectives_not_met, read_package, signed_statements, verify_signed_package,
};
use mlspec_spec::kinds::{IoSignature, ModelPackageSpec, TensorSpec};
use mlspec_store::StoredObject;

use super::mark::{Linked, Mark};
use super::{Trust, package_dir, relative};
use crate::Ui;
use crate::views::verdict;

/// The most bytes the page re-hashes.
pub const MAX_REHASHED_BYTES: u64 = 4 << 30;

/// The most files the page re-hashes.
pub const MAX_REHASHED_FILES: usize = 10_000;

/// What checking the package on the server found.
#[derive(Debug)]
enum Verification {
    /// Not checked: what would check it.
    NotChecked(String),
    /// Checked with the trusted keys.
    Checked {
        /// The key that verified every attestation, and why the signed verdict does not show
        /// the objectives met (`None`: it does); or every problem found.
        outcome: Result<(String, Option<String>), Vec<String>>,
        /// Why the files were not re-hashed (`None`: they were).
        not_rehashed: Option<String>,
    },
}

/// The view of the package `object`.
pub(crate) async fn view(ui: &Ui, object: &StoredObject, spec: &ModelPackageSpec) -> Markup {
    let name = object.summary.name.clone();
    let expected = spec.clone();
    let verification = ui
        .checks
        .run(move |trust| verify(trust, &name, &expected))
        .await
        .unwrap_or_else(|e| Verification::NotChecked(e.message));
    html! {
        p { "Version " code { (spec.version.to_string()) } " · format " code { (spec.format.as_str()) } }
        (made_from(ui, spec).await)
        (files(spec))
        @if let Some(signature) = &spec.signature { (io_signature(signature)) }
        (signatures(spec, &verification))
        (verdict(spec.verdict.as_ref()))
        @if spec.verdict.is_some() || matches!(verification, Verification::Checked { .. }) {
            p { "Signed verdict: " (objectives_mark(&verification).view()) }
        }
    }
}

/// The model, training, data and test report, each a link when the store holds it.
async fn made_from(ui: &Ui, spec: &ModelPackageSpec) -> Markup {
    let store = ui.store.as_ref();
    let mut rows = Vec::new();
    for (what, reference) in spec
        .model
        .iter()
        .map(|r| ("Model", r))
        .chain(spec.training.iter().map(|r| ("Training", r)))
        .chain(spec.datasets.iter().map(|r| ("Data", r)))
        .chain(spec.test_report.iter().map(|r| ("Test report", r)))
    {
        rows.push((what, Linked::find(store, reference).await));
    }
    html! {
        h2 { "Made from" }
        @if rows.is_empty() { p.empty { "The package names nothing it was made from." } }
        @else {
            table.links { tbody { @for (what, linked) in &rows { tr { th scope="row" { (what) } td { (linked.view()) } } } } }
        }
    }
}

fn files(spec: &ModelPackageSpec) -> Markup {
    html! {
        h2 { "Files" }
        div.table-scroll role="region" tabindex="0" aria-label="Files" {
            table.files {
                thead { tr { th scope="col" { "Path" } th scope="col" { "Bytes" } th scope="col" { "Digest" } } }
                tbody {
                    @for file in &spec.files {
                        tr { td { code { (file.path.as_str()) } } td.num { (file.size) } td { code.digest { (file.digest.to_string()) } } }
                    }
                }
            }
        }
    }
}

fn io_signature(signature: &IoSignature) -> Markup {
    let tensors = |caption: &str, tensors: &[TensorSpec]| {
        html! {
            table.tensors {
                caption { (caption) }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Shape" } } }
                tbody {
                    @for tensor in tensors {
                        tr { th scope="row" { (tensor.name.as_str()) } td { (tensor.dtype.as_str()) } td { code { (format!("{:?}", tensor.shape)) } } }
                    }
                }
            }
        }
    };
    html! {
        h2 { "IO signature" }
        p.hint { "A shape's -1 is a dimension of any size." }
        (tensors("Inputs", &signature.inputs))
        (tensors("Outputs", &signature.outputs))
    }
}

/// The signatures the document lists, and what checking them on the server found.
fn signatures(spec: &ModelPackageSpec, verification: &Verification) -> Markup {
    html! {
        h2 { "Signatures" }
        @if !spec.signatures.is_empty() {
            table.signatures {
                thead { tr { th scope="col" { "Key id" } th scope="col" { "Algorithm" } th scope="col" { "Attestations" } } }
                tbody {
                    @for signature in &spec.signatures {
                        tr { td { code { (signature.keyid.as_str()) } } td { (signature.algorithm.as_str()) } td { code { (signature.envelope.as_str()) } } }
                    }
                }
            }
        }
        @match verification {
            Verification::NotChecked(why) => p.notice { span.fail { "not verified" } " on this server: " (why) },
            Verification::Checked { outcome: Ok((key_id, _)), not_rehashed } => {
                p { span.pass { "verified" } " with key " code { (key_id) } ": every attestation signed"
                    @if not_rehashed.is_none() { ", every file as signed" } "." }
                @if let Some(why) = not_rehashed { p.notice { (why) } }
            },
            Verification::Checked { outcome: Err(problems), not_rehashed } => {
                p { span.fail { "not verified" } " with the trusted keys:" }
                ul.problems { @for problem in problems { li { (problem) } } }
                @if let Some(why) = not_rehashed { p.notice { (why) } }
            },
        }
    }
}

/// What the signed verdict says of the objectives.
fn objectives_mark(verification: &Verification) -> Mark {
    match verification {
        Verification::Checked {
            outcome: Ok((_, not_met)),
            ..
        } => Mark::unless(not_met.clone(), "the signed verdict says the objectives were met"),
        Verification::Checked { outcome: Err(_), .. } => {
            Mark::NotVerified("the package's signatures do not verify".into())
        }
        Verification::NotChecked(_) => {
            Mark::NotVerified("the verdict above is the store's copy; its signature was not checked".into())
        }
    }
}

/// Verifies the package `name` the store describes as `expected`, from the packages directory
/// with the trusted keys (blocking: it reads and hashes files).
fn verify(trust: &Trust, name: &str, expected: &ModelPackageSpec) -> Verification {
    let Some(root) = &trust.packages else {
        return Verification::NotChecked(format!(
            "start the server with `--packages DIR` (the signed package in DIR/{name}) and `--pubkey KEY` to verify it"
        ));
    };
    if trust.keys.is_empty() {
        return Verification::NotChecked("start the server with `--pubkey KEY`, the key it was signed with".into());
    }
    let Some(dir) = package_dir(root, name) else {
        return Verification::NotChecked(format!(
            "the packages directory holds no `{name}`: put the signed package in DIR/{name}"
        ));
    };
    let not_rehashed = too_large(expected);
    let mut problems = match same_package(&dir, name, expected) {
        Ok(()) => Vec::new(),
        Err(problem) => vec![relative(&problem, root)],
    };
    for key in &trust.keys {
        match signed_with(&dir, key, not_rehashed.is_none()) {
            Ok(verified) if problems.is_empty() && verified.problems.is_empty() => {
                let outcome = Ok((key.key_id(), objectives_not_met(&verified.statements)));
                return Verification::Checked { outcome, not_rehashed };
            }
            Ok(verified) => problems.extend(verified.problems.iter().map(|p| relative(p, root))),
            Err(e) => problems.push(relative(&e.to_string(), root)),
        }
    }
    problems.dedup();
    Verification::Checked {
        outcome: Err(problems),
        not_rehashed,
    }
}

/// The package in `dir` checked with `key`: its files re-hashed when `rehash`.
fn signed_with(
    dir: &std::path::Path,
    key: &PublicKey,
    rehash: bool,
) -> Result<VerifiedPackage, mlspec_attest::AttestError> {
    match rehash {
        true => verify_signed_package(dir, key, false),
        false => signed_statements(dir, key),
    }
}

/// Why the package is too large to re-hash on a page, if it is.
fn too_large(spec: &ModelPackageSpec) -> Option<String> {
    let bytes: u64 = spec.files.iter().map(|f| f.size).sum();
    (bytes > MAX_REHASHED_BYTES || spec.files.len() > MAX_REHASHED_FILES).then(|| {
        format!(
            "its files were not re-hashed: {} files, {bytes} bytes, more than the page re-hashes ({MAX_REHASHED_FILES} files, {} GiB); `mlspec package verify` re-hashes them",
            spec.files.len(),
            MAX_REHASHED_BYTES >> 30
        )
    })
}

/// Whether the package document in `dir` is the one the store describes: its name, version
/// and files.
fn same_package(dir: &std::path::Path, name: &str, expected: &ModelPackageSpec) -> Result<(), String> {
    let (document, spec) = read_package(dir).map_err(|e| e.to_string())?;
    let found = document.metadata.name.to_string();
    if found != name {
        return Err(format!("the packages directory's `{name}` holds the package `{found}`"));
    }
    if spec.version != expected.version || spec.files != expected.files {
        return Err(format!(
            "the packages directory's `{name}` is version {} with {} files, not the store's version {} with {} files",
            spec.version,
            spec.files.len(),
            expected.version,
            expected.files.len()
        ));
    }
    Ok(())
}
