//! Turning a finished step into documents: the Run, and an Artifact per declared output.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use mlspec_attest::digest::FileDigest;
use mlspec_spec::kinds::{ArtifactSpec, ArtifactType, ResourceUsage, RunSpec, RunStatus};
use mlspec_spec::newtypes::{Key, LabelKey, LabelValue, MediaType, RelativePath, ShortText};
use mlspec_spec::values::{DataPath, ParamValue, Params, Tags, UniqueMap};
use mlspec_spec::{ApiVersion, Document, Metadata, Name, ObjectId, Ref, RefTarget, Spec};

use super::logs::Captured;

/// How the command ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub resources: Option<ResourceUsage>,
}

/// What the Run records besides how it ended.
pub struct RunFacts<'a> {
    pub run_id: &'a ObjectId,
    pub step: &'a str,
    /// The directory the command ran in: output paths are recorded relative to it. (A relative
    /// output path is read from this process's working directory, which is then the same one.)
    pub dir: &'a Path,
    pub module: Option<&'a Ref>,
    pub parent: Option<&'a Ref>,
    pub cache_key: Option<&'a mlspec_spec::newtypes::Digest>,
    pub params: &'a Params,
    pub inputs: &'a [Ref],
    pub outputs: &'a [PathBuf],
    pub command: &'a [String],
    pub metrics: Vec<mlspec_spec::values::Metric>,
    pub logs: &'a [Captured],
}

/// The Run document and one Artifact per output that exists; warnings for outputs that do not.
pub fn documents(facts: RunFacts<'_>, ending: &Ending) -> anyhow::Result<(Vec<Document>, Vec<String>)> {
    let mut documents = Vec::new();
    let mut warnings = Vec::new();
    let mut output_refs = Vec::new();
    let mut taken = Vec::new();
    for path in facts.outputs {
        match artifact(facts.run_id, path, facts.dir, &mut taken) {
            Ok(document) => {
                output_refs.push(id_ref(document.metadata.id.as_ref()));
                documents.push(document);
            }
            Err(error) => warnings.push(format!("output {}: {error:#}; not recorded", path.display())),
        }
    }
    let mut tags = Tags::default();
    for log in facts.logs {
        tags.0
            .insert(Key::new(format!("mlspec.{}.bytes", log.stream))?, log.bytes.to_string());
        if log.truncated() {
            tags.0.insert(
                Key::new(format!("mlspec.{}.truncated_at", log.stream))?,
                log.kept.to_string(),
            );
        }
    }
    let run = RunSpec {
        experiment: None,
        parent: facts.parent.cloned(),
        pipeline: None,
        module: facts.module.cloned(),
        status: ending.status,
        start_time: Some(ending.started),
        end_time: Some(ending.ended),
        exit_code: ending.exit_code,
        signal: ending.signal.as_deref().map(ShortText::new).transpose()?,
        command: mlspec_spec::redact::redact_args(facts.command),
        source: None,
        params: recorded_params(facts.params, &mut warnings),
        metrics: facts.metrics,
        inputs: facts.inputs.to_vec(),
        outputs: output_refs,
        logs: facts
            .logs
            .iter()
            .filter(|log| log.kept > 0)
            .map(log_path)
            .collect::<anyhow::Result<_>>()?,
        resources: ending.resources.clone(),
        tags,
        cache_key: facts.cache_key.cloned(),
        cached_from: None,
    };
    let mut metadata = Metadata::named(run_name(facts.step, facts.run_id)?);
    metadata.id = Some(facts.run_id.clone());
    metadata
        .labels
        .0
        .insert(LabelKey::new(mlspec_store::STEP_LABEL)?, LabelValue::new(facts.step)?);
    documents.push(Document {
        api_version: ApiVersion::V1,
        metadata,
        spec: Spec::Run(run),
    });
    Ok((documents, warnings))
}

/// The parameters as recorded: a secret-looking one (a `password`, a URL with its password)
/// is recorded redacted, with a warning, never in the clear.
fn recorded_params(params: &Params, warnings: &mut Vec<String>) -> Params {
    use mlspec_spec::redact::{MASK, is_secret_variable, redact_env};
    params
        .iter()
        .map(|(key, value)| {
            let recorded = match value {
                ParamValue::String(text) => ParamValue::String(redact_env(key.as_str(), text)),
                ParamValue::Number(_) if is_secret_variable(key.as_str()) => ParamValue::String(MASK.to_owned()),
                number => number.clone(),
            };
            if &recorded != value {
                warnings.push(format!(
                    "parameter `{key}` holds a credential; it was recorded as {MASK} (pass secrets through the environment, not as parameters)"
                ));
            }
            (key.clone(), recorded)
        })
        .collect()
}

