//! DNS service discovery: HAProxy's `resolvers.c` (the `resolvers`
//! sections, their resolutions and the servers that request them) and the
//! server side of it in `server.c` (`snr_resolution_cb`,
//! `snr_set_srv_down`, `resolv_get_ip_from_response`).
//!
//! The engine sends queries as [`Action::DnsSend`] datagrams, one per
//! nameserver, and the driver hands the answers back with
//! [`Engine::on_dns_recv`]; time comes with every call. Queries run on
//! thread 0 only (a configuration with `resolvers` runs one thread).
//!
//! ```text
//!            timeout resolve                        answer (valid)
//!   Wait ------------------------> InFlight(id) ---------------------> Wait
//!    ^                              |   ^  | timeout retry, tries left:  (servers updated)
//!    |                              |   +--+ send again
//!    +------------------------------+ no try left / NX / REFUSED / error
//!                                     (servers kept until their `hold`,
//!                                      then MAINT (resolution))
//! ```
//!
//! A resolution is shared by the servers with the same name and preferred
//! family (a `server-template`'s slots): each server takes an address of
//! the answer that no other server of its backend holds (unless
//! `resolve-opts allow-dup-ip`) and keeps it while the answer carries it
//! (plus `hold obsolete`).

pub mod codec;

use core::net::{IpAddr, SocketAddr};

use crate::backend::server::{ServerId, SrvAdmin};
use crate::engine::{Engine, TimerKey};
use crate::sock::{Action, LogLevel};
use crate::time::Time;
use codec::{RType, Rcode};

/// A nameserver of a `resolvers` section, as the driver knows it: one UDP
/// socket per id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameserverId {
    /// The `resolvers` section, in file order.
    pub resolvers: u16,
    /// The nameserver, in the section's order.
    pub ns: u16,
}

/// The outcome of the last resolution (`RSLV_STATUS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// None yet (just started).
    None,
    Valid,
    Nx,
    Timeout,
    Refused,
    Other,
}

/// An address of the last answers (`struct resolv_answer_item`).
#[derive(Clone, Debug)]
struct AnswerItem {
    ip: IpAddr,
    /// The last answer that carried it.
    last_seen: Time,
}

/// One name being resolved (`struct resolv_resolution`).
#[derive(Clone, Debug)]
pub(crate) struct Resolution {
    hostname: String,
    prefer_ipv4: bool,
    /// The type of the query in flight (the preferred one, or the other
    /// after an answer without the preferred type).
    query_type: RType,
    /// The servers using it (`requesters`).
    requesters: Vec<ServerId>,
    pub(crate) status: Status,
    /// The id of the query in flight.
    in_flight: Option<u16>,
    /// Sends left before a timeout (`try`).
    tries: u32,
    /// Error answers to the query in flight.
    nb_responses: u32,
    last_query: Time,
    last_resolution: Option<Time>,
    last_valid: Time,
    items: Vec<AnswerItem>,
}

/// A nameserver's counters (`struct dns_counters`), as `show resolvers`
/// prints them. `snd_error` stays 0 (the driver drops a failed send
/// without telling the engine); `cname` and `timeout` are never counted
/// by HAProxy either.
#[derive(Clone, Debug, Default)]
pub(crate) struct NsCounters {
    pub(crate) sent: u64,
    pub(crate) valid: u64,
    pub(crate) update: u64,
    pub(crate) any_err: u64,
    pub(crate) nx: u64,
    pub(crate) refused: u64,
    pub(crate) other: u64,
    pub(crate) invalid: u64,
    pub(crate) too_big: u64,
    pub(crate) truncated: u64,
    pub(crate) outdated: u64,
}

/// A `resolvers` section at run time (`struct resolvers`).
#[derive(Clone, Debug)]
pub(crate) struct Resolvers {
    pub(crate) name: String,
    /// (`nameserver` id, address).
    pub(crate) nameservers: Vec<(String, SocketAddr)>,
    pub(crate) hold: crate::cfgparse::resolvers::Hold,
    pub(crate) resolve_retries: u32,
    pub(crate) timeout_resolve_ms: u32,
    pub(crate) timeout_retry_ms: u32,
    pub(crate) accepted_payload_size: u16,
    pub(crate) resolutions: Vec<Resolution>,
    /// Valid answers that changed a server's address (`update`), and
    /// answers that could not be used (`invalid`).
    pub(crate) updates: u64,
    pub(crate) invalid: u64,
    /// Per nameserver, in the section's order.
    pub(crate) counters: Vec<NsCounters>,
}

