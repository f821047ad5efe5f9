//! The thread that owns the inference log.
//!
//! Requests hand their finished lines over a bounded channel; a request reserves its place in
//! the channel before it is forwarded, so that a line is never dropped for want of room (a
//! full channel slows new requests instead) and a response body dropped mid-stream can still
//! send its line synchronously. The thread polls the channel (every 2 ms when it is empty: no
//! request ever wakes it), appends whatever is ready, then hands the batch to the OS (`flush`:
//! a killed gateway loses nothing it appended) and lets the fsync policy and the checkpoint
//! timer run (`tick`). Once the server has drained
//! (SIGTERM) it is told to close the log: synced, a last checkpoint signed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlspec_attest::log::{Binding, BindingId, LogWriter, Request};
use tokio::sync::mpsc;

/// Room for lines not yet written.
pub const CAPACITY: usize = 65_536;

/// What the log thread is asked to do.
pub enum Item {
    /// Append a line (and its bodies to the capture file, when there is one).
    Line(Box<Request>, BindingId, Option<Box<crate::capture::Record>>),
    /// Bind later lines to another package (a rollback target); answers its id.
    Bind(Binding, tokio::sync::oneshot::Sender<BindingId>),
    /// The gateway stopped: close the log (synced, a last checkpoint signed).
    Close,
}

/// The log's state, for `/varz` and `/readyz`.
#[derive(Default)]
pub struct LogStatus {
    /// Lines in the log.
    pub lines: std::sync::atomic::AtomicU64,
    /// The error that stopped the writer, if one did.
    pub failed: Mutex<Option<String>>,
}

impl LogStatus {
    /// Why lines cannot be written, if they cannot.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

/// Starts the thread; it ends at [`Item::Close`] (or when every sender is dropped), returning
/// the log's line count.
pub fn start(
    writer: LogWriter,
    capture: Option<(crate::capture::Writer, Arc<crate::metrics::ByteBudget>)>,
    status: Arc<LogStatus>,
) -> (
    mpsc::Sender<Item>,
    std::thread::JoinHandle<Result<u64, mlspec_attest::AttestError>>,
) {
    let (sender, receiver) = mpsc::channel(CAPACITY);
    let thread = std::thread::Builder::new()
        .name("mlspec-log".into())
        .spawn(move || run(Files { log: writer, capture }, receiver, &status));
    let thread = match thread {
        Ok(thread) => thread,
        // The OS refused a thread: nothing can be logged, so nothing may be served.
        Err(e) => std::thread::spawn(move || {
            Err(mlspec_attest::AttestError::new(
                mlspec_attest::ErrorKind::Io,
                "log",
                format!("cannot start the log thread: {e}"),
            ))
        }),
    };
    (sender, thread)
}

/// What the thread writes (the capture with the budget of the bytes waiting for it).
struct Files {
    log: LogWriter,
    capture: Option<(crate::capture::Writer, Arc<crate::metrics::ByteBudget>)>,
}

impl Files {
    fn handle(&mut self, item: Item) -> Result<(), mlspec_attest::AttestError> {
        match item {
            Item::Line(request, binding, captured) => {
                self.log.append_as(&request, binding)?;
                match (&mut self.capture, captured) {
                    (Some((capture, budget)), Some(record)) => {
                        budget.give_back(record.body_bytes());
                        capture.write(&record).map_err(capture_error)
                    }
                    _ => Ok(()),
                }
            }
            Item::Bind(binding, reply) => {
                let _ = reply.send(self.log.add_binding(binding));
                Ok(())
            }
            // Taken by the loop, which closes the log.
            Item::Close => Ok(()),
        }
    }

    /// Hands the batch to the OS, and lets the fsync policy and checkpoint timer run.
    fn flush(&mut self) -> Result<(), mlspec_attest::AttestError> {
        if let Some((capture, _)) = &mut self.capture {
            capture.flush().map_err(capture_error)?;
        }
        self.log.flush()?;
        self.log.tick()
    }
}

fn capture_error(e: crate::GatewayError) -> mlspec_attest::AttestError {
    mlspec_attest::AttestError::new(mlspec_attest::ErrorKind::Io, "capture", e.to_string())
}

/// How long the thread sleeps when nothing came: it polls, so that a request handing over its
/// line never has to wake a sleeping thread (a wake-up per request cost a third of the
/// gateway's CPU at 5,000 requests/s).
const POLL: Duration = Duration::from_millis(2);

fn run(
    files: Files,
    mut receiver: mpsc::Receiver<Item>,
    status: &LogStatus,
) -> Result<u64, mlspec_attest::AttestError> {
    let written = write_until_closed(files, &mut receiver, status);
    if let Err(e) = &written {
        if let Ok(mut failed) = status.failed.lock() {
            failed.get_or_insert_with(|| e.to_string());
        }
        drain(&mut receiver);
    }
    written
}

/// Writes what comes until the gateway closes the log; its line count.
fn write_until_closed(
    mut files: Files,
    receiver: &mut mpsc::Receiver<Item>,
    status: &LogStatus,
) -> Result<u64, mlspec_attest::AttestError> {
    loop {
        let mut taken = 0;
        let closed = loop {
            match receiver.try_recv() {
                Ok(Item::Close) => break true,
                Ok(item) => {
                    taken += 1;
                    files.handle(item)?;
                }
                Err(mpsc::error::TryRecvError::Empty) => break false,
                Err(mpsc::error::TryRecvError::Disconnected) => break true,
            }
        };
        files.flush()?;
        status
            .lines
            .store(files.log.lines(), std::sync::atomic::Ordering::Relaxed);
        if closed {
            return files.log.close();
        }
        if taken == 0 {
            std::thread::sleep(POLL);
        }
    }
}

/// After a failure: takes what still arrives (requests now find the gateway not ready) until
/// the gateway closes the channel, writing nothing.
fn drain(receiver: &mut mpsc::Receiver<Item>) {
    while receiver.blocking_recv().is_some() {}
}
