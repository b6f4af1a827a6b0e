//! `bind`, `server` and `default-server` lines (HAProxy's `bind` keyword in
//! `cfgparse-listen.c`, `parse_server()` and the `srv_kws` in `server.c`).
//!
//! Each option either fills a typed field, or is recognised and ignored with
//! a warning (listed in [`ignored::BIND_OPTIONS`] / [`ignored::SERVER_OPTIONS`]
//! with the number of values it takes), or is refused: TLS options Sluice
//! does not implement (serving clear text where TLS was configured would be
//! wrong; the implemented ones are in `cfgparse::tls`), and anything unknown.

use super::addr::{parse_addr, Addr};
use super::model::{
    Bind, BindAddr, Global, IdSpec, InitAddr, Proxy, Server, ServerOptions, TlsDefaults,
};
use super::{check_name, ignored, Diagnostic, Diags, Ln};

/// An option of `where` (`bind :80`, `stats socket`, `server be/s1`) that
/// Sluice does not implement at word `i`: a warning and the words it takes,
/// or an error for TLS and unknown options.
fn ignored_option(
    ln: &Ln<'_>,
    i: usize,
    table: &[(&str, usize)],
    refused: &[(&'static str, &'static str)],
    who: &str,
    d: &mut Diags,
) -> Result<usize, Diagnostic> {
    let opt = ln.arg(i);
    if ignored::TLS_OPTIONS.contains(&opt) {
        return Err(ln.diag(format!(
            "{who} : '{opt}': this TLS option is not supported by Sluice yet (see docs/tls.md)."
        )));
    }
    if let Some(why) = ignored::refused(refused, opt) {
        return Err(ln.diag(format!(
            "{who} : '{opt}' is not supported by Sluice: {why}."
        )));
    }
    let Some(&(_, arity)) = table.iter().find(|(n, _)| *n == opt) else {
        return Err(ln.diag(format!("{who} : unknown keyword '{opt}'.")));
    };
    if (1..=arity).any(|k| ln.arg(i + k).is_empty()) {
        return Err(ln.diag(format!("{who} : '{opt}' expects an argument.")));
    }
    d.warn(ln.diag(format!(
        "{who} : '{opt}' is not supported by Sluice and is ignored."
    )));
    Ok(1 + arity)
}

/// A bind option Sluice ignores (also used by `stats socket`).
pub(super) fn ignored_bind_option(
    ln: &Ln<'_>,
    i: usize,
    who: &str,
    d: &mut Diags,
) -> Result<usize, Diagnostic> {
    ignored_option(
        ln,
        i,
        ignored::BIND_OPTIONS,
        ignored::REFUSED_BIND_OPTIONS,
        who,
        d,
    )
}

/// `bind ADDR[,ADDR...] [accept-proxy] [name N] [maxconn N] ...`; `section`
/// names the section type for messages.
pub(super) fn parse_bind(
    ln: &Ln<'_>,
    section: &str,
    g: &TlsDefaults,
    experimental: bool,
    d: &mut Diags,
) -> Result<Bind, Diagnostic> {
    let text = ln.arg(1);
    if text.is_empty() {
        return Err(ln.diag(
            "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.",
        ));
    }
    let mut b = Bind {
        place: ln.place(),
        addrs: Vec::new(),
        accept_proxy: false,
        name: None,
        maxconn: None,
        nbconn: None,
        idle_ping_ms: None,
        proto: None,
        id: None,
        mode: None,
        uid: None,
        gid: None,
        tls: Default::default(),
        interface: None,
        ignored: Vec::new(),
    };
    for one in text.split(',') {
        let p = ln
            .parse_addr(one)
            .and_then(|p| p.require_port(one))
            .map_err(|e| ln.diag(format!("'bind' : {e}")))?;
        let reverse = matches!(p.addr, Addr::Rhttp(_));
        if reverse && !experimental {
            return Err(ln.diag(format!(
                "'bind' : Address '{one}' is experimental, must be allowed via a global 'expose-experimental-directives'"
            )));
        }
        if !b.addrs.is_empty() && (reverse || b.is_reverse()) {
            return Err(ln.diag("'bind' : Cannot mix reverse HTTP bind with others."));
        }
        b.addrs.push(BindAddr {
            addr: p.addr,
            port_last: p.port_last,
        });
    }
    let who = format!("'bind {text}' in section '{section}'");
    let mut i = 2;
    while !ln.arg(i).is_empty() {
        i += bind_option(&mut b, g, ln, i, &who, d)?;
    }
    super::tls::check_bind(&b.tls, ln, &who)?;
    if b.is_reverse() && b.maxconn.is_some() {
        return Err(ln.diag(format!(
            "{who} : 'maxconn' option is not accepted for reverse HTTP (use 'nbconn')."
        )));
    }
    Ok(b)
}

