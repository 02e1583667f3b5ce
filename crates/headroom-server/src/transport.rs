//! The connection layer under the router: accepting, timeouts, the connection cap, and writes
//! that cannot raise SIGPIPE.
//!
//! - **No signal from a write.** A client that resets its connection makes the next write fail
//!   with `EPIPE`; by default the kernel also sends SIGPIPE, whose default action ends the
//!   process. On Linux every write here is `send(2)` with `MSG_NOSIGNAL`; on macOS each
//!   accepted socket gets `SO_NOSIGPIPE` (xnu `bsd/sys/socket.h`: "No SIGPIPE on EPIPE";
//!   `bsd/kern/sys_socket.c` and `bsd/kern/uipc_syscalls.c` skip `psignal(SIGPIPE)` when the
//!   socket has it). The server survives whatever the process's SIGPIPE disposition is.
//! - **Timeouts** ([`ConnLimits`]): a connection between requests is closed after
//!   `idle_timeout` without a byte, or after `header_timeout` once it sent part of a request
//!   header without completing it; a request body must arrive within `body_timeout`; a
//!   response write blocked on a client that does not read is given `send_timeout`.
//! - **Connection cap**: at most `max_connections`, lowered to stay below the open-file limit
//!   (see [`connection_cap`]). When the cap is full, a new connection replaces the one that
//!   has waited for its client the longest, so a crowd of slow clients cannot keep `/metrics`
//!   or the owner out; if every connection is busy answering, the new one is closed.

use crate::options::ConnLimits;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// Open files kept free for everything but HTTP connections (history database, agent
/// sockets, configuration, logs): a quarter of the limit, at least 32.
fn reserved_fds(limit: u64) -> u64 {
    (limit / 4).max(32)
}

/// The connection cap for an open-file limit: `wanted`, lowered to leave [`reserved_fds`]
/// free, and at least 1.
pub fn connection_cap(wanted: usize, fd_limit: Option<u64>) -> usize {
    let Some(limit) = fd_limit else {
        return wanted.max(1);
    };
    let room = limit.saturating_sub(reserved_fds(limit));
    wanted
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1)
}

/// The soft limit on open files the server aims for (when the hard limit allows).
const WANTED_FD_LIMIT: u64 = 4096;

