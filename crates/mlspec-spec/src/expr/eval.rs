//! Evaluation, with semantics that cannot lie: a value that was not recorded makes the
//! criterion *unknown* (so not met), never silently true; `and`/`or`/`not` follow Kleene's
//! three-valued logic (`false and unknown` is false, `true or unknown` is true, anything else
//! with an unknown stays unknown); NaN never passes a comparison; division by zero and
//! results too large to represent are errors, not infinities.

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;

use super::ast::{Arg, BinOp, Expr, Node, SliceKey, args_text, column_name, field_text, infix};
use super::record::{Record, Scalar};
use super::resolve::{Context, Reference, Source, resolve};
use super::units::{Dim, metric_unit, quantity_text};

/// A value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number in its dimension's base unit.
    Num(f64, Dim),
    /// Text.
    Str(String),
    /// True or false.
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(v, dim) => f.write_str(&quantity_text(*v, *dim)),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The result of evaluating an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A value.
    Known(Value),
    /// Something it needs was not recorded; the reasons say what.
    Unknown(Vec<String>),
    /// It cannot be computed (division by zero, overflow, a value of the wrong type).
    Failed(String),
}

/// A criterion's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// The expression is true.
    Met,
    /// The expression is false.
    NotMet,
    /// A value it needs was not recorded: not met.
    Unknown,
    /// It could not be computed: not met.
    Error,
}

impl Status {
    /// Whether the criterion holds.
    pub fn is_met(self) -> bool {
        self == Status::Met
    }

    /// The word for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "not met",
            Status::Unknown => "unknown",
            Status::Error => "error",
        }
    }
}

/// A value read or computed while evaluating, for the report: `accuracy = 0.93`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observed {
    /// What was read, as written: `recall[gender=F]`, `gap(recall, by=gender)`.
    pub what: String,
    /// Its value, or `not recorded`.
    pub value: String,
}

/// The verdict of one criterion, with the values it read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Met, not met, unknown or error.
    pub status: Status,
    /// Why it is not met, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The values read.
    pub observed: Vec<Observed>,
}

/// Evaluates a checked criterion against `current` and an optional `baseline`.
pub fn evaluate(expr: &Expr, current: &Record, baseline: Option<&Record>) -> Verdict {
    let mut evaluator = Evaluator {
        current,
        baseline,
        observed: Vec::new(),
    };
    let outcome = evaluator.eval(expr);
    let (status, reason) = match outcome {
        Outcome::Known(Value::Bool(true)) => (Status::Met, None),
        Outcome::Known(Value::Bool(false)) => (Status::NotMet, Some(format!("`{}` is false", infix(expr)))),
        Outcome::Known(other) => (
            Status::Error,
            Some(format!("the criterion is {other}, not true or false")),
        ),
        Outcome::Unknown(reasons) => (Status::Unknown, Some(reasons.join("; "))),
        Outcome::Failed(reason) => (Status::Error, Some(reason)),
    };
    Verdict {
        status,
        reason,
        observed: evaluator.observed,
    }
}

struct Evaluator<'a> {
    current: &'a Record,
    baseline: Option<&'a Record>,
    observed: Vec<Observed>,
}

fn known_num(v: f64, dim: Dim) -> Outcome {
    if v.is_nan() {
        Outcome::Failed("a value is not a number (NaN)".into())
    } else if v.is_finite() {
        Outcome::Known(Value::Num(v, dim))
    } else {
        Outcome::Failed("a result is too large to represent".into())
    }
}

