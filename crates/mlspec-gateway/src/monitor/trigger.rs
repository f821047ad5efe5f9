//! The rollback trigger, judged on the primary route's window reports.

use std::collections::HashMap;

use mlspec_spec::kinds::{RollbackTrigger, TriggerMode};

use super::WindowReport;
use crate::route::Route;

/// The trigger's signals, their latest state on the primary route, and the run of window ends
/// at which it held.
#[derive(Clone, Debug)]
pub(super) struct Trigger {
    signals: Vec<String>,
    when: TriggerMode,
    consecutive: u32,
    /// Whether each signal was breached in its latest primary report.
    breached: HashMap<String, bool>,
    run: u32,
}

impl Trigger {
    pub(super) fn new(trigger: &RollbackTrigger) -> Trigger {
        Trigger {
            signals: trigger.signals.iter().map(|s| s.as_str().to_owned()).collect(),
            when: trigger.when,
            consecutive: trigger.consecutive.max(1),
            breached: HashMap::new(),
            run: 0,
        }
    }

    /// Takes the reports of one window end; marks `rollback_due` on the last primary report
    /// that names a trigger signal when the trigger has held at `consecutive` ends in a row.
    pub(super) fn judge(&mut self, at_end: &mut [WindowReport]) {
        let mut last = None;
        for (i, report) in at_end.iter().enumerate() {
            if report.route != Route::Primary.name() {
                continue;
            }
            let observed = report.report.signals.iter().map(|s| (s.name.as_str(), s.breached));
            let skipped = report.report.skipped.iter().map(|s| (s.name.as_str(), false));
            for (name, breached) in observed.chain(skipped) {
                if self.signals.iter().any(|s| s == name) {
                    self.breached.insert(name.to_owned(), breached);
                    last = Some(i);
                }
            }
        }
        let Some(last) = last else {
            return;
        };
        let breached = |name: &String| self.breached.get(name).copied().unwrap_or(false);
        let holds = match self.when {
            TriggerMode::Any => self.signals.iter().any(breached),
            TriggerMode::All => self.signals.iter().all(breached),
        };
        self.run = if holds { self.run + 1 } else { 0 };
        if self.run >= self.consecutive {
            at_end[last].rollback_due = true;
            self.run = 0;
        }
    }
}
