//! Proxy sections: `defaults`, `frontend`, `backend`, `listen` (HAProxy's
//! `cfg_parse_listen()` and the proxy keywords registered elsewhere).
//!
//! A keyword that makes no sense for the proxy's capability is handled as
//! HAProxy does: a warning (`'balance' ignored because frontend 'fe' has no
//! backend capability.`), or an error for `server` and `default-server` in
//! a frontend and for what a `defaults` section may not hold.

use super::model::{
    Balance, CookieCfg, Global, HttpReuse, Mode, Proxy, ProxyKind, ProxyOptions, RetryOn,
    ServerStateFile, TableDecl,
};
use super::{ignored, log, options, rules, server, table, Diagnostic, Diags, Ln};

/// The capability a keyword needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cap {
    Frontend,
    Backend,
    Any,
}

/// HAProxy's `warnifnotcap()`: whether `px` has `cap`; warns when it does
/// not (a `defaults` section has every capability).
pub(super) fn warn_if_not_cap(
    px: &Proxy,
    ln: &Ln<'_>,
    what: &str,
    cap: Cap,
    d: &mut Diags,
) -> bool {
    let (ok, missing) = match cap {
        Cap::Any => (true, ""),
        Cap::Frontend => (px.kind.is_frontend(), "frontend"),
        Cap::Backend => (px.kind.is_backend(), "backend"),
    };
    if ok || px.kind == ProxyKind::Defaults {
        return true;
    }
    d.warn(ln.diag(format!(
        "'{what}' ignored because {} '{}' has no {missing} capability.",
        px.kind.type_str(),
        px.name
    )));
    false
}

/// Keywords a `defaults` section may not hold; `*` marks those allowed in a
/// named one (HAProxy 2.6 lets named defaults carry rules).
const NOT_IN_DEFAULTS: &[(&str, bool)] = &[
    ("bind", false),
    ("server", false),
    ("use_backend", false),
    ("use-server", false),
    ("stick", false),
    ("stick-table", false),
    ("force-persist", false),
    ("ignore-persist", false),
    ("monitor", false),
    ("acl", true),
    ("tcp-request", true),
    ("tcp-response", true),
    ("http-request", true),
    ("http-response", true),
    ("http-after-response", true),
];

fn defaults_allow(px: &Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if px.kind != ProxyKind::Defaults {
        return Ok(());
    }
    match NOT_IN_DEFAULTS.iter().find(|(k, _)| *k == ln.kw()) {
        None => Ok(()),
        Some((_, true)) if !px.name.is_empty() => Ok(()),
        Some((kw, true)) => Err(ln.diag(format!(
            "'{kw}' not allowed in anonymous 'defaults' section."
        ))),
        Some((kw, false)) => Err(ln.diag(format!("'{kw}' not allowed in 'defaults' section."))),
    }
}

