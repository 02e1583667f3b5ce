//! One app per user. The first launch listens on `app.sock` in the user's runtime directory
//! (the one the agents use: owned by the user, mode 0700, checked); a later launch by the same
//! user connects, asks it to show its popover and exits. Another user's app is never found
//! (each user has their own directory), unlike a socket at a fixed path in `/tmp` (which
//! tauri-plugin-single-instance uses on macOS: `/tmp/<identifier>_si.sock`), where the first
//! user's app would block everyone else's. Either side checks the other's uid.

use headroom_core::agents::discovery::check_dir;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The socket's file name in the runtime directory (agents' sockets are `agent-<pid>.sock`).
pub const SOCKET_NAME: &str = "app.sock";

/// What a later launch sends: show the popover.
pub const SHOW: &[u8] = b"show\n";

/// How long either side waits for the other.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This is the user's first app: serve later launches with [`serve`].
    First(UnixListener),
    /// The user's app is already running and was asked to show its popover.
    AlreadyRunning,
}

/// The socket's path in `runtime_dir`.
pub fn socket_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(SOCKET_NAME)
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates `dir` (mode 0700) when missing and checks it is this user's and private.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    check_dir(dir, euid()).map_err(|m| io::Error::new(io::ErrorKind::PermissionDenied, m))
}

fn check_peer(stream: &UnixStream, uid: u32) -> io::Result<()> {
    let peer = stream.peer_cred()?.uid();
    if peer == uid {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the other end of the app socket runs as uid {peer}, not as this user (uid {uid})"
            ),
        ))
    }
}

/// Becomes the user's app, or asks the one already running to show its popover.
pub async fn claim(runtime_dir: &Path) -> io::Result<Claim> {
    ensure_dir(runtime_dir)?;
    let path = socket_path(runtime_dir);
    match UnixStream::connect(&path).await {
        Ok(mut stream) => {
            check_peer(&stream, euid())?;
            tokio::time::timeout(TIMEOUT, stream.write_all(SHOW))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "the running app did not answer")
                })??;
            return Ok(Claim::AlreadyRunning);
        }
        // No socket, or one nobody listens on (left by an app that was killed): ours now.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) => {}
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(Claim::First(listener))
}

/// Answers later launches until the listener fails: `on_show` runs for each launch of this
/// user that sent [`SHOW`]; anything else is logged and dropped.
pub async fn serve(listener: UnixListener, on_show: impl Fn() + Send + 'static) {
    let uid = euid();
    loop {
        let mut stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => return log::warn!("single-instance socket closed: {e}"),
        };
        if let Err(e) = check_peer(&stream, uid) {
            log::warn!("refused a connection to the app socket: {e}");
            continue;
        }
        let mut buf = [0u8; 16];
        match tokio::time::timeout(TIMEOUT, stream.read(&mut buf)).await {
            Ok(Ok(n)) if &buf[..n] == SHOW => on_show(),
            Ok(Ok(n)) => log::warn!("unknown request on the app socket ({n} bytes)"),
            Ok(Err(e)) => log::warn!("cannot read from the app socket: {e}"),
            Err(_) => log::warn!("a launch connected to the app socket and sent nothing"),
        }
    }
}

/// Removes the socket (at exit), if it is still ours.
pub fn release(runtime_dir: &Path) {
    let _ = std::fs::remove_file(socket_path(runtime_dir));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_second_launch_asks_the_first_to_show_and_a_dead_one_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("headroom");
        runtime().block_on(async {
            let Claim::First(listener) = claim(&dir).await.unwrap() else {
                panic!("the first launch must be first");
            };
            let md = std::fs::metadata(&dir).unwrap();
            assert_eq!(
                md.mode() & 0o777,
                0o700,
                "runtime directory created private"
            );
            let sock = std::fs::metadata(socket_path(&dir)).unwrap();
            assert_eq!(sock.mode() & 0o777, 0o600);

            let shown = Arc::new(AtomicUsize::new(0));
            let counter = shown.clone();
            let server = tokio::spawn(serve(listener, move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }));
            for _ in 0..2 {
                assert!(matches!(claim(&dir).await.unwrap(), Claim::AlreadyRunning));
            }
            for _ in 0..100 {
                if shown.load(Ordering::SeqCst) == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(shown.load(Ordering::SeqCst), 2);

            // The first app dies without removing its socket: the next launch takes over.
            server.abort();
            let _ = server.await;
            assert!(socket_path(&dir).exists());
            assert!(matches!(claim(&dir).await.unwrap(), Claim::First(_)));
        });
    }

    #[test]
    fn a_shared_runtime_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("headroom");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = runtime().block_on(claim(&dir)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("777"), "{err}");
        assert!(!socket_path(&dir).exists());
    }

    #[test]
    fn anything_but_show_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("headroom");
        runtime().block_on(async {
            let Claim::First(listener) = claim(&dir).await.unwrap() else {
                panic!("first");
            };
            let shown = Arc::new(AtomicUsize::new(0));
            let counter = shown.clone();
            tokio::spawn(serve(listener, move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }));
            let mut s = UnixStream::connect(socket_path(&dir)).await.unwrap();
            s.write_all(b"quit\n").await.unwrap();
            drop(s);
            assert!(matches!(claim(&dir).await.unwrap(), Claim::AlreadyRunning));
            for _ in 0..100 {
                if shown.load(Ordering::SeqCst) > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                shown.load(Ordering::SeqCst),
                1,
                "only the real request shows"
            );
        });
    }
}
