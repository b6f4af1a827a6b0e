//! Building an engine from a parsed configuration (what HAProxy does after
//! `readcfgfile`: `check_config_validity`, then `init` of every subsystem).
//!
//! Host names are resolved by the driver, through the `resolve` callback:
//! the core never touches a resolver.

use core::fmt;
use core::net::SocketAddr;

use crate::backend::lb;
use crate::backend::server::{Check, CheckCfg, CheckStep, Server, ServerCfg, SrvAdmin, SrvState};
use crate::cfgparse::{self, Addr, Balance, Config, Host, IdSpec, StatsLevel, StickKind};
use crate::conn::tls::{BindCtx, SrvCtx, TlsEnv};
use crate::engine::{CliLevel, Engine, EngineOptions, ListenerKind};
use crate::proxy::{Backend, BackendCfg, Frontend, Proxy, ProxyId, StickRule};
use crate::sock::ListenAddr;
use crate::stick_table::{DataType, StickTable, StoreSpec, TableId, TableParams};
use crate::time::Time;
use std::sync::Arc;

/// Why a checked configuration still cannot start (an address that does
/// not resolve, a peers section without a local address...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parsing [{}:{}] : {}",
            self.file, self.line, self.message
        )
    }
}

/// Resolves a host name and port to a socket address (the driver's job).
pub type Resolver<'a> = &'a dyn Fn(&str, u16) -> Option<SocketAddr>;

/// The steps of a scripted check after its connect: `option redis-check`'s,
/// or the `tcp-check` rules under `option tcp-check` (none: a connect-only
/// check, as HAProxy's rule-less `tcp-check`).
fn check_script(p: &crate::cfgparse::Proxy) -> Option<std::sync::Arc<[CheckStep]>> {
    use crate::backend::server::CheckMatch;
    use crate::cfgparse::{TcpCheckMatch, TcpCheckRule};
    if p.options.redis_check {
        // HAProxy's redis-check ruleset: PING, then `+PONG`.
        let steps = vec![
            CheckStep::Send(b"PING\r\n".to_vec()),
            CheckStep::Expect {
                negate: false,
                matcher: CheckMatch::Bytes {
                    text: "+PONG".into(),
                    bytes: b"+PONG".to_vec(),
                },
                min_recv: 0,
                step: 2,
                comment: None,
            },
        ];
        return Some(steps.into());
    }
    if !p.options.tcp_check {
        return None;
    }
    let mut steps = Vec::new();
    // Step numbers count the connect, implicit or written.
    let implicit = !matches!(
        p.tcp_checks.first().map(|l| &l.rule),
        Some(TcpCheckRule::Connect { .. })
    );
    for (i, l) in p.tcp_checks.iter().enumerate() {
        let step = i + 1 + usize::from(implicit);
        match &l.rule {
            TcpCheckRule::Connect { .. } => {}
            TcpCheckRule::Send(b) => steps.push(CheckStep::Send(b.clone())),
            TcpCheckRule::Expect {
                negate,
                pattern,
                min_recv,
            } => {
                let matcher = match pattern {
                    TcpCheckMatch::Bytes { text, bytes } => CheckMatch::Bytes {
                        text: text.clone(),
                        bytes: bytes.clone(),
                    },
                    TcpCheckMatch::Regex { text, binary } => CheckMatch::Regex {
                        // Checked when the line was parsed.
                        re: crate::sample::Regex::new(text, false).ok()?,
                        binary: *binary,
                    },
                };
                steps.push(CheckStep::Expect {
                    negate: *negate,
                    matcher,
                    min_recv: min_recv.map_or(0, |m| m as usize),
                    step,
                    comment: l.comment.clone(),
                });
            }
        }
    }
    // Nothing after the connect: a connect check (`L4OK`).
    (!steps.is_empty()).then(|| steps.into())
}

/// Where the checks of server `s` connect: `addr` (else the server's
/// address), on `tcp-check connect port`, else `port`, else the server's
/// port.
fn check_address(
    p: &crate::cfgparse::Proxy,
    s: &crate::cfgparse::Server,
    server: SocketAddr,
    resolve: Resolver<'_>,
) -> Result<SocketAddr, String> {
    let mut a = server;
    if let Some(addr) = &s.opts.check_addr {
        let with_port = match addr {
            Addr::Inet { host, port: None } => Addr::Inet {
                host: host.clone(),
                port: Some(server.port()),
            },
            other => other.clone(),
        };
        a = resolve_addr(&with_port, resolve)
            .map_err(|m| format!("'server {}' : 'addr' : {m}", s.name))?;
    }
    let connect_port = match p.tcp_checks.first().map(|l| &l.rule) {
        Some(crate::cfgparse::TcpCheckRule::Connect { port }) if p.options.tcp_check => *port,
        _ => None,
    };
    if let Some(port) = connect_port.or(s.opts.check_port) {
        a.set_port(port);
    }
    Ok(a)
}