/// Combines the non-known outcomes of operands: an error wins, else the unknowns' reasons.
fn undetermined(outcomes: &[&Outcome]) -> Option<Outcome> {
    if let Some(Outcome::Failed(reason)) = outcomes.iter().find(|o| matches!(o, Outcome::Failed(_))) {
        return Some(Outcome::Failed(reason.clone()));
    }
    let reasons: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Unknown(r) => Some(r.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    (!reasons.is_empty()).then_some(Outcome::Unknown(reasons))
}

impl Evaluator<'_> {
    fn observe(&mut self, what: String, value: String) {
        if !self.observed.iter().any(|o| o.what == what) {
            self.observed.push(Observed { what, value });
        }
    }

    fn eval(&mut self, expr: &Expr) -> Outcome {
        match &expr.node {
            Node::Number { value, dim } => Outcome::Known(Value::Num(*value, *dim)),
            Node::String { value } => Outcome::Known(Value::Str(value.clone())),
            Node::Bool { value } => Outcome::Known(Value::Bool(*value)),
            Node::Invalid => Outcome::Failed("the expression did not parse".into()),
            Node::Field { path, slice } => {
                let outcome = match resolve(path, slice, Context::Criterion) {
                    Ok(reference) => self.read(&reference),
                    Err(message) => Outcome::Failed(message),
                };
                self.record_observation(field_text(path, slice), &outcome);
                outcome
            }
            Node::Not { operand } => match self.eval(operand) {
                Outcome::Known(Value::Bool(b)) => Outcome::Known(Value::Bool(!b)),
                Outcome::Known(other) => Outcome::Failed(format!("`not` needs true or false, not {other}")),
                other => other,
            },
            Node::Neg { operand } => match self.eval(operand) {
                Outcome::Known(Value::Num(v, d)) => known_num(-v, d),
                Outcome::Known(other) => Outcome::Failed(format!("cannot negate {other}")),
                other => other,
            },
            Node::Binary {
                op: BinOp::And,
                left,
                right,
            } => self.logic(left, right, false),
            Node::Binary {
                op: BinOp::Or,
                left,
                right,
            } => self.logic(left, right, true),
            Node::Binary { op, left, right } => {
                let (l, r) = (self.eval(left), self.eval(right));
                match (&l, &r) {
                    (Outcome::Known(a), Outcome::Known(b)) => binary(*op, a, b),
                    _ => undetermined(&[&l, &r]).unwrap_or(Outcome::Failed("internal: undetermined".into())),
                }
            }
            Node::Call { function, args } => {
                let outcome = self.call(function, args);
                self.record_observation(format!("{function}({})", args_text(args)), &outcome);
                outcome
            }
        }
    }

    fn record_observation(&mut self, what: String, outcome: &Outcome) {
        let value = match outcome {
            Outcome::Known(v) => v.to_string(),
            Outcome::Unknown(_) => "not recorded".into(),
            Outcome::Failed(_) => "error".into(),
        };
        self.observe(what, value);
    }

    /// `and` (`short = false`) or `or` (`short = true`), in Kleene's logic: the short-circuit
    /// value on either side decides, whatever the other side is.
    fn logic(&mut self, left: &Expr, right: &Expr, short: bool) -> Outcome {
        let (l, r) = (self.eval(left), self.eval(right));
        let as_bool = |o: &Outcome| match o {
            Outcome::Known(Value::Bool(b)) => Some(*b),
            _ => None,
        };
        if as_bool(&l) == Some(short) || as_bool(&r) == Some(short) {
            return Outcome::Known(Value::Bool(short));
        }
        for side in [&l, &r] {
            if let Outcome::Known(v) = side
                && !matches!(v, Value::Bool(_))
            {
                return Outcome::Failed(format!(
                    "`{}` needs true or false, not {v}",
                    if short { "or" } else { "and" }
                ));
            }
        }
        undetermined(&[&l, &r]).unwrap_or(Outcome::Known(Value::Bool(!short)))
    }

    fn record(&self, source: Source) -> Result<&Record, String> {
        match source {
            Source::Current => Ok(self.current),
            Source::Baseline => self.baseline.ok_or_else(|| "no baseline was given".to_owned()),
        }
    }

    fn read(&self, reference: &Reference) -> Outcome {
        match reference {
            Reference::Metric { source, key, slice } => self.metric(*source, key, slice),
            Reference::Param { source, key } => match self.record(*source) {
                Err(reason) => Outcome::Unknown(vec![reason]),
                Ok(record) => match record.params.get(key) {
                    Some(Scalar::Num(n)) => Outcome::Known(Value::Num(*n, Dim::None)),
                    Some(Scalar::Str(s)) => Outcome::Known(Value::Str(s.clone())),
                    None => Outcome::Unknown(vec![format!("parameter `{key}` was not recorded")]),
                },
            },
            Reference::Label { source, key } => match self.record(*source) {
                Err(reason) => Outcome::Unknown(vec![reason]),
                Ok(record) => match record.labels.get(key) {
                    Some(v) => Outcome::Known(Value::Str(v.clone())),
                    None => Outcome::Unknown(vec![format!("label `{key}` is not set")]),
                },
            },
            Reference::Spec { .. } | Reference::Name => {
                Outcome::Failed("only store queries read spec fields and names".into())
            }
        }
    }

    fn metric(&self, source: Source, key: &str, slice: &[SliceKey]) -> Outcome {
        let record = match self.record(source) {
            Ok(r) => r,
            Err(reason) => return Outcome::Unknown(vec![reason]),
        };
        let value = if slice.is_empty() {
            record.metrics.get(key)
        } else {
            record.slice(slice).and_then(|s| s.metrics.get(key))
        };
        let (dim, scale) = metric_unit(key);
        match value {
            Some(v) => known_num(v * scale, dim),
            None => {
                let whose = if source == Source::Baseline {
                    "the baseline's "
                } else {
                    ""
                };
                let name = field_text(&[key.to_owned()], slice);
                Outcome::Unknown(vec![format!("{whose}metric `{name}` was not recorded")])
            }
        }
    }

    fn call(&mut self, function: &str, args: &[Arg]) -> Outcome {
        match function {
            "gap" | "ratio" => self.grouped(function, args),
            "delta" | "rel_delta" => self.against_baseline(function, args),
            _ => {
                let outcomes: Vec<Outcome> = args.iter().map(|a| self.eval(&a.value)).collect();
                if let Some(o) = undetermined(&outcomes.iter().collect::<Vec<_>>()) {
                    return o;
                }
                let mut numbers = Vec::with_capacity(outcomes.len());
                for outcome in &outcomes {
                    match outcome {
                        Outcome::Known(Value::Num(v, d)) => numbers.push((*v, *d)),
                        Outcome::Known(other) => {
                            return Outcome::Failed(format!("`{function}` needs numbers, not {other}"));
                        }
                        _ => {}
                    }
                }
                numeric_function(function, &numbers)
            }
        }
    }

    /// `gap(metric, by=column)` and `ratio(metric, by=column)` over the column's groups.
    fn grouped(&self, function: &str, args: &[Arg]) -> Outcome {
        let Some((key, _)) = self.metric_key(args) else {
            return Outcome::Failed(format!("`{function}` takes a metric's name"));
        };
        let Some(column) = args
            .iter()
            .find(|a| a.name.as_deref() == Some("by"))
            .and_then(|a| column_name(&a.value))
        else {
            return Outcome::Failed(format!("`{function}` needs by=column"));
        };
        let (dim, scale) = metric_unit(&key);
        let mut values = Vec::new();
        let mut missing = Vec::new();
        for group in self.current.groups(&column) {
            match group.metrics.get(&key) {
                Some(v) => values.push(v * scale),
                None => missing.push(format!("metric `{key}` was not recorded for the group {}", group.name)),
            }
        }
        if !missing.is_empty() {
            return Outcome::Unknown(missing);
        }
        if values.len() < 2 {
            return Outcome::Unknown(vec![format!(
                "`{function}` needs `{key}` for at least two groups of `{column}`; {} recorded",
                values.len()
            )]);
        }
        let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
        if function == "gap" {
            known_num(hi - lo, dim)
        } else if hi == 0.0 {
            Outcome::Failed(format!("division by zero: the largest `{key}` across `{column}` is 0"))
        } else {
            known_num(lo / hi, Dim::None)
        }
    }

    /// The metric an argument names, as (key, slice).
    fn metric_key(&self, args: &[Arg]) -> Option<(String, Vec<SliceKey>)> {
        let arg = args.iter().find(|a| a.name.is_none())?;
        let Node::Field { path, slice } = &arg.value.node else {
            return None;
        };
        match resolve(path, slice, Context::Criterion).ok()? {
            Reference::Metric {
                source: Source::Current,
                key,
                slice,
            } => Some((key, slice)),
            _ => None,
        }
    }

    /// `delta(metric)` and `rel_delta(metric)`.
    fn against_baseline(&mut self, function: &str, args: &[Arg]) -> Outcome {
        let Some((key, slice)) = self.metric_key(args) else {
            return Outcome::Failed(format!("`{function}` takes a metric's name"));
        };
        let now = self.metric(Source::Current, &key, &slice);
        let before = self.metric(Source::Baseline, &key, &slice);
        let name = field_text(std::slice::from_ref(&key), &slice);
        self.record_observation(format!("baseline.{name}"), &before);
        let (Outcome::Known(Value::Num(a, dim)), Outcome::Known(Value::Num(b, _))) = (&now, &before) else {
            return undetermined(&[&now, &before]).unwrap_or(Outcome::Failed("internal: undetermined".into()));
        };
        if function == "delta" {
            known_num(a - b, *dim)
        } else if *b == 0.0 {
            Outcome::Failed(format!("division by zero: the baseline's `{name}` is 0"))
        } else {
            known_num((a - b) / b.abs(), Dim::None)
        }
    }
}

