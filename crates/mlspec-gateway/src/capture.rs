//! The capture file (`mlspec serve --capture FILE`): the bodies of every request and answer,
//! one JSON object per line, so that drift and performance can be computed again offline
//! (`mlspec monitor LOG --capture FILE`) — the chained log itself keeps only their digests.
//!
//! Each line: `{"rid", "time", "route", "status", "latencyMs", "method", "path",
//! "contentType"?, "input"? | "inputBase64"?, "output"? | "outputBase64"?, "outputTruncated"?}`
//! — a body that is UTF-8 is kept as text, any other as base64; an answer is kept up to
//! 256 KiB (`outputTruncated: true` past it). The log line with the same `rid` carries the
//! SHA-256 of each body (`in=`, `out=`), so a captured body is checked against the signed log
//! before it is used ([`Record::matches`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, BufWriter, Read as _, Write as _};
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::GatewayError;
use crate::monitor::Sample;
use crate::route::Route;

/// Where a log's bodies are kept unless said otherwise: `LOG.capture.jsonl`.
pub fn default_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".capture.jsonl");
    PathBuf::from(name)
}

/// The longest capture line read back.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// One captured request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// The request's id (the log line's `rid`).
    pub rid: String,
    /// When it arrived.
    pub time: DateTime<Utc>,
    /// `primary`, `canary` or `shadow`.
    pub route: String,
    /// The status answered.
    pub status: u16,
    /// Time to the answer's last byte.
    pub latency_ms: f64,
    /// The request path.
    pub path: String,
    /// The request's Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The request body, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The request body, base64 (when it is not UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_base64: Option<String>,
    /// The answer, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The answer, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_base64: Option<String>,
    /// Whether the answer was longer than what is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// The request's `Inference-Header-Content-Length`, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_header_length: Option<usize>,
    /// The answer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_header_length: Option<usize>,
}

impl Record {
    /// The record of a sample.
    pub fn of(sample: &Sample, output_truncated: bool) -> Record {
        let (input, input_base64) = text_or_base64(sample.input.as_ref());
        let (output, output_base64) = text_or_base64(sample.output.as_ref());
        Record {
            rid: sample.request_id.clone(),
            time: sample.time,
            route: sample.route.name().to_owned(),
            status: sample.status,
            latency_ms: sample.latency_ms,
            path: sample.path.clone(),
            content_type: sample.content_type.clone(),
            input,
            input_base64,
            output,
            output_base64,
            output_truncated,
            input_header_length: sample.input_header_length,
            output_header_length: sample.output_header_length,
        }
    }

    /// The bytes of the bodies it holds (what it costs while it waits in a queue).
    pub fn body_bytes(&self) -> u64 {
        [&self.input, &self.input_base64, &self.output, &self.output_base64]
            .into_iter()
            .flatten()
            .map(|text| text.len() as u64)
            .sum()
    }

    /// The sample it records (an unknown route is the primary's).
    pub fn sample(&self) -> Sample {
        let route = match self.route.as_str() {
            "canary" => Route::Canary,
            "shadow" => Route::Shadow,
            _ => Route::Primary,
        };
        Sample {
            time: self.time,
            route,
            status: self.status,
            latency_ms: self.latency_ms,
            request_id: self.rid.clone(),
            path: self.path.clone(),
            content_type: self.content_type.clone(),
            input: bytes(self.input.as_deref(), self.input_base64.as_deref()),
            output: bytes(self.output.as_deref(), self.output_base64.as_deref()),
            input_header_length: self.input_header_length,
            output_header_length: self.output_header_length,
        }
    }

    /// Whether its bodies are the ones the log line's digests (`in=`, `out=`) name; an absent
    /// digest matches an absent or empty body, and a truncated answer is not checked.
    pub fn matches(&self, input_digest: Option<&str>, output_digest: Option<&str>) -> bool {
        let sample = self.sample();
        let same = |body: Option<&Bytes>, digest: Option<&str>| match (body.filter(|b| !b.is_empty()), digest) {
            (None, None) => true,
            (Some(body), Some(digest)) => digest == sha256(body),
            (None, Some(digest)) => digest == sha256(b""),
            (Some(_), None) => false,
        };
        same(sample.input.as_ref(), input_digest)
            && (self.output_truncated || same(sample.output.as_ref(), output_digest))
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn text_or_base64(body: Option<&Bytes>) -> (Option<String>, Option<String>) {
    match body.filter(|b| !b.is_empty()) {
        None => (None, None),
        Some(body) => match std::str::from_utf8(body) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (None, Some(STANDARD.encode(body))),
        },
    }
}

fn bytes(text: Option<&str>, base64: Option<&str>) -> Option<Bytes> {
    match (text, base64) {
        (Some(text), _) => Some(Bytes::copy_from_slice(text.as_bytes())),
        (None, Some(encoded)) => STANDARD.decode(encoded).ok().map(Bytes::from),
        (None, None) => None,
    }
}

/// Appends records to a capture file.
pub struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Writer {
    /// Opens (or creates) the file to append to.
    pub fn open(path: &Path) -> Result<Writer, GatewayError> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| GatewayError::Io(format!("cannot write the capture file {}: {e}", path.display())))?;
        Ok(Writer {
            path: path.to_owned(),
            out: BufWriter::with_capacity(1 << 16, file),
        })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &Record) -> Result<(), GatewayError> {
        let fail = |e: String| GatewayError::Io(format!("cannot write the capture file {}: {e}", self.path.display()));
        let mut line = serde_json::to_vec(record).map_err(|e| fail(e.to_string()))?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(|e| fail(e.to_string()))
    }

    /// Hands what is buffered to the OS.
    pub fn flush(&mut self) -> Result<(), GatewayError> {
        self.out
            .flush()
            .map_err(|e| GatewayError::Io(format!("cannot write the capture file {}: {e}", self.path.display())))
    }
}

