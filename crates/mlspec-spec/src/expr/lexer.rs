//! Splitting an expression's text into tokens. Unknown characters, unterminated strings and
//! unknown units become diagnostics; lexing always continues to the end of the text.

use super::diagnostic::{ExprDiagnostic, Span};
use super::units::{Dim, unit};

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A number with its unit applied: `value` is in the dimension's base unit (seconds,
    /// bytes); percentages are divided by 100.
    Number {
        value: f64,
        dim: Dim,
    },
    /// A quoted string, unescaped.
    Str(String),
    /// A name: `accuracy`, or a backquoted `` `val/loss` ``.
    Ident(String),
    /// `and`, `or`, `not`, `true`, `false`.
    And,
    Or,
    Not,
    True,
    False,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Plus,
    Minus,
    Star,
    Slash,
    /// `=` or `==`.
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Tok {
    /// How the token reads in a message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Number { .. } => "a number".into(),
            Tok::Str(_) => "a string".into(),
            Tok::Ident(name) => format!("`{name}`"),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Not => "not",
            Tok::True => "true",
            Tok::False => "false",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Number { .. } | Tok::Str(_) | Tok::Ident(_) => "",
        }
    }
}

/// Tokens with their spans, and the problems found.
pub fn lex(text: &str) -> (Vec<(Tok, Span)>, Vec<ExprDiagnostic>) {
    let mut lexer = Lexer {
        text,
        pos: 0,
        tokens: Vec::new(),
        diagnostics: Vec::new(),
    };
    lexer.run();
    (lexer.tokens, lexer.diagnostics)
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    tokens: Vec<(Tok, Span)>,
    diagnostics: Vec<ExprDiagnostic>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.text[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            let token = match c {
                c if c.is_whitespace() => {
                    self.bump();
                    continue;
                }
                '0'..='9' => self.number(start),
                '.' if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => self.number(start),
                '"' | '\'' => self.string(start, c),
                '`' => self.quoted_name(start),
                c if c.is_alphabetic() || c == '_' => Some(self.word()),
                _ => self.punct(start, c),
            };
            if let Some(token) = token {
                self.tokens.push((token, Span::new(start, self.pos)));
            }
        }
    }

    fn word(&mut self) -> Tok {
        match self.take_while(|c| c.is_alphanumeric() || c == '_') {
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "true" => Tok::True,
            "false" => Tok::False,
            name => Tok::Ident(name.to_owned()),
        }
    }

    fn number(&mut self, start: usize) -> Option<Tok> {
        self.take_while(|c| c.is_ascii_digit());
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.take_while(|c| c.is_ascii_digit());
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.take_while(|c| c.is_ascii_digit()).is_empty() {
                self.pos = save;
            }
        }
        let digits = &self.text[start..self.pos];
        let unit_start = self.pos;
        let suffix = if self.peek() == Some('%') {
            self.bump();
            "%".to_owned()
        } else {
            self.take_while(|c| c.is_alphabetic() || c == '_').to_owned()
        };
        let value: f64 = digits.parse().unwrap_or(f64::NAN);
        let span = Span::new(start, self.pos);
        if !value.is_finite() {
            self.diagnostics.push(
                ExprDiagnostic::error(span, format!("`{digits}` is not a finite number"), "too large")
                    .with_help("write a number below 1.8e308"),
            );
            return None;
        }
        if suffix.is_empty() {
            return Some(Tok::Number { value, dim: Dim::None });
        }
        match unit(&suffix) {
            Some((dim, scale)) => Some(Tok::Number {
                value: value * scale,
                dim,
            }),
            None => {
                self.diagnostics.push(
                    ExprDiagnostic::error(
                        Span::new(unit_start, self.pos),
                        format!("unknown unit `{suffix}`"),
                        "not a unit",
                    )
                    .with_help(super::units::UNITS_HELP),
                );
                Some(Tok::Number { value, dim: Dim::None })
            }
        }
    }

    fn string(&mut self, start: usize, quote: char) -> Option<Tok> {
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => {
                    self.diagnostics.push(
                        ExprDiagnostic::error(
                            Span::new(start, self.pos),
                            "unterminated string",
                            "the string starts here",
                        )
                        .with_help(format!("close it with {quote}")),
                    );
                    return Some(Tok::Str(value));
                }
                Some(c) if c == quote => return Some(Tok::Str(value)),
                Some('\\') => match self.bump() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(c @ ('\\' | '"' | '\'')) => value.push(c),
                    other => {
                        let at = self.pos - other.map_or(0, char::len_utf8) - 1;
                        self.diagnostics.push(
                            ExprDiagnostic::error(Span::new(at, self.pos), "unknown escape", "here")
                                .with_help(r#"strings know \\, \", \', \n and \t"#),
                        );
                    }
                },
                Some(c) => value.push(c),
            }
        }
    }

    fn quoted_name(&mut self, start: usize) -> Option<Tok> {
        self.bump();
        let name = self.take_while(|c| c != '`').to_owned();
        if self.bump().is_none() {
            self.diagnostics.push(
                ExprDiagnostic::error(Span::new(start, self.pos), "unterminated quoted name", "it starts here")
                    .with_help("close it with `"),
            );
            return None;
        }
        if name.is_empty() {
            self.diagnostics.push(ExprDiagnostic::error(
                Span::new(start, self.pos),
                "empty quoted name",
                "here",
            ));
            return None;
        }
        Some(Tok::Ident(name))
    }

    /// An operator from another language (`&&`, `||`, `!`): reported, and read as meant, so
    /// that parsing goes on.
    fn misspelt(&mut self, start: usize, tok: Tok, help: &str) -> Option<Tok> {
        if matches!(tok, Tok::And | Tok::Or) {
            self.bump();
        }
        let span = Span::new(start, self.pos);
        let found = &self.text[start..self.pos];
        self.diagnostics.push(
            ExprDiagnostic::error(span, format!("`{found}` is not an operator here"), "unknown operator")
                .with_help(help),
        );
        Some(tok)
    }

    fn punct(&mut self, start: usize, c: char) -> Option<Tok> {
        self.bump();
        let next = self.peek();
        let two = |lexer: &mut Self, tok: Tok| {
            lexer.bump();
            Some(tok)
        };
        match (c, next) {
            ('=', Some('=')) => two(self, Tok::Eq),
            ('!', Some('=')) => two(self, Tok::Ne),
            ('<', Some('=')) => two(self, Tok::Le),
            ('>', Some('=')) => two(self, Tok::Ge),
            ('<', Some('>')) => two(self, Tok::Ne),
            ('=', _) => Some(Tok::Eq),
            ('<', _) => Some(Tok::Lt),
            ('>', _) => Some(Tok::Gt),
            ('(', _) => Some(Tok::LParen),
            (')', _) => Some(Tok::RParen),
            ('[', _) => Some(Tok::LBracket),
            (']', _) => Some(Tok::RBracket),
            (',', _) => Some(Tok::Comma),
            ('.', _) => Some(Tok::Dot),
            ('+', _) => Some(Tok::Plus),
            ('-', _) => Some(Tok::Minus),
            ('*', _) => Some(Tok::Star),
            ('/', _) => Some(Tok::Slash),
            ('&', Some('&')) => self.misspelt(start, Tok::And, "write `and`"),
            ('|', Some('|')) => self.misspelt(start, Tok::Or, "write `or`"),
            ('!', _) => self.misspelt(start, Tok::Not, "write `not`, or `!=` for inequality"),
            _ => {
                let span = Span::new(start, self.pos);
                self.diagnostics.push(
                    ExprDiagnostic::error(span, format!("unexpected character `{c}`"), "not allowed here")
                        .with_help("expressions use names, numbers, strings, ( ) [ ] , . + - * / and comparisons"),
                );
                None
            }
        }
    }
}
