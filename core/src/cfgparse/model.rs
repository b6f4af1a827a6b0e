//! The typed configuration: what `haproxy.cfg` says, section by section.
//!
//! Field names mirror HAProxy keywords (`tune.bufsize` is `tune_bufsize`,
//! `timeout http-keep-alive` is `Timeouts::http_keep_alive_ms`). Durations
//! are milliseconds (`*_ms`), sizes are bytes. Everything that a later check
//! may need to point at carries its `file` and `line`.

use super::addr::Addr;
use crate::stick_table::TableParams;

/// Where a directive was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: u32,
}

/// The whole configuration (HAProxy's `global` struct, `cfg_peers` list and
/// proxy list after every file has been read).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub global: Global,
    /// `peers` sections, in file order.
    pub peers: Vec<PeersSection>,
    /// `defaults` sections, named or not, in file order. They are proxies
    /// with the defaults capability, as in HAProxy.
    pub defaults: Vec<Proxy>,
    /// `frontend`, `backend` and `listen` sections, in file order.
    pub proxies: Vec<Proxy>,
    /// The local peer name: `-L` from the driver, else `localpeer` (when it
    /// came before the first `peers` section), else the host name.
    pub local_peer: String,
    /// `http-errors` sections, in file order.
    pub http_errors: Vec<super::errors::HttpErrors>,
    /// `userlist` sections, in file order.
    pub userlists: Vec<super::userlist::UserlistDecl>,
    /// `resolvers` sections, in file order.
    pub resolvers: Vec<super::resolvers::Resolvers>,
    /// `ring` sections, in file order.
    pub rings: Vec<super::logfwd::Ring>,
    /// `log-forward` sections, in file order.
    pub log_forwards: Vec<super::logfwd::LogForward>,
    /// What the files of [`Config::errorfile_paths`] hold, read by the
    /// driver after parsing (the parser reads no file): the bytes, or why
    /// they could not be read. A file missing here is an error when the
    /// engine is built.
    pub errorfile_contents:
        std::collections::BTreeMap<String, Result<std::sync::Arc<[u8]>, String>>,
}

/// The `global` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// `stats socket` lines.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout` (default 10s).
    pub stats_timeout_ms: u32,
    /// `localpeer NAME`, as written (see [`Config::local_peer`]).
    pub localpeer: Option<String>,
    /// `maxconn`.
    pub maxconn: Option<u32>,
    /// `nbthread`: the threads to run (docs/threads.md; a configuration
    /// that needs process-wide state runs one, see
    /// `cfgparse::threads::single_thread_reasons`).
    pub nbthread: Option<u32>,
    /// `cpu-map` lines, in order (a later line wins for a thread).
    pub cpu_map: Vec<super::threads::CpuMap>,
    /// `expose-experimental-directives`: the experimental keywords (reverse
    /// HTTP's `rhttp@`, `nbconn`, `attach-srv`) are allowed on the lines
    /// that follow it.
    pub expose_experimental: bool,
    /// `tune.bufsize` (default 16384).
    pub tune_bufsize: u32,
    /// `tune.maxrewrite` (default: 1024, at most half of `tune.bufsize`).
    pub tune_maxrewrite: Option<u32>,
    /// `tune.h2.max-concurrent-streams` (HTTP/2 streams per client
    /// connection at once; default 100).
    pub tune_h2_max_concurrent_streams: u32,
    /// `tune.h2.fe.glitches-threshold` (HAProxy 3.x; 0: no threshold).
    pub tune_h2_fe_glitches_threshold: u32,
    /// `tune.h2.fe.max-total-streams` (HAProxy 3.x; 0: no limit).
    pub tune_h2_fe_max_total_streams: u32,
    /// `tune.h2.fe.max-concurrent-streams` / `tune.h2.be.max-concurrent-streams`
    /// (HAProxy 3.x; 0: unset, `tune.h2.max-concurrent-streams` applies).
    pub tune_h2_fe_max_concurrent_streams: u32,
    pub tune_h2_be_max_concurrent_streams: u32,
    /// `tune.h2.header-table-size` (4096..=65536, default 4096): the HPACK
    /// dynamic table peers may use for what they send us.
    pub tune_h2_header_table_size: u32,
    /// `tune.h2.initial-window-size` (default 65535, HAProxy 2.6's).
    pub tune_h2_initial_window_size: u32,
    /// `tune.h2.fe.initial-window-size` / `tune.h2.be.initial-window-size`
    /// (HAProxy 3.x; 0: unset, `tune.h2.initial-window-size` applies).
    pub tune_h2_fe_initial_window_size: u32,
    pub tune_h2_be_initial_window_size: u32,
    /// `tune.h2.max-frame-size` (16384..=16777215; 0: unset, `tune.bufsize`
    /// applies; never more than `tune.bufsize`).
    pub tune_h2_max_frame_size: u32,
    /// `h2-workaround-bogus-websocket-clients` (HAProxy's
    /// `GTUNE_DISABLE_H2_WEBSOCKET`): SETTINGS_ENABLE_CONNECT_PROTOCOL is
    /// not announced, and a client's extended CONNECT is refused.
    pub h2_workaround_bogus_websocket_clients: bool,
    /// `tune.peers.max-updates-at-once` (default 200).
    pub tune_peers_max_updates_at_once: u32,
    /// `log` lines.
    pub logs: Vec<LogTarget>,
    /// `pidfile`.
    pub pidfile: Option<String>,
    /// `daemon` (Sluice stays in the foreground).
    pub daemon: bool,
    /// Where `server-state-file` was set (HAProxy's
    /// `global.server_state_file`): only a backend loading it matters
    /// (see [`Proxy::load_server_state`]).
    pub server_state_file: Option<Place>,
    /// `user NAME` or `uid N`: whom the process becomes once its listeners
    /// are bound (HAProxy's `global.uid`). The driver looks names up.
    pub uid: Option<IdSetting>,
    /// `group NAME` or `gid N` (HAProxy's `global.gid`).
    pub gid: Option<IdSetting>,
    /// `chroot DIR`: the root directory once the listeners are bound.
    pub chroot: Option<(Place, String)>,
    /// `unix-bind [prefix P] [mode M] [user U] [uid N] [group G] [gid N]`.
    pub unix_bind: UnixBind,
    /// `ulimit-n N`: the file descriptor limit to set (HAProxy's
    /// `global.rlimit_nofile`); by default the driver computes it from
    /// `maxconn`.
    pub ulimit_n: Option<u32>,
    /// `fd-hard-limit N`: never use more file descriptors than this.
    pub fd_hard_limit: Option<u32>,
    /// `strict-limits` (HAProxy 2.6's default) or `no strict-limits`: fail
    /// to start, rather than warn, when the descriptor limit cannot be set.
    pub strict_limits: bool,
    /// `zero-warning`: any warning makes the configuration fail, as `-dW`
    /// (HAProxy's `MODE_ZERO_WARNING`).
    pub zero_warning: bool,
    /// `master-worker [no-exit-on-failure]`: run as a master process that
    /// starts the worker (as `-W`; the driver's concern, docs/configuration.md).
    pub master_worker: bool,
    /// `hard-stop-after T`: how long a soft stop may wait for the live
    /// connections before closing them (HAProxy's `global.hard_stop_after`).
    pub hard_stop_after_ms: Option<u32>,
    /// `log-tag NAME`: the syslog tag (by default the program's name).
    pub log_tag: Option<String>,
    /// `log-send-hostname [NAME]`: the host name written in syslog
    /// headers (`Some(None)`: the system's).
    pub log_send_hostname: Option<Option<String>>,
    /// `crt-base DIR`: where relative `crt` paths are looked up.
    pub crt_base: Option<String>,
    /// `ssl-load-extra-files`: whether `<crt>.ocsp` and `<crt>.issuer`
    /// are loaded when they exist (HAProxy's default `all`: both).
    pub ssl_load_extra_ocsp: bool,
    pub ssl_load_extra_issuer: bool,
    /// `ssl-load-extra-files ... key`: `<crt>.key` holds the key of a
    /// PEM that has none.
    pub ssl_load_extra_key: bool,
    /// `ssl-load-extra-del-ext`: the extra files of `NAME.crt` are
    /// `NAME.key`, `NAME.ocsp`, `NAME.issuer`.
    pub ssl_load_extra_del_ext: bool,
    /// `ca-base DIR`: where relative `ca-file` paths are looked up.
    pub ca_base: Option<String>,
    /// `ssl-default-bind-options|ciphers|ciphersuites|curves`: what a
    /// `bind ... ssl` line starts from (HAProxy's
    /// `global_ssl.listen_default_*`, applied at its `ssl` keyword).
    pub ssl_default_bind: TlsDefaults,
    /// `ssl-default-server-options|ciphers|ciphersuites`: likewise for
    /// `server ... ssl` (`global_ssl.connect_default_*`).
    pub ssl_default_server: TlsDefaults,
    /// `ssl-server-verify none|required`: the `verify` of a server that
    /// sets none (HAProxy's `global.ssl_server_verify`, `required` unless
    /// set).
    pub ssl_server_verify: SrvVerify,
    /// `tune.ssl.cachesize N`: the entries of the TLS session cache
    /// shared by every `bind ... ssl` line (HAProxy's blocks; a session
    /// without a client certificate takes one). 0 disables it.
    pub tune_ssl_cachesize: u32,
    /// `tune.ssl.lifetime T`: how long a cached session may be resumed,
    /// in seconds (HAProxy's default, 300).
    pub tune_ssl_lifetime_s: u32,
    /// `set-var NAME EXPR` and `set-var-fmt NAME FMT` lines, in order:
    /// process-wide variables set once at startup, with no stream
    /// (HAProxy's `vars_parse_global_set_var`).
    pub set_vars: Vec<GlobalSetVar>,
}

