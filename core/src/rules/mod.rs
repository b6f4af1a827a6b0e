//! Rules: the parsed actions of `tcp-request`, `tcp-response`,
//! `http-request`, `http-response` and `http-after-response` lines, the
//! switching (`use_backend`) and sticking (`stick`) rules, and log-format
//! strings (HAProxy's `tcp_rules.c`, `http_rules.c`, `http_act.c`,
//! `stick_table.c` actions, `log.c`'s `parse_logformat_string`).
//!
//! These are *descriptions*: what each rule would do, typed and checked.
//! Executing them is the data path's job. A [`RuleSet`] is one proxy's
//! rules, built once from the parsed configuration (`parse`: building
//! rules from configuration words):
//!
//! ```text
//!  cfgparse::Proxy ──RuleSet::build──> RuleSet
//!     acl lines      ──AclScope──┐        tcp_req_conn/sess/cont, tcp_res_cont
//!     rule lines ──action words──┼──>     http_req, http_res, http_after_res
//!                 └─if/unless────┘        switching (use_backend), sticking
//! ```
//!
//! Rules inherited from a named `defaults` section come first and resolve
//! their ACL names against that section's ACLs only; the proxy's own rules
//! see only the proxy's ACLs (HAProxy 2.6). Every table a rule or a fetch
//! names must exist; every fetch must be usable where the rule runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::acl::{Acl, AclTest, Condition};
use crate::cfgparse::{Diagnostic, StickKind};
use crate::sample::{Layer, Regex, SampleCtx, SampleExpr, TableRef, VarName};
use crate::stick_table::DataType;

mod parse;

pub use parse::{build_all, http_error_reply, table_index};

/// One piece of a log-format string.
#[derive(Clone, Debug, PartialEq)]
pub enum LfNode {
    /// Text copied as is.
    Lit(String),
    /// `%[expr]`, or a variable such as `%ci` (as a fetch: `%ci` is `src`,
    /// others are [`FetchKind::LogVar`](crate::sample::FetchKind::LogVar)). `flags`: the `%{+Q,-E}` options.
    Expr { expr: SampleExpr, flags: String },
}

/// A log-format string (HAProxy's list of `logformat_node`): literal text
/// and sample expressions, as in `set-header X-Src %[src]` or
/// `redirect location https://%[hdr(host)]%[capture.req.uri]`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogFormat {
    pub nodes: Vec<LfNode>,
}

impl LogFormat {
    /// The string when it has no expression.
    pub fn literal(&self) -> Option<&str> {
        match self.nodes.as_slice() {
            [] => Some(""),
            [LfNode::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Every expression, in order.
    pub fn exprs(&self) -> impl Iterator<Item = &SampleExpr> {
        self.nodes.iter().filter_map(|n| match n {
            LfNode::Expr { expr, .. } => Some(expr),
            LfNode::Lit(_) => None,
        })
    }

    /// Renders the string; an expression without a value renders as
    /// nothing (in log lines HAProxy writes `-`: the logger does that).
    pub fn render(&self, ctx: &mut dyn SampleCtx) -> Vec<u8> {
        let mut out = Vec::new();
        for n in &self.nodes {
            match n {
                LfNode::Lit(s) => out.extend_from_slice(s.as_bytes()),
                LfNode::Expr { expr, .. } => {
                    if let Some(v) = expr.eval(ctx).and_then(|s| s.into_bytes()) {
                        out.extend_from_slice(&v);
                    }
                }
            }
        }
        out
    }
}

/// Where a rule runs (HAProxy's `SMP_VAL_*` check points), which decides
/// the fetches it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    TcpConn,
    TcpSess,
    TcpContent,
    TcpResContent,
    HttpReq,
    HttpRes,
    HttpAfterRes,
    /// `use_backend`.
    Switching,
    /// `use-server` (HAProxy's `SMP_VAL_BE_SET_SRV`).
    SetSrv,
    /// `stick on|match|store-request`.
    StickReq,
    /// `stick store-response`.
    StickRes,
    /// An `http-error` reply: sent for a request or a response
    /// (HAProxy's `ARGC_HERR`, `SMP_VAL_REQUEST | SMP_VAL_RESPONSE`).
    HttpError,
}

impl Stage {
    /// The check point's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Stage::TcpConn => "tcp-request connection rule",
            Stage::TcpSess => "tcp-request session rule",
            Stage::TcpContent => "tcp-request content rule",
            Stage::TcpResContent => "tcp-response content rule",
            Stage::HttpReq => "http-request rule",
            Stage::HttpRes => "http-response rule",
            Stage::HttpAfterRes => "http-after-response rule",
            Stage::Switching => "use_backend rule",
            Stage::SetSrv => "use-server rule",
            Stage::StickReq => "stick rule",
            Stage::StickRes => "stick store-response rule",
            Stage::HttpError => "http-error",
        }
    }

