//! The running pipeline's Run, kept up to date with where each begun step can be watched
//! ([`mlspec_pipeline::live`]): a new version of the Run when steps begin, so that the web UI
//! (or anyone reading the store) can show the run as it goes. At most one version a second:
//! the steps that begin within it are written together, so a run of 1,000 short steps adds a
//! handful of versions to the store's history, not a thousand.

use std::collections::BTreeMap;
use std::time::Duration;

use mlspec_pipeline::live::Progress;
use mlspec_spec::{Document, Name, Spec};
use mlspec_store::Store;
use tokio::time::Instant;

/// The shortest time between two versions of the Run.
const EVERY: Duration = Duration::from_secs(1);

/// The pipeline Run as it runs, and what its steps' tags say.
pub struct Live {
    started: Document,
    steps: BTreeMap<Name, Progress>,
    /// Steps began since the Run was last written.
    unwritten: bool,
    /// When it was last written.
    written_at: Option<Instant>,
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
            written_at: None,
            failed: false,
        }
    }

    /// When the Run is next to be written: none when no step began since the last time.
    pub fn due(&self) -> Option<Instant> {
        self.unwritten
            .then(|| self.written_at.map_or_else(Instant::now, |at| at + EVERY))
    }

    /// `step` began as `progress`. Only a started command calls for a new version of the Run: a
    /// step answered from the cache is done at once, and is told with the next one that starts
    /// (so a run answered whole from the cache writes no version at all).
    pub fn began(&mut self, step: &Name, progress: Progress) {
        if matches!(progress, Progress::Started { .. }) {
            self.unwritten = true;
        }
        self.steps.insert(step.clone(), progress);
    }

    /// Records the Run with every begun step's tag, when a step began since the last time.
    /// A failure does not stop the pipeline (its steps and record do not depend on it): the
    /// first is returned for the caller to tell, later ones are not.
    pub async fn write(&mut self, store: &dyn Store) -> Option<String> {
        if !self.unwritten {
            return None;
        }
        self.unwritten = false;
        self.written_at = Some(Instant::now());
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

#[cfg(test)]
mod tests {
    use mlspec_spec::ObjectId;
    use mlspec_spec::kinds::{RunSpec, RunStatus};

    use super::*;

    fn live() -> Live {
        let run = RunSpec::with_status(RunStatus::Running);
        Live::new(crate::step::record::run_document("p", &ObjectId::generate(), run).unwrap())
    }

    fn started(live: &mut Live, step: &str) {
        let progress = Progress::Started {
            run: ObjectId::generate(),
            endpoint: "http://127.0.0.1:9".to_owned(),
        };
        live.began(&Name::new(step).unwrap(), progress);
    }

    fn cached(live: &mut Live, step: &str) {
        let progress = Progress::Cached {
            run: ObjectId::generate(),
        };
        live.began(&Name::new(step).unwrap(), progress);
    }

    #[test]
    fn the_run_is_written_at_once_then_at_most_once_a_second() {
        let mut live = live();
        assert_eq!(live.due(), None, "nothing began: nothing to write");
        cached(&mut live, "cached");
        assert_eq!(live.due(), None, "a cached step waits for one that starts");
        started(&mut live, "a");
        assert!(
            live.due().unwrap() <= Instant::now(),
            "the first step is written at once"
        );
        // What a write does to the schedule, without a store.
        live.unwritten = false;
        live.written_at = Some(Instant::now());
        assert_eq!(live.due(), None);
        started(&mut live, "b");
        started(&mut live, "c");
        assert_eq!(
            live.due(),
            Some(live.written_at.unwrap() + EVERY),
            "the next ones wait, together"
        );
    }

    #[test]
    fn every_begun_step_is_a_tag_of_the_run() {
        let mut live = live();
        cached(&mut live, "a");
        started(&mut live, "b");
        let Spec::Run(run) = live.document().unwrap().spec else {
            panic!("a Run")
        };
        let tags: Vec<&str> = run.tags.0.keys().map(|k| k.as_str()).collect();
        assert_eq!(tags, ["mlspec.step/a", "mlspec.step/b"]);
    }
}
