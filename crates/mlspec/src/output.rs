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
//!   newline and tab are written as visible escapes (`\x1b`) — see [`escape_controls`]. The
//!   `err_raw!` variant skips this for text whose control sequences are our own (coloured
//!   diagnostics).

use std::borrow::Cow;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Mutex;

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

/// Writes to stderr as is (text whose control sequences are our own).
#[macro_export]
macro_rules! err_raw {
    ($($arg:tt)*) => { $crate::output::stderr(&format!($($arg)*), false) };
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

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(escape_controls("plain\tline\n"), "plain\tline\n");
        assert_eq!(escape_controls("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape_controls("over\rwrite"), "over\\rwrite");
        assert_eq!(escape_controls("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(escape_controls("bell\u{7}"), "bell\\x07");
    }
}
