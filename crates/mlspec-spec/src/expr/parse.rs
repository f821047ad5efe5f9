//! The parser: precedence climbing over the lexer's tokens, with error recovery — a problem
//! becomes a diagnostic and an `Invalid` node, and parsing goes on, so that one pass reports
//! every problem it can. Hand-written rather than built with a combinator library so that
//! nesting is bounded before it can exhaust the stack and each message can name the fix.

use super::MAX_DEPTH;
use super::ast::{Arg, BinOp, Expr, Node, SliceKey};
use super::diagnostic::{ExprDiagnostic, Span};
use super::lexer::{Tok, lex};

/// The longest expression text accepted, in bytes.
pub const MAX_LEN: usize = 64 * 1024;

/// Parses `text`. The tree is returned even when there are errors (with `Invalid` nodes where
/// parsing failed), so that later passes can report more.
pub fn parse(text: &str) -> (Expr, Vec<ExprDiagnostic>) {
    let whole = Span::new(0, text.len());
    let invalid = Expr {
        span: whole,
        node: Node::Invalid,
    };
    if text.len() > MAX_LEN {
        let d = ExprDiagnostic::error(
            Span::new(0, 0),
            format!("the expression is {} bytes long; the limit is {MAX_LEN}", text.len()),
            "starts here",
        )
        .with_help("split it into several criteria");
        return (invalid, vec![d]);
    }
    let (tokens, mut diagnostics) = lex(text);
    if tokens.is_empty() && diagnostics.is_empty() {
        diagnostics.push(ExprDiagnostic::error(whole, "the expression is empty", "nothing here"));
        return (invalid, diagnostics);
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        end: text.len(),
        depth: 0,
        too_deep: false,
        diagnostics,
    };
    let expr = parser.top();
    if !parser.too_deep && expr.depth() > MAX_DEPTH {
        parser.diagnostics.push(too_deep(expr.span));
    }
    (expr, parser.diagnostics)
}

fn too_deep(span: Span) -> ExprDiagnostic {
    ExprDiagnostic::error(
        span,
        format!("the expression nests deeper than {MAX_DEPTH} levels"),
        "too deep",
    )
    .with_help("split it into several criteria, or use and/or chains with fewer parentheses")
}

struct Parser {
    tokens: Vec<(Tok, Span)>,
    pos: usize,
    end: usize,
    depth: usize,
    too_deep: bool,
    diagnostics: Vec<ExprDiagnostic>,
}

/// Binding powers (left, right) of infix operators; higher binds tighter.
fn infix(tok: &Tok) -> Option<(BinOp, u8, u8)> {
    Some(match tok {
        Tok::Or => (BinOp::Or, 1, 2),
        Tok::And => (BinOp::And, 3, 4),
        Tok::Eq => (BinOp::Eq, 7, 8),
        Tok::Ne => (BinOp::Ne, 7, 8),
        Tok::Lt => (BinOp::Lt, 7, 8),
        Tok::Le => (BinOp::Le, 7, 8),
        Tok::Gt => (BinOp::Gt, 7, 8),
        Tok::Ge => (BinOp::Ge, 7, 8),
        Tok::Plus => (BinOp::Add, 9, 10),
        Tok::Minus => (BinOp::Sub, 9, 10),
        Tok::Star => (BinOp::Mul, 11, 12),
        Tok::Slash => (BinOp::Div, 11, 12),
        _ => return None,
    })
}

