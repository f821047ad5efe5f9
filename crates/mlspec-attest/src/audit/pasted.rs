//! Finding a pasted log line in its log: someone copies a line from wherever they saw it (a
//! dashboard, a ticket, a mail) and asks what made that answer. The log line with the same
//! request id is the one to audit — and only if the paste is identical to it: a paste that is
//! not in the log, or differs from the logged line, is a finding to show, not an error.
//!
//! The pasted text is untrusted: it is bounded ([`MAX_LINE_BYTES`]), may be any bytes, and is
//! only ever parsed, never used to name a file.

use std::path::Path;

use crate::error::{AttestError, ErrorKind};
use crate::log::{Entry, Layout, Line, MAX_LINE_BYTES, read_line};

use super::LoggedLine;

/// Where a pasted line is in its log.
#[derive(Clone, Debug, PartialEq)]
pub enum PastedLine {
    /// The log holds the pasted line, unchanged.
    Found(LoggedLine),
    /// A line of the log has the pasted line's request id, but is not the pasted text: the
    /// first such line, and the fields whose values differ (none: the same values written
    /// differently).
    Differs {
        /// The logged line with that request id.
        logged: LoggedLine,
        /// The names of the fields that differ (`status`, `user_agent`, `chain`, …).
        fields: Vec<String>,
    },
    /// No line of the log has the pasted line's request id.
    NotInLog {
        /// The pasted line's request id.
        rid: String,
    },
    /// The pasted text is not a log line.
    NotALine {
        /// Why, in a sentence.
        reason: String,
    },
}

impl PastedLine {
    /// What to tell the person who pasted the line, when it is not found unchanged; `log` is
    /// the log searched.
    pub fn finding(&self, log: &Path) -> Option<String> {
        let log = log.display();
        match self {
            PastedLine::Found(_) => None,
            PastedLine::Differs { logged, fields } => Some(match fields.is_empty() {
                true => format!(
                    "the pasted line is not as logged: {log}:{} has its request id and the same values, written differently",
                    logged.number
                ),
                false => format!(
                    "the pasted line is not as logged: {log}:{} has its request id, but its {} differ",
                    logged.number,
                    fields.join(", ")
                ),
            }),
            PastedLine::NotInLog { rid } => Some(format!(
                "the pasted line is not in {log}: no line has its request id `{rid}`"
            )),
            PastedLine::NotALine { reason } => Some(format!("the pasted text {reason}")),
        }
    }
}

/// Finds `pasted` (one line, any surrounding whitespace ignored) in the log at `log`: the line
/// with its request id, unchanged or not. Reads the log once, one bounded line at a time. An
/// error only when the log cannot be read.
pub fn find_pasted(log: &Path, pasted: &[u8]) -> Result<PastedLine, AttestError> {
    let pasted = pasted.trim_ascii();
    let (entry, rid) = match pasted_entry(pasted) {
        Ok(found) => found,
        Err(reason) => return Ok(PastedLine::NotALine { reason }),
    };
    let name = log.display().to_string();
    let cannot = |e: std::io::Error| AttestError::new(ErrorKind::Io, &name, format!("cannot read: {e}"));
    let mut reader = std::io::BufReader::new(std::fs::File::open(log).map_err(cannot)?);
    let mut line = Vec::new();
    let mut same_rid: Option<LoggedLine> = None;
    for number in 1u64.. {
        match read_line(&mut reader, &mut line, MAX_LINE_BYTES as u64).map_err(cannot)? {
            Line::End => break,
            Line::TooLong => continue,
            Line::Complete | Line::Partial => {}
        }
        let identical = line == pasted;
        if !identical && same_rid.is_some() {
            continue;
        }
        // A line that does not read back cannot be the pasted one, which did.
        let Ok(logged) = LoggedLine::parse(log, number, &line) else {
            continue;
        };
        if identical {
            return Ok(PastedLine::Found(logged));
        }
        if logged.rid() == Some(rid.as_str()) {
            same_rid = Some(logged);
        }
    }
    Ok(match same_rid {
        Some(logged) => {
            let fields = differing_fields(&entry, &logged.entry);
            PastedLine::Differs { logged, fields }
        }
        None => PastedLine::NotInLog { rid },
    })
}

/// The pasted line read back, and its request id; why not, when it is not a log line.
fn pasted_entry(pasted: &[u8]) -> Result<(Entry, String), String> {
    if pasted.is_empty() {
        return Err("is empty: paste one line of the log".into());
    }
    if pasted.len() > MAX_LINE_BYTES {
        return Err(format!(
            "is {} bytes, longer than a log line ({} MiB at most)",
            pasted.len(),
            MAX_LINE_BYTES >> 20
        ));
    }
    if pasted.contains(&b'\n') {
        return Err("holds more than one line: paste one line of the log".into());
    }
    let text = std::str::from_utf8(pasted).map_err(|_| "is not UTF-8 text: not a log line".to_owned())?;
    let entry = crate::log::parse(text, Layout::of(pasted)).map_err(|e| format!("is not a log line: {e}"))?;
    let rid = entry
        .field("rid")
        .ok_or("has no request id (`rid=`): not a line of an mlspec log")?
        .to_owned();
    Ok((entry, rid))
}

/// The names of the fields whose values differ between two entries: the request's, then the
/// extension fields of either.
fn differing_fields(pasted: &Entry, logged: &Entry) -> Vec<String> {
    let request = [
        ("client", pasted.client != logged.client),
        ("user", pasted.user != logged.user),
        ("time", pasted.time != logged.time),
        ("method", pasted.method != logged.method),
        ("path", pasted.path != logged.path),
        ("protocol", pasted.protocol != logged.protocol),
        ("status", pasted.status != logged.status),
        ("bytes", pasted.bytes != logged.bytes),
        ("referer", pasted.referer != logged.referer),
        ("user_agent", pasted.user_agent != logged.user_agent),
    ];
    let mut fields: Vec<String> = request
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| name.to_owned())
        .collect();
    let keys = logged.fields.iter().chain(&pasted.fields).map(|(key, _)| key);
    for key in keys {
        if pasted.field(key) != logged.field(key) && !fields.contains(key) {
            fields.push(key.clone());
        }
    }
    fields
}