fn resolve_addr(addr: &Addr, resolve: Resolver<'_>) -> Result<SocketAddr, String> {
    match addr {
        Addr::Inet {
            host,
            port: Some(port),
        } => match host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, *port)),
            Host::Name(n) => {
                resolve(n, *port).ok_or_else(|| format!("could not resolve address '{n}'"))
            }
        },
        Addr::Inet { port: None, .. } => Err(format!("missing port in '{addr}'")),
        other => Err(format!("unsupported address family for '{other}'")),
    }
}

/// Where a `bind` line listens: an address, or an inherited socket.
fn listen_addr(addr: &Addr, resolve: Resolver<'_>) -> Result<ListenAddr, String> {
    match addr {
        Addr::Fd(n) => Ok(ListenAddr::Fd(*n)),
        a => resolve_addr(a, resolve).map(ListenAddr::Tcp),
    }
}

/// Where an address of a frontend's `bind` line listens: as [`listen_addr`],
/// plus UNIX sockets (the global `unix-bind` supplies the path prefix and
/// the permissions and owner the line does not set, as in HAProxy) and
/// abstract sockets.
fn bind_listen_addr(
    cfg: &Config,
    b: &cfgparse::Bind,
    addr: &Addr,
    resolve: Resolver<'_>,
) -> Result<ListenAddr, String> {
    let u = &cfg.global.unix_bind;
    let num = |spec: Option<&IdSpec>, what: &str| match spec {
        None => Ok(None),
        Some(IdSpec::Num(n)) => Ok(Some(*n)),
        Some(IdSpec::Name(n)) => Err(format!("{what} '{n}' was not resolved to an id")),
    };
    match addr {
        Addr::Unix(path) => Ok(ListenAddr::Unix {
            path: match &u.prefix {
                Some(p) => format!("{p}{path}"),
                None => path.clone(),
            },
            mode: b.mode.or(u.mode),
            uid: num(b.uid.as_ref().or(u.uid.as_ref()), "user")?,
            gid: num(b.gid.as_ref().or(u.gid.as_ref()), "group")?,
        }),
        Addr::Abns(name) => Ok(ListenAddr::Abns(name.clone())),
        a => listen_addr(a, resolve),
    }
}

/// The tables named by a `stick on|match|store-*` rule (a rule without
/// `table` names its own proxy's table).
fn stick_rule_tables(cfg: &Config) -> Vec<&str> {
    cfg.proxies
        .iter()
        .flat_map(|px| {
            px.stick_rules
                .iter()
                .map(move |r| r.table.as_deref().unwrap_or(px.name.as_str()))
        })
        .collect()
}

/// What HAProxy's `check_config_validity` does for a table a stick rule
/// uses: it stores `server_id` and `server_key` (the dictionary type that
/// carries the server name to the peers), whatever its `store` line says.
/// Without them, `stick on src` entries learned from HAProxy lose their
/// server.
fn add_stick_data_types(params: &mut TableParams) {
    for dt in [DataType::SERVER_ID, DataType::SERVER_KEY] {
        if params.store_spec(dt).is_none() {
            params.store.push(StoreSpec::plain(dt));
        }
    }
    params.store.sort_by_key(|s| s.data_type.0);
}

/// HAProxy 2.6 refuses a table that stores an array type together with the
/// scalar types the array replaces (`gpt` and `gpt0` are the same counter
/// to HAProxy's actions). Sluice would store both and send both, which no
/// HAProxy peer could ever have configured: refuse it with HAProxy's words.
fn check_array_overrides(params: &TableParams) -> Result<(), String> {
    let rules: [(DataType, &[DataType], &str, &str); 3] = [
        (DataType::GPT, &[DataType::GPT0], "gpt", "gpt0"),
        (
            DataType::GPC,
            &[DataType::GPC0, DataType::GPC1],
            "gpc",
            "gpc[0/1]",
        ),
        (
            DataType::GPC_RATE,
            &[DataType::GPC0_RATE, DataType::GPC1_RATE],
            "gpc_rate",
            "gpc[0/1]_rate",
        ),
    ];
    for (array, scalars, a, b) in rules {
        if params.store_spec(array).is_some()
            && scalars.iter().any(|&dt| params.store_spec(dt).is_some())
        {
            return Err(format!(
                "table: simultaneous usage of '{a}' and '{b}' in a same table is not permitted as '{a}' overrides '{b}'."
            ));
        }
    }
    Ok(())
}

