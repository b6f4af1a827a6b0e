//! Building rules from configuration words: HAProxy's rule keyword
//! parsers (`tcp_parse_request_rule`, `parse_http_req_cond`,
//! `parse_http_res_cond`, the `action_kw` parsers of `http_act.c` and
//! `tcp_act.c`), the `use_backend`/`use-server`/`stick` builders of
//! `cfgparse.c`, and `parse_logformat_string` (`log.c`).

use super::*;
use crate::acl::{AclScope, Condition};
use crate::cfgparse::{Cond, Config, Diagnostic, Proxy, RuleLine, StickKind};
use crate::sample::{FetchKind, ParseCtx, Regex, SampleExpr, VarCond, VarName, MAX_SESS_STKCTR};
use crate::stick_table::{DataType, TableId};

/// Log-format variables HAProxy 2.6 knows (`logformat_keywords`).
const LOG_VARS: &[&str] = &[
    "o", "B", "CC", "CS", "H", "HM", "HP", "HPO", "HQ", "HU", "HV", "ID", "ST", "T", "Ta", "Tc",
    "Td", "Th", "Ti", "Tq", "TR", "Tr", "Ts", "Tt", "Tu", "Tw", "U", "ac", "b", "bc", "bi", "bp",
    "bq", "ci", "cp", "f", "fc", "fi", "fp", "ft", "hr", "hrl", "hs", "hsl", "lc", "ms", "pid",
    "r", "rc", "rt", "s", "sc", "si", "sp", "sq", "sslc", "sslv", "t", "tr", "trg", "trl", "ts",
    "tsc",
];

impl LogFormat {
    /// Parses a log-format string: `%[expr]`, `%{flags}[expr]`, `%var`,
    /// `%{flags}var`, `%%` for a `%`, anything else literal.
    pub fn parse(text: &str, ctx: &ParseCtx<'_>) -> Result<LogFormat, String> {
        let b = text.as_bytes();
        let mut nodes = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while let Some(pos) = text[i..].find('%') {
            lit.push_str(&text[i..i + pos]);
            i += pos + 1;
            if b.get(i) == Some(&b'%') {
                lit.push('%');
                i += 1;
                continue;
            }
            let mut flags = String::new();
            if b.get(i) == Some(&b'{') {
                let close = text[i..].find('}').ok_or("missing '}' after '%{'")?;
                flags = text[i + 1..i + close].to_string();
                i += close + 1;
            }
            let (expr, used) = lf_item(&text[i..], ctx)?;
            i += used;
            if !lit.is_empty() {
                nodes.push(LfNode::Lit(core::mem::take(&mut lit)));
            }
            nodes.push(LfNode::Expr { expr, flags });
        }
        lit.push_str(&text[i..]);
        if !lit.is_empty() {
            nodes.push(LfNode::Lit(lit));
        }
        Ok(LogFormat { nodes })
    }
}

/// One `%...` item after the flags: `[expr]` or a variable name.
fn lf_item(s: &str, ctx: &ParseCtx<'_>) -> Result<(SampleExpr, usize), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let (e, n) = SampleExpr::parse_prefix(inner, ctx)
            .map_err(|e| format!("failed to parse sample expression <{inner}> : {e}"))?;
        if inner.as_bytes().get(n) != Some(&b']') {
            return Err(format!(
                "missing ']' after sample expression '{}'",
                &inner[..n]
            ));
        }
        return Ok((e, n + 2));
    }
    let n = s
        .bytes()
        .position(|c| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    let name = &s[..n];
    if !LOG_VARS.contains(&name) {
        return Err(format!(
            "no such format variable '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
        ));
    }
    let alias = match name {
        "ci" => Some("src"),
        "cp" => Some("src_port"),
        "fi" => Some("dst"),
        "fp" => Some("dst_port"),
        "f" => Some("fe_name"),
        "b" => Some("be_name"),
        "ST" => Some("status"),
        "sslv" => Some("ssl_fc_protocol"),
        "sslc" => Some("ssl_fc_cipher"),
        _ => None,
    };
    let e = match alias {
        Some(a) => SampleExpr::parse(a, ctx)?,
        None => SampleExpr {
            fetch: crate::sample::Fetch::new(FetchKind::LogVar(name.to_string()), name),
            convs: Vec::new(),
            out_type: crate::sample::SmpType::Str,
        },
    };
    Ok((e, n))
}

/// A sample expression that must be usable at `stage`.
fn check_expr(e: &SampleExpr, stage: Stage) -> Result<(), String> {
    let l = e.layer();
    if stage.allows(l) {
        return Ok(());
    }
    Err(format!(
        "fetch method '{}' extracts information from '{}', none of which is available in a {}",
        e.fetch.kw,
        l.describe(),
        stage.name()
    ))
}

/// HAProxy's `acl_cond_conflicts` (error) and `acl_cond_kw_conflicts`
/// (warning) for `cond` at `stage`.
fn check_cond(c: &Condition, stage: Stage, warnings: &mut Vec<String>) -> Result<(), String> {
    for acl in c.acls() {
        let bad: Vec<&str> = acl
            .exprs
            .iter()
            .filter(|e| !stage.allows(e.expr.layer()))
            .map(|e| e.kw.as_str())
            .collect();
        let name = if acl.name.is_empty() {
            "anonymous acl".to_string()
        } else {
            format!("acl '{}'", acl.name)
        };
        if !bad.is_empty() && bad.len() == acl.exprs.len() {
            return Err(format!(
                "{name} will never match because it only involves keywords that are incompatible with '{}'",
                stage.name()
            ));
        }
        if let Some(kw) = bad.first() {
            warnings.push(format!(
                "{name} involves keyword '{kw}' which is incompatible with '{}'",
                stage.name()
            ));
        }
    }
    Ok(())
}

/// A table lookup over a configuration: the index of each table in
/// [`Config::tables`] order (peers-section tables, then proxy tables).
pub fn table_index(cfg: &Config) -> impl Fn(&str) -> Option<TableId> + '_ {
    move |name| {
        cfg.tables()
            .position(|t| t.params.id == name)
            .map(TableId::new)
    }
}