fn bind_option(
    b: &mut Bind,
    g: &TlsDefaults,
    ln: &Ln<'_>,
    i: usize,
    who: &str,
    d: &mut Diags,
) -> Result<usize, Diagnostic> {
    let val = ln.arg(i + 1);
    match ln.arg(i) {
        "accept-proxy" => {
            b.accept_proxy = true;
            Ok(1)
        }
        "name" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'name' expects an argument.")));
            }
            b.name = Some(val.to_string());
            Ok(2)
        }
        "maxconn" => {
            b.maxconn = Some(ln.uint_at(i + 1, "bind maxconn")?);
            Ok(2)
        }
        "interface" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'interface' : missing interface name.")));
            }
            b.interface = Some(val.to_string());
            Ok(2)
        }
        "idle-ping" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'idle-ping' expects an argument.")));
            }
            let v = ln
                .time_at(i + 1, "idle-ping")
                .map_err(|e| prefixed(e, who))?;
            b.idle_ping_ms = (v > 0).then_some(v);
            Ok(2)
        }
        "nbconn" => {
            if !b.is_reverse() {
                return Err(ln.diag(format!(
                    "{who} : 'nbconn' : only valid for reverse HTTP listeners."
                )));
            }
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'nbconn' : missing value.")));
            }
            match val.parse::<i64>() {
                Ok(n) if n > 0 && n <= i64::from(u32::MAX) => {
                    b.nbconn = Some(n as u32);
                    Ok(2)
                }
                _ => Err(ln.diag(format!(
                    "{who} : 'nbconn' : invalid value {val}, must be > 0."
                ))),
            }
        }
        "proto" => {
            b.proto = Some(match val {
                "h1" => super::model::BindProto::H1,
                "h2" => super::model::BindProto::H2,
                "none" => super::model::BindProto::None,
                "" => return Err(ln.diag(format!("{who} : 'proto' expects an argument."))),
                other => {
                    return Err(ln.diag(format!(
                        "{who} : 'proto' : unknown or unsupported protocol '{other}' (Sluice knows 'h1', 'h2' and 'none')."
                    )))
                }
            });
            Ok(2)
        }
        "id" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'id' : expects an integer argument")));
            }
            let id = ln.uint_at(i + 1, "bind id").map_err(|e| prefixed(e, who))?;
            if id == 0 {
                return Err(ln.diag(format!("{who} : 'id' : custom id has to be > 0")));
            }
            b.id = Some(id);
            Ok(2)
        }
        // The UNIX socket's file: HAProxy accepts them on any bind line and
        // applies them to UNIX addresses only; so does Sluice.
        "mode" => {
            let m = super::units::parse_octal(val)
                .map_err(|e| ln.diag(super::value_msg("bind mode", val, "an octal mode", e)))?;
            b.mode = Some(m);
            Ok(2)
        }
        opt @ ("user" | "group") => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : '{opt}' : missing {opt} name")));
            }
            let spec = Some(IdSpec::Name(val.to_string()));
            *(if opt == "user" {
                &mut b.uid
            } else {
                &mut b.gid
            }) = spec;
            Ok(2)
        }
        opt @ ("uid" | "gid") => {
            let n = super::units::parse_u32(val).map_err(|e| {
                ln.diag(super::value_msg(
                    &format!("bind {opt}"),
                    val,
                    "an integer",
                    e,
                ))
            })?;
            *(if opt == "uid" { &mut b.uid } else { &mut b.gid }) = Some(IdSpec::Num(n));
            Ok(2)
        }
        opt => {
            if let Some(n) = super::tls::bind_option(&mut b.tls, g, ln, i, who, d)? {
                return Ok(n);
            }
            let n = ignored_bind_option(ln, i, who, d)?;
            b.ignored.push(opt.to_string());
            Ok(n)
        }
    }
}

