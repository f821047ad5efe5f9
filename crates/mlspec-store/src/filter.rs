//! Compiling a `--where` filter and an `--order-by` key to SQL. User input never becomes SQL
//! text: field keys and values are bound parameters, and the SQL around them comes from a fixed
//! set of fragments chosen by the filter's shape. Each comparison selects object keys
//! (`objects.created_seq`) from the `fields` (or `labels`, or `objects`) index for one key
//! (a field's kind and key are found by their id in `field_keys`); the
//! filter's key set then drives the listing, so that a selective filter reads only the matching
//! rows.

use mlspec_spec::Kind;
use mlspec_spec::expr::ast::BinOp;
use mlspec_spec::expr::query::{Field, Filter, Literal, OrderBy, OrderKey};

/// A bound parameter.
pub(crate) enum Bind {
    Text(String),
    Num(f64),
    /// An object key (`objects.created_seq`).
    Key(i64),
}

/// SQL text with its parameters, numbered `$1…` in order.
#[derive(Default)]
pub(crate) struct Sql {
    pub params: Vec<Bind>,
    /// Appended to each probe of [`Sql::holds`]: `OFFSET 0` keeps PostgreSQL from turning the
    /// probes into a join that reads every matching row first (it does not flatten an EXISTS
    /// with an OFFSET), so that a walk in order can stop at its page.
    pub probe_tail: &'static str,
}

impl Sql {
    /// Adds a parameter; returns its placeholder.
    pub fn bind(&mut self, value: Bind) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// A SELECT of the keys (column `k`) of the objects of `kind` that `filter` holds for:
    /// comparisons read one index each, `All` intersects and `Any` unites their key sets — so
    /// the work is proportional to the matching rows, not to the objects of the kind.
    pub fn keys(&mut self, filter: &Filter, kind: Kind) -> String {
        match filter {
            Filter::All(parts) if parts.is_empty() => {
                let kind = self.bind(Bind::Text(kind.as_str().to_owned()));
                format!("SELECT created_seq AS k FROM objects WHERE kind = {kind}")
            }
            Filter::Any(parts) if parts.is_empty() => "SELECT created_seq AS k FROM objects WHERE 1 = 0".to_owned(),
            Filter::All(parts) => self.combine(parts, kind, " INTERSECT "),
            Filter::Any(parts) => self.combine(parts, kind, " UNION "),
            Filter::Compare { field, op, value } => self.comparison_keys(field, *op, value, kind),
        }
    }

    /// The parts' key sets combined by a set operator. Each part is wrapped as a subquery, as
    /// SQLite does not allow parentheses around the members of a compound SELECT.
    fn combine(&mut self, parts: &[Filter], kind: Kind, operator: &str) -> String {
        if let [only] = parts {
            return self.keys(only, kind);
        }
        let members: Vec<String> = parts
            .iter()
            .map(|part| {
                let alias = format!("s{}", self.params.len());
                format!("SELECT k FROM ({}) AS {alias}", self.keys(part, kind))
            })
            .collect();
        members.join(operator)
    }

    /// A condition on the row `o` (an object of `kind`) that holds when `filter` does: each
    /// comparison probes its index at the object's key, so a walk over the objects in key order
    /// can stop as soon as it has a page — the plan for a dense filter, where [`Sql::keys`]
    /// would read every matching row first.
    pub fn holds(&mut self, filter: &Filter, kind: Kind) -> String {
        match filter {
            Filter::All(parts) if parts.is_empty() => "1 = 1".to_owned(),
            Filter::Any(parts) if parts.is_empty() => "1 = 0".to_owned(),
            Filter::All(parts) => self.connect(parts, kind, " AND "),
            Filter::Any(parts) => self.connect(parts, kind, " OR "),
            Filter::Compare { field, op, value } => {
                let test = self.comparison(field, *op, value, kind);
                format!(
                    "EXISTS (SELECT 1 FROM {} WHERE {} = o.created_seq AND {}{})",
                    test.rows, test.key, test.condition, self.probe_tail
                )
            }
        }
    }

    fn connect(&mut self, parts: &[Filter], kind: Kind, operator: &str) -> String {
        let members: Vec<String> = parts.iter().map(|part| self.holds(part, kind)).collect();
        format!("({})", members.join(operator))
    }

    fn comparison_keys(&mut self, field: &Field, op: BinOp, value: &Literal, kind: Kind) -> String {
        let test = self.comparison(field, op, value, kind);
        format!("SELECT {} AS k FROM {} WHERE {}", test.key, test.rows, test.condition)
    }

    /// Where one comparison looks (the index rows, the object key column) and what it asks.
    fn comparison(&mut self, field: &Field, op: BinOp, value: &Literal, kind: Kind) -> Comparison {
        let op = operator(op);
        let kind = self.bind(Bind::Text(kind.as_str().to_owned()));
        match field {
            Field::Name => {
                let value = self.bind(Bind::Text(literal_text(value).to_lowercase()));
                Comparison {
                    rows: "objects",
                    key: "created_seq",
                    condition: format!("kind = {kind} AND name_key {op} {value}"),
                }
            }
            Field::Label(key) => {
                let key = self.bind(Bind::Text(key.clone()));
                let value = self.bind(Bind::Text(literal_text(value)));
                Comparison {
                    rows: "labels",
                    key: "object_key",
                    condition: format!("key = {key} AND value {op} {value}"),
                }
            }
            _ => {
                let key = self.bind(Bind::Text(field.index_key().unwrap_or_default()));
                let (column, value) = match value {
                    Literal::Num(n) => ("num", self.bind(Bind::Num(*n))),
                    other => ("text", self.bind(Bind::Text(literal_text(other)))),
                };
                Comparison {
                    rows: "fields f JOIN field_keys fk ON fk.id = f.key_id",
                    key: "f.object_key",
                    condition: format!("fk.kind = {kind} AND fk.key = {key} AND f.{column} {op} {value}"),
                }
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
                    format!(" LEFT JOIN labels ol ON ol.object_key = o.created_seq AND ol.key = {key}"),
                    format!("CASE WHEN ol.value IS NULL THEN 1 ELSE 0 END, ol.value {dir}, {tail}"),
                )
            }
            OrderKey::Field(field) => {
                let key = self.bind(Bind::Text(field.index_key().unwrap_or_default()));
                (
                    format!(
                        " LEFT JOIN fields ob ON ob.object_key = o.created_seq \
                         AND ob.key_id = (SELECT id FROM field_keys WHERE kind = o.kind AND key = {key})"
                    ),
                    format!(
                        "CASE WHEN ob.num IS NULL AND ob.text IS NULL THEN 1 ELSE 0 END, \
                         CASE WHEN ob.num IS NULL THEN 1 ELSE 0 END, ob.num {dir}, ob.text {dir}, {tail}"
                    ),
                )
            }
        }
    }
}

/// One comparison's index rows (`rows`, naming objects by the column `key`) and its test.
struct Comparison {
    rows: &'static str,
    key: &'static str,
    condition: String,
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
