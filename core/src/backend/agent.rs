//! Agent checks: HAProxy's auxiliary `srv->agent` check (`check.c` with
//! `CHK_ST_AGENT`, `tcpcheck_agent_expect_reply` in `tcpcheck.c`).
//!
//! Every `agent-inter` the engine connects to `agent-addr:agent-port`,
//! sends `agent-send` if any, and reads one line (up to a CR or LF). The
//! line's words (separated by spaces, tabs or commas) say:
//!
//! * a weight `N%` of the configured weight (`set weight`);
//! * a health: `up` (the agent lets the server be up), `down`, `stopped`
//!   or `fail` (the server goes down);
//! * an admin state: `ready`, `drain`, `maint` (`set server state`);
//! * `maxconn:N`;
//! * after `#`, a description reported with the health.
//!
//! The last word of a kind wins. The agent's own `health` runs over
//! `0..=1` (`agent-rise`/`agent-fall` are 1): a server is up only when
//! both its health check (if any) and its agent (if enabled) agree. A
//! failure to reach the agent (connection refused, timeout, garbage) does
//! not touch the server: only an explicit `down`, `stopped` or `fail`
//! does (`check_notify_failure` with `HCHK_STATUS_L7STS`).
//!
//! ```text
//!   timer --connect--> connected --send agent-send--> read a line
//!     ^                    |                               |
//!     |   L4CON/L4TOUT     |  L7TOUT / close w/o line      | parse, apply
//!     +--------------------+-------------------------------+ next: agent-inter
//! ```

use crate::backend::server::{AgentCfg, ServerId, SrvAdmin, SrvState};
use crate::engine::{Engine, TimerKey};
use crate::sock::{CloseHow, LogLevel, SockError};
use crate::time::Time;

/// The result class of a check status (HAProxy's `check_statuses[].result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChkRes {
    Unknown,
    Neutral,
    Failed,
    Passed,
    CondPass,
}

fn result_of(status: &str) -> ChkRes {
    match status {
        "CHECKED" => ChkRes::Neutral,
        "L4OK" | "L6OK" | "L7OK" => ChkRes::Passed,
        "L7OKC" => ChkRes::CondPass,
        "L4TOUT" | "L4CON" | "L6TOUT" | "L6RSP" | "L7TOUT" | "L7RSP" | "L7STS" | "SOCKERR" => {
            ChkRes::Failed
        }
        _ => ChkRes::Unknown,
    }
}

/// A status at or above HAProxy's `HCHK_STATUS_L57DATA`: the agent
/// answered (its code is shown, a failure counts).
pub(crate) fn has_data(status: &str) -> bool {
    matches!(status, "L7OK" | "L7OKC" | "L7STS")
}

/// The agent's health word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentHealth {
    Up,
    /// `down`, `stopped` or `fail`.
    Down,
}

/// One agent line, parsed (the words of `tcpcheck_agent_expect_reply`,
/// the last of each kind).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentReply {
    /// The health word as written, and what it says.
    pub health: Option<(String, AgentHealth)>,
    /// `ready`, `drain` or `maint`.
    pub admin: Option<SrvAdmin>,
    /// The last weight word (`75%`).
    pub weight: Option<String>,
    /// The value after the last `maxconn:`.
    pub maxconn: Option<String>,
    /// The first word not understood.
    pub error: Option<String>,
    /// The text after `#`, leading blanks skipped.
    pub desc: String,
}

/// What the bytes read so far say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentRead {
    /// No end of line yet.
    Wait,
    /// The connection ended (or the buffer is full) before a line:
    /// "Ignoring incomplete line from agent".
    Incomplete,
    Line(AgentReply),
}

