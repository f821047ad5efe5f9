//! MLflow's search filters and orderings, parsed here and evaluated on stored documents.
//!
//! # The grammar (as `mlflow/utils/search_utils.py` accepts it)
//!
//! ```text
//! filter     := comparison ("AND" comparison)*        (empty: everything)
//! comparison := identifier operator value
//! identifier := [entity "."] key                      (no entity: an attribute)
//! entity     := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run | dataset(s)
//! key        := [A-Za-z0-9_-./:]+ | "…" | `…`
//! operator   := = | != | <> | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
//! value      := 'text' | "text" | number | ( 'text', … )
//! ```
//!
//! There is no OR (MLflow has none). Keywords are case-insensitive. A metric is compared with a
//! number; params and tags with text; `start_time`, `end_time`, `created` and the other
//! `*_time` / `*_timestamp*` attributes with a number. A bad filter is a 400 that gives the character
//! position where parsing stopped.
//!
//! # Evaluation
//!
//! Each searchable thing implements [`Subject`]: the values it has for an entity and key (a run
//! has one value per metric key — the latest, as MLflow compares — but several datasets). A
//! comparison holds when some value satisfies it; a missing key satisfies only `IS NULL`. The
//! metric and param comparisons are also handed to the store as an indexed `where`
//! ([`indexed`]) so that it reads only the matching index ranges; the full filter then decides
//! on the documents read.

use std::cmp::Ordering;

use base64::Engine as _;
use mlspec_spec::Status;
use mlspec_spec::expr::ast::BinOp;
use mlspec_spec::expr::query::{Field, Filter, Literal as StoreLiteral};

use crate::error::{MlflowError, Result};

/// What part of a thing an identifier names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    /// `metrics.KEY`.
    Metric,
    /// `params.KEY`.
    Param,
    /// `tags.KEY`.
    Tag,
    /// `attributes.KEY` or a bare `KEY`.
    Attribute,
    /// `datasets.KEY` (name, digest, context).
    Dataset,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`.
    Eq,
    /// `!=` or `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `LIKE` (`%` any run, `_` one character).
    Like,
    /// `ILIKE`: LIKE ignoring case.
    ILike,
    /// `IN (…)`.
    In,
    /// `NOT IN (…)`.
    NotIn,
    /// `IS NULL`: the key is absent.
    IsNull,
    /// `IS NOT NULL`: the key is present.
    IsNotNull,
}

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// A number.
    Num(f64),
    /// Text.
    Text(String),
    /// A parenthesized list of texts, for IN.
    List(Vec<String>),
    /// Nothing, for `IS NULL` and `IS NOT NULL`.
    Null,
}

/// A value a subject has.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number.
    Num(f64),
    /// Text.
    Text(String),
}

impl Value {
    /// A text value.
    pub fn text(text: &str) -> Value {
        Value::Text(text.to_owned())
    }
}

/// One comparison of a filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The entity.
    pub entity: Entity,
    /// The key within it.
    pub key: String,
    /// The operator.
    pub op: Op,
    /// The literal compared with.
    pub value: Literal,
}

/// Something a filter can be evaluated on.
pub trait Subject {
    /// Its values for `entity` and `key` (none when it has no such key).
    fn values(&self, entity: Entity, key: &str) -> Vec<Value>;
}

impl Comparison {
    /// Whether `subject` satisfies the comparison.
    pub fn matches(&self, subject: &dyn Subject) -> bool {
        let values = subject.values(self.entity, &self.key);
        match self.op {
            Op::IsNull => values.is_empty(),
            Op::IsNotNull => !values.is_empty(),
            _ => values.iter().any(|value| self.holds(value)),
        }
    }