    /// Whether data from `layer` is available here.
    pub fn allows(self, layer: Layer) -> bool {
        use Stage::*;
        let req = matches!(self, TcpContent | HttpReq | Switching | SetSrv | StickReq);
        if self == HttpError {
            return true;
        }
        let res = matches!(self, TcpResContent | HttpRes | HttpAfterRes | StickRes);
        match layer {
            Layer::Internal | Layer::L4 => true,
            Layer::ReqContent | Layer::HttpReq => req,
            Layer::HttpRes | Layer::ResContent => res,
            Layer::HttpAny => req || res,
        }
    }
}

/// Which part of the request URI `replace-uri`, `replace-path`,
/// `replace-pathq` rewrite (HAProxy's `http_req_replace_stline` actions 0,
/// 1 and 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriPart {
    /// The URI as in the request line.
    Uri,
    /// The path, without the query (kept).
    Path,
    /// The path and the query.
    PathQ,
}

/// `replace-uri|path|pathq <match-regex> <replace-fmt>`: when the regex
/// matches the part (anywhere), the part becomes the format's text with
/// `\1`..`\9` replaced by the regex's groups (HAProxy's
/// `http_action_replace_uri`, `exp_replace`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplaceUri {
    pub part: UriPart,
    pub re: crate::sample::Regex,
    pub fmt: LogFormat,
}

/// `replace-header|replace-value <name> <match-regex> <replace-fmt>`: every
/// value of the header (each comma-separated one with `replace-value`)
/// the regex matches is replaced as [`ReplaceUri`] does (HAProxy's
/// `http_replace_hdrs`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplaceHeader {
    pub name: String,
    /// `replace-header`: the whole value; `replace-value`: each
    /// comma-separated one.
    pub full: bool,
    pub re: crate::sample::Regex,
    pub fmt: LogFormat,
}

/// `track-scN KEY [table T]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackSc {
    /// The stick counter, 0 to 2.
    pub ctr: u8,
    pub key: SampleExpr,
    /// The table (the proxy's own when the line names none).
    pub table: TableRef,
}

/// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`, `sc-inc-gpc(IDX,N)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScIncGpc {
    pub ctr: u8,
    /// `GPC0`, `GPC1` or the `GPC` array.
    pub data: DataType,
    /// Index in the `gpc` array (0 otherwise).
    pub idx: u16,
}

/// The value of `sc-set-gpt0(N) VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub enum IntOrExpr {
    Int(i64),
    Expr(SampleExpr),
}

/// `sc-set-gpt0(N) V`, `sc-set-gpt(IDX,N) V`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScSetGpt {
    pub ctr: u8,
    /// `GPT0` or the `GPT` array.
    pub data: DataType,
    pub idx: u16,
    pub value: IntOrExpr,
}

/// Which stream timeout `http-request set-timeout` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// `server`: the server-side inactivity timeout.
    Server,
    /// `tunnel`: the timeout once the stream is a tunnel.
    Tunnel,
}

/// `set-var(NAME[,COND...]) EXPR` or `set-var-fmt(NAME[,COND...]) FMT`.
#[derive(Clone, Debug, PartialEq)]
pub struct SetVar {
    pub var: VarName,
    pub value: VarValue,
    /// The conditions under which the variable is set.
    pub cond: crate::sample::VarCond,
}

/// What `set-var` stores: an expression's sample, or (`set-var-fmt`) a
/// log-format string rendered as a string.
#[derive(Clone, Debug, PartialEq)]
pub enum VarValue {
    Expr(SampleExpr),
    Fmt(LogFormat),
}