/// What a server asks its resolvers for (part of `struct server`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvResolv {
    /// The `resolvers` section, in file order.
    pub resolvers: usize,
    /// The name, lowercase, without a final dot.
    pub hostname: String,
    /// The name as configured or set (`set server B/S fqdn`), as HAProxy
    /// keeps and prints it (`srv->hostname`).
    pub fqdn: String,
    pub prefer_ipv4: bool,
    pub allow_dup_ip: bool,
    /// `resolve-net`: preferred networks.
    pub nets: Vec<(IpAddr, u8)>,
}

impl Resolvers {
    /// A section from its configuration.
    pub(crate) fn from_config(r: &crate::cfgparse::resolvers::Resolvers) -> Resolvers {
        Resolvers {
            name: r.name.clone(),
            nameservers: r
                .nameservers
                .iter()
                .map(|n| (n.name.clone(), n.addr))
                .collect(),
            hold: r.hold,
            resolve_retries: r.resolve_retries,
            timeout_resolve_ms: r.timeout_resolve_ms.max(1),
            timeout_retry_ms: r.timeout_retry_ms.max(1),
            accepted_payload_size: r.accepted_payload_size,
            resolutions: Vec::new(),
            updates: 0,
            invalid: 0,
            counters: vec![NsCounters::default(); r.nameservers.len()],
        }
    }

    /// Links server `srv` to the resolution of its name (created if new).
    pub(crate) fn link(&mut self, now: Time, srv: ServerId, want: &SrvResolv) {
        let qt = |v4: bool| if v4 { RType::A } else { RType::AAAA };
        if let Some(r) = self
            .resolutions
            .iter_mut()
            .find(|r| r.hostname == want.hostname && r.prefer_ipv4 == want.prefer_ipv4)
        {
            r.requesters.push(srv);
            return;
        }
        self.resolutions.push(Resolution {
            hostname: want.hostname.clone(),
            prefer_ipv4: want.prefer_ipv4,
            query_type: qt(want.prefer_ipv4),
            requesters: vec![srv],
            status: Status::None,
            in_flight: None,
            tries: 0,
            nb_responses: 0,
            last_query: now,
            last_resolution: None,
            last_valid: now,
            items: Vec::new(),
        });
    }

    /// Unlinks server `srv` from the resolution of `want`'s name.
    pub(crate) fn unlink(&mut self, srv: ServerId, want: &SrvResolv) {
        for r in &mut self.resolutions {
            if r.hostname == want.hostname && r.prefer_ipv4 == want.prefer_ipv4 {
                r.requesters.retain(|&s| s != srv);
            }
        }
    }

    /// When the section's task must run next (`resolv_update_resolvers_timeout`).
    fn next_wakeup(&self) -> Option<Time> {
        self.resolutions
            .iter()
            .filter(|r| !r.requesters.is_empty())
            .map(|r| match (r.in_flight, r.last_resolution) {
                (Some(_), _) => r.last_query + u64::from(self.timeout_retry_ms),
                (None, Some(t)) => t + u64::from(self.timeout_resolve_ms),
                (None, None) => r.last_query,
            })
            .min()
    }
}

/// The address a server takes from `items` (HAProxy's
/// `resolv_get_ip_from_response` scoring: preferred family 8, preferred
/// network 4, not held by another server of the backend 2, current
/// address 1).
fn pick_ip(
    items: &[AnswerItem],
    want: &SrvResolv,
    current: Option<IpAddr>,
    held_by_others: &[IpAddr],
) -> Option<IpAddr> {
    let mut best: Option<(u32, IpAddr)> = None;
    for it in items {
        let ip = it.ip;
        let mut score = 0;
        if ip.is_ipv4() == want.prefer_ipv4 {
            score += 8;
        }
        if want.nets.iter().any(|&(net, len)| in_net(ip, net, len)) {
            score += 4;
        }
        if held_by_others.contains(&ip) {
            if !want.allow_dup_ip {
                continue;
            }
        } else {
            score += 2;
        }
        if current == Some(ip) {
            score += 1;
        }
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, ip));
        }
    }
    best.map(|(_, ip)| ip)
}

