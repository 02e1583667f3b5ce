//! Wire format of agent protocol version 1 (`docs/PROTOCOL.md`): one JSON object per line.
//!
//! A request is `{"id": n, "op": "...", ...args}`; a response is either
//! `{"id": n, "ok": true, "result": {...}}` or
//! `{"id": n, "ok": false, "error": {"code": "...", "message": "..."}}`.
//! Decoding is lenient about fields it does not know (newer agents may add some) and strict
//! about the envelope (a reply to another id is a protocol error).

use super::AgentError;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The protocol version this client speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// Longest request line an agent accepts, in bytes, without the newline.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Longest response line this client reads, in bytes. A `stats` answer is about 1 KiB plus the
/// command line; anything longer is refused before it is buffered in full.
pub const MAX_RESPONSE_LINE: usize = 256 * 1024;

/// Client-side error codes (agent-side codes come from the agent's answer).
pub mod codes {
    /// The socket exists but nothing listens on it.
    pub const REFUSED: &str = "connection_refused";
    /// The agent did not answer within the timeout.
    pub const TIMEOUT: &str = "timeout";
    /// Connecting, reading or writing the socket failed.
    pub const IO: &str = "io";
    /// The agent closed the connection before a full answer.
    pub const CLOSED: &str = "closed";
    /// The answer was not protocol version 1 JSON.
    pub const PROTOCOL: &str = "protocol";
    /// The answer line exceeded [`super::MAX_RESPONSE_LINE`].
    pub const LINE_TOO_LONG: &str = "line_too_long";
    /// The socket, its directory or its peer belongs to another user, or is unsafe.
    pub const PERMISSION_DENIED: &str = "permission_denied";
    /// No agent socket exists for the pid.
    pub const NOT_ATTACHED: &str = "not_attached";
    /// No process has the pid.
    pub const NO_SUCH_PROCESS: &str = "no_such_process";
}

/// Encodes one request line (with its trailing newline).
pub fn encode_request(id: u64, op: &str, args: Option<(&str, u64)>) -> Vec<u8> {
    let mut obj = Map::new();
    obj.insert("id".into(), Value::from(id));
    obj.insert("op".into(), Value::from(op));
    if let Some((k, v)) = args {
        obj.insert(k.into(), Value::from(v));
    }
    let mut line = Value::Object(obj).to_string().into_bytes();
    line.push(b'\n');
    line
}

#[derive(Deserialize)]
struct Envelope {
    id: Option<Value>,
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<AgentError>,
}

/// Decodes a response line to the request `id`: the `result` object or the agent's error.
pub fn decode_response(line: &[u8], id: u64) -> Result<Value, AgentError> {
    let env: Envelope = serde_json::from_slice(line).map_err(|e| {
        protocol_error(format!(
            "answer is not a protocol-1 JSON object ({e}): {}",
            preview(line)
        ))
    })?;
    if env.id.as_ref().and_then(Value::as_u64) != Some(id) {
        // An agent answers `id: null` when it refuses a connection (e.g. permission_denied).
        if let (false, Some(err), None | Some(Value::Null)) = (env.ok, &env.error, &env.id) {
            return Err(err.clone());
        }
        return Err(protocol_error(format!(
            "answer to request {id} carries id {}",
            env.id.unwrap_or(Value::Null)
        )));
    }
    match (env.ok, env.result, env.error) {
        (true, Some(result @ Value::Object(_)), _) => Ok(result),
        (false, _, Some(err)) => Err(err),
        _ => Err(protocol_error(format!(
            "answer has neither an object result nor an error: {}",
            preview(line)
        ))),
    }
}

/// A client-side protocol error.
pub fn protocol_error(message: String) -> AgentError {
    AgentError {
        code: codes::PROTOCOL.into(),
        message,
    }
}

fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
    if line.len() > 120 {
        format!("{text:?}… ({} bytes)", line.len())
    } else {
        format!("{text:?}")
    }
}

/// The `hello` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Hello {
    /// Protocol version the agent speaks.
    pub protocol: u64,
    /// The agent's pid.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The ops the agent serves (a client sends no other).
    #[serde(default)]
    pub ops: Vec<String>,
}

