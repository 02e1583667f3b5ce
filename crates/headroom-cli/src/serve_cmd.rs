//! `headroom serve`: the engine plus the HTTP API, `/metrics` and the web UI, in the foreground.
//!
//! Logs go to stderr; a closed stderr (`serve 2>&1 | head -1`) loses log lines, never the
//! server. SIGPIPE stays ignored here (the other subcommands restore its default action), and
//! the server's own writes cannot raise it. SIGINT or SIGTERM stops the server, ends open
//! streams, then stops the engine, which flushes history. `--install` / `--uninstall` register
//! it as a per-user service (systemd user unit on Linux, launchd agent on macOS).
//!
//! Every request needs the per-user secret (see `headroom_server::secret`) except a loopback
//! `GET /metrics`; `--print-url` prints the owner's one-step login URL.

use clap::Args;
use headroom_core::units::parse_duration;
use headroom_server::service::{self, ServiceKind, ServiceSpec};
use headroom_server::{secret, ConnLimits, ServeOptions, Server, DEFAULT_LISTEN};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `headroom serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback is the default; the secret is required either way.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Token every request must carry (at least 16 characters). VISIBLE TO EVERY USER OF THE
    /// MACHINE in `ps`: prefer --token-file or HEADROOM_TOKEN. Without any of them, the
    /// per-user secret file in the data directory is used (created 0600 on first use).
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// Read the token from the first line of this file (yours, not readable by others).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Print the owner's one-step login URL for this address (it carries the secret; the page
    /// then keeps it in an HttpOnly cookie) and exit.
    #[arg(long, conflicts_with_all = ["install", "uninstall"])]
    print_url: bool,
    /// Another host name the server may be reached by (Host/Origin check), e.g. studio.local.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// Register `headroom serve` (with these options) as a per-user service and start it.
    #[arg(long, conflicts_with = "uninstall")]
    install: bool,
    /// Stop and remove the per-user service.
    #[arg(long)]
    uninstall: bool,
    /// Close a connection that sent part of a request header but not all of it within this
    /// time (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    header_timeout: Duration,
    /// Close a connection whose request body has not arrived in full within this time.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    body_timeout: Duration,
    /// Close a connection idle between requests for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    idle_timeout: Duration,
    /// Close a connection whose client stops reading a response for this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    send_timeout: Duration,
    /// Most connections open at once (lowered to stay below the open-file limit).
    #[arg(long, value_name = "N", default_value_t = ConnLimits::default().max_connections)]
    max_connections: usize,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// One log line on stderr; a closed or full stderr loses the line, never the server.
fn log(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "headroom serve: {line}");
}

impl ServeArgs {
    /// The token given explicitly (--token, --token-file or HEADROOM_TOKEN), if any.
    fn explicit_token(&self) -> Result<Option<String>, String> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        if let Some(path) = &self.token_file {
            return secret::read_token_file(path)
                .map(Some)
                .map_err(|e| format!("--token-file {e}"));
        }
        Ok(std::env::var("HEADROOM_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()))
    }

    /// The token in force: the explicit one, else (on loopback) the per-user secret file.
    /// A non-loopback address without an explicit token gets none, which
    /// [`ServeOptions::validate`] refuses: exposing the server is a deliberate choice.
    fn token(&self) -> Result<Option<String>, String> {
        if let Some(t) = self.explicit_token()? {
            return Ok(Some(t));
        }
        if !self.listen.ip().is_loopback() {
            return Ok(None);
        }
        let path = secret::default_path(&headroom_core::config::data_dir());
        secret::load_or_create(&path)
            .map(Some)
            .map_err(|e| format!("the per-user secret {e}"))
    }

    fn options(&self) -> Result<ServeOptions, String> {
        Ok(ServeOptions {
            listen: self.listen,
            token: self.token()?,
            allowed_hosts: self.allow_host.clone(),
            limits: ConnLimits {
                header_timeout: self.header_timeout,
                body_timeout: self.body_timeout,
                idle_timeout: self.idle_timeout,
                send_timeout: self.send_timeout,
                max_connections: self.max_connections,
            },
            ..ServeOptions::default()
        })
    }

    /// The arguments the installed service is started with (a token given on the command
    /// line or in HEADROOM_TOKEN goes in its private environment; a token file by path).
    fn service_args(&self) -> Vec<String> {
        let mut args = vec!["--listen".to_owned(), self.listen.to_string()];
        if let Some(path) = &self.token_file {
            args.push("--token-file".into());
            args.push(path.to_string_lossy().into_owned());
        }
        for h in &self.allow_host {
            args.push("--allow-host".into());
            args.push(h.clone());
        }
        args
    }
}

/// The browser URL for `listen` (an unspecified address is reached through loopback), with
/// the token when given.
pub fn page_url(listen: SocketAddr, token: Option<&str>) -> String {
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let query = token
        .map(|t| format!("?token={}", percent_encode(t)))
        .unwrap_or_default();
    format!("http://{host}:{}/{query}", listen.port())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `headroom serve`; returns the exit status.
pub async fn run(args: &ServeArgs) -> u8 {
    ignore_sigpipe();
    if args.install || args.uninstall {
        return run_service(args);
    }
    let opts = match args.options() {
        Ok(o) => o,
        Err(e) => {
            log(&e);
            return 2;
        }
    };
    if args.print_url {
        let url = page_url(opts.listen, opts.token.as_deref());
        return match writeln!(std::io::stdout().lock(), "{url}") {
            Ok(()) => 0,
            Err(e) => {
                log(&format!("cannot write the URL: {e}"));
                1
            }
        };
    }
    serve(opts).await
}

/// Keeps SIGPIPE ignored for the server, whatever the parent left: a write to a closed pipe
/// or socket is an error to handle, never the end of the process.
fn ignore_sigpipe() {
    // SAFETY: SIG_IGN is a valid action for SIGPIPE; no handler code runs, and the
    // disposition is process-wide, so threads already running are covered too.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Whether stderr is a terminal: only then does the log show the secret (in the login URL);
/// a service's log file or journal may be readable by others.
fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(libc::STDERR_FILENO) == 1 }
}

async fn serve(opts: ServeOptions) -> u8 {
    let token = opts.token.clone();
    let server = match Server::bind(opts).await {
        Ok(s) => s,
        Err(e) => {
            log(&e.to_string());
            return 2;
        }
    };
    let engine = Arc::new(headroom_core::engine::start(
        headroom_core::engine::EngineOptions::from_env(),
    ));
    let addr = server.local_addr();
    let limits = server.limits();
    log(&format!(
        "listening on {} (web UI, /api, /metrics); at most {} connections; Ctrl-C stops",
        page_url(addr, None),
        limits.max_connections
    ));
    if stderr_is_terminal() {
        log(&format!(
            "open {} once to log in",
            page_url(addr, token.as_deref())
        ));
    } else {
        log("the login URL: `headroom serve --print-url` (same --listen and token options)");
    }
    let result = server.run(Arc::clone(&engine), stop_signal()).await;
    log("stopping; flushing history");
    engine.shutdown().await;
    match result {
        Ok(()) => {
            log("stopped");
            0
        }
        Err(e) => {
            log(&e.to_string());
            1
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                log(&format!("cannot watch SIGTERM ({e}); Ctrl-C still stops"));
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn run_service(args: &ServeArgs) -> u8 {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        eprintln!("headroom serve: HOME is not set; cannot find where the service file goes");
        return 2;
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("headroom serve: cannot find the headroom executable: {e}");
            return 2;
        }
    };
    if args.install {
        let checked = args
            .options()
            .and_then(|o| o.validate().map_err(|e| e.to_string()));
        if let Err(e) = checked {
            eprintln!("headroom serve: {e}");
            return 2;
        }
    }
    let spec = ServiceSpec {
        home,
        xdg_config_home: std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute()),
        exe,
        args: args.service_args(),
        token: if args.token_file.is_some() {
            None
        } else {
            args.explicit_token().ok().flatten()
        },
        // SAFETY: getuid has no preconditions and cannot fail.
        uid: unsafe { libc::getuid() },
    };
    let kind = ServiceKind::native();
    let result = if args.install {
        service::install(kind, &spec, &service::run_command)
    } else {
        service::uninstall(kind, &spec, &service::run_command)
    };
    match result {
        Ok(report) => {
            let text: String = report.lines.iter().map(|l| format!("{l}\n")).collect();
            // 1: the file is written but the service manager failed (the lines say what to run).
            crate::output::exit_code(crate::output::emit(&text), u8::from(!report.ok))
        }
        Err(e) => {
            eprintln!("headroom serve: cannot write the service file: {e}");
            2
        }
    }
}
