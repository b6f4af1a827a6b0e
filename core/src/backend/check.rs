//! Health checks: HAProxy's `check.c` (TCP connect checks; HTTP checks come
//! with HTTP mode).
//!
//! Every `inter` (`fastinter` while a transition is in progress,
//! `downinter` while down) the engine opens a connection to the server. A
//! connection that succeeds within the check timeout is a success (L4OK),
//! a refusal or a timeout a failure (L4CON, L4TOUT). HAProxy's `health`
//! counter runs from 0 to `rise + fall - 1`: the server is up at `rise` or
//! above; `fall` consecutive failures bring an up server down, `rise`
//! consecutive successes bring a down server up.
//!
//! A transition is logged as HAProxy logs it and changes load balancing at
//! once: streams queued on a server that went down go back to the
//! backend's queue, a server that came up takes waiting streams.

use crate::backend::server::{ServerId, SrvAdmin, SrvState};
use crate::engine::{Engine, TimerKey};
use crate::proxy::ProxyId;
use crate::sock::{CloseHow, LogLevel, SockError};
use crate::time::Time;

/// What one check result did to a server's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HealthStep {
    /// The server is up (`health >= rise`) after the result.
    pub now_up: bool,
    /// It crossed the up/down line.
    pub transition: bool,
    /// The interval to the next check: `fastinter` while moving between
    /// the ends of the range, `inter` when up, `downinter` when down.
    pub next: u32,
}

impl crate::backend::server::Check {
    /// Accounts one check result in `health` (`0..rise+fall-1`, up at
    /// `rise` or above), as HAProxy's `check_notify_success`/`_failure`;
    /// a transition settles at the end of the range.
    pub(crate) fn account(
        &mut self,
        cc: &crate::backend::server::CheckCfg,
        ok: bool,
    ) -> HealthStep {
        let top = cc.rise + cc.fall - 1;
        let was_up = self.health >= cc.rise;
        if ok {
            self.health = (self.health + 1).min(top);
        } else {
            self.health = self.health.saturating_sub(1);
        }
        let now_up = self.health >= cc.rise;
        let transition = was_up != now_up;
        if transition {
            self.health = if now_up { top } else { 0 };
        }
        let moving = self.health > 0 && self.health < top;
        let next = if moving {
            cc.fastinter_ms
        } else if now_up {
            cc.inter_ms
        } else {
            cc.downinter_ms
        };
        HealthStep {
            now_up,
            transition,
            next,
        }
    }
}

impl Engine {
    /// Arms the first check of every checked server, spread over `inter`
    /// like HAProxy's initial check spreading.
    pub(crate) fn checks_start(&mut self, now: Time) {
        for be in (0..self.proxies.len()).map(ProxyId::new) {
            let Some(b) = self.backend(be) else {
                continue;
            };
            let n = b.servers.len().max(1) as u64;
            for (i, srv) in b.server_ids(be).enumerate() {
                let Some(cc) = self.server(srv).and_then(|s| s.cfg.check.as_ref()) else {
                    continue;
                };
                let inter = u64::from(cc.inter_ms.max(1));
                let at = now.add_ms(1 + inter * i as u64 / n);
                self.set_check_next(srv, Some(at));
            }
        }
    }

    fn set_check_next(&mut self, srv: ServerId, at: Option<Time>) {
        if let Some(ck) = self.server_mut(srv).and_then(|s| s.check.as_mut()) {
            ck.next = at;
        }
        self.timers.arm(TimerKey::Check(srv), at);
    }