    fn holds(&self, value: &Value) -> bool {
        match (value, &self.value) {
            (Value::Num(a), Literal::Num(b)) => ordered(self.op, a.partial_cmp(b)),
            (Value::Text(a), Literal::Text(b)) => match self.op {
                Op::Like => like(a, b),
                Op::ILike => like(&a.to_lowercase(), &b.to_lowercase()),
                op => ordered(op, Some(a.as_str().cmp(b.as_str()))),
            },
            (Value::Num(a), Literal::Text(b)) => b.parse::<f64>().is_ok_and(|b| ordered(self.op, a.partial_cmp(&b))),
            (Value::Text(a), Literal::Num(b)) => a.parse::<f64>().is_ok_and(|a| ordered(self.op, a.partial_cmp(b))),
            (value, Literal::List(items)) => {
                let text = match value {
                    Value::Text(t) => t.clone(),
                    Value::Num(n) => n.to_string(),
                };
                items.contains(&text) == (self.op == Op::In)
            }
            (_, Literal::Null) => false,
        }
    }
}

fn ordered(op: Op, ordering: Option<Ordering>) -> bool {
    let Some(ordering) = ordering else { return false };
    match op {
        Op::Eq => ordering.is_eq(),
        Op::Ne => ordering.is_ne(),
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
        Op::Gt => ordering.is_gt(),
        Op::Ge => ordering.is_ge(),
        _ => false,
    }
}

/// SQL LIKE: `%` matches any run of characters, `_` one character. Dynamic programming over
/// the two strings, so a hostile pattern costs at most length × length steps.
pub fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // matched[j]: the first i characters of text match the first j of the pattern.
    let mut matched = vec![false; pattern.len() + 1];
    matched[0] = true;
    for j in 1..=pattern.len() {
        matched[j] = matched[j - 1] && pattern[j - 1] == '%';
    }
    for &c in &text {
        let mut next = vec![false; pattern.len() + 1];
        for j in 1..=pattern.len() {
            next[j] = match pattern[j - 1] {
                '%' => next[j - 1] || matched[j],
                '_' => matched[j - 1],
                p => matched[j - 1] && p == c,
            };
        }
        matched = next;
    }
    matched[pattern.len()]
}

/// A filter that cannot be parsed: what, and the character where parsing stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterError {
    /// The character position (0-based) in the filter text.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

