//! In-memory scenario tests of the TCP data path: client <-> engine <->
//! server, no sockets. Every test ends by checking that nothing leaked.

mod common;

use common::{addr, ServerMode, World};
use sluice_core::sock::CloseHow;

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";
const S2: &str = "127.0.0.1:9002";

fn cfg(extra_defaults: &str, backend: &str) -> String {
    format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n{extra_defaults}\
         listen app\n    bind {FE}\n{backend}"
    )
}

fn one_server(opts: &str) -> String {
    cfg("", &format!("    server s1 {S1} {opts}\n"))
}

fn last_log(w: &World) -> String {
    w.log_texts().last().cloned().unwrap_or_default()
}

/// The termination state field (after the byte count).
fn term(line: &str) -> String {
    line.split(' ').nth(6).unwrap_or("").to_string()
}

#[test]
fn echo_round_trip_closes_cleanly_and_logs() {
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Echo);
    let c = w.connect(FE);
    w.send(c, b"hello");
    assert_eq!(w.peers[c].from_engine, b"hello");
    w.fin(c);
    assert!(
        w.peers[c].fin_from_engine,
        "server FIN propagated to the client"
    );
    assert_eq!(w.peers[c].closed_by_engine, Some(CloseHow::Graceful));
    let log = last_log(&w);
    assert!(log.starts_with("10.0.0.1:"), "{log}");
    assert!(log.contains(" app app/s1 0/0/0 5 -- "), "{log}");
    w.assert_drained();
}

#[test]
fn client_half_close_reaches_server_and_response_still_flows() {
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"request");
    w.fin(c);
    let s = w.server_peer(S1, 0);
    assert_eq!(w.peers[s].from_engine, b"request");
    assert!(
        w.peers[s].fin_from_engine,
        "client FIN forwarded after the data"
    );
    assert!(
        w.peers[c].closed_by_engine.is_none(),
        "client side still open for the response"
    );
    w.send(s, b"response");
    assert_eq!(w.peers[c].from_engine, b"response");
    w.fin(s);
    assert!(w.peers[c].fin_from_engine);
    assert!(w.peers[c].closed_by_engine.is_some() && w.peers[s].closed_by_engine.is_some());
    assert_eq!(term(&last_log(&w)), "--");
    w.assert_drained();
}

#[test]
fn server_half_close_first() {
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let s = w.server_peer(S1, 0);
    w.send(s, b"banner");
    w.fin(s);
    assert_eq!(w.peers[c].from_engine, b"banner");
    assert!(w.peers[c].fin_from_engine);
    w.send(c, b"late");
    assert_eq!(
        w.peers[s].from_engine, b"late",
        "the other direction still flows"
    );
    w.fin(c);
    w.assert_drained();
}

#[test]
fn refused_connection_is_retried_then_reported_sc() {
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(c, b"data");
    // retries 3: one turn-around of 1 s after each refusal.
    w.advance(2900);
    assert!(w.peers[c].closed_by_engine.is_none(), "still retrying");
    w.advance(200);
    assert!(w.peers[c].closed_by_engine.is_some());
    let log = last_log(&w);
    assert_eq!(term(&log), "SC", "{log}");
    assert!(log.contains("/3 0/0"), "three retries: {log}");
    w.assert_drained();
}

#[test]
fn connect_timeout_is_reported_sc_lowercase() {
    let mut w = World::new(&cfg("    retries 0\n", &format!("    server s1 {S1}\n")));
    w.server(S1, ServerMode::Blackhole);
    let c = w.connect(FE);
    w.advance(999);
    assert!(w.peers[c].closed_by_engine.is_none());
    w.advance(2);
    assert!(w.peers[c].closed_by_engine.is_some());
    assert_eq!(term(&last_log(&w)), "sC");
    w.assert_drained();
}

#[test]
fn redispatch_moves_to_another_server_on_the_last_retry() {
    let mut w = World::new(&cfg(
        "    option redispatch\n    retries 1\n",
        &format!("    balance first\n    server s1 {S1}\n    server s2 {S2}\n"),
    ));
    w.server(S1, ServerMode::Refuse);
    w.server(S2, ServerMode::Echo);
    let c = w.connect(FE);
    w.advance(1001);
    w.send(c, b"x");
    assert_eq!(w.peers[c].from_engine, b"x");
    w.fin(c);
    let log = last_log(&w);
    assert!(log.contains("app/s2"), "{log}");
    assert!(
        log.contains("/+1 "),
        "redispatch shown in the retries: {log}"
    );
    w.assert_drained();
}

#[test]
fn maxconn_queues_then_serves_in_order() {
    let mut w = World::new(&one_server("maxconn 1"));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    let b = w.connect(FE);
    assert_eq!(
        w.accepted[&common::addr(S1)].len(),
        1,
        "second stream queued"
    );
    w.send(b, b"queued data");
    w.fin(a);
    let sa = w.server_peer(S1, 0);
    w.fin(sa);
    assert_eq!(
        w.accepted[&common::addr(S1)].len(),
        2,
        "slot handed to the queued stream"
    );
    let sb = w.server_peer(S1, 1);
    assert_eq!(w.peers[sb].from_engine, b"queued data");
    w.fin(b);
    w.fin(sb);
    w.assert_drained();
}