/// One line of a proxy section.
pub(super) fn parse(
    px: &mut Proxy,
    g: &Global,
    base: &ProxyOptions,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    defaults_allow(px, ln)?;
    match ln.kw() {
        "mode" => mode(px, ln),
        "bind" => bind(px, g, ln, d),
        "maxconn" => maxconn(px, ln, d),
        "fullconn" => {
            let v = ln.uint_at(1, "fullconn")?;
            ln.no_extra(2)?;
            if warn_if_not_cap(px, ln, "fullconn", Cap::Backend, d) {
                px.fullconn = Some(v);
            }
            Ok(())
        }
        "default_backend" => default_backend(px, ln, d),
        "use_backend" => rules::use_backend(px, ln, d),
        "use-server" => rules::use_server(px, ln, d),
        "server" => add_server(px, g, ln, d),
        "server-template" => {
            need_backend(px, ln)?;
            let servers = server::parse_server_template(px, g, ln, d)?;
            px.servers.extend(servers);
            Ok(())
        }
        "default-server" => {
            need_backend(px, ln)?;
            server::parse_default_server(px, g, ln, d)
        }
        "timeout" => timeout(px, ln, d),
        "balance" => balance(px, ln, d),
        "dispatch" => dispatch(px, ln, d),
        "hash-type" => hash_type(px, ln, d),
        "hash-balance-factor" => hash_balance_factor(px, ln),
        "cookie" => cookie(px, ln, d),
        "force-persist" | "ignore-persist" => rules::persist(px, ln, d),
        "retries" => retries(px, ln, d),
        "retry-on" => retry_on(px, ln),
        "option" => options::parse(px, base, ln, d),
        "http-reuse" => http_reuse(px, ln, d),
        "http-check" => super::httpchk::http_check(px, ln, d),
        "tcp-check" => tcp_check(px, ln, d),
        "log" => log::parse_proxy(&mut px.logs, ln, d),
        "log-format" | "unique-id-format" | "unique-id-header" => log::format_line(px, ln, d),
        "capture" | "declare" => log::capture(px, ln, d),
        "stick-table" => stick_table(px, ln, d),
        "stick" => rules::stick(px, ln, d),
        "acl" => rules::acl(px, ln),
        "tcp-request" => rules::tcp_request(px, ln, d),
        "tcp-response" => rules::tcp_response(px, ln),
        "http-request" | "http-response" | "http-after-response" => {
            if ln.kw() == "http-request" {
                log::rule_capture_slot(px, ln);
            }
            rules::http(px, ln, d)
        }
        "redirect" => rules::redirect(px, ln, d),
        "monitor-uri" => monitor_uri(px, ln, d),
        "http-send-name-header" => {
            let cap = warn_if_not_cap(px, ln, "http-send-name-header", Cap::Backend, d);
            if ln.arg(1).is_empty() {
                return Err(ln.diag("'http-send-name-header' requires a header string."));
            }
            if cap {
                px.server_id_hdr_name = Some(ln.arg(1).to_ascii_lowercase());
            }
            Ok(())
        }
        "stats" => super::stats::parse(px, ln),
        "errorfile" | "errorfiles" | "errorloc" | "errorloc302" | "errorloc303" | "http-error" => {
            super::errors::proxy_kw(px, ln)
        }
        "monitor" => rules::monitor(px, ln, d),
        "compression" => compression(px, ln, d),
        "disabled" | "enabled" => {
            ln.no_extra(1)?;
            px.disabled = ln.kw() == "disabled";
            Ok(())
        }
        "load-server-state-from-file" => load_server_state(px, ln, d),
        kw if ignored::refused(ignored::REFUSED_PROXY, kw).is_some() => {
            let why = ignored::refused(ignored::REFUSED_PROXY, kw).unwrap_or_default();
            Err(ln.diag(format!("'{kw}' is not supported by Sluice: {why}.")))
        }
        kw if ignored::matches(ignored::PROXY, kw) => {
            d.warn(ln.diag(format!("'{kw}' is not supported by Sluice and is ignored.")));
            Ok(())
        }
        kw => Err(ln.diag(format!(
            "unknown keyword '{kw}' in '{}' section",
            px.kind.keyword()
        ))),
    }
}

/// `load-server-state-from-file global|local|none` (HAProxy's
/// `cfg_parse_listen`). What it loads is only read for an enabled backend
/// with servers; `Config::check` refuses those (Sluice reads no server
/// state file), and a `global` one only when the global
/// `server-state-file` is set: HAProxy reads nothing otherwise.
fn load_server_state(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    warn_if_not_cap(px, ln, ln.kw(), Cap::Backend, d);
    px.load_server_state = match ln.arg(1) {
        "global" => Some((ServerStateFile::Global, ln.place())),
        "local" => Some((ServerStateFile::Local, ln.place())),
        "none" => None,
        other => {
            return Err(ln.diag(format!(
                "'{}' expects 'global', 'local' or 'none'. Got '{other}'",
                ln.kw()
            )))
        }
    };
    Ok(())
}

/// `server` and `default-server` need a backend: an error, not a warning.
fn need_backend(px: &Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if px.kind == ProxyKind::Frontend {
        return Err(ln.diag(format!(
            "'{}' not allowed because frontend '{}' has no backend capability.",
            ln.kw(),
            px.name
        )));
    }
    Ok(())
}

fn add_server(px: &mut Proxy, g: &Global, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    need_backend(px, ln)?;
    let s = server::parse_server(px, g, ln, d)?;
    px.servers.push(s);
    Ok(())
}

fn mode(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    px.mode = match ln.arg(1) {
        "tcp" => Mode::Tcp,
        "http" => Mode::Http,
        "" => return Err(ln.diag("'mode' expects one of 'tcp' or 'http'.")),
        other => return Err(ln.diag(format!("unknown proxy mode '{other}'."))),
    };
    ln.no_extra(2)
}

fn bind(px: &mut Proxy, g: &Global, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let b = server::parse_bind(
        ln,
        px.kind.keyword(),
        &g.ssl_default_bind,
        g.expose_experimental,
        d,
    )?;
    if let Some(id) = b.id {
        if let Some(o) = px.binds.iter().find(|o| o.id == Some(id)) {
            return Err(ln.diag(format!(
                "'bind {}' in section '{}' : 'id' : custom id {id} already used at {}:{} ('bind {}')",
                ln.arg(1),
                px.kind.keyword(),
                o.place.file,
                o.place.line,
                o.addrs
                    .iter()
                    .map(|a| a.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            )));
        }
    }
    if warn_if_not_cap(px, ln, "bind", Cap::Frontend, d) {
        px.binds.push(b);
    }
    Ok(())
}

fn maxconn(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let v = ln.uint_at(1, "maxconn")?;
    ln.no_extra(2)?;
    if warn_if_not_cap(px, ln, "maxconn", Cap::Frontend, d) {
        px.maxconn = Some(v);
    }
    Ok(())
}

fn default_backend(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'default_backend' expects a backend name."));
    }
    ln.no_extra(2)?;
    if warn_if_not_cap(px, ln, "default_backend", Cap::Frontend, d) {
        px.default_backend = Some((ln.place(), ln.arg(1).to_string()));
    }
    Ok(())
}

