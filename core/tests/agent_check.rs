//! Agent checks in the engine harness (HAProxy's `agent-check`): the
//! engine connects to the agent every `agent-inter`, sends `agent-send`,
//! reads one line and applies it to the server's weight, admin state,
//! maxconn and health.

mod common;

use common::{addr, ServerMode, World};

const FE: &str = "127.0.0.1:8000";
const S1: &str = "127.0.0.1:9001";
const S2: &str = "127.0.0.1:9002";
const AGENT: &str = "127.0.0.1:9100";

fn cfg(s1_opts: &str) -> String {
    format!(
        "global\n    log stderr format raw local0\n\
         defaults\n    mode tcp\n    log global\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n    timeout check 500ms\n\
         listen app\n    bind {FE}\n    balance roundrobin\n\
         \x20   server s1 {S1} weight 100 {s1_opts}\n    server s2 {S2} weight 100\n"
    )
}

/// The agent connections so far.
fn agent_conns(w: &World) -> usize {
    w.accepted.get(&addr(AGENT)).map_or(0, Vec::len)
}

/// Waits for the next agent connection and answers `reply` (then closes).
fn answer(w: &mut World, reply: &[u8]) -> usize {
    let before = agent_conns(w);
    for _ in 0..40 {
        if agent_conns(w) > before {
            break;
        }
        w.advance(50);
    }
    assert!(agent_conns(w) > before, "no agent connection");
    let p = w.server_peer(AGENT, agent_conns(w) - 1);
    if !reply.is_empty() {
        w.send(p, reply);
    }
    w.fin(p);
    p
}

/// Which server each of `n` connections went to.
fn spread(w: &mut World, n: usize) -> (usize, usize) {
    let mut got = (0, 0);
    for _ in 0..n {
        let c = w.connect(FE);
        w.fin(c);
        let log = w.log_texts().last().cloned().unwrap_or_default();
        if log.contains("app/s1") {
            got.0 += 1;
        } else if log.contains("app/s2") {
            got.1 += 1;
        }
    }
    got
}

#[test]
fn agent_sends_its_string_and_sets_weight_admin_maxconn() {
    let mut w = World::new(&cfg(
        "agent-check agent-addr 127.0.0.1 agent-port 9100 agent-inter 200ms agent-send \"hello\\n\"",
    ));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    w.server(AGENT, ServerMode::Manual);
    // Before any report: INI, health 1 (the agent starts "up").
    assert_eq!(
        w.stats(
            "app",
            "s1",
            &[
                "status",
                "agent_status",
                "agent_health",
                "agent_rise",
                "agent_fall"
            ]
        ),
        ["no check", "INI", "1", "1", "1"]
    );
    let p = answer(&mut w, b"50%\n");
    assert_eq!(w.peers[p].from_engine, b"hello\n");
    assert_eq!(
        w.stats(
            "app",
            "s1",
            &[
                "weight",
                "uweight",
                "agent_status",
                "agent_desc",
                "last_agt"
            ]
        ),
        ["50", "50", "CHECKED", "No status change", ""]
    );
    // Weights 50 / 100: a third of the traffic.
    assert_eq!(spread(&mut w, 30), (10, 20));
    answer(&mut w, b"drain\n");
    assert_eq!(
        w.stats("app", "s1", &["status", "uweight"]),
        ["DRAIN (agent)", "50"]
    );
    assert_eq!(spread(&mut w, 4), (0, 4));
    answer(&mut w, b"ready 100% maxconn:3\n");
    assert_eq!(
        w.stats("app", "s1", &["status", "weight", "slim"]),
        ["no check", "100", "3"]
    );
    answer(&mut w, b"maint\n");
    assert_eq!(w.stats("app", "s1", &["status"]), ["MAINT"]);
    // The agent still runs during maintenance and may end it.
    answer(&mut w, b"ready\n");
    assert_eq!(w.stats("app", "s1", &["status"]), ["no check"]);
    answer(&mut w, b"garbage 10%x\n");
    assert_eq!(
        w.stats("app", "s1", &["agent_status", "last_agt", "weight"]),
        ["CHECKED", "agent reports an error : garbage", "100"]
    );
    w.assert_drained();
}

