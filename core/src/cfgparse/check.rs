//! Post-parse checks: what `haproxy -c` finds once every file is read
//! (HAProxy's `check_config_validity()` and the peers post-parsing):
//! references to missing backends, tables and peers sections, duplicate
//! names, mode mismatches, and the warnings HAProxy prints about proxies
//! and peers sections that will not work as written.
//!
//! Lookups go through [`Index`] (ordered maps built once), so checking stays
//! `O(n log n)` however many proxies, rules and tables a file declares.

use std::collections::BTreeMap;

use super::model::{
    Config, Mode, PeerKeyword, PeersSection, Place, Proxy, ProxyKind, RuleLine, ServerStateFile,
    TableDecl,
};
use super::{Diagnostic, Diags};
use crate::stick_table::{DataType, StoreSpec};

fn at(p: &Place, kw: &str, msg: String) -> Diagnostic {
    Diagnostic::new(p.file.clone(), p.line, kw, msg)
}

/// Name lookups for the checks (first declaration wins, as in HAProxy).
struct Index<'a> {
    backends: BTreeMap<&'a str, &'a Proxy>,
    tables: BTreeMap<&'a str, &'a TableDecl>,
    peers: BTreeMap<&'a str, &'a PeersSection>,
}

impl<'a> Index<'a> {
    fn new(c: &'a Config) -> Index<'a> {
        let mut ix = Index {
            backends: BTreeMap::new(),
            tables: BTreeMap::new(),
            peers: BTreeMap::new(),
        };
        for px in c.proxies.iter().filter(|p| p.kind.is_backend()) {
            ix.backends.entry(&px.name).or_insert(px);
        }
        for t in c.tables() {
            ix.tables.entry(&t.params.id).or_insert(t);
        }
        for s in &c.peers {
            ix.peers.entry(&s.name).or_insert(s);
        }
        ix
    }
}

impl Config {
    /// Checks references and consistency across sections. Errors make the
    /// configuration unusable; warnings are for the operator.
    pub fn check(&self) -> Diags {
        let mut d = Diags::default();
        let ix = Index::new(self);
        self.check_proxy_names(&mut d);
        self.check_defaults_use(&mut d);
        self.check_rules_inheritance(&mut d);
        for px in &self.proxies {
            check_switching(&ix, px, &mut d);
            check_use_server(px, &mut d);
            check_sticking(&ix, px, &mut d);
            check_servers(px, &mut d);
            self.check_server_resolvers(px, &mut d);
            check_proxy_warnings(px, &mut d);
            self.check_server_state(px, &mut d);
            check_res_capture_ids(px, &mut d);
        }
        // HAProxy checks the rules of named defaults sections too, used or
        // not: a `track-scN` there without `table` names the section,
        // which has no stick-table.
        for px in &self.defaults {
            check_sticking(&ix, px, &mut d);
        }
        self.check_peers(&mut d);
        let mut errs = Vec::new();
        super::errors::check(self, &mut errs);
        super::userlist::check(self, &mut errs);
        super::logfwd::check(&self.rings, &self.log_forwards, &mut errs);
        for e in errs {
            d.error(e);
        }
        d
    }

    /// `load-server-state-from-file`: HAProxy's `apply_server_state` reads
    /// a state file only for an enabled backend with servers, and for
    /// `global` only when the global `server-state-file` is set. Sluice
    /// reads none, so those are refused (the states and weights the file
    /// holds would be lost); the rest loads nothing in HAProxy either.
    fn check_server_state(&self, px: &Proxy, d: &mut Diags) {
        let Some((which, place)) = &px.load_server_state else {
            return;
        };
        if !px.kind.is_backend() || px.disabled || px.servers.is_empty() {
            return;
        }
        let from = match which {
            ServerStateFile::Global => match &self.global.server_state_file {
                Some(g) => format!("the global 'server-state-file' ({}:{})", g.file, g.line),
                None => return,
            },
            ServerStateFile::Local => "its own server state file".to_string(),
        };
        let arg = match which {
            ServerStateFile::Global => "global",
            ServerStateFile::Local => "local",
        };
        d.error(at(
            place,
            "load-server-state-from-file",
            format!(
                "'load-server-state-from-file {arg}' is not supported by Sluice: {} '{}' would take its servers' states and weights from {from} at start.",
                px.kind.type_str(),
                px.name
            ),
        ));
    }