/// `server NAME ADDR[:PORT] [options]` in proxy `px`.
pub(super) fn parse_server(
    px: &Proxy,
    g: &Global,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<Server, Diagnostic> {
    let (name, text) = (ln.arg(1), ln.arg(2));
    if name.is_empty() || text.is_empty() {
        return Err(ln.diag("'server' expects <name> and <addr>[:<port>] as arguments."));
    }
    check_name(ln, "server", name)?;
    parse_server_words(px, g, ln, d, name, 2)
}

/// The server `name` whose address is word `at`, options after it.
fn parse_server_words(
    px: &Proxy,
    g: &Global,
    ln: &Ln<'_>,
    d: &mut Diags,
    name: &str,
    at: usize,
) -> Result<Server, Diagnostic> {
    let text = ln.arg(at);
    let who = format!("'server {}/{name}'", px.name);
    // Port 0 is no port (HAProxy's `str2sa_range` with `PA_O_PORT_OK`):
    // the client's destination port at connect time.
    let bare = text
        .strip_suffix(":0")
        .filter(|h| !h.is_empty() && !h.ends_with(':'))
        .unwrap_or(text);
    let addr = ln
        .parse_addr(bare)
        .and_then(|p| p.single_port(text))
        .map_err(|e| ln.diag(format!("{who} : {e}")))?;
    let reverse = matches!(addr.addr, Addr::Rhttp(_));
    if reverse && !g.expose_experimental {
        return Err(ln.diag(format!(
            "{who} : Address '{text}' is experimental, must be allowed via a global 'expose-experimental-directives'"
        )));
    }
    let mut s = Server {
        place: ln.place(),
        name: name.to_string(),
        addr: addr.addr,
        id: None,
        opts: px.default_server.clone(),
    };
    s.opts.ignored.clear();
    let mut i = at + 1;
    while !ln.arg(i).is_empty() {
        if ln.arg(i) == "id" {
            let id = ln.uint_at(i + 1, "id").map_err(|e| prefixed(e, &who))?;
            if id == 0 {
                return Err(ln.diag(format!("{who} : custom id has to be > 0.")));
            }
            s.id = Some(id);
            i += 2;
            continue;
        }
        i += server_option(&mut s.opts, &g.ssl_default_server, ln, i, &who, d)?;
    }
    check_opts(&s.opts, ln, &who)?;
    check_reverse(&s.opts, reverse, ln, &who)?;
    if s.opts.agent_check && s.opts.agent_port.or(s.opts.check_port).unwrap_or(0) == 0 {
        return Err(ln.diag(format!(
            "{who} : server {name} does not have agent port. Agent check has been disabled."
        )));
    }
    super::tls::check_server(&mut s.opts.tls, g.ssl_server_verify, ln, &who)?;
    Ok(s)
}

/// `default-server [options]`: updates what the next servers start from.
pub(super) fn parse_default_server(
    px: &mut Proxy,
    g: &Global,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    let who = format!("'default-server' of {} '{}'", px.kind.type_str(), px.name);
    let mut opts = px.default_server.clone();
    let mut i = 1;
    while !ln.arg(i).is_empty() {
        i += server_option(&mut opts, &g.ssl_default_server, ln, i, &who, d)?;
    }
    check_opts(&opts, ln, &who)?;
    px.default_server = opts;
    Ok(())
}

/// One server option at word `i`; returns the words used.
fn server_option(
    o: &mut ServerOptions,
    g: &TlsDefaults,
    ln: &Ln<'_>,
    i: usize,
    who: &str,
    d: &mut Diags,
) -> Result<usize, Diagnostic> {
    let opt = ln.arg(i);
    let flag = |f: &mut bool, v: bool| {
        *f = v;
        Ok(1)
    };
    match opt {
        "check" => flag(&mut o.check, true),
        "no-check" => flag(&mut o.check, false),
        "backup" => flag(&mut o.backup, true),
        "no-backup" => flag(&mut o.backup, false),
        "disabled" => flag(&mut o.disabled, true),
        "enabled" => flag(&mut o.disabled, false),
        "send-proxy" => flag(&mut o.send_proxy, true),
        "no-send-proxy" => flag(&mut o.send_proxy, false),
        "send-proxy-v2" => flag(&mut o.send_proxy_v2, true),
        "no-send-proxy-v2" => flag(&mut o.send_proxy_v2, false),
        // `send-proxy-v2` with `proxy-v2-options ssl` (and `cert-cn`).
        "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" => {
            o.send_proxy_v2 = true;
            o.pp_opts |= super::model::pp_opts::SSL;
            if opt == "send-proxy-v2-ssl-cn" {
                o.pp_opts |= super::model::pp_opts::SSL_CN;
            }
            Ok(1)
        }
        "proxy-v2-options" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!("{who} : 'proxy-v2-options' expects an argument.")));
            }
            for name in v.split(',') {
                match super::model::pp_opts::parse(name) {
                    Some(bits) => o.pp_opts |= bits,
                    None => {
                        return Err(ln.diag(format!(
                            "{who} : '{name}' : proxy v2 option not implemented"
                        )))
                    }
                }
            }
            Ok(2)
        }
        "idle-ping" => {
            if ln.arg(i + 1).is_empty() {
                return Err(ln.diag(format!("{who} : 'idle-ping' expects an argument.")));
            }
            let v = ln.time_at(i + 1, opt).map_err(|e| prefixed(e, who))?;
            o.idle_ping_ms = (v > 0).then_some(v);
            Ok(2)
        }
        "ws" => {
            o.ws = match ln.arg(i + 1) {
                "auto" => super::model::WsMode::Auto,
                "h1" => super::model::WsMode::H1,
                "h2" => super::model::WsMode::H2,
                "" => {
                    return Err(ln.diag(format!("{who} : 'ws' expects 'auto', 'h1' or 'h2' value")))
                }
                _ => return Err(ln.diag(format!("{who} : 'ws' has to be 'auto', 'h1' or 'h2'"))),
            };
            Ok(2)
        }
        "check-proto" => match ln.arg(i + 1) {
            "h1" | "h2" => {
                o.check_proto_h2 = Some(ln.arg(i + 1) == "h2");
                Ok(2)
            }
            "" => Err(ln.diag(format!("{who} : 'check-proto' expects an argument."))),
            other => Err(ln.diag(format!(
                "{who} : 'check-proto' : unknown or unsupported protocol '{other}' (Sluice knows 'h1' and 'h2')."
            ))),
        },
        "proto" => match ln.arg(i + 1) {
            "h2" => {
                o.proto_h2 = true;
                Ok(2)
            }
            "" => Err(ln.diag(format!("{who} : 'proto' expects an argument."))),
            other => Err(ln.diag(format!(
                "{who} : 'proto' : unknown or unsupported protocol '{other}' (Sluice knows 'h2')."
            ))),
        },
        "pool-max-conn" => {
            let v = ln.arg(i + 1);
            o.pool_max_conn = match v.parse::<i64>() {
                Ok(-1) => None,
                Ok(n) if (0..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
                _ => {
                    return Err(ln.diag(format!(
                        "{who} : 'pool-max-conn' : invalid value '{v}', must be -1 or a positive integer."
                    )))
                }
            };
            Ok(2)
        }
        "weight" | "maxconn" | "minconn" | "maxqueue" | "rise" | "fall" => {
            let v = ln.uint_at(i + 1, opt).map_err(|e| prefixed(e, who))?;
            *numeric_field(o, opt) = v;
            Ok(2)
        }
        "port" => {
            let v = ln.arg(i + 1);
            let port = v
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| ln.diag(format!("{who} : 'port' : invalid port '{v}'.")))?;
            o.check_port = Some(port);
            Ok(2)
        }
        "addr" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!("{who} : 'addr' expects an address.")));
            }
            let a = ln
                .parse_addr(v)
                .map_err(|e| ln.diag(format!("{who} : 'addr' : {e}")))?;
            o.check_addr = Some(a.addr);
            Ok(2)
        }
        "agent-check" => flag(&mut o.agent_check, true),
        "no-agent-check" => flag(&mut o.agent_check, false),
        "agent-port" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!("{who} : 'agent-port' expects an integer argument.")));
            }
            let port = v
                .parse::<u16>()
                .ok()
                .ok_or_else(|| ln.diag(format!("{who} : 'agent-port' : invalid port '{v}'.")))?;
            o.agent_port = Some(port);
            Ok(2)
        }
        "agent-addr" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!(
                    "{who} : 'agent-addr' expects an address as argument."
                )));
            }
            let a = parse_addr(v).map_err(|e| {
                ln.diag(format!(
                    "{who} : parsing agent-addr failed. Check if '{v}' is correct address. ({e})"
                ))
            })?;
            o.agent_addr = Some(a.addr);
            Ok(2)
        }
        "agent-inter" => {
            let v = ln.time_at(i + 1, opt).map_err(|e| prefixed(e, who))?;
            if v == 0 {
                return Err(ln.diag(format!(
                    "{who} : invalid value 0 for argument 'agent-inter'."
                )));
            }
            o.agent_inter_ms = v;
            Ok(2)
        }
        "agent-send" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!("{who} : 'agent-send' expects a string argument.")));
            }
            o.agent_send = Some(v.to_string());
            Ok(2)
        }
        "inter" | "fastinter" | "downinter" => {
            let v = ln.time_at(i + 1, opt).map_err(|e| prefixed(e, who))?;
            if v == 0 {
                return Err(ln.diag(format!("{who} : '{opt}' has to be > 0.")));
            }
            match opt {
                "inter" => o.inter_ms = v,
                "fastinter" => o.fastinter_ms = Some(v),
                _ => o.downinter_ms = Some(v),
            }
            Ok(2)
        }
        "slowstart" => {
            let v = ln.time_at(i + 1, opt).map_err(|e| prefixed(e, who))?;
            // HAProxy keeps it in seconds, rounded up.
            o.slowstart_s = v.div_ceil(1000);
            Ok(2)
        }
        "on-marked-down" | "on-marked-up" => {
            let (want, flag) = if opt == "on-marked-down" {
                ("shutdown-sessions", &mut o.on_marked_down_shutdown)
            } else {
                (
                    "shutdown-backup-sessions",
                    &mut o.on_marked_up_shutdown_backup,
                )
            };
            let v = ln.arg(i + 1);
            if v != want {
                return Err(ln.diag(format!("{who} : '{opt}' expects '{want}' but got '{v}'.")));
            }
            *flag = true;
            Ok(2)
        }
        "observe" => {
            use super::model::ObserveLayer;
            o.observe = match ln.arg(i + 1) {
                "" => return Err(ln.diag(format!("{who} : 'observe' expects <mode> as argument."))),
                "none" => ObserveLayer::None,
                "layer4" => ObserveLayer::Layer4,
                "layer7" => ObserveLayer::Layer7,
                v => {
                    return Err(ln.diag(format!(
                        "{who} : 'observe' expects one of 'none', 'layer4', 'layer7' but got '{v}'."
                    )))
                }
            };
            Ok(2)
        }
        "error-limit" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!(
                    "{who} : 'error-limit' expects an integer argument."
                )));
            }
            match v.parse::<u32>() {
                Ok(n) if n > 0 => o.error_limit = n,
                _ => return Err(ln.diag(format!("{who} : 'error-limit' has to be > 0."))),
            }
            Ok(2)
        }
        "on-error" => {
            use super::model::OnError;
            o.on_error = match ln.arg(i + 1) {
                "fastinter" => OnError::FastInter,
                "fail-check" => OnError::FailCheck,
                "sudden-death" => OnError::SuddenDeath,
                "mark-down" => OnError::MarkDown,
                v => {
                    return Err(ln.diag(format!(
                        "{who} : 'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '{v}'."
                    )))
                }
            };
            Ok(2)
        }
        "cookie" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!("{who} : 'cookie' expects <value> as argument.")));
            }
            o.cookie = Some(v.to_string());
            Ok(2)
        }
        "pool-conn-name" => {
            let v = ln.arg(i + 1);
            if v.is_empty() {
                return Err(ln.diag(format!("{who} : '{opt}' : expects an expression.")));
            }
            o.pool_conn_name = Some(v.to_string());
            Ok(2)
        }
        "id" => Err(ln.diag(format!("{who} : 'id' is not allowed here."))),
        "resolvers" | "resolve-prefer" | "resolve-opts" | "resolve-net" | "init-addr" => {
            resolve_option(o, ln, i, who)
        }
        _ => {
            if let Some(n) = super::tls::server_option(&mut o.tls, g, ln, i, who, d)? {
                return Ok(n);
            }
            let n = ignored_option(
                ln,
                i,
                ignored::SERVER_OPTIONS,
                ignored::REFUSED_SERVER_OPTIONS,
                who,
                d,
            )?;
            o.ignored.push(opt.to_string());
            Ok(n)
        }
    }
}

