//! Fetches and converters of the reg-tests (issue 14) side by side with
//! HAProxy 2.6: `unique-id` read by a response rule (made while the request
//! was there), `capture.req.method|uri|ver` in response rules, `so_id` /
//! `so_name`, the stick-table converters (`in_table`, `table_*`) on a
//! tracked and an unknown key, and `uuid`'s shape. Each value is sent back
//! in a response header; the headers must be the same.

mod common;

use common::*;

/// (response header, log-format value).
const OUT: &[(&str, &str)] = &[
    ("x-id", "%[unique-id]"),
    (
        "x-cap",
        "%[capture.req.method]|%[capture.req.uri]|%[capture.req.ver]",
    ),
    ("x-so", "%[so_name]|%[so_id]"),
    (
        "x-tbl",
        "%[src,in_table(fe)]|%[src,table_trackers(fe)]|%[src,table_http_req_cnt(fe)]|\
         %[src,table_conn_cnt(fe)]|%[src,table_gpc0(fe)]|%[src,table_gpt(0,fe)]",
    ),
    (
        "x-miss",
        "%[str(10.0.0.1),table_conn_cnt(fe)]|%[str(10.0.0.1),in_table(fe)]|\
         %[str(10.0.0.1),table_trackers(fe)]",
    ),
    // A type the table does not store: the expression fails.
    ("x-nostore", "%[src,table_sess_cnt(fe)]"),
    ("x-uuid", "%[uuid]"),
];

fn config(fe: u16, srv: u16) -> String {
    let mut rules = String::new();
    for (name, value) in OUT {
        rules.push_str(&format!(
            "    http-response set-header {name} \"{value}\"\n"
        ));
    }
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe} name foo id 7\n\
         \x20   unique-id-format ID-%[req.hdr(x-in)]\n\
         \x20   stick-table type ip size 1m expire 1h store gpc0,gpt(2),http_req_cnt,conn_cnt\n\
         \x20   http-request track-sc0 src\n\
         {rules}\
         \x20   default_backend be\n\
         backend be\n    server s 127.0.0.1:{srv}\n\
         frontend srv\n    bind 127.0.0.1:{srv}\n\
         \x20   http-request return status 200 content-type text/plain string ok\n"
    )
}

/// The `x-*` headers of the response to a GET of `path`, in order.
fn ask(port: u16, path: &str) -> Vec<String> {
    let (head, body) = exchange(port, path, &[("x-in", "abc")]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\r\n\r\n{body}");
    head.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("x-"))
        .map(str::to_string)
        .collect()
}

/// HAProxy's UUID text: 8-4-4-4-12 lower-case hex, version 4, variant 10.
fn is_uuid4(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    lens == [8, 4, 4, 4, 12]
        && v.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        && parts[2].starts_with('4')
        && matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b')
}

#[test]
fn fetches_side_by_side() {
    if !haproxy_or_skip("fetches_side_by_side") {
        return;
    }
    let dir = TempDir::new("fetches_side_by_side");
    let ports = free_ports(4);
    let mut seen = Vec::new();
    for (who, fe, srv) in [("ha", ports[0], ports[1]), ("sluice", ports[2], ports[3])] {
        let cfg = format!(
            "{}{}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            config(fe, srv)
        );
        let ask_all = || {
            let first = ask(fe, "/a?b=1");
            // The first session ends (and stops tracking) once its
            // connection is closed on both sides.
            std::thread::sleep(std::time::Duration::from_millis(300));
            (first, ask(fe, "/second"))
        };
        let got = if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            ask_all()
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            ask_all()
        };
        seen.push(got);
    }
    let uuids: Vec<String> = seen
        .iter()
        .flat_map(|(a, b)| a.iter().chain(b))
        .filter_map(|l| l.strip_prefix("x-uuid: ").map(str::to_string))
        .collect();
    assert_eq!(uuids.len(), 4, "{seen:?}");
    for u in &uuids {
        assert!(is_uuid4(u), "not a v4 UUID: {u}");
    }
    assert_ne!(uuids[2], uuids[3], "two requests, one UUID");
    let strip = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| !l.starts_with("x-uuid"))
            .cloned()
            .collect()
    };
    assert_eq!(strip(&seen[1].0), strip(&seen[0].0), "first request");
    assert_eq!(strip(&seen[1].1), strip(&seen[0].1), "second request");
    // What the values are (so that both being wrong the same way shows).
    let first = strip(&seen[1].0).join("\n");
    assert!(first.contains("x-id: ID-abc"), "{first}");
    assert!(first.contains("x-cap: GET|/a?b=1|HTTP/1.1"), "{first}");
    assert!(first.contains("x-so: foo|7"), "{first}");
    assert!(first.contains("x-miss: 0|0|0"), "{first}");
}

