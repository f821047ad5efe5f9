//! The one way `mlspec` writes to its standard output and standard error.
//!
//! Every line goes through [`out!`]/[`outln!`] (stdout) or [`err!`]/[`errln!`] (stderr), never
//! `print!`/`eprint!` (clippy's `print_stdout`/`print_stderr` lints enforce it). Two things
//! follow from that:
//!
//! - **A closed or failing stdout is not a panic.** `print!` panics when the reader has gone
//!   (`mlspec list runs | head -1`) or the disk is full (`> /dev/full`). Here the first failed
//!   write is remembered and later output is dropped; the command finishes its work (so nothing
//!   it writes elsewhere is left half-made), and [`finish`] turns the failure into the exit
//!   status: a closed pipe ends quietly with 0, as ripgrep does; any other write error is exit 2
//!   with its reason.
//! - **Terminals cannot be spoofed.** Names, paths and values come from files and the network;
//!   an ESC sequence in one could rewrite what the user sees. Control characters other than
//!   newline and tab are written as visible escapes (`\x1b`) — see [`escape_controls`] — except in
//!   a coloured [`diagnostic`], whose escapes are our own: colour only on a terminal, and never
//!   with `NO_COLOR` set.
//!
//! What a command prints is said one way too: [`Format`] (readable text, JSON, YAML and the few
//! formats of one command), each `--format`/`-o` flag accepting the values its command supports
//! under the names it has always had, through [`formats`].

use std::borrow::Cow;
use std::io::{self, IsTerminal as _, Write};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// The first error writing to stdout (its kind and reason), if any; once set, later stdout
/// output is dropped.
static STDOUT_FAILURE: Mutex<Option<(io::ErrorKind, String)>> = Mutex::new(None);

/// Writes to stdout, escaping control characters.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(&format!($($arg)*), true) };
}

/// Writes a line to stdout, escaping control characters.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::stdout("\n", false) };
    ($($arg:tt)*) => { $crate::output::stdout(&format!("{}\n", format_args!($($arg)*)), true) };
}

/// Writes to stderr, escaping control characters.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::output::stderr(&format!($($arg)*), true) };
}

/// Writes a line to stderr, escaping control characters.
#[macro_export]
macro_rules! errln {
    () => { $crate::output::stderr("\n", false) };
    ($($arg:tt)*) => { $crate::output::stderr(&format!("{}\n", format_args!($($arg)*)), true) };
}

/// Writes `text` to stdout unless an earlier write failed; remembers the first failure.
pub fn stdout(text: &str, escape: bool) {
    let mut failure = STDOUT_FAILURE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if failure.is_some() {
        return;
    }
    let text = if escape {
        escape_controls(text)
    } else {
        Cow::Borrowed(text)
    };
    if let Err(error) = io::stdout().lock().write_all(text.as_bytes()) {
        *failure = Some((error.kind(), error.to_string()));
    }
}

/// Writes `text` to stderr. Errors are ignored: there is nowhere left to report them.
pub fn stderr(text: &str, escape: bool) {
    let text = if escape {
        escape_controls(text)
    } else {
        Cow::Borrowed(text)
    };
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Flushes stdout and decides the exit status: the command's own, 0 when the reader of stdout
/// went away (a closed pipe), 2 with the reason for any other write error.
pub fn finish(code: ExitCode) -> ExitCode {
    let mut failure = STDOUT_FAILURE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if failure.is_none()
        && let Err(error) = io::stdout().lock().flush()
    {
        *failure = Some((error.kind(), error.to_string()));
    }
    match &*failure {
        None => code,
        Some((io::ErrorKind::BrokenPipe, _)) => ExitCode::SUCCESS,
        Some((_, reason)) => {
            stderr(&format!("error: cannot write to standard output: {reason}\n"), true);
            ExitCode::from(2)
        }
    }
}

/// `text` with every control character except newline and tab written as a visible escape
/// (`\x1b`, `\r`, `\u{9b}`), so that names and values cannot move the cursor, recolour or
/// retitle a terminal, or fake a line.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            escaped.push(c);
        } else if c == '\r' {
            escaped.push_str("\\r");
        } else if (c as u32) < 0x80 {
            escaped.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            escaped.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Writes a diagnostic to stderr. `render(colour)` draws it: coloured when stderr is a terminal
/// and `NO_COLOR` is unset (no-color.org), then written as is (its escapes are ours); plain
/// otherwise, and escaped like all other output.
pub fn diagnostic(render: impl FnOnce(bool) -> String) {
    let colour = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    stderr(&render(colour), !colour);
}

/// Prints `value` on stdout as indented JSON and a line end: every command's `--format json`.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    stdout(&format!("{}\n", serde_json::to_string_pretty(value)?), true);
    Ok(())
}

