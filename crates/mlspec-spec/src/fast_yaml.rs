//! A fast reader for the block-YAML subset that MLSpec documents are written in.
//!
//! Why hand-written: validating documents must run at tens of thousands of documents per
//! second, and the general YAML parsers available to us do not come close. Measured on a 3 KB
//! Run document, serde-saphyr reaches about 4,600 documents/s and its event parser alone
//! (granit-parser) about 10,000/s (docs/benchmarks.md). YAML's full grammar is what makes them
//! slow, and documents rarely need it.
//!
//! The reader handles: `---` document separators, comments, block mappings and sequences
//! (including `- key: value` items and sequences at their key's indentation), single-line flow
//! collections, single-line plain, single-quoted and double-quoted scalars, and simple `|`, `|-`,
//! `>`, `>-` block scalars (as serde-saphyr writes long strings). For anything else — anchors,
//! aliases, tags, other block scalars, multi-line flow or quoted scalars, complex keys, directives, tabs in
//! indentation, duplicate keys, or a plain scalar whose YAML type is ambiguous (`yes`, `0x1F`,
//! `.5`, `1_000`) — it declines by returning `None`, and the caller parses the input with
//! serde-saphyr instead. It never reports errors itself.
//!
//! The contract: whenever this reader yields a document, serde-saphyr yields the same one. Plain
//! scalars are typed by what the target asks for, as serde-saphyr does, and a request this reader
//! cannot answer the same way is an error, which again makes the caller fall back. A
//! differential test and a fuzz target check the contract.

use std::borrow::Cow;
use std::fmt;

use bumpalo::Bump;
use bumpalo::collections::Vec as ArenaVec;
use serde::de::value::{BorrowedStrDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

/// A parsed node; plain scalars keep their text and are typed when deserialized. Nodes borrow
/// from the input and from an arena (collections, unescaped strings), so building a tree costs
/// few allocations and dropping it none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Node<'a> {
    /// A plain (unquoted) scalar; an empty value is the empty string.
    Plain(Plain<'a>),
    /// A quoted or block scalar, unescaped.
    Quoted(&'a str),
    /// A sequence.
    Seq(&'a [Node<'a>]),
    /// A mapping, in source order; keys are unique.
    Map(&'a [(MapKey<'a>, Node<'a>)]),
}

/// A mapping key: its text, and whether it was quoted (a plain key is checked to be text, not a
/// number or boolean, only when it is deserialized).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapKey<'a> {
    text: &'a str,
    quoted: bool,
}

/// A plain scalar's text and what YAML makes of it when the target does not dictate a type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plain<'a> {
    text: &'a str,
    class: Class,
}

impl<'a> Node<'a> {
    fn plain(text: &'a str) -> Self {
        Node::Plain(Plain {
            text,
            class: classify(text),
        })
    }
}

/// Bounds on what one input may build, as for the full parser (see `validate::Limits`).
#[derive(Clone, Copy)]
pub struct Budget {
    /// Deepest nesting of collections.
    pub depth: usize,
    /// Most nodes in the input.
    pub nodes: usize,
    /// Most documents in the input.
    pub documents: usize,
}

impl Budget {
    fn enter(&mut self, depth: usize) -> Option<()> {
        self.nodes = self.nodes.checked_sub(1)?;
        (depth <= self.depth).then_some(())
    }
}

