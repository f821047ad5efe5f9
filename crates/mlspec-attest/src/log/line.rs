//! One line of a log: a request rendered as NCSA Combined with extension fields (or as a JSON
//! Lines object), and read back with every field decoded.
//!
//! Nothing a request carries can change the shape of a Combined line, so that every parser sees
//! exactly one request with the intended fields:
//!
//! - the **request line** (`"%r"`): the method keeps only HTTP token characters, the path and
//!   protocol only printable ASCII other than space, `"` and `\`; every other byte is written
//!   `\xhh` (Apache's escape, which `apachelogs` decodes). The three parts are separated by
//!   single spaces, so a method like `GET /admin HTTP/1.1" 200` stays one field;
//! - the **quoted fields** (referer, user agent): printable ASCII other than `"` and `\` as is,
//!   every other byte `\xhh` — no quote and no backslash other than an escape's ever appears;
//!   an absent value is `-`, a value that is `-` is `\x2D`;
//! - the **bare fields** (client, user) and **extension values**: percent-encoded outside
//!   `A-Z a-z 0-9 . _ ~ : @ / + -` (so `%` itself is `%25`); an empty value is `-`, a value that
//!   is `-` is `%2D`.
//!
//! [`parse`] undoes all of it: `log audit` shows the values the serving stack reported.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::{Binding, Layout, Request};

/// What bare fields and extension values keep unencoded: `A-Z a-z 0-9 . _ ~ : @ / + -`.
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@')
    .remove(b'/')
    .remove(b'+')
    .remove(b'-');

/// HTTP token characters (RFC 9110 `tchar`), what a method is made of.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// What a path keeps unescaped: printable ASCII but space, `"` and `\`.
fn is_path_byte(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte) && byte != b'"' && byte != b'\\'
}

/// What a protocol (`HTTP/1.1`) keeps unescaped.
fn is_protocol_byte(byte: u8) -> bool {
    is_tchar(byte) || byte == b'/'
}

/// What a quoted field keeps unescaped: printable ASCII but `"` and `\`.
fn is_quoted_byte(byte: u8) -> bool {
    byte == b' ' || is_path_byte(byte)
}

/// Appends `text`, every byte that `keep` refuses written `\xhh`.
fn push_escaped(out: &mut String, text: &str, keep: fn(u8) -> bool) {
    if text.bytes().all(keep) {
        out.push_str(text);
        return;
    }
    for byte in text.bytes() {
        if keep(byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "\\x{byte:02X}");
        }
    }
}

/// A quoted field, `-` when absent, `\x2D` when `-`.
fn push_quoted(out: &mut String, text: Option<&str>) {
    out.push('"');
    match text {
        None => out.push('-'),
        Some("-") => out.push_str("\\x2D"),
        Some(text) => push_escaped(out, text, is_quoted_byte),
    }
    out.push('"');
}

/// A bare field or extension value: percent-encoded, `-` when empty, `%2D` when `-`.
pub(super) fn push_encoded(out: &mut String, text: &str) {
    match text {
        "" => out.push('-'),
        "-" => out.push_str("%2D"),
        _ => {
            let _ = write!(out, "{}", utf8_percent_encode(text, ENCODED));
        }
    }
}

/// ` key=value`, the value percent-encoded.
pub(super) fn push_extension(out: &mut String, key: &str, value: &str) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    push_encoded(out, value);
}

/// The last second formatted as Combined's `[dd/Mon/yyyy:HH:MM:SS +0000]` (requests come in
/// order, so most lines reuse it).
#[derive(Default)]
pub(super) struct TimeCache {
    second: i64,
    text: String,
}

impl TimeCache {
    fn format(&mut self, time: DateTime<Utc>) -> &str {
        if self.text.is_empty() || time.timestamp() != self.second {
            self.second = time.timestamp();
            self.text = time.format("[%d/%b/%Y:%H:%M:%S +0000]").to_string();
        }
        &self.text
    }
}

