//! The type checker: numbers (with their dimension), strings and booleans must meet where they
//! make sense; functions get the arguments they need; names are checked against the values a
//! document actually recorded, with "did you mean" hints. Every problem is reported in one pass.

use super::ast::{Arg, BinOp, Expr, Node, column_name, field_text, infix};
use super::diagnostic::{ExprDiagnostic, Span};
use super::record::{Record, Scalar};
use super::resolve::{Context, Reference, Source, resolve};
use super::units::{Dim, metric_unit};

/// The type of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// A number of a dimension.
    Num(Dim),
    /// Text.
    Str,
    /// True or false.
    Bool,
    /// Not known until evaluation (a parameter not in the document), or already reported.
    Any,
}

impl Ty {
    fn noun(self) -> &'static str {
        match self {
            Ty::Num(dim) => dim.noun(),
            Ty::Str => "a string",
            Ty::Bool => "true or false",
            Ty::Any => "a value",
        }
    }
}

/// The functions, their arity and what they compute.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("abs", "abs(x): the absolute value"),
    ("min", "min(x, …): the smallest argument"),
    ("max", "max(x, …): the largest argument"),
    ("mean", "mean(x, …): the arithmetic mean of the arguments"),
    (
        "gap",
        "gap(metric, by=column): the largest minus the smallest value across the column's groups",
    ),
    (
        "ratio",
        "ratio(metric, by=column): the smallest over the largest value across the column's groups",
    ),
    ("delta", "delta(metric): the metric minus the baseline's"),
    ("rel_delta", "rel_delta(metric): (metric − baseline) / |baseline|"),
];

/// What names are checked against: the documents a criterion will be evaluated on, when known.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// Criterion or store query.
    pub context: Context,
    /// The evaluated document.
    pub current: Option<&'a Record>,
    /// The baseline, when one is given.
    pub baseline: Option<&'a Record>,
    /// Whether a baseline is expected (the check was given one). With `current` set and this
    /// false, baseline references are reported.
    pub has_baseline: bool,
}

impl Scope<'_> {
    /// A scope with no documents: syntax and types only (as `mlspec validate` checks).
    pub fn detached(context: Context) -> Scope<'static> {
        Scope {
            context,
            current: None,
            baseline: None,
            has_baseline: true,
        }
    }
}

/// Checks `expr`, which must be true or false; returns the diagnostics.
pub fn check(expr: &Expr, scope: &Scope<'_>) -> Vec<ExprDiagnostic> {
    let mut checker = Checker {
        scope,
        diagnostics: Vec::new(),
    };
    let ty = checker.ty(expr);
    if !matches!(ty, Ty::Bool | Ty::Any) {
        let what = match scope.context {
            Context::Criterion => "a criterion",
            Context::Query => "a filter",
        };
        checker.diagnostics.push(
            ExprDiagnostic::error(
                expr.span,
                format!("{what} must be true or false, but this is {}", ty.noun()),
                "not a condition",
            )
            .with_help(format!("compare it, e.g. `{} >= 0.9`", infix(expr))),
        );
    }
    checker.diagnostics
}

struct Checker<'s, 'a> {
    scope: &'s Scope<'a>,
    diagnostics: Vec<ExprDiagnostic>,
}

impl Checker<'_, '_> {
    fn error(&mut self, span: Span, message: impl Into<String>, label: &str, help: Option<String>) -> Ty {
        let mut d = ExprDiagnostic::error(span, message, label);
        d.help = help;
        self.diagnostics.push(d);
        Ty::Any
    }

    fn ty(&mut self, expr: &Expr) -> Ty {
        match &expr.node {
            Node::Number { dim, .. } => Ty::Num(*dim),
            Node::String { .. } => Ty::Str,
            Node::Bool { .. } => Ty::Bool,
            Node::Invalid => Ty::Any,
            Node::Field { path, slice } => self.field(expr.span, path, slice),
            Node::Not { operand } => {
                let ty = self.ty(operand);
                self.expect_bool(operand, ty, "not");
                Ty::Bool
            }
            Node::Neg { operand } => match self.ty(operand) {
                ty @ (Ty::Num(_) | Ty::Any) => ty,
                other => self.error(
                    operand.span,
                    format!("cannot negate {}", other.noun()),
                    "not a number",
                    None,
                ),
            },
            Node::Binary { op, left, right } => {
                let (l, r) = (self.ty(left), self.ty(right));
                self.binary(*op, expr, left, right, l, r)
            }
            Node::Call { function, args } => self.call(expr.span, function, args),
        }
    }

