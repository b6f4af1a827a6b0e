//! The ACL and sample engine end to end: configurations parsed by
//! `cfgparse`, turned into rule sets by `RuleSet::build`, and conditions
//! evaluated against a small request model that implements `SampleCtx`
//! the way a stream will (multi-valued headers, stick counters, partial
//! data).

use std::collections::BTreeMap;
use std::net::IpAddr;

use proptest::prelude::*;

use sluice_core::acl::{parse_acl_expr, AclScope, AclTest, Condition, MatchMethod};
use sluice_core::cfgparse::{parse, Config, ParseOptions, Place, Proxy, ProxyKind, RuleLine};
use sluice_core::rules::{
    build_all, table_index, BackendTarget, HttpReqAction, HttpResAction, IntOrExpr, LfNode,
    LogFormat, RedirectKind, ReplyBody, RuleSet, TcpAction,
};
use sluice_core::sample::{
    CtrOp, Dir, Fetch, FetchKind, ParseCtx, Sample, SampleCtx, SampleExpr, VarName, VarScope,
};
use sluice_core::stick_table::{DataType, TableId};

// ---------------------------------------------------------------------------
// A request, as the data path will expose it

#[derive(Default)]
struct Req {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: i64,
    method: String,
    path: String,
    query: String,
    ver: String,
    hdrs: Vec<(String, String)>,
    status: Option<i64>,
    /// Tracked counters: (counter, data type) -> value.
    counters: BTreeMap<(u8, DataType), i64>,
    /// `src_*` table lookups.
    src_table: BTreeMap<DataType, i64>,
    vars: BTreeMap<String, Sample>,
    req_len: i64,
    /// The request buffer may still grow (inspect-delay running).
    partial: bool,
    /// Every fetch asked for, by keyword.
    asked: Vec<String>,
}

impl Req {
    fn http(method: &str, path: &str, hdrs: &[(&str, &str)]) -> Req {
        Req {
            src: Some("192.0.2.10".parse().unwrap()),
            dst: Some("198.51.100.1".parse().unwrap()),
            src_port: 40000,
            method: method.into(),
            path: path.into(),
            ver: "1.1".into(),
            hdrs: hdrs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..Req::default()
        }
    }

    /// Values of header `name`: split on commas unless `full`.
    fn header_values(&self, name: &str, full: bool) -> Vec<Sample> {
        let mut out = Vec::new();
        for (n, v) in &self.hdrs {
            if !n.eq_ignore_ascii_case(name) {
                continue;
            }
            if full {
                out.push(Sample::str(v));
            } else {
                out.extend(v.split(',').map(|p| Sample::str(p.trim())));
            }
        }
        out
    }
}

impl SampleCtx for Req {
    fn fetch(&mut self, f: &Fetch) -> Option<Sample> {
        // Without an occurrence, a sample expression takes the last value;
        // fetch_all gives every one to ACLs.
        let mut all = Vec::new();
        self.fetch_all(f, &mut all);
        all.pop()
    }

    fn fetch_all(&mut self, f: &Fetch, out: &mut Vec<Sample>) {
        self.asked.push(f.kw.clone());
        let one = match &f.kind {
            FetchKind::Src => self.src.map(Sample::Ip),
            FetchKind::Dst => self.dst.map(Sample::Ip),
            FetchKind::SrcPort => Some(Sample::Int(self.src_port)),
            FetchKind::Method => Some(Sample::str(&self.method)),
            FetchKind::Path => Some(Sample::str(&self.path)),
            FetchKind::Query => Some(Sample::str(&self.query)),
            FetchKind::Url if self.query.is_empty() => Some(Sample::str(&self.path)),
            FetchKind::Url => Some(Sample::str(format!("{}?{}", self.path, self.query))),
            FetchKind::ReqVer => Some(Sample::str(&self.ver)),
            FetchKind::Status => self.status.map(Sample::Int),
            FetchKind::ReqLen => Some(Sample::Int(self.req_len)),
            FetchKind::Hdr { .. } | FetchKind::HdrVal { .. } => {
                let full = matches!(f.kind, FetchKind::Hdr { full: true, .. });
                let name = f.str_arg(0).unwrap_or("");
                let mut all = self.header_values(name, full);
                match f.int_arg(1) {
                    Some(occ) if occ > 0 => {
                        all = all.into_iter().nth(occ as usize - 1).into_iter().collect()
                    }
                    Some(occ) if occ < 0 => {
                        all = all
                            .into_iter()
                            .rev()
                            .nth((-occ) as usize - 1)
                            .into_iter()
                            .collect()
                    }
                    _ => {}
                }
                if matches!(f.kind, FetchKind::HdrVal { .. }) {
                    all = all
                        .iter()
                        .filter_map(|v| v.as_int())
                        .map(Sample::Int)
                        .collect();
                }
                out.extend(all);
                return;
            }
            FetchKind::HdrCnt { full, .. } => {
                let name = f.str_arg(0).unwrap_or("");
                Some(Sample::Int(self.header_values(name, *full).len() as i64))
            }
            FetchKind::StkCtr { ctr, data } => {
                self.counters.get(&(*ctr, *data)).map(|v| Sample::Int(*v))
            }
            FetchKind::StkCtrOp {
                ctr,
                op: CtrOp::Tracked,
            } => Some(Sample::Bool(self.counters.keys().any(|(c, _)| c == ctr))),
            FetchKind::SrcTable { data } => self.src_table.get(data).map(|v| Sample::Int(*v)),
            FetchKind::Var => f.var().and_then(|v| self.vars.get(&v.to_string()).cloned()),
            FetchKind::SslFc => Some(Sample::Bool(false)),
            _ => None,
        };
        out.extend(one);
    }

    fn may_change(&mut self, f: &Fetch) -> bool {
        self.partial && f.kind == FetchKind::ReqLen
    }
}

// ---------------------------------------------------------------------------
// Helpers

