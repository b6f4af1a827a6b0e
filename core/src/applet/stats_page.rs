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
//!
//! `stats admin { if | unless } COND`: when a condition matches the
//! request, each backend's table is a form as on HAProxy's page (a
//! checkbox `s` per server, the `action` select, the hidden `b=#<iid>`),
//! and a POST of that form (`application/x-www-form-urlencoded`) applies
//! the action to the servers (HAProxy's `stats_process_http_post`), then
//! answers `303 See Other` to `<uri>;st=<CODE>` (HAProxy's
//! `stats_send_http_redirect`), whose page shows the outcome. A POST
//! without admin rights gets `;st=DENY`. Only GET, HEAD and POST reach
//! the page, as HAProxy 2.6's `stats_check_uri`.

use core::fmt::Write as _;

use super::stats::{server_is_up, Row};
use crate::auth::Userlist;
use crate::backend::server::{ServerId, SrvAdmin, SrvState};
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

/// The outcome of an admin POST (HAProxy's `STAT_STATUS_*` and its
/// `stat_status_codes`), carried by the redirect as `;st=CODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatStatus {
    /// Not allowed (no admin rights, or a backend out of `stats scope`).
    Deny,
    /// Every server named was changed.
    Done,
    /// Invalid parameters (unknown action or backend, no server changed).
    Errp,
    /// The request did not fit in the buffer.
    Excd,
    /// Nothing happened.
    None,
    /// Some servers only.
    Part,
    /// An unknown code.
    Unkn,
    /// Unsupported method or request framing.
    Ival,
}

impl StatStatus {
    const ALL: [StatStatus; 8] = [
        StatStatus::Deny,
        StatStatus::Done,
        StatStatus::Errp,
        StatStatus::Excd,
        StatStatus::None,
        StatStatus::Part,
        StatStatus::Unkn,
        StatStatus::Ival,
    ];

    /// The `;st=` code.
    pub fn code(self) -> &'static str {
        match self {
            StatStatus::Deny => "DENY",
            StatStatus::Done => "DONE",
            StatStatus::Errp => "ERRP",
            StatStatus::Excd => "EXCD",
            StatStatus::None => "NONE",
            StatStatus::Part => "PART",
            StatStatus::Unkn => "UNKN",
            StatStatus::Ival => "IVAL",
        }
    }

    /// `;st=CODE` in what follows the page's prefix, as
    /// `http_handle_stats` reads it: four characters, `UNKN` when they
    /// are no known code.
    fn from_modifiers(rest: &str) -> Option<StatStatus> {
        let at = rest.find(";st=")?;
        let code = rest.as_bytes().get(at + 4..at + 8)?;
        Some(
            Self::ALL
                .into_iter()
                .find(|s| s.code().as_bytes() == code)
                .unwrap_or(StatStatus::Unkn),
        )
    }

    /// The page's message: its class and text (`stats_dump_html_info`).
    fn message(self) -> (&'static str, &'static str) {
        match self {
            StatStatus::Done => ("active_up", "Action processed successfully."),
            StatStatus::None => ("active_going_down", "Nothing has changed."),
            StatStatus::Part => (
                "active_going_down",
                "Action partially processed.<br>Some server names are probably unknown or \
                 ambiguous (duplicated names in the backend).",
            ),
            StatStatus::Errp => (
                "active_down",
                "Action not processed because of invalid parameters.<ul>\
                 <li>The action is maybe unknown.</li>\
                 <li>Invalid key parameter (empty or too long).</li>\
                 <li>The backend name is probably unknown or ambiguous (duplicated names).</li>\
                 <li>Some server names are probably unknown or ambiguous (duplicated names in \
                 the backend).</li></ul>",
            ),
            StatStatus::Excd => (
                "active_down",
                "<b>Action not processed : the buffer couldn't store all the data.<br>\
                 You should retry with less servers at a time.</b>",
            ),
            StatStatus::Deny => ("active_down", "<b>Action denied.</b>"),
            StatStatus::Ival => (
                "active_down",
                "<b>Invalid requests (unsupported method or chunked encoded request).</b>",
            ),
            StatStatus::Unkn => ("active_no_check", "Unexpected result."),
        }
    }
}

