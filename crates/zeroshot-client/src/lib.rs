//! A small blocking HTTP/1.1 client for `zeroshot serve`, over a Unix socket or TCP, that its
//! caller can interrupt. A database backend cannot run an async runtime, and must answer a
//! cancel within a fraction of a second: every read and write here waits at most one short
//! slice and asks `interrupted` between slices. An interrupted call drops its connection, which
//! tells the server to drop the request. One request per connection (`Connection: close`): a
//! connect over a Unix socket costs tens of microseconds, and no connection is left half-read.
pub mod wire;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// How long one read or write waits before the caller's interrupt check runs again.
const SLICE: Duration = Duration::from_millis(20);
/// The largest response accepted: a response this large is not one of ours.
const MAX_RESPONSE: usize = 256 << 20;
/// The largest header block accepted.
const MAX_HEADER: usize = 64 << 10;

/// Where the server listens: `unix:/path/to/socket` or `http://host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(String),
}

impl std::str::FromStr for Address {
    type Err = String;
    fn from_str(s: &str) -> Result<Address, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!("{s:?}: a unix: address takes an absolute path"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("http://") {
            let hostport = rest.trim_end_matches('/');
            let valid = !hostport.is_empty()
                && !hostport.contains(['/', '@', '?', '#', ' '])
                && hostport.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !valid {
                return Err(format!("{s:?}: expected http://host:port"));
            }
            return Ok(Address::Tcp(hostport.to_string()));
        }
        Err(format!("{s:?}: expected unix:/path/to/socket or http://host:port"))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Tcp(h) => write!(f, "http://{h}"),
        }
    }
}

/// Why a call did not return a 2xx answer.
#[derive(Debug)]
pub enum ClientError {
    /// No connection could be made (no server, refused, no such socket, no permission).
    Unreachable(String),
    /// The connection broke, or the answer was cut short: the server died or closed it.
    Disconnected(String),
    /// The caller's interrupt check fired; the connection was dropped.
    Interrupted,
    /// The server answered with this status and body.
    Status { status: u16, body: String },
    /// The answer is not HTTP/1.1 as the server speaks it.
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(m) => write!(f, "cannot connect: {m}"),
            ClientError::Disconnected(m) => write!(f, "the connection broke: {m}"),
            ClientError::Interrupted => write!(f, "interrupted"),
            ClientError::Status { status, body } => write!(f, "HTTP {status}: {body}"),
            ClientError::Protocol(m) => write!(f, "unexpected answer: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A client of one server. Cheap to make; holds no connection between calls.
#[derive(Clone, Debug)]
pub struct Client {
    pub address: Address,
    /// Sent as `Authorization: Bearer …` (a TCP server's `--token-file`).
    pub token: Option<String>,
}

impl Client {
    pub fn new(address: Address, token: Option<String>) -> Client {
        Client { address, token }
    }

    /// `POST path` with a JSON body; the JSON of a 2xx answer.
    pub fn post_json(&self, path: &str, body: &Value, interrupted: &dyn Fn() -> bool) -> Result<Value, ClientError> {
        self.call("POST", path, Some(body.to_string().as_bytes()), interrupted)
    }

    /// `GET path`; the JSON of a 2xx answer.
    pub fn get_json(&self, path: &str, interrupted: &dyn Fn() -> bool) -> Result<Value, ClientError> {
        self.call("GET", path, None, interrupted)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Value, ClientError> {
        let mut stream = self.connect(interrupted)?;
        let host = match &self.address {
            Address::Unix(_) => "localhost",
            Address::Tcp(h) => h.as_str(),
        };
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\n");
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(body) = body {
            request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        write_all(stream.io(), &bytes, interrupted)?;
        let (status, body) = read_response(stream.io(), interrupted)?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Status { status, body: String::from_utf8_lossy(&body).into_owned() });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("the body is not JSON: {e}")))
    }

    fn connect(&self, interrupted: &dyn Fn() -> bool) -> Result<Stream, ClientError> {
        if interrupted() {
            return Err(ClientError::Interrupted);
        }
        let unreachable = |e: std::io::Error| ClientError::Unreachable(format!("{}: {e}", self.address));
        let stream = match &self.address {
            // A Unix socket connects at once or fails at once.
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path).map_err(unreachable)?),
            Address::Tcp(hostport) => {
                use std::net::ToSocketAddrs;
                let addrs: Vec<_> = hostport.to_socket_addrs().map_err(unreachable)?.collect();
                let mut last = None;
                let mut connected = None;
                // Connect in slices too: a host that drops SYNs would otherwise hold the call.
                'addrs: for addr in addrs {
                    for _ in 0..250 {
                        match TcpStream::connect_timeout(&addr, SLICE) {
                            Ok(s) => {
                                connected = Some(s);
                                break 'addrs;
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                                if interrupted() {
                                    return Err(ClientError::Interrupted);
                                }
                                last = Some(e);
                            }
                            Err(e) => {
                                last = Some(e);
                                continue 'addrs;
                            }
                        }
                    }
                }
                match connected {
                    Some(s) => {
                        let _ = s.set_nodelay(true);
                        Stream::Tcp(s)
                    }
                    None => {
                        return Err(unreachable(
                            last.unwrap_or_else(|| std::io::Error::other("the name resolves to no address")),
                        ))
                    }
                }
            }
        };
        let timeouts = |r: std::io::Result<()>| r.map_err(unreachable);
        match &stream {
            Stream::Unix(s) => {
                timeouts(s.set_read_timeout(Some(SLICE)))?;
                timeouts(s.set_write_timeout(Some(SLICE)))?;
            }
            Stream::Tcp(s) => {
                timeouts(s.set_read_timeout(Some(SLICE)))?;
                timeouts(s.set_write_timeout(Some(SLICE)))?;
            }
        }
        Ok(stream)
    }
}

