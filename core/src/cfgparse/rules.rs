//! Rule-like lines kept as words for the ACL/rule engine: `acl`,
//! `tcp-request`, `tcp-response`, `http-request`, `http-response`,
//! `http-after-response`, and the switching and sticking rules
//! (`use_backend`, `stick`), whose targets the checks need.
//!
//! The parser does not know actions or sample fetches; it splits a rule's
//! condition from its action words at the first bare `if` or `unless`.

use super::model::{
    Cond, MonitorFail, PersistRule, Proxy, ProxyKind, RuleLine, StickKind, StickRule, UseBackend,
    UseServer,
};
use super::proxy::{warn_if_not_cap, Cap};
use super::{check_name, Diagnostic, Diags, Ln};

/// Splits `words` at the first `if`/`unless`: the action words, then the
/// condition. `label` names the rule for messages.
pub(super) fn split_cond(
    ln: &Ln<'_>,
    words: &[String],
    label: &str,
) -> Result<(Vec<String>, Option<Cond>), Diagnostic> {
    let Some(at) = words.iter().position(|w| w == "if" || w == "unless") else {
        return Ok((words.to_vec(), None));
    };
    let cond_words = words[at + 1..].to_vec();
    if cond_words.is_empty() {
        return Err(ln.diag(format!(
            "'{label}' : missing condition after '{}'.",
            words[at]
        )));
    }
    let cond = Cond {
        negate: words[at] == "unless",
        words: cond_words,
    };
    Ok((words[..at].to_vec(), Some(cond)))
}

/// A rule from word `first`, under `keyword` (`http-request`, `tcp-request content`).
fn rule_line(ln: &Ln<'_>, first: usize, keyword: &str) -> Result<RuleLine, Diagnostic> {
    let rest = ln.words.get(first..).unwrap_or_default();
    let (words, cond) = split_cond(ln, rest, keyword)?;
    if words.is_empty() {
        return Err(ln.diag(format!("'{keyword}' expects an action.")));
    }
    Ok(RuleLine {
        file: ln.file.to_string(),
        line: ln.line,
        keyword: keyword.to_string(),
        words,
        cond,
    })
}

/// "a 'http-request' rule placed after a 'use_backend' rule will still be
/// processed before", as HAProxy warns.
fn warn_after_use_backend(px: &Proxy, ln: &Ln<'_>, d: &mut Diags) {
    if !px.use_backends.is_empty() {
        d.warn(ln.diag(format!(
            "a '{}' rule placed after a 'use_backend' rule will still be processed before.",
            ln.kw()
        )));
    }
}

/// `acl NAME CRITERION [FLAGS] [VALUES]`.
pub(super) fn acl(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("'acl' expects an ACL name and a criterion."));
    }
    check_name(ln, "acl", name)?;
    if ln.arg(2).is_empty() {
        return Err(ln.diag(format!(
            "error detected while parsing ACL '{name}' : missing fetch method."
        )));
    }
    px.acls.push(RuleLine {
        file: ln.file.to_string(),
        line: ln.line,
        keyword: "acl".into(),
        words: ln.words[1..].to_vec(),
        cond: None,
    });
    Ok(())
}

/// `tcp-request inspect-delay T | connection|session|content ACTION ...`.
pub(super) fn tcp_request(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let sub = ln.arg(1);
    if sub == "inspect-delay" {
        px.tcp_request_inspect_delay_ms = Some(ln.time_at(2, "tcp-request inspect-delay")?);
        return ln.no_extra(3);
    }
    // A named defaults section may hold them (for frontends only, which
    // `Config::check` enforces, as HAProxy does when a section inherits).
    if matches!(sub, "connection" | "session")
        && !px.kind.is_frontend()
        && px.kind != ProxyKind::Defaults
    {
        return Err(ln.diag(format!(
            "tcp-request {sub} is not allowed because {} {} is not a frontend",
            px.kind.type_str(),
            px.name
        )));
    }
    let keyword = format!("tcp-request {sub}");
    let rules = match sub {
        "connection" => &mut px.tcp_request_connection,
        "session" => &mut px.tcp_request_session,
        "content" => &mut px.tcp_request_content,
        other => {
            return Err(ln.diag(format!(
                "'tcp-request' expects 'inspect-delay', 'connection', 'session' or 'content' in {} '{}' (got '{other}')",
                px.kind.type_str(),
                px.name
            )))
        }
    };
    rules.push(rule_line(ln, 2, &keyword)?);
    warn_after_use_backend(px, ln, d);
    Ok(())
}

