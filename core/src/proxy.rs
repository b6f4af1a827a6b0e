//! Proxies at run time: HAProxy's `struct proxy` (frontend and backend
//! capabilities), with their counters. Servers are in
//! [`crate::backend::server`].
//!
//! A `listen` section is one proxy with both capabilities; a frontend
//! points at backends by index. Counters follow HAProxy's names (`feconn`,
//! `cum_conn`, `beconn`, `cur_sess`...) because `show stat` prints them.
//!
//! Invariants: `feconn` counts live sessions of the frontend, `beconn` live
//! streams of the backend, `cur_sess` live connections to a server (or
//! connection attempts); each is moved exactly once up and once down, by
//! the entity's creation and release.

use std::collections::VecDeque;

use crate::arena::Id;
use crate::backend::server::Server;
use crate::cfgparse::{self, Mode, Timeouts};
use crate::sock::ListenerId;
use crate::stream::Stream;
use crate::time::Time;

/// A proxy (frontend, backend or `listen`): its position in the engine's
/// proxy list, fixed when the configuration is loaded. HAProxy has one
/// `struct proxy` for every kind, so Sluice has one handle for all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct ProxyId(pub u32);

impl ProxyId {
    /// The handle of the proxy at position `i` of the engine's list.
    pub const fn new(i: usize) -> ProxyId {
        ProxyId(i as u32)
    }

    /// Its position in the engine's list.
    pub const fn idx(self) -> usize {
        self.0 as usize
    }
}

impl core::ops::Index<ProxyId> for [Proxy] {
    type Output = Proxy;
    fn index(&self, id: ProxyId) -> &Proxy {
        &self[id.idx()]
    }
}

impl core::ops::IndexMut<ProxyId> for [Proxy] {
    fn index_mut(&mut self, id: ProxyId) -> &mut Proxy {
        &mut self[id.idx()]
    }
}

impl core::ops::Index<ProxyId> for Vec<Proxy> {
    type Output = Proxy;
    fn index(&self, id: ProxyId) -> &Proxy {
        &self[id.idx()]
    }
}

impl core::ops::IndexMut<ProxyId> for Vec<Proxy> {
    fn index_mut(&mut self, id: ProxyId) -> &mut Proxy {
        &mut self[id.idx()]
    }
}

/// An event rate over one second and its peak (`freq_ctr` plus the
/// `*_max` of `show stat`: `sess_per_sec`, `conn_per_sec`, `req_per_sec`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RateCtr {
    ctr: crate::freq_ctr::FreqCtr,
    max: u32,
}

impl RateCtr {
    /// One more event at `now`.
    pub fn hit(&mut self, now: Time) {
        let r = self.ctr.update(now.tick(), 1000, 1);
        self.max = self.max.max(r);
    }

    /// Events over the last second, as HAProxy reads them.
    pub fn rate(&self, now: Time) -> u32 {
        self.ctr.read(now.tick(), 1000)
    }

    /// The highest rate seen.
    pub fn max(&self) -> u32 {
        self.max
    }
}

/// The per-object counters of ended streams that `show stat` shows for
/// HTTP (`p->fe_counters.p.http`, `be_counters`, `srv->counters`).
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpCtrs {
    /// `hrsp_1xx` .. `hrsp_5xx`, `hrsp_other`.
    pub hrsp: [u64; 6],
    /// `req_tot` (backends and servers; frontends count on arrival).
    pub req_tot: u64,
    /// `cli_abrt`, `srv_abrt`: data transfers aborted by either side.
    pub cli_abrt: u64,
    pub srv_abrt: u64,
}

/// HAProxy's `TIME_STATS_SAMPLES`: the sliding window of the time
/// averages in `show stat`.
pub const TIME_STATS_SAMPLES: u64 = 512;

/// The time averages and maxima of `show stat` (`qtime ctime rtime ttime`
/// and their `_max`), as HAProxy's `q_time c_time d_time t_time` and
/// `qtime_max ..` counters of a backend or a server (its
/// `stream_update_time_stats`): each stream that reached a connection adds
/// its queue, connect, response and total times in ms. Until
/// [`TIME_STATS_SAMPLES`] samples are counted the sums only grow (an exact
/// average); after, each sample replaces one average sample
/// (`swrate_add_dynamic`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TimeStats {
    /// Sums of queue, connect, data (response headers) and total times.
    pub sum: [u32; 4],
    pub max: [u32; 4],
}