/// Reads the agent's line in `data` (`last`: no more bytes will come).
pub fn parse_agent(data: &[u8], last: bool) -> AgentRead {
    // The line ends at the first CR or LF; a NUL byte (HAProxy's C
    // string end) makes it incomplete.
    let end = data.iter().position(|&b| matches!(b, b'\n' | b'\r' | 0));
    let line = match end {
        Some(i) if data[i] != 0 => &data[..i],
        _ if last => return AgentRead::Incomplete,
        _ => return AgentRead::Wait,
    };
    let line = String::from_utf8_lossy(line);
    let mut r = AgentReply::default();
    let mut rest: &str = &line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        if let Some(d) = rest.strip_prefix('#') {
            r.desc = d.trim_start_matches([' ', '\t']).to_string();
            break;
        }
        let n = rest.find([' ', '\t', ',', '\n']).unwrap_or(rest.len());
        let word = &rest[..n];
        rest = &rest[n..];
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "up" => r.health = Some((word.to_string(), AgentHealth::Up)),
            "down" | "stopped" | "fail" => r.health = Some((word.to_string(), AgentHealth::Down)),
            "ready" => r.admin = Some(SrvAdmin::Ready),
            "drain" => r.admin = Some(SrvAdmin::Drain),
            "maint" => r.admin = Some(SrvAdmin::Maint),
            _ if word.starts_with(|c: char| c.is_ascii_digit()) && word.contains('%') => {
                r.weight = Some(word.to_string())
            }
            _ if lower.starts_with("maxconn:") => r.maxconn = Some(word[8..].to_string()),
            _ => {
                if r.error.is_none() {
                    r.error = Some(word.to_string());
                }
            }
        }
    }
    AgentRead::Line(r)
}

/// C's `strtol` on `s`: the number and what follows it, `None` without
/// digits.
fn strtol(s: &str) -> Option<(i64, &str)> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let v = digits[..n]
        .parse::<i64>()
        .unwrap_or(i64::MAX)
        .saturating_mul(if neg { -1 } else { 1 });
    Some((v, &digits[n..]))
}

/// HAProxy's `server_parse_weight_change_request`: the new user weight
/// from `w` (`N` or `N%` of `iweight`), or the reason it is refused.
pub fn weight_change(iweight: u32, w: &str, dynamic: bool) -> Result<u32, &'static str> {
    if w.is_empty() {
        return Err("Require <weight> or <weight%>.");
    }
    let Some((v, end)) = strtol(w) else {
        return Err("Empty weight string empty or preceded by garbage");
    };
    let w = if end == "%" {
        if v < 0 {
            return Err("Relative weight must be positive.");
        }
        (i64::from(iweight) * v.min(25600) / 100).min(256)
    } else if !(0..=256).contains(&v) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.");
    } else if !end.is_empty() {
        return Err("Trailing garbage in weight string");
    } else {
        v
    };
    let w = w as u32;
    if w != 0 && w != iweight && !dynamic {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.",
        );
    }
    Ok(w)
}

/// HAProxy's `server_parse_maxconn_change_request`: the new `maxconn`.
pub fn maxconn_change(v: &str) -> Result<u32, &'static str> {
    if v.is_empty() {
        return Err("Require <maxconn>.");
    }
    let Some((n, end)) = strtol(v) else {
        return Err("maxconn string empty or preceded by garbage");
    };
    if !end.is_empty() {
        return Err("Trailing garbage in maxconn string");
    }
    Ok(n.clamp(0, i64::from(u32::MAX)) as u32)
}

impl Engine {
    pub(crate) fn set_agent_next(&mut self, srv: ServerId, at: Option<Time>) {
        if let Some(ag) = self.agent_mut(srv) {
            ag.next = at;
        }
        self.timers.arm(TimerKey::Agent(srv), at);
    }

    fn agent_mut(&mut self, srv: ServerId) -> Option<&mut crate::backend::server::Check> {
        self.server_mut(srv)?.agent.as_mut()
    }

