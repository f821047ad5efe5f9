//! The store's test suite. `conformance` runs every case on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backends;
mod conformance;
mod processes;
mod support;
