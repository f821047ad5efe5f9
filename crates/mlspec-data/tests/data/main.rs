//! The data engine's integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod distinct;
mod drift;
mod eval;
mod merge;
mod nonfinite;
mod profile;
mod read;
mod schema;
mod split;
mod validate;
