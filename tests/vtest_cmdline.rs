//! Black-box tests of what VTest (HAProxy's regression test driver) needs
//! from `proxy-mio`, next to HAProxy 2.6 where both have the feature:
//! `-cc` (condition check, exit 0/1/2), `-vv` (feature list, truthful),
//! `-dW`, and listening sockets inherited as `fd@N` on `bind` and
//! `stats socket` lines.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Exit code of `PROG -cc EXPR` (with `TESTVAR=1` in its environment).
fn cc(prog: &str, expr: &str) -> i32 {
    Command::new(prog)
        .args(["-cc", expr])
        .env("TESTVAR", "1")
        .env_remove("NOT_SET_ANYWHERE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run -cc")
        .code()
        .expect("exited")
}

/// The expressions of HAProxy's `startup/check_condition.vtc` and more:
/// Sluice's exit code is HAProxy's for each (0 true, 1 false, 2 error).
#[test]
fn cc_exit_codes_match_haproxy() {
    let exprs = [
        "version_atleast(2.4)",
        "version_atleast(1024)",
        "version_before(2.7)",
        "version_atleast(2.6.12)",
        "version_atleast(2.6.13)",
        "streq(foo,'foo')",
        "streq(\"foo bar\",'foo bar')",
        "streq(foo,bar)",
        "defined(TESTVAR) && streq(\"$TESTVAR\",\"1\")",
        "defined(NOT_SET_ANYWHERE)",
        "streq($TESTVAR,1)",
        "feature(OPENSSL) || !feature(OPENSSL)",
        "1&&!0&&!((streq(a,b)||!streq(a,a)&&1)||strneq(a,a))",
        "1 && !0 && !((streq(a,b) || !streq(a,a) && 1) || strneq(a,b))",
        "",
        "-1000 && 200",
        "0",
        "200rrr",
        "!(0))",
        "streq(a,\"a)",
        "frob(1)",
        "1 2",
    ];
    let pm = proxy_mio().to_str().unwrap().to_string();
    let ha = haproxy_or_skip("cc_exit_codes_match_haproxy").then(|| haproxy_bin().unwrap());
    for e in exprs {
        let got = cc(&pm, e);
        if let Some(ha) = ha {
            assert_eq!(got, cc(ha, e), "-cc '{e}': proxy-mio vs HAProxy");
        }
    }
    // Checked without HAProxy too.
    assert_eq!(cc(&pm, "version_atleast(2.5-dev0)"), 0);
    assert_eq!(cc(&pm, "streq(a,\"a)"), 2);
    assert_eq!(cc(&pm, "0"), 1);
}

/// `-vv` prints HAProxy's "Feature list" line; `feature()` in `-cc` and in
/// `.if` follows it, and it does not claim what Sluice lacks.
#[test]
fn vv_feature_list_is_what_feature_answers() {
    let out = Command::new(proxy_mio())
        .arg("-vv")
        .stdin(Stdio::null())
        .output()
        .expect("run -vv");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("Feature list : "))
        .unwrap_or_else(|| panic!("no feature list in:\n{text}"));
    let pm = proxy_mio().to_str().unwrap().to_string();
    let mut n = 0;
    for item in line["Feature list : ".len()..].split(' ') {
        let (on, name) = item.split_at(1);
        let want = if on == "+" { 0 } else { 1 };
        assert!(on == "+" || on == "-", "{item}");
        assert_eq!(cc(&pm, &format!("feature({name})")), want, "{item}");
        n += 1;
    }
    assert!(n > 30, "{line}");
    for present in [
        "+OPENSSL",
        "+EPOLL",
        "+PROMEX",
        "+ZLIB",
        "+THREAD",
        "+CPU_AFFINITY",
    ] {
        assert!(line.split(' ').any(|w| w == present), "{present} in {line}");
    }
    for absent in ["-LUA", "-PCRE2", "-QUIC"] {
        assert!(line.split(' ').any(|w| w == absent), "{absent} in {line}");
    }
    // `.if feature()` in a file reads the same list.
    let dir = TempDir::new("vvfeat");
    let cfg = dir.join("f.cfg");
    fs::write(
        &cfg,
        "global\n.if feature(EPOLL)\n    .alert \"epoll\"\n.endif\n.if feature(LUA)\n    .alert \"lua\"\n.endif\n",
    )
    .unwrap();
    let out = Command::new(proxy_mio())
        .args(["-c", "-f", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("'epoll'"), "{err}");
    assert!(!err.contains("'lua'"), "{err}");
}

