//! `dns-proxy`: the `tcp-proxy` world whose servers are found by DNS
//! (docs/dns.md): a `resolvers` section names a simulated DNS node, and
//! the backend's servers are `server NAME FQDN:9000 resolvers dns` lines
//! and `server-template` lines instead of addresses.
//!
//! ```text
//!  clients ──> node 0: Sluice ──> the servers (nodes 1..=S, 127.0.0.2.. :9000)
//!                 │  UDP queries, answers
//!                 └──> the DNS node (the last node, port 53)
//! ```
//!
//! **Names.** The server nodes are split into 2–3 pools of 2 or more;
//! each pool has a name (`nJ.sim.example`) that only ever answers
//! addresses of its pool, so a connection the proxy opens tells which
//! name it resolved. A name is a single `server` (an answer of one
//! address, or two in one run in four) or a `server-template` of 1–4
//! slots (answers of 1 to all the pool's addresses). Each name's answer
//! changes 1–6 times during the traffic, at drawn instants.
//!
//! **The DNS node** answers each query when it arrives with the answer in
//! force then, except inside *episodes* (0–4 per run, 0.2–8 s each) where
//! a drawn share of the queries get one fault: lost, NXDOMAIN, REFUSED,
//! SERVFAIL, an empty NOERROR, the answer cut short, the answer with the
//! TC bit, garbage (sometimes starting with the query's id), the answer
//! with another id, or the answer delayed up to 2 s; one faulty answer in
//! eight is preceded by a garbage datagram.
//!
//! **The oracle `dns`** (checked at every connection the proxy opens, data
//! or health check): the connection goes to an address the name answered
//! at some instant of `[L, now]`. Outside episodes `L = now - W`, where
//!
//! `W = timeout resolve + timeout retry + 3 × (latency + jitter) + 1 ms`
//!
//! (HAProxy 2.6's timers, `process_resolvers`: a server's resolution runs
//! again `timeout resolve` after the last one ended; a query unanswered
//! for `timeout retry` is sent again, or after `resolve_retries` sends the
//! resolution ends in timeout and waits `timeout resolve` again; the
//! answer is the DNS node's at the query's arrival, one latency after it
//! left). Whatever the resolution's state at `s`, by `s + W` an answer
//! computed after `s` has been applied: an answer on its way at `s` (sent
//! before `s`) lands by `s + latency`, then the next query leaves
//! `timeout resolve` later and its answer is back a round trip later; a
//! query lost before `s` is sent again (or times out) by `s + timeout
//! retry`. `hold valid` does not enter: HAProxy 2.6 uses it for
//! `do-resolve` caches and to drop resolutions nobody requests, not to
//! pace a server's; so traffic follows a change "within `hold valid`"
//! whenever `W ≤ hold valid`. During faults a server keeps its address
//! (until `hold nx|refused|other|timeout`, then maintenance): when an
//! episode overlaps `[now - W, now]`, `L` is `L` of the episode's start
//! (recursively). Answers are applied in the order of their queries, so
//! the proxy's knowledge never goes back in time.
//!
//! Every other `tcp-proxy` oracle keeps judging the run (`log`: exactly
//! one log line per accepted connection, so no request is lost unlogged
//! while servers change address or sit in `MAINT (resolution)`;
//! `integrity`, `complete`, `hang`, `drain`, `stats`, `panic`).

use core::fmt::Write as _;
use core::net::{IpAddr, SocketAddr};

use sluice_core::dns::codec::{self, Rcode};
use sluice_core::dns::NameserverId;
use sluice_core::rng::Rng;
use sluice_core::time::Time;

use super::{DpEv, DpSpec};
use crate::world::{Ev, PState, World};

/// The DNS node's port.
pub const DNS_PORT: u16 = 53;

/// How long a late answer may be held back, at most.
const LATE_MAX_MS: u64 = 2000;

/// What the DNS node does wrong to a query inside an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsFault {
    /// No answer.
    Lost,
    Nx,
    Refused,
    ServFail,
    /// NOERROR without a record.
    Empty,
    /// The answer cut short.
    Cut,
    /// The answer with the TC bit (truncated).
    Tc,
    /// Random bytes.
    Garbage,
    /// The answer with another id.
    WrongId,
    /// The answer, up to [`LATE_MAX_MS`] late.
    Late,
}