/// The rule sets of every proxy of `cfg`, in order, or every error.
pub fn build_all(
    cfg: &Config,
    tables: &dyn Fn(&str) -> Option<TableId>,
) -> Result<Vec<RuleSet>, Vec<Diagnostic>> {
    let mut sets = Vec::new();
    let mut errors: Vec<Diagnostic> = Vec::new();
    for px in &cfg.proxies {
        match RuleSet::build(cfg, px, tables) {
            Ok(rs) => sets.push(rs),
            Err(es) => {
                // A defaults section's error shows up once per user.
                for e in es {
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(sets)
    } else {
        Err(errors)
    }
}

/// The words of an `http-error` line of proxy `px` (after the keyword)
/// as a reply (HAProxy's `proxy_parse_http_error`), with its warnings.
pub fn http_error_reply(
    cfg: &Config,
    px: &Proxy,
    words: &[String],
    patterns: Option<&crate::pattern::PatLoader>,
) -> Result<(Reply, Vec<String>), String> {
    let backends = |n: &str| cfg.backend(n).is_some();
    let userlists = |n: &str| cfg.userlist_groups(n);
    let tables = table_index(cfg);
    let ctx = ParseCtx {
        proxy: &px.name,
        tables: Some(&tables),
        backends: Some(&backends),
        userlists: Some(&userlists),
        patterns,
        at: None,
    };
    let mut all = vec![String::new()];
    all.extend(words.iter().cloned());
    let mut p = ActParser {
        kw: "http-error",
        words: &all,
        pos: 1,
        stage: Stage::HttpError,
        ctx: &ctx,
        experimental: cfg.global.expose_experimental,
        bufsize: cfg.global.tune_bufsize,
        cfg: Some(cfg),
        warnings: Vec::new(),
    };
    let fix = |e: String| e.replacen("'http-error ' : ", "http-error : ", 1);
    let r = p.reply(0, false).map_err(fix)?;
    if let Some(w) = p.peek() {
        return Err(format!("http-error : unknown keyword '{w}'."));
    }
    Ok((r, p.warnings.into_iter().map(fix).collect()))
}

/// The sections whose rules `px` runs: its `defaults` chain, outermost
/// first, then `px`.
fn section_chain<'a>(cfg: &'a Config, px: &'a Proxy) -> Vec<&'a Proxy> {
    let mut chain = vec![px];
    let mut cur = px;
    while let Some(r) = &cur.from {
        match cfg.defaults.get(r.index) {
            Some(d) if chain.len() <= cfg.defaults.len() => {
                chain.push(d);
                cur = d;
            }
            _ => break,
        }
    }
    chain.reverse();
    chain
}

/// The lines a section adds to what it inherited from `parent`.
fn own<'a>(lines: &'a [RuleLine], parent: Option<&[RuleLine]>) -> &'a [RuleLine] {
    match parent {
        Some(p) if lines.starts_with(p) => &lines[p.len()..],
        _ => lines,
    }
}

/// Collects diagnostics while building.
struct Builder<'a> {
    ctx: ParseCtx<'a>,
    /// `expose-experimental-directives` came first (`attach-srv`).
    experimental: bool,
    /// `tune.bufsize`.
    bufsize: u32,
    cfg: Option<&'a Config>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// Builds the rules of `px`, a proxy of `cfg`. `tables` maps a table
    /// name (`mesh/t`, a proxy name) to its index ([`table_index`]).
    /// Errors carry each line's `file:line`.
    pub fn build(
        cfg: &Config,
        px: &Proxy,
        tables: &dyn Fn(&str) -> Option<TableId>,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        RuleSet::build_with(cfg, px, tables, None)
    }

    /// [`RuleSet::build`], loading pattern files (maps, `acl -f`) through
    /// `patterns`.
    pub fn build_with(
        cfg: &Config,
        px: &Proxy,
        tables: &dyn Fn(&str) -> Option<TableId>,
        patterns: Option<&crate::pattern::PatLoader>,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let backends = |n: &str| cfg.backend(n).is_some();
        let userlists = |n: &str| cfg.userlist_groups(n);
        let mut b = Builder {
            ctx: ParseCtx {
                proxy: &px.name,
                tables: Some(tables),
                backends: Some(&backends),
                userlists: Some(&userlists),
                patterns,
                at: None,
            },
            experimental: cfg.global.expose_experimental,
            bufsize: cfg.global.tune_bufsize,
            cfg: Some(cfg),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let mut rs = RuleSet {
            proxy: px.name.clone(),
            ..RuleSet::default()
        };
        let chain = section_chain(cfg, px);
        let mut scope = AclScope::new();
        for (i, sec) in chain.iter().enumerate() {
            let parent = i.checked_sub(1).map(|j| chain[j]);
            // A defaults section's rules name no proxy of their own: a
            // server argument must name its backend (HAProxy's message).
            b.ctx.proxy = if i + 1 < chain.len() { "" } else { &px.name };
            let pick =
                |f: fn(&Proxy) -> &Vec<RuleLine>| own(f(sec), parent.map(|p| f(p).as_slice()));
            scope = AclScope::build(pick(|p| &p.acls), &b.ctx, &mut b.errors, &mut b.warnings);
            b.tcp(
                pick(|p| &p.tcp_request_connection),
                Stage::TcpConn,
                &mut scope,
                &mut rs.tcp_req_conn,
            );
            b.tcp(
                pick(|p| &p.tcp_request_session),
                Stage::TcpSess,
                &mut scope,
                &mut rs.tcp_req_sess,
            );
            b.tcp(
                pick(|p| &p.tcp_request_content),
                Stage::TcpContent,
                &mut scope,
                &mut rs.tcp_req_cont,
            );
            b.tcp(
                pick(|p| &p.tcp_response_content),
                Stage::TcpResContent,
                &mut scope,
                &mut rs.tcp_res_cont,
            );
            b.http_req(pick(|p| &p.http_request), &mut scope, &mut rs.http_req);
            b.http_res(
                pick(|p| &p.http_response),
                Stage::HttpRes,
                &mut scope,
                &mut rs.http_res,
            );
            b.http_res(
                pick(|p| &p.http_after_response),
                Stage::HttpAfterRes,
                &mut scope,
                &mut rs.http_after_res,
            );
        }
        b.http_req(&px.redirect_rules, &mut scope, &mut rs.redirects);
        b.switching(px, &mut scope, &mut rs.switching);
        b.server_rules(px, &mut scope, &mut rs.server_rules);
        b.persist_rules(px, &mut scope, &mut rs.persist);
        b.monitor_fail(px, &mut scope, &mut rs.monitor_fail);
        b.stats_admin(px, &mut scope, &mut rs.stats_admin);
        b.sticking(px, &mut scope, &mut rs.sticking);
        rs.acls = scope
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect();
        for r in &rs.tcp_req_sess {
            if let TcpAction::AttachSrv(a) = &r.action {
                if let Err(m) = check_attach_srv(cfg, px, a) {
                    b.errors
                        .push(Diagnostic::new(r.file.clone(), r.line, "tcp-request", m));
                }
            }
        }
        if b.errors.is_empty() {
            rs.warnings = b.warnings;
            Ok(rs)
        } else {
            Err(b.errors)
        }
    }
}

/// What `attach-srv` names, checked as HAProxy's `tcp_check_attach_srv`
/// does (its messages): an HTTP proxy, an existing backend and server,
/// a `name` argument exactly when the server has `pool-conn-name`. Sluice
/// also requires an `rhttp@` server (HAProxy would put the connection in
/// the idle pool of any server, where nothing but this rule fills it).
fn check_attach_srv(cfg: &Config, px: &Proxy, a: &AttachSrv) -> Result<(), String> {
    let (be, sv) = (&a.backend, &a.server);
    if px.mode != crate::cfgparse::Mode::Http {
        return Err("attach-srv rule requires HTTP proxy mode".into());
    }
    if sv.is_empty() {
        return Err(format!("attach-srv rule: invalid server name '{be}'"));
    }
    let Some(bp) = cfg.backend(be) else {
        return Err(format!("attach-srv rule: no such backend '{be}/{sv}'"));
    };
    let Some(srv) = bp.servers.iter().find(|s| &s.name == sv) else {
        return Err(format!("attach-srv rule: no such server '{be}/{sv}'"));
    };
    if !matches!(srv.addr, crate::cfgparse::Addr::Rhttp(_)) {
        return Err(format!(
            "attach-srv rule: server '{be}/{sv}' has no 'rhttp@' address (Sluice attaches reversed connections to reverse HTTP servers only)"
        ));
    }
    match (a.name.is_some(), srv.opts.pool_conn_name.is_some()) {
        (true, false) => Err(format!(
            "attach-srv rule has a name argument while server '{be}/{sv}' does not use pool-conn-name; either reconfigure the server or remove the name argument from this attach-srv rule"
        )),
        (false, true) => Err(format!(
            "attach-srv rule has no name argument while server '{be}/{sv}' uses pool-conn-name; either add a name argument to the attach-srv rule or reconfigure the server"
        )),
        _ => Ok(()),
    }
}

/// The action word split into its name and its parenthesised argument:
/// `set-var(txn.x)` is `("set-var", Some("txn.x"))`.
fn split_action(w: &str) -> (&str, Option<&str>) {
    match w.split_once('(') {
        Some((name, rest)) => (name, Some(rest.strip_suffix(')').unwrap_or(rest))),
        None => (w, None),
    }
}

impl Builder<'_> {
    fn err(&mut self, l: &RuleLine, msg: String) {
        self.errors.push(Diagnostic::new(
            l.file.clone(),
            l.line,
            l.keyword.clone(),
            msg,
        ));
    }

    fn warn(&mut self, l: &RuleLine, msg: String) {
        self.warnings.push(Diagnostic::new(
            l.file.clone(),
            l.line,
            l.keyword.clone(),
            msg,
        ));
    }

    /// The condition of a rule line, checked for `stage`.
    fn cond(
        &mut self,
        l: &RuleLine,
        c: Option<&Cond>,
        label: &str,
        stage: Stage,
        scope: &mut AclScope,
    ) -> Result<Option<Condition>, ()> {
        let Some(c) = c else { return Ok(None) };
        let mut warns = Vec::new();
        let ctx = ParseCtx {
            at: Some((&l.file, l.line)),
            ..self.ctx
        };
        let r = Condition::parse(
            &c.words,
            c.negate,
            scope,
            (&l.file, l.line),
            &ctx,
            &mut warns,
        )
        .and_then(|cond| check_cond(&cond, stage, &mut warns).map(|()| cond));
        for w in warns {
            self.warn(l, w);
        }
        match r {
            Ok(cond) => Ok(Some(cond)),
            Err(e) => {
                self.err(
                    l,
                    format!("error detected while parsing {label} condition : {e}."),
                );
                Err(())
            }
        }
    }

    fn rule<A>(
        &mut self,
        l: &RuleLine,
        stage: Stage,
        scope: &mut AclScope,
        parse: impl FnOnce(&mut ActParser<'_, '_>) -> Result<A, String>,
    ) -> Option<Rule<A>> {
        let action = l.words.first().map(String::as_str).unwrap_or("");
        let ctx = ParseCtx {
            at: Some((&l.file, l.line)),
            ..self.ctx
        };
        let (parsed, warns) = {
            let mut p = ActParser {
                kw: &l.keyword,
                words: &l.words,
                pos: 1,
                stage,
                ctx: &ctx,
                experimental: self.experimental,
                bufsize: self.bufsize,
                cfg: self.cfg,
                warnings: Vec::new(),
            };
            let r = parse(&mut p).and_then(|a| p.finish().map(|()| a));
            (r, p.warnings)
        };
        for w in warns {
            self.warn(l, w);
        }
        let article = if l.keyword.starts_with('h') {
            "an"
        } else {
            "a"
        };
        let label = format!("{article} '{} {}'", l.keyword, split_action(action).0);
        let cond = self.cond(l, l.cond.as_ref(), &label, stage, scope);
        match (parsed, cond) {
            (Ok(action), Ok(cond)) => Some(Rule {
                file: l.file.clone(),
                line: l.line,
                action,
                cond,
            }),
            (Err(e), _) => {
                self.err(l, e);
                None
            }
            (_, Err(())) => None,
        }
    }

    fn tcp(
        &mut self,
        lines: &[RuleLine],
        stage: Stage,
        scope: &mut AclScope,
        out: &mut Vec<Rule<TcpAction>>,
    ) {
        for l in lines {
            out.extend(self.rule(l, stage, scope, |p| p.tcp_action()));
        }
    }

    fn http_req(
        &mut self,
        lines: &[RuleLine],
        scope: &mut AclScope,
        out: &mut Vec<Rule<HttpReqAction>>,
    ) {
        for l in lines {
            out.extend(self.rule(l, Stage::HttpReq, scope, |p| p.http_req_action()));
        }
    }

    fn http_res(
        &mut self,
        lines: &[RuleLine],
        stage: Stage,
        scope: &mut AclScope,
        out: &mut Vec<Rule<HttpResAction>>,
    ) {
        for l in lines {
            out.extend(self.rule(l, stage, scope, |p| p.http_res_action()));
        }
    }

    fn line_of(place: &crate::cfgparse::Place, keyword: &str) -> RuleLine {
        RuleLine {
            file: place.file.clone(),
            line: place.line,
            keyword: keyword.to_string(),
            words: Vec::new(),
            cond: None,
        }
    }

    fn switching(&mut self, px: &Proxy, scope: &mut AclScope, out: &mut Vec<SwitchRule>) {
        for ub in &px.use_backends {
            let l = Self::line_of(&ub.place, "use_backend");
            let backend = if ub.is_dynamic() {
                let r = LogFormat::parse(
                    &ub.name,
                    &ParseCtx {
                        at: Some((&l.file, l.line)),
                        ..self.ctx
                    },
                )
                .and_then(|lf| {
                    lf.exprs()
                        .try_for_each(|e| check_expr(e, Stage::Switching))?;
                    Ok(lf)
                });
                match r {
                    Ok(lf) => BackendTarget::Dynamic(lf),
                    Err(e) => {
                        self.err(&l, format!("use_backend : {e}."));
                        continue;
                    }
                }
            } else {
                BackendTarget::Static(ub.name.clone())
            };
            let Ok(cond) = self.cond(
                &l,
                ub.cond.as_ref(),
                "a switching rule",
                Stage::Switching,
                scope,
            ) else {
                continue;
            };
            out.push(SwitchRule {
                file: l.file,
                line: l.line,
                backend,
                cond,
            });
        }
    }

    fn server_rules(&mut self, px: &Proxy, scope: &mut AclScope, out: &mut Vec<ServerRule>) {
        for us in &px.use_servers {
            let l = Self::line_of(&us.place, "use-server");
            let server = if us.is_dynamic() {
                let r = LogFormat::parse(
                    &us.name,
                    &ParseCtx {
                        at: Some((&l.file, l.line)),
                        ..self.ctx
                    },
                )
                .and_then(|lf| {
                    lf.exprs().try_for_each(|e| check_expr(e, Stage::SetSrv))?;
                    Ok(lf)
                });
                match r {
                    Ok(lf) => BackendTarget::Dynamic(lf),
                    Err(e) => {
                        self.err(&l, format!("use-server : {e}."));
                        continue;
                    }
                }
            } else {
                BackendTarget::Static(us.name.clone())
            };
            let Ok(Some(cond)) =
                self.cond(&l, Some(&us.cond), "a switching rule", Stage::SetSrv, scope)
            else {
                continue;
            };
            out.push(ServerRule {
                file: l.file,
                line: l.line,
                server,
                cond,
            });
        }
    }

    fn monitor_fail(&mut self, px: &Proxy, scope: &mut AclScope, out: &mut Vec<Condition>) {
        for m in &px.monitor_fail {
            let l = Self::line_of(&m.place, "monitor");
            let Ok(Some(cond)) =
                self.cond(&l, Some(&m.cond), "'monitor fail'", Stage::HttpReq, scope)
            else {
                continue;
            };
            out.push(cond);
        }
    }

    fn stats_admin(&mut self, px: &Proxy, scope: &mut AclScope, out: &mut Vec<Condition>) {
        for m in &px.stats_admin {
            let l = Self::line_of(&m.place, "stats");
            let Ok(Some(cond)) =
                self.cond(&l, Some(&m.cond), "'stats admin'", Stage::HttpReq, scope)
            else {
                continue;
            };
            out.push(cond);
        }
    }

    fn persist_rules(&mut self, px: &Proxy, scope: &mut AclScope, out: &mut Vec<PersistRule>) {
        for r in &px.persist_rules {
            let kw = if r.force {
                "force-persist"
            } else {
                "ignore-persist"
            };
            let l = Self::line_of(&r.place, kw);
            let label = format!("a '{kw}' rule");
            let Ok(Some(cond)) = self.cond(&l, Some(&r.cond), &label, Stage::SetSrv, scope) else {
                continue;
            };
            out.push(PersistRule {
                force: r.force,
                cond,
            });
        }
    }

    fn sticking(&mut self, px: &Proxy, scope: &mut AclScope, out: &mut Vec<StickRule>) {
        for r in &px.stick_rules {
            let kind_name = match r.kind {
                StickKind::On => "on",
                StickKind::Match => "match",
                StickKind::StoreRequest => "store-request",
                StickKind::StoreResponse => "store-response",
            };
            let label = format!("stick {kind_name}");
            let l = Self::line_of(&r.place, "stick");
            let stage = match r.kind {
                StickKind::StoreResponse => Stage::StickRes,
                _ => Stage::StickReq,
            };
            let parsed = SampleExpr::parse(
                &r.expr,
                &ParseCtx {
                    at: Some((&l.file, l.line)),
                    ..self.ctx
                },
            )
            .and_then(|e| check_expr(&e, stage).map(|()| e))
            .and_then(|e| {
                let t = self
                    .ctx
                    .table(r.table.as_deref().unwrap_or(""), &format!("'{label}'"))?;
                Ok((e, t))
            });
            let cond = self.cond(&l, r.cond.as_ref(), &format!("a '{label}'"), stage, scope);
            match (parsed, cond) {
                (Ok((expr, table)), Ok(cond)) => out.push(StickRule {
                    file: l.file,
                    line: l.line,
                    kind: r.kind,
                    expr,
                    table,
                    cond,
                }),
                (Err(e), _) => self.err(&l, format!("'{label}' : {e}.")),
                (_, Err(())) => {}
            }
        }
    }
}

