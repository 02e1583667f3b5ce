//! Server options and the checks made before listening.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The documented default port of `headroom serve`.
pub const DEFAULT_PORT: u16 = 9178;

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9178";

/// Largest request body accepted, in bytes.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Shortest token accepted, in characters.
pub const MIN_TOKEN_LEN: usize = 16;

/// Limits on each HTTP connection, so that slow or idle clients cannot hold the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Longest time from the end of one response (or from connecting) to the complete
    /// header of the next request, for a client that sent part of it.
    pub header_timeout: Duration,
    /// Longest time a request body may take to arrive, from its header.
    pub body_timeout: Duration,
    /// Longest time a connection may sit between requests without sending a byte.
    pub idle_timeout: Duration,
    /// Longest time a response write may stay blocked on a client that does not read.
    pub send_timeout: Duration,
    /// Most connections open at once; lowered at start to stay below the open-file limit.
    /// When full, a new connection replaces the connection idle for the longest time.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

/// How `headroom serve` listens and whom it lets in.
#[derive(Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer token (the per-user secret, see [`crate::secret`]). With a token, every request
    /// needs it except `GET /metrics` from a loopback peer. `headroom serve` and the app always
    /// set one; `None` (library use in tests) lets every local user in, and is refused on a
    /// non-loopback address.
    pub token: Option<String>,
    /// Extra names accepted in the `Host` and `Origin` headers (e.g. `studio.local`).
    pub allowed_hosts: Vec<String>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Interval of Server-Sent Events keep-alive comments.
    pub keep_alive: Duration,
    /// Timeouts and the connection cap.
    pub limits: ConnLimits,
}

impl fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeOptions")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("allowed_hosts", &self.allowed_hosts)
            .field("body_limit", &self.body_limit)
            .field("keep_alive", &self.keep_alive)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            token: None,
            allowed_hosts: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            keep_alive: Duration::from_secs(15),
            limits: ConnLimits::default(),
        }
    }
}

/// Why the server refuses to start with the given options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError(pub String);

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionsError {}

impl ServeOptions {
    /// Checks the options: a non-loopback address needs a token; a token must be long enough
    /// and printable; allowed host names must be plain names.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if let Some(token) = &self.token {
            check_token(token)?;
        } else if !self.listen.ip().is_loopback() {
            return Err(OptionsError(format!(
                "refusing to listen on {} without a token: anyone who can reach that address \
                 could read your memory data, clear MLX caches and change the configuration. \
                 Either listen on loopback only (--listen 127.0.0.1:{}) or set a token of at \
                 least {MIN_TOKEN_LEN} characters (--token-file PATH or HEADROOM_TOKEN)",
                self.listen,
                self.listen.port()
            )));
        }
        if self.limits.max_connections == 0 {
            return Err(OptionsError(
                "max connections 0: allow at least 1 connection".into(),
            ));
        }
        for h in &self.allowed_hosts {
            if h.is_empty() || h.contains(['/', ' ', '@', '?', '#']) {
                return Err(OptionsError(format!(
                    "invalid allowed host {h:?}: expected a host name such as studio.local, \
                     without scheme, path or spaces"
                )));
            }
        }
        Ok(())
    }

    /// The `Host` header values this server answers to (`host:port`, lower case), or `None`
    /// when it listens on every address (then any IP literal with the right port is accepted,
    /// plus the allowed names).
    pub fn host_policy(&self) -> HostPolicy {
        let port = self.listen.port();
        let mut names: Vec<String> = self
            .allowed_hosts
            .iter()
            .map(|h| format!("{}:{port}", h.to_ascii_lowercase()))
            .collect();
        let ip = self.listen.ip();
        names.push(format!("{}:{port}", host_literal(ip)));
        if ip.is_loopback() {
            names.push(format!("localhost:{port}"));
            names.push(format!("127.0.0.1:{port}"));
            names.push(format!("[::1]:{port}"));
        }
        HostPolicy {
            port,
            any_ip: ip.is_unspecified(),
            names,
        }
    }
}

fn check_token(token: &str) -> Result<(), OptionsError> {
    let n = token.chars().count();
    if n < MIN_TOKEN_LEN {
        return Err(OptionsError(format!(
            "token too short ({n} characters): use at least {MIN_TOKEN_LEN}, e.g. the output \
             of `openssl rand -hex 16`"
        )));
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(OptionsError(
            "token contains spaces or non-ASCII characters: use printable ASCII only, e.g. \
             the output of `openssl rand -hex 16`"
                .into(),
        ));
    }
    Ok(())
}

/// How an IP address is written in a `Host` header.
fn host_literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Which `Host` header values are accepted.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    port: u16,
    any_ip: bool,
    names: Vec<String>,
}

impl HostPolicy {
    /// Whether `host` (a `Host` header or the authority of an `Origin`) names this server.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        if self.names.contains(&host) {
            return true;
        }
        self.any_ip && self.is_ip_with_port(&host)
    }

    fn is_ip_with_port(&self, host: &str) -> bool {
        let Ok(addr) = host.parse::<SocketAddr>() else {
            return false;
        };
        addr.port() == self.port
    }

    /// The accepted values, for error messages.
    pub fn describe(&self) -> String {
        let mut s = self.names.join(", ");
        if self.any_ip {
            s.push_str(&format!(", or any IP address with port {}", self.port));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(listen: &str, token: Option<&str>) -> ServeOptions {
        ServeOptions {
            listen: listen.parse().unwrap(),
            token: token.map(str::to_owned),
            ..ServeOptions::default()
        }
    }

    #[test]
    fn non_loopback_without_token_is_refused_naming_address_and_fix() {
        let e = opts("0.0.0.0:9178", None).validate().unwrap_err().0;
        assert!(e.contains("0.0.0.0:9178"), "{e}");
        assert!(e.contains("--token"), "{e}");
        assert!(e.contains("--listen 127.0.0.1:9178"), "{e}");
        assert!(opts("127.0.0.1:9178", None).validate().is_ok());
        assert!(opts("[::1]:9178", None).validate().is_ok());
        assert!(opts("0.0.0.0:1", Some("0123456789abcdef"))
            .validate()
            .is_ok());
    }

    #[test]
    fn short_or_unprintable_tokens_are_refused() {
        let e = opts("127.0.0.1:1", Some("short")).validate().unwrap_err().0;
        assert!(e.contains("5 characters"), "{e}");
        let e = opts("127.0.0.1:1", Some("0123456789 abcdef"))
            .validate()
            .unwrap_err()
            .0;
        assert!(e.contains("spaces"), "{e}");
    }

    #[test]
    fn host_policy_accepts_only_this_server() {
        let p = opts("127.0.0.1:9178", None).host_policy();
        assert!(p.allows("127.0.0.1:9178"));
        assert!(p.allows("LOCALHOST:9178"));
        assert!(p.allows("[::1]:9178"));
        assert!(!p.allows("127.0.0.1:9179"));
        assert!(!p.allows("evil.example:9178"));
        assert!(!p.allows("localhost"));
        let mut o = opts("0.0.0.0:9178", Some("0123456789abcdef"));
        o.allowed_hosts = vec!["Studio.local".into()];
        let p = o.host_policy();
        assert!(p.allows("192.168.1.5:9178"));
        assert!(p.allows("studio.local:9178"));
        assert!(!p.allows("evil.example:9178"));
        assert!(p.describe().contains("any IP address"));
    }
}