    /// The check timer: start a check, or time out the running one.
    pub(crate) fn check_timer(&mut self, now: Time, srv: ServerId) {
        let be = srv.be;
        let Some(cfg) = self.server(srv).map(|s| std::sync::Arc::clone(&s.cfg)) else {
            return;
        };
        let (Some(cc), Some(ck)) = (
            cfg.check.as_ref(),
            self.server(srv).and_then(|s| s.check.as_ref()),
        ) else {
            return;
        };
        if ck.sock.is_some() {
            // Timed out: waiting for the response (L7), in the TLS
            // handshake (L6) or connecting (L4).
            if ck.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
                return self.check_done(now, srv, false, "L6TOUT", "");
            }
            if ck.connected {
                return self.check_done(now, srv, false, "L7TOUT", "");
            }
            return self.check_done(now, srv, false, "L4TOUT", "Connection timeout");
        }
        let b = self.proxies[be].be.as_ref().expect("backend");
        let server = &b.servers[srv];
        if server.admin == SrvAdmin::Maint {
            // No checks in maintenance; look again later.
            let inter = u64::from(cc.inter_ms.max(1));
            return self.set_check_next(srv, Some(now.add_ms(inter)));
        }
        let addr = cc.addr;
        let timeout = self.proxies[be]
            .timeouts
            .connect_ms
            .map_or(cc.inter_ms, |c| c.min(cc.inter_ms))
            .max(1);
        let sock = self.new_app_sock(crate::conn::App::Check { srv }, crate::conn::Origin::Dialed);
        if let Some(ck) = self.server_mut(srv).and_then(|s| s.check.as_mut()) {
            ck.sock = Some(sock);
            ck.started = Some(now);
        }
        self.set_check_next(srv, Some(now.add_ms(u64::from(timeout))));
        self.connect(sock, addr);
    }

    pub(crate) fn check_connected(&mut self, now: Time, srv: ServerId) {
        // A check over TLS: the handshake first (bounded by the connect
        // deadline, as HAProxy's), then the check proper.
        let ctx = self
            .server(srv)
            .and_then(|s| s.cfg.check.as_ref())
            .and_then(|cc| cc.tls.clone());
        if let Some(ctx) = ctx {
            let Some(ck) = self.check_mut(srv) else {
                return;
            };
            match crate::conn::tls::Tls::client(&ctx) {
                Ok(t) => ck.tls = Some(Box::new(t)),
                Err(_) => {
                    return self.check_done(now, srv, false, "L6RSP", "SSL handshake failure")
                }
            }
            return self.check_tls_pump(now, srv);
        }
        self.check_established(now, srv);
    }

    /// The check's connection is ready (connected, and over TLS the
    /// handshake is over): a connect-only check passes, an HTTP or
    /// scripted one starts its exchange.
    fn check_established(&mut self, now: Time, srv: ServerId) {
        let be = srv.be;
        let to = self.proxies[be].timeouts.check_ms;
        let Some(server) = self.server_mut(srv) else {
            return;
        };
        let (Some(cc), Some(ck)) = (server.cfg.check.as_ref(), server.check.as_mut()) else {
            return;
        };
        if cc.script.is_some() {
            // A scripted check: its steps run under `timeout check` (else
            // `inter`), as an HTTP check's exchange does.
            ck.step = 0;
            ck.closed = false;
            ck.tx.clear();
            ck.rx = crate::buf::Buffer::with_capacity(16 * 1024);
            ck.connected = true;
            let deadline = now.add_ms(u64::from(to.unwrap_or(cc.inter_ms).max(1)));
            self.set_check_next(srv, Some(deadline));
            return self.check_run_script(now, srv);
        }
        let Some(req) = cc.http_req.clone() else {
            if ck.tls.is_some() {
                return self.check_done(now, srv, true, "L6OK", "");
            }
            return self.check_done(now, srv, true, "L4OK", "");
        };
        // `option httpchk`: send the request, read the status line, under
        // `timeout check` (else `inter`).
        ck.tx = req;
        ck.rx = crate::buf::Buffer::with_capacity(1024);
        ck.connected = true;
        let deadline = now.add_ms(u64::from(to.unwrap_or(cc.inter_ms).max(1)));
        self.set_check_next(srv, Some(deadline));
        self.check_interest(now, srv);
    }

    /// What the check's socket waits for: its output (over TLS, once
    /// encrypted) and input. Over TLS, the plaintext to send goes to
    /// rustls first.
    fn check_interest(&mut self, now: Time, srv: ServerId) {
        let Some(ck) = self.check_mut(srv) else {
            return;
        };
        if ck.tls.is_some() {
            return self.check_tls_pump(now, srv);
        }
        let (sock, pending) = (ck.sock, !ck.tx.is_empty());
        if let Some(sock) = sock {
            self.set_interest(sock, true, pending);
        }
    }

    /// Moves a TLS check's bytes through rustls: ciphertext in,
    /// handshake progress, plaintext to the check's `rx` and from its
    /// `tx`; a failed handshake is a Layer6 failure (HAProxy's
    /// `L6RSP`).
    fn check_tls_pump(&mut self, now: Time, srv: ServerId) {
        for _ in 0..8 {
            let Some(ck) = self.check_mut(srv) else {
                return;
            };
            let Some(t) = ck.tls.as_mut() else {
                return;
            };
            let was_hs = t.is_handshaking();
            match t.absorb() {
                Ok(_) => {}
                Err(_) if was_hs => {
                    return self.check_done(now, srv, false, "L6RSP", "SSL handshake failure")
                }
                Err(_) => return self.check_done(now, srv, false, "L7RSP", "SSL error"),
            }
            if t.is_handshaking() {
                if t.flags.contains(crate::conn::tls::TlsFlags::EOF_FED) {
                    return self.check_done(now, srv, false, "L6RSP", "SSL handshake failure");
                }
                break;
            }
            if was_hs {
                // Handshake over: the check proper.
                self.check_established(now, srv);
                continue;
            }
            // Plaintext out.
            if !ck.tx.is_empty() {
                let k = t.write_plain(&ck.tx);
                ck.tx.drain(..k);
            }
            // Plaintext in.
            if ck.rx.spare_mut().is_empty() {
                break;
            }
            match t.read_plain(ck.rx.spare_mut()) {
                Some(k) if k > 0 || !ck.closed => {
                    if k == 0 {
                        ck.closed = true;
                    }
                    self.check_on_plain(now, srv, k);
                    continue;
                }
                _ => break,
            }
        }
        let Some(ck) = self.check_mut(srv) else {
            return;
        };
        let sock = ck.sock;
        let pending = ck.tls.as_ref().is_some_and(|t| !t.tx_pending().is_empty());
        if let Some(sock) = sock {
            self.set_interest(sock, true, pending);
        }
    }

    fn check_mut(&mut self, srv: ServerId) -> Option<&mut crate::backend::server::Check> {
        self.server_mut(srv)?.check.as_mut()
    }

    pub(crate) fn check_send_buf(&self, srv: ServerId) -> &[u8] {
        self.server(srv)
            .and_then(|s| s.check.as_ref())
            .map_or(&[], |c| match &c.tls {
                Some(t) => t.tx_pending(),
                None => &c.tx[..],
            })
    }

    pub(crate) fn check_on_sent(&mut self, now: Time, srv: ServerId, n: usize) {
        let Some(ck) = self.check_mut(srv) else {
            return;
        };
        if let Some(t) = ck.tls.as_mut() {
            t.sent(n);
            return self.check_tls_pump(now, srv);
        }
        ck.tx.drain(..n.min(ck.tx.len()));
        let (sock, pending) = (ck.sock, !ck.tx.is_empty());
        if let Some(sock) = sock {
            self.set_interest(sock, true, pending);
        }
    }

    pub(crate) fn check_recv_buf(&mut self, srv: ServerId) -> &mut [u8] {
        match self.check_mut(srv) {
            Some(ck) => match &mut ck.tls {
                Some(t) => t.rx_spare(),
                None => ck.rx.spare_mut(),
            },
            None => &mut [],
        }
    }

    /// Runs a scripted check's steps from where it stands: queues what to
    /// send, matches what was received, and ends the check at the end of
    /// the script or at the first failed expect (HAProxy's
    /// `tcpcheck_main`).
    fn check_run_script(&mut self, now: Time, srv: ServerId) {
        use crate::backend::server::CheckStep;
        let Some(server) = self.server_mut(srv) else {
            return;
        };
        let (Some(cc), Some(ck)) = (server.cfg.check.as_ref(), server.check.as_mut()) else {
            return;
        };
        let Some(script) = cc.script.clone() else {
            return;
        };
        loop {
            let Some(step) = script.get(ck.step) else {
                return self.check_done(now, srv, true, "L7OK", "(tcp-check)");
            };
            match step {
                CheckStep::Send(bytes) => {
                    ck.tx.extend_from_slice(bytes);
                    ck.step += 1;
                }
                CheckStep::Expect {
                    negate,
                    matcher,
                    min_recv,
                    step,
                    comment,
                } => {
                    let data = ck.rx.data();
                    let done = ck.closed || ck.rx.is_full();
                    let enough = data.len() >= *min_recv;
                    let hit = enough && !data.is_empty() && matcher.matches(data);
                    let fail = |what: &str| match comment {
                        Some(c) => c.clone(),
                        None => format!("TCPCHK {what} '{}' at step {step}", matcher.text()),
                    };
                    match (negate, hit) {
                        (false, true) | (true, false) if !*negate || done => {
                            // Matched (or, negated, ended without a match):
                            // what was read is consumed.
                            ck.rx.reset();
                            ck.step += 1;
                        }
                        (true, true) => {
                            let info = fail("matched unwanted content");
                            return self.check_done(now, srv, false, "L7RSP", &info);
                        }
                        _ if done => {
                            let info = if ck.rx.data().is_empty() {
                                match comment {
                                    Some(c) => c.clone(),
                                    None => format!("TCPCHK got an empty response at step {step}"),
                                }
                            } else {
                                fail("did not match content")
                            };
                            return self.check_done(now, srv, false, "L7RSP", &info);
                        }
                        // Wait for more bytes.
                        _ => break,
                    }
                }
            }
        }
        self.check_interest(now, srv);
    }

    /// Bytes (or the end) arrived on the check's socket.
    pub(crate) fn check_on_recv(&mut self, now: Time, srv: ServerId, n: usize) {
        let Some(ck) = self.check_mut(srv) else {
            return;
        };
        if let Some(t) = ck.tls.as_mut() {
            t.received(n);
            return self.check_tls_pump(now, srv);
        }
        self.check_on_plain(now, srv, n);
    }

    /// Reads the status line of an HTTP check's response, or feeds a
    /// scripted check: `n` bytes of plaintext were added to `rx` (`0`:
    /// the end).
    fn check_on_plain(&mut self, now: Time, srv: ServerId, n: usize) {
        let Some(server) = self.server_mut(srv) else {
            return;
        };
        let (Some(cc), Some(ck)) = (server.cfg.check.as_ref(), server.check.as_mut()) else {
            return;
        };
        if cc.script.is_some() {
            ck.rx.commit(n);
            if n == 0 {
                ck.closed = true;
            }
            return self.check_run_script(now, srv);
        }
        ck.rx.commit(n);
        let data = ck.rx.data();
        let line_end = data.iter().position(|&b| b == b'\n');
        let Some(end) = line_end else {
            if n == 0 || ck.rx.is_full() {
                return self.check_done(
                    now,
                    srv,
                    false,
                    "L7RSP",
                    "socket closed or response too long",
                );
            }
            return;
        };
        let line = String::from_utf8_lossy(&data[..end]).trim_end().to_string();
        let mut parts = line.splitn(3, ' ');
        let (ver, code, reason) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let Some(code) = code
            .parse::<u16>()
            .ok()
            .filter(|_| ver.starts_with("HTTP/"))
        else {
            return self.check_done(now, srv, false, "L7RSP", "Invalid HTTP response");
        };
        let pass = match &cc.expect {
            None => (200..400).contains(&code),
            Some((neg, ranges)) => ranges.iter().any(|&(a, b)| (a..=b).contains(&code)) != *neg,
        };
        let info = format!("code: {code}, info: \"{reason}\"");
        if pass {
            self.check_done(now, srv, true, "L7OK", &info);
        } else {
            self.check_done(now, srv, false, "L7STS", &info);
        }
    }

    pub(crate) fn check_failed(&mut self, now: Time, srv: ServerId, err: SockError) {
        // The driver already closed the socket.
        if let Some(sock) = self
            .server_mut(srv)
            .and_then(|s| s.check.as_mut())
            .and_then(|c| c.sock)
        {
            self.free_sock(sock);
        }
        let info = match err {
            SockError::Refused => "Connection refused",
            SockError::Reset => "Connection reset by peer",
            SockError::Unreachable => "No route to host",
            SockError::TimedOut => "Connection timeout",
            SockError::Other(_) => "Connection error",
        };
        let code = if err == SockError::TimedOut {
            "L4TOUT"
        } else {
            "L4CON"
        };
        self.check_done(now, srv, false, code, info);
    }

    /// Accounts one check result and schedules the next check.
    fn check_done(&mut self, now: Time, srv: ServerId, ok: bool, code: &'static str, info: &str) {
        let be = srv.be;
        let Some(b) = self.proxies[be].be.as_mut() else {
            return;
        };
        let server = &mut b.servers[srv];
        let Some(ck) = server.check.as_mut() else {
            return;
        };
        ck.tls = None;
        if let Some(sock) = ck.sock.take() {
            // Checks close with a reset, as HAProxy does, to leave no TIME_WAIT.
            self.close_sock(sock, CloseHow::Reset);
        }
        let b = self.proxies[be].be.as_mut().expect("backend");
        let server = &mut b.servers[srv];
        let cfg = std::sync::Arc::clone(&server.cfg);
        let cc = cfg.check.as_ref().expect("check");
        let ck = server.check.as_mut().expect("check");
        ck.last_status = code;
        ck.last_duration_ms = ck.started.map_or(0, |t| now - t);
        if !ok {
            server.chkfail += 1;
        }
        let HealthStep {
            now_up,
            transition,
            next,
        } = ck.account(cc, ok);
        let duration = ck.last_duration_ms;
        // While going down, the server still takes traffic (NOLB).
        server.state = match (now_up, ok) {
            (true, true) => SrvState::Running,
            (true, false) => SrvState::Stopping,
            (false, true) => SrvState::Starting,
            (false, false) => SrvState::Stopped,
        };
        if transition {
            server.last_change = now;
            if !now_up {
                server.chkdown += 1;
            }
            self.server_transition(now, srv, now_up, code, info, duration);
        }
        self.set_check_next(srv, Some(now.add_ms(u64::from(next.max(1)))));
    }

    /// Logs an UP/DOWN transition and moves queued streams.
    #[allow(clippy::too_many_arguments)]
    fn server_transition(
        &mut self,
        now: Time,
        srv: ServerId,
        up: bool,
        code: &str,
        info: &str,
        duration: u64,
    ) {
        let be = srv.be;
        let p = &self.proxies[be];
        let b = p.be.as_ref().expect("backend");
        let name = format!("{}/{}", p.name, b.servers[srv].cfg.name);
        let active = b
            .servers
            .iter()
            .filter(|s| s.usable() && !s.cfg.backup)
            .count();
        let backup = b
            .servers
            .iter()
            .filter(|s| s.usable() && s.cfg.backup)
            .count();
        let cur = b.servers[srv].cur_sess;
        let reason = match (up, code) {
            (true, "L7OK") => "Layer7 check passed",
            (true, "L6OK") => "Layer6 check passed",
            (false, "L6TOUT") => "Layer6 timeout",
            (false, "L6RSP") => "Layer6 invalid response",
            (true, _) => "Layer4 check passed",
            (false, "L4TOUT") => "Layer4 timeout",
            (false, "L7TOUT") => "Layer7 timeout",
            (false, "L7STS") => "Layer7 wrong status",
            (false, "L7RSP") => "Layer7 invalid response",
            (false, _) => "Layer4 connection problem",
        };
        // L7 details already read `code: N, info: "..."`.
        let info = match (info.is_empty(), code.starts_with("L7")) {
            (true, _) => String::new(),
            (false, true) => format!(", {info}"),
            (false, false) => format!(", info: \"{info}\""),
        };
        let text = if up {
            let queued = b.queue.len();
            format!(
                "Server {name} is UP, reason: {reason}{info}, check duration: {duration}ms. {active} active and {backup} backup servers online. 0 sessions requeued, {queued} total in queue."
            )
        } else {
            let requeued = b.servers[srv].queue.len();
            format!(
                "Server {name} is DOWN, reason: {reason}{info}, check duration: {duration}ms. {active} active and {backup} backup servers left. {cur} sessions active, {requeued} requeued, 0 remaining in queue."
            )
        };
        self.log_px(
            Some(be),
            if up {
                LogLevel::Notice
            } else {
                LogLevel::Alert
            },
            text,
        );
        let p = &mut self.proxies[be];
        let pname = p.name.clone();
        let b = p.be.as_mut().expect("backend");
        b.last_change = now;
        if up {
            self.lb_recalc(be);
            self.process_srv_queue(srv);
        } else {
            // Streams waiting for this server wait for any server instead.
            b.requeue_server(&mut self.streams, srv);
            self.lb_recalc(be);
            let b = self.proxies[be].be.as_ref().expect("backend");
            if !b.servers.iter().any(|s| s.usable()) {
                self.log_px(
                    Some(be),
                    LogLevel::Alert,
                    format!("backend {pname} has no server available!"),
                );
            }
            self.redistribute_queue(be);
        }
    }

    /// Lets every usable server take streams from the backend queue.
    pub(crate) fn redistribute_queue(&mut self, be: ProxyId) {
        let n = self.proxies[be].be.as_ref().map_or(0, |b| b.servers.len());
        for i in 0..n {
            self.process_srv_queue(ServerId::new(be, i));
        }
    }

    /// Tells the load balancer that weights or states changed.
    pub(crate) fn lb_recalc(&mut self, be: ProxyId) {
        if let Some(b) = self.backend_mut(be) {
            b.lb_recalc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HealthStep;
    use crate::backend::server::{Check, CheckCfg};

    fn cfg() -> CheckCfg {
        CheckCfg {
            inter_ms: 2000,
            fastinter_ms: 500,
            downinter_ms: 5000,
            rise: 2,
            fall: 3,
            http_req: None,
            expect: None,
            addr: "127.0.0.1:80".parse().unwrap(),
            script: None,
            tls: None,
        }
    }

    fn check(health: u32) -> Check {
        Check {
            health,
            sock: None,
            next: None,
            started: None,
            last_status: "INI",
            last_duration_ms: 0,
            tx: Vec::new(),
            rx: crate::buf::Buffer::null(),
            connected: false,
            step: 0,
            closed: false,
            last_info: String::new(),
            tls: None,
        }
    }

    fn step(now_up: bool, transition: bool, next: u32) -> HealthStep {
        HealthStep {
            now_up,
            transition,
            next,
        }
    }

    /// `rise 2 fall 3`: health runs 0..=4, up at 2; a server up at start
    /// (health = rise) goes down after `fall` failures counted from the
    /// top, and comes back after `rise` successes, checked at `fastinter`
    /// while moving.
    #[test]
    fn health_moves_between_rise_and_fall_like_haproxy() {
        let cc = cfg();
        let mut ck = check(cc.rise);
        assert_eq!(ck.account(&cc, true), step(true, false, 500));
        assert_eq!(ck.account(&cc, true), step(true, false, 2000));
        assert_eq!(ck.health, 4, "settles at the top");
        assert_eq!(ck.account(&cc, false), step(true, false, 500));
        assert_eq!(ck.account(&cc, false), step(true, false, 500));
        assert_eq!(ck.account(&cc, false), step(false, true, 5000));
        assert_eq!(ck.health, 0, "a transition settles at the end");
        assert_eq!(ck.account(&cc, true), step(false, false, 500));
        assert_eq!(ck.account(&cc, true), step(true, true, 2000));
        assert_eq!(ck.health, 4);
    }
}