/// Parses `text` into documents whose nodes live in `arena`, or `None` when it uses YAML beyond
/// the subset or exceeds the budget (the full parser then reports the problem).
pub fn parse<'a>(text: &'a str, mut budget: Budget, arena: &'a Bump) -> Option<Vec<Node<'a>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !is_plain_stream(text) {
        return None;
    }
    let mut documents = Vec::new();
    // Lines average well over 16 bytes; reserving for that avoids regrowing the vector.
    let mut lines = Vec::with_capacity((text.len() / 16 + 1).min(budget.nodes));
    let mut gap = false;
    for (raw, indent) in split_lines(text) {
        let content = raw.trim_end_matches(' ');
        let body = &content[indent.min(content.len())..];
        match body.as_bytes().first() {
            None | Some(b'#') => {
                gap = true;
                continue;
            }
            Some(b'\t' | b'%') => return None,
            Some(b'-' | b'.') if indent == 0 && (body.starts_with("---") || body.starts_with("...")) => {
                // `---` alone or before a comment separates documents; anything else here
                // (`--- value`, `...`, `---#`) is YAML this reader leaves to the full parser.
                let after = &body[3..];
                let separator = body.starts_with("---")
                    && (after.is_empty() || after.starts_with(' ') && after.trim_start_matches(' ').starts_with('#'));
                if !separator {
                    return None;
                }
                let trailing_gap = std::mem::take(&mut gap);
                documents.push(parse_document(
                    std::mem::take(&mut lines),
                    trailing_gap,
                    &mut budget,
                    arena,
                )?);
                if documents.len() > budget.documents {
                    return None;
                }
                continue;
            }
            Some(_) => {}
        }
        // Every content line becomes at least one node (or a block scalar line): counting lines
        // against the node budget bounds the memory a hostile input can take.
        budget.nodes = budget.nodes.checked_sub(1)?;
        lines.push(Line {
            indent,
            text: body,
            full: &raw[indent..],
            after_gap: std::mem::take(&mut gap),
        });
    }
    documents.push(parse_document(lines, gap, &mut budget, arena)?);
    // A leading `---` opens the first document rather than closing an empty one.
    if documents.first() == Some(&None) {
        documents.remove(0);
    }
    documents.into_iter().collect()
}

/// Each line (without its `\n` or `\r\n`) with the number of spaces it starts with, in one
/// pass over the bytes (short lines make a search per line cost more than the scan).
fn split_lines(text: &str) -> impl Iterator<Item = (&str, usize)> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let mut indent = 0;
        while bytes.get(start + indent) == Some(&b' ') {
            indent += 1;
        }
        let mut end = start + indent;
        while end < bytes.len() && bytes[end] != b'\n' {
            end += 1;
        }
        let line = &text[start..end];
        start = end + 1;
        Some((line.strip_suffix('\r').unwrap_or(line), indent))
    })
}

/// Whether every character is one the reader and YAML agree on: YAML allows only printable
/// characters (tab, line breaks, and everything from space up except DEL, the C1 controls, U+FFFE,
/// U+FFFF and a byte-order mark after the start); and a lone `\r`, NEL, LS or PS is a line break
/// to some YAML parsers but not to a reader that splits lines at `\n`.
fn is_plain_stream(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Counting (rather than stopping at the first bad byte) lets the compiler vectorize the scan.
    let control = bytes
        .iter()
        .filter(|&&b| (b < b' ' && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
        .count();
    let lone_cr = || text.match_indices('\r').any(|(i, _)| bytes.get(i + 1) != Some(&b'\n'));
    if control > 0 || lone_cr() {
        return false;
    }
    text.is_ascii()
        || !text.chars().any(|c| {
            matches!(
                c,
                '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            )
        })
}

#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    /// The content after the indentation, without trailing spaces.
    text: &'a str,
    /// The same with its trailing spaces (which are content in a block scalar).
    full: &'a str,
    /// Whether blank or comment-only lines were dropped just before this one.
    after_gap: bool,
}

/// `Some(None)` for a document with no content (only meaningful before the first `---`).
/// `trailing_gap`: whether blank or comment-only lines were dropped after the last line.
fn parse_document<'a>(
    lines: Vec<Line<'a>>,
    trailing_gap: bool,
    budget: &mut Budget,
    arena: &'a Bump,
) -> Option<Option<Node<'a>>> {
    if lines.is_empty() {
        return Some(None);
    }
    let mut reader = Reader {
        lines,
        pos: 0,
        depth: 0,
        budget,
        arena,
        trailing_gap,
    };
    let indent = reader.lines[0].indent;
    let node = reader.block(indent)?;
    (reader.pos == reader.lines.len()).then_some(Some(node))
}

struct Reader<'a, 'b> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
    budget: &'b mut Budget,
    arena: &'a Bump,
    trailing_gap: bool,
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

