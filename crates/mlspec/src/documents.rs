//! Documents as the commands read and write them. Reading: one valid document from a file
//! (its diagnostics printed when it is not), or a FILE-or-REF argument from a file or the store,
//! of the kinds a command expects. Writing: through the spec's one writer, refused when the text
//! would not read back as the same valid document, to `--out` or standard output. Naming: a
//! written document's name from `--name` or the data file's.

use std::path::Path;

use anyhow::bail;
use mlspec_spec::validate::Encoding;
use mlspec_spec::{Document, Kind, Name, Ref};
use mlspec_store::Selector;

use crate::args::OutputArgs;
use crate::output::Format;
use crate::store::LazyStore;
use crate::validation::{Checked, check_paths, print_human};

/// The one valid document of the file at `path`, and the file's text. An unreadable or invalid
/// file, or one with more or fewer documents, is an error (its diagnostics are printed).
pub fn read_one(path: &str) -> anyhow::Result<(Document, String)> {
    let Checked {
        mut files,
        summary,
        mut documents,
        read_failures,
    } = check_paths(&[path.to_owned()])?;
    if let Some(failure) = read_failures.into_iter().next() {
        anyhow::bail!("{failure}");
    }
    if summary.errors > 0 {
        print_human(&files, &summary);
        anyhow::bail!("{path} is not a valid document");
    }
    if documents.len() != 1 {
        anyhow::bail!("{path} holds {} documents; give a file with one", documents.len());
    }
    let text = files.pop().and_then(|f| f.text).unwrap_or_default();
    Ok((documents.remove(0), text))
}

/// A document read from a FILE-or-REF argument, and where it came from.
pub struct Loaded {
    pub document: Document,
    /// The file's path and text, when it came from a file.
    pub file: Option<(String, String)>,
}

impl Loaded {
    /// `Kind/name`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.document.kind(), self.document.metadata.name)
    }
}

/// Reads a FILE or a stored REF; the document must be of one of `kinds`.
pub async fn load_document(arg: &str, kinds: &[Kind], store: &mut LazyStore<'_>) -> anyhow::Result<Document> {
    Ok(load(arg, kinds, store).await?.document)
}

/// Reads a FILE or a stored REF; the document must be of one of `kinds`.
pub async fn load(arg: &str, kinds: &[Kind], store: &mut LazyStore<'_>) -> anyhow::Result<Loaded> {
    let input = if Path::new(arg).exists() || arg == "-" {
        load_file(arg)?
    } else {
        let reference: Ref = arg
            .parse()
            .map_err(|e| anyhow::anyhow!("{arg} is neither a file nor a stored object: {e}"))?;
        let stored = store.get().await?.get(&Selector::from(&reference)).await?;
        Loaded {
            document: stored.document,
            file: None,
        }
    };
    let kind = input.document.kind();
    if !kinds.contains(&kind) {
        let wanted: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        bail!(
            "{arg} is {kind} {}; expected {}",
            input.document.metadata.name,
            wanted.join(" or ")
        );
    }
    Ok(input)
}

fn load_file(path: &str) -> anyhow::Result<Loaded> {
    let (document, text) = read_one(path)?;
    Ok(Loaded {
        document,
        file: Some((path.to_owned(), text)),
    })
}

/// A document as text, through the spec's one writer: refused (nothing written) with
/// `validate`'s diagnostic when it could not be read back as the same valid document (a
/// non-finite number, an inline credential, over the size limit).
pub fn document_text(document: &Document, encoding: Encoding) -> anyhow::Result<String> {
    mlspec_spec::validate::encode(document, encoding).map_err(|d| {
        let at = d.path.map(|p| format!(" at {p}")).unwrap_or_default();
        let hint = d.hint.map(|h| format!("\n  hint: {h}")).unwrap_or_default();
        anyhow::anyhow!(
            "cannot write {}/{}{at}: {}{hint}",
            document.kind(),
            document.metadata.name,
            d.message
        )
    })
}

pub fn write_document(document: &Document, output: &OutputArgs) -> anyhow::Result<()> {
    let text = document_text(
        document,
        match output.format {
            Format::Json => Encoding::JsonPretty,
            _ => Encoding::Yaml,
        },
    )?;
    match &output.out {
        Some(path) => crate::files::write_whole(path, text.as_bytes(), Some(&crate::files::DOCUMENT)),
        None => {
            out!("{text}");
            Ok(())
        }
    }
}

/// The `--name` given, else one derived from the data file's.
pub fn document_name(given: Option<&str>, file: &Path, suffix: &str) -> anyhow::Result<Name> {
    match given {
        Some(name) => Ok(Name::new(name)?),
        None => derived_name(file, suffix),
    }
}

/// The file name up to its first dot: `base.csv.gz` → `base`.
pub fn file_stem(file: &Path) -> String {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("data");
    name.split('.').next().unwrap_or(name).to_owned()
}

/// A document's name from the data file's: `base.csv.gz` → `base-SUFFIX`.
pub fn derived_name(file: &Path, suffix: &str) -> anyhow::Result<Name> {
    let stem = file_stem(file);
    let name = Name::sanitized_text(&format!("{stem}-{suffix}"), 200);
    if name.is_empty() {
        bail!("cannot make a name from {}; pass --name", file.display());
    }
    Ok(Name::new(name.as_str())?)
}
