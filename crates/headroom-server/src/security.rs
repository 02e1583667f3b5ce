//! Request checks applied before any handler: method, `Host` (DNS rebinding), the per-user
//! secret, `Origin` on state-changing requests.
//!
//! - Only the methods HTTP servers commonly route (GET, HEAD, POST, PUT, PATCH, DELETE,
//!   OPTIONS) reach the router; `CONNECT`, `TRACE` and unknown methods get 405.
//! - `Host` must name this server (see [`HostPolicy`]); otherwise 403. A page on another site
//!   that rebinds its DNS name to 127.0.0.1 still sends its own name and is refused.
//! - With a token (the per-user secret, [`crate::secret`]), every request must carry it —
//!   except `GET`/`HEAD /metrics` from a loopback peer, so that a local Prometheus scrapes
//!   without credentials. Loopback is shared by every user of the machine: the secret is what
//!   keeps other users from acting, reading or changing the configuration, or reading the
//!   snapshot, history and journal. It is accepted as `Authorization: Bearer <token>`, or
//!   `?token=<token>` (page loads and `EventSource`, which cannot set headers), or the
//!   `headroom_token` cookie that a page load with `?token=` sets (`HttpOnly`,
//!   `SameSite=Strict`, a year). Otherwise 401 (an HTML page saying how to log in for a
//!   browser's page load).
//! - A state-changing request (anything but GET, HEAD, OPTIONS) that carries an `Origin` must
//!   come from a page served by this server (`http://<accepted host>`); otherwise 403.
//!   Requests without `Origin` are accepted: browsers always send it on cross-origin writes,
//!   while command-line clients (curl, scripts) do not send it at all.

use crate::options::HostPolicy;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;
use std::sync::Arc;

/// The cookie a page load with `?token=` sets so that the page's own requests carry the token.
pub const TOKEN_COOKIE: &str = "headroom_token";

/// What every request is checked against.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The required token, if any.
    pub token: Option<String>,
    /// Accepted `Host` values.
    pub hosts: HostPolicy,
}

/// A refused request: status and a message naming the problem and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// What was wrong and what is accepted.
    pub message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"headroom\""),
            );
        }
        r
    }
}

fn refuse(status: StatusCode, message: String) -> Refusal {
    Refusal { status, message }
}

/// The methods that reach the router.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Refuses `CONNECT`, `TRACE` and unknown methods.
pub fn check_method(method: &Method) -> Result<(), Refusal> {
    if METHODS.contains(method) {
        return Ok(());
    }
    Err(refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not supported here; use GET, HEAD, POST or PUT"),
    ))
}

/// Whether a request may be answered without the secret: `GET`/`HEAD /metrics` from a
/// loopback peer (a local Prometheus). Everything else needs it.
pub fn is_public(method: &Method, path: &str, peer: Option<SocketAddr>) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && path == "/metrics"
        && peer.is_some_and(|p| p.ip().is_loopback())
}

impl Guard {
    /// Checks one request's method, headers and query string.
    pub fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<(), Refusal> {
        self.check_host(headers)?;
        self.check_token(headers, query)?;
        if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            self.check_origin(headers)?;
        }
        Ok(())
    }

    /// Checks that `Host` names this server.
    pub fn check_host(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(host) = headers.get(header::HOST) else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "missing Host header: HTTP/1.1 requests must name the server".into(),
            ));
        };
        let host = host.to_str().unwrap_or("<not ASCII>");
        if self.hosts.allows(host) {
            return Ok(());
        }
        Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} does not name this server (DNS-rebinding protection); accepted: \
                 {}. To reach it by another name, start serve with --allow-host NAME",
                self.hosts.describe()
            ),
        ))
    }

    /// Checks the bearer token (header, `?token=` or cookie), when one is set.
    pub fn check_token(&self, headers: &HeaderMap, query: Option<&str>) -> Result<(), Refusal> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let offered = bearer(headers)
            .map(str::to_owned)
            .or_else(|| query.and_then(query_token))
            .or_else(|| cookie_token(headers).map(str::to_owned));
        match offered {
            Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
            Some(_) => Err(refuse(
                StatusCode::UNAUTHORIZED,
                "wrong token: send the token serve was started with".into(),
            )),
            None => Err(refuse(
                StatusCode::UNAUTHORIZED,
                "missing token: this server answers only its owner. Open the login URL that \
                 `headroom serve --print-url` prints, or send `Authorization: Bearer <token>` \
                 with the token from the secret file (see `headroom serve --help`)"
                    .into(),
            )),
        }
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("<not ASCII>");
        let ok = origin
            .strip_prefix("http://")
            .is_some_and(|authority| self.hosts.allows(authority));
        if ok {
            return Ok(());
        }
        Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "Origin {origin:?} may not change anything here: state-changing requests are \
                 accepted from pages served by this server (http://{}) or from clients that \
                 send no Origin",
                self.hosts.describe()
            ),
        ))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn query_token(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(percent_decode)
}