impl<'a> Reader<'a, '_> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.pos).copied()
    }

    /// A block node whose first line is at `indent`.
    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        let line = self.peek()?;
        self.depth += 1;
        self.budget.enter(self.depth)?;
        let node = if is_seq_item(line.text) {
            self.sequence(indent)
        } else {
            self.mapping(indent, None)
        };
        self.depth -= 1;
        node
    }

    /// A block mapping at `indent`; `first` is its first entry when the caller split it already.
    fn mapping(&mut self, indent: usize, mut first: Option<(MapKey<'a>, &'a str)>) -> Option<Node<'a>> {
        let mut entries = ArenaVec::new_in(self.arena);
        let mut keys = KeySet::default();
        while let Some(line) = self.peek().filter(|l| l.indent == indent && !is_seq_item(l.text)) {
            let (key, rest) = match first.take() {
                Some(entry) => entry,
                None => split_key(line.text, self.arena)?,
            };
            keys.check(&key, &entries)?;
            self.pos += 1;
            let value = if rest.is_empty() {
                self.nested(indent, true)?
            } else {
                self.inline(rest, indent)?
            };
            entries.push((key, value));
        }
        // A sequence item at the mapping's indentation cannot follow its entries.
        self.peek().is_none_or(|next| next.indent < indent).then_some(())?;
        Some(Node::Map(entries.into_bump_slice()))
    }

    fn sequence(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut items = ArenaVec::new_in(self.arena);
        while let Some(line) = self.peek().filter(|l| l.indent == indent && is_seq_item(l.text)) {
            let rest = line.text[1..].trim_start_matches(' ');
            if rest.is_empty() || rest.starts_with('#') {
                self.pos += 1;
                items.push(self.nested(indent, false)?);
            } else if is_seq_item(rest) {
                return None;
            } else if let Some(first) = split_key(rest, self.arena) {
                // `- key: value`: a mapping whose entries sit at the column after the dash.
                let column = indent + (line.text.len() - rest.len());
                self.lines[self.pos] = Line {
                    indent: column,
                    text: rest,
                    ..line
                };
                items.push(self.mapping(column, Some(first))?);
            } else {
                self.pos += 1;
                items.push(self.inline(rest, indent)?);
            }
        }
        // A key at the sequence's indentation may follow: the sequence was that mapping's value.
        self.peek().is_none_or(|next| next.indent <= indent).then_some(())?;
        Some(Node::Seq(items.into_bump_slice()))
    }

    /// The value of a key or dash with nothing after it: a more indented block, a sequence at
    /// the key's own indentation (mapping values only), or null.
    fn nested(&mut self, indent: usize, in_mapping: bool) -> Option<Node<'a>> {
        match self.peek() {
            Some(next) if next.indent > indent => self.block(next.indent),
            Some(next) if in_mapping && next.indent == indent && is_seq_item(next.text) => self.sequence(indent),
            _ => Some(Node::plain("")),
        }
    }

    /// The lines of a `|`/`>` scalar: consecutive, all at one indentation deeper than `indent`,
    /// with no blank, comment-like or trailing-space line (those need YAML's full chomping and
    /// folding rules).
    fn block_scalar(&mut self, style: BlockStyle, indent: usize) -> Option<Node<'a>> {
        let first = self.peek().filter(|l| l.indent > indent && !l.after_gap)?;
        let mut parts = Vec::new();
        while let Some(line) = self.peek().filter(|l| l.indent > indent) {
            if line.indent != first.indent || line.after_gap || line.full != line.text {
                return None;
            }
            parts.push(line.text);
            self.pos += 1;
        }
        // Lines dropped right after the block (before the next line, or at the end of the
        // document) may have been its content: `# text` lines and blank lines.
        if self.peek().map_or(self.trailing_gap, |next| next.after_gap) {
            return None;
        }
        let mut value = parts.join(if style.folded { " " } else { "\n" });
        if !style.strip {
            value.push('\n');
        }
        Some(Node::Quoted(self.arena.alloc_str(&value)))
    }

    /// A value on the same line as its key or dash; nothing more indented may follow it (that
    /// would be a multi-line scalar).
    fn inline(&mut self, text: &'a str, indent: usize) -> Option<Node<'a>> {
        if text.starts_with(['|', '>']) {
            let header = text.split(" #").next().unwrap_or(text).trim_end_matches(' ');
            return self.block_scalar(BlockStyle::from_header(header)?, indent);
        }
        let (node, rest) = flow_value(text, false, self.depth, self.budget, self.arena)?;
        if !rest_is_comment(rest) || self.peek().is_some_and(|next| next.indent > indent) {
            return None;
        }
        Some(node)
    }
}

