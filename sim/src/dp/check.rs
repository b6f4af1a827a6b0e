//! The data-path oracles, the drain and the end of a data-path run.
//!
//! | oracle | when | what |
//! |---|---|---|
//! | `integrity` | every byte a server or client reads | a server's bytes are a prefix of exactly one client's stream, and its PROXY header names that client; a client's bytes are a prefix of what it sent (TCP echo) or exactly the responses to its requests, in order (HTTP) |
//! | `hang` | every 200 ms | a client connection the proxy accepted never goes [`DpSpec::hang_ms`](super::DpSpec) without a byte moving on it or on its server connection |
//! | `bounded` | every 200 ms | the engine's live sockets are the driver's |
//! | `log` | at the drain | TCP: one log line per accepted connection; HTTP: see [`super::http`] |
//! | `complete` | at the drain | TCP: a connection logged `--` whose client neither reset nor was reset: its server read every byte it sent, and it read every byte its server sent |
//! | `stats` | at the drain | `show stat`: `scur` and `qcur` 0 everywhere, `FRONTEND` `stot` = connections accepted, `bin`/`bout` = bytes the proxy read from clients / from servers |
//! | `drain` | after the last client | within `hang_ms + 6 s` `datapath_counts() == (0,0,0,0)` and every server connection that carried data is closed; after the soft stop and exit, no connection left in the network |
//! | `stop` | after the drain | the soft-stopped process exits within 8 s |

use core::net::SocketAddr;

use super::{CState, ClientProto, LogRec, Phase, SrvProto};
use crate::world::{PState, World};

/// How long a soft-stopped proxy may take to exit, in ms.
const STOP_MS: u64 = 8000;
/// Extra time the drain may take after the last client is done.
const DRAIN_SLACK_MS: u64 = 6000;

/// One `show stat` row, by column name.
struct StatRow<'a> {
    cols: &'a [&'a str],
    vals: Vec<&'a str>,
}

impl StatRow<'_> {
    fn get(&self, name: &str) -> &str {
        self.cols
            .iter()
            .position(|c| *c == name)
            .and_then(|i| self.vals.get(i).copied())
            .unwrap_or("")
    }

    fn num(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap_or(0)
    }
}

impl World {
    /// The periodic data-path checks and the phases of the end of a run.
    pub(crate) fn dp_check(&mut self) {
        let now = self.now;
        let proxies = self.dpw().proxies.clone();
        let live: Vec<usize> = self.live().collect();
        for p in live {
            let e = &self.procs[p].engine;
            if e.sock_count() != self.procs[p].socks.len() {
                let d = format!(
                    "p{p}: the engine holds {} sockets, the driver {}",
                    e.sock_count(),
                    self.procs[p].socks.len()
                );
                return self.fail("bounded", d);
            }
            if proxies.contains(&p) {
                let streams = e.datapath_counts().2;
                self.stats.dp.peak_live_streams = self.stats.dp.peak_live_streams.max(streams);
            }
        }
        self.rhttp_check();
        if self.failure.is_some() {
            return;
        }
        self.check_hangs();
        if self.failure.is_some() {
            return;
        }
        let phase = self.dpw().phase;
        match phase {
            Phase::Traffic => {
                let all_done = self.dpw().clients.iter().all(|c| c.state == CState::Done);
                if now >= self.dp_spec().traffic_end && all_done {
                    self.trace
                        .line(format_args!("{} dp every client is done", now.as_ms()));
                    self.dpw().phase = Phase::Settle(now);
                }
            }
            Phase::Settle(since) => {
                if let Err(why) = self.drained() {
                    if now - since > self.dp_spec().hang_ms + DRAIN_SLACK_MS {
                        let d = format!("{} ms after the last client: {why}", now - since);
                        self.fail("drain", d);
                    }
                    return;
                }
                self.trace.line(format_args!("{} dp drained", now.as_ms()));
                let live: Vec<usize> = self.live().collect();
                for &p in &live {
                    self.procs[p].engine.check_invariants();
                }
                self.check_stats();
                if self.dp_spec().h2.is_some() {
                    self.h2_final_checks();
                } else if self.dp_spec().http {
                    self.http_final_checks();
                    self.rhttp_final_checks();
                } else {
                    self.tcp_final_checks();
                }
                if self.failure.is_some() {
                    return;
                }
                // The proxy, and in `reverse-http` the public nodes and
                // the edges, all at once.
                self.dpw().phase = Phase::Stopping(now);
                for p in live {
                    self.due(p);
                    self.procs[p].state = PState::Stopping(now);
                    self.procs[p]
                        .engine
                        .stop(now, sluice_core::engine::StopMode::Soft);
                    self.after_call(p);
                }
            }
            Phase::Stopping(since) => {
                if self.live().next().is_none() {
                    self.dpw().phase = Phase::Exited(now);
                } else if now - since > STOP_MS {
                    let d = format!("soft-stopped {} ms ago and still runs", now - since);
                    self.fail("stop", d);
                }
            }
            Phase::Exited(since) => {
                if now - since < 2000 {
                    return;
                }
                if self.conns.is_empty() {
                    self.trace.line(format_args!("{} dp done", now.as_ms()));
                    self.stats.converge_ms = Some(now - self.spec.fault_end);
                    self.done = true;
                } else {
                    let left: Vec<String> = self
                        .conns
                        .iter()
                        .take(4)
                        .map(|(id, c)| {
                            format!(
                                "c{id} {:?} owners {:?}/{:?}",
                                c.syn, c.ends[0].owner, c.ends[1].owner
                            )
                        })
                        .collect();
                    let d = format!(
                        "{} connections left in the network after the proxy exited: {left:?}",
                        self.conns.len()
                    );
                    self.fail("drain", d);
                }
            }
        }
    }