impl FilterError {
    fn into_mlflow(self, text: &str) -> MlflowError {
        MlflowError::invalid(format!(
            "Invalid filter '{}' at position {}: {}",
            crate::limits::shorten(text),
            self.position,
            self.message
        ))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(Entity, String),
    Text(String),
    Num(f64),
    Op(&'static str),
    Word(String),
    Open,
    Close,
    Comma,
}

struct Lexer {
    chars: Vec<(usize, char)>,
    at: usize,
}

impl Lexer {
    fn new(text: &str) -> Self {
        Lexer {
            chars: text.chars().enumerate().collect(),
            at: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|(_, c)| *c)
    }

    fn position(&self) -> usize {
        self.chars.get(self.at).map_or(self.chars.len(), |(i, _)| *i)
    }

    fn error<T>(&self, message: impl Into<String>) -> std::result::Result<T, FilterError> {
        Err(FilterError {
            position: self.position(),
            message: message.into(),
        })
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// All tokens, each with its starting character position.
    fn tokens(mut self) -> std::result::Result<Vec<(usize, Token)>, FilterError> {
        let mut tokens = Vec::new();
        loop {
            self.skip_space();
            let start = self.position();
            let Some(c) = self.peek() else { break };
            let token = match c {
                '(' => self.single(Token::Open),
                ')' => self.single(Token::Close),
                ',' => self.single(Token::Comma),
                '\'' | '"' => Token::Text(self.quoted(c)?),
                '=' | '!' | '<' | '>' => self.operator()?,
                c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number()?,
                c if c.is_alphabetic() || c == '_' || c == '`' => self.word()?,
                other => return self.error(format!("unexpected character `{other}`")),
            };
            tokens.push((start, token));
        }
        Ok(tokens)
    }

    fn single(&mut self, token: Token) -> Token {
        self.at += 1;
        token
    }

    fn quoted(&mut self, quote: char) -> std::result::Result<String, FilterError> {
        let start = self.position();
        self.at += 1;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            if c == quote {
                return Ok(text);
            }
            text.push(c);
        }
        Err(FilterError {
            position: start,
            message: format!("the quote {quote} opened here is never closed"),
        })
    }

    fn operator(&mut self) -> std::result::Result<Token, FilterError> {
        let first = self.peek().unwrap_or(' ');
        self.at += 1;
        let second = self.peek();
        let two = |lexer: &mut Self, op| {
            lexer.at += 1;
            Ok(Token::Op(op))
        };
        match (first, second) {
            ('!', Some('=')) => two(self, "!="),
            ('<', Some('>')) => two(self, "!="),
            ('<', Some('=')) => two(self, "<="),
            ('>', Some('=')) => two(self, ">="),
            ('=', Some('=')) => two(self, "="),
            ('=', _) => Ok(Token::Op("=")),
            ('<', _) => Ok(Token::Op("<")),
            ('>', _) => Ok(Token::Op(">")),
            _ => {
                self.at -= 1;
                self.error("`!` must be followed by `=`")
            }
        }
    }

    fn number(&mut self) -> std::result::Result<Token, FilterError> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().map(|(_, c)| c).collect();
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Token::Num(n)),
            _ => {
                self.at = start;
                self.error(format!("`{text}` is not a number"))
            }
        }
    }

    fn word(&mut self) -> std::result::Result<Token, FilterError> {
        if self.peek() == Some('`') {
            let key = self.quoted('`')?;
            return Ok(Token::Ident(Entity::Attribute, key));
        }
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.at += 1;
        }
        let word: String = self.chars[start..self.at].iter().map(|(_, c)| c).collect();
        if self.peek() != Some('.') {
            return Ok(match word.to_ascii_uppercase().as_str() {
                "AND" | "LIKE" | "ILIKE" | "IN" | "NOT" | "IS" | "NULL" | "OR" => {
                    Token::Word(word.to_ascii_uppercase())
                }
                _ => Token::Ident(Entity::Attribute, word),
            });
        }
        let Some(entity) = entity_of(&word) else {
            self.at = start;
            return self.error(format!(
                "`{word}` is not an entity: use metrics., params., tags., attributes. or datasets."
            ));
        };
        self.at += 1;
        let key = match self.peek() {
            Some(quote @ ('"' | '`')) => self.quoted(quote)?,
            _ => {
                let key_start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':'))
                {
                    self.at += 1;
                }
                self.chars[key_start..self.at].iter().map(|(_, c)| c).collect()
            }
        };
        if key.is_empty() {
            return self.error(format!("`{word}.` names no key"));
        }
        Ok(Token::Ident(entity, key))
    }
}

fn entity_of(word: &str) -> Option<Entity> {
    Some(match word.to_ascii_lowercase().as_str() {
        "metric" | "metrics" => Entity::Metric,
        "param" | "params" | "parameter" | "parameters" => Entity::Param,
        "tag" | "tags" => Entity::Tag,
        "attribute" | "attributes" | "attr" | "run" => Entity::Attribute,
        "dataset" | "datasets" => Entity::Dataset,
        _ => return None,
    })
}