/// Whether `ip` is in `net/len` (same family only).
fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Engine {
    /// A datagram from nameserver `ns` (the driver's UDP socket for it).
    /// Anything that is not an answer to a query in flight is dropped.
    pub fn on_dns_recv(&mut self, now: Time, ns: NameserverId, datagram: &[u8]) {
        self.set_now(now);
        self.dns_response(now, ns, datagram);
        self.after_entry();
    }

    /// Starts the resolutions of every `resolvers` section (thread 0).
    pub(crate) fn dns_start(&mut self, now: Time) {
        for i in 0..self.resolvers.len() {
            self.resolvers_task(now, i);
        }
    }

    /// The task of section `i` (`process_resolvers`): queries that timed
    /// out are sent again or fail; resolutions due start.
    pub(crate) fn resolvers_task(&mut self, now: Time, i: usize) {
        for n in 0..self.resolvers[i].resolutions.len() {
            let rv = &mut self.resolvers[i];
            let (retry, every) = (
                u64::from(rv.timeout_retry_ms),
                u64::from(rv.timeout_resolve_ms),
            );
            let retries = rv.resolve_retries;
            let r = &mut rv.resolutions[n];
            if r.requesters.is_empty() {
                continue;
            }
            if r.in_flight.is_some() {
                if now < r.last_query + retry {
                    continue;
                }
                if r.tries == 0 {
                    if r.nb_responses == 0 {
                        r.status = Status::Timeout;
                    }
                    r.in_flight = None;
                    r.last_resolution = Some(now);
                    self.resolution_failed(now, i, n);
                } else {
                    r.query_type = if r.prefer_ipv4 { RType::A } else { RType::AAAA };
                    r.tries -= 1;
                    self.dns_send(now, i, n);
                }
            } else if r.last_resolution.is_none_or(|t| now >= t + every) {
                r.tries = retries;
                r.nb_responses = 0;
                r.query_type = if r.prefer_ipv4 { RType::A } else { RType::AAAA };
                self.dns_send(now, i, n);
            }
        }
        let next = self.resolvers[i].next_wakeup();
        crate::bug_on!(
            next.is_some_and(|t| t <= now),
            "resolvers task re-armed in the past"
        );
        self.timers.arm(TimerKey::Resolvers(i), next);
    }

    /// Sends the query of resolution `n` of section `i` to every
    /// nameserver, with a fresh id.
    fn dns_send(&mut self, now: Time, i: usize, n: usize) {
        let id = loop {
            let id = self.rng.next_u32() as u16;
            if !self.resolvers[i]
                .resolutions
                .iter()
                .any(|r| r.in_flight == Some(id))
            {
                break id;
            }
        };
        let rv = &mut self.resolvers[i];
        let r = &mut rv.resolutions[n];
        r.in_flight = Some(id);
        r.last_query = now;
        let mut q = Vec::with_capacity(64);
        if codec::encode_query(
            id,
            &r.hostname,
            r.query_type,
            rv.accepted_payload_size,
            &mut q,
        )
        .is_err()
        {
            // The configuration checked the name; nothing to send.
            r.in_flight = None;
            r.last_resolution = Some(now);
            return;
        }
        for (k, (_, addr)) in rv.nameservers.iter().enumerate() {
            if let Some(c) = rv.counters.get_mut(k) {
                c.sent += 1;
            }
            self.actions.push_back(Action::DnsSend {
                ns: NameserverId {
                    resolvers: i as u16,
                    ns: k as u16,
                },
                addr: *addr,
                datagram: q.clone(),
            });
        }
    }

    fn dns_response(&mut self, now: Time, ns: NameserverId, datagram: &[u8]) {
        let i = usize::from(ns.resolvers);
        let Some(rv) = self.resolvers.get_mut(i) else {
            return;
        };
        let k = usize::from(ns.ns);
        let count = |rv: &mut Resolvers, f: fn(&mut NsCounters)| {
            if let Some(c) = rv.counters.get_mut(k) {
                f(c);
            }
        };
        // HAProxy's order (`resolv_process_responses`): too big, too
        // short for an id, an id no query in flight has, then the answer.
        if datagram.len() > usize::from(rv.accepted_payload_size) {
            count(rv, |c| c.too_big += 1);
            return;
        }
        let Some(id) = datagram.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
            rv.invalid += 1;
            count(rv, |c| c.invalid += 1);
            return;
        };
        let Some(n) = rv.resolutions.iter().position(|r| r.in_flight == Some(id)) else {
            count(rv, |c| c.outdated += 1);
            return;
        };
        let Ok(resp) = codec::parse_response(datagram) else {
            rv.invalid += 1;
            count(rv, |c| c.invalid += 1);
            return;
        };
        let nameservers = rv.nameservers.len() as u32;
        let r = &rv.resolutions[n];
        if resp.qname != r.hostname || resp.qtype != r.query_type {
            rv.invalid += 1;
            count(rv, |c| c.invalid += 1);
            return;
        }
        let status = match resp.rcode {
            // HAProxy's `RSLV_RESP_TRUNCATED`: an error (`other`), whatever
            // the records that fitted.
            _ if resp.truncated => {
                count(rv, |c| c.truncated += 1);
                Status::Other
            }
            Rcode::NOERROR if resp.answers.is_empty() => {
                count(rv, |c| c.any_err += 1);
                Status::Valid
            }
            Rcode::NOERROR => {
                count(rv, |c| c.valid += 1);
                Status::Valid
            }
            Rcode::NXDOMAIN => {
                count(rv, |c| c.nx += 1);
                Status::Nx
            }
            Rcode::REFUSED => {
                count(rv, |c| c.refused += 1);
                Status::Refused
            }
            _ => {
                count(rv, |c| c.other += 1);
                Status::Other
            }
        };
        let r = &mut rv.resolutions[n];
        r.nb_responses += 1;
        let ips: Vec<IpAddr> = resp
            .addresses()
            .into_iter()
            .filter(|ip| ip.is_ipv4() == (r.query_type == RType::A))
            .collect();
        if status == Status::Valid && ips.is_empty() {
            let preferred = if r.prefer_ipv4 { RType::A } else { RType::AAAA };
            if r.query_type == preferred {
                // No record of the preferred family: ask for the other at
                // once, without using a try (HAProxy's fallback).
                r.query_type = if r.prefer_ipv4 { RType::AAAA } else { RType::A };
                self.dns_send(now, i, n);
                return;
            }
        }
        if status != Status::Valid {
            // Errors wait for every nameserver's answer (or the retry).
            if r.nb_responses < nameservers {
                return;
            }
            r.status = status;
            r.in_flight = None;
            r.last_resolution = Some(now);
            self.resolution_failed(now, i, n);
            return;
        }
        r.status = Status::Valid;
        r.in_flight = None;
        r.last_resolution = Some(now);
        r.last_valid = now;
        let obsolete = u64::from(rv.hold.obsolete_ms);
        r.items
            .retain(|it| ips.contains(&it.ip) || now < it.last_seen + obsolete);
        for ip in ips {
            match r.items.iter_mut().find(|it| it.ip == ip) {
                Some(it) => it.last_seen = now,
                None => r.items.push(AnswerItem { ip, last_seen: now }),
            }
        }
        let ns_name = rv.nameservers.get(usize::from(ns.ns)).map(|n| n.0.clone());
        let by = format!("{}/{}", rv.name, ns_name.unwrap_or_default());
        // The first requester names the nameserver; the others got the
        // answer "by DNS cache", as HAProxy says.
        for (j, srv) in r.requesters.clone().into_iter().enumerate() {
            let (by, ns) = if j == 0 {
                (by.as_str(), Some(k))
            } else {
                ("DNS cache", None)
            };
            self.srv_apply_answer(now, i, n, srv, by, ns);
        }
        let next = self.resolvers[i].next_wakeup();
        self.timers.arm(TimerKey::Resolvers(i), next);
    }

    /// The resolution failed (NX, refused, timeout, other): each server
    /// keeps its address until `hold` since the last valid answer, then
    /// goes to maintenance (`snr_set_srv_down`).
    fn resolution_failed(&mut self, now: Time, i: usize, n: usize) {
        let rv = &self.resolvers[i];
        let r = &rv.resolutions[n];
        let (hold, why) = match r.status {
            Status::Nx => (rv.hold.nx_ms, "DNS NX status"),
            Status::Timeout => (rv.hold.timeout_ms, "DNS timeout status"),
            Status::Refused => (rv.hold.refused_ms, "DNS refused status"),
            Status::Other => (rv.hold.other_ms, "unspecified DNS error"),
            Status::None | Status::Valid => return,
        };
        if now < r.last_valid + u64::from(hold) {
            return;
        }
        for srv in r.requesters.clone() {
            self.srv_resolution_down(now, srv, why);
        }
    }

    /// Server `srv` loses its address and goes to maintenance
    /// (`SRV_ADMF_RMAINT`), unless it is there already.
    fn srv_resolution_down(&mut self, now: Time, srv: ServerId, why: &str) {
        let Some(s) = self.server(srv) else {
            return;
        };
        if s.admin == SrvAdmin::Rmaint || s.admin == SrvAdmin::Maint {
            return;
        }
        self.set_admin_why(now, srv, SrvAdmin::Rmaint, Some(why));
    }

    /// A valid answer reached server `srv` (`snr_resolution_cb`).
    /// `ns`: the nameserver whose answer it is (the first requester;
    /// the others got it "by DNS cache"), counted in its `update`.
    fn srv_apply_answer(
        &mut self,
        now: Time,
        i: usize,
        n: usize,
        srv: ServerId,
        by: &str,
        ns: Option<usize>,
    ) {
        let Some(s) = self.server(srv) else {
            return;
        };
        let Some(want) = s.cfg.resolv.clone() else {
            return;
        };
        let current = (s.admin != SrvAdmin::Rmaint).then_some(s.cfg.addr.ip());
        let r = &self.resolvers[i].resolutions[n];
        let held: Vec<IpAddr> = r
            .requesters
            .iter()
            .filter(|&&o| o != srv && o.be == srv.be)
            .filter_map(|&o| self.server(o))
            .filter(|o| o.admin != SrvAdmin::Rmaint)
            .map(|o| o.cfg.addr.ip())
            .collect();
        #[cfg(feature = "mutants")]
        let ignore = self.opts.mutant == Some(crate::mutants::Mutant::DnsIgnoreChange);
        #[cfg(not(feature = "mutants"))]
        let ignore = false;
        // Still in the answer, and not shared against the options:
        // nothing changes.
        if current.is_some_and(|ip| {
            ignore
                || r.items.iter().any(|it| it.ip == ip)
                    && (want.allow_dup_ip || !held.contains(&ip))
        }) {
            return;
        }
        match pick_ip(&r.items, &want, current, &held) {
            Some(ip) => {
                let rv = &mut self.resolvers[i];
                rv.updates += 1;
                if let Some(c) = ns.and_then(|k| rv.counters.get_mut(k)) {
                    c.update += 1;
                }
                self.srv_set_ip(now, srv, ip, by);
            }
            None => self.srv_resolution_down(now, srv, "No IP for server "),
        }
    }

    /// Server `srv` now connects to `ip` (`srv_update_addr`); out of
    /// maintenance if the resolution had put it there.
    fn srv_set_ip(&mut self, now: Time, srv: ServerId, ip: IpAddr, by: &str) {
        let be_name = self.proxies[srv.be].name.clone();
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        let old = s.cfg.addr;
        let mut cfg = (*s.cfg).clone();
        cfg.addr.set_ip(ip);
        if let Some(c) = cfg.check.as_mut() {
            if c.addr.ip() == old.ip() {
                c.addr.set_ip(ip);
            }
        }
        if let Some(a) = cfg.agent.as_mut() {
            if a.addr.ip() == old.ip() {
                a.addr.set_ip(ip);
            }
        }
        let name = cfg.name.clone();
        s.cfg = std::sync::Arc::new(cfg);
        let was_rmaint = s.admin == SrvAdmin::Rmaint;
        let from = if was_rmaint || old.ip().is_unspecified() {
            "(none)".to_string()
        } else {
            old.ip().to_string()
        };
        self.log(
            LogLevel::Notice,
            format!("{be_name}/{name} changed its IP from {from} to {ip} by {by}."),
        );
        if was_rmaint {
            self.set_admin(now, srv, SrvAdmin::Ready);
        }
    }
}

