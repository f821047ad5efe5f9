//! A minimal HTTP/1.1 GET (and bodiless POST) for probing a step's endpoints (`mlspec step
//! status`, tests) and acting on a gateway's (`mlspec rollout`).
//!
//! Hand-written on std's TcpStream: it only ever talks plain HTTP to a step's own endpoints,
//! and a full client stack (TLS, pools, redirects) would be dead weight in the binary.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A response: status code and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

/// The largest response read.
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// GETs `path` from `addr` (`HOST:PORT`), giving up after `timeout` for connecting and again
/// for the whole answer (a server that trickles its answer is cut off, not waited for).
pub fn get(addr: &str, path: &str, timeout: Duration) -> io::Result<Response> {
    get_with(addr, path, "*/*", timeout)
}

/// [`get`] with an Accept header.
pub fn get_with(addr: &str, path: &str, accept: &str, timeout: Duration) -> io::Result<Response> {
    request(addr, "GET", path, &[("Accept", accept)], b"", timeout)
}

/// POSTs a JSON `body` (or nothing) to `path` (a control endpoint's action).
pub fn post(addr: &str, path: &str, body: &[u8], timeout: Duration) -> io::Result<Response> {
    post_with(addr, path, body, &[], timeout)
}

/// [`post`] with more headers.
pub fn post_with(
    addr: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    timeout: Duration,
) -> io::Result<Response> {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request(addr, "POST", path, &all, body, timeout)
}

fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("`{addr}` names no address")))?;
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )?;
    for (name, value) in headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    write!(stream, "\r\n")?;
    stream.write_all(body)?;
    parse(&read_within(&mut stream, timeout)?)
}

/// The whole answer, read within `timeout` and [`MAX_RESPONSE`] bytes.
fn read_within(stream: &mut TcpStream, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the answer took too long"));
        }
        stream.set_read_timeout(Some(left))?;
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(raw);
        }
        if raw.len() as u64 + read as u64 > MAX_RESPONSE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the answer is too large"));
        }
        raw.extend_from_slice(&buffer[..read]);
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP response: {why}"))
}

/// Parses a raw HTTP/1.1 response.
pub fn parse(raw: &[u8]) -> io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers are not UTF-8"))?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let chunked = lines.any(|line| {
        line.to_ascii_lowercase().starts_with("transfer-encoding:") && line.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut body: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("truncated chunk"))?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| bad("bad chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| bad("bad chunk size"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or_else(|| bad("truncated chunk"))?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or_else(|| bad("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = parse(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 3\r\n\r\nno\n").unwrap();
        assert_eq!(
            plain,
            Response {
                status: 503,
                body: "no\n".into()
            }
        );
        let chunked =
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n").unwrap();
        assert_eq!(
            chunked,
            Response {
                status: 200,
                body: "ok!".into()
            }
        );
        assert!(parse(b"garbage").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }
}
