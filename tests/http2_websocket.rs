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

/// The HTTP/2 WebSocket origin (the `h2` crate's server): it announces
/// SETTINGS_ENABLE_CONNECT_PROTOCOL when `rfc8441`, records each
/// request's pseudo-headers and fields, answers 200 and echoes every
/// DATA until the client ends its side.
fn start_h2_ws_origin(port: u16, rfc8441: bool) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let l = TcpListener::bind(("127.0.0.1", port)).expect("origin binds");
    l.set_nonblocking(true).unwrap();
    let rec = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    continue;
                };
                let rec = rec.clone();
                tokio::spawn(async move {
                    let mut b = h2::server::Builder::new();
                    if rfc8441 {
                        b.enable_connect_protocol();
                    }
                    let Ok(mut conn) = b.handshake::<_, Bytes>(tcp).await else {
                        return;
                    };
                    while let Some(Ok((req, mut respond))) = conn.accept().await {
                        let proto = req
                            .extensions()
                            .get::<h2::ext::Protocol>()
                            .map(|p| p.as_str().to_string());
                        let mut line = format!(
                            "{} {} {} protocol={proto:?}",
                            req.method(),
                            req.uri().scheme_str().unwrap_or("-"),
                            req.uri().path(),
                        );
                        for (n, v) in req.headers() {
                            line.push_str(&format!(" {n}={}", v.to_str().unwrap_or("?")));
                        }
                        rec.lock().unwrap().push(line);
                        let mut body = req.into_body();
                        let resp = http::Response::builder().status(200).body(()).unwrap();
                        let Ok(mut send) = respond.send_response(resp, false) else {
                            continue;
                        };
                        tokio::spawn(async move {
                            while let Some(Ok(d)) = body.data().await {
                                let _ = body.flow_control().release_capacity(d.len());
                                if send.send_data(d, false).is_err() {
                                    return;
                                }
                            }
                            let _ = send.send_data(Bytes::new(), true);
                        });
                    }
                });
            }
        });
    });
    seen
}

/// An HTTP/1.1 WebSocket handshake on `port` (key of RFC 6455 §1.3),
/// then each of `msgs` sent and its echo read back, then the client's
/// FIN: the response head (lowercased field names, sorted) and what came
/// back, with whether the proxy closed after the client's FIN.
fn h1_ws_client(port: u16, msgs: &[&str]) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => break buf.len(),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines: Vec<String> = head
        .lines()
        .skip(1)
        .map(|l| l.to_ascii_lowercase())
        .collect();
    lines.retain(|l| !l.is_empty() && !l.starts_with("content-") && !l.starts_with("cache-"));
    lines.sort();
    let status = head.lines().next().unwrap_or("").to_string();
    let mut out = format!("{status} | {}", lines.join(" | "));
    if !status.contains(" 101 ") {
        return out;
    }
    let mut echoed = buf[end..].to_vec();
    for m in msgs {
        s.write_all(m.as_bytes()).unwrap();
        let want = echoed.len() + m.len();
        while echoed.len() < want {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => break,
                Ok(n) => echoed.extend_from_slice(&tmp[..n]),
            }
        }
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let closed = matches!(s.read(&mut tmp), Ok(0));
    out.push_str(&format!(
        " || echoed {:?} closed {closed}",
        String::from_utf8_lossy(&echoed)
    ));
    out
}

fn config_h2_origin(
    sock: &std::path::Path,
    fe: [u16; 3],
    origin: u16,
    plain: u16,
    h1: u16,
) -> String {
    format!(
        "{}defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n    timeout tunnel 10s\n\
         listen ws_h2\n    bind 127.0.0.1:{}\n    server s1 127.0.0.1:{origin} proto h2\n\
         listen no_rfc8441\n    bind 127.0.0.1:{}\n    server s1 127.0.0.1:{plain} proto h2\n\
         listen ws_h1\n    bind 127.0.0.1:{}\n    server s1 127.0.0.1:{h1} proto h2 ws h1\n",
        global_section(sock, ""),
        fe[0],
        fe[1],
        fe[2],
    )
}

/// The three listeners: an upgrade to an RFC 8441 origin, to an HTTP/2
/// origin that did not announce it, and `proto h2 ws h1` to the
/// HTTP/1.1 origin; plus what the HTTP/2 origin saw.
fn exercise_h2_origin(fe: [u16; 3], seen: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    let mut out = vec![h1_ws_client(fe[0], &["hello", " h2"])];
    out.push(seen.lock().unwrap().last().cloned().unwrap_or_default());
    out.push(h1_ws_client(fe[1], &["x"]));
    out.push(h1_ws_client(fe[2], &["over h1"]));
    out
}

/// The reverse direction (HAProxy 2.4+): an HTTP/1.1 `Upgrade:
/// websocket` towards a `proto h2` server goes as an extended CONNECT
/// once the server announced SETTINGS_ENABLE_CONNECT_PROTOCOL; its 200 is
/// the client's 101 (with the accept of the client's key, which the
/// HTTP/2 server does not send), then a tunnel both ways, ended by the
/// client's FIN (END_STREAM) and the server's END_STREAM (the close). A
/// server without the setting: 502. `ws h1` takes HTTP/1.1 to the
/// server for websocket requests. Side by side with HAProxy 2.6.
#[test]
fn h1_upgrade_to_an_h2_websocket_origin() {
    let dir = TempDir::new("h2_ws_back");
    let p = free_ports(9);
    let seen = start_h2_ws_origin(p[6], true);
    let _plain = start_h2_ws_origin(p[7], false);
    let _h1 = start_ws_origin(p[8]);
    let fe = [p[0], p[1], p[2]];
    let sl = Sluice::run(
        &dir,
        "sl",
        &config_h2_origin(&dir.join("sl.sock"), fe, p[6], p[7], p[8]),
    );
    let sl_run = exercise_h2_origin(fe, &seen);
    println!("sluice: {sl_run:#?}\n{}", sl.log());
    let accept = "sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=";
    assert_eq!(
        sl_run[0],
        format!(
            "HTTP/1.1 101  | connection: upgrade | {accept} | upgrade: websocket \
             || echoed \"hello h2\" closed true"
        )
    );
    assert!(
        sl_run[1].starts_with("CONNECT https /chat protocol=Some(\"websocket\")"),
        "{}",
        sl_run[1]
    );
    for f in [
        "sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version=13",
    ] {
        assert!(sl_run[1].contains(f), "{f} not in {}", sl_run[1]);
    }
    assert!(!sl_run[1].contains("upgrade"), "{}", sl_run[1]);
    assert!(sl_run[2].starts_with("HTTP/1.1 502 "), "{}", sl_run[2]);
    assert!(
        sl_run[3].contains("echoed \"over h1\" closed true"),
        "{}",
        sl_run[3]
    );

    if !haproxy_or_skip("h1_upgrade_to_an_h2_websocket_origin") {
        return;
    }
    let fe = [p[3], p[4], p[5]];
    let _ha = HaRun::start(
        &dir,
        "ha",
        &config_h2_origin(&dir.join("ha.sock"), fe, p[6], p[7], p[8]),
    );
    let ha_run = exercise_h2_origin(fe, &seen);
    println!("haproxy: {ha_run:#?}");
    // Difference (not of this path): Sluice's 502 says `connection:
    // close`, HAProxy 2.6's keeps the client connection.
    let mut sl_run = sl_run;
    sl_run[2] = sl_run[2].replace(" | connection: close", " | ");
    assert_eq!(sl_run, ha_run);
}
