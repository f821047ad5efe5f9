//! Loading a pipeline run's definitions: the Pipeline from a file or the store, each step's
//! Module from the `-f` files or the store, resolved to one exact version, and the whole checked
//! into a [`Plan`] — refused, with `validate`'s located diagnostics, before anything runs.

use std::path::Path;

use anyhow::bail;
use mlspec_pipeline::{ModuleVersion, Plan, Request};
use mlspec_spec::validate::{Format, Limits, locate_findings};
use mlspec_spec::{Document, Kind, Ref};
use mlspec_store::{ErrorKind, Selector, Store, StoreError};

use crate::report::{FileReport, render_human};
use crate::validation::{Checked, check_paths, print_human};

/// A pipeline and where it came from.
pub struct Definitions {
    pub pipeline: Document,
    /// The pipeline file's path and text, for locating problems; `None` when it came from the
    /// store.
    pub file: Option<(String, String)>,
    /// Modules given with `-f`.
    pub modules: Vec<ModuleVersion>,
}

/// Reads PIPELINE (a file, or a stored reference) and the module files.
pub async fn definitions(
    pipeline: &str,
    module_files: &[String],
    store: Option<&dyn Store>,
) -> anyhow::Result<Definitions> {
    let (document, file) = if Path::new(pipeline).exists() {
        let (document, text) = crate::documents::read_one(pipeline)?;
        (document, Some((pipeline.to_owned(), text)))
    } else {
        let reference: Ref = pipeline
            .parse()
            .map_err(|e| anyhow::anyhow!("{pipeline} is neither a file nor a stored Pipeline: {e}"))?;
        let stored = needed(store, pipeline)?.get(&Selector::from(&reference)).await?;
        (stored.document, None)
    };
    if document.kind() != Kind::Pipeline {
        bail!(
            "{pipeline} is {} {}, not a Pipeline",
            document.kind(),
            document.metadata.name
        );
    }
    Ok(Definitions {
        pipeline: document,
        file,
        modules: module_documents(module_files)?,
    })
}

/// The Modules in the `-f` files and directories (other kinds there are ignored), all valid.
pub fn module_documents(paths: &[String]) -> anyhow::Result<Vec<ModuleVersion>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let Checked {
        files,
        summary,
        documents,
        read_failures,
    } = check_paths(paths)?;
    if let Some(failure) = read_failures.into_iter().next() {
        bail!("{failure}");
    }
    if summary.errors > 0 {
        print_human(&files, &summary);
        bail!("the module files are not valid; nothing was run");
    }
    documents
        .into_iter()
        .filter(|d| d.kind() == Kind::Module)
        .map(|d| ModuleVersion::new(d).map_err(anyhow::Error::msg))
        .collect()
}

/// The module version each step names: from the files when one answers, else from the store.
/// A reference without a version that several files answer is ambiguous.
pub async fn resolve_modules(
    pipeline: &Document,
    given: &[ModuleVersion],
    store: Option<&dyn Store>,
) -> anyhow::Result<Vec<ModuleVersion>> {
    let mlspec_spec::Spec::Pipeline(spec) = &pipeline.spec else {
        bail!("not a Pipeline");
    };
    let mut resolved: Vec<ModuleVersion> = Vec::new();
    for step in &spec.steps {
        let answering: Vec<&ModuleVersion> = given.iter().filter(|m| m.answers(&step.module)).collect();
        let module = match answering.as_slice() {
            [one] => (*one).clone(),
            [] => match from_store(&step.module, needed(store, &step.module.to_string())?).await {
                Ok(module) => module,
                // Left for the plan to report at the step's place.
                Err(error) if error.kind == ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(
                        anyhow::Error::new(error).context(format!("step `{}`: module {}", step.name, step.module))
                    );
                }
            },
            several => {
                let versions: Vec<String> = several.iter().map(|m| m.spec().version.to_string()).collect();
                bail!(
                    "step `{}`: {} matches versions {} in the files given; name one, e.g. {}@{}",
                    step.name,
                    step.module,
                    versions.join(", "),
                    step.module,
                    versions[0]
                );
            }
        };
        if !resolved.iter().any(|m| m.digest == module.digest) {
            resolved.push(module);
        }
    }
    Ok(resolved)
}

/// Whether every step's module is among the files given.
pub fn answered_by_files(definitions: &Definitions) -> bool {
    match &definitions.pipeline.spec {
        mlspec_spec::Spec::Pipeline(spec) => spec
            .steps
            .iter()
            .all(|step| definitions.modules.iter().any(|m| m.answers(&step.module))),
        _ => false,
    }
}

async fn from_store(reference: &Ref, store: &dyn Store) -> Result<ModuleVersion, StoreError> {
    let stored = store.get(&Selector::from(reference)).await?;
    ModuleVersion::new(stored.document).map_err(|message| StoreError::new(ErrorKind::Conflict, message))
}

/// The store, which `what` must come from.
fn needed<'a>(store: Option<&'a dyn Store>, what: &str) -> anyhow::Result<&'a dyn Store> {
    store.ok_or_else(|| {
        anyhow::anyhow!("{what} is not in the files given, and no store was given (--store) to find it in")
    })
}

/// The plan, or the problems printed at their place in the pipeline file and an error.
pub fn plan(definitions: &Definitions, modules: &[ModuleVersion], request: &Request) -> anyhow::Result<Plan> {
    match Plan::new(definitions.pipeline.clone(), modules, request) {
        Ok(plan) => Ok(plan),
        Err(findings) => {
            let count = findings.items.len();
            let (path, text) = definitions.file.clone().unwrap_or_else(|| {
                (
                    format!("Pipeline/{}", definitions.pipeline.metadata.name),
                    String::new(),
                )
            });
            let format = Format::detect(Some(&path), &text);
            let diagnostics = locate_findings(&text, format, findings, &Limits::default());
            let report = FileReport {
                path,
                documents: 1,
                valid: 0,
                diagnostics: Vec::new(),
                omitted_diagnostics: Default::default(),
                text: Some(text),
            };
            for diagnostic in &diagnostics {
                errln!("{}", render_human(&report, diagnostic));
            }
            bail!("the pipeline cannot run: {count} problem(s); nothing was run")
        }
    }
}
