//! The references a document makes, and the lineage edge each one becomes.
//!
//! Lineage follows ML Metadata's model: executions (Runs, and the documents that record one —
//! Training, Transformation, Evaluation, …) consume inputs and produce outputs. A reference
//! becomes an edge `source → target` meaning "source flowed into target":
//!
//! | relation  | meaning                                          | example                         |
//! |-----------|--------------------------------------------------|---------------------------------|
//! | `input`   | the referenced object was read by this one       | `Run.spec.inputs`               |
//! | `output`  | this one wrote the referenced object (or v.v.)   | `Run.spec.outputs`, `Artifact.spec.run` |
//! | `parent`  | the referenced run groups this one               | `Run.spec.parent`               |
//! | `uses`    | code or configuration this one ran with          | `Run.spec.module`               |
//! | `derived` | this one was made from the referenced object     | a promoted Artifact             |

use mlspec_spec::{Document, Kind, Ref, Spec};

/// How a reference relates two objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Relation {
    /// Read by.
    Input,
    /// Written by.
    Output,
    /// Grouped by a parent run.
    Parent,
    /// Code or configuration used.
    Uses,
    /// Made from.
    Derived,
}

impl Relation {
    /// The relation's name in the store and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Input => "input",
            Relation::Output => "output",
            Relation::Parent => "parent",
            Relation::Uses => "uses",
            Relation::Derived => "derived",
        }
    }
}

/// One reference in a document.
#[derive(Debug)]
pub struct Reference<'a> {
    /// Where it is, as a JSON Pointer.
    pub path: String,
    /// What it points at.
    pub target: &'a Ref,
    /// The edge it makes.
    pub relation: Relation,
    /// True when the edge runs from this document to the referenced object (this one produced
    /// it); false when it runs from the referenced object to this one.
    pub outgoing: bool,
}

/// Collects references while naming their paths.
struct Collector<'a> {
    found: Vec<Reference<'a>>,
}

impl<'a> Collector<'a> {
    fn add(&mut self, path: &str, target: &'a Ref, relation: Relation) {
        self.push(path, target, relation, false);
    }

    fn produced(&mut self, path: &str, target: &'a Ref) {
        self.push(path, target, Relation::Output, true);
    }

    fn push(&mut self, path: &str, target: &'a Ref, relation: Relation, outgoing: bool) {
        self.found.push(Reference {
            path: format!("/spec/{path}"),
            target,
            relation,
            outgoing,
        });
    }

    fn opt(&mut self, path: &str, target: &'a Option<Ref>, relation: Relation) {
        if let Some(target) = target {
            self.add(path, target, relation);
        }
    }

    fn produced_all(&mut self, path: &str, targets: &'a [Ref]) {
        for (i, target) in targets.iter().enumerate() {
            self.produced(&format!("{path}/{i}"), target);
        }
    }

    fn all(&mut self, path: &str, targets: &'a [Ref], relation: Relation) {
        for (i, target) in targets.iter().enumerate() {
            self.add(&format!("{path}/{i}"), target, relation);
        }
    }
}

/// Every reference of `document` that the store resolves and records as lineage.
pub fn references(document: &Document) -> Vec<Reference<'_>> {
    use Relation::*;
    let mut c = Collector { found: Vec::new() };
    match &document.spec {
        Spec::Run(run) => {
            c.opt("experiment", &run.experiment, Uses);
            c.opt("parent", &run.parent, Parent);
            c.opt("pipeline", &run.pipeline, Uses);
            c.opt("module", &run.module, Uses);
            c.all("inputs", &run.inputs, Input);
            c.produced_all("outputs", &run.outputs);
        }
        Spec::Artifact(artifact) => c.add("run", &artifact.run, Output),
        Spec::Dataset(dataset) => {
            for (i, version) in dataset.versions.iter().enumerate() {
                if let Some(source) = &version.produced_by {
                    let relation = if source.kind() == Some(Kind::Run) {
                        Output
                    } else {
                        Derived
                    };
                    c.add(&format!("versions/{i}/producedBy"), source, relation);
                }
            }
        }
        Spec::ObjectivesCheck(check) => {
            c.add("objectives", &check.objectives, Uses);
            c.add("subject", &check.subject, Input);
            c.opt("baseline", &check.baseline, Input);
        }
        Spec::Experiment(experiment) => c.opt("objectives", &experiment.objectives, Uses),
        Spec::Ingestion(ingestion) => {
            c.opt("run", &ingestion.run, Uses);
            if let Some(dataset) = &ingestion.dataset {
                c.produced("dataset", dataset);
            }
        }
        Spec::DataProfile(profile) => c.opt("dataset", &profile.dataset, Derived),
        Spec::DataSchema(schema) => c.opt("dataset", &schema.dataset, Derived),
        Spec::Transformation(t) => {
            c.opt("run", &t.run, Uses);
            c.all("inputs", &t.inputs, Input);
            c.produced_all("outputs", &t.outputs);
        }
        Spec::ValidationReport(report) => {
            c.add("dataset", &report.dataset, Input);
            c.add("schema", &report.schema, Uses);
            c.opt("baseline", &report.baseline, Input);
        }
        Spec::Split(split) => {
            c.add("input", &split.input, Input);
            for (i, part) in split.splits.iter().enumerate() {
                if let Some(output) = &part.output {
                    c.produced(&format!("splits/{i}/output"), output);
                }
            }
        }
        Spec::Training(training) => {
            c.opt("run", &training.run, Uses);
            c.all("datasets", &training.datasets, Input);
            if let Some(model) = &training.model {
                c.produced("model", model);
            }
            for (i, trial) in training.trials.iter().enumerate() {
                c.opt(&format!("trials/{i}/run"), &trial.run, Uses);
            }
        }
        Spec::Evaluation(evaluation) => {
            c.add("model", &evaluation.model, Input);
            c.add("dataset", &evaluation.dataset, Input);
            c.opt("baseline", &evaluation.baseline, Uses);
            c.opt("run", &evaluation.run, Uses);
        }
        Spec::TestReport(test) => {
            c.add("model", &test.model, Input);
            c.add("dataset", &test.dataset, Input);
            c.add("evaluation", &test.evaluation, Uses);
        }
        Spec::ModelPackage(package) => {
            c.opt("model", &package.model, Derived);
            c.opt("training", &package.training, Uses);
            c.all("datasets", &package.datasets, Uses);
            c.opt("testReport", &package.test_report, Uses);
        }
        Spec::Rollout(rollout) => {
            c.add("package", &rollout.package, Input);
            c.opt("previous", &rollout.previous, Uses);
        }
        Spec::MonitoringPolicy(policy) => {
            c.add("target", &policy.target, Input);
            c.opt("baseline", &policy.baseline, Uses);
        }
        Spec::MonitoringReport(report) => c.add("policy", &report.policy, Uses),
        Spec::WorkflowRecord(record) => {
            c.add("pipeline", &record.pipeline, Uses);
            c.opt("run", &record.run, Uses);
        }
        Spec::InferenceLogRecord(record) => c.add("modelInfo/package", &record.model_info.package, Input),
        Spec::Datastore(_) | Spec::Module(_) | Spec::Pipeline(_) | Spec::Objectives(_) => {}
    }
    c.found
}
