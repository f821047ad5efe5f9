//! A command that ran and found a violation — a test the guards refuse, a key that has
//! expired — is not a command that failed: it exits 1, not 2 (see `main`). Code that finds one
//! returns it as an error, `Err(Violation::…)?`, so that the finding stops the command as an
//! error does; `main` tells the two apart and has the violation report itself.

use std::fmt;
use std::process::ExitCode;

/// What the command found, worded for the user.
#[derive(Debug)]
pub enum Violation {
    /// A guard refused to run the command: `refused: …` on stderr.
    Refused(String),
    /// Signatures or keys that do not hold: `not verified:` and one problem a line on stdout.
    NotVerified(Vec<String>),
}

impl Violation {
    /// Prints the violation; the exit code of a command that found one.
    pub fn report(&self) -> ExitCode {
        match self {
            Violation::Refused(reason) => errln!("refused: {reason}"),
            Violation::NotVerified(problems) => {
                outln!("not verified:");
                for problem in problems {
                    outln!("  {problem}");
                }
            }
        }
        ExitCode::from(1)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Refused(reason) => write!(f, "refused: {reason}"),
            Violation::NotVerified(problems) => write!(f, "not verified: {}", problems.join("; ")),
        }
    }
}

impl std::error::Error for Violation {}
