//! `stats admin { if | unless } COND` side by side with HAProxy 2.6 fed
//! the same configuration: the same forms POSTed with curl (as the page's
//! form sends them: `s=<srv>&...&action=<act>&b=#<iid>`) get the same
//! `303 See Other` and `Location: <uri>;st=<CODE>` (DONE, PART, NONE,
//! ERRP, DENY), `scope=` kept, and `show stat` on the stats socket shows the same server
//! states after each. The page that follows shows the outcome and, with
//! admin rights, the form.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;

fn config(admin: u16, dead: u16) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n\
         listen st\n    bind 127.0.0.1:{admin}\n    stats enable\n    stats uri /st\n    stats refresh 10s\n    stats admin if {{ src 127.0.0.0/8 }}\n\
         listen ro\n    bind 127.0.0.1:{}\n    stats uri /ro\n    stats admin unless LOCALHOST\n\
         backend be1\n    server s1 127.0.0.1:{dead}\n    server s2 127.0.0.1:{dead}\n    server s3 127.0.0.1:{dead}\n",
        admin + 1
    )
}

/// `curl -X METHOD --data-binary BODY`: the (first) status line and the
/// `location` header. `POST-100`: a POST with `Expect: 100-continue`.
fn post(port: u16, path: &str, method: &str, body: &str) -> (String, String) {
    let mut cmd = Command::new("curl");
    if method == "POST-100" {
        cmd.args(["-H", "Expect: 100-continue"]);
    }
    let method = method.trim_end_matches("-100");
    let out = cmd
        .args(["-s", "-D", "-", "-o", "/dev/null", "-X", method])
        .args(["--data-binary", body])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    let status = head.lines().next().unwrap_or("").trim().to_string();
    let loc = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, loc)
}

/// A POST whose body comes in two parts, after the head: the answer's
/// status line and location.
fn post_slowly(port: u16, body: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST /st HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (a, b) = body.split_at(body.len() / 2);
    s.write_all(a.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    let status = out.lines().next().unwrap_or("").trim().to_string();
    let loc = out
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, loc)
}

/// What one step shows: its name, the answer, the servers' `status`.
type Step = (String, (String, String), Vec<String>);

fn drive(port: u16, show_stat: &dyn Fn() -> String) -> (Vec<Step>, String) {
    let states = || -> Vec<String> {
        let rows = parse_stat(&show_stat());
        ["s1", "s2", "s3"]
            .iter()
            .map(|s| {
                rows.get(&("be1".to_string(), s.to_string()))
                    .and_then(|r| r.get("status").cloned())
                    .unwrap_or_else(|| "<missing>".into())
            })
            .collect()
    };
    let iid = parse_stat(&show_stat())
        .get(&("be1".to_string(), "BACKEND".to_string()))
        .and_then(|r| r.get("iid").cloned())
        .expect("be1's iid");
    let b = format!("b=%23{iid}");
    let mut steps: Vec<Step> = vec![("be1's iid".into(), (iid, String::new()), states())];
    let cases: Vec<(&str, u16, &str, String)> = vec![
        (
            "drain two",
            port,
            "/st",
            format!("s=s1&s=s2&action=drain&{b}"),
        ),
        (
            "maint by name, ;up;norefresh kept",
            port,
            "/st;up;norefresh",
            "s=s3&action=maint&b=be1".into(),
        ),
        (
            "one unknown server",
            port,
            "/st",
            format!("s=s1&s=nosuch&action=maint&{b}"),
        ),
        (
            "unknown action",
            port,
            "/st",
            format!("s=s1&action=bogus&{b}"),
        ),
        ("empty action", port, "/st", format!("s=s1&action=&{b}")),
        ("no server", port, "/st", format!("action=ready&{b}")),
        (
            "unknown backend",
            port,
            "/st",
            "s=s1&action=ready&b=nosuch".into(),
        ),
        (
            "no admin rights",
            port + 1,
            "/ro",
            "s=s2&action=ready&b=be1".into(),
        ),
        ("no agent", port, "/st", "s=s1&action=dagent&b=be1".into()),
        (
            "enable a drained server",
            port,
            "/st",
            "s=s2&action=enable&b=be1".into(),
        ),
        (
            "start a drained server",
            port,
            "/st",
            "s=s2&action=start&b=be1".into(),
        ),
        (
            "servers after the action",
            port,
            "/st",
            format!("action=ready&{b}&s=s1&s=s3"),
        ),
        (
            "the search box's scope kept",
            port,
            "/st?scope=be1;up",
            "s=s2&action=maint&b=be1".into(),
        ),
        (
            "back to ready",
            port,
            "/st",
            "s=s2&action=ready&b=be1".into(),
        ),
        (
            "health: force DOWN",
            port,
            "/st",
            "s=s3&action=hdown&b=be1".into(),
        ),
        (
            "health: force NOLB",
            port,
            "/st",
            "s=s3&action=hnolb&b=be1".into(),
        ),
        (
            "health: force UP",
            port,
            "/st",
            "s=s3&action=hrunn&b=be1".into(),
        ),
        (
            "health: no checks to disable",
            port,
            "/st",
            "s=s3&action=dhlth&b=be1".into(),
        ),
    ];
    for (what, p, path, body) in cases {
        let r = post(p, path, "POST", &body);
        steps.push((what.to_string(), r, states()));
    }
    let r = post(port, "/st", "PUT", "s=s1&action=maint&b=be1");
    steps.push(("PUT".into(), r, states()));
    let r = post_slowly(port, &format!("s=s2&action=drain&{b}"));
    steps.push(("body in parts".into(), r, states()));
    let t = std::time::Instant::now();
    let r = post(port, "/st", "POST-100", &format!("s=s2&action=ready&{b}"));
    // curl waits a second for the 100 Continue before it sends anyway.
    assert!(t.elapsed() < Duration::from_millis(900), "no 100 Continue");
    steps.push(("Expect: 100-continue".into(), r, states()));
    // The search box: the proxies whose name contains it, any case.
    let csv = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/st;csv?scope=BE")])
        .output()
        .expect("run curl");
    let rows: Vec<String> = parse_stat(&String::from_utf8_lossy(&csv.stdout))
        .into_keys()
        .map(|(p, s)| format!("{p}/{s}"))
        .collect();
    steps.push(("scope=BE".into(), (rows.join(" "), String::new()), states()));
    // curl undoes HAProxy's chunking.
    let page = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/st;st=DONE")])
        .output()
        .expect("run curl");
    (steps, String::from_utf8_lossy(&page.stdout).into_owned())
}

