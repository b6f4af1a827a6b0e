//! `user`, `group`, `uid`, `gid` and `chroot` in `global`, and the owner
//! and mode of a UNIX stats socket, checked on the running process
//! (`/proc/PID/status`, `/proc/PID/root`) next to HAProxy 2.6 fed the same
//! configuration: the privileges are dropped once the listeners are bound,
//! the process still serves traffic, its stats socket and its log file,
//! a reload (`-sf`) still reaches the old process, and the process refuses
//! to start when it cannot apply them.
//!
//! Changing identity needs root: without it these tests say loudly that
//! they skipped, and fail under `CI=true`.

mod common;

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

fn root_or_skip(test: &str) -> bool {
    // SAFETY: no arguments.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if in_ci() {
        panic!("not root and CI=true: {test} must not be skipped");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n********** SKIPPED: not root ({test}) **********\n"
    );
    false
}

fn uid_of(user: &str) -> u32 {
    let c = CString::new(user).unwrap();
    // SAFETY: getpwnam with a valid C string; the result is read at once.
    let p = unsafe { libc::getpwnam(c.as_ptr()) };
    assert!(!p.is_null(), "no user {user}");
    // SAFETY: checked non-null above.
    unsafe { (*p).pw_uid }
}

fn gid_of(group: &str) -> u32 {
    let c = CString::new(group).unwrap();
    // SAFETY: as in `uid_of`.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    assert!(!g.is_null(), "no group {group}");
    // SAFETY: checked non-null above.
    unsafe { (*g).gr_gid }
}

/// A group that exists for `nobody` on Debian (`nogroup`) or elsewhere
/// (`nobody`).
fn nobody_group() -> &'static str {
    let c = CString::new("nogroup").unwrap();
    // SAFETY: as in `uid_of`.
    if unsafe { libc::getgrnam(c.as_ptr()) }.is_null() {
        "nobody"
    } else {
        "nogroup"
    }
}

/// Real, effective, saved and filesystem ids, and the supplementary groups.
#[derive(Debug, PartialEq, Eq)]
struct Creds {
    uid: Vec<u32>,
    gid: Vec<u32>,
    groups: Vec<u32>,
}

fn creds(pid: u32) -> Creds {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in status"))
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    Creds {
        uid: field("Uid:"),
        gid: field("Gid:"),
        groups: field("Groups:"),
    }
}

fn root_dir(pid: u32) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/root")).expect("read /proc/PID/root")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The proxy sections of every test: one HTTP frontend to one server.
fn proxies(fe: u16, srv: u16) -> String {
    format!(
        "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind 127.0.0.1:{fe}\n    default_backend b\nbackend b\n    server s 127.0.0.1:{srv}\n"
    )
}

/// A `jail` directory in `dir` (empty: nothing is read after chroot).
fn jail(dir: &TempDir) -> PathBuf {
    let j = dir.join("jail");
    fs::create_dir(&j).unwrap();
    fs::canonicalize(&j).unwrap()
}

#[test]
fn drops_to_user_group_and_chroot_and_keeps_serving() {
    if !root_or_skip("drops_to_user_group_and_chroot_and_keeps_serving") {
        return;
    }
    let dir = TempDir::new("privdrop");
    let jail = jail(&dir);
    let group = nobody_group();
    let (nobody, nogroup) = (uid_of("nobody"), gid_of(group));
    let ports = free_ports(3);
    let srv = HttpServer::start_default(ports[2]);
    let cfg = |tag: &str, fe: u16| {
        format!(
            "global\n    user nobody\n    group {group}\n    chroot {}\n    log {} format raw local0 info\n    stats socket {} mode 660 level admin user nobody group {group}\n{}",
            jail.display(),
            dir.join(&format!("{tag}-traffic.log")).display(),
            dir.join(&format!("{tag}.sock")).display(),
            proxies(fe, ports[2])
        )
    };
    let p = Sluice::start(&dir, "p", &cfg("p", ports[0]), dir.join("p.sock"), &[]);

    let want = Creds {
        uid: vec![nobody; 4],
        gid: vec![nogroup; 4],
        groups: vec![],
    };
    assert_eq!(creds(p.pid()), want, "{}", p.log());
    assert_eq!(root_dir(p.pid()), jail);

    // Traffic still flows, and is logged to the file opened before chroot.
    let resp = HttpConn::open(ports[0]).request(b"GET /after-drop HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(resp.status, 200, "{}", p.log());
    assert_eq!(srv.reqs().len(), 1);
    let logged = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        fs::read_to_string(dir.join("p-traffic.log"))
            .ok()
            .filter(|l| l.contains("GET /after-drop"))
    });
    assert!(logged.is_some(), "no traffic log line in the log file");

    // The stats socket, bound before chroot, still answers; its file has
    // the owner and mode asked for.
    assert!(p.cli("show info").contains("Name: Sluice"));
    let m = fs::metadata(dir.join("p.sock")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o777),
        (nobody, nogroup, 0o660)
    );

    if !haproxy_or_skip("drops_to_user_group_and_chroot_and_keeps_serving") {
        return;
    }
    let ha = HaRun::start(&dir, "h", &cfg("h", ports[1]));
    assert_eq!(creds(ha.proc.pid()), want, "haproxy");
    assert_eq!(root_dir(ha.proc.pid()), jail, "haproxy");
    let m = fs::metadata(dir.join("h.sock")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o777),
        (nobody, nogroup, 0o660),
        "haproxy"
    );
    let resp = HttpConn::open(ports[1]).request(b"GET /ha HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(resp.status, 200);
}

