//! The examples of docs/spec/examples, compiled in: `mlspec new` prints them as templates.

use mlspec_spec::Kind;

/// The example document of `kind`.
pub fn example(kind: Kind) -> &'static str {
    match kind {
        Kind::Datastore => include_str!("../../../docs/spec/examples/datastore.yaml"),
        Kind::Dataset => include_str!("../../../docs/spec/examples/dataset.yaml"),
        Kind::Artifact => include_str!("../../../docs/spec/examples/artifact.yaml"),
        Kind::Experiment => include_str!("../../../docs/spec/examples/experiment.yaml"),
        Kind::Run => include_str!("../../../docs/spec/examples/run.yaml"),
        Kind::Module => include_str!("../../../docs/spec/examples/module.yaml"),
        Kind::Pipeline => include_str!("../../../docs/spec/examples/pipeline.yaml"),
        Kind::Objectives => include_str!("../../../docs/spec/examples/objectives.yaml"),
        Kind::ObjectivesCheck => include_str!("../../../docs/spec/examples/objectives-check.yaml"),
        Kind::Ingestion => include_str!("../../../docs/spec/examples/ingestion.yaml"),
        Kind::DataProfile => include_str!("../../../docs/spec/examples/data-profile.yaml"),
        Kind::Transformation => include_str!("../../../docs/spec/examples/transformation.yaml"),
        Kind::DataSchema => include_str!("../../../docs/spec/examples/data-schema.yaml"),
        Kind::ValidationReport => include_str!("../../../docs/spec/examples/validation-report.yaml"),
        Kind::Split => include_str!("../../../docs/spec/examples/split.yaml"),
        Kind::Training => include_str!("../../../docs/spec/examples/training.yaml"),
        Kind::Evaluation => include_str!("../../../docs/spec/examples/evaluation.yaml"),
        Kind::TestReport => include_str!("../../../docs/spec/examples/test-report.yaml"),
        Kind::ModelPackage => include_str!("../../../docs/spec/examples/model-package.yaml"),
        Kind::Rollout => include_str!("../../../docs/spec/examples/rollout.yaml"),
        Kind::MonitoringPolicy => include_str!("../../../docs/spec/examples/monitoring-policy.yaml"),
        Kind::MonitoringReport => include_str!("../../../docs/spec/examples/monitoring-report.yaml"),
        Kind::InferenceLogRecord => include_str!("../../../docs/spec/examples/inference-log-record.yaml"),
        Kind::WorkflowRecord => include_str!("../../../docs/spec/examples/workflow-record.yaml"),
    }
}
