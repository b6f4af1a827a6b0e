//! HTTP basic authentication (`userlist`, `http-request auth`,
//! `http_auth`, `http_auth_group`) side by side with HAProxy 2.6 fed the
//! same configuration: for each request, the status line, the header
//! lines (names without case, `connection` aside), the body, and the
//! traffic log line (date and client port masked) must be the same.

mod common;

use std::time::Duration;

use common::*;

/// `openssl passwd -6 -salt saltsalt secret`, `-5`, `-1`.
const SHA512: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
const SHA256: &str = "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA";
const MD5: &str = "$1$saltsalt$9xy1btjgzLYfb7hivXtC//";

fn config(fe: u16) -> String {
    format!(
        "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n\
         userlist L\n    group admins users bob\n    group ops\n\
         \x20   user bob insecure-password pw1\n\
         \x20   user alice password {SHA512} groups ops\n\
         \x20   user carol password {SHA256} groups ops,admins\n\
         \x20   user dave password {MD5}\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n\
         \x20   http-request auth realm \"my realm\" if {{ path_beg /r }} !{{ http_auth(L) }}\n\
         \x20   http-request auth if !{{ http_auth(L) }}\n\
         \x20   http-request return status 200 content-type text/plain string \"admin\\n\" if {{ http_auth_group(L) admins }}\n\
         \x20   http-request return status 200 content-type text/plain string \"ops\\n\" if {{ http_auth_group(L) ops }}\n\
         \x20   http-request return status 200 content-type text/plain string \"user\\n\"\n"
    )
}

