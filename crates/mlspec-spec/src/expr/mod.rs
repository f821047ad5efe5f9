//! # The objectives expression language
//!
//! Launch criteria are written as small typed expressions over what an evaluation recorded,
//! and the same language filters the store (`mlspec list runs --where …`):
//!
//! ```text
//! accuracy >= 0.9 and gap(recall, by=gender) < 5%
//! recall[gender="F"] >= baseline.recall[gender="F"] - 0.01
//! p99_latency_ms < 50ms or rel_delta(auc) > -1%
//! ```
//!
//! - **Values**: numbers with optional units — durations (`50ms`, `2min`), sizes (`16GiB`),
//!   percentages (`5%` is 0.05) — strings, `true`/`false`. A metric takes a unit from its key's
//!   suffix (`_seconds`, `_ms`, `_us`, `_ns`, `_bytes`), so `latency_ms < 50ms` compares
//!   milliseconds with milliseconds and `accuracy < 50ms` is a type error ([`units`]).
//! - **Names** ([`resolve`]): a bare name or `metrics.x` is a metric; `params.x`, `labels.x`;
//!   `baseline.…` reads the baseline model's results; `metric[column="value", …]` one slice.
//!   Keys that are not plain names are backquoted: `` `val/loss` ``.
//! - **Operators**, loosest first: `or`; `and`; `not`; comparisons (`= == != < <= > >=`, not
//!   chained); `+ -`; `* /`; unary `-`.
//! - **Functions** ([`check::FUNCTIONS`]): `abs`, `min`, `max`, `mean`, `gap(m, by=col)`,
//!   `ratio(m, by=col)`, `delta(m)`, `rel_delta(m)`.
//!
//! Text goes through three passes, each reporting every problem it finds with a span
//! ([`diagnostic`], rendered with a caret like rustc): [`parse`] (syntax, with recovery; at most
//! [`MAX_DEPTH`] levels of nesting), [`check`] (types, units, arity, and — when the documents
//! are at hand — names that were not recorded, with "did you mean"), and [`eval`], whose
//! semantics cannot lie: a missing value makes a criterion *unknown*, which is not met. Store
//! queries are lowered by [`query`] into a filter the store compiles to parameterized SQL.
//! The grammar, in EBNF, is in `docs/spec/expressions.md`.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod eval;
pub mod lexer;
pub mod parse;
pub mod query;
pub mod record;
pub mod resolve;
pub mod units;

pub use ast::Expr;
pub use check::Scope;
pub use diagnostic::{ExprDiagnostic, Level, Span};
pub use eval::{Status, Verdict, evaluate};
pub use record::Record;
pub use resolve::Context;

/// The deepest nesting an expression may have (parentheses, operators and calls all count).
pub const MAX_DEPTH: usize = 128;

/// Parses and checks a criterion in `scope`. The tree comes back when there is no error
/// (warnings may remain, in the list).
pub fn compile(text: &str, scope: &Scope<'_>) -> (Option<Expr>, Vec<ExprDiagnostic>) {
    let (expr, mut diagnostics) = parse::parse(text);
    if diagnostics.is_empty() {
        diagnostics = check::check(&expr, scope);
    } else {
        diagnostics.extend(
            check::check(&expr, &Scope::detached(scope.context))
                .into_iter()
                .filter(|d| !matches!(d.level, Level::Warning)),
        );
    }
    let ok = !diagnostic::has_errors(&diagnostics);
    (ok.then_some(expr), diagnostics)
}
