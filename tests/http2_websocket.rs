//! RFC 8441 extended CONNECT through the HTTP/2 front (issue 16): the `h2`
//! crate as an independent HTTP/2 client (it asks for the extended
//! CONNECT only once the proxy announced SETTINGS_ENABLE_CONNECT_PROTOCOL)
//! in front of an HTTP/1.1 WebSocket origin of this file, through
//! proxy-mio and, side by side, HAProxy 2.6 on the same configuration.
//!
//! * `:method CONNECT` + `:protocol websocket` reaches the origin as an
//!   HTTP/1.1 `GET` with `Upgrade: websocket`, `Connection: upgrade` and a
//!   24-byte `Sec-WebSocket-Key` the proxy drew (the client sent none);
//! * the origin's 101 reaches the client as a 200, then bytes flow both
//!   ways as DATA (the origin echoes them);
//! * a 101 whose `Sec-WebSocket-Accept` is not the key's is a 502 (the
//!   proxy drew the key, so it checks the answer, RFC 6455 §4.2.2).
//!
//! The origin computes the accept with the `sha1` crate and a base64
//! encoder of its own, independently of Sluice's.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use sha1::Digest;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn b64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn accept_of(key: &str) -> String {
    let mut h = sha1::Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    b64(&h.finalize())
}

#[test]
fn accept_of_rfc6455_example() {
    // RFC 6455 §1.3's example: the origin's own computation is right.
    assert_eq!(
        accept_of("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

/// The HTTP/1.1 WebSocket origin: per connection, one request head
/// (recorded), a 101 (with the key's accept, or a wrong one for
/// `/badkey`), then every byte echoed back until the peer closes.
fn start_ws_origin(port: u16) -> Arc<Mutex<Vec<String>>> {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let l = TcpListener::bind(("127.0.0.1", port)).expect("origin binds");
    let seen = heads.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let end = loop {
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                    match s.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                seen.lock().unwrap().push(head.clone());
                let key = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default();
                let accept = if head.starts_with("GET /badkey ") {
                    "invalid_key".to_string()
                } else {
                    accept_of(&key)
                };
                let resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                );
                if s.write_all(resp.as_bytes()).is_err() {
                    return;
                }
                let mut rest = buf[end..].to_vec();
                loop {
                    if !rest.is_empty() && s.write_all(&rest).is_err() {
                        return;
                    }
                    rest.clear();
                    match s.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => rest.extend_from_slice(&tmp[..n]),
                    }
                }
            });
        }
    });
    heads
}

fn config(sock: &std::path::Path, fe: u16, origin: u16) -> String {
    format!(
        "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    timeout tunnel 10s\n\
         frontend fe\n    bind 127.0.0.1:{fe} proto h2\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{origin}\n",
        global_section(sock, "")
    )
}

/// What one extended CONNECT to `path` got: the client saw the setting,
/// the status, and the bytes echoed back for `msg`.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    echoed: String,
}

fn ext_connect(port: u16, path: &str, msgs: &[&str]) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connects");
        let (client, conn) = h2::client::handshake(tcp).await.expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut client = client.ready().await.expect("ready");
        // RFC 8441 §3: the client asks only once the server said so.
        for _ in 0..200 {
            if client.is_extended_connect_protocol_enabled() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            client.is_extended_connect_protocol_enabled(),
            "SETTINGS_ENABLE_CONNECT_PROTOCOL not announced"
        );
        let mut req = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://127.0.0.1:{port}{path}"))
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        let (resp, mut send) = client.send_request(req, false).expect("request");
        let resp = tokio::time::timeout(Duration::from_secs(5), resp)
            .await
            .expect("a response within 5 s")
            .expect("response");
        let status = resp.status().as_u16();
        let mut echoed = Vec::new();
        if status == 200 {
            let mut body = resp.into_body();
            for m in msgs {
                send.send_data(Bytes::copy_from_slice(m.as_bytes()), false)
                    .expect("send");
                let want = echoed.len() + m.len();
                while echoed.len() < want {
                    let Ok(Some(Ok(d))) =
                        tokio::time::timeout(Duration::from_secs(5), body.data()).await
                    else {
                        break;
                    };
                    let _ = body.flow_control().release_capacity(d.len());
                    echoed.extend_from_slice(&d);
                }
            }
            send.send_reset(h2::Reason::CANCEL);
        }
        Outcome {
            status,
            echoed: String::from_utf8_lossy(&echoed).to_string(),
        }
    })
}

