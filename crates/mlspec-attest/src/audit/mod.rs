//! The audit of one logged request: from a line of an inference log to what made its answer —
//! the line's chain, the package it names, the training, the data digests, the test report and
//! the verdict against the objectives — each link marked as holding or not.
//!
//! The line is named by its log and number ([`LoggedLine::read`]), or found from a pasted copy
//! ([`find_pasted`]: the line of the log with the same request id, which must be identical).
//! [`audit`] then checks, as far as what it is given allows:
//!
//! - the **chain** up to the line ([`ChainStatus`]): with a key, the line is verified only when
//!   a signed checkpoint covers it; without one, an intact chain proves nothing (anyone who can
//!   write the log can recompute it);
//! - the **package**: given its directory, the line's `package=` digest must be the digest of
//!   the directory's attestations, and with a key every attestation must be signed by it (the
//!   model's files are not re-hashed here: [`crate::package::verify_signed_package`] does that);
//!   given the ModelPackage a store holds, nothing about it is re-checked ([`AuditedPackage`]);
//! - the **links** the package document names ([`Links`]), as references for the caller to look
//!   up (a Run's status, a Dataset version's digest): this crate reads no store.
//!
//! What does not hold is in [`Audit::problems`], one sentence each.

mod pasted;

use std::path::{Path, PathBuf};

use mlspec_spec::kinds::{ModelPackageSpec, Verdict};
use mlspec_spec::{Ref, Version};

pub use pasted::{PastedLine, find_pasted};

use crate::error::{AttestError, ErrorKind};
use crate::keys::PublicKey;
use crate::log::{Entry, Layout, Line, LogReport, MAX_LINE_BYTES, Problem, UnsignedTail, read_line, verify_chain};
use crate::package::{binding_of, read_package, signed_statements};

/// One line of an inference log, read back with every field decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedLine {
    /// The log file, as named.
    pub log: PathBuf,
    /// The line's number, from 1.
    pub number: u64,
    /// The log's layout, as the line shows it.
    pub layout: Layout,
    /// The line as written (without its newline; bytes that are not UTF-8 replaced).
    pub text: String,
    /// The request: client, user, time, method, path, protocol, status, bytes, referer, user
    /// agent, and the extension fields (`rid`, `model`, `package`, `pipeline`, `data`,
    /// `latency_ms`, …).
    pub entry: Entry,
}

impl LoggedLine {
    /// The line numbered `number` (from 1) of the log at `log`, read without holding more
    /// than one line ([`MAX_LINE_BYTES`]) in memory.
    pub fn read(log: &Path, number: u64) -> Result<LoggedLine, AttestError> {
        let name = log.display().to_string();
        let cannot = |e: std::io::Error| AttestError::new(ErrorKind::Io, &name, format!("cannot read: {e}"));
        if number == 0 {
            return Err(AttestError::new(ErrorKind::InvalidArgument, &name, "has no line 0")
                .with_hint("lines are counted from 1"));
        }
        let mut reader = std::io::BufReader::new(std::fs::File::open(log).map_err(cannot)?);
        let mut line = Vec::new();
        for current in 1..=number {
            match read_line(&mut reader, &mut line, MAX_LINE_BYTES as u64).map_err(cannot)? {
                Line::End => {
                    return Err(
                        AttestError::new(ErrorKind::InvalidArgument, &name, format!("has no line {number}"))
                            .with_hint("name a line of the log, FILE:LINE, counting from 1"),
                    );
                }
                Line::TooLong if current == number => {
                    return Err(AttestError::new(
                        ErrorKind::Malformed,
                        format!("{name}:{number}"),
                        format!("is longer than {} MiB: not a log line", MAX_LINE_BYTES >> 20),
                    ));
                }
                _ => {}
            }
        }
        LoggedLine::parse(log, number, &line).map_err(|e| {
            AttestError::new(
                ErrorKind::Malformed,
                format!("{name}:{number}"),
                format!("is not a log line: {e}"),
            )
        })
    }

    /// The line `bytes` read back, numbered `number` of `log`; why not, when it is not one.
    fn parse(log: &Path, number: u64, bytes: &[u8]) -> Result<LoggedLine, String> {
        let layout = Layout::of(bytes);
        let text = String::from_utf8_lossy(bytes).into_owned();
        let entry = crate::log::parse(&text, layout)?;
        Ok(LoggedLine {
            log: log.to_path_buf(),
            number,
            layout,
            text,
            entry,
        })
    }

    /// The request id (`rid`).
    pub fn rid(&self) -> Option<&str> {
        self.entry.field("rid")
    }

    /// The model that answered, `name@version` (`model`).
    pub fn model(&self) -> Option<&str> {
        self.entry.field("model")
    }