/// A global `set-var` or `set-var-fmt` line, as written; the expression
/// is parsed and evaluated when the engine is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalSetVar {
    pub place: Place,
    /// `set-var-fmt`: `text` is a log-format string.
    pub fmt: bool,
    /// The variable name, `proc.NAME`.
    pub name: String,
    /// The sample expression or the format string.
    pub text: String,
}

/// Global TLS defaults for `bind` or `server` lines (HAProxy's
/// `global_ssl.listen_default_*` / `connect_default_*`): the lines that
/// set nothing themselves take them, the `no-*` switches add up.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsDefaults {
    /// `ssl-min-ver`, `ssl-max-ver`, `no-tlsv1x`, `force-*`,
    /// `no-tls-tickets` (`-options`), `ciphers`, `ciphersuites`, `curves`.
    pub common: TlsCommon,
    /// `prefer-client-ciphers` (bind only).
    pub prefer_client_ciphers: bool,
    /// `strict-sni` (bind only).
    pub strict_sni: bool,
}

/// A user or a group as written: a name the driver looks up (`user`,
/// `group`) or a number (`uid`, `gid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdSpec {
    Name(String),
    Num(u32),
}

/// A global `user`/`uid` or `group`/`gid` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdSetting {
    pub place: Place,
    pub spec: IdSpec,
}

/// `unix-bind` (HAProxy's `global.unix_bind`): defaults for the UNIX
/// sockets of `bind` lines in proxies (`prefix` before every path; `mode`,
/// owner and group when the line sets none). HAProxy does not apply them
/// to the stats socket; neither does Sluice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixBind {
    pub place: Option<Place>,
    pub prefix: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<IdSpec>,
    pub gid: Option<IdSpec>,
}

impl Default for Global {
    fn default() -> Global {
        Global {
            ssl_load_extra_ocsp: true,
            ssl_load_extra_issuer: true,
            ssl_load_extra_key: true,
            ssl_load_extra_del_ext: false,
            stats_sockets: Vec::new(),
            stats_timeout_ms: 10_000,
            localpeer: None,
            maxconn: None,
            nbthread: None,
            cpu_map: Vec::new(),
            expose_experimental: false,
            tune_bufsize: 16_384,
            tune_maxrewrite: None,
            tune_h2_max_concurrent_streams: 100,
            tune_h2_fe_glitches_threshold: 0,
            tune_h2_fe_max_total_streams: 0,
            tune_h2_fe_max_concurrent_streams: 0,
            tune_h2_be_max_concurrent_streams: 0,
            tune_h2_header_table_size: 4096,
            tune_h2_initial_window_size: 65535,
            tune_h2_fe_initial_window_size: 0,
            tune_h2_be_initial_window_size: 0,
            tune_h2_max_frame_size: 0,
            h2_workaround_bogus_websocket_clients: false,
            tune_peers_max_updates_at_once: 200,
            logs: Vec::new(),
            pidfile: None,
            daemon: false,
            server_state_file: None,
            uid: None,
            gid: None,
            chroot: None,
            unix_bind: UnixBind::default(),
            ulimit_n: None,
            fd_hard_limit: None,
            strict_limits: true,
            zero_warning: false,
            master_worker: false,
            hard_stop_after_ms: None,
            log_tag: None,
            log_send_hostname: None,
            crt_base: None,
            ca_base: None,
            ssl_default_bind: TlsDefaults::default(),
            ssl_default_server: TlsDefaults::default(),
            ssl_server_verify: SrvVerify::Required,
            tune_ssl_cachesize: 20_000,
            tune_ssl_lifetime_s: 300,
            set_vars: Vec::new(),
        }
    }
}

impl Global {
    /// `tune.maxrewrite` as HAProxy applies it: 1024 unless set, never more
    /// than half a buffer.
    pub fn maxrewrite(&self) -> u32 {
        self.tune_maxrewrite
            .unwrap_or(1024)
            .min(self.tune_bufsize / 2)
    }
}

/// The access level of a stats socket (`level user|operator|admin`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatsLevel {
    User,
    #[default]
    Operator,
    Admin,
}

/// `stats socket ADDR [level L] [mode OCTAL] ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsSocket {
    pub place: Place,
    pub addr: Addr,
    pub level: StatsLevel,
    /// `mode`: permissions of a UNIX socket.
    pub mode: Option<u32>,
    /// `user`/`uid`: owner of a UNIX socket.
    pub uid: Option<IdSpec>,
    /// `group`/`gid`: group of a UNIX socket.
    pub gid: Option<IdSpec>,
    /// `expose-fd listeners` (HAProxy's `ACCESS_FD_LISTENERS`): the socket
    /// answers `_getsocks` with the process's listening sockets, as a new
    /// process started with `-x` asks.
    pub expose_fd_listeners: bool,
    /// Bind options that were recognised but that Sluice ignores (each also
    /// produced a warning): `defer-accept`, ...
    pub ignored: Vec<String>,
}

/// A syslog facility (`local0`, `daemon`, ...), by its syslog code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(pub u8);

impl Facility {
    /// Facility names in code order, as HAProxy lists them.
    pub const NAMES: [&'static str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];

    pub fn from_name(name: &str) -> Option<Facility> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Facility(i as u8))
    }

    pub fn name(self) -> &'static str {
        Self::NAMES.get(self.0 as usize).copied().unwrap_or("?")
    }
}

/// A syslog severity (`emerg` = 0 ... `debug` = 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogLevel(pub u8);

impl LogLevel {
    pub const NAMES: [&'static str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];

    pub fn from_name(name: &str) -> Option<LogLevel> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| LogLevel(i as u8))
    }

    pub fn name(self) -> &'static str {
        Self::NAMES.get(self.0 as usize).copied().unwrap_or("?")
    }
}

/// `log ... format F`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Rfc3164,
    Rfc5424,
    Short,
    Raw,
    Timed,
    Iso,
    Priority,
    Local,
}

impl LogFormat {
    pub fn from_name(name: &str) -> Option<LogFormat> {
        Some(match name {
            "rfc3164" => LogFormat::Rfc3164,
            "rfc5424" => LogFormat::Rfc5424,
            "short" => LogFormat::Short,
            "raw" => LogFormat::Raw,
            "timed" => LogFormat::Timed,
            "iso" => LogFormat::Iso,
            "priority" => LogFormat::Priority,
            "local" => LogFormat::Local,
            _ => return None,
        })
    }
}

/// Where log lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogAddr {
    /// `stdout`: the process's standard output.
    Stdout,
    /// `stderr`.
    Stderr,
    /// A UNIX datagram socket (`/dev/log`, `unix@/dev/log`).
    Unix(String),
    /// `ip:port` (port 514 when omitted) over UDP, or TCP with `tcp@`.
    Inet {
        host: super::addr::Host,
        port: u16,
        tcp: bool,
    },
    /// `ring@NAME`: a `ring` section (from `log-forward` sections only).
    Ring(String),
}

/// `sample RANGES:SIZE` of a `log` line (HAProxy's `smp_log_range`s):
/// of every `size` lines offered to the target, only those whose 1-based
/// position is in one of `ranges` (inclusive, sorted, disjoint) are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSample {
    pub ranges: Vec<(u32, u32)>,
    pub size: u32,
}

impl LogSample {
    /// Whether the next line goes out; `counter` is the target's count of
    /// lines offered so far, modulo `size` (HAProxy's `curr_rg_idx`).
    pub fn keeps(&self, counter: &mut u32) -> bool {
        let idx = *counter + 1;
        *counter = idx % self.size.max(1);
        self.ranges.iter().any(|&(lo, hi)| lo <= idx && idx <= hi)
    }
}

/// `log TARGET [len N] [format F] [sample R:S] FACILITY [LEVEL [MINLEVEL]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTarget {
    pub place: Place,
    pub addr: LogAddr,
    /// `len`: the longest line sent (default 1024).
    pub len: Option<u32>,
    pub format: LogFormat,
    /// Whether `format` was written: a `log-forward` target without it
    /// picks the format from what it received (HAProxy's
    /// `LOG_FORMAT_UNSPEC`).
    pub format_given: bool,
    pub facility: Facility,
    /// Lines above this level are not sent.
    pub level: Option<LogLevel>,
    /// Lines below this level are raised to it.
    pub min_level: Option<LogLevel>,
    /// `sample`: only some lines are sent.
    pub sample: Option<LogSample>,
}

/// One `log` line of a proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyLog {
    /// `log global`: the global section's targets.
    Global(Place),
    Target(LogTarget),
}

/// A `peers` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeersSection {
    pub place: Place,
    pub name: String,
    /// `disabled`.
    pub disabled: bool,
    /// `peer` and `server` lines, in order.
    pub peers: Vec<Peer>,
    /// `bind ADDR:PORT` (the 2.x form, with `server` lines).
    pub bind: Option<Bind>,
    /// `table` lines.
    pub tables: Vec<TableDecl>,
}

impl PeersSection {
    /// The peer named `name`.
    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The address the local peer `local` listens on: its `peer` line's
    /// address, or the section's `bind` in the `server` form.
    pub fn local_addr(&self, local: &str) -> Option<&Addr> {
        let me = self.peer(local)?;
        match (&me.addr, &self.bind) {
            (Some(a), _) => Some(a),
            (None, Some(b)) => b.addrs.first().map(|a| &a.addr),
            (None, None) => None,
        }
    }

    /// The table named `name` (without the section prefix).
    pub fn table(&self, name: &str) -> Option<&TableDecl> {
        let id = format!("{}/{}", self.name, name);
        self.tables.iter().find(|t| t.params.id == id)
    }
}

/// Which keyword declared a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKeyword {
    /// `peer NAME ADDR:PORT`.
    Peer,
    /// `server NAME [ADDR:PORT]` (with a section-level `bind`).
    Server,
}

