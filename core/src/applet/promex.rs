//! `http-request use-service prometheus-exporter`: HAProxy's Prometheus
//! exporter (`addons/promex/service-prometheus.c`), an applet that answers
//! the request with the process, frontend, backend, server and stick table
//! metrics in the Prometheus text format (version 0.0.4).
//!
//! Metric names, types, HELP texts and labels are HAProxy 2.6's, so that
//! dashboards and alerts written for HAProxy read Sluice unchanged. The
//! values come from the same rows as `show stat` and `show info`; a metric
//! whose counter Sluice does not keep is left out rather than reported as
//! a zero (`docs/prometheus.md` lists them). As in HAProxy, an empty
//! field (a server without `maxconn`, say) is `NaN`.
//!
//! The text format is written here rather than with a crate: the output is
//! a handful of `# HELP`/`# TYPE` lines and samples with fixed label sets,
//! produced from the engine's state in one pass inside the sans-IO core,
//! and crates such as `prometheus-client` want registered metric objects
//! that own their values (atomics), which the engine's plain counters are
//! not.
//!
//! The query string selects what is dumped, as in HAProxy: `scope=NAME`
//! (repeatable; `global`, `frontend`, `backend`, `server`, `sticktable`,
//! `*` for all, empty for none; without any `scope` everything is dumped)
//! and `no-maint` (servers in maintenance are skipped). An unknown scope
//! is answered with a 400.

use core::fmt::Write as _;

use super::stats::Row;
use crate::backend::server::{Server, SrvAdmin, SrvState};
use crate::engine::Engine;
use crate::proxy::Proxy;
use crate::time::Time;