/// Raises the soft open-file limit towards [`WANTED_FD_LIMIT`] (never above the hard limit;
/// on macOS the kernel also caps it at `kern.maxfilesperproc`, xnu `bsd/kern/kern_resource.c`)
/// and returns the soft limit in force, or `None` when it cannot be read.
#[cfg(unix)]
pub fn raise_open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid, exclusively borrowed `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    // rlim_t is a 64-bit unsigned integer on Linux and macOS.
    let (cur, max): (u64, u64) = (lim.rlim_cur, lim.rlim_max);
    let want = WANTED_FD_LIMIT.min(max);
    if cur < want {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one valid rlimit; failure leaves the limit unchanged.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(want);
        }
    }
    Some(cur)
}

/// Not Unix: the limit is unknown.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
}

/// Milliseconds since `epoch`, stored in atomics.
fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What a connection is doing, as the reaper sees it (all times in ms since the table's
/// epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    /// Requests being answered (0: waiting for the client's next request).
    pub in_flight: usize,
    /// When it last started waiting for the client (accepted, or a response ended).
    pub waiting_since: u64,
    /// Whether the client sent any byte since then (part of a request header).
    pub read_since_wait: bool,
    /// When the current request started, and whether its body is still arriving.
    pub body_pending_since: Option<u64>,
    /// Since when a response write has been blocked on the client.
    pub write_blocked_since: Option<u64>,
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Idle between requests for `idle_timeout`.
    Idle,
    /// Part of a header, not completed within `header_timeout`.
    Header,
    /// A request body not complete within `body_timeout`.
    Body,
    /// A response write blocked for `send_timeout`.
    Send,
}

impl Phase {
    /// Whether (and why) the connection has overstayed at `now`.
    pub fn expired(&self, now: u64, limits: &ConnLimits) -> Option<Expiry> {
        let over =
            |since: u64, limit: Duration| u128::from(now.saturating_sub(since)) > limit.as_millis();
        if self
            .write_blocked_since
            .is_some_and(|t| over(t, limits.send_timeout))
        {
            return Some(Expiry::Send);
        }
        if self.in_flight > 0 {
            let body_late = self
                .body_pending_since
                .is_some_and(|t| over(t, limits.body_timeout));
            return body_late.then_some(Expiry::Body);
        }
        if self.read_since_wait {
            over(self.waiting_since, limits.header_timeout).then_some(Expiry::Header)
        } else {
            over(self.waiting_since, limits.idle_timeout).then_some(Expiry::Idle)
        }
    }

    /// Whether a new connection may replace this one when the cap is full: it waits for its
    /// client (between requests, or blocked writing to it).
    pub fn evictable(&self) -> bool {
        self.in_flight == 0 || self.write_blocked_since.is_some()
    }
}

const NONE: u64 = u64::MAX;

/// hyper's read buffer per connection, which bounds a request header (431 beyond).
const READ_BUFFER: usize = 64 * 1024;

/// One connection's state, shared by its IO, its service and the reaper.
struct Conn {
    epoch: Instant,
    in_flight: AtomicUsize,
    waiting_since: AtomicU64,
    read_since_wait: AtomicBool,
    body_pending_since: AtomicU64,
    write_blocked_since: AtomicU64,
    close: Notify,
}

impl Conn {
    fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            in_flight: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(ms_since(epoch)),
            read_since_wait: AtomicBool::new(false),
            body_pending_since: AtomicU64::new(NONE),
            write_blocked_since: AtomicU64::new(NONE),
            close: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        ms_since(self.epoch)
    }

    fn phase(&self) -> Phase {
        let opt = |a: &AtomicU64| Some(a.load(Ordering::Relaxed)).filter(|&v| v != NONE);
        Phase {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting_since: self.waiting_since.load(Ordering::Relaxed),
            read_since_wait: self.read_since_wait.load(Ordering::Relaxed),
            body_pending_since: opt(&self.body_pending_since),
            write_blocked_since: opt(&self.write_blocked_since),
        }
    }

    fn request_started(&self, body_pending: bool) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let t = if body_pending { self.now() } else { NONE };
        self.body_pending_since.store(t, Ordering::Relaxed);
    }

    fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.waiting_since.store(self.now(), Ordering::Relaxed);
            self.read_since_wait.store(false, Ordering::Relaxed);
        }
    }
}

/// Open connections by id.
#[derive(Default)]
struct Table {
    next: u64,
    conns: HashMap<u64, Arc<Conn>>,
}

type Shared = Arc<Mutex<Table>>;

fn lock(t: &Shared) -> std::sync::MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers a new connection, first evicting the longest-waiting one when `cap` is reached;
/// `None` when the cap is full of busy connections.
fn admit(table: &Shared, cap: usize, epoch: Instant) -> Option<(u64, Arc<Conn>)> {
    let mut t = lock(table);
    if t.conns.len() >= cap {
        let victim = t
            .conns
            .iter()
            .map(|(id, c)| (*id, c.phase()))
            .filter(|(_, p)| p.evictable())
            .min_by_key(|(_, p)| p.write_blocked_since.unwrap_or(p.waiting_since))
            .map(|(id, _)| id);
        let conn = t.conns.remove(&victim?)?;
        conn.close.notify_one();
    }
    let id = t.next;
    t.next += 1;
    let conn = Arc::new(Conn::new(epoch));
    t.conns.insert(id, Arc::clone(&conn));
    Some((id, conn))
}

/// Closes connections that overstayed; runs until `stop`.
async fn reap(table: Shared, limits: ConnLimits, epoch: Instant, mut stop: watch::Receiver<bool>) {
    let shortest = [
        limits.header_timeout,
        limits.body_timeout,
        limits.idle_timeout,
        limits.send_timeout,
    ]
    .into_iter()
    .min()
    .unwrap_or(Duration::from_secs(1));
    let tick = (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = ms_since(epoch);
        let mut t = lock(&table);
        t.conns.retain(|_, c| {
            let keep = c.phase().expired(now, &limits).is_none();
            if !keep {
                c.close.notify_one();
            }
            keep
        });
    }
}

/// Accepts connections until `stop` becomes true, then lets open requests finish (streams end
/// through the same signal) for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let epoch = Instant::now();
    let table: Shared = Arc::default();
    let reaper = tokio::spawn(reap(Arc::clone(&table), limits, epoch, stop.clone()));
    let mut stopping = stop.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // Out of file descriptors or a connection reset before accept: the pending
                // connection stays queued; try again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some((id, conn)) = admit(&table, limits.max_connections, epoch) else {
            drop(stream);
            continue;
        };
        no_sigpipe(&stream);
        let _ = stream.set_nodelay(true);
        let task = connection(stream, peer, app.clone(), Arc::clone(&conn), stop.clone());
        let table = Arc::clone(&table);
        tokio::spawn(async move {
            task.await;
            lock(&table).conns.remove(&id);
        });
    }
    drop(listener);
    let deadline = Instant::now() + grace;
    while !lock(&table).conns.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reaper.abort();
    for conn in lock(&table).conns.values() {
        conn.close.notify_one();
    }
}

/// Serves one connection until it ends, is closed by the reaper or an eviction, or the server
/// stops (then in-flight requests finish and idle keep-alive ends).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    conn: Arc<Conn>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        conn: Arc::clone(&conn),
    });
    let service = Tracked {
        app,
        conn: Arc::clone(&conn),
        peer,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The reaper enforces the timeouts; hyper's own header timeout is off. Headers (and each
    // read) are capped at 64 KiB, so a full cap of slow clients holds a few MiB at most.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(READ_BUFFER);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => return,
        _ = conn.close.notified() => return,
        _ = stop.wait_for(|s| *s) => {}
    }
    served.as_mut().graceful_shutdown();
    tokio::select! {
        _ = served => {}
        _ = conn.close.notified() => {}
    }
}

/// Marks the socket so that a write to a reset connection returns `EPIPE` without SIGPIPE
/// (macOS; xnu `bsd/sys/socket.h` `SO_NOSIGPIPE`). Linux writes use `MSG_NOSIGNAL` instead.
#[cfg(any(target_os = "macos", target_os = "ios"))]
fn no_sigpipe(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, reading one c_int of the given size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NOSIGPIPE,
            std::ptr::addr_of!(on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(any(target_os = "macos", target_os = "ios")))]
fn no_sigpipe(_stream: &TcpStream) {}

/// The TCP stream, recording client progress for the reaper; writes cannot raise SIGPIPE.
struct Watched {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.read_since_wait.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl Watched {
    fn note_write(&self, r: &Poll<io::Result<usize>>) {
        let blocked = &self.conn.write_blocked_since;
        match r {
            Poll::Pending => {
                let _ = blocked.compare_exchange(
                    NONE,
                    self.conn.now(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            Poll::Ready(_) => blocked.store(NONE, Ordering::Relaxed),
        }
    }

    #[cfg(target_os = "linux")]
    fn poll_send(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let fd = self.inner.as_raw_fd();
        loop {
            std::task::ready!(self.inner.poll_write_ready(cx))?;
            let sent = self.inner.try_io(tokio::io::Interest::WRITABLE, || {
                // SAFETY: send reads at most `buf.len()` bytes from the valid slice `buf` on a
                // socket this stream owns; MSG_NOSIGNAL turns SIGPIPE into an EPIPE error.
                let n =
                    unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn poll_send(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = self.poll_send(cx, buf);
        self.note_write(&r);
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router as a hyper service that tells the connection when requests start and end, and
/// hands handlers the peer address (`ConnectInfo<SocketAddr>`).
#[derive(Clone)]
struct Tracked {
    app: Router,
    conn: Arc<Conn>,
    peer: SocketAddr,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = BoxFut<Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let body_pending = !req.body().is_end_stream();
        self.conn.request_started(body_pending);
        let guard = InFlight(Arc::clone(&self.conn));
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(ConnectInfo(self.peer));
        let body = Body::new(RequestBody {
            inner: body,
            conn: Arc::clone(&self.conn),
        });
        let req = Request::from_parts(parts, body);
        let app = self.app.clone();
        Box::pin(async move {
            let response = tower::ServiceExt::oneshot(app, req)
                .await
                .unwrap_or_else(|e| match e {});
            Ok(response.map(|inner| TrackedBody {
                inner,
                _in_flight: guard,
            }))
        })
    }
}

/// Ends the request's in-flight mark when dropped (with the response body, or with the
/// request if it is abandoned).
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// The request body, telling the connection when it has arrived in full.
struct RequestBody {
    inner: Incoming,
    conn: Arc<Conn>,
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None | Some(Err(_)))) || self.inner.is_end_stream() {
            self.conn.body_pending_since.store(NONE, Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body, holding the request's in-flight mark until it is sent (or dropped).
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_millis(100),
            body_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(300),
            send_timeout: Duration::from_millis(400),
            max_connections: 8,
        }
    }

    fn waiting(read: bool) -> Phase {
        Phase {
            in_flight: 0,
            waiting_since: 1000,
            read_since_wait: read,
            body_pending_since: None,
            write_blocked_since: None,
        }
    }

    #[test]
    fn each_phase_has_its_own_timeout() {
        let l = limits();
        assert_eq!(waiting(false).expired(1300, &l), None);
        assert_eq!(waiting(false).expired(1301, &l), Some(Expiry::Idle));
        assert_eq!(waiting(true).expired(1100, &l), None);
        assert_eq!(waiting(true).expired(1101, &l), Some(Expiry::Header));
        let body = Phase {
            in_flight: 1,
            body_pending_since: Some(1000),
            ..waiting(true)
        };
        assert_eq!(body.expired(1200, &l), None);
        assert_eq!(body.expired(1201, &l), Some(Expiry::Body));
        let answering = Phase {
            body_pending_since: None,
            ..body
        };
        assert_eq!(
            answering.expired(999_999, &l),
            None,
            "a long stream is fine"
        );
        assert!(!answering.evictable());
        let stuck = Phase {
            write_blocked_since: Some(1000),
            ..answering
        };
        assert_eq!(stuck.expired(1401, &l), Some(Expiry::Send));
        assert!(stuck.evictable());
        assert!(waiting(false).evictable());
    }

    #[test]
    fn the_cap_stays_below_the_open_file_limit() {
        assert_eq!(connection_cap(256, Some(64)), 32);
        assert_eq!(connection_cap(256, Some(256)), 192);
        assert_eq!(connection_cap(256, Some(1024)), 256);
        assert_eq!(connection_cap(256, Some(10)), 1);
        assert_eq!(connection_cap(256, None), 256);
    }

    #[test]
    fn a_full_table_evicts_the_longest_waiting_idle_connection() {
        let epoch = Instant::now();
        let table: Shared = Arc::default();
        let (a, ca) = admit(&table, 2, epoch).unwrap();
        let (_b, cb) = admit(&table, 2, epoch).unwrap();
        ca.waiting_since.store(0, Ordering::Relaxed);
        cb.waiting_since.store(5, Ordering::Relaxed);
        let (_c, _) = admit(&table, 2, epoch).unwrap();
        assert!(
            !lock(&table).conns.contains_key(&a),
            "the oldest idle one went"
        );
        assert_eq!(lock(&table).conns.len(), 2);
        for c in lock(&table).conns.values() {
            c.request_started(false);
        }
        assert!(admit(&table, 2, epoch).is_none(), "all busy: refused");
    }
}
