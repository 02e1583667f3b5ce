//! Faults: agents that hang, send garbage, a 10 MB line or half a line, are killed
//! mid-request, never answer; 32 agents at once; another user's socket. The poll keeps its
//! pace: it never takes longer than the stats timeout plus a margin.

mod agents_common;

use agents_common::{fake_agent, fake_agent_process, runtime_dir, Fake, PidHolder};
use headroom_core::agents::{AgentChange, LimitKind, MlxMonitor};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_millis(250);
/// Scheduling slack on a loaded 2-core machine (builds run beside the tests).
const SLACK: Duration = Duration::from_millis(350);

fn monitor(dir: &std::path::Path) -> MlxMonitor {
    let mut m = MlxMonitor::new(dir.to_path_buf());
    m.set_stats_timeout(TIMEOUT);
    m
}

async fn timed_poll(m: &mut MlxMonitor) -> (headroom_core::agents::MlxPoll, Duration) {
    let t = Instant::now();
    let poll = m.poll().await;
    (poll, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_costs_at_most_the_timeout() {
    let dir = runtime_dir();
    let kinds = [
        Fake::Good { delay_ms: 0 },
        Fake::Hang,
        Fake::Garbage,
        Fake::Huge,
        Fake::HalfLine,
        Fake::Silent,
        Fake::Good { delay_ms: 50 },
    ];
    let holders: Vec<PidHolder> = kinds
        .iter()
        .map(|&k| fake_agent_process(dir.path(), k))
        .collect();
    let mut m = monitor(dir.path());
    m.poll().await; // the first poll also waits for the first process scan
    for round in 0..4 {
        let (poll, took) = timed_poll(&mut m).await;
        assert!(
            took >= TIMEOUT - Duration::from_millis(5),
            "round {round}: {took:?} < timeout with a hung agent"
        );
        assert!(took <= TIMEOUT + SLACK, "round {round}: poll took {took:?}");
        let by_pid = |pid: u32| {
            poll.processes
                .iter()
                .find(|p| p.pid == pid)
                .expect("listed")
        };
        for (h, kind) in holders.iter().zip(kinds) {
            let p = by_pid(h.pid());
            let good = matches!(kind, Fake::Good { .. });
            assert_eq!(p.attached, good, "{kind:?}: {p:?}");
            if good {
                assert_eq!(
                    (p.active, p.cache, p.peak),
                    (Some(1000), Some(2000), Some(3000))
                );
            } else {
                let hint = p.hint.as_deref().unwrap_or_default();
                let want = match kind {
                    Fake::Hang | Fake::Silent => "timeout",
                    Fake::Garbage => "protocol",
                    Fake::Huge => "line_too_long",
                    Fake::HalfLine => "closed",
                    _ => unreachable!("only faults are listed"),
                };
                assert!(hint.contains(want), "{kind:?}: {hint}");
            }
        }
    }
}

#[tokio::test]
async fn a_ten_megabyte_line_is_refused_without_buffering_it() {
    let dir = runtime_dir();
    let h = fake_agent_process(dir.path(), Fake::Huge);
    let mut m = monitor(dir.path());
    // This test is about memory, not time: a generous timeout keeps a loaded machine out of it.
    m.set_stats_timeout(Duration::from_secs(5));
    let poll = m.poll().await;
    let p = poll
        .processes
        .iter()
        .find(|p| p.pid == h.pid())
        .expect("listed");
    let hint = p.hint.clone().unwrap_or_default();
    let read: usize = hint
        .split("read ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{hint}"));
    assert!(
        read <= 256 * 1024 + 16 * 1024,
        "buffered {read} bytes: {hint}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_agents_are_polled_concurrently() {
    let dir = runtime_dir();
    // 100 ms each: one after another would take 3.2 s.
    let _holders: Vec<PidHolder> = (0..32)
        .map(|_| fake_agent_process(dir.path(), Fake::Good { delay_ms: 100 }))
        .collect();
    let mut m = monitor(dir.path());
    let (first, _) = timed_poll(&mut m).await;
    assert_eq!(first.changes.len(), 32, "{:?}", first.changes);
    for _ in 0..3 {
        let (poll, took) = timed_poll(&mut m).await;
        assert!(took <= TIMEOUT + SLACK, "poll of 32 took {took:?}");
        let attached = poll.processes.iter().filter(|p| p.attached).count();
        assert_eq!(attached, 32);
        assert!(poll.changes.is_empty());
    }
    let outcomes = m.clear_cache(&[]).await;
    assert_eq!(outcomes.len(), 32);
    assert!(outcomes.iter().all(|o| o.ok && o.freed == Some(2000)));
}

#[tokio::test]
async fn an_agent_killed_mid_request_leaves_and_its_socket_goes() {
    let Some(py) = agents_common::venv_python("an_agent_killed_mid_request") else {
        return;
    };
    let dir = runtime_dir();
    // A real process that answers hello and one stats, then SIGKILLs itself mid-request.
    let script = r#"
import json, os, signal, socket, sys
path = os.path.join(sys.argv[1], f"agent-{os.getpid()}.sock")
s = socket.socket(socket.AF_UNIX); s.bind(path); os.chmod(path, 0o600); s.listen(4)
print("READY", os.getpid(), flush=True)
stats_seen = 0
while True:
    c, _ = s.accept(); f = c.makefile("rwb")
    for line in f:
        req = json.loads(line)
        if req["op"] == "stats":
            stats_seen += 1
            if stats_seen == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        res = {"protocol": 1, "ops": ["hello", "stats"]} if req["op"] == "hello" else {"pid": os.getpid(), "name": "doomed", "cache": 1}
        f.write((json.dumps({"id": req["id"], "ok": True, "result": res}) + "\n").encode()); f.flush()
"#;
    let dir_arg = dir.path().to_str().expect("utf-8 path");
    let mut w = agents_common::Workload::start(&py, dir.path(), &["-c", script, dir_arg]);
    let mut m = monitor(dir.path());
    let first = m.poll().await;
    assert_eq!(
        first.changes,
        vec![AgentChange::Attached {
            pid: w.pid,
            name: "doomed".into()
        }]
    );
    let (second, took) = timed_poll(&mut m).await;
    assert!(took <= TIMEOUT + SLACK, "{took:?}");
    let p = second
        .processes
        .iter()
        .find(|p| p.pid == w.pid)
        .expect("still listed while dying");
    assert!(!p.attached);
    assert!(
        p.hint.as_deref().unwrap_or_default().contains("closed"),
        "{p:?}"
    );
    let _ = w.child.wait();
    let third = m.poll().await;
    assert_eq!(
        third.changes,
        vec![AgentChange::Left {
            pid: w.pid,
            name: "doomed".into()
        }]
    );
    assert!(
        !w.socket(dir.path()).exists(),
        "stale socket of a dead pid was removed"
    );
}

#[tokio::test]
async fn actions_on_faulty_agents_fail_within_the_action_timeout() {
    let dir = runtime_dir();
    let good = fake_agent_process(dir.path(), Fake::Good { delay_ms: 0 });
    let hung = fake_agent_process(dir.path(), Fake::Hang);
    let mut m = monitor(dir.path());
    m.set_action_timeout(Duration::from_millis(400));
    let t = Instant::now();
    let out = m.set_limit(LimitKind::Cache, 6000, &[]).await;
    assert!(
        t.elapsed() < Duration::from_millis(400) + SLACK,
        "{:?}",
        t.elapsed()
    );
    assert_eq!(out.len(), 2);
    let ok = out.iter().find(|o| o.pid == good.pid()).expect("good");
    assert!(
        ok.ok && ok.previous == Some(5000) && ok.current == Some(6000),
        "{ok:?}"
    );
    let bad = out.iter().find(|o| o.pid == hung.pid()).expect("hung");
    assert_eq!(
        bad.error.as_ref().map(|e| e.code.as_str()),
        Some("timeout"),
        "{bad:?}"
    );
    let missing = m.clear_cache(&[good.pid(), 999_999_999]).await;
    let e = missing
        .iter()
        .find(|o| o.pid == 999_999_999)
        .and_then(|o| o.error.clone())
        .expect("error");
    assert_eq!(e.code, "no_such_process");
}

#[tokio::test]
async fn unsafe_runtime_dirs_and_foreign_sockets_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = runtime_dir();
    let h = fake_agent_process(dir.path(), Fake::Good { delay_ms: 0 });
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o770)).expect("chmod");
    let mut m = monitor(dir.path());
    let poll = m.poll().await;
    assert!(poll.processes.iter().all(|p| p.pid != h.pid()), "{poll:?}");
    assert!(
        poll.problems.iter().any(|p| p.contains("0770")),
        "{:?}",
        poll.problems
    );
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    assert!(m
        .poll()
        .await
        .processes
        .iter()
        .any(|p| p.pid == h.pid() && p.attached));
}