/// The actions of the admin form (HAProxy's `ST_ADM_ACTION_*`), with the
/// old names it still accepts (`disable`, `enable`, `stop`, `start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AdmAction {
    Ready,
    Drain,
    Maint,
    Shutdown,
    Dhlth,
    Ehlth,
    Hrunn,
    Hnolb,
    Hdown,
    Dagent,
    Eagent,
    Arunn,
    Adown,
    Disable,
    Enable,
    Stop,
    Start,
}

impl AdmAction {
    fn parse(v: &[u8]) -> Option<AdmAction> {
        Some(match v {
            b"ready" => AdmAction::Ready,
            b"drain" => AdmAction::Drain,
            b"maint" => AdmAction::Maint,
            b"shutdown" => AdmAction::Shutdown,
            b"dhlth" => AdmAction::Dhlth,
            b"ehlth" => AdmAction::Ehlth,
            b"hrunn" => AdmAction::Hrunn,
            b"hnolb" => AdmAction::Hnolb,
            b"hdown" => AdmAction::Hdown,
            b"dagent" => AdmAction::Dagent,
            b"eagent" => AdmAction::Eagent,
            b"arunn" => AdmAction::Arunn,
            b"adown" => AdmAction::Adown,
            b"disable" => AdmAction::Disable,
            b"enable" => AdmAction::Enable,
            b"stop" => AdmAction::Stop,
            b"start" => AdmAction::Start,
            _ => return None,
        })
    }
}

/// The options of the form's `action` select, as on HAProxy's page.
const ADMIN_OPTIONS: &[(&str, &str)] = &[
    ("", ""),
    ("ready", "Set state to READY"),
    ("drain", "Set state to DRAIN"),
    ("maint", "Set state to MAINT"),
    ("dhlth", "Health: disable checks"),
    ("ehlth", "Health: enable checks"),
    ("hrunn", "Health: force UP"),
    ("hnolb", "Health: force NOLB"),
    ("hdown", "Health: force DOWN"),
    ("dagent", "Agent: disable checks"),
    ("eagent", "Agent: enable checks"),
    ("arunn", "Agent: force UP"),
    ("adown", "Agent: force DOWN"),
    ("shutdown", "Kill Sessions"),
];

/// HAProxy's `LINESIZE`: a form parameter at least this long is refused.
const LINESIZE: usize = 2048;

/// What a request asks of the HTML page.
struct View<'a> {
    /// `;up`: servers that are not up left out.
    up_only: bool,
    /// `;norefresh`, with `stats refresh`.
    norefresh: bool,
    /// A `stats admin` condition matched: the backends' forms.
    admin: bool,
    /// `;st=CODE`: the outcome of the last POST, shown as a message.
    st: Option<StatStatus>,
    /// `scope=TEXT`: the proxies shown are those whose name contains it.
    search: Option<&'a str>,
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

/// The `303 See Other` that ends an admin POST (HAProxy's
/// `stats_send_http_redirect`): back to the page with `;st=CODE`, keeping
/// `;up` and, with `stats refresh`, `;norefresh`.
pub(crate) fn stats_redirect(page: &StatsPage, uri: &str, st: StatStatus) -> Vec<u8> {
    let rest = path_and_query(uri)
        .strip_prefix(page.uri.as_str())
        .unwrap_or("");
    let loc = format!(
        "{};st={}{}{}{}",
        page.uri,
        st.code(),
        if rest.contains(";up") { ";up" } else { "" },
        if page.refresh_s.is_some() && rest.contains(";norefresh") {
            ";norefresh"
        } else {
            ""
        },
        url_scope(rest).map_or(String::new(), |s| format!("?scope={s}")),
    );
    format!(
        "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\n\
         content-length: 0\r\nlocation: {loc}\r\n\r\n"
    )
    .into_bytes()
}