impl Engine {
    /// An engine running `cfg`, started at `now`.
    pub fn from_config(
        now: Time,
        cfg: &Config,
        mut opts: EngineOptions,
        resolve: Resolver<'_>,
    ) -> Result<Engine, StartError> {
        if opts.local_peer.is_empty() {
            opts.local_peer = cfg.local_peer.clone();
        }
        // Key-index hash seeds come from the engine's seed without drawing
        // from its PRNG (whose sequence the simulator's traces follow).
        let hash_seed = opts.seed ^ 0x5354_4b54_4142_4c45;
        let mut e = Engine::empty(now, opts);
        e.stats_timeout_ms = u64::from(cfg.global.stats_timeout_ms);
        let sticking = stick_rule_tables(cfg);
        for t in cfg.tables() {
            check_array_overrides(&t.params).map_err(|message| StartError {
                file: t.place.file.clone(),
                line: t.place.line,
                message,
            })?;
            let mut params = t.params.clone();
            if sticking.contains(&params.id.as_str()) {
                add_stick_data_types(&mut params);
            }
            let seed = crate::rng::mix64(hash_seed.wrapping_add(e.tables.len() as u64));
            e.tables.push(StickTable::with_hash_seed(params, seed));
        }
        for s in &cfg.global.stats_sockets {
            let level = match s.level {
                StatsLevel::User => CliLevel::User,
                StatsLevel::Operator => CliLevel::Operator,
                StatsLevel::Admin => CliLevel::Admin,
            };
            // User and group names are the driver's to look up (the core
            // reads no system database): it hands over numbers.
            let id = |spec: &Option<IdSpec>, what: &str| match spec {
                None => Ok(None),
                Some(IdSpec::Num(n)) => Ok(Some(*n)),
                Some(IdSpec::Name(n)) => Err(StartError {
                    file: s.place.file.clone(),
                    line: s.place.line,
                    message: format!("'stats socket' : {what} '{n}' was not resolved to an id"),
                }),
            };
            let addr = match &s.addr {
                Addr::Unix(path) => ListenAddr::Unix {
                    path: path.clone(),
                    mode: s.mode,
                    uid: id(&s.uid, "user")?,
                    gid: id(&s.gid, "group")?,
                },
                Addr::Fd(n) => ListenAddr::Fd(*n),
                a => ListenAddr::Tcp(resolve_addr(a, resolve).map_err(|m| StartError {
                    file: s.place.file.clone(),
                    line: s.place.line,
                    message: format!("'stats socket' : {m}"),
                })?),
            };
            e.add_stats_socket(addr, level);
        }
        e.build_peers(cfg, resolve)?;
        e.maxconn = cfg.global.maxconn;
        e.hard_stop_after_ms = cfg.global.hard_stop_after_ms;
        e.h2_max_concurrent_streams = cfg.global.tune_h2_max_concurrent_streams;
        e.maxrewrite = cfg.global.maxrewrite() as usize;
        e.tls_sessions = Arc::new(crate::conn::tls::SessionCache::new(
            e.tls_clock.clone(),
            cfg.global.tune_ssl_cachesize,
            cfg.global.tune_ssl_lifetime_s,
        ));
        e.build_proxies(cfg, resolve)?;
        let now = e.now;
        e.checks_start(now);
        Ok(e)
    }

