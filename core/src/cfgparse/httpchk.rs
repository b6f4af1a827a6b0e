//! `http-check` directives (HAProxy 2.6's `proxy_parse_httpcheck`, built
//! on its tcp-check rules): `connect`, `send`, `expect`, `set-var`,
//! `unset-var`, `comment`, `send-state`, and the ignored `disable-on-404`.
//!
//! Every rule is kept in order in `http_check_rules`: a ruleset with
//! connect rules, log-format values or `send-state` runs them as they
//! are (several connect / send / expect sequences). The others keep the
//! one-exchange form: at most one `send` (before the expects, merged with
//! `option httpchk`'s method, URI and version), then every `expect` on
//! the same response, in order. A section's own rules replace the ones
//! it inherits from its defaults section.

use super::model::{
    HdrMatch, HdrPattern, HttpCheckExpect, HttpCheckMatch, HttpCheckRule, HttpCheckSend, Proxy,
};
use super::proxy::{warn_if_not_cap, Cap};
use super::{Diagnostic, Diags, Ln};

/// `http-check ...`.
pub(super) fn http_check(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    match ln.arg(1) {
        "expect" => {
            let e = expect(px, ln)?;
            if warn_if_not_cap(px, ln, "http-check", Cap::Backend, d) {
                own_ruleset(px);
                if matches!(last_rule(px), Some(HttpCheckRule::Connect { .. })) {
                    return Err(order_error(px, ln, "expect", "send"));
                }
                push_expect(px, e);
            }
            Ok(())
        }
        "send" => {
            let s = send(ln)?;
            if warn_if_not_cap(px, ln, "http-check", Cap::Backend, d) {
                own_ruleset(px);
                if last_rule(px).is_some_and(|r| !matches!(r, HttpCheckRule::Connect { .. })) {
                    return Err(order_error(px, ln, "send", "connect"));
                }
                set_send(px, s);
            }
            Ok(())
        }
        "connect" => {
            let mut o = super::proxy::TcpCheckOpts::default();
            let c = super::proxy::check_connect(ln, "'http-check connect'", &mut o)?;
            if warn_if_not_cap(px, ln, "http-check", Cap::Backend, d) {
                own_ruleset(px);
                if last_rule(px).is_some_and(|r| !matches!(r, HttpCheckRule::Expect(_))) {
                    return Err(order_error(px, ln, "connect", "expect"));
                }
                px.pending_http_check_comment = None;
                px.http_check_rules.push(HttpCheckRule::Connect {
                    place: ln.place(),
                    connect: c,
                });
            }
            Ok(())
        }
        "comment" => {
            if ln.arg(2).is_empty() {
                return Err(ln.diag2("'http-check comment' expects a string as argument."));
            }
            ln.no_extra(3)?;
            px.pending_http_check_comment = Some(ln.arg(2).to_string());
            Ok(())
        }
        kw if kw.starts_with("set-var(") || kw.starts_with("unset-var(") => {
            let e = set_var(ln)?;
            if warn_if_not_cap(px, ln, "http-check", Cap::Backend, d) {
                own_ruleset(px);
                push_expect(px, e);
            }
            Ok(())
        }
        "send-state" => {
            ln.no_extra(2)?;
            if warn_if_not_cap(px, ln, "http-check", Cap::Backend, d) {
                px.http_check_send_state = true;
            }
            Ok(())
        }
        "disable-on-404" => {
            d.warn(ln.diag2(format!(
                "'http-check {}' is not supported by Sluice and is ignored.",
                ln.arg(1)
            )));
            Ok(())
        }
        "" => Err(ln.diag(
            "'http-check' expects 'comment', 'connect', 'disable-on-404', 'expect', 'send' or 'send-state'.",
        )),
        other => Err(ln.diag(format!(
            "'http-check {other}' is not supported by Sluice (supported: comment, connect, expect, send, send-state, set-var, unset-var; disable-on-404 ignored)."
        ))),
    }
}

/// The section's last rule other than `set-var` / `unset-var` (HAProxy's
/// `get_last_tcpcheck_rule`, which skips comments and actions).
fn last_rule(px: &Proxy) -> Option<&HttpCheckRule> {
    px.http_check_rules.iter().rev().find(|r| {
        !matches!(
            r,
            HttpCheckRule::Expect(HttpCheckExpect {
                pattern: HttpCheckMatch::SetVar { .. } | HttpCheckMatch::UnsetVar { .. },
                ..
            })
        )
    })
}

