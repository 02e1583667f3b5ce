//! A small real HTTP/1.1 client over loopback TCP (hyper), with full control of headers.

#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// A finished response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }
}

/// One keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    pub addr: SocketAddr,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn { sender, addr }
    }

    /// Sends a request and returns the response head with its body still streaming.
    pub async fn start(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Response<Incoming> {
        let mut req = Request::builder().method(method).uri(path);
        let has_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
        if !has_host {
            req = req.header("host", self.addr.to_string());
        }
        for (k, v) in headers {
            if !v.is_empty() || !k.eq_ignore_ascii_case("host") {
                req = req.header(*k, *v);
            }
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        self.sender.ready().await.expect("ready");
        self.sender.send_request(req).await.expect("send")
    }

    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let resp = self.start(method, path, headers, body).await;
        let (parts, body) = resp.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(20), body.collect())
            .await
            .expect("body in time")
            .expect("body")
            .to_bytes()
            .to_vec();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

/// One request on a fresh connection.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    Conn::open(addr)
        .await
        .send(method, path, headers, body.map(|b| b.as_bytes().to_vec()))
        .await
}

/// GET with no extra headers.
pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    call(addr, "GET", path, &[], None).await
}

/// A JSON request (`Content-Type: application/json`).
pub async fn send_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    call(
        addr,
        method,
        path,
        &[("content-type", "application/json")],
        Some(body),
    )
    .await
}

/// Reads a streaming body until `done(text so far)` or the timeout; returns the text.
pub async fn read_until(
    body: &mut Incoming,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(&text) {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await;
        match frame {
            Ok(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    text.push_str(&String::from_utf8_lossy(d));
                }
            }
            _ => break,
        }
    }
    text
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Conn {
    /// Like [`Conn::open`], but `None` when nothing listens yet.
    pub async fn open_checked(addr: SocketAddr) -> Option<Conn> {
        TcpStream::connect(addr).await.ok()?;
        Some(Conn::open(addr).await)
    }
}