/// The metric types HAProxy 2.6 uses.
#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// Where a proxy or server metric's value comes from.
#[derive(Clone, Copy)]
enum Src {
    /// A `show stat` column; an empty field is `NaN`, a missing one no
    /// sample.
    Col(&'static str),
    /// `state="..."`: 1 for the current state, 0 for the others.
    Status,
    /// `code="1xx"`...`code="other"` from the `hrsp_*` columns.
    Hrsp,
    /// A backend's servers counted per state.
    AggStatus,
    /// A server's last check result, per `state="..."`.
    CheckStatus,
    /// A `show stat` column in ms, in seconds (`check_duration`, the
    /// time averages and maxima).
    Secs(&'static str),
}

/// A frontend, backend or server metric: `haproxy_<scope>_<name>`.
struct Metric {
    name: &'static str,
    kind: Kind,
    src: Src,
    help: &'static str,
}

/// The frontend metrics Sluice has counters for, in HAProxy's order.
const FRONTEND: &[Metric] = &[
    Metric { name: "current_sessions", kind: Kind::Gauge, src: Src::Col("scur"), help: "Number of current sessions on the frontend, backend or server" },
    Metric { name: "max_sessions", kind: Kind::Gauge, src: Src::Col("smax"), help: "Highest value of current sessions encountered since process started" },
    Metric { name: "limit_sessions", kind: Kind::Gauge, src: Src::Col("slim"), help: "Frontend/listener/server's maxconn, backend's fullconn" },
    Metric { name: "sessions_total", kind: Kind::Counter, src: Src::Col("stot"), help: "Total number of sessions since process started" },
    Metric { name: "bytes_in_total", kind: Kind::Counter, src: Src::Col("bin"), help: "Total number of request bytes since process started" },
    Metric { name: "bytes_out_total", kind: Kind::Counter, src: Src::Col("bout"), help: "Total number of response bytes since process started" },
    Metric { name: "requests_denied_total", kind: Kind::Counter, src: Src::Col("dreq"), help: "Total number of denied requests since process started" },
    Metric { name: "responses_denied_total", kind: Kind::Counter, src: Src::Col("dresp"), help: "Total number of denied responses since process started" },
    Metric { name: "request_errors_total", kind: Kind::Counter, src: Src::Col("ereq"), help: "Total number of invalid requests since process started" },
    Metric { name: "status", kind: Kind::Gauge, src: Src::Status, help: "Current status of the service, per state label value." },
    Metric { name: "max_session_rate", kind: Kind::Gauge, src: Src::Col("rate_max"), help: "Highest value of sessions per second observed since the worker process started" },
    Metric { name: "http_responses_total", kind: Kind::Counter, src: Src::Hrsp, help: "Total number of HTTP responses with status 100-199 returned by this object since the worker process started" },
    Metric { name: "http_requests_rate_max", kind: Kind::Gauge, src: Src::Col("req_rate_max"), help: "Highest value of http requests observed since the worker process started" },
    Metric { name: "http_requests_total", kind: Kind::Counter, src: Src::Col("req_tot"), help: "Total number of HTTP requests processed by this object since the worker process started" },
    Metric { name: "connections_rate_max", kind: Kind::Gauge, src: Src::Col("conn_rate_max"), help: "Highest value of connections per second observed since the worker process started" },
    Metric { name: "connections_total", kind: Kind::Counter, src: Src::Col("conn_tot"), help: "Total number of new connections accepted on this frontend since the worker process started" },
    Metric { name: "denied_connections_total", kind: Kind::Counter, src: Src::Col("dcon"), help: "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started" },
    Metric { name: "denied_sessions_total", kind: Kind::Counter, src: Src::Col("dses"), help: "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started" },
];

/// The backend metrics Sluice has counters for, in HAProxy's order.
const BACKEND: &[Metric] = &[
    Metric { name: "current_queue", kind: Kind::Gauge, src: Src::Col("qcur"), help: "Number of current queued connections" },
    Metric { name: "max_queue", kind: Kind::Gauge, src: Src::Col("qmax"), help: "Highest value of queued connections encountered since process started" },
    Metric { name: "current_sessions", kind: Kind::Gauge, src: Src::Col("scur"), help: "Number of current sessions on the frontend, backend or server" },
    Metric { name: "max_sessions", kind: Kind::Gauge, src: Src::Col("smax"), help: "Highest value of current sessions encountered since process started" },
    Metric { name: "limit_sessions", kind: Kind::Gauge, src: Src::Col("slim"), help: "Frontend/listener/server's maxconn, backend's fullconn" },
    Metric { name: "sessions_total", kind: Kind::Counter, src: Src::Col("stot"), help: "Total number of sessions since process started" },
    Metric { name: "bytes_in_total", kind: Kind::Counter, src: Src::Col("bin"), help: "Total number of request bytes since process started" },
    Metric { name: "bytes_out_total", kind: Kind::Counter, src: Src::Col("bout"), help: "Total number of response bytes since process started" },
    Metric { name: "requests_denied_total", kind: Kind::Counter, src: Src::Col("dreq"), help: "Total number of denied requests since process started" },
    Metric { name: "responses_denied_total", kind: Kind::Counter, src: Src::Col("dresp"), help: "Total number of denied responses since process started" },
    Metric { name: "connection_errors_total", kind: Kind::Counter, src: Src::Col("econ"), help: "Total number of failed connections to server since the worker process started" },
    Metric { name: "response_errors_total", kind: Kind::Counter, src: Src::Col("eresp"), help: "Total number of invalid responses since the worker process started" },
    Metric { name: "retry_warnings_total", kind: Kind::Counter, src: Src::Col("wretr"), help: "Total number of server connection retries since the worker process started" },
    Metric { name: "redispatch_warnings_total", kind: Kind::Counter, src: Src::Col("wredis"), help: "Total number of server redispatches due to connection failures since the worker process started" },
    Metric { name: "status", kind: Kind::Gauge, src: Src::Status, help: "Current status of the service, per state label value." },
    Metric { name: "weight", kind: Kind::Gauge, src: Src::Col("weight"), help: "Server's effective weight, or sum of active servers' effective weights for a backend" },
    Metric { name: "active_servers", kind: Kind::Gauge, src: Src::Col("act"), help: "Total number of active UP servers with a non-zero weight" },
    Metric { name: "backup_servers", kind: Kind::Gauge, src: Src::Col("bck"), help: "Total number of backup UP servers with a non-zero weight" },
    Metric { name: "check_up_down_total", kind: Kind::Counter, src: Src::Col("chkdown"), help: "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started" },
    Metric { name: "check_last_change_seconds", kind: Kind::Gauge, src: Src::Col("lastchg"), help: "How long ago the last server state changed, in seconds" },
    Metric { name: "loadbalanced_total", kind: Kind::Counter, src: Src::Col("lbtot"), help: "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)" },
    Metric { name: "max_session_rate", kind: Kind::Gauge, src: Src::Col("rate_max"), help: "Highest value of sessions per second observed since the worker process started" },
    Metric { name: "http_responses_total", kind: Kind::Counter, src: Src::Hrsp, help: "Total number of HTTP responses with status 100-199 returned by this object since the worker process started" },
    Metric { name: "http_requests_total", kind: Kind::Counter, src: Src::Col("req_tot"), help: "Total number of HTTP requests processed by this object since the worker process started" },
    Metric { name: "client_aborts_total", kind: Kind::Counter, src: Src::Col("cli_abrt"), help: "Total number of requests or connections aborted by the client since the worker process started" },
    Metric { name: "server_aborts_total", kind: Kind::Counter, src: Src::Col("srv_abrt"), help: "Total number of requests or connections aborted by the server since the worker process started" },
    Metric { name: "queue_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("qtime"), help: "Avg. queue time for last 1024 successful connections." },
    Metric { name: "connect_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("ctime"), help: "Avg. connect time for last 1024 successful connections." },
    Metric { name: "response_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("rtime"), help: "Avg. response time for last 1024 successful connections." },
    Metric { name: "total_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("ttime"), help: "Avg. total time for last 1024 successful connections." },
    Metric { name: "connection_attempts_total", kind: Kind::Counter, src: Src::Col("connect"), help: "Total number of outgoing connection attempts on this backend/server since the worker process started" },
    Metric { name: "connection_reuses_total", kind: Kind::Counter, src: Src::Col("reuse"), help: "Total number of reused connection on this backend/server since the worker process started" },
    Metric { name: "max_queue_time_seconds", kind: Kind::Gauge, src: Src::Secs("qtime_max"), help: "Maximum observed time spent in the queue" },
    Metric { name: "max_connect_time_seconds", kind: Kind::Gauge, src: Src::Secs("ctime_max"), help: "Maximum observed time spent waiting for a connection to complete" },
    Metric { name: "max_response_time_seconds", kind: Kind::Gauge, src: Src::Secs("rtime_max"), help: "Maximum observed time spent waiting for a server response" },
    Metric { name: "max_total_time_seconds", kind: Kind::Gauge, src: Src::Secs("ttime_max"), help: "Maximum observed total request+response time (request+queue+connect+response+processing)" },
    Metric { name: "uweight", kind: Kind::Gauge, src: Src::Col("uweight"), help: "Server's user weight, or sum of active servers' user weights for a backend" },
    Metric { name: "agg_server_status", kind: Kind::Gauge, src: Src::AggStatus, help: "Backend's aggregated gauge of servers' status" },
    Metric { name: "agg_server_check_status", kind: Kind::Gauge, src: Src::AggStatus, help: "Backend's aggregated gauge of servers' state check status" },
];

/// The server metrics Sluice has counters for, in HAProxy's order.
const SERVER: &[Metric] = &[
    Metric { name: "current_queue", kind: Kind::Gauge, src: Src::Col("qcur"), help: "Number of current queued connections" },
    Metric { name: "max_queue", kind: Kind::Gauge, src: Src::Col("qmax"), help: "Highest value of queued connections encountered since process started" },
    Metric { name: "current_sessions", kind: Kind::Gauge, src: Src::Col("scur"), help: "Number of current sessions on the frontend, backend or server" },
    Metric { name: "max_sessions", kind: Kind::Gauge, src: Src::Col("smax"), help: "Highest value of current sessions encountered since process started" },
    Metric { name: "limit_sessions", kind: Kind::Gauge, src: Src::Col("slim"), help: "Frontend/listener/server's maxconn, backend's fullconn" },
    Metric { name: "sessions_total", kind: Kind::Counter, src: Src::Col("stot"), help: "Total number of sessions since process started" },
    Metric { name: "bytes_in_total", kind: Kind::Counter, src: Src::Col("bin"), help: "Total number of request bytes since process started" },
    Metric { name: "bytes_out_total", kind: Kind::Counter, src: Src::Col("bout"), help: "Total number of response bytes since process started" },
    Metric { name: "responses_denied_total", kind: Kind::Counter, src: Src::Col("dresp"), help: "Total number of denied responses since process started" },
    Metric { name: "connection_errors_total", kind: Kind::Counter, src: Src::Col("econ"), help: "Total number of failed connections to server since the worker process started" },
    Metric { name: "response_errors_total", kind: Kind::Counter, src: Src::Col("eresp"), help: "Total number of invalid responses since the worker process started" },
    Metric { name: "retry_warnings_total", kind: Kind::Counter, src: Src::Col("wretr"), help: "Total number of server connection retries since the worker process started" },
    Metric { name: "redispatch_warnings_total", kind: Kind::Counter, src: Src::Col("wredis"), help: "Total number of server redispatches due to connection failures since the worker process started" },
    Metric { name: "status", kind: Kind::Gauge, src: Src::Status, help: "Current status of the service, per state label value." },
    Metric { name: "weight", kind: Kind::Gauge, src: Src::Col("weight"), help: "Server's effective weight, or sum of active servers' effective weights for a backend" },
    Metric { name: "check_failures_total", kind: Kind::Counter, src: Src::Col("chkfail"), help: "Total number of failed individual health checks per server/backend, since the worker process started" },
    Metric { name: "check_up_down_total", kind: Kind::Counter, src: Src::Col("chkdown"), help: "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started" },
    Metric { name: "check_last_change_seconds", kind: Kind::Gauge, src: Src::Col("lastchg"), help: "How long ago the last server state changed, in seconds" },
    Metric { name: "queue_limit", kind: Kind::Gauge, src: Src::Col("qlimit"), help: "Limit on the number of connections in queue, for servers only (maxqueue argument)" },
    Metric { name: "loadbalanced_total", kind: Kind::Counter, src: Src::Col("lbtot"), help: "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)" },
    Metric { name: "max_session_rate", kind: Kind::Gauge, src: Src::Col("rate_max"), help: "Highest value of sessions per second observed since the worker process started" },
    Metric { name: "check_status", kind: Kind::Gauge, src: Src::CheckStatus, help: "Status of last health check, per state label value." },
    Metric { name: "check_duration_seconds", kind: Kind::Gauge, src: Src::Secs("check_duration"), help: "Total duration of the latest server health check, in seconds." },
    Metric { name: "http_responses_total", kind: Kind::Counter, src: Src::Hrsp, help: "Total number of HTTP responses with status 100-199 returned by this object since the worker process started" },
    Metric { name: "client_aborts_total", kind: Kind::Counter, src: Src::Col("cli_abrt"), help: "Total number of requests or connections aborted by the client since the worker process started" },
    Metric { name: "server_aborts_total", kind: Kind::Counter, src: Src::Col("srv_abrt"), help: "Total number of requests or connections aborted by the server since the worker process started" },
    Metric { name: "queue_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("qtime"), help: "Avg. queue time for last 1024 successful connections." },
    Metric { name: "connect_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("ctime"), help: "Avg. connect time for last 1024 successful connections." },
    Metric { name: "response_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("rtime"), help: "Avg. response time for last 1024 successful connections." },
    Metric { name: "total_time_average_seconds", kind: Kind::Gauge, src: Src::Secs("ttime"), help: "Avg. total time for last 1024 successful connections." },
    Metric { name: "connection_attempts_total", kind: Kind::Counter, src: Src::Col("connect"), help: "Total number of outgoing connection attempts on this backend/server since the worker process started" },
    Metric { name: "connection_reuses_total", kind: Kind::Counter, src: Src::Col("reuse"), help: "Total number of reused connection on this backend/server since the worker process started" },
    Metric { name: "max_queue_time_seconds", kind: Kind::Gauge, src: Src::Secs("qtime_max"), help: "Maximum observed time spent in the queue" },
    Metric { name: "max_connect_time_seconds", kind: Kind::Gauge, src: Src::Secs("ctime_max"), help: "Maximum observed time spent waiting for a connection to complete" },
    Metric { name: "max_response_time_seconds", kind: Kind::Gauge, src: Src::Secs("rtime_max"), help: "Maximum observed time spent waiting for a server response" },
    Metric { name: "max_total_time_seconds", kind: Kind::Gauge, src: Src::Secs("ttime_max"), help: "Maximum observed total request+response time (request+queue+connect+response+processing)" },
    Metric { name: "uweight", kind: Kind::Gauge, src: Src::Col("uweight"), help: "Server's user weight, or sum of active servers' user weights for a backend" },
];

/// The process metrics Sluice has values for (`haproxy_process_<name>`).
const PROCESS: &[(&str, Kind, &str)] = &[
    ("nbthread", Kind::Gauge, "Number of started threads (global.nbthread)"),
    ("nbproc", Kind::Gauge, "Number of started worker processes (historical, always 1)"),
    ("relative_process_id", Kind::Gauge, "Relative worker process number (1)"),
    ("uptime_seconds", Kind::Gauge, "How long ago this worker process was started (seconds)"),
    ("pool_failures_total", Kind::Counter, "Number of failed pool allocations since this worker was started"),
    ("max_connections", Kind::Gauge, "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)"),
    ("hard_max_connections", Kind::Gauge, "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)"),
    ("current_connections", Kind::Gauge, "Current number of connections on this worker process"),
    ("connections_total", Kind::Counter, "Total number of connections on this worker process since started"),
    ("requests_total", Kind::Counter, "Total number of requests on this worker process since started"),
    ("stopping", Kind::Gauge, "1 if the worker process is currently stopping, otherwise zero"),
    ("jobs", Kind::Gauge, "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)"),
    ("listeners", Kind::Gauge, "Current number of active listeners on the current worker process"),
    ("active_peers", Kind::Gauge, "Current number of verified active peers connections on the current worker process"),
    ("connected_peers", Kind::Gauge, "Current number of peers having passed the connection step on the current worker process"),
    ("build_info", Kind::Gauge, "Build info"),
    ("pool_allocated_bytes", Kind::Gauge, "Amount of memory allocated in pools (in bytes)"),
    ("pool_used_bytes", Kind::Gauge, "Amount of pool memory currently used (in bytes)"),
    ("start_time_seconds", Kind::Gauge, "Start time in seconds"),
];

/// The `show info` line each process metric comes from.
fn info_key(name: &str) -> &'static str {
    match name {
        "nbthread" => "Nbthread",
        "nbproc" => "Nbproc",
        "relative_process_id" => "Process_num",
        "uptime_seconds" => "Uptime_sec",
        "pool_failures_total" => "PoolFailed",
        "max_connections" => "Maxconn",
        "hard_max_connections" => "Hard_maxconn",
        "current_connections" => "CurrConns",
        "connections_total" => "CumConns",
        "stopping" => "Stopping",
        "jobs" => "Jobs",
        "listeners" => "Listeners",
        "active_peers" => "ActivePeers",
        "connected_peers" => "ConnectedPeers",
        "pool_allocated_bytes" => "PoolAlloc_bytes",
        "pool_used_bytes" => "PoolUsed_bytes",
        "start_time_seconds" => "Start_time_sec",
        _ => "",
    }
}

const SRV_STATES: &[&str] = &["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
const PX_STATES: &[&str] = &["DOWN", "UP"];
const CHECK_STATES: &[&str] = &[
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];
const HRSP: &[(&str, &str)] = &[
    ("1xx", "hrsp_1xx"),
    ("2xx", "hrsp_2xx"),
    ("3xx", "hrsp_3xx"),
    ("4xx", "hrsp_4xx"),
    ("5xx", "hrsp_5xx"),
    ("other", "hrsp_other"),
];

/// What the query string asked for (HAProxy's `PROMEX_FL_SCOPE_*` and
/// `PROMEX_FL_NO_MAINT_SRV`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scopes {
    pub global: bool,
    pub frontend: bool,
    pub backend: bool,
    pub server: bool,
    pub sticktable: bool,
    pub no_maint: bool,
}

impl Scopes {
    /// Parses the query string of `uri`; `None` for an invalid `scope`
    /// (HAProxy answers 400). Other parameters are ignored, as HAProxy does.
    pub(crate) fn parse(uri: &str) -> Option<Scopes> {
        let all = |on: bool, no_maint: bool| Scopes {
            global: on,
            frontend: on,
            backend: on,
            server: on,
            sticktable: on,
            no_maint,
        };
        let mut s = all(true, false);
        let mut default = true;
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (param, None),
            };
            match key {
                "scope" => {
                    if default {
                        s = all(false, s.no_maint);
                        default = false;
                    }
                    match value? {
                        "" => s = all(false, s.no_maint),
                        "*" => s = all(true, s.no_maint),
                        "global" => s.global = true,
                        "frontend" => s.frontend = true,
                        "backend" => s.backend = true,
                        "server" => s.server = true,
                        "sticktable" => s.sticktable = true,
                        _ => return None,
                    }
                }
                "no-maint" => s.no_maint = true,
                _ => {}
            }
        }
        Some(s)
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A `show stat` field as a sample value: empty is `NaN`.
fn field(v: &str) -> &str {
    if v.is_empty() {
        "NaN"
    } else {
        v
    }
}

/// HAProxy's `promex_srv_status`.
fn srv_state(s: &Server) -> &'static str {
    match (s.admin, s.state) {
        (SrvAdmin::Maint | SrvAdmin::Rmaint, _) => "MAINT",
        (SrvAdmin::Drain, _) => "DRAIN",
        (_, SrvState::Running) => "UP",
        (_, SrvState::Stopping) => "NOLB",
        (_, SrvState::Starting | SrvState::Stopped) => "DOWN",
    }
}

/// One object a proxy metric is dumped for.
struct Obj<'a> {
    labels: String,
    row: Row,
    px: &'a Proxy,
    srv: Option<&'a Server>,
}

impl Engine {
    /// The exporter's answer to a request for `uri`: a complete HTTP/1.1
    /// response (200 with the metrics, or 400 for a bad `scope`).
    pub(crate) fn promex_reply(&self, now: Time, uri: &str) -> Vec<u8> {
        let Some(scopes) = Scopes::parse(uri) else {
            return crate::http::h1::error_response(400)
                .unwrap_or(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .to_vec();
        };
        let body = self.promex_dump(now, scopes);
        crate::http::act::build_response(
            200,
            Some("text/plain; version=0.0.4"),
            b"",
            body.as_bytes(),
        )
    }

    /// The metrics of the selected scopes in the Prometheus text format.
    pub(crate) fn promex_dump(&self, now: Time, scopes: Scopes) -> String {
        let mut out = String::new();
        if scopes.global {
            self.promex_process(now, &mut out);
        }
        if scopes.frontend {
            let objs: Vec<Obj> = self
                .proxies
                .iter()
                .filter(|p| p.fe.is_some())
                .map(|p| Obj {
                    labels: format!("proxy=\"{}\"", esc(&p.name)),
                    row: self.frontend_row(now, p),
                    px: p,
                    srv: None,
                })
                .collect();
            dump_metrics(&mut out, "frontend", FRONTEND, &objs);
        }
        if scopes.backend {
            let objs: Vec<Obj> = self
                .proxies
                .iter()
                .filter(|p| p.be.is_some())
                .map(|p| Obj {
                    labels: format!("proxy=\"{}\"", esc(&p.name)),
                    row: self.backend_row(now, p),
                    px: p,
                    srv: None,
                })
                .collect();
            dump_metrics(&mut out, "backend", BACKEND, &objs);
        }
        if scopes.server {
            let mut objs = Vec::new();
            for p in &self.proxies {
                let Some(b) = &p.be else { continue };
                for s in b.servers.iter().filter(|s| !s.deleted) {
                    if scopes.no_maint && s.admin.is_maint() {
                        continue;
                    }
                    objs.push(Obj {
                        labels: format!(
                            "proxy=\"{}\",server=\"{}\"",
                            esc(&p.name),
                            esc(&s.cfg.name)
                        ),
                        row: self.server_row(now, p, s),
                        px: p,
                        srv: Some(s),
                    });
                }
            }
            dump_metrics(&mut out, "server", SERVER, &objs);
        }
        if scopes.sticktable && !self.tables.is_empty() {
            for (name, help, used) in [
                ("size", "Stick table size.", false),
                ("used", "Number of entries used in this stick table.", true),
            ] {
                let _ = writeln!(out, "# HELP haproxy_sticktable_{name} {help}");
                let _ = writeln!(out, "# TYPE haproxy_sticktable_{name} gauge");
                for t in &self.tables {
                    let prm = t.params();
                    let v = if used { t.len() } else { prm.size };
                    let _ = writeln!(
                        out,
                        "haproxy_sticktable_{name}{{name=\"{}\",type=\"{}\"}} {v}",
                        esc(&prm.id),
                        prm.key_type.name()
                    );
                }
            }
        }
        out
    }

    fn promex_process(&self, now: Time, out: &mut String) {
        let info = self.cli_show_info(now);
        let lookup = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(": ")))
                .map(str::to_string)
        };
        for (name, kind, help) in PROCESS {
            let sample = match *name {
                "build_info" => format!(
                    "haproxy_process_build_info{{version=\"{}\"}} 1",
                    env!("CARGO_PKG_VERSION")
                ),
                "requests_total" => format!(
                    "haproxy_process_requests_total {}",
                    self.proxies
                        .iter()
                        .filter_map(|p| p.fe.as_ref())
                        .map(|f| f.cum_req)
                        .sum::<u64>()
                ),
                _ => match lookup(info_key(name)) {
                    // No `maxconn`: Sluice has no limit, not a limit of 0.
                    Some(v)
                        if v == "0"
                            && matches!(*name, "max_connections" | "hard_max_connections") =>
                    {
                        continue
                    }
                    Some(v) => format!("haproxy_process_{name} {v}"),
                    None => continue,
                },
            };
            let _ = writeln!(out, "# HELP haproxy_process_{name} {help}");
            let _ = writeln!(out, "# TYPE haproxy_process_{name} {}", kind.name());
            out.push_str(&sample);
            out.push('\n');
        }
    }
}

/// Writes each metric of `table` for every object that has a value for it
/// (HAProxy's order: metric by metric, then object by object).
fn dump_metrics(out: &mut String, scope: &str, table: &[Metric], objs: &[Obj]) {
    for m in table {
        let mut lines = String::new();
        for o in objs {
            let name = format!("haproxy_{scope}_{}", m.name);
            let l = &o.labels;
            match m.src {
                Src::Col(c) => {
                    let Some(v) = o.row.get(c) else { continue };
                    // A frontend without `maxconn` (and none in global)
                    // has no session limit.
                    if c == "slim" && scope == "frontend" && v == "0" {
                        continue;
                    }
                    let _ = writeln!(lines, "{name}{{{l}}} {}", field(v));
                }
                Src::Status => {
                    let (states, cur) = match o.srv {
                        Some(s) => (SRV_STATES, srv_state(s)),
                        None if scope == "frontend" => {
                            let open = o.row.get("status").is_some_and(|s| s == "OPEN");
                            (PX_STATES, if open { "UP" } else { "DOWN" })
                        }
                        None => (PX_STATES, o.px.be_status()),
                    };
                    for st in states {
                        let v = u8::from(*st == cur);
                        let _ = writeln!(lines, "{name}{{{l},state=\"{st}\"}} {v}");
                    }
                }
                Src::Hrsp => {
                    for (code, col) in HRSP {
                        let Some(v) = o.row.get(col) else { continue };
                        let _ = writeln!(lines, "{name}{{{l},code=\"{code}\"}} {}", field(v));
                    }
                }
                Src::AggStatus => {
                    // HAProxy leaves out backends without servers.
                    let Some(b) =
                        o.px.be
                            .as_ref()
                            .filter(|b| b.servers.iter().any(|s| !s.deleted))
                    else {
                        continue;
                    };
                    for st in SRV_STATES {
                        let n = b
                            .servers
                            .iter()
                            .filter(|s| !s.deleted && srv_state(s) == *st)
                            .count();
                        let _ = writeln!(lines, "{name}{{{l},state=\"{st}\"}} {n}");
                    }
                }
                Src::CheckStatus => {
                    let Some(v) = o.row.get("check_status") else {
                        continue;
                    };
                    let cur = v.trim_start_matches("* ");
                    for st in CHECK_STATES {
                        let v = u8::from(*st == cur);
                        let _ = writeln!(lines, "{name}{{{l},state=\"{st}\"}} {v}");
                    }
                }
                Src::Secs(col) => {
                    let Some(v) = o.row.get(col) else {
                        continue;
                    };
                    match v.parse::<u64>() {
                        Ok(ms) => {
                            let _ = writeln!(lines, "{name}{{{l}}} {:.6}", ms as f64 / 1000.0);
                        }
                        Err(_) => {
                            let _ = writeln!(lines, "{name}{{{l}}} NaN");
                        }
                    }
                }
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(out, "# HELP haproxy_{scope}_{} {}", m.name, m.help);
            let _ = writeln!(out, "# TYPE haproxy_{scope}_{} {}", m.name, m.kind.name());
            out.push_str(&lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scopes;

    #[test]
    fn scopes_are_read_as_haproxy_reads_them() {
        let all = Scopes::parse("/metrics").unwrap();
        assert!(all.global && all.frontend && all.backend && all.server && all.sticktable);
        assert!(!all.no_maint);
        let s = Scopes::parse("/metrics?scope=frontend&scope=server&no-maint").unwrap();
        assert!(s.frontend && s.server && s.no_maint);
        assert!(!s.global && !s.backend && !s.sticktable);
        let none = Scopes::parse("/m?scope=").unwrap();
        assert!(!none.global && !none.frontend && !none.server);
        assert_eq!(Scopes::parse("/m?scope=*&x=1"), Some(all));
        assert_eq!(Scopes::parse("/m?scope=nope"), None);
        assert_eq!(Scopes::parse("/m?scope"), None);
        // Unknown parameters are ignored.
        assert_eq!(Scopes::parse("/m?extra-counters=on"), Some(all));
    }
}