const FAULTS: [DnsFault; 10] = [
    DnsFault::Lost,
    DnsFault::Nx,
    DnsFault::Refused,
    DnsFault::ServFail,
    DnsFault::Empty,
    DnsFault::Cut,
    DnsFault::Tc,
    DnsFault::Garbage,
    DnsFault::WrongId,
    DnsFault::Late,
];

/// A period where the DNS node misbehaves.
#[derive(Clone, Debug)]
pub struct Episode {
    pub from: Time,
    pub to: Time,
    pub fault: DnsFault,
    /// Percent of the queries that get the fault.
    pub pct: u64,
}

/// One name the servers resolve.
#[derive(Clone, Debug)]
pub struct DnsName {
    pub fqdn: String,
    /// The servers (indices in [`DpSpec::servers`]) it may answer.
    pub pool: Vec<usize>,
    /// `server-template` slots, or `None` for a single `server`.
    pub slots: Option<u32>,
    /// The answer (servers) from each instant on; the first at the start.
    pub answers: Vec<(Time, Vec<usize>)>,
}

impl DnsName {
    /// The answer in force at `t`.
    pub fn answer_at(&self, t: Time) -> &[usize] {
        let k = self
            .answers
            .iter()
            .rposition(|(at, _)| *at <= t)
            .unwrap_or(0);
        &self.answers[k].1
    }