    fn expect_bool(&mut self, operand: &Expr, ty: Ty, op: &str) {
        if !matches!(ty, Ty::Bool | Ty::Any) {
            self.error(
                operand.span,
                format!("`{op}` needs true or false, but this is {}", ty.noun()),
                "not a condition",
                Some(format!("compare it, e.g. `{} >= 0.9`", infix(operand))),
            );
        }
    }

    fn binary(&mut self, op: BinOp, expr: &Expr, left: &Expr, right: &Expr, l: Ty, r: Ty) -> Ty {
        if self.scope.context == Context::Query && !matches!(op, BinOp::And | BinOp::Or) && !op.is_comparison() {
            return self.error(
                expr.span,
                "store queries compare fields with values; arithmetic is not available",
                "arithmetic",
                Some("write e.g. `metrics.accuracy > 0.9`".into()),
            );
        }
        match op {
            BinOp::And | BinOp::Or => {
                self.expect_bool(left, l, op.symbol());
                self.expect_bool(right, r, op.symbol());
                Ty::Bool
            }
            op if op.is_comparison() => {
                self.comparison(op, expr, l, r, is_zero(left) || is_zero(right));
                Ty::Bool
            }
            BinOp::Add | BinOp::Sub => match (l, r) {
                (Ty::Num(a), Ty::Num(b)) if a == b => Ty::Num(a),
                (Ty::Num(a), Ty::Num(b)) => self.units_mix(expr.span, op, a, b),
                (Ty::Any, Ty::Num(d)) | (Ty::Num(d), Ty::Any) => Ty::Num(d),
                _ => self.not_numbers(expr, op, l, r),
            },
            BinOp::Mul => match (l, r) {
                (Ty::Num(Dim::None), Ty::Num(d)) | (Ty::Num(d), Ty::Num(Dim::None)) => Ty::Num(d),
                (Ty::Num(a), Ty::Num(b)) => self.units_mix(expr.span, op, a, b),
                (Ty::Any, Ty::Num(_)) | (Ty::Num(_), Ty::Any) => Ty::Any,
                _ => self.not_numbers(expr, op, l, r),
            },
            _ => match (l, r) {
                (Ty::Num(a), Ty::Num(b)) if a == b => Ty::Num(Dim::None),
                (Ty::Num(d), Ty::Num(Dim::None)) => Ty::Num(d),
                (Ty::Num(a), Ty::Num(b)) => self.units_mix(expr.span, op, a, b),
                (Ty::Any, Ty::Num(_)) | (Ty::Num(_), Ty::Any) => Ty::Any,
                _ => self.not_numbers(expr, op, l, r),
            },
        }
    }

    /// Checks that `l` and `r` compare; zero (`with_zero`) is zero in every unit, so
    /// `latency_ms > 0` needs none.
    fn comparison(&mut self, op: BinOp, expr: &Expr, l: Ty, r: Ty, with_zero: bool) {
        match (l, r) {
            (Ty::Any, _) | (_, Ty::Any) | (Ty::Str, Ty::Str) => {}
            (Ty::Bool, Ty::Bool) if matches!(op, BinOp::Eq | BinOp::Ne) => {}
            (Ty::Bool, Ty::Bool) => {
                self.error(
                    expr.span,
                    "true and false have no order",
                    "ordered comparison of conditions",
                    Some("use `=` or `!=`".into()),
                );
            }
            (Ty::Num(a), Ty::Num(b)) if a == b || with_zero => {}
            (Ty::Num(a), Ty::Num(b)) => {
                self.units_mix(expr.span, op, a, b);
            }
            _ => {
                self.error(
                    expr.span,
                    format!("cannot compare {} with {}", l.noun(), r.noun()),
                    "mismatched types",
                    Some("compare values of one type; quote text as \"…\"".into()),
                );
            }
        }
    }

