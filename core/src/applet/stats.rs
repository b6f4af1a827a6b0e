//! `show stat` (HAProxy's CSV, `stats.c`), `show info`, and the server
//! administration commands (`disable/enable server`, `set server ... state
//! ready|maint|drain`, `set weight`, `get weight`).
//!
//! The CSV has HAProxy 2.6's columns in HAProxy 2.6's order, so that
//! scripts written against HAProxy read Sluice's output unchanged; columns
//! Sluice has no value for are empty where HAProxy leaves them empty and 0
//! where it prints 0.

use core::fmt::Write as _;
use std::collections::BTreeMap;

use crate::backend::lb::BE_WEIGHT_SCALE;
use crate::backend::server::{AgentCfg, Server, ServerId, SrvAdmin, SrvState};
use crate::engine::Engine;
use crate::proxy::Proxy;
use crate::sock::LogLevel;
use crate::time::Time;

/// HAProxy 2.6's `show stat` columns, in order (from `stat_fields` and the
/// h1/h2/ssl module columns after `-`).
const COLUMNS: &[&str] = &[
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// The index of the first module column (after `-`).
fn module_start() -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == "-")
        .unwrap_or(COLUMNS.len())
        + 1
}

pub(super) type Row = BTreeMap<&'static str, String>;

fn put(row: &mut Row, k: &'static str, v: impl ToString) {
    row.insert(k, v.to_string());
}

/// The HTTP columns of a row: HAProxy fills them for `mode http` proxies
/// only (empty in `mode tcp`); `req_tot` of a frontend is counted on
/// arrival and put by the caller.
fn put_http(r: &mut Row, p: &Proxy, c: &crate::proxy::HttpCtrs, req_tot: bool) {
    if p.mode != crate::cfgparse::Mode::Http {
        return;
    }
    let names = [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ];
    for (k, v) in names.into_iter().zip(c.hrsp) {
        put(r, k, v);
    }
    if req_tot {
        put(r, "req_tot", c.req_tot);
    }
}

fn render(row: &Row, module_zero: bool) -> String {
    let ms = module_start();
    let mut line = String::new();
    for (i, c) in COLUMNS.iter().enumerate() {
        match row.get(c) {
            Some(v) => line.push_str(v),
            None if *c == "-" => line.push('-'),
            None if i >= ms && module_zero => line.push('0'),
            None => {}
        }
        line.push(',');
    }
    line.push('\n');
    line
}

/// The module columns (after `-`): counters of the TLS, H2 and H1 layers.
pub(super) fn module_columns() -> &'static [&'static str] {
    &COLUMNS[module_start().min(COLUMNS.len())..]
}

/// `show stat`'s CSV of `rows` (servers have `type` 2).
pub(super) fn render_csv(rows: &[Row]) -> String {
    let mut out = String::from("# ");
    out.push_str(&COLUMNS.join(","));
    out.push_str(",\n");
    for r in rows {
        out.push_str(&render(r, r.get("type").is_none_or(|t| t != "2")));
    }
    out.push('\n');
    out
}

