//! Rules across the documents validated together (one `mlspec validate` call): names unique per
//! kind, artifact names unique per producing run, and a test report's holdback data distinct from
//! the data of the evaluation it follows.

use foldhash::HashMap;

use crate::document::{Document, Kind, Spec, Status};
use crate::reference::{Ref, RefTarget};
use crate::rules::{Finding, Findings};

/// A finding about one document of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchFinding {
    /// The index of the document it is about.
    pub document: usize,
    /// The index of the other document involved (the earlier one with the same name, the
    /// evaluation whose data is reused).
    pub related: usize,
    /// What is wrong.
    pub finding: Finding,
}

/// Checks `documents` together.
pub fn check_batch(documents: &[&Document]) -> Vec<BatchFinding> {
    let mut out = Vec::new();
    unique_names(documents, &mut out);
    holdback_not_evaluation_data(documents, &mut out);
    out
}

/// Checks only that a test report's holdback data is not the data of the evaluation it
/// follows: the rule across documents that a store does not check itself (it checks names,
/// with its own error kinds).
pub fn check_holdback(documents: &[&Document]) -> Vec<BatchFinding> {
    let mut out = Vec::new();
    holdback_not_evaluation_data(documents, &mut out);
    out
}

fn unique_names(documents: &[&Document], out: &mut Vec<BatchFinding>) {
    let mut seen: HashMap<(Kind, Option<String>, String), usize> = HashMap::default();
    for (i, doc) in documents.iter().enumerate() {
        if doc.metadata.status == Status::Archived {
            continue;
        }
        // Artifact names are unique within their producing run, Module names per version
        // (each version is its own object); other names within the kind.
        let scope = match &doc.spec {
            Spec::Artifact(a) => Some(a.run.to_string()),
            Spec::Module(m) => Some(m.version.to_string()),
            _ => None,
        };
        let key = (doc.kind(), scope, doc.metadata.name.as_str().to_ascii_lowercase());
        if let Some(&first) = seen.get(&key) {
            let mut findings = Findings::default();
            findings
                .error("/metadata/name", format!("another {} named `{}` comes earlier", doc.kind(), documents[first].metadata.name))
                .hint("names are unique per kind, ignoring case, among non-archived objects (artifacts: per producing run; modules: per version)");
            out.extend(findings.items.into_iter().map(|finding| BatchFinding {
                document: i,
                related: first,
                finding,
            }));
        } else {
            seen.insert(key, i);
        }
    }
}

fn refers_to(reference: &Ref, doc: &Document) -> bool {
    match &reference.target {
        RefTarget::Id(id) => doc.metadata.id.as_ref() == Some(id),
        RefTarget::Named { kind, name, .. } => {
            *kind == doc.kind() && name.as_str().eq_ignore_ascii_case(doc.metadata.name.as_str())
        }
    }
}

fn holdback_not_evaluation_data(documents: &[&Document], out: &mut Vec<BatchFinding>) {
    for (i, doc) in documents.iter().enumerate() {
        let Spec::TestReport(test) = &doc.spec else { continue };
        let evaluations = documents
            .iter()
            .enumerate()
            .filter(|(_, d)| refers_to(&test.evaluation, d));
        for (j, evaluation) in evaluations {
            if let Spec::Evaluation(e) = &evaluation.spec
                && e.dataset == test.dataset
            {
                let mut findings = Findings::default();
                findings
                    .error(
                        "/spec/dataset",
                        format!(
                            "the holdback dataset `{}` is the dataset of Evaluation `{}`",
                            test.dataset, evaluation.metadata.name
                        ),
                    )
                    .hint("the test stage must run on holdback data the model was never evaluated on");
                out.extend(findings.items.into_iter().map(|finding| BatchFinding {
                    document: i,
                    related: j,
                    finding,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, Limits, validate_text};

    fn module(version: &str) -> Document {
        let yaml = format!(
            "apiVersion: mlspec/v1\nkind: Module\nmetadata: {{name: train}}\nspec: {{version: '{version}', implementation: {{command: [t]}}}}\n"
        );
        validate_text(&yaml, Format::Yaml, &Limits::default())
            .documents
            .remove(0)
    }

    #[test]
    fn module_names_are_unique_per_version() {
        let (one, two, again) = (module("1"), module("2"), module("1"));
        assert!(check_batch(&[&one, &two]).is_empty());
        let findings = check_batch(&[&one, &two, &again]);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].document, findings[0].related), (2, 0));
    }
}