    fn units_mix(&mut self, span: Span, op: BinOp, a: Dim, b: Dim) -> Ty {
        self.error(
            span,
            format!("units do not mix: `{}` between {} and {}", op.symbol(), a.noun(), b.noun()),
            "incompatible units",
            Some("give both sides the same unit; a metric takes its unit from its key's suffix (_seconds, _ms, _us, _ns, _bytes)".into()),
        )
    }

    fn not_numbers(&mut self, expr: &Expr, op: BinOp, l: Ty, r: Ty) -> Ty {
        let bad = if matches!(l, Ty::Num(_) | Ty::Any) { r } else { l };
        self.error(
            expr.span,
            format!("`{}` needs numbers, not {}", op.symbol(), bad.noun()),
            "not a number",
            None,
        )
    }

    fn field(&mut self, span: Span, path: &[String], slice: &[super::ast::SliceKey]) -> Ty {
        let reference = match resolve(path, slice, self.scope.context) {
            Ok(r) => r,
            Err(message) => return self.error(span, message, "cannot be resolved", None),
        };
        self.check_recorded(span, &reference);
        match reference {
            Reference::Metric { key, .. } => Ty::Num(metric_unit(&key).0),
            Reference::Label { .. } | Reference::Name => Ty::Str,
            Reference::Param { source, key } => match self.record(source).and_then(|r| r.params.get(&key)) {
                Some(Scalar::Num(_)) => Ty::Num(Dim::None),
                Some(Scalar::Str(_)) => Ty::Str,
                None => Ty::Any,
            },
            Reference::Spec { .. } => Ty::Any,
        }
    }

    fn record(&self, source: Source) -> Option<&Record> {
        match source {
            Source::Current => self.scope.current,
            Source::Baseline => self.scope.baseline,
        }
    }

    /// Warns when the documents at hand do not record what `reference` names.
    fn check_recorded(&mut self, span: Span, reference: &Reference) {
        let Some(current) = self.scope.current else { return };
        let source = match reference {
            Reference::Metric { source, .. } | Reference::Param { source, .. } | Reference::Label { source, .. } => {
                *source
            }
            _ => return,
        };
        if source == Source::Baseline && !self.scope.has_baseline {
            self.diagnostics.push(no_baseline(span));
            return;
        }
        let Some(record) = (match source {
            Source::Current => Some(current),
            Source::Baseline => self.scope.baseline,
        }) else {
            return;
        };
        if let Some(d) = unrecorded(span, reference, record) {
            self.diagnostics.push(d);
        }
    }

