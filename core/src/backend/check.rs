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

use crate::backend::server::{ServerId, SrvState};
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

/// A traffic event seen by `observe` (HAProxy's `HANA_STATUS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hana {
    /// A connection to the server was established.
    L4Ok,
    /// A connection to the server failed.
    L4Err,
    /// A response status below 500, or 501 or 505.
    HttpOk,
    /// Another response status.
    HttpSts,
    /// A response head that does not parse.
    HttpHdrRsp,
    /// The server did not answer in time.
    HttpReadTimeout,
    /// The server closed before a complete response head.
    HttpBrokenPipe,
}

impl Hana {
    /// HAProxy's `analyze_statuses[].desc`.
    fn desc(self) -> &'static str {
        match self {
            Hana::L4Ok => "L4 successful connection",
            Hana::L4Err => "L4 unsuccessful connection",
            Hana::HttpOk => "Correct http response",
            Hana::HttpSts => "Wrong http response",
            Hana::HttpHdrRsp => "Invalid http response (headers)",
            Hana::HttpReadTimeout => "Read timeout (http)",
            Hana::HttpBrokenPipe => "Close from server (http)",
        }
    }
}

/// A health check result and what it did to the server, as thread 0
/// (where checks run) tells the other threads (docs/threads.md).
#[derive(Clone, Debug)]
pub(crate) struct SrvHealth {
    srv: ServerId,
    state: crate::backend::server::SrvState,
    health: u32,
    failed: bool,
    status: &'static str,
    code: u32,
    info: String,
    duration_ms: u64,
    /// The server went UP (`Some(true)`) or DOWN.
    transition: Option<bool>,
}

impl Engine {
    /// Applies a health check result of thread 0 on this thread: the same
    /// state, counters and, on a transition, the same consequences
    /// (queues, load balancing, `on-marked-down`), but not the logs,
    /// which thread 0 wrote once for the process.
    pub(crate) fn apply_srv_health(&mut self, now: Time, h: SrvHealth) {
        let Some(server) = self.server_mut(h.srv) else {
            return;
        };
        server.state = h.state;
        if h.failed {
            server.chkfail += 1;
        }
        let Some(ck) = server.check.as_mut() else {
            return;
        };
        ck.health = h.health;
        ck.last_status = h.status;
        ck.last_code = h.code;
        ck.last_info = h.info;
        ck.last_duration_ms = h.duration_ms;
        if let Some(up) = h.transition {
            server.last_change = now;
            if !up {
                server.chkdown += 1;
            }
            self.server_transition(now, h.srv, up, h.status, h.code, "", h.duration_ms);
        }
    }

    /// Arms the first health and agent checks of every server that has
    /// them, spread over `inter` (`agent-inter`) like HAProxy's initial
    /// check spreading.
    pub(crate) fn checks_start(&mut self, now: Time) {
        for be in (0..self.proxies.len()).map(ProxyId::new) {
            let Some(b) = self.backend(be) else {
                continue;
            };
            let n = b.servers.len().max(1) as u64;
            for (i, srv) in b.server_ids(be).enumerate() {
                let spread =
                    |inter_ms: u32| now.add_ms(1 + u64::from(inter_ms.max(1)) * i as u64 / n);
                let Some(cfg) = self.server(srv).map(|s| std::sync::Arc::clone(&s.cfg)) else {
                    continue;
                };
                if let Some(cc) = cfg.check.as_ref() {
                    self.set_check_next(srv, Some(spread(cc.inter_ms)));
                }
                if let Some(ac) = cfg.agent.as_ref() {
                    self.set_agent_next(srv, Some(spread(ac.inter_ms)));
                }
            }
        }
    }