/// HAProxy's error for a rule out of order (a send after an expect
/// without a connect between them, an expect right after a connect, a
/// connect after a send).
fn order_error(px: &Proxy, ln: &Ln<'_>, what: &str, missing: &str) -> Diagnostic {
    let step = px.http_check_rules.len() + 1 + usize::from(px.options.httpchk.is_some());
    ln.diag2(format!(
        "'http-check {what}' : unable to add http-check {what} rule at step {step} (missing {missing} rule)."
    ))
}

/// The section starts its own HTTP check ruleset: the rules inherited
/// from its defaults section are dropped (HAProxy 2.6 names a ruleset
/// after its proxy; a proxy with rules of its own never sees its
/// defaults' ones).
pub(super) fn own_ruleset(px: &mut Proxy) {
    if px
        .http_check_send
        .as_ref()
        .is_some_and(|s| inherited(px, &s.place))
    {
        px.http_check_send = None;
    }
    if px
        .http_check_expects
        .first()
        .is_some_and(|f| inherited(px, &f.place))
    {
        px.http_check_expects.clear();
    }
    if px
        .http_check_rules
        .first()
        .is_some_and(|r| inherited(px, r.place()))
    {
        px.http_check_rules.clear();
    }
    if !px.httpchk_own {
        px.http_check_fresh = true;
    }
}

/// Whether a rule was written before the section `px` (in its defaults).
fn inherited(px: &Proxy, p: &super::model::Place) -> bool {
    p.file != px.place.file || p.line < px.place.line
}

fn push_expect(px: &mut Proxy, mut e: HttpCheckExpect) {
    if px
        .http_check_expects
        .first()
        .is_some_and(|f| inherited(px, &f.place))
    {
        px.http_check_expects.clear();
    }
    if e.comment.is_none() {
        e.comment = px.pending_http_check_comment.take();
    }
    px.http_check_rules.push(HttpCheckRule::Expect(e.clone()));
    px.http_check_expects.push(e);
}

fn set_send(px: &mut Proxy, s: HttpCheckSend) {
    px.pending_http_check_comment = None;
    // The first send of the section is the one-exchange form's request;
    // the later ones come after a connect rule, so only the ruleset form
    // sends them.
    let own = |r: &HttpCheckRule| matches!(r, HttpCheckRule::Send(_));
    if !px.http_check_rules.iter().any(own) {
        px.http_check_send = Some(s.clone());
    }
    px.http_check_rules.push(HttpCheckRule::Send(s));
}

/// `http-check send [meth M] [uri U] [ver V] [hdr N V]* [body S] [comment C]`.
fn send(ln: &Ln<'_>) -> Result<HttpCheckSend, Diagnostic> {
    let mut s = HttpCheckSend {
        place: ln.place(),
        ..HttpCheckSend::default()
    };
    let mut i = 2;
    while !ln.arg(i).is_empty() {
        let (kw, v) = (ln.arg(i), ln.arg(i + 1));
        let need = |what: &str| {
            ln.diag2(format!(
                "'http-check send' : '{kw}' expects {what} as argument."
            ))
        };
        match kw {
            "meth" | "uri" | "uri-lf" | "ver" | "body" | "body-lf" | "comment" if v.is_empty() => {
                return Err(need("a string"))
            }
            "meth" => s.method = Some(v.to_string()),
            "uri" | "uri-lf" => {
                s.uri = Some(v.to_string());
                s.uri_lf = kw == "uri-lf";
            }
            "ver" => s.version = Some(v.to_string()),
            "body" | "body-lf" => {
                s.body = Some(v.to_string());
                s.body_lf = kw == "body-lf";
            }
            "comment" => {}
            "hdr" => {
                let val = ln.arg(i + 2);
                if v.is_empty() || val.is_empty() {
                    return Err(ln.diag2(
                        "'http-check send' : 'hdr' expects <name> and <value> as arguments.",
                    ));
                }
                s.headers.push((v.to_string(), val.to_string()));
                i += 1;
            }
            other => {
                return Err(ln.diag2(format!(
                    "'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got '{other}' as argument."
                )))
            }
        }
        i += 2;
    }
    Ok(s)
}

