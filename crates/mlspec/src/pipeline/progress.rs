//! Live progress of a pipeline run on standard error: one line per step state change, and on a
//! terminal an indicatif bar above them with the steps done and those running.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    running: BTreeMap<usize, String>,
    started: Instant,
}

impl Progress {
    /// A view of `steps` steps; the bar only where a person watches standard error.
    pub fn new(steps: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} steps {elapsed} {wide_msg}") {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            running: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    /// A line about the run.
    pub fn line(&self, text: &str) {
        let line = format!("{:>7.2}s {text}", self.started.elapsed().as_secs_f64());
        match &self.bar {
            Some(bar) => bar.suspend(|| errln!("{line}")),
            None => errln!("{line}"),
        }
    }

    /// A line about one step.
    pub fn step(&self, name: &str, text: &str) {
        self.line(&format!("{name}: {text}"));
    }

    pub fn started(&mut self, step: usize, name: &str) {
        self.running.insert(step, name.to_owned());
        self.step(name, "started");
        self.show_running();
    }

    pub fn stopped(&mut self, step: usize) {
        self.running.remove(&step);
        self.show_running();
    }

    pub fn is_running(&self, step: usize) -> bool {
        self.running.contains_key(&step)
    }

    /// One more step has come to an end (or was answered from the cache).
    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn show_running(&self) {
        if let Some(bar) = &self.bar {
            let names: Vec<&str> = self.running.values().map(String::as_str).collect();
            bar.set_message(format!("running: {}", names.join(", ")));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
