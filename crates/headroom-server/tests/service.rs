//! `headroom serve --install/--uninstall` with a temporary HOME: files and commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use headroom_server::service::{
    install, service_path, uninstall, ServiceKind, ServiceSpec, LAUNCHD_LABEL,
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
    let run = |p: &str, a: &[String]| -> io::Result<bool> {
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
            "systemctl --user enable --now headroom.service"
        ]
    );
    assert!(report.last().unwrap().contains("running"), "{report:?}");

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
        report.iter().any(|l| l.starts_with("removed ")),
        "{report:?}"
    );
}

#[test]
fn without_systemctl_the_unit_is_written_and_the_report_says_what_to_run() {
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join("xdg");
    let mut s = spec(home.path(), Some("secret-token-0123456789\"%"));
    s.xdg_config_home = Some(xdg.clone());
    let missing = |_: &str, _: &[String]| -> io::Result<bool> {
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
            .iter()
            .any(|l| l.contains("run yourself: systemctl --user daemon-reload")),
        "{report:?}"
    );
    let report = uninstall(ServiceKind::Systemd, &s, &missing).unwrap();
    assert!(!path.exists(), "{report:?}");
    let again = uninstall(ServiceKind::Systemd, &s, &missing).unwrap();
    assert!(
        again.iter().any(|l| l.contains("was not installed")),
        "{again:?}"
    );
}

#[test]
fn launchd_install_writes_a_valid_plist_and_bootstraps_it() {
    let home = tempfile::tempdir().unwrap();
    let calls = RefCell::new(Vec::new());
    let run = |p: &str, a: &[String]| -> io::Result<bool> {
        calls.borrow_mut().push(format!("{p} {}", a.join(" ")));
        Ok(true)
    };
    let s = spec(home.path(), Some("tok<&>0123456789abc"));
    install(ServiceKind::Launchd, &s, &run).unwrap();
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
        [format!("launchctl bootstrap gui/501 {}", path.display())]
    );
    // The plist parses as a property list with the expected keys (Python's plistlib).
    let check = Command::new("python3")
        .args([
            "-c",
            "import plistlib,sys; d=plistlib.load(open(sys.argv[1],'rb')); \
             assert d['Label']=='dev.headroom.serve', d; assert d['ProgramArguments'][1]=='serve'; \
             assert d['EnvironmentVariables']['HEADROOM_TOKEN']=='tok<&>0123456789abc'; \
             assert d['RunAtLoad'] is True",
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