    pub(crate) fn set_check_next(&mut self, srv: ServerId, at: Option<Time>) {
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
                // At an expect step, its `tout-status`; a `tcp-check` step
                // is named in the info (HAProxy's `chk_report_conn_err`).
                let step = cc.script.as_deref().and_then(|s| s.get(ck.step));
                let info = match step {
                    Some(crate::backend::server::CheckStep::Expect(e)) if !e.proto => {
                        tcp_check_step_info(e)
                    }
                    _ => String::new(),
                };
                let tout = match step {
                    Some(crate::backend::server::CheckStep::Expect(e)) => e.tout_status,
                    Some(crate::backend::server::CheckStep::HttpExpect(h)) => {
                        h.rules.first().map_or("L7TOUT", |e| e.tout_status)
                    }
                    _ if cc.script.is_none() => {
                        cc.http_expects.first().map_or("L7TOUT", |e| e.tout_status)
                    }
                    _ => "L7TOUT",
                };
                return self.check_done(now, srv, false, tout, &info);
            }
            let info = format!("Connection timeout{}", tcp_connect_info(cc, ck));
            return self.check_done(now, srv, false, "L4TOUT", &info);
        }
        let b = self.proxies[be].be.as_ref().expect("backend");
        let server = &b.servers[srv];
        if server.admin.is_maint() || server.check.as_ref().is_some_and(|c| c.disabled) {
            // No checks in maintenance nor when turned off; look again later.
            let inter = u64::from(cc.inter_ms.max(1));
            return self.set_check_next(srv, Some(now.add_ms(inter)));
        }
        // A script starting with a connect step runs it; other checks
        // connect to the check's address.
        let first = cc.script.as_deref().and_then(|s| match s.first() {
            Some(crate::backend::server::CheckStep::Connect(_)) => Some(0),
            _ => None,
        });
        if let Some(ck) = self.check_mut(srv) {
            ck.started = Some(now);
            ck.step = 0;
            ck.vars = crate::vars::Vars::default();
        }
        self.check_open(now, srv, first);
    }

    /// Opens the check's connection: to the check's address, or as the
    /// script's connect step `at` says (HAProxy's
    /// `tcpcheck_eval_connect`), under the connect timeout (at most
    /// `inter`).
    fn check_open(&mut self, now: Time, srv: ServerId, at: Option<usize>) {
        use crate::backend::server::CheckStep;
        let be = srv.be;
        let Some(cfg) = self.server(srv).map(|s| std::sync::Arc::clone(&s.cfg)) else {
            return;
        };
        let Some(cc) = cfg.check.as_ref() else {
            return;
        };
        let step = at.and_then(|i| match cc.script.as_deref()?.get(i)? {
            CheckStep::Connect(c) => Some(c),
            _ => None,
        });
        let mut addr = cc.addr;
        let mut unix = cc.unix.clone();
        if let Some(c) = step {
            if let Some(ip) = c.ip {
                addr.set_ip(ip);
                unix = None;
            }
            if let Some(port) = c.port {
                addr.set_port(port);
            }
        }
        let timeout = self.proxies[be]
            .timeouts
            .connect_ms
            .map_or(cc.inter_ms, |c| c.min(cc.inter_ms))
            .max(1);
        let sock = self.new_app_sock(crate::conn::App::Check { srv }, crate::conn::Origin::Dialed);
        if let Some(ck) = self.check_mut(srv) {
            ck.sock = Some(sock);
            ck.connected = false;
            ck.connect_at = at;
            ck.tls = None;
        }
        self.set_check_next(srv, Some(now.add_ms(u64::from(timeout))));
        match unix {
            Some(u) => self.connect_unix(sock, u),
            None => self.connect(sock, addr),
        }
    }

    /// A connect step after the first: closes the connection in progress
    /// (with a reset unless the step that opened it said `linger`) and
    /// opens the step's.
    fn check_reconnect(&mut self, now: Time, srv: ServerId, at: usize) {
        use crate::backend::server::CheckStep;
        let Some(server) = self.server_mut(srv) else {
            return;
        };
        let (Some(cc), Some(ck)) = (server.cfg.check.as_ref(), server.check.as_mut()) else {
            return;
        };
        let linger = ck
            .connect_at
            .and_then(|i| match cc.script.as_deref()?.get(i)? {
                CheckStep::Connect(c) => Some(c.linger),
                _ => None,
            })
            .unwrap_or(false);
        ck.tls = None;
        ck.tx.clear();
        ck.rx.reset();
        ck.closed = false;
        if let Some(sock) = ck.sock.take() {
            let how = if linger {
                CloseHow::Graceful
            } else {
                CloseHow::Reset
            };
            self.close_sock(sock, how);
        }
        self.check_open(now, srv, Some(at));
    }

    pub(crate) fn check_connected(&mut self, now: Time, srv: ServerId) {
        // A check over TLS: the handshake first (bounded by the connect
        // deadline, as HAProxy's), then the check proper.
        let ctx = self.server(srv).and_then(|s| {
            let cc = s.cfg.check.as_ref()?;
            let at = s.check.as_ref()?.connect_at;
            match at.and_then(|i| cc.script.as_deref()?.get(i)) {
                // A connect rule: the server's check TLS with `default`,
                // else its own (`ssl`), else none.
                Some(crate::backend::server::CheckStep::Connect(c)) if !c.default => c.tls.clone(),
                _ => cc.tls.clone(),
            }
        });
        if let Some(ctx) = ctx {
            let Some(ck) = self.check_mut(srv) else {
                return;
            };
            match crate::conn::tls::Tls::client(&ctx) {
                Ok(t) => ck.tls = Some(Box::new(t)),
                Err(_) => return self.check_hs_failed(now, srv),
            }
            return self.check_tls_pump(now, srv);
        }
        self.check_established(now, srv);
    }

    /// The TLS handshake of a check failed: a Layer6 failure, and in a
    /// `tcp-check` script the connect step it was at (HAProxy's
    /// `chk_report_conn_err`).
    fn check_hs_failed(&mut self, now: Time, srv: ServerId) {
        let step = self
            .server(srv)
            .and_then(|s| Some(tcp_connect_info(s.cfg.check.as_ref()?, s.check.as_ref()?)))
            .unwrap_or_default();
        let info = format!("SSL handshake failure{step}");
        self.check_done(now, srv, false, "L6RSP", &info)
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
            // `inter`), as an HTTP check's exchange does, from the step
            // after the connect.
            ck.step = ck.connect_at.map_or(0, |i| i + 1);
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
        ck.closed = false;
        // HAProxy's check buffer is `tune.bufsize`: a body rule reads up
        // to that much of the body.
        ck.rx = crate::buf::Buffer::with_capacity(16 * 1024);
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
                Err(_) if was_hs => return self.check_hs_failed(now, srv),
                Err(_) => return self.check_done(now, srv, false, "L7RSP", "SSL error"),
            }
            if t.is_handshaking() {
                if t.flags.contains(crate::conn::tls::TlsFlags::EOF_FED) {
                    return self.check_hs_failed(now, srv);
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
    /// `tcpcheck_main`). A send drops what was received; successive
    /// expects read the same bytes.
    fn check_run_script(&mut self, now: Time, srv: ServerId) {
        use crate::backend::server::CheckStep;
        let wall_s = (self.opts.epoch_ms + now.as_ms()) / 1000;
        let be_name = self.proxies[srv.be].name.clone();
        let state_hdr = self.check_state_header(srv);
        let Some(server) = self.server_mut(srv) else {
            return;
        };
        let srv_name = server.cfg.name.clone();
        let names = (be_name.as_str(), srv_name.as_str());
        let (Some(cc), Some(ck)) = (server.cfg.check.as_ref(), server.check.as_mut()) else {
            return;
        };
        let Some(script) = cc.script.clone() else {
            return;
        };
        // The last step's success: its status, info and code.
        let mut passed: (&'static str, String, u32) = match ck.connect_at {
            Some(i) if ck.step == i + 1 => match script.get(i) {
                Some(CheckStep::Connect(c)) if c.step == 0 => ("L4OK", String::new(), 0),
                _ => ("L4OK", "(tcp-check)".into(), 0),
            },
            _ => ("L7OK", "(tcp-check)".into(), 0),
        };
        if ck.tls.is_some() && passed.0 == "L4OK" {
            passed.0 = "L6OK";
        }
        loop {
            let Some(step) = script.get(ck.step) else {
                let (status, info, code) = passed;
                ck.clear_desc = matches!(
                    script.last(),
                    Some(CheckStep::Expect(e)) if matches!(e.matcher, crate::backend::server::CheckMatch::Custom(_))
                );
                return self.check_done_code(now, srv, true, status, code, &info);
            };
            match step {
                CheckStep::Connect(c) => {
                    passed = match c.step {
                        0 => ("L4OK", String::new(), 0),
                        _ => ("L4OK", "(tcp-check)".into(), 0),
                    };
                    if ck.connect_at != Some(ck.step) {
                        let at = ck.step;
                        return self.check_reconnect(now, srv, at);
                    }
                    ck.step += 1;
                }
                CheckStep::Send {
                    bytes,
                    unix_time_at,
                } => {
                    let at = ck.tx.len();
                    ck.tx.extend_from_slice(bytes);
                    if let Some(t) = unix_time_at.and_then(|o| ck.tx.get_mut(at + o..at + o + 4)) {
                        t.copy_from_slice(&(wall_s as u32).to_be_bytes());
                    }
                    ck.rx.reset();
                    ck.step += 1;
                    passed = ("L7OK", "(tcp-check)".into(), 0);
                }
                CheckStep::HttpSend(h) => {
                    let req = http_request(h, &ck.vars, names, state_hdr.as_deref());
                    ck.tx.extend_from_slice(&req);
                    ck.rx.reset();
                    ck.step += 1;
                    passed = ("L7OK", String::new(), 0);
                }
                CheckStep::HttpExpect(h) => {
                    let last = ck.closed || ck.rx.is_full();
                    let rsp = if h.pre {
                        Ok(Some(HttpRsp::default()))
                    } else if h.h2 {
                        h2_parse(ck.rx.data(), h.head)
                    } else {
                        http_parse(ck.rx.data(), h.head)
                    };
                    match http_eval(&h.rules, rsp, last, names, &mut ck.vars) {
                        Eval::Wait => break,
                        Eval::Pass(status, info, code) => {
                            ck.step += 1;
                            passed = (status, info, code);
                        }
                        Eval::Fail(status, info, code) => {
                            return self.check_done_code(now, srv, false, status, code, &info);
                        }
                    }
                }
                CheckStep::Expect(e) => {
                    let last = ck.closed || ck.rx.is_full();
                    match expect_eval(e, ck.rx.data(), last) {
                        Eval::Wait => break,
                        Eval::Pass(status, info, code) => {
                            ck.step += 1;
                            passed = (status, info, code);
                        }
                        Eval::Fail(status, info, code) => {
                            return self.check_done_code(now, srv, false, status, code, &info);
                        }
                    }
                }
            }
        }
        self.check_interest(now, srv);
    }

    /// The value of the `X-Haproxy-Server-State` header when the check's
    /// script sends one (`http-check send-state`; HAProxy's
    /// `httpchk_build_status_header`), `None` otherwise.
    fn check_state_header(&self, srv: ServerId) -> Option<String> {
        use crate::backend::server::CheckStep;
        let b = self.proxies[srv.be].be.as_ref()?;
        let s = b.servers.get(srv.idx as usize)?;
        let cc = s.cfg.check.as_ref()?;
        let wanted = cc
            .script
            .as_deref()?
            .iter()
            .any(|st| matches!(st, CheckStep::HttpSend(h) if h.send_state));
        if !wanted {
            return None;
        }
        let ck = s.check.as_ref()?;
        let (rise, fall, health) = (cc.rise, cc.fall, ck.health);
        let stopped = !matches!(
            s.state,
            SrvState::Running | SrvState::Stopping | SrvState::Starting
        );
        let mut out = if ck.disabled {
            "no check".to_string()
        } else if !stopped {
            let nolb = if s.state == SrvState::Stopping {
                "NOLB"
            } else {
                "UP"
            };
            if health == rise + fall - 1 {
                nolb.to_string()
            } else {
                format!("{nolb} {}/{fall}", (health + 1).saturating_sub(rise))
            }
        } else if health > 0 {
            format!("DOWN {health}/{rise}")
        } else {
            "DOWN".to_string()
        };
        let dynamic = !b.lb.algo().is_static();
        let scale = if dynamic {
            crate::backend::lb::BE_WEIGHT_SCALE
        } else {
            1
        };
        let tot: u64 = b
            .servers
            .iter()
            .filter(|x| x.usable() && x.cfg.backup == s.cfg.backup)
            .map(|x| u64::from(x.uweight * if dynamic { x.ramp() } else { 1 }))
            .sum::<u64>()
            .div_ceil(u64::from(scale));
        let (addr, port) = match &s.cfg.unix {
            Some(u) => (u.to_string(), String::new()),
            None => (s.cfg.addr.ip().to_string(), s.cfg.addr.port().to_string()),
        };
        out.push_str(&format!(
            "; address={addr}; port={port}; name={}/{}; node={}; weight={}/{tot}; scur={}/{}; qcur={}",
            self.proxies[srv.be].name,
            s.cfg.name,
            self.opts.hostname,
            s.eweight(dynamic),
            s.cur_sess,
            u64::from(b.beconn).saturating_sub(b.queue.len() as u64),
            s.queue_all(),
        ));
        if let Some(t) = s.throttle(dynamic) {
            out.push_str(&format!("; throttle={t}%"));
        }
        Some(out)
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

    /// Runs an HTTP check's expect rules on its response, or feeds a
    /// scripted check: `n` bytes of plaintext were added to `rx` (`0`:
    /// the end).
    fn check_on_plain(&mut self, now: Time, srv: ServerId, n: usize) {
        let be_name = self.proxies[srv.be].name.clone();
        let Some(server) = self.server_mut(srv) else {
            return;
        };
        let names = (be_name.as_str(), server.cfg.name.as_str());
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
        if n == 0 {
            ck.closed = true;
        }
        let last = ck.closed || ck.rx.is_full();
        // The check's variables start empty at each run (HAProxy's
        // `vars_init_head` when the check starts).
        let mut vars = crate::vars::Vars::default();
        let rsp = http_parse(ck.rx.data(), cc.http_head);
        let verdict = http_eval(&cc.http_expects, rsp, last, names, &mut vars);
        match verdict {
            Eval::Wait => {}
            Eval::Pass(status, info, code) => {
                self.check_done_code(now, srv, true, status, code, &info)
            }
            Eval::Fail(status, info, code) => {
                self.check_done_code(now, srv, false, status, code, &info)
            }
        }
    }

    pub(crate) fn check_failed(&mut self, now: Time, srv: ServerId, err: SockError) {
        // The driver already closed the socket.
        let Some(ck) = self.check_mut(srv) else {
            return;
        };
        let sock = ck.sock.take();
        let (connected, received) = (ck.connected, !ck.rx.data().is_empty());
        let step_info = match self.server(srv) {
            Some(s) if !connected => s
                .cfg
                .check
                .as_ref()
                .zip(s.check.as_ref())
                .map_or(String::new(), |(cc, ck)| tcp_connect_info(cc, ck)),
            _ => String::new(),
        };
        let scripted = self
            .server(srv)
            .and_then(|s| s.cfg.check.as_ref())
            .is_some_and(|cc| cc.script.is_some());
        // A UNIX socket connect fails at once, in `connect()` itself:
        // HAProxy's `uxst_connect_server` error, reported as SOCKERR.
        let unix = self
            .server(srv)
            .and_then(|s| s.cfg.check.as_ref())
            .is_some_and(|cc| cc.unix.is_some());
        if let Some(sock) = sock {
            self.free_sock(sock);
        }
        if connected && scripted && received {
            // An error after some bytes: the expects judge what came
            // (HAProxy reports network errors only on an empty response).
            if let Some(ck) = self.check_mut(srv) {
                ck.closed = true;
            }
            return self.check_run_script(now, srv);
        }
        let info = err.check_info();
        let info = format!("{info}{step_info}");
        // Once connected, an error is a socket error (HAProxy's SOCKERR).
        let code = match err {
            _ if connected || unix => "SOCKERR",
            SockError::TimedOut => "L4TOUT",
            _ => "L4CON",
        };
        self.check_done(now, srv, false, code, &info);
    }

    /// Accounts one check result and schedules the next check.
    fn check_done(&mut self, now: Time, srv: ServerId, ok: bool, status: &'static str, info: &str) {
        self.check_done_code(now, srv, ok, status, 0, info)
    }

    /// Accounts one check result (its status, code and info) and
    /// schedules the next check (HAProxy's `set_server_check_status`).
    fn check_done_code(
        &mut self,
        now: Time,
        srv: ServerId,
        ok: bool,
        status: &'static str,
        code: u32,
        info: &str,
    ) {
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
        let next = self.check_result(now, srv, ok, status, code, info);
        self.set_check_next(srv, Some(now.add_ms(u64::from(next.max(1)))));
    }

    /// Accounts one check result in the server's health, logs and applies
    /// a transition (HAProxy's `set_server_check_status` with
    /// `check_notify_success`/`_failure`); the interval to the next check.
    fn check_result(
        &mut self,
        now: Time,
        srv: ServerId,
        ok: bool,
        status: &'static str,
        code: u32,
        info: &str,
    ) -> u32 {
        let be = srv.be;
        let log_checks = self.proxies[be].log_health_checks;
        let b = self.proxies[be].be.as_mut().expect("backend");
        let server = &mut b.servers[srv];
        let cfg = std::sync::Arc::clone(&server.cfg);
        let cc = cfg.check.as_ref().expect("check");
        let ck = server.check.as_mut().expect("check");
        let (prev_status, prev_health) = (ck.last_status, ck.health);
        ck.last_status = status;
        ck.last_code = code;
        ck.last_info = info.to_string();
        // A health analysis result has no duration (HAProxy's -1).
        ck.last_duration_ms = match status {
            "HANA" => 0,
            _ => ck.started.map_or(0, |t| now - t),
        };
        if !ok {
            server.chkfail += 1;
        }
        let HealthStep {
            now_up,
            transition,
            next,
        } = ck.account(cc, ok);
        let duration = ck.last_duration_ms;
        let health = ck.health;
        // An agent that said `down` keeps the server down whatever the
        // health check says (HAProxy's `check_notify_success` waits for
        // both); the server went down with the agent, not now.
        let agent_down = server.agent_down();
        // With an agent, the server may also be out of step with its
        // check (the agent had it down, then was disabled).
        let srv_was_up = matches!(server.state, SrvState::Running | SrvState::Stopping);
        let resync = server.agent.is_some() && srv_was_up != now_up;
        let transition = (transition || resync) && !agent_down;
        // While going down, the server still takes traffic (NOLB).
        server.state = match (now_up, ok) {
            _ if agent_down => SrvState::Stopped,
            (true, true) => SrvState::Running,
            (true, false) => SrvState::Stopping,
            (false, true) => SrvState::Starting,
            (false, false) => SrvState::Stopped,
        };
        if log_checks && (prev_status != status || prev_health != health) {
            // `option log-health-checks`: every change of status or health.
            let (n, of) = if now_up {
                (health + 1 - cc.rise, cc.fall)
            } else {
                (health, cc.rise)
            };
            let text = format!(
                "Health check for {}server {}/{} {}{}, status: {n}/{of} {}.",
                if cfg.backup { "backup " } else { "" },
                self.proxies[be].name,
                cfg.name,
                if ok { "succeeded" } else { "failed" },
                check_info(status, code, info, duration),
                if now_up { "UP" } else { "DOWN" },
            );
            self.log_px(Some(be), LogLevel::Notice, text);
        }
        let b = self.proxies[be].be.as_mut().expect("backend");
        let mut info = info;
        if let Some(ck) = b.servers[srv].check.as_mut() {
            if std::mem::take(&mut ck.clear_desc) {
                ck.last_info.clear();
                info = "";
            }
        }
        if transition {
            let b = self.proxies[be].be.as_mut().expect("backend");
            let server = &mut b.servers[srv];
            server.last_change = now;
            if !now_up {
                server.chkdown += 1;
            }
            self.server_transition(now, srv, now_up, status, code, info, duration);
        }
        if self.opts.nbthread > 1 {
            if let Some(s) = self.server(srv) {
                let ck = s.check.as_ref().expect("check");
                let h = SrvHealth {
                    srv,
                    state: s.state,
                    health: ck.health,
                    failed: !ok,
                    status,
                    code,
                    info: ck.last_info.clone(),
                    duration_ms: ck.last_duration_ms,
                    transition: transition.then_some(now_up),
                };
                self.shared_out.push_back(crate::engine::Shared(
                    crate::engine::SharedKind::SrvHealth(h),
                ));
            }
        }
        next
    }

    /// `observe layer4|layer7` (HAProxy's `__health_adjust`): one traffic
    /// event of server `srv`, counted as an error, a success or nothing
    /// by the server's `observe` layer. A success clears the consecutive
    /// errors; `error-limit` errors in a row apply `on-error` to the
    /// health check (nothing when the server has none) and force
    /// `fastinter` for the next check.
    pub(crate) fn health_adjust(&mut self, now: Time, srv: Option<ServerId>, ev: Hana) {
        use crate::cfgparse::{ObserveLayer, OnError};
        let Some(srv) = srv else { return };
        let Some(server) = self.server_mut(srv) else {
            return;
        };
        // Nothing without a health check (HAProxy's `health_adjust`
        // returns when the server has no check task).
        if server.check.is_none() {
            return;
        }
        // HAProxy's `analyze_statuses[].lr`: error, success or ignored.
        let failed = match (server.cfg.observe, ev) {
            (ObserveLayer::None, _) => return,
            (_, Hana::L4Err) => true,
            (ObserveLayer::Layer4, Hana::L4Ok) => false,
            (ObserveLayer::Layer4, _) | (ObserveLayer::Layer7, Hana::L4Ok) => return,
            (ObserveLayer::Layer7, Hana::HttpOk) => false,
            (ObserveLayer::Layer7, _) => true,
        };
        if !failed {
            server.consecutive_errors = 0;
            return;
        }
        let what = ev.desc();
        server.consecutive_errors += 1;
        if server.consecutive_errors < server.cfg.error_limit {
            return;
        }
        let info = format!(
            "Detected {} consecutive errors, last one was: {what}",
            server.consecutive_errors
        );
        server.consecutive_errors = 0;
        server.hanafail += 1;
        let cfg = std::sync::Arc::clone(&server.cfg);
        let (Some(cc), Some(ck)) = (cfg.check.as_ref(), server.check.as_mut()) else {
            return;
        };
        if ck.disabled || server.admin.is_maint() {
            return;
        }
        let fail = match cfg.on_error {
            OnError::FastInter => false,
            OnError::FailCheck => true,
            OnError::SuddenDeath => {
                ck.health = ck.health.min(cc.rise + 1);
                true
            }
            OnError::MarkDown => {
                ck.health = ck.health.min(cc.rise);
                true
            }
        };
        if fail {
            let _ = self.check_result(now, srv, false, "HANA", 0, &info);
        }
        // The next check comes after `fastinter` at most (HAProxy's
        // `CHK_ST_FASTINTER` and the wake-up of the check task), unless
        // one is under way.
        let Some(ck) = self.server(srv).and_then(|s| s.check.as_ref()) else {
            return;
        };
        if ck.sock.is_none() {
            let at = now.add_ms(u64::from(cc.fastinter_ms.max(1)));
            if ck.next.is_none_or(|n| n > at) {
                self.set_check_next(srv, Some(at));
            }
        }
    }

    /// Logs an UP/DOWN transition and moves queued streams.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn server_transition(
        &mut self,
        now: Time,
        srv: ServerId,
        up: bool,
        status: &str,
        code: u32,
        info: &str,
        duration: u64,
    ) {
        let be = srv.be;
        let p = &self.proxies[be];
        let b = p.be.as_ref().expect("backend");
        let name = format!("{}/{}", p.name, b.servers[srv].cfg.name);
        let bk = if b.servers[srv].cfg.backup {
            "Backup "
        } else {
            ""
        };
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
        let on_backup = if backup > 0 && active == 0 {
            " Running on backup."
        } else {
            ""
        };
        // With `option log-health-checks` the check line said why: the
        // transition line does not repeat it (HAProxy's
        // `check_notify_cause`).
        let reason = if p.log_health_checks {
            String::new()
        } else {
            check_info(status, code, info, duration)
        };
        // Thread 0 logs for the process; the others apply its results.
        let logs = self.opts.thread == 0;
        let text = if up {
            let queued = b.queue.len();
            format!(
                "{bk}Server {name} is UP{reason}. {active} active and {backup} backup servers online.{on_backup} 0 sessions requeued, {queued} total in queue."
            )
        } else {
            let requeued = b.servers[srv].queue.len();
            format!(
                "{bk}Server {name} is DOWN{reason}. {active} active and {backup} backup servers left.{on_backup} {cur} sessions active, {requeued} requeued, 0 remaining in queue."
            )
        };
        if logs {
            self.log_px(
                Some(be),
                if up {
                    LogLevel::Notice
                } else {
                    LogLevel::Alert
                },
                text,
            );
        }
        let p = &mut self.proxies[be];
        let pname = p.name.clone();
        let b = p.be.as_mut().expect("backend");
        b.last_change = now;
        if up {
            self.warmup_start(now, srv);
            self.lb_recalc(be);
            self.srv_up_shutdown_backups(now, srv);
            self.process_srv_queue(srv);
        } else {
            // Streams waiting for this server wait for any server instead.
            b.requeue_server(&mut self.streams, srv);
            self.warmup_stop(srv);
            self.lb_recalc(be);
            if self
                .server(srv)
                .is_some_and(|s| s.cfg.on_marked_down_shutdown)
            {
                self.srv_shutdown_streams(now, srv, crate::stream::ErrCode::Down);
            }
            let b = self.proxies[be].be.as_ref().expect("backend");
            if logs && !b.servers.iter().any(|s| s.usable()) {
                self.log_px(
                    Some(be),
                    LogLevel::Emerg,
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

/// What one expect step concluded.
#[derive(Debug, PartialEq, Eq)]
enum Eval {
    /// Not enough bytes yet.
    Wait,
    /// Passed: the status, info and code the check ends with if this is
    /// the last step.
    Pass(&'static str, String, u32),
    /// The check failed: status, info, code.
    Fail(&'static str, String, u32),
}

/// HAProxy's `tcpcheck_eval_expect` on the bytes received so far (`last`:
/// no more will come, or the buffer is full).
fn expect_eval(e: &crate::backend::server::CheckExpect, data: &[u8], last: bool) -> Eval {
    use crate::backend::server::{CheckMatch, CustomOutcome};
    let code = e
        .status_code
        .map_or(0, |(off, len)| status_code(data, off, len));
    if let CheckMatch::Custom(c) = &e.matcher {
        // A custom reading never sees an empty response.
        if !data.is_empty() {
            return match c.eval(data, last) {
                CustomOutcome::Wait => Eval::Wait,
                CustomOutcome::Pass { info } => Eval::Pass(e.ok_status, info, 0),
                CustomOutcome::Fail { status, code, info } => Eval::Fail(status, desc(&info), code),
            };
        }
        if !last {
            return Eval::Wait;
        }
        return Eval::Fail(e.err_status, desc(&error_info(e, data, false)), code);
    }
    if !last {
        let need = match &e.matcher {
            CheckMatch::Bytes { bytes, .. } => bytes.len(),
            _ => 0,
        };
        if data.len() < need || data.len() < e.min_recv.unwrap_or(0) {
            return Eval::Wait;
        }
    }
    let hit = e.matcher.matches(data);
    if !hit && !last && e.min_recv.is_none() {
        return Eval::Wait;
    }
    if hit != e.negate {
        let info = match &e.on_success {
            Some(m) => m.render(data),
            None if e.proto => String::new(),
            None => "(tcp-check)".into(),
        };
        return Eval::Pass(e.ok_status, desc(&info), code);
    }
    Eval::Fail(e.err_status, desc(&error_info(e, data, hit)), code)
}

/// The info of a failed expect (HAProxy's
/// `tcpcheck_expect_onerror_message`): `on-error`, else the rule's
/// comment, else a generic message (none for a protocol check's).
fn error_info(e: &crate::backend::server::CheckExpect, data: &[u8], hit: bool) -> String {
    match (&e.on_error, &e.comment) {
        (Some(m), _) => m.render(data),
        (None, Some(c)) => c.clone(),
        _ if data.is_empty() => format!("TCPCHK got an empty response at step {}", e.step),
        _ if e.proto => String::new(),
        _ => {
            let what = if hit {
                "matched unwanted content"
            } else {
                "did not match content"
            };
            format!("TCPCHK {what} '{}' at step {}", e.matcher.text(), e.step)
        }
    }
}

/// A check's `desc` as HAProxy keeps it: a C string of at most 127 bytes.
fn desc(s: &str) -> String {
    let s = s.split('\0').next().unwrap_or("");
    let mut end = s.len().min(127);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// An HTTP check's response as read so far (HAProxy's HTX message in
/// `check->bi`).
#[derive(Default)]
struct HttpRsp {
    status: u16,
    reason: String,
    headers: Vec<(String, Vec<u8>)>,
    /// The body received so far (de-chunked).
    body: Vec<u8>,
    /// The whole message is there (HAProxy's `HTX_FL_EOM`).
    eom: bool,
}

/// Reads an HTTP/1 response: `Ok(None)` while its head is incomplete,
/// `Err(())` when it is not HTTP.
fn http_parse(data: &[u8], head_req: bool) -> Result<Option<HttpRsp>, ()> {
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut hdrs);
    let at = match r.parse(data) {
        Ok(httparse::Status::Complete(at)) => at,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let status = r.code.ok_or(())?;
    let reason = r.reason.unwrap_or("").to_string();
    let headers: Vec<(String, Vec<u8>)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();
    let rest = &data[at..];
    let value = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_slice())
    };
    let no_body = head_req || status < 200 || status == 204 || status == 304;
    let chunked = value("transfer-encoding").is_some_and(|v| {
        String::from_utf8_lossy(v)
            .to_ascii_lowercase()
            .contains("chunked")
    });
    let (body, eom) = if no_body {
        (Vec::new(), true)
    } else if chunked {
        dechunk(rest)
    } else if let Some(cl) = value("content-length") {
        let cl: usize = std::str::from_utf8(cl)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(())?;
        let b = &rest[..rest.len().min(cl)];
        (b.to_vec(), b.len() == cl)
    } else {
        (rest.to_vec(), false)
    };
    Ok(Some(HttpRsp {
        status,
        reason,
        headers,
        body,
        eom,
    }))
}

/// Reads an HTTP/2 response to the check's request (stream 1), frame by
/// frame from the start of the connection (HAProxy's H2 mux under the
/// check): `Ok(None)` while its HEADERS block is incomplete, `Err(())`
/// on a protocol error, a reset of the stream or a GOAWAY before it.
fn h2_parse(data: &[u8], head_req: bool) -> Result<Option<HttpRsp>, ()> {
    use crate::http::h2::frame::FrameType;
    use crate::http::h2::hpack::{Decoder, HeaderList, DEFAULT_TABLE_SIZE};
    let mut dec = Decoder::new(DEFAULT_TABLE_SIZE);
    let mut rsp: Option<HttpRsp> = None;
    let mut block: Vec<u8> = Vec::new();
    let mut in_block = false;
    let mut at = 0;
    while let Some(h) = data.get(at..at + 9) {
        let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
        let (ty, flags) = (FrameType(h[3]), h[4]);
        let sid = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        let Some(payload) = data.get(at + 9..at + 9 + len) else {
            break;
        };
        at += 9 + len;
        let end_stream = flags & 0x1 != 0;
        // The payload without padding (and a HEADERS frame's priority).
        let strip = |p: &[u8], prio: bool| -> Result<Vec<u8>, ()> {
            let mut p = p;
            let mut pad = 0;
            if flags & 0x8 != 0 {
                pad = usize::from(*p.first().ok_or(())?);
                p = &p[1..];
            }
            if prio && flags & 0x20 != 0 {
                p = p.get(5..).ok_or(())?;
            }
            let n = p.len().checked_sub(pad).ok_or(())?;
            Ok(p[..n].to_vec())
        };
        if in_block && ty != FrameType::CONTINUATION {
            return Err(());
        }
        match ty {
            FrameType::GOAWAY if rsp.is_none() => return Err(()),
            FrameType::RST_STREAM if sid == 1 && rsp.as_ref().is_none_or(|r| !r.eom) => {
                return Err(())
            }
            FrameType::HEADERS | FrameType::CONTINUATION if sid == 1 => {
                let frag = if ty == FrameType::HEADERS {
                    strip(payload, true)?
                } else {
                    payload.to_vec()
                };
                block.extend_from_slice(&frag);
                if ty == FrameType::HEADERS && end_stream {
                    if let Some(r) = rsp.as_mut() {
                        r.eom = true;
                    }
                }
                in_block = flags & 0x4 == 0;
                if in_block {
                    continue;
                }
                let mut list = HeaderList::new(64 * 1024);
                dec.decode(&block, &mut list).map_err(|_| ())?;
                block.clear();
                if rsp.is_some() {
                    // Trailers.
                    continue;
                }
                let mut r = HttpRsp::default();
                for f in list.iter() {
                    if f.name == b":status" {
                        r.status = std::str::from_utf8(f.value)
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .ok_or(())?;
                    } else if !f.name.starts_with(b":") {
                        r.headers.push((
                            String::from_utf8_lossy(f.name).into_owned(),
                            f.value.to_vec(),
                        ));
                    }
                }
                if r.status < 200 {
                    // An interim response: the final one follows.
                    continue;
                }
                r.eom = end_stream || head_req || r.status == 204 || r.status == 304;
                rsp = Some(r);
            }
            FrameType::HEADERS | FrameType::CONTINUATION => {
                // Another stream's (a push is refused by the settings).
                in_block = flags & 0x4 == 0;
                if !in_block {
                    let mut list = HeaderList::new(64 * 1024);
                    let frag = strip(payload, ty == FrameType::HEADERS)?;
                    block.extend_from_slice(&frag);
                    dec.decode(&block, &mut list).map_err(|_| ())?;
                    block.clear();
                }
            }
            FrameType::DATA if sid == 1 => {
                let d = strip(payload, false)?;
                if let Some(r) = rsp.as_mut() {
                    r.body.extend_from_slice(&d);
                    r.eom |= end_stream;
                }
            }
            _ => {}
        }
    }
    Ok(rsp)
}

/// An HTTP check's request, rendered (HAProxy's `tcpcheck_eval_send` of
/// an HTTP rule through its H1 or H2 mux): an empty URI is `/`, a header
/// whose value renders empty is not sent, `connection: close` unless a
/// `connection` header is given (in HTTP/1.1 only; over HTTP/1.0 it is
/// the default), `content-length` with a body or for a method other
/// than OPTIONS, GET, HEAD and DELETE.
fn http_request(
    h: &crate::backend::server::HttpSendStep,
    vars: &crate::vars::Vars,
    (be, srv): (&str, &str),
    state: Option<&str>,
) -> Vec<u8> {
    use crate::backend::server::ChkText;
    let rsp = HttpRsp::default();
    let mut ctx = CheckSmp {
        rsp: &rsp,
        vars,
        be,
        srv,
    };
    let mut text = |t: &ChkText| match t {
        ChkText::Lit(s) => s.clone(),
        ChkText::Lf(f) => ctx.render(f, 16 * 1024, false),
    };
    let mut uri = text(&h.uri);
    if uri.is_empty() {
        uri = "/".into();
    }
    let mut hdrs: Vec<(String, String)> = Vec::new();
    for (n, v) in &h.headers {
        let v = text(v);
        if !v.is_empty() {
            hdrs.push((n.clone(), v));
        }
    }
    let body = h.body.as_ref().map(&mut text).unwrap_or_default();
    if let Some(st) = state {
        if h.send_state {
            hdrs.push(("x-haproxy-server-state".into(), st.to_string()));
        }
    }
    let bodyless = ["OPTIONS", "GET", "HEAD", "DELETE"].contains(&h.meth.as_str());
    let clen = (!body.is_empty() || !bodyless).then(|| body.len().to_string());
    if h.h2 {
        return h2_request(h, &uri, &hdrs, clen.as_deref(), body.as_bytes());
    }
    let v11 = h.ver.eq_ignore_ascii_case("HTTP/1.1");
    let mut r = format!("{} {uri} {}\r\n", h.meth, h.ver);
    let mut conn = false;
    for (n, v) in &hdrs {
        if n == "connection" {
            conn = true;
            let default = if v11 { "keep-alive" } else { "close" };
            if v.eq_ignore_ascii_case(default) {
                continue;
            }
        }
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(c) = &clen {
        r.push_str(&format!("content-length: {c}\r\n"));
    }
    if v11 && !conn {
        r.push_str("connection: close\r\n");
    }
    r.push_str("\r\n");
    r.push_str(&body);
    r.into_bytes()
}

/// The request over HTTP/2 (HAProxy's H2 mux on a new connection): the
/// preface, an empty SETTINGS frame, the HEADERS frame of stream 1 and
/// its DATA; connection-specific headers are not sent.
fn h2_request(
    h: &crate::backend::server::HttpSendStep,
    uri: &str,
    hdrs: &[(String, String)],
    clen: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    use crate::http::h2::frame::PREFACE;
    use crate::http::h2::hpack::{Encoder, Field, DEFAULT_TABLE_SIZE};
    let frame = |out: &mut Vec<u8>, ty: u8, flags: u8, sid: u32, p: &[u8]| {
        let n = p.len() as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..]);
        out.push(ty);
        out.push(flags);
        out.extend_from_slice(&sid.to_be_bytes());
        out.extend_from_slice(p);
    };
    let mut out = PREFACE.to_vec();
    // SETTINGS: no server push.
    frame(&mut out, 0x4, 0, 0, &[0, 2, 0, 0, 0, 0]);
    let mut fields: Vec<(&[u8], &[u8])> = vec![
        (b":method", h.meth.as_bytes()),
        (b":scheme", b"http"),
        (b":path", uri.as_bytes()),
    ];
    let conn_specific = [
        "connection",
        "proxy-connection",
        "keep-alive",
        "upgrade",
        "transfer-encoding",
        "te",
    ];
    for (n, v) in hdrs {
        if n == "host" {
            fields.insert(2, (b":authority", v.as_bytes()));
        } else if !conn_specific.contains(&n.as_str()) {
            fields.push((n.as_bytes(), v.as_bytes()));
        }
    }
    if let Some(c) = clen {
        fields.push((b"content-length", c.as_bytes()));
    }
    let mut block = Vec::new();
    Encoder::new(DEFAULT_TABLE_SIZE)
        .encode(fields.iter().map(|(n, v)| Field::new(n, v)), &mut block);
    let end = if body.is_empty() { 0x1 } else { 0 };
    frame(&mut out, 0x1, 0x4 | end, 1, &block);
    for (i, c) in body.chunks(16 * 1024).enumerate() {
        let last = (i + 1) * 16 * 1024 >= body.len();
        frame(&mut out, 0x0, u8::from(last), 1, c);
    }
    out
}

/// The data of the complete chunks in `b`, and whether the last chunk
/// came.
fn dechunk(mut b: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok());
        let Some(size) = size else {
            return (out, false);
        };
        if size == 0 {
            return (out, true);
        }
        let Some(chunk) = b.get(eol + 2..eol + 2 + size) else {
            out.extend_from_slice(&b[(eol + 2).min(b.len())..]);
            return (out, false);
        };
        out.extend_from_slice(chunk);
        b = b.get(eol + 4 + size..).unwrap_or(&[]);
    }
}

/// Runs an HTTP check's expect rules on the response read so far
/// (`last`: no more bytes will come, or the buffer is full), as
/// HAProxy's `tcpcheck_eval_expect_http` then the end of `tcpcheck_main`.
fn http_eval(
    rules: &[crate::backend::server::HttpExpect],
    rsp: Result<Option<HttpRsp>, ()>,
    last: bool,
    (be, srv): (&str, &str),
    vars: &mut crate::vars::Vars,
) -> Eval {
    use crate::backend::server::HttpMatch;
    let rsp = match rsp {
        Ok(Some(r)) => r,
        Ok(None) if !last => return Eval::Wait,
        // Nothing HTTP came (HAProxy 2.6 says no more).
        Ok(None) | Err(()) => return Eval::Fail("L7RSP", String::new(), 0),
    };
    let last = last || rsp.eom;
    let code = u32::from(rsp.status);
    let mut ok = "L7OK";
    for r in rules {
        let mut ctx = CheckSmp {
            rsp: &rsp,
            vars,
            be,
            srv,
        };
        match &r.matcher {
            HttpMatch::SetVar { var, expr } => {
                // A failed expression leaves the variable as it was.
                if let Some(v) = expr.eval(&mut ctx) {
                    vars.set(var, Some(v));
                }
                continue;
            }
            HttpMatch::UnsetVar(var) => {
                vars.set(var, None);
                continue;
            }
            _ => {}
        }
        match http_rule(r, &rsp, last, &mut ctx) {
            None => return Eval::Wait,
            Some(Ok(())) => ok = r.ok_status,
            Some(Err((status, mut info))) => {
                // A status line without a reason leaves the info empty
                // (HAProxy 2.6 has no generic text for HTTP rules).
                if let Some(c) = &r.comment {
                    info.push_str(" comment: ");
                    info.push_str(c);
                }
                return Eval::Fail(status, desc(&info), code);
            }
        }
    }
    Eval::Pass(ok, String::new(), code)
}

/// One rule on the response: `None` to wait for more, else its verdict
/// (on failure, the status and HAProxy's description).
fn http_rule(
    r: &crate::backend::server::HttpExpect,
    rsp: &HttpRsp,
    last: bool,
    ctx: &mut CheckSmp<'_>,
) -> Option<Result<(), (&'static str, String)>> {
    use crate::backend::server::HttpMatch;
    let (hit, err, desc) = match &r.matcher {
        HttpMatch::Status(ranges) => {
            let hit = ranges.iter().any(|&(a, b)| (a..=b).contains(&rsp.status));
            (hit, "L7STS", rsp.reason.clone())
        }
        HttpMatch::RStatus(re) => (
            re.is_match(rsp.status.to_string().as_bytes()),
            "L7STS",
            rsp.reason.clone(),
        ),
        HttpMatch::Hdr { name, value, full } => {
            let name = ctx.resolve(name);
            let value = value.as_ref().map(|v| ctx.resolve(v));
            (
                hdr_match(rsp, &name, value.as_ref(), *full),
                "L7STS",
                rsp.reason.clone(),
            )
        }
        // Run by the caller.
        HttpMatch::SetVar { .. } | HttpMatch::UnsetVar(_) => return Some(Ok(())),
        HttpMatch::Body(_) | HttpMatch::RBody(_) => {
            let body = &rsp.body[..];
            if body.is_empty() {
                if !last {
                    return None;
                }
                let e = r.err_status.unwrap_or("L7RSP");
                return Some(Err((
                    e,
                    "HTTP content check could not find a response body".into(),
                )));
            }
            let short = match &r.matcher {
                HttpMatch::Body(s) => body.len() < s.len(),
                _ => false,
            };
            if !last && (short || r.min_recv.is_some_and(|m| body.len() < m)) {
                return None;
            }
            let hit = match &r.matcher {
                HttpMatch::Body(s) => {
                    let p = s.as_bytes();
                    p.is_empty() || body.windows(p.len()).any(|w| w == p)
                }
                HttpMatch::RBody(re) => re.is_match(body),
                _ => false,
            };
            if !hit && !last && r.min_recv.is_none() {
                return None;
            }
            let desc = if r.negate {
                "HTTP check matched unwanted content"
            } else {
                "HTTP content check did not match"
            };
            (hit, "L7RSP", desc.to_string())
        }
    };
    if hit != r.negate {
        return Some(Ok(()));
    }
    Some(Err((r.err_status.unwrap_or(err), desc)))
}

/// What an HTTP check's expressions read (HAProxy's check session, no
/// stream): the response's headers, the check's variables, the
/// backend's and server's names.
struct CheckSmp<'a> {
    rsp: &'a HttpRsp,
    vars: &'a crate::vars::Vars,
    be: &'a str,
    srv: &'a str,
}

impl CheckSmp<'_> {
    /// A `-lf` pattern rendered (HAProxy builds it with
    /// `sess_build_logline` when the rule runs); others as they are.
    fn resolve(&mut self, p: &crate::backend::server::HdrPat) -> crate::backend::server::HdrPat {
        let crate::backend::server::HdrPat::Lf(base, fmt) = p else {
            return p.clone();
        };
        base.with_text(self.render(fmt, 256, true))
    }

    /// A log-format string of `%[expr]` rendered (HAProxy's
    /// `sess_build_logline` on the check's session), at most `max` bytes.
    /// An absent sample renders as `-`, or as nothing with `!dash` (in
    /// what a check sends, as HAProxy 2.6 sends it).
    fn render(&mut self, fmt: &crate::log::format::LogFmt, max: usize, dash: bool) -> String {
        use crate::log::format::{Enc, LfNode, LineOut};
        let mut out = LineOut::new(max);
        for n in &fmt.nodes {
            match n {
                LfNode::Text(t) => out.text(t),
                LfNode::Sep => out.sep(),
                LfNode::Expr(e, o) => {
                    let v = e.eval(self).and_then(|s| s.into_bytes());
                    if v.is_none() && !dash {
                        continue;
                    }
                    out.value(v.as_deref(), *o, Enc::None);
                }
                // Refused when the engine was built.
                LfNode::Var(..) => {}
            }
        }
        out.buf
    }

    /// The values of header `name` in the response: whole lines
    /// (`full`), else each comma-separated value.
    fn hdr_values(&self, name: &str, full: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (n, v) in &self.rsp.headers {
            if !n.eq_ignore_ascii_case(name) {
                continue;
            }
            if full {
                out.push(v.trim_ascii().to_vec());
            } else {
                out.extend(v.split(|&b| b == b',').map(|p| p.trim_ascii().to_vec()));
            }
        }
        out
    }
}

impl crate::sample::SampleCtx for CheckSmp<'_> {
    fn fetch(&mut self, f: &crate::sample::Fetch) -> Option<crate::sample::Sample> {
        use crate::sample::{FetchKind, Sample, VarScope};
        match &f.kind {
            FetchKind::Var => {
                let var = f.var()?;
                let v = match var.scope {
                    VarScope::Check => self.vars.get(var).cloned(),
                    _ => None,
                };
                v.or_else(|| crate::vars::var_default(f))
            }
            FetchKind::BeName => Some(Sample::str(self.be)),
            FetchKind::SrvName => Some(Sample::str(self.srv)),
            FetchKind::Hdr { full, .. } => {
                let vals = self.hdr_values(f.str_arg(0)?, *full);
                // The last occurrence unless one is named (HAProxy's
                // `occ`: from the first when positive, from the last
                // when negative).
                let occ = f.int_arg(1).unwrap_or(-1);
                let i = match occ {
                    0 => vals.len().checked_sub(1)?,
                    n if n > 0 => usize::try_from(n - 1).ok()?,
                    n => vals.len().checked_sub(usize::try_from(-n).ok()?)?,
                };
                vals.get(i).map(Sample::str)
            }
            _ => None,
        }
    }

    fn fetch_all(&mut self, f: &crate::sample::Fetch, out: &mut Vec<crate::sample::Sample>) {
        match &f.kind {
            crate::sample::FetchKind::Hdr { full, .. } if f.int_arg(1).is_none() => {
                let Some(name) = f.str_arg(0) else { return };
                out.extend(
                    self.hdr_values(name, *full)
                        .into_iter()
                        .map(crate::sample::Sample::str),
                );
            }
            _ => out.extend(self.fetch(f)),
        }
    }
}

/// `hdr name N [value V] [full]`: a header whose name matches, with a
/// value (each comma-separated one unless `full`) that matches.
fn hdr_match(
    rsp: &HttpRsp,
    name: &crate::backend::server::HdrPat,
    value: Option<&crate::backend::server::HdrPat>,
    full: bool,
) -> bool {
    rsp.headers.iter().any(|(n, v)| {
        if !name.matches(n, true) {
            return false;
        }
        let Some(vp) = value else {
            return true;
        };
        let v = String::from_utf8_lossy(v);
        if full {
            return vp.matches(v.trim(), false);
        }
        v.split(',').any(|one| vp.matches(one.trim(), false))
    })
}

/// `status-code res.payload(OFF,LEN)`: the bytes as a decimal number, 0
/// when they are not one.
fn status_code(data: &[u8], off: usize, len: usize) -> u32 {
    data.get(off..off + len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// HAProxy's `check_append_info` for a check result: `, reason: R[,
/// code: N][, info: "I"], check duration: Dms`. The code shows for the
/// statuses that carry one (L7OK, L7OKC, L7STS).
pub(crate) fn check_info(status: &str, code: u32, info: &str, duration_ms: u64) -> String {
    let mut s = format!(", reason: {}", status_desc(status));
    if matches!(status, "L7OK" | "L7OKC" | "L7STS") {
        s.push_str(&format!(", code: {code}"));
    }
    if !info.is_empty() {
        s.push_str(", info: \"");
        for c in info.chars() {
            match c {
                '"' => s.push_str("\\\""),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    s.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => s.push(c),
            }
        }
        s.push('"');
    }
    // A health analysis has no duration (HAProxy's -1, not printed).
    if status != "HANA" {
        s.push_str(&format!(", check duration: {duration_ms}ms"));
    }
    s
}

/// A check status's description (HAProxy's `check_statuses[]`).
pub(crate) fn status_desc(status: &str) -> &'static str {
    match status {
        "L4OK" => "Layer4 check passed",
        "L4TOUT" => "Layer4 timeout",
        "L4CON" => "Layer4 connection problem",
        "L6OK" => "Layer6 check passed",
        "L6TOUT" => "Layer6 timeout",
        "L6RSP" => "Layer6 invalid response",
        "L7TOUT" => "Layer7 timeout",
        "L7RSP" => "Layer7 invalid response",
        "L7OK" => "Layer7 check passed",
        "L7OKC" => "Layer7 check conditionally passed",
        "L7STS" => "Layer7 wrong status",
        "SOCKERR" => "Socket error",
        "CHECKED" => "No status change",
        "HANA" => "Health analyze",
        _ => "Initializing",
    }
}

/// The connect step of a `tcp-check` whose connection failed, for the
/// check's info (HAProxy's `chk_report_conn_err`: ` at initial
/// connection step of tcp-check` for the implicit connect, else ` at step
/// N of tcp-check (connect port P) comment: '...'`); empty for other
/// checks.
fn tcp_connect_info(
    cc: &crate::backend::server::CheckCfg,
    ck: &crate::backend::server::Check,
) -> String {
    use crate::backend::server::CheckStep;
    let step = ck
        .connect_at
        .and_then(|i| match cc.script.as_deref()?.get(i)? {
            CheckStep::Connect(c) => Some(c),
            _ => None,
        });
    let Some(c) = step else {
        return String::new();
    };
    if c.step == 0 {
        return " at initial connection step of tcp-check".into();
    }
    let what = match c.rule_port {
        Some(p) => format!(" (connect port {p})"),
        None => " (connect)".into(),
    };
    let comment = c
        .comment
        .as_ref()
        .map(|m| format!(" comment: '{m}'"))
        .unwrap_or_default();
    format!(" at step {} of tcp-check{what}{comment}", c.step)
}

/// Where a `tcp-check` stopped, for the check's info (HAProxy's
/// `chk_report_conn_err` on a TCP check: ` at step N of tcp-check
/// (expect ...) comment: '...'`).
fn tcp_check_step_info(e: &crate::backend::server::CheckExpect) -> String {
    use crate::backend::server::CheckMatch;
    let what = match &e.matcher {
        CheckMatch::Bytes { text, bytes } if text.as_bytes() == &bytes[..] => {
            format!(" (expect string '{text}')")
        }
        CheckMatch::Bytes { text, .. } => format!(" (expect binary '{text}')"),
        CheckMatch::Regex { binary: false, .. } => " (expect regex)".to_string(),
        CheckMatch::Regex { binary: true, .. } => " (expect binary regex)".to_string(),
        CheckMatch::Custom(_) => " (expect custom function)".to_string(),
    };
    let comment = e
        .comment
        .as_ref()
        .map(|c| format!(" comment: '{c}'"))
        .unwrap_or_default();
    format!(" at step {} of tcp-check{what}{comment}", e.step)
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
            http_expects: Vec::new(),
            http_head: false,
            addr: "127.0.0.1:80".parse().unwrap(),
            unix: None,
            script: None,
            tls: None,
        }
    }

    fn check(health: u32) -> Check {
        Check::new(health)
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

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const GREETING: &str = "4A0000000A382E302E3139000A0000006F3C025E6249410D00FFFFFF0200FFC715000000000000000000007C182159106E2761144322200063616368696E675F736861325F70617373776F726400";

    /// MySQL's readers on checks/mysql-check.vtc's packets: the handshake
    /// reports the version, an error packet its code and message, a short
    /// packet waits (or, at the end, is an invalid response).
    #[test]
    fn mysql_readers_on_haproxys_vectors() {
        use crate::backend::server::{CustomExpect, CustomOutcome};
        let hs = unhex(GREETING);
        assert_eq!(
            CustomExpect::MysqlInitHs.eval(&hs, false),
            CustomOutcome::Pass {
                info: "8.0.19".into()
            }
        );
        assert_eq!(
            CustomExpect::MysqlInitHs.eval(&hs[..10], false),
            CustomOutcome::Wait
        );
        assert!(matches!(
            CustomExpect::MysqlInitHs.eval(&hs[..10], true),
            CustomOutcome::Fail {
                status: "L7RSP",
                ..
            }
        ));
        assert_eq!(CustomExpect::MysqlOk.eval(&hs, false), CustomOutcome::Wait);
        let mut both = hs.clone();
        both.extend(unhex("67000002FFE304436C69656E7420646F6573206E6F7420737570706F72742061757468656E7469636174696F6E2070726F746F636F6C20726571756573746564206279207365727665723B20636F6E736964657220757067726164696E67204D7953514C20636C69656E74"));
        assert_eq!(
            CustomExpect::MysqlOk.eval(&both, false),
            CustomOutcome::Fail {
                status: "L7STS",
                code: 1251,
                info: "Client does not support authentication protocol requested by server; consider upgrading MySQL client".into()
            }
        );
        let mut ok = hs;
        ok.extend(unhex("0700000200000002000000"));
        assert!(matches!(
            CustomExpect::MysqlOk.eval(&ok, false),
            CustomOutcome::Pass { .. }
        ));
    }

    /// LDAP's reader on checks/ldap-check.vtc's replies.
    #[test]
    fn ldap_reader_on_haproxys_vectors() {
        use crate::backend::server::{CustomExpect, CustomOutcome};
        let eval = |h: &str| CustomExpect::LdapBindRsp.eval(&unhex(h), true);
        let pass = CustomOutcome::Pass {
            info: "Success".into(),
        };
        assert_eq!(eval("300C020101 61 070A01 00 04000400"), pass);
        assert_eq!(
            eval("308400000010020101 61 84000000070A01 00 04000400"),
            pass
        );
        assert!(matches!(
            eval("300C020101 61 070A01 01 04000400"),
            CustomOutcome::Fail {
                status: "L7STS",
                code: 1,
                ..
            }
        ));
        assert_eq!(
            eval("300C020101 60 070A01 00 04000400"),
            CustomOutcome::Fail {
                status: "L7RSP",
                code: 0,
                info: "Not LDAPv3 protocol".into()
            }
        );
        // Truncated: wait, unless the connection ended.
        assert_eq!(
            CustomExpect::LdapBindRsp.eval(&unhex("300C0201"), false),
            CustomOutcome::Wait
        );
        for n in 0..14 {
            let _ = CustomExpect::LdapBindRsp
                .eval(&unhex("308400000010020101618400000007")[..n.min(15)], true);
        }
    }

    /// `tcpcheck_eval_expect`: without `min-recv` a mismatch waits for
    /// more bytes; with it, the result is final once they are there; a
    /// negated pattern passes on a final mismatch.
    #[test]
    fn expect_waits_like_haproxy() {
        use super::{expect_eval, Eval};
        use crate::backend::server::{CheckExpect, CheckMatch};
        let re = |t: &str| CheckMatch::Regex {
            re: crate::sample::Regex::new(t, false).unwrap(),
            binary: false,
        };
        let mut e = CheckExpect::new(re("^2[0-9]{2} "), 2);
        assert_eq!(expect_eval(&e, b"421 busy\r\n", false), Eval::Wait);
        assert!(matches!(
            expect_eval(&e, b"421 busy\r\n", true),
            Eval::Fail("L7RSP", _, 0)
        ));
        e.min_recv = Some(4);
        e.err_status = "L7STS";
        e.status_code = Some((0, 3));
        assert_eq!(expect_eval(&e, b"42", false), Eval::Wait);
        assert!(matches!(
            expect_eval(&e, b"421 busy", false),
            Eval::Fail("L7STS", _, 421)
        ));
        assert!(matches!(
            expect_eval(&e, b"250 ok", false),
            Eval::Pass("L7OK", _, 250)
        ));
        let mut n = CheckExpect::new(re("^E"), 3);
        n.negate = true;
        n.min_recv = Some(5);
        n.proto = true;
        assert!(matches!(
            expect_eval(&n, b"R\0\0\0\x08", false),
            Eval::Pass(..)
        ));
        assert!(matches!(
            expect_eval(&n, b"E\0\0\0\x08", false),
            Eval::Fail(..)
        ));
        // Nothing came at all: no `E`, so the negated step passes (as in
        // HAProxy: pgsql-check's next step then fails).
        assert!(matches!(expect_eval(&n, b"", true), Eval::Pass(..)));
        let e = CheckExpect::new(re("^\\+PONG"), 2);
        assert_eq!(
            expect_eval(&e, b"", true),
            Eval::Fail("L7RSP", "TCPCHK got an empty response at step 2".into(), 0)
        );
    }
}
