//! The data engine's integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod drift;
mod merge;
mod profile;
mod read;
mod schema;
mod split;
mod validate;