/// Whether an attribute holds a number (a time).
fn numeric_attribute(key: &str) -> bool {
    key.ends_with("_time") || key.contains("timestamp") || key == "created"
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn next(&mut self) -> Option<(usize, Token)> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn fail<T>(&self, position: usize, message: impl Into<String>) -> std::result::Result<T, FilterError> {
        Err(FilterError {
            position,
            message: message.into(),
        })
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some((_, Token::Word(w))) if w == word)
    }

    fn comparisons(&mut self) -> std::result::Result<Vec<Comparison>, FilterError> {
        let mut comparisons = Vec::new();
        if self.tokens.is_empty() {
            return Ok(comparisons);
        }
        loop {
            comparisons.push(self.comparison()?);
            match self.next() {
                None => return Ok(comparisons),
                Some((_, Token::Word(w))) if w == "AND" => {}
                Some((p, Token::Word(w))) if w == "OR" => {
                    return self.fail(
                        p,
                        "OR is not supported (MLflow's filters join comparisons with AND only)",
                    );
                }
                Some((p, _)) => return self.fail(p, "expected AND between comparisons"),
            }
        }
    }

    fn comparison(&mut self) -> std::result::Result<Comparison, FilterError> {
        let (start, token) = match self.next() {
            Some(found) => found,
            None => return self.fail(self.end, "expected a comparison"),
        };
        let Token::Ident(entity, key) = token else {
            return self.fail(start, "expected an identifier such as metrics.accuracy or params.lr");
        };
        let op_at = self.position();
        let op = self.operator()?;
        let value_at = self.position();
        let value = match op {
            Op::IsNull | Op::IsNotNull => Literal::Null,
            Op::In | Op::NotIn => self.list()?,
            _ => self.scalar()?,
        };
        check_types(entity, &key, op, &value, op_at, value_at)?;
        Ok(Comparison { entity, key, op, value })
    }

    fn operator(&mut self) -> std::result::Result<Op, FilterError> {
        let at = self.position();
        let op = match self.next() {
            Some((_, Token::Op(op))) => match op {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some((_, Token::Word(w))) => match w.as_str() {
                "LIKE" => Op::Like,
                "ILIKE" => Op::ILike,
                "IN" => Op::In,
                "NOT" if self.is_word("IN") => {
                    self.at += 1;
                    Op::NotIn
                }
                "IS" => self.null_test()?,
                _ => return self.fail(at, format!("`{w}` is not a comparison operator")),
            },
            _ => {
                return self.fail(
                    at,
                    "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN)",
                );
            }
        };
        Ok(op)
    }

    fn null_test(&mut self) -> std::result::Result<Op, FilterError> {
        let negated = self.is_word("NOT");
        if negated {
            self.at += 1;
        }
        if !self.is_word("NULL") {
            return self.fail(self.position(), "expected NULL after IS");
        }
        self.at += 1;
        Ok(if negated { Op::IsNotNull } else { Op::IsNull })
    }

    fn scalar(&mut self) -> std::result::Result<Literal, FilterError> {
        let at = self.position();
        match self.next() {
            Some((_, Token::Text(t))) => Ok(Literal::Text(t)),
            Some((_, Token::Num(n))) => Ok(Literal::Num(n)),
            _ => self.fail(at, "expected a value: a number or a quoted string"),
        }
    }

    fn list(&mut self) -> std::result::Result<Literal, FilterError> {
        let at = self.position();
        if !matches!(self.next(), Some((_, Token::Open))) {
            return self.fail(at, "expected ( after IN");
        }
        let mut items = Vec::new();
        loop {
            let at = self.position();
            match self.next() {
                Some((_, Token::Text(t))) => items.push(t),
                _ => return self.fail(at, "expected a quoted string in the IN list"),
            }
            let at = self.position();
            match self.next() {
                Some((_, Token::Comma)) => {}
                Some((_, Token::Close)) => return Ok(Literal::List(items)),
                _ => return self.fail(at, "expected , or ) in the IN list"),
            }
        }
    }
}

fn check_types(
    entity: Entity,
    key: &str,
    op: Op,
    value: &Literal,
    op_at: usize,
    value_at: usize,
) -> std::result::Result<(), FilterError> {
    let numeric = entity == Entity::Metric || (entity == Entity::Attribute && numeric_attribute(key));
    let fail = |position, message: String| Err(FilterError { position, message });
    match (numeric, op, value) {
        (_, Op::IsNull | Op::IsNotNull, _) => Ok(()),
        (true, Op::Like | Op::ILike | Op::In | Op::NotIn, _) => fail(
            op_at,
            format!("`{key}` is numeric: compare it with =, !=, <, <=, > or >="),
        ),
        (true, _, Literal::Num(_)) => Ok(()),
        (true, _, _) => fail(value_at, format!("expected a numeric value for `{key}`")),
        (false, _, Literal::Num(_)) => fail(
            value_at,
            format!("expected a quoted string value for `{key}` (params, tags and names are text)"),
        ),
        (false, _, _) => Ok(()),
    }
}

/// Parses a filter; empty text is no filter. Errors are 400s with the position.
pub fn parse_filter(text: &str) -> Result<Vec<Comparison>> {
    parse_filter_at(text).map_err(|e| e.into_mlflow(text))
}

/// [`parse_filter`] with the error as a [`FilterError`].
pub fn parse_filter_at(text: &str) -> std::result::Result<Vec<Comparison>, FilterError> {
    let tokens = Lexer::new(text).tokens()?;
    let mut parser = Parser {
        tokens,
        at: 0,
        end: text.chars().count(),
    };
    parser.comparisons()
}