impl SetVar {
    /// The value to store; `None` leaves the variable as it was (an
    /// expression without a value, HAProxy's `action_store`).
    pub fn eval(&self, ctx: &mut dyn SampleCtx) -> Option<crate::sample::Sample> {
        match &self.value {
            VarValue::Expr(e) => e.eval(ctx),
            VarValue::Fmt(f) => Some(crate::sample::Sample::Str(f.render(ctx))),
        }
    }
}

/// A `tcp-request connection|session|content` or `tcp-response content`
/// action (HAProxy's `act_rule` for those rule sets).
#[derive(Clone, Debug, PartialEq)]
pub enum TcpAction {
    Accept,
    Reject,
    /// `expect-proxy layer4` (connection rules).
    ExpectProxy,
    /// `close` (tcp-response content).
    Close,
    SilentDrop,
    TrackSc(TrackSc),
    ScIncGpc(ScIncGpc),
    ScSetGpt(ScSetGpt),
    SetVar(SetVar),
    UnsetVar(VarName),
    SetSrc(SampleExpr),
    SetDst(SampleExpr),
    SetSrcPort(SampleExpr),
    SetDstPort(SampleExpr),
    /// `attach-srv BACKEND/SERVER [name EXPR]` (`tcp-request session`
    /// only; experimental, HAProxy 3.x): once its HTTP/2 SETTINGS are
    /// exchanged, the client connection is reversed into an idle server
    /// connection of that `rhttp@` server, named by `EXPR` (HAProxy's
    /// `tcp_action_attach_srv`, reverse HTTP's public side).
    AttachSrv(AttachSrv),
    /// `set-log-level LEVEL|silent` (content rules).
    SetLogLevel(LogLevelSet),
}

/// `set-log-level LEVEL|silent` (HAProxy's `stream_action_set_log_level`,
/// `s->logs.level`): the stream's log line goes out at that level
/// instead of `info` (or `err` with `option log-separate-errors`), or not
/// at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevelSet {
    Level(crate::sock::LogLevel),
    /// `silent`: the stream is not logged.
    Silent,
}

/// The target of `attach-srv` (HAProxy's `rule->arg.attach_srv`).
#[derive(Clone, Debug, PartialEq)]
pub struct AttachSrv {
    pub backend: String,
    pub server: String,
    /// `name EXPR`: the connection's name in the server's pool, matched
    /// against the server's `pool-conn-name` by requests.
    pub name: Option<SampleExpr>,
}

/// The body of a generated response.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyBody {
    /// No payload.
    Empty,
    /// HAProxy's built-in error page for the status (`default-errorfiles`,
    /// and `deny`/`tarpit` without a body).
    ErrorPage,
    /// `string S`.
    String(Vec<u8>),
    /// `lf-string FMT`.
    LogFormat(LogFormat),
    /// `errorfile PATH`, or the page of `errorfiles NAME` for the
    /// status: a complete raw HTTP response, sent as it is (empty: no
    /// response, the connection is closed).
    Message(std::sync::Arc<[u8]>),
}

/// A response generated by `deny`, `tarpit` or `return` (HAProxy's
/// `struct http_reply`).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: ReplyBody,
    /// `hdr NAME FMT`.
    pub hdrs: Vec<(String, LogFormat)>,
}

/// `redirect location|prefix|scheme`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    Location,
    Prefix,
    Scheme,
}

/// `redirect KIND TARGET [code N] [drop-query] [append-slash]
/// [set-cookie NAME[=VALUE]] [clear-cookie NAME]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: LogFormat,
    /// 301, 302 (default), 303, 307 or 308.
    pub code: u16,
    pub drop_query: bool,
    pub append_slash: bool,
    pub set_cookie: Option<String>,
    pub clear_cookie: Option<String>,
}

/// How `del-header NAME -m METH` compares names.
#[derive(Clone, Debug, PartialEq)]
pub enum HdrMatch {
    Str,
    Beg,
    End,
    Sub,
    Reg(Regex),
}