const NOT_POWER: u8 = 5;
const NEG_POWER: u8 = 13;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|(t, _)| t)
    }

    /// The span of the next token, or an empty span at the end of the text.
    fn here(&self) -> Span {
        self.tokens
            .get(self.pos)
            .map_or(Span::new(self.end, self.end), |(_, s)| *s)
    }

    fn bump(&mut self) -> Option<(Tok, Span)> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(token.is_some());
        token
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let found = self.peek() == Some(tok);
        self.pos += usize::from(found);
        found
    }

    fn found(&self) -> String {
        self.peek().map_or("the end".into(), Tok::describe)
    }

    fn error(&mut self, diagnostic: ExprDiagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The whole text: one expression, then nothing. Leftover tokens are reported and the
    /// rest is parsed too, for its own errors.
    fn top(&mut self) -> Expr {
        let expr = self.expr(0);
        while let Some(tok) = self.peek().cloned() {
            let span = self.here();
            let diagnostic = match &tok {
                Tok::RParen => ExprDiagnostic::error(span, "unmatched `)`", "no `(` opens this")
                    .with_help("remove it, or add the `(` it closes"),
                Tok::RBracket => ExprDiagnostic::error(span, "unmatched `]`", "no `[` opens this"),
                other => ExprDiagnostic::error(
                    span,
                    format!(
                        "expected an operator or the end of the expression, found {}",
                        other.describe()
                    ),
                    "unexpected",
                )
                .with_help("join conditions with `and` / `or`"),
            };
            self.error(diagnostic);
            if starts_operand(&tok) {
                self.expr(0);
            } else {
                self.bump();
            }
        }
        expr
    }

    /// Precedence climbing: an operand, then operators binding tighter than `min_power`.
    fn expr(&mut self, min_power: u8) -> Expr {
        if self.too_deep {
            return self.skip_rest();
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.too_deep = true;
            let span = self.here();
            self.error(too_deep(span));
            return self.skip_rest();
        }
        let mut left = self.prefix();
        while let Some((op, left_power, right_power)) = self.peek().and_then(infix) {
            if left_power < min_power {
                break;
            }
            let op_span = self.here();
            self.bump();
            let right = self.expr(right_power);
            if op.is_comparison()
                && self
                    .peek()
                    .and_then(infix)
                    .is_some_and(|(next, ..)| next.is_comparison())
            {
                let span = self.here();
                self.error(
                    ExprDiagnostic::error(span, "comparisons cannot be chained", "a second comparison")
                        .with_help("write `a < b and b < c`"),
                );
            }
            let span = left.span.to(right.span).to(op_span);
            left = Expr {
                span,
                node: Node::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
            };
        }
        self.depth -= 1;
        left
    }

    fn skip_rest(&mut self) -> Expr {
        let span = self.here();
        self.pos = self.tokens.len();
        Expr {
            span,
            node: Node::Invalid,
        }
    }

    fn prefix(&mut self) -> Expr {
        let start = self.here();
        let unary = match self.peek() {
            Some(Tok::Not) => Some(NOT_POWER),
            Some(Tok::Minus) => Some(NEG_POWER),
            _ => None,
        };
        if let Some(power) = unary {
            let is_not = self.peek() == Some(&Tok::Not);
            self.bump();
            let operand = Box::new(self.expr(power));
            let span = start.to(operand.span);
            let node = if is_not {
                Node::Not { operand }
            } else {
                Node::Neg { operand }
            };
            return Expr { span, node };
        }
        self.primary()
    }

    fn primary(&mut self) -> Expr {
        let span = self.here();
        let Some(tok) = self.peek().cloned() else {
            self.error(
                ExprDiagnostic::error(span, "the expression ends too early", "expected a value here")
                    .with_help("complete the expression, e.g. `accuracy >= 0.9`"),
            );
            return Expr {
                span,
                node: Node::Invalid,
            };
        };
        let node = match tok {
            Tok::Number { value, dim } => Node::Number { value, dim },
            Tok::Str(value) => Node::String { value },
            Tok::True => Node::Bool { value: true },
            Tok::False => Node::Bool { value: false },
            Tok::LParen => return self.parenthesized(span),
            Tok::Ident(name) => return self.name(name, span),
            other => {
                self.error(ExprDiagnostic::error(
                    span,
                    format!("expected a value, found {}", other.describe()),
                    "expected a name, number, string or `(`",
                ));
                if !is_closer(&other) && infix(&other).is_none() {
                    self.bump();
                }
                return Expr {
                    span,
                    node: Node::Invalid,
                };
            }
        };
        self.bump();
        Expr { span, node }
    }

    fn parenthesized(&mut self, open: Span) -> Expr {
        self.bump();
        let mut inner = self.expr(0);
        let close = self.here();
        if !self.eat(&Tok::RParen) && !self.too_deep {
            self.error(
                ExprDiagnostic::error(
                    open,
                    format!("unclosed `(`: expected `)`, found {}", self.found()),
                    "never closed",
                )
                .with_help("add the missing `)`"),
            );
            self.skip_to_closer();
            self.eat(&Tok::RParen);
        }
        inner.span = open.to(inner.span).to(close);
        inner
    }

    /// Skips to the next `,` or `)` at this nesting level (or the end).
    fn skip_to_closer(&mut self) {
        let mut level = 0usize;
        while let Some(tok) = self.peek() {
            match tok {
                Tok::LParen | Tok::LBracket => level += 1,
                Tok::RParen | Tok::RBracket | Tok::Comma if level == 0 => return,
                Tok::RParen | Tok::RBracket => level -= 1,
                _ => {}
            }
            self.bump();
        }
    }

    fn name(&mut self, first: String, start: Span) -> Expr {
        self.bump();
        if self.peek() == Some(&Tok::LParen) {
            return self.call(first, start);
        }
        let mut path = vec![first];
        let mut span = start;
        while self.eat(&Tok::Dot) {
            match self.bump() {
                Some((Tok::Ident(part), s)) => {
                    path.push(part);
                    span = span.to(s);
                }
                other => {
                    let at = other.map_or(self.here(), |(_, s)| s);
                    self.error(ExprDiagnostic::error(at, "expected a name after `.`", "not a name"));
                    return Expr {
                        span: span.to(at),
                        node: Node::Invalid,
                    };
                }
            }
        }
        let mut slice = Vec::new();
        if self.peek() == Some(&Tok::LBracket) {
            let (keys, end) = self.slice_keys();
            slice = keys;
            span = span.to(end);
        }
        Expr {
            span,
            node: Node::Field { path, slice },
        }
    }

    /// `[col="value", col2=3]`; returns the keys and the span up to `]`.
    fn slice_keys(&mut self) -> (Vec<SliceKey>, Span) {
        let open = self.here();
        self.bump();
        let mut keys = Vec::new();
        loop {
            let at = self.here();
            let column = match (self.peek(), self.peek_at(1)) {
                (Some(Tok::Ident(column)), Some(Tok::Eq)) => Some(column.clone()),
                _ => None,
            };
            if let Some(column) = column {
                self.pos += 2;
                self.slice_value(column, &mut keys);
            } else if self.peek() == Some(&Tok::RBracket) && keys.is_empty() {
                self.bump();
                self.error(
                    ExprDiagnostic::error(open.to(at), "empty slice selector", "nothing selected")
                        .with_help(r#"name the slice, e.g. recall[gender="F"], or drop the brackets"#),
                );
                return (keys, at);
            } else {
                self.error(
                    ExprDiagnostic::error(at, "expected `column=value` in the slice selector", "here")
                        .with_help(r#"write e.g. recall[gender="F", age="30-40"]"#),
                );
                self.skip_to_bracket();
            }
            let end = self.here();
            if self.eat(&Tok::RBracket) {
                return (keys, end);
            }
            if !self.eat(&Tok::Comma) {
                self.error(
                    ExprDiagnostic::error(end, "expected `,` or `]`", "the slice selector is not closed")
                        .with_help(format!("close the `[` at offset {}", open.start)),
                );
                self.skip_to_bracket();
                let end = self.here();
                self.eat(&Tok::RBracket);
                return (keys, end);
            }
        }
    }

    fn slice_value(&mut self, column: String, keys: &mut Vec<SliceKey>) {
        let value = match self.peek() {
            Some(Tok::Str(value) | Tok::Ident(value)) => value.clone(),
            Some(Tok::Number { value, .. }) => format!("{value}"),
            Some(Tok::True) => "true".into(),
            Some(Tok::False) => "false".into(),
            _ => {
                let at = self.here();
                self.error(
                    ExprDiagnostic::error(at, "expected the slice value", "a string or number")
                        .with_help(r#"write e.g. recall[gender="F"]"#),
                );
                return;
            }
        };
        self.bump();
        keys.push(SliceKey { column, value });
    }

    fn skip_to_bracket(&mut self) {
        while let Some(tok) = self.peek() {
            if matches!(tok, Tok::RBracket | Tok::Comma | Tok::RParen) {
                return;
            }
            self.bump();
        }
    }

    fn call(&mut self, function: String, start: Span) -> Expr {
        let open = self.here();
        self.bump();
        let mut args = Vec::new();
        let mut end = self.here();
        if self.eat(&Tok::RParen) {
            return Expr {
                span: start.to(end),
                node: Node::Call { function, args },
            };
        }
        loop {
            let name = match (self.peek(), self.peek_at(1)) {
                (Some(Tok::Ident(name)), Some(Tok::Eq)) => {
                    let name = name.clone();
                    self.pos += 2;
                    Some(name)
                }
                _ => None,
            };
            let value = self.expr(0);
            args.push(Arg { name, value });
            end = self.here();
            if self.eat(&Tok::RParen) {
                break;
            }
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.error(
                ExprDiagnostic::error(end, "expected `,` or `)` in the argument list", "here")
                    .with_help(format!("close the `(` of `{function}` at offset {}", open.start)),
            );
            self.skip_to_closer();
            end = self.here();
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.eat(&Tok::RParen);
            break;
        }
        Expr {
            span: start.to(end),
            node: Node::Call { function, args },
        }
    }
}

fn starts_operand(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Number { .. } | Tok::Str(_) | Tok::Ident(_) | Tok::True | Tok::False | Tok::LParen | Tok::Not | Tok::Minus
    )
}

fn is_closer(tok: &Tok) -> bool {
    matches!(tok, Tok::RParen | Tok::RBracket | Tok::Comma)
}
