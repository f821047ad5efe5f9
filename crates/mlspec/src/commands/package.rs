//! `mlspec keygen` and `mlspec package build|sign|verify`: model packages whose every file is
//! pinned by digest, signed as in-toto statements in DSSE envelopes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use mlspec_attest::digest::{Manifest, file};
use mlspec_attest::dsse::{Envelope, IN_TOTO};
use mlspec_attest::keys::{Algorithm, SigningKey, write_key_pair};
use mlspec_attest::package::{
    ENVELOPES_FILE, PACKAGE_FILE, VerifiedPackage, package_dir, read_package, verify_signed_package,
};
use mlspec_attest::predicate::{
    self, BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, RunDetails,
};
use mlspec_attest::statement::{Statement, Subject};
use mlspec_spec::kinds::{Accelerator, ModelPackageSpec, PackageFile, Resources, Security, Verdict};
use mlspec_spec::newtypes::{ByteSize, Digest, RelativePath, ShortText};
use mlspec_spec::validate::Encoding;
use mlspec_spec::{ApiVersion, Document, Kind, Metadata, Name, Ref, Spec, Version};

use crate::documents::{document_text, load_document};
use crate::store::{LazyStore, StoreChoice, block_on, record};
use crate::trust::{report, trusted_key};

/// Make a signing key pair: `private.pem` (PKCS#8, mode 0600) and `public.pem` in KEYDIR.
/// Prints the key id (securesystemslib's). Exit 0, or 2 when the directory already holds a key.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where to write the keys.
    #[arg(long, value_name = "KEYDIR")]
    out: PathBuf,
    /// The algorithm.
    #[arg(long, value_enum, default_value = "ed25519")]
    algorithm: AlgorithmArg,
    /// Make the key expire after this many days: `public.pem` says so, and verification with
    /// it fails afterwards.
    #[arg(long, value_name = "DAYS")]
    expires_in: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum AlgorithmArg {
    Ed25519,
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let algorithm = match args.algorithm {
        AlgorithmArg::Ed25519 => Algorithm::Ed25519,
        AlgorithmArg::EcdsaP256 => Algorithm::EcdsaP256,
    };
    let expires = args
        .expires_in
        .map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
    let public = write_key_pair(&args.out, algorithm, expires)?;
    outln!("{}", public.key_id());
    errln!(
        "wrote {} (keep it secret) and {}",
        args.out.join("private.pem").display(),
        args.out.join("public.pem").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Build, sign and verify model packages.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Build(Box<BuildArgs>),
    Sign(SignArgs),
    Verify(VerifyArgs),
}

/// Write the ModelPackage document of a model directory (`MODEL_DIR/mlspec-package.yaml`):
/// every file with its SHA-256 and size, the IO signature, infrastructure needs, security
/// constraints, monitoring agents and references to the model, training, datasets and test
/// report with its verdict. With a store, what is not given is followed from the test report:
/// its model, the model Artifact's run (the training) and that run's input Datasets. Symbolic
/// links are refused. Exit 0, or 2 on bad input.
#[derive(clap::Args)]
#[command(disable_version_flag = true)]
struct BuildArgs {
    /// The model directory.
    dir: PathBuf,
    /// The package's name.
    #[arg(long)]
    name: String,
    /// The package's version.
    #[arg(long)]
    version: String,
    /// The model's format, e.g. `onnx`, `safetensors`, `smartcore-json`.
    #[arg(long, default_value = "unknown")]
    format: String,
    /// An accelerator the model needs (repeatable): `type=A100,count=1[,memory=40GiB]`.
    #[arg(long, value_name = "type=T,count=N", value_parser = accelerator)]
    accelerator: Vec<Accelerator>,
    /// Memory the model server needs, e.g. `16GiB`.
    #[arg(long)]
    memory: Option<String>,
    /// CPU cores it needs.
    #[arg(long)]
    cpu: Option<f64>,
    /// Security constraints: a YAML or JSON file with the ModelPackage `security` fields.
    #[arg(long, value_name = "FILE")]
    security: Option<PathBuf>,
    /// The IO signature: a YAML or JSON file with `inputs` and `outputs` (name, dtype, shape).
    #[arg(long, value_name = "FILE")]
    io_signature: Option<PathBuf>,
    /// Monitoring agents: a YAML or JSON list of {name, endpoint, signals}.
    #[arg(long, value_name = "FILE")]
    monitoring: Option<PathBuf>,
    /// The model (an Artifact or Training).
    #[arg(long, value_name = "REF")]
    model: Option<Ref>,
    /// The training (a Training or Run).
    #[arg(long, value_name = "REF")]
    training: Option<Ref>,
    /// Data it was trained on (repeatable).
    #[arg(long, value_name = "REF")]
    dataset: Vec<Ref>,
    /// The final TestReport; its verdict is copied into the package.
    #[arg(long, value_name = "FILE|REF")]
    test_report: Option<String>,
    /// Do not record the package in the store.
    #[arg(long)]
    no_record: bool,
}

fn accelerator(text: &str) -> Result<Accelerator, String> {
    let mut kind = None;
    let mut count = 1;
    let mut memory = None;
    for pair in text.split(',') {
        match pair.split_once('=') {
            Some(("type", v)) => kind = Some(ShortText::new(v).map_err(|e| e.to_string())?),
            Some(("count", v)) => count = v.parse().map_err(|_| format!("count `{v}` is not a number"))?,
            Some(("memory", v)) => memory = Some(ByteSize::new(v).map_err(|e| e.to_string())?),
            _ => return Err(format!("`{pair}` is not type=…, count=… or memory=…")),
        }
    }
    Ok(Accelerator {
        accelerator_type: kind.ok_or("an accelerator needs type=…")?,
        count,
        memory,
    })
}

/// Sign a model package: an in-toto Statement v1 whose subjects are every file of the package
/// and the package document with their SHA-256 digests, with an SLSA Provenance v1 predicate
/// (the build definition, resolved dependencies with digests, run details), and — when the
/// package carries a verdict — a second statement with mlspec's verdict predicate; each in a
/// DSSE envelope, one per line of `MODEL_DIR/mlspec-package.intoto.jsonl`. The files are
/// re-hashed first: a file that differs from the package document is refused. Exit 0, or 2.
#[derive(clap::Args)]
struct SignArgs {
    /// The model directory (with its mlspec-package.yaml), or that file.
    dir: PathBuf,
    /// The private key (PKCS#8 PEM, Ed25519 or ECDSA P-256).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Also write an OpenSSF model-signing v1.0 signature of the directory here (outside it;
    /// ECDSA keys), for `model_signing verify key`.
    #[arg(long, value_name = "OUT.sig")]
    model_signing: Option<PathBuf>,
}

/// Verify a signed model package: every envelope's signature with the public key, every file
/// against its signed digest (modified, missing and extra files each reported), and with
/// --require-objectives-met the signed verdict. Exit 0 when verified, 1 when not, 2 when it
/// cannot be checked (no envelopes, unreadable keys).
#[derive(clap::Args)]
struct VerifyArgs {
    /// The model directory (with its mlspec-package.yaml and mlspec-package.intoto.jsonl), or
    /// its mlspec-package.yaml.
    dir: PathBuf,
    /// The public key (PEM).
    #[arg(long, value_name = "KEY")]
    pubkey: PathBuf,
    /// Also require a signed verdict whose objectives were met.
    #[arg(long)]
    require_objectives_met: bool,
    /// Verify this OpenSSF model-signing signature of the directory instead of the package's
    /// envelopes (the tool's own, or one `package sign --model-signing` wrote).
    #[arg(long, value_name = "SIG", conflicts_with = "require_objectives_met")]
    model_signing: Option<PathBuf>,
}

pub fn run(args: Args, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Build(args) => block_on(build(*args, choice)),
        Command::Sign(mut args) => {
            args.dir = package_dir(&args.dir);
            block_on(sign(args, choice))
        }
        Command::Verify(mut args) => {
            args.dir = package_dir(&args.dir);
            verify(args)
        }
    }
}

