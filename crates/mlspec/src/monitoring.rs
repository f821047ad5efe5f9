//! A MonitoringPolicy made ready to watch — read, its baseline profile found, its signals
//! compiled against that baseline with every problem located — for `mlspec serve --policy`
//! (live) and `mlspec monitor` (offline); and delayed labels read for `monitor feedback`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use mlspec_gateway::monitor::Watch;
use mlspec_gateway::protocol::{Protocol, Scalar};
use mlspec_spec::kinds::{DataProfileSpec, MonitoringPolicySpec};
use mlspec_spec::newtypes::Name;
use mlspec_spec::{Document, Spec};
use mlspec_store::Selector;

use crate::columns::{Column, read_columns};
use crate::documents::read_one;
use crate::store::LazyStore;

/// A policy, ready to watch.
pub struct Policy {
    /// Its document (name and spec).
    pub name: Name,
    /// Its spec.
    pub spec: MonitoringPolicySpec,
    /// The compiled signals.
    pub watch: Watch,
}

/// Reads the policy at `path`, its baseline (`baseline` when given, else the one the policy
/// names, from the store), and compiles its signals; an error lists every problem located in
/// the policy (`POLICY: /spec/signals/2/feature: …`).
pub async fn load(
    path: &Path,
    baseline: Option<&Path>,
    protocol: Option<Protocol>,
    store: &mut LazyStore<'_>,
) -> anyhow::Result<Policy> {
    let shown = path.display().to_string();
    let (document, _) = read_one(&shown)?;
    let Spec::MonitoringPolicy(spec) = document.spec else {
        bail!("{shown} is {}, not a MonitoringPolicy", document.spec.kind());
    };
    let profile = match (baseline, &spec.baseline) {
        (Some(file), _) => Some(profile_of(
            read_one(&file.display().to_string())?.0,
            &file.display().to_string(),
        )?),
        (None, Some(reference)) => {
            let store = store
                .get()
                .await
                .with_context(|| format!("{shown} names its baseline {reference}; give it with --baseline PROFILE, or use a store that holds it"))?;
            let stored = store.get(&Selector::from(reference)).await?;
            Some(profile_of(stored.document, &reference.to_string())?)
        }
        (None, None) => None,
    };
    let mut policy = Policy::compile(document.metadata.name, spec, profile.as_ref(), &shown)?;
    if let Some(protocol) = protocol {
        policy.watch = policy.watch.with_protocol(protocol);
    }
    Ok(policy)
}

/// A `--protocol` value: `oip`, `tfserving`, `mlflow` or `json`.
pub fn protocol(text: &str) -> Result<Protocol, String> {
    Protocol::from_name(text).ok_or_else(|| format!("`{text}` is not oip, tfserving, mlflow or json"))
}

impl Policy {
    /// Compiles a policy's signals against its baseline; `shown` names it in errors.
    pub fn compile(
        name: Name,
        spec: MonitoringPolicySpec,
        baseline: Option<&DataProfileSpec>,
        shown: &str,
    ) -> anyhow::Result<Policy> {
        let watch = Watch::new(name.as_str(), &spec, baseline).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(|p| format!("{shown}: {p}")).collect();
            anyhow::anyhow!("the policy cannot be watched:\n  {}", lines.join("\n  "))
        })?;
        Ok(Policy { name, spec, watch })
    }
}

fn profile_of(document: Document, shown: &str) -> anyhow::Result<DataProfileSpec> {
    match document.spec {
        Spec::DataProfile(profile) => Ok(profile),
        other => bail!("{shown} is {}, not a DataProfile", other.kind()),
    }
}

/// Labels by request id, from a CSV or Parquet file with columns `rid` (or `request_id`) and
/// `label`, or from JSON (`{"labels": [{"rid", "label"}]}`) or JSON Lines (`{"rid", "label"}`
/// per line).
pub fn read_labels(path: &Path) -> anyhow::Result<HashMap<String, Scalar>> {
    let shown = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let pairs = match extension.as_str() {
        "json" => {
            let text = crate::inputs::read_text(path, 256 << 20)?;
            mlspec_gateway::control::parse_labels(text.as_bytes()).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?
        }
        "jsonl" | "ndjson" => json_lines(path)?,
        _ => table_labels(path)?,
    };
    Ok(pairs.into_iter().collect())
}

fn json_lines(path: &Path) -> anyhow::Result<Vec<(String, Scalar)>> {
    let text = crate::inputs::read_text(path, 256 << 20)?;
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let wrapped = format!("{{\"labels\": [{line}]}}");
        let parsed = mlspec_gateway::control::parse_labels(wrapped.as_bytes())
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))?;
        labels.extend(parsed);
    }
    Ok(labels)
}

fn table_labels(path: &Path) -> anyhow::Result<Vec<(String, Scalar)>> {
    let shown = path.display().to_string();
    let mut columns = read_columns(path)?;
    let position = |names: &[&str]| columns.iter().position(|(name, _)| names.contains(&name.as_str()));
    let (Some(ids), Some(labels)) = (position(&["rid", "request_id"]), position(&["label"])) else {
        bail!(
            "{shown} has no `rid` (or `request_id`) and `label` columns; it has: {}",
            columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        );
    };
    let label_column = std::mem::replace(&mut columns[labels].1, Column::Texts(Vec::new()));
    let id_texts = texts(&columns[ids].1);
    let values: Vec<Scalar> = match label_column {
        Column::Numbers(numbers) => numbers
            .into_iter()
            .map(|n| n.map_or(Scalar::Missing, Scalar::Number))
            .collect(),
        Column::Texts(texts) => texts
            .into_iter()
            .map(|t| t.map_or(Scalar::Missing, Scalar::Text))
            .collect(),
    };
    Ok(id_texts
        .into_iter()
        .zip(values)
        .filter_map(|(id, label)| Some((id?, label)))
        .collect())
}

/// A column's values as text (whole numbers without a decimal point).
fn texts(column: &Column) -> Vec<Option<String>> {
    match column {
        Column::Texts(texts) => texts.clone(),
        Column::Numbers(numbers) => numbers
            .iter()
            .map(|n| {
                n.map(|n| {
                    if n.fract() == 0.0 {
                        format!("{}", n as i64)
                    } else {
                        n.to_string()
                    }
                })
            })
            .collect(),
    }
}
