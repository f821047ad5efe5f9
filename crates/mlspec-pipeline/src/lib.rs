//! MLSpec pipelines as plans, and what makes a step's result reusable.
//!
//! A **Module** is a versioned computation with typed inputs, outputs and parameters, and a
//! command in which `{inputs.X}`, `{outputs.X}` and `{params.X}` stand for paths and values
//! ([`mlspec_spec::template`]). A **Pipeline** is a DAG of steps, each running one module with
//! its inputs bound to pipeline inputs, other steps' outputs or stored documents. A [`Plan`]
//! is a pipeline checked against the module versions it resolves to, the parameters and the
//! inputs of one run — everything that can be refused before a single step starts.
//!
//! A plan can also be handed to a workflow engine: [`argo::compile`] writes the Argo Workflow
//! that runs it on Kubernetes, each step a pod running `mlspec step run`.
//!
//! A step's **cache key** ([`cache_key`]) is the digest of what determines its outputs: the
//! module's definition, the command with parameters filled and each input replaced by the digest
//! of its content, the parameter values, and the allow-listed environment. Names and paths never
//! enter it, so renaming a file changes nothing and editing one in place invalidates exactly the
//! steps that read it, directly or downstream.
//!
//! ```
//! use mlspec_pipeline::{CacheInputs, cache_key};
//! use mlspec_spec::newtypes::Digest;
//! let module = Digest::sha256_of(b"module");
//! let key = |data: &[u8]| cache_key(&CacheInputs {
//!     module: &module,
//!     command: &["train".into(), "{outputs.model}".into()],
//!     params: &Default::default(),
//!     environment: &Default::default(),
//!     inputs: &[("train".parse().unwrap(), Digest::sha256_of(data))].into(),
//! });
//! assert_eq!(key(b"rows"), key(b"rows"));
//! assert_ne!(key(b"rows"), key(b"other rows"));
//! ```

pub mod argo;
pub mod live;
mod plan;

use std::collections::BTreeMap;

use mlspec_spec::Document;
use mlspec_spec::newtypes::{Digest, Key};
use mlspec_spec::values::ParamValue;

pub use plan::{ModuleVersion, Plan, PlannedStep, Request, Source, param_text};

/// The digest of what a Pipeline or Module document defines — its kind, name and spec — and
/// not of what a store adds (id, status, times, labels). Applying the same file twice, or
/// deprecating the module, leaves it unchanged; editing the command or a port changes it.
pub fn definition_digest(document: &Document) -> Digest {
    let definition = serde_json::json!({
        "kind": document.kind().as_str(),
        "name": document.metadata.name.as_str(),
        "spec": document.spec,
    });
    Digest::sha256_of(definition.to_string())
}

/// What a step's cache key covers.
#[derive(Clone, Copy, Debug)]
pub struct CacheInputs<'a> {
    /// The module's definition digest.
    pub module: &'a Digest,
    /// The command, parameters filled, each input as its content digest, outputs as written
    /// (`{outputs.X}`).
    pub command: &'a [String],
    /// The parameter values.
    pub params: &'a BTreeMap<Key, ParamValue>,
    /// The allow-listed environment variables passed to the step.
    pub environment: &'a BTreeMap<String, String>,
    /// Each bound input's content digest.
    pub inputs: &'a BTreeMap<Key, Digest>,
}

/// The version of the cache key's layout; a change of layout changes every key.
const CACHE_KEY_FORMAT: u32 = 1;

/// A step's cache key: SHA-256 of the canonical JSON of [`CacheInputs`] (object keys sorted).
pub fn cache_key(parts: &CacheInputs<'_>) -> Digest {
    let params: BTreeMap<&str, &ParamValue> = parts.params.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let inputs: BTreeMap<&str, &str> = parts.inputs.iter().map(|(k, d)| (k.as_str(), d.as_str())).collect();
    let canonical = serde_json::json!({
        "format": CACHE_KEY_FORMAT,
        "module": parts.module.as_str(),
        "command": parts.command,
        "params": params,
        "environment": parts.environment,
        "inputs": inputs,
    });
    Digest::sha256_of(canonical.to_string())
}
