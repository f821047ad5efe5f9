//! The monitor thread of a running gateway: it feeds every answered request, the upstreams'
//! health and delayed labels to the policy's [`Watch`], and at every window's end turns what
//! the watch found into MonitoringReports — and into actions:
//!
//! - a breach on the **canary**'s traffic during a rollout fails the step and sends all traffic
//!   back (the Rollout records the reports that decided it);
//! - the **rollback trigger** holding on the primary's traffic: in automatic mode the rollback
//!   target package is verified like any package (signature, files, signed verdict) and, when it
//!   verifies, answers all traffic from then on — an event line in the log says so, and the
//!   report's `rollback` action names the target and the breached signals; when it does not
//!   verify, traffic stays, and the action is an `alert` with result `refused` and the reason.
//!   Without automatic mode the action is an `alert` advising the rollback.
//!
//! It runs on its own OS thread under Linux's `SCHED_IDLE` policy — it gets a core only when
//! the threads answering requests leave it idle — polling its inputs every 20 ms (a request
//! never wakes it): evaluating a window (profiling features, comparing sketches) never runs on,
//! nor ahead of, the threads that answer requests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mlspec_spec::kinds::{ActionResult, ActionType, MonitoringAction, MonitoringReportSpec};
use mlspec_spec::newtypes::{Name, ShortText, Text};
use mlspec_spec::reference::Ref;
use mlspec_spec::{ApiVersion, Document, Metadata, Spec};

use crate::control::{self, Decision};
use crate::monitor::{Sample, Watch, WindowReport};
use crate::protocol::Scalar;
use crate::route::{Arm, Route, Routes};
use crate::{Gateway, Package};

/// Room for inputs the monitor has not taken; past it, samples are dropped and counted.
pub const CAPACITY: usize = 16_384;

/// What the monitor thread is given.
pub enum Input {
    /// An answered request.
    Sample(Box<Sample>),
    /// Delayed ground truth, by request id; answers how many matched, and a few that did not.
    Labels(
        Vec<(String, Scalar)>,
        tokio::sync::oneshot::Sender<(usize, Vec<String>)>,
    ),
}

/// How a rollback target becomes a package to serve: verified, at the moment of the switch.
pub type Prepare = Box<dyn Fn() -> Result<Package, String> + Send>;

/// The policy's rollback, as the gateway carries it out.
pub struct RollbackPlan {
    /// The target's reference (`ModelPackage/churn`).
    pub target: String,
    /// Whether traffic moves by itself.
    pub automatic: bool,
    /// Verifies the target and says where its server is.
    pub prepare: Prepare,
}

/// The policy a gateway watches.
pub struct Monitoring {
    /// The policy's name.
    pub policy: Name,
    /// Its compiled signals.
    pub watch: Watch,
    /// Its rollback, if it has one.
    pub rollback: Option<RollbackPlan>,
}

/// The latest value of each signal, for `/varz` and `/metrics`.
#[derive(Default)]
pub struct Latest {
    /// (route, signal) → (value, breached).
    pub signals: Mutex<BTreeMap<(String, String), (f64, bool)>>,
    /// The last actions taken, newest last (at most 20).
    pub actions: Mutex<Vec<MonitoringAction>>,
    /// Reports made.
    pub reports: std::sync::atomic::AtomicU64,
}

/// The monitor's inputs, and the budget of the body bytes waiting in them.
pub struct Queue {
    /// Samples and labels.
    pub inputs: std::sync::mpsc::Receiver<Input>,
    /// Given back as samples are taken.
    pub bytes: Arc<crate::metrics::ByteBudget>,
}

/// Starts the monitor thread; it ends when the gateway drops its sender.
pub fn start(
    gateway: std::sync::Weak<Gateway>,
    monitoring: Monitoring,
    queue: Queue,
    runtime: tokio::runtime::Handle,
) -> Result<std::thread::JoinHandle<()>, crate::GatewayError> {
    std::thread::Builder::new()
        .name("mlspec-monitor".into())
        .spawn(move || run(&gateway, monitoring, &queue, &runtime))
        .map_err(|e| crate::GatewayError::Io(format!("cannot start the monitor thread: {e}")))
}

