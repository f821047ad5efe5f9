//! Rollouts (stage 11): a canary's share of traffic moved step by step, and the record of it.
//!
//! A plan is a Rollout document (`--rollout FILE`): its steps' `trafficPercent` and `duration`.
//! Without one, `--canary` makes a one-step rollout at `--canary-percent` held until an
//! operator decides. Each step starts `inProgress` with its share applied to the routes; it
//! ends when its duration elapses (`decidedBy: schedule`), when an operator promotes or aborts
//! it (`operator`, through `POST /_mlspec/rollout/promote|abort`), or when a monitoring signal
//! on the canary's traffic is breached (`monitoring`, naming the MonitoringReports). A step
//! that ends well is `succeeded` and the next one starts; after the last, the canary becomes
//! the primary at 100% (an operator's promotion before the last step adds that final 100%
//! step) and the rollout `succeeded`. An abort or a breach fails the step, sends all traffic
//! back to the previous package and ends the rollout `rolledBack`.
//!
//! Every change is a new version of the Rollout document in the store, carrying each ended
//! step's observations of the canary's traffic during it: `requests`, `errors` (status ≥ 500),
//! `error_rate`, `mean_latency_ms`.

use std::time::Instant;

use chrono::Utc;
use mlspec_spec::kinds::{Decider, RolloutSpec, RolloutStep, RolloutStrategy, StepResult};
use mlspec_spec::newtypes::{DurationText, Key, Name, Text};
use mlspec_spec::reference::Ref;
use mlspec_spec::values::UniqueMap;
use mlspec_spec::{ApiVersion, Document, Metadata, Spec};

use crate::GatewayError;

/// What the routes should become after a decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// The canary answers this share (hundredths of a percent).
    Share(u32),
    /// The canary is now the primary; no canary.
    Promoted,
    /// All traffic back to the primary; no canary.
    RolledBack,
    /// Nothing changes (the rollout is over).
    Unchanged,
}

/// The canary's counters at a moment, to observe a step by difference.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    /// Requests answered.
    pub requests: u64,
    /// Of them with status ≥ 500.
    pub errors: u64,
    /// Sum of their latencies, seconds.
    pub latency_seconds: f64,
}

/// A rollout in progress.
pub struct Rollout {
    name: Name,
    spec: RolloutSpec,
    current: usize,
    started: Instant,
    at_start: Counts,
    held: DurationText,
}

impl Rollout {
    /// A rollout following a plan document; its `package` must be the canary's and its
    /// `previous` (when given) the primary's.
    pub fn planned(document: Document, canary: &str, primary: &str) -> Result<Rollout, GatewayError> {
        let name = document.metadata.name.clone();
        let Spec::Rollout(mut spec) = document.spec else {
            return Err(GatewayError::Config(format!(
                "--rollout: {name} is {}, not a Rollout",
                document.spec.kind()
            )));
        };
        if spec.package.to_string() != canary {
            return Err(GatewayError::Config(format!(
                "--rollout: /spec/package is {} but the canary serves {canary}",
                spec.package
            )));
        }
        if let Some(previous) = &spec.previous
            && previous.to_string() != primary
        {
            return Err(GatewayError::Config(format!(
                "--rollout: /spec/previous is {previous} but the primary serves {primary}"
            )));
        }
        spec.previous = Some(reference(primary)?);
        for step in &mut spec.steps {
            step.result = StepResult::Pending;
        }
        spec.outcome = StepResult::InProgress;
        Rollout::new(name, spec)
    }

    /// A one-step rollout at `percent`, held until an operator (or monitoring) decides.
    pub fn held(
        name: Name,
        canary: &str,
        primary: &str,
        percent: f64,
        strategy: RolloutStrategy,
    ) -> Result<Rollout, GatewayError> {
        let spec = RolloutSpec {
            package: reference(canary)?,
            previous: Some(reference(primary)?),
            environment: mlspec_spec::newtypes::ShortText::new("production").map_err(invalid)?,
            endpoint: None,
            canary_endpoint: None,
            strategy,
            policy: None,
            steps: vec![step(percent, held_duration()?)],
            outcome: StepResult::InProgress,
        };
        Rollout::new(name, spec)
    }

    fn new(name: Name, spec: RolloutSpec) -> Result<Rollout, GatewayError> {
        if spec.steps.is_empty() {
            return Err(GatewayError::Config(format!("--rollout: {name} has no steps")));
        }
        Ok(Rollout {
            name,
            spec,
            current: 0,
            started: Instant::now(),
            at_start: Counts::default(),
            held: held_duration()?,
        })
    }

    /// The spec, to set its endpoints and policy before it starts.
    pub fn spec_mut(&mut self) -> &mut RolloutSpec {
        &mut self.spec
    }

    /// Starts the first step; the canary's share.
    pub fn start(&mut self, counts: Counts) -> u32 {
        self.begin(0, counts)
    }

