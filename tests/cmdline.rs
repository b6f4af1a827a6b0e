//! Black-box tests of `proxy-mio`'s command line and configuration
//! loading, next to HAProxy 2.6 fed the same files where it has the same
//! feature: files read as bytes with a size bound, `-f DIRECTORY`,
//! `tune.bufsize` bounds, and printing to closed or full outputs without
//! a panic.

mod common;

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// `proxy-mio ARGS` run to completion (stdin closed).
fn pm(args: &[&str]) -> Output {
    Command::new(proxy_mio())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run proxy-mio")
}

/// `haproxy -c -f FILE...`: `Some((valid, stderr))`, `None` without HAProxy.
fn ha_check(files: &[&Path]) -> Option<(bool, String)> {
    let bin = haproxy_bin()?;
    let mut cmd = Command::new(bin);
    cmd.arg("-c");
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A minimal valid configuration body after `global`.
const PROXIES: &str = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:1\n    default_backend b\nbackend b\n    server s 127.0.0.1:2\n";

/// Regression: `proxy-mio -c -f /dev/zero` read without bound (2.4 GB after
/// 8 s). The read now stops at a bound and names the file; HAProxy stops at
/// the first NUL. Both fail.
#[test]
fn an_endless_configuration_file_is_refused_naming_it() {
    let mut child = Command::new(proxy_mio())
        .args(["-c", "-f", "/dev/zero"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn proxy-mio");
    // Not a speed check: a minute is orders of magnitude more than the
    // bounded read needs; an unbounded one never ends.
    let done = poll(Duration::from_secs(60), Duration::from_millis(20), || {
        child.try_wait().ok().flatten()
    });
    let Some(status) = done else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("proxy-mio -c -f /dev/zero still reading after 60 s");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("/dev/zero") && err.contains("larger than 64 MiB"),
        "{err}"
    );
    if let Some((valid, ha)) = ha_check(&[Path::new("/dev/zero")]) {
        assert!(!valid && ha.contains("/dev/zero"), "{ha}");
    }
}

/// Regression: one non-UTF-8 byte in a comment rejected the whole
/// configuration without `file:line`; HAProxy 2.6 accepts it. Words that
/// are not UTF-8 are refused with `file:line`.
#[test]
fn non_utf8_comments_are_accepted_and_bad_words_named() {
    let dir = TempDir::new("nonutf8");
    let ok = dir.join("ok.cfg");
    let mut body = b"global\n    # caf\xe9, written in latin-1\n    maxconn 100 # \xff\n".to_vec();
    body.extend_from_slice(PROXIES.as_bytes());
    fs::write(&ok, &body).unwrap();
    let out = pm(&["-c", "-f", ok.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Configuration file is valid\n");
    if let Some((valid, ha)) = ha_check(&[&ok]) {
        assert!(valid, "haproxy: {ha}");
    }

    let bad = dir.join("bad.cfg");
    let mut body = b"global\n    maxconn 100\n    pidfile /run/caf\xe9.pid\n".to_vec();
    body.extend_from_slice(PROXIES.as_bytes());
    fs::write(&bad, &body).unwrap();
    let out = pm(&["-c", "-f", bad.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("parsing [{}:3]", bad.display())) && err.contains("UTF-8"),
        "{err}"
    );
}

/// Regression: `tune.bufsize 0`, `1` or `10` passed `-c` and then served
/// nothing. HAProxy refuses 0 while parsing and fails (or crashes) on the
/// others; Sluice refuses anything under 512 with `file:line`, and 512
/// serves.
#[test]
fn tune_bufsize_is_bounded_and_the_floor_serves() {
    let dir = TempDir::new("bufsize");
    for v in ["0", "1", "10", "300"] {
        let f = dir.join(&format!("b{v}.cfg"));
        fs::write(&f, format!("global\n    tune.bufsize {v}\n{PROXIES}")).unwrap();
        let out = pm(&["-c", "-f", f.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "tune.bufsize {v}: {err}");
        assert!(
            err.contains(&format!("parsing [{}:2]", f.display())) && err.contains("tune.bufsize"),
            "tune.bufsize {v}: {err}"
        );
        if let Some((valid, ha)) = ha_check(&[&f]) {
            assert!(!valid, "haproxy accepted tune.bufsize {v}: {ha}");
        }
    }

    // The smallest accepted value carries a whole exchange, as HAProxy does.
    let ports = free_ports(2);
    let srv = HttpServer::start_default(ports[1]);
    let cfg = format!(
        "{}    tune.bufsize 512\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend f\n    bind 127.0.0.1:{}\n    default_backend b\nbackend b\n    server s 127.0.0.1:{}\n",
        global_section(&dir.join("p.sock"), ""),
        ports[0],
        ports[1]
    );
    let p = Sluice::run(&dir, "p", &cfg);
    let resp = HttpConn::open(ports[0]).request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(resp.status, 200, "{}", p.log());
    assert_eq!(srv.reqs().len(), 1);
}

/// The global `zero-warning` makes any warning fatal, as `-dW` does, in
/// HAProxy 2.6 and Sluice alike; without a warning the file loads.
#[test]
fn global_zero_warning_makes_warnings_fatal() {
    let dir = TempDir::new("zerowarn");
    // A frontend without `timeout client` warns in both.
    let warns = dir.join("warns.cfg");
    fs::write(
        &warns,
        "global\n    zero-warning\ndefaults\n    mode http\n    timeout connect 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:1\n    default_backend b\nbackend b\n    server s 127.0.0.1:2\n",
    )
    .unwrap();
    let out = pm(&["-c", "-f", warns.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[WARNING]")
            && err.contains("Some warnings were found and 'zero-warning' is set. Aborting."),
        "{err}"
    );
    if let Some((valid, ha)) = ha_check(&[&warns]) {
        assert!(!valid && ha.contains("'zero-warning' is set"), "{ha}");
    }
    let clean = dir.join("clean.cfg");
    fs::write(&clean, format!("global\n    zero-warning\n{PROXIES}")).unwrap();
    let out = pm(&["-c", "-f", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    if let Some((valid, ha)) = ha_check(&[&clean]) {
        assert!(valid, "{ha}");
    }
}

/// `-f DIRECTORY` loads the regular `*.cfg` files in it in name order,
/// skipping hidden files and other names, as HAProxy does; several `-f`
/// are loaded in order.
#[test]
fn a_directory_stands_for_its_cfg_files_in_name_order() {
    let dir = TempDir::new("cfgdir");
    let d = dir.join("conf.d");
    fs::create_dir(&d).unwrap();
    // Order matters: `from base` needs the defaults section of 10-*.
    fs::write(
        d.join("10-defaults.cfg"),
        "defaults base\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n",
    )
    .unwrap();
    fs::write(
        d.join("20-proxies.cfg"),
        "frontend f from base\n    bind 127.0.0.1:1\n    default_backend b\nbackend b from base\n    server s 127.0.0.1:2\n",
    )
    .unwrap();
    // Not loaded: a hidden file, other extensions, a name with ".cfg"
    // before its end, a directory named like a file.
    for junk in [".hidden.cfg", "30-old.cfg.bak", "40-x.cfg.cfg", "README"] {
        fs::write(d.join(junk), "this is not a configuration\n").unwrap();
    }
    fs::create_dir(d.join("50-sub.cfg")).unwrap();
    let dstr = d.to_str().unwrap();
    let out = pm(&["-c", "-f", dstr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    if let Some((valid, ha)) = ha_check(&[&d]) {
        assert!(valid, "haproxy: {ha}");
    }

    // Several -f, in order: a file after the directory sees its sections.
    let extra = dir.join("extra.cfg");
    fs::write(&extra, "backend b2 from base\n    server s 127.0.0.1:3\n").unwrap();
    let out = pm(&["-c", "-f", dstr, "-f", extra.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The other way round, `from base` comes before `base` exists.
    let out = pm(&["-c", "-f", extra.to_str().unwrap(), "-f", dstr]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("defaults section 'base' not found"), "{err}");
    if let Some((valid, _)) = ha_check(&[&extra, &d]) {
        assert!(!valid, "haproxy also needs the order");
    }
    // `--` ends the options: what follows are files or directories.
    let out = pm(&["-c", "--", dstr, extra.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A missing path, and a directory without any *.cfg, are refused.
    let out = pm(&["-c", "-f", dir.join("nope").to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("Cannot open configuration file/directory") && err.contains("nope"),
        "{err}"
    );
    let empty = dir.join("empty");
    fs::create_dir(&empty).unwrap();
    let out = pm(&["-c", "-f", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

/// A pipe whose read end is already closed: writing to it fails (EPIPE).
fn broken_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the two-element array we own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are ours alone.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(rd);
    Stdio::from(wr)
}

fn full() -> Stdio {
    Stdio::from(
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// Regression: `proxy-mio -v | true` panicked ("failed printing to
/// stdout"). Every print path ignores a closed pipe, a full disk or a
/// closed descriptor and keeps its exit status.
#[test]
fn printing_to_closed_or_full_outputs_does_not_panic() {
    let dir = TempDir::new("pipes");
    let good = dir.join("good.cfg");
    fs::write(&good, format!("global\n{PROXIES}")).unwrap();
    let bad = dir.join("bad.cfg");
    fs::write(&bad, "global\n    frob\n").unwrap();
    let good = good.to_str().unwrap();
    let bad = bad.to_str().unwrap();
    // (arguments, expected status)
    let cases: [(&[&str], i32); 6] = [
        (&["-v"], 0),
        (&["-h"], 1),
        (&["--bad"], 1),
        (&[], 1),
        (&["-c", "-f", good], 0),
        (&["-c", "-f", bad], 1),
    ];
    for (args, want) in cases {
        for (what, target) in [("closed pipe", 0), ("/dev/full", 1), ("closed fd", 2)] {
            for stream in ["stdout", "stderr"] {
                let mut cmd = Command::new(proxy_mio());
                cmd.args(args).stdin(Stdio::null());
                let sink = || match target {
                    0 => broken_pipe(),
                    1 => full(),
                    _ => Stdio::null(),
                };
                let (out_fd, out) = if stream == "stdout" {
                    cmd.stdout(sink()).stderr(Stdio::piped());
                    (1, "stderr")
                } else {
                    cmd.stderr(sink()).stdout(Stdio::piped());
                    (2, "stdout")
                };
                if target == 2 {
                    // SAFETY: close(2) in the child before exec; no
                    // allocation, no lock.
                    unsafe {
                        cmd.pre_exec(move || {
                            libc::close(out_fd);
                            Ok(())
                        });
                    }
                }
                let o = cmd.output().expect("run proxy-mio");
                let other = if out == "stderr" {
                    &o.stderr
                } else {
                    &o.stdout
                };
                assert_eq!(
                    o.status.code(),
                    Some(want),
                    "{args:?} with {stream} to a {what}: {}",
                    text(other)
                );
                assert!(
                    !text(other).contains("panicked"),
                    "{args:?} with {stream} to a {what}: {}",
                    text(other)
                );
            }
        }
    }
}