/// The metric and param comparisons the store can answer from its index.
pub fn indexed(comparisons: &[Comparison]) -> Vec<Filter> {
    comparisons.iter().filter_map(index_filter).collect()
}

/// Whether the store's index decides `comparison` alone (as [`indexed`] hands it over).
pub fn is_indexed(comparison: &Comparison) -> bool {
    index_filter(comparison).is_some()
}

/// The store filter for a comparison of a metric with a number or a param with text, by
/// `=`, `!=`, `<`, `<=`, `>` or `>=`.
fn index_filter(c: &Comparison) -> Option<Filter> {
    let op = match c.op {
        Op::Eq => BinOp::Eq,
        Op::Ne => BinOp::Ne,
        Op::Lt => BinOp::Lt,
        Op::Le => BinOp::Le,
        Op::Gt => BinOp::Gt,
        Op::Ge => BinOp::Ge,
        _ => return None,
    };
    let (field, value) = match (c.entity, &c.value) {
        (Entity::Metric, Literal::Num(n)) => (Field::Metric(c.key.clone()), StoreLiteral::Num(*n)),
        (Entity::Param, Literal::Text(t)) => (Field::Param(c.key.clone()), StoreLiteral::Text(t.clone())),
        _ => return None,
    };
    Some(Filter::Compare { field, op, value })
}

/// One key of an ORDER BY.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderBy {
    /// The entity.
    pub entity: Entity,
    /// The key.
    pub key: String,
    /// Largest first.
    pub descending: bool,
}

/// Parses MLflow's `order_by` list (`metrics.acc DESC`, `attributes.start_time`, …).
pub fn parse_order_by(clauses: &[String]) -> Result<Vec<OrderBy>> {
    clauses.iter().map(|clause| order_clause(clause)).collect()
}

fn order_clause(clause: &str) -> Result<OrderBy> {
    let fail = |e: FilterError| {
        MlflowError::invalid(format!(
            "Invalid order_by clause '{}' at position {}: {}",
            crate::limits::shorten(clause),
            e.position,
            e.message
        ))
    };
    let tokens = Lexer::new(clause).tokens().map_err(fail)?;
    let mut tokens = tokens.into_iter();
    let Some((_, Token::Ident(entity, key))) = tokens.next() else {
        return Err(fail(FilterError {
            position: 0,
            message: "expected an identifier such as metrics.accuracy".into(),
        }));
    };
    let descending = match tokens.next() {
        None => false,
        Some((_, Token::Ident(_, word))) if word.eq_ignore_ascii_case("asc") => false,
        Some((_, Token::Ident(_, word))) if word.eq_ignore_ascii_case("desc") => true,
        Some((position, _)) => {
            return Err(fail(FilterError {
                position,
                message: "expected ASC or DESC".into(),
            }));
        }
    };
    if let Some((position, _)) = tokens.next() {
        return Err(fail(FilterError {
            position,
            message: "unexpected text after the direction".into(),
        }));
    }
    Ok(OrderBy {
        entity,
        key,
        descending,
    })
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Num(a)), Some(Value::Num(b))) => a.total_cmp(b),
        (Some(Value::Text(a)), Some(Value::Text(b))) => a.cmp(b),
        (Some(Value::Num(_)), Some(Value::Text(_))) => Ordering::Less,
        (Some(Value::Text(_)), Some(Value::Num(_))) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sorts by the ORDER BY keys (absent values last, either direction), then by `fallback`
