//! The syntax tree, and its compact s-expression form (used in tests and `--explain` output).

use std::fmt;

use serde::Serialize;

use super::diagnostic::Span;
use super::units::{Dim, quantity_text};

/// An expression with its span.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    /// The text it was parsed from.
    pub span: Span,
    /// What it is.
    pub node: Node,
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `=` / `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "=",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    /// Whether it compares.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }

    /// The comparison that holds exactly when this one does not (for values that compare).
    pub fn negated(self) -> BinOp {
        match self {
            BinOp::Eq => BinOp::Ne,
            BinOp::Ne => BinOp::Eq,
            BinOp::Lt => BinOp::Ge,
            BinOp::Le => BinOp::Gt,
            BinOp::Gt => BinOp::Le,
            BinOp::Ge => BinOp::Lt,
            BinOp::Or => BinOp::And,
            BinOp::And => BinOp::Or,
            other => other,
        }
    }

    /// The comparison with its operands swapped: `a < b` is `b > a`.
    pub fn flipped(self) -> BinOp {
        match self {
            BinOp::Lt => BinOp::Gt,
            BinOp::Le => BinOp::Ge,
            BinOp::Gt => BinOp::Lt,
            BinOp::Ge => BinOp::Le,
            other => other,
        }
    }
}

/// One `column=value` pair of a slice selector.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SliceKey {
    /// The column, e.g. `gender`.
    pub column: String,
    /// The value, as text (numbers as written).
    pub value: String,
}

/// A function argument, positional or named (`by=gender`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    /// The name, for a named argument.
    pub name: Option<String>,
    /// The value.
    pub value: Expr,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "node", rename_all = "camelCase")]
pub enum Node {
    /// A number, converted to its dimension's base unit.
    Number {
        /// The value.
        value: f64,
        /// What it measures.
        dim: Dim,
    },
    /// A string.
    String {
        /// The text.
        value: String,
    },
    /// `true` or `false`.
    Bool {
        /// The value.
        value: bool,
    },
    /// A dotted name, optionally selecting a slice: `metrics.recall[gender="F"]`.
    Field {
        /// The dotted parts.
        path: Vec<String>,
        /// The slice selector; empty for the whole dataset.
        slice: Vec<SliceKey>,
    },
    /// `not x`
    Not {
        /// The operand.
        operand: Box<Expr>,
    },
    /// `-x`
    Neg {
        /// The operand.
        operand: Box<Expr>,
    },
    /// `a op b`
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `f(args)`
    Call {
        /// The function's name.
        function: String,
        /// Its arguments.
        args: Vec<Arg>,
    },
    /// Something that did not parse (a diagnostic says why).
    Invalid,
}

impl Expr {
    /// The children, in order.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.node {
            Node::Not { operand } | Node::Neg { operand } => vec![operand],
            Node::Binary { left, right, .. } => vec![left, right],
            Node::Call { args, .. } => args.iter().map(|a| &a.value).collect(),
            _ => Vec::new(),
        }
    }

    /// The deepest nesting of the tree, counted without recursion.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1)];
        while let Some((expr, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            stack.extend(expr.children().into_iter().map(|c| (c, depth + 1)));
        }
        deepest
    }
}

/// Writes a field path as the language does: `metrics.recall[gender="F"]`.
pub fn field_text(path: &[String], slice: &[SliceKey]) -> String {
    let mut out = path
        .iter()
        .map(|p| if is_plain_name(p) { p.clone() } else { format!("`{p}`") })
        .collect::<Vec<_>>()
        .join(".");
    if !slice.is_empty() {
        let keys: Vec<String> = slice.iter().map(|k| format!("{}={}", k.column, k.value)).collect();
        out.push_str(&format!("[{}]", keys.join(",")));
    }
    out
}

fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !matches!(name, "and" | "or" | "not" | "true" | "false")
}

impl fmt::Display for Expr {
    /// The s-expression form: `(and (>= accuracy 0.9) (< (gap recall by=gender) 0.05))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Node::Number { value, dim } => match dim {
                Dim::None => write!(f, "{value}"),
                Dim::Duration => write!(f, "{value}s"),
                Dim::Size => write!(f, "{value}B"),
            },
            Node::String { value } => write!(f, "{value:?}"),
            Node::Bool { value } => write!(f, "{value}"),
            Node::Field { path, slice } => f.write_str(&field_text(path, slice)),
            Node::Not { operand } => write!(f, "(not {operand})"),
            Node::Neg { operand } => write!(f, "(- {operand})"),
            Node::Binary { op, left, right } => write!(f, "({} {left} {right})", op.symbol()),
            Node::Call { function, args } => {
                write!(f, "({function}")?;
                for arg in args {
                    match &arg.name {
                        Some(name) => write!(f, " {name}={}", arg.value)?,
                        None => write!(f, " {}", arg.value)?,
                    }
                }
                f.write_str(")")
            }
            Node::Invalid => f.write_str("<invalid>"),
        }
    }
}

/// The expression in infix form, fully parenthesized below the top.
pub fn infix(expr: &Expr) -> String {
    match &expr.node {
        Node::Binary { op, left, right } => format!("{} {} {}", operand(left), op.symbol(), operand(right)),
        Node::Not { operand: o } => format!("not {}", operand(o)),
        Node::Neg { operand: o } => format!("-{}", operand(o)),
        Node::Call { function, args } => format!("{function}({})", args_text(args)),
        Node::Field { path, slice } => field_text(path, slice),
        Node::Number { value, dim } => quantity_text(*value, *dim),
        Node::String { .. } | Node::Bool { .. } | Node::Invalid => expr.to_string(),
    }
}

fn operand(expr: &Expr) -> String {
    match &expr.node {
        Node::Binary { .. } | Node::Not { .. } => format!("({})", infix(expr)),
        _ => infix(expr),
    }
}

/// A call's arguments in infix form: `recall, by=gender`.
pub fn args_text(args: &[Arg]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match &a.name {
            Some(name) => format!("{name}={}", infix(&a.value)),
            None => infix(&a.value),
        })
        .collect();
    parts.join(", ")
}

/// The column a `by=` argument names.
pub fn column_name(expr: &Expr) -> Option<String> {
    match &expr.node {
        Node::Field { path, slice } if path.len() == 1 && slice.is_empty() => path.first().cloned(),
        Node::String { value } => Some(value.clone()),
        _ => None,
    }
}