/// `timeout NAME VALUE`; a value of 0 means no timeout.
fn timeout(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let name = ln.arg(1);
    let t = &mut px.timeouts;
    let (slot, cap) = match name {
        "client" => (&mut t.client_ms, Cap::Frontend),
        "client-fin" => (&mut t.client_fin_ms, Cap::Frontend),
        "http-request" => (&mut t.http_request_ms, Cap::Frontend),
        "http-keep-alive" => (&mut t.http_keep_alive_ms, Cap::Frontend),
        "tarpit" => (&mut t.tarpit_ms, Cap::Any),
        "server" => (&mut t.server_ms, Cap::Backend),
        "server-fin" => (&mut t.server_fin_ms, Cap::Backend),
        "connect" => (&mut t.connect_ms, Cap::Backend),
        "queue" => (&mut t.queue_ms, Cap::Backend),
        "tunnel" => (&mut t.tunnel_ms, Cap::Backend),
        "check" => (&mut t.check_ms, Cap::Backend),
        other => {
            return Err(ln.diag(format!(
                "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '{other}')"
            )))
        }
    };
    let label = format!("timeout {name}");
    if ln.arg(2).is_empty() {
        return Err(ln.diag2(format!(
            "'{label}' expects an integer value (in milliseconds)"
        )));
    }
    let v = ln.time_at(2, &label)?;
    ln.no_extra(3)?;
    *slot = (v > 0).then_some(v);
    let has_cap = match cap {
        Cap::Frontend => px.kind.is_frontend(),
        Cap::Backend => px.kind.is_backend(),
        Cap::Any => true,
    };
    if !has_cap && px.kind != ProxyKind::Defaults {
        let other = if cap == Cap::Frontend {
            "frontend"
        } else {
            "backend"
        };
        d.warn(ln.diag2(format!(
            "'{label}' will be ignored because {} '{}' has no {other} capability",
            px.kind.type_str(),
            px.name
        )));
    }
    Ok(())
}

/// `monitor-uri URI`: frontend (inherited from `defaults`).
fn monitor_uri(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    if !warn_if_not_cap(px, ln, "monitor-uri", Cap::Frontend, d) {
        return Ok(());
    }
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'monitor-uri' expects an URI."));
    }
    px.monitor_uri = Some(ln.arg(1).to_string());
    Ok(())
}