/// HAProxy's `user` sets the user only: without `group` the process keeps
/// group 0. Sluice does the same, and warns.
#[test]
fn user_without_group_keeps_group_zero_as_haproxy_does() {
    if !root_or_skip("user_without_group_keeps_group_zero_as_haproxy_does") {
        return;
    }
    let dir = TempDir::new("privuser");
    let ports = free_ports(3);
    let cfg = |tag: &str, fe: u16| {
        format!(
            "global\n    user nobody\n    stats socket {} mode 600 level admin\n{}",
            dir.join(&format!("{tag}.sock")).display(),
            proxies(fe, ports[2])
        )
    };
    let p = Sluice::start(&dir, "p", &cfg("p", ports[0]), dir.join("p.sock"), &[]);
    let c = creds(p.pid());
    assert_eq!(
        (c.uid, c.gid.clone()),
        (vec![uid_of("nobody"); 4], vec![0; 4])
    );
    assert!(
        p.log()
            .contains("[WARNING] 'user'/'uid' without 'group'/'gid'"),
        "{}",
        p.log()
    );
    if haproxy_or_skip("user_without_group_keeps_group_zero_as_haproxy_does") {
        let ha = HaRun::start(&dir, "h", &cfg("h", ports[1]));
        assert_eq!(creds(ha.proc.pid()).gid, c.gid, "haproxy");
    }
}

/// `-sf` reaches the old process although the new one drops to another
/// user: the old processes are told before the identity changes, as in
/// HAProxy (an old process running as root could not be signalled by
/// `nobody`).
#[test]
fn a_reload_signals_the_old_process_before_dropping_privileges() {
    if !root_or_skip("a_reload_signals_the_old_process_before_dropping_privileges") {
        return;
    }
    let dir = TempDir::new("privreload");
    let ports = free_ports(2);
    let old_cfg = format!(
        "global\n    stats socket {} mode 600 level admin\n{}",
        dir.join("old.sock").display(),
        proxies(ports[0], ports[1])
    );
    let mut old = Sluice::start(&dir, "old", &old_cfg, dir.join("old.sock"), &[]);
    let new_cfg = format!(
        "global\n    user nobody\n    group {}\n    chroot {}\n    stats socket {} mode 600 level admin\n{}",
        nobody_group(),
        jail(&dir).display(),
        dir.join("new.sock").display(),
        proxies(ports[0], ports[1])
    );
    let old_pid = old.pid().to_string();
    let new = Sluice::start(
        &dir,
        "new",
        &new_cfg,
        dir.join("new.sock"),
        &["-sf", &old_pid],
    );
    assert!(
        old.proc.wait_exit(Duration::from_secs(10)).is_some(),
        "the old process (root) did not get the soft stop:\n{}",
        old.log()
    );
    assert_eq!(creds(new.pid()).uid, vec![uid_of("nobody"); 4]);
    assert!(new.cli("show info").contains("Name: Sluice"));
}

/// A copy of proxy-mio that another user may run.
fn runnable_copy(dir: &TempDir) -> PathBuf {
    let bin = dir.join("proxy-mio");
    fs::copy(proxy_mio(), &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs `cmd` to completion. A freshly written executable may be busy
/// (ETXTBSY) for a moment: a process forked by another test thread while
/// the copy was open for writing holds it until it execs.
fn output_retrying(cmd: &mut Command) -> Output {
    for _ in 0..100 {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            r => return r.expect("run"),
        }
    }
    panic!("{cmd:?}: executable busy for 2 s");
}

/// Runs `bin -f cfg` (as `as_user` when given) until it exits (or 10 s).
fn start_and_wait(bin: &Path, cfg: &Path, as_user: Option<u32>) -> Output {
    let mut cmd = Command::new(bin);
    cmd.arg("-f").arg(cfg).stdin(Stdio::null());
    if bin.ends_with("haproxy") {
        cmd.arg("-db");
    }
    if let Some(id) = as_user {
        cmd.uid(id).gid(id);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            r => break r.expect("spawn"),
        }
    };
    let done = poll(Duration::from_secs(10), Duration::from_millis(20), || {
        child.try_wait().ok().flatten()
    });
    if done.is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().expect("wait")
}

/// A configuration that cannot start.
struct Refusal {
    what: &'static str,
    /// `global` lines (`@DIR@`: where the sockets go).
    lines: String,
    /// Run as this uid and gid (not root).
    as_user: Option<u32>,
    /// `-c` already refuses it.
    check_fails: bool,
    /// What Sluice says.
    says: String,
    /// What HAProxy 2.6 says.
    ha_says: &'static str,
}