/// `scope=TEXT` after the page's prefix (the page's search box, HAProxy's
/// `STAT_SCOPE_INPUT_NAME`): only proxies whose name contains `TEXT`
/// (case-insensitive) are shown. Up to `;`, `&` or a space, cut at 20
/// bytes (`STAT_SCOPE_TXT_MAXLEN`); ignored when it holds a character not
/// allowed in names.
fn url_scope(rest: &str) -> Option<&str> {
    let at = rest.find("scope=")?;
    if at + 8 > rest.len() {
        return None;
    }
    let v = &rest.as_bytes()[at + 6..];
    let end = v
        .iter()
        .position(|&c| matches!(c, b';' | b'&' | b' '))
        .unwrap_or(v.len())
        .min(20);
    let v = &v[..end];
    let idchar = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b':');
    if v.is_empty() || !v.iter().all(idchar) {
        return None;
    }
    core::str::from_utf8(v).ok()
}

/// Whether `name` contains `scope`, ignoring ASCII case (HAProxy's
/// `strnistr`).
fn scope_matches(name: &str, scope: &str) -> bool {
    name.as_bytes()
        .windows(scope.len())
        .any(|w| w.eq_ignore_ascii_case(scope.as_bytes()))
}

/// One form parameter: its key and value, `+` and `%XX` decoded (HAProxy's
/// `url_decode(.., 1)`); `None` when a `%` is not followed by two hex
/// digits.
fn form_param(p: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (k, v) = match p.iter().position(|&c| c == b'=') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (p, &p[p.len()..]),
    };
    Some((
        crate::sample::url_dec(k, true)?,
        crate::sample::url_dec(v, true)?,
    ))
}

impl Engine {
    /// The `401` of proxy `px`'s stats page when it has `stats auth`
    /// accounts and `auth` (the `Authorization` value) matches none.
    pub(crate) fn stats_unauthorized(
        &self,
        px: crate::proxy::ProxyId,
        auth: Option<&[u8]>,
    ) -> Option<Vec<u8>> {
        let page = self.proxies[px].stats.as_deref()?;
        if page.users.users.is_empty() {
            return None;
        }
        let ok = auth
            .and_then(crate::auth::parse_basic)
            .is_some_and(|(u, p)| page.users.check(&u, &p));
        if ok {
            return None;
        }
        let extra = format!("www-authenticate: Basic realm=\"{}\"\r\n", page.realm);
        let body = b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
        Some(crate::http::act::build_response(
            401,
            Some("text/html"),
            extra.as_bytes(),
            body,
        ))
    }

    /// The answer of proxy `px`'s stats page to a request for `uri` with
    /// the `Authorization` value `auth`; `admin`: a `stats admin`
    /// condition matched (the page has its form). `None` when the URI is
    /// not the page's.
    pub(crate) fn stats_page_reply(
        &self,
        now: Time,
        px: crate::proxy::ProxyId,
        uri: &str,
        auth: Option<&[u8]>,
        admin: bool,
    ) -> Option<PageReply> {
        let page = self.proxies[px].stats.as_deref()?;
        let pq = path_and_query(uri);
        let rest = pq.strip_prefix(page.uri.as_str())?;
        if let Some(r) = self.stats_unauthorized(px, auth) {
            return Some(PageReply::Unauthorized(r));
        }
        let csv = rest.contains(";csv");
        let up_only = rest.contains(";up");
        let norefresh = rest.contains(";norefresh");
        let search = url_scope(rest);
        let keep = |p: &Proxy| {
            (page.scope.is_empty() || page.scope.contains(&p.name))
                && search.is_none_or(|s| scope_matches(&p.name, s))
        };
        let mut extra = String::new();
        if let (Some(r), false) = (page.refresh_s, norefresh) {
            let _ = write!(extra, "refresh: {r}\r\n");
        }
        let (ct, body) = if csv {
            ("text/plain", self.stat_csv(now, &keep, up_only))
        } else {
            let view = View {
                up_only,
                norefresh: norefresh && page.refresh_s.is_some(),
                admin,
                st: StatStatus::from_modifiers(rest),
                search,
            };
            ("text/html", self.stats_html(now, page, &keep, &view))
        };
        Some(PageReply::Page(crate::http::act::build_response(
            200,
            Some(ct),
            extra.as_bytes(),
            body.as_bytes(),
        )))
    }