/// An `http-request` action.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpReqAction {
    Allow,
    Deny(Reply),
    Tarpit(Reply),
    Return(Reply),
    /// `reject`: close the connection without a response.
    Reject,
    /// `auth [realm R]`.
    Auth {
        realm: Option<String>,
    },
    Redirect(Redirect),
    SetHeader {
        name: String,
        value: LogFormat,
    },
    AddHeader {
        name: String,
        value: LogFormat,
    },
    DelHeader {
        name: String,
        how: HdrMatch,
    },
    SetPath(LogFormat),
    SetPathQ(LogFormat),
    SetQuery(LogFormat),
    SetUri(LogFormat),
    SetMethod(LogFormat),
    /// `replace-uri`, `replace-path`, `replace-pathq <regex> <fmt>`.
    ReplaceUri(ReplaceUri),
    /// `replace-header`, `replace-value <name> <regex> <fmt>`.
    ReplaceHeader(ReplaceHeader),
    SetVar(SetVar),
    UnsetVar(VarName),
    TrackSc(TrackSc),
    ScIncGpc(ScIncGpc),
    ScSetGpt(ScSetGpt),
    SetSrc(SampleExpr),
    SetDst(SampleExpr),
    /// `set-src-port EXPR`, `set-dst-port EXPR`: the port of the stream's
    /// source or destination address (`set-dst-port` with `option
    /// transparent` picks the port connected to).
    SetSrcPort(SampleExpr),
    SetDstPort(SampleExpr),
    /// `strict-mode on|off` (HAProxy's `HTTP_MSGF_SOFT_RW` on the
    /// request): off, a rewrite that does not fit is skipped instead of
    /// failing the request with a 500.
    StrictMode(bool),
    SilentDrop,
    /// `disable-l7-retry`: no `retry-on` layer 7 retry for this request
    /// (HAProxy's `TX_D_L7_RETRY`).
    DisableL7Retry,
    /// `set-timeout server|tunnel TIME|EXPR` (HAProxy 2.6's
    /// `action_timeout_set_stream_timeout`): the stream's server or
    /// tunnel timeout, in ms (an expression's integer result).
    SetTimeout {
        which: TimeoutKind,
        value: IntOrExpr,
    },
    /// `capture EXPR len N` (a slot of its own, declared by the rule's
    /// line) or `capture EXPR id N` (a `declare capture` slot).
    Capture {
        expr: SampleExpr,
        len: Option<usize>,
        id: Option<usize>,
    },
    /// `use-service NAME`: an applet answers the request (HAProxy's
    /// `http_req_act_use_service`, `service_keywords`).
    UseService(Service),
    /// `wait-for-body time T [at-least N]` (HAProxy 2.4+'s
    /// `http_action_wait_for_body`): the rules stop here until the whole
    /// body is in, `N` payload bytes are, or the buffer is full; after `T`
    /// without them, 408.
    WaitForBody {
        time_ms: u32,
        at_least: u64,
    },
    /// `set-log-level LEVEL|silent`.
    SetLogLevel(LogLevelSet),
}

/// A service for `http-request use-service` (HAProxy's registered applet
/// services; Sluice has the Prometheus exporter, `addons/promex`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `prometheus-exporter`.
    PrometheusExporter,
}

/// An `http-response` or `http-after-response` action.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpResAction {
    Allow,
    /// `strict-mode on|off` on the response (see
    /// [`HttpReqAction::StrictMode`]).
    StrictMode(bool),
    Deny(Reply),
    Return(Reply),
    Redirect(Redirect),
    SetHeader {
        name: String,
        value: LogFormat,
    },
    AddHeader {
        name: String,
        value: LogFormat,
    },
    DelHeader {
        name: String,
        how: HdrMatch,
    },
    /// `replace-header`, `replace-value <name> <regex> <fmt>`.
    ReplaceHeader(ReplaceHeader),
    /// `set-status N [reason R]`.
    SetStatus {
        status: u16,
        reason: Option<String>,
    },
    SetVar(SetVar),
    UnsetVar(VarName),
    TrackSc(TrackSc),
    ScIncGpc(ScIncGpc),
    ScSetGpt(ScSetGpt),
    SilentDrop,
    /// `set-log-level LEVEL|silent`.
    SetLogLevel(LogLevelSet),
    /// `capture EXPR id N` (HAProxy's `http_action_res_capture_by_id`):
    /// the sample, as a string cut to the slot's length, goes to the
    /// frontend's response capture slot `N` (`capture response header`,
    /// `declare capture response`, in declaration order).
    Capture {
        expr: SampleExpr,
        id: usize,
    },
    /// `wait-for-body time T [at-least N]`: the rules stop here until
    /// the whole response body is in, `N` payload bytes are, or the
    /// buffer is full; after `T` without them, 504.
    WaitForBody {
        time_ms: u32,
        at_least: u64,
    },
}

