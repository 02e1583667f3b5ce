//! `headroom serve --install/--uninstall` with a temporary HOME: files and commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use headroom_server::service::{
    install, launchd_install_steps, service_path, uninstall, Output, ServiceKind, ServiceSpec,
    Step, LAUNCHD_GONE_TRIES, LAUNCHD_LABEL,
};
use std::cell::RefCell;
use std::io;
use std::path::Path;
use std::process::Command;

fn spec(home: &Path, token: Option<&str>) -> ServiceSpec {
    ServiceSpec {
        home: home.to_path_buf(),
        xdg_config_home: None,
        exe: "/opt/head room/bin/headroom".into(),
        args: vec!["--listen".into(), "127.0.0.1:9178".into()],
        token: token.map(str::to_owned),
        uid: 501,
    }
}

#[test]
fn systemd_install_writes_the_unit_and_enables_it() {
    let home = tempfile::tempdir().unwrap();
    let calls = RefCell::new(Vec::new());
    let run = |p: &str, a: &[String], _: Output| -> io::Result<bool> {
        calls.borrow_mut().push(format!("{p} {}", a.join(" ")));
        Ok(true)
    };
    let s = spec(home.path(), None);
    let report = install(ServiceKind::Systemd, &s, &run).unwrap();
    let path = home.path().join(".config/systemd/user/headroom.service");
    assert_eq!(service_path(ServiceKind::Systemd, &s), path);
    let unit = std::fs::read_to_string(&path).unwrap();
    assert!(
        unit.contains(
            "ExecStart=\"/opt/head room/bin/headroom\" serve \"--listen\" \"127.0.0.1:9178\"\n"
        ),
        "{unit}"
    );
    assert!(
        unit.contains("[Install]\nWantedBy=default.target"),
        "{unit}"
    );
    assert!(unit.contains("Restart=on-failure"), "{unit}");
    assert!(!unit.contains("HEADROOM_TOKEN"), "{unit}");
    assert_eq!(
        *calls.borrow(),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable headroom.service",
            "systemctl --user restart headroom.service"
        ]
    );
    assert!(report.ok);
    assert!(
        report.lines.last().unwrap().contains("running"),
        "{report:?}"
    );

    calls.borrow_mut().clear();
    let report = uninstall(ServiceKind::Systemd, &s, &run).unwrap();
    assert!(!path.exists());
    assert_eq!(
        *calls.borrow(),
        [
            "systemctl --user disable --now headroom.service",
            "systemctl --user daemon-reload"
        ]
    );
    assert!(
        report.lines.iter().any(|l| l.starts_with("removed ")),
        "{report:?}"
    );
    assert!(report.ok);
}

#[test]
fn without_systemctl_the_unit_is_written_and_the_report_says_what_to_run() {
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join("xdg");
    let mut s = spec(home.path(), Some("secret-token-0123456789\"%"));
    s.xdg_config_home = Some(xdg.clone());
    let missing = |_: &str, _: &[String], _: Output| -> io::Result<bool> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "No such file or directory",
        ))
    };
    let report = install(ServiceKind::Systemd, &s, &missing).unwrap();
    let path = xdg.join("systemd/user/headroom.service");
    let unit = std::fs::read_to_string(&path).unwrap();
    assert!(
        unit.contains("Environment=\"HEADROOM_TOKEN=secret-token-0123456789\\\"%%\"\n"),
        "{unit}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a unit with a token is private");
    }
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("run yourself: systemctl --user daemon-reload")),
        "{report:?}"
    );
    assert!(!report.ok, "a service manager that cannot run is a failure");
    let report = uninstall(ServiceKind::Systemd, &s, &missing).unwrap();
    assert!(!path.exists(), "{report:?}");
    let again = uninstall(ServiceKind::Systemd, &s, &missing).unwrap();
    assert!(
        again.lines.iter().any(|l| l.contains("was not installed")),
        "{again:?}"
    );
}