    fn begin(&mut self, index: usize, counts: Counts) -> u32 {
        self.current = index;
        self.started = Instant::now();
        self.at_start = counts;
        let step = &mut self.spec.steps[index];
        step.result = StepResult::InProgress;
        step.started_at = Some(Utc::now());
        share(step.traffic_percent)
    }

    /// Whether the rollout is over.
    pub fn is_over(&self) -> bool {
        self.spec.outcome != StepResult::InProgress
    }

    /// Whether the current step's duration has elapsed (a held step never elapses).
    pub fn is_due(&self) -> bool {
        let millis = self.spec.steps[self.current].duration.as_millis();
        !self.is_over() && millis > 0 && self.started.elapsed().as_millis() >= u128::from(millis)
    }

    /// The current step ended well: the next step, or the promotion.
    pub fn advance(&mut self, by: Decider, counts: Counts) -> Next {
        if self.is_over() {
            return Next::Unchanged;
        }
        self.end_step(StepResult::Succeeded, by, counts, Vec::new(), None);
        if self.current + 1 < self.spec.steps.len() {
            return Next::Share(self.begin(self.current + 1, counts));
        }
        if self.spec.strategy != RolloutStrategy::Shadow && self.spec.steps[self.current].traffic_percent < 100.0 {
            // Promoted before the plan reached 100%: the final share, recorded as its own step.
            let mut last = step(100.0, self.held.clone());
            last.result = StepResult::Succeeded;
            last.started_at = Some(Utc::now());
            last.ended_at = last.started_at;
            last.decided_by = Some(by);
            self.spec.steps.push(last);
        }
        self.spec.outcome = StepResult::Succeeded;
        Next::Promoted
    }

    /// The current step failed: all traffic back to the previous package.
    pub fn abort(&mut self, by: Decider, counts: Counts, reports: Vec<Ref>, reason: &str) -> Next {
        if self.is_over() {
            return Next::Unchanged;
        }
        self.end_step(StepResult::Failed, by, counts, reports, Some(reason));
        for later in &mut self.spec.steps[self.current + 1..] {
            later.result = StepResult::Pending;
        }
        self.spec.outcome = StepResult::RolledBack;
        Next::RolledBack
    }

    fn end_step(&mut self, result: StepResult, by: Decider, counts: Counts, reports: Vec<Ref>, reason: Option<&str>) {
        let observed = observations(self.at_start, counts);
        let step = &mut self.spec.steps[self.current];
        step.result = result;
        step.ended_at = Some(Utc::now());
        step.decided_by = Some(by);
        step.reports = reports;
        step.observations = observed;
        if let Some(reason) = reason {
            step.notes = Text::new(reason).ok();
        }
    }

    /// The rollout as a document, as it stands.
    pub fn document(&self) -> Document {
        Document {
            api_version: ApiVersion::V1,
            metadata: Metadata::named(self.name.clone()),
            spec: Spec::Rollout(self.spec.clone()),
        }
    }

    /// The current step's number (1-based) and share, for `/varz` and `rollout status`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name.to_string(),
            "step": self.current + 1,
            "steps": self.spec.steps.len(),
            "outcome": self.spec.outcome,
            "spec": self.spec,
        })
    }
}

/// A planned step at `percent` for `duration`.
fn step(percent: f64, duration: DurationText) -> RolloutStep {
    RolloutStep {
        traffic_percent: percent,
        duration,
        result: StepResult::Pending,
        started_at: None,
        ended_at: None,
        decided_by: None,
        reports: Vec::new(),
        observations: UniqueMap::default(),
        notes: None,
    }
}

/// `0s`: held until someone decides.
fn held_duration() -> Result<DurationText, GatewayError> {
    DurationText::new("0s").map_err(invalid)
}

fn share(percent: f64) -> u32 {
    (percent.clamp(0.0, 100.0) * 100.0).round() as u32
}

fn observations(before: Counts, after: Counts) -> UniqueMap<Key, f64> {
    let requests = after.requests.saturating_sub(before.requests);
    let errors = after.errors.saturating_sub(before.errors);
    let mut observed: Vec<(&str, f64)> = vec![("requests", requests as f64), ("errors", errors as f64)];
    if requests > 0 {
        observed.push(("error_rate", errors as f64 / requests as f64));
        observed.push((
            "mean_latency_ms",
            (after.latency_seconds - before.latency_seconds) * 1e3 / requests as f64,
        ));
    }
    observed
        .into_iter()
        .filter_map(|(key, value)| Some((Key::new(key).ok()?, value)))
        .collect()
}

fn reference(text: &str) -> Result<Ref, GatewayError> {
    text.parse()
        .map_err(|e| GatewayError::Config(format!("`{text}` is not a reference: {e}")))
}

fn invalid(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Config(e.to_string())
}
