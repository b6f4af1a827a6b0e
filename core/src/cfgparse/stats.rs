//! `stats ...` in proxy sections: the stats page (HAProxy's `uri_auth`,
//! parsed by `cfgparse-listen.c` and `uri_auth.c`).
//!
//! `stats enable`, `uri`, `realm`, `auth`, `refresh`, `hide-version`,
//! `show-legends`, `show-node`, `scope` and `admin { if | unless } COND`
//! are supported; `stats http-request` and `stats show-desc` are refused
//! with their `file:line` (they change what the page does or shows).

use super::model::{Cond, Place, Proxy, ProxyKind};
use super::{Diagnostic, Ln};

/// HAProxy's `STATS_DEFAULT_URI`.
pub const DEFAULT_URI: &str = "/haproxy?stats";
/// HAProxy's `STATS_DEFAULT_REALM`.
pub const DEFAULT_REALM: &str = "HAProxy Statistics";

/// A proxy's stats page (HAProxy's `struct uri_auth`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsCfg {
    /// `stats uri` (default `/haproxy?stats`): a request whose URI begins
    /// with it gets the page.
    pub uri: Option<String>,
    /// `stats realm`.
    pub realm: Option<String>,
    /// `stats auth USER:PASSWORD`, in order.
    pub auth: Vec<(String, String)>,
    /// `stats refresh DELAY`, in seconds.
    pub refresh_s: Option<u32>,
    pub hide_version: bool,
    pub show_legends: bool,
    /// `stats show-node [NAME]`: `Some("")` for the host name.
    pub show_node: Option<String>,
    /// `stats scope NAME`, in order (`.` is the proxy itself).
    pub scope: Vec<String>,
}

/// `stats admin { if | unless } COND` (HAProxy's `struct
/// stats_admin_rule`): when one matches the request, the page shows its
/// admin form and accepts its POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsAdmin {
    pub place: Place,
    pub cond: Cond,
}

/// A `stats` line in a proxy section; any of them enables the page, as in
/// HAProxy (`stats_check_init_uri_auth`).
pub(super) fn parse(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    let sub = ln.arg(1);
    let refuse =
        |why: &str| Err(ln.diag(format!("'stats {sub}' is not supported by Sluice: {why}.")));
    match sub {
        "admin" => return admin(px, ln),
        "http-request" => return refuse("its rules change who gets the page"),
        "show-desc" => return refuse("it changes what the page shows"),
        "bind-process" => return refuse("Sluice runs one process"),
        _ => {}
    }
    let st = px.stats.get_or_insert_with(StatsCfg::default);
    match sub {
        "enable" => ln.no_extra(2)?,
        "uri" => {
            if ln.arg(2).is_empty() {
                return Err(ln.diag("'uri' needs an URI prefix."));
            }
            st.uri = Some(ln.arg(2).to_string());
        }
        "realm" => {
            if ln.arg(2).is_empty() {
                return Err(ln.diag("'realm' needs an realm name."));
            }
            st.realm = Some(ln.arg(2).to_string());
        }
        "auth" => {
            let Some((u, p)) = ln.arg(2).split_once(':') else {
                return Err(ln.diag("'auth' needs a user:password account."));
            };
            st.auth.push((u.to_string(), p.to_string()));
        }
        "refresh" => {
            if ln.arg(2).is_empty() {
                return Err(ln.diag("'refresh' needs a refresh interval in seconds."));
            }
            let ms = ln.time_at(2, "refresh")?;
            st.refresh_s = Some(ms.div_ceil(1000));
        }
        "hide-version" => st.hide_version = true,
        "show-legends" => st.show_legends = true,
        "show-node" => st.show_node = Some(ln.arg(2).to_string()),
        "scope" => {
            if ln.arg(2).is_empty() {
                return Err(ln.diag("'scope' needs a proxy name."));
            }
            st.scope.push(ln.arg(2).to_string());
        }
        "" => {
            return Err(ln.diag(
                "'stats' expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', \
                 'hide-version', 'show-node', 'show-desc' or 'show-legends'.",
            ))
        }
        other => {
            return Err(ln.diag(format!(
                "unknown stats parameter '{other}' (expects 'admin', 'uri', 'realm', 'auth', \
                 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends')."
            )))
        }
    }
    Ok(())
}

/// `stats admin { if | unless } COND`: not in `defaults`, a condition
/// required, as `cfgparse-listen.c`; it enables the page too.
fn admin(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if px.kind == ProxyKind::Defaults {
        return Err(ln.diag("'stats admin' not allowed in 'defaults' section."));
    }
    let need =
        || ln.diag("'stats admin' requires either 'if' or 'unless' followed by a condition.");
    if !matches!(ln.arg(2), "if" | "unless") {
        return Err(need());
    }
    let (_, cond) = super::rules::split_cond(ln, &ln.words[2..], "stats admin")?;
    let cond = cond.ok_or_else(need)?;
    px.stats.get_or_insert_with(StatsCfg::default);
    px.stats_admin.push(StatsAdmin {
        place: ln.place(),
        cond,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cfgparse::{parse, ParseOptions};

    fn load(body: &str) -> Result<crate::cfgparse::Parsed, String> {
        let text = format!("defaults\n    mode http\n{body}");
        parse("t.cfg", &text, ParseOptions::new("h")).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn admin_needs_a_condition_and_a_proxy() {
        let ok = load("listen st\n    bind :8080\n    stats admin if TRUE\n    stats admin unless { src 10.0.0.0/8 }\n")
            .expect("loads");
        let px = &ok.config.proxies[0];
        assert_eq!(px.stats_admin.len(), 2);
        assert!(px.stats_admin[1].cond.negate);
        assert!(px.stats.is_some(), "stats admin enables the page");
        let e = load("listen st\n    bind :8080\n    stats admin\n").unwrap_err();
        assert!(
            e.contains("'stats admin' requires either 'if' or 'unless' followed by a condition."),
            "{e}"
        );
        let e = load("listen st\n    bind :8080\n    stats admin TRUE\n").unwrap_err();
        assert!(e.contains("requires either 'if' or 'unless'"), "{e}");
        let e = load("    stats admin if TRUE\nlisten st\n    bind :8080\n").unwrap_err();
        assert!(e.contains("not allowed in 'defaults' section"), "{e}");
    }
}