    /// Frontends, backends and listen sections, with their servers and
    /// listeners (`check_config_validity` has already run in the parser).
    fn build_proxies(&mut self, cfg: &Config, resolve: Resolver<'_>) -> Result<(), StartError> {
        let live: Vec<&cfgparse::Proxy> = cfg.proxies.iter().filter(|p| !p.disabled).collect();
        let index_of = |name: &str| {
            live.iter()
                .position(|p| p.name == name && p.kind.is_backend())
        };
        let maxconn = cfg.global.maxconn.unwrap_or(4096) as usize;
        self.pool = crate::pool::Pool::new(cfg.global.tune_bufsize as usize, 2 * maxconn + 64);
        let tables = crate::rules::table_index(cfg);
        for (i, p) in live.iter().enumerate() {
            let err = |line: u32, message: String| StartError {
                file: p.place.file.clone(),
                line,
                message,
            };
            let rules = crate::rules::RuleSet::build(cfg, p, &tables).map_err(|errs| {
                let e = errs.into_iter().next();
                StartError {
                    file: e.as_ref().map_or(p.place.file.clone(), |d| d.file.clone()),
                    line: e.as_ref().map_or(p.place.line, |d| d.line),
                    message: e.map_or_else(
                        || "invalid rules".into(),
                        |d| format!("'{}' : {}", d.keyword, d.message),
                    ),
                }
            })?;
            let fe = if p.kind.is_frontend() {
                let default_backend = match (&p.default_backend, p.kind) {
                    (Some((place, name)), _) => Some(index_of(name).ok_or_else(|| {
                        err(
                            place.line,
                            format!(
                                "proxy '{}': unable to find required default_backend: '{name}'.",
                                p.name
                            ),
                        )
                    })?),
                    (None, cfgparse::ProxyKind::Listen) => Some(i),
                    (None, _) => None,
                };
                Some(Frontend {
                    maxconn: p.maxconn,
                    monitor_uri: p
                        .monitor_uri
                        .clone()
                        .filter(|_| p.mode == cfgparse::Mode::Http),
                    default_backend: default_backend.map(ProxyId::new),
                    ..Frontend::default()
                })
            } else {
                None
            };
            let be = if p.kind.is_backend() {
                Some(self.build_backend(cfg, p, resolve)?)
            } else {
                None
            };
            let logcfg = build_logcfg(cfg, p, &tables)?;
            let pages = cfgparse::errors::proxy_pages(cfg, p).map_err(|d| StartError {
                file: d.file.clone(),
                line: d.line,
                message: d.message.clone(),
            })?;
            self.proxies.push(Proxy {
                name: p.name.clone(),
                uuid: i as u32 + 1,
                mode: p.mode,
                timeouts: p.timeouts,
                fe,
                be,
                log: !p.logs.is_empty(),
                dontlognull: p.options.dontlognull,
                dontlog_normal: p.options.dontlog_normal,
                log_separate_errors: p.options.log_separate_errors,
                logcfg: std::sync::Arc::new(logcfg),
                splice: (
                    p.options.splice_auto || p.options.splice_request,
                    p.options.splice_auto || p.options.splice_response,
                ),
                rules: std::sync::Arc::new(rules),
                http_conn_mode: p.options.http_conn_mode,
                forwardfor: p.options.forwardfor.clone(),
                http_reuse: p.http_reuse,
                inspect_delay_ms: p.tcp_request_inspect_delay_ms,
                errors: std::sync::Arc::new(crate::http::errors::ErrorPages { pages }),
            });
        }
        for (i, p) in live.iter().enumerate() {
            // HAProxy's listener ids (`luid`): `bind ... id N`, else the
            // lowest id not taken, in the order of the lines.
            let taken: Vec<u32> = p.binds.iter().filter_map(|b| b.id).collect();
            let mut next_luid = 1;
            for b in &p.binds {
                let tls = self.build_bind_tls(cfg, b)?;
                if b.id.is_some() && (b.addrs.len() > 1 || b.addrs[0].port_last.is_some()) {
                    return Err(StartError {
                        file: b.place.file.clone(),
                        line: b.place.line,
                        message: "'bind' : 'id' : cannot set an id on a bind line with several addresses or ports.".into(),
                    });
                }
                for a in &b.addrs {
                    let addr =
                        bind_listen_addr(cfg, b, &a.addr, resolve).map_err(|m| StartError {
                            file: b.place.file.clone(),
                            line: b.place.line,
                            message: format!("'bind' : {m}"),
                        })?;
                    let luid = b.id.unwrap_or_else(|| {
                        while taken.contains(&next_luid) {
                            next_luid += 1;
                        }
                        next_luid += 1;
                        next_luid - 1
                    });
                    let l = self.add_listener(
                        addr,
                        ListenerKind::Frontend {
                            proxy: ProxyId::new(i),
                        },
                    );
                    let li = &mut self.listeners[l.0 as usize];
                    li.name = b.name.clone();
                    li.accept_proxy = b.accept_proxy;
                    li.proto_h2 = b.proto_h2;
                    li.maxconn = b.maxconn;
                    li.luid = luid;
                    li.tls = tls.clone();
                    if let Some(f) = self.proxies[i].fe.as_mut() {
                        f.listeners.push(l);
                    }
                }
            }
        }
        Ok(())
    }

