//! `headroom serve`: the engine plus the HTTP API, `/metrics` and the web UI, in the foreground.
//!
//! Logs go to stderr. SIGINT or SIGTERM stops the server, ends open streams, then stops the
//! engine, which flushes history. `--install` / `--uninstall` register it as a per-user
//! service (systemd user unit on Linux, launchd agent on macOS).

use clap::Args;
use headroom_server::service::{self, ServiceKind, ServiceSpec};
use headroom_server::{ServeOptions, Server, DEFAULT_LISTEN};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `headroom serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs a token.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Token every request must carry (`Authorization: Bearer …` or `?token=`); also read
    /// from HEADROOM_TOKEN. At least 16 characters.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Another host name the server may be reached by (Host/Origin check), e.g. studio.local.
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_host: Vec<String>,
    /// Register `headroom serve` (with these options) as a per-user service and start it.
    #[arg(long, conflicts_with = "uninstall")]
    install: bool,
    /// Stop and remove the per-user service.
    #[arg(long)]
    uninstall: bool,
}

impl ServeArgs {
    fn token(&self) -> Option<String> {
        self.token
            .clone()
            .or_else(|| std::env::var("HEADROOM_TOKEN").ok())
            .filter(|t| !t.is_empty())
    }

    fn options(&self) -> ServeOptions {
        ServeOptions {
            listen: self.listen,
            token: self.token(),
            allowed_hosts: self.allow_host.clone(),
            ..ServeOptions::default()
        }
    }

    /// The arguments the installed service is started with (the token goes in its environment).
    fn service_args(&self) -> Vec<String> {
        let mut args = vec!["--listen".to_owned(), self.listen.to_string()];
        for h in &self.allow_host {
            args.push("--allow-host".into());
            args.push(h.clone());
        }
        args
    }
}

/// Runs `headroom serve`; returns the exit status.
pub async fn run(args: &ServeArgs) -> u8 {
    if args.install || args.uninstall {
        return run_service(args);
    }
    serve(args.options()).await
}

async fn serve(opts: ServeOptions) -> u8 {
    let server = match Server::bind(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("headroom serve: {e}");
            return 2;
        }
    };
    let engine = Arc::new(headroom_core::engine::start(
        headroom_core::engine::EngineOptions::from_env(),
    ));
    eprintln!(
        "headroom serve: listening on http://{}/ (web UI, /api, /metrics); Ctrl-C stops",
        server.local_addr()
    );
    let result = server.run(Arc::clone(&engine), stop_signal()).await;
    eprintln!("headroom serve: stopping; flushing history");
    engine.shutdown().await;
    match result {
        Ok(()) => {
            eprintln!("headroom serve: stopped");
            0
        }
        Err(e) => {
            eprintln!("headroom serve: {e}");
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
                eprintln!("headroom serve: cannot watch SIGTERM ({e}); Ctrl-C still stops");
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
        if let Err(e) = args.options().validate() {
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
        token: args.token(),
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
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            0
        }
        Err(e) => {
            eprintln!("headroom serve: cannot write the service file: {e}");
            2
        }
    }
}
