//! Reverse HTTP (`rhttp@`, issue 10) against HAProxy 3.5, the interop
//! partner (Debian's HAProxy 2.6 has no reverse HTTP): Sluice as the edge
//! node (`bind rhttp@BACKEND/SERVER`) dialing HAProxy 3.5 as the public
//! node (`tcp-request session attach-srv`, `server ... rhttp@`), the same
//! configuration text HAProxy 3.5 would run in the edge role.
//!
//! HAProxy 3.5 is found at `$HAPROXY3`, else where
//! `../shared/haproxy3/build.sh` caches it; `.ci/run` builds it. Without
//! it the tests say loudly that they skipped, and fail under `CI=true`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_ports, global_section, in_ci, poll, Proc, Sluice, TempDir, TestServer};

/// The HAProxy 3.5 binary, if there is one.
fn haproxy3() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HAPROXY3") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(".cache/haproxy-3.5/haproxy-3.5-dev5/haproxy");
    let ok = Command::new(&p)
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

fn haproxy3_or_skip(test: &str) -> Option<PathBuf> {
    let h = haproxy3();
    if h.is_none() {
        if in_ci() {
            panic!("HAProxy 3.5 not found and CI=true: {test} must not be skipped (.ci/run builds it with ../shared/haproxy3/build.sh)");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n********** SKIPPED: HAProxy 3.5 not found ({test}); build it with ../shared/haproxy3/build.sh **********\n"
        );
    }
    h
}

/// The application behind the edge: answers every request with its
/// `n`-th connection's number, keep-alive.
fn app(mut s: TcpStream, n: usize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let body = format!("app conn {n}\n");
            let r = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if r.is_err() {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One GET through the public node: the status code and body.
fn get(port: u16) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /x HTTP/1.1\r\nhost: pub\r\nconnection: close\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// What both nodes' configurations start with.
fn cfg_head(sock: &std::path::Path) -> String {
    format!(
        "{}    expose-experimental-directives
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
",
        global_section(sock, "")
    )
}

/// The public node (HAProxy 3.5): `pub` takes clients, `priv` takes the
/// edges' connections and attaches them to `be-reverse/dev`.
fn public_cfg(sock: &std::path::Path, pub_port: u16, priv_port: u16) -> String {
    public_cfg_with(sock, pub_port, priv_port, "proto h2", "", "")
}

/// The same with options on the edges' `bind`, after `attach-srv` and on
/// the reverse server.
fn public_cfg_with(
    sock: &std::path::Path,
    pub_port: u16,
    priv_port: u16,
    bind_opts: &str,
    attach_opts: &str,
    srv_opts: &str,
) -> String {
    format!(
        "{}frontend pub
    bind 127.0.0.1:{pub_port}
    use_backend be-reverse
frontend priv
    bind 127.0.0.1:{priv_port} {bind_opts}
    tcp-request session attach-srv be-reverse/dev {attach_opts}
backend be-reverse
    server dev rhttp@ {srv_opts}
",
        cfg_head(sock)
    )
}

/// The edge node's configuration: the text HAProxy 3.5 runs as an edge
/// (reg-test `connection/reverse_connect_full.vtc`), with `nbconn`.
fn edge_cfg(sock: &std::path::Path, priv_port: u16, app_port: u16, nbconn: u32) -> String {
    edge_cfg_with(
        sock,
        priv_port,
        app_port,
        &format!("nbconn {nbconn}"),
        "proto h2",
    )
}

/// The same with options on the reverse bind and on the public node's
/// server line.
fn edge_cfg_with(
    sock: &std::path::Path,
    priv_port: u16,
    app_port: u16,
    bind_opts: &str,
    srv_opts: &str,
) -> String {
    format!(
        "{}frontend fe
    bind rhttp@be-pre-connect/srv {bind_opts}
    use_backend be
backend be-pre-connect
    server srv 127.0.0.1:{priv_port} {srv_opts}
backend be
    server app 127.0.0.1:{app_port}
",
        cfg_head(sock)
    )
}

struct Public {
    proc: Proc,
}

fn start_public(bin: &std::path::Path, dir: &TempDir, tag: &str, cfg: &str) -> Public {
    let path = dir.join(&format!("{tag}.cfg"));
    std::fs::write(&path, cfg).expect("write config");
    let mut cmd = Command::new(bin);
    cmd.arg("-db").arg("-f").arg(&path);
    let mut proc = Proc::spawn(tag, cmd, dir.join(&format!("{tag}.log")));
    let sock = dir.join(&format!("{tag}.sock"));
    let ok = poll(Duration::from_secs(10), Duration::from_millis(10), || {
        if let Some(st) = proc.try_exit() {
            panic!("haproxy 3.5 exited at start ({st}):\n{}", proc.output());
        }
        common::cli(&sock, "show info")
            .ok()
            .filter(|o| !o.is_empty())
    });
    assert!(
        ok.is_some(),
        "haproxy 3.5 did not answer on {}",
        sock.display()
    );
    Public { proc }
}

/// Waits until a request through the public node gets a 200.
fn wait_200(pub_port: u16, within: Duration) -> Option<String> {
    poll(within, Duration::from_millis(50), || {
        let (code, body) = get(pub_port);
        (code == 200).then_some(body)
    })
}

/// What most tests start with: HAProxy 3.5 as the public node, the
/// application behind the edge, three ports (public, edges, application).
struct Setup {
    dir: TempDir,
    pub_port: u16,
    priv_port: u16,
    app_port: u16,
    _app: TestServer,
    public: Public,
}

fn setup(test: &str, tag: &str) -> Option<Setup> {
    let h3 = haproxy3_or_skip(test)?;
    let dir = TempDir::new(tag);
    let ports = free_ports(3);
    let (pub_port, priv_port, app_port) = (ports[0], ports[1], ports[2]);
    let app = TestServer::start(app_port, app);
    let public = start_public(
        &h3,
        &dir,
        "public",
        &public_cfg(&dir.join("public.sock"), pub_port, priv_port),
    );
    Some(Setup {
        dir,
        pub_port,
        priv_port,
        app_port,
        _app: app,
        public,
    })
}

#[test]
fn sluice_edge_serves_haproxy35_public_node() {
    let Some(st) = setup("sluice_edge_serves_haproxy35_public_node", "rhttp-edge") else {
        return;
    };
    let (dir, pub_port, priv_port, app_port) = (&st.dir, st.pub_port, st.priv_port, st.app_port);
    let public = &st.public;
    // No edge yet: the public node has no connection for the server.
    assert_eq!(get(pub_port).0, 503, "before any edge node");

    let edge = Sluice::run(
        dir,
        "edge",
        &edge_cfg(&dir.join("edge.sock"), priv_port, app_port, 2),
    );
    let body = wait_200(pub_port, Duration::from_secs(5)).unwrap_or_else(|| {
        panic!(
            "no 200 through the reversed connections\n--- edge:\n{}\n--- public:\n{}",
            edge.log(),
            public.proc.output()
        )
    });
    assert!(body.starts_with("app conn "), "{body}");
    for _ in 0..20 {
        let (code, body) = get(pub_port);
        assert_eq!(code, 200, "{body}");
    }
    // `nbconn 2`: two connections up, held as two sessions of `fe`.
    let up = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        (edge.stat("fe", "FRONTEND", "scur") == "2").then_some(())
    });
    assert!(up.is_some(), "scur {}", edge.stat("fe", "FRONTEND", "scur"));
    let log = edge.log();
    assert!(
        log.contains("preconnect fe::be-pre-connect/srv: Initiating."),
        "{log}"
    );
    assert!(
        log.contains("preconnect fe::be-pre-connect/srv: Running with nbconn 2 reached."),
        "{log}"
    );
    assert!(!log.contains("Error encountered"), "{log}");
    // Every request is logged by the edge like any HTTP/2 client's.
    let lines: Vec<String> = common::traffic_lines(&log)
        .into_iter()
        .filter(|l| l.contains(" fe be/app "))
        .collect();
    assert!(lines.len() >= 21, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" 200 ") && l.contains("HTTP/2.0\"")),
        "{lines:#?}"
    );
}