/// The Combined line of a request, without its chain; `binding` is the rendered extension
/// fields of the binding.
pub(super) fn combined(out: &mut String, request: &Request, binding: &str, times: &mut TimeCache) {
    push_encoded(out, &request.client);
    out.push_str(" - ");
    push_encoded(out, request.user.as_deref().unwrap_or_default());
    out.push(' ');
    out.push_str(times.format(request.time.unwrap_or_else(Utc::now)));
    out.push_str(" \"");
    push_escaped(out, &request.method, is_tchar);
    out.push(' ');
    push_escaped(out, &request.path, is_path_byte);
    out.push(' ');
    push_escaped(out, request.protocol(), is_protocol_byte);
    out.push('"');
    let _ = write!(out, " {} {} ", request.status, request.bytes);
    push_quoted(out, request.referer.as_deref());
    out.push(' ');
    push_quoted(out, request.user_agent.as_deref());
    push_extension(out, "rid", &request.request_id);
    out.push_str(binding);
    let _ = write!(out, " latency_ms={:.3}", request.latency_ms);
    if let Some(digest) = &request.input_digest {
        push_extension(out, "in", digest);
    }
    if let Some(digest) = &request.output_digest {
        push_extension(out, "out", digest);
    }
    for (key, value) in &request.extra {
        push_extension(out, key, value);
    }
}

/// A JSON Lines object: the logging proto's fields, then `chain` — which the writer appends
/// after them, once the line up to it is hashed.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonLine<'a> {
    application_info: ApplicationInfo<'a>,
    request_info: RequestInfo<'a>,
    model_info: ModelInfo<'a>,
    #[serde(default, skip_serializing)]
    chain: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ApplicationInfo<'a> {
    model: Cow<'a, str>,
    package: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestInfo<'a> {
    request_id: Cow<'a, str>,
    client: Cow<'a, str>,
    user: Option<Cow<'a, str>>,
    time: String,
    method: Cow<'a, str>,
    path: Cow<'a, str>,
    protocol: Cow<'a, str>,
    status: u16,
    bytes: u64,
    referer: Option<Cow<'a, str>>,
    user_agent: Option<Cow<'a, str>>,
    latency_ms: f64,
    input_digest: Option<Cow<'a, str>>,
    output_digest: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extensions: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelInfo<'a> {
    name: Cow<'a, str>,
    pipeline_digest: Cow<'a, str>,
    training_data_digest: Cow<'a, str>,
}

/// The JSON Lines object of a request (logging proto fields), open at the end for `chain`.
pub(super) fn json_line(out: &mut String, request: &Request, binding: &Binding) -> Result<(), serde_json::Error> {
    let time = request.time.unwrap_or_else(Utc::now);
    fn borrowed(text: &Option<String>) -> Option<Cow<'_, str>> {
        text.as_deref().map(Cow::Borrowed)
    }
    let line = JsonLine {
        application_info: ApplicationInfo {
            model: Cow::Borrowed(&binding.model),
            package: Cow::Borrowed(&binding.package),
        },
        request_info: RequestInfo {
            request_id: Cow::Borrowed(&request.request_id),
            client: Cow::Borrowed(&request.client),
            user: borrowed(&request.user),
            time: time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            method: Cow::Borrowed(&request.method),
            path: Cow::Borrowed(&request.path),
            protocol: Cow::Borrowed(request.protocol()),
            status: request.status,
            bytes: request.bytes,
            referer: borrowed(&request.referer),
            user_agent: borrowed(&request.user_agent),
            latency_ms: request.latency_ms,
            input_digest: borrowed(&request.input_digest),
            output_digest: borrowed(&request.output_digest),
            extensions: (!request.extra.is_empty()).then(|| {
                request
                    .extra
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                    .collect()
            }),
        },
        model_info: ModelInfo {
            name: Cow::Borrowed(&binding.model),
            pipeline_digest: Cow::Borrowed(&binding.pipeline),
            training_data_digest: Cow::Borrowed(&binding.data),
        },
        chain: None,
    };
    let text = serde_json::to_string(&line)?;
    out.push_str(text.strip_suffix('}').unwrap_or(&text));
    Ok(())
}

/// A logged request read back, every field decoded to what the serving stack reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    /// The client's address.
    pub client: String,
    /// The authenticated user (`None` when the line has none).
    pub user: Option<String>,
    /// When the request arrived, as the line writes it.
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Path (and query).
    pub path: String,
    /// Protocol.
    pub protocol: String,
    /// Response status.
    pub status: u16,
    /// Response bytes.
    pub bytes: u64,
    /// Referer header.
    pub referer: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// The extension fields (`rid`, `model`, `package`, `pipeline`, `data`, `latency_ms`, `in`,
    /// `out`, `chain`), in line order.
    pub fields: Vec<(String, String)>,
}