/// largest first (MLflow's default: newest first).
pub fn sort<T: Subject>(items: &mut [T], order: &[OrderBy], fallback: impl Fn(&T) -> Value) {
    items.sort_by(|a, b| {
        for clause in order {
            let va = a.values(clause.entity, &clause.key);
            let vb = b.values(clause.entity, &clause.key);
            let ordering = match (va.first(), vb.first()) {
                (Some(x), Some(y)) if clause.descending => compare_values(Some(y), Some(x)),
                (x, y) => compare_values(x, y),
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        compare_values(Some(&fallback(b)), Some(&fallback(a)))
    });
}

/// An answer holding one page: `{KEY: [...], next_page_token}` (the token only when more remain).
pub fn paged(key: &str, items: Vec<serde_json::Value>, next: Option<String>) -> serde_json::Value {
    let mut answer = serde_json::Map::new();
    answer.insert(key.to_owned(), serde_json::Value::Array(items));
    if let Some(token) = next {
        answer.insert("next_page_token".to_owned(), serde_json::Value::String(token));
    }
    serde_json::Value::Object(answer)
}

/// The offset a page token holds; 0 without one.
pub fn offset_of(token: Option<&str>) -> Result<usize> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(token) => decode_token(token),
    }
}

/// One page of `items` from the offset a page token holds, and the next token if more remain.
pub fn page<T>(items: Vec<T>, token: Option<&str>, max: usize) -> Result<(Vec<T>, Option<String>)> {
    let offset = offset_of(token)?;
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(max).collect();
    let next = (offset.saturating_add(max) < total).then(|| encode_token(offset + max));
    Ok((page, next))
}

/// The opaque page token for an offset.
pub fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

/// The offset a page token holds, or a 400.
pub fn decode_token(token: &str) -> Result<usize> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| MlflowError::invalid(format!("Invalid page token '{}'", crate::limits::shorten(token))))
}

/// The items every comparison holds for.
pub fn matching<T: Subject>(items: Vec<T>, comparisons: &[Comparison]) -> Vec<T> {
    items
        .into_iter()
        .filter(|item| comparisons.iter().all(|c| c.matches(item)))
        .collect()
}

/// MLflow's `run_view_type` / `view_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewType {
    /// Active only (the default).
    ActiveOnly,
    /// Deleted only.
    DeletedOnly,
    /// Both.
    All,
}

impl ViewType {
    /// Parses the field; absent is ACTIVE_ONLY.
    pub fn parse(text: Option<&str>) -> Result<ViewType> {
        match text.unwrap_or("ACTIVE_ONLY") {
            "ACTIVE_ONLY" | "1" => Ok(ViewType::ActiveOnly),
            "DELETED_ONLY" | "2" => Ok(ViewType::DeletedOnly),
            "ALL" | "3" => Ok(ViewType::All),
            other => Err(MlflowError::invalid(format!(
                "Invalid view type '{other}': use ACTIVE_ONLY, DELETED_ONLY or ALL"
            ))),
        }
    }