fn balance(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let algo = ln.arg(1);
    // HAProxy: "balance " and the message of `backend_parse_balance`.
    let err = |m: String| ln.diag(format!("balance {m}"));
    let b = match algo {
        "roundrobin" | "" => Balance::RoundRobin,
        "static-rr" => Balance::StaticRr,
        "leastconn" => Balance::LeastConn,
        "first" => Balance::First,
        "source" => Balance::Source,
        a if a.starts_with("random") => {
            let rest = &a["random".len()..];
            // Like HAProxy, any word starting with "random" is random.
            let draws = match rest.strip_prefix('(') {
                None | Some(")") => 2,
                Some(inner) => {
                    let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
                    match inner[digits..].chars().next() {
                        Some(')') => {}
                        None => return Err(err("random : missing closing parenthesis.".into())),
                        Some(c) => {
                            return Err(err(format!(
                                "random : unexpected character '{c}' after argument."
                            )))
                        }
                    }
                    let n: u32 = inner[..digits].parse().unwrap_or(0);
                    if n < 1 {
                        return Err(err("random : number of draws must be at least 1.".into()));
                    }
                    n
                }
            };
            Balance::Random { draws }
        }
        "uri" => {
            let (mut whole, mut path_only, mut len, mut depth) = (false, false, 0, 0);
            let mut i = 2;
            while !ln.arg(i).is_empty() {
                match ln.arg(i) {
                    opt @ ("len" | "depth") => {
                        let v: u32 = ln.arg(i + 1).parse().unwrap_or(0);
                        if v == 0 {
                            return Err(err(format!(
                                "uri : '{opt}' expects a positive integer (got '{}').",
                                ln.arg(i + 1)
                            )));
                        }
                        if opt == "len" {
                            len = v;
                        } else {
                            depth = v;
                        }
                        i += 2;
                    }
                    "whole" => {
                        whole = true;
                        i += 1;
                    }
                    "path-only" => {
                        path_only = true;
                        i += 1;
                    }
                    other => {
                        return Err(err(format!(
                            "uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{other}')."
                        )))
                    }
                }
            }
            Balance::Uri {
                whole,
                path_only,
                len,
                depth,
            }
        }
        "url_param" => {
            if ln.arg(2).is_empty() {
                return Err(err("url_param requires an URL parameter name.".into()));
            }
            let check_post = match ln.arg(3) {
                "" => false,
                "check_post" => true,
                o => {
                    return Err(err(format!(
                        "url_param only accepts 'check_post' modifier (got '{o}')."
                    )))
                }
            };
            Balance::UrlParam {
                name: ln.arg(2).to_string(),
                check_post,
            }
        }
        "hash" => {
            if ln.arg(2).is_empty() {
                return Err(err("hash requires a sample expression.".into()));
            }
            if !ln.arg(3).is_empty() {
                return Err(err(format!(
                    "hash takes no other argument (got '{}').",
                    ln.arg(3)
                )));
            }
            Balance::Hash {
                expr: ln.arg(2).to_string(),
                place: ln.place(),
            }
        }
        a if a.starts_with("hdr(") => {
            let inner = &a[4..];
            let name = match inner.find(')') {
                Some(e) if e > 0 => &inner[..e],
                _ => return Err(err("hdr requires an http header field name.".into())),
            };
            let use_domain_only = match ln.arg(2) {
                "" => false,
                "use_domain_only" => true,
                o => {
                    return Err(err(format!(
                        "{a} only accepts 'use_domain_only' modifier (got '{o}')."
                    )))
                }
            };
            Balance::Hdr {
                name: name.to_string(),
                use_domain_only,
            }
        }
        a if a.starts_with("rdp-cookie") => {
            let rest = &a["rdp-cookie".len()..];
            let name = if rest.is_empty() {
                "mstshash"
            } else {
                match rest.strip_prefix('(').and_then(|r| r.find(')').map(|e| &r[..e])) {
                    Some(n) if !n.is_empty() => n,
                    _ => return Err(err("rdp-cookie : missing cookie name.".into())),
                }
            };
            Balance::RdpCookie {
                name: name.to_string(),
            }
        }
        _ => return Err(err(
            "only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.".into(),
        )),
    };
    if matches!(
        b,
        Balance::RoundRobin
            | Balance::StaticRr
            | Balance::LeastConn
            | Balance::First
            | Balance::Source
    ) {
        ln.no_extra(2)?;
    }
    if warn_if_not_cap(px, ln, "balance", Cap::Backend, d) {
        px.balance = b;
        px.balance_set = true;
    }
    Ok(())
}

/// `dispatch ADDR:PORT` (HAProxy's `cfg_parse_listen`): not in defaults,
/// a port is required, a name is resolved at start like a server's.
fn dispatch(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    if px.kind == ProxyKind::Defaults {
        return Err(ln.diag("'dispatch' not allowed in 'defaults' section."));
    }
    let cap = warn_if_not_cap(px, ln, "dispatch", Cap::Backend, d);
    let text = ln.arg(1);
    let a = ln
        .parse_addr(text)
        .and_then(|p| p.single_port(text))
        .and_then(|p| p.require_port(text))
        .map_err(|e| ln.diag(format!("'dispatch' : {e}")))?;
    if !matches!(a.addr, super::addr::Addr::Inet { .. }) {
        return Err(ln.diag(format!(
            "'dispatch' : address '{text}' is not an IPv4 or IPv6 address (Sluice)."
        )));
    }
    ln.no_extra(2)?;
    if cap {
        px.dispatch = Some((ln.place(), a.addr));
    }
    Ok(())
}

/// `hash-type map-based|consistent [sdbm|djb2|wt6|crc32 [avalanche]]`
/// (HAProxy's `cfg_parse_listen`): without a function, sdbm, with
/// avalanche for `consistent`.
fn hash_type(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    use crate::backend::lb::HashFn;
    let cap = warn_if_not_cap(px, ln, "hash-type", Cap::Backend, d);
    let consistent = match ln.arg(1) {
        "consistent" => true,
        "map-based" => false,
        "avalanche" => {
            return Err(ln.diag(
                "experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead.",
            ))
        }
        _ => return Err(ln.diag("'hash-type' only supports 'consistent' and 'map-based'.")),
    };
    let (func, avalanche) = match ln.arg(2) {
        "" => (HashFn::Sdbm, consistent),
        f => {
            let func = match f {
                "sdbm" => HashFn::Sdbm,
                "djb2" => HashFn::Djb2,
                "wt6" => HashFn::Wt6,
                "crc32" => HashFn::Crc32,
                _ => return Err(ln.diag(
                    "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.",
                )),
            };
            let avalanche =
                match ln.arg(3) {
                    "avalanche" => true,
                    "" => false,
                    _ => return Err(ln.diag(
                        "'hash-type' only supports 'avalanche' as a modifier for hash functions.",
                    )),
                };
            (func, avalanche)
        }
    };
    if cap {
        px.hash_type = crate::cfgparse::HashType {
            consistent,
            func,
            avalanche,
        };
    }
    Ok(())
}