    fn build_backend(
        &self,
        cfg: &Config,
        p: &cfgparse::Proxy,
        resolve: Resolver<'_>,
    ) -> Result<Backend, StartError> {
        let mut servers = Vec::new();
        for (n, s) in p.servers.iter().enumerate() {
            let err = |message: String| StartError {
                file: s.place.file.clone(),
                line: s.place.line,
                message,
            };
            let addr = resolve_addr(&s.addr, resolve)
                .map_err(|m| err(format!("'server {}' : {m}", s.name)))?;
            let o = &s.opts;
            if o.proto_h2 && p.mode != cfgparse::Mode::Http {
                // HAProxy: "MUX protocol 'h2' is not usable for server".
                return Err(err(format!(
                    "proxy '{}' : MUX protocol 'h2' is not usable for server '{}'.",
                    p.name, s.name
                )));
            }
            let script = check_script(p);
            let check_addr = check_address(p, s, addr, resolve).map_err(&err)?;
            let check_tls = self.build_check_tls(cfg, p, s, check_addr)?;
            let check_cfg =
                o.check.then(|| CheckCfg {
                    inter_ms: o.inter_ms,
                    fastinter_ms: o.fastinter_ms.unwrap_or(o.inter_ms),
                    downinter_ms: o.downinter_ms.unwrap_or(o.inter_ms),
                    rise: o.rise.max(1),
                    fall: o.fall.max(1),
                    http_req: p.options.httpchk.as_ref().map(|h| {
                        format!("{} {} {}\r\n\r\n", h.method, h.uri, h.version).into_bytes()
                    }),
                    expect: p
                        .http_check_expect
                        .as_ref()
                        .map(|e| (e.negate, e.status.clone())),
                    addr: check_addr,
                    script: script.clone(),
                    tls: check_tls,
                });
            let check = o.check.then(|| Check {
                // Up at start, but down at the first failure, as HAProxy.
                health: o.rise.max(1),
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
            });
            let cfg = ServerCfg {
                name: s.name.clone(),
                puid: s.id.unwrap_or(n as u32 + 1),
                addr,
                iweight: o.weight,
                maxconn: o.maxconn,
                maxqueue: o.maxqueue,
                backup: o.backup,
                send_proxy: if o.send_proxy_v2 {
                    Some(2)
                } else if o.send_proxy {
                    Some(1)
                } else {
                    None
                },
                proto_h2: o.proto_h2,
                check: check_cfg,
                tls: self.build_server_tls(cfg, p, s, addr)?,
                // HAProxy ignores a server cookie outside HTTP mode (with a
                // warning from the checker).
                cookie: o.cookie.clone().filter(|_| p.mode == cfgparse::Mode::Http),
            };
            servers.push(Server {
                cfg: std::sync::Arc::new(cfg),
                uweight: o.weight,
                state: SrvState::Running,
                admin: if o.disabled {
                    SrvAdmin::Maint
                } else {
                    SrvAdmin::Ready
                },
                check,
                cur_sess: 0,
                max_sess: 0,
                cum_sess: 0,
                queue: Default::default(),
                max_queue: 0,
                bytes_in: 0,
                bytes_out: 0,
                econ: 0,
                eresp: 0,
                wretr: 0,
                wredis: 0,
                denied_resp: 0,
                chkfail: 0,
                chkdown: 0,
                last_change: self.now,
                lbconn: 0,
                reuse: 0,
                http: Default::default(),
                per_thr: Default::default(),
                sess_rate: Default::default(),
            });
        }
        let table = p
            .stick_table
            .as_ref()
            .and_then(|t| self.tables.by_name(&t.params.id));
        let mut stick = Vec::new();
        for (rule, r) in p.stick_rules.iter().enumerate() {
            let err = |message: String| StartError {
                file: r.place.file.clone(),
                line: r.place.line,
                message,
            };
            if r.expr != "src" {
                return Err(err(format!(
                    "'stick {}' : only the 'src' expression is supported in this version",
                    r.expr
                )));
            }
            let t = match &r.table {
                Some(name) => self.tables.by_name(name),
                None => table,
            }
            .ok_or_else(|| err("'stick' : no stick table for this rule".into()))?;
            let (matching, storing) = match r.kind {
                StickKind::On => (true, true),
                StickKind::Match => (true, false),
                StickKind::StoreRequest | StickKind::StoreResponse => (false, true),
            };
            stick.push(StickRule {
                rule,
                on_response: r.kind == StickKind::StoreResponse,
                table: t,
                matching,
                storing,
            });
        }
        let algo = match p.balance {
            Balance::RoundRobin => lb::Algo::RoundRobin,
            Balance::StaticRr => lb::Algo::StaticRr,
            Balance::LeastConn => lb::Algo::LeastConn,
            Balance::First => lb::Algo::First,
            Balance::Source => lb::Algo::Source,
        };
        let view: Vec<lb::LbServer> = servers.iter().map(crate::backend::lb_view).collect();
        Ok(Backend {
            cfg: std::sync::Arc::new(BackendCfg {
                retries: p.retries,
                redispatch: p.options.redispatch,
                persist: p.options.persist,
                cookie: p.cookie.clone().filter(|_| p.mode == cfgparse::Mode::Http),
                balance: p.balance,
                table,
                stick,
            }),
            lb: lb::Lb::new(algo, &view),
            servers,
            queue: Default::default(),
            max_queue: 0,
            beconn: 0,
            max_beconn: 0,
            cum_beconn: 0,
            denied_req: 0,
            denied_resp: 0,
            bytes_in: 0,
            bytes_out: 0,
            econ: 0,
            eresp: 0,
            wretr: 0,
            wredis: 0,
            last_change: self.now,
            http: Default::default(),
            sess_rate: Default::default(),
        })
    }