    /// No client stream the proxy accepted goes too long without progress.
    fn check_hangs(&mut self) {
        let now = self.now;
        let bound = self.dp_spec().hang_ms;
        let dp = self.dp.as_deref().expect("dp");
        let stuck = dp.clients.iter().find(|c| {
            c.state != CState::Done && c.accepted_at.is_some() && now - c.last_progress > bound
        });
        if let Some(c) = stuck {
            let d = format!(
                "client{} (c{}) accepted at +{} ms: nothing moved for {} ms (bound {bound} ms); fin_sent={} got_fin={}",
                c.id,
                c.cid.unwrap_or(0),
                c.accepted_at.map_or(0, |t| t - self.spec.start),
                now - c.last_progress,
                c.fin_sent,
                c.got_fin
            );
            self.fail("hang", d);
        }
    }

    /// Whether the proxy let go of everything.
    fn drained(&self) -> Result<(), String> {
        let dp = self.dp.as_deref().expect("dp");
        let e = &self.procs[dp.proxies[0]].engine;
        let counts = e.datapath_counts();
        if self.dp_spec().rhttp.is_some() {
            self.rhttp_drained()?;
        } else if counts != (0, 0, 0, 0) {
            // Whose sockets the proxy still holds.
            let held: Vec<String> = self.procs[dp.proxies[0]]
                .socks
                .values()
                .take(6)
                .map(
                    |&(cid, e)| match (dp.client_of.get(&cid), dp.sconn_of.get(&cid)) {
                        (Some(c), _) => format!("c{cid} (client{c})"),
                        (_, Some(s)) => format!("c{cid} (sc{s})"),
                        _ => format!("c{cid} end {e}"),
                    },
                )
                .collect();
            return Err(format!(
                "datapath_counts (conns, sessions, streams, buffers) = {counts:?}; sockets held: {held:?}"
            ));
        }
        let open = dp
            .sconns
            .iter()
            .enumerate()
            .find(|(_, s)| s.open && (s.client.is_some() || self.now - s.accepted_at > 2000));
        if let Some((i, s)) = open {
            return Err(format!(
                "server connection sc{i} (c{}, s{}) still open",
                s.cid,
                s.srv + 1
            ));
        }
        Ok(())
    }

    /// The run ran out of time before the drain finished.
    pub(crate) fn dp_fail_drain(&mut self) {
        let dp = self.dp.as_deref().expect("dp");
        let left: Vec<String> = dp
            .clients
            .iter()
            .filter(|c| c.state != CState::Done)
            .take(5)
            .map(|c| {
                format!(
                    "client{} {:?} c{} (accepted {:?}, last progress {} ms ago)",
                    c.id,
                    c.state,
                    c.cid.unwrap_or(0),
                    c.accepted_at.map(|t| t - self.spec.start),
                    self.now - c.last_progress
                )
            })
            .collect();
        let why = match self.drained() {
            Ok(()) => "drained".to_string(),
            Err(w) => w,
        };
        let d = format!(
            "run over in phase {:?}: clients not done {left:?}; {why}",
            dp.phase
        );
        self.fail("drain", d);
    }