/// `|`, `|-`, `>` or `>-`: literal or folded, final newline kept (clip) or stripped.
#[derive(Clone, Copy)]
struct BlockStyle {
    folded: bool,
    strip: bool,
}

impl BlockStyle {
    fn from_header(header: &str) -> Option<Self> {
        let (folded, strip) = match header {
            "|" => (false, false),
            "|-" => (false, true),
            ">" => (true, false),
            ">-" => (true, true),
            _ => return None,
        };
        Some(BlockStyle { folded, strip })
    }
}

/// The keys of one mapping, compared by text (`"a"` and `a` are the same key): a scan of the
/// entries while the mapping is small, a hash set once it is large (so that a huge mapping
/// costs linear time, not quadratic).
#[derive(Default)]
struct KeySet<'a>(Option<foldhash::HashSet<&'a str>>);

const LINEAR_SCAN_LIMIT: usize = 16;

impl<'a> KeySet<'a> {
    /// `None` when `key` repeats one of `entries` (duplicates are the full parser's to report).
    fn check(&mut self, key: &MapKey<'a>, entries: &[(MapKey<'a>, Node<'a>)]) -> Option<()> {
        if self.0.is_none() && entries.len() < LINEAR_SCAN_LIMIT {
            return (!entries.iter().any(|(k, _)| k.text == key.text)).then_some(());
        }
        let set = self
            .0
            .get_or_insert_with(|| entries.iter().map(|(k, _)| k.text).collect());
        set.insert(key.text).then_some(())
    }
}

/// Whether what follows a value is nothing, spaces, or a comment — which YAML requires to be
/// separated from the value by whitespace (`"1"# x` is an error, `"1" # x` a comment).
fn rest_is_comment(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && rest.starts_with(' '))
}

/// `key: rest` at the start of a block line; `None` when the line is not a mapping entry.
/// YAML's merge key (`<<: *defaults`), which this reader does not implement.
const MERGE_KEY: &str = "<<";

/// YAML limits an implicit key, quotes included, to 1024 characters (serde-saphyr enforces it);
/// this reader declines anything near that (bytes count at least as many as characters).
const MAX_KEY_BYTES: usize = 1000;

fn split_key<'a>(text: &'a str, arena: &'a Bump) -> Option<(MapKey<'a>, &'a str)> {
    let (key, after) = if text.starts_with(['"', '\'']) {
        let (key, after) = quoted(text, arena)?;
        (
            MapKey {
                text: key,
                quoted: true,
            },
            after,
        )
    } else {
        let end = key_end(text)?;
        let key = &text[..end];
        // serde-saphyr trims tabs around a plain key and merges `<<` keys; this reader leaves
        // such keys to it.
        if key.is_empty() || key.ends_with(' ') || key.contains('\t') || key == MERGE_KEY || starts_with_indicator(key)
        {
            return None;
        }
        (
            MapKey {
                text: key,
                quoted: false,
            },
            &text[end..],
        )
    };
    if text.len() - after.len() > MAX_KEY_BYTES {
        return None;
    }
    let after = after.strip_prefix(':')?;
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    let value = after.trim_start_matches(' ');
    Some((key, if value.starts_with('#') { "" } else { value }))
}

/// The first `:` followed by a space or the end of the line; `None` when there is none, or when
/// a comment (` #`) starts before it.
fn key_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b':' if bytes.get(i + 1).is_none_or(|n| *n == b' ') => return Some(i),
            b'#' if i > 0 && bytes[i - 1] == b' ' => return None,
            _ => {}
        }
    }
    None
}