    /// The agent timer: start an agent check, or time out the running one.
    pub(crate) fn agent_timer(&mut self, now: Time, srv: ServerId) {
        let be = srv.be;
        let Some(s) = self.server(srv) else {
            return;
        };
        let (Some(ac), Some(ag)) = (s.cfg.agent.clone(), s.agent.as_ref()) else {
            return;
        };
        if ag.sock.is_some() {
            return if ag.connected {
                self.agent_report(now, srv, "L7TOUT", String::new(), None)
            } else {
                self.agent_report(now, srv, "L4TOUT", "Connection timeout".into(), None)
            };
        }
        let inter = u64::from(ac.inter_ms.max(1));
        if ag.disabled {
            // `disable agent`: none runs; look again later.
            return self.set_agent_next(srv, Some(now.add_ms(inter)));
        }
        let timeout = self.proxies[be]
            .timeouts
            .connect_ms
            .map_or(ac.inter_ms, |c| c.min(ac.inter_ms))
            .max(1);
        let sock = self.new_app_sock(crate::conn::App::Agent { srv }, crate::conn::Origin::Dialed);
        if let Some(ag) = self.agent_mut(srv) {
            ag.sock = Some(sock);
            ag.started = Some(now);
            ag.connected = false;
            ag.closed = false;
            ag.tx.clear();
            ag.rx = crate::buf::Buffer::null();
        }
        self.set_agent_next(srv, Some(now.add_ms(u64::from(timeout))));
        self.connect(sock, ac.addr);
    }

    /// Connected to the agent: send `agent-send`, then wait for the line
    /// under `timeout check` (else `agent-inter`).
    pub(crate) fn agent_connected(&mut self, now: Time, srv: ServerId) {
        let to = self.proxies[srv.be].timeouts.check_ms;
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        let (Some(ac), Some(ag)) = (s.cfg.agent.as_ref(), s.agent.as_mut()) else {
            return;
        };
        ag.connected = true;
        ag.tx = ac.send.clone().unwrap_or_default();
        // HAProxy's check buffer is `tune.bufsize`.
        ag.rx = crate::buf::Buffer::with_capacity(16 * 1024);
        let deadline = now.add_ms(u64::from(to.unwrap_or(ac.inter_ms).max(1)));
        let (sock, pending) = (ag.sock, !ag.tx.is_empty());
        self.set_agent_next(srv, Some(deadline));
        if let Some(sock) = sock {
            self.set_interest(sock, true, pending);
        }
    }

    pub(crate) fn agent_send_buf(&self, srv: ServerId) -> &[u8] {
        self.server(srv)
            .and_then(|s| s.agent.as_ref())
            .map_or(&[], |a| &a.tx[..])
    }

    pub(crate) fn agent_on_sent(&mut self, _now: Time, srv: ServerId, n: usize) {
        let Some(ag) = self.agent_mut(srv) else {
            return;
        };
        ag.tx.drain(..n.min(ag.tx.len()));
        let (sock, pending) = (ag.sock, !ag.tx.is_empty());
        if let Some(sock) = sock {
            self.set_interest(sock, true, pending);
        }
    }

    pub(crate) fn agent_recv_buf(&mut self, srv: ServerId) -> &mut [u8] {
        match self.agent_mut(srv) {
            Some(ag) => ag.rx.spare_mut(),
            None => &mut [],
        }
    }

