//! Run-time server management and streams on the stats socket, as HAProxy
//! 2.6 has them: `add server` / `del server` (`server.c`'s
//! `cli_parse_add_server` and `cli_parse_delete_server`), `enable` /
//! `disable health` and `agent` (`server.c`), `show servers state`
//! (`server.c`'s `dump_servers_state`, format version 1), `show backend`
//! (`proxy.c`), `show sess`, `shutdown session` and `shutdown sessions
//! server` (`stream.c`, `server.c`).
//!
//! Messages are HAProxy's, byte for byte: the session adds the empty line
//! that ends every answer, so an answer HAProxy ends with one LF is
//! returned here without it (`No such backend.`), and one it ends with an
//! empty line keeps its LF (`New server registered.\n`).
//!
//! A dynamic server is appended to its backend's servers; `del server`
//! leaves a tombstone ([`Server::deleted`]) at its position, so that a
//! [`ServerId`] is never reused for another server.

use core::fmt::Write as _;
use core::net::SocketAddr;

use crate::backend::server::{Check, CheckCfg, Server, ServerCfg, ServerId, SrvAdmin, SrvState};
use crate::engine::{Engine, TimerKey};
use crate::proxy::ProxyId;
use crate::sock::CloseHow;
use crate::time::Time;

/// `add server` / `del server` without a `backend/server` argument.
const REQUIRE_BK_SRV: &str = "Require 'backend/server'.";

/// The server keywords HAProxy 2.6 accepts on `add server` that Sluice
/// does not take there (TLS, agent checks, tracking, resolution...): they
/// are refused with a message saying so rather than ignored.
const UNSUPPORTED_KWS: &[&str] = &[
    "addr",
    "allow-0rtt",
    "alpn",
    "ca-file",
    "check-alpn",
    "check-proto",
    "check-send-proxy",
    "check-sni",
    "check-ssl",
    "check-via-socks4",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "error-limit",
    "id",
    "init-addr",
    "max-reuse",
    "namespace",
    "no-check-ssl",
    "no-send-proxy",
    "no-ssl",
    "npn",
    "observe",
    "on-error",
    "pool-conn-name",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "proxy-v2-options",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "sni",
    "socks4",
    "source",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "ssl-reuse",
    "stick",
    "tfo",
    "tls-tickets",
    "track",
    "usesrc",
    "verify",
    "verifyhost",
    "ws",
];

/// A dynamic server as `add server` reads it.
struct DynServer {
    name: String,
    addr: SocketAddr,
    weight: u32,
    check: bool,
    inter_ms: Option<u32>,
    fastinter_ms: Option<u32>,
    downinter_ms: Option<u32>,
    rise: Option<u32>,
    fall: Option<u32>,
    check_port: Option<u16>,
    maxconn: Option<u32>,
    minconn: Option<u32>,
    maxqueue: Option<u32>,
    backup: bool,
    send_proxy: Option<u8>,
    proto_h2: bool,
    slowstart_s: u32,
    on_marked_down_shutdown: bool,
    on_marked_up_shutdown_backup: bool,
    agent_check: bool,
    agent_port: Option<u16>,
    agent_addr: Option<core::net::IpAddr>,
    agent_inter_ms: Option<u32>,
    agent_send: Option<String>,
}