    /// The store statuses it lists.
    pub fn statuses(self) -> Vec<Status> {
        match self {
            ViewType::ActiveOnly => vec![Status::Active, Status::Deprecated],
            ViewType::DeletedOnly => vec![Status::Archived],
            ViewType::All => vec![Status::Active, Status::Deprecated, Status::Archived],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Run(Vec<(Entity, &'static str, Value)>);

    impl Subject for Run {
        fn values(&self, entity: Entity, key: &str) -> Vec<Value> {
            self.0
                .iter()
                .filter(|(e, k, _)| *e == entity && *k == key)
                .map(|(_, _, v)| v.clone())
                .collect()
        }
    }

    fn run() -> Run {
        Run(vec![
            (Entity::Metric, "acc", Value::Num(0.9)),
            (Entity::Param, "lr", Value::text("0.1")),
            (Entity::Tag, "team", Value::text("Risk")),
            (Entity::Attribute, "status", Value::text("FINISHED")),
            (Entity::Attribute, "start_time", Value::Num(1000.0)),
            (Entity::Dataset, "name", Value::text("train")),
            (Entity::Dataset, "name", Value::text("eval")),
        ])
    }

    fn holds(filter: &str) -> bool {
        let run = run();
        parse_filter(filter).unwrap().iter().all(|c| c.matches(&run))
    }

    #[test]
    fn mlflow_filters_evaluate() {
        assert!(holds("metrics.acc > 0.5 and params.lr = '0.1'"));
        assert!(holds("metric.acc >= 0.9 AND tags.team ILIKE 'ri%'"));
        assert!(!holds("tags.team LIKE 'ri%'"));
        assert!(holds("attributes.status IN ('FINISHED', 'FAILED')"));
        assert!(holds("attributes.status NOT IN ('RUNNING')"));
        assert!(holds("tags.missing IS NULL and tags.team IS NOT NULL"));
        assert!(!holds("metrics.missing != 1"));
        assert!(holds("datasets.name = 'eval'"));
        assert!(holds("attributes.start_time < 2000"));
        assert!(holds("params.\"lr\" = \"0.1\" and metrics.`acc` <> 1"));
        assert!(holds(""));
        assert!(holds("status = 'FINISHED'"));
    }

    #[test]
    fn bad_filters_say_where() {
        let cases = [
            ("metrics.acc > 'x'", 14),
            ("metrics.acc >", 13),
            ("params.lr = 1", 12),
            ("metrics.acc > 1 or metrics.acc < 0", 16),
            ("foo.bar = 'x'", 0),
            ("params.lr = 'open", 12),
            ("metrics.acc LIKE '1'", 12),
            ("metrics.acc ! 1", 12),
        ];
        for (filter, position) in cases {
            let error = parse_filter_at(filter).unwrap_err();
            assert_eq!(error.position, position, "{filter}: {error:?}");
            let message = parse_filter(filter).unwrap_err().message;
            assert!(message.contains(&format!("position {position}")), "{message}");
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "_b_"));
        assert!(like("", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("a%c", "a%c"));
        assert!(!like(&"a".repeat(200), &format!("{}b", "%a".repeat(50))));
    }

    #[test]
    fn order_by_and_paging() {
        let order = parse_order_by(&["metrics.acc DESC".into(), "params.lr".into()]).unwrap();
        assert_eq!(order[0].entity, Entity::Metric);
        assert!(order[0].descending && !order[1].descending);
        assert!(parse_order_by(&["metrics.acc SIDEWAYS".into()]).is_err());
        let (first, next) = page((0..5).collect(), None, 2).unwrap();
        assert_eq!(first, [0, 1]);
        let (second, next) = page((0..5).collect(), next.as_deref(), 2).unwrap();
        assert_eq!(second, [2, 3]);
        let (last, next) = page((0..5).collect(), next.as_deref(), 2).unwrap();
        assert_eq!((last, next), (vec![4], None));
        assert!(page::<u8>(vec![], Some("garbage!"), 2).is_err());
    }

    #[test]
    fn sorting_puts_absent_values_last() {
        let mut runs = vec![
            Run(vec![(Entity::Metric, "acc", Value::Num(0.5))]),
            Run(vec![]),
            Run(vec![(Entity::Metric, "acc", Value::Num(0.9))]),
        ];
        let order = parse_order_by(&["metrics.acc DESC".into()]).unwrap();
        sort(&mut runs, &order, |_| Value::Num(0.0));
        let values: Vec<_> = runs.iter().map(|r| r.values(Entity::Metric, "acc")).collect();
        assert_eq!(values, [vec![Value::Num(0.9)], vec![Value::Num(0.5)], vec![]]);
    }

    #[test]
    fn the_index_gets_metric_and_param_comparisons() {
        let comparisons = parse_filter("metrics.acc > 0.5 and params.lr = '0.1' and tags.t = 'x'").unwrap();
        assert_eq!(indexed(&comparisons).len(), 2);
    }

    proptest! {
        #[test]
        fn no_input_panics(text in "\\PC{0,80}") {
            let _ = parse_filter(&text);
            let _ = parse_order_by(std::slice::from_ref(&text));
            let _ = decode_token(&text);
        }

        #[test]
        fn filter_shaped_input_parses_or_says_where(
            parts in proptest::collection::vec(
                "(metrics|params|tags|attributes|x)\\.[a-z`\"]{0,3} ?(=|!=|<|>=|LIKE|IN|IS|NOT| ) ?('[a-z]{0,3}'?|[0-9.e-]{0,4}|\\(|\\)|NULL)",
                0..4,
            )
        ) {
            let text = parts.join(" AND ");
            match parse_filter_at(&text) {
                Ok(_) => {}
                Err(error) => prop_assert!(error.position <= text.chars().count()),
            }
        }
    }
}