/// `hash-balance-factor N`: 0 (off) or above 100.
fn hash_balance_factor(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'hash-balance-factor' expects an integer argument."));
    }
    // HAProxy reads it with atol(): leading digits, else 0.
    let digits: String = ln.arg(1).chars().take_while(char::is_ascii_digit).collect();
    let f: u32 = digits.parse().unwrap_or(u32::MAX);
    if f != 0 && f <= 100 {
        return Err(ln.diag("'hash-balance-factor' must be 0 or greater than 100."));
    }
    px.hash_balance_factor = f;
    Ok(())
}

/// `cookie NAME [options]` (HAProxy's `cfg_parse_listen`): every line
/// starts over; `dynamic` is refused.
fn cookie(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let cap = warn_if_not_cap(px, ln, "cookie", Cap::Backend, d);
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'cookie' expects <cookie_name> as argument."));
    }
    let mut c = CookieCfg {
        name: ln.arg(1).to_string(),
        ..CookieCfg::default()
    };
    let mut i = 2;
    while !ln.arg(i).is_empty() {
        let opt = ln.arg(i);
        match opt {
            "rewrite" => c.rewrite = true,
            "indirect" => c.indirect = true,
            "insert" => c.insert = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "preserve" => c.preserve = true,
            "prefix" => c.prefix = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "domain" => {
                let v = ln.arg(i + 1);
                if v.is_empty() {
                    return Err(ln.diag("'domain' expects <domain> as argument."));
                }
                if !v.contains('.') {
                    d.warn(ln.diag(format!(
                        "domain '{v}' contains no embedded dot, this configuration may not work properly (see RFC6265#5.2.3)."
                    )));
                }
                if let Some(bad) = v.chars().find(|ch| !(ch.is_ascii_alphanumeric() || "-._".contains(*ch))) {
                    return Err(ln.diag(format!(
                        "character '{bad}' is not permitted in domain name '{v}'."
                    )));
                }
                c.domain = Some(match c.domain.take() {
                    None => v.to_string(),
                    Some(prev) => format!("{prev}; domain={v}"),
                });
                i += 1;
            }
            "attr" => {
                let v = ln.arg(i + 1);
                if v.is_empty() {
                    return Err(ln.diag("'attr' expects <value> as argument."));
                }
                if let Some(bad) = v.bytes().find(|b| b.is_ascii_control() || *b == b';') {
                    return Err(ln.diag(format!(
                        "character '%x{bad:02X}' is not permitted in attribute value."
                    )));
                }
                c.attrs = Some(match c.attrs.take() {
                    None => v.to_string(),
                    Some(prev) => format!("{prev}; {v}"),
                });
                i += 1;
            }
            "maxidle" | "maxlife" => {
                let v = ln.arg(i + 1);
                let what = if opt == "maxidle" { "idletime" } else { "lifetime" };
                if v.is_empty() {
                    return Err(ln.diag(format!(
                        "'{opt}' expects <{what}> in seconds as argument."
                    )));
                }
                let t = super::units::parse_time_s(v).map_err(|e| {
                    ln.diag(match e {
                        super::units::ValueError::Overflow => format!(
                            "timer overflow in argument <{v}> to <{opt}>, maximum value is 2147483647 s (~68 years)."
                        ),
                        super::units::ValueError::BadChar(c) => {
                            format!("unexpected character '{c}' in argument to <{opt}>.")
                        }
                        super::units::ValueError::Empty => {
                            format!("'{opt}' expects <{what}> in seconds as argument.")
                        }
                    })
                })?;
                if opt == "maxidle" {
                    c.maxidle_s = t;
                } else {
                    c.maxlife_s = t;
                }
                i += 1;
            }
            "dynamic" => {
                return Err(ln.diag(
                    "'cookie dynamic' is not supported by Sluice: it changes which clients keep their server and what Set-Cookie holds.",
                ))
            }
            _ => return Err(ln.diag(
                "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.",
            )),
        }
        i += 1;
    }
    if c.rewrite && c.indirect {
        return Err(ln.diag("cookie 'rewrite' and 'indirect' modes are incompatible."));
    }
    if [c.rewrite, c.insert, c.prefix]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        return Err(ln.diag("cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."));
    }
    if c.preserve && !c.insert && !c.indirect {
        return Err(ln.diag("cookie 'preserve' requires at least 'insert' or 'indirect'."));
    }
    if cap {
        px.cookie = Some(c);
    }
    Ok(())
}