/// A `peer` or `server` line of a peers section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub place: Place,
    pub name: String,
    /// The address to connect to (or, for the local `peer` line, to listen
    /// on). A local `server` line has none: `bind` gives it.
    pub addr: Option<Addr>,
    pub keyword: PeerKeyword,
}

/// A stick table declared by a `table` line (peers section) or a
/// `stick-table` line (proxy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDecl {
    pub place: Place,
    pub params: TableParams,
}

/// A section that holds proxy settings (HAProxy's `PR_CAP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    Defaults,
    Frontend,
    Backend,
    /// A frontend and a backend in one.
    Listen,
}

impl ProxyKind {
    /// Frontend capability: accepts connections.
    pub fn is_frontend(self) -> bool {
        matches!(self, ProxyKind::Frontend | ProxyKind::Listen)
    }

    /// Backend capability: has servers.
    pub fn is_backend(self) -> bool {
        matches!(self, ProxyKind::Backend | ProxyKind::Listen)
    }

    /// The section keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            ProxyKind::Defaults => "defaults",
            ProxyKind::Frontend => "frontend",
            ProxyKind::Backend => "backend",
            ProxyKind::Listen => "listen",
        }
    }

    /// How HAProxy names the proxy type in messages (`proxy_type_str`).
    pub fn type_str(self) -> &'static str {
        match self {
            ProxyKind::Listen => "proxy",
            k => k.keyword(),
        }
    }
}

/// `mode tcp|http`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Tcp,
    Http,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        }
    }
}

/// `balance ALGO [args]` (HAProxy's `lbprm.algo` with `arg_str`,
/// `arg_opt1..3`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    /// `uri [whole] [len N] [depth N] [path-only]` (`len`/`depth` 0: none).
    Uri {
        whole: bool,
        path_only: bool,
        len: u32,
        depth: u32,
    },
    /// `url_param NAME [check_post]`.
    UrlParam {
        name: String,
        check_post: bool,
    },
    /// `hdr(NAME) [use_domain_only]`.
    Hdr {
        name: String,
        use_domain_only: bool,
    },
    /// `random[(draws)]` (default 2 draws).
    Random {
        draws: u32,
    },
    /// `rdp-cookie[(NAME)]` (default `mstshash`).
    RdpCookie {
        name: String,
    },
    /// `hash EXPR`: the sample expression's text and where it was written.
    Hash {
        expr: String,
        place: Place,
    },
}

impl Balance {
    /// The name HAProxy's stats show (`backend_lb_algo_str`; `random` is
    /// missing there and shows as "unknown").
    pub fn name(&self) -> &'static str {
        match self {
            Balance::RoundRobin => "roundrobin",
            Balance::StaticRr => "static-rr",
            Balance::LeastConn => "leastconn",
            Balance::First => "first",
            Balance::Source => "source",
            Balance::Uri { .. } => "uri",
            Balance::UrlParam { .. } => "url_param",
            Balance::Hdr { .. } => "hdr",
            Balance::RdpCookie { .. } => "rdp-cookie",
            Balance::Hash { .. } => "hash",
            Balance::Random { .. } => "unknown",
        }
    }

    /// Algorithms that hash a key (HAProxy's `BE_LB_KIND_HI`): they follow
    /// `hash-type`.
    pub fn is_hash(&self) -> bool {
        matches!(
            self,
            Balance::Source
                | Balance::Uri { .. }
                | Balance::UrlParam { .. }
                | Balance::Hdr { .. }
                | Balance::RdpCookie { .. }
                | Balance::Hash { .. }
        )
    }

    /// Algorithms that need HTTP (HAProxy's `BE_LB_NEED_HTTP`).
    pub fn needs_http(&self) -> bool {
        matches!(
            self,
            Balance::Uri { .. } | Balance::UrlParam { .. } | Balance::Hdr { .. }
        )
    }
}

/// `hash-type map-based|consistent [FUNCTION [avalanche]]` (HAProxy's
/// `BE_LB_HASH_TYPE`, `BE_LB_HASH_FUNC`, `BE_LB_HASH_MOD` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashType {
    pub consistent: bool,
    pub func: crate::backend::lb::HashFn,
    pub avalanche: bool,
}

/// `cookie NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly]
/// [preserve] [httponly] [secure] [domain D]... [attr A]...` (HAProxy's
/// `cookie_name`, `ck_opts` (`PR_CK_*`), `cookie_domain`, `cookie_attrs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieCfg {
    pub name: String,
    /// `rewrite` (`PR_CK_RW`): the server's `Set-Cookie` value is replaced.
    pub rewrite: bool,
    /// `insert` (`PR_CK_INS`): the proxy adds its own `Set-Cookie`.
    pub insert: bool,
    /// `prefix` (`PR_CK_PFX`): the server's cookie is prefixed `VALUE~`.
    pub prefix: bool,
    /// `indirect` (`PR_CK_IND`).
    pub indirect: bool,
    /// `nocache` (`PR_CK_NOC`).
    pub nocache: bool,
    /// `postonly` (`PR_CK_POST`).
    pub postonly: bool,
    /// `preserve` (`PR_CK_PSV`).
    pub preserve: bool,
    /// `httponly` (`PR_CK_HTTPONLY`).
    pub httponly: bool,
    /// `secure` (`PR_CK_SECURE`).
    pub secure: bool,
    /// `domain D`, joined with `; domain=` as HAProxy does.
    pub domain: Option<String>,
    /// `attr A`, joined with `; `.
    pub attrs: Option<String>,
    /// `maxidle T` in seconds (HAProxy's `cookie_maxidle`; 0: none): an
    /// inserted cookie carries its last-seen date, and one idle longer is
    /// ignored.
    pub maxidle_s: u32,
    /// `maxlife T` in seconds (`cookie_maxlife`; 0: none): an inserted
    /// cookie carries its first-seen date, and one older is ignored.
    pub maxlife_s: u32,
}

impl CookieCfg {
    /// HAProxy's `PR_CK_ANY`: a mode that makes the log's cookie
    /// characters meaningful.
    pub fn any_mode(&self) -> bool {
        self.rewrite || self.insert || self.prefix || self.indirect
    }
}

/// `force-persist if|unless COND` / `ignore-persist if|unless COND`
/// (HAProxy's `struct persist_rule`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistRule {
    pub place: Place,
    /// `force-persist` (else `ignore-persist`).
    pub force: bool,
    pub cond: Cond,
}

/// `http-reuse never|safe|aggressive|always`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpReuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}

/// How HTTP connections are handled: `option http-keep-alive` (the
/// default), `option http-server-close`, `option httpclose`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpConnMode {
    #[default]
    KeepAlive,
    ServerClose,
    Close,
}

/// `timeout ...` settings; `None` is no timeout (HAProxy's eternity, also
/// what `timeout X 0` means).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub connect_ms: Option<u32>,
    pub client_ms: Option<u32>,
    pub server_ms: Option<u32>,
    pub queue_ms: Option<u32>,
    pub tunnel_ms: Option<u32>,
    pub client_fin_ms: Option<u32>,
    pub server_fin_ms: Option<u32>,
    pub http_request_ms: Option<u32>,
    pub http_keep_alive_ms: Option<u32>,
    pub check_ms: Option<u32>,
    pub tarpit_ms: Option<u32>,
}

/// `option forwardfor [except NET] [header NAME] [if-none]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardFor {
    pub except: Option<String>,
    pub header: Option<String>,
    pub if_none: bool,
}

/// `observe` on a server line: which traffic events count as errors or
/// successes (HAProxy's `HANA_OBS_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ObserveLayer {
    #[default]
    None,
    /// Connections to the server: a failure is an error, an
    /// established connection a success.
    Layer4,
    /// HTTP responses: a 5xx other than 501 and 505, an invalid
    /// response, a read error or timeout, a server that closed before
    /// responding are errors; other statuses are successes.
    Layer7,
}

/// `on-error` on a server line: what `error-limit` consecutive errors do
/// (HAProxy's `HANA_ONERR_*`). Each also forces `fastinter` for the next
/// check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Only `fastinter` for the next check.
    FastInter,
    /// One failed health check.
    #[default]
    FailCheck,
    /// One failed check from at most one check above the threshold: the
    /// next failure marks the server down.
    SuddenDeath,
    /// The server is marked down at once.
    MarkDown,
}

/// `option originalto [except NET] [header NAME]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginalTo {
    /// Destination addresses in this network get no header.
    pub except: Option<String>,
    /// The header name (`X-Original-To` when `None`).
    pub header: Option<String>,
}

/// `option http-restrict-req-hdr-names`: what becomes of a request header
/// whose name has a character outside `[a-zA-Z0-9-]` (HAProxy's
/// `http_req_restrict_header_names`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestrictHdrNames {
    /// Forwarded as is (the default).
    #[default]
    Preserve,
    /// Removed from the request.
    Delete,
    /// The request is denied with a 403.
    Reject,
}

/// One `tcp-check` rule (HAProxy's `struct tcpcheck_rule`), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpCheckRule {
    /// `tcp-check connect [default] [port N] [addr A] [ssl] [sni S] [alpn
    /// L] [linger]`: opens a new connection (closing the previous one).
    /// When the ruleset has one, the first rule is one; otherwise HAProxy
    /// adds an implicit one.
    Connect(CheckConnect),
    /// `tcp-check send STRING` / `send-binary HEX`: bytes to send.
    Send(Vec<u8>),
    /// `tcp-check expect [!] string|rstring|binary|rbinary PATTERN`.
    Expect {
        negate: bool,
        pattern: TcpCheckMatch,
        /// `min-recv N`: bytes to wait for before matching.
        min_recv: Option<u32>,
    },
}