/// Characters that give a plain scalar's first character another meaning in YAML.
fn starts_with_indicator(text: &str) -> bool {
    matches!(
        text.as_bytes().first(),
        Some(
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
        )
    )
}

/// One value in flow or block context; returns it and the text after it.
fn flow_value<'a>(
    text: &'a str,
    in_flow: bool,
    depth: usize,
    budget: &mut Budget,
    arena: &'a Bump,
) -> Option<(Node<'a>, &'a str)> {
    budget.enter(depth + 1)?;
    match text.as_bytes().first()? {
        b'[' => flow_sequence(&text[1..], depth + 1, budget, arena),
        b'{' => flow_mapping(&text[1..], depth + 1, budget, arena),
        b'"' | b'\'' => quoted(text, arena).map(|(s, rest)| (Node::Quoted(s), rest)),
        b'-' if !text[1..].starts_with(|c: char| c.is_ascii_digit() || c == '-' || c.is_ascii_alphabetic()) => None,
        _ if starts_with_indicator(text) && !text.starts_with('-') => None,
        _ => {
            let (plain, rest) = plain(text, in_flow)?;
            Some((Node::plain(plain), rest))
        }
    }
}

/// A plain scalar: up to the end of the line or a comment, and in flow context up to `,`, `]`,
/// `}` or `: `. A `: ` inside a block scalar is a YAML error: decline.
fn plain(text: &str, in_flow: bool) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    for (i, &b) in bytes.iter().enumerate() {
        let next_is_space = bytes.get(i + 1).is_none_or(|n| *n == b' ');
        match b {
            b'#' if i > 0 && bytes[i - 1] == b' ' => {
                end = i;
                break;
            }
            b':' if next_is_space || (in_flow && matches!(bytes.get(i + 1), Some(b',' | b']' | b'}'))) => {
                if in_flow {
                    end = i;
                    break;
                }
                return None;
            }
            b',' | b']' | b'}' | b'[' | b'{' if in_flow => {
                end = i;
                break;
            }
            b'\t' => return None,
            _ => {}
        }
    }
    let value = text[..end].trim_end_matches(' ');
    (!value.is_empty()).then_some((value, &text[value.len()..]))
}

/// A key in a flow mapping: a quoted scalar or a plain one (typed only when deserialized).
fn flow_key<'a>(text: &'a str, arena: &'a Bump) -> Option<(MapKey<'a>, &'a str)> {
    let (key, rest) = if text.starts_with(['"', '\'']) {
        let (key, rest) = quoted(text, arena)?;
        (
            MapKey {
                text: key,
                quoted: true,
            },
            rest,
        )
    } else if starts_with_indicator(text) {
        return None;
    } else {
        let (key, rest) = plain(text, true).filter(|(key, _)| *key != MERGE_KEY)?;
        (
            MapKey {
                text: key,
                quoted: false,
            },
            rest,
        )
    };
    (text.len() - rest.len() <= MAX_KEY_BYTES).then_some((key, rest))
}

fn flow_sequence<'a>(
    mut text: &'a str,
    depth: usize,
    budget: &mut Budget,
    arena: &'a Bump,
) -> Option<(Node<'a>, &'a str)> {
    let mut items = ArenaVec::new_in(arena);
    loop {
        text = text.trim_start_matches(' ');
        if let Some(rest) = text.strip_prefix(']') {
            return Some((Node::Seq(items.into_bump_slice()), rest));
        }
        if !items.is_empty() {
            text = text.strip_prefix(',')?.trim_start_matches(' ');
        }
        let (item, rest) = flow_value(text, true, depth, budget, arena)?;
        items.push(item);
        text = rest;
    }
}