fn retries(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let v = ln.uint_at(1, "retries")?;
    ln.no_extra(2)?;
    if warn_if_not_cap(px, ln, "retries", Cap::Backend, d) {
        px.retries = v;
    }
    Ok(())
}

/// `retry-on <keyword>...` (HAProxy's `proxy_parse_retry_on`).
fn retry_on(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'retry-on' needs at least one keyword to specify when to retry"));
    }
    if px.kind == ProxyKind::Frontend {
        return Err(ln.diag("'retry-on' only available in backend or listen section"));
    }
    let mut r = RetryOn::empty();
    for (i, w) in ln.words.iter().enumerate().skip(1) {
        if w == "none" {
            if i != 1 || ln.words.len() > 2 {
                return Err(ln.diag("'retry-on' 'none' keyworld only usable alone"));
            }
            continue;
        }
        r |= RetryOn::keyword(w)
            .ok_or_else(|| ln.diag(format!("'retry-on': unknown keyword '{w}'")))?;
    }
    px.retry_on = r;
    Ok(())
}

fn http_reuse(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let r = match ln.arg(1) {
        "never" => HttpReuse::Never,
        "safe" => HttpReuse::Safe,
        "aggressive" => HttpReuse::Aggressive,
        "always" => HttpReuse::Always,
        _ => {
            return Err(
                ln.diag("'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.")
            )
        }
    };
    ln.no_extra(2)?;
    if warn_if_not_cap(px, ln, "http-reuse", Cap::Backend, d) {
        px.http_reuse = r;
    }
    Ok(())
}

/// `tcp-check connect|send|send-binary|expect|comment ...` (HAProxy's
/// `parse_tcpcheck_*`). A section's own rules replace inherited ones.
fn tcp_check(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    use super::model::{TcpCheckLine, TcpCheckMatch, TcpCheckRule};
    let kw = ln.arg(1);
    let who = format!("'tcp-check {kw}'");
    // Options after the rule's own words: `comment TEXT` everywhere,
    // `port N` on connect, `min-recv N` on expect.
    let mut o = TcpCheckOpts::default();
    let rule = match kw {
        "comment" => {
            // A comment alone names the next rule's failures in HAProxy;
            // Sluice keeps it on that rule.
            if ln.arg(2).is_empty() {
                return Err(ln.diag(format!("{who} : expects a string as argument.")));
            }
            ln.no_extra(3)?;
            None
        }
        "connect" => Some(TcpCheckRule::Connect(check_connect(ln, &who, &mut o)?)),
        "send" | "send-binary" => {
            let data = ln.arg(2);
            if data.is_empty() {
                return Err(ln.diag(format!("{who} : expects a string as argument.")));
            }
            let bytes = if kw == "send" {
                data.as_bytes().to_vec()
            } else {
                parse_hex(data).ok_or_else(|| {
                    ln.diag(format!("{who} : '{data}' is not a hexadecimal string."))
                })?
            };
            o.tail(ln, &who, 3, &["comment"])?;
            Some(TcpCheckRule::Send(bytes))
        }
        "expect" => {
            let mut i = 2;
            // `min-recv` and `comment` may come before the match.
            while matches!(ln.arg(i), "min-recv" | "comment") {
                o.one(ln, &who, i)?;
                i += 2;
            }
            // `!` alone or glued to the type (`!rstring`), as HAProxy's
            // `parse_tcp_check_expect` reads it.
            let mut kind = ln.arg(i);
            let negate = kind.starts_with('!');
            if negate {
                kind = &kind[1..];
                if kind.is_empty() {
                    i += 1;
                    kind = ln.arg(i);
                }
            }
            let text = ln.arg(i + 1);
            if text.is_empty() && !kind.is_empty() {
                return Err(ln.diag(format!("{who} : '{kind}' expects a pattern as argument.")));
            }
            let pattern = match kind {
                "string" => TcpCheckMatch::Bytes {
                    text: text.to_string(),
                    bytes: text.as_bytes().to_vec(),
                },
                "binary" => TcpCheckMatch::Bytes {
                    text: text.to_string(),
                    bytes: parse_hex(text).ok_or_else(|| {
                        ln.diag(format!("{who} : '{text}' is not a hexadecimal string."))
                    })?,
                },
                "rstring" | "rbinary" => {
                    crate::sample::Regex::new(text, false)
                        .map_err(|e| ln.diag(format!("{who} : {e}")))?;
                    TcpCheckMatch::Regex {
                        text: text.to_string(),
                        binary: kind == "rbinary",
                    }
                }
                "" => return Err(ln.diag(format!("{who} : expects a pattern type and a pattern."))),
                other => {
                    return Err(ln.diag(format!(
                        "{who} : '{other}' is not supported by Sluice (supported: string, rstring, binary, rbinary)."
                    )))
                }
            };
            o.tail(ln, &who, i + 2, &["comment", "min-recv"])?;
            Some(TcpCheckRule::Expect {
                negate,
                pattern,
                min_recv: o.min_recv,
            })
        }
        "" => return Err(ln.diag("'tcp-check' expects 'comment', 'connect', 'send', 'send-binary' or 'expect'.")),
        other => {
            return Err(ln.diag(format!(
                "'tcp-check {other}' is not supported by Sluice (supported: comment, connect, send, send-binary, expect)."
            )))
        }
    };
    if !warn_if_not_cap(px, ln, "tcp-check", Cap::Backend, d) {
        return Ok(());
    }
    // Rules inherited from a defaults section give way to the section's own.
    let inherited =
        |l: &TcpCheckLine| l.place.file != px.place.file || l.place.line < px.place.line;
    if px.tcp_checks.first().is_some_and(inherited) {
        px.tcp_checks.clear();
    }
    let Some(rule) = rule else {
        px.pending_tcp_check_comment = Some(ln.arg(2).to_string());
        return Ok(());
    };
    if matches!(rule, TcpCheckRule::Connect(_))
        && px
            .tcp_checks
            .first()
            .is_some_and(|f| !matches!(f.rule, TcpCheckRule::Connect(_)))
    {
        return Err(ln.diag(format!(
            "{who} : first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset."
        )));
    }
    let comment = o.comment.or_else(|| px.pending_tcp_check_comment.take());
    px.tcp_checks.push(TcpCheckLine {
        place: ln.place(),
        rule,
        comment,
    });
    Ok(())
}