/// Another user's process behind a socket in our directory (socket file owned by us, so only
/// the peer-credential check can catch it). Needs root to run a process as another user.
#[tokio::test]
async fn another_users_agent_is_refused_by_peer_credentials() {
    if headroom_core::agents::sys::euid() != 0 {
        return agents_common::real_parts::missing(
            "another_users_agent",
            "not root, cannot run a listener as another user",
        );
    }
    let uid = test_user_uid();
    let scratch = tempfile::Builder::new()
        .prefix("hr-other-")
        .tempdir_in("/tmp")
        .expect("tmp");
    std::os::unix::fs::chown(scratch.path(), Some(uid), None).expect("chown");
    let theirs = scratch.path().join("s.sock");
    let script = "import socket,sys,json\ns=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1]);s.listen(4)\nprint('READY',flush=True)\nwhile True:\n c,_=s.accept();f=c.makefile('rwb')\n for l in f:\n  r=json.loads(l);f.write((json.dumps({'id':r['id'],'ok':True,'result':{'protocol':1,'cache':1}})+'\\n').encode());f.flush()\n";
    let mut child = std::process::Command::new(system_python())
        .args(["-c", script, theirs.to_str().expect("utf-8")])
        .uid(uid)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn as other user");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("out")),
        &mut line,
    )
    .expect("ready");
    assert_eq!(line.trim(), "READY");
    let dir = runtime_dir();
    let holder = PidHolder::new();
    let ours = dir.path().join(format!("agent-{}.sock", holder.pid()));
    std::os::unix::fs::chown(&theirs, Some(0), Some(0)).expect("chown socket to us");
    std::fs::rename(&theirs, &ours).expect("move socket into our dir");
    let mut m = monitor(dir.path());
    let poll = m.poll().await;
    // Refused: the pid is not shown as an MLX process; the refusal is reported.
    assert!(
        poll.processes.iter().all(|p| p.pid != holder.pid()),
        "{poll:?}"
    );
    let why = poll.problems.join("; ");
    assert!(why.contains(&format!("uid {uid}")), "{why}");
    let out = m.clear_cache(&[holder.pid()]).await;
    assert_eq!(
        out[0].error.as_ref().map(|e| e.code.as_str()),
        Some("permission_denied")
    );
    // The same socket owned by the other user is refused before connecting.
    std::os::unix::fs::chown(&ours, Some(uid), None).expect("chown back");
    let out = m.clear_cache(&[holder.pid()]).await;
    let msg = out[0].error.clone().expect("refused").message;
    assert!(msg.contains("owned by uid"), "{msg}");
    // A runtime directory owned by the other user is refused as a whole.
    std::os::unix::fs::chown(&ours, Some(0), None).expect("chown socket back to us");
    std::os::unix::fs::chown(dir.path(), Some(uid), None).expect("chown dir");
    let poll = m.poll().await;
    assert!(
        poll.processes.iter().all(|p| p.pid != holder.pid()),
        "{poll:?}"
    );
    let why = poll.problems.join("; ");
    assert!(why.contains(&format!("owned by uid {uid}")), "{why}");
    std::os::unix::fs::chown(dir.path(), Some(0), None).expect("chown dir back");
    let _ = child.kill();
    let _ = child.wait();
}

