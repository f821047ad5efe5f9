//! # The MLSpec trust chain
//!
//! What lets a team prove, later, which data and code made the model that answered a request:
//!
//! - [`digest`]: streaming SHA-256 of files, and of directories through a sorted manifest of
//!   relative paths, sizes and file digests — the content identity every document pins.
//! - [`keys`]: Ed25519 and ECDSA P-256 key pairs (PKCS#8 / SPKI PEM), with securesystemslib's
//!   key ids so that its verifiers and ours recognise the same keys.
//! - [`dsse`]: DSSE envelopes — signatures over the Pre-Authentication Encoding of a payload
//!   and its type.
//! - [`log`]: hash-chained NCSA Combined (or JSON Lines) inference logs with signed
//!   checkpoints, and their verification.
//! - [`model_signing`]: the OpenSSF model-signing v1.0 format (key mode), both ways.
//! - [`package`]: a model package directory — the package document that pins every file by
//!   digest and the signed attestations beside it — read, verified against a key (signatures,
//!   files re-hashed, signed verdict), and the binding its inference logs carry.
//! - [`audit`]: from one logged request (named by its line, or pasted and found in the log by
//!   its request id) to what made its answer: the line's chain, its package, the training, the
//!   data, the test report and the verdict, each link marked as holding or not.
//! - [`statement`]: in-toto Statement v1, the payload that names the signed subjects by digest
//!   and carries a typed predicate.
//! - [`predicate`]: the predicates as types — SLSA Provenance v1, mlspec's verdict, a dataset's
//!   shard manifest — written and read back through serde, never by hand.
//!
//! A signature is only as good as the digests it covers: a package's envelope lists every
//! file with its SHA-256, so verifying it re-hashes the files and reports each one that was
//! modified, removed or added.

pub mod audit;
pub mod digest;
pub mod dsse;
pub mod error;
mod files;
pub mod keys;
pub mod log;
pub mod model_signing;
pub mod package;
pub mod predicate;
pub mod statement;

pub use error::{AttestError, ErrorKind};
