//! The store's test suite. `conformance` runs every case on SQLite and on PostgreSQL.

mod backends;
mod conformance;
mod processes;
mod support;