impl Entry {
    /// An extension field's value.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Reads a line of either layout back (without its newline); why not, when it is not one.
pub fn parse(line: &str, layout: Layout) -> Result<Entry, String> {
    match layout {
        Layout::Combined => parse_combined(line),
        Layout::JsonLines => parse_json(line),
    }
}

/// A cursor over a Combined line.
struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    /// The next space-separated word.
    fn word(&mut self, what: &str) -> Result<&'a str, String> {
        let rest = self.rest.trim_start_matches(' ');
        let end = rest.find(' ').unwrap_or(rest.len());
        let (word, rest) = rest.split_at(end);
        self.rest = rest;
        if word.is_empty() {
            return Err(format!("no {what}"));
        }
        Ok(word)
    }

    /// The next field between `open` and `close` (a quoted field skips `\` escapes).
    fn enclosed(&mut self, open: char, close: char, what: &str) -> Result<&'a str, String> {
        let rest = self.rest.trim_start_matches(' ');
        let inner = rest.strip_prefix(open).ok_or_else(|| format!("no {what}"))?;
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == close => {
                    self.rest = &inner[i + 1..];
                    return Ok(&inner[..i]);
                }
                _ => {}
            }
        }
        Err(format!("the {what} does not end"))
    }
}

fn parse_combined(line: &str) -> Result<Entry, String> {
    let mut fields = Fields { rest: line };
    let client = decode_bare(fields.word("client")?);
    fields.word("identity")?;
    let user = Some(decode_bare(fields.word("user")?)).filter(|u| !u.is_empty());
    let time = fields.enclosed('[', ']', "time")?.to_owned();
    let request = fields.enclosed('"', '"', "request line")?;
    let mut parts = request.split(' ');
    let (Some(method), Some(path), Some(protocol), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the request line is not `METHOD PATH PROTOCOL`".into());
    };
    let status = fields
        .word("status")?
        .parse()
        .map_err(|_| "the status is not a number")?;
    let bytes = fields
        .word("bytes")?
        .parse()
        .map_err(|_| "the bytes are not a number")?;
    let referer = decode_quoted(fields.enclosed('"', '"', "referer")?);
    let user_agent = decode_quoted(fields.enclosed('"', '"', "user agent")?);
    let fields = fields
        .rest
        .split(' ')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(key, value)| (key.to_owned(), decode_bare(value)))
                .ok_or_else(|| format!("`{pair}` is not an extension field (key=value)"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Entry {
        client,
        user,
        time,
        method: unescape(method),
        path: unescape(path),
        protocol: unescape(protocol),
        status,
        bytes,
        referer,
        user_agent,
        fields,
    })
}

/// A quoted field decoded: `-` is absent.
fn decode_quoted(text: &str) -> Option<String> {
    (text != "-").then(|| unescape(text))
}

/// A bare field or extension value decoded: `-` is empty.
fn decode_bare(text: &str) -> String {
    match text {
        "-" => String::new(),
        _ => percent_decode_str(text).decode_utf8_lossy().into_owned(),
    }
}

