//! `option NAME`, `no option NAME`, `default option NAME` in proxies
//! (HAProxy's `cfg_opts[]`, `cfg_opts2[]` and the special cases of
//! `cfg_parse_listen()`).

use super::model::{
    ForwardFor, HttpChk, HttpConnMode, OriginalTo, ProtoCheck, Proxy, ProxyOptions,
    RestrictHdrNames,
};
use super::proxy::{warn_if_not_cap, Cap};
use super::{ignored, Diagnostic, Diags, Kwm, Ln};

type Field = fn(&mut ProxyOptions) -> &mut bool;

/// Boolean options: name, field, the capability they need.
const FLAGS: &[(&str, Field, Cap)] = &[
    ("redispatch", |o| &mut o.redispatch, Cap::Backend),
    ("persist", |o| &mut o.persist, Cap::Backend),
    (
        "prefer-last-server",
        |o| &mut o.prefer_last_server,
        Cap::Backend,
    ),
    ("splice-auto", |o| &mut o.splice_auto, Cap::Any),
    ("splice-request", |o| &mut o.splice_request, Cap::Any),
    ("splice-response", |o| &mut o.splice_response, Cap::Any),
    ("dontlognull", |o| &mut o.dontlognull, Cap::Frontend),
    ("dontlog-normal", |o| &mut o.dontlog_normal, Cap::Frontend),
    ("logasap", |o| &mut o.logasap, Cap::Frontend),
    (
        "log-separate-errors",
        |o| &mut o.log_separate_errors,
        Cap::Frontend,
    ),
    (
        "log-health-checks",
        |o| &mut o.log_health_checks,
        Cap::Backend,
    ),
    (
        "http-buffer-request",
        |o| &mut o.http_buffer_request,
        Cap::Any,
    ),
    ("abortonclose", |o| &mut o.abortonclose, Cap::Backend),
    ("transparent", |o| &mut o.transparent, Cap::Backend),
    (
        "http-ignore-probes",
        |o| &mut o.http_ignore_probes,
        Cap::Frontend,
    ),
    (
        "disable-h2-upgrade",
        |o| &mut o.disable_h2_upgrade,
        Cap::Frontend,
    ),
];

pub(super) fn parse(
    px: &mut Proxy,
    base: &ProxyOptions,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("'option' expects an option name."));
    }
    if let Some(&(_, field, cap)) = FLAGS.iter().find(|(n, _, _)| *n == name) {
        ln.no_extra(2)?;
        if warn_if_not_cap(px, ln, name, cap, d) {
            let v = match ln.kwm {
                Kwm::Std => true,
                Kwm::No => false,
                Kwm::Default => *field(&mut base.clone()),
            };
            *field(&mut px.options) = v;
        }
        return Ok(());
    }
    match name {
        "http-keep-alive" | "http-server-close" | "httpclose" => conn_mode(px, base, ln),
        "http-restrict-req-hdr-names" => {
            if ln.kwm != Kwm::Std {
                return Err(ln.diag(format!(
                    "negation/default is not supported for option '{name}'."
                )));
            }
            px.options.restrict_req_hdr_names = match ln.arg(2) {
                "preserve" => RestrictHdrNames::Preserve,
                "delete" => RestrictHdrNames::Delete,
                "reject" => RestrictHdrNames::Reject,
                _ => {
                    return Err(ln.diag(
                        "'option http-restrict-req-hdr-names' expects 'preserve', 'delete' or 'reject'.",
                    ))
                }
            };
            ln.no_extra(3)
        }
        "originalto" => {
            if ln.kwm != Kwm::Std {
                return Err(ln.diag(format!(
                    "negation/default is not supported for option '{name}'."
                )));
            }
            px.options.originalto = Some(originalto(ln)?);
            Ok(())
        }
        "tcplog" | "httplog" | "httpslog" | "forwardfor" | "httpchk" | "tcp-check"
        | "redis-check" | "ssl-hello-chk" | "mysql-check" | "pgsql-check" | "smtpchk"
        | "ldap-check" => {
            if ln.kwm != Kwm::Std {
                return Err(ln.diag(format!(
                    "negation/default is not supported for option '{name}'."
                )));
            }
            valued(px, ln, d)
        }
        n if ignored::refused(ignored::REFUSED_OPTIONS, n).is_some() => {
            let why = ignored::refused(ignored::REFUSED_OPTIONS, n).unwrap_or_default();
            Err(ln.diag(format!("'option {n}' is not supported by Sluice: {why}.")))
        }
        n if ignored::matches(ignored::OPTIONS, n) => {
            d.warn(ln.diag(format!(
                "'option {n}' is not supported by Sluice and is ignored."
            )));
            Ok(())
        }
        n => Err(ln.diag(format!("unknown option '{n}'."))),
    }
}

