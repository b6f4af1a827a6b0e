//! The stats page: HAProxy's `http_stats_applet` (`stats.c`,
//! `http_handle_stats`, `http_stats_check_uri`) served for `stats uri`
//! (or `stats enable`) in a proxy.
//!
//! A request whose path (with its query) begins with the `stats uri`
//! prefix is answered by the proxy itself after its `http-request` rules,
//! as in HAProxy, and logged with `<STATS>` as the server. With `stats
//! auth` lines, the credentials are checked first (a 401 with
//! `WWW-Authenticate: Basic realm="..."` otherwise).
//!
//! Modifiers after the prefix, as in HAProxy: `;csv` (the `show stat`
//! CSV, the same rows and columns), `;up` (servers that are not up left
//! out), `;norefresh` (no `refresh` header). The HTML is Sluice's own:
//! one table per proxy with the `show stat` values (queue, session rate,
//! sessions, bytes, denied, errors, warnings, server state, check,
//! weight...), the same figures as HAProxy's page.

use core::fmt::Write as _;

use super::stats::{server_is_up, Row};
use crate::auth::Userlist;
use crate::cfgparse::stats::{StatsCfg, DEFAULT_REALM, DEFAULT_URI};
use crate::engine::Engine;
use crate::proxy::Proxy;
use crate::time::Time;

/// A proxy's stats page settings (HAProxy's `struct uri_auth`), built from
/// its `stats` lines.
#[derive(Debug)]
pub struct StatsPage {
    pub uri: String,
    pub realm: String,
    /// `stats auth` accounts (empty: no authentication).
    pub users: Userlist,
    pub refresh_s: Option<u32>,
    pub hide_version: bool,
    pub show_legends: bool,
    /// `stats show-node`: the name to show (the host name by default).
    pub show_node: Option<String>,
    /// `stats scope`: the proxies shown (empty: all); `.` is this one.
    pub scope: Vec<String>,
}

impl StatsPage {
    /// Whether a request for `uri` is for the page (HAProxy's
    /// `http_stats_check_uri`: its path, with the query, begins with the
    /// `stats uri` prefix).
    pub fn matches(&self, uri: &str) -> bool {
        path_and_query(uri).starts_with(self.uri.as_str())
    }

    /// Settles the defaults of a proxy's `stats` lines.
    pub fn new(cfg: &StatsCfg, proxy: &str, hostname: &str) -> StatsPage {
        let users = cfg
            .auth
            .iter()
            .map(|(u, p)| crate::auth::User {
                name: u.clone(),
                pass: crate::auth::Password::Insecure(p.clone()),
                groups: Default::default(),
            })
            .collect();
        StatsPage {
            uri: cfg.uri.clone().unwrap_or_else(|| DEFAULT_URI.into()),
            realm: cfg.realm.clone().unwrap_or_else(|| DEFAULT_REALM.into()),
            users: Userlist {
                name: format!("stats:{proxy}"),
                users,
                groups: Vec::new(),
            },
            refresh_s: cfg.refresh_s,
            hide_version: cfg.hide_version,
            show_legends: cfg.show_legends,
            show_node: cfg.show_node.as_ref().map(|n| {
                if n.is_empty() {
                    hostname.to_string()
                } else {
                    n.clone()
                }
            }),
            scope: cfg
                .scope
                .iter()
                .map(|s| if s == "." { proxy.into() } else { s.clone() })
                .collect(),
        }
    }
}