/// A server name's characters, as HAProxy's `invalid_char`.
fn valid_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// Parses the words after `add server B/S`: `ADDR:PORT [keywords]`.
fn parse_dyn_server(name: &str, args: &[&str], http: bool) -> Result<DynServer, String> {
    let Some(&addr) = args.first() else {
        return Err("'server' expects <name> and <addr>[:<port>] as arguments.\n".into());
    };
    if let Some(c) = name.chars().find(|&c| !valid_name_char(c)) {
        return Err(format!(
            "character '{c}' is not permitted in server name '{name}'.\n"
        ));
    }
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        // HAProxy would take a name (not resolved) or no port; Sluice
        // needs what it can connect to.
        return Err(format!(
            "'{addr}' : Sluice takes an IP address and a port for a dynamic server.\n"
        ));
    };
    let mut s = DynServer {
        name: name.to_string(),
        addr,
        weight: 1,
        check: false,
        inter_ms: None,
        fastinter_ms: None,
        downinter_ms: None,
        rise: None,
        fall: None,
        check_port: None,
        maxconn: None,
        minconn: None,
        maxqueue: None,
        backup: false,
        send_proxy: None,
        proto_h2: false,
        slowstart_s: 0,
        on_marked_down_shutdown: false,
        on_marked_up_shutdown_backup: false,
        agent_check: false,
        agent_port: None,
        agent_addr: None,
        agent_inter_ms: None,
        agent_send: None,
    };
    let mut i = 1;
    while let Some(&kw) = args.get(i) {
        let arg = args.get(i + 1).copied().unwrap_or("");
        let int = |what: &str| -> Result<u32, String> {
            if arg.is_empty() {
                return Err(format!("'{what}' expects an integer argument.\n"));
            }
            arg.parse::<u32>().map_err(|_| {
                let c = arg.chars().find(|c| !c.is_ascii_digit()).unwrap_or('?');
                format!("unexpected character '{c}' in '{what}' argument of server {name}..\n")
            })
        };
        let time = |what: &str| -> Result<u32, String> {
            crate::cfgparse::units::parse_time_ms(arg)
                .map_err(|e| format!("'{what}' : {e} in argument of server {name}.\n"))
        };
        let used = match kw {
            "weight" => {
                let w = int(kw)?;
                if w > 256 {
                    return Err(format!(
                        "weight of server {name} is not within 0 and 256 ({w})..\n"
                    ));
                }
                s.weight = w;
                2
            }
            "check" => {
                s.check = true;
                1
            }
            "inter" => {
                s.inter_ms = Some(time(kw)?.max(1));
                2
            }
            "fastinter" => {
                s.fastinter_ms = Some(time(kw)?.max(1));
                2
            }
            "downinter" => {
                s.downinter_ms = Some(time(kw)?.max(1));
                2
            }
            "rise" | "fall" => {
                let n = int(kw)?;
                if n == 0 {
                    return Err(format!("'{kw}' has to be > 0.\n"));
                }
                if kw == "rise" {
                    s.rise = Some(n);
                } else {
                    s.fall = Some(n);
                }
                2
            }
            "port" => {
                let p = int(kw)?;
                s.check_port = Some(
                    u16::try_from(p)
                        .map_err(|_| format!("'{kw}' expects a valid port number.\n"))?,
                );
                2
            }
            "maxconn" => {
                s.maxconn = Some(int(kw)?);
                2
            }
            "minconn" => {
                s.minconn = Some(int(kw)?);
                2
            }
            "maxqueue" => {
                s.maxqueue = Some(int(kw)?);
                2
            }
            "slowstart" => {
                s.slowstart_s = time(kw)?.div_ceil(1000);
                2
            }
            "backup" => {
                s.backup = true;
                1
            }
            // Every dynamic server starts in maintenance anyway.
            "disabled" | "enabled" => 1,
            "send-proxy" => {
                s.send_proxy = Some(1);
                1
            }
            "send-proxy-v2" => {
                s.send_proxy = Some(2);
                1
            }
            "proto" if arg == "h2" && http => {
                s.proto_h2 = true;
                2
            }
            "proto" if arg == "h2" => {
                return Err("MUX protocol is not usable for server.\n".into());
            }
            "proto" if arg.is_empty() => return Err("'proto' : missing value.\n".into()),
            "on-marked-down" if arg == "shutdown-sessions" => {
                s.on_marked_down_shutdown = true;
                2
            }
            "on-marked-up" if arg == "shutdown-backup-sessions" => {
                s.on_marked_up_shutdown_backup = true;
                2
            }
            "on-marked-down" => {
                return Err(format!(
                    "'on-marked-down' expects 'shutdown-sessions' but got '{arg}'.\n"
                ))
            }
            "on-marked-up" => {
                return Err(format!(
                    "'on-marked-up' expects 'shutdown-backup-sessions' but got '{arg}'.\n"
                ))
            }
            "agent-check" => {
                s.agent_check = true;
                1
            }
            "agent-port" => {
                let p = int(kw)?;
                s.agent_port = Some(
                    u16::try_from(p)
                        .map_err(|_| format!("'{kw}' expects a valid port number.\n"))?,
                );
                2
            }
            "agent-addr" => {
                s.agent_addr = Some(arg.parse().map_err(|_| {
                    format!("parsing agent-addr failed. Check if '{arg}' is correct address.\n")
                })?);
                2
            }
            "agent-inter" => {
                s.agent_inter_ms = Some(time(kw)?.max(1));
                2
            }
            "agent-send" => {
                if arg.is_empty() {
                    return Err("'agent-send' expects a string argument.\n".into());
                }
                s.agent_send = Some(arg.to_string());
                2
            }
            "cookie" => return Err("'cookie' option is not accepted for dynamic server\n".into()),
            kw if UNSUPPORTED_KWS.contains(&kw) || kw == "proto" => {
                return Err(format!(
                    "'{kw}' : Sluice does not support this keyword on a dynamic server yet.\n"
                ));
            }
            kw => return Err(format!("unknown keyword '{kw}'.\n")),
        };
        i += used;
    }
    if s.agent_check && s.agent_port.or(s.check_port).unwrap_or(0) == 0 {
        return Err(format!(
            "server {name} does not have agent port. Agent check has been disabled.\n"
        ));
    }
    Ok(s)
}

/// HAProxy's `enum healthcheck_status` number of a check result name
/// (with its dummy `HCHK_STATUS_CHECKED` = 3 and `L57DATA` = 14: an L4
/// success is 6, as reg-test checks/4be_1srv_health_checks reads it).
fn check_status_num(status: &str) -> u32 {
    match status {
        "INI" => 1,
        "START" => 2,
        "HANA" => 4,
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L57DATA" => 14,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        "PROCERR" => 18,
        "PROCTOUT" => 19,
        "PROCOK" => 20,
        _ => 0,
    }
}