impl Engine {
    /// `set server B/S fqdn FQDN` (HAProxy's `cli_parse_set_server` and
    /// `srv_update_fqdn`): the server resolves another name from now on
    /// (a query leaves at once when no other server resolves it); it
    /// keeps its address until an answer for the new name.
    pub(crate) fn cli_set_fqdn(&mut self, now: Time, srv: ServerId, fqdn: Option<&str>) -> String {
        let Some(fqdn) = fqdn.filter(|f| !f.is_empty()) else {
            return "set server <b>/<s> fqdn requires a FQDN.\n".into();
        };
        let be_name = self.proxies[srv.be].name.clone();
        let Some(s) = self.server(srv) else {
            return "No such server.\n".into();
        };
        let Some(mut want) = s.cfg.resolv.clone() else {
            return "set server <b>/<s> fqdn failed because no resolution is configured.\n".into();
        };
        let name = s.cfg.name.clone();
        let by = " by 'stats socket command'\n";
        if fqdn == want.fqdn {
            return format!("no need to change the FDQN{by}");
        }
        // HAProxy's `invalid_domainchar`.
        let bad = |c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if fqdn.len() > codec::MAX_NAME_LEN || fqdn.chars().any(bad) {
            return format!("invalid fqdn '{fqdn}'{by}");
        }
        let host = fqdn.trim_end_matches('.').to_ascii_lowercase();
        // `resolv_str_to_dn_label` refuses empty labels.
        if host.is_empty() || host.split('.').any(str::is_empty) {
            return format!("could not update {be_name}/{name} FQDN{by}");
        }
        let old = std::mem::replace(&mut want.fqdn, fqdn.to_string());
        let i = want.resolvers;
        self.resolvers[i].unlink(srv, &want);
        want.hostname = host;
        if let Some(s) = self.server_mut(srv) {
            let mut cfg = (*s.cfg).clone();
            cfg.resolv = Some(want.clone());
            s.cfg = std::sync::Arc::new(cfg);
        }
        self.resolvers[i].link(now, srv, &want);
        self.resolvers_task(now, i);
        format!("{be_name}/{name} changed its FQDN from {old} to {fqdn}{by}")
    }