/// `resolvers`, `resolve-prefer`, `resolve-opts`, `resolve-net` and
/// `init-addr` (HAProxy's `srv_parse_resolvers` and siblings).
fn resolve_option(
    o: &mut ServerOptions,
    ln: &Ln<'_>,
    i: usize,
    who: &str,
) -> Result<usize, Diagnostic> {
    let (opt, v) = (ln.arg(i), ln.arg(i + 1));
    let bad = |m: String| Err(ln.diag(format!("{who} : {m}")));
    match opt {
        "resolvers" => {
            if v.is_empty() {
                return bad("'resolvers' : expects <resolvers_id> as argument.".into());
            }
            o.resolvers = Some(v.to_string());
        }
        "resolve-prefer" => match v {
            "ipv4" => o.resolve_prefer_ipv4 = true,
            "ipv6" => o.resolve_prefer_ipv4 = false,
            _ => return bad(format!("'{opt}' expects either ipv4 or ipv6 as argument.")),
        },
        "resolve-opts" => {
            if v.is_empty() {
                return bad(format!("'{opt}' expects a list of options."));
            }
            for w in v.split(',') {
                match w {
                    "allow-dup-ip" => o.resolve_allow_dup_ip = true,
                    "prevent-dup-ip" => o.resolve_allow_dup_ip = false,
                    // Sluice takes no weight from DNS (no SRV records).
                    "ignore-weight" => {}
                    _ => return bad(format!(
                        "'{opt}' : unknown resolve-opts option '{w}', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'."
                    )),
                }
            }
        }
        "resolve-net" => {
            if v.is_empty() {
                return bad(format!("'{opt}' expects a list of networks."));
            }
            o.resolve_net.clear();
            for w in v.split(',') {
                let Some(net) = parse_net(w) else {
                    return bad(format!("'{opt}' : invalid network '{w}'."));
                };
                if o.resolve_net.len() == 32 {
                    return bad(format!("'{opt}' exceed 32 networks."));
                }
                o.resolve_net.push(net);
            }
        }
        _ => {
            if v.is_empty() {
                return bad(format!("'{opt}' expects <method>[,<method>]* as argument."));
            }
            o.init_addr =
                parse_init_addr(v).map_err(|m| ln.diag(format!("{who} : '{opt}' : {m}")))?;
        }
    }
    Ok(2)
}