/// HAProxy's `CHK_RES_*` of a check result name.
fn check_result_num(status: &str) -> u32 {
    match status {
        "INI" | "" => 0,
        "L4OK" | "L6OK" | "L7OK" | "PROCOK" => 3,
        "L7OKC" => 4,
        _ => 2,
    }
}

/// The stable address `show sess` prints for a stream (HAProxy prints the
/// stream's pointer; `shutdown session` takes it back).
fn stream_ptr(id: crate::arena::Id<crate::stream::Stream>) -> u64 {
    0x5700_0000_0000u64 + ((id.as_u64() >> 32) << 24) + (id.as_u64() & 0xff_ffff) * 0x10
}

impl Engine {
    /// `B/S` of `add server` / `del server`, with their messages.
    fn dyn_target<'a>(&self, arg: Option<&'a str>) -> Result<(ProxyId, &'a str), String> {
        let (bk, sv) = arg.and_then(|a| a.split_once('/')).ok_or(REQUIRE_BK_SRV)?;
        let be = self
            .backend_by_name(bk)
            .ok_or_else(|| "No such backend.".to_string())?;
        Ok((be, sv))
    }

    /// The live server `name` of backend `be`.
    pub(crate) fn live_server(&self, be: ProxyId, name: &str) -> Option<ServerId> {
        let b = self.backend(be)?;
        b.server_ids(be)
            .find(|&id| !b.servers[id].deleted && b.servers[id].cfg.name == name)
    }

    /// `add server <bk>/<srv> <addr:port> [keywords]` (HAProxy's
    /// `cli_parse_add_server`): a new server, in maintenance, its checks
    /// (`check`) configured but off until `enable health`.
    pub(crate) fn cli_add_server(&mut self, now: Time, args: &[&str]) -> String {
        let (be, name) = match self.dyn_target(args.first().copied()) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let b = self.backend(be).expect("a backend");
        if b.lb.algo().is_static() {
            return "Backend must use a dynamic load balancing to support dynamic servers.".into();
        }
        let http = self.proxies[be].mode == crate::cfgparse::Mode::Http;
        let d = match parse_dyn_server(name, &args[1..], http) {
            Ok(d) => d,
            Err(e) => return e,
        };
        if self.live_server(be, name).is_some() {
            return "Already exists a server with the same name in backend.\n".into();
        }
        let b = self.backend(be).expect("a backend");
        // The lowest id no live server has (HAProxy's `get_next_id`).
        let mut puid = 1;
        while b.servers.iter().any(|s| !s.deleted && s.cfg.puid == puid) {
            puid += 1;
        }
        if let Some(e) = b.cfg.dyn_check_err.as_ref().filter(|_| d.check) {
            return format!("{e}\n");
        }
        let check_cfg = d.check.then(|| {
            let t = &b.cfg.dyn_check;
            let inter = d.inter_ms.unwrap_or(t.inter_ms);
            let mut addr = d.addr;
            if let Some(p) = d.check_port.or(Some(t.addr.port()).filter(|&p| p != 0)) {
                addr.set_port(p);
            }
            CheckCfg {
                inter_ms: inter,
                fastinter_ms: d.fastinter_ms.unwrap_or(inter),
                downinter_ms: d.downinter_ms.unwrap_or(inter),
                rise: d.rise.unwrap_or(t.rise),
                fall: d.fall.unwrap_or(t.fall),
                addr,
                unix: None,
                ..t.clone()
            }
        });
        let inter = check_cfg.as_ref().map(|c| c.inter_ms);
        let agent_cfg = d.agent_check.then(|| {
            let mut addr = d.addr;
            if let Some(ip) = d.agent_addr {
                addr.set_ip(ip);
            }
            if let Some(p) = d.agent_port.or(d.check_port) {
                addr.set_port(p);
            }
            crate::backend::server::AgentCfg {
                inter_ms: d.agent_inter_ms.unwrap_or(2000),
                addr,
                send: d.agent_send.as_ref().map(|t| t.as_bytes().to_vec()),
            }
        });
        let agent_inter = agent_cfg.as_ref().map(|a| a.inter_ms);
        let cfg = ServerCfg {
            name: d.name,
            puid,
            addr: d.addr,
            unix: None,
            iweight: d.weight,
            rise: d.rise.unwrap_or(2),
            maxconn: match (d.minconn, d.maxconn) {
                (Some(min), max) if min > max.unwrap_or(0) => Some(min),
                (_, max) => max,
            },
            minconn: match (d.minconn, d.maxconn) {
                (Some(min), max) if min > max.unwrap_or(0) => min,
                (Some(min), Some(_)) => min,
                (_, max) => max.unwrap_or(0),
            },
            maxqueue: d.maxqueue,
            backup: d.backup,
            send_proxy: d.send_proxy,
            pp_opts: 0,
            proto_h2: d.proto_h2,
            ws: Default::default(),
            idle_ping_ms: None,
            pool_max_conn: None,
            tls: None,
            check: check_cfg,
            agent: agent_cfg,
            cookie: None,
            slowstart_s: d.slowstart_s,
            on_marked_down_shutdown: d.on_marked_down_shutdown,
            on_marked_up_shutdown_backup: d.on_marked_up_shutdown_backup,
            observe: crate::cfgparse::ObserveLayer::None,
            error_limit: 10,
            on_error: crate::cfgparse::OnError::FailCheck,
            dynamic: true,
            rhttp: false,
            pool_conn_name: None,
            sni_expr: None,
            resolv: None,
        };
        let check = inter.map(|_| {
            // Down until it leaves maintenance; off until `enable health`.
            let mut c = Check::new(0);
            c.disabled = true;
            c
        });
        let b = self.backend_mut(be).expect("a backend");
        let srv = ServerId::new(be, b.servers.len());
        b.servers
            .push(Server::new(std::sync::Arc::new(cfg), now, check));
        let s = &mut b.servers[srv];
        s.state = SrvState::Stopped;
        s.admin = SrvAdmin::Maint;
        if let Some(ag) = s.agent.as_mut() {
            // Off until `enable agent`, as HAProxy's dynamic servers.
            ag.disabled = true;
        }
        self.lb_recalc(be);
        if let Some(inter) = inter {
            // The check task runs from now on; it checks nothing while
            // the server is in maintenance or its checks are off.
            self.set_check_next(srv, Some(now.add_ms(u64::from(inter.max(1)))));
        }
        if let Some(inter) = agent_inter {
            self.set_agent_next(srv, Some(now.add_ms(u64::from(inter.max(1)))));
        }
        "New server registered.\n".into()
    }

    /// `del server <bk>/<srv>` (HAProxy's `cli_parse_delete_server`): a
    /// server in maintenance that nothing uses any more becomes a
    /// tombstone.
    pub(crate) fn cli_del_server(&mut self, args: &[&str]) -> String {
        let (be, name) = match self.dyn_target(args.first().copied()) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let Some(srv) = self.live_server(be, name) else {
            return "No such server.".into();
        };
        // A `use-server` rule naming it (HAProxy's `SRV_F_NON_PURGEABLE`).
        let named = self.proxies[be]
            .rules
            .server_rules
            .iter()
            .any(|r| matches!(&r.server, crate::rules::BackendTarget::Static(n) if n == name));
        if named {
            return "This server cannot be removed at runtime due to other configuration elements pointing to it.".into();
        }
        let s = self.server(srv).expect("live");
        if !s.admin.is_maint() {
            return "Only servers in maintenance mode can be deleted.".into();
        }
        // Its connections, queue and idle pool (HAProxy's `cur_sess`,
        // `curr_idle_conns`, `queue`), and any stream still pointing at it.
        let held = self.streams.iter().any(|(_, st)| {
            st.srv == Some(srv)
                || st.prev_srv == Some(srv)
                || st.direct_srv == Some(srv)
                || st.pre.as_ref().is_some_and(|p| p.srv == Some(srv))
        });
        if s.cur_sess > 0 || !s.queue.is_empty() || !s.per_thr.idle.is_empty() || held {
            return "Server still has connections attached to it, cannot remove it.".into();
        }
        for key in [
            TimerKey::Check(srv),
            TimerKey::Agent(srv),
            TimerKey::Warmup(srv),
            TimerKey::IdlePurge(srv),
        ] {
            self.timers.arm(key, None);
        }
        let s = self.server_mut(srv).expect("live");
        s.warmup = None;
        let sock = s.check.as_mut().and_then(|c| {
            c.tls = None;
            c.sock.take()
        });
        let agent_sock = s.agent.as_mut().and_then(|c| c.sock.take());
        s.deleted = true;
        for sock in [sock, agent_sock].into_iter().flatten() {
            self.close_sock(sock, CloseHow::Reset);
        }
        self.lb_recalc(be);
        "Server deleted.".into()
    }

    /// `enable health` / `disable health <bk>/<srv>` (HAProxy's
    /// `CHK_ST_ENABLED`): nothing for a server without checks.
    pub(crate) fn cli_health(&mut self, args: &[&str], on: bool) -> String {
        let srv = match self.cli_find_server(args.first().copied()) {
            Ok(x) => x,
            Err(e) => return e.into(),
        };
        if let Some(ck) = self.server_mut(srv).and_then(|s| s.check.as_mut()) {
            ck.disabled = !on;
        }
        String::new()
    }

    /// `enable agent` / `disable agent <bk>/<srv>` (HAProxy's
    /// `CHK_ST_ENABLED` of `srv->agent`): a disabled agent runs no check,
    /// ignores a reply in flight and no longer keeps the server down.
    pub(crate) fn cli_agent(&mut self, args: &[&str], on: bool) -> String {
        let srv = match self.cli_find_server(args.first().copied()) {
            Ok(x) => x,
            Err(e) => return e.into(),
        };
        let now = self.now;
        match self.agent_enable(now, srv, on) {
            Some(()) => String::new(),
            None if on => "Agent was not configured on this server, cannot enable.\n".into(),
            None => String::new(),
        }
    }

    /// A `<bk>/<srv>` argument naming a live server, with HAProxy's
    /// messages of the commands that end them with an empty line.
    fn cli_find_server(&self, arg: Option<&str>) -> Result<ServerId, &'static str> {
        let (bk, sv) = arg
            .and_then(|a| a.split_once('/'))
            .ok_or("Require 'backend/server'.\n")?;
        let be = self.backend_by_name(bk).ok_or("No such server.\n")?;
        self.live_server(be, sv).ok_or("No such server.\n")
    }

    /// `show servers state [<backend>]` (HAProxy's `dump_servers_state`,
    /// version 1 of the format).
    pub(crate) fn cli_show_servers_state(&self, now: Time, only: Option<&str>) -> String {
        let backends: Vec<ProxyId> = match only {
            Some(n) => match self.backend_by_name(n) {
                Some(be) => vec![be],
                None => return "Can't find backend.\n".into(),
            },
            None => (0..self.proxies.len())
                .map(ProxyId::new)
                .filter(|&be| self.backend(be).is_some())
                .collect(),
        };
        let mut out = String::from(
            "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n",
        );
        for be in backends {
            let p = &self.proxies[be];
            let b = self.backend(be).expect("a backend");
            for s in b.servers.iter().filter(|s| !s.deleted) {
                // In maintenance HAProxy's server is stopped, its health 0.
                let maint = s.admin.is_maint();
                let op = match s.state {
                    _ if maint => 0,
                    SrvState::Stopped => 0,
                    SrvState::Starting => 1,
                    SrvState::Running => 2,
                    SrvState::Stopping => 3,
                };
                // `SRV_ADMF_FMAINT` / `SRV_ADMF_FDRAIN`: set from the CLI
                // (the configuration's `disabled` would add
                // `SRV_ADMF_CMAINT`, which Sluice does not tell apart).
                let admin = match s.admin {
                    SrvAdmin::Ready => 0,
                    SrvAdmin::Maint => 1,
                    SrvAdmin::Drain => 0x10,
                    SrvAdmin::Rmaint => 0x20,
                };
                let (status, result, health, chk_state) = match (&s.check, &s.cfg.check) {
                    (Some(ck), Some(_)) => {
                        let mut st = 0x2; // CHK_ST_CONFIGURED
                        if !ck.disabled {
                            st |= 0x4; // CHK_ST_ENABLED
                            if maint && ck.paused {
                                st |= 0x8; // CHK_ST_PAUSED
                            }
                        }
                        if ck.sock.is_some() {
                            st |= 0x1; // CHK_ST_INPROGRESS
                        }
                        (
                            check_status_num(ck.last_status),
                            check_result_num(ck.last_status),
                            if maint { 0 } else { ck.health },
                            st,
                        )
                    }
                    // A configured server without checks has its `rise`
                    // as health (HAProxy's `srv->check.health` set from
                    // `default-server rise`, else 2); a dynamic one none.
                    _ => (
                        1,
                        0,
                        if maint || s.cfg.dynamic {
                            0
                        } else {
                            s.cfg.rise
                        },
                        0,
                    ),
                };
                let (chk_port, chk_addr) = match &s.cfg.check {
                    Some(c) => (
                        if c.addr.port() != s.cfg.addr.port() {
                            c.addr.port()
                        } else {
                            0
                        },
                        if c.addr.ip() != s.cfg.addr.ip() {
                            c.addr.ip().to_string()
                        } else {
                            "-".to_string()
                        },
                    ),
                    None => (0, "-".to_string()),
                };
                // The agent: `CHK_ST_CONFIGURED | CHK_ST_AGENT`, enabled,
                // in progress; its address when not the server's.
                let (agent_state, agent_addr, agent_port) = match (&s.agent, &s.cfg.agent) {
                    (Some(ag), Some(ac)) => (
                        0x12 | if ag.disabled { 0 } else { 0x4 } | u32::from(ag.sock.is_some()),
                        if ac.addr.ip() != s.cfg.addr.ip() {
                            ac.addr.ip().to_string()
                        } else {
                            "-".to_string()
                        },
                        ac.addr.port(),
                    ),
                    _ => (0, "-".to_string(), 0),
                };
                // The name it resolves, as set (`srv->hostname`), and no
                // address before its first one (`init-addr none`).
                let fqdn = s.cfg.resolv.as_ref().map_or("-", |r| r.fqdn.as_str());
                let addr = if s.cfg.addr.ip().is_unspecified() {
                    "-".to_string()
                } else {
                    s.cfg.addr.ip().to_string()
                };
                let _ = writeln!(
                    out,
                    "{} {} {} {} {addr} {op} {admin} {} {} {} {status} {result} {health} {chk_state} {agent_state} 0 0 {fqdn} {} - {} {chk_port} {chk_addr} {agent_addr} {agent_port}",
                    p.uuid,
                    p.name,
                    s.cfg.puid,
                    s.cfg.name,
                    s.uweight,
                    s.cfg.iweight,
                    (now - s.last_change) / 1000,
                    s.cfg.addr.port(),
                    u8::from(s.cfg.tls.is_some()),
                );
            }
        }
        out
    }

    /// `show backend`: the backends' names.
    pub(crate) fn cli_show_backend(&self) -> String {
        let mut out = String::from("# name\n");
        for p in self.proxies.iter().filter(|p| p.be.is_some()) {
            out.push_str(&p.name);
            out.push('\n');
        }
        out
    }

    /// `show sess [<id>]`: one line per stream, HAProxy's short format
    /// (the fields Sluice has; `calls`, `cpu`, `lat` and the channel and
    /// stream connector details are not kept).
    pub(crate) fn cli_show_sess(&self, now: Time, only: Option<&str>) -> String {
        let want = only.map(parse_ptr);
        let mut out = String::new();
        for (id, s) in self.streams.iter() {
            let ptr = stream_ptr(id);
            if want.is_some_and(|w| w != Some(ptr)) {
                continue;
            }
            let se = self.sessions.get(s.sess);
            let src = se.and_then(|se| se.src);
            let proto = match src {
                Some(SocketAddr::V4(_)) => "tcpv4",
                Some(SocketAddr::V6(_)) => "tcpv6",
                None => "unix_stream",
            };
            let src = src.map_or_else(|| "unix:1".to_string(), |a| a.to_string());
            let be = if s.flags.contains(crate::stream::SfFlags::BE_ASSIGNED) {
                self.proxies[s.be].name.as_str()
            } else {
                "<NONE>"
            };
            let srv = s
                .srv
                .and_then(|id| self.server(id))
                .map_or("<none>", |sv| sv.cfg.name.as_str());
            let _ = writeln!(
                out,
                "{ptr:#x}: proto={proto} src={src} fe={} be={be} srv={srv} ts=00 epoch={:#x} age={}s calls=0 rate=0 cpu=0 lat=0 rq[i={}] rp[i={}]",
                self.proxies[s.fe].name,
                s.uniq_id,
                (now - s.accept) / 1000,
                s.req.total,
                s.res.total,
            );
        }
        if want.is_some() && out.is_empty() {
            return "Session not found.\n".into();
        }
        out
    }

    /// `shutdown session <id>` (HAProxy's `cli_parse_shutdown_session`):
    /// the stream is killed (`K` in its log line), both sides closed.
    pub(crate) fn cli_shutdown_session(&mut self, now: Time, arg: Option<&str>) -> String {
        let Some(Some(ptr)) = arg.map(parse_ptr) else {
            return "Session pointer expected (use 'show sess').\n".into();
        };
        let Some(sid) = self
            .streams
            .ids()
            .into_iter()
            .find(|&i| stream_ptr(i) == ptr)
        else {
            return "No such session (use 'show sess').\n".into();
        };
        self.stream_kill(now, sid);
        String::new()
    }

    /// `shutdown sessions server <bk>/<srv>` (HAProxy's
    /// `srv_shutdown_streams` with `SF_ERR_KILLED`), also the stats page's
    /// "Kill Sessions".
    pub(crate) fn cli_shutdown_sessions_server(&mut self, now: Time, arg: Option<&str>) -> String {
        match self.cli_find_server(arg) {
            Ok(srv) => {
                self.srv_shutdown_streams(now, srv, crate::stream::ErrCode::Killed);
                String::new()
            }
            Err(e) => e.into(),
        }
    }

    /// Kills stream `sid` (HAProxy's `stream_shutdown(s, SF_ERR_KILLED)`,
    /// which aborts both channels): the server side is closed, and the
    /// client's with a FIN, what was still buffered for it dropped.
    pub(crate) fn stream_kill(&mut self, now: Time, sid: crate::arena::Id<crate::stream::Stream>) {
        use crate::stream::stconn::ScState;
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let stage = s.stage();
        s.set_term(crate::stream::ErrCode::Killed, stage);
        if s.scb.state == ScState::Est {
            self.back_abort(now, sid);
        }
        // Both channels are aborted: the client side closes too, without
        // waiting for the client.
        self.front_abort_how(now, sid, CloseHow::Graceful);
        self.process_stream(now, sid);
    }
}

