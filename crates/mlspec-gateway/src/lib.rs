//! The serving gateway (stages 11–13 of MLSpec, in the request path).
//!
//! `mlspec serve` puts this crate between clients and any HTTP model server: every request is
//! forwarded, its answer streamed back, and one chained line appended to the inference log
//! binding it to the signed package that answered it.

pub mod protocol;