/// `-dW`: a configuration with a warning is refused, as HAProxy does.
#[test]
fn zero_warning_mode_refuses_warnings() {
    let dir = TempDir::new("dW");
    let cfg = dir.join("w.cfg");
    // A frontend without timeouts: a warning in both.
    fs::write(
        &cfg,
        "defaults\n    mode http\nfrontend f\n    bind 127.0.0.1:1\n",
    )
    .unwrap();
    let run = |prog: &str, extra: &[&str]| {
        let out = Command::new(prog)
            .args(extra)
            .args(["-c", "-f", cfg.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let pm = proxy_mio().to_str().unwrap();
    let (ok, err) = run(pm, &[]);
    assert!(ok && err.contains("[WARNING]"), "{err}");
    let (ok, err) = run(pm, &["-dW"]);
    assert!(!ok, "{err}");
    assert!(err.contains("'zero-warning'"), "{err}");
    if haproxy_or_skip("zero_warning_mode_refuses_warnings") {
        let ha = haproxy_bin().unwrap();
        assert!(run(ha, &[]).0);
        assert!(!run(ha, &["-dW"]).0);
    }
}

/// Clears `FD_CLOEXEC` so that the child inherits the descriptor.
fn inheritable(fd: i32) {
    // SAFETY: fcntl on a descriptor this test owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        assert!(flags >= 0);
        assert_eq!(libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC), 0);
    }
}

/// `bind "fd@${FE}"` and `stats socket "fd@${CLI}"`: proxy-mio serves on
/// sockets its parent opened (as VTest starts HAProxy), HAProxy alike.
#[test]
fn inherited_sockets_serve_bind_and_stats_socket() {
    let dir = TempDir::new("fdat");
    // The server: answers one line to each connection.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let srv_addr = server.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in server.incoming().flatten() {
            let _ = c.write_all(b"hello from server\n");
        }
    });
    let cfg = dir.join("fd.cfg");
    fs::write(
        &cfg,
        format!(
            "global\n    stats socket \"fd@${{CLI}}\" level admin\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
             listen px\n    bind \"fd@${{FE}}\"\n    server s1 {srv_addr}\n"
        ),
    )
    .unwrap();
    let run = |prog: &str, name: &str| {
        // Bound by the parent, as VTest does: the child only inherits them.
        let fe = TcpListener::bind("127.0.0.1:0").unwrap();
        let fe_addr = fe.local_addr().unwrap();
        let cli_path = dir.join(&format!("{name}.cli"));
        let cli = UnixListener::bind(&cli_path).unwrap();
        inheritable(fe.as_raw_fd());
        inheritable(cli.as_raw_fd());
        let mut cmd = Command::new(prog);
        cmd.args(["-d", "-f", cfg.to_str().unwrap()])
            .env("FE", fe.as_raw_fd().to_string())
            .env("CLI", cli.as_raw_fd().to_string());
        let mut p = Proc::spawn(name, cmd, dir.join(&format!("{name}.out")));
        // Our copies closed: only the child holds the sockets now.
        drop(fe);
        drop(cli);
        let mut c = TcpStream::connect(fe_addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = String::new();
        let _ = c.read_to_string(&mut got);
        assert_eq!(got, "hello from server\n", "{name}: {}", p.output());
        let mut s = UnixStream::connect(&cli_path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"show info\n").unwrap();
        let mut info = String::new();
        let _ = s.read_to_string(&mut info);
        assert!(info.contains("Pid: "), "{name}: {info}\n{}", p.output());
        p.signal(libc::SIGINT);
        let st = p.wait_exit(Duration::from_secs(5));
        // What VTest accepts: exit 0, or death by the signal it sent.
        use std::os::unix::process::ExitStatusExt;
        assert!(
            st.is_some_and(|s| s.success() || s.signal() == Some(libc::SIGINT)),
            "{name}: {st:?}"
        );
        // An inherited UNIX socket has no path of ours: it is left alone.
        assert!(cli_path.exists(), "{name} removed the parent's socket file");
    };
    run(proxy_mio().to_str().unwrap(), "proxy-mio");
    if haproxy_or_skip("inherited_sockets_serve_bind_and_stats_socket") {
        run(haproxy_bin().unwrap(), "haproxy");
    }
}

