//! # The MLSpec v1 document model
//!
//! MLSpec is a standard for the metadata every stage of a machine-learning lifecycle emits. Each
//! record is a **document**: an envelope that every kind shares, around a kind-specific `spec`:
//!
//! ```yaml
//! apiVersion: mlspec/v1          # the format version
//! kind: Dataset                  # one of the kinds below
//! metadata:                      # the common object rules
//!   name: penguins-raw           # [A-Za-z0-9][A-Za-z0-9_-]*, unique per kind (case-insensitive)
//!   status: Active               # Active | Deprecated | Archived; nothing is ever hard-deleted
//! spec: { … }                    # typed by the kind
//! ```
//!
//! The pieces, in the order a document meets them:
//!
//! - [`newtypes`]: validated strings (names, ids, digests, durations): an invalid value cannot be
//!   constructed, and each type publishes its rule in its JSON Schema.
//! - [`reference::Ref`]: how documents point at each other — `Kind/name[@version]` or an id,
//!   optionally pinned by `#sha256:…`.
//! - [`kind::Kind`]: the one list of the kinds, with each kind's name, stage and summary.
//! - [`document::Document`]: the envelope, with [`document::Spec`], the kind-specific bodies
//!   defined in [`kinds`].
//! - [`rules`]: semantic rules beyond the schema (fractions that sum to 1, pipelines that form a
//!   DAG); [`values_check`]: the rules on every value of every kind (numbers are finite, no
//!   credential inline), with [`redact`], the one detector and redactor of secrets.
//! - [`validate`]: text in, typed documents or located diagnostics out — every problem in a file
//!   with its line, column, JSON path and a hint. YAML goes first through [`fast_yaml`], a fast
//!   reader of the block-YAML subset documents are written in, which hands anything else to the
//!   general parser (serde-saphyr).
//! - [`expr`]: the expression language of Objectives criteria (`accuracy >= 0.9 and
//!   gap(recall, by=gender) < 5%`) and of store queries: parser, type checker with units,
//!   diagnostics with spans, and an evaluator whose missing values are never a pass.
//! - [`schema`]: the published JSON Schemas (draft 2020-12), generated from these types.
//! - [`migrate`]: conversion of the original MLSpec formats into v1.
//!
//! This crate does no I/O beyond parsing text it is given.

pub mod batch;
pub mod docs;
pub mod document;
pub mod expr;
pub mod fast_yaml;
pub mod kind;
pub mod kinds;
pub mod migrate;
pub mod newtypes;
pub mod redact;
pub mod reference;
pub mod rules;
pub mod schema;
pub mod suggest;
pub mod template;
pub mod tree;
pub mod validate;
pub mod values;
pub mod values_check;

pub use document::{ApiVersion, Document, Metadata, Spec, Status};
pub use kind::Kind;
pub use newtypes::{Name, ObjectId, Version};
pub use reference::{Ref, RefTarget};
pub use validate::{Diagnostic, Format, Limits, validate_text};
