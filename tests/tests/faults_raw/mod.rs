//! Raw HTTP/1.1 over a TCP socket for the fault tests: unlike a client
//! library it shows exactly how many body bytes came before a connection
//! broke, and survives a server that closes without answering.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use ferry_testbed::store::request::Target;
use ferry_testbed::store::sign_v1;
use hyper::header::HeaderMap;

/// What came back on a connection, up to its end.
#[derive(Debug)]
pub struct Raw {
    /// `None` when the server closed without a status line.
    pub status: Option<u16>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body bytes as received (de-chunked when chunked).
    pub body: Vec<u8>,
    /// The body was complete: `Content-Length` bytes, or the final chunk.
    pub complete: bool,
    /// When the first `mark` body bytes had arrived (see `get_marked`).
    pub mark_at: Option<Duration>,
    pub elapsed: Duration,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` (request line and headers, without the blank line; a
/// `Connection: close` is added) and `body`, then reads to the end.
pub fn exchange(addr: SocketAddr, head: &str, body: &[u8], mark: usize) -> Raw {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!("{head}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // A server that cuts the connection makes writes fail: keep going to
    // the read, which tells what it sent.
    let _ = s.write_all(body);
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut mark_at = None;
    let mut head_len = None;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Reset by the server: what arrived is what counts.
            Err(_) => break,
        }
        if head_len.is_none() {
            head_len = find(&data, b"\r\n\r\n").map(|i| i + 4);
        }
        if let (None, Some(h)) = (mark_at, head_len) {
            if mark > 0 && data.len() - h >= mark {
                mark_at = Some(start.elapsed());
            }
        }
    }
    let elapsed = start.elapsed();
    let Some(h) = find(&data, b"\r\n\r\n").map(|i| i + 4) else {
        assert!(data.is_empty(), "half a response head: {data:?}");
        return Raw {
            status: None,
            headers: Vec::new(),
            body: Vec::new(),
            complete: false,
            mark_at,
            elapsed,
        };
    };
    let text = String::from_utf8_lossy(&data[..h]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let raw_body = &data[h..];
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let (body, complete) = if get("transfer-encoding").as_deref() == Some("chunked") {
        dechunk(raw_body)
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().unwrap();
        (raw_body.to_vec(), raw_body.len() == len)
    } else {
        (raw_body.to_vec(), true)
    };
    Raw {
        status,
        headers,
        body,
        complete,
        mark_at,
        elapsed,
    }
}

/// A GET of `path` with extra header lines.
pub fn get(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Raw {
    get_marked(addr, path, extra, 0)
}

/// A GET that also notes when the first `mark` body bytes arrived.
pub fn get_marked(addr: SocketAddr, path: &str, extra: &[(&str, &str)], mark: usize) -> Raw {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}");
    for (k, v) in extra {
        head.push_str(&format!("\r\n{k}: {v}"));
    }
    exchange(addr, &head, b"", mark)
}

/// A V1-signed request (`Authorization: OSS id:sig`) with a body.
pub fn signed(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    id: &str,
    secret: &str,
    body: &[u8],
) -> Raw {
    let date = httpdate::fmt_http_date(SystemTime::now());
    let mut map = HeaderMap::new();
    map.insert("date", date.parse().unwrap());
    let target = Target::parse(&path_and_query.parse().unwrap());
    let sts = sign_v1::string_to_sign(method, &target, &map, &date);
    let sig = sign_v1::signature(secret, &sts);
    let head = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nDate: {date}\r\n\
         Authorization: OSS {id}:{sig}\r\nContent-Length: {}",
        body.len()
    );
    exchange(addr, &head, body, 0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body; complete when the final 0-size chunk came.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(raw, b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return (out, false);
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        if take < size || raw.len() < size + 2 {
            return (out, false);
        }
        raw = &raw[size + 2..];
    }
}