    /// Bytes (or the end, `n == 0`) from the agent.
    pub(crate) fn agent_on_recv(&mut self, now: Time, srv: ServerId, n: usize) {
        let Some(ag) = self.agent_mut(srv) else {
            return;
        };
        ag.rx.commit(n);
        if n == 0 {
            ag.closed = true;
        }
        let last = ag.closed || ag.rx.is_full();
        if last && ag.rx.data().is_empty() {
            // HAProxy's custom expect never sees an empty response: the
            // expect rule (step 2, after the implicit connect and the
            // send) fails first.
            let info = "TCPCHK got an empty response at step 2".into();
            return self.agent_report(now, srv, "L7RSP", info, None);
        }
        match parse_agent(ag.rx.data(), last) {
            AgentRead::Wait => {}
            AgentRead::Incomplete if result_of(ag.last_status) == ChkRes::Unknown => {
                // Reported with the previous status, which has no result
                // (`INI`): the check is not over, and ends at its timeout
                // (`L7TOUT`), as HAProxy's.
                ag.last_info = "Ignoring incomplete line from agent".into();
                if let Some(sock) = ag.sock {
                    self.set_interest(sock, false, false);
                }
            }
            AgentRead::Incomplete => {
                // The previous status stays, with this description.
                let prev = ag.last_status;
                self.agent_report(
                    now,
                    srv,
                    prev,
                    "Ignoring incomplete line from agent".into(),
                    None,
                )
            }
            AgentRead::Line(r) => self.agent_apply(now, srv, r),
        }
    }

    /// The agent connection failed (refused, reset...): the agent's
    /// status only, never the server's.
    pub(crate) fn agent_failed(&mut self, now: Time, srv: ServerId, err: SockError) {
        // The driver already closed the socket.
        let Some(ag) = self.agent_mut(srv) else {
            return;
        };
        let sock = ag.sock.take();
        let (connected, received) = (ag.connected, !ag.rx.data().is_empty());
        if let Some(sock) = sock {
            self.free_sock(sock);
        }
        if connected && received {
            // An error after some bytes: they are judged as the whole
            // reply (HAProxy reports network errors on an empty one only).
            if let Some(ag) = self.agent_mut(srv) {
                ag.closed = true;
                ag.sock = None;
            }
            return self.agent_on_recv(now, srv, 0);
        }
        let info = err.check_info();
        let status = match err {
            _ if connected => "SOCKERR",
            SockError::TimedOut => "L4TOUT",
            _ => "L4CON",
        };
        self.agent_report(now, srv, status, info, None)
    }

    /// Applies an agent line: admin state, weight, maxconn, then health
    /// (in `tcpcheck_agent_expect_reply`'s order), and reports it.
    fn agent_apply(&mut self, now: Time, srv: ServerId, r: AgentReply) {
        let be = srv.be;
        let dynamic = self.backend(be).is_some_and(|b| !b.lb.algo().is_static());
        if self
            .server(srv)
            .and_then(|s| s.agent.as_ref())
            .is_none_or(|a| a.disabled)
        {
            // Disabled while the check ran: the reply is ignored.
            return self.agent_close(now, srv);
        }
        if let Some(admin) = r.admin {
            self.set_admin(now, srv, admin);
        }
        let mut warn: Option<&'static str> = None;
        if let Some(w) = &r.weight {
            let iweight = self.server(srv).map_or(0, |s| s.cfg.iweight);
            match weight_change(iweight, w, dynamic) {
                Ok(w) => {
                    if let Some(s) = self.server_mut(srv) {
                        s.uweight = w;
                    }
                    self.lb_recalc(be);
                    self.redistribute_queue(be);
                }
                Err(e) => warn = warn.or(Some(e)),
            }
        }
        if let Some(m) = &r.maxconn {
            match maxconn_change(m) {
                Ok(v) => {
                    if let Some(s) = self.server_mut(srv) {
                        s.maxconn_rt = Some(v);
                    }
                    self.process_srv_queue(srv);
                }
                Err(e) => warn = warn.or(Some(e)),
            }
        }
        let (status, info, health) = match &r.health {
            Some((word, h)) => {
                let mut msg = r.desc.as_str();
                if msg.is_empty() || *h == AgentHealth::Up {
                    if let Some(e) = r.error.as_deref() {
                        msg = e;
                    } else if let Some(w) = warn {
                        msg = w;
                    }
                }
                let info = if msg.is_empty() {
                    format!("via agent : {word}")
                } else {
                    format!("via agent : {word} ({msg})")
                };
                match h {
                    AgentHealth::Up => ("L7OK", info, Some(AgentCfg::RISE + AgentCfg::FALL - 1)),
                    AgentHealth::Down => ("L7STS", info, Some(0)),
                }
            }
            None => {
                let info = match (&r.error, warn) {
                    (Some(e), _) => format!("agent reports an error : {e}"),
                    (None, Some(w)) => format!("agent warns : {w}"),
                    (None, None) => String::new(),
                };
                ("CHECKED", info, None)
            }
        };
        self.agent_report(now, srv, status, info, health)
    }

