//! Where events go: appended to an NDJSON file, or POSTed to an HTTP endpoint (Marquez's
//! `/api/v1/lineage`, or any OpenLineage HTTP receiver).
//!
//! Emitting never fails the run it describes. A file is opened when the sink is (so a wrong path
//! is an error before anything runs); after that, a failed write or send is reported once as a
//! warning and the event is kept or counted, never returned as an error:
//!
//! - **File**: each event is one line written with one `write` on a file opened with
//!   `O_APPEND`, so two runs appending to the same file never interleave partial lines.
//! - **HTTP**: each request has a connect timeout of [`CONNECT_TIMEOUT`] and a total timeout of
//!   [`REQUEST_TIMEOUT`]. After the first failure (unreachable, timed out, or answered with an
//!   error status) the sink stops trying — a run of many steps pays for at most one timeout —
//!   and that event and every later one go to the undelivered-events file when one was given
//!   (to be sent later), or are counted as dropped. [`Sink::finish`] reports how many.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use reqwest::Url;

use super::event::RunEvent;

/// How long connecting to an HTTP endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one HTTP request may take in all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The path events are POSTed to when the URL names none (OpenLineage's and Marquez's).
const LINEAGE_PATH: &str = "/api/v1/lineage";

/// Where a run's OpenLineage events go.
#[derive(Debug)]
pub enum Sink {
    File(FileSink),
    Http(HttpSink),
}

/// What happened to the events a sink was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Events written or accepted by the endpoint.
    pub delivered: usize,
    /// Events written to the undelivered-events file instead.
    pub kept: usize,
    /// Events lost.
    pub dropped: usize,
    /// The first failure, as reported (credentials masked).
    pub failure: Option<String>,
}

impl Sink {
    /// The sink for `--openlineage TARGET`: an `http://` or `https://` URL is an endpoint
    /// (`/api/v1/lineage` is added when the URL has no path); anything else is a file that
    /// events are appended to. `undelivered` is where an endpoint's undelivered events are
    /// appended, as NDJSON (say beside the store); without it they are dropped and counted.
    pub fn open(target: &str, undelivered: Option<&Path>) -> anyhow::Result<Sink> {
        let is_url = ["http://", "https://"].iter().any(|scheme| {
            target
                .get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        });
        if is_url {
            HttpSink::open(target, undelivered).map(Sink::Http)
        } else {
            FileSink::open(Path::new(target)).map(Sink::File)
        }
    }

    /// Sends or writes `event`; a failure is reported (once) and counted, never returned.
    pub async fn emit(&mut self, event: &RunEvent) {
        match self {
            Sink::File(sink) => sink.emit(event),
            Sink::Http(sink) => sink.emit(event).await,
        }
    }

    /// What happened to the events; warns when some were not delivered.
    pub fn finish(self) -> Delivery {
        match self {
            Sink::File(sink) => {
                if sink.delivery.dropped > 0 {
                    errln!(
                        "warning: OpenLineage: {} event(s) could not be appended to {}",
                        sink.delivery.dropped,
                        sink.path.display()
                    );
                }
                sink.delivery
            }
            Sink::Http(sink) => sink.finish(),
        }
    }
}

/// Appends events to an NDJSON file, one whole line per event.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: File,
    delivery: Delivery,
}

impl FileSink {
    fn open(path: &Path) -> anyhow::Result<FileSink> {
        let file = File::options().append(true).create(true).open(path).with_context(|| {
            format!(
                "cannot open {} to append OpenLineage events to; check that its directory exists and is writable",
                path.display()
            )
        })?;
        Ok(FileSink {
            path: path.to_owned(),
            file,
            delivery: Delivery::default(),
        })
    }

    fn emit(&mut self, event: &RunEvent) {
        match self.append(event) {
            Ok(()) => self.delivery.delivered += 1,
            Err(reason) => {
                let what = format!("cannot append to {}: {reason}", self.path.display());
                report_first(&mut self.delivery, what, "the events that fail to be written are lost");
                self.delivery.dropped += 1;
            }
        }
    }