/// The three HTTP connection modes exclude one another; `no option X`
/// returns to keep-alive only if X was the mode in force.
fn conn_mode(px: &mut Proxy, base: &ProxyOptions, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    ln.no_extra(2)?;
    let mode = match ln.arg(1) {
        "http-server-close" => HttpConnMode::ServerClose,
        "httpclose" => HttpConnMode::Close,
        _ => HttpConnMode::KeepAlive,
    };
    let o = &mut px.options;
    match ln.kwm {
        Kwm::Std => o.http_conn_mode = mode,
        Kwm::No if o.http_conn_mode == mode => o.http_conn_mode = HttpConnMode::KeepAlive,
        Kwm::No => {}
        Kwm::Default => o.http_conn_mode = base.http_conn_mode,
    }
    Ok(())
}

/// Options with arguments and without negation.
fn valued(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    match ln.arg(1) {
        "tcplog" => {
            ln.no_extra(2)?;
            px.options.tcplog = true;
            px.options.httplog = false;
            px.options.httpslog = false;
            px.log_format = None;
        }
        "httplog" => {
            let clf = match ln.arg(2) {
                "" => false,
                "clf" => true,
                other => {
                    return Err(ln.diag(format!("'option httplog' : unknown argument '{other}'.")))
                }
            };
            ln.no_extra(3)?;
            px.options.httplog = true;
            px.options.httplog_clf = clf;
            px.options.httpslog = false;
            px.options.tcplog = false;
            px.log_format = None;
        }
        "httpslog" => {
            ln.no_extra(2)?;
            px.options.httplog = true;
            px.options.httplog_clf = false;
            px.options.httpslog = true;
            px.options.tcplog = false;
            px.log_format = None;
        }
        "forwardfor" => px.options.forwardfor = Some(forwardfor(ln)?),
        "httpchk" => {
            if warn_if_not_cap(px, ln, "httpchk", Cap::Backend, d) {
                px.options.httpchk = Some(httpchk(ln)?);
                px.options.tcp_check = false;
                px.options.proto_check = None;
                // The section's own check ruleset (HAProxy's
                // `*http-check-<proxy>`): inherited rules are dropped.
                super::httpchk::own_ruleset(px);
                px.httpchk_own = true;
                px.http_check_fresh = false;
            }
        }
        "tcp-check" => {
            ln.no_extra(2)?;
            if warn_if_not_cap(px, ln, "tcp-check", Cap::Backend, d) {
                px.options.tcp_check = true;
                px.options.proto_check = None;
                px.options.httpchk = None;
            }
        }
        name => {
            let pc = proto_check(name, ln)?;
            if warn_if_not_cap(px, ln, name, Cap::Backend, d) {
                px.options.proto_check = Some(pc);
                px.options.tcp_check = false;
                px.options.httpchk = None;
            }
        }
    }
    Ok(())
}