use std::os::unix::process::CommandExt;

/// The uid of `headroom-test` (created with useradd when missing), else `nobody` (65534).
fn test_user_uid() -> u32 {
    agents_common::real_parts::other_user("another user's agent").map_or(65534, |(uid, _)| uid)
}

/// A Python another user can run (`/usr/bin/python3`; a pyenv shim under /root is not).
fn system_python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A sampler loop (memory sample + agent poll every 500 ms) keeps its schedule while a hung,
/// a silent and a garbage agent sit beside a good one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sampler_keeps_its_pace_beside_faulty_agents() {
    let dir = runtime_dir();
    let kinds = [
        Fake::Good { delay_ms: 0 },
        Fake::Hang,
        Fake::Silent,
        Fake::Garbage,
    ];
    let _holders: Vec<PidHolder> = kinds
        .iter()
        .map(|&k| fake_agent_process(dir.path(), k))
        .collect();
    let mut sampler = headroom_core::Sampler::new();
    let mut m = monitor(dir.path());
    m.poll().await;
    let interval = Duration::from_millis(500);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let start = Instant::now();
    let ticks = 6;
    for _ in 0..ticks {
        ticker.tick().await;
        let t = Instant::now();
        let mut snap = sampler.sample();
        let poll = m.poll().await;
        headroom_core::agents::attach_mlx(&mut snap, &poll);
        assert_eq!(snap.mlx.iter().filter(|p| p.attached).count(), 1);
        assert!(
            t.elapsed() <= TIMEOUT + SLACK,
            "one sample took {:?}",
            t.elapsed()
        );
    }
    // Six ticks of a 500 ms schedule end 2.5 s after the first plus one sample's work.
    let total = start.elapsed();
    assert!(
        total <= interval * (ticks - 1) + TIMEOUT + SLACK,
        "schedule slipped: {total:?}"
    );
}