#[test]
fn launchd_install_writes_a_valid_plist_and_bootstraps_it() {
    let home = tempfile::tempdir().unwrap();
    let calls = RefCell::new(Vec::new());
    // A job that was never loaded: bootout and print fail, bootstrap succeeds.
    let run = |p: &str, a: &[String], _: Output| -> io::Result<bool> {
        calls.borrow_mut().push(format!("{p} {}", a.join(" ")));
        Ok(a[0] == "bootstrap")
    };
    let s = spec(home.path(), Some("tok<&>0123456789abc"));
    let report = install(ServiceKind::Launchd, &s, &run).unwrap();
    assert!(report.ok, "{report:?}");
    let path = home
        .path()
        .join(format!("Library/LaunchAgents/{LAUNCHD_LABEL}.plist"));
    let plist = std::fs::read_to_string(&path).unwrap();
    assert!(
        plist.contains("<string>tok&lt;&amp;&gt;0123456789abc</string>"),
        "{plist}"
    );
    assert!(
        plist.contains("<string>/opt/head room/bin/headroom</string>\n    <string>serve</string>")
    );
    assert!(home.path().join("Library/Logs/Headroom").is_dir());
    assert_eq!(
        *calls.borrow(),
        [
            "launchctl bootout gui/501/dev.headroom.serve".to_string(),
            "launchctl print gui/501/dev.headroom.serve".to_string(),
            format!("launchctl bootstrap gui/501 {}", path.display())
        ]
    );
    // The plist parses as a property list with the expected keys (Python's plistlib).
    let check = Command::new("python3")
        .args([
            "-c",
            "import plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); \
             assert d['Label']=='dev.headroom.serve', d; assert d['ProgramArguments'][1]=='serve'; \
             assert d['EnvironmentVariables']['HEADROOM_TOKEN']=='tok<&>0123456789abc'; \
             assert d['RunAtLoad'] is True; assert d['ProcessType']=='Interactive', d",
        ])
        .arg(&path)
        .status();
    match check {
        Ok(st) => assert!(st.success(), "plistlib rejected {plist}"),
        Err(e) => eprintln!("SKIPPED plist parse check: python3 not available ({e})"),
    }
    calls.borrow_mut().clear();
    uninstall(ServiceKind::Launchd, &s, &run).unwrap();
    assert_eq!(
        *calls.borrow(),
        ["launchctl bootout gui/501/dev.headroom.serve"]
    );
    assert!(!path.exists());
}

#[test]
fn launchd_reinstall_boots_out_waits_until_gone_then_bootstraps() {
    let plist = Path::new("/Users/me/Library/LaunchAgents/dev.headroom.serve.plist");
    let steps = launchd_install_steps(501, plist);
    let service = "gui/501/dev.headroom.serve";
    assert_eq!(
        steps[0],
        Step::Try(vec!["launchctl".into(), "bootout".into(), service.into()])
    );
    assert!(
        matches!(&steps[1], Step::UntilFails { argv, tries, .. }
            if argv.join(" ") == format!("launchctl print {service}") && *tries == LAUNCHD_GONE_TRIES),
        "{steps:?}"
    );
    assert_eq!(
        steps[2],
        Step::Run(vec![
            "launchctl".into(),
            "bootstrap".into(),
            "gui/501".into(),
            plist.display().to_string()
        ])
    );

    // Installed twice: the loaded job is booted out and still listed for two probes.
    let home = tempfile::tempdir().unwrap();
    let prints = RefCell::new(0);
    let calls = RefCell::new(Vec::new());
    let run = |p: &str, a: &[String], out: Output| -> io::Result<bool> {
        calls
            .borrow_mut()
            .push(format!("{p} {} {out:?}", a.join(" ")));
        if a[0] == "print" {
            *prints.borrow_mut() += 1;
            return Ok(*prints.borrow() <= 2);
        }
        Ok(true)
    };
    let report = install(ServiceKind::Launchd, &spec(home.path(), None), &run).unwrap();
    assert!(report.ok, "{report:?}");
    let calls = calls.into_inner();
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(calls[1..4]
        .iter()
        .all(|c| c.contains(" print ") && c.ends_with("Silent")));
    assert!(calls[4].contains(" bootstrap gui/501 ") && calls[4].ends_with("Errors"));
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("gone after 3 check(s)")),
        "{report:?}"
    );
}

#[test]
fn launchd_install_fails_when_bootstrap_fails_or_the_job_never_leaves() {
    let home = tempfile::tempdir().unwrap();
    let s = spec(home.path(), None);
    let refused = |_: &str, a: &[String], _: Output| -> io::Result<bool> { Ok(a[0] == "bootout") };
    let report = install(ServiceKind::Launchd, &s, &refused).unwrap();
    assert!(!report.ok, "{report:?}");
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.starts_with("failed: launchctl bootstrap gui/501 ")),
        "{report:?}"
    );
    assert!(
        service_path(ServiceKind::Launchd, &s).exists(),
        "the plist stays for a retry"
    );

    let stuck = |_: &str, _: &[String], _: Output| -> io::Result<bool> { Ok(true) };
    let steps = vec![Step::UntilFails {
        argv: vec!["launchctl".into(), "print".into(), "gui/501/x".into()],
        tries: 3,
        interval_ms: 1,
    }];
    let mut lines = Vec::new();
    assert!(!headroom_server::service::run_steps(
        &stuck, &steps, &mut lines
    ));
    assert!(lines[0].contains("still loaded after 3 ms"), "{lines:?}");
}