/// The path of a request target with its query: origin-form as is,
/// absolute-form without scheme and authority (HAProxy's
/// `http_parse_path`).
fn path_and_query(uri: &str) -> &str {
    match uri.find("://") {
        Some(i) => {
            let rest = &uri[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => uri,
    }
}

/// What the page answers.
pub(crate) enum PageReply {
    /// The page or the CSV.
    Page(Vec<u8>),
    /// The credentials are missing or wrong.
    Unauthorized(Vec<u8>),
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `1d 2h03m`, `5m12s`: how HAProxy's page writes durations.
fn human(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

const CSS: &str = "\
body{font-family:system-ui,sans-serif;font-size:13px;margin:16px;color:#1d2433;background:#f6f7fb}\
h1{font-size:20px;margin:0 0 4px}\
.sub{color:#5a6478;margin-bottom:12px}\
.info{display:flex;gap:24px;flex-wrap:wrap;background:#fff;border:1px solid #d8dce6;border-radius:6px;padding:8px 12px;margin-bottom:14px}\
.info b{color:#2b3a67}\
table.px{border-collapse:collapse;margin-bottom:18px;background:#fff;width:100%}\
table.px caption{text-align:left;font-weight:600;font-size:14px;padding:4px 0;color:#2b3a67}\
table.px th,table.px td{border:1px solid #d8dce6;padding:1px 3px;text-align:right;white-space:nowrap;font-size:11px}\
table.px th{background:#e8ebf3;font-weight:600;text-align:center}\
table.px td.n{text-align:left;font-weight:600}\
tr.fe td{background:#eef3ff}tr.be td{background:#eef3ff;font-weight:600}\
tr.up td{background:#e6f6e6}tr.down td{background:#fbe3e3}tr.maint td{background:#e4e4ef}\
tr.drain td{background:#e9e2f6}tr.going td{background:#fff3d6}tr.nochk td{background:#fff}\
.legend{font-size:12px;color:#5a6478;margin-bottom:12px}\
.legend span{display:inline-block;padding:1px 6px;margin-right:6px;border:1px solid #d8dce6}\
";

/// The column groups of a proxy table: a title and its `(label, column)`.
const GROUPS: &[(&str, &[(&str, &str)])] = &[
    (
        "Queue",
        &[("Cur", "qcur"), ("Max", "qmax"), ("Limit", "qlimit")],
    ),
    (
        "Session rate",
        &[("Cur", "rate"), ("Max", "rate_max"), ("Limit", "rate_lim")],
    ),
    (
        "Sessions",
        &[
            ("Cur", "scur"),
            ("Max", "smax"),
            ("Limit", "slim"),
            ("Total", "stot"),
            ("LbTot", "lbtot"),
            ("Last", "lastsess"),
        ],
    ),
    ("Bytes", &[("In", "bin"), ("Out", "bout")]),
    ("Denied", &[("Req", "dreq"), ("Resp", "dresp")]),
    (
        "Errors",
        &[("Req", "ereq"), ("Conn", "econ"), ("Resp", "eresp")],
    ),
    ("Warnings", &[("Retr", "wretr"), ("Redis", "wredis")]),
    (
        "Server",
        &[
            ("Status", "status"),
            ("LastChk", "check_status"),
            ("Wght", "weight"),
            ("Act", "act"),
            ("Bck", "bck"),
            ("Chk", "chkfail"),
            ("Dwn", "chkdown"),
            ("Dwntme", "downtime"),
            ("Thrtle", "throttle"),
        ],
    ),
];

/// The class of a row (its colour) from its `status` column.
fn row_class(kind: &str, status: &str) -> &'static str {
    match kind {
        "fe" => "fe",
        "be" => "be",
        _ if status.starts_with("MAINT") => "maint",
        _ if status.starts_with("DRAIN") => "drain",
        _ if status == "no check" => "nochk",
        _ if status == "UP" => "up",
        _ if status.starts_with("UP ") || status.starts_with("DOWN ") || status == "NOLB" => {
            "going"
        }
        _ => "down",
    }
}

/// One cell's text.
fn cell(row: &Row, col: &str) -> String {
    let v = row.get(col).map_or("", String::as_str);
    match col {
        "status" => {
            // `5m12s UP`: the time in the state, as HAProxy's page shows it.
            match row.get("lastchg").and_then(|l| l.parse::<u64>().ok()) {
                Some(l) if !v.is_empty() => format!("{} {v}", human(l)),
                _ => v.to_string(),
            }
        }
        "check_status" if !v.is_empty() => {
            let mut s = v.to_string();
            if let Some(c) = row.get("check_code").filter(|c| !c.is_empty()) {
                let _ = write!(s, "/{c}");
            }
            if let Some(d) = row.get("check_duration").filter(|d| !d.is_empty()) {
                let _ = write!(s, " in {d}ms");
            }
            s
        }
        "downtime" | "lastsess" => match v.parse::<i64>() {
            Ok(n) if n >= 0 => human(n as u64),
            _ => String::new(),
        },
        "act" | "bck" if row.get("svname").is_some_and(|n| n != "BACKEND") => match v {
            "1" => "Y".into(),
            "0" => "-".into(),
            v => v.into(),
        },
        _ => v.to_string(),
    }
}

impl Engine {
    /// The answer of proxy `px`'s stats page to a request for `uri` with
    /// the `Authorization` value `auth`; `None` when the URI is not the
    /// page's.
    pub(crate) fn stats_page_reply(
        &self,
        now: Time,
        px: crate::proxy::ProxyId,
        uri: &str,
        auth: Option<&[u8]>,
    ) -> Option<PageReply> {
        let page = self.proxies[px].stats.as_deref()?;
        let pq = path_and_query(uri);
        let rest = pq.strip_prefix(page.uri.as_str())?;
        if !page.users.users.is_empty() {
            let ok = auth
                .and_then(crate::auth::parse_basic)
                .is_some_and(|(u, p)| page.users.check(&u, &p));
            if !ok {
                let extra = format!("www-authenticate: Basic realm=\"{}\"\r\n", page.realm);
                let body = b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
                return Some(PageReply::Unauthorized(crate::http::act::build_response(
                    401,
                    Some("text/html"),
                    extra.as_bytes(),
                    body,
                )));
            }
        }
        let csv = rest.contains(";csv");
        let up_only = rest.contains(";up");
        let norefresh = rest.contains(";norefresh");
        let keep = |p: &Proxy| page.scope.is_empty() || page.scope.contains(&p.name);
        let mut extra = String::new();
        if let (Some(r), false) = (page.refresh_s, norefresh) {
            let _ = write!(extra, "refresh: {r}\r\n");
        }
        let (ct, body) = if csv {
            ("text/plain", self.stat_csv(now, &keep, up_only))
        } else {
            ("text/html", self.stats_html(now, page, &keep, up_only))
        };
        Some(PageReply::Page(crate::http::act::build_response(
            200,
            Some(ct),
            extra.as_bytes(),
            body.as_bytes(),
        )))
    }

    /// The HTML page.
    fn stats_html(
        &self,
        now: Time,
        page: &StatsPage,
        keep: &dyn Fn(&Proxy) -> bool,
        up_only: bool,
    ) -> String {
        let mut o = String::with_capacity(16 * 1024);
        let up = now.as_ms() / 1000;
        o.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
        o.push_str("<title>Sluice statistics</title><style>");
        o.push_str(CSS);
        o.push_str("</style></head><body>\n<h1>Sluice statistics");
        if let Some(n) = &page.show_node {
            let _ = write!(o, " &mdash; node {}", esc(n));
        }
        o.push_str("</h1>\n<div class=\"sub\">");
        if !page.hide_version {
            let _ = write!(o, "Sluice {} &middot; ", env!("CARGO_PKG_VERSION"));
        }
        let _ = write!(o, "pid {} &middot; uptime {}", self.opts.pid, human(up));
        if let Some(r) = page.refresh_s {
            let _ = write!(o, " &middot; refresh every {r}s");
        }
        o.push_str("</div>\n<div class=\"info\">");
        let listeners = self.listeners.iter().filter(|l| l.active).count();
        let _ = write!(
            o,
            "<div><b>maxconn</b> {}</div><div><b>current conns</b> {}</div>\
             <div><b>total conns</b> {}</div><div><b>requests</b> {}</div>\
             <div><b>listeners</b> {listeners}</div>",
            self.maxconn.map_or("-".into(), |m| m.to_string()),
            self.actconn,
            self.cum_conn,
            self.req_count,
        );
        o.push_str("</div>\n");
        if page.show_legends {
            o.push_str(
                "<div class=\"legend\"><span class=\"l-up\" style=\"background:#e6f6e6\">active UP</span>\
                 <span style=\"background:#fff3d6\">going up/down</span>\
                 <span style=\"background:#fbe3e3\">DOWN</span>\
                 <span style=\"background:#e4e4ef\">MAINT</span>\
                 <span style=\"background:#e9e2f6\">DRAIN</span>\
                 <span>no check</span></div>\n",
            );
        }
        for p in self.proxies.iter().filter(|p| keep(p)) {
            let mut rows: Vec<(&str, Row)> = Vec::new();
            if p.fe.is_some() {
                rows.push(("fe", self.frontend_row(now, p)));
            }
            if let Some(b) = &p.be {
                for s in &b.servers {
                    if up_only && !server_is_up(s) {
                        continue;
                    }
                    rows.push(("srv", self.server_row(now, p, s)));
                }
                rows.push(("be", self.backend_row(now, p)));
            }
            let _ = write!(
                o,
                "<table class=\"px\" id=\"{0}\"><caption>{0}</caption>\n<tr><th rowspan=\"2\"></th>",
                esc(&p.name)
            );
            for (title, cols) in GROUPS {
                let _ = write!(o, "<th colspan=\"{}\">{title}</th>", cols.len());
            }
            o.push_str("</tr>\n<tr>");
            for (_, cols) in GROUPS {
                for (label, _) in *cols {
                    let _ = write!(o, "<th>{label}</th>");
                }
            }
            o.push_str("</tr>\n");
            for (kind, row) in &rows {
                let sv = row.get("svname").map_or("", String::as_str);
                let status = row.get("status").map_or("", String::as_str);
                let name = match *kind {
                    "fe" => "Frontend",
                    "be" => "Backend",
                    _ => sv,
                };
                let _ = write!(
                    o,
                    "<tr class=\"{}\"><td class=\"n\">{}</td>",
                    row_class(kind, status),
                    esc(name)
                );
                for (_, cols) in GROUPS {
                    for (_, col) in *cols {
                        let _ = write!(o, "<td>{}</td>", esc(&cell(row, col)));
                    }
                }
                o.push_str("</tr>\n");
            }
            o.push_str("</table>\n");
        }
        o.push_str("</body></html>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_targets_are_cut_to_their_path() {
        assert_eq!(path_and_query("http://h:1/st;csv"), "/st;csv");
        assert_eq!(path_and_query("/st?x"), "/st?x");
        assert_eq!(path_and_query("http://h"), "/");
    }

    #[test]
    fn durations_read_as_on_haproxy_page() {
        assert_eq!(human(5), "5s");
        assert_eq!(human(312), "5m12s");
        assert_eq!(human(3 * 3600 + 60), "3h1m");
        assert_eq!(human(2 * 86400 + 3600), "2d1h");
    }
}