    fn call(&mut self, span: Span, function: &str, args: &[Arg]) -> Ty {
        if self.scope.context == Context::Query {
            return self.error(
                span,
                "store queries have no functions",
                "function call",
                Some("compare fields with values, e.g. `metrics.accuracy > 0.9`".into()),
            );
        }
        let Some((_, usage)) = FUNCTIONS.iter().find(|(name, _)| *name == function) else {
            for arg in args {
                self.ty(&arg.value);
            }
            let names = FUNCTIONS.iter().map(|(n, _)| *n);
            let help = match crate::suggest::closest(function, names) {
                Some(name) => format!("did you mean `{name}`?"),
                None => format!(
                    "functions: {}",
                    FUNCTIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            };
            return self.error(
                span,
                format!("unknown function `{function}`"),
                "not a function",
                Some(help),
            );
        };
        match function {
            "abs" => self.numeric_args(span, function, usage, args, Some(1)),
            "min" | "max" | "mean" => self.numeric_args(span, function, usage, args, None),
            "gap" | "ratio" => {
                let dim = self.grouped_args(span, function, usage, args);
                if function == "ratio" { Ty::Num(Dim::None) } else { dim }
            }
            _ => {
                let dim = self.baseline_args(span, function, usage, args);
                if function == "rel_delta" {
                    Ty::Num(Dim::None)
                } else {
                    dim
                }
            }
        }
    }

    fn arity(&mut self, span: Span, function: &str, usage: &str, found: usize, wanted: &str) -> Ty {
        self.error(
            span,
            format!(
                "`{function}` takes {wanted}, but {found} {} given",
                if found == 1 { "was" } else { "were" }
            ),
            "wrong number of arguments",
            Some(format!("usage: {usage}")),
        )
    }

    fn numeric_args(&mut self, span: Span, function: &str, usage: &str, args: &[Arg], exactly: Option<usize>) -> Ty {
        let mut dims = Vec::new();
        for arg in args {
            if let Some(name) = &arg.name {
                self.error(
                    arg.value.span,
                    format!("`{function}` has no argument `{name}`"),
                    "unexpected named argument",
                    Some(format!("usage: {usage}")),
                );
            }
            match self.ty(&arg.value) {
                Ty::Num(d) => dims.push((d, arg.value.span)),
                Ty::Any => {}
                other => {
                    self.error(
                        arg.value.span,
                        format!("`{function}` needs numbers, not {}", other.noun()),
                        "not a number",
                        None,
                    );
                }
            }
        }
        match exactly {
            Some(1) if args.len() != 1 => return self.arity(span, function, usage, args.len(), "one argument"),
            None if args.is_empty() => return self.arity(span, function, usage, 0, "at least one argument"),
            _ => {}
        }
        let Some(&(first, _)) = dims.first() else {
            return Ty::Any;
        };
        if let Some(&(other, at)) = dims.iter().find(|(d, _)| *d != first) {
            return self.error(
                at,
                format!(
                    "units do not mix: `{function}` of {} and {}",
                    first.noun(),
                    other.noun()
                ),
                "incompatible units",
                None,
            );
        }
        Ty::Num(first)
    }

    /// `gap(metric, by=column)` / `ratio(…)`: returns the metric's dimension.
    fn grouped_args(&mut self, span: Span, function: &str, usage: &str, args: &[Arg]) -> Ty {
        let positional: Vec<&Arg> = args.iter().filter(|a| a.name.is_none()).collect();
        let by: Vec<&Arg> = args.iter().filter(|a| a.name.as_deref() == Some("by")).collect();
        for arg in args.iter().filter(|a| a.name.as_deref().is_some_and(|n| n != "by")) {
            self.error(
                arg.value.span,
                format!(
                    "`{function}` has no argument `{}`",
                    arg.name.as_deref().unwrap_or_default()
                ),
                "unexpected named argument",
                Some(format!("usage: {usage}")),
            );
        }
        if positional.len() != 1 || by.len() != 1 {
            return self.arity(span, function, usage, args.len(), "a metric and `by=column`");
        }
        if column_name(&by[0].value).is_none() {
            self.error(
                by[0].value.span,
                "`by` names a slice column",
                "not a column name",
                Some(format!("usage: {usage}")),
            );
        } else if let (Some(column), Some(record)) = (column_name(&by[0].value), self.scope.current)
            && record.groups(&column).next().is_none()
        {
            let hint = crate::suggest::closest(&column, record.slice_columns())
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| "record per-group slices (e.g. `mlspec eval --slice COLUMN`)".into());
            self.diagnostics.push(
                ExprDiagnostic::warning(
                    by[0].value.span,
                    format!("{} has no slices by `{column}` alone", record.label),
                    "no groups",
                )
                .with_help(hint),
            );
        }
        self.metric_arg(positional[0], function, usage, false)
    }

    /// `delta(metric)` / `rel_delta(metric)`: returns the metric's dimension.
    fn baseline_args(&mut self, span: Span, function: &str, usage: &str, args: &[Arg]) -> Ty {
        if args.len() != 1 || args[0].name.is_some() {
            return self.arity(span, function, usage, args.len(), "one metric");
        }
        if self.scope.current.is_some() && !self.scope.has_baseline {
            self.diagnostics.push(no_baseline(span));
        }
        self.metric_arg(&args[0], function, usage, true)
    }