/// `http-check set-var(check.NAME) EXPR` / `unset-var(check.NAME)`
/// (HAProxy's `parse_tcpcheck_action` with the vars actions): only the
/// `check.` scope, as checks run without a session nor a stream.
fn set_var(ln: &Ln<'_>) -> Result<HttpCheckExpect, Diagnostic> {
    let kw = ln.arg(1);
    let (set, inner) = match kw.strip_prefix("set-var(") {
        Some(r) => (true, r),
        None => (false, kw.trim_start_matches("unset-var(")),
    };
    let act = if set { "set-var" } else { "unset-var" };
    let var = inner.strip_suffix(')').ok_or_else(|| {
        ln.diag2(format!(
            "'http-check {act}' : missing ')' after the variable name in '{kw}'."
        ))
    })?;
    let name = crate::sample::VarName::parse(var)
        .map_err(|e| ln.diag2(format!("'http-check {act}' : {e}.")))?;
    if name.scope != crate::sample::VarScope::Check {
        return Err(ln.diag2(format!(
            "'http-check {act}' : Sluice supports the 'check.' scope only here (got '{var}')."
        )));
    }
    let pattern = if set {
        let expr = ln.arg(2);
        if expr.is_empty() {
            return Err(ln.diag2("'http-check set-var' : expects a sample expression."));
        }
        ln.no_extra(3)?;
        HttpCheckMatch::SetVar {
            var: var.to_string(),
            expr: expr.to_string(),
        }
    } else {
        ln.no_extra(2)?;
        HttpCheckMatch::UnsetVar {
            var: var.to_string(),
        }
    };
    Ok(HttpCheckExpect {
        place: ln.place(),
        negate: false,
        pattern,
        min_recv: None,
        comment: None,
        ok_status: None,
        err_status: None,
        tout_status: None,
    })
}

/// `http-check expect [options] [!] status|rstatus|string|rstring|hdr ...`.
fn expect(px: &Proxy, ln: &Ln<'_>) -> Result<HttpCheckExpect, Diagnostic> {
    let _ = px;
    let who = "'http-check expect'";
    let mut e = HttpCheckExpect {
        place: ln.place(),
        negate: false,
        pattern: HttpCheckMatch::Status(Vec::new()),
        min_recv: None,
        comment: None,
        ok_status: None,
        err_status: None,
        tout_status: None,
    };
    let mut pattern = None;
    let mut i = 2;
    while !ln.arg(i).is_empty() {
        let (kw, v) = (ln.arg(i), ln.arg(i + 1));
        if kw == "!" {
            e.negate = true;
            i += 1;
            continue;
        }
        if v.is_empty() {
            return Err(ln.diag2(format!("{who} : '{kw}' expects an argument.")));
        }
        let status = |allowed: &[&'static str]| {
            allowed.iter().copied().find(|s| *s == v).ok_or_else(|| {
                ln.diag2(format!(
                    "{who} : '{kw}' only supports {} (got '{v}').",
                    allowed.join(", ")
                ))
            })
        };
        match kw {
            "min-recv" => {
                let n = v.parse::<u32>().map_err(|_| {
                    ln.diag2(format!("{who} : 'min-recv' expects an integer (got '{v}')."))
                })?;
                e.min_recv = Some(n);
            }
            "comment" => e.comment = Some(v.to_string()),
            "ok-status" => e.ok_status = Some(status(&["L7OK", "L7OKC", "L6OK", "L4OK"])?),
            "error-status" => {
                e.err_status = Some(status(&["L7RSP", "L7STS", "L6RSP", "L4CON"])?)
            }
            "tout-status" => e.tout_status = Some(status(&["L7TOUT", "L6TOUT", "L4TOUT"])?),
            _ if pattern.is_some() => {
                return Err(ln.diag2(format!(
                    "{who} : unexpected '{kw}' after the pattern (only min-recv, comment, ok-status, error-status and tout-status may follow it)."
                )))
            }
            "status" => {
                let r = super::proxy::status_ranges(v).ok_or_else(|| {
                    ln.diag2(format!("{who} : invalid status codes '{v}'."))
                })?;
                pattern = Some(HttpCheckMatch::Status(r));
            }
            "rstatus" | "rstring" => {
                crate::sample::Regex::new(v, false)
                    .map_err(|err| ln.diag2(format!("{who} : {err}")))?;
                pattern = Some(if kw == "rstatus" {
                    HttpCheckMatch::RStatus(v.to_string())
                } else {
                    HttpCheckMatch::RString(v.to_string())
                });
            }
            "string" => pattern = Some(HttpCheckMatch::String(v.to_string())),
            "hdr" | "fhdr" => {
                let (mut p, next) = hdr(ln, i + 1)?;
                if let (HttpCheckMatch::Hdr { full, .. }, true) = (&mut p, kw == "fhdr") {
                    *full = true;
                }
                pattern = Some(p);
                i = next;
                continue;
            }
            "string-lf" | "on-success" | "on-error" | "status-code" => {
                return Err(ln.diag2(format!("{who} : '{kw}' is not supported by Sluice.")))
            }
            other => {
                return Err(ln.diag2(format!(
                    "{who} : only supports min-recv, [!]string, [!]rstring, [!]status, [!]rstatus, [!]hdr, comment, ok-status, error-status or tout-status but got '{other}' as argument."
                )))
            }
        }
        i += 2;
    }
    e.pattern = pattern.ok_or_else(|| {
        ln.diag2(format!(
            "{who} : expects a pattern type (status, rstatus, string, rstring or hdr) and a pattern."
        ))
    })?;
    Ok(e)
}