/// The package's files: the directory's manifest without the package document and envelopes.
fn package_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let mut manifest = Manifest::of(dir)?;
    manifest
        .entries
        .retain(|e| e.path != PACKAGE_FILE && e.path != ENVELOPES_FILE);
    if manifest.entries.is_empty() {
        bail!("{} holds no file to package", dir.display());
    }
    Ok(manifest)
}

async fn build(args: BuildArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let mut store = LazyStore::new(choice);
    let manifest = package_manifest(&args.dir)?;
    let files = manifest
        .entries
        .iter()
        .map(|e| {
            Ok(PackageFile {
                path: RelativePath::new(e.path.as_str())?,
                digest: e.digest.prefixed()?,
                size: e.digest.size,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let security = args.security.as_deref().map(read_fields::<Security>).transpose()?;
    let io_signature = args.io_signature.as_deref().map(read_fields).transpose()?;
    let monitoring_agents = args
        .monitoring
        .as_deref()
        .map(read_fields)
        .transpose()?
        .unwrap_or_default();
    let resources = (args.memory.is_some() || args.cpu.is_some() || !args.accelerator.is_empty())
        .then(|| {
            Ok::<_, anyhow::Error>(Resources {
                cpu: args.cpu,
                memory: args.memory.as_deref().map(ByteSize::new).transpose()?,
                accelerators: args.accelerator.clone(),
            })
        })
        .transpose()?;
    let mut references = References {
        model: args.model.clone(),
        training: args.training.clone(),
        datasets: args.dataset.clone(),
        test_report: None,
        verdict: None,
    };
    if let Some(arg) = &args.test_report {
        let report = load_document(arg, &[Kind::TestReport], &mut store).await?;
        references.test_report = Some(Ref::named(Kind::TestReport, report.metadata.name.clone()));
        if let Spec::TestReport(spec) = &report.spec {
            references.verdict = spec.verdict.clone();
            references.model.get_or_insert_with(|| spec.model.clone());
        }
        if let Some(store) = store.for_recording().await? {
            references.follow(store).await;
        }
    }
    let document = Document {
        api_version: ApiVersion::V1,
        metadata: Metadata::named(Name::new(args.name.as_str())?),
        spec: Spec::ModelPackage(ModelPackageSpec {
            version: Version::new(args.version.as_str())?,
            model: references.model,
            format: ShortText::new(args.format.as_str())?,
            files,
            signature: io_signature,
            resources,
            security,
            monitoring_agents,
            training: references.training,
            datasets: references.datasets,
            verdict: references.verdict,
            test_report: references.test_report,
            signatures: Vec::new(),
        }),
    };
    let path = args.dir.join(PACKAGE_FILE);
    let text = document_text(&document, Encoding::Yaml)?;
    crate::files::write_whole(&path, text.as_bytes(), Some(&crate::files::DOCUMENT))?;
    errln!(
        "{}: {} files, {} bytes, manifest {}",
        path.display(),
        manifest.entries.len(),
        manifest.bytes(),
        manifest.digest()
    );
    if !args.no_record {
        record(&mut store, vec![document]).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A YAML or JSON file of ModelPackage fields (security, IO signature, monitoring agents).
fn read_fields<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = crate::inputs::read_text(path, mlspec_spec::validate::Limits::default().max_bytes)?;
    serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// What a package references.
struct References {
    model: Option<Ref>,
    training: Option<Ref>,
    datasets: Vec<Ref>,
    test_report: Option<Ref>,
    verdict: Option<Verdict>,
}

impl References {
    /// Fills what was not given from the store: the model Artifact's run as the training, and
    /// that run's input Datasets.
    async fn follow(&mut self, store: &dyn mlspec_store::Store) {
        if self.training.is_none()
            && let Some(model) = &self.model
            && let Ok(stored) = store.get(&mlspec_store::Selector::from(model)).await
            && let Spec::Artifact(artifact) = &stored.document.spec
        {
            self.training = Some(artifact.run.clone());
        }
        if self.datasets.is_empty()
            && let Some(training) = &self.training
            && let Ok(stored) = store.get(&mlspec_store::Selector::from(training)).await
            && let Spec::Run(run) = &stored.document.spec
        {
            self.datasets = run
                .inputs
                .iter()
                .filter(|r| r.kind() == Some(Kind::Dataset))
                .cloned()
                .collect();
        }
    }
}

async fn sign(args: SignArgs, choice: &StoreChoice) -> anyhow::Result<ExitCode> {
    let key = SigningKey::read(&args.key)?;
    if args.model_signing.is_some() && !matches!(key, SigningKey::EcdsaP256(_)) {
        bail!(
            "--model-signing: the model-signing format's key mode takes ECDSA keys (make one with `mlspec keygen --algorithm ecdsa-p256`); nothing was signed"
        );
    }
    let (mut document, spec) = read_package(&args.dir)?;
    let manifest = package_manifest(&args.dir)?;
    let listed = Manifest::of_digests(spec.files.iter().map(|f| (f.path.as_str(), f.digest.hex())));
    let differences = listed.differences(&manifest.clone().without_sizes());
    if !differences.is_empty() {
        let list: Vec<String> = differences.iter().map(ToString::to_string).collect();
        bail!(
            "the files differ from {}: {}; run `mlspec package build` again",
            PACKAGE_FILE,
            list.join(", ")
        );
    }
    let mut subjects: Vec<Subject> = manifest
        .entries
        .iter()
        .map(|e| Subject::sha256(&e.path, &e.digest.sha256))
        .collect();
    subjects.push(Subject::sha256(
        PACKAGE_FILE,
        &file(&args.dir.join(PACKAGE_FILE))?.sha256,
    ));
    let mut payloads = vec![serde_json::to_vec(&Statement::new(
        subjects.clone(),
        provenance(&document, &spec, &manifest),
    ))?];
    if let Some(verdict) = &spec.verdict {
        payloads.push(serde_json::to_vec(&Statement::new(
            subjects,
            verdict_predicate(verdict, &spec),
        ))?);
    }
    let mut lines = String::new();
    for payload in &payloads {
        let envelope = Envelope::sign(IN_TOTO, payload, &[&key]);
        lines.push_str(&serde_json::to_string(&envelope)?);
        lines.push('\n');
    }
    let out = args.dir.join(ENVELOPES_FILE);
    crate::files::write_whole(&out, lines.as_bytes(), Some(&crate::files::ENVELOPE))?;
    let key_id = key.public().key_id();
    errln!("{}: {} statements signed by {key_id}", out.display(), payloads.len());
    if let Some(path) = &args.model_signing {
        write_model_signing(&args.dir, &key, path)?;
    }
    let mut store = LazyStore::new(choice);
    if let Some(store) = store.for_recording().await?
        && let Spec::ModelPackage(stored) = &mut document.spec
    {
        stored.signatures = vec![mlspec_spec::kinds::PackageSignature {
            keyid: ShortText::new(key_id.as_str())?,
            algorithm: ShortText::new(match key {
                SigningKey::Ed25519(_) => "ed25519",
                SigningKey::EcdsaP256(_) => "ecdsa-p256",
            })?,
            envelope: RelativePath::new(ENVELOPES_FILE)?,
        }];
        store.apply(&[document], &crate::store::actor()).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The model-signing bundle of the whole directory (package document and envelopes included),
/// written outside it.
fn write_model_signing(dir: &Path, key: &SigningKey, path: &Path) -> anyhow::Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if parent.canonicalize()?.starts_with(dir.canonicalize()?) {
        bail!(
            "write the model-signing signature outside the model directory, not to {}",
            path.display()
        );
    }
    let name = dir
        .canonicalize()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bundle = mlspec_attest::model_signing::bundle(key, &name, &Manifest::of(dir)?)?;
    let text = serde_json::to_string_pretty(&bundle)?;
    crate::files::write_whole(path, text.as_bytes(), Some(&crate::files::BUNDLE))?;
    errln!("{}: model-signing v1.0 signature", path.display());
    Ok(())
}

/// The external parameters of a package's build (build type [`PACKAGE_BUILD_TYPE`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct PackageParameters {
    name: String,
    version: String,
    format: String,
    manifest: Digest,
}

/// The SLSA build type of a model package.
const PACKAGE_BUILD_TYPE: &str = "https://mlspec.dev/ModelPackage/v1";

/// SLSA Provenance v1: what built the package (mlspec, the package's parameters), from what
/// (the model, training, datasets and test report it references, pinned when they are), and
/// when it finished.
fn provenance(document: &Document, spec: &ModelPackageSpec, manifest: &Manifest) -> Provenance<PackageParameters> {
    let references = spec
        .model
        .iter()
        .chain(&spec.training)
        .chain(&spec.datasets)
        .chain(&spec.test_report);
    Provenance {
        build_definition: BuildDefinition {
            build_type: PACKAGE_BUILD_TYPE.to_owned(),
            external_parameters: PackageParameters {
                name: document.metadata.name.to_string(),
                version: spec.version.to_string(),
                format: spec.format.to_string(),
                manifest: manifest.digest(),
            },
            internal_parameters: None,
            resolved_dependencies: references
                .map(|r| ResourceDescriptor::pinned(format!("mlspec:{r}"), r.digest.as_ref()))
                .collect(),
        },
        run_details: RunDetails {
            builder: Builder {
                id: format!("https://mlspec.dev/mlspec@{}", env!("CARGO_PKG_VERSION")),
                ..Builder::default()
            },
            metadata: Some(BuildMetadata {
                finished_on: Some(chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0)),
                ..BuildMetadata::default()
            }),
            byproducts: Vec::new(),
        },
    }
}

/// mlspec's verdict predicate: the objectives, the result and each criterion.
fn verdict_predicate(verdict: &Verdict, spec: &ModelPackageSpec) -> predicate::Verdict {
    predicate::Verdict {
        objectives: verdict.objectives.to_string(),
        result: verdict.result,
        test_report: spec.test_report.as_ref().map(ToString::to_string),
        criteria: verdict
            .criteria
            .iter()
            .map(|c| predicate::Criterion {
                name: c.name.to_string(),
                met: c.met,
                expression: c.expression.as_ref().map(ToString::to_string),
            })
            .collect(),
    }
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let public = trusted_key(&args.pubkey)?;
    if let Some(path) = &args.model_signing {
        let text = crate::inputs::read_text(path, mlspec_spec::validate::Limits::default().max_bytes)?;
        let problems = mlspec_attest::model_signing::verify(
            &text,
            &path.display().to_string(),
            &public,
            &Manifest::of(&args.dir)?,
        )?;
        return Ok(report(&problems, || {
            format!("verified: the model-signing signature {} holds", path.display())
        }));
    }
    let VerifiedPackage { statements, problems } =
        verify_signed_package(&args.dir, &public, args.require_objectives_met)?;
    Ok(report(&problems, || {
        format!(
            "verified: {} statements signed by {}; {} files match their signed digests",
            statements.len(),
            public.key_id(),
            statements.first().map_or(0, |s| s.subject.len())
        )
    }))
}