fn would_block(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted)
}

fn write_all(io: &mut dyn ReadWrite, mut bytes: &[u8], interrupted: &dyn Fn() -> bool) -> Result<(), ClientError> {
    while !bytes.is_empty() {
        if interrupted() {
            return Err(ClientError::Interrupted);
        }
        match io.write(bytes) {
            Ok(0) => return Err(ClientError::Disconnected("the server closed the connection".into())),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(ClientError::Disconnected(e.to_string())),
        }
    }
    Ok(())
}

/// Reads into `buf` until `done(buf)` or the end of the stream; the end is an error unless
/// `eof_ok`.
fn read_until(
    io: &mut dyn ReadWrite,
    buf: &mut Vec<u8>,
    interrupted: &dyn Fn() -> bool,
    done: &dyn Fn(&[u8]) -> bool,
    eof_ok: bool,
) -> Result<(), ClientError> {
    let mut chunk = [0u8; 64 << 10];
    while !done(buf) {
        if interrupted() {
            return Err(ClientError::Interrupted);
        }
        match io.read(&mut chunk) {
            Ok(0) if eof_ok => return Ok(()),
            Ok(0) => {
                return Err(ClientError::Disconnected(
                    "the server closed the connection before answering in full".into(),
                ))
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_RESPONSE {
                    return Err(ClientError::Protocol(format!("the answer is over {MAX_RESPONSE} bytes")));
                }
            }
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(ClientError::Disconnected(e.to_string())),
        }
    }
    Ok(())
}

fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The status and body of one response (Content-Length, chunked, or until the end).
fn read_response(io: &mut dyn ReadWrite, interrupted: &dyn Fn() -> bool) -> Result<(u16, Vec<u8>), ClientError> {
    let mut buf = Vec::new();
    read_until(io, &mut buf, interrupted, &|b| header_end(b).is_some() || b.len() > MAX_HEADER, false)?;
    let end = header_end(&buf).ok_or_else(|| ClientError::Protocol("headers too long".into()))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ClientError::Protocol("headers are not text".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| ClientError::Protocol(format!("status line {status_line:?}")))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length =
                Some(value.parse::<usize>().map_err(|_| ClientError::Protocol(format!("Content-Length {value:?}")))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let mut body = buf.split_off(end);
    if chunked {
        read_until(io, &mut body, interrupted, &|b| chunked_complete(b).is_some(), false)?;
        let decoded = chunked_complete(&body).expect("complete").map_err(ClientError::Protocol)?;
        return Ok((status, decoded));
    }
    match length {
        Some(n) if n > MAX_RESPONSE => Err(ClientError::Protocol(format!("the answer is over {MAX_RESPONSE} bytes"))),
        Some(n) => {
            read_until(io, &mut body, interrupted, &|b| b.len() >= n, false)?;
            body.truncate(n);
            Ok((status, body))
        }
        None => {
            read_until(io, &mut body, interrupted, &|_| false, true)?;
            Ok((status, body))
        }
    }
}

/// A chunked body decoded, once all of it (up to the last chunk) is in `b`; None before.
fn chunked_complete(b: &[u8]) -> Option<Result<Vec<u8>, String>> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = b[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let size_text = std::str::from_utf8(&b[pos..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = match usize::from_str_radix(size_text, 16) {
            Ok(s) => s,
            Err(_) => return Some(Err(format!("chunk size {size_text:?}"))),
        };
        let data = line_end + 2;
        if size == 0 {
            return Some(Ok(out));
        }
        let Some(end) = data.checked_add(size).and_then(|e| e.checked_add(2)).filter(|&e| e <= MAX_RESPONSE + 2) else {
            return Some(Err(format!("chunk size {size_text:?}")));
        };
        if b.len() < end {
            return None;
        }
        out.extend_from_slice(&b[data..data + size]);
        pos = data + size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!("unix:/run/zs.sock".parse(), Ok(Address::Unix("/run/zs.sock".into())));
        assert_eq!("http://127.0.0.1:7860".parse(), Ok(Address::Tcp("127.0.0.1:7860".into())));
        assert_eq!("http://gpu-host:7860/".parse(), Ok(Address::Tcp("gpu-host:7860".into())));
        for bad in
            ["", "unix:relative", "http://", "http://host", "http://host:port", "https://h:1", "http://u@h:1", "tcp:1"]
        {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(chunked_complete(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), Some(Ok(b"abcde".to_vec())));
        assert_eq!(chunked_complete(b"3\r\nabc\r\n2\r\nd"), None);
        assert!(matches!(chunked_complete(b"zz\r\n"), Some(Err(_))));
        assert!(matches!(chunked_complete(b"ffffffffffffffff\r\nab"), Some(Err(_))));
    }
}