    fn build_peers(&mut self, cfg: &Config, resolve: Resolver<'_>) -> Result<(), StartError> {
        let local = self.opts.local_peer.clone();
        for sect in cfg.peers.iter().filter(|s| !s.disabled) {
            let err = |line: u32, message: String| StartError {
                file: sect.place.file.clone(),
                line,
                message,
            };
            let mut members = Vec::new();
            for p in &sect.peers {
                let is_local = p.name == local;
                let addr = match (&p.addr, is_local) {
                    (Some(a), _) => a,
                    (None, true) => sect.local_addr(&local).ok_or_else(|| {
                        err(
                            p.place.line,
                            format!(
                                "peers section '{}': no address for local peer '{}'",
                                sect.name, p.name
                            ),
                        )
                    })?,
                    (None, false) => {
                        return Err(err(
                            p.place.line,
                            format!(
                                "peers section '{}': peer '{}' has no address",
                                sect.name, p.name
                            ),
                        ))
                    }
                };
                let addr = match addr {
                    // The local peer listening on an inherited socket: its
                    // address is never connected to, only shown.
                    Addr::Fd(_) if is_local => {
                        SocketAddr::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0)
                    }
                    a => resolve_addr(a, resolve)
                        .map_err(|m| err(p.place.line, format!("'peer {}' : {m}", p.name)))?,
                };
                members.push((p.name.clone(), addr, is_local));
            }
            if !members.iter().any(|m| m.2) {
                // HAProxy ignores a section that does not list the local
                // peer (the checker warns about it).
                continue;
            }
            let bind = match &sect.bind {
                Some(b) => match b.addrs.first() {
                    Some(a) => Some(
                        listen_addr(&a.addr, resolve)
                            .map_err(|m| err(b.place.line, format!("'bind' : {m}")))?,
                    ),
                    None => None,
                },
                None => None,
            };
            let tables: Vec<TableId> = self
                .tables
                .ids()
                .filter(|&t| self.tables[t].params().peers.as_deref() == Some(sect.name.as_str()))
                .collect();
            let s = self.add_peers_section(
                &sect.name,
                members,
                tables,
                bind,
                cfg.global.tune_bufsize as usize,
            );
            self.peers[s].max_updates_at_once =
                cfg.global.tune_peers_max_updates_at_once.max(1) as usize;
        }
        Ok(())
    }
}

impl Engine {
    /// What TLS needs from the driver, for a line that asks for TLS.
    fn tls_env(&self, file: &str, line: u32, who: &str) -> Result<&TlsEnv, StartError> {
        self.opts.tls.as_ref().ok_or_else(|| StartError {
            file: file.to_string(),
            line,
            message: format!(
                "{who} : TLS is configured but this driver offers no TLS (no crypto provider)."
            ),
        })
    }