    /// `show resolvers [id]`: every section's nameservers and their
    /// counters, in HAProxy 2.6's words.
    pub(crate) fn cli_show_resolvers(&self, only: Option<&str>) -> String {
        use core::fmt::Write as _;
        if let Some(id) = only {
            if !self.resolvers.iter().any(|r| r.name == id) {
                return "Can't find that resolvers section\n".into();
            }
        }
        let mut out = String::new();
        for rv in self
            .resolvers
            .iter()
            .filter(|r| only.is_none_or(|id| r.name == id))
        {
            let _ = writeln!(out, "Resolvers section {}", rv.name);
            for ((name, _), c) in rv.nameservers.iter().zip(&rv.counters) {
                let _ = writeln!(out, " nameserver {name}:");
                for (k, v) in [
                    ("sent:       ", c.sent),
                    ("snd_error:  ", 0),
                    ("valid:      ", c.valid),
                    ("update:     ", c.update),
                    ("cname:      ", 0),
                    ("cname_error:", 0),
                    ("any_err:    ", c.any_err),
                    ("nx:         ", c.nx),
                    ("timeout:    ", 0),
                    ("refused:    ", c.refused),
                    ("other:      ", c.other),
                    ("invalid:    ", c.invalid),
                    ("too_big:    ", c.too_big),
                    ("truncated:  ", c.truncated),
                    ("outdated:   ", c.outdated),
                ] {
                    let _ = writeln!(out, "  {k} {v}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(v4: bool, dup: bool) -> SrvResolv {
        SrvResolv {
            resolvers: 0,
            hostname: "x".into(),
            fqdn: "x".into(),
            prefer_ipv4: v4,
            allow_dup_ip: dup,
            nets: vec![("10.1.0.0".parse().unwrap(), 16)],
        }
    }

    fn items(ips: &[&str]) -> Vec<AnswerItem> {
        ips.iter()
            .map(|s| AnswerItem {
                ip: s.parse().unwrap(),
                last_seen: Time::ZERO,
            })
            .collect()
    }

    const CFG: &str = "resolvers dns\n nameserver ns1 127.0.0.1:53\n hold nx 2s\n timeout resolve 1s\n timeout retry 300ms\n resolve_retries 1\n\
        backend be\n server-template web 3 app.example:8080 resolvers dns init-addr none resolve-prefer ipv4\n\
         server s1 other.example:80 resolvers dns init-addr 10.9.9.9 resolve-prefer ipv4\n";

    fn engine() -> Engine {
        let p = crate::cfgparse::parse("t.cfg", CFG, crate::cfgparse::ParseOptions::new("h"))
            .expect("config");
        Engine::from_config(Time::ZERO, &p.config, Default::default(), &|_, _| None)
            .expect("engine")
    }

    /// The queries sent since the last call, and the log lines.
    fn drain(e: &mut Engine) -> (Vec<(NameserverId, Vec<u8>)>, Vec<String>) {
        let (mut q, mut logs) = (Vec::new(), Vec::new());
        while let Some(a) = e.poll_action() {
            match a {
                Action::DnsSend { ns, datagram, .. } => q.push((ns, datagram)),
                Action::Log(l) => logs.push(l.text),
                _ => {}
            }
        }
        (q, logs)
    }

    fn answer(e: &mut Engine, at: u64, q: &(NameserverId, Vec<u8>), rcode: Rcode, ips: &[&str]) {
        let ips: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
        let r = codec::encode_response(&q.1, rcode, &ips, 10).unwrap();
        e.on_dns_recv(Time::from_ms(at), q.0, &r);
    }

    fn srv(e: &Engine, i: usize) -> (String, SrvAdmin) {
        let s = e
            .server(ServerId::new(crate::proxy::ProxyId::new(0), i))
            .unwrap();
        (s.cfg.addr.to_string(), s.admin)
    }

    /// Which query asks for `name`.
    fn for_name<'a>(qs: &'a [(NameserverId, Vec<u8>)], name: &str) -> &'a (NameserverId, Vec<u8>) {
        let mut enc = Vec::new();
        codec::encode_name(name, &mut enc).unwrap();
        qs.iter()
            .find(|q| q.1.windows(enc.len()).any(|w| w == enc.as_slice()))
            .expect(name)
    }

    #[test]
    fn answers_fill_templates_follow_changes_and_nx_holds() {
        let mut e = engine();
        let (qs, _) = drain(&mut e);
        assert_eq!(qs.len(), 2, "one query per name");
        assert_eq!(srv(&e, 0).1, SrvAdmin::Rmaint);
        assert_eq!(srv(&e, 3), ("10.9.9.9:80".into(), SrvAdmin::Ready));
        answer(
            &mut e,
            10,
            for_name(&qs, "app.example"),
            Rcode::NOERROR,
            &["10.0.0.1", "10.0.0.2"],
        );
        let (_, logs) = drain(&mut e);
        assert_eq!(srv(&e, 0), ("10.0.0.1:8080".into(), SrvAdmin::Ready));
        assert_eq!(srv(&e, 1), ("10.0.0.2:8080".into(), SrvAdmin::Ready));
        assert_eq!(srv(&e, 2).1, SrvAdmin::Rmaint, "no address left for web3");
        assert!(
            logs.iter()
                .any(|l| l == "be/web1 changed its IP from (none) to 10.0.0.1 by dns/ns1."),
            "{logs:?}"
        );
        answer(
            &mut e,
            20,
            for_name(&qs, "other.example"),
            Rcode::NXDOMAIN,
            &[],
        );
        assert_eq!(
            srv(&e, 3),
            ("10.9.9.9:80".into(), SrvAdmin::Ready),
            "within hold nx"
        );

        // A second resolution a second later: 10.0.0.1 went away.
        e.on_timeout(Time::from_ms(1020));
        let (qs, _) = drain(&mut e);
        assert_eq!(qs.len(), 2);
        answer(
            &mut e,
            1030,
            for_name(&qs, "app.example"),
            Rcode::NOERROR,
            &["10.0.0.3", "10.0.0.2"],
        );
        let (_, logs) = drain(&mut e);
        assert_eq!(srv(&e, 0).0, "10.0.0.3:8080");
        assert_eq!(srv(&e, 1).0, "10.0.0.2:8080");
        assert!(
            logs.iter()
                .any(|l| l == "be/web1 changed its IP from 10.0.0.1 to 10.0.0.3 by dns/ns1."),
            "{logs:?}"
        );
        answer(
            &mut e,
            1040,
            for_name(&qs, "other.example"),
            Rcode::NXDOMAIN,
            &[],
        );
        assert_eq!(srv(&e, 3).1, SrvAdmin::Ready);

        // NX past `hold nx` (2s since start): maintenance.
        e.on_timeout(Time::from_ms(2040));
        let (qs, _) = drain(&mut e);
        answer(
            &mut e,
            2045,
            for_name(&qs, "app.example"),
            Rcode::NOERROR,
            &["10.0.0.3", "10.0.0.2"],
        );
        answer(
            &mut e,
            2050,
            for_name(&qs, "other.example"),
            Rcode::NXDOMAIN,
            &[],
        );
        let (_, logs) = drain(&mut e);
        assert_eq!(srv(&e, 3).1, SrvAdmin::Rmaint);
        assert!(
            logs.iter()
                .any(|l| l
                    .starts_with("Server be/s1 is going DOWN for maintenance (DNS NX status).")),
            "{logs:?}"
        );

        // Unanswered queries: sent again after `timeout retry`, then a
        // timeout status (held: servers keep their address).
        e.on_timeout(Time::from_ms(3050));
        let (qs, _) = drain(&mut e);
        assert_eq!(qs.len(), 2);
        e.on_timeout(Time::from_ms(3350));
        assert_eq!(drain(&mut e).0.len(), 2, "retried");
        e.on_timeout(Time::from_ms(3650));
        assert_eq!(drain(&mut e).0.len(), 0, "no try left");
        assert_eq!(srv(&e, 0), ("10.0.0.3:8080".into(), SrvAdmin::Ready));
        // A late answer to the old query is ignored.
        answer(
            &mut e,
            3700,
            for_name(&qs, "app.example"),
            Rcode::NOERROR,
            &["10.0.0.9"],
        );
        assert_eq!(srv(&e, 0).0, "10.0.0.3:8080");
    }

    #[test]
    fn truncated_answers_are_errors() {
        // HAProxy's RSLV_RESP_TRUNCATED: the records that fitted are not
        // used (status `other`, counted as truncated).
        let mut e = engine();
        let (qs, _) = drain(&mut e);
        let q = for_name(&qs, "app.example");
        let ips = ["10.0.0.1".parse().unwrap()];
        let mut r = codec::encode_response(&q.1, Rcode::NOERROR, &ips, 10).unwrap();
        r[2] |= 0x02;
        e.on_dns_recv(Time::from_ms(10), q.0, &r);
        assert_eq!(srv(&e, 0).1, SrvAdmin::Rmaint, "not taken from a TC answer");
        e.on_timeout(Time::from_ms(1010));
        let (qs, _) = drain(&mut e);
        answer(
            &mut e,
            1020,
            for_name(&qs, "app.example"),
            Rcode::NOERROR,
            &["10.0.0.1"],
        );
        assert_eq!(srv(&e, 0), ("10.0.0.1:8080".into(), SrvAdmin::Ready));
    }

    #[test]
    fn set_server_fqdn_and_show_resolvers() {
        let mut e = engine();
        let (qs, _) = drain(&mut e);
        answer(
            &mut e,
            10,
            for_name(&qs, "app.example"),
            Rcode::NOERROR,
            &["10.0.0.1"],
        );
        let t = Time::from_ms(20);
        assert_eq!(
            e.cli_request(t, "set server be/s1 fqdn new.example"),
            "be/s1 changed its FQDN from other.example to new.example by 'stats socket command'\n"
        );
        let (qs, _) = drain(&mut e);
        assert_eq!(qs.len(), 1, "the new name is asked at once");
        // The server keeps its address until the new name answers.
        assert_eq!(srv(&e, 3).0, "10.9.9.9:80");
        answer(
            &mut e,
            30,
            for_name(&qs, "new.example"),
            Rcode::NOERROR,
            &["10.0.0.7"],
        );
        assert_eq!(srv(&e, 3), ("10.0.0.7:80".into(), SrvAdmin::Ready));
        let t = Time::from_ms(40);
        assert_eq!(
            e.cli_request(t, "set server be/s1 fqdn new.example"),
            "no need to change the FDQN by 'stats socket command'\n"
        );
        let out = e.cli_request(t, "show resolvers");
        assert!(
            out.starts_with("Resolvers section dns\n nameserver ns1:\n  sent:        3\n  snd_error:   0\n  valid:       2\n  update:      2\n"),
            "{out}"
        );
        assert!(out.contains("\n  outdated:    0\n"), "{out}");
        assert_eq!(
            e.cli_request(t, "show resolvers x"),
            "Can't find that resolvers section\n"
        );
    }

    #[test]
    fn scoring_as_haproxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let it = items(&["10.0.0.1", "10.1.0.1", "::1"]);
        // Preferred network wins among IPv4.
        assert_eq!(
            pick_ip(&it, &want(true, false), None, &[]),
            Some(ip("10.1.0.1"))
        );
        // Family first.
        assert_eq!(
            pick_ip(&it, &want(false, false), None, &[]),
            Some(ip("::1"))
        );
        // Held by another server: skipped unless allowed.
        let held = [ip("10.1.0.1")];
        assert_eq!(
            pick_ip(&it, &want(true, false), None, &held),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            pick_ip(
                &items(&["10.0.0.1"]),
                &want(true, false),
                None,
                &[ip("10.0.0.1")]
            ),
            None
        );
        assert_eq!(
            pick_ip(
                &items(&["10.0.0.1"]),
                &want(true, true),
                None,
                &[ip("10.0.0.1")]
            ),
            Some(ip("10.0.0.1"))
        );
        assert!(in_net(ip("192.168.3.4"), ip("192.168.0.0"), 16));
        assert!(!in_net(ip("192.169.3.4"), ip("192.168.0.0"), 16));
        assert!(in_net(ip("1.2.3.4"), ip("0.0.0.0"), 0));
    }
}