/// `fd@N` naming no open descriptor fails at startup, naming it.
#[test]
fn bind_on_a_closed_descriptor_fails_naming_it() {
    let dir = TempDir::new("fdbad");
    let cfg = dir.join("bad.cfg");
    fs::write(
        &cfg,
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
         listen px\n    bind fd@987\n    server s1 127.0.0.1:2\n",
    )
    .unwrap();
    let out = Command::new(proxy_mio())
        .args(["-f", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("fd@987"), "{err}");
}

/// `-c` accepts or refuses each configuration as HAProxy 2.6 does: the
/// forms VTest leaves in configurations (`${name_addr}:${name_port}` of a
/// server not started, which HAProxy's address parser expands to `:`),
/// and other lines of HAProxy's reg-tests.
#[test]
fn config_checks_agree_with_haproxy() {
    let dir = TempDir::new("cfgcheck");
    // A listener: HAProxy's `-c` fails (exit 2) on a configuration without one.
    let base = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nlisten li\n    bind 127.0.0.1:1\n    server x 127.0.0.1:80\n";
    let cases: &[(&str, bool, &str)] = &[
        (
            "unset server address macros",
            true,
            "backend be\n    server s1 ${s1_addr}:${s1_port}\n    server s2 ${s1_addr}:${s1_port} check\n",
        ),
        (
            "set ones, unquoted",
            true,
            "backend be\n    server s1 ${TEST_ADDR}:${TEST_PORT}\n    server s2 $TEST_ADDR:8080\n",
        ),
        ("an address that expands to nothing", false, "backend be\n    server s1 ${s1_addr}\n"),
        ("an empty port", true, "backend be\n    server s1 127.0.0.1:\n"),
        (
            "unset log address macros",
            true,
            "backend be\n    log ${S1_addr}:${S1_port} daemon\n    server s1 127.0.0.1:80\n",
        ),
        (
            "unset peer address macros",
            true,
            "peers p\n    bind 127.0.0.1:1\n    server A\n    server B ${h2_B_addr}:${h2_B_port}\n    table t type string size 10m\n",
        ),
        (
            "track-sc without a table in a named defaults section",
            false,
            "defaults invalid\n    mode http\n    http-request track-sc0 src\nbackend be\n    stick-table type ip size 1k store http_req_rate(10s)\n    server s1 127.0.0.1:80\n",
        ),
        (
            "a negation glued to the expect type",
            true,
            "backend be\n    option tcp-check\n    tcp-check connect\n    tcp-check expect !rstring \"^error\" comment \"negative check\"\n    tcp-check expect min-recv 5 !string x\n    server s1 127.0.0.1:80 check\n",
        ),
        (
            "an empty error file",
            true,
            "backend be\n    errorfile 408 /dev/null\n    server s1 127.0.0.1:80\n",
        ),
    ];
    let run = |prog: &str, cfg: &std::path::Path| {
        let out = Command::new(prog)
            .args(["-c", "-L", "A", "-f", cfg.to_str().unwrap()])
            .env("TEST_ADDR", "127.0.0.1")
            .env("TEST_PORT", "8080")
            .env_remove("s1_addr")
            .env_remove("s1_port")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ha = haproxy_or_skip("config_checks_agree_with_haproxy").then(|| haproxy_bin().unwrap());
    for (i, (what, valid, text)) in cases.iter().enumerate() {
        let cfg = dir.join(&format!("c{i}.cfg"));
        fs::write(&cfg, format!("{base}{text}")).unwrap();
        let (ok, err) = run(proxy_mio().to_str().unwrap(), &cfg);
        assert_eq!(ok, *valid, "proxy-mio, {what}: {err}");
        if let Some(ha) = ha {
            let (ok, err) = run(ha, &cfg);
            assert_eq!(ok, *valid, "haproxy, {what}: {err}");
        }
    }
}