/// `option redis-check | ssl-hello-chk | ldap-check | mysql-check [user U
/// [post-41|pre-41]] | pgsql-check user U | smtpchk [HELO|EHLO domain]`,
/// with HAProxy 2.6's argument checks.
fn proto_check(name: &str, ln: &Ln<'_>) -> Result<ProtoCheck, Diagnostic> {
    let a = |i| ln.arg(i);
    Ok(match name {
        "redis-check" | "ssl-hello-chk" | "ldap-check" => {
            ln.no_extra(2)?;
            match name {
                "redis-check" => ProtoCheck::Redis,
                "ssl-hello-chk" => ProtoCheck::SslHello,
                _ => ProtoCheck::Ldap,
            }
        }
        "mysql-check" => {
            ln.no_extra(5)?;
            if a(2).is_empty() {
                return Ok(ProtoCheck::Mysql {
                    user: None,
                    post41: true,
                });
            }
            if a(2) != "user" {
                return Err(ln.diag(format!(
                    "'option mysql-check' only supports optional values: 'user' (got '{}').",
                    a(2)
                )));
            }
            if a(3).is_empty() {
                return Err(ln.diag("'option mysql-check user' expects <username> as argument."));
            }
            let post41 = match a(4) {
                "" | "post-41" => true,
                "pre-41" => false,
                other => {
                    return Err(ln.diag(format!(
                        "keyword 'user' only supports 'post-41' and 'pre-41' (got '{other}')."
                    )))
                }
            };
            ProtoCheck::Mysql {
                user: Some(a(3).to_string()),
                post41,
            }
        }
        "pgsql-check" => {
            ln.no_extra(4)?;
            if a(2).is_empty() || a(3).is_empty() {
                return Err(ln.diag("'option pgsql-check' expects 'user <username>' as argument."));
            }
            if a(2) != "user" {
                return Err(ln.diag("'option pgsql-check' only supports optional values: 'user'."));
            }
            ProtoCheck::Pgsql {
                user: a(3).to_string(),
            }
        }
        _ => {
            ln.no_extra(4)?;
            let cmd = match (a(2), a(3)) {
                (v @ ("HELO" | "EHLO"), dom) if !dom.is_empty() => format!("{v} {dom}"),
                _ => "HELO localhost".to_string(),
            };
            ProtoCheck::Smtp { cmd }
        }
    })
}

/// `option forwardfor [except NET] [header NAME] [if-none]`.
fn forwardfor(ln: &Ln<'_>) -> Result<ForwardFor, Diagnostic> {
    let mut f = ForwardFor::default();
    let mut i = 2;
    loop {
        let (opt, val) = (ln.arg(i), ln.arg(i + 1));
        match opt {
            "" => return Ok(f),
            "if-none" => {
                f.if_none = true;
                i += 1;
                continue;
            }
            "except" | "header" if val.is_empty() => {
                let what = if opt == "except" { "<address>[/mask]" } else { "<header_name>" };
                return Err(ln.diag(format!("'option forwardfor {opt}' expects {what} as argument.")));
            }
            "except" => f.except = Some(val.to_string()),
            "header" => f.header = Some(val.to_string()),
            other => {
                return Err(ln.diag(format!(
                    "'option forwardfor' only supports optional values 'except', 'header' and 'if-none' (got '{other}')."
                )))
            }
        }
        i += 2;
    }
}

/// `option originalto [except NET] [header NAME]` (HAProxy 2.6's
/// `cfg_parse_listen`).
fn originalto(ln: &Ln<'_>) -> Result<OriginalTo, Diagnostic> {
    let mut o = OriginalTo::default();
    let mut i = 2;
    loop {
        let (opt, val) = (ln.arg(i), ln.arg(i + 1));
        match opt {
            "" => return Ok(o),
            "except" if crate::acl::IpNet::parse(val).is_none() => {
                return Err(
                    ln.diag("'option originalto except' expects <address>[/mask] as argument.")
                )
            }
            "header" if val.is_empty() => {
                return Err(ln.diag("'option originalto header' expects <header_name> as argument."))
            }
            "except" => o.except = Some(val.to_string()),
            "header" => o.header = Some(val.to_string()),
            _ => {
                return Err(ln.diag(
                    "'option originalto' only supports optional values: 'except' and 'header'.",
                ))
            }
        }
        i += 2;
    }
}

/// `option httpchk`, `option httpchk URI`, `option httpchk METH URI [VER]`.
fn httpchk(ln: &Ln<'_>) -> Result<HttpChk, Diagnostic> {
    let mut c = HttpChk {
        method: "OPTIONS".into(),
        uri: "/".into(),
        version: "HTTP/1.0".into(),
    };
    match (ln.arg(2), ln.arg(3), ln.arg(4)) {
        ("", _, _) => {}
        (uri, "", _) => c.uri = uri.into(),
        (m, uri, ver) => {
            c.method = m.into();
            c.uri = uri.into();
            if !ver.is_empty() {
                c.version = ver.into();
            }
        }
    }
    ln.no_extra(5)?;
    Ok(c)
}