    /// The TLS context of a `bind ... ssl` line, shared by its listeners.
    fn build_bind_tls(
        &self,
        cfg: &Config,
        b: &cfgparse::Bind,
    ) -> Result<Option<Arc<BindCtx>>, StartError> {
        if !b.tls.ssl {
            return Ok(None);
        }
        let addrs: Vec<String> = b.addrs.iter().map(|a| a.addr.to_string()).collect();
        let who = format!("'bind {}'", addrs.join(","));
        let env = self.tls_env(&b.place.file, b.place.line, &who)?;
        BindCtx::build(
            env,
            &self.tls_clock,
            &cfg.global,
            &self.tls_sessions,
            &b.tls,
        )
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| match e.at {
            // A fault in a crt-list file: its file and line.
            Some((file, line)) => StartError {
                file,
                line,
                message: format!("{who} : {}", e.message),
            },
            None => StartError {
                file: b.place.file.clone(),
                line: b.place.line,
                message: format!("{who} : {}", e.message),
            },
        })
    }

    /// The TLS context of a `server ... ssl` line.
    fn build_server_tls(
        &self,
        cfg: &Config,
        p: &cfgparse::Proxy,
        s: &cfgparse::Server,
        addr: core::net::SocketAddr,
    ) -> Result<Option<Arc<SrvCtx>>, StartError> {
        let t = &s.opts.tls;
        if !t.ssl {
            return Ok(None);
        }
        let who = format!("'server {}/{}'", p.name, s.name);
        let err = |message: String| StartError {
            file: s.place.file.clone(),
            line: s.place.line,
            message: format!("{who} : {message}"),
        };
        let env = self.tls_env(&s.place.file, s.place.line, &who)?;
        SrvCtx::build(env, &self.tls_clock, &cfg.global, t, addr)
            .map(|c| Some(Arc::new(c)))
            .map_err(err)
    }

    /// The TLS context of a server's health checks, when they go over
    /// TLS (HAProxy's `init_srv_check`): `check-ssl`, or a server with
    /// `ssl` whose checks have no `addr` / `port` of their own, unless
    /// `no-check-ssl`. The server's TLS settings, with `check-sni` as the
    /// SNI and `check-alpn` (else the server's `alpn`) as the ALPN.
    fn build_check_tls(
        &self,
        cfg: &Config,
        p: &cfgparse::Proxy,
        s: &cfgparse::Server,
        addr: core::net::SocketAddr,
    ) -> Result<Option<Arc<SrvCtx>>, StartError> {
        let o = &s.opts;
        let own = o.check_addr.is_some() || o.check_port.is_some();
        let over_tls = match o.tls.check_ssl {
            Some(v) => v,
            None => o.tls.ssl && !own,
        };
        if !o.check || !over_tls {
            return Ok(None);
        }
        let who = format!("'server {}/{}'", p.name, s.name);
        let err = |message: String| StartError {
            file: s.place.file.clone(),
            line: s.place.line,
            message: format!("{who} : {message}"),
        };
        let mut t = o.tls.clone();
        t.ssl = true;
        t.sni = o.tls.check_sni.clone();
        if let Some(a) = &o.tls.check_alpn {
            t.common.alpn = Some(a.clone());
        }
        let h2 = t.common.alpn.iter().flatten().any(|a| a == "h2");
        if h2 && (p.options.httpchk.is_some() || p.options.tcp_check) {
            return Err(err(
                "health checks over HTTP/2 are not supported by Sluice yet: 'check-alpn' (or 'alpn') offers 'h2' to an HTTP or tcp-check check; use 'check-alpn http/1.1'."
                    .into(),
            ));
        }
        let env = self.tls_env(&s.place.file, s.place.line, &who)?;
        SrvCtx::build(env, &self.tls_clock, &cfg.global, &t, addr)
            .map(|c| Some(Arc::new(c)))
            .map_err(err)
    }
}