    /// The package's name: the model's up to `@` (the store's ModelPackage of that name).
    pub fn package_name(&self) -> Option<&str> {
        self.model().map(|m| m.split('@').next().unwrap_or(m))
    }

    /// The digest of the package's attestations the line is bound to (`package`).
    pub fn package_digest(&self) -> Option<&str> {
        self.entry.field("package")
    }

    /// The pipeline's digest the line is bound to (`pipeline`).
    pub fn pipeline_digest(&self) -> Option<&str> {
        self.entry.field("pipeline")
    }

    /// The training data's digest the line is bound to (`data`).
    pub fn data_digest(&self) -> Option<&str> {
        self.entry.field("data")
    }

    /// The time to answer, milliseconds, as logged (`latency_ms`).
    pub fn latency_ms(&self) -> Option<&str> {
        self.entry.field("latency_ms")
    }
}

/// What the log's chain and checkpoints say of one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainStatus {
    /// Verified: every line from the first to this one is intact, and a signed checkpoint of
    /// this log covers it (the last one that holds is at line `checkpoint`).
    Signed {
        /// The last line a signed checkpoint that holds covers.
        checkpoint: u64,
    },
    /// Intact from the first line to this one, but no key was given: an unkeyed chain can be
    /// recomputed by anyone who can write the log, so nothing is proven.
    Unkeyed,
    /// Intact, but after the last signed checkpoint that holds: anyone who can write the log
    /// could have written the line. `accepted` when the caller accepts an unsigned tail.
    Unsigned {
        /// The last line a signed checkpoint that holds covers (0: none).
        last_checkpoint: u64,
        /// Whether the caller accepts lines after the last checkpoint.
        accepted: bool,
    },
    /// The chain or a checkpoint is broken at or before the line.
    Broken,
}

impl ChainStatus {
    /// The status of line `line` in a verification `report` of its log (`keyed` when it was
    /// made with a key).
    pub fn of(report: &LogReport, line: u64, keyed: bool, tail: UnsignedTail) -> ChainStatus {
        if keyed && line <= report.covered {
            return ChainStatus::Signed {
                checkpoint: report.covered,
            };
        }
        let broken = report
            .findings
            .iter()
            .filter(|f| f.problem != Problem::UnsignedTail)
            .any(|f| f.line.is_none_or(|l| l <= line));
        match (broken, keyed) {
            (true, _) => ChainStatus::Broken,
            (false, false) => ChainStatus::Unkeyed,
            (false, true) => ChainStatus::Unsigned {
                last_checkpoint: report.covered,
                accepted: tail == UnsignedTail::Allow,
            },
        }
    }

    /// Why line `line` is not verified, in a sentence; `None` when it is.
    pub fn reason(self, line: u64) -> Option<String> {
        match self {
            ChainStatus::Signed { .. } => None,
            ChainStatus::Unkeyed => {
                Some("no key was given: an unkeyed chain can be recomputed by anyone who can write the log".into())
            }
            ChainStatus::Unsigned { last_checkpoint, .. } => Some(format!(
                "line {line} comes after the last signed checkpoint (line {last_checkpoint}): anyone who can write the file could have written it"
            )),
            ChainStatus::Broken => Some(format!(
                "the log's chain or checkpoints are broken at or before line {line}"
            )),
        }
    }

    /// Whether the status fails the audit: a broken chain, or an unsigned line not accepted.
    /// (Without a key the audit does not fail: it says that nothing is verified.)
    pub fn fails(self) -> bool {
        matches!(
            self,
            ChainStatus::Broken | ChainStatus::Unsigned { accepted: false, .. }
        )
    }
}

/// Where the package of the audited line comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum PackageSource<'a> {
    /// Its signed package directory: checked against the line and, with a key, its signatures.
    Directory(&'a Path),
    /// The ModelPackage a store holds under the line's model name: taken as it is, its
    /// attestation not re-checked.
    Stored {
        /// `ModelPackage/NAME`.
        reference: &'a Ref,
        /// The stored document's spec.
        spec: &'a ModelPackageSpec,
    },
}

/// What was checked of the signatures of a package's attestations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// No key was given.
    NotChecked,
    /// Every attestation is signed by the key.
    Verified {
        /// The key's id (securesystemslib's).
        key_id: String,
    },
    /// Some attestation is not signed by the key, or cannot be read.
    NotVerified {
        /// The key's id.
        key_id: String,
        /// Why, one sentence each.
        problems: Vec<String>,
    },
}