/// `hdr name [-m M] N [value [-m M] V] [full]` from word `i` (`name`); the
/// pattern and the index of the word after it.
fn hdr(ln: &Ln<'_>, mut i: usize) -> Result<(HttpCheckMatch, usize), Diagnostic> {
    let who = "'http-check expect hdr'";
    let one = |i: usize, lf: bool| -> Result<(HdrPattern, usize), Diagnostic> {
        let (mut method, mut at) = (HdrMatch::Str, i);
        if ln.arg(i) == "-m" {
            method = match ln.arg(i + 1) {
                "str" => HdrMatch::Str,
                "beg" => HdrMatch::Beg,
                "end" => HdrMatch::End,
                "sub" => HdrMatch::Sub,
                "reg" => HdrMatch::Reg,
                m => {
                    return Err(ln.diag2(format!(
                    "{who} : '-m' only supports 'str', 'beg', 'end', 'sub' or 'reg' (got '{m}')."
                )))
                }
            };
            at = i + 2;
        }
        let text = ln.arg(at);
        if text.is_empty() {
            return Err(ln.diag2(format!("{who} : expects a pattern.")));
        }
        if method == HdrMatch::Reg && lf {
            return Err(ln.diag2(format!(
                "{who} : '-m reg' is not supported with a log-format pattern."
            )));
        }
        if method == HdrMatch::Reg {
            crate::sample::Regex::new(text, false)
                .map_err(|err| ln.diag2(format!("{who} : {err}")))?;
        }
        Ok((
            HdrPattern {
                method,
                lf,
                text: text.to_string(),
            },
            at + 1,
        ))
    };
    if !matches!(ln.arg(i), "name" | "name-lf") {
        return Err(ln.diag2(format!(
            "{who} : expects 'name' and a header name pattern (got '{}').",
            ln.arg(i)
        )));
    }
    let (name, next) = one(i + 1, ln.arg(i) == "name-lf")?;
    i = next;
    let mut value = None;
    if matches!(ln.arg(i), "value" | "value-lf") {
        let (v, next) = one(i + 1, ln.arg(i) == "value-lf")?;
        value = Some(v);
        i = next;
    }
    let mut full = false;
    if ln.arg(i) == "full" {
        full = true;
        i += 1;
    }
    Ok((HttpCheckMatch::Hdr { name, value, full }, i))
}

#[cfg(test)]
mod tests {
    use crate::cfgparse::{parse, HdrMatch, HttpCheckMatch, ParseOptions};