#[test]
fn queue_timeout_is_reported_sq() {
    let mut w = World::new(&cfg(
        "    timeout queue 500\n",
        &format!("    server s1 {S1} maxconn 1\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    let b = w.connect(FE);
    w.advance(501);
    assert!(w.peers[b].closed_by_engine.is_some());
    assert_eq!(term(&last_log(&w)), "sQ");
    w.fin(a);
    let sa = w.server_peer(S1, 0);
    w.fin(sa);
    w.assert_drained();
}

#[test]
fn client_reset_at_every_stage_leaks_nothing() {
    // While connecting.
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Blackhole);
    let c = w.connect(FE);
    w.rst(c);
    assert_eq!(term(&last_log(&w)), "CC");
    w.assert_drained();
    // While queued.
    let mut w = World::new(&one_server("maxconn 1"));
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    let b = w.connect(FE);
    w.rst(b);
    assert_eq!(term(&last_log(&w)), "CQ");
    w.rst(a);
    assert_eq!(term(&last_log(&w)), "CD");
    w.assert_drained();
    // During data, with data in flight both ways.
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let s = w.server_peer(S1, 0);
    w.peers[c].window = Some(0);
    w.send(s, &[7u8; 50_000]);
    w.send(c, b"abc");
    w.rst(c);
    assert!(
        w.peers[s].closed_by_engine.is_some(),
        "server side closed too"
    );
    w.assert_drained();
}

#[test]
fn server_reset_during_data_flushes_what_the_client_can_still_get() {
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let s = w.server_peer(S1, 0);
    w.peers[c].window = Some(10);
    w.send(s, b"0123456789abcdef");
    w.rst(s);
    assert_eq!(w.peers[c].from_engine, b"0123456789");
    w.peers[c].window = None;
    w.run();
    assert_eq!(
        w.peers[c].from_engine, b"0123456789abcdef",
        "buffered data delivered after the reset"
    );
    assert!(w.peers[c].fin_from_engine);
    assert_eq!(term(&last_log(&w)), "SD");
    w.assert_drained();
}

#[test]
fn client_and_server_timeouts() {
    let mut w = World::new(&cfg(
        "",
        &format!("    timeout client 2s\n    timeout server 5s\n    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.advance(1999);
    assert!(w.peers[c].closed_by_engine.is_none());
    w.advance(2);
    assert!(w.peers[c].closed_by_engine.is_some());
    assert_eq!(term(&last_log(&w)), "cD");
    w.assert_drained();

    let mut w = World::new(&cfg(
        "",
        &format!("    timeout client 20s\n    timeout server 3s\n    server s1 {S1}\n"),
    ));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"ping");
    w.advance(3001);
    assert_eq!(term(&last_log(&w)), "sD");
    assert!(w.peers[c].closed_by_engine.is_some());
    w.assert_drained();
}

#[test]
fn tunnel_timeout_replaces_client_and_server_once_established() {
    let mut w = World::new(&cfg("", &format!("    timeout client 1s\n    timeout server 1s\n    timeout tunnel 10s\n    server s1 {S1}\n")));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.advance(5000);
    assert!(
        w.peers[c].closed_by_engine.is_none(),
        "tunnel timeout applies"
    );
    w.advance(5001);
    assert!(w.peers[c].closed_by_engine.is_some());
    w.assert_drained();
}

#[test]
fn large_transfer_with_backpressure_is_byte_exact() {
    let mut w = World::new(&one_server(""));
    w.server(S1, ServerMode::Echo);
    let c = w.connect(FE);
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    // The client reads slowly: 64 KiB at a time.
    let mut sent = 0;
    while sent < data.len() {
        let n = (data.len() - sent).min(100_000);
        w.peers[c].to_engine.extend(&data[sent..sent + n]);
        sent += n;
        let target = w.peers[c].from_engine.len() + 65536;
        w.peers[c].window = Some(target);
        w.run();
    }
    w.peers[c].window = None;
    w.fin(c);
    assert_eq!(w.peers[c].from_engine.len(), data.len());
    assert!(w.peers[c].from_engine == data, "bytes differ");
    w.assert_drained();
}

#[test]
fn frontend_maxconn_pauses_and_resumes_the_listener() {
    let mut w = World::new(&cfg("", &format!("    maxconn 1\n    server s1 {S1}\n")));
    w.server(S1, ServerMode::Echo);
    let a = w.connect(FE);
    assert_eq!(w.paused.len(), 1, "listener paused at maxconn");
    w.fin(a);
    assert!(w.paused.is_empty(), "listener resumed once a slot is free");
    let b = w.connect(FE);
    w.fin(b);
    w.assert_drained();
}

#[test]
fn buffer_exhaustion_waits_and_never_stalls() {
    let mut w = World::new(&one_server(""));
    w.engine.set_pool_limit(2);
    w.server(S1, ServerMode::Manual);
    let a = w.connect(FE);
    let b = w.connect(FE);
    let (sa, sb) = (w.server_peer(S1, 0), w.server_peer(S1, 1));
    // Servers do not read: both request buffers fill and stay.
    w.peers[sa].window = Some(0);
    w.peers[sb].window = Some(0);
    w.send(a, b"from a");
    w.send(b, b"from b");
    // Both buffers are taken: the responses have to wait for one.
    w.send(sa, b"to a");
    assert!(
        w.peers[a].from_engine.is_empty(),
        "no buffer for the response yet"
    );
    w.peers[sa].window = None;
    w.run();
    assert_eq!(w.peers[sa].from_engine, b"from a");
    assert_eq!(
        w.peers[a].from_engine, b"to a",
        "woken once a buffer came back"
    );
    w.peers[sb].window = None;
    w.run();
    assert_eq!(w.peers[sb].from_engine, b"from b");
    for p in [a, b, sa, sb] {
        w.fin(p);
    }
    w.assert_drained();
}

#[test]
fn accept_proxy_uses_the_header_addresses_and_rejects_garbage() {
    let text = cfg("", &format!("    server s1 {S1}\n"))
        .replace(&format!("bind {FE}"), &format!("bind {FE} accept-proxy"));
    let mut w = World::new(&text);
    w.server(S1, ServerMode::Echo);
    let c = w.connect(FE);
    assert!(
        w.accepted.is_empty(),
        "no server connection before the header"
    );
    w.send(c, b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 80\r\nhi");
    assert_eq!(w.peers[c].from_engine, b"hi");
    w.fin(c);
    assert!(
        last_log(&w).starts_with("192.0.2.7:5555 "),
        "{}",
        last_log(&w)
    );
    w.assert_drained();

    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.1\r\n\r\n");
    assert!(w.peers[c].closed_by_engine.is_some());
    assert!(
        last_log(&w).contains("does not look like a PROXY protocol header"),
        "{}",
        last_log(&w)
    );
    w.assert_drained();
}

#[test]
fn send_proxy_prefixes_the_server_connection() {
    let mut w = World::new(&one_server("send-proxy"));
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    w.send(c, b"x");
    let s = w.server_peer(S1, 0);
    let got = String::from_utf8_lossy(&w.peers[s].from_engine).to_string();
    assert!(got.starts_with("PROXY TCP4 10.0.0.1 127.0.0.1 "), "{got}");
    assert!(got.ends_with("\r\nx"), "{got}");
    w.fin(c);
    w.fin(s);
    w.assert_drained();
}

#[test]
fn health_checks_take_a_server_down_and_up() {
    let mut w = World::new(&cfg(
        "",
        &format!(
            "    server s1 {S1} check inter 1s rise 2 fall 3\n    server s2 {S2} check inter 1s\n"
        ),
    ));
    w.server(S1, ServerMode::Refuse);
    w.server(S2, ServerMode::Echo);
    w.advance(1500);
    assert!(
        w.log_texts()
            .iter()
            .any(|l| l.starts_with("Server app/s1 is DOWN")),
        "{:?}",
        w.log_texts()
    );
    // All traffic goes to s2 now.
    for _ in 0..3 {
        let c = w.connect(FE);
        w.fin(c);
        assert!(last_log(&w).contains("app/s2"), "{}", last_log(&w));
    }
    w.server(S1, ServerMode::Echo);
    w.advance(2500);
    assert!(
        w.log_texts()
            .iter()
            .any(|l| l.starts_with("Server app/s1 is UP")),
        "{:?}",
        w.log_texts()
    );
    w.assert_drained();
}

#[test]
fn show_stat_is_haproxy_csv_and_counts_traffic() {
    let mut w = World::new(&cfg(
        "",
        &format!("    server s1 {S1}\n    server s2 {S2} check\n"),
    ));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    for _ in 0..4 {
        let c = w.connect(FE);
        w.send(c, b"12345");
        w.fin(c);
    }
    let now = w.now;
    let out = w.engine.cli_request(now, "show stat");
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,"),
        "{header}"
    );
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4, "FRONTEND, s1, s2, BACKEND");
    for r in &rows {
        assert_eq!(r.len(), cols.len(), "every row has every column");
    }
    let fe = &rows[0];
    assert_eq!(
        (
            fe[col("svname")],
            fe[col("stot")],
            fe[col("bin")],
            fe[col("status")]
        ),
        ("FRONTEND", "4", "20", "OPEN")
    );
    let (s1, s2, be) = (&rows[1], &rows[2], &rows[3]);
    assert_eq!(
        (s1[col("stot")], s2[col("stot")]),
        ("2", "2"),
        "round robin"
    );
    // As HAProxy: a checked server starts at health `rise`, shown "UP 1/3".
    assert_eq!(
        (s1[col("status")], s2[col("status")]),
        ("no check", "UP 1/3")
    );
    assert_eq!(
        (
            be[col("svname")],
            be[col("stot")],
            be[col("bout")],
            be[col("algo")]
        ),
        ("BACKEND", "4", "20", "roundrobin")
    );
    w.assert_drained();
}

#[test]
fn server_admin_commands_steer_traffic() {
    let mut w = World::new(&cfg(
        "",
        &format!("    server s1 {S1}\n    server s2 {S2}\n"),
    ));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    let now = w.now;
    assert_eq!(
        w.engine.cli_request(now, "set server app/s1 state maint"),
        ""
    );
    for _ in 0..3 {
        let c = w.connect(FE);
        w.fin(c);
        assert!(last_log(&w).contains("app/s2"), "{}", last_log(&w));
    }
    assert_eq!(w.engine.cli_request(now, "enable server app/s1"), "");
    assert_eq!(w.engine.cli_request(now, "set weight app/s2 0"), "");
    assert_eq!(
        w.engine.cli_request(now, "get weight app/s2"),
        "0 (initial 1)\n"
    );
    for _ in 0..3 {
        let c = w.connect(FE);
        w.fin(c);
        assert!(last_log(&w).contains("app/s1"), "{}", last_log(&w));
    }
    assert_eq!(
        w.engine.cli_request(now, "set weight app/s2 x"),
        "Empty weight string empty or preceded by garbage\n"
    );
    assert_eq!(
        w.engine.cli_request(now, "disable server app/nope"),
        "No such server.\n"
    );
    assert!(w.log_texts().iter().any(|l| l
        == "Server app/s1 is going DOWN for maintenance. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."));
    w.assert_drained();
}

/// `disable server` / `enable server` / drain log HAProxy 2.6's lines at
/// its levels to the backend's log targets (HAProxy's
/// checks/4be_1srv_health_checks.vtc), the last usable server going
/// bringing `backend ... has no server available!` at `emerg`.
#[test]
fn server_admin_changes_log_to_the_backend() {
    use sluice_core::sock::LogLevel;
    let mut w = World::new(&cfg(
        "",
        &format!("    server s1 {S1}\n    server s2 {S2} backup\n"),
    ));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    let now = w.now;
    for c in [
        "disable server app/s1",
        "disable server app/s2",
        "enable server app/s2",
        "enable server app/s1",
        "set server app/s1 state drain",
        "disable server app/s1",
    ] {
        assert_eq!(w.engine.cli_request(now, c), "", "{c}");
    }
    // A connection drains the engine's actions; its traffic line (info)
    // is left out.
    let c = w.connect(FE);
    w.fin(c);
    let got: Vec<(LogLevel, String)> = w
        .logs
        .iter()
        .filter(|l| l.level <= LogLevel::Notice)
        .inspect(|l| {
            let px = l.proxy.and_then(|p| w.engine.proxy_name(p));
            assert_eq!(px, Some("app"), "{}", l.text)
        })
        .map(|l| (l.level, l.text.clone()))
        .collect();
    let want = [
        (LogLevel::Alert, "Server app/s1 is going DOWN for maintenance. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."),
        (LogLevel::Alert, "Backup Server app/s2 is going DOWN for maintenance. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."),
        (LogLevel::Emerg, "backend app has no server available!"),
        (LogLevel::Notice, "Backup Server app/s2 is UP/READY (leaving forced maintenance)."),
        (LogLevel::Notice, "Server app/s1 is UP/READY (leaving forced maintenance)."),
        (LogLevel::Notice, "Server app/s1 enters drain state. 0 active and 1 backup servers online. Running on backup. 0 sessions requeued, 0 total in queue."),
        (LogLevel::Notice, "Server app/s1 is going DOWN for maintenance. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."),
    ];
    let want: Vec<(LogLevel, String)> = want.iter().map(|(l, t)| (*l, t.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn splice_takes_over_a_tunnel_and_keeps_accounting() {
    let text = cfg("    option splice-auto\n", &format!("    server s1 {S1}\n"));
    let mut w = World::with_splice(&text, true);
    w.server(S1, ServerMode::Manual);
    let c = w.connect(FE);
    let s = w.server_peer(S1, 0);
    assert_eq!(
        w.spliced, 2,
        "both directions spliced once established and empty"
    );
    w.send(c, &[1u8; 100_000]);
    assert_eq!(w.peers[s].from_engine.len(), 100_000);
    w.send(s, &[2u8; 70_000]);
    assert_eq!(w.peers[c].from_engine.len(), 70_000);
    w.fin(c);
    assert!(
        w.peers[s].fin_from_engine,
        "read0 after splicing still half-closes"
    );
    w.fin(s);
    let log = last_log(&w);
    assert!(
        log.contains(" 70000 -- "),
        "bytes counted while spliced: {log}"
    );
    let now = w.now;
    let stat = w.engine.cli_request(now, "show stat");
    assert!(
        stat.lines()
            .any(|l| l.starts_with("app,FRONTEND,") && l.contains(",100000,70000,")),
        "{stat}"
    );
    w.assert_drained();
}

/// The same sequence as a real HAProxy 2.6 run (see the commit message):
/// tracking counts the connection at once, so the third connection within
/// the period is rejected by `sc0_conn_rate gt 2`.
#[test]
fn track_sc0_and_reject_on_conn_rate_like_haproxy() {
    let text = cfg(
        "",
        &format!(
            "    stick-table type ip size 1k expire 1m store conn_cnt,conn_cur,conn_rate(10s),sess_cnt,sess_rate(10s),bytes_in_cnt,bytes_out_cnt,gpc0\n\
             \x20   tcp-request connection track-sc0 src\n\
             \x20   tcp-request connection reject if {{ sc0_conn_rate gt 2 }}\n\
             \x20   server s1 {S1}\n"
        ),
    );
    let mut w = World::new(&text);
    w.server(S1, ServerMode::Echo);
    let a = w.connect(FE);
    w.send(a, b"hi\n");
    w.fin(a);
    let now = w.now;
    let t = w.engine.cli_request(now, "show table app");
    assert!(t.contains("key=10.0.0.1 use=0 exp=60000 gpc0=0 conn_cnt=1 conn_rate(10000)=1 conn_cur=0 sess_cnt=1 sess_rate(10000)=1 bytes_in_cnt=3 bytes_out_cnt=3"), "{t}");
    let b = w.connect(FE);
    let t = w.engine.cli_request(now, "show table app");
    assert!(
        t.contains("use=1 exp=60000 gpc0=0 conn_cnt=2 conn_rate(10000)=2 conn_cur=1 sess_cnt=2"),
        "{t}"
    );
    let c = w.connect(FE);
    assert!(
        w.peers[c].closed_by_engine.is_some(),
        "third connection rejected"
    );
    let t = w.engine.cli_request(now, "show table app");
    assert!(
        t.contains("conn_cnt=3 conn_rate(10000)=3 conn_cur=1 sess_cnt=2"),
        "{t}"
    );
    w.fin(b);
    let sb = w.server_peer(S1, 1);
    w.fin(sb);
    assert_eq!(
        w.stat("app", "FRONTEND", "dcon"),
        "1",
        "dcon counts the rejected connection"
    );
    w.assert_drained();
}

#[test]
fn session_rules_see_proxy_addresses_connection_rules_the_real_one() {
    let text = cfg(
        "",
        &format!(
            "    tcp-request connection reject if {{ src 192.0.2.0/24 }}\n\
             \x20   tcp-request session reject if {{ src 198.51.100.7 }}\n\
             \x20   server s1 {S1}\n"
        ),
    )
    .replace(&format!("bind {FE}"), &format!("bind {FE} accept-proxy"));
    let mut w = World::new(&text);
    w.server(S1, ServerMode::Echo);
    // The real peer is 10.0.0.1: the connection rule does not fire even
    // though the header says 192.0.2.9.
    let c = w.connect(FE);
    w.send(c, b"PROXY TCP4 192.0.2.9 203.0.113.1 1000 80\r\nok");
    assert_eq!(w.peers[c].from_engine, b"ok");
    w.fin(c);
    // The session rule sees the PROXY source.
    let d = w.connect(FE);
    w.send(d, b"PROXY TCP4 198.51.100.7 203.0.113.1 1000 80\r\nnope");
    assert!(w.peers[d].closed_by_engine.is_some());
    assert!(w.peers[d].from_engine.is_empty());
    w.assert_drained();
}

/// Found by the simulator (`tcp-proxy`, `accept-proxy`): bytes that came
/// in the same read as the PROXY header were forwarded but not counted in
/// `bin` (nor on tracked entries), so `show stat` drifted from the traffic.
#[test]
fn bytes_read_with_the_proxy_header_are_counted() {
    let text = cfg("", &format!("    server s1 {S1}\n"))
        .replace(&format!("bind {FE}"), &format!("bind {FE} accept-proxy"));
    let mut w = World::new(&text);
    w.server(S1, ServerMode::Echo);
    let c = w.connect(FE);
    w.send(c, b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 80\r\nhello");
    w.send(c, b" world");
    assert_eq!(w.peers[c].from_engine, b"hello world");
    w.fin(c);
    for row in ["FRONTEND", "BACKEND"] {
        assert_eq!(w.stats("app", row, &["bin", "bout"]), ["11", "11"], "{row}");
    }
    w.assert_drained();
}

/// Found by the simulator (`tcp-proxy`, every accepted connection must log
/// one line): a client reset while its PROXY header was awaited vanished
/// without a log line, where HAProxy logs `CO_ER_PRX_ABORT`. The messages
/// are HAProxy 2.6's; `option dontlognull` silences closes and errors, not
/// garbage.
#[test]
fn proxy_header_handshake_failures_are_logged_like_haproxy() {
    let text = cfg("", &format!("    server s1 {S1}\n"))
        .replace(&format!("bind {FE}"), &format!("bind {FE} accept-proxy"));
    let mut w = World::new(&text);
    w.server(S1, ServerMode::Echo);
    let c = w.connect(FE);
    w.send(c, b"PROXY TCP4 192.0.2");
    w.rst(c);
    assert!(
        last_log(&w).ends_with("app/1: Connection error while waiting for PROXY protocol header"),
        "{}",
        last_log(&w)
    );
    w.assert_drained();
    let c = w.connect(FE);
    w.fin(c);
    assert!(
        last_log(&w).ends_with(": Connection closed while waiting for PROXY protocol header"),
        "{}",
        last_log(&w)
    );
    w.assert_drained();
    let _c = w.connect(FE);
    w.advance(10_001);
    assert!(
        last_log(&w).ends_with(": Timeout while waiting for PROXY protocol header"),
        "{}",
        last_log(&w)
    );
    w.assert_drained();

    let quiet = text.replace(
        "    option tcplog\n",
        "    option tcplog\n    option dontlognull\n",
    );
    let mut w = World::new(&quiet);
    w.server(S1, ServerMode::Echo);
    let c = w.connect(FE);
    w.rst(c);
    let c = w.connect(FE);
    w.fin(c);
    assert!(w.logs.is_empty(), "{:?}", w.log_texts());
    let c = w.connect(FE);
    w.send(c, b"GET / HTTP/1.0\r\n\r\n");
    assert!(last_log(&w).contains("does not look like a PROXY protocol header"));
    w.assert_drained();
}

/// Found by the simulator (`tcp-proxy`, the hang oracle): with a hashing
/// `balance` (or persistence), a server whose queue was at `maxqueue` was
/// "left for the balancer to choose", which picked it again, and again:
/// the stream sat in REQ with no timer, forever. As HAProxy's
/// `srv_redispatch_connect` (`SRV_STATUS_FULL`), a persistent stream may
/// be redispatched once with `option redispatch`; otherwise it fails.
#[test]
fn a_full_server_queue_under_a_hashing_balance_fails_instead_of_spinning() {
    for redispatch in ["", "    option redispatch\n"] {
        let mut w = World::new(&cfg(
            redispatch,
            &format!(
                "    balance source\n    server s1 {S1} maxconn 1 maxqueue 1\n    server s2 {S2} maxconn 1 maxqueue 1\n"
            ),
        ));
        w.server(S1, ServerMode::Manual);
        w.server(S2, ServerMode::Manual);
        let a = w.connect(FE);
        let b = w.connect(FE);
        let c = w.connect(FE);
        assert!(w.peers[a].closed_by_engine.is_none());
        assert!(
            w.peers[b].closed_by_engine.is_none(),
            "b waits in the queue"
        );
        assert!(
            w.peers[c].closed_by_engine.is_some(),
            "no room for c anywhere the hash allows: {:?}",
            w.log_texts()
        );
        let log = last_log(&w);
        assert_eq!(term(&log), "RQ", "{log}");
        w.rst(b);
        w.rst(a);
        for p in w.accepted.values().flatten().copied().collect::<Vec<_>>() {
            w.fin(p);
        }
        w.assert_drained();
    }
}

/// Regression: the turn-around before retrying a refused connection was
/// always 1 s; HAProxy waits MIN(1 s, timeout connect) (compared in
/// tests/tcp_proxy.rs `retries_and_turn_around_like_haproxy`).
#[test]
fn turn_around_is_at_most_timeout_connect() {
    let mut w = World::new(
        &cfg("    retries 2\n", &format!("    server s1 {S1}\n"))
            .replace("timeout connect 1s", "timeout connect 200ms"),
    );
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.advance(399);
    assert!(w.peers[c].closed_by_engine.is_none(), "still retrying");
    w.advance(1);
    assert!(
        w.peers[c].closed_by_engine.is_some(),
        "two retries, 200 ms apart"
    );
    let log = last_log(&w);
    assert!(
        log.contains(" 0/-1/400 0 SC ") && log.contains("/2 0/0"),
        "{log}"
    );
    w.assert_drained();
}

/// Regression: with `balance roundrobin` over several active servers and
/// `option redispatch`, HAProxy redispatches at every retry without a
/// turn-around; Sluice retried the same server after 1 s each time and
/// redispatched only on the last retry.
#[test]
fn round_robin_redispatches_every_retry_at_once() {
    let mut w = World::new(&cfg(
        "    option redispatch\n    retries 2\n",
        &format!("    balance roundrobin\n    server s1 {S1}\n    server s2 {S2}\n"),
    ));
    w.server(S1, ServerMode::Refuse);
    w.server(S2, ServerMode::Refuse);
    let c = w.connect(FE);
    assert!(
        w.peers[c].closed_by_engine.is_some(),
        "three attempts, no wait"
    );
    let log = last_log(&w);
    // s1, s2, s1: the last attempt is logged, with the redispatch.
    assert!(
        log.contains(" app app/s1 0/-1/0 0 SC ") && log.contains("/+2 0/0"),
        "{log}"
    );
    w.assert_drained();

    // One server refuses, the other answers: the retry goes there at once.
    w.server(S2, ServerMode::Echo);
    let c = w.connect(FE);
    w.send(c, b"x");
    assert_eq!(w.peers[c].from_engine, b"x");
    w.fin(c);
    let log = last_log(&w);
    assert!(
        log.contains(" app app/s2 ") && log.contains(" -- "),
        "{log}"
    );
    w.assert_drained();
}

/// `hard-stop-after`: a soft stop waits for live connections at most that
/// long, then closes them, logs why, and exits (HAProxy's
/// `hard_stop_after`); without it, a soft stop waits for them.
#[test]
fn hard_stop_after_ends_a_soft_stop_that_waits_too_long() {
    use sluice_core::engine::StopMode;
    for hard_stop in [Some(5_000u64), None] {
        let global = match hard_stop {
            Some(ms) => format!("    hard-stop-after {ms}ms\n"),
            None => String::new(),
        };
        let text = one_server("").replacen("global\n", &format!("global\n{global}"), 1);
        let mut w = World::new(&text);
        w.server(S1, ServerMode::Echo);
        let c = w.connect(FE);
        w.send(c, b"hello");
        let now = w.now;
        w.engine.stop(now, StopMode::Soft);
        w.run();
        w.advance(4_000);
        assert!(!w.exited, "still waiting for the live connection");
        assert!(w.peers[c].closed_by_engine.is_none());
        w.advance(2_000);
        match hard_stop {
            Some(_) => {
                assert!(w.exited, "hard-stop-after expired: the process exits");
                assert!(w.peers[c].closed_by_engine.is_some());
                assert!(
                    w.log_texts()
                        .iter()
                        .any(|l| l.contains("hard-stop-after expired")),
                    "{:?}",
                    w.log_texts()
                );
                w.assert_drained();
            }
            None => {
                assert!(!w.exited, "no hard-stop-after: the soft stop waits");
                assert!(w.peers[c].closed_by_engine.is_none());
                w.fin(c);
                assert!(w.exited, "the last connection ended: the process exits");
            }
        }
    }
}

/// The state and last check status of `be/srv` in `show stat`.
fn srv_state(w: &mut World, be: &str, srv: &str) -> (String, String) {
    let f = w.stats(be, srv, &["status", "check_status"]);
    // The `* ` of a check in progress is checked apart.
    let st = f[1].trim_start_matches("* ");
    (f[0].clone(), st.to_string())
}

/// `option tcp-check` scripts, `option redis-check`, `check port`: the
/// server is up when its script passes, down with HAProxy's status when an
/// expect fails or never matches.
#[test]
fn scripted_checks_and_check_port() {
    // (backend lines, server options, server mode, status, check status)
    let cases: &[(&str, &str, ServerMode, &str, &str)] = &[
        // The echo server sends back what the script sends.
        (
            "    option tcp-check\n    tcp-check send hello\\r\\n\n    tcp-check expect string hello\n",
            "",
            ServerMode::Echo,
            "UP",
            "L7OK",
        ),
        (
            "    option tcp-check\n    tcp-check connect\n    tcp-check send-binary 50494e470d0a\n    tcp-check expect rstring ^PI.G\n    tcp-check send x\n    tcp-check expect binary 78\n",
            "",
            ServerMode::Echo,
            "UP",
            "L7OK",
        ),
        // Never matched: the check times out (`timeout check`).
        (
            "    option tcp-check\n    tcp-check send PING\\r\\n\n    tcp-check expect string +PONG\n",
            "",
            ServerMode::Echo,
            "DOWN",
            "L7TOUT",
        ),
        (
            "    option redis-check\n",
            "",
            ServerMode::Echo,
            "DOWN",
            "L7TOUT",
        ),
        // A negated expect fails at once on a match.
        (
            "    option tcp-check\n    tcp-check send ERR\n    tcp-check expect ! string ERR\n",
            "",
            ServerMode::Echo,
            "DOWN",
            "L7RSP",
        ),
        // `option tcp-check` without rules: a connect check.
        ("    option tcp-check\n", "", ServerMode::Echo, "UP", "L4OK"),
        // `check port` probes another port: refused there.
        ("", "port 9009", ServerMode::Echo, "DOWN", "L4CON"),
        // `tcp-check connect port` too.
        (
            "    option tcp-check\n    tcp-check connect port 9009\n",
            "",
            ServerMode::Echo,
            "DOWN",
            "L4CON",
        ),
        // The server refuses, `check port` goes elsewhere (an echo).
        ("", "port 9002", ServerMode::Refuse, "UP", "L4OK"),
    ];
    for (be, opts, mode, status, check) in cases {
        let mut w = World::new(&cfg(
            "    timeout check 500ms\n",
            &format!("{be}    server s1 {S1} check inter 1s fall 1 {opts}\n"),
        ));
        w.server(S1, *mode);
        w.server(S2, ServerMode::Echo);
        w.server("127.0.0.1:9009", ServerMode::Refuse);
        w.advance(1800);
        let got = srv_state(&mut w, "app", "s1");
        if *check == "L7TOUT" {
            // The next check (at 1500 ms) waits for its expect now: `show
            // stat` marks it in progress, as HAProxy does.
            let now = w.now;
            let out = w.engine.cli_request(now, "show stat");
            assert!(out.contains(",* L7TOUT,"), "{out}");
        }
        assert_eq!(
            (got.0.as_str(), got.1.as_str()),
            (*status, *check),
            "{be:?} {opts:?}: {:?}",
            w.log_texts()
        );
    }
}

/// Several `tcp-check connect` rules in one check (HAProxy's
/// checks/tcp-check_multiple_ports.vtc): each connect closes the
/// connection before and opens its own; a refused one fails the check
/// with HAProxy's info naming its step and port.
#[test]
fn tcp_check_several_connects() {
    // (rules, status, check status, last_chk, connections to S2)
    let cases: &[(&str, &str, &str, &str, usize)] = &[
        (
            "    tcp-check connect port 9002\n    tcp-check send hi\n    tcp-check expect string hi\n    tcp-check connect port 9009\n",
            "DOWN",
            "L4CON",
            "Connection refused at step 4 of tcp-check (connect port 9009)",
            1,
        ),
        (
            "    tcp-check connect port 9009 comment c1\n    tcp-check connect port 9002\n",
            "DOWN",
            "L4CON",
            "Connection refused at step 1 of tcp-check (connect port 9009) comment: 'c1'",
            0,
        ),
        // Two connections to S2, by port then by address; the last
        // rule is a connect: L4OK `(tcp-check)`.
        (
            "    tcp-check connect port 9002\n    tcp-check send hi\n    tcp-check expect string hi\n    tcp-check connect addr 127.0.0.1:9002 linger\n",
            "UP",
            "L4OK",
            "(tcp-check)",
            2,
        ),
        // The implicit connect (to the server, refusing) is step 0.
        (
            "    tcp-check send x\n",
            "DOWN",
            "L4CON",
            "Connection refused at initial connection step of tcp-check",
            0,
        ),
        ("", "UP", "L4OK", "", 0),
    ];
    // A `connect()` failing at once (HAProxy's
    // checks/4be_1srv_smtpchk_httpchk_layer47errors.vtc: 255.255.255.255).
    let mut w = World::new(&cfg(
        "",
        &format!("    server s1 {S1} check inter 1s fall 1\n"),
    ));
    w.server(S1, ServerMode::Unreachable);
    w.advance(900);
    assert_eq!(
        w.stats("app", "s1", &["status", "check_status", "last_chk"]),
        [
            "DOWN",
            "L4CON",
            "General socket error (Network is unreachable)"
        ]
    );
    for (rules, status, check, info, s2) in cases {
        let mut w = World::new(&cfg(
            "    timeout check 500ms\n",
            &format!("    option tcp-check\n{rules}    server s1 {S1} check inter 1s fall 1\n"),
        ));
        let s1_mode = if rules.is_empty() {
            ServerMode::Echo
        } else {
            ServerMode::Refuse
        };
        w.server(S1, s1_mode);
        w.server(S2, ServerMode::Echo);
        w.server("127.0.0.1:9009", ServerMode::Refuse);
        w.advance(900);
        let got = srv_state(&mut w, "app", "s1");
        let last = w.stats("app", "s1", &["last_chk"]);
        assert_eq!(
            (got.0.as_str(), got.1.as_str(), last[0].as_str()),
            (*status, *check, *info),
            "{rules:?}: {:?}",
            w.log_texts()
        );
        let n = w.accepted.get(&addr(S2)).map_or(0, Vec::len);
        assert_eq!(n, *s2, "{rules:?}");
    }
}

/// `http-check set-var(check.x)` / `unset-var`, `hdr name-lf` /
/// `value-lf` and `fhdr` on the response (HAProxy's
/// checks/http-check-expect.vtc): each rule in order, the variables set
/// from the response and read by the later rules' log-format patterns.
#[test]
fn http_check_vars_and_log_format_header_patterns() {
    let rsp: &[u8] = b"HTTP/1.1 202 Accepted\r\nx-test1: true, next value\r\nx-test2: true, begin-value, value-end\r\nx-hdr-name: x-test1\r\ncontent-length: 0\r\n\r\n";
    // (rules, check status, last_chk)
    let cases: &[(&str, &str, &str)] = &[
        (
            "    http-check expect status 200-399\n    http-check set-var(check.hdr_name) res.fhdr(x-hdr-name)\n    http-check expect hdr name-lf -m str \"%[var(check.hdr_name)]\"\n    http-check expect hdr name-lf -m str \"%[res.fhdr(x-hdr-name)]\"\n    http-check expect fhdr name \"x-test1\" value \"true, next value\"\n    http-check set-var(check.hdr_value) str(x-test1)\n    http-check expect hdr name -m beg \"x-\" value-lf -m str \"%[var(check.hdr_value)]\"\n    http-check expect hdr name -m beg x-test value -m end -end\n    http-check expect hdr name -m reg \"^[a-z]+-Hdr-[a-z]+\\$\"\n",
            "L7OK",
            "",
        ),
        // Unset, the variable is empty: no header named so.
        (
            "    http-check set-var(check.n) str(x-test1)\n    http-check unset-var(check.n)\n    http-check expect hdr name-lf \"%[var(check.n)]\"\n",
            "L7STS",
            "Accepted",
        ),
        // `hdr` splits on commas, `fhdr` does not.
        (
            "    http-check expect hdr name x-test1 value \"true, next value\"\n",
            "L7STS",
            "Accepted",
        ),
    ];
    for (rules, check, info) in cases {
        let mut w = World::new(&cfg(
            "    timeout check 500ms\n",
            &format!("    option httpchk\n{rules}    server s1 {S1} check inter 1s fall 1\n"),
        ));
        w.server(S1, ServerMode::Manual);
        w.advance(5);
        let p = w.server_peer(S1, 0);
        w.send(p, rsp);
        let got = w.stats("app", "s1", &["check_status", "last_chk"]);
        assert_eq!(
            (got[0].as_str(), got[1].as_str()),
            (*check, *info),
            "{rules:?}: {:?}",
            w.log_texts()
        );
    }
    // What a check cannot read is refused when the engine is built.
    let text = cfg(
        "",
        &format!("    option httpchk\n    http-check set-var(check.x) req.hdr(host)\n    server s1 {S1} check\n"),
    );
    let parsed = sluice_core::cfgparse::parse(
        "t.cfg",
        &text,
        sluice_core::cfgparse::ParseOptions::new("h"),
    )
    .expect("parses");
    let none = |_: &str, _: u16| None;
    let e = match sluice_core::engine::Engine::from_config(
        sluice_core::time::Time::ZERO,
        &parsed.config,
        sluice_core::engine::EngineOptions::default(),
        &none,
    ) {
        Ok(_) => panic!("req.hdr in a check was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("fetch method 'req.hdr' is not supported by Sluice in a health check"),
        "{e}"
    );
}

/// `option logasap` in TCP: the connection is logged once its server
/// connection is established, before any byte flows (`%Tt` ends then,
/// `%B` is 0, both with `+`); nothing more at its end. Without data at
/// all, `dontlognull` does not hold the early line back (HAProxy's
/// `back_establish` logs regardless).
#[test]
fn logasap_logs_at_connection_once() {
    for extra in [
        "    option logasap\n",
        "    option logasap\n    option dontlognull\n",
    ] {
        let mut w = World::new(&cfg(extra, &format!("    server s1 {S1}\n")));
        w.server(S1, ServerMode::Manual);
        let c = w.connect(FE);
        let s = w.server_peer(S1, 0);
        assert_eq!(w.log_texts().len(), 1, "{extra:?}: {:?}", w.log_texts());
        let early = last_log(&w);
        assert!(early.contains(" app app/s1 0/0/+0 +0 -- "), "{early}");
        w.advance(40);
        w.send(c, b"ping");
        w.send(s, b"pong!");
        assert_eq!(w.peers[c].from_engine, b"pong!");
        w.fin(c);
        w.fin(s);
        w.advance(1000);
        assert_eq!(w.log_texts(), vec![early.clone()], "{extra:?}: logged once");
        w.assert_drained();
    }
}

/// `dispatch` without `balance`: streams go to the dispatch address even
/// with servers declared, logged `<NOSRV>` (HAProxy's proxy target).
#[test]
fn dispatch_without_balance_goes_to_the_dispatch_address() {
    let mut w = World::new(&cfg(
        "",
        &format!("    dispatch {S1}\n    server s2 {S2}\n"),
    ));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    let c = w.connect(FE);
    w.send(c, b"hello");
    assert_eq!(w.peers[c].from_engine, b"hello");
    w.fin(c);
    let log = last_log(&w);
    assert!(log.contains(" app app/<NOSRV> "), "{log}");
    assert_eq!(term(&log), "--", "{log}");
    w.assert_drained();
}

/// With `balance`, HAProxy ignores `dispatch` (with a warning).
#[test]
fn dispatch_is_ignored_in_balance_mode() {
    let mut w = World::new(&cfg(
        "",
        &format!("    balance roundrobin\n    dispatch {S1}\n    server s2 {S2}\n"),
    ));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    let c = w.connect(FE);
    w.send(c, b"hi");
    w.fin(c);
    let log = last_log(&w);
    assert!(log.contains(" app app/s2 "), "{log}");
    w.assert_drained();
}

/// `option transparent`: the client's destination, here changed by a
/// `set-dst-port` rule as in HAProxy's http_reuse_be_transparent.vtc.
#[test]
fn transparent_connects_to_the_client_destination() {
    let port = S1.rsplit(':').next().unwrap_or_default();
    let mut w = World::new(&cfg(
        "",
        &format!("    option transparent\n    tcp-request connection set-dst-port int({port})\n"),
    ));
    w.server(S1, ServerMode::Echo);
    let c = w.connect(FE);
    w.send(c, b"hello");
    assert_eq!(w.peers[c].from_engine, b"hello");
    w.fin(c);
    let log = last_log(&w);
    assert!(log.contains(" app app/<NOSRV> "), "{log}");
    w.assert_drained();
}

/// A dispatch connection that fails is retried, then reported `SC`.
#[test]
fn dispatch_refused_is_retried_then_sc() {
    let mut w = World::new(&cfg("    retries 1\n", &format!("    dispatch {S1}\n")));
    w.server(S1, ServerMode::Refuse);
    let c = w.connect(FE);
    w.send(c, b"data");
    w.advance(1100);
    assert!(w.peers[c].closed_by_engine.is_some());
    let log = last_log(&w);
    assert_eq!(term(&log), "SC", "{log}");
    w.assert_drained();
}