/// The options of a `tcp-check connect` / `http-check connect` rule
/// (HAProxy's `struct tcpcheck_connect`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckConnect {
    /// `default`: the server's check settings (`check-ssl`, `check-sni`,
    /// `check-alpn`) apply; otherwise the connection is in clear unless
    /// `ssl`.
    pub default: bool,
    /// `port N`: else `addr`'s port, else the server's check port.
    pub port: Option<u16>,
    /// `addr A`: else the server's check address.
    pub addr: Option<Addr>,
    /// `ssl`, `sni S`, `alpn L`: TLS on this connection.
    pub ssl: bool,
    pub sni: Option<String>,
    pub alpn: Option<Vec<String>>,
    /// `linger`: closed with a FIN rather than a reset.
    pub linger: bool,
    /// `proto h2` (`http-check connect` only): the check speaks HTTP/2
    /// with prior knowledge on this connection (HAProxy's
    /// `connect->mux_proto`); `proto h1` is the default.
    pub proto_h2: bool,
}

/// What a `tcp-check expect` looks for in the received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpCheckMatch {
    /// `string S`, `binary HEX`: the bytes, anywhere.
    Bytes { text: String, bytes: Vec<u8> },
    /// `rstring RE` (`rbinary` matches the hex form of the bytes).
    Regex { text: String, binary: bool },
}

/// A `tcp-check` line: the rule and its `comment` (the check's `info` when
/// it fails there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpCheckLine {
    pub place: Place,
    pub rule: TcpCheckRule,
    pub comment: Option<String>,
}

/// A protocol health check: HAProxy 2.6 builds each as a fixed tcp-check
/// ruleset (`tcpcheck.c`'s `do_parse_*_opt`), and so does Sluice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtoCheck {
    /// `option redis-check`: `PING`, expect `+PONG`.
    Redis,
    /// `option ssl-hello-chk`: an SSLv3 client hello, expect a handshake
    /// or alert record.
    SslHello,
    /// `option mysql-check [user U [post-41|pre-41]]`: read the server's
    /// handshake; with a user, log in (no password) and quit.
    Mysql { user: Option<String>, post41: bool },
    /// `option pgsql-check user U`: a startup message, expect an
    /// authentication request.
    Pgsql { user: String },
    /// `option smtpchk [HELO|EHLO domain]`: expect a 2xx greeting, send the
    /// command (`HELO localhost` by default), expect 2xx.
    Smtp { cmd: String },
    /// `option ldap-check`: an anonymous bind, expect success.
    Ldap,
}

/// `option httpchk [METHOD] [URI] [VERSION]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpChk {
    /// Default `OPTIONS`.
    pub method: String,
    /// Default `/`.
    pub uri: String,
    /// Default `HTTP/1.0`.
    pub version: String,
}

/// `option ...` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    pub redispatch: bool,
    /// `option prefer-last-server`.
    pub prefer_last_server: bool,
    pub splice_auto: bool,
    pub splice_request: bool,
    pub splice_response: bool,
    pub tcplog: bool,
    pub httplog: bool,
    /// `option httplog clf`.
    pub httplog_clf: bool,
    /// `option httpslog`: `httplog` with the TLS fields (`httplog` is set
    /// too).
    pub httpslog: bool,
    pub dontlognull: bool,
    /// `option dontlog-normal`: only streams that ended in error are logged.
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: streams that ended in error are logged
    /// at level `err` instead of `info`.
    pub log_separate_errors: bool,
    /// `option logasap`: an HTTP stream is logged once the response
    /// headers are processed, a TCP stream once its server connection is
    /// established (HAProxy's `PR_O_LOGASAP`).
    pub logasap: bool,
    pub log_health_checks: bool,
    pub forwardfor: Option<ForwardFor>,
    /// `option originalto [except NET] [header NAME]` (HAProxy's
    /// `PR_O_ORGTO`): the client connection's destination address goes to
    /// the server in `X-Original-To`.
    pub originalto: Option<OriginalTo>,
    /// `option http-restrict-req-hdr-names preserve|delete|reject`
    /// (HAProxy's `PR_O2_RSTRICT_REQ_HDR_NAMES_*`).
    pub restrict_req_hdr_names: RestrictHdrNames,
    pub http_conn_mode: HttpConnMode,
    pub httpchk: Option<HttpChk>,
    pub tcp_check: bool,
    /// `option redis-check`, `ssl-hello-chk`, `mysql-check`, `pgsql-check`,
    /// `smtpchk`, `ldap-check`: a protocol check (one of HAProxy's canned
    /// tcp-check rulesets).
    pub proto_check: Option<ProtoCheck>,
    /// `option persist`: a cookie or `use-server` may send to a down server.
    pub persist: bool,
    /// `option http-buffer-request`: wait for the request body before the
    /// rules run (HAProxy's `PR_O_WREQ_BODY`).
    pub http_buffer_request: bool,
    /// `option abortonclose`: a client that closes while its request waits
    /// for a server is aborted (HAProxy's `PR_O_ABRT_CLOSE`).
    pub abortonclose: bool,
    /// `option transparent` (HAProxy's `PR_O_TRANSP`): without a `balance`
    /// algorithm, streams go to the address the client connected to.
    pub transparent: bool,
    /// `option http-ignore-probes`: connections closed or timed out before
    /// their first byte are neither answered nor logged
    /// (`PR_O2_IGNORE_PROBES`).
    pub http_ignore_probes: bool,
    /// `option disable-h2-upgrade` (`PR_O2_NO_H2_UPGRADE`): an HTTP/1
    /// client connection whose first bytes are the HTTP/2 preface is not
    /// switched to HTTP/2 (the H1 parser refuses them: 400).
    pub disable_h2_upgrade: bool,
}

/// One `http-check expect` rule (HAProxy 2.6's HTTP `tcpcheck_expect`):
/// every rule reads the same response, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheckExpect {
    pub place: Place,
    /// `!`: the rule passes when the pattern does *not* match.
    pub negate: bool,
    pub pattern: HttpCheckMatch,
    /// `min-recv N`: body bytes to wait for before matching.
    pub min_recv: Option<u32>,
    /// `comment TEXT`: appended to the check's info when the rule fails.
    pub comment: Option<String>,
    /// `ok-status`, `error-status`, `tout-status` (`L7OK`, `L7STS`...).
    pub ok_status: Option<&'static str>,
    pub err_status: Option<&'static str>,
    pub tout_status: Option<&'static str>,
}

/// What an `http-check expect` rule looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpCheckMatch {
    /// `status CODES`: inclusive ranges (`200`, `200-399`, `200,302`).
    Status(Vec<(u16, u16)>),
    /// `rstatus RE`: on the status code's three digits.
    RStatus(String),
    /// `string S`: the body contains S.
    String(String),
    /// `rstring RE`: on the body.
    RString(String),
    /// `hdr name [-m M] N [value [-m M] V] [full]`.
    Hdr {
        name: HdrPattern,
        value: Option<HdrPattern>,
        /// `full`: the value is the whole header line's value, not each
        /// comma-separated one (always with `fhdr`).
        full: bool,
    },
    /// `http-check set-var(check.NAME) EXPR`: an action rule among the
    /// expects (HAProxy's `TCPCHK_ACT_ACTION_KW`), run on the response
    /// at its place; `expr` is checked when the engine is built.
    SetVar { var: String, expr: String },
    /// `http-check unset-var(check.NAME)`.
    UnsetVar { var: String },
}

/// A header name or value pattern of `http-check expect hdr`: `-m
/// str|beg|end|sub|reg` (`str` by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HdrPattern {
    pub method: HdrMatch,
    /// `name-lf` / `value-lf`: `text` is a log-format string, rendered
    /// when the rule runs.
    pub lf: bool,
    pub text: String,
}

/// The `-m` method of an `http-check expect hdr` pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HdrMatch {
    Str,
    Beg,
    End,
    Sub,
    Reg,
}

/// `http-check send [meth M] [uri U|uri-lf FMT] [ver V] [hdr N FMT]*
/// [body S|body-lf FMT]`: what it sets overrides `option httpchk`'s
/// method, URI and version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpCheckSend {
    pub place: Place,
    pub method: Option<String>,
    pub uri: Option<String>,
    /// `uri-lf`: `uri` is a log-format string.
    pub uri_lf: bool,
    pub version: Option<String>,
    /// Header names as written (sent lower-cased, as HAProxy's H1 mux
    /// does); values are log-format strings (HAProxy's `hdr->value`).
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// `body-lf`: `body` is a log-format string.
    pub body_lf: bool,
}

impl HttpCheckSend {
    /// Whether a value is rendered when the rule runs (`uri-lf`,
    /// `body-lf`, a `%` in a header value).
    pub fn has_lf(&self) -> bool {
        self.uri_lf || self.body_lf || self.headers.iter().any(|(_, v)| v.contains('%'))
    }
}

/// One `http-check` rule at its place in the section's ruleset
/// (HAProxy's HTTP `tcpcheck_rule` list): several connect / send /
/// expect sequences run in order in one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpCheckRule {
    /// `http-check connect [options]`.
    Connect { place: Place, connect: CheckConnect },
    /// `http-check send ...`.
    Send(HttpCheckSend),
    /// `http-check expect ...`, `set-var`, `unset-var`.
    Expect(HttpCheckExpect),
}

impl HttpCheckRule {
    pub fn place(&self) -> &Place {
        match self {
            HttpCheckRule::Connect { place, .. } => place,
            HttpCheckRule::Send(s) => &s.place,
            HttpCheckRule::Expect(e) => &e.place,
        }
    }
}