#[test]
fn edge_reconnects_at_a_bounded_pace_and_fails_fast() {
    let Some(h3) = haproxy3_or_skip("edge_reconnects_at_a_bounded_pace_and_fails_fast") else {
        return;
    };
    let dir = TempDir::new("rhttp-fail");
    let ports = free_ports(3);
    let (pub_port, priv_port, app_port) = (ports[0], ports[1], ports[2]);
    let _app = TestServer::start(app_port, app);

    // A public node that is not there: something accepts and closes at
    // once (not HTTP/2). The edge retries once a second, no storm.
    let attempts = Arc::new(AtomicUsize::new(0));
    let liar = TcpListener::bind(("127.0.0.1", priv_port)).expect("bind");
    liar.set_nonblocking(true).unwrap();
    let edge = Sluice::run(
        &dir,
        "edge",
        &edge_cfg(&dir.join("edge.sock"), priv_port, app_port, 1),
    );
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(3500) {
        match liar.accept() {
            Ok((s, _)) => {
                attempts.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    drop(liar);
    let n = attempts.load(Ordering::SeqCst);
    assert!(
        (2..=6).contains(&n),
        "{n} connection attempts in 3.5 s (one a second expected)\n{}",
        edge.log()
    );
    let log = edge.log();
    assert_eq!(
        log.matches("preconnect fe::be-pre-connect/srv: Error encountered.")
            .count(),
        1,
        "the error is logged once until a success:\n{log}"
    );

    // The real public node comes up on that port: the edge connects.
    let public = start_public(
        &h3,
        &dir,
        "public",
        &public_cfg(&dir.join("public.sock"), pub_port, priv_port),
    );
    wait_200(pub_port, Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no 200 after the public node came up\n{}", edge.log()));

    // The public node restarts: the edge comes back after the delay.
    drop(public);
    std::thread::sleep(Duration::from_millis(300));
    let public = start_public(
        &h3,
        &dir,
        "public2",
        &public_cfg(&dir.join("public2.sock"), pub_port, priv_port),
    );
    let t1 = Instant::now();
    wait_200(pub_port, Duration::from_secs(6))
        .unwrap_or_else(|| panic!("no 200 after the public node restarted\n{}", edge.log()));
    let back = t1.elapsed();
    assert!(back < Duration::from_secs(3), "back after {back:?}");

    // The edge dies: requests fail fast (503), not after a timeout.
    drop(edge);
    let t2 = Instant::now();
    let failed = poll(Duration::from_secs(3), Duration::from_millis(20), || {
        (get(pub_port).0 == 503).then_some(())
    });
    assert!(failed.is_some(), "{}", public.proc.output());
    assert!(t2.elapsed() < Duration::from_secs(2), "{:?}", t2.elapsed());
}

#[test]
fn soft_stop_of_the_edge_drains_with_goaway() {
    let Some(st) = setup("soft_stop_of_the_edge_drains_with_goaway", "rhttp-stop") else {
        return;
    };
    let (dir, pub_port, priv_port, app_port) = (&st.dir, st.pub_port, st.priv_port, st.app_port);
    let mut edge = Sluice::run(
        dir,
        "edge",
        &edge_cfg(&dir.join("edge.sock"), priv_port, app_port, 1),
    );
    wait_200(pub_port, Duration::from_secs(5)).expect("200 through the edge");
    edge.proc.signal(libc::SIGUSR1);
    let st = edge.proc.wait_exit(Duration::from_secs(5));
    assert!(
        st.is_some(),
        "the edge did not exit on SIGUSR1:\n{}",
        edge.log()
    );
    assert_eq!(get(pub_port).0, 503);
}

#[test]
fn tls_with_client_certificates_and_named_edges() {
    let Some(h3) = haproxy3_or_skip("tls_with_client_certificates_and_named_edges") else {
        return;
    };
    if !common::tool_or_skip("openssl", "tls_with_client_certificates_and_named_edges") {
        return;
    }
    let dir = TempDir::new("rhttp-tls");
    common::make_ca(dir.path(), "ca");
    common::make_leaf(
        dir.path(),
        "ca",
        &dir.join("public.pem"),
        &["public.test"],
        "ec",
    );
    common::make_leaf(dir.path(), "ca", &dir.join("edge1.pem"), &["edge1"], "ec");
    let ports = free_ports(3);
    let (pub_port, priv_port, app_port) = (ports[0], ports[1], ports[2]);
    let _app = TestServer::start(app_port, app);
    let d = dir.path().display();
    // The public node trusts edges by their client certificate and names
    // each connection by its subject's CN; a request picks an edge by name.
    let public_cfg = public_cfg_with(
        &dir.join("public.sock"),
        pub_port,
        priv_port,
        &format!("ssl crt {d}/public.pem verify required ca-file {d}/ca.pem alpn h2"),
        "name ssl_c_s_dn(CN)",
        "ssl sni req.hdr(x-name) verify none",
    );
    let _public = start_public(&h3, &dir, "public", &public_cfg);
    let edge_cfg = edge_cfg_with(
        &dir.join("edge.sock"),
        priv_port,
        app_port,
        "",
        &format!(
            "ssl crt {d}/edge1.pem ca-file {d}/ca.pem verify required sni str(public.test) alpn h2"
        ),
    );
    let edge = Sluice::run(&dir, "edge", &edge_cfg);
    let get_named = |name: &str| -> u16 {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", pub_port)) else {
            return 0;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(
            s,
            "GET / HTTP/1.1\r\nhost: pub\r\nx-name: {name}\r\nconnection: close\r\n\r\n"
        );
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    let ok = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        (get_named("edge1") == 200).then_some(())
    });
    assert!(ok.is_some(), "no 200 for edge1 over TLS\n{}", edge.log());
    assert_eq!(get_named("edge2"), 503, "a name no edge has");
    assert_eq!(get_named("edge1"), 200);

    // An edge that does not trust the public node's certificate (another
    // CA): every attempt fails its handshake, is logged once and retried;
    // the edge stays up and never serves the public node.
    common::make_ca(dir.path(), "other");
    let wrong_cfg = edge_cfg_with(
        &dir.join("edge2.sock"),
        priv_port,
        app_port,
        "",
        &format!("ssl crt {d}/edge1.pem ca-file {d}/other.pem verify required sni str(public.test) alpn h2 proto h2"),
    );
    let mut wrong = Sluice::run(&dir, "edge2", &wrong_cfg);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(wrong.proc.try_exit().is_none(), "{}", wrong.log());
    let log = wrong.log();
    assert_eq!(
        log.matches("preconnect fe::be-pre-connect/srv: Error encountered.")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(wrong.stat("fe", "FRONTEND", "stot"), "0", "{log}");
}