#[test]
fn agent_down_and_up_move_the_server() {
    let mut w = World::new(&cfg(
        "check inter 300ms rise 1 fall 1 agent-check agent-port 9100 agent-inter 200ms",
    ));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    w.server(AGENT, ServerMode::Manual);
    answer(&mut w, b"down # going away\n");
    assert_eq!(
        w.stats(
            "app",
            "s1",
            &[
                "status",
                "agent_status",
                "agent_code",
                "last_agt",
                "agent_health"
            ]
        ),
        [
            "DOWN (agent)",
            "L7STS",
            "0",
            "via agent : down (going away)",
            "0"
        ]
    );
    assert!(
        w.log_texts()
            .iter()
            .any(|l| l.starts_with("Server app/s1 is DOWN")),
        "{:?}",
        w.log_texts()
    );
    assert_eq!(spread(&mut w, 4), (0, 4));
    // The health check keeps passing: the agent keeps it down.
    w.advance(700);
    assert_eq!(w.stats("app", "s1", &["status"]), ["DOWN (agent)"]);
    // Connection failures to the agent change nothing.
    w.server(AGENT, ServerMode::Refuse);
    w.advance(450);
    assert_eq!(
        w.stats("app", "s1", &["status", "agent_status"]),
        ["DOWN (agent)", "L4CON"]
    );
    w.server(AGENT, ServerMode::Manual);
    answer(&mut w, b"UP\n");
    assert_eq!(
        w.stats(
            "app",
            "s1",
            &["status", "agent_status", "last_agt", "agent_health"]
        ),
        ["UP", "L7OK", "via agent : UP", "1"]
    );
    assert!(
        w.log_texts()
            .iter()
            .any(|l| l.starts_with("Server app/s1 is UP")),
        "{:?}",
        w.log_texts()
    );
    let (a, b) = spread(&mut w, 10);
    assert!(a >= 4 && b >= 4, "{a}/{b}");
    // Disabled, the agent no longer counts nor shows.
    answer(&mut w, b"down\n");
    let now = w.now;
    assert_eq!(w.engine.cli_request(now, "disable agent app/s1"), "");
    w.advance(700);
    assert_eq!(
        w.stats("app", "s1", &["status", "agent_status"]),
        ["UP", ""]
    );
    let before = agent_conns(&w);
    w.advance(1000);
    assert_eq!(agent_conns(&w), before, "a disabled agent is not polled");
    w.assert_drained();
}

#[test]
fn agent_failures_leave_the_server_alone() {
    // Closed without a byte: the expect rule fails (L7RSP).
    let mut w = World::new(&cfg("agent-check agent-port 9100 agent-inter 200ms"));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    w.server(AGENT, ServerMode::Manual);
    answer(&mut w, b"");
    assert_eq!(
        w.stats("app", "s1", &["status", "agent_status", "last_agt"]),
        [
            "no check",
            "L7RSP",
            "TCPCHK got an empty response at step 2"
        ]
    );
    // An incomplete line before any result: the check waits for its
    // timeout (L7TOUT); after that, it is reported with that status.
    let mut w = World::new(&cfg("agent-check agent-port 9100 agent-inter 200ms"));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    w.server(AGENT, ServerMode::Manual);
    answer(&mut w, b"up");
    assert_eq!(
        w.stats("app", "s1", &["agent_status", "last_agt"]),
        ["* INI", "Ignoring incomplete line from agent"]
    );
    w.advance(550);
    assert_eq!(
        w.stats("app", "s1", &["agent_status", "last_agt"]),
        ["L7TOUT", ""]
    );
    answer(&mut w, b"up");
    assert_eq!(
        w.stats(
            "app",
            "s1",
            &["status", "agent_status", "last_agt", "agent_health"]
        ),
        [
            "no check",
            "L7TOUT",
            "Ignoring incomplete line from agent",
            "1"
        ]
    );
    // Nothing said before `timeout check`: L7TOUT, the server stays.
    let mut w = World::new(&cfg("agent-check agent-port 9100 agent-inter 200ms"));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    w.server(AGENT, ServerMode::Manual);
    w.advance(900);
    let got = w.stats("app", "s1", &["status", "agent_status"]);
    assert_eq!(got[0], "no check");
    assert_eq!(got[1].trim_start_matches("* "), "L7TOUT");
}