/// The request head the origin saw last, with the (random) key masked,
/// and that key.
fn last_head(heads: &Arc<Mutex<Vec<String>>>, port: u16) -> (String, String) {
    let h = heads.lock().unwrap().last().cloned().unwrap_or_default();
    let mut key = String::new();
    let mut lines = Vec::new();
    for l in h.lines() {
        match l.split_once(':') {
            Some((n, v)) if n.eq_ignore_ascii_case("sec-websocket-key") => {
                key = v.trim().to_string();
                lines.push(format!("{}: KEY", n.to_ascii_lowercase()));
            }
            Some((n, v)) => lines.push(format!(
                "{}: {}",
                n.to_ascii_lowercase(),
                v.trim().replace(&port.to_string(), "PORT")
            )),
            None => lines.push(l.to_string()),
        }
    }
    (lines.join("\n"), key)
}

/// Both extended CONNECTs against the proxy on `fe`: what the client got,
/// what the origin saw (key masked, checked to be 16 bytes in base64).
fn exercise(fe: u16, heads: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    let mut out = Vec::new();
    let ok = ext_connect(fe, "/chat", &["hello", " sluice"]);
    let (head, key) = last_head(heads, fe);
    assert_eq!(key.len(), 24, "{head}");
    assert!(key.ends_with("=="), "{key}");
    out.push(format!("{ok:?}"));
    out.push(head);
    let bad = ext_connect(fe, "/badkey", &["x"]);
    out.push(format!("{bad:?}"));
    out
}

#[test]
fn extended_connect_to_an_h1_websocket_origin() {
    let dir = TempDir::new("h2_ws");
    let p = free_ports(3);
    let heads = start_ws_origin(p[2]);
    let sl = Sluice::run(&dir, "sl", &config(&dir.join("sl.sock"), p[0], p[2]));
    let sl_run = exercise(p[0], &heads);
    println!("sluice: {sl_run:#?}\n{}", sl.log());
    assert_eq!(
        sl_run[0],
        format!(
            "{:?}",
            Outcome {
                status: 200,
                echoed: "hello sluice".into()
            }
        )
    );
    let head = &sl_run[1];
    assert!(head.starts_with("GET /chat HTTP/1.1\n"), "{head}");
    for want in [
        "host: 127.0.0.1:PORT",
        "upgrade: websocket",
        "connection: upgrade",
        "sec-websocket-key: KEY",
    ] {
        assert!(head.lines().any(|l| l == want), "{want} not in {head}");
    }
    assert!(sl_run[2].contains("status: 502"), "{}", sl_run[2]);
    // The log says what the HTTP/1.1 side saw (a 101, as HAProxy logs
    // it); the client reset the tunnel (`CD`); the wrong accept is the
    // server's bad answer (`PH`).
    let sl_logs: Vec<String> = sl
        .wait_traffic(2)
        .iter()
        .map(|l| log_key(l, p[0]))
        .collect();
    assert_eq!(
        sl_logs,
        [
            "fe be/s1 101 CD-- \"GET http://127.0.0.1:PORT/chat HTTP/2.0\"",
            "fe be/s1 502 PH-- \"GET http://127.0.0.1:PORT/badkey HTTP/2.0\"",
        ]
    );

    if !haproxy_or_skip("extended_connect_to_an_h1_websocket_origin") {
        return;
    }
    let _ha = HaRun::start(&dir, "ha", &config(&dir.join("ha.sock"), p[1], p[2]));
    let ha_run: Vec<String> = exercise(p[1], &heads);
    println!("haproxy: {ha_run:#?}");
    assert_eq!(sl_run, ha_run);
    let ha_logs = poll(Duration::from_secs(5), Duration::from_millis(10), || {
        let l = traffic_lines(&_ha.proc.output());
        (l.len() >= 2).then_some(l)
    })
    .unwrap_or_default();
    let ha_logs: Vec<String> = ha_logs.iter().map(|l| log_key(l, p[1])).collect();
    // Difference: the client's RST_STREAM(CANCEL) that ends the tunnel is
    // a client abort for Sluice (`CD--`), a normal end for HAProxy 2.6
    // (`----`).
    let sl_logs: Vec<String> = sl_logs
        .iter()
        .map(|l| l.replace(" 101 CD-- ", " 101 ---- "))
        .collect();
    assert_eq!(sl_logs, ha_logs);
}

/// Frontend, backend/server, status, termination flags, request line
/// (the frontend's port masked).
fn log_key(line: &str, port: u16) -> String {
    let w: Vec<&str> = line.split(' ').collect();
    let req = line.split('"').nth(1).unwrap_or("");
    format!("{} {} {} {} \"{req}\"", w[2], w[3], w[5], w[9]).replace(&format!(":{port}/"), ":PORT/")
}