/// `tcp-response inspect-delay T | content ACTION ...`: a backend's (or a
/// named defaults section's) rules, as in HAProxy.
pub(super) fn tcp_response(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    let sub = ln.arg(1);
    if matches!(sub, "inspect-delay" | "content")
        && !px.kind.is_backend()
        && px.kind != ProxyKind::Defaults
    {
        return Err(ln.diag(format!(
            "tcp-response {sub} is only allowed in 'backend' sections or 'defaults' section with a name"
        )));
    }
    match sub {
        "inspect-delay" => {
            px.tcp_response_inspect_delay_ms = Some(ln.time_at(2, "tcp-response inspect-delay")?);
            ln.no_extra(3)
        }
        "content" => {
            px.tcp_response_content
                .push(rule_line(ln, 2, "tcp-response content")?);
            Ok(())
        }
        other => Err(ln.diag(format!(
            "'tcp-response' expects 'inspect-delay' or 'content' (got '{other}')."
        ))),
    }
}

/// `http-request`, `http-response`, `http-after-response`.
pub(super) fn http(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let rule = rule_line(ln, 1, ln.kw())?;
    match ln.kw() {
        "http-request" => {
            px.http_request.push(rule);
            warn_after_use_backend(px, ln, d);
        }
        "http-response" => px.http_response.push(rule),
        _ => px.http_after_response.push(rule),
    }
    Ok(())
}

/// `redirect location|prefix|scheme TARGET [options] [if|unless COND]`
/// (HAProxy's legacy proxy keyword): an `http-request redirect` rule run
/// after the `http-request` rules. The action's own parser checks the
/// words when the rules are built.
pub(super) fn redirect(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    if px.kind == super::model::ProxyKind::Defaults {
        return Err(ln.diag("'redirect' not allowed in 'defaults' section."));
    }
    let rule = rule_line(ln, 0, "redirect")?;
    if rule.words.len() < 2 {
        return Err(ln.diag("'redirect' expects 'location', 'prefix' or 'scheme' and a target."));
    }
    let _ = d;
    px.redirect_rules.push(rule);
    Ok(())
}

/// `use_backend NAME [if|unless COND]`.
pub(super) fn use_backend(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'use_backend' expects a backend name."));
    }
    if !warn_if_not_cap(px, ln, "use_backend", Cap::Frontend, d) {
        return Ok(());
    }
    let (words, cond) = split_cond(ln, &ln.words[1..], "use_backend")?;
    if words.is_empty() {
        return Err(ln.diag("'use_backend' expects a backend name."));
    }
    if words.len() > 1 {
        return Err(ln.diag(format!(
            "'use_backend' : unexpected word '{}' after the backend name (expects 'if' or 'unless').",
            words[1]
        )));
    }
    px.use_backends.push(UseBackend {
        place: ln.place(),
        name: ln.arg(1).to_string(),
        cond,
    });
    Ok(())
}

/// `use-server NAME if|unless COND`.
pub(super) fn use_server(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    // HAProxy warns in a frontend and keeps the rule: its server is then
    // never found (an error of `Config::check`).
    warn_if_not_cap(px, ln, "use-server", Cap::Backend, d);
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'use-server' expects a server name."));
    }
    if !matches!(ln.arg(2), "if" | "unless") {
        return Err(
            ln.diag("'use-server' requires either 'if' or 'unless' followed by a condition.")
        );
    }
    let (_, cond) = split_cond(ln, &ln.words[2..], "use-server")?;
    let Some(cond) = cond else {
        return Err(
            ln.diag("'use-server' requires either 'if' or 'unless' followed by a condition.")
        );
    };
    px.use_servers.push(UseServer {
        place: ln.place(),
        name: ln.arg(1).to_string(),
        cond,
    });
    Ok(())
}