/// Options of a `server` or `default-server` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// `weight` (0..=256, default 1).
    pub weight: u32,
    pub maxconn: Option<u32>,
    pub maxqueue: Option<u32>,
    /// `check`.
    pub check: bool,
    /// `inter` (default 2s).
    pub inter_ms: u32,
    /// `fastinter` (default: `inter`).
    pub fastinter_ms: Option<u32>,
    /// `downinter` (default: `inter`).
    pub downinter_ms: Option<u32>,
    /// `rise` (default 2).
    pub rise: u32,
    /// `fall` (default 3).
    pub fall: u32,
    pub backup: bool,
    pub disabled: bool,
    pub send_proxy: bool,
    pub send_proxy_v2: bool,
    /// `proxy-v2-options OPT[,OPT...]`: the TLVs a `send-proxy-v2`
    /// header carries ([`pp_opts`] bits; HAProxy's `srv->pp_opts`).
    pub pp_opts: u16,
    /// `proto h2`: HTTP/2 with prior knowledge (h2c, or h2 over `ssl`).
    pub proto_h2: bool,
    /// `check-proto h1|h2`: the protocol of the server's HTTP checks
    /// (HAProxy's `check.mux_proto`); `None`: the server's (`proto`).
    pub check_proto_h2: Option<bool>,
    /// `ws auto|h1|h2` (HAProxy's `srv->ws`): the protocol of websocket
    /// requests.
    pub ws: WsMode,
    /// `idle-ping T` (HAProxy 3.x's `srv->idle_ping`): an idle HTTP/2
    /// connection of the server is sent a PING every T, and closed when
    /// the previous one is still unanswered; 0 or absent: off.
    pub idle_ping_ms: Option<u32>,
    /// `pool-max-conn N`: at most N idle connections of the server are
    /// kept for reuse (`None`: -1, no limit; 0: none kept).
    pub pool_max_conn: Option<u32>,
    /// `port N`: the port health checks connect to (HAProxy's
    /// `check.port`); by default the server's.
    pub check_port: Option<u16>,
    /// `addr A`: the address health checks connect to; by default the
    /// server's.
    pub check_addr: Option<super::addr::Addr>,
    /// `agent-check` (`no-agent-check` clears it).
    pub agent_check: bool,
    /// `agent-port N` (else `port`).
    pub agent_port: Option<u16>,
    /// `agent-addr A` (else `addr`, else the server's address).
    pub agent_addr: Option<super::addr::Addr>,
    /// `agent-inter T` (default 2s, whatever `inter` says).
    pub agent_inter_ms: u32,
    /// `agent-send STRING`.
    pub agent_send: Option<String>,
    /// `ssl` and the TLS options of the server line (`verify`, `ca-file`,
    /// `sni`, `alpn`, ...), kept even without `ssl` (a `default-server`
    /// may set them for servers that add `ssl`).
    pub tls: SrvTls,
    /// `cookie VALUE`: the value of the backend's persistence cookie that
    /// names this server.
    pub cookie: Option<String>,
    /// `slowstart TIME`, in seconds as HAProxy keeps it (rounded up; 0:
    /// off): the weight and maxconn ramp after the server comes back.
    pub slowstart_s: u32,
    /// `on-marked-down shutdown-sessions`: the streams on the server are
    /// closed when it goes DOWN or into maintenance.
    pub on_marked_down_shutdown: bool,
    /// `on-marked-up shutdown-backup-sessions`: the streams on the
    /// backend's backup servers are closed when this server comes UP.
    pub on_marked_up_shutdown_backup: bool,
    /// `observe none|layer4|layer7`: live traffic counts as health checks
    /// (HAProxy's `srv->observe`).
    pub observe: ObserveLayer,
    /// `error-limit N` (default 10): consecutive traffic errors that
    /// trigger `on-error`.
    pub error_limit: u32,
    /// `on-error fastinter|fail-check|sudden-death|mark-down` (default
    /// `fail-check`).
    pub on_error: OnError,
    /// `minconn N`: with `maxconn`, the server's limit grows from `N` to
    /// `maxconn` with the backend's load (HAProxy's dynamic maxconn).
    pub minconn: Option<u32>,
    /// `pool-conn-name EXPR` (HAProxy 3.x; `rhttp@` servers only in
    /// Sluice): the name a request looks its server connection up by,
    /// matched against the `name` of `attach-srv`.
    pub pool_conn_name: Option<String>,
    /// `resolvers NAME`: the `resolvers` section that keeps the server's
    /// address up to date (its address must be a name).
    pub resolvers: Option<String>,
    /// `resolve-prefer ipv4|ipv6` (HAProxy's default: IPv6).
    pub resolve_prefer_ipv4: bool,
    /// `resolve-opts allow-dup-ip` (`prevent-dup-ip` clears it): servers
    /// of a backend may share an address from the same answer.
    pub resolve_allow_dup_ip: bool,
    /// `resolve-net NET[,NET...]`: the preferred networks, address and
    /// prefix length.
    pub resolve_net: Vec<(core::net::IpAddr, u8)>,
    /// `init-addr METHOD[,METHOD...]`; empty: HAProxy's default
    /// (`last,libc`, plus `none` with `resolvers`).
    pub init_addr: Vec<InitAddr>,
    /// Recognised options Sluice does not implement (each with a warning).
    pub ignored: Vec<String>,
}

/// A method of `init-addr` (HAProxy's `SRV_IADDR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitAddr {
    /// `last`: the address of the server-state file (Sluice reads none:
    /// always skipped).
    Last,
    /// `libc`: the driver resolves the name at start-up.
    Libc,
    /// `none`: start without an address, in maintenance until resolved.
    None,
    /// An IP address to start with.
    Ip(core::net::IpAddr),
}

/// A TLS protocol version as HAProxy names it (`ssl-min-ver`,
/// `ssl-max-ver`, `force-*`, `no-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVer {
    Sslv3,
    Tlsv10,
    Tlsv11,
    Tlsv12,
    Tlsv13,
}

impl TlsVer {
    /// From `SSLv3`, `TLSv1.0` ... `TLSv1.3`.
    pub fn parse(s: &str) -> Option<TlsVer> {
        Some(match s {
            "SSLv3" => TlsVer::Sslv3,
            "TLSv1.0" => TlsVer::Tlsv10,
            "TLSv1.1" => TlsVer::Tlsv11,
            "TLSv1.2" => TlsVer::Tlsv12,
            "TLSv1.3" => TlsVer::Tlsv13,
            _ => return None,
        })
    }

    /// HAProxy's name of the version.
    pub fn name(self) -> &'static str {
        match self {
            TlsVer::Sslv3 => "SSLv3",
            TlsVer::Tlsv10 => "TLSv1.0",
            TlsVer::Tlsv11 => "TLSv1.1",
            TlsVer::Tlsv12 => "TLSv1.2",
            TlsVer::Tlsv13 => "TLSv1.3",
        }
    }
}

/// TLS settings shared by `bind` and `server` lines (HAProxy's
/// `ssl_bind_conf` / the `ssl_*` fields of `struct server`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsCommon {
    /// `alpn LIST` (comma-separated protocol names).
    pub alpn: Option<Vec<String>>,
    /// `ssl-min-ver`, `ssl-max-ver` (after `force-*`).
    pub min_ver: Option<TlsVer>,
    pub max_ver: Option<TlsVer>,
    /// `no-tlsv12`, `no-tlsv13`.
    pub no_tlsv12: bool,
    pub no_tlsv13: bool,
    /// `ciphers` (TLS 1.2, OpenSSL names), as kept after dropping the
    /// unsupported ones (warned about once, at parse time).
    pub ciphers: Option<Vec<String>>,
    /// `ciphersuites` (TLS 1.3), likewise.
    pub ciphersuites: Option<Vec<String>>,
    /// `ca-file FILE` (as written; `ca-base` applies).
    pub ca_file: Option<String>,
    /// `curves LIST` / `ecdhe NAME`: the key exchange groups, rustls's
    /// names of them (`X25519`, `secp256r1`, `secp384r1`), in order.
    pub curves: Option<Vec<String>>,
    /// `no-tls-tickets` (`tls-tickets` clears it).
    pub no_tls_tickets: bool,
}

/// `crt-ignore-err` / `ca-ignore-err` (HAProxy's `crt_ignerr` and
/// `ca_ignerr` bitmaps of OpenSSL's `X509_V_ERR_*` ids).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum IgnoreErr {
    /// Not set: every error fails the handshake.
    #[default]
    Nothing,
    /// `all`.
    All,
    /// The listed ids.
    Ids(Vec<u32>),
}

impl IgnoreErr {
    /// Whether error id `code` is ignored.
    pub fn covers(&self, code: u32) -> bool {
        match self {
            IgnoreErr::Nothing => false,
            IgnoreErr::All => true,
            IgnoreErr::Ids(l) => l.contains(&code),
        }
    }
}

/// The TLS part of a `bind` line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BindTls {
    /// `ssl`.
    pub ssl: bool,
    /// `crt FILE|DIR` (as written; `crt-base` applies), in order: the first
    /// certificate loaded is the default one.
    pub crts: Vec<String>,
    /// `crt-list FILE` (as written: `crt-base` applies to the certificates
    /// it names, not to it, as in HAProxy 2.6), in order after
    /// the `crt` ones: the first certificate of the first list is the
    /// default one when there is no `crt`.
    pub crt_lists: Vec<String>,
    /// `strict-sni`.
    pub strict_sni: bool,
    /// `verify none|optional|required`: client certificates (checked
    /// against `ca-file`, and `crl-file` when given).
    pub verify: BindVerify,
    /// `crl-file FILE` (as written; `ca-base` applies).
    pub crl_file: Option<String>,
    /// `ca-verify-file FILE` (as written; `ca-base` applies): CA
    /// certificates that verify client certificates without being named
    /// to the client in the CertificateRequest (`ca-file`'s are).
    pub ca_verify_file: Option<String>,
    /// `crt-ignore-err`: verification errors of the client's own
    /// certificate that do not fail the handshake.
    pub crt_ignore_err: IgnoreErr,
    /// `ca-ignore-err`: errors about the CA certificates of its chain.
    pub ca_ignore_err: IgnoreErr,
    /// `prefer-client-ciphers`: the client's order of suites wins (by
    /// default the server's does, as HAProxy sets OpenSSL's
    /// `SSL_OP_CIPHER_SERVER_PREFERENCE`).
    pub prefer_client_ciphers: bool,
    /// `tls-ticket-keys FILE` (as written): the session ticket keys.
    pub tls_ticket_keys: Option<String>,
    pub common: TlsCommon,
}