/// `show info`'s text: the lines of `row`, in the order of `order`.
pub(super) fn render_info(order: &[&'static str], row: &Row) -> String {
    let mut out = String::new();
    for k in order {
        if let Some(v) = row.get(k) {
            let _ = writeln!(out, "{k}: {v}");
        }
    }
    out.push('\n');
    out
}

/// Whether the page's `;up` keeps the server (HAProxy's `STAT_HIDE_DOWN`
/// hides servers in maintenance and stopped ones).
pub(super) fn server_is_up(s: &Server) -> bool {
    !s.admin.is_maint() && matches!(s.state, SrvState::Running | SrvState::Stopping)
}

/// `UP`, `DOWN`, `UP 1/3` (going down), `DOWN 1/2` (going up), `MAINT`,
/// `DRAIN`, `NOLB`, `no check`, as HAProxy's `srv_hlt_st`: a drained
/// server that is down shows its down state; one without (enabled)
/// checks shows `no check` while up, `DOWN` or `NOLB` when forced there
/// (the stats page's "Health: force DOWN/NOLB").
fn server_status(s: &Server) -> String {
    let down = matches!(s.state, SrvState::Starting | SrvState::Stopped);
    let agent = s.agent.as_ref().filter(|a| !a.disabled);
    match s.admin {
        SrvAdmin::Maint => return "MAINT".into(),
        SrvAdmin::Rmaint => return "MAINT (resolution)".into(),
        SrvAdmin::Drain if !down && agent.is_some() => return "DRAIN (agent)".into(),
        SrvAdmin::Drain if !down => return "DRAIN".into(),
        SrvAdmin::Drain | SrvAdmin::Ready => {}
    }
    if down && agent.is_some_and(|a| a.health == 0) {
        return "DOWN (agent)".into();
    }
    let checked = s
        .check
        .as_ref()
        .filter(|c| !c.disabled)
        .zip(s.cfg.check.as_ref());
    let Some((ck, cc)) = checked else {
        return match s.state {
            SrvState::Running => "no check",
            SrvState::Stopping => "NOLB",
            SrvState::Starting | SrvState::Stopped => "DOWN",
        }
        .into();
    };
    let top = cc.rise + cc.fall - 1;
    match s.state {
        SrvState::Running if ck.health >= top => "UP".into(),
        // Forced NOLB with a full health (a failing check goes below it).
        SrvState::Stopping if ck.health >= top => "NOLB".into(),
        SrvState::Running | SrvState::Stopping => {
            format!("UP {}/{}", ck.health - cc.rise + 1, cc.fall)
        }
        SrvState::Starting if ck.health > 0 => format!("DOWN {}/{}", ck.health, cc.rise),
        SrvState::Starting | SrvState::Stopped => "DOWN".into(),
    }
}

impl Engine {
    /// `show stat`: the CSV header and one line per frontend, server and backend.
    pub(crate) fn cli_show_stat(&self, now: Time) -> String {
        self.stat_csv(now, &|_| true, false)
    }

    /// `show stat`'s rows, in order. `own`: a limited server's `scur` and
    /// `qcur` (and its backend's `qcur`) count this thread's connections
    /// only, without the other threads' `Load` reports (the rows are
    /// summed over the threads, stats_threads.rs).
    pub(crate) fn stat_rows(&self, now: Time, own: bool) -> Vec<Row> {
        let mut rows = Vec::new();
        for p in &self.proxies {
            if p.fe.is_some() {
                rows.push(self.frontend_row(now, p));
            }
            if let Some(b) = &p.be {
                for s in b.servers.iter().filter(|s| !s.deleted) {
                    let mut r = self.server_row(now, p, s);
                    if own {
                        put(&mut r, "scur", s.cur_sess);
                        put(&mut r, "qcur", s.queue.len());
                    }
                    rows.push(r);
                }
                let mut r = self.backend_row(now, p);
                if own {
                    put(&mut r, "qcur", b.queue.len());
                }
                rows.push(r);
            }
        }
        rows
    }

    /// `show stat` restricted to the proxies `keep` accepts; `up_only`
    /// leaves out servers that are not up (the stats page's `;up`).
    pub(crate) fn stat_csv(
        &self,
        now: Time,
        keep: &dyn Fn(&Proxy) -> bool,
        up_only: bool,
    ) -> String {
        let mut out = String::from("# ");
        out.push_str(&COLUMNS.join(","));
        out.push_str(",\n");
        for p in self.proxies.iter().filter(|p| keep(p)) {
            if p.fe.is_some() {
                out.push_str(&render(&self.frontend_row(now, p), true));
            }
            if let Some(b) = &p.be {
                for s in b.servers.iter().filter(|s| !s.deleted) {
                    if up_only && !server_is_up(s) {
                        continue;
                    }
                    out.push_str(&render(&self.server_row(now, p, s), false));
                }
                out.push_str(&render(&self.backend_row(now, p), true));
            }
        }
        out.push('\n');
        out
    }

    fn common_row(&self, p: &Proxy, svname: &str, ty: u32) -> Row {
        let mut r = Row::new();
        put(&mut r, "pxname", &p.name);
        put(&mut r, "svname", svname);
        put(&mut r, "pid", 1);
        put(&mut r, "iid", p.uuid);
        put(&mut r, "type", ty);
        put(&mut r, "mode", p.mode.name());
        r
    }

    pub(super) fn frontend_row(&self, now: Time, p: &Proxy) -> Row {
        let f = p.fe.as_ref().expect("frontend");
        let mut r = self.common_row(p, "FRONTEND", 0);
        let slim = f.maxconn.or(self.maxconn).unwrap_or(0);
        for (k, v) in [
            ("scur", u64::from(f.feconn)),
            ("smax", u64::from(f.max_feconn)),
            ("slim", u64::from(slim)),
            ("stot", f.cum_conn),
            ("bin", f.bytes_in),
            ("bout", f.bytes_out),
            ("dreq", f.denied_req),
            ("dresp", f.denied_resp),
            ("ereq", f.failed_req),
            ("sid", 0),
            ("rate", u64::from(f.sess_rate.rate(now))),
            ("rate_lim", 0),
            ("rate_max", u64::from(f.sess_rate.max())),
            ("comp_in", 0),
            ("comp_out", 0),
            ("comp_byp", 0),
            ("comp_rsp", 0),
            ("conn_rate", u64::from(f.conn_rate.rate(now))),
            ("conn_rate_max", u64::from(f.conn_rate.max())),
            ("conn_tot", f.cum_conn),
            ("dcon", f.denied_conn),
            ("dses", f.denied_sess),
            ("wrew", 0),
            ("eint", 0),
        ] {
            put(&mut r, k, v);
        }
        put_http(&mut r, p, &f.http, false);
        if p.mode == crate::cfgparse::Mode::Http {
            put(&mut r, "req_tot", f.cum_req);
            put(&mut r, "intercepted", f.intercepted_req);
            put(&mut r, "req_rate", f.req_rate.rate(now));
            put(&mut r, "req_rate_max", f.req_rate.max());
        }
        put(
            &mut r,
            "status",
            if self.stopping.is_some() {
                "STOP"
            } else {
                "OPEN"
            },
        );
        r
    }

    pub(super) fn server_row(&self, now: Time, p: &Proxy, s: &Server) -> Row {
        let mut r = self.common_row(p, &s.cfg.name, 2);
        let dynamic = p.be.as_ref().is_some_and(|b| !b.lb.algo().is_static());
        let samples = if p.mode == crate::cfgparse::Mode::Http {
            s.http.req_tot
        } else {
            s.lbconn
        };
        let avg = s.times.avg(samples);
        for (k, v) in [
            ("qcur", u64::from(s.queue_all())),
            ("qmax", u64::from(s.max_queue)),
            ("scur", u64::from(s.cur_sess_all())),
            ("smax", u64::from(s.max_sess)),
            ("stot", s.cum_sess),
            ("bin", s.bytes_in),
            ("bout", s.bytes_out),
            ("dresp", s.denied_resp),
            ("econ", s.econ),
            ("eresp", s.eresp),
            ("wretr", s.wretr),
            ("wredis", s.wredis),
            ("weight", u64::from(s.eweight(dynamic))),
            ("act", u64::from(!s.cfg.backup)),
            ("bck", u64::from(s.cfg.backup)),
            ("lastchg", (now - s.last_change) / 1000),
            ("sid", u64::from(s.cfg.puid)),
            ("lbtot", s.lbconn),
            ("rate", u64::from(s.sess_rate.rate(now))),
            ("rate_max", u64::from(s.sess_rate.max())),
            ("cli_abrt", s.http.cli_abrt),
            ("srv_abrt", s.http.srv_abrt),
            ("qtime", avg[0]),
            ("ctime", avg[1]),
            ("rtime", avg[2]),
            ("ttime", avg[3]),
            ("wrew", 0),
            // Streams that opened a connection vs took an idle one.
            ("connect", s.cum_sess - s.reuse),
            ("reuse", s.reuse),
            ("qtime_max", u64::from(s.times.max[0])),
            ("ctime_max", u64::from(s.times.max[1])),
            ("rtime_max", u64::from(s.times.max[2])),
            ("ttime_max", u64::from(s.times.max[3])),
            ("eint", 0),
            ("idle_conn_cur", 0),
            ("safe_conn_cur", 0),
            ("used_conn_cur", 0),
            ("need_conn_est", 0),
            ("uweight", u64::from(s.uweight)),
        ] {
            put(&mut r, k, v);
        }
        put_http(&mut r, p, &s.http, true);
        put(&mut r, "status", server_status(s));
        put(
            &mut r,
            "slim",
            s.maxconn_limits()
                .0
                .map(|v| v.to_string())
                .unwrap_or_default(),
        );
        put(
            &mut r,
            "qlimit",
            s.cfg.maxqueue.map(|v| v.to_string()).unwrap_or_default(),
        );
        put(&mut r, "lastsess", -1);
        put(&mut r, "addr", s.cfg.addr);
        if let Some(t) = s.throttle(dynamic) {
            put(&mut r, "throttle", t);
        }
        if s.check.is_some() {
            put(&mut r, "chkfail", s.chkfail);
            put(&mut r, "chkdown", s.chkdown);
            put(&mut r, "downtime", 0);
        }
        if s.cfg.observe != crate::cfgparse::ObserveLayer::None {
            put(&mut r, "hanafail", s.hanafail);
        }
        // In maintenance the health check is paused (HAProxy's
        // `CHK_ST_PAUSED`): its columns are empty.
        let running = !s.admin.is_maint();
        if let (Some(ck), Some(cc), true) = (&s.check, &s.cfg.check, running) {
            // `* `: a check is in progress (HAProxy's `CHK_ST_INPROGRESS`).
            let busy = if ck.sock.is_some() { "* " } else { "" };
            if !ck.disabled {
                put(&mut r, "check_status", format!("{busy}{}", ck.last_status));
            }
            put(&mut r, "check_duration", ck.last_duration_ms);
            put(&mut r, "check_rise", cc.rise);
            put(&mut r, "check_fall", cc.fall);
            put(&mut r, "check_health", ck.health);
            let desc = crate::backend::check::status_desc(ck.last_status);
            if matches!(ck.last_status, "L7OK" | "L7OKC" | "L7STS") {
                put(&mut r, "check_code", ck.last_code);
            }
            put(&mut r, "last_chk", &ck.last_info);
            put(&mut r, "check_desc", desc);
        }
        if let Some(ag) = s.agent.as_ref().filter(|a| !a.disabled) {
            let busy = if ag.sock.is_some() { "* " } else { "" };
            put(&mut r, "agent_status", format!("{busy}{}", ag.last_status));
            if crate::backend::agent::has_data(ag.last_status) {
                put(&mut r, "agent_code", ag.last_code);
            }
            put(&mut r, "agent_duration", ag.last_duration_ms);
            put(
                &mut r,
                "agent_desc",
                crate::backend::check::status_desc(ag.last_status),
            );
            put(&mut r, "last_agt", &ag.last_info);
            put(&mut r, "agent_rise", AgentCfg::RISE);
            put(&mut r, "agent_fall", AgentCfg::FALL);
            put(&mut r, "agent_health", ag.health);
        }
        r
    }

    pub(super) fn backend_row(&self, now: Time, p: &Proxy) -> Row {
        let b = p.be.as_ref().expect("backend");
        let mut r = self.common_row(p, "BACKEND", 1);
        let samples = if p.mode == crate::cfgparse::Mode::Http {
            b.http.req_tot
        } else {
            b.servers.iter().map(|s| s.lbconn).sum()
        };
        let avg = b.times.avg(samples);
        let act = b.servers.iter().filter(|s| s.usable() && !s.cfg.backup);
        // HAProxy's `tot_weight`: the effective weights, rounded up once.
        let dynamic = !b.lb.algo().is_static();
        let scale = if dynamic { BE_WEIGHT_SCALE } else { 1 };
        let weight: u64 = act
            .clone()
            .map(|s| u64::from(s.uweight * if dynamic { s.ramp() } else { 1 }))
            .sum::<u64>()
            .div_ceil(u64::from(scale));
        for (k, v) in [
            ("qcur", b.queue_all()),
            ("qmax", u64::from(b.max_queue)),
            ("scur", u64::from(b.beconn)),
            ("smax", u64::from(b.max_beconn)),
            ("stot", b.cum_beconn),
            ("bin", b.bytes_in),
            ("bout", b.bytes_out),
            ("dreq", b.denied_req),
            ("dresp", b.denied_resp),
            ("econ", b.econ),
            ("eresp", b.eresp),
            ("wretr", b.wretr),
            ("wredis", b.wredis),
            ("weight", weight),
            ("act", act.count() as u64),
            (
                "bck",
                b.servers
                    .iter()
                    .filter(|s| s.usable() && s.cfg.backup)
                    .count() as u64,
            ),
            ("chkdown", b.servers.iter().map(|s| s.chkdown).sum()),
            ("lastchg", (now - b.last_change) / 1000),
            ("downtime", 0),
            ("sid", 0),
            ("lbtot", b.servers.iter().map(|s| s.lbconn).sum()),
            ("rate", u64::from(b.sess_rate.rate(now))),
            ("rate_max", u64::from(b.sess_rate.max())),
            ("cli_abrt", b.http.cli_abrt),
            ("srv_abrt", b.http.srv_abrt),
            ("comp_in", 0),
            ("comp_out", 0),
            ("comp_byp", 0),
            ("comp_rsp", 0),
            ("qtime", avg[0]),
            ("ctime", avg[1]),
            ("rtime", avg[2]),
            ("ttime", avg[3]),
            ("wrew", 0),
            (
                "connect",
                b.servers.iter().map(|s| s.cum_sess - s.reuse).sum(),
            ),
            ("reuse", b.servers.iter().map(|s| s.reuse).sum()),
            ("qtime_max", u64::from(b.times.max[0])),
            ("ctime_max", u64::from(b.times.max[1])),
            ("rtime_max", u64::from(b.times.max[2])),
            ("ttime_max", u64::from(b.times.max[3])),
            ("eint", 0),
            ("agg_server_status", 0),
            ("agg_server_check_status", 0),
            ("agg_check_status", 0),
        ] {
            put(&mut r, k, v);
        }
        put_http(&mut r, p, &b.http, true);
        let slim = self.maxconn.unwrap_or(0) / 10;
        put(&mut r, "slim", slim.max(1));
        put(&mut r, "status", p.be_status());
        put(&mut r, "lastsess", -1);
        put(&mut r, "uweight", weight);
        put(&mut r, "algo", b.cfg.balance.name());
        r
    }

    /// `show info`: process-wide counters, one `Name: value` per line.
    pub(crate) fn cli_show_info(&self, now: Time) -> String {
        let lines = self.info_lines(now);
        let order: Vec<&'static str> = lines.iter().map(|l| l.0).collect();
        render_info(&order, &lines.into_iter().collect())
    }

    /// `show info`'s lines as a row (name -> value).
    pub(crate) fn info_row(&self, now: Time) -> Row {
        self.info_lines(now).into_iter().collect()
    }

    /// `show info`'s lines, in order.
    pub(crate) fn info_lines(&self, now: Time) -> Vec<(&'static str, String)> {
        let up = now.as_ms() / 1000;
        let peers: usize = self
            .peers
            .iter()
            .map(|s| s.peers.iter().filter(|p| p.session.is_some()).count())
            .sum();
        let lines: Vec<(&'static str, String)> = vec![
            ("Name", "Sluice".into()),
            ("Version", env!("CARGO_PKG_VERSION").into()),
            ("Nbthread", self.opts.nbthread.to_string()),
            ("Nbproc", "1".into()),
            ("Process_num", "1".into()),
            ("Pid", self.opts.pid.to_string()),
            (
                "Uptime",
                format!(
                    "{}d {}h{:02}m{:02}s",
                    up / 86400,
                    (up % 86400) / 3600,
                    (up % 3600) / 60,
                    up % 60
                ),
            ),
            ("Uptime_sec", up.to_string()),
            ("Maxconn", self.maxconn.unwrap_or(0).to_string()),
            ("Hard_maxconn", self.maxconn.unwrap_or(0).to_string()),
            ("CurrConns", self.actconn.to_string()),
            ("CumConns", self.cum_conn.to_string()),
            (
                "PoolAlloc_bytes",
                (self.pool.in_use() * self.pool.bufsize()).to_string(),
            ),
            (
                "PoolUsed_bytes",
                (self.pool.in_use() * self.pool.bufsize()).to_string(),
            ),
            ("PoolFailed", self.pool.failed.to_string()),
            ("Stopping", u8::from(self.stopping.is_some()).to_string()),
            (
                "Jobs",
                (self.actconn as usize
                    + self.listeners.iter().filter(|l| l.active).count()
                    + peers)
                    .to_string(),
            ),
            (
                "Listeners",
                self.listeners
                    .iter()
                    .filter(|l| l.active)
                    .count()
                    .to_string(),
            ),
            ("ActivePeers", peers.to_string()),
            ("ConnectedPeers", peers.to_string()),
            ("Start_time_sec", (self.opts.epoch_ms / 1000).to_string()),
            // Sluice's own (HAProxy counts glitches, not the kills).
            ("H2GlitchKills", self.h2_glitch_kills.to_string()),
        ];
        lines
    }

    /// Finds `backend/server`.
    fn find_server(&self, arg: &str) -> Result<ServerId, &'static str> {
        let Some((bk, sv)) = arg.split_once('/') else {
            return Err("Require 'backend/server'.\n");
        };
        let be = self.backend_by_name(bk).ok_or("No such backend.\n")?;
        let srv = self.proxies[be]
            .be
            .as_ref()
            .and_then(|b| {
                b.servers
                    .iter()
                    .position(|s| !s.deleted && s.cfg.name == sv)
            })
            .ok_or("No such server.\n")?;
        Ok(ServerId::new(be, srv))
    }

    /// `disable server`, `enable server`, `set server B/S state|weight`.
    pub(crate) fn cli_server_admin(&mut self, now: Time, words: &[&str]) -> String {
        let (verb, target, rest) = match words {
            ["disable", "server", t] => ("maint", *t, &[][..]),
            ["enable", "server", t] => ("ready", *t, &[][..]),
            ["set", "server", t, "state", st] => (*st, *t, &[][..]),
            ["set", "server", t, "weight", w] => ("weight", *t, std::slice::from_ref(w)),
            ["set", "weight", t, w] => ("weight", *t, std::slice::from_ref(w)),
            ["get", "weight", t] => ("get", *t, &[][..]),
            ["set", "server", t, "fqdn", rest @ ..] => ("fqdn", *t, rest),
            _ => {
                return "'set server <srv>' only supports 'state' and 'weight' in this version.\n"
                    .into()
            }
        };
        let srv = match self.find_server(target) {
            Ok(x) => x,
            Err(e) => return e.into(),
        };
        match verb {
            "get" => {
                let s = self.server(srv).expect("found");
                format!("{} (initial {})\n", s.uweight, s.cfg.iweight)
            }
            "weight" => self.set_weight(srv, rest[0]),
            "fqdn" => self.cli_set_fqdn(now, srv, rest.first().copied()),
            "ready" | "maint" | "drain" => {
                let admin = match verb {
                    "ready" => SrvAdmin::Ready,
                    "maint" => SrvAdmin::Maint,
                    _ => SrvAdmin::Drain,
                };
                self.set_admin(now, srv, admin);
                String::new()
            }
            _ => "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
        }
    }

    fn set_weight(&mut self, srv: ServerId, w: &str) -> String {
        let be = srv.be;
        let s = self.server_mut(srv).expect("found");
        let weight = match w.strip_suffix('%') {
            Some(pct) => pct
                .parse::<u64>()
                .ok()
                .map(|p| (u64::from(s.cfg.iweight) * p / 100) as u32),
            None => w.parse::<u32>().ok(),
        };
        let Some(weight) = weight else {
            return "Empty weight string empty or preceded by garbage\n".into();
        };
        if weight > 256 {
            return "Absolute weight can only be between 0 and 256 inclusive.\n".into();
        }
        s.uweight = weight;
        self.lb_recalc(be);
        self.redistribute_queue(be);
        String::new()
    }

    pub(crate) fn set_admin(&mut self, now: Time, srv: ServerId, admin: SrvAdmin) {
        self.set_admin_why(now, srv, admin, None)
    }

    /// [`Engine::set_admin`], the log line naming `why` (HAProxy's
    /// `srv_adm_st_chg_cause`, as "DNS NX status").
    pub(crate) fn set_admin_why(
        &mut self,
        now: Time,
        srv: ServerId,
        admin: SrvAdmin,
        why: Option<&str>,
    ) {
        let be = srv.be;
        let p = &mut self.proxies[be];
        let name = format!(
            "{}/{}",
            p.name,
            p.be.as_ref().expect("backend").servers[srv].cfg.name
        );
        let s = &mut p.be.as_mut().expect("backend").servers[srv];
        if s.admin == admin {
            return;
        }
        s.last_change = now;
        let was = std::mem::replace(&mut s.admin, admin);
        let was_maint = was.is_maint();
        if let Some(ck) = s.check.as_mut() {
            // HAProxy pauses enabled checks for the maintenance.
            if admin.is_maint() && !was_maint {
                ck.paused = !ck.disabled;
            } else if !admin.is_maint() {
                ck.paused = false;
            }
        }
        if was_maint && !admin.is_maint() && s.cfg.dynamic && s.state == SrvState::Stopped {
            // A dynamic server leaving maintenance starts up, its checks
            // (if on) at `rise`, as HAProxy's `srv_update_status` does
            // ("start OK but check immediately").
            s.state = SrvState::Running;
            if let (Some(ck), Some(cc)) = (s.check.as_mut(), s.cfg.check.as_ref()) {
                ck.health = cc.rise;
            }
        }
        let up = matches!(s.state, SrvState::Running | SrvState::Stopping);
        let was_rmaint = was == SrvAdmin::Rmaint;
        // HAProxy's `srv_was_stopping`: going down from NOLB or drain is
        // a notice, from UP an alert.
        let was_stopping = s.state == SrvState::Stopping || was == SrvAdmin::Drain;
        let (cur, requeued) = (s.cur_sess, s.queue.len());
        let bk = if s.cfg.backup { "Backup " } else { "" };
        let was_usable = was == SrvAdmin::Ready && up && s.uweight > 0;
        let b = self.proxies[be].be.as_ref().expect("backend");
        let left = |backup: bool| {
            b.servers
                .iter()
                .filter(|s| s.usable() && s.cfg.backup == backup)
                .count()
        };
        let (active, backup) = (left(false), left(true));
        let on_backup = if backup > 0 && active == 0 {
            " Running on backup."
        } else {
            ""
        };
        let cause = why.map(|w| format!(" ({w})")).unwrap_or_default();
        // HAProxy's `_srv_update_status_adm` lines and levels, sent to
        // the backend's log targets.
        let (level, text) = match admin {
            SrvAdmin::Maint | SrvAdmin::Rmaint if !up => (
                LogLevel::Notice,
                format!("{bk}Server {name} was DOWN and now enters maintenance{cause}."),
            ),
            SrvAdmin::Maint | SrvAdmin::Rmaint => (
                if was_stopping {
                    LogLevel::Notice
                } else {
                    LogLevel::Alert
                },
                format!(
                    "{bk}Server {name} is going DOWN for maintenance{cause}. {active} active and {backup} backup servers left.{on_backup} {cur} sessions active, {requeued} requeued, 0 remaining in queue."
                ),
            ),
            SrvAdmin::Ready if was_rmaint => (
                LogLevel::Notice,
                format!("{bk}Server {name} is UP/READY (resolves again)."),
            ),
            SrvAdmin::Drain => (
                LogLevel::Notice,
                format!(
                    "{bk}Server {name} enters drain state. {active} active and {backup} backup servers online.{on_backup} {requeued} sessions requeued, 0 total in queue."
                ),
            ),
            SrvAdmin::Ready => (
                LogLevel::Notice,
                // Checks restart at `rise`: up (HAProxy's "start OK but
                // check immediately").
                format!("{bk}Server {name} is UP/READY (leaving forced maintenance)."),
            ),
        };
        self.log_px(Some(be), level, text);
        // The last usable server gone: HAProxy's `set_backend_down`.
        if was_usable && active + backup == 0 {
            let pname = self.proxies[be].name.clone();
            self.log_px(
                Some(be),
                LogLevel::Emerg,
                format!("backend {pname} has no server available!"),
            );
        }
        if admin != SrvAdmin::Ready {
            // Its waiting streams go back to the backend's queue.
            let b = self.proxies[be].be.as_mut().expect("backend");
            b.requeue_server(&mut self.streams, srv);
        }
        if admin.is_maint() {
            self.warmup_stop(srv);
        } else if was_maint && up {
            // Leaving maintenance: back with a slowstart (HAProxy's
            // `SRV_ST_STARTING`).
            self.warmup_start(now, srv);
        }
        self.lb_recalc(be);
        let cfg = std::sync::Arc::clone(&self.server(srv).expect("found").cfg);
        if admin.is_maint() && up && cfg.on_marked_down_shutdown {
            // HAProxy's maintenance of a running server.
            self.srv_shutdown_streams(now, srv, crate::stream::ErrCode::Down);
        } else if was_maint && admin == SrvAdmin::Ready && up {
            self.srv_up_shutdown_backups(now, srv);
        }
        self.redistribute_queue(be);
    }
}