/// `A.B.C.D/N`, `A.B.C.D/MASK`, `X::Y/N` or a lone address (a host).
fn parse_net(w: &str) -> Option<(core::net::IpAddr, u8)> {
    let (a, m) = w.split_once('/').unwrap_or((w, ""));
    let ip: core::net::IpAddr = a.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = if m.is_empty() {
        max
    } else if let Ok(n) = m.parse::<u8>() {
        n
    } else {
        let mask: core::net::Ipv4Addr = m.parse().ok()?;
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() != 32 || !ip.is_ipv4() {
            return None;
        }
        bits.leading_ones() as u8
    };
    (len <= max).then_some((ip, len))
}

/// The methods of `init-addr`, in order, each at most once (HAProxy's
/// `srv_parse_init_addr`).
fn parse_init_addr(v: &str) -> Result<Vec<InitAddr>, String> {
    let mut out: Vec<InitAddr> = Vec::new();
    for p in v.split(',').filter(|p| !p.is_empty()) {
        let m = match p {
            "libc" => InitAddr::Libc,
            "last" => InitAddr::Last,
            "none" => InitAddr::None,
            _ => match p.parse() {
                Ok(ip) => {
                    if out.iter().any(|m| matches!(m, InitAddr::Ip(_))) {
                        return Err(format!(
                            "initial address already specified, cannot add '{p}'."
                        ));
                    }
                    InitAddr::Ip(ip)
                }
                Err(_) => {
                    return Err(format!(
                    "unknown init-addr method '{p}', supported methods are 'libc', 'last', 'none'."
                ))
                }
            },
        };
        if out.contains(&m) {
            return Err(format!(
                "too many init-addr methods when trying to add '{p}'"
            ));
        }
        out.push(m);
    }
    Ok(out)
}

