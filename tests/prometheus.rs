//! `http-request use-service prometheus-exporter` (HAProxy's `promex`):
//! side by side with HAProxy 2.6 fed the same configuration (metric names,
//! types, HELP texts, labels and the values both keep), the `scope` and
//! `no-maint` query parameters, the configuration errors, and a real
//! Prometheus (Debian's `prometheus`) scraping `proxy-mio` and answering
//! a query through its HTTP API.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;

/// `GET path` over HTTP/1.0 (closed after the answer): status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = connect(port, Duration::from_secs(5));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if chunked {
        // HAProxy's exporter answers in chunks (even to HTTP/1.0).
        return (status, dechunk(body));
    }
    if let Some(len) = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    }) {
        assert_eq!(len, body.len(), "content-length vs body of {path}: {head}");
    }
    (status, body.to_string())
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            panic!("truncated chunked body");
        };
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
}

/// A scrape: families (name -> (type, help)) and samples (name{labels} -> value).
#[derive(Default, Debug)]
struct Scrape {
    families: BTreeMap<String, (String, String)>,
    samples: BTreeMap<String, String>,
}

fn parse(text: &str) -> Scrape {
    let mut s = Scrape::default();
    let mut help = BTreeMap::new();
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("# HELP ") {
            let (n, h) = r.split_once(' ').unwrap_or((r, ""));
            help.insert(n.to_string(), h.to_string());
        } else if let Some(r) = line.strip_prefix("# TYPE ") {
            let (n, t) = r.split_once(' ').expect("TYPE line");
            let h = help.get(n).cloned().expect("HELP before TYPE");
            s.families.insert(n.to_string(), (t.to_string(), h));
        } else if !line.is_empty() {
            let (k, v) = line.rsplit_once(' ').expect("sample line");
            let name = k.split('{').next().unwrap();
            assert!(
                s.families.contains_key(name),
                "sample without # TYPE: {line}"
            );
            assert!(
                s.samples.insert(k.to_string(), v.to_string()).is_none(),
                "duplicate sample {k}"
            );
        }
    }
    s
}

fn scrape(port: u16, path: &str) -> Scrape {
    let (st, body) = get(port, path);
    assert_eq!(st, 200, "{path}: {body}");
    parse(&body)
}

/// A server answering every request with a fixed 200.
fn fixed(mut s: TcpStream, _: usize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        req.drain(..end);
        if s.write_all(&ok_response("hello\n")).is_err() {
            return;
        }
    }
}

const N: usize = 5;

fn config(sock: &std::path::Path, fe: u16, s1: u16, s2: u16) -> String {
    format!(
        "{}defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{fe}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    http-request track-sc0 src table st
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{s1} check inter 200
    server s2 127.0.0.1:{s2} check inter 200
backend st
    stick-table type ip size 100 expire 30s store http_req_cnt
",
        global_section(sock, "")
    )
}

/// Waits until `show stat` says s1 UP and s2 DOWN.
fn wait_checks(cli_stat: impl Fn() -> String) {
    let ok = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        let st = parse_stat(&cli_stat());
        let status = |s: &str| {
            st.get(&("be".into(), s.into()))
                .map(|r| r["status"].clone())
        };
        (status("s1").as_deref() == Some("UP") && status("s2").as_deref() == Some("DOWN"))
            .then_some(())
    });
    assert!(ok.is_some(), "checks did not settle:\n{}", cli_stat());
}