/// `<step>-<8 random hex digits of the run id>`: unique per run, readable in lists.
pub fn run_name(step: &str, run_id: &ObjectId) -> anyhow::Result<Name> {
    let tail: String = run_id
        .as_str()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .rev()
        .take(8)
        .collect();
    let tail: String = tail.chars().rev().collect();
    Ok(Name::new(format!("{}-{tail}", name_part(step)))?)
}

/// A Run document named `<step>-<id tail>`.
pub fn run_document(step: &str, id: &ObjectId, run: RunSpec) -> anyhow::Result<Document> {
    let mut metadata = Metadata::named(run_name(step, id)?);
    metadata.id = Some(id.clone());
    Ok(Document {
        api_version: ApiVersion::V1,
        metadata,
        spec: Spec::Run(run),
    })
}

/// Text reduced to what a Name allows: letters, digits, `_` and `-`, starting with a letter or
/// digit, at most 200 characters.
pub fn name_part(text: &str) -> String {
    let part = Name::sanitized_text(text, 200);
    if part.is_empty() { "step".to_owned() } else { part }
}

fn id_ref(id: Option<&ObjectId>) -> Ref {
    Ref {
        target: RefTarget::Id(id.cloned().unwrap_or_else(ObjectId::generate)),
        digest: None,
    }
}

/// Logs live in the datastore `mlspec-logs`, at `<run id>/<stream>.log`.
fn log_path(log: &Captured) -> anyhow::Result<DataPath> {
    let run_dir = log
        .path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(DataPath {
        datastore: Name::new("mlspec-logs")?,
        path: Some(RelativePath::new(format!("{run_dir}/{}.log", log.stream))?),
        table: None,
        query: None,
    })
}

/// An Artifact for an output file, in the datastore `local` (`dir`, the directory the step ran
/// in).
fn artifact(run_id: &ObjectId, path: &Path, dir: &Path, taken: &mut Vec<String>) -> anyhow::Result<Document> {
    let digest = output_digest(path)?;
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = name_part(&stem);
    let base = name.clone();
    let mut n = 1;
    while taken.contains(&name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    taken.push(name.clone());
    let relative = path.strip_prefix(dir).unwrap_or(path);
    let relative = relative.to_string_lossy().trim_start_matches('/').to_owned();
    let mut metadata = Metadata::named(Name::new(name)?);
    metadata.id = Some(ObjectId::generate());
    Ok(Document {
        api_version: ApiVersion::V1,
        metadata,
        spec: Spec::Artifact(ArtifactSpec {
            run: Ref {
                target: RefTarget::Id(run_id.clone()),
                digest: None,
            },
            artifact_type: ArtifactType::Data,
            path: DataPath {
                datastore: Name::new("local")?,
                path: Some(RelativePath::new(relative)?),
                table: None,
                query: None,
            },
            digest: digest.prefixed()?,
            size: digest.size,
            media_type: MediaType::new("application/octet-stream")?,
        }),
    })
}

/// An output's SHA-256 and size, by the trust chain's one file digest (refused when the file
/// changes while it is read); what is not a regular file is named first.
fn output_digest(path: &Path) -> anyhow::Result<FileDigest> {
    crate::inputs::open_regular(path).map_err(anyhow::Error::msg)?;
    Ok(mlspec_attest::digest::file(path)?)
}

/// Parses `--param KEY=VALUE`: numbers as numbers, anything else as text.
pub fn parse_param(text: &str) -> Result<(Key, mlspec_spec::values::ParamValue), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    let key = Key::new(key).map_err(|e| format!("parameter `{key}`: {e}"))?;
    let value = match value.parse::<f64>() {
        Ok(number) if number.is_finite() => mlspec_spec::values::ParamValue::Number(number),
        _ => mlspec_spec::values::ParamValue::String(value.to_owned()),
    };
    Ok((key, value))
}

/// Params from `--param` flags; a repeated key is an error.
pub fn params(pairs: Vec<(Key, mlspec_spec::values::ParamValue)>) -> anyhow::Result<Params> {
    let mut params = UniqueMap::default();
    for (key, value) in pairs {
        if params.0.insert(key.clone(), value).is_some() {
            anyhow::bail!("--param {key} is given twice");
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// procfs reports a size of 0 for a file that has content: to the digest, a file that
    /// changed while it was read.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_output_that_changes_while_it_is_hashed_is_not_recorded() {
        let error = artifact(
            &ObjectId::generate(),
            Path::new("/proc/self/status"),
            Path::new("/"),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("changed while it was hashed"),
            "{error:#}"
        );
    }

    #[test]
    fn an_output_is_recorded_with_its_sha256_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bin");
        std::fs::write(&path, b"abc").unwrap();
        let document = artifact(&ObjectId::generate(), &path, dir.path(), &mut Vec::new()).unwrap();
        let Spec::Artifact(spec) = document.spec else {
            panic!("not an Artifact")
        };
        assert_eq!(spec.digest, mlspec_spec::newtypes::Digest::sha256_of(b"abc"));
        assert_eq!(spec.size, 3);
    }
}