    /// An admin POST to proxy `px`'s page: applies the form's `action` to
    /// its `s` servers of backend `b` (a name or `#<iid>`), as HAProxy's
    /// `stats_process_http_post` does, the parameters read from the last
    /// (the form puts the backend and the action last; a repeated one
    /// counts once, its last value).
    pub(crate) fn stats_admin_post(
        &mut self,
        now: Time,
        px: crate::proxy::ProxyId,
        body: &[u8],
    ) -> StatStatus {
        let params: Vec<&[u8]> = body.split(|&c| c == b'&').collect();
        let scope = self.proxies[px]
            .stats
            .as_ref()
            .map(|p| p.scope.clone())
            .unwrap_or_default();
        let mut be: Option<crate::proxy::ProxyId> = None;
        let mut action: Option<AdmAction> = None;
        // The first server parameter met before the backend and the action
        // were known: read again from there once they are.
        let mut reprocess: Option<usize> = None;
        let (mut total, mut altered) = (0u32, 0u32);
        let mut i = params.len();
        while i > 0 {
            i -= 1;
            let p = params[i];
            if p.len() + 1 > LINESIZE {
                return StatStatus::Errp;
            }
            let Some((key, value)) = form_param(p) else {
                break;
            };
            if be.is_none() && key == b"b" {
                let value = String::from_utf8_lossy(&value);
                let found = match value.strip_prefix('#') {
                    Some(n) => n.parse::<u32>().ok().and_then(|n| {
                        self.proxies
                            .iter()
                            .position(|p| p.uuid == n && p.be.is_some())
                            .map(crate::proxy::ProxyId::new)
                    }),
                    None => self.backend_by_name(&value),
                };
                if !scope.is_empty()
                    && !found.is_some_and(|b| scope.contains(&self.proxies[b].name))
                {
                    // A name out of scope and an unknown one are the same:
                    // nothing tells which names exist.
                    return StatStatus::Deny;
                }
                let Some(found) = found else {
                    return StatStatus::Errp;
                };
                be = Some(found);
            } else if action.is_none() && key == b"action" {
                let Some(a) = AdmAction::parse(&value) else {
                    return StatStatus::Errp;
                };
                action = Some(a);
            } else if key == b"s" {
                match (be, action) {
                    (Some(be), Some(a)) => {
                        let name = String::from_utf8_lossy(&value);
                        let srv = self.proxies[be].be.as_ref().and_then(|b| {
                            b.servers
                                .iter()
                                .position(|s| !s.deleted && s.cfg.name == name)
                        });
                        // An unknown name counts, unchanged.
                        let done = match srv {
                            Some(srv) => self.stats_admin_apply(now, ServerId::new(be, srv), a),
                            None => Some(false),
                        };
                        if let Some(done) = done {
                            total += 1;
                            altered += u32::from(done);
                        }
                    }
                    _ => {
                        reprocess.get_or_insert(i);
                    }
                }
            }
            if be.is_some() && action.is_some() {
                if let Some(r) = reprocess.take() {
                    i = r + 1;
                }
            }
        }
        if total == 0 {
            StatStatus::None
        } else if altered == 0 {
            StatStatus::Errp
        } else if altered == total {
            StatStatus::Done
        } else {
            StatStatus::Part
        }
    }