/// How a command prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Readable text: a table, lines or diagnostics (the value is `human`, `text` or `table`, as
    /// the command has always called it).
    Text,
    Json,
    Yaml,
    /// JUnit XML (`objectives check`).
    Junit,
    /// Graphviz DOT (`lineage`).
    Dot,
    /// A Mermaid flowchart (`lineage`).
    Mermaid,
}

/// A `--format` value a command accepts: its name on the command line, the format, and the
/// line `--help` shows for it (empty: none).
pub type Choice = (&'static str, Format, &'static str);

/// Readable text or JSON, as `validate`, `apply` and `kinds` name them.
pub const HUMAN_OR_JSON: &[Choice] = &[
    ("human", Format::Text, "Readable text"),
    ("json", Format::Json, "JSON on stdout"),
];

/// Readable text or JSON, as `history` and `store verify` name them.
pub const TEXT_OR_JSON: &[Choice] = &[("text", Format::Text, ""), ("json", Format::Json, "")];

/// A table or JSON: `list`, `data drift`, `data leakage`.
pub const TABLE_OR_JSON: &[Choice] = &[("table", Format::Text, ""), ("json", Format::Json, "")];

/// A document's formats: `get -o`, and every command that writes a document.
pub const YAML_OR_JSON: &[Choice] = &[("yaml", Format::Yaml, ""), ("json", Format::Json, "")];

/// The value parser of a `--format` flag that accepts `choices` and nothing else, with clap's
/// usual error and help for them.
pub fn formats(choices: &'static [Choice]) -> impl TypedValueParser<Value = Format> {
    let values = choices.iter().map(|(name, _, help)| match *help {
        "" => PossibleValue::new(*name),
        help => PossibleValue::new(*name).help(help),
    });
    PossibleValuesParser::new(values).map(move |given: String| {
        choices
            .iter()
            .find(|(name, ..)| *name == given)
            .map_or(Format::Text, |(_, format, _)| *format)
    })
}

#[cfg(test)]
mod tests {
    use super::{Format, HUMAN_OR_JSON, escape_controls, formats};

    #[test]
    fn a_format_flag_takes_its_commands_values_only() {
        let command = clap::Command::new("kinds").arg(
            clap::Arg::new("format")
                .long("format")
                .value_parser(formats(HUMAN_OR_JSON))
                .default_value("human"),
        );
        let parse = |args: &[&str]| {
            command
                .clone()
                .try_get_matches_from(args)
                .map(|m| m.get_one::<Format>("format").copied())
        };
        assert_eq!(parse(&["kinds"]).unwrap(), Some(Format::Text));
        assert_eq!(parse(&["kinds", "--format", "json"]).unwrap(), Some(Format::Json));
        let refused = parse(&["kinds", "--format", "yaml"]).unwrap_err().to_string();
        assert!(refused.contains("[possible values: human, json]"), "{refused}");
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(escape_controls("plain\tline\n"), "plain\tline\n");
        assert_eq!(escape_controls("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape_controls("over\rwrite"), "over\\rwrite");
        assert_eq!(escape_controls("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(escape_controls("bell\u{7}"), "bell\\x07");
    }
}