/// Undoes Apache's escapes: `\xhh`, `\"`, `\\` (and `\n`, `\t`, `\r` that Apache also writes).
fn unescape(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_owned();
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        let hex = tail
            .strip_prefix(b"x")
            .and_then(|t| t.get(..2))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (hex, tail.first()) {
            (Some(decoded), _) => {
                bytes.push(decoded);
                rest = &tail[3..];
            }
            (None, Some(&next)) => {
                bytes.push(match next {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    other => other,
                });
                rest = &tail[1..];
            }
            (None, None) => bytes.push(byte),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn parse_json(line: &str) -> Result<Entry, String> {
    let line: JsonLine = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let request = line.request_info;
    let owned = |text: Option<Cow<'_, str>>| text.map(Cow::into_owned);
    // The latency as JSON writes it (`12.0`), as the Combined line writes its digits.
    let latency = serde_json::Number::from_f64(request.latency_ms).map(|n| n.to_string());
    let fields = [
        ("rid", Some(request.request_id.into_owned())),
        ("model", Some(line.model_info.name.into_owned())),
        ("package", Some(line.application_info.package.into_owned())),
        ("pipeline", Some(line.model_info.pipeline_digest.into_owned())),
        ("data", Some(line.model_info.training_data_digest.into_owned())),
        ("latency_ms", latency),
        ("in", owned(request.input_digest)),
        ("out", owned(request.output_digest)),
    ];
    let extensions = request.extensions.unwrap_or_default().into_iter();
    let extensions = extensions.map(|(key, value)| (key.into_owned(), value.into_owned()));
    Ok(Entry {
        client: request.client.into_owned(),
        user: owned(request.user).filter(|u| !u.is_empty()),
        time: request.time,
        method: request.method.into_owned(),
        path: request.path.into_owned(),
        protocol: request.protocol.into_owned(),
        status: request.status,
        bytes: request.bytes,
        referer: owned(request.referer),
        user_agent: owned(request.user_agent),
        fields: fields
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_owned(), value?)))
            .chain(extensions)
            .chain(line.chain.map(|chain| ("chain".to_owned(), chain)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile() -> Request {
        Request {
            client: "10.0.0.1 - evil [x]".into(),
            user: Some("-".into()),
            time: None,
            method: "GET /admin HTTP/1.1\" 200 1 \"-\" \"x\"\n".into(),
            path: "/a b\"c\\d%41\u{1b}[31mé".into(),
            protocol: Some("HTTP/1.1\" 500".into()),
            status: 200,
            bytes: 3,
            referer: Some("\\".into()),
            user_agent: Some("agent \"quoted\" \\\" end\\".into()),
            request_id: "r 1\nrid=forged chain=00".into(),
            latency_ms: 1.5,
            input_digest: Some("".into()),
            output_digest: Some("-".into()),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn extra_fields_come_back_in_key_order_before_the_chain_in_both_layouts() {
        let request = Request {
            extra: BTreeMap::from([
                ("upstream".to_owned(), "refused: 127.0.0.1:9 \"x\" chain=00".to_owned()),
                ("route".to_owned(), "canary".to_owned()),
            ]),
            ..hostile()
        };
        let mut line = String::new();
        combined(&mut line, &request, " model=m", &mut TimeCache::default());
        assert!(
            line.ends_with(" route=canary upstream=refused:%20127.0.0.1:9%20%22x%22%20chain%3D00"),
            "{line}"
        );
        let binding = Binding {
            model: "m".into(),
            package: "p".into(),
            pipeline: "q".into(),
            data: "d".into(),
        };
        let mut json = String::new();
        json_line(&mut json, &request, &binding).unwrap();
        json.push_str(",\"chain\":\"ab\"}");
        for (text, layout) in [(line, Layout::Combined), (json, Layout::JsonLines)] {
            let entry = parse(&text, layout).unwrap();
            let keys: Vec<&str> = entry.fields.iter().map(|(k, _)| k.as_str()).collect();
            let at = keys.iter().position(|k| *k == "route").unwrap();
            assert_eq!(keys[at + 1], "upstream", "{keys:?}");
            assert_eq!(entry.field("upstream"), Some("refused: 127.0.0.1:9 \"x\" chain=00"));
            assert_eq!(entry.field("route"), Some("canary"));
        }
    }

    #[test]
    fn every_field_round_trips_through_a_combined_line() {
        let request = hostile();
        let mut line = String::new();
        combined(&mut line, &request, " model=m%20x", &mut TimeCache::default());
        assert_eq!(line.matches('"').count(), 6, "{line}");
        assert!(!line.contains('\n'), "{line}");
        let entry = parse(&line, Layout::Combined).unwrap();
        assert_eq!(entry.client, request.client);
        assert_eq!(entry.user.as_deref(), Some("-"));
        assert_eq!(entry.method, request.method);
        assert_eq!(entry.path, request.path);
        assert_eq!(entry.protocol, "HTTP/1.1\" 500");
        assert_eq!(entry.referer, request.referer);
        assert_eq!(entry.user_agent, request.user_agent);
        assert_eq!(entry.field("rid"), Some("r 1\nrid=forged chain=00"));
        assert_eq!(entry.field("model"), Some("m x"));
        assert_eq!(entry.field("in"), Some(""));
        assert_eq!(entry.field("out"), Some("-"));
        assert_eq!(entry.field("chain"), None);
    }

    /// The bytes the JSON layout wrote when it was built with `json!`.
    #[test]
    fn a_json_line_writes_the_bytes_it_always_wrote() {
        let request = Request {
            time: Some(DateTime::from_timestamp(1_800_000_000, 5_000_000).unwrap()),
            input_digest: None,
            ..hostile()
        };
        let binding = Binding {
            model: "churn@1".into(),
            package: "sha256:00".into(),
            pipeline: "p\"".into(),
            data: "d".into(),
        };
        let mut line = String::new();
        json_line(&mut line, &request, &binding).unwrap();
        let by_hand = serde_json::json!({
            "applicationInfo": {"model": binding.model, "package": binding.package},
            "requestInfo": {
                "requestId": request.request_id,
                "client": request.client,
                "user": request.user,
                "time": "2027-01-15T08:00:00.005Z",
                "method": request.method,
                "path": request.path,
                "protocol": request.protocol(),
                "status": request.status,
                "bytes": request.bytes,
                "referer": request.referer,
                "userAgent": request.user_agent,
                "latencyMs": request.latency_ms,
                "inputDigest": request.input_digest,
                "outputDigest": request.output_digest,
            },
            "modelInfo": {"name": binding.model, "pipelineDigest": binding.pipeline, "trainingDataDigest": binding.data},
        });
        assert_eq!(line + "}", by_hand.to_string());
    }

    #[test]
    fn the_request_line_has_exactly_two_spaces_and_no_quote() {
        let mut line = String::new();
        combined(&mut line, &hostile(), "", &mut TimeCache::default());
        let request = line.split('"').nth(1).unwrap();
        assert_eq!(request.matches(' ').count(), 2, "{request}");
        assert!(request.starts_with("GET\\x20\\x2Fadmin\\x20HTTP"), "{request}");
    }

    proptest::proptest! {
        /// Any values: the line keeps its shape (one line, six quotes, two spaces in the
        /// request) and reads back to the same values, extension fields included — but an empty
        /// user, which Combined writes as no user.
        #[test]
        fn any_request_round_trips(
            client in "(?s).*", user in "(?s).*", method in "(?s).+", path in "(?s).+", protocol in "(?s).+",
            referer in proptest::option::of("-|(?s).*"), agent in proptest::option::of("-|(?s).*"),
            rid in "(?s).+", input in proptest::option::of("-|(?s).*"), out in proptest::option::of("(?s).*"),
            model in "-|(?s).*", package in "(?s).*", pipeline in "(?s).*", data in "(?s).*",
            latency_ms in 0.0f64..1e6,
            extra in proptest::collection::btree_map("x_[a-z0-9_]{0,8}", "(?s).*", 0..3),
        ) {
            let request = Request {
                client: client.clone(),
                user: Some(user.clone()),
                method: method.clone(),
                path: path.clone(),
                protocol: Some(protocol.clone()),
                status: 200,
                referer: referer.clone(),
                user_agent: agent.clone(),
                request_id: rid.clone(),
                latency_ms,
                input_digest: input.clone(),
                output_digest: out.clone(),
                extra: extra.clone(),
                ..Request::default()
            };
            proptest::prop_assert!(request.check().is_ok());
            let binding = super::super::RenderedBinding::new(super::super::Binding {
                model: model.clone(),
                package: package.clone(),
                pipeline: pipeline.clone(),
                data: data.clone(),
            });
            let mut line = String::new();
            combined(&mut line, &request, &binding.rendered, &mut TimeCache::default());
            proptest::prop_assert!(!line.contains(['\n', '\r']));
            proptest::prop_assert_eq!(line.matches('"').count(), 6);
            proptest::prop_assert_eq!(line.split('"').nth(1).unwrap_or_default().matches(' ').count(), 2);
            let entry = parse(&line, Layout::Combined).map_err(proptest::test_runner::TestCaseError::fail)?;
            let fields = |latency: String, chain: Option<&str>| -> Vec<(String, String)> {
                [
                    ("rid", Some(rid.clone())),
                    ("model", Some(model.clone())),
                    ("package", Some(package.clone())),
                    ("pipeline", Some(pipeline.clone())),
                    ("data", Some(data.clone())),
                    ("latency_ms", Some(latency)),
                    ("in", input.clone()),
                    ("out", out.clone()),
                ]
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?)))
                .chain(extra.iter().map(|(k, v)| (k.clone(), v.clone())))
                .chain(chain.map(|c| ("chain".to_owned(), c.to_owned())))
                .collect()
            };
            proptest::prop_assert_eq!(&entry.fields, &fields(format!("{latency_ms:.3}"), None));
            let mut json = String::new();
            json_line(&mut json, &request, &binding.binding)
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            json.push_str(",\"chain\":\"00\"}");
            let from_json = parse(&json, Layout::JsonLines).map_err(proptest::test_runner::TestCaseError::fail)?;
            let latency = serde_json::Number::from_f64(latency_ms).map(|n| n.to_string()).unwrap_or_default();
            proptest::prop_assert_eq!(&from_json.fields, &fields(latency, Some("00")));
            proptest::prop_assert_eq!(
                Entry { time: String::new(), fields: Vec::new(), ..from_json },
                Entry { time: String::new(), fields: Vec::new(), ..entry.clone() }
            );
            proptest::prop_assert_eq!(entry.client, client);
            proptest::prop_assert_eq!(entry.user, Some(user).filter(|u| !u.is_empty()));
            proptest::prop_assert_eq!(entry.method, method);
            proptest::prop_assert_eq!(entry.path, path);
            proptest::prop_assert_eq!(entry.protocol, protocol);
            proptest::prop_assert_eq!(entry.referer, referer);
            proptest::prop_assert_eq!(entry.user_agent, agent);
        }
    }
}
