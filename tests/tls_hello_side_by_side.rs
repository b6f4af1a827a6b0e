//! The fetches that read a TLS hello in the request buffer of a
//! `tcp-request content` rule, without terminating TLS (`req.ssl_hello_type`,
//! `req.ssl_ver`, `req.ssl_alpn`, `req.ssl_sni`; checks/tcp-check-ssl.vtc),
//! side by side with HAProxy 2.6. Each connection sends one message; the
//! rules store what the fetches read in variables, and the log line of the
//! connection (a raw UDP syslog datagram) shows them.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

/// A TLS 1.2 ClientHello record (record version 3.1) naming `sni` and
/// offering the ALPN protocols `alpn`.
fn client_hello(sni: &[u8], alpn: &[&[u8]]) -> Vec<u8> {
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&((sni.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(sni);
    if !alpn.is_empty() {
        let list: Vec<u8> = alpn
            .iter()
            .flat_map(|n| std::iter::once(n.len() as u8).chain(n.iter().copied()))
            .collect();
        ext.extend_from_slice(&[0, 16]);
        ext.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
        ext.extend_from_slice(&list);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x13, 0x01]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// An SSLv2 CLIENT-HELLO asking for TLS 1.0 (3.1): two 3-byte ciphers,
/// no session id, a 16-byte challenge.
fn sslv2_hello() -> Vec<u8> {
    let mut m = vec![0x80, 9 + 6 + 16, 1, 3, 1, 0, 6, 0, 0, 0, 16];
    m.extend_from_slice(&[0, 0, 0x2f, 0, 0, 0x35]);
    m.extend_from_slice(&[0x55; 16]);
    m
}

/// The messages sent, one a connection.
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let ch = client_hello(b"check.example.org", &[b"h2", b"http/1.1"]);
    vec![
        ("hello", ch.clone()),
        ("hello-no-alpn", client_hello(b"a.example", &[])),
        ("sslv2", sslv2_hello()),
        // Not TLS: nothing, once the inspect-delay is over.
        ("http", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        // A hello not all there: the fetches wait, then give nothing.
        ("cut", ch[..ch.len() - 10].to_vec()),
    ]
}

fn config(sock: &std::path::Path, rx: u16, fe: u16, srv: u16) -> String {
    format!(
        "global\n    stats socket {} mode 600 level admin\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n\
         \x20   log 127.0.0.1:{rx} format raw local0 info\n\
         \x20   log-format \"T=%[var(sess.t)] V=%[var(sess.v)] A=%[var(sess.a)] S=%[var(sess.s)] M=%[var(sess.m)] N=%[var(sess.n)]\"\n\
         \x20   tcp-request inspect-delay 300ms\n\
         \x20   tcp-request content set-var(sess.t) req.ssl_hello_type\n\
         \x20   tcp-request content set-var(sess.v) req.ssl_ver\n\
         \x20   tcp-request content set-var(sess.a) req.ssl_alpn\n\
         \x20   tcp-request content set-var(sess.s) req_ssl_sni\n\
         \x20   tcp-request content set-var(sess.m) str(h1) if {{ req.ssl_alpn http/1.1 }}\n\
         \x20   tcp-request content set-var(sess.n) str(v31) if {{ req.ssl_ver 3.1 }}\n\
         \x20   tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         \x20   default_backend be\n\
         backend be\n    server s 127.0.0.1:{srv}\n",
        sock.display()
    )
}

fn handler(mut s: std::net::TcpStream, _n: usize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4096];
    let _ = std::io::Read::read(&mut s, &mut buf);
}

/// The log line of each message, in order.
fn run(fe: u16, rx: &std::net::UdpSocket) -> Vec<String> {
    let mut out = Vec::new();
    for (name, m) in messages() {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", fe)).unwrap();
        c.write_all(&m).unwrap();
        // Past the inspect-delay, then close: the connection ends and logs.
        std::thread::sleep(Duration::from_millis(500));
        drop(c);
        let mut buf = [0u8; 2048];
        let line = loop {
            match rx.recv(&mut buf) {
                Ok(n) => {
                    let l = String::from_utf8_lossy(&buf[..n]).trim_end().to_string();
                    if l.contains("T=") {
                        break l;
                    }
                }
                Err(e) => panic!("{name}: no log line ({e})"),
            }
        };
        out.push(format!("{name}: {line}"));
    }
    out
}

#[test]
fn tls_hello_fetches_side_by_side() {
    if !haproxy_or_skip("tls_hello_fetches_side_by_side") {
        return;
    }
    let dir = TempDir::new("tls_hello_side_by_side");
    let p = free_ports(3);
    let _srv = TestServer::start(p[2], handler);
    let mut seen = Vec::new();
    for (who, fe) in [("ha", p[0]), ("sluice", p[1])] {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let cfg = config(
            &dir.join(&format!("{who}.sock")),
            rx.local_addr().unwrap().port(),
            fe,
            p[2],
        );
        let lines = if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            run(fe, &rx)
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            run(fe, &rx)
        };
        println!("{who}:\n  {}", lines.join("\n  "));
        seen.push(lines);
    }
    assert_eq!(seen[1], seen[0]);
}