    /// Every server some answer in force during `[lo, hi]` gave.
    pub fn answered_between(&self, lo: Time, hi: Time) -> Vec<usize> {
        let mut out = Vec::new();
        for (k, (at, a)) in self.answers.iter().enumerate() {
            let until = self.answers.get(k + 1).map(|x| x.0);
            if (k == 0 || *at <= hi) && until.is_none_or(|u| u > lo) {
                out.extend(a.iter().copied());
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The DNS side of a `dns-proxy` run.
#[derive(Clone, Debug)]
pub struct DnsSpec {
    /// The DNS node.
    pub node: usize,
    pub names: Vec<DnsName>,
    pub episodes: Vec<Episode>,
    pub resolve_ms: u64,
    pub retry_ms: u64,
    pub retries: u64,
    pub hold_valid_ms: u64,
    /// One-way latency between the proxy and the DNS node.
    pub latency_ms: u64,
}

impl DnsSpec {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(crate::config::node_addr(self.node).ip(), DNS_PORT)
    }

    /// `W`: by `s + W` an answer computed after `s` reached the proxy
    /// (see the module's documentation), with `jitter` ms of jitter per
    /// datagram.
    pub fn window_ms(&self, jitter: u64) -> u64 {
        self.resolve_ms + self.retry_ms + 3 * (self.latency_ms + jitter) + 1
    }

    /// `L` for a connection at `now`: the proxy's address for a name was
    /// answered at `L` or later.
    pub fn low(&self, now: Time, jitter: u64) -> Time {
        let w = self.window_ms(jitter);
        // Late answers of an episode land up to this long after it.
        let tail = LATE_MAX_MS + self.latency_ms + jitter;
        let mut x = now;
        loop {
            let lo = Time::from_ms(x.as_ms().saturating_sub(w));
            let earlier = self
                .episodes
                .iter()
                .filter(|e| e.from < x && e.to.add_ms(tail) >= lo)
                .map(|e| e.from)
                .min();
            match earlier {
                Some(f) => x = f,
                None => return lo,
            }
        }
    }
}

/// A datagram on its way.
#[derive(Clone, Debug)]
pub struct Dgram {
    pub pid: usize,
    pub ns: NameserverId,
    pub bytes: Vec<u8>,
}

/// The DNS node's state.
#[derive(Debug, Default)]
pub struct DnsState {
    /// Datagrams in flight, by event index (taken on arrival).
    pub flight: Vec<Option<Dgram>>,
}

/// Turns the drawn `tcp-proxy` spec into a `dns-proxy` one: the server
/// lines become names resolved through the DNS node `node`.
pub fn spec(
    rng: &mut Rng,
    dp: &mut DpSpec,
    start: Time,
    dur: u64,
    node: usize,
    latency: &[Vec<u64>],
) {
    let n = dp.servers.len();
    let k = if n >= 6 { 2 + rng.below(2) as usize } else { 2 };
    let mut names = Vec::new();
    for j in 0..k {
        let pool: Vec<usize> = (0..n).filter(|i| i % k == j).collect();
        let slots = rng
            .chance(1, 2)
            .then(|| 1 + rng.below(pool.len() as u64 + 1) as u32);
        let draw = |rng: &mut Rng| -> Vec<usize> {
            let want = match slots {
                None if rng.chance(1, 4) => 2,
                None => 1,
                Some(_) => 1 + rng.below(pool.len() as u64) as usize,
            };
            let mut p = pool.clone();
            let mut out = Vec::new();
            while out.len() < want {
                out.push(p.remove(rng.below(p.len() as u64) as usize));
            }
            out.sort_unstable();
            out
        };
        let mut answers = vec![(start, draw(rng))];
        let mut times: Vec<Time> = (0..1 + rng.below(6))
            .map(|_| start.add_ms(1 + rng.below(dur * 3 / 4)))
            .collect();
        times.sort();
        for t in times {
            let a = draw(rng);
            if answers.last().is_some_and(|(_, l)| *l != a) {
                answers.push((t, a));
            }
        }
        names.push(DnsName {
            fqdn: format!("n{}.sim.example", j + 1),
            pool,
            slots,
            answers,
        });
    }
    let episodes = (0..rng.below(5))
        .map(|_| {
            let from = start.add_ms(rng.below(dur * 3 / 4));
            Episode {
                from,
                to: from.add_ms(200 + rng.below(7800)),
                fault: FAULTS[rng.below(FAULTS.len() as u64) as usize],
                pct: 50 + rng.below(51),
            }
        })
        .collect();
    let d = DnsSpec {
        node,
        names,
        episodes,
        resolve_ms: 100 + rng.below(2900),
        retry_ms: 150 + rng.below(850),
        retries: 1 + rng.below(4),
        hold_valid_ms: 1000 + rng.below(19_000),
        latency_ms: latency[0][node],
    };
    // The backend: the drawn server lines (their options) become one line
    // per name; a pool's servers all speak the first one's PROXY version.
    let mut opts: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut done = false;
    for l in dp.config.lines() {
        if let Some(rest) = l.strip_prefix("    server ") {
            let o: Vec<&str> = rest.splitn(3, ' ').collect();
            opts.push(o.get(2).map(|s| format!(" {s}")).unwrap_or_default());
            continue;
        }
        if !opts.is_empty() && !done {
            out.push_str(&name_lines(rng, &d, &opts));
            done = true;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !done {
        out.push_str(&name_lines(rng, &d, &opts));
    }
    let hold = |rng: &mut Rng| super::ms(1000 + rng.below(29_000));
    let _ = write!(
        out,
        "resolvers dns\n    nameserver ns1 {}\n    hold valid {}\n    hold nx {}\n    hold refused {}\n    hold other {}\n    hold timeout {}\n    hold obsolete 0s\n    resolve_retries {}\n    timeout resolve {}\n    timeout retry {}\n    accepted_payload_size {}\n",
        d.addr(),
        super::ms(d.hold_valid_ms),
        hold(rng),
        hold(rng),
        hold(rng),
        hold(rng),
        d.retries,
        super::ms(d.resolve_ms),
        super::ms(d.retry_ms),
        [512, 1232, 4096][rng.below(3) as usize],
    );
    dp.config = out;
    for name in &d.names {
        let v = dp.servers[name.pool[0]].send_proxy;
        for &i in &name.pool {
            dp.servers[i].send_proxy = v;
        }
    }
    dp.dns = Some(d);
}

/// The `server` / `server-template` lines of the names, with the options
/// drawn for their pool's first server.
fn name_lines(rng: &mut Rng, d: &DnsSpec, opts: &[String]) -> String {
    let mut out = String::new();
    for (j, name) in d.names.iter().enumerate() {
        let o = opts.get(name.pool[0]).map(String::as_str).unwrap_or("");
        let common = format!("{}:9000 resolvers dns resolve-prefer ipv4", name.fqdn);
        match name.slots {
            Some(n) => {
                let dup = if rng.chance(1, 4) {
                    " resolve-opts allow-dup-ip"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "    server-template t{}- 1-{n} {common} init-addr none{dup}{o}",
                    j + 1
                );
            }
            None => {
                // Half start from an address of the first answer (the
                // name's state at the start), half in maintenance.
                let init = if rng.chance(1, 2) {
                    let s = name.answers[0].1[0];
                    crate::config::node_addr(1 + s).ip().to_string()
                } else {
                    "none".to_string()
                };
                let _ = writeln!(out, "    server d{} {common} init-addr {init}{o}", j + 1);
            }
        }
    }
    out
}

/// The name and type a query asks for.
fn query_name(q: &[u8]) -> Option<String> {
    let mut at = 12;
    let mut name = String::new();
    loop {
        let len = usize::from(*q.get(at)?);
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let label = q.get(at + 1..at + 1 + len)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
        at += 1 + len;
    }
    Some(name)
}

impl World {
    fn dns_spec(&self) -> Option<&DnsSpec> {
        self.spec.dp.as_deref().and_then(|d| d.dns.as_ref())
    }

    /// `Action::DnsSend` of process `pid`: to the DNS node, or lost when
    /// the run has none.
    pub(crate) fn dns_send(&mut self, pid: usize, ns: NameserverId, addr: SocketAddr, q: Vec<u8>) {
        let now = self.now;
        let Some(d) = self.dns_spec().filter(|d| d.addr() == addr) else {
            self.trace
                .line(format_args!("{} p{pid} dns-query {addr} lost", now.as_ms()));
            return;
        };
        let node = d.node;
        let from = self.procs[pid].node;
        let at = now.add_ms(self.link_latency(from, node));
        self.stats.dp.dns_queries += 1;
        self.trace.line(format_args!(
            "{} p{pid} dns-query {addr} {} bytes",
            now.as_ms(),
            q.len()
        ));
        let dp = self.dpw();
        let k = dp.dns.flight.len() as u32;
        dp.dns.flight.push(Some(Dgram { pid, ns, bytes: q }));
        self.schedule(at, Ev::Dp(DpEv::DnsQuery(k)));
    }

    /// A query reaches the DNS node: it answers with the answer in force
    /// now, or with the fault of the episode it falls in.
    pub(crate) fn dns_query(&mut self, k: u32) {
        let Some(g) = self.dpw().dns.flight[k as usize].take() else {
            return;
        };
        let now = self.now;
        let d = self.dns_spec().expect("dns").clone();
        let q = &g.bytes;
        let name = query_name(q);
        let ips: Vec<IpAddr> = match d.names.iter().find(|n| Some(&n.fqdn) == name.as_ref()) {
            Some(n) => n
                .answer_at(now)
                .iter()
                .map(|&s| self.dp_spec().servers[s].addr.ip())
                .collect(),
            None => Vec::new(),
        };
        let known = ips.len();
        let fault = d
            .episodes
            .iter()
            .find(|e| e.from <= now && now < e.to)
            .filter(|e| self.rng.chance(e.pct, 100))
            .map(|e| e.fault);
        let rcode = if known == 0 {
            Rcode::NXDOMAIN
        } else {
            Rcode::NOERROR
        };
        let good = codec::encode_response(q, rcode, &ips, 60);
        let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
        if fault.is_some() && self.rng.chance(1, 8) {
            let g = self.dns_garbage(q);
            out.push((0, g));
        }
        let answer = |rc: Rcode, ips: &[IpAddr]| codec::encode_response(q, rc, ips, 60);
        match (fault, good) {
            (_, None) => {}
            (None, Some(a)) => out.push((0, a)),
            (Some(f), Some(a)) => match f {
                DnsFault::Lost => {}
                DnsFault::Nx => out.extend(answer(Rcode::NXDOMAIN, &[]).map(|a| (0, a))),
                DnsFault::Refused => out.extend(answer(Rcode::REFUSED, &[]).map(|a| (0, a))),
                DnsFault::ServFail => out.extend(answer(Rcode::SERVFAIL, &[]).map(|a| (0, a))),
                DnsFault::Empty => out.extend(answer(Rcode::NOERROR, &[]).map(|a| (0, a))),
                DnsFault::Cut => {
                    let n = self.rng.below(a.len() as u64) as usize;
                    out.push((0, a[..n].to_vec()));
                }
                DnsFault::Tc => {
                    let mut a = a;
                    a[2] |= 0x02;
                    out.push((0, a));
                }
                DnsFault::Garbage => {
                    let g = self.dns_garbage(q);
                    out.push((0, g));
                }
                DnsFault::WrongId => {
                    let mut a = a;
                    let x = 1 + self.rng.below(0xffff) as u16;
                    let id = u16::from_be_bytes([a[0], a[1]]) ^ x;
                    a[..2].copy_from_slice(&id.to_be_bytes());
                    out.push((0, a));
                }
                DnsFault::Late => {
                    let delay = self.rng.below(LATE_MAX_MS + 1);
                    out.push((delay, a));
                }
            },
        }
        self.trace.line(format_args!(
            "{} dns {:?} -> {} {fault:?} ({} datagrams)",
            now.as_ms(),
            name,
            ips.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(","),
            out.len()
        ));
        if fault.is_some() {
            self.stats.dp.dns_faulty += 1;
        }
        let to = self.procs[g.pid].node;
        for (extra, bytes) in out {
            let at = now.add_ms(self.link_latency(d.node, to) + extra);
            let dp = self.dpw();
            let k = dp.dns.flight.len() as u32;
            dp.dns.flight.push(Some(Dgram {
                pid: g.pid,
                ns: g.ns,
                bytes,
            }));
            self.schedule(at, Ev::Dp(DpEv::DnsAnswer(k)));
        }
    }

    /// Garbage for query `q`: random bytes, half the time after the
    /// query's id and a response's flags (so that it gets past the id).
    fn dns_garbage(&mut self, q: &[u8]) -> Vec<u8> {
        let n = self.rng.below(600) as usize;
        let mut g: Vec<u8> = (0..n).map(|_| self.rng.next_u32() as u8).collect();
        if self.rng.chance(1, 2) && g.len() >= 4 && q.len() >= 2 {
            g[..2].copy_from_slice(&q[..2]);
            g[2] |= 0x80;
        }
        g
    }

    /// An answer reaches the proxy.
    pub(crate) fn dns_answer(&mut self, k: u32) {
        let Some(g) = self.dpw().dns.flight[k as usize].take() else {
            return;
        };
        if self.procs[g.pid].state == PState::Exited {
            return;
        }
        self.due(g.pid);
        let now = self.now;
        self.trace.line(format_args!(
            "{} p{} dns-answer {} bytes",
            now.as_ms(),
            g.pid,
            g.bytes.len()
        ));
        self.procs[g.pid].engine.on_dns_recv(now, g.ns, &g.bytes);
        self.after_call(g.pid);
    }

    /// The oracle `dns`: process `pid` opens a connection to `addr`.
    pub(crate) fn dns_check_connect(&mut self, pid: usize, addr: SocketAddr) {
        let Some(d) = self.dns_spec() else {
            return;
        };
        if self.dp.as_deref().is_none_or(|dp| dp.proxies[0] != pid) {
            return;
        }
        let now = self.now;
        let jitter = self.spec.jitter_ms;
        let servers = &self.dp_spec().servers;
        let Some(srv) = servers.iter().position(|s| s.addr == addr) else {
            let d = format!("the proxy connects to {addr}, an address no answer gives");
            return self.fail("dns", d);
        };
        let Some(name) = d.names.iter().find(|n| n.pool.contains(&srv)) else {
            return;
        };
        let lo = d.low(now, jitter);
        let ok = name.answered_between(lo, now);
        if ok.contains(&srv) {
            self.stats.dp.dns_checked += 1;
            return;
        }
        let start = self.spec.start;
        let hist: Vec<String> = name
            .answers
            .iter()
            .map(|(t, a)| format!("+{}: {a:?}", *t - start))
            .collect();
        let det = format!(
            "the proxy connects to {addr} (server s{}) for {}, but from +{} ms (W = {} ms) on the DNS answered only servers {ok:?} (answers, by server index: {hist:?})",
            srv + 1,
            name.fqdn,
            lo.as_ms().saturating_sub(start.as_ms()),
            d.window_ms(jitter)
        );
        self.fail("dns", det);
    }
}