/// Actions that end their rule set (HAProxy's final verdicts), remembered
/// for `last_rule_file` / `last_rule_line`.
impl TcpAction {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TcpAction::Accept | TcpAction::Reject | TcpAction::SilentDrop | TcpAction::Close
        )
    }
}

impl HttpReqAction {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            HttpReqAction::Allow
                | HttpReqAction::Deny(_)
                | HttpReqAction::Tarpit(_)
                | HttpReqAction::Return(_)
                | HttpReqAction::Redirect(_)
                | HttpReqAction::Auth { .. }
                | HttpReqAction::Reject
                | HttpReqAction::SilentDrop
                | HttpReqAction::UseService(_)
        )
    }
}

impl HttpResAction {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            HttpResAction::Allow
                | HttpResAction::Deny(_)
                | HttpResAction::Return(_)
                | HttpResAction::Redirect(_)
                | HttpResAction::SilentDrop
        )
    }
}

/// A rule: an action and its optional condition (HAProxy's `act_rule`).
#[derive(Clone, Debug, PartialEq)]
pub struct Rule<A> {
    pub file: String,
    pub line: u32,
    pub action: A,
    pub cond: Option<Condition>,
}

impl<A> Rule<A> {
    /// Whether the rule applies: `Pass` without a condition.
    pub fn test(&self, ctx: &mut dyn SampleCtx) -> AclTest {
        match &self.cond {
            None => AclTest::Pass,
            Some(c) => c.test(ctx),
        }
    }
}

/// A `use_backend` target.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendTarget {
    Static(String),
    /// A log-format name (`use_backend be_%[req.hdr(host)]`).
    Dynamic(LogFormat),
}

/// `use_backend NAME [if|unless COND]` (HAProxy's `switching_rule`).
#[derive(Clone, Debug, PartialEq)]
pub struct SwitchRule {
    pub file: String,
    pub line: u32,
    pub backend: BackendTarget,
    pub cond: Option<Condition>,
}

/// `use-server NAME if|unless COND` (HAProxy's `server_rule`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerRule {
    pub file: String,
    pub line: u32,
    /// The server name, or a log-format string computing it.
    pub server: BackendTarget,
    pub cond: Condition,
}

/// `force-persist|ignore-persist if|unless COND` (HAProxy's
/// `persist_rule`).
#[derive(Clone, Debug, PartialEq)]
pub struct PersistRule {
    /// `force-persist` (`PERSIST_TYPE_FORCE`), else `ignore-persist`.
    pub force: bool,
    pub cond: Condition,
}

/// `stick on|match|store-request|store-response EXPR [table T] [COND]`
/// (HAProxy's `sticking_rule`).
#[derive(Clone, Debug, PartialEq)]
pub struct StickRule {
    pub file: String,
    pub line: u32,
    pub kind: StickKind,
    pub expr: SampleExpr,
    pub table: TableRef,
    pub cond: Option<Condition>,
}