/// The samples both must report with the same value after `N` requests
/// (and one scrape in progress).
const SAME: &[&str] = &[
    "haproxy_process_nbproc",
    "haproxy_process_relative_process_id",
    "haproxy_process_current_connections",
    "haproxy_process_stopping",
    "haproxy_frontend_current_sessions{proxy=\"fe\"}",
    "haproxy_frontend_sessions_total{proxy=\"fe\"}",
    "haproxy_frontend_http_requests_total{proxy=\"fe\"}",
    "haproxy_frontend_connections_total{proxy=\"fe\"}",
    "haproxy_frontend_http_responses_total{proxy=\"fe\",code=\"2xx\"}",
    "haproxy_frontend_http_responses_total{proxy=\"fe\",code=\"5xx\"}",
    "haproxy_frontend_requests_denied_total{proxy=\"fe\"}",
    "haproxy_frontend_status{proxy=\"fe\",state=\"UP\"}",
    "haproxy_backend_status{proxy=\"be\",state=\"UP\"}",
    "haproxy_backend_status{proxy=\"be\",state=\"DOWN\"}",
    "haproxy_backend_sessions_total{proxy=\"be\"}",
    "haproxy_backend_http_requests_total{proxy=\"be\"}",
    "haproxy_backend_http_responses_total{proxy=\"be\",code=\"2xx\"}",
    "haproxy_backend_active_servers{proxy=\"be\"}",
    "haproxy_backend_backup_servers{proxy=\"be\"}",
    "haproxy_backend_weight{proxy=\"be\"}",
    "haproxy_backend_loadbalanced_total{proxy=\"be\"}",
    "haproxy_backend_current_queue{proxy=\"be\"}",
    "haproxy_backend_connection_errors_total{proxy=\"be\"}",
    "haproxy_server_status{proxy=\"be\",server=\"s1\",state=\"UP\"}",
    "haproxy_server_status{proxy=\"be\",server=\"s1\",state=\"DOWN\"}",
    "haproxy_server_status{proxy=\"be\",server=\"s2\",state=\"UP\"}",
    "haproxy_server_status{proxy=\"be\",server=\"s2\",state=\"DOWN\"}",
    "haproxy_server_status{proxy=\"be\",server=\"s2\",state=\"MAINT\"}",
    "haproxy_server_sessions_total{proxy=\"be\",server=\"s1\"}",
    "haproxy_server_sessions_total{proxy=\"be\",server=\"s2\"}",
    "haproxy_server_loadbalanced_total{proxy=\"be\",server=\"s1\"}",
    "haproxy_server_http_responses_total{proxy=\"be\",server=\"s1\",code=\"2xx\"}",
    "haproxy_server_current_sessions{proxy=\"be\",server=\"s1\"}",
    "haproxy_server_weight{proxy=\"be\",server=\"s1\"}",
    "haproxy_server_uweight{proxy=\"be\",server=\"s2\"}",
    "haproxy_server_limit_sessions{proxy=\"be\",server=\"s1\"}",
    "haproxy_server_queue_limit{proxy=\"be\",server=\"s1\"}",
    "haproxy_server_check_status{proxy=\"be\",server=\"s1\",state=\"L4OK\"}",
    "haproxy_server_check_status{proxy=\"be\",server=\"s2\",state=\"L4CON\"}",
    "haproxy_server_check_status{proxy=\"be\",server=\"s2\",state=\"L4OK\"}",
    "haproxy_server_check_up_down_total{proxy=\"be\",server=\"s2\"}",
    "haproxy_sticktable_size{name=\"st\",type=\"ip\"}",
    "haproxy_sticktable_used{name=\"st\",type=\"ip\"}",
];