/// Parses one rule's action words (`words[0]` is the action).
struct ActParser<'w, 'c> {
    /// `http-request`, `tcp-request content`, ...
    kw: &'w str,
    words: &'w [String],
    /// The next word to read.
    pos: usize,
    stage: Stage,
    ctx: &'w ParseCtx<'c>,
    /// `expose-experimental-directives` came first.
    experimental: bool,
    /// `tune.bufsize`: the largest `file` payload.
    bufsize: u32,
    /// The configuration (`http-errors` sections for `errorfiles` in a
    /// reply); `None` outside one.
    cfg: Option<&'w Config>,
    warnings: Vec<String>,
}

const TCP_REQ_ACTIONS: &[&str] = &[
    "accept",
    "reject",
    "expect-proxy",
    "silent-drop",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-inc-gpc",
    "sc-set-gpt0",
    "sc-set-gpt",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "set-src",
    "set-dst",
    "set-src-port",
    "set-dst-port",
    "set-log-level",
];

const TCP_RES_ACTIONS: &[&str] = &[
    "accept",
    "reject",
    "close",
    "silent-drop",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-inc-gpc",
    "sc-set-gpt0",
    "sc-set-gpt",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "set-log-level",
];

const HTTP_REQ_ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "tarpit",
    "return",
    "reject",
    "auth",
    "redirect",
    "set-header",
    "add-header",
    "del-header",
    "set-path",
    "set-pathq",
    "set-query",
    "set-uri",
    "set-method",
    "replace-uri",
    "replace-path",
    "replace-pathq",
    "replace-header",
    "replace-value",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-inc-gpc",
    "sc-set-gpt0",
    "sc-set-gpt",
    "set-src",
    "set-dst",
    "set-src-port",
    "set-dst-port",
    "silent-drop",
    "capture",
    "use-service",
    "wait-for-body",
    "disable-l7-retry",
    "set-timeout",
    "set-log-level",
    "strict-mode",
];