    /// One server's part of an admin POST: `Some(true)` when it changed,
    /// `None` when it does not count (HAProxy counts a server only when
    /// the action applies to it). "Kill Sessions" (`shutdown`) closes the
    /// server's established streams and always counts, as in HAProxy.
    fn stats_admin_apply(&mut self, now: Time, srv: ServerId, a: AdmAction) -> Option<bool> {
        let s = self.server(srv)?;
        let admin = s.admin;
        match a {
            AdmAction::Ready => self.set_admin(now, srv, SrvAdmin::Ready),
            AdmAction::Drain => self.set_admin(now, srv, SrvAdmin::Drain),
            AdmAction::Maint => self.set_admin(now, srv, SrvAdmin::Maint),
            AdmAction::Disable if !admin.is_maint() => self.set_admin(now, srv, SrvAdmin::Maint),
            AdmAction::Enable if admin.is_maint() => self.set_admin(now, srv, SrvAdmin::Ready),
            AdmAction::Stop if admin != SrvAdmin::Drain => {
                self.set_admin(now, srv, SrvAdmin::Drain)
            }
            AdmAction::Start if admin == SrvAdmin::Drain => {
                self.set_admin(now, srv, SrvAdmin::Ready)
            }
            AdmAction::Hrunn => self.set_health_state(now, srv, SrvState::Running),
            AdmAction::Hnolb => self.set_health_state(now, srv, SrvState::Stopping),
            AdmAction::Hdown => self.set_health_state(now, srv, SrvState::Stopped),
            // "Agent: disable/enable checks" (HAProxy's `CHK_ST_ENABLED`
            // of the agent), nothing for a server without one.
            AdmAction::Dagent | AdmAction::Eagent => {
                self.agent_enable(now, srv, a == AdmAction::Eagent)?
            }
            // Forcing the agent's verdict is not done yet: as HAProxy's
            // for a server without an agent, nothing to do.
            AdmAction::Arunn | AdmAction::Adown => return None,
            AdmAction::Dhlth | AdmAction::Ehlth if s.check.is_none() => return None,
            AdmAction::Dhlth => self.set_check_enabled(srv, false),
            AdmAction::Ehlth => self.set_check_enabled(srv, true),
            AdmAction::Shutdown => {
                self.srv_shutdown_streams(now, srv, crate::stream::ErrCode::Killed)
            }
            AdmAction::Disable | AdmAction::Enable | AdmAction::Stop | AdmAction::Start => {
                return None
            }
        }
        Some(true)
    }

    /// "Health: disable/enable checks" (HAProxy's `CHK_ST_ENABLED`): a
    /// server whose checks are off keeps its state and shows `no check`.
    fn set_check_enabled(&mut self, srv: ServerId, on: bool) {
        if let Some(ck) = self.server_mut(srv).and_then(|s| s.check.as_mut()) {
            ck.disabled = !on;
        }
    }

    /// "Health: force UP/NOLB/DOWN" (HAProxy's `srv_set_running`,
    /// `srv_set_stopping`, `srv_set_stopped` with "changed from Web
    /// interface"): the check's health goes to its top (or 0 for DOWN).
    fn set_health_state(&mut self, now: Time, srv: ServerId, st: SrvState) {
        let be = srv.be;
        let pname = self.proxies[be].name.clone();
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        if let (Some(ck), Some(cc)) = (s.check.as_mut(), s.cfg.check.as_ref()) {
            ck.health = if st == SrvState::Stopped {
                0
            } else {
                cc.rise + cc.fall - 1
            };
        }
        if s.state == st {
            return;
        }
        s.state = st;
        s.last_change = now;
        if st == SrvState::Stopped {
            s.chkdown += 1;
        }
        let name = format!("{pname}/{}", s.cfg.name);
        let word = match st {
            SrvState::Running => "UP",
            SrvState::Stopping => "NOLB",
            _ => "DOWN",
        };
        self.log_px(
            Some(be),
            if st == SrvState::Stopped {
                crate::sock::LogLevel::Alert
            } else {
                crate::sock::LogLevel::Notice
            },
            format!("Server {name} is {word}, changed from Web interface."),
        );
        if st != SrvState::Running {
            let b = self.proxies[be].be.as_mut().expect("backend");
            b.requeue_server(&mut self.streams, srv);
        }
        self.lb_recalc(be);
        self.redistribute_queue(be);
    }