/// A same-user listener on `agent-1.sock` (this test process, not pid 1) is refused: pid 1 is
/// not listed, not attached, has no footprint shown, and actions on it fail; the refusal
/// names the socket and the real pid. An agent whose `hello` claims another pid than its
/// listener's is refused the same way.
#[tokio::test]
async fn an_agent_cannot_claim_a_pid_that_is_not_its_own() {
    let dir = runtime_dir();
    fake_agent(dir.path(), 1, Fake::Good { delay_ms: 0 });
    let liar = fake_agent_process(dir.path(), Fake::ClaimsPid { pid: 1 });
    let honest = fake_agent_process(dir.path(), Fake::Good { delay_ms: 0 });
    let mut m = monitor(dir.path());
    let poll = m.poll().await;
    assert!(poll.processes.iter().all(|p| p.pid != 1), "{poll:?}");
    assert!(
        poll.processes.iter().all(|p| p.pid != liar.pid()),
        "{poll:?}"
    );
    assert!(poll
        .processes
        .iter()
        .any(|p| p.pid == honest.pid() && p.attached));
    let why = poll.problems.join("; ");
    let me = std::process::id();
    assert!(
        why.contains(&format!("agent-1.sock is served by pid {me}, not by pid 1")),
        "{why}"
    );
    assert!(
        why.contains(&format!(
            "says it is pid 1, but pid {} serves it",
            liar.pid()
        )),
        "{why}"
    );
    assert_eq!(
        poll.changes,
        vec![AgentChange::Attached {
            pid: honest.pid(),
            name: "fake".into()
        }]
    );
    let out = m.clear_cache(&[1, liar.pid(), honest.pid()]).await;
    let code = |pid: u32| {
        out.iter()
            .find(|o| o.pid == pid)
            .and_then(|o| o.error.as_ref().map(|e| e.code.clone()))
    };
    assert_eq!(code(1).as_deref(), Some("permission_denied"), "{out:?}");
    assert_eq!(
        code(liar.pid()).as_deref(),
        Some("permission_denied"),
        "{out:?}"
    );
    assert_eq!(code(honest.pid()), None, "{out:?}");
}

/// Two agents that report 2^63 bytes of cache each: the values are refused (above the 1 PiB
/// ceiling, reported), and the total is the honest agent's 2000 bytes, not a wrapped sum.
#[tokio::test]
async fn absurd_byte_values_are_refused_and_totals_never_wrap() {
    let dir = runtime_dir();
    let huge = 1u64 << 63;
    let _a = fake_agent_process(dir.path(), Fake::Cache { cache: huge });
    let _b = fake_agent_process(dir.path(), Fake::Cache { cache: huge });
    let _c = fake_agent_process(dir.path(), Fake::Good { delay_ms: 0 });
    let mut m = monitor(dir.path());
    let poll = m.poll().await;
    let mut snap = headroom_core::Snapshot::empty(
        headroom_core::snapshot::Platform::Linux,
        chrono::Utc::now(),
    );
    headroom_core::agents::attach_mlx(&mut snap, &poll);
    assert_eq!(snap.mlx.iter().filter(|p| p.attached).count(), 3);
    assert_eq!(snap.mlx_cache_total(), 2000, "{:?}", snap.mlx);
    let refused = poll
        .problems
        .iter()
        .filter(|p| p.contains(&format!("cache = {huge} bytes")) && p.contains("1 PiB"))
        .count();
    assert_eq!(refused, 2, "{:?}", poll.problems);
}

/// A process name with escape sequences, a newline and a bidi override reaches snapshots and
/// the journal as one visible-escaped line.
#[tokio::test]
async fn hostile_agent_names_are_kept_on_one_terminal_safe_line() {
    let dir = runtime_dir();
    let h = fake_agent_process(dir.path(), Fake::HostileName);
    let mut m = monitor(dir.path());
    let poll = m.poll().await;
    let p = poll
        .processes
        .iter()
        .find(|p| p.pid == h.pid())
        .expect("listed");
    assert!(p.attached);
    assert!(
        !p.name.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{:?}",
        p.name
    );
    assert!(
        p.name.starts_with("mlx\\u{1b}]0;owned\\u{7}\\n2026"),
        "{}",
        p.name
    );
    let AgentChange::Attached { name, .. } = &poll.changes[0] else {
        panic!("{:?}", poll.changes)
    };
    assert_eq!(name, &p.name);
}