fn cfg(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

fn parsed(text: &str) -> Config {
    match parse("t.cfg", text, ParseOptions::new("node1")) {
        Ok(p) => p.config,
        Err(e) => panic!("config rejected:\n{e}\n---\n{text}"),
    }
}

fn rulesets(text: &str) -> Vec<RuleSet> {
    let c = parsed(text);
    let tables = table_index(&c);
    match build_all(&c, &tables) {
        Ok(r) => r,
        Err(es) => panic!(
            "rule sets rejected:\n{}",
            es.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn build_errors(text: &str) -> Vec<String> {
    let c = parsed(text);
    let tables = table_index(&c);
    match build_all(&c, &tables) {
        Ok(_) => panic!("expected errors:\n{text}"),
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

/// A listen section in HTTP mode with `lines` in it.
fn http_listen(lines: &[&str]) -> String {
    let mut all = vec![
        "defaults",
        "    mode http",
        "    timeout client 1s",
        "    timeout server 1s",
        "    timeout connect 1s",
        "listen px",
        "    bind :8080",
        "    stick-table type ip size 1k store conn_rate(10s),http_req_rate(10s),gpc0",
        "    server s1 127.0.0.1:80",
    ];
    all.extend_from_slice(lines);
    cfg(&all)
}

fn one(text: &str) -> RuleSet {
    rulesets(text).into_iter().next().unwrap()
}

/// The first http-request rule's condition applied to `req`.
fn cond_of(rs: &RuleSet) -> &Condition {
    rs.http_req[0].cond.as_ref().expect("a condition")
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Parses condition words against `acls` declared at lines 1.., the rule
/// at line 100.
fn cond(acl_lines: &[&str], c: &str) -> Condition {
    let lines: Vec<RuleLine> = acl_lines
        .iter()
        .enumerate()
        .map(|(i, l)| RuleLine {
            file: "t.cfg".into(),
            line: i as u32 + 1,
            keyword: "acl".into(),
            words: words(l.strip_prefix("acl ").unwrap_or(l)),
            cond: None,
        })
        .collect();
    let (mut errs, mut warns) = (Vec::new(), Vec::new());
    let ctx = ParseCtx::detached();
    let mut scope = AclScope::build(&lines, &ctx, &mut errs, &mut warns);
    assert!(errs.is_empty(), "{errs:?}");
    let mut w = Vec::new();
    let (unless, rest) = match c.strip_prefix("unless ") {
        Some(r) => (true, r),
        None => (false, c.strip_prefix("if ").unwrap_or(c)),
    };
    Condition::parse(
        &words(rest),
        unless,
        &mut scope,
        ("t.cfg", 100),
        &ctx,
        &mut w,
    )
    .unwrap_or_else(|e| panic!("{c}: {e}"))
}

// ---------------------------------------------------------------------------
// Fetches and methods against the request model

#[test]
fn header_acls_iterate_over_every_value() {
    let c = cond(&["acl a hdr(accept) -i image/png"], "if a");
    let mut r = Req::http(
        "GET",
        "/",
        &[("Accept", "text/html, image/PNG"), ("Accept", "x/y")],
    );
    assert!(c.matches(&mut r), "second value of the first line");
    let c = cond(&["acl a hdr(accept,2) x/y"], "if a");
    assert!(!c.matches(&mut r), "occurrence 2 is image/PNG");
    let c = cond(&["acl a req.fhdr(accept) -m sub image"], "if a");
    assert!(c.matches(&mut r));
    let c = cond(&["acl a hdr_cnt(accept) 3"], "if a");
    assert!(c.matches(&mut r));
    // A sample expression takes the last value.
    let e = SampleExpr::parse("req.hdr(accept),upper", &ParseCtx::detached()).unwrap();
    assert_eq!(e.eval(&mut r), Some(Sample::str("X/Y")));
}

#[test]
fn every_method_on_http_fetches() {
    let mut r = Req::http(
        "POST",
        "/api/v2/users/42",
        &[
            ("Host", "API.example.com:8443"),
            ("X-Api-Key", "K-123"),
            ("Content-Length", "12"),
        ],
    );
    let yes = [
        "path /api/v2/users/42",
        "path -m str /api/v2/users/42",
        "path_beg /api/",
        "path -m beg /api/",
        "path_end /42",
        "path_sub /users/",
        "path_dir users",
        "path_dir v2/users",
        "path_len 16",
        "path_len gt 10",
        "path_reg ^/api/v[0-9]+/",
        "path -m reg users/[0-9]+$",
        "hdr(host) -i api.example.com:8443",
        "hdr_beg(host) -i api.",
        "hdr_end(host) :8443",
        "hdr_sub(host) example",
        "hdr_dom(host) -i example.com",
        "hdr_dom(host) 8443",
        "hdr_len(host) 20",
        "hdr_reg(host) -i ^api\\.",
        "req.hdr(x-api-key) -m found",
        "req.hdr(x-api-key),lower k-123",
        "hdr_val(content-length) gt 0",
        "hdr_val(content-length) 10:20",
        "method POST",
        "method -i post",
        "req.ver 1.1",
        "src 192.0.2.0/24",
        "src_port gt 1024",
        "dst 198.51.100.1",
    ];
    for acl in yes {
        let c = cond(&[&format!("acl a {acl}")], "if a");
        assert!(c.matches(&mut r), "should match: {acl}");
    }
    let no = [
        "path /API/v2/users/42",
        "path_beg /static/",
        "path_end /4",
        "path_sub /user/s",
        "path_dir user",
        "path_len lt 16",
        "path_reg ^/API",
        "hdr(host) api.example.com",
        "hdr_dom(host) ample.com",
        "req.hdr(x-missing) -m found",
        "method GET",
        "method post",
        "src 192.0.3.0/24",
        "src 2001:db8::/32",
        "hdr_val(content-length) gt 12",
    ];
    for acl in no {
        let c = cond(&[&format!("acl a {acl}")], "if a");
        assert!(!c.matches(&mut r), "should not match: {acl}");
    }
}

#[test]
fn stick_counters_and_operators() {
    let mut r = Req::http("GET", "/", &[]);
    r.counters.insert((0, DataType::CONN_RATE), 25);
    r.counters.insert((0, DataType::HTTP_REQ_RATE), 100);
    r.counters.insert((1, DataType::GPC0), 0);
    r.src_table.insert(DataType::CONN_CUR, 3);
    let cases: &[(&str, bool)] = &[
        ("sc0_conn_rate gt 20", true),
        ("sc0_conn_rate gt 25", false),
        ("sc0_conn_rate ge 25", true),
        ("sc0_conn_rate lt 25", false),
        ("sc0_conn_rate le 25", true),
        ("sc0_conn_rate eq 25", true),
        ("sc0_conn_rate ne 25", false),
        ("sc0_conn_rate ne 24", true),
        ("sc0_conn_rate 20:30", true),
        ("sc0_conn_rate :24", false),
        ("sc0_conn_rate 26:", false),
        ("sc_http_req_rate(0) gt 50", true),
        ("sc0_http_req_rate gt 100", false),
        ("sc1_get_gpc0 0", true),
        ("sc1_get_gpc0 -m bool", false),
        ("sc2_conn_rate ge 0", false),
        ("sc2_conn_rate -m found", false),
        ("sc1_tracked", true),
        ("sc2_tracked", false),
        ("src_conn_cur 3", true),
        ("src_conn_cur,add(2) 5", true),
    ];
    for (acl, want) in cases {
        let c = cond(&[&format!("acl a {acl}")], "if a");
        assert_eq!(c.matches(&mut r), *want, "{acl}");
    }
}

#[test]
fn ipv4_cidr_and_ipv6() {
    let mut cases: Vec<(&str, &str, bool)> = vec![
        ("src 10.0.0.0/8", "10.255.255.255", true),
        ("src 10.0.0.0/8", "11.0.0.0", false),
        ("src 172.16.0.0/12", "172.31.1.1", true),
        ("src 172.16.0.0/12", "172.32.0.0", false),
        ("src 192.168.0.0/255.255.0.0", "192.168.44.1", true),
        ("src 10.1.2.3/32", "10.1.2.3", true),
        ("src 10.1.2.3/32", "10.1.2.4", false),
        ("src 0.0.0.0/0", "203.0.113.9", true),
        ("src 2001:db8::/32", "2001:db8:abcd::1", true),
        ("src 2001:db8::/32", "2001:db9::1", false),
        ("src 2001:db8::1", "2001:db8::1", true),
        ("src 2001:db8::1/128", "2001:db8::2", false),
        ("src ::/0", "fe80::1", true),
        ("src fe80::/10", "febf::1", true),
        ("src fe80::/10", "fec0::1", false),
        // v4-mapped v6 clients match v4 networks, and the other way round.
        ("src 10.0.0.0/8", "::ffff:10.0.0.1", true),
        ("src ::ffff:10.0.0.0/104", "10.2.3.4", true),
        ("src 10.0.0.0/8 2001:db8::/32", "2001:db8::5", true),
        ("LOCALHOST", "127.0.0.1", true),
        ("LOCALHOST", "127.255.0.1", true),
        ("LOCALHOST", "128.0.0.1", false),
    ];
    cases.push(("src 10.0.0.0/8 192.168.0.0/16", "192.168.1.1", true));
    for (acl, client, want) in cases {
        let mut r = Req::http("GET", "/", &[]);
        r.src = Some(client.parse().unwrap());
        let c = if acl == "LOCALHOST" {
            cond(&[], "if LOCALHOST")
        } else {
            cond(&[&format!("acl a {acl}")], "if a")
        };
        assert_eq!(c.matches(&mut r), want, "{acl} vs {client}");
    }
}

#[test]
fn variables_need_a_method_and_match_by_cast() {
    let mut r = Req::http("GET", "/", &[]);
    r.vars.insert("txn.country".into(), Sample::str("FR"));
    r.vars.insert("txn.score".into(), Sample::Int(80));
    assert!(cond(&["acl a var(txn.country) -m str FR"], "if a").matches(&mut r));
    assert!(cond(&["acl a var(txn.score) -m int gt 50"], "if a").matches(&mut r));
    assert!(cond(&["acl a var(txn.nope) -m found"], "unless a").matches(&mut r));
    let e = parse_acl_expr(&words("var(txn.x) FR"), &ParseCtx::detached()).unwrap_err();
    assert!(e.contains("matching method must be specified first"), "{e}");
}

// ---------------------------------------------------------------------------
// Conditions: negation, OR, anonymous ACLs, precedence, short-circuit

#[test]
fn condition_logic_and_precedence() {
    let acls = [
        "acl t always_true",
        "acl f always_false",
        "acl get method GET",
        "acl api path_beg /api",
    ];
    let mut r = Req::http("GET", "/api/x", &[]);
    let cases: &[(&str, bool)] = &[
        ("if t", true),
        ("if f", false),
        ("if !f", true),
        ("if !!t", true),
        ("if ! t", false),
        ("if t f", false),
        ("if t !f", true),
        ("if f || t", true),
        ("if f or t", true),
        ("if f OR t", true),
        // AND binds tighter than OR: (f && t) || (t && t).
        ("if f t || t t", true),
        ("if t f || f t", false),
        ("if get api", true),
        ("if get !api || f", false),
        ("if { method GET } { path_beg /api }", true),
        ("if !{ method GET }", false),
        ("if f || !{ path_end /y }", true),
        ("unless f", true),
        ("unless t", false),
        ("unless f || t", false),
        ("if TRUE", true),
        ("if FALSE || METH_GET", true),
        ("if METH_POST", false),
        ("if HTTP_1.1", true),
        // `!` alone applies to the next term; a trailing one is ignored.
        ("if t !", true),
        // an `or` with nothing before it adds no empty suite.
        ("if or t", true),
    ];
    for (c, want) in cases {
        assert_eq!(cond(&acls, c).matches(&mut r), *want, "{c}");
    }
}

#[test]
fn conditions_short_circuit() {
    let acls = [
        "acl get method GET",
        "acl api path_beg /api",
        "acl bad hdr(x-bad) -m found",
    ];
    let mut r = Req::http("POST", "/api", &[]);
    assert!(!cond(&acls, "if get bad").matches(&mut r));
    assert_eq!(r.asked, ["method"], "AND stops at the first failing term");
    let mut r = Req::http("GET", "/api", &[]);
    assert!(cond(&acls, "if api || bad").matches(&mut r));
    assert_eq!(r.asked, ["path"], "OR stops at the first passing suite");
    // An ACL declared twice is an OR of its lines, also short-circuited.
    let twice = ["acl m method GET", "acl m method HEAD"];
    let mut r = Req::http("GET", "/", &[]);
    assert!(cond(&twice, "if m").matches(&mut r));
    assert_eq!(r.asked.len(), 1);
    let mut r = Req::http("HEAD", "/", &[]);
    assert!(cond(&twice, "if m").matches(&mut r));
    let mut r = Req::http("PUT", "/", &[]);
    assert!(!cond(&twice, "if m").matches(&mut r));
}

#[test]
fn partial_data_is_a_miss_not_a_failure() {
    let c = cond(&[], "unless { req.len gt 0 }");
    let mut r = Req::http("GET", "/", &[]);
    r.partial = true;
    // No data yet, more may come: wait (HAProxy's ACL_TEST_MISS).
    assert_eq!(c.test(&mut r), AclTest::Miss);
    r.req_len = 10;
    assert_eq!(c.test(&mut r), AclTest::Fail, "data arrived: unless fails");
    r.req_len = 0;
    r.partial = false;
    assert_eq!(c.test(&mut r), AclTest::Pass, "final and empty: reject");
    // A miss under `!` stays a miss; OR with a pass is a pass.
    r.partial = true;
    assert_eq!(
        cond(&[], "if !{ req.len gt 0 }").test(&mut r),
        AclTest::Miss
    );
    assert_eq!(
        cond(&[], "if { req.len gt 0 } || TRUE").test(&mut r),
        AclTest::Pass
    );
    // AND stops at a miss as at a failure (HAProxy), so FALSE is not
    // reached; written the other way round, the failure decides.
    assert_eq!(
        cond(&[], "if { req.len gt 0 } FALSE").test(&mut r),
        AclTest::Miss
    );
    assert_eq!(
        cond(&[], "if FALSE { req.len gt 0 }").test(&mut r),
        AclTest::Fail
    );
}

// ---------------------------------------------------------------------------
// Rule sets from configurations

#[test]
fn rules_parse_into_typed_actions() {
    let rs = one(&http_listen(&[
        "    acl abuser sc0_http_req_rate gt 50",
        "    tcp-request connection track-sc0 src",
        "    tcp-request connection reject if { sc0_conn_rate gt 10 }",
        "    tcp-request session sc-inc-gpc0(0) if abuser",
        "    tcp-request content sc-set-gpt0(1) 5",
        "    http-request track-sc1 req.hdr(x-api-key),lower table px",
        "    http-request deny deny_status 429 if abuser",
        "    http-request deny",
        "    http-request tarpit",
        "    http-request return status 503 content-type text/plain string \"down\\n\" hdr X-Why maint",
        "    http-request return status 200 content-type application/json lf-string '{\"ip\":\"%[src]\"}'",
        "    http-request redirect scheme https code 301 if !{ ssl_fc }",
        "    http-request redirect prefix /v2 drop-query",
        "    http-request redirect location https://%[hdr(host)]%[path] code 308 append-slash",
        "    http-request set-header X-Forwarded-Proto https",
        "    http-request add-header X-Client %[src]:%[src_port]",
        "    http-request del-header X-Internal",
        "    http-request del-header X-Debug- -m beg",
        "    http-request set-path %[path,regsub(^/old/,/new/)]",
        "    http-request set-var(txn.host) req.hdr(host),lower",
        "    http-request unset-var(txn.host)",
        "    http-request sc-inc-gpc(2,1)",
        "    http-request allow if { src 10.0.0.0/8 }",
        "    http-request auth realm Private",
        "    http-response set-header X-Frame-Options DENY",
        "    http-response del-header Server",
        "    http-response set-status 503 reason \"Go away\"",
        "    http-response deny if { status 500 }",
        "    http-after-response add-header X-Served-By sluice",
    ]));
    use HttpReqAction as H;
    assert!(
        matches!(&rs.tcp_req_conn[0].action, TcpAction::TrackSc(t) if t.ctr == 0 && t.table.name == "px" && t.table.id.is_some())
    );
    assert!(matches!(&rs.tcp_req_conn[1].action, TcpAction::Reject));
    assert!(rs.tcp_req_conn[1].cond.is_some());
    assert!(
        matches!(&rs.tcp_req_sess[0].action, TcpAction::ScIncGpc(s) if s.ctr == 0 && s.data == DataType::GPC0)
    );
    assert!(
        matches!(&rs.tcp_req_cont[0].action, TcpAction::ScSetGpt(s) if s.ctr == 1 && s.value == IntOrExpr::Int(5))
    );
    let h = &rs.http_req;
    match &h[0].action {
        H::TrackSc(t) => {
            assert_eq!(t.ctr, 1);
            assert_eq!(
                t.key.fetch.kind,
                FetchKind::Hdr {
                    dir: Dir::Req,
                    full: false
                }
            );
            assert_eq!(t.key.convs.len(), 1);
        }
        a => panic!("{a:?}"),
    }
    assert!(
        matches!(&h[1].action, H::Deny(r) if r.status == 429 && r.body == ReplyBody::ErrorPage)
    );
    assert!(matches!(&h[2].action, H::Deny(r) if r.status == 403));
    assert!(matches!(&h[3].action, H::Tarpit(r) if r.status == 500));
    match &h[4].action {
        H::Return(r) => {
            assert_eq!(r.status, 503);
            assert_eq!(r.content_type.as_deref(), Some("text/plain"));
            assert_eq!(r.body, ReplyBody::String(b"down\n".to_vec()));
            assert_eq!(r.hdrs[0].0, "X-Why");
        }
        a => panic!("{a:?}"),
    }
    assert!(
        matches!(&h[5].action, H::Return(r) if matches!(&r.body, ReplyBody::LogFormat(lf) if lf.exprs().count() == 1))
    );
    assert!(
        matches!(&h[6].action, H::Redirect(r) if r.kind == RedirectKind::Scheme && r.code == 301)
    );
    assert!(
        matches!(&h[7].action, H::Redirect(r) if r.kind == RedirectKind::Prefix && r.drop_query && r.code == 302)
    );
    assert!(
        matches!(&h[8].action, H::Redirect(r) if r.code == 308 && r.append_slash && r.target.exprs().count() == 2)
    );
    assert!(
        matches!(&h[9].action, H::SetHeader { name, value } if name == "X-Forwarded-Proto" && value.literal() == Some("https"))
    );
    assert!(matches!(&h[10].action, H::AddHeader { value, .. } if value.nodes.len() == 3));
    assert!(matches!(&h[11].action, H::DelHeader { name, .. } if name == "X-Internal"));
    assert!(matches!(
        &h[12].action,
        H::DelHeader {
            how: sluice_core::rules::HdrMatch::Beg,
            ..
        }
    ));
    assert!(matches!(&h[13].action, H::SetPath(_)));
    match &h[14].action {
        H::SetVar(v) => {
            assert_eq!(
                v.var,
                VarName {
                    scope: VarScope::Txn,
                    name: "host".into()
                }
            );
        }
        a => panic!("{a:?}"),
    }
    assert!(matches!(&h[15].action, H::UnsetVar(_)));
    assert!(
        matches!(&h[16].action, H::ScIncGpc(s) if s.idx == 2 && s.ctr == 1 && s.data == DataType::GPC)
    );
    assert!(matches!(&h[17].action, H::Allow));
    assert!(matches!(&h[18].action, H::Auth { realm: Some(r) } if r == "Private"));
    assert!(matches!(
        &rs.http_res[0].action,
        HttpResAction::SetHeader { .. }
    ));
    assert!(matches!(
        &rs.http_res[1].action,
        HttpResAction::DelHeader { .. }
    ));
    assert!(
        matches!(&rs.http_res[2].action, HttpResAction::SetStatus { status: 503, reason: Some(r) } if r == "Go away")
    );
    assert!(matches!(&rs.http_res[3].action, HttpResAction::Deny(r) if r.status == 502));
    assert!(matches!(
        &rs.http_after_res[0].action,
        HttpResAction::AddHeader { .. }
    ));
    assert!(rs.acls.contains_key("abuser"));
    assert!(rs.warnings.is_empty(), "{:?}", rs.warnings);
}

#[test]
fn rules_evaluate_against_the_request() {
    let rs = one(&http_listen(&[
        "    acl abuser sc_http_req_rate(0) gt 50",
        "    acl api hdr(host) -i api.example.com",
        "    http-request deny deny_status 429 if abuser",
        "    http-request set-header X-Api 1 if api !abuser",
        "    use_backend be_api if api",
        "    use_backend be_%[req.hdr(x-pool),lower]",
        "backend be_api",
        "    server a 127.0.0.1:81",
    ]));
    let mut r = Req::http("GET", "/", &[("Host", "API.example.com")]);
    r.counters.insert((0, DataType::HTTP_REQ_RATE), 10);
    assert_eq!(rs.http_req[0].test(&mut r), AclTest::Fail);
    assert_eq!(rs.http_req[1].test(&mut r), AclTest::Pass);
    r.counters.insert((0, DataType::HTTP_REQ_RATE), 51);
    assert_eq!(rs.http_req[0].test(&mut r), AclTest::Pass);
    assert_eq!(rs.http_req[1].test(&mut r), AclTest::Fail);
    let sw = &rs.switching;
    assert!(matches!(&sw[0].backend, BackendTarget::Static(b) if b == "be_api"));
    assert!(sw[0].cond.as_ref().unwrap().matches(&mut r));
    let BackendTarget::Dynamic(lf) = &sw[1].backend else {
        panic!("{:?}", sw[1].backend)
    };
    r.hdrs.push(("X-Pool".into(), "Blue".into()));
    assert_eq!(lf.render(&mut r), b"be_blue");
}

#[test]
fn stick_rules_resolve_tables() {
    let rs = rulesets(&cfg(&[
        "peers mesh",
        "    peer node1 127.0.0.1:10000",
        "    table t type string size 1k store gpc0",
        "backend be",
        "    stick-table type ip size 1k",
        "    stick on src",
        "    stick match req.cook(sid) table mesh/t if { req.cook(sid) -m found }",
        "    stick store-response res.cook(sid) table mesh/t",
        "    server a 127.0.0.1:80",
    ]));
    let be = &rs[0];
    assert_eq!(be.sticking.len(), 3);
    assert_eq!(be.sticking[0].table.name, "be");
    assert_eq!(be.sticking[0].table.id, Some(TableId(1)));
    assert_eq!(be.sticking[1].table.name, "mesh/t");
    assert_eq!(be.sticking[1].table.id, Some(TableId(0)));
    assert!(be.sticking[1].cond.is_some());
}

// ---------------------------------------------------------------------------
// Errors, with file:line

#[test]
fn acl_errors_carry_file_and_line() {
    let e = build_errors(&http_listen(&["    acl x foo 1"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:10] : error detected while parsing ACL 'x' : unknown fetch method 'foo' in ACL expression 'foo'."]
    );
    let e = build_errors(&http_listen(&["    http-request deny if bar"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:10] : error detected while parsing an 'http-request deny' condition : no such ACL : 'bar'."]
    );
    let e = build_errors(&http_listen(&[
        "    use_backend be if bar",
        "backend be",
        "    server a 127.0.0.1:1",
    ]));
    assert_eq!(
        e,
        ["parsing [t.cfg:10] : error detected while parsing a switching rule condition : no such ACL : 'bar'."]
    );
    let e = build_errors(&http_listen(&["    http-request deny if { path_beg /x"]));
    assert!(
        e[0].ends_with("condition : missing closing '}' in condition."),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&[
        "    acl a src 10.0.0.0/33",
        "    acl or src 1.2.3.4",
    ]));
    assert_eq!(e.len(), 2);
    assert!(
        e[0].starts_with(
            "parsing [t.cfg:10] : error detected while parsing ACL 'a' : '10.0.0.0/33'"
        ),
        "{e:?}"
    );
    assert!(
        e[1].contains("[t.cfg:11] : acl name 'or' will never match"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&["    acl a path -f /etc/haproxy/paths.lst"]));
    assert!(e[0].contains("pattern files are not supported"), "{e:?}");
}

#[test]
fn acls_must_be_declared_before_use() {
    let e = build_errors(&http_listen(&[
        "    http-request deny if late",
        "    acl late path /x",
    ]));
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("[t.cfg:10]"), "{e:?}");
    assert!(
        e[0].contains("no such ACL : 'late' (it is declared later, at t.cfg:11"),
        "{e:?}"
    );
    // Once declared, later lines with the same name still add to it.
    let rs = one(&http_listen(&[
        "    acl m method GET",
        "    http-request deny if m",
        "    acl m method HEAD",
    ]));
    let mut r = Req::http("HEAD", "/", &[]);
    assert!(cond_of(&rs).matches(&mut r));
}

#[test]
fn unknown_actions_list_the_supported_ones() {
    let e = build_errors(&http_listen(&["    http-request frobnicate"]));
    assert!(
        e[0].starts_with("parsing [t.cfg:10] : 'http-request' expects 'allow', 'deny', "),
        "{e:?}"
    );
    assert!(e[0].ends_with("but got 'frobnicate'."), "{e:?}");
    let e = build_errors(&http_listen(&["    http-request set-bandwidth-limit lim"]));
    assert!(
        e[0].contains("'http-request set-bandwidth-limit' is not supported by Sluice"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&["    tcp-request connection deny"]));
    assert!(
        e[0].contains("'tcp-request connection' expects 'accept', 'reject'"),
        "{e:?}"
    );
    assert!(e[0].contains("but got 'deny'"), "{e:?}");
    let e = build_errors(&http_listen(&["    http-after-response deny"]));
    assert!(
        e[0].contains("'http-after-response' expects 'allow', 'set-header'"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&["    http-request set-header X-Only-Name"]));
    assert!(
        e[0].contains("'http-request set-header' expects exactly 2 arguments."),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&["    http-request deny deny_status 299"]));
    assert!(
        e[0].contains("status code '299' not handled by default"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&[
        "    http-request return status 200 string ok",
    ]));
    assert!(e[0].contains("a content type must be defined"), "{e:?}");
    // Read through the driver's file source, which this build has not.
    let e = build_errors(&http_listen(&["    http-request return errorfile /x.http"]));
    assert!(
        e[0].contains("'errorfile' is not supported here (no file source"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&[
        "    http-request return status 404 errorfiles nosuch",
    ]));
    assert!(
        e[0].contains("unknown http-errors section 'nosuch' referenced by an http reply"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&[
        "    http-request return status 418 errorfiles nosuch",
    ]));
    assert!(
        e[0].contains("status code '418' not handled by default with 'errorfiles' argument"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&[
        "    http-request redirect location /x code 304",
    ]));
    assert!(e[0].contains("unsupported HTTP code '304'"), "{e:?}");
    let e = build_errors(&http_listen(&["    http-request deny extra"]));
    assert!(
        e[0].contains("expects either 'if' or 'unless' followed by a condition but found 'extra'"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&["    http-request track-sc3 src"]));
    assert!(e[0].contains("invalid stick table track ID '3'"), "{e:?}");
    let e = build_errors(&http_listen(&["    http-request set-var(foo) src"]));
    assert!(e[0].contains("must be start by its scope"), "{e:?}");
    let e = build_errors(&http_listen(&["    http-request set-header X %[nope]"]));
    assert!(e[0].contains("unknown fetch method 'nope'"), "{e:?}");
}

#[test]
fn warnings_like_haproxy() {
    let rs = one(&http_listen(&[
        "    acl nopat path",
        "    http-request return status 200 content-type text/plain",
        "    http-request return status 200 content-type text/plain string ok hdr Content-Length 9 hdr X-A b",
        "    http-request deny content-type text/plain",
    ]));
    let w: Vec<String> = rs.warnings.iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(w[0].starts_with("parsing [t.cfg:10] : parsing acl keyword 'path' : no pattern to match against were provided"));
    assert!(w[1].contains("[t.cfg:11] : content-type 'text/plain' ignored by the http reply because neither errorfile nor payload defined."));
    assert!(w[2].contains("[t.cfg:12] : header 'Content-Length' always ignored by the http reply."));
    assert!(w[3].contains("[t.cfg:13] : content-type 'text/plain' ignored by the http reply when used with an errorfile."));
    let HttpReqAction::Return(r) = &rs.http_req[1].action else {
        panic!()
    };
    assert_eq!(r.hdrs.len(), 1);
    assert_eq!(r.hdrs[0].0, "X-A");
}

#[test]
fn fetches_must_be_available_where_the_rule_runs() {
    let e = build_errors(&http_listen(&[
        "    tcp-request connection reject if { path_beg /x }",
    ]));
    assert!(
        e[0].contains("anonymous acl will never match because it only involves keywords that are incompatible with 'tcp-request connection rule'"),
        "{e:?}"
    );
    let e = build_errors(&http_listen(&[
        "    acl p path /x",
        "    tcp-request session reject if p",
    ]));
    assert!(e[0].contains("acl 'p' will never match"), "{e:?}");
    let e = build_errors(&http_listen(&[
        "    http-response set-header X %[req.hdr(host)]",
    ]));
    assert!(e[0].contains("fetch method 'req.hdr' extracts information from 'HTTP request headers', none of which is available in a http-response rule"), "{e:?}");
    let e = build_errors(&http_listen(&[
        "    tcp-request connection track-sc0 req.hdr(x)",
    ]));
    assert!(
        e[0].contains("none of which is available in a tcp-request connection rule"),
        "{e:?}"
    );
    // One usable keyword out of two: a warning, as in HAProxy.
    let rs = one(&http_listen(&[
        "    acl mixed path /x",
        "    acl mixed src 10.0.0.0/8",
        "    tcp-request connection reject if mixed",
    ]));
    assert_eq!(rs.warnings.len(), 1);
    assert!(rs.warnings[0]
        .to_string()
        .contains("acl 'mixed' involves keyword 'path'"));
    // Response fetches in responses, request contents in content rules.
    one(&http_listen(&[
        "    http-response set-header X %[res.hdr(server)] if { status 200 }",
    ]));
    one(&http_listen(&[
        "    tcp-request content reject if { req.len lt 4 }",
    ]));
}

#[test]
fn missing_tables_are_errors() {
    // A proxy without a stick-table: `src_conn_rate` has no table to read.
    let text = cfg(&[
        "frontend fe",
        "    bind :80",
        "    acl fast src_conn_rate gt 10",
        "    tcp-request connection reject if fast",
    ]);
    let e = build_errors(&text);
    assert_eq!(
        e,
        [
            "parsing [t.cfg:3] : error detected while parsing ACL 'fast' : fetch method 'src_conn_rate' : unable to find table 'fe' referenced by arg 1 of sample fetch keyword 'src_conn_rate' in proxy 'fe' in ACL expression 'src_conn_rate'.",
            // As in HAProxy, the ACL that failed is not there for the rule.
            "parsing [t.cfg:4] : error detected while parsing a 'tcp-request connection reject' condition : no such ACL : 'fast'.",
        ]
    );
    let e = build_errors(&http_listen(&[
        "    http-request deny if { sc0_conn_rate(nope) gt 1 }",
    ]));
    assert!(e[0].contains("unable to find table 'nope'"), "{e:?}");
    let e = build_errors(&http_listen(&[
        "    http-request deny if { nbsrv(nope) lt 1 }",
    ]));
    assert!(e[0].contains("unable to find backend 'nope'"), "{e:?}");
    // track-sc with a missing table: RuleSet::build reports it with the
    // line (cfgparse's check reports it too, so build from a lookup that
    // knows no table).
    let c = parsed(&http_listen(&["    tcp-request connection track-sc0 src"]));
    let none = |_: &str| None;
    let e = RuleSet::build(&c, &c.proxies[0], &none).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "parsing [t.cfg:10] : 'tcp-request connection track-sc0' : unable to find table 'px' referenced by track-sc0 in proxy 'px'."
    );
}

// ---------------------------------------------------------------------------
// Scoping (HAProxy 2.6)

#[test]
fn frontend_acls_are_not_visible_in_backends() {
    let e = build_errors(&cfg(&[
        "defaults",
        "    mode http",
        "frontend fe",
        "    bind :80",
        "    acl api path_beg /api",
        "    default_backend be",
        "backend be",
        "    http-request deny if api",
        "    server a 127.0.0.1:80",
    ]));
    assert_eq!(
        e,
        ["parsing [t.cfg:8] : error detected while parsing an 'http-request deny' condition : no such ACL : 'api'."]
    );
}

#[test]
fn named_defaults_acls_serve_only_the_defaults_rules() {
    let text = cfg(&[
        "defaults web",
        "    mode http",
        "    acl blocked src 203.0.113.0/24",
        "    http-request deny if blocked",
        "frontend fe from web",
        "    bind :80",
        "    acl api path_beg /api",
        "    http-request set-header X-Api 1 if api",
        "    default_backend be",
        // Frontends and backends may not share a defaults section that
        // holds rules (HAProxy 2.6): the backend uses another one.
        "defaults plain",
        "    mode http",
        "backend be from plain",
        "    server a 127.0.0.1:80",
    ]);
    let rs = rulesets(&text);
    let fe = &rs[0];
    assert_eq!(
        fe.http_req.len(),
        2,
        "the defaults' rule first, then the frontend's"
    );
    assert!(matches!(fe.http_req[0].action, HttpReqAction::Deny(_)));
    assert!(fe.acls.contains_key("api"));
    assert!(
        !fe.acls.contains_key("blocked"),
        "the defaults' ACL is not the frontend's"
    );
    let mut r = Req::http("GET", "/api", &[]);
    r.src = Some("203.0.113.5".parse().unwrap());
    assert!(fe.http_req[0].cond.as_ref().unwrap().matches(&mut r));
    assert_eq!(
        rs[1].http_req.len(),
        0,
        "a backend of another defaults section runs none of its rules"
    );
    // The frontend's own rules cannot name the defaults' ACL.
    let text = cfg(&[
        "defaults web",
        "    mode http",
        "    acl blocked src 203.0.113.0/24",
        "frontend fe from web",
        "    bind :80",
        "    http-request deny if blocked",
    ]);
    let e = build_errors(&text);
    assert_eq!(
        e,
        ["parsing [t.cfg:6] : error detected while parsing an 'http-request deny' condition : no such ACL : 'blocked'."]
    );
}

// ---------------------------------------------------------------------------
// The shipped examples

#[test]
fn example_configs_build() {
    let examples: &[(&str, &str)] = &[
        ("http-lb.cfg", include_str!("../../examples/http-lb.cfg")),
        ("tcp-lb.cfg", include_str!("../../examples/tcp-lb.cfg")),
        (
            "peers-mesh.cfg",
            include_str!("../../examples/peers-mesh.cfg"),
        ),
        (
            "peers-mesh-2x.cfg",
            include_str!("../../examples/peers-mesh-2x.cfg"),
        ),
        (
            "quickstart.cfg",
            include_str!("../../examples/quickstart.cfg"),
        ),
    ];
    for (name, text) in examples {
        let c = match parse(name, text, ParseOptions::new("node1")) {
            Ok(p) => p.config,
            Err(e) => panic!("{name}: {e}"),
        };
        let tables = table_index(&c);
        let sets = build_all(&c, &tables).unwrap_or_else(|es| {
            panic!(
                "{name}:\n{}",
                es.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert_eq!(sets.len(), c.proxies.len(), "{name}");
        for s in &sets {
            assert!(s.warnings.is_empty(), "{name}: {:?}", s.warnings);
        }
    }
}

#[test]
fn example_rules_mean_what_they_say() {
    let c = parse(
        "http-lb.cfg",
        include_str!("../../examples/http-lb.cfg"),
        ParseOptions::new("n"),
    )
    .unwrap()
    .config;
    let tables = table_index(&c);
    let sets = build_all(&c, &tables).unwrap();
    let fe = &sets[0];
    // acl abuser sc_http_req_rate(0) gt 50 / http-request deny deny_status 429 if abuser
    let mut r = Req::http("GET", "/", &[("Host", "API.Example.com")]);
    r.counters.insert((0, DataType::HTTP_REQ_RATE), 51);
    assert!(matches!(fe.http_req[1].action, HttpReqAction::Deny(ref rep) if rep.status == 429));
    assert_eq!(fe.http_req[1].test(&mut r), AclTest::Pass);
    assert!(
        fe.switching[0].cond.as_ref().unwrap().matches(&mut r),
        "host_api, -i"
    );
    let mut r = Req::http("GET", "/images/a.png", &[]);
    assert!(
        fe.switching[1].cond.as_ref().unwrap().matches(&mut r),
        "is_static"
    );
    // backend be_static: set-path %[path,regsub(^/static/,/)]
    let st = sets.iter().find(|s| s.proxy == "be_static").unwrap();
    let HttpReqAction::SetPath(lf) = &st.http_req[0].action else {
        panic!()
    };
    let mut r = Req::http("GET", "/static/js/app.js", &[]);
    assert_eq!(lf.render(&mut r), b"/js/app.js");
    // tcp-lb: tcp-request content reject unless { req.len gt 0 }
    let c = parse(
        "tcp-lb.cfg",
        include_str!("../../examples/tcp-lb.cfg"),
        ParseOptions::new("n"),
    )
    .unwrap()
    .config;
    let tables = table_index(&c);
    let sets = build_all(&c, &tables).unwrap();
    let redis = sets.iter().find(|s| s.proxy == "redis").unwrap();
    assert!(matches!(redis.tcp_req_cont[0].action, TcpAction::Reject));
    let mut r = Req::http("", "", &[]);
    r.partial = true;
    assert_eq!(
        redis.tcp_req_cont[0].test(&mut r),
        AclTest::Miss,
        "wait for data"
    );
}

#[test]
fn log_format_values_keep_literals_and_expressions() {
    let lf = LogFormat::parse("%[src] - %{+Q}[path] %% %ci", &ParseCtx::detached()).unwrap();
    assert_eq!(lf.nodes.len(), 5);
    assert!(matches!(&lf.nodes[1], LfNode::Lit(s) if s == " - "));
    assert!(matches!(&lf.nodes[3], LfNode::Lit(s) if s == " % "));
    let mut r = Req::http("GET", "/p", &[]);
    assert_eq!(lf.render(&mut r), b"192.0.2.10 - /p % 192.0.2.10");
}

/// The arguments a keyword needs to parse on its own.
fn with_args(kw: &str) -> String {
    let array = ["get_gpt", "get_gpc", "gpc_rate", "inc_gpc", "clr_gpc"]
        .iter()
        .any(|a| kw.ends_with(a));
    let sc_arg = kw.starts_with("sc_");
    match kw {
        "var" => "var(txn.x)".into(),
        "req.payload" | "res.payload" => format!("{kw}(0,4)"),
        "int" | "bool" => format!("{kw}(1)"),
        "str" => "str(a)".into(),
        "bin" => "bin(0a)".into(),
        "capture.req.hdr" | "capture.res.hdr" => format!("{kw}(0)"),
        "http_auth" | "http_auth_group" => format!("{kw}(L)"),
        "ipv4" => "ipv4(10.0.0.1)".into(),
        "ipv6" => "ipv6(::1)".into(),
        _ if array && sc_arg => format!("{kw}(3,1)"),
        _ if array => format!("{kw}(3)"),
        _ if sc_arg => format!("{kw}(1)"),
        _ => kw.to_string(),
    }
}

#[test]
fn every_fetch_keyword_parses_and_reaches_the_context() {
    use sluice_core::sample::{counter_keywords, fetch_keywords, MapCtx};
    let ctx = ParseCtx::detached();
    let all: Vec<String> = fetch_keywords()
        .map(str::to_string)
        .chain(counter_keywords())
        .collect();
    assert!(all.len() > 150, "{}", all.len());
    for kw in &all {
        let text = with_args(kw);
        let e = SampleExpr::parse(&text, &ctx).unwrap_or_else(|err| panic!("{text}: {err}"));
        let mut m = MapCtx::new();
        let constant = matches!(e.fetch.kind, FetchKind::Const(_));
        m.set(&MapCtx::key(&e.fetch), vec![Sample::Int(7)]);
        let v = e.eval(&mut m);
        if constant {
            assert_eq!(m.fetches, 0, "{text}");
            assert!(v.is_some(), "{text}");
        } else {
            assert_eq!(m.fetches, 1, "{text}");
            assert!(v.is_some(), "{text} -> {:?}", MapCtx::key(&e.fetch));
        }
        // Every fetch is usable in an ACL, with the method its type implies
        // or an explicit one.
        let acl = [text.clone(), "-m".into(), "found".into()];
        let x = parse_acl_expr(&acl, &ctx).unwrap_or_else(|err| panic!("{text}: {err}"));
        // An ACL keyword names its fetch by the canonical keyword
        // (`req_ver` is `req.ver`): the context goes by the kind.
        assert_eq!(x.expr.expr.fetch.kind, e.fetch.kind, "{text}");
        m.set(&MapCtx::key(&x.expr.expr.fetch), vec![Sample::Int(7)]);
        assert!(x.expr.exec(&mut m) == AclTest::Pass, "{text}");
    }
    // The counter family: the data type and counter come from the name.
    let e = SampleExpr::parse("sc1_bytes_out_rate", &ctx).unwrap();
    assert_eq!(
        e.fetch.kind,
        FetchKind::StkCtr {
            ctr: 1,
            data: DataType::BYTES_OUT_RATE
        }
    );
    let e = SampleExpr::parse("sc_kbytes_in(2)", &ctx).unwrap();
    assert_eq!(
        e.fetch.kind,
        FetchKind::StkCtrOp {
            ctr: 2,
            op: CtrOp::Kbytes(DataType::BYTES_IN_CNT)
        }
    );
    let e = SampleExpr::parse("src_clr_gpc(1)", &ctx).unwrap();
    assert_eq!(
        e.fetch.kind,
        FetchKind::SrcTableOp {
            op: CtrOp::Clr(DataType::GPC)
        }
    );
    assert_eq!(e.fetch.int_arg(0), Some(1));
    assert!(SampleExpr::parse("src_get_gpt(100)", &ctx)
        .unwrap_err()
        .contains("invalid array index 100"));
}

#[test]
fn match_methods_by_name() {
    for m in [
        "found", "bool", "int", "ip", "bin", "len", "str", "beg", "sub", "dir", "dom", "end", "reg",
    ] {
        assert_eq!(MatchMethod::from_name(m).unwrap().name(), m);
    }
    assert!(MatchMethod::from_name("regex").is_none());
}

// ---------------------------------------------------------------------------
// No panic on any text

const VOCAB: &[&str] = &[
    "src",
    "path",
    "path_beg",
    "hdr(host)",
    "hdr_dom(host,2)",
    "sc0_conn_rate",
    "sc_get_gpc(1,0)",
    "src_conn_rate(t)",
    "var(txn.x)",
    "req.hdr(x),lower",
    "src,ipmask(24)",
    "req.len",
    "-i",
    "-m",
    "-n",
    "-u",
    "-f",
    "--",
    "reg",
    "int",
    "found",
    "bool",
    "beg",
    "dom",
    "gt",
    "lt",
    "ne",
    "eq",
    "10:20",
    ":5",
    "5:",
    "10-20",
    "1.2.3.4/8",
    "::1/64",
    "{",
    "}",
    "!",
    "!!",
    "||",
    "or",
    "if",
    "unless",
    "a",
    "b",
    "TRUE",
    "LOCALHOST",
    "METH_GET",
    "(",
    ")",
    ",",
    "%[",
    "]",
    "%",
    "%{",
    "track-sc0",
    "table",
    "deny",
    "deny_status",
    "429",
    "return",
    "status",
    "string",
    "lf-string",
    "content-type",
    "hdr",
    "redirect",
    "location",
    "code",
    "set-header",
    "set-var(txn.y)",
    "sc-inc-gpc0(0)",
    "sc-set-gpt0(1)",
    "accept",
    "reject",
    "expect-proxy",
    "layer4",
];

fn word_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(VOCAB).prop_map(str::to_string),
        1 => "[a-z_.(),:%\\[\\]{}!|'\"\\\\0-9/-]{0,12}",
        1 => any::<String>(),
    ]
}

fn words_strategy() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(word_strategy(), 0..10)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_words_never_panics(w in words_strategy(), c in words_strategy(), neg in any::<bool>()) {
        let ctx = ParseCtx::detached();
        let _ = parse_acl_expr(&w, &ctx);
        for word in &w {
            let _ = SampleExpr::parse(word, &ctx);
            let _ = SampleExpr::parse_prefix(word, &ctx);
            let _ = LogFormat::parse(word, &ctx);
        }
        let joined = w.join("");
        let _ = SampleExpr::parse(&joined, &ctx);
        let _ = LogFormat::parse(&joined, &ctx);
        let mut scope = AclScope::new();
        let mut warns = Vec::new();
        if let Ok(cond) = Condition::parse(&c, neg, &mut scope, ("t.cfg", 1), &ctx, &mut warns) {
            let mut r = Req::http("GET", "/", &[("Host", "x")]);
            let _ = cond.test(&mut r);
        }
        // Whole rule sets out of arbitrary lines of every kind.
        let mut px = Proxy::new(ProxyKind::Listen, "px", Place::default());
        let line = |kw: &str, words: Vec<String>, cond: Option<Vec<String>>| RuleLine {
            file: "t.cfg".into(),
            line: 1,
            keyword: kw.into(),
            words,
            cond: cond.map(|words| sluice_core::cfgparse::Cond { negate: neg, words }),
        };
        px.acls.push(line("acl", w.clone(), None));
        px.tcp_request_connection.push(line("tcp-request connection", w.clone(), Some(c.clone())));
        px.tcp_request_content.push(line("tcp-request content", w.clone(), None));
        px.tcp_response_content.push(line("tcp-response content", w.clone(), None));
        px.http_request.push(line("http-request", w.clone(), Some(c.clone())));
        px.http_response.push(line("http-response", w.clone(), None));
        px.http_after_response.push(line("http-after-response", w.clone(), None));
        let cfg = Config::default();
        let tables = |n: &str| (n == "px" || n == "t").then_some(TableId(0));
        if let Ok(rs) = RuleSet::build(&cfg, &px, &tables) {
            let mut r = Req::http("GET", "/", &[]);
            for rule in &rs.http_req {
                let _ = rule.test(&mut r);
            }
        }
    }

    #[test]
    fn converters_never_panic_on_any_argument(
        i in any::<i64>(),
        j in any::<i64>(),
        k in -3i64..4,
        text in "[a-z/.,]{0,12}",
        op in proptest::sample::select(&["add", "sub", "mul", "div", "mod", "and", "or", "xor"][..]),
    ) {
        let ctx = ParseCtx::detached();
        let exprs = [
            format!("int({i}),{op}({j})"),
            format!("int({i}),{op}({k}),neg,bool"),
            format!("str('{text}'),field({i},/.,{j})"),
            format!("str('{text}'),word({k},/.,{k})"),
            format!("str('{text}'),field({k},/.,{j})"),
            format!("str('{text}'),regsub(/,x,g),length"),
            format!("str('{text}'),regsub('',-),upper"),
            format!("int({i}),ipmask({}),crc32(1)", k.rem_euclid(33)),
            format!("int({i}),hex,lower"),
            format!("str('{text}'),be2dec(.,{},{})", k.rem_euclid(8) + 1, k.rem_euclid(2)),
            format!("int({i}),be2hex(:,{},{})", k.rem_euclid(8) + 1, k.rem_euclid(2)),
            format!("str('{text}'),b64dec,ub64enc,ub64dec,base64,url_enc,url_dec"),
            format!("str('{text}'),url_dec({k}),sha2,hmac(sha1,),secure_memcmp(txn.x)"),
            format!("int({i}),iif('{text}',x),concat(,txn.x,'{text}'),add_item(',',txn.x)"),
            format!("str('{text}'),crc32c({k}),digest(sha512),hex"),
            format!("bin({:016x}),hex", i.unsigned_abs()),
            format!("str('{text}'),bytes({i},{j}),strcmp(txn.x),bytes({k},{k}),strcmp(txn.x)"),
        ];
        let mut r = Req::http("GET", "/", &[]);
        for e in &exprs {
            let e = SampleExpr::parse(e, &ctx).unwrap_or_else(|err| panic!("{e}: {err}"));
            let _ = e.eval(&mut r);
        }
    }

    #[test]
    fn casts_never_panic(i in any::<i64>(), s in proptest::collection::vec(any::<u8>(), 0..20)) {
        use sluice_core::sample::SmpType::*;
        for t in [Any, Bool, Int, Addr, Ipv4, Ipv6, Str, Bin] {
            let _ = Sample::Int(i).cast(t);
            let _ = Sample::Str(s.clone()).cast(t);
            let _ = Sample::Bin(s.clone()).cast(t);
        }
    }
}