    /// An argument that must name a metric of the evaluated document.
    fn metric_arg(&mut self, arg: &Arg, function: &str, usage: &str, slice_allowed: bool) -> Ty {
        let Node::Field { path, slice } = &arg.value.node else {
            return self.error(
                arg.value.span,
                format!("`{function}` takes a metric's name"),
                "not a metric",
                Some(format!("usage: {usage}")),
            );
        };
        match resolve(path, slice, self.scope.context) {
            Ok(Reference::Metric {
                source: Source::Current,
                key,
                slice,
            }) => {
                if !slice.is_empty() && !slice_allowed {
                    return self.error(
                        arg.value.span,
                        format!("`{function}` reads the metric across groups; drop the slice selector"),
                        "slice selector",
                        Some(format!("usage: {usage}")),
                    );
                }
                if let Some(record) = self.scope.current
                    && !record.metric_keys().any(|k| k == key)
                {
                    self.diagnostics.push(unknown_metric(arg.value.span, &key, record));
                }
                Ty::Num(metric_unit(&key).0)
            }
            Ok(_) => self.error(
                arg.value.span,
                format!("`{function}` takes a metric of the evaluated model"),
                "not a metric",
                Some(format!("usage: {usage}")),
            ),
            Err(message) => self.error(arg.value.span, message, "cannot be resolved", None),
        }
    }
}

fn no_baseline(span: Span) -> ExprDiagnostic {
    ExprDiagnostic::warning(
        span,
        "no baseline was given, so this criterion cannot be met",
        "needs a baseline",
    )
    .with_help("pass --baseline FILE|REF")
}

/// Whether `expr` is the plain number 0.
fn is_zero(expr: &Expr) -> bool {
    matches!(expr.node, Node::Number { value, dim: Dim::None } if value == 0.0)
}

fn unknown_metric(span: Span, key: &str, record: &Record) -> ExprDiagnostic {
    let hint = crate::suggest::closest(key, record.metric_keys())
        .map(|k| format!("did you mean `{k}`?"))
        .unwrap_or_else(|| {
            let mut keys: Vec<&str> = record.metrics.keys().map(String::as_str).collect();
            keys.truncate(12);
            format!(
                "recorded: {}",
                if keys.is_empty() {
                    "none".into()
                } else {
                    keys.join(", ")
                }
            )
        });
    ExprDiagnostic::warning(
        span,
        format!("metric `{key}` was not recorded in {}", record.label),
        "not recorded",
    )
    .with_help(hint)
}

fn unrecorded(span: Span, reference: &Reference, record: &Record) -> Option<ExprDiagnostic> {
    match reference {
        Reference::Metric { key, slice, .. } if slice.is_empty() => {
            (!record.metrics.contains_key(key)).then(|| unknown_metric(span, key, record))
        }
        Reference::Metric { key, slice, .. } => match record.slice(slice) {
            None => {
                let names: Vec<&str> = record.slices.iter().map(|s| s.name.as_str()).collect();
                let wanted = field_text(&[], slice);
                let hint = crate::suggest::closest(wanted.trim_matches(['[', ']']), names.iter().copied())
                    .map(|n| format!("did you mean the slice `{n}`?"))
                    .unwrap_or_else(|| format!("{} slices are recorded", names.len()));
                Some(
                    ExprDiagnostic::warning(span, format!("{} has no slice {wanted}", record.label), "no such slice")
                        .with_help(hint),
                )
            }
            Some(s) if !s.metrics.contains_key(key) => Some(unknown_metric(span, key, record)),
            Some(_) => None,
        },
        Reference::Param { key, .. } if !record.params.contains_key(key) => {
            let hint = crate::suggest::closest(key, record.params.keys().map(String::as_str))
                .map(|k| format!("did you mean `params.{k}`?"));
            let d = ExprDiagnostic::warning(
                span,
                format!("parameter `{key}` was not recorded in {}", record.label),
                "not recorded",
            );
            Some(match hint {
                Some(h) => d.with_help(h),
                None => d,
            })
        }
        Reference::Label { key, .. } if !record.labels.contains_key(key) => {
            let hint = crate::suggest::closest(key, record.labels.keys().map(String::as_str))
                .map(|k| format!("did you mean `labels.{k}`?"));
            let d = ExprDiagnostic::warning(span, format!("label `{key}` is not set on {}", record.label), "not set");
            Some(match hint {
                Some(h) => d.with_help(h),
                None => d,
            })
        }
        _ => None,
    }
}
