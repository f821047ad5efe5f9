//! Integration tests of the document model: published schemas and docs stay current, every
//! example is valid, bad input is refused cleanly, and the original formats migrate.

mod bad_input;
mod generated;
mod migrate;