impl TimeStats {
    /// Adds one stream's times; `count` is the number of samples so far,
    /// this one included (`cum_req` in HTTP, `cum_lbconn` otherwise).
    pub fn add(&mut self, count: u64, v: [u32; 4]) {
        let n = if count > TIME_STATS_SAMPLES {
            TIME_STATS_SAMPLES as u32
        } else {
            0
        };
        for (i, v) in v.into_iter().enumerate() {
            let old = self.sum[i];
            let drop = if n > 0 { old.div_ceil(n) } else { 0 };
            self.sum[i] = old.wrapping_sub(drop).wrapping_add(v);
            self.max[i] = self.max[i].max(v);
        }
    }

    /// The averages over the window (`swrate_avg`, rounded up as HAProxy).
    pub fn avg(&self, count: u64) -> [u64; 4] {
        let n = if count > 0 && count < TIME_STATS_SAMPLES {
            count
        } else {
            TIME_STATS_SAMPLES
        };
        self.sum.map(|s| u64::from(s).div_ceil(n))
    }
}

impl HttpCtrs {
    /// Counts the final status of one response.
    pub fn count_status(&mut self, status: u16) {
        let class = match status / 100 {
            c @ 1..=5 => usize::from(c) - 1,
            _ => 5,
        };
        self.hrsp[class] += 1;
    }
}

/// The frontend capability.
#[derive(Debug, Default)]
pub struct Frontend {
    pub maxconn: Option<u32>,
    /// Live sessions (`feconn`).
    pub feconn: u32,
    pub max_feconn: u32,
    pub cum_conn: u64,
    pub cum_sess: u64,
    pub denied_conn: u64,
    pub denied_sess: u64,
    pub failed_req: u64,
    /// HTTP requests received (`req_tot`).
    pub cum_req: u64,
    /// Requests denied by rules (`dreq`).
    pub denied_req: u64,
    /// Responses denied by rules (`dresp`).
    pub denied_resp: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Responses by class (`hrsp_*`).
    pub http: HttpCtrs,
    /// Sessions, connections and HTTP requests per second.
    pub sess_rate: RateCtr,
    pub conn_rate: RateCtr,
    pub req_rate: RateCtr,
    pub default_backend: Option<ProxyId>,
    pub listeners: Vec<ListenerId>,
    /// Traffic lines logged (`%lc`).
    pub log_count: u64,
    /// `monitor-uri` (HTTP mode only).
    pub monitor_uri: Option<String>,
    /// Requests answered by the proxy itself (`intercepted`): monitor
    /// requests.
    pub intercepted_req: u64,
}

/// The backend capability's configuration: fixed when the configuration
/// is loaded, shared read-only by every engine (behind an `Arc`).
#[derive(Debug)]
pub struct BackendCfg {
    pub retries: u32,
    /// `retry-on`.
    pub retry_on: cfgparse::RetryOn,
    /// `fullconn`, or 10% of the `maxconn` of the frontends that can reach
    /// the backend (HAProxy's `proxy_adjust_all_maxconn`), at least 1.
    pub fullconn: u32,
    pub redispatch: bool,
    /// `option persist`.
    pub persist: bool,
    /// `option prefer-last-server`.
    pub prefer_last_server: bool,
    /// `http-send-name-header NAME` (HTTP mode; lower case): set to the
    /// server's name in each request, when it leaves for a server.
    pub server_id_hdr_name: Option<String>,
    /// `cookie` (HTTP mode only, as HAProxy: ignored with a warning in
    /// TCP mode).
    pub cookie: Option<cfgparse::CookieCfg>,
    pub balance: cfgparse::Balance,
    /// Where streams go without a balancing algorithm (no `balance` line
    /// and `dispatch` or `option transparent`): `None` balances them over
    /// the servers.
    pub no_lb: Option<NoLb>,
    /// `hash-type`.
    pub hash_type: cfgparse::HashType,
    /// `balance hash EXPR`'s expression.
    pub hash_expr: Option<crate::sample::SampleExpr>,
    /// The proxy's own stick table (`stick-table`).
    pub table: Option<crate::stick_table::TableId>,
    /// `stick on|match|store-request`: (table, store, match).
    pub stick: Vec<StickRule>,
    /// The check a server added by `add server ... check` gets (HAProxy
    /// 2.6 builds it from the backend's check rules, without
    /// `default-server`): HAProxy's defaults for the timers, the
    /// backend's `option httpchk` / `tcp-check` rules, no TLS, and as
    /// address port a `tcp-check connect port` (0: the server's).
    pub dyn_check: crate::backend::server::CheckCfg,
    /// Why [`dyn_check`](Self::dyn_check)'s script could not be built (a
    /// `tcp-check connect ssl` whose `default-server` TLS settings are
    /// unusable, as `verify required` without a CA file): HAProxy only
    /// meets it when a server is added, so `add server ... check` is
    /// refused with it then.
    pub dyn_check_err: Option<String>,
}