    /// A log line of the proxy: to the client it is about.
    pub(crate) fn dp_log(&mut self, pid: usize, text: &str) {
        let toks: Vec<&str> = text.split(' ').collect();
        let addr = toks.first().and_then(|t| t.parse::<SocketAddr>().ok());
        // `reverse-http`: the edges' lines are about the public node's
        // requests, and the public node's lines about edge connections
        // (from an edge's address) about no client.
        let edge_line = self.dp_spec().rhttp.as_ref().is_some_and(|r| {
            r.edges.iter().any(|e| e.node == self.procs[pid].node)
                || addr.is_some_and(|a| {
                    r.edges
                        .iter()
                        .any(|e| crate::config::node_addr(e.node).ip() == a.ip())
                })
        });
        let Some(addr) = addr.filter(|_| !edge_line) else {
            if text.starts_with("Server ") && text.contains(" is DOWN") {
                self.stats.dp.server_down_logs += 1;
            }
            if text.contains(" changed its IP from ") && !text.contains(" from (none) ") {
                self.stats.dp.dns_changes += 1;
            }
            if text.contains("going DOWN for maintenance (DNS ")
                || text.contains("going DOWN for maintenance (No IP")
            {
                self.stats.dp.dns_maint += 1;
            }
            return;
        };
        let rec = if toks.get(2).is_some_and(|t| t.ends_with(':')) {
            // A handshake failure (`accept-proxy`).
            LogRec {
                term: "HS".into(),
                bytes: 0,
                status: -1,
                request: String::new(),
                server: String::new(),
            }
        } else if self.dp_spec().http {
            super::http::parse_httplog(&toks)
        } else {
            LogRec {
                term: toks.get(6).copied().unwrap_or("?").to_string(),
                bytes: toks.get(5).and_then(|b| b.parse().ok()).unwrap_or(0),
                status: -1,
                request: String::new(),
                server: toks.get(3).copied().unwrap_or("?").to_string(),
            }
        };
        *self.stats.dp.terms.entry(rec.term.clone()).or_insert(0) += 1;
        if self.dp_spec().h2.is_some() && rec.status != -1 {
            return self.h2_log(rec, text);
        }
        let http = self.dp_spec().http;
        let dp = self.dpw();
        let Some(q) = dp.by_src.get(&addr) else {
            let d = format!("a log line about nobody: {text}");
            return self.fail("log", d);
        };
        // TCP: the oldest client of that address still without a line.
        let who = if http {
            q.back().copied()
        } else {
            q.iter()
                .copied()
                .find(|&i| dp.clients[i as usize].logs.is_empty())
                .or(q.back().copied())
        };
        if let Some(i) = who {
            dp.clients[i as usize].logs.push(rec);
        }
    }

    /// `show stat` after the drain, of every proxy process.
    fn check_stats(&mut self) {
        let n = self.dpw().proxies.len();
        for k in 0..n {
            if self.failure.is_some() {
                return;
            }
            self.check_stats_of(k);
        }
    }