/// `bind ... verify none|optional|required`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BindVerify {
    /// No certificate is asked for (the default).
    #[default]
    None,
    /// Asked for; a client without one is served, one with a bad one
    /// is refused.
    Optional,
    /// Required.
    Required,
}

/// `server ... verify none|required`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrvVerify {
    None,
    Required,
}

/// The TLS part of a `server` line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SrvTls {
    /// `ssl`.
    pub ssl: bool,
    /// `verify none|required` (unset: `required`, as HAProxy's
    /// `ssl-server-verify` default).
    pub verify: Option<SrvVerify>,
    /// `sni str(NAME)`: a fixed name.
    pub sni: Option<String>,
    /// `sni EXPR` of any other expression: evaluated on each stream's
    /// request when it connects (HAProxy's `srv->ssl_ctx.sni`).
    pub sni_expr: Option<String>,
    /// `verifyhost NAME`.
    pub verifyhost: Option<String>,
    /// `crl-file FILE` (as written; `ca-base` applies): the server's
    /// certificate chain is checked against these revocation lists.
    pub crl_file: Option<String>,
    /// `no-ssl-reuse` (`ssl-reuse` clears it): no TLS session resumption
    /// towards this server.
    pub no_ssl_reuse: bool,
    /// `crt FILE`: the client certificate (chain and key in one PEM file)
    /// presented to the server (as written; `crt-base` applies).
    pub crt: Option<String>,
    /// `check-ssl` (`Some(true)`) / `no-check-ssl` (`Some(false)`):
    /// whether health checks go over TLS; unset: when the server has
    /// `ssl` and its checks no `addr` / `port` of their own (HAProxy's
    /// `check.use_ssl` and `init_srv_check`).
    pub check_ssl: Option<bool>,
    /// `check-sni NAME`: the SNI of health checks over TLS.
    pub check_sni: Option<String>,
    /// `check-alpn LIST`: the ALPN of health checks over TLS (unset: the
    /// server's `alpn`).
    pub check_alpn: Option<Vec<String>>,
    pub common: TlsCommon,
}

/// A server's `ws` keyword (HAProxy's `SRV_WS_*`): which protocol carries
/// a websocket request (an HTTP/1.1 `Upgrade: websocket`, or an HTTP/2
/// extended CONNECT with `:protocol websocket`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WsMode {
    /// `auto` (the default): the server's own protocol (`proto`), and
    /// over TLS with an ALPN list naming `http/1.1`, HTTP/1.1.
    #[default]
    Auto,
    /// `h1`: HTTP/1.1 (ALPN `http/1.1` over TLS).
    H1,
    /// `h2`: HTTP/2, an extended CONNECT (ALPN `h2` over TLS).
    H2,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            weight: 1,
            maxconn: None,
            maxqueue: None,
            check: false,
            inter_ms: 2000,
            fastinter_ms: None,
            downinter_ms: None,
            rise: 2,
            fall: 3,
            backup: false,
            disabled: false,
            send_proxy: false,
            send_proxy_v2: false,
            pp_opts: 0,
            proto_h2: false,
            check_proto_h2: None,
            ws: WsMode::Auto,
            idle_ping_ms: None,
            pool_max_conn: None,
            check_port: None,
            check_addr: None,
            agent_check: false,
            agent_port: None,
            agent_addr: None,
            agent_inter_ms: 2000,
            agent_send: None,
            tls: SrvTls::default(),
            cookie: None,
            slowstart_s: 0,
            on_marked_down_shutdown: false,
            on_marked_up_shutdown_backup: false,
            observe: ObserveLayer::None,
            error_limit: 10,
            on_error: OnError::FailCheck,
            minconn: None,
            pool_conn_name: None,
            resolvers: None,
            resolve_prefer_ipv4: false,
            resolve_allow_dup_ip: false,
            resolve_net: Vec::new(),
            init_addr: Vec::new(),
            ignored: Vec::new(),
        }
    }
}

/// A `server NAME ADDR[:PORT] [options]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub place: Place,
    pub name: String,
    pub addr: Addr,
    /// `id N`: the server's numeric id (automatic when `None`).
    pub id: Option<u32>,
    /// The options: `default-server` settings, then this line's.
    pub opts: ServerOptions,
}

/// One address of a `bind` line (`bind :80,:81` has two).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindAddr {
    pub addr: Addr,
    /// The last port of a range (`:8000-8010`).
    pub port_last: Option<u16>,
}

/// The mux a `bind ... proto NAME` forces (HAProxy's `mux_proto_list`
/// entries a listener may name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindProto {
    /// `proto h1`: HTTP/1 only, no implicit upgrade to HTTP/2 on the
    /// client preface (HAProxy's `mux_h1_ops`, `MX_FL_NO_UPG`); HTTP
    /// frontends only.
    H1,
    /// `proto h2`: HTTP/2 with prior knowledge (h2c); HTTP frontends only.
    H2,
    /// `proto none`: `mux_pt`, never upgraded to HTTP (`switch-mode http`
    /// fails); TCP frontends only.
    None,
}

impl BindProto {
    /// The name on the `bind` line.
    pub fn name(self) -> &'static str {
        match self {
            BindProto::H1 => "h1",
            BindProto::H2 => "h2",
            BindProto::None => "none",
        }
    }
}

/// A `bind ADDR[,ADDR...] [options]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    pub place: Place,
    pub addrs: Vec<BindAddr>,
    /// `accept-proxy`.
    pub accept_proxy: bool,
    /// `name N`.
    pub name: Option<String>,
    /// `maxconn N`.
    pub maxconn: Option<u32>,
    /// `nbconn N` (reverse HTTP binds only, experimental): connections kept.
    pub nbconn: Option<u32>,
    /// `idle-ping T` (HAProxy 3.x's `bind_conf->idle_ping`): an idle
    /// HTTP/2 connection is sent a PING every T, and closed when the
    /// previous one is still unanswered; 0 or absent: off.
    pub idle_ping_ms: Option<u32>,
    /// `proto NAME` (HAProxy's `bind_conf->mux_proto`): the mux its
    /// connections get; `None`: chosen by the mode (and ALPN).
    pub proto: Option<BindProto>,
    /// `id N`: the listener's number in its frontend (HAProxy's `luid`,
    /// shown in logs as `unix:N` and `fe/N: SSL handshake failure`).
    pub id: Option<u32>,
    /// `mode`: permissions of a UNIX socket (else `unix-bind mode`).
    pub mode: Option<u32>,
    /// `user`/`uid`: owner of a UNIX socket (else `unix-bind`'s).
    pub uid: Option<IdSpec>,
    /// `group`/`gid`: group of a UNIX socket (else `unix-bind`'s).
    pub gid: Option<IdSpec>,
    /// `ssl`, `crt` and the other TLS options.
    pub tls: BindTls,
    /// `interface NAME`: the sockets are bound to that network interface
    /// (`SO_BINDTODEVICE`): only connections that came through it are
    /// accepted.
    pub interface: Option<String>,
    /// Recognised options Sluice does not implement (each with a warning).
    pub ignored: Vec<String>,
}

impl Bind {
    /// A reverse HTTP receiver (`bind rhttp@BACKEND/SERVER`).
    pub fn is_reverse(&self) -> bool {
        self.addrs
            .iter()
            .any(|a| matches!(a.addr, super::addr::Addr::Rhttp(_)))
    }
}

/// `if COND` / `unless COND` at the end of a rule, words kept for the ACL
/// engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    /// `unless`.
    pub negate: bool,
    /// The condition's words (`{ src 1.2.3.4 }`, `!is_local || is_api`).
    pub words: Vec<String>,
}

/// A rule or ACL line kept as words for the rule engine: `acl`,
/// `tcp-request connection|session|content`, `http-request`,
/// `http-response`, `http-after-response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleLine {
    pub file: String,
    pub line: u32,
    /// The directive: `acl`, `http-request`, `tcp-request content`, ...
    pub keyword: String,
    /// The words after the keyword, without the condition: an action and
    /// its arguments (`track-sc0 src table mesh/t`), or for `acl` the name,
    /// the criterion, its flags and values.
    pub words: Vec<String>,
    /// The `if`/`unless` condition, split from the action words.
    pub cond: Option<Cond>,
}

/// `use_backend NAME [if|unless COND]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseBackend {
    pub place: Place,
    /// The backend name; a log-format string when it contains `%[`.
    pub name: String,
    pub cond: Option<Cond>,
}

impl UseBackend {
    /// A name computed per request (`use_backend %[req.hdr(host)]`).
    pub fn is_dynamic(&self) -> bool {
        self.name.contains("%[")
    }
}

/// `use-server NAME if|unless COND` (HAProxy's `server_rule`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseServer {
    pub place: Place,
    /// The server name; a log-format string when it contains `%[`.
    pub name: String,
    pub cond: Cond,
}

impl UseServer {
    /// A name computed per request (`use-server %[req.hdr(x)] if ...`).
    pub fn is_dynamic(&self) -> bool {
        self.name.contains("%[")
    }
}

/// `stick on|match|store-request|store-response`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StickKind {
    On,
    Match,
    StoreRequest,
    StoreResponse,
}

/// `stick KIND EXPR [table T] [if|unless COND]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StickRule {
    pub place: Place,
    pub kind: StickKind,
    /// The sample expression (`src`, `req.hdr(x),lower`).
    pub expr: String,
    /// `table T`; the proxy's own table when `None`.
    pub table: Option<String>,
    pub cond: Option<Cond>,
}