/// The `stats` answer (fields this client uses; others are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Process id.
    pub pid: Option<u32>,
    /// Process name.
    pub name: Option<String>,
    /// MLX version.
    pub mlx_version: Option<String>,
    /// `gpu` or `cpu`.
    pub backend: Option<String>,
    /// `mx.device_info()`.
    pub device_info: Map<String, Value>,
    /// `mx.get_active_memory()`.
    pub active: Option<u64>,
    /// `mx.get_cache_memory()`.
    pub cache: Option<u64>,
    /// `mx.get_peak_memory()`.
    pub peak: Option<u64>,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// Cache limit in bytes.
    pub cache_limit: Option<u64>,
    /// Wired limit in bytes.
    pub wired_limit: Option<u64>,
    /// The command line.
    pub cmdline: Vec<String>,
    /// The Python environment (`sys.prefix`).
    pub prefix: Option<String>,
    /// Installed RAM in bytes.
    pub physical_memory: Option<u64>,
    /// Limits the process's own code has set: `cache`, `memory`, `wired`.
    pub set_by_process: Vec<String>,
    /// CPU time the process has used, seconds.
    pub cpu_time: Option<f64>,
}

impl Stats {
    /// Metal's recommended working set, when the agent's device reports one.
    pub fn recommended_working_set(&self) -> Option<u64> {
        self.device_info
            .get("max_recommended_working_set_size")
            .and_then(Value::as_u64)
    }
}

/// Numeric fields of an action answer (`clear_cache`, `set_*_limit`, `reset_peak`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ActionResult {
    /// Bytes freed by `clear_cache`.
    pub freed: Option<u64>,
    /// The value before: the limit (`set_*_limit`), `cache_before`, `peak_before`.
    #[serde(alias = "cache_before", alias = "peak_before")]
    pub previous: Option<u64>,
    /// The value now: the limit, `cache_after`, `peak_after`.
    #[serde(alias = "cache_after", alias = "peak_after")]
    pub current: Option<u64>,
}

/// Decodes a result object into `T`, naming the op on failure.
pub fn decode_result<T: for<'de> Deserialize<'de>>(op: &str, v: Value) -> Result<T, AgentError> {
    serde_json::from_value(v)
        .map_err(|e| protocol_error(format!("`{op}` answer has unexpected fields: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line() {
        let line = encode_request(7, "set_cache_limit", Some(("bytes", 1 << 20)));
        assert_eq!(line.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 7, "op": "set_cache_limit", "bytes": 1048576})
        );
    }

    #[test]
    fn decodes_results_and_errors() {
        let ok = br#"{"id":3,"ok":true,"result":{"freed":10,"cache_before":10,"cache_after":0}}"#;
        let r: ActionResult =
            decode_result("clear_cache", decode_response(ok, 3).unwrap()).unwrap();
        assert_eq!(
            (r.freed, r.previous, r.current),
            (Some(10), Some(10), Some(0))
        );
        let err = br#"{"id":3,"ok":false,"error":{"code":"invalid_argument","message":"bad"}}"#;
        assert_eq!(
            decode_response(err, 3).unwrap_err().code,
            "invalid_argument"
        );
        let refused =
            br#"{"id":null,"ok":false,"error":{"code":"permission_denied","message":"uid"}}"#;
        assert_eq!(
            decode_response(refused, 3).unwrap_err().code,
            "permission_denied"
        );
    }

    #[test]
    fn rejects_wrong_ids_and_garbage() {
        let other = br#"{"id":4,"ok":true,"result":{}}"#;
        let e = decode_response(other, 3).unwrap_err();
        assert_eq!(e.code, codes::PROTOCOL);
        assert!(e.message.contains("carries id 4"), "{}", e.message);
        for bad in [
            &b"garbage"[..],
            b"[1,2]",
            br#"{"id":3,"ok":true,"result":5}"#,
        ] {
            assert_eq!(decode_response(bad, 3).unwrap_err().code, codes::PROTOCOL);
        }
    }

    #[test]
    fn stats_tolerate_unknown_fields_and_read_the_working_set() {
        let v = serde_json::json!({"pid": 5, "cache": 1, "new_field": [1],
            "device_info": {"max_recommended_working_set_size": 11453251584u64}});
        let s: Stats = decode_result("stats", v).unwrap();
        assert_eq!(s.pid, Some(5));
        assert_eq!(s.recommended_working_set(), Some(11_453_251_584));
    }
}