/// `tcp-check connect` / `http-check connect` options from word 2 on
/// (HAProxy's `parse_tcpcheck_connect`): `default`, `port`, `addr`,
/// `ssl`, `sni`, `alpn`, `linger`, `comment` (in `o`), and `proto h1|h2`
/// for `http-check connect`. `send-proxy`, `via-socks4` and port
/// expressions are refused, as the server's `check-send-proxy` is.
pub(super) fn check_connect(
    ln: &Ln<'_>,
    who: &str,
    o: &mut TcpCheckOpts,
) -> Result<super::model::CheckConnect, Diagnostic> {
    let mut c = super::model::CheckConnect::default();
    let mut i = 2;
    while !ln.arg(i).is_empty() {
        let (kw, v) = (ln.arg(i), ln.arg(i + 1));
        let need = |what: &str| ln.diag(format!("{who} : '{kw}' expects {what} as argument."));
        match kw {
            "default" => c.default = true,
            "ssl" => c.ssl = true,
            "linger" => c.linger = true,
            "port" | "comment" => {
                o.one(ln, who, i)?;
                c.port = o.port;
                i += 1;
            }
            "addr" => {
                if v.is_empty() {
                    return Err(need("<ipv4|ipv6>"));
                }
                let a = ln
                    .parse_addr(v)
                    .map_err(|e| ln.diag(format!("{who} : '{kw}' : {e}")))?;
                if !matches!(a.addr, super::Addr::Inet { .. }) {
                    return Err(ln.diag(format!(
                        "{who} : '{kw}' : unsupported address family for '{v}'."
                    )));
                }
                c.addr = Some(a.addr);
                i += 1;
            }
            "proto" if who.contains("http-check") => {
                c.proto_h2 = match v {
                    "h1" => false,
                    "h2" => true,
                    "" => return Err(need("a MUX protocol")),
                    other => {
                        return Err(ln.diag(format!(
                            "{who} : 'proto' : unknown or unsupported protocol '{other}' (Sluice knows 'h1' and 'h2')."
                        )))
                    }
                };
                i += 1;
            }
            "sni" => {
                if v.is_empty() {
                    return Err(need("a string"));
                }
                c.sni = Some(v.to_string());
                i += 1;
            }
            "alpn" => {
                if v.is_empty() {
                    return Err(need("a string"));
                }
                c.alpn = Some(v.split(',').map(str::to_string).collect());
                i += 1;
            }
            other => {
                return Err(ln.diag(format!(
                    "{who} : '{other}' is not supported by Sluice (supported: default, port, addr, ssl, sni, alpn, linger, comment)."
                )))
            }
        }
        i += 1;
    }
    Ok(c)
}

/// The options after a `tcp-check` rule's own words.
#[derive(Default)]
pub(super) struct TcpCheckOpts {
    comment: Option<String>,
    port: Option<u16>,
    min_recv: Option<u32>,
}

