//! `mlspec migrate FILE...`: convert documents in the original MLSpec formats into v1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mlspec_spec::migrate::migrate;

use mlspec_spec::validate::Encoding;

use crate::documents::document_text;
use crate::inputs::{self, Content, Source};

/// Convert documents in the original MLSpec formats (MLSpec repository examples, mlspec-lib
/// schema_version 0.0.1 / 0.1.0) into mlspec/v1. The v1 documents go to stdout (or --out-dir);
/// what could not be mapped, and every credential moved out, is printed on stderr. Exit 0 when
/// every input was converted, 1 when one was malformed or unrecognized, 2 on I/O errors.
#[derive(clap::Args)]
pub struct Args {
    /// Files in an original MLSpec format, or `-` for standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Write `<file stem>.yaml` per input into this directory instead of printing.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = inputs::expand(&args.files).map_err(anyhow::Error::msg)?;
    let limit = mlspec_spec::validate::Limits::default().max_bytes;
    let mut failed = false;
    let mut printed = 0;
    for source in &sources {
        let name = source.display_name();
        let text = match inputs::read(source, limit).map_err(anyhow::Error::msg)? {
            Content::Bytes(bytes) => String::from_utf8(bytes)
                .map_err(|e| anyhow::anyhow!("{name}: invalid UTF-8 at byte {}", e.utf8_error().valid_up_to())),
            Content::TooLarge(size) => Err(anyhow::anyhow!("{name}: {size} bytes is over the {limit}-byte limit")),
        };
        let migration = match text.map(|t| migrate(&t)) {
            Ok(Ok(migration)) => migration,
            Ok(Err(error)) => {
                errln!("error: {name}: {error}");
                failed = true;
                continue;
            }
            Err(error) => {
                errln!("error: {error}");
                failed = true;
                continue;
            }
        };
        for note in &migration.notes {
            errln!("note: {name}: {note}");
        }
        let yaml = match migration
            .documents
            .iter()
            .map(|d| {
                let mut text = document_text(d, Encoding::Yaml)?;
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                Ok(text)
            })
            .collect::<anyhow::Result<Vec<String>>>()
        {
            Ok(yaml) => yaml,
            Err(error) => {
                errln!("error: {name}: {error:#}");
                failed = true;
                continue;
            }
        };
        let header = format!("# migrated to mlspec/v1 from {name}\n");
        match &args.out_dir {
            Some(dir) => {
                let stem = match source {
                    Source::File(path) => path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "stdin".into()),
                    Source::Stdin => "stdin".into(),
                };
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let path = dir.join(format!("{stem}.yaml"));
                let text = format!("{header}{}", yaml.join("---\n"));
                crate::files::write_whole(&path, text.as_bytes(), Some(&crate::files::DOCUMENT))?;
                errln!("wrote {} document(s) to {}", yaml.len(), path.display());
            }
            None => {
                for doc in yaml {
                    if printed > 0 {
                        outln!("---");
                    }
                    out!("{header}{doc}");
                    printed += 1;
                }
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