/// `force-persist if|unless COND`, `ignore-persist if|unless COND`.
pub(super) fn persist(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let kw = ln.kw();
    let cap = warn_if_not_cap(px, ln, kw, Cap::Backend, d);
    if !matches!(ln.arg(1), "if" | "unless") {
        return Err(ln.diag(format!(
            "'{kw}' requires either 'if' or 'unless' followed by a condition."
        )));
    }
    let (_, cond) = split_cond(ln, &ln.words[1..], kw)?;
    let Some(cond) = cond else {
        return Err(ln.diag(format!(
            "'{kw}' requires either 'if' or 'unless' followed by a condition."
        )));
    };
    if cap {
        px.persist_rules.push(PersistRule {
            place: ln.place(),
            force: kw == "force-persist",
            cond,
        });
    }
    Ok(())
}

/// `monitor fail if|unless COND` (frontend; not in `defaults`).
pub(super) fn monitor(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let cap = warn_if_not_cap(px, ln, "monitor", Cap::Frontend, d);
    if ln.arg(1) != "fail" {
        return Err(ln.diag("'monitor' only supports 'fail'."));
    }
    let need =
        || ln.diag("'monitor fail' requires either 'if' or 'unless' followed by a condition.");
    if !matches!(ln.arg(2), "if" | "unless") {
        return Err(need());
    }
    let (_, cond) = split_cond(ln, &ln.words[2..], "monitor fail")?;
    let cond = cond.ok_or_else(need)?;
    if cap {
        px.monitor_fail.push(MonitorFail {
            place: ln.place(),
            cond,
        });
    }
    Ok(())
}

/// `stick on|match|store-request|store-response EXPR [table T] [if|unless COND]`.
pub(super) fn stick(px: &mut Proxy, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let kind = match ln.arg(1) {
        "on" => StickKind::On,
        "match" => StickKind::Match,
        "store-request" => StickKind::StoreRequest,
        "store-response" => StickKind::StoreResponse,
        _ => return Err(ln.diag("'stick' expects 'on', 'match', or 'store'.")),
    };
    if ln.arg(2).is_empty() {
        return Err(ln.diag("'stick' expects a fetch method."));
    }
    if !warn_if_not_cap(px, ln, "stick", Cap::Backend, d) {
        return Ok(());
    }
    let (words, cond) = split_cond(ln, &ln.words[2..], "stick")?;
    let Some(expr) = words.first() else {
        return Err(ln.diag("'stick' expects a fetch method."));
    };
    let table = match words.get(1).map(String::as_str) {
        None => None,
        Some("table") => match words.get(2) {
            Some(t) => Some(t.clone()),
            None => return Err(ln.diag("'stick': missing table name after 'table'.")),
        },
        Some(other) => return Err(ln.diag(format!("'stick': unknown keyword '{other}'."))),
    };
    if let Some(extra) = words.get(3) {
        return Err(ln.diag(format!("'stick': unknown keyword '{extra}'.")));
    }
    px.stick_rules.push(StickRule {
        place: ln.place(),
        kind,
        expr: expr.clone(),
        table,
        cond,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgparse::Kwm;

    fn ln(words: &[&str]) -> Ln<'static> {
        Ln {
            file: "t.cfg",
            line: 3,
            words: words.iter().map(|w| w.to_string()).collect(),
            kwm: Kwm::Std,
            env: Default::default(),
        }
    }

    #[test]
    fn conditions_split_at_the_first_if_or_unless() {
        let l = ln(&[
            "http-request",
            "deny",
            "if",
            "{",
            "src",
            "1.2.3.4",
            "}",
            "||",
            "bad",
        ]);
        let r = rule_line(&l, 1, "http-request").unwrap();
        assert_eq!(r.words, ["deny"]);
        let c = r.cond.unwrap();
        assert!(!c.negate);
        assert_eq!(c.words, ["{", "src", "1.2.3.4", "}", "||", "bad"]);

        let l = ln(&["http-request", "return", "status", "200", "unless", "ok"]);
        let r = rule_line(&l, 1, "http-request").unwrap();
        assert_eq!(r.words, ["return", "status", "200"]);
        assert!(r.cond.unwrap().negate);

        let l = ln(&["http-request", "deny", "if"]);
        let e = rule_line(&l, 1, "http-request").unwrap_err();
        assert_eq!(e.message, "'http-request' : missing condition after 'if'.");
        let l = ln(&["http-request", "if", "x"]);
        let e = rule_line(&l, 1, "http-request").unwrap_err();
        assert_eq!(e.message, "'http-request' expects an action.");
    }
}