    /// What HAProxy does when it links `stick` rules to their tables: the
    /// target table also stores `server_id` and `server_key` (they are in
    /// its TABLE_DEFINITION on the wire). Rules naming a missing table are
    /// left for [`Config::check`] to report.
    pub fn link_stick_rules(&mut self) {
        let mut targets = Vec::new();
        for px in &self.proxies {
            for r in &px.stick_rules {
                targets.push(r.table.clone().unwrap_or_else(|| px.name.clone()));
            }
        }
        targets.sort();
        targets.dedup();
        let peers = self.peers.iter_mut().flat_map(|s| s.tables.iter_mut());
        let proxies = self
            .proxies
            .iter_mut()
            .filter_map(|p| p.stick_table.as_mut());
        for t in peers.chain(proxies) {
            if targets.binary_search(&t.params.id).is_err() {
                continue;
            }
            for dt in [DataType::SERVER_ID, DataType::SERVER_KEY] {
                if t.params.store_spec(dt).is_none() {
                    t.params.store.push(StoreSpec::plain(dt));
                }
            }
            t.params.store.sort_by_key(|s| s.data_type);
        }
    }

    /// Two proxies whose capabilities overlap may not share a name (a
    /// frontend and a backend may).
    fn check_proxy_names(&self, d: &mut Diags) {
        let mut frontends: BTreeMap<&str, &Proxy> = BTreeMap::new();
        let mut backends: BTreeMap<&str, &Proxy> = BTreeMap::new();
        for px in &self.proxies {
            let fe = px
                .kind
                .is_frontend()
                .then(|| frontends.get(px.name.as_str()));
            let be = px.kind.is_backend().then(|| backends.get(px.name.as_str()));
            if let Some(o) = fe.flatten().or(be.flatten()) {
                d.error(at(
                    &px.place,
                    px.kind.keyword(),
                    format!(
                        "{} '{}' has the same name as {} '{}' declared at {}:{}.",
                        px.kind.type_str(),
                        px.name,
                        o.kind.type_str(),
                        o.name,
                        o.place.file,
                        o.place.line
                    ),
                ));
            }
            if px.kind.is_frontend() {
                frontends.entry(&px.name).or_insert(px);
            }
            if px.kind.is_backend() {
                backends.entry(&px.name).or_insert(px);
            }
        }
    }

    /// A defaults section named by `from` must have a unique name; using one
    /// both explicitly and implicitly is confusing (HAProxy warns).
    fn check_defaults_use(&self, d: &mut Diags) {
        // Per defaults index: its first explicit and first implicit user.
        let mut users: BTreeMap<usize, [Option<&Proxy>; 2]> = BTreeMap::new();
        for p in self.proxies.iter().chain(&self.defaults) {
            if let Some(r) = &p.from {
                let slot = &mut users.entry(r.index).or_default()[usize::from(!r.explicit)];
                slot.get_or_insert(p);
            }
        }
        let mut named: BTreeMap<&str, Vec<&Proxy>> = BTreeMap::new();
        for def in &self.defaults {
            named.entry(&def.name).or_default().push(def);
        }
        for (i, [explicit, implicit]) in users {
            let (Some(def), Some(ex)) = (self.defaults.get(i), explicit) else {
                continue;
            };
            // Among same-named sections, v[0] or v[1] differs from `def`.
            let same = named.get(def.name.as_str()).map_or(&[][..], Vec::as_slice);
            if let Some(other) = same.iter().take(2).find(|o| o.place != def.place) {
                d.error(at(&def.place, "defaults", format!(
                    "defaults section '{}' is referenced by {} '{}' but its name is not unique (also declared at {}:{}).",
                    def.name, ex.kind.keyword(), ex.name, other.place.file, other.place.line
                )));
            }
            if let Some(im) = implicit {
                d.warn(at(&im.place, im.kind.keyword(), format!(
                    "{} '{}' implicitly uses defaults section '{}' ({}:{}) which {} '{}' uses explicitly; consider an explicit 'from' everywhere.",
                    im.kind.keyword(), im.name, def.name, def.place.file, def.place.line, ex.kind.keyword(), ex.name
                )));
            }
        }
    }