/// Which `defaults` section a proxy took its initial settings from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultsRef {
    /// Index in [`Config::defaults`].
    pub index: usize,
    /// The section's name (empty for an anonymous one).
    pub name: String,
    /// Named with `from NAME` rather than being the last one before.
    pub explicit: bool,
}

/// Which server state file `load-server-state-from-file` reads (HAProxy's
/// `PR_SRV_STATE_FILE_GLOBAL` / `PR_SRV_STATE_FILE_LOCAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerStateFile {
    /// The global `server-state-file`.
    Global,
    /// The backend's own file (`server-state-file-name`, or its name).
    Local,
}

/// A `defaults`, `frontend`, `backend` or `listen` section (HAProxy's
/// `struct proxy`).
#[derive(Clone, Debug, PartialEq)]
pub struct Proxy {
    pub place: Place,
    /// Empty for an anonymous `defaults` section.
    pub name: String,
    pub kind: ProxyKind,
    /// The `defaults` section the settings were copied from; `None` when
    /// there was none before this section.
    pub from: Option<DefaultsRef>,
    /// `disabled`.
    pub disabled: bool,
    /// `load-server-state-from-file global|local` and the line saying so
    /// (HAProxy's `load_server_state_from_file`; `none`, the default,
    /// is `None`).
    pub load_server_state: Option<(ServerStateFile, Place)>,
    pub mode: Mode,
    pub maxconn: Option<u32>,
    /// `fullconn N`: the backend load at which servers with `minconn`
    /// reach their `maxconn`; by default 10% of the `maxconn` of the
    /// frontends that can reach the backend.
    pub fullconn: Option<u32>,
    pub binds: Vec<Bind>,
    pub default_backend: Option<(Place, String)>,
    pub use_backends: Vec<UseBackend>,
    /// `use-server` rules.
    pub use_servers: Vec<UseServer>,
    pub servers: Vec<Server>,
    /// `default-server` options, the starting point of every `server`.
    pub default_server: ServerOptions,
    pub timeouts: Timeouts,
    pub balance: Balance,
    /// A `balance` line in this section or its defaults (HAProxy's
    /// `BE_LB_KIND` bits): without one, a backend with `dispatch` or
    /// `option transparent` balances nothing.
    pub balance_set: bool,
    /// `dispatch ADDR:PORT` (HAProxy's `PR_O_DISPATCH`, `dispatch_addr`):
    /// the fixed address streams go to when no algorithm balances them.
    pub dispatch: Option<(Place, Addr)>,
    /// `hash-type`.
    pub hash_type: HashType,
    /// `hash-balance-factor` (0: off).
    pub hash_balance_factor: u32,
    /// `retries` (default 3).
    pub retries: u32,
    /// `retry-on` (default `conn-failure`).
    pub retry_on: RetryOn,
    pub options: ProxyOptions,
    pub http_reuse: HttpReuse,
    /// `http-check expect` rules, in order (none: status 200-399).
    pub http_check_expects: Vec<HttpCheckExpect>,
    /// `http-check send`.
    pub http_check_send: Option<HttpCheckSend>,
    /// Every `http-check connect`, `send`, `expect`, `set-var` and
    /// `unset-var` rule in order: the ruleset a check with connect rules,
    /// log-format values or `send-state` runs.
    pub http_check_rules: Vec<HttpCheckRule>,
    /// `http-check send-state`: each check request carries an
    /// `X-Haproxy-Server-State` header (HAProxy's `TCPCHK_RULES_SNDST`).
    pub http_check_send_state: bool,
    /// An `http-check comment` waiting for the rule it names.
    pub pending_http_check_comment: Option<String>,
    /// This section has its own `option httpchk` line (not inherited).
    pub httpchk_own: bool,
    /// This section has its own `http-check` rules but no `option
    /// httpchk` of its own: HAProxy 2.6 starts a new ruleset, without the
    /// inherited option's request (only `http-check send` sends one).
    pub http_check_fresh: bool,
    /// `tcp-check` rules, in order (used with `option tcp-check`; `option
    /// redis-check` writes its own).
    pub tcp_checks: Vec<TcpCheckLine>,
    /// A `tcp-check comment` waiting for the rule it names.
    pub pending_tcp_check_comment: Option<String>,
    pub logs: Vec<ProxyLog>,
    pub stick_table: Option<TableDecl>,
    pub stick_rules: Vec<StickRule>,
    /// `cookie`: cookie-based persistence.
    pub cookie: Option<CookieCfg>,
    /// `force-persist` and `ignore-persist` rules, in order.
    pub persist_rules: Vec<PersistRule>,
    pub acls: Vec<RuleLine>,
    /// `tcp-request inspect-delay`.
    pub tcp_request_inspect_delay_ms: Option<u32>,
    /// `tcp-response inspect-delay`.
    pub tcp_response_inspect_delay_ms: Option<u32>,
    pub tcp_request_connection: Vec<RuleLine>,
    pub tcp_request_session: Vec<RuleLine>,
    pub tcp_request_content: Vec<RuleLine>,
    pub tcp_response_content: Vec<RuleLine>,
    pub http_request: Vec<RuleLine>,
    /// `redirect location|prefix|scheme ...` (HAProxy's `redirect_rules`):
    /// run after the `http-request` rules and the stats check, as
    /// `http-request redirect` rules (words start with `redirect`).
    pub redirect_rules: Vec<RuleLine>,
    pub http_response: Vec<RuleLine>,
    pub http_after_response: Vec<RuleLine>,
    /// `log-format` (parsed when the proxy is built, as HAProxy does at
    /// check time); cleared by `option httplog` / `tcplog` after it.
    pub log_format: Option<(Place, String)>,
    /// `unique-id-format`, `unique-id-header`.
    pub unique_id_format: Option<(Place, String)>,
    pub unique_id_header: Option<String>,
    /// `capture request|response header`, `declare capture`, in order.
    pub captures: Vec<CaptureDecl>,
    /// `monitor-uri URI` (HAProxy's `monitor_uri`): requests for it are
    /// answered by the frontend itself, 200 or 503, and not logged.
    pub monitor_uri: Option<String>,
    /// `http-send-name-header NAME` (HAProxy's `server_id_hdr_name`): the
    /// chosen server's name goes to it in header `NAME`, lower case.
    pub server_id_hdr_name: Option<String>,
    /// `monitor fail if|unless COND`, in order (HAProxy's
    /// `mon_fail_cond`): the first that matches makes the monitor answer
    /// 503.
    pub monitor_fail: Vec<MonitorFail>,
    /// `errorfile` and `errorfiles`, in order (inherited from `defaults`).
    pub errors: Vec<super::errors::ErrorDecl>,
    /// `stats ...`: the stats page (inherited from `defaults`).
    pub stats: Option<super::stats::StatsCfg>,
    /// `stats admin if|unless COND`, in order (not inherited: refused in
    /// `defaults`, as in HAProxy).
    pub stats_admin: Vec<super::stats::StatsAdmin>,
    /// `compression algo|type|offload` (inherited from `defaults`).
    pub compression: Option<crate::http::comp::CompCfg>,
}

/// `monitor fail if|unless COND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorFail {
    pub place: Place,
    pub cond: Cond,
}

/// A capture slot (`capture request header NAME len N`, `declare capture
/// response len N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureDecl {
    pub place: Place,
    /// A response slot.
    pub response: bool,
    /// The header captured; `None` for `declare capture` and
    /// `http-request capture ... len N`.
    pub header: Option<String>,
    pub len: u32,
    /// Declared by an `http-request capture EXPR len N` line.
    pub from_rule: bool,
}

impl Proxy {
    /// A section with HAProxy's built-in defaults.
    pub fn new(kind: ProxyKind, name: impl Into<String>, place: Place) -> Proxy {
        Proxy {
            place,
            name: name.into(),
            kind,
            from: None,
            disabled: false,
            load_server_state: None,
            mode: Mode::Tcp,
            maxconn: None,
            fullconn: None,
            binds: Vec::new(),
            default_backend: None,
            use_backends: Vec::new(),
            use_servers: Vec::new(),
            servers: Vec::new(),
            default_server: ServerOptions::default(),
            timeouts: Timeouts::default(),
            balance: Balance::RoundRobin,
            balance_set: false,
            dispatch: None,
            hash_type: HashType::default(),
            hash_balance_factor: 0,
            retries: 3,
            retry_on: RetryOn::CONN_FAILURE,
            options: ProxyOptions::default(),
            http_reuse: HttpReuse::Safe,
            http_check_expects: Vec::new(),
            http_check_send: None,
            http_check_rules: Vec::new(),
            http_check_send_state: false,
            pending_http_check_comment: None,
            httpchk_own: false,
            http_check_fresh: false,
            tcp_checks: Vec::new(),
            pending_tcp_check_comment: None,
            logs: Vec::new(),
            stick_table: None,
            stick_rules: Vec::new(),
            cookie: None,
            persist_rules: Vec::new(),
            acls: Vec::new(),
            tcp_request_inspect_delay_ms: None,
            tcp_response_inspect_delay_ms: None,
            tcp_request_connection: Vec::new(),
            tcp_request_session: Vec::new(),
            tcp_request_content: Vec::new(),
            tcp_response_content: Vec::new(),
            http_request: Vec::new(),
            redirect_rules: Vec::new(),
            http_response: Vec::new(),
            http_after_response: Vec::new(),
            log_format: None,
            unique_id_format: None,
            unique_id_header: None,
            captures: Vec::new(),
            monitor_uri: None,
            server_id_hdr_name: None,
            monitor_fail: Vec::new(),
            stats_admin: Vec::new(),
            errors: Vec::new(),
            stats: None,
            compression: None,
        }
    }

