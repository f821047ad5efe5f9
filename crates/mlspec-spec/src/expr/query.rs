//! Store queries: a `--where` expression, checked like a criterion and lowered to a [`Filter`]
//! — comparisons of one field with one literal, joined by all/any — that the store compiles to
//! parameterized SQL. Negations are pushed down to the comparisons (`not (a > 1)` becomes
//! `a <= 1`), which keeps Kleene's semantics for absent fields — an object without the field
//! matches neither `a > 1` nor `not (a > 1)` — and lets every comparison use an index.

use super::ast::{BinOp, Expr, Node};
use super::diagnostic::ExprDiagnostic;
use super::resolve::{Context, Reference, resolve};
use super::units::metric_unit;
use super::{Scope, compile};

/// A field a query may compare or sort by.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// `metrics.KEY` (the value of the latest step).
    Metric(String),
    /// `params.KEY`.
    Param(String),
    /// `labels.KEY`.
    Label(String),
    /// `spec.KEY`, a top-level scalar of the document's spec.
    Spec(String),
    /// The object's name.
    Name,
}

impl Field {
    /// The key the store indexes the field under (`metrics.accuracy`), or `None` for the name.
    pub fn index_key(&self) -> Option<String> {
        match self {
            Field::Metric(k) => Some(format!("metrics.{k}")),
            Field::Param(k) => Some(format!("params.{k}")),
            Field::Label(k) => Some(format!("labels.{k}")),
            Field::Spec(k) => Some(format!("spec.{k}")),
            Field::Name => None,
        }
    }
}

/// A literal compared with a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A number, in the field's recorded unit.
    Num(f64),
    /// Text.
    Text(String),
    /// True or false.
    Bool(bool),
}

/// A lowered filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Every part holds.
    All(Vec<Filter>),
    /// Some part holds.
    Any(Vec<Filter>),
    /// The field exists and compares so with the literal.
    Compare {
        /// The field.
        field: Field,
        /// A comparison operator.
        op: BinOp,
        /// The value.
        value: Literal,
    },
}

/// Parses, checks and lowers a `--where` expression.
pub fn parse_filter(text: &str) -> Result<Filter, Vec<ExprDiagnostic>> {
    let (expr, diagnostics) = compile(text, &Scope::detached(Context::Query));
    let Some(expr) = expr else { return Err(diagnostics) };
    let mut errors = Vec::new();
    let filter = lower(&expr, false, &mut errors);
    if errors.is_empty() { Ok(filter) } else { Err(errors) }
}

fn lower(expr: &Expr, negate: bool, errors: &mut Vec<ExprDiagnostic>) -> Filter {
    match &expr.node {
        Node::Not { operand } => lower(operand, !negate, errors),
        Node::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            left,
            right,
        } => {
            let parts = vec![lower(left, negate, errors), lower(right, negate, errors)];
            if (*op == BinOp::And) != negate {
                Filter::All(flatten(parts, true))
            } else {
                Filter::Any(flatten(parts, false))
            }
        }
        Node::Binary { op, left, right } if op.is_comparison() => {
            let (field, literal, op) = match (field_of(left), literal_of(right)) {
                (Some(f), Some(l)) => (f, l, *op),
                _ => match (field_of(right), literal_of(left)) {
                    (Some(f), Some(l)) => (f, l, op.flipped()),
                    _ => {
                        errors.push(
                            ExprDiagnostic::error(
                                expr.span,
                                "a store query compares one field with one value",
                                "not field-versus-value",
                            )
                            .with_help("write e.g. `metrics.accuracy > 0.9` or `labels.team = \"risk\"`"),
                        );
                        return Filter::All(Vec::new());
                    }
                },
            };
            let value = match (&field, literal) {
                (Field::Metric(key), Literal::Num(v)) => Literal::Num(v / metric_unit(key).1),
                (_, literal) => literal,
            };
            let op = if negate { op.negated() } else { op };
            Filter::Compare { field, op, value }
        }
        _ => {
            errors.push(
                ExprDiagnostic::error(
                    expr.span,
                    "a store query is made of comparisons joined by and/or/not",
                    "not a comparison",
                )
                .with_help("write e.g. `metrics.accuracy > 0.9`"),
            );
            Filter::All(Vec::new())
        }
    }
}

/// Merges nested alls (or anys) into one list.
fn flatten(parts: Vec<Filter>, all: bool) -> Vec<Filter> {
    parts
        .into_iter()
        .flat_map(|p| match p {
            Filter::All(inner) if all => inner,
            Filter::Any(inner) if !all => inner,
            other => vec![other],
        })
        .collect()
}

fn field_of(expr: &Expr) -> Option<Field> {
    let Node::Field { path, slice } = &expr.node else {
        return None;
    };
    Some(match resolve(path, slice, Context::Query).ok()? {
        Reference::Metric { key, .. } => Field::Metric(key),
        Reference::Param { key, .. } => Field::Param(key),
        Reference::Label { key, .. } => Field::Label(key),
        Reference::Spec { key } => Field::Spec(key),
        Reference::Name => Field::Name,
    })
}

fn literal_of(expr: &Expr) -> Option<Literal> {
    match &expr.node {
        Node::Number { value, .. } => Some(Literal::Num(*value)),
        Node::Neg { operand } => match literal_of(operand)? {
            Literal::Num(v) => Some(Literal::Num(-v)),
            _ => None,
        },
        Node::String { value } => Some(Literal::Text(value.clone())),
        Node::Bool { value } => Some(Literal::Bool(*value)),
        _ => None,
    }
}

/// What `--order-by` sorts by.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderKey {
    /// A field; objects without it sort last.
    Field(Field),
    /// Creation time.
    Created,
    /// Time of the latest change.
    Updated,
}

/// `--order-by FIELD [asc|desc]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderBy {
    /// The key.
    pub key: OrderKey,
    /// Largest first.
    pub descending: bool,
}

/// Parses `--order-by`: `metrics.accuracy desc`, `name`, `created`, `updated asc`.
pub fn parse_order(text: &str) -> Result<OrderBy, String> {
    let mut words = text.split_whitespace();
    let field = words
        .next()
        .ok_or("--order-by needs a field, e.g. `metrics.accuracy desc`")?;
    let descending = match words.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(format!("`{other}` is not a direction; write asc or desc")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected `{extra}` after the direction"));
    }
    let key = match field {
        "created" => OrderKey::Created,
        "updated" => OrderKey::Updated,
        text => {
            let (expr, diagnostics) = super::parse::parse(text);
            match field_of(&expr) {
                Some(field) if diagnostics.is_empty() => OrderKey::Field(field),
                _ => {
                    return Err(format!(
                        "`{text}` is not a field to sort by; use name, created, updated, metrics.KEY, params.KEY, labels.KEY or spec.KEY"
                    ));
                }
            }
        }
    };
    Ok(OrderBy { key, descending })
}