/// A proxy's `log-format` (or `option httplog clf`), unique id and
/// capture slots, with the formats parsed (HAProxy does it at check
/// time, naming the line of the directive).
fn build_logcfg(
    cfg: &cfgparse::Config,
    p: &cfgparse::Proxy,
    tables: &dyn Fn(&str) -> Option<crate::stick_table::TableId>,
) -> Result<crate::log::LogCfg, StartError> {
    use crate::log::{format, CapSlot, LogCfg, LogFmt};
    let backends = |n: &str| cfg.backend(n).is_some();
    let ctx = crate::sample::ParseCtx {
        proxy: &p.name,
        tables: Some(tables),
        backends: Some(&backends),
    };
    let parse = |what: &str, (place, text): &(cfgparse::Place, String)| {
        LogFmt::parse(text, &ctx, what != "unique-id").map_err(|e| StartError {
            file: place.file.clone(),
            line: place.line,
            message: format!("failed to parse {what} : {e}."),
        })
    };
    let mut lc = LogCfg::default();
    if p.kind.is_frontend() {
        lc.format = match &p.log_format {
            Some(f) => Some(parse("log-format", f)?),
            None if p.options.httplog
                && p.options.httplog_clf
                && p.mode == cfgparse::Mode::Http =>
            {
                Some(
                    LogFmt::parse(format::CLF_LOG_FORMAT, &ctx, true).map_err(|e| StartError {
                        file: p.place.file.clone(),
                        line: p.place.line,
                        message: e,
                    })?,
                )
            }
            // The built-in line has no `{...}`: with captures, the
            // general path prints `option httplog`'s format.
            None if p.options.httplog
                && p.mode == cfgparse::Mode::Http
                && !p.captures.is_empty() =>
            {
                Some(
                    LogFmt::parse(format::HTTP_LOG_FORMAT, &ctx, true).map_err(|e| StartError {
                        file: p.place.file.clone(),
                        line: p.place.line,
                        message: e,
                    })?,
                )
            }
            None => None,
        };
        for c in &p.captures {
            let slot = CapSlot {
                header: c.header.clone(),
                len: c.len as usize,
                rule: c.from_rule.then(|| (c.place.file.clone(), c.place.line)),
            };
            if c.response {
                lc.res_cap.push(slot);
            } else {
                lc.req_cap.push(slot);
            }
        }
    }
    if let Some(f) = &p.unique_id_format {
        lc.unique_id_format = Some(parse("unique-id", f)?);
    }
    lc.unique_id_header = p.unique_id_header.clone();
    Ok(lc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgparse::{ParseOptions, Parser};

    fn engine(text: &str) -> Engine {
        let mut opts = ParseOptions::new("host");
        opts.local_peer = Some("B".into());
        let mut p = Parser::new(opts);
        p.feed("t.cfg", text);
        let cfg = p.finish().expect("valid config").config;
        let resolve = |_: &str, _: u16| None;
        Engine::from_config(Time::ZERO, &cfg, EngineOptions::default(), &resolve).expect("engine")
    }

    /// Regression: `stick on src` tables did not store `server_id` and
    /// `server_key`, so entries learned from HAProxy's `be_stick` lost
    /// their server (found by the interop test `haproxy_stick_on_src_server_key`).
    #[test]
    fn stick_rules_store_server_id_and_server_key() {
        let e = engine(
            "peers mesh\n    peer B 127.0.0.1:10402\n\
             backend be_stick\n    mode http\n    stick-table type ip size 1k expire 10m peers mesh\n    stick on src\n    server s1 127.0.0.1:80\n\
             backend be_plain\n    stick-table type ip size 1k store gpc0\n\
             backend be_other\n    stick-table type ip size 1k store gpc0,server_id\n\
             backend be_user\n    stick match src table be_other\n    server s1 127.0.0.1:80\n",
        );
        let bits = |name: &str| e.table(name).unwrap().params().data_types_bitfield();
        let sid_key = DataType::SERVER_ID.bit() | DataType::SERVER_KEY.bit();
        // HAProxy's definition of be_stick announces bits 0 and 19 (0x80001).
        assert_eq!(bits("be_stick"), 0x80001);
        assert_eq!(bits("be_plain"), DataType::GPC0.bit());
        assert_eq!(bits("be_other"), DataType::GPC0.bit() | sid_key);
        let t = e.table("be_other").unwrap();
        assert!(t.layout().slot(DataType::SERVER_KEY).is_some());
        let ids: Vec<u8> = t.params().store.iter().map(|s| s.data_type.0).collect();
        assert_eq!(ids, [0, 2, 19], "store stays sorted by type id");
    }

    fn start_error(text: &str) -> StartError {
        let mut opts = ParseOptions::new("host");
        opts.local_peer = Some("A".into());
        let mut p = Parser::new(opts);
        p.feed("t.cfg", text);
        let cfg = p.finish().expect("parses").config;
        let resolve = |_: &str, _: u16| None;
        Engine::from_config(Time::ZERO, &cfg, EngineOptions::default(), &resolve)
            .expect_err("refused")
    }

    /// Regression: Sluice accepted tables HAProxy 2.6 refuses (found by
    /// comparing `haproxy -c` and `proxy-mio -c` on the interop tables).
    #[test]
    fn arrays_and_the_scalars_they_override_are_refused_as_haproxy_does() {
        let base = "peers mesh\n    peer A 127.0.0.1:1000\n    table t type ip size 1k store ";
        for (store, words) in [
            ("gpt0,gpt(2)", "'gpt' and 'gpt0'"),
            ("gpc0,gpc(2)", "'gpc' and 'gpc[0/1]'"),
            ("gpc1,gpc(2)", "'gpc' and 'gpc[0/1]'"),
            (
                "gpc0_rate(1s),gpc_rate(2,1s)",
                "'gpc_rate' and 'gpc[0/1]_rate'",
            ),
            (
                "gpc1_rate(1s),gpc_rate(2,1s)",
                "'gpc_rate' and 'gpc[0/1]_rate'",
            ),
        ] {
            let e = start_error(&format!("{base}{store}\n"));
            assert_eq!(e.line, 3, "{store}");
            assert!(
                e.to_string()
                    .starts_with("parsing [t.cfg:3] : table: simultaneous usage of "),
                "{e}"
            );
            assert!(e.message.contains(words), "{store}: {e}");
        }
        // What HAProxy accepts: an array with the other family's scalars.
        for store in ["gpc(2),gpc0_rate(1s)", "gpc_rate(2,1s),gpc0", "gpt(2),gpc0"] {
            let mut opts = ParseOptions::new("host");
            opts.local_peer = Some("A".into());
            let mut p = Parser::new(opts);
            p.feed("t.cfg", &format!("{base}{store}\n"));
            let cfg = p.finish().expect("parses").config;
            let resolve = |_: &str, _: u16| None;
            assert!(
                Engine::from_config(Time::ZERO, &cfg, EngineOptions::default(), &resolve).is_ok(),
                "{store}"
            );
        }
    }
}