/// `Basic base64(user:pass)` (standard alphabet, padded).
fn basic(user: &str, pass: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{pass}").into_bytes();
    let mut out = String::from("Basic ");
    for c in raw.chunks(3) {
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// (what, path, Authorization value)
fn cases() -> Vec<(&'static str, &'static str, Option<String>)> {
    vec![
        ("no header", "/x", None),
        ("no header, realm", "/r", None),
        ("wrong password", "/x", Some(basic("bob", "bad"))),
        ("unknown user", "/x", Some(basic("zed", "pw1"))),
        ("not basic", "/x", Some("Bearer abc".into())),
        ("bad base64", "/x", Some("Basic !!!".into())),
        (
            "insecure password, group admins",
            "/x",
            Some(basic("bob", "pw1")),
        ),
        ("sha512, group ops", "/x", Some(basic("alice", "secret"))),
        (
            "sha256, groups ops,admins",
            "/r",
            Some(basic("carol", "secret")),
        ),
        ("md5, no group", "/x", Some(basic("dave", "secret"))),
        ("md5, wrong password", "/x", Some(basic("dave", "Secret"))),
    ]
}

/// The response to one request on its own connection: status line,
/// header lines (lowered names, `connection` left out), body.
fn ask(port: u16, path: &str, auth: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let (head, body) = exchange(port, path, &headers);
    let body = body.as_str();
    let mut lines = head.split("\r\n");
    let mut norm = vec![lines.next().unwrap_or("").to_string()];
    for l in lines {
        let (k, v) = l.split_once(':').unwrap_or((l, ""));
        let k = k.to_ascii_lowercase();
        if k != "connection" {
            norm.push(format!("{k}: {}", v.trim()));
        }
    }
    norm.push(body.to_string());
    norm.join("\n")
}

/// A traffic log line with the client port, the date, the timers' values
/// (which of them are -1 is kept: a ms of noise, or of verifying a
/// SHA-crypt password, is not a difference) and the byte count masked (the
/// bytes of Sluice's local replies differ from HAProxy's by the
/// `connection` header, as for every `return`, see docs/http.md).
fn mask(l: &str) -> String {
    l.split(' ')
        .enumerate()
        .map(|(i, w)| match i {
            0 => "CLIENT".to_string(),
            1 => "DATE".to_string(),
            4 => timers(w),
            6 => "BYTES".to_string(),
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `0/-1/-1/-1/5` -> `N/-1/-1/-1/N`.
fn timers(w: &str) -> String {
    w.split('/')
        .map(|t| if t == "-1" { "-1" } else { "N" })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn basic_auth_side_by_side() {
    if !haproxy_or_skip("basic_auth_side_by_side") {
        return;
    }
    let dir = TempDir::new("auth_side_by_side");
    let ports = free_ports(2);
    let mut seen = Vec::new();
    for (who, fe) in [("ha", ports[0]), ("sluice", ports[1])] {
        let cfg = format!(
            "{}{}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            config(fe)
        );
        let mut answers = Vec::new();
        let logs = if who == "ha" {
            let ha = HaRun::start(&dir, who, &cfg);
            for (i, (_, path, auth)) in cases().into_iter().enumerate() {
                answers.push(ask(fe, path, auth.as_deref()));
                // One request at a time, its log line written before the
                // next one (the lines then come in order, with the same
                // connection counts).
                poll(Duration::from_secs(3), Duration::from_millis(5), || {
                    (traffic_lines(&ha.proc.output()).len() > i).then_some(())
                });
            }
            traffic_lines(&ha.proc.output())
        } else {
            let s = Sluice::run(&dir, who, &cfg);
            for (i, (_, path, auth)) in cases().into_iter().enumerate() {
                answers.push(ask(fe, path, auth.as_deref()));
                poll(Duration::from_secs(3), Duration::from_millis(5), || {
                    (traffic_lines(&s.log()).len() > i).then_some(())
                });
            }
            traffic_lines(&s.log())
        };
        let logs: Vec<String> = logs.iter().map(|l| mask(l)).collect();
        seen.push((answers, logs));
    }
    let mut differ = Vec::new();
    for (i, (what, _, _)) in cases().iter().enumerate() {
        let (a, b) = (&seen[0].0[i], &seen[1].0[i]);
        let (la, lb) = (seen[0].1.get(i), seen[1].1.get(i));
        println!("{what}:\n  haproxy {a:?}\n          {la:?}\n  sluice  {b:?}\n          {lb:?}");
        if a != b || la != lb || la.is_none() {
            differ.push(*what);
        }
    }
    // The expected answers themselves (so that a common mistake cannot pass).
    assert!(seen[1].0[0].starts_with("HTTP/1.1 401 Unauthorized"));
    assert!(seen[1].0[0].contains("www-authenticate: Basic realm=\"fe\""));
    assert!(seen[1].0[1].contains("www-authenticate: Basic realm=\"my realm\""));
    assert!(seen[1].0[6].ends_with("admin\n"));
    assert!(seen[1].0[7].ends_with("ops\n"));
    assert!(seen[1].0[9].ends_with("user\n"));
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy in: {differ:?}"
    );
}

#[test]
fn userlist_errors_name_their_line() {
    let dir = TempDir::new("userlist_errors");
    for (cfg, want) in [
        (
            "userlist L\n    group g users nobody\n",
            "no such user 'nobody' specified in group 'g'",
        ),
        (
            "userlist L\n    user u insecure-password x groups nope\n",
            "no such group 'nope' specified in user 'u'",
        ),
        (
            "userlist L\n    user u password $2y$10$abcdefghijklmnopqrstuv\n",
            "password hash scheme not supported",
        ),
        (
            "userlist L\n    user u insecure-password x\nfrontend fe\n    mode http\n    bind 127.0.0.1:8080\n    http-request auth if !{ http_auth(M) }\n",
            "unable to find userlist 'M'",
        ),
        (
            "userlist L\n    group g\n    user u insecure-password x\nfrontend fe\n    mode http\n    bind 127.0.0.1:8080\n    http-request deny if { http_auth_group(L) h }\n",
            "invalid group 'h'",
        ),
    ] {
        let path = dir.join("t.cfg");
        write_file(&path, cfg);
        let out = std::process::Command::new(proxy_mio())
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("run proxy-mio -c");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cfg} was accepted");
        assert!(err.contains(want), "{cfg}: expected '{want}' in:\n{err}");
        assert!(err.contains("t.cfg:"), "no file:line in:\n{err}");
    }
}