#[test]
fn promex_side_by_side_with_haproxy() {
    if !haproxy_or_skip("promex_side_by_side_with_haproxy") {
        return;
    }
    let dir = TempDir::new("promex");
    let srv = TestServer::start(0, fixed);
    let p = free_ports(3);
    let (fe_h, fe_s, dead) = (p[0], p[1], p[2]);
    let ha = HaRun::start(
        &dir,
        "ha",
        &config(&dir.join("ha.sock"), fe_h, srv.port(), dead),
    );
    let sl = Sluice::run(
        &dir,
        "sl",
        &config(&dir.join("sl.sock"), fe_s, srv.port(), dead),
    );
    wait_checks(|| ha.cli("show stat"));
    wait_checks(|| sl.cli("show stat"));
    for port in [fe_h, fe_s] {
        for _ in 0..N {
            assert_eq!(get(port, "/").0, 200);
        }
    }
    let (h_raw, s_raw) = (get(fe_h, "/metrics").1, get(fe_s, "/metrics").1);
    // Larger than a 16 kB buffer: the answer is streamed whole.
    assert!(s_raw.len() > 16384, "{} bytes", s_raw.len());
    let (h, s) = (parse(&h_raw), parse(&s_raw));
    // Every family Sluice emits is HAProxy's, with its type and HELP.
    for (name, th) in &s.families {
        assert_eq!(h.families.get(name), Some(th), "family {name}");
    }
    assert!(s.families.len() >= 80, "{} families", s.families.len());
    // Every sample's label set is one HAProxy emits too (but the version).
    for k in s.samples.keys() {
        if !k.starts_with("haproxy_process_build_info") {
            assert!(h.samples.contains_key(k), "sample {k} not in HAProxy's");
        }
    }
    // Counters Sluice does not keep are left out, not faked as zeros.
    for absent in [
        "haproxy_frontend_http_comp_bytes_in_total",
        "haproxy_server_idle_connections_current",
        "haproxy_backend_http_cache_lookups_total",
    ] {
        assert!(!s.families.contains_key(absent), "{absent}");
        assert!(h.families.contains_key(absent), "{absent}");
    }
    let mut diffs = Vec::new();
    for k in SAME {
        let (hv, sv) = (h.samples.get(*k), s.samples.get(*k));
        assert!(sv.is_some(), "Sluice has no {k}");
        if hv != sv {
            diffs.push(format!("{k}: haproxy {hv:?} sluice {sv:?}"));
        }
    }
    assert!(diffs.is_empty(), "values differ:\n{}", diffs.join("\n"));
    assert_eq!(
        s.samples["haproxy_frontend_http_requests_total{proxy=\"fe\"}"],
        (N + 1).to_string()
    );
    // HAProxy also counts its stats socket's streams here; Sluice counts
    // HTTP requests only.
    assert_eq!(
        s.samples["haproxy_process_requests_total"],
        (N + 1).to_string()
    );

    // Scopes, as HAProxy reads them.
    for (q, fams) in [
        ("scope=frontend", vec!["haproxy_frontend_"]),
        (
            "scope=backend&scope=sticktable",
            vec!["haproxy_backend_", "haproxy_sticktable_"],
        ),
        ("scope=global", vec!["haproxy_process_"]),
        ("scope=server", vec!["haproxy_server_"]),
    ] {
        let path = format!("/metrics?{q}");
        let (hs, ss) = (scrape(fe_h, &path), scrape(fe_s, &path));
        for sc in [&hs, &ss] {
            assert!(!sc.families.is_empty(), "{q}");
            for f in sc.families.keys() {
                assert!(fams.iter().any(|p| f.starts_with(p)), "{q}: {f}");
            }
        }
    }
    for port in [fe_h, fe_s] {
        assert_eq!(get(port, "/metrics?scope=").1, "", "empty scope");
        assert_eq!(get(port, "/metrics?scope=bogus").0, 400);
        assert_eq!(get(port, "/metrics?scope").0, 400);
    }
    // no-maint: a server in maintenance is left out.
    ha.cli("disable server be/s2");
    sl.cli("disable server be/s2");
    for port in [fe_h, fe_s] {
        let all = scrape(port, "/metrics?scope=server");
        let s2 = "haproxy_server_status{proxy=\"be\",server=\"s2\",state=\"MAINT\"}";
        assert_eq!(all.samples.get(s2).map(String::as_str), Some("1"));
        let nm = scrape(port, "/metrics?scope=server&no-maint");
        assert!(nm.samples.keys().all(|k| !k.contains("server=\"s2\"")));
        assert!(nm.samples.keys().any(|k| k.contains("server=\"s1\"")));
    }
}