    /// Ends the agent check in progress without a report.
    fn agent_close(&mut self, now: Time, srv: ServerId) {
        let inter = self
            .server(srv)
            .and_then(|s| s.cfg.agent.as_ref())
            .map_or(2000, |a| a.inter_ms);
        if let Some(sock) = self.agent_mut(srv).and_then(|a| {
            a.connected = false;
            a.sock.take()
        }) {
            self.close_sock(sock, CloseHow::Reset);
        }
        self.set_agent_next(srv, Some(now.add_ms(u64::from(inter.max(1)))));
    }

    /// Records an agent check's result (HAProxy's
    /// `set_server_check_status` on the agent, then
    /// `check_notify_failure` / `check_notify_success`); `health`: the
    /// level a health word set.
    fn agent_report(
        &mut self,
        now: Time,
        srv: ServerId,
        status: &'static str,
        info: String,
        health: Option<u32>,
    ) {
        let be = srv.be;
        self.agent_close(now, srv);
        let log_checks = self.proxies[be].log_health_checks;
        let pname = self.proxies[be].name.clone();
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        let cfg = std::sync::Arc::clone(&s.cfg);
        let uweight = s.uweight;
        let Some(ag) = s.agent.as_mut() else {
            return;
        };
        let (rise, fall) = (AgentCfg::RISE, AgentCfg::FALL);
        let top = rise + fall - 1;
        let prev_status = ag.last_status;
        let mut report = status != prev_status;
        if let Some(h) = health {
            ag.health = h;
        }
        ag.last_status = status;
        ag.last_code = 0;
        ag.last_info = info.clone();
        ag.last_duration_ms = ag.started.take().map_or(0, |t| now - t);
        let duration = ag.last_duration_ms;
        let result = result_of(status);
        let mut failed_check = false;
        match result {
            ChkRes::Failed if has_data(status) && ag.health > 0 => {
                failed_check = true;
                report = true;
                ag.health -= 1;
                if ag.health < rise {
                    ag.health = 0;
                }
            }
            ChkRes::Passed | ChkRes::CondPass if ag.health < top => {
                report = true;
                ag.health += 1;
                if ag.health >= rise {
                    ag.health = top;
                }
            }
            _ => {}
        }
        let health = ag.health;
        if failed_check {
            s.chkfail += 1;
        }
        if log_checks && report && result != ChkRes::Neutral && result != ChkRes::Unknown {
            let up = health >= rise;
            let (n, of) = if up {
                (health - rise + 1, fall)
            } else {
                (health, rise)
            };
            let text = format!(
                "Agent check for {}server {pname}/{} {}{}{}, status: {n}/{of} {}.",
                if cfg.backup { "backup " } else { "" },
                cfg.name,
                if result == ChkRes::CondPass {
                    "conditionally "
                } else {
                    ""
                },
                if matches!(result, ChkRes::Passed | ChkRes::CondPass) {
                    "succeeded"
                } else {
                    "failed"
                },
                crate::backend::check::check_info(status, 0, &info, duration),
                match (up, uweight) {
                    (false, _) => "DOWN",
                    (true, 0) => "DRAIN",
                    (true, _) => "UP",
                },
            );
            self.log_px(Some(be), LogLevel::Notice, text);
        }
        match result {
            ChkRes::Failed if status == "L7STS" && health == 0 => {
                self.srv_set_stopped(now, srv, status, &info, duration)
            }
            ChkRes::Passed => self.agent_notify_success(now, srv, status, &info, duration),
            _ => {}
        }
    }

