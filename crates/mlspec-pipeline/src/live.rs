//! A running pipeline's steps, as its Run tells anyone who reads the store.
//!
//! While a pipeline runs, its Run is `Running` and says, for each step that has begun, where to
//! look: one tag per step, `mlspec.step/<step>`, whose value is the id the step's Run is recorded
//! under followed by the step's own endpoints (`/varz`, `/metrics`, `/ok`; the address the step
//! runtime bound, always loopback) or by `cached` for a step answered from the cache. A step
//! whose Run is in the store has ended; one that has begun but is not there yet is running (its
//! endpoints say how it is doing); a step without a tag has not begun. When the pipeline ends
//! its Run is recorded without these tags — the WorkflowRecord tells what each step did.
//!
//! ```
//! use mlspec_pipeline::live::{Progress, progress_of};
//! use mlspec_spec::{Name, ObjectId};
//! let run = ObjectId::generate();
//! let started = Progress::Started { run: run.clone(), endpoint: "http://127.0.0.1:40123".into() };
//! let tags = [(Progress::tag_key(&Name::new("train").unwrap()).unwrap(), started.tag_value())];
//! let steps = progress_of(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
//! assert_eq!(steps["train"], started);
//! assert_eq!(started.loopback_endpoint().unwrap().port(), 40123);
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;

use mlspec_spec::newtypes::{InvalidValue, Key};
use mlspec_spec::{Name, ObjectId};

/// The prefix of the tags that carry a step's progress.
pub const STEP_TAG_PREFIX: &str = "mlspec.step/";

/// What a running pipeline's Run says about one of its steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The step's command was started; its endpoints answer at `endpoint` until it ends.
    Started {
        /// The id its Run will be recorded under.
        run: ObjectId,
        /// `http://127.0.0.1:PORT`.
        endpoint: String,
    },
    /// The step was answered from the cache; its Run is recorded with the pipeline's end.
    Cached {
        /// The id its Run will be recorded under.
        run: ObjectId,
    },
}

impl Progress {
    /// The tag that carries `step`'s progress.
    pub fn tag_key(step: &Name) -> Result<Key, InvalidValue> {
        Key::new(format!("{STEP_TAG_PREFIX}{}", step.as_str()))
    }

    /// The tag's value: the run id, then the endpoint or `cached`.
    pub fn tag_value(&self) -> String {
        match self {
            Progress::Started { run, endpoint } => format!("{run} {endpoint}"),
            Progress::Cached { run } => format!("{run} cached"),
        }
    }

    /// The id the step's Run is recorded under.
    pub fn run(&self) -> &ObjectId {
        match self {
            Progress::Started { run, .. } | Progress::Cached { run } => run,
        }
    }

    /// The endpoints' address, when it is `http://` and a loopback one: the only kind a
    /// pipeline's step binds, and the only kind a reader should probe (a tag is anyone's to
    /// write, and must not send a server's requests elsewhere).
    pub fn loopback_endpoint(&self) -> Option<SocketAddr> {
        let Progress::Started { endpoint, .. } = self else {
            return None;
        };
        let addr: SocketAddr = endpoint.strip_prefix("http://")?.parse().ok()?;
        addr.ip().is_loopback().then_some(addr)
    }

    fn parse(value: &str) -> Option<Progress> {
        let (run, rest) = value.trim().split_once(' ')?;
        let run = ObjectId::new(run).ok()?;
        Some(match rest.trim() {
            "cached" => Progress::Cached { run },
            endpoint => Progress::Started {
                run,
                endpoint: endpoint.to_owned(),
            },
        })
    }
}

/// Each step's progress, by step name, from a Run's tags; other tags, and values that do not
/// read as progress, are passed over.
pub fn progress_of<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, Progress> {
    tags.into_iter()
        .filter_map(|(key, value)| {
            let step = key.strip_prefix(STEP_TAG_PREFIX)?;
            Some((step.to_owned(), Progress::parse(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ObjectId {
        ObjectId::generate()
    }

    #[test]
    fn progress_reads_back_from_its_tag() {
        let run = id();
        let cached = Progress::Cached { run: run.clone() };
        let tags = [
            ("mlspec.step/prep", cached.tag_value()),
            ("mlspec.step/train", format!("{run} http://127.0.0.1:9")),
            ("other", "x y".to_owned()),
        ];
        let steps = progress_of(tags.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(steps.len(), 2);
        assert_eq!(steps["prep"], cached);
        assert_eq!(steps["train"].run(), &run);
        assert_eq!(steps["train"].loopback_endpoint(), Some("127.0.0.1:9".parse().unwrap()));
    }

    #[test]
    fn only_loopback_http_endpoints_are_offered_for_probing() {
        let started = |endpoint: &str| Progress::Started {
            run: id(),
            endpoint: endpoint.to_owned(),
        };
        for refused in [
            "http://10.0.0.5:80",
            "https://127.0.0.1:80",
            "http://localhost:80",
            "http://169.254.169.254:80",
            "http://127.0.0.1:80/path",
            "",
        ] {
            assert_eq!(started(refused).loopback_endpoint(), None, "{refused}");
        }
        assert!(started("http://[::1]:8080").loopback_endpoint().is_some());
        assert_eq!(Progress::Cached { run: id() }.loopback_endpoint(), None);
    }

    #[test]
    fn values_that_are_not_progress_are_passed_over() {
        for bad in ["", "no-space", "not/an/id http://127.0.0.1:1", "-x cached", " "] {
            let steps = progress_of([("mlspec.step/x", bad)]);
            assert!(steps.is_empty(), "{bad:?}");
        }
    }
}