    /// A new `kind` section named `name` that starts from the settings of
    /// `defaults` (HAProxy's `proxy_preset_defaults` + `proxy_defproxy_cpy`):
    /// mode, maxconn, timeouts, balance, retries, options, http-reuse,
    /// http-check, default-server, log, default_backend (and, for a
    /// frontend, the `http-request capture .. len` slots), and the rules and
    /// ACLs of a named defaults section. Binds, servers, `use_backend`,
    /// `stick` rules and stick tables are never inherited.
    pub fn inherit(kind: ProxyKind, name: &str, place: Place, defaults: &Proxy) -> Proxy {
        let mut p = Proxy::new(kind, name, place);
        p.load_server_state = defaults.load_server_state.clone();
        p.mode = defaults.mode;
        p.maxconn = defaults.maxconn;
        p.fullconn = defaults.fullconn;
        p.timeouts = defaults.timeouts;
        p.balance = defaults.balance.clone();
        p.balance_set = defaults.balance_set;
        p.hash_type = defaults.hash_type;
        p.hash_balance_factor = defaults.hash_balance_factor;
        p.retries = defaults.retries;
        p.retry_on = defaults.retry_on;
        p.options = defaults.options.clone();
        p.http_reuse = defaults.http_reuse;
        p.http_check_expects = defaults.http_check_expects.clone();
        p.http_check_send = defaults.http_check_send.clone();
        p.http_check_rules = defaults.http_check_rules.clone();
        p.http_check_send_state = defaults.http_check_send_state;
        p.tcp_checks = defaults.tcp_checks.clone();
        p.default_server = defaults.default_server.clone();
        p.logs = defaults.logs.clone();
        p.cookie = defaults.cookie.clone();
        if kind.is_frontend() || kind == ProxyKind::Defaults {
            p.default_backend = defaults.default_backend.clone();
            // The capture slots of the defaults' `http-request capture ..
            // len` rules (HAProxy copies `req_cap` and `nb_req_cap`).
            p.captures = defaults.captures.clone();
        }
        // Rules and ACLs of a named defaults section run before the
        // proxy's own: they come first in its lists.
        p.acls = defaults.acls.clone();
        p.tcp_request_inspect_delay_ms = defaults.tcp_request_inspect_delay_ms;
        p.tcp_response_inspect_delay_ms = defaults.tcp_response_inspect_delay_ms;
        p.tcp_request_connection = defaults.tcp_request_connection.clone();
        p.tcp_request_session = defaults.tcp_request_session.clone();
        p.tcp_request_content = defaults.tcp_request_content.clone();
        p.tcp_response_content = defaults.tcp_response_content.clone();
        p.http_request = defaults.http_request.clone();
        p.http_response = defaults.http_response.clone();
        p.http_after_response = defaults.http_after_response.clone();
        p.log_format = defaults.log_format.clone();
        p.unique_id_format = defaults.unique_id_format.clone();
        p.unique_id_header = defaults.unique_id_header.clone();
        p.monitor_uri = defaults.monitor_uri.clone();
        p.server_id_hdr_name = defaults.server_id_hdr_name.clone();
        p.errors = defaults.errors.clone();
        p.stats = defaults.stats.clone();
        p.compression = defaults.compression.clone();
        p
    }

    /// The server named `name`.
    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == name)
    }
}

impl Config {
    /// The proxy named `name` with a backend capability.
    pub fn backend(&self, name: &str) -> Option<&Proxy> {
        self.proxies
            .iter()
            .find(|p| p.kind.is_backend() && p.name == name)
    }

    /// The proxy named `name` with a frontend capability.
    pub fn frontend(&self, name: &str) -> Option<&Proxy> {
        self.proxies
            .iter()
            .find(|p| p.kind.is_frontend() && p.name == name)
    }

    /// The peers section named `name`.
    pub fn peers_section(&self, name: &str) -> Option<&PeersSection> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The stick table a `table` argument names: a proxy name (its
    /// `stick-table`), or `section/table` for a peers-section table.
    pub fn table(&self, id: &str) -> Option<&TableDecl> {
        let in_peers = self
            .peers
            .iter()
            .flat_map(|s| s.tables.iter())
            .find(|t| t.params.id == id);
        in_peers.or_else(|| {
            self.proxies
                .iter()
                .filter_map(|p| p.stick_table.as_ref())
                .find(|t| t.params.id == id)
        })
    }

    /// Every stick table: peers-section tables first, then proxy tables.
    pub fn tables(&self) -> impl Iterator<Item = &TableDecl> {
        let peers = self.peers.iter().flat_map(|s| s.tables.iter());
        peers.chain(self.proxies.iter().filter_map(|p| p.stick_table.as_ref()))
    }

    /// The local peer of a peers section, if it lists [`Config::local_peer`].
    pub fn local_peer_of<'a>(&self, section: &'a PeersSection) -> Option<&'a Peer> {
        section.peer(&self.local_peer)
    }
}

bitflags::bitflags! {
    /// `retry-on`: when a request is tried again (HAProxy's
    /// `proxy->retry_type`, `PR_RE_*`). Only `conn-failure` retries a
    /// connection that failed; the others are layer 7 retries of a request
    /// kept whole (see `http::retry`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct RetryOn: u32 {
        /// `conn-failure` (`PR_RE_CONN_FAILED`).
        const CONN_FAILURE = 0x0001;
        /// `empty-response`: the server closed or failed before a response
        /// (`PR_RE_DISCONNECTED`).
        const EMPTY_RESPONSE = 0x0002;
        /// `response-timeout` (`PR_RE_TIMEOUT`).
        const RESPONSE_TIMEOUT = 0x0004;
        /// `junk-response`: an invalid response (`PR_RE_JUNK_REQUEST`).
        const JUNK_RESPONSE = 0x0008;
        /// `0rtt-rejected` (`PR_RE_EARLY_ERROR`): never happens without
        /// 0-RTT to servers, accepted.
        const ZERO_RTT_REJECTED = 0x0010;
        const S401 = 0x0100;
        const S403 = 0x0200;
        const S404 = 0x0400;
        const S408 = 0x0800;
        const S425 = 0x1000;
        const S500 = 0x2000;
        const S501 = 0x4000;
        const S502 = 0x8000;
        const S503 = 0x1_0000;
        const S504 = 0x2_0000;
        /// `all-retryable-errors`.
        const ALL_RETRYABLE = Self::CONN_FAILURE.bits() | Self::EMPTY_RESPONSE.bits()
            | Self::RESPONSE_TIMEOUT.bits() | Self::JUNK_RESPONSE.bits()
            | Self::ZERO_RTT_REJECTED.bits() | Self::S500.bits() | Self::S502.bits()
            | Self::S503.bits() | Self::S504.bits();
    }
}

impl RetryOn {
    /// The `retry-on` keyword `w` (HAProxy 2.6's list).
    pub fn keyword(w: &str) -> Option<RetryOn> {
        Some(match w {
            "conn-failure" => RetryOn::CONN_FAILURE,
            "empty-response" => RetryOn::EMPTY_RESPONSE,
            "response-timeout" => RetryOn::RESPONSE_TIMEOUT,
            "junk-response" => RetryOn::JUNK_RESPONSE,
            "0rtt-rejected" => RetryOn::ZERO_RTT_REJECTED,
            "401" => RetryOn::S401,
            "403" => RetryOn::S403,
            "404" => RetryOn::S404,
            "408" => RetryOn::S408,
            "425" => RetryOn::S425,
            "500" => RetryOn::S500,
            "501" => RetryOn::S501,
            "502" => RetryOn::S502,
            "503" => RetryOn::S503,
            "504" => RetryOn::S504,
            "all-retryable-errors" => RetryOn::ALL_RETRYABLE,
            _ => return None,
        })
    }

    /// Whether a response of `status` is retried (`l7_status_match`).
    pub fn status(self, status: u16) -> bool {
        let f = match status {
            401 => RetryOn::S401,
            403 => RetryOn::S403,
            404 => RetryOn::S404,
            408 => RetryOn::S408,
            425 => RetryOn::S425,
            500 => RetryOn::S500,
            501 => RetryOn::S501,
            502 => RetryOn::S502,
            503 => RetryOn::S503,
            504 => RetryOn::S504,
            _ => return false,
        };
        self.contains(f)
    }

    /// Layer 7 retries are possible (`retry_type & ~PR_RE_CONN_FAILED`).
    pub fn l7(self) -> bool {
        !(self - RetryOn::CONN_FAILURE).is_empty()
    }
}

/// The bits of `proxy-v2-options` (HAProxy's `SRV_PP_V2_*`).
pub mod pp_opts {
    /// `ssl`: the SSL TLV (client flags, version).
    pub const SSL: u16 = 1 << 0;
    /// `cert-cn`: with the client certificate's common name.
    pub const SSL_CN: u16 = 1 << 1;
    /// `ssl-cipher`: with the cipher.
    pub const SSL_CIPHER: u16 = 1 << 2;
    /// `cert-sig`: with the client certificate's signature algorithm.
    pub const SSL_SIG_ALG: u16 = 1 << 3;
    /// `cert-key`: with the client certificate's key algorithm.
    pub const SSL_KEY_ALG: u16 = 1 << 4;
    /// `authority`: the client's PROXY authority, else its SNI.
    pub const AUTHORITY: u16 = 1 << 5;
    /// `crc32c`: a checksum of the header.
    pub const CRC32C: u16 = 1 << 6;
    /// `unique-id`: the stream's unique id (`unique-id-format`).
    pub const UNIQUE_ID: u16 = 1 << 7;

    /// The bits of one option name, `None` for an unknown one.
    pub fn parse(name: &str) -> Option<u16> {
        Some(match name {
            "ssl" => SSL,
            "cert-cn" => SSL | SSL_CN,
            "cert-key" => SSL | SSL_KEY_ALG,
            "cert-sig" => SSL | SSL_SIG_ALG,
            "ssl-cipher" => SSL | SSL_CIPHER,
            "authority" => AUTHORITY,
            "crc32c" => CRC32C,
            "unique-id" => UNIQUE_ID,
            _ => return None,
        })
    }
}
