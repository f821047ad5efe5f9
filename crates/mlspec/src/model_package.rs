//! A model package directory: the model's files, the package document `mlspec-package.yaml`
//! that pins each by digest, and the signed attestations beside it. `package` builds, signs and
//! verifies one (`verify_signed_package`, for every command that must trust one); `log` binds
//! inference logs to one.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mlspec_attest::digest::{Manifest, file};
use mlspec_attest::dsse::{Envelope, IN_TOTO};
use mlspec_attest::keys::PublicKey;
use mlspec_attest::log::Binding;
use mlspec_attest::predicate::{self, VERDICT_V1};
use mlspec_attest::statement::Statement;
use mlspec_spec::kinds::{ModelPackageSpec, Outcome};
use mlspec_spec::newtypes::Digest;
use mlspec_spec::{Document, Spec};

use crate::documents::read_one;

/// The package document inside the model directory (a subject of the signature, not a file of
/// the package).
pub const PACKAGE_FILE: &str = "mlspec-package.yaml";

/// The attestations beside it: one DSSE envelope per line (SLSA provenance; the verdict).
pub const ENVELOPES_FILE: &str = "mlspec-package.intoto.jsonl";

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

/// The package document of a model directory.
pub fn read_package(dir: &Path) -> anyhow::Result<(Document, ModelPackageSpec)> {
    let path = dir.join(PACKAGE_FILE);
    let (document, _) = read_one(&path.display().to_string())?;
    match &document.spec {
        Spec::ModelPackage(spec) => {
            let spec = spec.clone();
            Ok((document, spec))
        }
        _ => bail!("{} is not a ModelPackage", path.display()),
    }
}

/// What checking a package's signatures found: the statements signed by the trusted key, and
/// every problem (a bad signature, a file that changed, a verdict not met).
pub struct VerifiedPackage {
    pub statements: Vec<Statement>,
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
) -> anyhow::Result<VerifiedPackage> {
    let path = dir.join(ENVELOPES_FILE);
    let text = crate::inputs::read_text(&path, mlspec_spec::validate::Limits::default().max_bytes)
        .with_context(|| "sign the package with `mlspec package sign`".to_owned())?;
    let mut problems = Vec::new();
    let mut statements = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = format!("{}:{}", path.display(), i + 1);
        let envelope = Envelope::parse(line, &at)?;
        let checked = envelope.verify(std::slice::from_ref(public))?;
        if checked.verified.is_empty() {
            problems.extend(checked.failures.into_iter().map(|f| format!("{at}: {f}")));
            continue;
        }
        if envelope.payload_type != IN_TOTO {
            problems.push(format!(
                "{at}: the payload type is {}, not {IN_TOTO}",
                envelope.payload_type
            ));
            continue;
        }
        match serde_json::from_slice::<Statement>(&envelope.payload_bytes()?) {
            Ok(statement) => statements.push(statement),
            Err(e) => problems.push(format!("{at}: the payload is not an in-toto statement: {e}")),
        }
    }
    if statements.is_empty() && problems.is_empty() {
        bail!("{} holds no envelope", path.display());
    }
    if let Some(statement) = statements.first() {
        let signed = statement.manifest();
        let mut actual = Manifest::of(dir)?;
        actual.entries.retain(|e| e.path != ENVELOPES_FILE);
        let actual = actual.without_sizes();
        problems.extend(signed.differences(&actual).iter().map(ToString::to_string));
    }
    if require_objectives_met {
        problems.extend(objectives_not_met(&statements));
    }
    Ok(VerifiedPackage { statements, problems })
}

/// Why the signed verdict does not show the objectives met: there is none, it cannot be read,
/// or it failed.
fn objectives_not_met(statements: &[Statement]) -> Option<String> {
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
pub fn binding(dir: &Path) -> anyhow::Result<Binding> {
    let (document, spec) = read_package(dir)?;
    let name = document.metadata.name.to_string();
    let envelopes = dir.join(ENVELOPES_FILE);
    if !envelopes.exists() {
        bail!(
            "{} is not signed (no {ENVELOPES_FILE}); run `mlspec package sign` first",
            dir.display()
        );
    }
    let pipeline = match spec.training.as_ref().and_then(|t| t.digest.clone()) {
        Some(digest) => digest.to_string(),
        None => file(&dir.join(PACKAGE_FILE))?.prefixed()?.to_string(),
    };
    let mut datasets: Vec<String> = spec.datasets.iter().map(ToString::to_string).collect();
    datasets.sort();
    Ok(Binding {
        model: format!("{name}@{}", spec.version),
        package: file(&envelopes)?.prefixed()?.to_string(),
        pipeline,
        data: Digest::sha256_of(datasets.join("\n")).to_string(),
    })
}