/// A `show sess` pointer as HAProxy reads it (`strtoul(..., 0)`): hex
/// with `0x`, octal with `0`, else decimal; 0 or garbage is none.
fn parse_ptr(s: &str) -> Option<u64> {
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    };
    v.filter(|&v| v != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;

    const CFG: &str = "\
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:8000
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:9001
backend st
    balance static-rr
    server s1 127.0.0.1:9001
backend ch
    balance source
    hash-type consistent
    server s1 127.0.0.1:9001
";

    fn engine() -> Engine {
        let parsed =
            crate::cfgparse::parse("t.cfg", CFG, crate::cfgparse::ParseOptions::new("t.cfg"))
                .expect("parses");
        let none = |_: &str, _: u16| None;
        Engine::from_config(Time::ZERO, &parsed.config, EngineOptions::default(), &none)
            .expect("builds")
    }

    /// Runs `line` at `ms` and answers as a non-interactive stats socket
    /// session does (each answer ends with an empty line), then checks
    /// every invariant.
    fn cli(e: &mut Engine, ms: u64, line: &str) -> String {
        let out = e.cli_request(Time::ZERO.add_ms(ms), line) + "\n";
        e.check_invariants();
        out
    }

    fn be(e: &Engine) -> ProxyId {
        e.backend_by_name("be").expect("be")
    }

    fn state_rows(e: &mut Engine, ms: u64) -> Vec<String> {
        cli(e, ms, "show servers state be")
            .lines()
            .skip(2)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// A server without `check` shows its configured `rise` as
    /// `srv_check_health` (HAProxy's checks/1be_40srv_odd_health_checks.vtc:
    /// `default-server no-check rise 1`), the default 2 without one.
    #[test]
    fn servers_state_health_of_a_server_without_check_is_its_rise() {
        let text = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                    backend be\n    default-server rise 1\n    server s1 127.0.0.1:9001\n\
                    \x20   server s2 127.0.0.1:9002 rise 5\n    server s3 127.0.0.1:9003 rise 1 check\n\
                    backend b2\n    server s1 127.0.0.1:9001\n";
        let parsed = crate::cfgparse::parse("t.cfg", text, crate::cfgparse::ParseOptions::new("h"))
            .expect("parses");
        let none = |_: &str, _: u16| None;
        let mut e =
            Engine::from_config(Time::ZERO, &parsed.config, EngineOptions::default(), &none)
                .expect("builds");
        let health = |e: &mut Engine, be: &str| -> Vec<String> {
            cli(e, 0, &format!("show servers state {be}"))
                .lines()
                .skip(2)
                .filter(|l| !l.is_empty())
                .map(|l| l.split(' ').skip(10).take(3).collect::<Vec<_>>().join(" "))
                .collect()
        };
        assert_eq!(health(&mut e, "be"), ["1 0 1", "1 0 5", "1 0 1"]);
        assert_eq!(health(&mut e, "b2"), ["1 0 2"]);
        // Maintenance pauses s3's checks (`CHK_ST_PAUSED`), health 0.
        let state = |e: &mut Engine| -> String {
            let rows = cli(e, 0, "show servers state be");
            let row = rows.lines().nth(4).unwrap_or_default();
            row.split(' ')
                .skip(12)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(state(&mut e), "1 6");
        cli(&mut e, 0, "disable server be/s3");
        assert_eq!(state(&mut e), "0 14");
        cli(&mut e, 0, "enable server be/s3");
        assert_eq!(state(&mut e), "1 6");
    }

    #[test]
    fn an_added_server_starts_in_maintenance_and_takes_traffic_once_ready() {
        let mut e = engine();
        assert_eq!(
            cli(&mut e, 0, "add server be/s2 127.0.0.1:9002 weight 3"),
            "New server registered.\n\n"
        );
        let s2 = e.live_server(be(&e), "s2").expect("added");
        assert_eq!(s2.pos(), 1);
        assert!(!e.backend(be(&e)).unwrap().lb.can_pick(1));
        assert_eq!(
            state_rows(&mut e, 0),
            [
                "2 be 1 s1 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 9001 - 0 0 - - 0",
                "2 be 2 s2 127.0.0.1 0 1 3 3 0 1 0 0 0 0 0 0 - 9002 - 0 0 - - 0",
            ]
        );
        assert_eq!(cli(&mut e, 1000, "set server be/s2 state ready"), "\n");
        assert!(e.backend(be(&e)).unwrap().lb.can_pick(1));
        assert_eq!(
            state_rows(&mut e, 3000)[1],
            "2 be 2 s2 127.0.0.1 2 0 3 3 2 1 0 0 0 0 0 0 - 9002 - 0 0 - - 0"
        );
        assert!(cli(&mut e, 3000, "show stat").contains("\nbe,s2,"));
    }

    #[test]
    fn add_server_refuses_what_haproxy_refuses() {
        let mut e = engine();
        for (line, want) in [
            ("add server", "Require 'backend/server'."),
            ("add server be", "Require 'backend/server'."),
            ("add server nob/s2 127.0.0.1:1", "No such backend."),
            (
                "add server st/s2 127.0.0.1:1",
                "Backend must use a dynamic load balancing to support dynamic servers.",
            ),
            (
                "add server be/s2",
                "'server' expects <name> and <addr>[:<port>] as arguments.\n",
            ),
            (
                "add server be/s1 127.0.0.1:1",
                "Already exists a server with the same name in backend.\n",
            ),
            (
                "add server be/s2 127.0.0.1:1 cookie x",
                "'cookie' option is not accepted for dynamic server\n",
            ),
            (
                "add server be/s2 127.0.0.1:1 zzzzqqqq",
                "unknown keyword 'zzzzqqqq'.\n",
            ),
            (
                "add server be/s2 127.0.0.1:1 weight 300",
                "weight of server s2 is not within 0 and 256 (300)..\n",
            ),
            (
                "add server be/q@ 127.0.0.1:1",
                "character '@' is not permitted in server name 'q@'.\n",
            ),
        ] {
            assert_eq!(cli(&mut e, 0, line), format!("{want}\n"), "{line}");
        }
        assert_eq!(e.backend(be(&e)).unwrap().servers.len(), 1);
        // A consistent hash is dynamic.
        assert_eq!(
            cli(&mut e, 0, "add server ch/s2 127.0.0.1:1"),
            "New server registered.\n\n"
        );
    }

    #[test]
    fn del_server_leaves_a_tombstone_and_ids_are_not_reused() {
        let mut e = engine();
        cli(&mut e, 0, "add server be/s2 127.0.0.1:9002");
        assert_eq!(
            cli(&mut e, 0, "del server be/s1"),
            "Only servers in maintenance mode can be deleted.\n"
        );
        assert_eq!(cli(&mut e, 0, "set server be/s1 state maint"), "\n");
        assert_eq!(cli(&mut e, 0, "del server be/s1"), "Server deleted.\n");
        assert_eq!(cli(&mut e, 0, "del server be/s1"), "No such server.\n");
        assert_eq!(cli(&mut e, 0, "get weight be/s1"), "No such server.\n\n");
        assert!(!cli(&mut e, 0, "show stat").contains("\nbe,s1,"));
        // The position stays taken; the numeric id is free again, as in
        // HAProxy (the lowest free one).
        cli(&mut e, 0, "add server be/s1 127.0.0.1:9003");
        let s1 = e.live_server(be(&e), "s1").expect("re-added");
        assert_eq!(s1.pos(), 2);
        assert_eq!(e.server(s1).unwrap().cfg.puid, 1);
        assert!(e.backend(be(&e)).unwrap().servers[0].deleted);
        assert_eq!(
            state_rows(&mut e, 0)
                .iter()
                .map(|r| r.split(' ').nth(3).unwrap().to_string())
                .collect::<Vec<_>>(),
            ["s2", "s1"]
        );
        // The new s1 and s2 can serve; the tombstone never.
        cli(&mut e, 0, "set server be/s1 state ready");
        cli(&mut e, 0, "set server be/s2 state ready");
        let lb = &e.backend(be(&e)).unwrap().lb;
        assert_eq!(lb.tier(), [1, 2]);
    }

    #[test]
    fn health_checks_of_a_dynamic_server_wait_for_enable_health() {
        let mut e = engine();
        cli(
            &mut e,
            0,
            "add server be/s2 127.0.0.1:9002 check inter 500 rise 1",
        );
        let s2 = e.live_server(be(&e), "s2").unwrap();
        let ck = |e: &Engine| {
            let c = e.server(s2).unwrap().check.as_ref().unwrap();
            (c.disabled, c.health)
        };
        assert_eq!(ck(&e), (true, 0));
        assert_eq!(state_rows(&mut e, 0)[1].split(' ').nth(13), Some("2"));
        assert_eq!(cli(&mut e, 0, "enable health be/s2"), "\n");
        assert!(!ck(&e).0);
        assert_eq!(state_rows(&mut e, 0)[1].split(' ').nth(13), Some("6"));
        // Still in maintenance: no check runs.
        cli(&mut e, 2000, "show info");
        assert!(e.server(s2).unwrap().check.as_ref().unwrap().sock.is_none());
        cli(&mut e, 2000, "set server be/s2 state ready");
        assert_eq!(ck(&e).1, 1);
        assert_eq!(cli(&mut e, 2000, "disable health be/s2"), "\n");
        assert!(ck(&e).0);
        // A server without checks: nothing to do, as HAProxy.
        assert_eq!(cli(&mut e, 2000, "enable health be/s1"), "\n");
        assert_eq!(
            cli(&mut e, 2000, "enable health be/nosuch"),
            "No such server.\n\n"
        );
        assert_eq!(
            cli(&mut e, 2000, "enable agent be/s1"),
            "Agent was not configured on this server, cannot enable.\n\n"
        );
        // Deleting a server with a check stops its timer.
        cli(&mut e, 2000, "set server be/s2 state maint");
        assert_eq!(cli(&mut e, 2000, "del server be/s2"), "Server deleted.\n");
        assert!(e.timers.deadline(TimerKey::Check(s2)).is_none());
    }

    #[test]
    fn sessions_commands_answer_as_haproxy_without_streams() {
        let mut e = engine();
        assert_eq!(cli(&mut e, 0, "show sess"), "\n");
        assert_eq!(cli(&mut e, 0, "show sess 0x1"), "Session not found.\n\n");
        for arg in ["", " zzz", " 0"] {
            assert_eq!(
                cli(&mut e, 0, &format!("shutdown session{arg}")),
                "Session pointer expected (use 'show sess').\n\n"
            );
        }
        assert_eq!(
            cli(&mut e, 0, "shutdown session 0x1"),
            "No such session (use 'show sess').\n\n"
        );
        assert_eq!(cli(&mut e, 0, "shutdown sessions server be/s1"), "\n");
        assert_eq!(
            cli(&mut e, 0, "shutdown sessions server be"),
            "Require 'backend/server'.\n\n"
        );
        assert_eq!(cli(&mut e, 0, "show backend"), "# name\nbe\nst\nch\n\n");
        assert_eq!(
            cli(&mut e, 0, "show servers state nob"),
            "Can't find backend.\n\n"
        );
    }
}
