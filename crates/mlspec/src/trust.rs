//! Trusting a signature: the verifier's public key (refused once its file says it expired), and
//! the one way a verification's outcome is printed — `verified: …` or each problem — with its
//! exit status. `package verify`, `data verify` and `log verify|audit` all end this way.

use std::path::Path;
use std::process::ExitCode;

use mlspec_attest::keys::{KeyFile, PublicKey};

use crate::violation::Violation;

/// The public key of a key file; a violation when the file says it has expired.
pub fn trusted_key(path: &Path) -> anyhow::Result<PublicKey> {
    let file = KeyFile::read(path)?;
    match file.expired(chrono::Utc::now()) {
        Some(expired) => Err(Violation::NotVerified(vec![expired]).into()),
        None => Ok(file.key),
    }
}

/// Prints the verdict: `verified: …` (exit 0) or each problem (exit 1).
pub fn report(problems: &[String], verified: impl FnOnce() -> String) -> ExitCode {
    if problems.is_empty() {
        outln!("{}", verified());
        return ExitCode::SUCCESS;
    }
    Violation::NotVerified(problems.to_vec()).report()
}