/// `server-template PREFIX NUM|LOW-HIGH ADDR[:PORT] [options]`: the
/// servers `PREFIX<LOW>` .. `PREFIX<HIGH>` (HAProxy's `SRV_PARSE_TEMPLATE`),
/// with the same options.
pub(super) fn parse_server_template(
    px: &Proxy,
    g: &Global,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<Vec<Server>, Diagnostic> {
    let (prefix, range) = (ln.arg(1), ln.arg(2));
    if ln.arg(3).is_empty() {
        return Err(ln.diag(
            "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.",
        ));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(ln.diag(format!(
            "character '{c}' is not permitted in server-template prefix '{prefix}'."
        )));
    }
    let parsed = match range.split_once('-') {
        Some((lo, hi)) => lo.parse::<u32>().ok().zip(hi.parse::<u32>().ok()),
        None => range.parse::<u32>().ok().map(|n| (1, n)),
    };
    let Some((lo, hi)) = parsed.filter(|(lo, hi)| lo <= hi && *lo > 0) else {
        return Err(ln.diag(format!(
            "Wrong server-template number or range arg '{range}'."
        )));
    };
    if hi - lo >= 10_000 {
        return Err(ln.diag(format!(
            "Wrong server-template number or range arg '{range}' (Sluice creates at most 10000 servers per template)."
        )));
    }
    let first = parse_server_words(px, g, ln, d, &format!("{prefix}{lo}"), 3)?;
    Ok((lo..=hi)
        .map(|n| Server {
            name: format!("{prefix}{n}"),
            ..first.clone()
        })
        .collect())
}

/// Names the server in a value error: `'server be/s1' : 'weight' : ...`
/// (`who` is already quoted).
fn prefixed(mut e: Diagnostic, who: &str) -> Diagnostic {
    e.message = format!("{who} : {}", e.message);
    e
}

/// The integer field of `opt`; `maxconn`/`maxqueue` become `Some`.
fn numeric_field<'a>(o: &'a mut ServerOptions, opt: &str) -> &'a mut u32 {
    match opt {
        "weight" => &mut o.weight,
        "rise" => &mut o.rise,
        "fall" => &mut o.fall,
        "maxconn" => o.maxconn.insert(0),
        "minconn" => o.minconn.insert(0),
        _ => o.maxqueue.insert(0),
    }
}

