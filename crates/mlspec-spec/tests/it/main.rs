//! Integration tests of the document model: published schemas and docs stay current, every
//! example is valid, bad input is refused cleanly, and the original formats migrate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod expr;
mod fast_yaml;
mod generated;
mod migrate;
mod secrets;
