//! The store's test suite. `conformance` runs every case on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backends;
#[macro_use]
mod conformance;
mod numbers;
mod processes;
mod support;