/// The backend capability at run time, in the same three parts as a
/// [`Server`]: [`cfg`](Self::cfg) is the configuration; the queue, the
/// live and cumulated counts, the load balancer's state and the counters
/// are process-wide state (issue 13 wraps them for sharing); nothing of a
/// backend is per-thread yet (its servers' idle pools are, see
/// [`crate::backend::server::SrvPerThr`]).
#[derive(Debug)]
pub struct Backend {
    pub cfg: std::sync::Arc<BackendCfg>,
    pub servers: Vec<Server>,
    /// Streams waiting for any server (`queue`).
    pub queue: VecDeque<Id<Stream>>,
    pub max_queue: u32,
    /// Live streams (`beconn`).
    pub beconn: u32,
    pub max_beconn: u32,
    pub cum_beconn: u64,
    /// The load-balancing algorithm's state.
    pub lb: crate::backend::lb::Lb,
    /// Requests denied by the backend's rules (`dreq`), responses denied
    /// by either proxy's rules (`dresp`).
    pub denied_req: u64,
    pub denied_resp: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub econ: u64,
    pub eresp: u64,
    pub wretr: u64,
    pub wredis: u64,
    pub last_change: Time,
    pub http: HttpCtrs,
    /// `qtime ctime rtime ttime` and their maxima.
    pub times: TimeStats,
    /// Streams assigned per second.
    pub sess_rate: RateCtr,
}

/// The target of a backend that balances nothing (HAProxy's
/// `PR_O_DISPATCH` and `PR_O_TRANSP` without `BE_LB_KIND`): streams that
/// persistence did not send to a server connect there, with the backend
/// and no server as their target (logged `<NOSRV>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoLb {
    /// `dispatch ADDR:PORT`.
    Dispatch(core::net::SocketAddr),
    /// `option transparent`: the address the client connected to.
    Transparent,
}

/// A `stick` rule on the source address (what the TCP data path needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StickRule {
    /// Its index in the proxy's `RuleSet::sticking` (its condition).
    pub rule: usize,
    /// `stick store-response`: stored when the response head arrives.
    pub on_response: bool,
    /// Engine index of the table.
    pub table: crate::stick_table::TableId,
    /// Look up the server (`stick on`, `stick match`).
    pub matching: bool,
    /// Record the server (`stick on`, `stick store-request`).
    pub storing: bool,
}