    fn backend(body: &str) -> Result<crate::cfgparse::Config, String> {
        let text =
            format!("backend b\n    option httpchk\n{body}    server s 127.0.0.1:80 check\n");
        parse("t.cfg", &text, ParseOptions::new("h"))
            .map(|p| p.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn expect_kinds_and_options() {
        let c = backend(
            "    http-check comment first\n    http-check expect ! string maintenance\n    http-check expect min-recv 3 rstring ^ok comment c2\n    http-check expect hdr name -m beg content- value -m sub json full\n    http-check expect rstatus ^2 error-status L7RSP\n",
        )
        .unwrap();
        let e = &c.proxies[0].http_check_expects;
        assert_eq!(e.len(), 4);
        assert!(e[0].negate);
        assert_eq!(e[0].comment.as_deref(), Some("first"));
        assert_eq!(e[0].pattern, HttpCheckMatch::String("maintenance".into()));
        assert_eq!(e[1].min_recv, Some(3));
        assert_eq!(e[1].comment.as_deref(), Some("c2"));
        match &e[2].pattern {
            HttpCheckMatch::Hdr { name, value, full } => {
                assert_eq!(name.method, HdrMatch::Beg);
                assert_eq!(value.as_ref().unwrap().text, "json");
                assert!(*full);
            }
            p => panic!("{p:?}"),
        }
        assert_eq!(e[3].err_status, Some("L7RSP"));
    }

    /// `set-var` / `unset-var` rules keep their place among the expects;
    /// `fhdr` is `hdr ... full`; `name-lf` / `value-lf` are log-format.
    #[test]
    fn vars_fhdr_and_lf_patterns() {
        let c = backend(
            "    http-check set-var(check.n) res.fhdr(x-name)\n    http-check expect fhdr name-lf \"%[var(check.n)]\" value-lf -m beg \"%[str(a)]\"\n    http-check unset-var(check.n)\n",
        )
        .unwrap();
        let e = &c.proxies[0].http_check_expects;
        assert_eq!(
            e[0].pattern,
            HttpCheckMatch::SetVar {
                var: "check.n".into(),
                expr: "res.fhdr(x-name)".into()
            }
        );
        match &e[1].pattern {
            HttpCheckMatch::Hdr { name, value, full } => {
                assert!(name.lf && *full);
                let v = value.as_ref().unwrap();
                assert!(v.lf && v.method == HdrMatch::Beg);
            }
            p => panic!("{p:?}"),
        }
        assert_eq!(
            e[2].pattern,
            HttpCheckMatch::UnsetVar {
                var: "check.n".into()
            }
        );
    }

    #[test]
    fn send_fields() {
        let c = backend(
            "    http-check send meth GET uri /h ver HTTP/1.1 hdr Host a.example hdr X-A 1 body hi\n",
        )
        .unwrap();
        let s = c.proxies[0].http_check_send.as_ref().unwrap();
        assert_eq!(s.method.as_deref(), Some("GET"));
        assert_eq!(s.headers.len(), 2);
        assert_eq!(s.body.as_deref(), Some("hi"));
    }

    /// Connect / send / expect sequences keep their order; `uri-lf`,
    /// `body-lf` and `%` header values are log-format strings.
    #[test]
    fn sequences_and_lf_values() {
        use crate::cfgparse::HttpCheckRule;
        let c = backend(
            "    http-check send-state\n    http-check connect addr 127.0.0.2 port 81 proto h2\n    http-check set-var(check.p) str(/a)\n    http-check send meth GET uri-lf \"%[var(check.p)]\" hdr x-a \"s=%[srv_name]\"\n    http-check expect status 200\n    http-check connect linger\n    http-check send body-lf \"%[be_name]\"\n",
        )
        .unwrap();
        let p = &c.proxies[0];
        assert!(p.http_check_send_state);
        let r = &p.http_check_rules;
        assert_eq!(r.len(), 6, "{r:?}");
        match &r[0] {
            HttpCheckRule::Connect { connect, .. } => {
                assert!(connect.proto_h2);
                assert_eq!(connect.port, Some(81));
            }
            o => panic!("{o:?}"),
        }
        match &r[2] {
            HttpCheckRule::Send(s) => assert!(s.uri_lf && !s.body_lf && s.has_lf()),
            o => panic!("{o:?}"),
        }
        match &r[5] {
            HttpCheckRule::Send(s) => assert!(s.body_lf && !s.uri_lf),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn bad_lines_say_where() {
        for (body, want) in [
            ("    http-check expect stringx foo\n", "t.cfg:3"),
            ("    http-check expect string\n", "expects an argument"),
            ("    http-check expect status 2xx\n", "invalid status codes"),
            ("    http-check expect rstring (\n", "t.cfg:3"),
            ("    http-check send meth\n", "'meth' expects a string"),
            ("    http-check send foo bar\n", "got 'foo'"),
            (
                "    http-check expect status 200\n    http-check send uri /\n",
                "(missing connect rule)",
            ),
            (
                "    http-check connect\n    http-check expect status 200\n",
                "(missing send rule)",
            ),
            (
                "    http-check send uri /\n    http-check connect\n",
                "(missing expect rule)",
            ),
            (
                "    http-check connect proto h3\n",
                "unsupported protocol 'h3'",
            ),
            ("    http-check expect hdr value x\n", "expects 'name'"),
            (
                "    http-check expect ok-status L7STS status 200\n",
                "only supports",
            ),
            (
                "    http-check set-var(txn.x) str(a)\n",
                "the 'check.' scope only",
            ),
            (
                "    http-check set-var(check.x)\n",
                "expects a sample expression",
            ),
            ("    http-check set-var(check.x str(a)\n", "missing ')'"),
            (
                "    http-check expect hdr name-lf -m reg \"%[str(a)]\"\n",
                "'-m reg' is not supported with a log-format",
            ),
        ] {
            let e = backend(body).unwrap_err();
            assert!(e.contains(want), "{body:?}: {e}");
        }
    }
}