    /// The HTML page.
    fn stats_html(
        &self,
        now: Time,
        page: &StatsPage,
        keep: &dyn Fn(&Proxy) -> bool,
        view: &View<'_>,
    ) -> String {
        let up_only = view.up_only;
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
        if let Some(st) = view.st {
            // The outcome of the POST this page follows, with the link
            // that removes it (`stats_dump_html_info`).
            let (class, text) = st.message();
            let _ = write!(
                o,
                "<p><div class={class}><a class=lfsb href=\"{}{}{}{}\" title=\"Remove this message\">[X]</a> {text}</div>\n<p>\n",
                esc(&page.uri),
                if up_only { ";up" } else { "" },
                if view.norefresh { ";norefresh" } else { "" },
                view.search.map_or(String::new(), |s| format!("?scope={s}")),
            );
        }
        for p in self.proxies.iter().filter(|p| keep(p)) {
            // The admin form: one per backend, as on HAProxy's page.
            let form = view.admin && p.be.is_some();
            let mut rows: Vec<(&str, Row)> = Vec::new();
            if p.fe.is_some() {
                rows.push(("fe", self.frontend_row(now, p)));
            }
            if let Some(b) = &p.be {
                for s in b.servers.iter().filter(|s| !s.deleted) {
                    if up_only && !server_is_up(s) {
                        continue;
                    }
                    rows.push(("srv", self.server_row(now, p, s)));
                }
                rows.push(("be", self.backend_row(now, p)));
            }
            if form {
                o.push_str("<form method=\"post\">");
            }
            let _ = write!(
                o,
                "<table class=\"px\" id=\"{0}\"><caption>{0}</caption>\n<tr>",
                esc(&p.name)
            );
            if form {
                // Checks every server's box of the table.
                let _ = write!(
                    o,
                    "<th rowspan=\"2\"><input type=\"checkbox\" onclick=\"for(c in document.getElementsByClassName('{0}-checkbox')) document.getElementsByClassName('{0}-checkbox').item(c).checked = this.checked\"></th>",
                    esc(&p.name)
                );
            }
            o.push_str("<th rowspan=\"2\"></th>");
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
                let _ = write!(o, "<tr class=\"{}\">", row_class(kind, status));
                if form && *kind == "srv" {
                    let _ = write!(
                        o,
                        "<td><input class='{}-checkbox' type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                        esc(&p.name),
                        esc(sv)
                    );
                } else if form {
                    o.push_str("<td></td>");
                }
                let _ = write!(o, "<td class=\"n\">{}</td>", esc(name));
                for (_, cols) in GROUPS {
                    for (_, col) in *cols {
                        let _ = write!(o, "<td>{}</td>", esc(&cell(row, col)));
                    }
                }
                o.push_str("</tr>\n");
            }
            o.push_str("</table>\n");
            if form {
                o.push_str(
                    "Choose the action to perform on the checked servers : <select name=action>",
                );
                for (v, label) in ADMIN_OPTIONS {
                    let _ = write!(o, "<option value=\"{v}\">{label}</option>");
                }
                let _ = writeln!(
                    o,
                    "</select><input type=\"hidden\" name=\"b\" value=\"#{}\">&nbsp;<input type=\"submit\" value=\"Apply\"></form>",
                    p.uuid
                );
            }
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
    fn url_scope_as_haproxy_reads_it() {
        assert_eq!(url_scope("?;csv;scope=b1"), Some("b1"));
        assert_eq!(url_scope("?scope=b2&x"), Some("b2"));
        assert_eq!(url_scope("?scope=b"), None, "fewer than 8 characters left");
        assert_eq!(url_scope("?scope=a/b;"), None, "not a name");
        assert_eq!(
            url_scope("?scope=abcdefghijklmnopqrstuvwxyz"),
            Some("abcdefghijklmnopqrst")
        );
        assert!(scope_matches("Backend1", "kEnD"));
        assert!(!scope_matches("b1", "b2"));
    }

    #[test]
    fn durations_read_as_on_haproxy_page() {
        assert_eq!(human(5), "5s");
        assert_eq!(human(312), "5m12s");
        assert_eq!(human(3 * 3600 + 60), "3h1m");
        assert_eq!(human(2 * 86400 + 3600), "2d1h");
    }
}