#[test]
fn stats_admin_side_by_side() {
    if !haproxy_or_skip("stats_admin_side_by_side") || !tool_or_skip("curl", "stats_admin") {
        return;
    }
    let dir = TempDir::new("stats_admin");
    let ports = free_ports(5);
    let dead = ports[0];
    let mut all = Vec::new();
    for (who, port) in [("ha", ports[1]), ("sluice", ports[3])] {
        let cfg = format!(
            "{}{}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            config(port, dead)
        );
        let seen = if who == "ha" {
            let ha = HaRun::start(&dir, who, &cfg);
            drive(port, &|| ha.cli("show stat"))
        } else {
            let s = Sluice::run(&dir, who, &cfg);
            drive(port, &|| s.cli("show stat"))
        };
        println!("{who}: {:#?}", seen.0);
        all.push(seen);
    }
    let ((ha, ha_page), (sl, sl_page)) = (&all[0], &all[1]);
    for (h, s) in ha.iter().zip(sl) {
        assert_eq!(s, h, "step '{}'", h.0);
    }
    assert_eq!(sl.len(), ha.len());
    // The outcomes the steps were written for.
    let codes: Vec<&str> = sl[1..sl.len() - 1]
        .iter()
        .map(|s| s.1 .1.as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "/st;st=DONE",
            "/st;st=DONE;up;norefresh",
            "/st;st=PART",
            "/st;st=ERRP",
            "/st;st=ERRP",
            "/st;st=NONE",
            "/st;st=ERRP",
            "/ro;st=DENY",
            "/st;st=NONE",
            "/st;st=NONE",
            "/st;st=DONE",
            "/st;st=DONE",
            "/st;st=DONE;up?scope=be1",
            "/st;st=DONE",
            "/st;st=DONE",
            "/st;st=DONE",
            "/st;st=DONE",
            "/st;st=NONE",
            "",
            "/st;st=DONE",
            "/st;st=DONE",
        ]
    );
    assert_eq!(sl[sl.len() - 2].1 .0, "HTTP/1.1 100 Continue");
    // The numbering follows the stats socket's own frontend, as HAProxy's.
    assert_eq!(sl[0].1 .0, "4", "be1 is the fourth proxy");
    assert_eq!(sl[1].2, ["DRAIN", "DRAIN", "no check"]);
    assert_eq!(sl[8].2, sl[7].2, "a denied POST changes nothing");
    assert_eq!(
        sl.last().map(|s| s.1 .0.as_str()),
        Some("be1/BACKEND be1/s1 be1/s2 be1/s3")
    );
    for page in [ha_page, sl_page] {
        assert!(page.contains("Action processed successfully."), "{page}");
        assert!(page.contains("name=\"s\" value=\"s2\""), "{page}");
        assert!(page.contains("<option value=\"maint\">Set state to MAINT</option>"));
    }
}