fn flow_mapping<'a>(
    mut text: &'a str,
    depth: usize,
    budget: &mut Budget,
    arena: &'a Bump,
) -> Option<(Node<'a>, &'a str)> {
    let mut entries = ArenaVec::new_in(arena);
    let mut keys = KeySet::default();
    loop {
        text = text.trim_start_matches(' ');
        if let Some(rest) = text.strip_prefix('}') {
            return Some((Node::Map(entries.into_bump_slice()), rest));
        }
        if !entries.is_empty() {
            text = text.strip_prefix(',')?.trim_start_matches(' ');
        }
        let (key, rest) = flow_key(text, arena)?;
        let rest = rest.trim_start_matches(' ').strip_prefix(':')?;
        if !rest.starts_with([' ', ',', '}']) {
            return None;
        }
        keys.check(&key, &entries)?;
        let rest = rest.trim_start_matches(' ');
        let (value, rest) = if rest.starts_with([',', '}']) {
            (Node::plain(""), rest)
        } else {
            flow_value(rest, true, depth, budget, arena)?
        };
        entries.push((key, value));
        text = rest;
    }
}

/// A single-line quoted scalar at the start of `text`, unescaped (into `arena` when escapes
/// change it), and the text after it.
fn quoted<'a>(text: &'a str, arena: &'a Bump) -> Option<(&'a str, &'a str)> {
    let (value, rest) = unquote(text)?;
    let value = match value {
        Cow::Borrowed(value) => value,
        Cow::Owned(value) => arena.alloc_str(&value),
    };
    Some((value, rest))
}

fn unquote(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let quote = text.as_bytes()[0];
    let body = &text[1..];
    if quote == b'\'' {
        let mut out = String::new();
        let mut rest = body;
        loop {
            let end = rest.find('\'')?;
            out.push_str(&rest[..end]);
            if rest[end + 1..].starts_with('\'') {
                out.push('\'');
                rest = &rest[end + 2..];
            } else {
                let after = &rest[end + 1..];
                let value = if out.len() == body.len() - after.len() - 1 {
                    Cow::Borrowed(&body[..out.len()])
                } else {
                    Cow::Owned(out)
                };
                return Some((value, after));
            }
        }
    }
    let end = body.find(['"', '\\'])?;
    if body.as_bytes()[end] == b'"' {
        return Some((Cow::Borrowed(&body[..end]), &body[end + 1..]));
    }
    let mut out = String::from(&body[..end]);
    let mut chars = body[end..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((Cow::Owned(out), &body[end + i + 1..])),
            '\\' => {
                let escaped = match chars.next()?.1 {
                    '\\' => '\\',
                    '"' => '"',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'u' => {
                        let hex: String = (0..4).map(|_| chars.next().map(|(_, h)| h)).collect::<Option<_>>()?;
                        char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                    }
                    _ => return None,
                };
                out.push(escaped);
            }
            _ => out.push(c),
        }
    }
    None
}

/// What a plain scalar means when its type is not dictated by the target.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    Null,
    Bool(bool),
    /// A decimal integer (parsed when asked for).
    Integer,
    /// A decimal with a fraction or exponent (parsed when asked for).
    Float,
    Text,
    /// A form whose type YAML versions and parsers disagree on: decline.
    Ambiguous,
}

fn classify(text: &str) -> Class {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Class::Null,
        "true" | "True" | "TRUE" => return Class::Bool(true),
        "false" | "False" | "FALSE" => return Class::Bool(false),
        _ => {}
    }
    // serde-saphyr also reads other spellings (`truE`, `nULL`) as booleans and null: decline.
    if ["true", "false", "null"].iter().any(|w| text.eq_ignore_ascii_case(w)) {
        return Class::Ambiguous;
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        let yaml11_bool = text.len() <= 3
            && ["y", "n", "yes", "no", "on", "off"]
                .iter()
                .any(|w| text.eq_ignore_ascii_case(w));
        return if yaml11_bool { Class::Ambiguous } else { Class::Text };
    }
    if let Some(class) = decimal_class(text) {
        return class;
    }
    // Other number forms (`+1`, `.5`, `1.`, `0x1F`, `1_000`, `1:30`, `.inf`) are read as numbers
    // by some YAML versions and parsers: decline. Dates and versions (`2026-11-30`, `1.2.0`)
    // and ids (`7f3a9c`) are text everywhere.
    if number_like(text) {
        Class::Ambiguous
    } else {
        Class::Text
    }
}

