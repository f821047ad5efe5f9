//! The progress bar of long reads (profiling, evaluating): on standard error, and only where a
//! person is watching.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar on standard error, shown once an input has taken a second; never shown when
/// standard error is not a terminal, or with --quiet.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    enabled: bool,
    shown: bool,
}

impl Progress {
    pub fn new(size: u64, quiet: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}") {
            bar.set_style(style);
        }
        Progress {
            bar,
            started: Instant::now(),
            enabled: !quiet && std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    pub fn update(&mut self, bytes: u64) {
        if self.enabled && !self.shown && self.started.elapsed() >= Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(bytes);
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