/// `uuid(3)` is refused as HAProxy 2.6 refuses it.
#[test]
fn uuid_version_other_than_4_is_refused() {
    let dir = TempDir::new("uuid_version_refused");
    let cfg = "defaults\n    mode http\nfrontend fe\n    bind 127.0.0.1:18080\n    \
               http-request set-header x %[uuid(3)]\n";
    let path = dir.join("s.cfg");
    write_file(&path, cfg);
    let out = std::process::Command::new(proxy_mio())
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run proxy-mio");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Unsupported UUID version: '3'"), "{err}");
}

/// `http-request set-timeout server|tunnel` (a time, an expression) and
/// the timeout fetches, side by side: the frontend's rules see the
/// backend's timeouts, the backend's rules change the stream's.
#[test]
fn set_timeout_side_by_side() {
    if !haproxy_or_skip("set_timeout_side_by_side") {
        return;
    }
    let dir = TempDir::new("set_timeout_side_by_side");
    let ports = free_ports(4);
    let mut seen = Vec::new();
    for (who, fe, srv) in [("ha", ports[0], ports[1]), ("sluice", ports[2], ports[3])] {
        let cfg = format!(
            "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 4s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{fe}\n\
             \x20   http-response set-header x-t \"%[be_server_timeout] %[cur_server_timeout] \
             %[be_tunnel_timeout] %[cur_tunnel_timeout] %[fe_client_timeout]\"\n\
             \x20   use_backend be2 if {{ path /2 }}\n\
             \x20   default_backend be\n\
             backend be\n    timeout tunnel 7s\n\
             \x20   http-request set-timeout server int(3),mul(1000)\n\
             \x20   http-request set-timeout tunnel 2s\n\
             \x20   server s 127.0.0.1:{srv}\n\
             backend be2\n    server s 127.0.0.1:{srv}\n\
             frontend srv\n    bind 127.0.0.1:{srv}\n\
             \x20   http-request return status 200 content-type text/plain string ok\n",
            global_section(&dir.join(&format!("{who}.sock")), ""),
        );
        let ask_all = || (ask(fe, "/1"), ask(fe, "/2"));
        let got = if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            ask_all()
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            ask_all()
        };
        seen.push(got);
    }
    assert_eq!(seen[1], seen[0]);
    assert_eq!(seen[1].0, ["x-t: 5000 3000 7000 2000 4000"]);
    assert_eq!(seen[1].1, ["x-t: 5000 5000 0 0 4000"]);
}

/// `fc_pp_authority` and `fc_pp_unique_id` read the TLVs of a PROXY v2
/// header (`accept-proxy`), side by side; without the TLV, nothing.
#[test]
fn proxy_v2_tlv_fetches_side_by_side() {
    use std::io::{Read, Write};
    if !haproxy_or_skip("proxy_v2_tlv_fetches_side_by_side") {
        return;
    }
    let dir = TempDir::new("proxy_v2_tlv_fetches_side_by_side");
    let ports = free_ports(2);
    /// A PROXY v2 header (TCP over IPv4, 127.0.0.1:42 -> 127.0.0.1:1337)
    /// with these TLVs, then a GET.
    fn exchange_pp(port: u16, tlvs: &[(u8, &[u8])]) -> String {
        let mut body = vec![127, 0, 0, 1, 127, 0, 0, 1, 0, 42, 5, 57];
        for (t, v) in tlvs {
            body.push(*t);
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
        }
        let mut msg = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&body);
        msg.extend_from_slice(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(&msg).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.lines()
            .filter(|l| l.starts_with("x-pp"))
            .collect::<Vec<_>>()
            .join("|")
    }
    let mut seen = Vec::new();
    for (who, fe) in [("ha", ports[0]), ("sluice", ports[1])] {
        let cfg = format!(
            "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{fe} accept-proxy\n\
             \x20   http-after-response set-header x-pp \"%[fc_pp_authority]/%[fc_pp_unique_id,hex]\"\n\
             \x20   http-request return status 200\n",
            global_section(&dir.join(&format!("{who}.sock")), ""),
        );
        let ask_all = || {
            [
                exchange_pp(fe, &[(0x02, b"example.org"), (0x05, b"12345")]),
                exchange_pp(fe, &[(0x05, b"12345")]),
                exchange_pp(fe, &[]),
            ]
        };
        if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            seen.push(ask_all());
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            seen.push(ask_all());
        }
    }
    assert_eq!(seen[1], seen[0]);
    assert_eq!(seen[1][0], "x-pp: example.org/3132333435");
}