const HTTP_RES_ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "return",
    "redirect",
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "replace-value",
    "set-status",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0",
    "sc-inc-gpc1",
    "sc-inc-gpc",
    "sc-set-gpt0",
    "sc-set-gpt",
    "silent-drop",
    "set-log-level",
    "wait-for-body",
    "strict-mode",
    "capture",
];

const HTTP_AFTER_RES_ACTIONS: &[&str] = &[
    "allow",
    "set-header",
    "add-header",
    "del-header",
    "set-status",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "set-log-level",
    "capture",
];

/// Actions HAProxy 2.6 has that Sluice does not parse yet, for a clearer
/// message than "unknown".
const HAPROXY_ONLY_ACTIONS: &[&str] = &[
    "add-acl",
    "cache-store",
    "cache-use",
    "capture",
    "del-acl",
    "del-map",
    "do-resolve",
    "early-hint",
    "expect-netscaler-cip",
    "normalize-uri",
    "send-spoe-group",
    "set-bandwidth-limit",
    "set-map",
    "set-mark",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "set-tos",
    "switch-mode",
    "wait-for-handshake",
    "sc-add-gpc",
];

/// HAProxy's `http_err_codes`: statuses with a built-in error page.
const ERROR_PAGE_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

impl<'w> ActParser<'w, '_> {
    fn action(&self) -> &'w str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    fn name(&self) -> &'w str {
        split_action(self.action()).0
    }

    fn next(&mut self) -> Option<&'w str> {
        let w = self.words.get(self.pos).map(String::as_str);
        if w.is_some() {
            self.pos += 1;
        }
        w
    }

    fn peek(&self) -> Option<&'w str> {
        self.words.get(self.pos).map(String::as_str)
    }

    /// Nothing may follow the action's arguments.
    fn finish(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(w) => Err(format!(
                "'{} {}' expects either 'if' or 'unless' followed by a condition but found '{w}'.",
                self.kw,
                self.name()
            )),
        }
    }

    fn fail(&self, msg: impl core::fmt::Display) -> String {
        format!("'{} {}' : {msg}.", self.kw, self.name())
    }

    fn unknown(&self, supported: &[&str]) -> String {
        let name = self.name();
        let list = supported
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ");
        if name.is_empty() {
            return format!(
                "'{}' expects {list}, but got '' (missing argument).",
                self.kw
            );
        }
        if HAPROXY_ONLY_ACTIONS.contains(&name) {
            return format!(
                "'{} {name}' is not supported by Sluice here; supported actions: {list}.",
                self.kw
            );
        }
        format!("'{}' expects {list}, but got '{name}'.", self.kw)
    }

    fn expr_word(&mut self, what: &str) -> Result<SampleExpr, String> {
        let Some(w) = self.next() else {
            return Err(self.fail(format!("expects {what}")));
        };
        let w = w.to_string();
        let e = SampleExpr::parse(&w, self.ctx).map_err(|e| self.fail(e))?;
        check_expr(&e, self.stage).map_err(|e| self.fail(e))?;
        Ok(e)
    }

    fn logformat_word(&mut self, what: &str) -> Result<LogFormat, String> {
        let Some(w) = self.next() else {
            return Err(self.fail(format!("expects {what}")));
        };
        let w = w.to_string();
        self.logformat(&w)
    }

    fn logformat(&self, text: &str) -> Result<LogFormat, String> {
        let lf = LogFormat::parse(text, self.ctx).map_err(|e| self.fail(e))?;
        for e in lf.exprs() {
            check_expr(e, self.stage).map_err(|e| self.fail(e))?;
        }
        Ok(lf)
    }

    /// The stick counter of `track-scN` / `sc-...(N)`.
    fn ctr(&self, text: &str) -> Result<u8, String> {
        match text.parse::<u8>() {
            Ok(n) if n < MAX_SESS_STKCTR => Ok(n),
            _ => Err(self.fail(format!(
                "invalid stick table track ID '{text}'. The max allowed ID is {}",
                MAX_SESS_STKCTR - 1
            ))),
        }
    }

    fn track_sc(&mut self, n: &str) -> Result<TrackSc, String> {
        let ctr = self.ctr(n)?;
        let key = self.expr_word("<key> [table <table>]")?;
        let table = if self.peek() == Some("table") {
            self.pos += 1;
            match self.next() {
                Some(t) => t.to_string(),
                None => return Err(self.fail("missing table name after 'table'")),
            }
        } else {
            String::new()
        };
        let what = format!("track-sc{ctr}");
        let table = self.ctx.table(&table, &what).map_err(|e| self.fail(e))?;
        Ok(TrackSc { ctr, key, table })
    }

    /// `sc-inc-gpc0[(N)]`, `sc-inc-gpc1[(N)]`, `sc-inc-gpc(IDX,N)`.
    fn sc_inc(&self, name: &str, arg: Option<&str>) -> Result<ScIncGpc, String> {
        let (data, idx, ctr) = self.sc_args(name, arg, "sc-inc-gpc")?;
        Ok(ScIncGpc { ctr, data, idx })
    }

    /// Shared by the `sc-inc-*` and `sc-set-*` actions: which data type,
    /// array index and counter.
    fn sc_args(
        &self,
        name: &str,
        arg: Option<&str>,
        stem: &str,
    ) -> Result<(DataType, u16, u8), String> {
        let (plain0, plain1, array) = if stem == "sc-inc-gpc" {
            (DataType::GPC0, Some(DataType::GPC1), DataType::GPC)
        } else {
            (DataType::GPT0, None, DataType::GPT)
        };
        let data = match (name.get(stem.len()..), plain1) {
            (Some("0"), _) => plain0,
            (Some("1"), Some(d)) => d,
            _ => array,
        };
        if data != array {
            let ctr = self.ctr(arg.unwrap_or("0"))?;
            return Ok((data, 0, ctr));
        }
        let Some((idx, ctr)) = arg.and_then(|a| a.split_once(',')) else {
            return Err(self.fail(format!("expects {name}(<idx>,<sc-id>)")));
        };
        let idx = idx
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|i| usize::from(*i) < DataType::MAX_ARRAY_LEN)
            .ok_or_else(|| self.fail(format!("invalid array index '{idx}'")))?;
        Ok((data, idx, self.ctr(ctr.trim())?))
    }

    fn sc_set(&mut self, name: &str, arg: Option<&str>) -> Result<ScSetGpt, String> {
        let (data, idx, ctr) = self.sc_args(name, arg, "sc-set-gpt")?;
        let Some(v) = self.peek().map(str::to_string) else {
            return Err(self.fail("expects an integer or an expression"));
        };
        let value = match v.parse::<i64>() {
            Ok(i) => {
                self.pos += 1;
                IntOrExpr::Int(i)
            }
            Err(_) => IntOrExpr::Expr(self.expr_word("an integer or an expression")?),
        };
        Ok(ScSetGpt {
            ctr,
            data,
            idx,
            value,
        })
    }

    fn var_arg(&self, arg: Option<&str>) -> Result<VarName, String> {
        let Some(a) = arg.filter(|a| !a.is_empty()) else {
            return Err(self.fail("expects a variable name between parentheses"));
        };
        VarName::parse(a).map_err(|e| self.fail(e))
    }

    /// `NAME[,COND...]` of `set-var(...)` (HAProxy's `parse_store`).
    fn var_cond_arg(&self, arg: Option<&str>) -> Result<(VarName, VarCond), String> {
        let (name, cond) = VarCond::split(arg.unwrap_or("")).map_err(|e| self.fail(e))?;
        Ok((self.var_arg(Some(name))?, cond))
    }

    /// Actions several rule sets share. `None`: not one of them.
    fn common(&mut self) -> Option<Result<Common, String>> {
        let (name, arg) = split_action(self.action());
        let (name, arg) = (name.to_string(), arg.map(str::to_string));
        let arg = arg.as_deref();
        Some(match name.as_str() {
            "silent-drop" => Ok(Common::SilentDrop),
            "set-var" => self.var_cond_arg(arg).and_then(|(var, cond)| {
                let expr = self.expr_word("a sample expression")?;
                Ok(Common::SetVar(SetVar {
                    var,
                    value: VarValue::Expr(expr),
                    cond,
                }))
            }),
            "set-var-fmt" => self.var_cond_arg(arg).and_then(|(var, cond)| {
                let fmt = self.logformat_word("a format string")?;
                Ok(Common::SetVar(SetVar {
                    var,
                    value: VarValue::Fmt(fmt),
                    cond,
                }))
            }),
            "unset-var" if arg.is_some_and(|a| a.contains(',')) => Err(self.fail(
                "unset-var does not expect parameters after the variable name. \
                 Only \"set-var\" and \"set-var-fmt\" manage conditions",
            )),
            "unset-var" => self.var_arg(arg).map(Common::UnsetVar),
            n if n.starts_with("track-sc") && self.stage != Stage::TcpResContent => {
                self.track_sc(&n["track-sc".len()..]).map(Common::TrackSc)
            }
            n @ ("sc-inc-gpc0" | "sc-inc-gpc1" | "sc-inc-gpc") => {
                self.sc_inc(n, arg).map(Common::ScIncGpc)
            }
            n @ ("sc-set-gpt0" | "sc-set-gpt") => self.sc_set(n, arg).map(Common::ScSetGpt),
            _ => return None,
        })
    }

    fn tcp_action(&mut self) -> Result<TcpAction, String> {
        let res = self.stage == Stage::TcpResContent;
        let supported: Vec<&str> = if res {
            TCP_RES_ACTIONS.to_vec()
        } else {
            TCP_REQ_ACTIONS
                .iter()
                .copied()
                .filter(|a| *a != "expect-proxy" || self.stage == Stage::TcpConn)
                .filter(|a| *a != "set-log-level" || self.stage == Stage::TcpContent)
                .chain((self.stage == Stage::TcpSess).then_some("attach-srv"))
                .collect()
        };
        if let Some(c) = self.common() {
            return Ok(match c? {
                Common::SilentDrop => TcpAction::SilentDrop,
                Common::SetVar(v) => TcpAction::SetVar(v),
                Common::UnsetVar(v) => TcpAction::UnsetVar(v),
                Common::TrackSc(t) => TcpAction::TrackSc(t),
                Common::ScIncGpc(s) => TcpAction::ScIncGpc(s),
                Common::ScSetGpt(s) => TcpAction::ScSetGpt(s),
            });
        }
        let name = self.name().to_string();
        Ok(match name.as_str() {
            "accept" => TcpAction::Accept,
            "reject" => TcpAction::Reject,
            "close" if res => TcpAction::Close,
            "expect-proxy" if self.stage == Stage::TcpConn => {
                if self.next() != Some("layer4") {
                    return Err(self.fail("only 'layer4' is supported"));
                }
                TcpAction::ExpectProxy
            }
            "set-src" if !res => TcpAction::SetSrc(self.expr_word("a sample expression")?),
            "set-dst" if !res => TcpAction::SetDst(self.expr_word("a sample expression")?),
            "set-src-port" if !res => TcpAction::SetSrcPort(self.expr_word("a sample expression")?),
            "set-dst-port" if !res => TcpAction::SetDstPort(self.expr_word("a sample expression")?),
            "attach-srv" if self.stage == Stage::TcpSess => self.attach_srv()?,
            "set-log-level" if matches!(self.stage, Stage::TcpContent | Stage::TcpResContent) => {
                TcpAction::SetLogLevel(self.log_level()?)
            }
            _ => return Err(self.unknown(&supported)),
        })
    }

    /// `set-log-level LEVEL|silent` (HAProxy's `stream_parse_set_log_level`).
    /// `strict-mode on|off` (HAProxy's `parse_http_strict_mode`).
    fn strict_mode(&mut self) -> Result<bool, String> {
        match self.next() {
            Some(w) if w.eq_ignore_ascii_case("on") => Ok(true),
            Some(w) if w.eq_ignore_ascii_case("off") => Ok(false),
            Some(w) => {
                let w = w.to_string();
                Err(self.fail(format!(
                    "Unexpected value '{w}'. Only 'on' and 'off' are supported"
                )))
            }
            None => Err(self.fail("expects exactly 1 arguments")),
        }
    }

    fn log_level(&mut self) -> Result<crate::rules::LogLevelSet, String> {
        use crate::sock::LogLevel as L;
        let word = self.next();
        let bad = || self.fail("expects exactly 1 argument (log level name or 'silent')");
        let level = match word {
            Some("silent") => return Ok(crate::rules::LogLevelSet::Silent),
            Some("emerg") => L::Emerg,
            Some("alert") => L::Alert,
            Some("crit") => L::Crit,
            Some("err") => L::Err,
            Some("warning") => L::Warning,
            Some("notice") => L::Notice,
            Some("info") => L::Info,
            Some("debug") => L::Debug,
            _ => return Err(bad()),
        };
        Ok(crate::rules::LogLevelSet::Level(level))
    }

    /// `attach-srv BACKEND/SERVER [name EXPR]` (HAProxy's
    /// `tcp_parse_attach_srv`); what it names is checked once every
    /// section is read ([`check_attach_srv`]).
    fn attach_srv(&mut self) -> Result<TcpAction, String> {
        if !self.experimental {
            return Err("'attach-srv' action is experimental, must be allowed via a global 'expose-experimental-directives'".to_string());
        }
        let Some(target) = self.next() else {
            return Err(self.fail("expects <backend>/<server>"));
        };
        let (backend, server) = target.split_once('/').unwrap_or((target, ""));
        let (backend, server) = (backend.to_string(), server.to_string());
        let name = if self.peek() == Some("name") {
            self.next();
            if self.peek().is_none() {
                return Err("missing name value".to_string());
            }
            Some(self.expr_word("a sample expression")?)
        } else {
            None
        };
        Ok(TcpAction::AttachSrv(AttachSrv {
            backend,
            server,
            name,
        }))
    }

    fn http_req_action(&mut self) -> Result<HttpReqAction, String> {
        if let Some(c) = self.common() {
            return Ok(match c? {
                Common::SilentDrop => HttpReqAction::SilentDrop,
                Common::SetVar(v) => HttpReqAction::SetVar(v),
                Common::UnsetVar(v) => HttpReqAction::UnsetVar(v),
                Common::TrackSc(t) => HttpReqAction::TrackSc(t),
                Common::ScIncGpc(s) => HttpReqAction::ScIncGpc(s),
                Common::ScSetGpt(s) => HttpReqAction::ScSetGpt(s),
            });
        }
        let name = self.name().to_string();
        Ok(match name.as_str() {
            "allow" => HttpReqAction::Allow,
            "reject" => HttpReqAction::Reject,
            "deny" => HttpReqAction::Deny(self.reply(403, true)?),
            "tarpit" => HttpReqAction::Tarpit(self.reply(500, true)?),
            "return" => HttpReqAction::Return(self.reply(200, false)?),
            "auth" => HttpReqAction::Auth {
                realm: self.auth()?,
            },
            "redirect" => HttpReqAction::Redirect(self.redirect()?),
            "set-header" | "add-header" => {
                let (hname, value) = self.header_pair(&name)?;
                if name == "set-header" {
                    HttpReqAction::SetHeader { name: hname, value }
                } else {
                    HttpReqAction::AddHeader { name: hname, value }
                }
            }
            "del-header" => {
                let (name, how) = self.del_header()?;
                HttpReqAction::DelHeader { name, how }
            }
            "set-path" => HttpReqAction::SetPath(self.logformat_word("<fmt>")?),
            "set-pathq" => HttpReqAction::SetPathQ(self.logformat_word("<fmt>")?),
            "set-query" => HttpReqAction::SetQuery(self.logformat_word("<fmt>")?),
            "set-uri" => HttpReqAction::SetUri(self.logformat_word("<fmt>")?),
            "replace-uri" => HttpReqAction::ReplaceUri(self.replace_uri(&name, UriPart::Uri)?),
            "replace-path" => HttpReqAction::ReplaceUri(self.replace_uri(&name, UriPart::Path)?),
            "replace-pathq" => HttpReqAction::ReplaceUri(self.replace_uri(&name, UriPart::PathQ)?),
            "replace-header" | "replace-value" => {
                HttpReqAction::ReplaceHeader(self.replace_header(&name)?)
            }
            "set-method" => HttpReqAction::SetMethod(self.logformat_word("<fmt>")?),
            "capture" => {
                let expr = self.expr_word("a sample expression")?;
                let (which, n) = (self.next().unwrap_or(""), self.next().unwrap_or(""));
                let n: Option<usize> = n.parse().ok();
                match (which, n) {
                    ("len", Some(n)) if n > 0 => HttpReqAction::Capture {
                        expr,
                        len: Some(n),
                        id: None,
                    },
                    ("id", Some(n)) => HttpReqAction::Capture {
                        expr,
                        len: None,
                        id: Some(n),
                    },
                    _ => return Err(self.fail("expects 'len <length>' or 'id <id>'")),
                }
            }
            "set-src" => HttpReqAction::SetSrc(self.expr_word("a sample expression")?),
            "set-dst" => HttpReqAction::SetDst(self.expr_word("a sample expression")?),
            "set-src-port" => HttpReqAction::SetSrcPort(self.expr_word("a sample expression")?),
            "set-dst-port" => HttpReqAction::SetDstPort(self.expr_word("a sample expression")?),
            "wait-for-body" => self.wait_for_body()?,
            "disable-l7-retry" => HttpReqAction::DisableL7Retry,
            "set-log-level" => HttpReqAction::SetLogLevel(self.log_level()?),
            "strict-mode" => HttpReqAction::StrictMode(self.strict_mode()?),
            "set-timeout" => self.set_timeout()?,
            "use-service" => match self.next() {
                Some("prometheus-exporter") => {
                    HttpReqAction::UseService(crate::rules::Service::PrometheusExporter)
                }
                Some(svc) if svc != "if" && svc != "unless" => {
                    return Err(self.fail(format_args!(
                        "unknown service '{svc}' (supported: 'prometheus-exporter')"
                    )))
                }
                _ => return Err(self.fail("expects a service name")),
            },
            _ => return Err(self.unknown(HTTP_REQ_ACTIONS)),
        })
    }

    /// `set-timeout server|tunnel <time>|<expr>` (HAProxy 2.6's
    /// `parse_http_set_timeout`).
    fn set_timeout(&mut self) -> Result<HttpReqAction, String> {
        let which = match self.next() {
            Some("server") => crate::rules::TimeoutKind::Server,
            Some("tunnel") => crate::rules::TimeoutKind::Tunnel,
            _ => return Err(self.fail("'set-timeout' rule supports 'server'/'tunnel'")),
        };
        let value = match self.peek() {
            None | Some("if") | Some("unless") => {
                return Err(self.fail("expects a timeout value or an expression"))
            }
            Some(v) => match crate::cfgparse::units::parse_time_ms(v) {
                Ok(ms) => {
                    self.next();
                    IntOrExpr::Int(i64::from(ms))
                }
                Err(_) => IntOrExpr::Expr(self.expr_word("a timeout or an expression")?),
            },
        };
        Ok(HttpReqAction::SetTimeout { which, value })
    }

    /// `wait-for-body time <time> [at-least <bytes>]` (HAProxy's
    /// `parse_http_wait_for_body`).
    fn wait_for_body(&mut self) -> Result<HttpReqAction, String> {
        use crate::cfgparse::units::{parse_size, parse_time_ms};
        let (mut time_ms, mut at_least) = (0, 0);
        loop {
            match self.peek() {
                Some("time") => {
                    self.next();
                    let v = self.next().unwrap_or("");
                    time_ms = parse_time_ms(v)
                        .map_err(|_| self.fail(format_args!("'time' : unexpected value '{v}'")))?;
                }
                Some("at-least") => {
                    self.next();
                    let v = self.next().unwrap_or("");
                    at_least = parse_size(v).map_err(|_| {
                        self.fail(format_args!("'at-least' : unexpected value '{v}'"))
                    })?;
                }
                _ => break,
            }
        }
        if time_ms == 0 {
            return Err(self.fail("'time' option is mandatory"));
        }
        Ok(HttpReqAction::WaitForBody { time_ms, at_least })
    }

    fn http_res_action(&mut self) -> Result<HttpResAction, String> {
        let after = self.stage == Stage::HttpAfterRes;
        let supported = if after {
            HTTP_AFTER_RES_ACTIONS
        } else {
            HTTP_RES_ACTIONS
        };
        if !supported.contains(&self.name()) {
            return Err(self.unknown(supported));
        }
        if let Some(c) = self.common() {
            return Ok(match c? {
                Common::SilentDrop => HttpResAction::SilentDrop,
                Common::SetVar(v) => HttpResAction::SetVar(v),
                Common::UnsetVar(v) => HttpResAction::UnsetVar(v),
                Common::TrackSc(t) => HttpResAction::TrackSc(t),
                Common::ScIncGpc(s) => HttpResAction::ScIncGpc(s),
                Common::ScSetGpt(s) => HttpResAction::ScSetGpt(s),
            });
        }
        let name = self.name().to_string();
        Ok(match name.as_str() {
            "allow" => HttpResAction::Allow,
            "deny" => HttpResAction::Deny(self.reply(502, true)?),
            "return" => HttpResAction::Return(self.reply(200, false)?),
            "redirect" => {
                let r = self.redirect()?;
                if r.kind != RedirectKind::Location {
                    return Err(self.fail("only 'location' redirects are supported in responses"));
                }
                HttpResAction::Redirect(r)
            }
            "set-header" | "add-header" => {
                let (hname, value) = self.header_pair(&name)?;
                if name == "set-header" {
                    HttpResAction::SetHeader { name: hname, value }
                } else {
                    HttpResAction::AddHeader { name: hname, value }
                }
            }
            "del-header" => {
                let (name, how) = self.del_header()?;
                HttpResAction::DelHeader { name, how }
            }
            "replace-header" | "replace-value" => {
                HttpResAction::ReplaceHeader(self.replace_header(&name)?)
            }
            "set-status" => self.set_status()?,
            "capture" => self.res_capture()?,
            "set-log-level" => HttpResAction::SetLogLevel(self.log_level()?),
            "strict-mode" => HttpResAction::StrictMode(self.strict_mode()?),
            "wait-for-body" => match self.wait_for_body()? {
                HttpReqAction::WaitForBody { time_ms, at_least } => {
                    HttpResAction::WaitForBody { time_ms, at_least }
                }
                _ => return Err(self.unknown(supported)),
            },
            _ => return Err(self.unknown(supported)),
        })
    }

    /// `capture <expr> id <idx>` on a response (HAProxy's
    /// `parse_http_res_capture`).
    fn res_capture(&mut self) -> Result<HttpResAction, String> {
        let n = self.words.len().min(4);
        if self.words[1..n].iter().any(|w| w == "if" || w == "unless") || self.words.len() < 4 {
            return Err(self.fail("expects <expression> id <idx>"));
        }
        let expr = self.expr_word("<expression>")?;
        match self.next() {
            Some("id") => {}
            Some(w) => return Err(self.fail(format_args!("expects 'id', found '{w}'"))),
            None => return Err(self.fail("expects 'id'")),
        }
        let w = self.next().unwrap_or("");
        let id = w
            .parse::<usize>()
            .map_err(|_| self.fail(format_args!("cannot parse id '{w}'")))?;
        Ok(HttpResAction::Capture { expr, id })
    }

    fn header_pair(&mut self, action: &str) -> Result<(String, LogFormat), String> {
        let (Some(n), Some(v)) = (self.words.get(1), self.words.get(2)) else {
            return Err(format!(
                "'{} {action}' expects exactly 2 arguments.",
                self.kw
            ));
        };
        let (n, v) = (n.clone(), v.clone());
        self.pos = 3;
        Ok((n, self.logformat(&v)?))
    }

    /// `replace-uri|path|pathq <match-regex> <replace-fmt>`.
    fn replace_uri(&mut self, action: &str, part: UriPart) -> Result<ReplaceUri, String> {
        let (Some(re), Some(fmt)) = (self.words.get(1), self.words.get(2)) else {
            return Err(format!(
                "'{} {action}' expects exactly 2 arguments.",
                self.kw
            ));
        };
        let (re, fmt) = (re.clone(), fmt.clone());
        self.pos = 3;
        let re = Regex::new(&re, false).map_err(|e| self.fail(e))?;
        Ok(ReplaceUri {
            part,
            re,
            fmt: self.logformat(&fmt)?,
        })
    }

    /// `replace-header|replace-value <name> <match-regex> <replace-fmt>`.
    fn replace_header(&mut self, action: &str) -> Result<ReplaceHeader, String> {
        let (Some(name), Some(re), Some(fmt)) =
            (self.words.get(1), self.words.get(2), self.words.get(3))
        else {
            return Err(format!(
                "'{} {action}' expects exactly 3 arguments.",
                self.kw
            ));
        };
        let (name, re, fmt) = (name.clone(), re.clone(), fmt.clone());
        self.pos = 4;
        let re = Regex::new(&re, false).map_err(|e| self.fail(e))?;
        Ok(ReplaceHeader {
            name,
            full: action == "replace-header",
            re,
            fmt: self.logformat(&fmt)?,
        })
    }

    fn del_header(&mut self) -> Result<(String, HdrMatch), String> {
        let Some(name) = self.next().map(str::to_string) else {
            return Err(self.fail("expects at least 1 argument"));
        };
        if self.peek() != Some("-m") {
            return Ok((name, HdrMatch::Str));
        }
        self.pos += 1;
        let how = match self.next() {
            Some("str") => HdrMatch::Str,
            Some("beg") => HdrMatch::Beg,
            Some("end") => HdrMatch::End,
            Some("sub") => HdrMatch::Sub,
            Some("reg") => HdrMatch::Reg(Regex::new(&name, true).map_err(|e| self.fail(e))?),
            m => {
                return Err(self.fail(format!(
                    "unsupported match method '{}' (expects 'str', 'beg', 'end', 'sub' or 'reg')",
                    m.unwrap_or("")
                )))
            }
        };
        Ok((name, how))
    }

    fn set_status(&mut self) -> Result<HttpResAction, String> {
        let s = self.next().unwrap_or("").to_string();
        let status = s
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=999).contains(s))
            .ok_or_else(|| {
                self.fail(format!(
                    "expects an HTTP status code between 100 and 999, got '{s}'"
                ))
            })?;
        let reason = if self.peek() == Some("reason") {
            self.pos += 1;
            Some(
                self.next()
                    .ok_or_else(|| self.fail("missing reason after 'reason'"))?
                    .to_string(),
            )
        } else {
            None
        };
        Ok(HttpResAction::SetStatus { status, reason })
    }

    fn auth(&mut self) -> Result<Option<String>, String> {
        if self.peek() != Some("realm") {
            return Ok(None);
        }
        self.pos += 1;
        match self.next() {
            Some(r) => Ok(Some(r.to_string())),
            None => Err(self.fail("missing realm value")),
        }
    }

    /// `redirect location|prefix|scheme TARGET [options]`.
    fn redirect(&mut self) -> Result<Redirect, String> {
        let kind = match self.next() {
            Some("location") => RedirectKind::Location,
            Some("prefix") => RedirectKind::Prefix,
            Some("scheme") => RedirectKind::Scheme,
            _ => return Err(self.fail("expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query' or 'append-slash'")),
        };
        let target = self.logformat_word("a redirect target")?;
        let mut r = Redirect {
            kind,
            target,
            code: 302,
            drop_query: false,
            append_slash: false,
            set_cookie: None,
            clear_cookie: None,
        };
        while let Some(w) = self.peek() {
            match w {
                "code" => {
                    self.pos += 1;
                    let c = self.next().unwrap_or("").to_string();
                    r.code = c
                        .parse::<u16>()
                        .ok()
                        .filter(|c| matches!(c, 301 | 302 | 303 | 307 | 308))
                        .ok_or_else(|| {
                            self.fail(format!(
                                "unsupported HTTP code '{c}' (expects 301, 302, 303, 307 or 308)"
                            ))
                        })?;
                }
                "drop-query" => {
                    self.pos += 1;
                    r.drop_query = true;
                }
                "append-slash" => {
                    self.pos += 1;
                    r.append_slash = true;
                }
                "set-cookie" | "clear-cookie" => {
                    let clear = w == "clear-cookie";
                    self.pos += 1;
                    let v = self
                        .next()
                        .ok_or_else(|| self.fail("missing cookie name"))?
                        .to_string();
                    if clear {
                        r.clear_cookie = Some(v);
                    } else {
                        r.set_cookie = Some(v);
                    }
                }
                _ => break,
            }
        }
        Ok(r)
    }

    /// The arguments of `deny`, `tarpit` and `return` (HAProxy's
    /// `http_parse_http_reply`). `deny`: `deny_status` is accepted and a
    /// reply without payload is the built-in error page.
    fn reply(&mut self, default: u16, deny: bool) -> Result<Reply, String> {
        let mut r = Reply {
            status: default,
            content_type: None,
            body: ReplyBody::Empty,
            hdrs: Vec::new(),
        };
        let mut body_arg: Option<String> = None;
        // `errorfiles NAME`: resolved once the status is known.
        let mut errorfiles: Option<String> = None;
        while let Some(w) = self.peek().map(str::to_string) {
            let value = |p: &Self| {
                p.words
                    .get(p.pos + 1)
                    .cloned()
                    .ok_or_else(|| p.fail(format!("'{w}' expects an argument")))
            };
            match w.as_str() {
                "status" | "deny_status" if w == "status" || deny => {
                    let v = value(self)?;
                    r.status = v
                        .parse::<u16>()
                        .ok()
                        .filter(|s| (200..=599).contains(s))
                        .ok_or_else(|| self.fail(format!("Unexpected status code '{v}'")))?;
                    self.pos += 2;
                }
                "content-type" => {
                    r.content_type = Some(value(self)?);
                    self.pos += 2;
                }
                "default-errorfiles" | "string" | "lf-string" => {
                    if let Some(prev) = &body_arg {
                        return Err(self.fail(format!(
                            "unexpected '{w}' argument, '{prev}' already defined"
                        )));
                    }
                    r.body = match w.as_str() {
                        "default-errorfiles" => {
                            self.pos += 1;
                            ReplyBody::ErrorPage
                        }
                        "string" => {
                            let v = value(self)?;
                            self.pos += 2;
                            ReplyBody::String(v.into_bytes())
                        }
                        _ => {
                            let v = value(self)?;
                            self.pos += 2;
                            ReplyBody::LogFormat(self.logformat(&v)?)
                        }
                    };
                    body_arg = Some(w);
                }
                "file" | "lf-file" => {
                    if let Some(prev) = &body_arg {
                        return Err(self.fail(format!(
                            "unexpected '{w}' argument, '{prev}' already defined"
                        )));
                    }
                    let Some(path) = self
                        .words
                        .get(self.pos + 1)
                        .filter(|p| !p.is_empty())
                        .cloned()
                    else {
                        return Err(self.fail(format!("'{w}' expects <file> as argument")));
                    };
                    let bytes = self.read_reply_file(&w, &path)?;
                    self.pos += 2;
                    r.body = if w == "file" {
                        ReplyBody::String(bytes)
                    } else {
                        let text = String::from_utf8(bytes)
                            .map_err(|_| self.fail(format!("file '{path}' is not UTF-8 text")))?;
                        ReplyBody::LogFormat(self.logformat(&text)?)
                    };
                    body_arg = Some(w);
                }
                "errorfile" | "errorfiles" => {
                    if let Some(prev) = &body_arg {
                        return Err(self.fail(format!(
                            "unexpected '{w}' argument, '{prev}' already defined"
                        )));
                    }
                    let Some(v) = self
                        .words
                        .get(self.pos + 1)
                        .filter(|p| !p.is_empty())
                        .cloned()
                    else {
                        let what = if w == "errorfile" { "<fmt>" } else { "<name>" };
                        return Err(self.fail(format!("'{w}' expects {what} as argument")));
                    };
                    self.pos += 2;
                    if w == "errorfile" {
                        r.body = ReplyBody::Message(self.reply_errorfile(&v)?);
                    } else {
                        errorfiles = Some(v);
                    }
                    body_arg = Some(w);
                }
                "hdr" => self.reply_hdr(&mut r)?,
                _ => break,
            }
        }
        if let Some(name) = errorfiles {
            r.body = ReplyBody::ErrorPage;
            self.check_reply(&mut r, deny, body_arg.as_deref())?;
            // A section without a page for the status: an empty reply, as
            // HAProxy's unresolved `HTTP_REPLY_INDIRECT`.
            r.body = match self.reply_errorfiles(&name, r.status)? {
                Some(m) => ReplyBody::Message(m),
                None => ReplyBody::Empty,
            };
            return Ok(r);
        }
        self.check_reply(&mut r, deny, body_arg.as_deref())?;
        Ok(r)
    }

    /// `errorfile PATH` in a reply (HAProxy's `http_load_errorfile`): a
    /// complete HTTP response, read now through the driver's file source.
    fn reply_errorfile(&self, path: &str) -> Result<std::sync::Arc<[u8]>, String> {
        let bytes = self.read_reply_file("errorfile", path)?;
        if !bytes.is_empty() {
            let opts = crate::http::h1::ParseOptions::default();
            if !matches!(
                crate::http::h1::parse_response(&bytes, &opts),
                Ok(crate::http::h1::Status::Complete(_))
            ) {
                return Err(self.fail(format!("'{path}': unable to parse headers")));
            }
        }
        Ok(bytes.into())
    }

    /// The page of `errorfiles NAME` for `status` (HAProxy's
    /// `http_reply_resolve_errorfiles`... at parse time): `None` when the
    /// section has none for it (with HAProxy's warning): an empty reply is
    /// sent.
    fn reply_errorfiles(
        &mut self,
        name: &str,
        status: u16,
    ) -> Result<Option<std::sync::Arc<[u8]>>, String> {
        let Some(cfg) = self.cfg else {
            return Err(self.fail(format!(
                "unknown http-errors section '{name}' referenced by an http reply"
            )));
        };
        let Some(sec) = cfg.http_errors.iter().find(|s| s.name == name) else {
            return Err(self.fail(format!(
                "unknown http-errors section '{name}' referenced by an http reply"
            )));
        };
        let Some(f) = sec.files.iter().rev().find(|f| f.status == status) else {
            self.warnings.push(format!(
                "Proxy '{}': status '{status}' referenced by an http reply not declared in http-errors section '{name}'.",
                self.ctx.proxy
            ));
            return Ok(None);
        };
        match cfg.errorfile_contents.get(&f.path) {
            Some(Ok(b)) => Ok(Some(b.clone())),
            _ => Err(self.fail(format!("error opening file '{}'", f.path))),
        }
    }

    /// The payload of `file PATH` / `lf-file PATH`, read now through the
    /// driver's file source as HAProxy's `http_parse_http_reply` reads it
    /// while parsing (the engine reads no files), at most `tune.bufsize`
    /// bytes.
    fn read_reply_file(&self, w: &str, path: &str) -> Result<Vec<u8>, String> {
        let Some(read) = self.ctx.patterns.and_then(|p| p.read.as_ref()) else {
            return Err(self.fail(format!(
                "'{w}' is not supported here (no file source: Sluice's engine reads no files itself)"
            )));
        };
        let bytes =
            (read.0)(path).map_err(|_| self.fail(format!("error opening file '{path}'")))?;
        if bytes.len() > self.bufsize as usize {
            return Err(self.fail(format!(
                "file '{path}' exceeds the buffer size ({} > {})",
                bytes.len(),
                self.bufsize
            )));
        }
        Ok(bytes)
    }

    /// `hdr NAME FMT` of a reply; the framing headers are ignored, as in
    /// HAProxy.
    fn reply_hdr(&mut self, r: &mut Reply) -> Result<(), String> {
        let (Some(n), Some(v)) = (self.words.get(self.pos + 1), self.words.get(self.pos + 2))
        else {
            return Err(self.fail("'hdr' expects <name> and <value> as arguments"));
        };
        self.pos += 3;
        let framing = ["content-length", "transfer-encoding", "content-type"];
        if framing.iter().any(|h| n.eq_ignore_ascii_case(h)) {
            self.warnings
                .push(format!("header '{n}' always ignored by the http reply."));
            return Ok(());
        }
        let lf = self.logformat(v)?;
        r.hdrs.push((n.clone(), lf));
        Ok(())
    }

    fn check_reply(
        &mut self,
        r: &mut Reply,
        deny: bool,
        body_arg: Option<&str>,
    ) -> Result<(), String> {
        if deny && r.body == ReplyBody::Empty {
            r.body = ReplyBody::ErrorPage;
        }
        match &r.body {
            ReplyBody::Empty => {
                if let Some(ct) = r.content_type.take() {
                    self.warnings.push(format!(
                        "content-type '{ct}' ignored by the http reply because neither errorfile nor payload defined."
                    ));
                }
            }
            ReplyBody::Message(_) => {
                if let Some(ct) = r.content_type.take() {
                    self.warnings.push(format!(
                        "content-type '{ct}' ignored by the http reply when used with an errorfile."
                    ));
                }
                if !r.hdrs.is_empty() {
                    r.hdrs.clear();
                    self.warnings.push(
                        "hdr parameters ignored by the http reply when used with an errorfile."
                            .into(),
                    );
                }
            }
            ReplyBody::ErrorPage => {
                if !ERROR_PAGE_CODES.contains(&r.status) {
                    let arg = body_arg.unwrap_or(self.name());
                    return Err(self.fail(format!(
                        "status code '{}' not handled by default with '{arg}' argument",
                        r.status
                    )));
                }
                if let Some(ct) = r.content_type.take() {
                    self.warnings.push(format!(
                        "content-type '{ct}' ignored by the http reply when used with an errorfile."
                    ));
                }
                if !r.hdrs.is_empty() {
                    r.hdrs.clear();
                    self.warnings.push(
                        "hdr parameters ignored by the http reply when used with an errorfile."
                            .into(),
                    );
                }
            }
            ReplyBody::String(_) | ReplyBody::LogFormat(_) => {
                if r.status == 204 || r.status == 304 {
                    return Err(self.fail(format!("No body expected for {} responses", r.status)));
                }
                let empty = r.body == ReplyBody::String(Vec::new());
                if r.content_type.is_none() && !empty {
                    return Err(self.fail(
                        "a content type must be defined when non-empty payload is configured",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Actions shared by several rule sets.
enum Common {
    SilentDrop,
    SetVar(SetVar),
    UnsetVar(VarName),
    TrackSc(TrackSc),
    ScIncGpc(ScIncGpc),
    ScSetGpt(ScSetGpt),
}