/// What a reverse HTTP server (`rhttp@`, whose connections come from
/// `attach-srv`) may have: no health checks and no TLS of its own yet;
/// `pool-conn-name` only there.
fn check_reverse(
    o: &ServerOptions,
    reverse: bool,
    ln: &Ln<'_>,
    who: &str,
) -> Result<(), Diagnostic> {
    if !reverse {
        if o.pool_conn_name.is_some() {
            return Err(ln.diag(format!(
                "{who} : 'pool-conn-name' is supported by Sluice on reverse HTTP servers ('rhttp@') only."
            )));
        }
        return Ok(());
    }
    if o.agent_check {
        return Err(ln.diag(format!(
            "{who} : agent checks of a reverse HTTP server ('rhttp@' has no address to reach an agent on) are not supported by Sluice."
        )));
    }
    if o.check {
        return Err(ln.diag(format!(
            "{who} : health checks of a reverse HTTP server ('rhttp@' with 'check', HAProxy's check-reuse-pool) are not supported by Sluice yet."
        )));
    }
    if o.tls.ssl {
        return Err(ln.diag(format!(
            "{who} : 'ssl' on a reverse HTTP server is not supported by Sluice (its connections' TLS is the one the attach-srv frontend terminated); name the connections with 'pool-conn-name' rather than 'sni'."
        )));
    }
    if o.send_proxy || o.send_proxy_v2 {
        return Err(ln.diag(format!(
            "{who} : 'send-proxy' on a reverse HTTP server is not supported by Sluice (its connections are open already)."
        )));
    }
    Ok(())
}

fn check_opts(o: &ServerOptions, ln: &Ln<'_>, who: &str) -> Result<(), Diagnostic> {
    if o.weight > 256 {
        return Err(ln.diag(format!(
            "{who} : weight is not within 0 and 256 ({}).",
            o.weight
        )));
    }
    if o.rise == 0 || o.fall == 0 {
        let which = if o.rise == 0 { "rise" } else { "fall" };
        return Err(ln.diag(format!("{who} : '{which}' has to be > 0.")));
    }
    Ok(())
}