/// The package of the audited line.
#[derive(Clone, Debug, PartialEq)]
pub enum AuditedPackage {
    /// Read from its directory.
    Directory {
        /// The package directory.
        dir: PathBuf,
        /// The package's name.
        name: String,
        /// Its version.
        version: Version,
        /// The digest of its attestations, what a line of its log is bound to.
        digest: String,
        /// Whether the line's `package=` digest is that digest.
        matches_line: bool,
        /// What was checked of its signatures.
        signatures: Signatures,
    },
    /// Taken from a store, not re-checked.
    Stored {
        /// `ModelPackage/NAME`.
        reference: Ref,
        /// Its version.
        version: Version,
    },
}

/// What the package document names, to walk from the package to what made it.
#[derive(Clone, Debug, PartialEq)]
pub struct Links {
    /// The training that produced the model.
    pub training: Option<Ref>,
    /// The data it was trained on.
    pub datasets: Vec<Ref>,
    /// The final test.
    pub test_report: Option<Ref>,
    /// The verdict against the objectives, as the package document states it.
    pub verdict: Option<Verdict>,
}

impl Links {
    fn of(spec: &ModelPackageSpec) -> Links {
        Links {
            training: spec.training.clone(),
            datasets: spec.datasets.clone(),
            test_report: spec.test_report.clone(),
            verdict: spec.verdict.clone(),
        }
    }
}

/// What the audit of one logged request found.
#[derive(Clone, Debug, PartialEq)]
pub struct Audit {
    /// The line audited.
    pub line: LoggedLine,
    /// What the chain says of it.
    pub chain: ChainStatus,
    /// Its package.
    pub package: AuditedPackage,
    /// What the package names.
    pub links: Links,
    /// What does not hold, one sentence each (none: every link checked holds).
    pub problems: Vec<String>,
}

/// Audits `line`: its log's chain up to it (with `key`, its checkpoints; `tail` says whether
/// a line after the last checkpoint fails), and its `package`. An error when the log or the
/// package cannot be read; every link that does not hold is in [`Audit::problems`].
pub fn audit(
    line: LoggedLine,
    package: PackageSource<'_>,
    key: Option<&PublicKey>,
    tail: UnsignedTail,
) -> Result<Audit, AttestError> {
    let report = verify_chain(&line.log, key, line.layout, tail)?;
    let chain = ChainStatus::of(&report, line.number, key.is_some(), tail);
    let mut problems: Vec<String> = chain
        .fails()
        .then(|| chain.reason(line.number))
        .flatten()
        .into_iter()
        .collect();
    let (package, links) = match package {
        PackageSource::Directory(dir) => {
            let (package, spec) = package_in(dir, &line, key, &mut problems)?;
            (package, Links::of(&spec))
        }
        PackageSource::Stored { reference, spec } => {
            let package = AuditedPackage::Stored {
                reference: reference.clone(),
                version: spec.version.clone(),
            };
            (package, Links::of(spec))
        }
    };
    Ok(Audit {
        line,
        chain,
        package,
        links,
        problems,
    })
}

/// The package in `dir` as the line sees it: whether the line names it, and whether `key`
/// signed its attestations (each link that does not hold added to `problems`).
fn package_in(
    dir: &Path,
    line: &LoggedLine,
    key: Option<&PublicKey>,
    problems: &mut Vec<String>,
) -> Result<(AuditedPackage, ModelPackageSpec), AttestError> {
    let (document, spec) = read_package(dir)?;
    let digest = binding_of(dir, &document, &spec)?.package;
    let named = line.package_digest().unwrap_or("?");
    let matches_line = named == digest;
    if !matches_line {
        problems.push(format!(
            "the line names package {named}, but {} is {digest}",
            dir.display()
        ));
    }
    let signatures = match key {
        Some(key) => signatures(dir, key)?,
        None => Signatures::NotChecked,
    };
    if let Signatures::NotVerified { key_id, .. } = &signatures {
        problems.push(format!("the package's attestations do not verify with key {key_id}"));
    }
    let package = AuditedPackage::Directory {
        dir: dir.to_path_buf(),
        name: document.metadata.name.to_string(),
        version: spec.version.clone(),
        digest,
        matches_line,
        signatures,
    };
    Ok((package, spec))
}

/// Whether `key` signed every attestation of the package in `dir`; an attestations file that
/// does not hold envelopes is not verified, one that cannot be read is an error.
fn signatures(dir: &Path, key: &PublicKey) -> Result<Signatures, AttestError> {
    let key_id = key.key_id();
    let problems = match signed_statements(dir, key) {
        Ok(verified) => verified.problems,
        Err(e) if e.kind == ErrorKind::Malformed => vec![e.to_string()],
        Err(e) => return Err(e),
    };
    Ok(match problems.is_empty() {
        true => Signatures::Verified { key_id },
        false => Signatures::NotVerified { key_id, problems },
    })
}

#[cfg(test)]
mod tests;
