//! Compiling a `--where` filter and an `--order-by` key to SQL. User input never becomes SQL
//! text: field keys and values are bound parameters, and the SQL around them comes from a fixed
//! set of fragments chosen by the filter's shape. Each comparison is an `IN` over the `fields`
//! (or `labels`) index for one key, so that a selective filter reads only the matching rows.

use mlspec_spec::Kind;
use mlspec_spec::expr::ast::BinOp;
use mlspec_spec::expr::query::{Field, Filter, Literal, OrderBy, OrderKey};

/// A bound parameter.
pub(crate) enum Bind {
    Text(String),
    Num(f64),
}

/// SQL text with its parameters, numbered `$1…` in order.
#[derive(Default)]
pub(crate) struct Sql {
    pub params: Vec<Bind>,
}

impl Sql {
    /// Adds a parameter; returns its placeholder.
    pub fn bind(&mut self, value: Bind) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// The condition on `o` (an `objects` row of `kind`) that `filter` compiles to.
    pub fn condition(&mut self, filter: &Filter, kind: Kind) -> String {
        match filter {
            Filter::All(parts) => self.join(parts, kind, " AND ", "1 = 1"),
            Filter::Any(parts) => self.join(parts, kind, " OR ", "1 = 0"),
            Filter::Compare { field, op, value } => self.comparison(field, *op, value, kind),
        }
    }

    fn join(&mut self, parts: &[Filter], kind: Kind, separator: &str, empty: &str) -> String {
        if parts.is_empty() {
            return empty.to_owned();
        }
        let parts: Vec<String> = parts.iter().map(|p| self.condition(p, kind)).collect();
        format!("({})", parts.join(separator))
    }

    fn comparison(&mut self, field: &Field, op: BinOp, value: &Literal, kind: Kind) -> String {
        let op = operator(op);
        match field {
            Field::Name => {
                let value = self.bind(Bind::Text(literal_text(value).to_lowercase()));
                format!("o.name_key {op} {value}")
            }
            Field::Label(key) => {
                let key = self.bind(Bind::Text(key.clone()));
                let value = self.bind(Bind::Text(literal_text(value)));
                format!("o.id IN (SELECT object_id FROM labels WHERE key = {key} AND value {op} {value})")
            }
            _ => {
                let kind = self.bind(Bind::Text(kind.as_str().to_owned()));
                let key = self.bind(Bind::Text(field.index_key().unwrap_or_default()));
                let (column, value) = match value {
                    Literal::Num(n) => ("num", self.bind(Bind::Num(*n))),
                    other => ("text", self.bind(Bind::Text(literal_text(other)))),
                };
                format!(
                    "o.id IN (SELECT object_id FROM fields WHERE kind = {kind} AND key = {key} AND {column} {op} {value})"
                )
            }
        }
    }

    /// The join and the ORDER BY terms for `order` (the name is always the last tie-breaker).
    pub fn order(&mut self, order: Option<&OrderBy>) -> (String, String) {
        let tail = "o.name_key, o.scope, o.id";
        let Some(order) = order else {
            return (String::new(), tail.to_owned());
        };
        let dir = if order.descending { "DESC" } else { "ASC" };
        match &order.key {
            OrderKey::Created => (String::new(), format!("o.created_seq {dir}, {tail}")),
            OrderKey::Updated => (String::new(), format!("o.head_seq {dir}, {tail}")),
            OrderKey::Field(Field::Name) => (String::new(), format!("o.name_key {dir}, o.scope, o.id")),
            OrderKey::Field(Field::Label(key)) => {
                let key = self.bind(Bind::Text(key.clone()));
                (
                    format!(" LEFT JOIN labels ol ON ol.object_id = o.id AND ol.key = {key}"),
                    format!("CASE WHEN ol.value IS NULL THEN 1 ELSE 0 END, ol.value {dir}, {tail}"),
                )
            }
            OrderKey::Field(field) => {
                let key = self.bind(Bind::Text(field.index_key().unwrap_or_default()));
                (
                    format!(" LEFT JOIN fields ob ON ob.object_id = o.id AND ob.key = {key}"),
                    format!(
                        "CASE WHEN ob.num IS NULL AND ob.text IS NULL THEN 1 ELSE 0 END, \
                         CASE WHEN ob.num IS NULL THEN 1 ELSE 0 END, ob.num {dir}, ob.text {dir}, {tail}"
                    ),
                )
            }
        }
    }
}

fn operator(op: BinOp) -> &'static str {
    match op {
        BinOp::Eq => "=",
        BinOp::Ne => "<>",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        _ => ">=",
    }
}

fn literal_text(value: &Literal) -> String {
    match value {
        Literal::Text(t) => t.clone(),
        Literal::Bool(b) => b.to_string(),
        Literal::Num(n) => n.to_string(),
    }
}