#[test]
fn unknown_service_is_a_config_error() {
    let dir = TempDir::new("promex-cfg");
    for (line, want) in [
        ("    http-request use-service lua.foo\n", "unknown service"),
        ("    http-request use-service\n", "expects a service name"),
    ] {
        let cfg = dir.join("bad.cfg");
        let text = format!(
            "defaults\n    mode http\n    timeout client 1s\nfrontend fe\n    bind 127.0.0.1:8080\n{line}"
        );
        write_file(&cfg, &text);
        let out = Command::new(proxy_mio())
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line}: accepted");
        assert!(err.contains("bad.cfg:6"), "{line}: {err}");
        assert!(err.contains(want), "{line}: {err}");
    }
}

/// The value of the first result of a Prometheus instant query.
fn prom_query(port: u16, q: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let enc: String = q
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    write!(
        s,
        "GET /api/v1/query?query={enc} HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    // ..."value":[1700000000.123,"6"]...
    let v = body.split("\"value\":[").nth(1)?;
    let v = v.split(',').nth(1)?;
    Some(v.split('"').nth(1)?.to_string())
}

#[test]
fn a_real_prometheus_scrapes_proxy_mio() {
    if !tool_or_skip("prometheus", "a_real_prometheus_scrapes_proxy_mio") {
        return;
    }
    let dir = TempDir::new("promex-prom");
    let srv = TestServer::start(0, fixed);
    let p = free_ports(3);
    let (fe, dead, web) = (p[0], p[1], p[2]);
    let sl = Sluice::run(
        &dir,
        "sl",
        &config(&dir.join("sl.sock"), fe, srv.port(), dead),
    );
    wait_checks(|| sl.cli("show stat"));
    for _ in 0..N {
        assert_eq!(get(fe, "/").0, 200);
    }
    let pcfg = dir.join("prometheus.yml");
    write_file(
        &pcfg,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:{fe}']\n"
        ),
    );
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", pcfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"));
    let prom = Proc::spawn("prometheus", cmd, dir.join("prometheus.log"));
    // The scrape succeeded (`up` is 1) and the server saw exactly N
    // sessions; the frontend also counts the scrapes.
    let got = poll(Duration::from_secs(60), Duration::from_millis(250), || {
        let up = prom_query(web, "up{job=\"sluice\"}")?;
        let s1 = prom_query(web, "haproxy_server_sessions_total{server=\"s1\"}")?;
        let fe_req = prom_query(web, "haproxy_frontend_http_requests_total{proxy=\"fe\"}")?;
        Some((up, s1, fe_req))
    });
    let Some((up, s1, fe_req)) = got else {
        panic!("prometheus did not answer:\n{}", prom.output());
    };
    assert_eq!(up, "1");
    assert_eq!(s1, N.to_string());
    let fe_req: usize = fe_req.parse().unwrap();
    assert!(
        fe_req > N,
        "haproxy_frontend_http_requests_total = {fe_req}"
    );
    let st = prom_query(web, "haproxy_server_status{server=\"s2\",state=\"DOWN\"}");
    assert_eq!(st.as_deref(), Some("1"));
    eprintln!(
        "prometheus: up=1 haproxy_server_sessions_total{{s1}}={s1} haproxy_frontend_http_requests_total={fe_req}"
    );
    drop(prom);
}

#[test]
fn the_exporter_answers_over_h2c() {
    if !tool_or_skip("curl", "the_exporter_answers_over_h2c") {
        return;
    }
    let dir = TempDir::new("promex-h2");
    let srv = TestServer::start(0, fixed);
    let p = free_ports(2);
    let cfg = config(&dir.join("sl.sock"), p[0], srv.port(), p[1]).replace(
        &format!("bind 127.0.0.1:{}", p[0]),
        &format!("bind 127.0.0.1:{} proto h2", p[0]),
    );
    let _sl = Sluice::run(&dir, "sl", &cfg);
    let out = Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "-m", "10"])
        .arg(format!("http://127.0.0.1:{}/metrics", p[0]))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    // Larger than the response buffer, streamed whole through the H2 mux.
    assert!(body.len() > 16384, "{} bytes over h2", body.len());
    let s = parse(&body);
    assert!(s.families.contains_key("haproxy_server_status"));
    assert!(body.ends_with("\n"));
}