#[test]
fn refuses_to_start_when_privileges_cannot_be_applied() {
    if !root_or_skip("refuses_to_start_when_privileges_cannot_be_applied") {
        return;
    }
    let dir = TempDir::new("privrefuse");
    // A directory the unprivileged runs may write their socket into.
    const SOMEONE: u32 = 4242;
    let home = dir.join("someone");
    fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(SOMEONE), Some(SOMEONE)).unwrap();
    let bin = runnable_copy(&dir);
    let jail = jail(&dir);
    let ports = free_ports(2);
    let group = nobody_group();
    let ha = haproxy_bin().map(PathBuf::from);
    if ha.is_none() {
        haproxy_or_skip("refuses_to_start_when_privileges_cannot_be_applied");
    }
    let cases: Vec<Refusal> = vec![
        Refusal {
            what: "unknown user",
            lines: "    user no-such-user-sluice".into(),
            as_user: None,
            check_fails: true,
            says: "cannot find user id for 'no-such-user-sluice'".into(),
            ha_says: "cannot find user id for 'no-such-user-sluice'",
        },
        Refusal {
            what: "unknown group",
            lines: "    group no-such-group-sluice".into(),
            as_user: None,
            check_fails: true,
            says: "cannot find group id for 'no-such-group-sluice'".into(),
            ha_says: "cannot find group id for 'no-such-group-sluice'",
        },
        Refusal {
            what: "unknown socket owner",
            lines: "    stats socket @DIR@/x.sock user no-such-user-sluice".into(),
            as_user: None,
            check_fails: true,
            says: "'stats socket' : 'user' : unknown user name 'no-such-user-sluice'".into(),
            ha_says: "unknown user name 'no-such-user-sluice'",
        },
        Refusal {
            what: "unknown unix-bind user",
            lines: "    unix-bind user no-such-user-sluice".into(),
            as_user: None,
            check_fails: true,
            says: "'unix-bind' : 'no-such-user-sluice' unknown user.".into(),
            ha_says: "'unix-bind' : 'no-such-user-sluice' unknown user.",
        },
        Refusal {
            what: "missing chroot directory",
            lines: format!("    chroot {}/nope", dir.path().display()),
            as_user: None,
            check_fails: true,
            says: format!("Cannot chroot({}/nope)", dir.path().display()),
            ha_says: "Cannot chroot(",
        },
        Refusal {
            what: "not root, asked for another user",
            lines: "    user nobody".into(),
            as_user: Some(SOMEONE),
            check_fails: false,
            says: format!("Cannot set uid {}", uid_of("nobody")),
            ha_says: "Cannot set uid",
        },
        Refusal {
            what: "not root, asked for another group",
            lines: format!("    group {group}"),
            as_user: Some(SOMEONE),
            check_fails: false,
            says: format!("Cannot set gid {}", gid_of(group)),
            ha_says: "Cannot set gid",
        },
        Refusal {
            what: "not root, asked for a chroot",
            lines: format!("    chroot {}", jail.display()),
            as_user: Some(SOMEONE),
            check_fails: false,
            says: format!("Cannot chroot({})", jail.display()),
            ha_says: "Cannot chroot(",
        },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let Refusal {
            what,
            lines,
            as_user,
            check_fails,
            says,
            ha_says,
        } = c;
        let sock_dir = if as_user.is_some() { &home } else { dir.path() };
        let lines = lines.replace("@DIR@", &sock_dir.display().to_string());
        let cfg_text = format!(
            "global\n{lines}\n    stats socket {}/s{i}.sock mode 600 level admin\n{}",
            sock_dir.display(),
            proxies(ports[0], ports[1])
        );
        let cfg = dir.join(&format!("c{i}.cfg"));
        fs::write(&cfg, &cfg_text).unwrap();
        fs::set_permissions(&cfg, fs::Permissions::from_mode(0o644)).unwrap();

        let o = output_retrying(Command::new(&bin).arg("-c").arg("-f").arg(&cfg));
        let err = text(&o.stderr);
        assert_eq!(!o.status.success(), check_fails, "{what}: -c said\n{err}");
        if check_fails {
            assert!(
                err.contains(&format!("[{}:", cfg.display())),
                "{what}: {err}"
            );
        }
        let o = start_and_wait(&bin, &cfg, as_user);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(&says), "{what}: wanted '{says}' in\n{err}");
        assert!(!err.contains("started"), "{what}: reported started:\n{err}");

        if let Some(ha) = &ha {
            let o = start_and_wait(ha, &cfg, as_user);
            let err = text(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "haproxy, {what}: {err}");
            assert!(err.contains(ha_says), "haproxy, {what}: {err}");
        }
    }

    // Stricter than HAProxy 2.6, which warns about a uid that is not a
    // number and runs as root.
    let cfg = dir.join("uid.cfg");
    fs::write(
        &cfg,
        format!("global\n    uid nobody\n{}", proxies(ports[0], ports[1])),
    )
    .unwrap();
    let o = output_retrying(Command::new(&bin).arg("-c").arg("-f").arg(&cfg));
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("parsing [{}:2]", cfg.display()))
            && err.contains("'uid' expects an integer"),
        "{err}"
    );
}