/// Decodes `%XX` escapes (and `+` as a space) of a query value; bad escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = || std::str::from_utf8(b.get(i + 1..i + 3)?).ok();
        match (b[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How long the login cookie lasts: the secret outlives restarts, so the cookie does too.
const COOKIE_MAX_AGE_SECS: u32 = 365 * 24 * 3600;

/// Axum middleware: [`check_method`], then [`Guard::check`] (the token check skipped for
/// [`is_public`] requests). A page load authorised by `?token=` also gets the token cookie so
/// that the page's own requests carry it.
pub async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Err(refusal) = check_method(req.method()) {
        return refusal.into_response();
    }
    let query = req.uri().query().map(str::to_owned);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let public = is_public(req.method(), req.uri().path(), peer);
    let checked = if public {
        g.check_host(req.headers())
    } else {
        g.check(req.method(), req.headers(), query.as_deref())
    };
    if let Err(refusal) = checked {
        if refusal.status == StatusCode::UNAUTHORIZED && wants_page(&req) {
            return login_page(refusal);
        }
        return refusal.into_response();
    }
    // Only a page load that proved the secret in its own URL gets it back as a cookie (a
    // public request is not checked, so a guessed `?token=` must not earn one).
    let set_cookie = req.method() == Method::GET
        && g.token.as_deref().is_some_and(|t| {
            query
                .as_deref()
                .and_then(query_token)
                .is_some_and(|q| constant_time_eq(q.as_bytes(), t.as_bytes()))
        });
    let mut response = next.run(req).await;
    if set_cookie {
        if let Some(t) = &g.token {
            let cookie = format!(
                "{TOKEN_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; \
                 Max-Age={COOKIE_MAX_AGE_SECS}"
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
    }
    response
}

/// A browser's page load (not an API call or a script).
fn wants_page(req: &Request) -> bool {
    req.method() == Method::GET
        && !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// The 401 a browser shows: what this is and how the owner logs in.
fn login_page(refusal: Refusal) -> Response {
    let why = refusal
        .message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Headroom: log \
         in</title></head><body style=\"font-family:system-ui;max-width:40em;margin:3em auto\">\
         <h1>Headroom answers only its owner</h1><p>Run <code>headroom serve --print-url</code> \
         as the user who started this server and open the URL it prints, once: the page then \
         remembers you.</p><p><small>{why}</small></p></body></html>"
    );
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::WWW_AUTHENTICATE, "Bearer realm=\"headroom\""),
        ],
        html,
    )
        .into_response()
}

/// What the API shows in place of a secret in the configuration (`server.token`).
pub const REDACTED: &str = "(hidden)";

/// Hides secrets of a configuration document (as JSON) before it leaves the server.
pub fn redact_config(config: &mut serde_json::Value) {
    if let Some(token) = config.pointer_mut("/server/token") {
        if token.is_string() {
            *token = serde_json::Value::String(REDACTED.into());
        }
    }
}

