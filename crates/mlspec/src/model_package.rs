//! A model package directory: the model's files, the package document `mlspec-package.yaml`
//! that pins each by digest, and the signed attestations beside it. `package` builds, signs and
//! verifies one; `log` binds inference logs to one.

use std::path::{Path, PathBuf};

use anyhow::bail;
use mlspec_spec::kinds::ModelPackageSpec;
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