fn numeric_function(function: &str, numbers: &[(f64, Dim)]) -> Outcome {
    let Some(&(_, dim)) = numbers.first() else {
        return Outcome::Failed(format!("`{function}` needs at least one argument"));
    };
    let values = numbers.iter().map(|(v, _)| *v);
    match function {
        "abs" => known_num(numbers[0].0.abs(), dim),
        "min" => known_num(values.fold(f64::INFINITY, f64::min), dim),
        "max" => known_num(values.fold(f64::NEG_INFINITY, f64::max), dim),
        "mean" => known_num(values.sum::<f64>() / numbers.len() as f64, dim),
        other => Outcome::Failed(format!("unknown function `{other}`")),
    }
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Outcome {
    if op.is_comparison() {
        return match compare(a, b) {
            Some(ordering) => Outcome::Known(Value::Bool(holds(op, ordering))),
            None if matches!((a, b), (Value::Num(..), Value::Num(..))) => Outcome::Known(Value::Bool(false)),
            None => Outcome::Failed(format!("cannot compare {a} with {b}")),
        };
    }
    let (Value::Num(x, dx), Value::Num(y, dy)) = (a, b) else {
        return Outcome::Failed(format!("`{}` needs numbers, not {a} and {b}", op.symbol()));
    };
    match op {
        BinOp::Add => known_num(x + y, *dx),
        BinOp::Sub => known_num(x - y, *dx),
        BinOp::Mul => known_num(x * y, if *dx == Dim::None { *dy } else { *dx }),
        _ if *y == 0.0 => Outcome::Failed(format!("division by zero: {a} / {b}")),
        _ => known_num(x / y, if dx == dy { Dim::None } else { *dx }),
    }
}

/// How two values order; `None` when they do not (NaN, or values of different types). An
/// unordered pair satisfies no comparison, not even `!=`.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Num(x, _), Value::Num(y, _)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn holds(op: BinOp, ordering: Ordering) -> bool {
    match op {
        BinOp::Eq => ordering == Ordering::Equal,
        BinOp::Ne => ordering != Ordering::Equal,
        BinOp::Lt => ordering == Ordering::Less,
        BinOp::Le => ordering != Ordering::Greater,
        BinOp::Gt => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    }
}