impl TcpCheckOpts {
    /// The options from word `from` on, each among `allowed`.
    fn tail(
        &mut self,
        ln: &Ln<'_>,
        who: &str,
        from: usize,
        allowed: &[&str],
    ) -> Result<(), Diagnostic> {
        let mut i = from;
        while !ln.arg(i).is_empty() {
            if !allowed.contains(&ln.arg(i)) {
                return Err(ln.diag(format!(
                    "{who} : '{}' is not supported by Sluice (supported: {}).",
                    ln.arg(i),
                    allowed.join(", ")
                )));
            }
            self.one(ln, who, i)?;
            i += 2;
        }
        Ok(())
    }

    /// The option at word `i` and its value.
    pub(super) fn one(&mut self, ln: &Ln<'_>, who: &str, i: usize) -> Result<(), Diagnostic> {
        let (opt, val) = (ln.arg(i), ln.arg(i + 1));
        if val.is_empty() {
            return Err(ln.diag(format!("{who} : '{opt}' expects an argument.")));
        }
        match opt {
            "comment" => self.comment = Some(val.to_string()),
            "port" => {
                let p = val.parse::<u16>().ok().filter(|p| *p > 0);
                self.port =
                    Some(p.ok_or_else(|| ln.diag(format!("{who} : invalid port '{val}'.")))?);
            }
            _ => {
                let n = val.parse::<u32>().map_err(|_| {
                    ln.diag(format!(
                        "{who} : 'min-recv' expects an integer (got '{val}')."
                    ))
                })?;
                self.min_recv = Some(n);
            }
        }
        Ok(())
    }
}

/// `"2b504f4e47"` as bytes.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `200`, `200-399`, `200,302,500-599` as inclusive ranges of 100..=599.
pub(super) fn status_ranges(s: &str) -> Option<Vec<(u16, u16)>> {
    let code = |c: &str| c.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    s.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => Some((code(a)?, code(b)?)).filter(|(a, b)| a <= b),
            None => code(part).map(|c| (c, c)),
        })
        .collect()
}

/// `stick-table type ... size ... [peers NAME]`: one per proxy, named
/// after the proxy.
fn stick_table(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    if let Some(t) = &px.stick_table {
        return Err(ln.diag(format!(
            "'stick-table' : only one stick-table per proxy (the first one is at {}:{}).",
            t.place.file, t.place.line
        )));
    }
    let site = table::TableSite {
        label: "stick-table",
        id: px.name.clone(),
        wire_name: px.name.clone(),
        section: None,
    };
    let params = table::parse(ln, 1, site, d)?;
    px.stick_table = Some(TableDecl {
        place: ln.place(),
        params,
    });
    Ok(())
}

/// `compression algo ALGO...`, `compression type MIME...`, `compression
/// offload` (HAProxy's `parse_compression_options`). Each line adds to
/// what is there (inherited from `defaults` included).
fn compression(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    use crate::http::comp::CompAlgo;
    let args = || (2..).map(|i| ln.arg(i)).take_while(|a| !a.is_empty());
    match ln.arg(1) {
        "algo" => {
            if ln.arg(2).is_empty() {
                return Err(ln.diag("'compression' expects <algorithm>."));
            }
            let mut algos = Vec::new();
            for a in args() {
                match CompAlgo::from_cfg(a) {
                    Some(algo) => algos.push(algo),
                    None => {
                        return Err(ln.diag(format!(
                            "'compression' : '{a}' is not a supported algorithm."
                        )))
                    }
                }
            }
            let c = px.compression.get_or_insert_with(Default::default);
            c.algos.extend(algos);
        }
        "type" => {
            if ln.arg(2).is_empty() {
                return Err(ln.diag("'compression' expects <type>."));
            }
            let c = px.compression.get_or_insert_with(Default::default);
            c.types.extend(args().map(str::to_string));
        }
        "offload" => {
            let c = px.compression.get_or_insert_with(Default::default);
            if px.kind == ProxyKind::Defaults {
                d.warn(ln.diag("'compression' : 'offload' ignored in 'defaults' section."));
            } else {
                c.offload = true;
            }
        }
        _ => return Err(ln.diag("'compression' expects 'algo', 'type' or 'offload'")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_code_lists() {
        assert_eq!(status_ranges("200"), Some(vec![(200, 200)]));
        assert_eq!(
            status_ranges("200-399,503"),
            Some(vec![(200, 399), (503, 503)])
        );
        assert_eq!(status_ranges("399-200"), None);
        assert_eq!(status_ranges("2xx"), None);
        assert_eq!(status_ranges("99"), None);
        assert_eq!(status_ranges(""), None);
    }
}
