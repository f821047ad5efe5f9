//! The running pipeline's Run, kept up to date with where each begun step can be watched
//! ([`mlspec_pipeline::live`]): a new version of the Run each time steps begin, so that the web
//! UI (or anyone reading the store) can show the run as it goes.

use std::collections::BTreeMap;

use mlspec_pipeline::live::Progress;
use mlspec_spec::{Document, Name, Spec};
use mlspec_store::Store;

/// The pipeline Run as it runs, and what its steps' tags say.
pub struct Live {
    started: Document,
    steps: BTreeMap<Name, Progress>,
    /// Steps began since the Run was last written.
    unwritten: bool,
    /// A write failed already (said once; the run goes on).
    failed: bool,
}

impl Live {
    /// `started` is the pipeline Run as recorded when the run began.
    pub fn new(started: Document) -> Live {
        Live {
            started,
            steps: BTreeMap::new(),
            unwritten: false,
            failed: false,
        }
    }

    /// `step` began as `progress`.
    pub fn began(&mut self, step: &Name, progress: Progress) {
        self.steps.insert(step.clone(), progress);
        self.unwritten = true;
    }

    /// Records the Run with every begun step's tag, when a step began since the last time.
    /// A failure does not stop the pipeline (its steps and record do not depend on it): the
    /// first is returned for the caller to tell, later ones are not.
    pub async fn write(&mut self, store: &dyn Store) -> Option<String> {
        if !self.unwritten {
            return None;
        }
        self.unwritten = false;
        let written = match self.document() {
            Ok(document) => store
                .apply(std::slice::from_ref(&document), &crate::store::actor())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match written {
            Err(error) if !self.failed => {
                self.failed = true;
                Some(format!(
                    "the pipeline's Run could not be updated with its steps' endpoints ({error}); \
                     the run goes on, but no one can watch it live"
                ))
            }
            _ => None,
        }
    }

    fn document(&self) -> anyhow::Result<Document> {
        let mut document = self.started.clone();
        if let Spec::Run(run) = &mut document.spec {
            for (step, progress) in &self.steps {
                run.tags.0.insert(Progress::tag_key(step)?, progress.tag_value());
            }
        }
        Ok(document)
    }
}