    /// Writes the event as one line in one write (a write to a regular file is only ever cut
    /// short by a full disk): with `O_APPEND`, concurrent writers' lines stay whole.
    fn append(&mut self, event: &RunEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

/// POSTs events to an OpenLineage HTTP endpoint.
#[derive(Debug)]
pub struct HttpSink {
    client: reqwest::Client,
    url: Url,
    /// The URL as messages show it, its credentials masked.
    shown_url: String,
    undelivered: Option<FileSink>,
    undelivered_path: Option<PathBuf>,
    delivery: Delivery,
}

impl HttpSink {
    fn open(target: &str, undelivered: Option<&Path>) -> anyhow::Result<HttpSink> {
        let url = endpoint(target)?;
        // reqwest is built without a default TLS provider (one provider, ring, for the whole
        // binary); installing it again is a no-op error.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("mlspec/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client for OpenLineage events")?;
        Ok(HttpSink {
            client,
            shown_url: mlspec_spec::redact::redact(url.as_str()).into_owned(),
            url,
            undelivered: None,
            undelivered_path: undelivered.map(Path::to_owned),
            delivery: Delivery::default(),
        })
    }

    async fn emit(&mut self, event: &RunEvent) {
        if self.delivery.failure.is_none() {
            match self.post(event).await {
                Ok(()) => {
                    self.delivery.delivered += 1;
                    return;
                }
                Err(reason) => {
                    let what = format!("cannot send events to {}: {reason}", self.shown_url);
                    let then = match &self.undelivered_path {
                        Some(path) => format!("this and later events of the run are appended to {}", path.display()),
                        None => "this and later events of the run are not sent".to_owned(),
                    };
                    report_first(&mut self.delivery, what, &then);
                }
            }
        }
        self.keep(event);
    }

    async fn post(&self, event: &RunEvent) -> Result<(), String> {
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = response.text().await.unwrap_or_default();
        let answer: String = answer.trim().chars().take(200).collect();
        if answer.is_empty() {
            return Err(format!("the server answered {status}"));
        }
        Err(format!("the server answered {status}: {answer}"))
    }

    fn finish(self) -> Delivery {
        let delivery = self.delivery;
        if let (Some(path), true) = (&self.undelivered_path, delivery.kept > 0) {
            errln!(
                "warning: OpenLineage: {} event(s) were not sent to {}; they are in {} (see docs/openlineage.md to send them later)",
                delivery.kept,
                self.shown_url,
                path.display()
            );
        }
        if delivery.dropped > 0 {
            errln!(
                "warning: OpenLineage: {} event(s) were not sent to {}",
                delivery.dropped,
                self.shown_url
            );
        }
        delivery
    }

    /// Appends an undelivered event to the undelivered-events file, or counts it as dropped.
    fn keep(&mut self, event: &RunEvent) {
        if self.undelivered.is_none()
            && let Some(path) = &self.undelivered_path
        {
            match FileSink::open(path) {
                Ok(file) => self.undelivered = Some(file),
                Err(error) => {
                    errln!("warning: OpenLineage: {error:#}");
                    self.undelivered_path = None;
                }
            }
        }
        let kept = self.undelivered.as_mut().is_some_and(|file| file.append(event).is_ok());
        if kept {
            self.delivery.kept += 1;
        } else {
            self.delivery.dropped += 1;
        }
    }
}

/// The URL events are POSTed to: `target`, with [`LINEAGE_PATH`] when it names no path.
fn endpoint(target: &str) -> anyhow::Result<Url> {
    let shown = mlspec_spec::redact::redact(target);
    let mut url = Url::parse(target).with_context(|| {
        format!("--openlineage {shown}: not a valid URL; give http(s)://HOST[:PORT][/PATH] or a file path")
    })?;
    if url.path() == "/" || url.path().is_empty() {
        url.set_path(LINEAGE_PATH);
    }
    Ok(url)
}

/// Records and prints the first failure; later ones are only counted.
fn report_first(delivery: &mut Delivery, what: String, then: &str) {
    if delivery.failure.is_none() {
        let what = mlspec_spec::redact::redact(&what).into_owned();
        errln!("warning: OpenLineage: {what}; {then}");
        delivery.failure = Some(what);
    }
}

/// An error and its causes, `a: b: c` (reqwest's own message says little without them).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