    /// The agent says the server is down (HAProxy's `srv_set_stopped`).
    fn srv_set_stopped(&mut self, now: Time, srv: ServerId, status: &str, info: &str, dur: u64) {
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        let was_up = matches!(s.state, SrvState::Running | SrvState::Stopping);
        s.state = SrvState::Stopped;
        if was_up {
            s.last_change = now;
            s.chkdown += 1;
            if !s.admin.is_maint() {
                return self.server_transition(now, srv, false, status, 0, info, dur);
            }
            let be = srv.be;
            self.lb_recalc(be);
        }
    }

    /// The agent lets the server be up: it comes up if nothing else keeps
    /// it down (HAProxy's `check_notify_success` for the agent).
    fn agent_notify_success(
        &mut self,
        now: Time,
        srv: ServerId,
        status: &str,
        info: &str,
        dur: u64,
    ) {
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        if s.admin.is_maint() {
            return;
        }
        let check_down = match (&s.check, &s.cfg.check) {
            (Some(ck), Some(cc)) => !ck.disabled && ck.health < cc.rise,
            _ => false,
        };
        if check_down || s.agent_down() {
            return;
        }
        if matches!(s.state, SrvState::Running | SrvState::Stopping) {
            return;
        }
        s.state = SrvState::Running;
        s.last_change = now;
        self.server_transition(now, srv, true, status, 0, info, dur);
    }

    /// `enable agent` / `disable agent` (HAProxy's `CHK_ST_ENABLED` of
    /// the agent): `None` when the server has no agent.
    pub(crate) fn agent_enable(&mut self, now: Time, srv: ServerId, on: bool) -> Option<()> {
        let ag = self.agent_mut(srv)?;
        let was = !ag.disabled;
        ag.disabled = !on;
        if on && !was {
            // HAProxy's `cli_parse_enable_agent` only sets the flag; the
            // task runs at its next wake-up.
            let _ = now;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> AgentReply {
        match parse_agent(s.as_bytes(), false) {
            AgentRead::Line(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn words() {
        let r = line("75%,maxconn:30,maint,down\n");
        assert_eq!(r.weight.as_deref(), Some("75%"));
        assert_eq!(r.maxconn.as_deref(), Some("30"));
        assert_eq!(r.admin, Some(SrvAdmin::Maint));
        assert_eq!(r.health, Some(("down".into(), AgentHealth::Down)));
        let r = line("UP ready 10% 20% # all good  \r\n");
        assert_eq!(r.health, Some(("UP".into(), AgentHealth::Up)));
        assert_eq!(r.weight.as_deref(), Some("20%"));
        assert_eq!(r.desc, "all good  ");
        let r = line("hello\tworld drain\n");
        assert_eq!(r.error.as_deref(), Some("hello"));
        assert_eq!(r.admin, Some(SrvAdmin::Drain));
        assert_eq!(parse_agent(b"up", false), AgentRead::Wait);
        assert_eq!(parse_agent(b"up", true), AgentRead::Incomplete);
        assert_eq!(parse_agent(b"", true), AgentRead::Incomplete);
        assert_eq!(parse_agent(b"u\0p\n", true), AgentRead::Incomplete);
    }

    #[test]
    fn weights() {
        assert_eq!(weight_change(100, "75%", true), Ok(75));
        assert_eq!(weight_change(10, "50%", true), Ok(5));
        assert_eq!(weight_change(200, "500%", true), Ok(256));
        assert_eq!(
            weight_change(10, "5%x", true),
            Err("Trailing garbage in weight string")
        );
        assert!(weight_change(10, "50%", false).is_err());
        assert_eq!(weight_change(10, "0%", false), Ok(0));
        assert_eq!(maxconn_change("3"), Ok(3));
        assert!(maxconn_change("x").is_err());
        assert!(maxconn_change("3x").is_err());
    }
}
