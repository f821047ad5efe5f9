//! Trusting a signature: the verifier's public key (refused once its file says it expired), and
//! the one way a verification's outcome is printed — `verified: …` or each problem — with its
//! exit status. `package verify`, `data verify` and `log verify|audit` all end this way.

use std::path::Path;
use std::process::ExitCode;

use mlspec_attest::keys::{KeyFile, PublicKey};

/// The public key of a key file, or — when the file says it has expired — why it may not be
/// used.
pub fn trusted_key(path: &Path) -> anyhow::Result<Result<PublicKey, String>> {
    let file = KeyFile::read(path)?;
    Ok(match file.expired(chrono::Utc::now()) {
        Some(expired) => Err(expired),
        None => Ok(file.key),
    })
}

/// Prints the verdict: `verified: …` (exit 0) or each problem (exit 1).
pub fn report(problems: &[String], verified: impl FnOnce() -> String) -> ExitCode {
    if problems.is_empty() {
        outln!("{}", verified());
        return ExitCode::SUCCESS;
    }
    outln!("not verified:");
    for problem in problems {
        outln!("  {problem}");
    }
    ExitCode::from(1)
}