    /// A named defaults section holding rules may only be inherited as
    /// HAProxy 2.6 allows (`cfg_parse_listen`): not by another defaults
    /// section nor a `listen`, not by frontends and backends both, not
    /// by a backend when it holds `tcp-request connection|session`
    /// rules, not by a frontend when it holds `tcp-response content`.
    fn check_rules_inheritance(&self, d: &mut Diags) {
        // Per defaults index: the capability of its first user.
        let mut used_by: BTreeMap<usize, ProxyKind> = BTreeMap::new();
        let users = self.defaults.iter().chain(&self.proxies);
        let mut users: Vec<&Proxy> = users.collect();
        users.sort_by(|a, b| {
            (a.place.file.as_str(), a.place.line).cmp(&(b.place.file.as_str(), b.place.line))
        });
        for px in users {
            let Some(r) = &px.from else { continue };
            let Some(def) = self.defaults.get(r.index) else {
                continue;
            };
            if !has_rules(def) {
                continue;
            }
            let at_def = format!(
                "(defaults section at {}:{})",
                def.place.file, def.place.line
            );
            let kw = px.kind.keyword();
            let msg = match px.kind {
                ProxyKind::Defaults => Some(format!(
                    "a defaults section cannot inherit from a defaults section defining TCP/HTTP rules {at_def}."
                )),
                ProxyKind::Listen => Some(
                    "a listen section cannot inherit from a defaults section defining TCP/HTTP rules."
                        .to_string(),
                ),
                kind => match used_by.get(&r.index) {
                    Some(&first) if first != kind => Some(format!(
                        "frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules {at_def}."
                    )),
                    _ if kind == ProxyKind::Backend
                        && !(def.tcp_request_connection.is_empty()
                            && def.tcp_request_session.is_empty()) =>
                    {
                        Some(format!(
                            "a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules {at_def}."
                        ))
                    }
                    _ if kind == ProxyKind::Frontend && !def.tcp_response_content.is_empty() => {
                        Some(format!(
                            "a frontend section cannot inherit from a defaults section defining 'tcp-response content' rules {at_def}."
                        ))
                    }
                    _ => {
                        used_by.entry(r.index).or_insert(kind);
                        None
                    }
                },
            };
            if let Some(m) = msg {
                d.error(at(&px.place, kw, m));
            }
        }
    }

    fn check_peers(&self, d: &mut Diags) {
        let mut seen: BTreeMap<&str, &PeersSection> = BTreeMap::new();
        for s in &self.peers {
            if let Some(o) = seen.insert(&s.name, s) {
                d.error(at(&s.place, "peers", format!(
                    "peers section '{}' has the same name as another peers section declared at {}:{}.",
                    s.name, o.place.file, o.place.line
                )));
            }
            check_peers_duplicates(s, d);
            self.check_local_peer(s, d);
        }
    }