    /// `show stat` of proxy `k` (its index in [`super::Dp::proxies`]).
    fn check_stats_of(&mut self, k: usize) {
        let now = self.now;
        let pid = self.dpw().proxies[k];
        let out = self.procs[pid].engine.cli_request(now, "show stat");
        let mut lines = out.lines();
        let header = lines.next().unwrap_or("");
        let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
        let rows: Vec<StatRow> = lines
            .filter(|l| !l.is_empty())
            .map(|l| StatRow {
                cols: &cols,
                vals: l.split(',').collect(),
            })
            .collect();
        let dp = self.dp.as_deref().expect("dp");
        let accepted = dp.accepted[k];
        let bin: u64 = dp
            .clients
            .iter()
            .map(|c| c.proxy_read.saturating_sub(c.hdr.len() as u64))
            .sum();
        let srv_read = self.stats.dp.proxy_srv_read;
        let mut bad = Vec::new();
        for r in &rows {
            let name = format!("{}/{}", r.get("pxname"), r.get("svname"));
            if r.num("scur") != 0 || r.num("qcur") != 0 {
                bad.push(format!(
                    "{name}: scur {} qcur {} after the drain",
                    r.get("scur"),
                    r.get("qcur")
                ));
            }
            match r.get("svname") {
                // The edges' frontend: its sessions are reversed.
                "FRONTEND" if r.get("pxname") == "priv" => {}
                "FRONTEND" => {
                    if r.num("stot") != accepted {
                        bad.push(format!(
                            "{name}: stot {} but {accepted} connections accepted",
                            r.get("stot")
                        ));
                    }
                    // TLS: the proxy reads ciphertext, counts plaintext.
                    // Reverse HTTP: the servers' bytes come in H2 frames,
                    // and a reload splits the counts.
                    if self.dp_spec().tls.is_some()
                        || self.dp_spec().rhttp.is_some()
                        || self.dp_spec().h2.is_some()
                    {
                        continue;
                    }
                    if r.num("bin") != bin {
                        bad.push(format!(
                            "{name}: bin {} but the proxy read {bin} bytes from clients",
                            r.get("bin")
                        ));
                    }
                    if r.num("bout") != srv_read {
                        bad.push(format!(
                            "{name}: bout {} but the proxy read {srv_read} bytes from servers",
                            r.get("bout")
                        ));
                    }
                }
                "BACKEND"
                    if !self.dp_spec().http
                        && self.dp_spec().tls.is_none()
                        && (r.num("bin") != bin || r.num("bout") != srv_read) =>
                {
                    bad.push(format!(
                        "{name}: bin/bout {}/{} but the proxy read {bin}/{srv_read}",
                        r.get("bin"),
                        r.get("bout")
                    ));
                }
                _ => {}
            }
        }
        if rows.is_empty() {
            bad.push(format!("no rows: {out:?}"));
        }
        if let Some(b) = bad.first() {
            let d = format!("p{pid}: {b} ({} problems)", bad.len());
            self.fail("stats", d);
        }
    }

    /// TCP: one log line per accepted connection; `--` means complete.
    fn tcp_final_checks(&mut self) {
        let dp = self.dp.as_deref().expect("dp");
        let mut fail = None;
        for c in &dp.clients {
            let ClientProto::Tcp(t) = &c.proto else {
                continue;
            };
            let accepted = c.accepted_at.is_some();
            if accepted && c.logs.len() != 1 || !accepted && !c.logs.is_empty() {
                fail = Some((
                    "log",
                    format!(
                        "client{} (accepted: {accepted}) has {} log lines: {:?}",
                        c.id,
                        c.logs.len(),
                        c.logs
                    ),
                ));
                break;
            }
            let Some(log) = c.logs.first() else { continue };
            if log.term != "--" || c.aborted || c.got_rst {
                continue;
            }
            let s = t.sconn.map(|i| &dp.sconns[i as usize]);
            let (s_rcvd, s_sent, s_fin, early) = match s.map(|s| (s, &s.proto)) {
                Some((s, SrvProto::Tcp(st))) => {
                    (st.rcvd, st.sent, s.got_fin, s.self_closed && !s.got_fin)
                }
                _ => (0, 0, true, false),
            };
            // A server that closed before the proxy's FIN may have missed
            // bytes still on their way (its kernel answers them with a RST
            // nobody reads): nobody can tell, not even the proxy.
            if !early && (s_rcvd != t.sent || !s_fin) {
                fail = Some((
                    "complete",
                    format!(
                        "client{} logged `--` and sent {} bytes and a FIN, its server connection {:?} got {s_rcvd} (FIN: {s_fin})",
                        c.id, t.sent, t.sconn
                    ),
                ));
                break;
            }
            if !t.closed_early && (t.rcvd != s_sent || !c.got_fin || log.bytes != s_sent) {
                fail = Some((
                    "complete",
                    format!(
                        "client{} logged `--` ({} bytes): its server sent {s_sent}, it read {} (FIN: {})",
                        c.id, log.bytes, t.rcvd, c.got_fin
                    ),
                ));
                break;
            }
        }
        if let Some((o, d)) = fail {
            self.fail(o, d);
        }
    }
}
