//! One connection to one agent: safety checks before and after connecting, and request/answer
//! with a bounded line reader.
//!
//! Callers put a hard timeout around every call ([`tokio::time::timeout`]); a connection whose
//! call failed or timed out is dropped, never reused, so a late answer cannot be mistaken for
//! the next one.

use super::discovery::{check_dir, check_socket, pid_from_name};
use super::protocol::{self, codes, Hello, MAX_RESPONSE_LINE, PROTOCOL_VERSION};
use super::sys;
use super::AgentError;
use serde_json::Value;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const READ_CHUNK: usize = 16 * 1024;

/// Connects, retrying a few times when the listen backlog is full (`EAGAIN` on Linux).
async fn connect_retrying(path: &Path) -> std::io::Result<UnixStream> {
    let mut tries = 0;
    loop {
        match UnixStream::connect(path).await {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && tries < 3 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}

fn peer_pid_of(stream: &UnixStream, path: &Path) -> Result<u32, AgentError> {
    use std::os::fd::AsRawFd;
    sys::peer_pid(stream.as_raw_fd()).map_err(|e| {
        err(
            codes::PERMISSION_DENIED,
            format!(
                "cannot read the pid of the process behind {}: {e}",
                path.display()
            ),
        )
    })
}

/// A verified connection to an agent that answered `hello` with protocol version 1.
#[derive(Debug)]
pub struct AgentConn {
    stream: UnixStream,
    pending: Vec<u8>,
    next_id: u64,
    ops: Vec<String>,
}

fn err(code: &str, message: String) -> AgentError {
    AgentError {
        code: code.into(),
        message,
    }
}

impl AgentConn {
    /// Connects to the socket at `path` after checking that it and its directory belong to
    /// this user (and no one else can write the directory), checks the peer's uid, checks
    /// that the peer's pid is the pid in the socket's name (`agent-<pid>.sock`) and the pid
    /// its `hello` gives, and says `hello`. Refusals are `permission_denied`.
    pub async fn connect(path: &Path) -> Result<Self, AgentError> {
        let uid = sys::euid();
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(pid_from_name)
            .ok_or_else(|| {
                err(
                    codes::PERMISSION_DENIED,
                    format!("{} is not named agent-<pid>.sock", path.display()),
                )
            })?;
        let dir = path.parent().unwrap_or(Path::new("/"));
        check_dir(dir, uid).map_err(|m| err(codes::PERMISSION_DENIED, m))?;
        check_socket(path, uid).map_err(|m| err(codes::PERMISSION_DENIED, m))?;
        let stream = connect_retrying(path).await.map_err(|e| {
            let code = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => codes::REFUSED,
                _ => codes::IO,
            };
            err(code, format!("cannot connect to {}: {e}", path.display()))
        })?;
        let cred = stream.peer_cred().map_err(|e| {
            err(
                codes::PERMISSION_DENIED,
                format!("cannot read the peer's credentials: {e}"),
            )
        })?;
        if cred.uid() != uid {
            return Err(err(
                codes::PERMISSION_DENIED,
                format!(
                    "the process behind {} runs as uid {}, not as this user (uid {uid})",
                    path.display(),
                    cred.uid()
                ),
            ));
        }
        let peer = peer_pid_of(&stream, path)?;
        if peer != named {
            return Err(err(
                codes::PERMISSION_DENIED,
                format!(
                    "{} is served by pid {peer}, not by pid {named} as its name says; refused",
                    path.display()
                ),
            ));
        }
        let mut conn = Self {
            stream,
            pending: Vec::new(),
            next_id: 1,
            ops: Vec::new(),
        };
        let hello: Hello = protocol::decode_result("hello", conn.call("hello", None).await?)?;
        if hello.protocol != PROTOCOL_VERSION {
            return Err(protocol::protocol_error(format!(
                "agent speaks protocol {}, this client speaks {PROTOCOL_VERSION}",
                hello.protocol
            )));
        }
        if let Some(claimed) = hello.pid.filter(|&p| p != peer) {
            return Err(err(
                codes::PERMISSION_DENIED,
                format!(
                    "the agent behind {} says it is pid {claimed}, but pid {peer} serves it; refused",
                    path.display()
                ),
            ));
        }
        conn.ops = hello.ops;
        Ok(conn)
    }

    /// Sends one request and reads its answer: the `result` object, or the agent's error.
    pub async fn call(&mut self, op: &str, arg: Option<(&str, u64)>) -> Result<Value, AgentError> {
        if op != "hello" && !self.ops.is_empty() && !self.ops.iter().any(|o| o == op) {
            return Err(err(
                "unknown_op",
                format!(
                    "the agent does not serve `{op}` (it serves: {})",
                    self.ops.join(", ")
                ),
            ));
        }
        let id = self.next_id;
        self.next_id += 1;
        let line = protocol::encode_request(id, op, arg);
        self.stream
            .write_all(&line)
            .await
            .map_err(|e| err(codes::IO, format!("cannot send `{op}`: {e}")))?;
        let answer = self.read_line().await?;
        protocol::decode_response(&answer, id)
    }

    /// Reads one line, buffering at most [`MAX_RESPONSE_LINE`] + one read chunk: a longer
    /// line is refused without being held in memory.
    async fn read_line(&mut self) -> Result<Vec<u8>, AgentError> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=nl).collect();
                line.pop();
                return Ok(line);
            }
            if self.pending.len() > MAX_RESPONSE_LINE {
                return Err(err(
                    codes::LINE_TOO_LONG,
                    format!(
                        "answer line longer than {MAX_RESPONSE_LINE} bytes (read {} bytes without a newline)",
                        self.pending.len()
                    ),
                ));
            }
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| err(codes::IO, format!("cannot read the answer: {e}")))?;
            if n == 0 {
                return Err(err(
                    codes::CLOSED,
                    format!(
                        "the agent closed the connection before a full answer ({} bytes without a newline)",
                        self.pending.len()
                    ),
                ));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}