    /// HAProxy 2.6 drops a peers section that does not list the local peer,
    /// with a warning: its tables stay, unsynchronised.
    fn check_local_peer(&self, s: &PeersSection, d: &mut Diags) {
        if s.disabled {
            return;
        }
        let Some(me) = self.local_peer_of(s) else {
            return d.warn(at(
                &s.place,
                "peers",
                format!(
                    "Removing incomplete section 'peers {}' (no peer named '{}').",
                    s.name, self.local_peer
                ),
            ));
        };
        if me.keyword == PeerKeyword::Server && s.bind.is_none() {
            d.warn(at(&me.place, "server", format!(
                "peers section '{}': the local peer '{}' has no 'bind' line; it will not accept connections from its peers.",
                s.name, me.name
            )));
        }
    }
}

/// Whether a defaults section holds rules that its users run (ACLs alone
/// do not count, as in HAProxy).
fn has_rules(def: &Proxy) -> bool {
    !(def.http_request.is_empty()
        && def.http_response.is_empty()
        && def.http_after_response.is_empty()
        && def.tcp_request_connection.is_empty()
        && def.tcp_request_session.is_empty()
        && def.tcp_request_content.is_empty()
        && def.tcp_response_content.is_empty())
}

/// `use-server` targets: a server of the proxy itself (a dynamic name is
/// looked up per request).
fn check_use_server(px: &Proxy, d: &mut Diags) {
    for us in px.use_servers.iter().filter(|u| !u.is_dynamic()) {
        if px.server(&us.name).is_none() {
            d.error(at(
                &us.place,
                "use-server",
                format!(
                    "{} '{}' : unable to find server '{}' referenced in a 'use-server' rule.",
                    px.kind.type_str(),
                    px.name,
                    us.name
                ),
            ));
        }
    }
}

/// `default_backend` and `use_backend` targets: present, not itself, and
/// not a TCP backend behind an HTTP frontend.
fn check_switching(ix: &Index<'_>, px: &Proxy, d: &mut Diags) {
    if let Some((place, name)) = &px.default_backend {
        if !name.contains("%[") {
            let how = "as its default backend";
            check_target(ix, px, place, "default_backend", name, how, d);
        }
    }
    for ub in px.use_backends.iter().filter(|u| !u.is_dynamic()) {
        let how = "in a 'use_backend' rule";
        check_target(ix, px, &ub.place, "use_backend", &ub.name, how, d);
    }
}

fn check_target(
    ix: &Index<'_>,
    px: &Proxy,
    place: &Place,
    kw: &str,
    name: &str,
    how: &str,
    d: &mut Diags,
) {
    if name == px.name && px.kind.is_backend() {
        let m = format!("Proxy '{}': loop detected for {kw}: '{name}'.", px.name);
        return d.error(at(place, kw, m));
    }
    let Some(be) = ix.backends.get(name) else {
        let m = format!(
            "Proxy '{}': unable to find required {kw}: '{name}'.",
            px.name
        );
        return d.error(at(place, kw, m));
    };
    if px.mode == Mode::Tcp && be.mode == Mode::Http {
        // HAProxy upgrades such a stream to HTTP; Sluice does not, so the
        // backend's HTTP processing (its rules first) would never run.
        d.error(at(place, kw, format!(
            "tcp {} '{}' ({}:{}) uses http {} '{}' ({}:{}) {how}: Sluice does not upgrade a TCP stream to HTTP, so the backend's HTTP rules and options would not run; use 'mode http' in both or 'mode tcp' in both.",
            px.kind.type_str(), px.name, px.place.file, px.place.line,
            be.kind.type_str(), be.name, be.place.file, be.place.line
        )));
    }
    if px.mode == Mode::Http && be.mode == Mode::Tcp {
        d.error(at(place, kw, format!(
            "http {} '{}' ({}:{}) tries to use incompatible tcp {} '{}' ({}:{}) {how} (see 'mode').",
            px.kind.type_str(), px.name, px.place.file, px.place.line,
            be.kind.type_str(), be.name, be.place.file, be.place.line
        )));
    }
}

/// Tables named by `stick` rules and `track-sc` actions, and the peers
/// section named by the proxy's `stick-table`.
fn check_sticking(ix: &Index<'_>, px: &Proxy, d: &mut Diags) {
    if let Some(t) = &px.stick_table {
        if let Some(p) = &t.params.peers {
            if !ix.peers.contains_key(p.as_str()) {
                let m = format!("Proxy '{}': unable to find sync peers '{p}'.", px.name);
                d.error(at(&t.place, "stick-table", m));
            }
        }
    }
    for r in &px.stick_rules {
        let table = r.table.as_deref().unwrap_or(&px.name);
        if !ix.tables.contains_key(table) {
            let m = format!("Proxy '{}': unable to find stick-table '{table}'.", px.name);
            d.error(at(&r.place, "stick", m));
        }
    }
    let rules = px
        .tcp_request_connection
        .iter()
        .chain(&px.tcp_request_session)
        .chain(&px.tcp_request_content)
        .chain(&px.http_request)
        .chain(&px.http_response);
    for r in rules {
        let Some((action, table)) = track_sc_table(r) else {
            continue;
        };
        let table = table.unwrap_or(&px.name);
        if !ix.tables.contains_key(table) {
            let m = format!(
                "Proxy '{}': unable to find table '{table}' referenced by {action}.",
                px.name
            );
            d.error(Diagnostic::new(
                r.file.clone(),
                r.line,
                r.keyword.clone(),
                m,
            ));
        }
    }
}

/// Within a peers section, peer names and table names are unique (HAProxy
/// 2.6 only rejects a repeated local peer; Sluice rejects any repeat, as
/// the protocol names peers and tables).
fn check_peers_duplicates(s: &PeersSection, d: &mut Diags) {
    let mut peers: BTreeMap<&str, &Place> = BTreeMap::new();
    for p in &s.peers {
        if let Some(o) = peers.insert(&p.name, &p.place) {
            d.error(at(
                &p.place,
                "peer",
                format!(
                    "peers section '{}': peer '{}' is already declared at {}:{}.",
                    s.name, p.name, o.file, o.line
                ),
            ));
        }
    }
    let mut tables: BTreeMap<&str, &Place> = BTreeMap::new();
    for t in &s.tables {
        if let Some(o) = tables.insert(&t.params.id, &t.place) {
            d.error(at(
                &t.place,
                "table",
                format!(
                    "peers section '{}': table '{}' is already declared at {}:{}.",
                    s.name,
                    t.params.wire_name.trim_start_matches('/'),
                    o.file,
                    o.line
                ),
            ));
        }
    }
}

/// `http-response capture .. id N` and `http-after-response capture ..
/// id N` in a proxy with a frontend name a response capture slot it
/// declares (HAProxy's `check_http_res_capture`; a backend's rules are
/// checked against the frontend at run time only).
fn check_res_capture_ids(px: &Proxy, d: &mut Diags) {
    if !px.kind.is_frontend() {
        return;
    }
    let slots = px.captures.iter().filter(|c| c.response).count();
    for r in px.http_response.iter().chain(&px.http_after_response) {
        if r.words.first().map(String::as_str) != Some("capture") {
            continue;
        }
        let id = r
            .words
            .iter()
            .position(|w| w == "id")
            .and_then(|i| r.words.get(i + 1))
            .and_then(|w| w.parse::<usize>().ok());
        if let Some(id) = id.filter(|&id| id >= slots) {
            d.error(Diagnostic::new(
                r.file.clone(),
                r.line,
                &r.keyword,
                format!(
                    "'{} capture' : unable to find capture id '{id}' referenced by http-response capture rule.",
                    r.keyword
                ),
            ));
        }
    }
}

/// A `track-scN KEY [table T]` action: its name and table.
fn track_sc_table(r: &RuleLine) -> Option<(&str, Option<&str>)> {
    let action = r.words.first()?;
    if !action.starts_with("track-sc") {
        return None;
    }
    let table = r
        .words
        .iter()
        .position(|w| w == "table")
        .and_then(|i| r.words.get(i + 1));
    Some((action.as_str(), table.map(String::as_str)))
}

impl Config {
    /// A server's `resolvers` names a section (HAProxy's
    /// `resolvers_finalize_config`), and its address is a name to resolve.
    fn check_server_resolvers(&self, px: &Proxy, d: &mut Diags) {
        for s in &px.servers {
            let Some(name) = &s.opts.resolvers else {
                continue;
            };
            if !self.resolvers.iter().any(|r| &r.name == name) {
                d.error(at(
                    &s.place,
                    "server",
                    format!(
                        "{} '{}', server '{}': unable to find required resolvers '{name}'",
                        px.kind.type_str(),
                        px.name,
                        s.name
                    ),
                ));
            }
        }
    }
}

/// Server names and explicit ids are unique within a proxy.
fn check_servers(px: &Proxy, d: &mut Diags) {
    let mut names: BTreeMap<&str, u32> = BTreeMap::new();
    let mut ids: BTreeMap<u32, &str> = BTreeMap::new();
    for s in &px.servers {
        if let Some(line) = names.insert(&s.name, s.place.line) {
            d.error(at(&s.place, "server", format!(
                "{} '{}', another server named '{}' was already defined at line {line}, please use distinct names.",
                px.kind.type_str(), px.name, s.name
            )));
        }
        if let Some(id) = s.id {
            if let Some(other) = ids.insert(id, &s.name) {
                d.error(at(
                    &s.place,
                    "server",
                    format!(
                        "'server {}/{}' : 'id' : custom id {id} already used by 'server {other}'.",
                        px.name, s.name
                    ),
                ));
            }
        }
    }
}

/// HAProxy's warnings about proxies that will misbehave.
fn check_proxy_warnings(px: &Proxy, d: &mut Diags) {
    if px.disabled {
        return;
    }
    let kind = px.kind.type_str();
    if px.kind == ProxyKind::Frontend && px.binds.is_empty() {
        d.warn(at(&px.place, "frontend", format!(
            "frontend '{}' has no 'bind' directive. Please declare it as a backend if this was intended.",
            px.name
        )));
    }
    let t = &px.timeouts;
    let missing = (px.kind.is_frontend() && t.client_ms.is_none())
        || (px.kind.is_backend() && (t.connect_ms.is_none() || t.server_ms.is_none()));
    if missing {
        d.warn(at(&px.place, px.kind.keyword(), format!(
            "missing timeouts for {kind} '{}'. While not properly invalid, you will certainly encounter various problems with such a configuration. To fix this, please ensure that all following timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
            px.name
        )));
    }
    if px.kind.is_backend() && px.balance_set {
        // HAProxy's `check_config_validity`: an algorithm wins over both.
        if px.options.transparent {
            d.error(at(
                &px.place,
                px.kind.keyword(),
                format!(
                    "{kind} '{}' cannot use both transparent and balance mode.",
                    px.name
                ),
            ));
        } else if px.dispatch.is_some() {
            d.warn(at(
                &px.place,
                px.kind.keyword(),
                format!(
                    "dispatch address of {kind} '{}' will be ignored in balance mode.",
                    px.name
                ),
            ));
        }
    }
    if px.mode == Mode::Tcp {
        tcp_mode_warnings(px, d);
    }
    let http_check_rules = px.http_check_send.is_some() || !px.http_check_expects.is_empty();
    if px.kind.is_backend() && http_check_rules && px.options.httpchk.is_none() {
        d.warn(at(
            &px.place,
            px.kind.keyword(),
            format!(
                "{kind} '{}' uses http-check rules without 'option httpchk', so the rules are ignored.",
                px.name
            ),
        ));
    }
}

/// HTTP-only settings in a TCP proxy.
fn tcp_mode_warnings(px: &Proxy, d: &mut Diags) {
    let kind = px.kind.type_str();
    let http_rules = [
        ("http-request", &px.http_request),
        ("http-response", &px.http_response),
        ("http-after-response", &px.http_after_response),
    ];
    for (kw, rules) in http_rules {
        if let Some(r) = rules.first() {
            d.warn(Diagnostic::new(
                r.file.clone(),
                r.line,
                kw,
                format!(
                    "'{kw}' rules ignored for {kind} '{}' as they require HTTP mode.",
                    px.name
                ),
            ));
        }
    }
    if px.balance.needs_http() && px.kind.is_backend() {
        // The engine balances it round robin (see engine::build).
        d.warn(at(
            &px.place,
            px.kind.keyword(),
            format!(
                "Layer 7 hash not possible for {kind} '{}' (needs 'mode http'). Falling back to round robin.",
                px.name
            ),
        ));
    }
    if px.cookie.is_some() && px.kind.is_backend() {
        d.warn(at(
            &px.place,
            px.kind.keyword(),
            format!(
                "cookie will be ignored for {kind} '{}' (needs 'mode http').",
                px.name
            ),
        ));
    }
    for s in px.servers.iter().filter(|s| s.opts.cookie.is_some()) {
        d.warn(at(
            &s.place,
            "server",
            format!(
                "{kind} '{}' : ignoring cookie for server '{}' as HTTP mode is disabled.",
                px.name, s.name
            ),
        ));
    }
    if px.monitor_uri.is_some() && px.kind.is_frontend() {
        d.warn(at(
            &px.place,
            px.kind.keyword(),
            format!(
                "monitor-uri will be ignored for {kind} '{}' (needs 'mode http').",
                px.name
            ),
        ));
    }
    if px.options.httplog && px.kind.is_frontend() {
        let opt = if px.options.httpslog {
            "httpslog"
        } else {
            "httplog"
        };
        d.warn(at(&px.place, "option", format!(
            "'option {opt}' not usable with {kind} '{}' (needs 'mode http'). Falling back to 'option tcplog'.",
            px.name
        )));
    }
}