/// One proxy's parsed rules, in evaluation order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RuleSet {
    pub proxy: String,
    /// The proxy's own named ACLs.
    pub acls: BTreeMap<String, Arc<Acl>>,
    /// `tcp-request connection` (HAProxy's `tcp_req.l4_rules`).
    #[doc(alias = "l4_rules")]
    pub tcp_req_conn: Vec<Rule<TcpAction>>,
    /// `tcp-request session` (`tcp_req.l5_rules`).
    #[doc(alias = "l5_rules")]
    pub tcp_req_sess: Vec<Rule<TcpAction>>,
    /// `tcp-request content` (`tcp_req.inspect_rules`).
    pub tcp_req_cont: Vec<Rule<TcpAction>>,
    /// `tcp-response content` (`tcp_rep.inspect_rules`).
    pub tcp_res_cont: Vec<Rule<TcpAction>>,
    pub http_req: Vec<Rule<HttpReqAction>>,
    /// `redirect` rules (HAProxy's `redirect_rules`): every action is a
    /// `Redirect`.
    pub redirects: Vec<Rule<HttpReqAction>>,
    pub http_res: Vec<Rule<HttpResAction>>,
    pub http_after_res: Vec<Rule<HttpResAction>>,
    /// `use_backend` rules.
    pub switching: Vec<SwitchRule>,
    /// `use-server` rules.
    pub server_rules: Vec<ServerRule>,
    /// `force-persist` / `ignore-persist` rules (HAProxy's `persist_rules`).
    pub persist: Vec<PersistRule>,
    /// `stick` rules.
    pub sticking: Vec<StickRule>,
    /// `monitor fail` conditions (HAProxy's `mon_fail_cond`).
    pub monitor_fail: Vec<Condition>,
    /// `stats admin` conditions (HAProxy's `uri_auth->admin_rules`): one
    /// that matches gives the stats page its admin form.
    pub stats_admin: Vec<Condition>,
    /// What the operator should read (HAProxy's warnings).
    pub warnings: Vec<Diagnostic>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::ParseCtx;

    fn lf(s: &str) -> Result<LogFormat, String> {
        LogFormat::parse(s, &ParseCtx::detached())
    }

    #[test]
    fn log_format_strings() {
        let f = lf("https://%[hdr(host)]%[path]?x=1").unwrap();
        assert_eq!(f.nodes.len(), 4);
        assert_eq!(f.nodes[0], LfNode::Lit("https://".into()));
        assert_eq!(f.nodes[3], LfNode::Lit("?x=1".into()));
        assert_eq!(lf("plain").unwrap().literal(), Some("plain"));
        assert_eq!(lf("100%%").unwrap().literal(), Some("100%"));
        let f = lf("%ci:%cp %T").unwrap();
        let kws: Vec<&str> = f.exprs().map(|e| e.fetch.kw.as_str()).collect();
        assert_eq!(kws, ["src", "src_port", "T"]);
        let f = lf("%{+Q}[src]").unwrap();
        assert!(matches!(&f.nodes[0], LfNode::Expr { flags, .. } if flags == "+Q"));
        assert_eq!(
            lf("%[path,regsub(^/static/,/)]")
                .unwrap()
                .exprs()
                .next()
                .unwrap()
                .convs
                .len(),
            1
        );
        assert!(lf("%[src").unwrap_err().contains("missing ']'"));
        assert!(lf("%[nope]")
            .unwrap_err()
            .contains("unknown fetch method 'nope'"));
        assert!(lf("%zz")
            .unwrap_err()
            .contains("no such format variable 'zz'"));
        assert!(lf("50%")
            .unwrap_err()
            .contains("no such format variable ''"));
        assert!(lf("%{+Q").unwrap_err().contains("missing '}'"));
    }

    #[test]
    fn log_format_renders() {
        let mut c = crate::sample::MapCtx::new();
        c.set(
            "src",
            vec![crate::sample::Sample::Ip("10.0.0.1".parse().unwrap())],
        );
        c.set("path", vec![crate::sample::Sample::str("/static/a")]);
        let f = lf("ip=%ci path=%[path,regsub(^/static/,/)] miss=%[hdr(x)]!").unwrap();
        assert_eq!(f.render(&mut c), b"ip=10.0.0.1 path=/a miss=!".to_vec());
    }

    #[test]
    fn stages_allow_layers() {
        assert!(Stage::TcpConn.allows(Layer::L4));
        assert!(!Stage::TcpConn.allows(Layer::ReqContent));
        assert!(!Stage::TcpSess.allows(Layer::HttpReq));
        assert!(Stage::TcpContent.allows(Layer::ReqContent));
        assert!(Stage::TcpContent.allows(Layer::HttpReq));
        assert!(!Stage::HttpRes.allows(Layer::HttpReq));
        assert!(Stage::HttpRes.allows(Layer::HttpAny));
        assert!(Stage::Switching.allows(Layer::HttpReq));
        assert!(!Stage::Switching.allows(Layer::HttpRes));
        assert!(Stage::StickRes.allows(Layer::HttpRes));
    }
}