/// `last_rule_line` (issue 14, log/last_rule.vtc): the line of the last
/// final rule the stream ran (`allow`, `deny`, `tcp-request content
/// accept`), none when no final rule ran; and the client connection stays
/// open after an `http-response deny`, as HAProxy 2.6 keeps it.
#[test]
fn last_rule_side_by_side() {
    if !haproxy_or_skip("last_rule_side_by_side") {
        return;
    }
    let dir = TempDir::new("last_rule_side_by_side");
    let ports = free_ports(4);
    let mut seen = Vec::new();
    for (who, fe, srv) in [("ha", ports[0], ports[1]), ("sluice", ports[2], ports[3])] {
        let cfg = format!(
            "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{fe}\n\
             \x20   tcp-request content accept if {{ path /tcp }}\n\
             \x20   http-request set-var(txn.path) path\n\
             \x20   http-request allow if {{ path /allow }}\n\
             \x20   http-request deny if {{ path /deny }}\n\
             \x20   http-response deny if {{ var(txn.path) -m str /rdeny }}\n\
             \x20   http-after-response set-header x-lr \"%[last_rule_line]\"\n\
             \x20   default_backend be\n\
             backend be\n    server s 127.0.0.1:{srv}\n\
             frontend srv\n    bind 127.0.0.1:{srv}\n\
             \x20   http-request return status 200 content-type text/plain string ok\n",
            global_section(&dir.join(&format!("{who}.sock")), ""),
        );
        let ask_all = || {
            let mut out = Vec::new();
            for path in ["/tcp", "/allow", "/deny", "/other", "/rdeny"] {
                let (head, _) = exchange(fe, path, &[]);
                let status = head.split(' ').nth(1).unwrap_or("").to_string();
                let lr = head
                    .lines()
                    .find_map(|l| l.strip_prefix("x-lr: "))
                    .unwrap_or("-")
                    .to_string();
                out.push(format!("{path} {status} {lr}"));
            }
            // Two requests on one connection: the second is answered after
            // the first one's `http-response deny`.
            let req = b"GET /rdeny HTTP/1.1\r\nhost: a\r\n\r\nGET /other HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n";
            let (got, _) = http_raw(fe, req);
            let got = String::from_utf8_lossy(&got).into_owned();
            out.push(format!("responses: {}", got.matches("HTTP/1.1 ").count()));
            out
        };
        let got = if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            ask_all()
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            ask_all()
        };
        seen.push(got);
    }
    assert_eq!(seen[1], seen[0], "sluice (left) vs haproxy");
    assert_eq!(seen[1][2], "/deny 403 15", "{:?}", seen[1]);
    assert_eq!(seen[1][5], "responses: 2", "{:?}", seen[1]);
}

/// A `tcp-request content track-sc` whose key is an HTTP fetch on a TCP
/// frontend (peers/basic_sync.vtc): while `inspect-delay` runs, the rule
/// waits for the request head rather than tracking nothing. The request
/// comes in two parts; the table then holds its URL, as in HAProxy.
#[test]
fn tcp_track_sc_waits_for_its_key_side_by_side() {
    let dir = TempDir::new("tcp_track_wait");
    let run = |who: &str| -> String {
        let fe = free_ports(1)[0];
        let sock = dir.join(&format!("{who}.sock"));
        let cfg = format!(
            "{}defaults\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             backend stkt\n    stick-table type string size 10m store gpc0\n\
             frontend fe\n    bind 127.0.0.1:{fe}\n\
             \x20   tcp-request inspect-delay 2s\n\
             \x20   tcp-request content track-sc0 url table stkt\n\
             \x20   tcp-request content sc-inc-gpc0(0)\n",
            global_section(&sock, ""),
        );
        let ask = || {
            use std::io::Write;
            let mut c = std::net::TcpStream::connect(("127.0.0.1", fe)).unwrap();
            c.write_all(b"GET /c1_cli").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
            c.write_all(b"ent HTTP/1.1\r\nhost: a\r\n\r\n").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            let t = cli(&sock, "show table stkt").unwrap();
            t.lines()
                .filter_map(|l| l.split_once(": ").map(|(_, e)| e.to_string()))
                .filter(|e| e.starts_with("key="))
                .collect::<Vec<_>>()
                .join("\n")
        };
        if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            ask()
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            ask()
        }
    };
    let sluice = run("sluice");
    assert!(
        sluice.starts_with("key=/c1_client ") && sluice.ends_with(" gpc0=1"),
        "{sluice}"
    );
    if haproxy_or_skip("tcp_track_sc_waits_for_its_key_side_by_side") {
        assert_eq!(sluice, run("ha"));
    }
}