/// A proxy at run time.
#[derive(Debug)]
pub struct Proxy {
    pub name: String,
    /// Numeric id (`iid` in `show stat`).
    pub uuid: u32,
    pub mode: Mode,
    pub timeouts: Timeouts,
    pub fe: Option<Frontend>,
    pub be: Option<Backend>,
    /// Whether connections are logged (a `log` line applies).
    pub log: bool,
    pub dontlognull: bool,
    /// `option dontlog-normal`.
    pub dontlog_normal: bool,
    /// `option log-separate-errors`.
    pub log_separate_errors: bool,
    /// `option logasap`: the stream's line is emitted early (response
    /// headers in HTTP, server connection in TCP); `%Tt`, `%Ta` and `%B`
    /// are then prefixed with `+` (HAProxy: `LW_BYTES` left out of
    /// `to_log`).
    pub logasap: bool,
    /// An HTTP frontend that logs but has no log format (no `log-format`,
    /// `option httplog`, `httpslog` or `tcplog`): each stream logs
    /// `Connect from A to B (fe/HTTP)` when its request starts, and no line
    /// at its end (HAProxy's `frontend_accept` without a `logformat`).
    pub log_connect: bool,
    /// `option log-health-checks`: every change of a server's check status
    /// or health is logged.
    pub log_health_checks: bool,
    /// `log-format`, unique ids and captures.
    pub logcfg: std::sync::Arc<crate::log::LogCfg>,
    /// `option splice-auto` / `splice-request` / `splice-response`: which
    /// directions may be spliced (request, response).
    pub splice: (bool, bool),
    /// ACLs and rules (`tcp-request`, `http-request`, `use_backend`...).
    pub rules: std::sync::Arc<crate::rules::RuleSet>,
    /// `option http-keep-alive | http-server-close | httpclose`.
    pub http_conn_mode: cfgparse::HttpConnMode,
    /// `option forwardfor`.
    pub forwardfor: Option<cfgparse::ForwardFor>,
    /// `option originalto`.
    pub originalto: Option<cfgparse::OriginalTo>,
    /// `option http-restrict-req-hdr-names`.
    pub restrict_req_hdr_names: cfgparse::RestrictHdrNames,
    /// `http-reuse`.
    pub http_reuse: cfgparse::HttpReuse,
    /// `tcp-request inspect-delay`: how long content rules may wait for
    /// data.
    pub inspect_delay_ms: Option<u32>,
    /// `tcp-response inspect-delay`: how long `tcp-response content`
    /// rules may wait for response data (`tcp_rep.inspect_delay`).
    pub res_inspect_delay_ms: Option<u32>,
    /// `errorfile`, `errorfiles`: pages that replace the built-in ones.
    pub errors: std::sync::Arc<crate::http::errors::ErrorPages>,
    /// `stats ...`: the stats page (HAProxy's `uri_auth`), HTTP mode only.
    pub stats: Option<std::sync::Arc<crate::applet::stats_page::StatsPage>>,
    /// `option http-buffer-request` (HAProxy's `PR_O_WREQ_BODY`): the
    /// request body is awaited (`AN_REQ_HTTP_BODY`) before the rules of
    /// this proxy run.
    pub http_buffer_request: bool,
    /// `option abortonclose` (`PR_O_ABRT_CLOSE`), backend side.
    pub abortonclose: bool,
    /// `option http-ignore-probes` (`PR_O2_IGNORE_PROBES`), frontend side.
    pub http_ignore_probes: bool,
    /// `option disable-h2-upgrade` (`PR_O2_NO_H2_UPGRADE`), frontend side:
    /// no implicit HTTP/1 to HTTP/2 upgrade on the client preface.
    pub disable_h2_upgrade: bool,
    /// `compression ...` (HTTP mode only): HAProxy's `struct comp`.
    pub compression: Option<std::sync::Arc<crate::http::comp::CompCfg>>,
    /// The last request the H1 parser refused on this frontend (HAProxy's
    /// `invalid_req`), for `show errors`.
    pub invalid_req: Option<Box<ErrorSnapshot>>,
    /// The last response the H1 parser refused on this backend
    /// (`invalid_rep`).
    pub invalid_rep: Option<Box<ErrorSnapshot>>,
}

/// A refused HTTP/1 message, as HAProxy's `struct error_snapshot` keeps
/// it (`proxy_capture_error`, called by `mux_h1`'s
/// `h1_capture_bad_message`): the input bytes of the buffer the parser
/// read, where it stopped, and around what. One per proxy and side, the
/// newest replacing the older; the bytes are at most `tune.bufsize`.
#[derive(Clone, Debug)]
pub struct ErrorSnapshot {
    /// When, in ms since the Unix epoch (the engine's `now` plus its
    /// epoch: a date to print, never a decision).
    pub date_ms: u64,
    /// The event number (HAProxy's global `error_snapshot_id` at capture).
    pub ev_id: u32,
    /// The client's address.
    pub src: Option<core::net::SocketAddr>,
    /// The other end: the backend of a request (once known), the frontend
    /// of a response.
    pub oe: Option<ProxyId>,
    /// The server a response came from: its name and id (`puid`).
    pub srv: Option<(String, u32)>,
    /// The buffer's input: the message from its first byte.
    pub buf: Box<[u8]>,
    /// Where the parser refused it (HAProxy's `h1m->err_pos`), in `buf`.
    pub err_pos: usize,
    /// The parser's state then (`h1m->err_state`).
    pub state: crate::http::h1::errpos::H1MsgState,
    /// Bytes left in the current chunk or body (`h1m->curr_len`).
    pub m_clen: u64,
    /// Body bytes seen (`h1m->body_len`).
    pub m_blen: u64,
}

impl Proxy {
    /// `option httpclose`: no keep-alive on either side.
    pub fn http_close_mode(&self) -> bool {
        self.http_conn_mode == cfgparse::HttpConnMode::Close
    }

    /// `option http-server-close` (or `httpclose`): a new server connection
    /// per request.
    pub fn http_server_close_mode(&self) -> bool {
        self.http_conn_mode != cfgparse::HttpConnMode::KeepAlive
    }

    /// `show stat`'s `status` column for a frontend or backend line.
    pub fn be_status(&self) -> &'static str {
        match &self.be {
            Some(be) if be.servers.iter().any(Server::usable) => "UP",
            Some(_) => "DOWN",
            None => "OPEN",
        }
    }
}
