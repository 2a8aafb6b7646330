//! The load driver: N keep-alive HTTP/1.1 connections, each sending one request at a time (no pipelining),
//! like `wrk`. Requests are pre-serialized byte strings, so sending one costs a `write` and reading the answer a
//! `read` and a parse of the status line and a few headers: the driver does nothing per request that the server would not also do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the connections send.
pub enum Work {
    /// Each request once, in order (taken by whichever connection is free next).
    List(Arc<Vec<Vec<u8>>>),
    /// The same request again and again until the deadline.
    Repeat {
        request: Arc<Vec<u8>>,
        for_: Duration,
    },
}

/// One answered (or failed) request.
#[derive(Clone, Copy)]
pub struct Sample {
    /// Index in the list (0 for `Repeat`).
    pub index: u32,
    /// HTTP status, or 0 for a transport error.
    pub status: u16,
    pub latency_us: u32,
}

pub struct Outcome {
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn ok(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| (200..300).contains(&s.status))
            .count()
    }

    pub fn total(&self) -> usize {
        self.samples.len()
    }

    /// 2xx answers per second.
    pub fn ok_per_sec(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency percentile (0..=100) in milliseconds, over every request.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut v: Vec<u32> = self.samples.iter().map(|s| s.latency_us).collect();
        percentile_ms(&mut v, p)
    }

    /// Statuses other than 2xx, with counts, e.g. `"503×12, 0×1"`.
    pub fn failures(&self) -> String {
        let mut counts = std::collections::BTreeMap::<u16, usize>::new();
        for s in &self.samples {
            if !(200..300).contains(&s.status) {
                *counts.entry(s.status).or_default() += 1;
            }
        }
        counts
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn percentile_ms(v: &mut [u32], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    let i = rank.clamp(1, v.len()) - 1;
    v[i] as f64 / 1000.0
}

/// Runs `work` over `connections` connections to `addr` and returns every sample. Bounded by `limit`.
pub async fn drive(addr: SocketAddr, connections: usize, work: Work, limit: Duration) -> Outcome {
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + limit;
    let mut handles = Vec::new();
    for _ in 0..connections {
        let (work, next) = (work.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            connection(addr, &work, &next, start, deadline).await
        }));
    }
    let mut samples = Vec::new();
    for h in handles {
        samples.extend(h.await.expect("a connection task panicked"));
    }
    Outcome {
        samples,
        elapsed: start.elapsed(),
    }
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn connection(
    addr: SocketAddr,
    work: &Work,
    next: &AtomicUsize,
    start: Instant,
    deadline: Instant,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        if Instant::now() > deadline {
            break;
        }
        let (index, request): (usize, &[u8]) = match work {
            Work::List(list) => {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= list.len() {
                    break;
                }
                (i, &list[i])
            }
            Work::Repeat { request, for_ } => {
                if start.elapsed() >= *for_ {
                    break;
                }
                (0, request)
            }
        };
        let t0 = Instant::now();
        let result = async {
            if stream.is_none() {
                stream = Some(connect(addr).await?);
            }
            let s = stream.as_mut().expect("connected");
            s.write_all(request).await?;
            read_response(s, &mut buf).await
        }
        .await;
        let latency_us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let status = match result {
            Ok((status, keep_alive)) => {
                if !keep_alive {
                    stream = None;
                }
                status
            }
            Err(_) => {
                stream = None;
                buf.clear();
                0
            }
        };
        samples.push(Sample {
            index: index as u32,
            status,
            latency_us,
        });
    }
    samples
}

fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

/// A parsed response head: status, head length, Content-Length, chunked, keep-alive.
struct Head {
    status: u16,
    len: usize,
    content_length: Option<usize>,
    chunked: bool,
    keep_alive: bool,
}

/// Parses the response head at the start of `buf`, if it is complete.
fn parse_head(buf: &[u8]) -> std::io::Result<Option<Head>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err(invalid("response head too long"));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| invalid("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("status line"))?;
    let mut head = Head {
        status,
        len: end + 4,
        content_length: None,
        chunked: false,
        keep_alive: version == "HTTP/1.1",
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            head.keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Some(head))
}

/// Reads one response; returns its status and whether the connection stays open. `buf` keeps bytes read
/// past the response (there are none without pipelining, but nothing is lost if there are).
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, bool)> {
    let head = loop {
        if let Some(h) = parse_head(buf)? {
            break h;
        }
        fill(s, buf).await?;
    };
    buf.drain(..head.len);
    if head.chunked {
        read_chunked(s, buf).await?;
    } else {
        let len = head.content_length.unwrap_or(0);
        while buf.len() < len {
            fill(s, buf).await?;
        }
        buf.drain(..len);
    }
    Ok((head.status, head.keep_alive))
}

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = s.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Consumes a chunked body (and its trailers) from the front of `buf`.
async fn read_chunked(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        let line_end = loop {
            if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                break p;
            }
            fill(s, buf).await?;
        };
        let line = std::str::from_utf8(&buf[..line_end]).map_err(|_| invalid("chunk size"))?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid("chunk size"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let end = loop {
                    if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                        break p;
                    }
                    fill(s, buf).await?;
                };
                buf.drain(..end + 2);
                if end == 0 {
                    return Ok(());
                }
            }
        }
        while buf.len() < size + 2 {
            fill(s, buf).await?;
        }
        buf.drain(..size + 2);
    }
}

/// Serializes a request: request line, `Host`, the given headers, `Content-Length` when there is a body.
pub fn serialize(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n").as_bytes());
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// One request on a fresh connection, for setup and checks: (status, body).
pub async fn once(addr: SocketAddr, request: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = connect(addr).await?;
    s.write_all(request).await?;
    let mut buf = Vec::new();
    let head = loop {
        if let Some(h) = parse_head(&buf)? {
            break h;
        }
        fill(&mut s, &mut buf).await?;
    };
    buf.drain(..head.len);
    if head.chunked {
        // Setup answers are small: read until the terminating chunk and keep the raw chunks.
        while !buf.ends_with(b"0\r\n\r\n") {
            fill(&mut s, &mut buf).await?;
        }
        return Ok((head.status, buf));
    }
    let len = head.content_length.unwrap_or(0);
    while buf.len() < len {
        fill(&mut s, &mut buf).await?;
    }
    buf.truncate(len);
    Ok((head.status, buf))
}