#[test]
fn agent_keywords_parse_as_haproxy() {
    use sluice_core::cfgparse::{parse, ParseOptions};
    let bad = cfg("agent-check");
    let e = match parse("t.cfg", &bad, ParseOptions::new("h")) {
        Ok(_) => panic!("agent-check without a port parsed"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(
            "'server app/s1' : server s1 does not have agent port. Agent check has been disabled."
        ),
        "{e}"
    );
    // `port` serves as the agent port; `default-server` carries them.
    let ok = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
         backend b\n    default-server agent-check agent-inter 3s agent-send ping\n\
         \x20   server s1 {S1} port 9100\n    server s2 {S2} no-agent-check\n"
    );
    let p = match parse("t.cfg", &ok, ParseOptions::new("h")) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let b = p.config.proxies.iter().find(|p| p.name == "b").unwrap();
    let (s1, s2) = (b.server("s1").unwrap(), b.server("s2").unwrap());
    assert!(s1.opts.agent_check && !s2.opts.agent_check);
    assert_eq!(s1.opts.agent_inter_ms, 3000);
    assert_eq!(s1.opts.agent_send.as_deref(), Some("ping"));
    assert_eq!(s1.opts.check_port, Some(9100));
}

#[test]
fn dynamic_server_agent_waits_for_enable_agent() {
    let mut w = World::new(&cfg(""));
    w.server(S1, ServerMode::Echo);
    w.server(S2, ServerMode::Echo);
    w.server("127.0.0.1:9003", ServerMode::Echo);
    w.server(AGENT, ServerMode::Manual);
    let cli = |w: &mut World, c: &str| {
        let now = w.now;
        w.engine.cli_request(now, c)
    };
    assert_eq!(
        cli(&mut w, "add server app/s3 127.0.0.1:9003 agent-check"),
        "server s3 does not have agent port. Agent check has been disabled.\n"
    );
    assert_eq!(
        cli(
            &mut w,
            "add server app/s3 127.0.0.1:9003 agent-check agent-port 9100 agent-inter 200ms agent-send hi"
        ),
        "New server registered.\n"
    );
    w.advance(1000);
    assert_eq!(agent_conns(&w), 0, "off until enable agent");
    let state = cli(&mut w, "show servers state app");
    let line = state.lines().find(|l| l.contains(" s3 ")).unwrap();
    // srv_agent_state CONFIGURED|AGENT (not enabled), agent port 9100.
    assert!(
        line.contains(" 18 0 0 - 9003 ") && line.ends_with(" - 9100"),
        "{line}"
    );
    assert_eq!(cli(&mut w, "enable agent app/s3"), "");
    assert_eq!(cli(&mut w, "set server app/s3 state ready"), "");
    let p = answer(&mut w, b"down\n");
    assert_eq!(w.peers[p].from_engine, b"hi");
    assert_eq!(
        w.stats("app", "s3", &["status", "agent_status"]),
        ["DOWN (agent)", "L7STS"]
    );
    answer(&mut w, b"up 50%\n");
    assert_eq!(
        w.stats("app", "s3", &["status", "weight"]),
        ["no check", "0"]
    );
}