/// Puts back the secrets a client sent as [`REDACTED`] (it saves what it was shown), taken
/// from the configuration in force; a hidden value with nothing behind it is removed.
pub fn restore_secrets(doc: &mut serde_json::Value, current: &serde_json::Value) {
    let Some(server) = doc.get_mut("server").and_then(|s| s.as_object_mut()) else {
        return;
    };
    if server.get("token").and_then(|t| t.as_str()) != Some(REDACTED) {
        return;
    }
    match current.pointer("/server/token").filter(|t| t.is_string()) {
        Some(t) => {
            server.insert("token".into(), t.clone());
        }
        None => {
            server.remove("token");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::ServeOptions;

    fn guard_for(token: Option<&str>) -> Guard {
        let o = ServeOptions {
            token: token.map(str::to_owned),
            ..ServeOptions::default()
        };
        Guard {
            token: o.token.clone(),
            hosts: o.host_policy(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn token_is_read_from_header_query_or_cookie() {
        let g = guard_for(Some("0123456789abcdef"));
        let host = ("host", "127.0.0.1:9178");
        let ok = |h: &HeaderMap, q: Option<&str>| g.check(&Method::GET, h, q).is_ok();
        assert!(ok(
            &headers(&[host, ("authorization", "Bearer 0123456789abcdef")]),
            None
        ));
        assert!(ok(&headers(&[host]), Some("a=1&token=0123456789abcdef")));
        assert!(ok(
            &headers(&[host, ("cookie", "x=1; headroom_token=0123456789abcdef")]),
            None
        ));
        let e = g.check(&Method::GET, &headers(&[host]), None).unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(e.message.contains("missing token"));
        let e = g
            .check(&Method::GET, &headers(&[host]), Some("token=nope"))
            .unwrap_err();
        assert!(e.message.contains("wrong token"));
    }

    #[test]
    fn origin_is_checked_only_on_writes() {
        let g = guard_for(None);
        let h = headers(&[
            ("host", "127.0.0.1:9178"),
            ("origin", "http://evil.example"),
        ]);
        assert!(g.check(&Method::GET, &h, None).is_ok());
        let e = g.check(&Method::POST, &h, None).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("evil.example"), "{}", e.message);
        let same = headers(&[
            ("host", "127.0.0.1:9178"),
            ("origin", "http://localhost:9178"),
        ]);
        assert!(g.check(&Method::PUT, &same, None).is_ok());
        let null = headers(&[("host", "127.0.0.1:9178"), ("origin", "null")]);
        assert!(g.check(&Method::POST, &null, None).is_err());
    }

    #[test]
    fn connect_trace_and_unknown_methods_are_refused() {
        for m in ["CONNECT", "TRACE", "PROPFIND", "FOO"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            let e = check_method(&m).unwrap_err();
            assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
            assert!(e.message.contains(m.as_str()), "{}", e.message);
        }
        assert!(check_method(&Method::PUT).is_ok());
    }

    #[test]
    fn only_a_loopback_metrics_read_is_public() {
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let lo6: SocketAddr = "[::1]:5000".parse().unwrap();
        let lan: SocketAddr = "192.168.1.9:5000".parse().unwrap();
        assert!(is_public(&Method::GET, "/metrics", Some(lo)));
        assert!(is_public(&Method::HEAD, "/metrics", Some(lo6)));
        assert!(!is_public(&Method::GET, "/metrics", Some(lan)));
        assert!(!is_public(&Method::GET, "/metrics", None));
        assert!(!is_public(&Method::POST, "/metrics", Some(lo)));
        for path in [
            "/api/config",
            "/api/health",
            "/api/snapshot",
            "/",
            "/metrics/",
        ] {
            assert!(!is_public(&Method::GET, path, Some(lo)), "{path}");
        }
    }

    #[test]
    fn the_token_never_leaves_and_comes_back_when_saved_as_shown() {
        let current = serde_json::json!({"server": {"listen": "x", "token": "s3cret-0123456789"}});
        let mut shown = current.clone();
        redact_config(&mut shown);
        assert_eq!(shown["server"]["token"], REDACTED);
        assert!(!shown.to_string().contains("s3cret"));
        let mut saved = shown.clone();
        restore_secrets(&mut saved, &current);
        assert_eq!(saved, current);
        let mut changed = serde_json::json!({"server": {"token": "new-token-0123456789"}});
        restore_secrets(&mut changed, &current);
        assert_eq!(changed["server"]["token"], "new-token-0123456789");
        let mut orphan = shown;
        restore_secrets(&mut orphan, &serde_json::json!({}));
        assert!(orphan["server"].get("token").is_none());
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(query_token("x=1&token=a%2Bb%3D").as_deref(), Some("a+b="));
        assert_eq!(percent_decode("%zz+%41"), "%zz A");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