fn run(
    gateway: &std::sync::Weak<Gateway>,
    mut monitoring: Monitoring,
    queue: &Queue,
    runtime: &tokio::runtime::Handle,
) {
    // Only when the threads that answer requests leave the core idle (SCHED_IDLE; best effort:
    // an unprivileged process may always lower its own thread's policy).
    let _ = thread_priority::unix::set_thread_priority_and_policy(
        thread_priority::unix::thread_native_id(),
        thread_priority::ThreadPriority::Min,
        thread_priority::unix::ThreadSchedulePolicy::Normal(thread_priority::unix::NormalThreadSchedulePolicy::Idle),
    );
    let mut health_checked = Utc::now();
    loop {
        // Polled, not waited on: a request handing over its sample never wakes this thread.
        loop {
            match queue.inputs.try_recv() {
                Ok(Input::Sample(sample)) => {
                    monitoring.watch.add(&sample);
                    queue.bytes.give_back(sample.body_bytes());
                }
                Ok(Input::Labels(labels, reply)) => {
                    let _ = reply.send(join_labels(&mut monitoring.watch, labels));
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
            }
        }
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        let now = Utc::now();
        if now - health_checked >= chrono::TimeDelta::from_std(gateway.settings.health_interval).unwrap_or_default() {
            health_checked = now;
            record_health(&gateway, &mut monitoring.watch, now);
        }
        if now >= monitoring.watch.next_due() {
            for report in monitoring.watch.evaluate(now) {
                act_on(&gateway, &mut monitoring, report, runtime);
            }
        }
        drop(gateway);
        let due = (monitoring.watch.next_due() - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        std::thread::sleep(due.clamp(Duration::from_millis(1), POLL));
    }
}

/// How long the thread sleeps between looks at its inputs.
const POLL: Duration = Duration::from_millis(20);

/// Joins labels to the kept predictions: how many matched, and up to 20 ids that did not.
fn join_labels(watch: &mut Watch, labels: Vec<(String, Scalar)>) -> (usize, Vec<String>) {
    let now = Utc::now();
    let mut unmatched = Vec::new();
    let mut matched = 0;
    for (rid, label) in labels {
        if watch.label(&rid, label, now) {
            matched += 1;
        } else if unmatched.len() < 20 {
            unmatched.push(rid);
        }
    }
    (matched, unmatched)
}

fn record_health(gateway: &Gateway, watch: &mut Watch, now: DateTime<Utc>) {
    let routes = gateway.routes.get();
    watch.health(Route::Primary, routes.primary.health.is_up(), now);
    if let Some(canary) = &routes.canary {
        watch.health(Route::Canary, canary.arm.health.is_up(), now);
    }
}

/// Completes a window's report, takes the actions it calls for, records it.
fn act_on(gateway: &Gateway, monitoring: &mut Monitoring, window: WindowReport, runtime: &tokio::runtime::Handle) {
    let routes = gateway.routes.get();
    let mut report = window.report;
    let arm = match window.route.as_str() {
        "canary" | "shadow" => routes.canary.as_ref().map(|c| c.arm.clone()),
        _ => Some(routes.primary.clone()),
    };
    report.package = arm.as_ref().and_then(|a| a.package.parse().ok());
    report.source = ShortText::new(format!("http://{}", gateway.listen)).ok();
    let rollout = gateway
        .rollout
        .lock()
        .ok()
        .and_then(|r| r.as_ref().map(|r| r.document().metadata.name.clone()));
    report.rollout = rollout.map(|name| Ref::named(mlspec_spec::Kind::Rollout, name));
    let reference = report_name(&monitoring.policy, &window.route, report.window_end)
        .map(|n| Ref::named(mlspec_spec::Kind::MonitoringReport, n));
    let new_package = matches!(window.route.as_str(), "canary" | "shadow");
    if new_package && !window.breached.is_empty() {
        let reason = format!("the {} breached {}", window.route, window.breached.join(", "));
        let evidence = names(&window.breached);
        if let Some(status) = control::decide(
            gateway,
            Decision::Abort(
                mlspec_spec::kinds::Decider::Monitoring,
                reference.clone().into_iter().collect(),
                reason.clone(),
            ),
        ) {
            let target = routes.primary.package.parse().ok();
            report.actions.push(action(
                ActionType::Rollback,
                target,
                evidence,
                ActionResult::Done,
                &format!(
                    "{reason}: rollout {} rolled back",
                    status["name"].as_str().unwrap_or("?")
                ),
            ));
        }
    }
    if window.rollback_due
        && let Some(plan) = &monitoring.rollback
    {
        report
            .actions
            .push(roll_back(gateway, &routes, plan, &window.breached, runtime));
    }
    remember(gateway, &window.route, &report);
    if let Some(document) = report_document(&monitoring.policy, &window.route, report) {
        gateway.record(document);
    }
}

/// A window's report as a document named `POLICY-ROUTE-YYYYMMDD-HHMMSS[-mmm]`, labelled for
/// queries (`--label breached=true`, `--where 'labels.action = "rollback"'`): `policy`,
/// `route`, `breached` (`true`/`false`) and, when one was taken, `action`.
pub fn report_document(policy: &Name, route: &str, report: MonitoringReportSpec) -> Option<Document> {
    let mut metadata = Metadata::named(report_name(policy, route, report.window_end)?);
    let breached = report.signals.iter().any(|s| s.breached);
    let action = report.actions.last().map(|a| match a.action_type {
        ActionType::Alert => "alert",
        ActionType::Rollback => "rollback",
        ActionType::Retrain => "retrain",
    });
    let labels = [
        ("policy", Some(policy.as_str())),
        ("route", Some(route)),
        ("breached", Some(if breached { "true" } else { "false" })),
        ("action", action),
    ];
    metadata.labels = labels
        .into_iter()
        .filter_map(|(key, value)| Some((key.parse().ok()?, value?.parse().ok()?)))
        .collect();
    Some(Document {
        api_version: ApiVersion::V1,
        metadata,
        spec: Spec::MonitoringReport(report),
    })
}

/// `POLICY-ROUTE-YYYYMMDD-HHMMSS[-mmm]`.
fn report_name(policy: &Name, route: &str, end: DateTime<Utc>) -> Option<Name> {
    let millis = end.timestamp_subsec_millis();
    let time = match millis {
        0 => end.format("%Y%m%d-%H%M%S").to_string(),
        _ => format!("{}-{millis:03}", end.format("%Y%m%d-%H%M%S")),
    };
    Name::new(format!("{policy}-{route}-{time}").as_str()).ok()
}

fn names(signals: &[String]) -> Vec<Name> {
    signals.iter().filter_map(|s| Name::new(s.as_str()).ok()).collect()
}

fn action(
    kind: ActionType,
    target: Option<Ref>,
    evidence: Vec<Name>,
    result: ActionResult,
    detail: &str,
) -> MonitoringAction {
    MonitoringAction {
        action_type: kind,
        at: Utc::now(),
        detail: Text::new(detail).ok(),
        target,
        evidence,
        result: Some(result),
    }
}

/// The rollback the trigger calls for: carried out (automatic, target verified), refused
/// (target not verified), or advised (not automatic).
fn roll_back(
    gateway: &Gateway,
    routes: &Routes,
    plan: &RollbackPlan,
    breached: &[String],
    runtime: &tokio::runtime::Handle,
) -> MonitoringAction {
    let target: Option<Ref> = plan.target.parse().ok();
    let evidence = names(breached);
    let why = format!("breached: {}", breached.join(", "));
    if !plan.automatic {
        let detail = format!(
            "{why}; rolling back to {} is advised (the policy's rollback is not automatic)",
            plan.target
        );
        return action(ActionType::Alert, target, evidence, ActionResult::Done, &detail);
    }
    if routes.primary.package == plan.target {
        let detail = format!("{why}; {} already answers all traffic", plan.target);
        return action(ActionType::Alert, target, evidence, ActionResult::Refused, &detail);
    }
    match (plan.prepare)() {
        Err(reason) => {
            let detail = format!(
                "{why}; the rollback target {} does not verify, so traffic did not move: {reason}",
                plan.target
            );
            control::log_event(gateway, "rollback-refused", &routes.primary, &routes.primary, &detail);
            action(ActionType::Alert, target, evidence, ActionResult::Refused, &detail)
        }
        Ok(package) => {
            let arm = Arc::new(switch_to(gateway, package, runtime));
            if let Ok(mut rollout) = gateway.rollout.lock()
                && let Some(rollout) = rollout.as_mut()
            {
                rollout.abort(
                    mlspec_spec::kinds::Decider::Monitoring,
                    control::counts(gateway),
                    Vec::new(),
                    &why,
                );
                gateway.record(rollout.document());
            }
            gateway.routes.set(Routes {
                primary: arm.clone(),
                canary: None,
            });
            control::log_event(gateway, "rollback", &routes.primary, &arm, &why);
            let detail = format!(
                "{why}; all traffic moved from {} to {}",
                routes.primary.binding.model, arm.binding.model
            );
            action(ActionType::Rollback, target, evidence, ActionResult::Done, &detail)
        }
    }
}

/// The arm of a verified rollback target: bound in the log, its health polled.
fn switch_to(gateway: &Gateway, package: Package, runtime: &tokio::runtime::Handle) -> Arm {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let bound = gateway
        .log
        .blocking_send(crate::logger::Item::Bind(package.binding.clone(), reply))
        .is_ok();
    let binding_id = match bound {
        true => answer.blocking_recv().unwrap_or(mlspec_attest::log::BindingId::FIRST),
        false => mlspec_attest::log::BindingId::FIRST,
    };
    let health = Arc::new(crate::upstream::Health::new());
    runtime.spawn(crate::upstream::poll(
        gateway.client.clone(),
        package.upstream.clone(),
        gateway.settings.health.clone(),
        gateway.settings.health_interval,
        health.clone(),
    ));
    Arm {
        package: package.reference,
        binding: package.binding,
        binding_id,
        upstream: package.upstream,
        health,
    }
}

/// Keeps the report's values for `/varz` and `/metrics`.
fn remember(gateway: &Gateway, route: &str, report: &MonitoringReportSpec) {
    let latest = &gateway.latest;
    latest.reports.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut signals) = latest.signals.lock() {
        for observed in &report.signals {
            signals.insert(
                (route.to_owned(), observed.name.to_string()),
                (observed.value, observed.breached),
            );
        }
    }
    if let Ok(mut actions) = latest.actions.lock() {
        actions.extend(report.actions.iter().cloned());
        let excess = actions.len().saturating_sub(20);
        actions.drain(..excess);
    }
}