/// Reads a capture file: its records by request id (a later record of an id replaces an
/// earlier one), and the lines that could not be read (`FILE:LINE: why`).
pub fn read(path: &Path) -> Result<(std::collections::HashMap<String, Record>, Vec<String>), GatewayError> {
    let file = File::open(path)
        .map_err(|e| GatewayError::Io(format!("cannot read the capture file {}: {e}", path.display())))?;
    let mut reader = BufReader::new(file);
    let (mut records, mut problems) = (std::collections::HashMap::new(), Vec::new());
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| GatewayError::Io(format!("cannot read the capture file {}: {e}", path.display())))?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            problems.push(format!(
                "{}:{number}: longer than {MAX_LINE_BYTES} bytes",
                path.display()
            ));
            // Skip the rest of the over-long line.
            let mut rest = Vec::new();
            let _ = reader.read_until(b'\n', &mut rest);
            continue;
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(line.trim_ascii_end()) {
            Ok(record) => {
                records.insert(record.rid.clone(), record);
            }
            Err(e) => problems.push(format!("{}:{number}: not a capture record: {e}", path.display())),
        }
    }
    Ok((records, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(input: &[u8], output: &[u8]) -> Sample {
        Sample {
            time: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            route: Route::Canary,
            status: 200,
            latency_ms: 1.25,
            request_id: "r-1".into(),
            path: "/v2/models/m/infer".into(),
            content_type: Some("application/json".into()),
            input: Some(Bytes::copy_from_slice(input)),
            output: Some(Bytes::copy_from_slice(output)),
            input_header_length: None,
            output_header_length: None,
        }
    }

    #[test]
    fn records_round_trip_text_and_binary_bodies_and_check_them_against_the_log_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.jsonl");
        let text = sample(br#"{"inputs":[]}"#, br#"{"outputs":[]}"#);
        let binary = Sample {
            request_id: "r-2".into(),
            ..sample(&[0xff, 0x00, 0x80], b"ok")
        };
        let mut writer = Writer::open(&path).unwrap();
        writer.write(&Record::of(&text, false)).unwrap();
        writer.write(&Record::of(&binary, false)).unwrap();
        writer.flush().unwrap();
        std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + "not json\n").unwrap();
        let (records, problems) = read(&path).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].ends_with(":3: not a capture record: expected ident at line 1 column 2"),
            "{problems:?}"
        );
        let back = records["r-2"].sample();
        assert_eq!(back.input.as_deref(), Some(&[0xff, 0x00, 0x80][..]));
        assert_eq!(back.route, Route::Canary);
        assert!(records["r-1"].input_base64.is_none());
        let digest = |b: &[u8]| sha256(b);
        let record = &records["r-1"];
        assert!(record.matches(Some(&digest(br#"{"inputs":[]}"#)), Some(&digest(br#"{"outputs":[]}"#))));
        assert!(!record.matches(Some(&digest(b"other")), Some(&digest(br#"{"outputs":[]}"#))));
        assert!(!record.matches(None, None));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_file_is_read_without_panicking_and_every_record_it_keeps_round_trips(
            lines in proptest::collection::vec(proptest::prelude::any::<Vec<u8>>(), 0..12),
            input in proptest::prelude::any::<Vec<u8>>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("capture.jsonl");
            let record = Record::of(&sample(&input, b"{}"), false);
            let mut bytes = lines.join(&b'\n');
            bytes.push(b'\n');
            bytes.extend(serde_json::to_vec(&record).unwrap());
            let segments = bytes.split(|b| *b == b'\n').count();
            std::fs::write(&path, bytes).unwrap();
            let (records, problems) = read(&path).unwrap();
            proptest::prop_assert!(problems.len() < segments);
            let back = records.get("r-1").map(Record::sample).and_then(|s| s.input);
            proptest::prop_assert_eq!(back.as_deref(), Some(&input[..]).filter(|i| !i.is_empty()));
        }
    }
}