/// True for the number forms of YAML 1.1 and 1.2 beyond plain decimals.
fn number_like(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return true;
    }
    let radix_prefix = unsigned
        .get(..2)
        .is_some_and(|p| ["0x", "0o", "0b"].iter().any(|r| p.eq_ignore_ascii_case(r)));
    if radix_prefix {
        let digits = &unsigned[2..];
        return !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_');
    }
    let bytes = unsigned.as_bytes();
    let mut dots = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match b {
            b'0'..=b'9' | b'_' | b':' => true,
            b'.' => {
                dots += 1;
                dots == 1
            }
            b'e' | b'E' => i > 0,
            b'+' | b'-' => i > 0 && matches!(bytes[i - 1], b'e' | b'E'),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    bytes.iter().any(u8::is_ascii_digit)
}

/// `Integer` for `-?(0|[1-9][0-9]*)`; `Float` when a fraction `\.[0-9]+` and/or an exponent
/// `[eE][-+]?[0-9]+` follows; `None` for anything else.
fn decimal_class(text: &str) -> Option<Class> {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let start = i;
    let whole = digits(&mut i);
    if whole == 0 || (whole > 1 && b[start] == b'0') {
        return None;
    }
    let mut class = Class::Integer;
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
        class = Class::Float;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
        class = Class::Float;
    }
    (i == b.len()).then_some(class)
}

/// The reader declined a request; the caller falls back to serde-saphyr.
#[derive(Debug)]
pub struct Decline(String);

impl fmt::Display for Decline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Decline {}

impl de::Error for Decline {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Decline(message.to_string())
    }
}

fn decline<T>(why: &str) -> Result<T, Decline> {
    Err(Decline(why.to_owned()))
}

impl<'de> IntoDeserializer<'de, Decline> for &'de Node<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for &'de Node<'de> {
    type Error = Decline;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self {
            Node::Plain(Plain { text, class }) => match class {
                Class::Null => visitor.visit_unit(),
                Class::Bool(b) => visitor.visit_bool(*b),
                Class::Integer => match (text.parse::<u64>(), text.parse::<i64>()) {
                    (Ok(u), _) => visitor.visit_u64(u),
                    (_, Ok(i)) => visitor.visit_i64(i),
                    _ => decline("integer out of range"),
                },
                Class::Float => match text.parse::<f64>() {
                    Ok(f) if f.is_finite() => visitor.visit_f64(f),
                    _ => decline("float out of range"),
                },
                Class::Text => visitor.visit_borrowed_str(text),
                Class::Ambiguous => decline("ambiguous plain scalar"),
            },
            Node::Quoted(text) => visitor.visit_borrowed_str(text),
            Node::Seq(items) => visitor.visit_seq(SeqDeserializer::new(items.iter())),
            Node::Map(entries) => visitor.visit_map(MapDeserializer::new(
                entries.iter().map(|(k, v)| (KeyDeserializer(k), v)),
            )),
        }
    }

    /// Text is text only when YAML would read it as text: `version: 1.0` is a float to YAML,
    /// so a string target declines rather than guess.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self {
            Node::Plain(plain) if plain.class != Class::Text => decline("plain scalar is not text"),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self {
            Node::Plain(plain) if plain.class == Class::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Decline> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Decline> {
        match self {
            Node::Plain(Plain {
                text,
                class: Class::Text,
            }) => visitor.visit_enum(BorrowedStrDeserializer::new(text)),
            Node::Quoted(text) => visitor.visit_enum(BorrowedStrDeserializer::new(text)),
            _ => decline("enum is not a unit variant name"),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// A mapping key: text only. A plain key YAML would read as another type (`1:`, `true:`,
/// `null:`) declines.
struct KeyDeserializer<'a>(&'a MapKey<'a>);

impl<'de> IntoDeserializer<'de, Decline> for KeyDeserializer<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for KeyDeserializer<'de> {
    type Error = Decline;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        let key = self.0;
        if !key.quoted && classify(key.text) != Class::Text {
            return decline("key is not text");
        }
        visitor.visit_borrowed_str(key.text)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}
