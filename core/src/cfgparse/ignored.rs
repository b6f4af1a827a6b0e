//! What Sluice accepts from HAProxy's language without acting on it, and
//! what it refuses although HAProxy knows it.
//!
//! Every keyword here is classified. Accepting a harmless keyword with a
//! warning lets an existing `haproxy.cfg` load unchanged (process
//! management, tuning of subsystems Sluice does not have). A keyword whose
//! absence would change where traffic goes, which servers count as up, what
//! a client receives or what is logged is refused with its file:line and
//! the reason (the `REFUSED_*` lists), until Sluice implements it; nothing
//! is silently lost. `docs/configuration.md` lists the same entries in the
//! same classes (a test keeps them in sync).
//!
//! A trailing `*` matches any suffix (`ssl-default-bind-*`).

/// Sections skipped, with one warning on their first line.
pub const SKIPPED_SECTIONS: &[&str] = &["mailers", "cache"];

/// Sections refused: `program` runs processes.
pub const REJECTED_SECTIONS: &[&str] = &["program"];

/// Global keywords accepted with a warning: process management, tuning of
/// subsystems Sluice does not have. None changes where traffic goes, which servers are up,
/// what a client receives or what is logged.
pub const GLOBAL: &[&str] = &[
    "ssl-dh-param-file",
    "description",
    "node",
    "spread-checks",
    "busy-polling",
    "set-dumpable",
    "insecure-fork-wanted",
    "numa-cpu-mapping",
    "server-state-file",
    "server-state-base",
    "maxsslconn",
    "maxsslrate",
    "maxcomprate",
    "maxcompcpuusage",
    "maxpipes",
    "maxzlibmem",
    "noepoll",
    "nopoll",
    "nosplice",
    "nogetaddrinfo",
    "noreuseport",
    "profiling.*",
    "quiet",
    "h1-case-adjust",
    "h1-case-adjust-file",
    "tune.buffers.*",
    "tune.chksize",
    "tune.comp.*",
    "tune.fail-alloc",
    "tune.fd.*",
    "tune.h2.be.glitches-threshold",
    "tune.h2.be.max-frames-at-once",
    "tune.h2.be.rxbuf",
    "tune.h2.fe.max-frames-at-once",
    "tune.h2.fe.max-rst-at-once",
    "tune.h2.fe.rxbuf",
    "tune.h2.log-errors",
    "tune.h2.zero-copy-fwd-send",
    "tune.idle-pool.*",
    "tune.idletimer",
    "tune.listener.*",
    "tune.lua.*",
    "tune.maxaccept",
    "tune.maxpollevents",
    "tune.pattern.cache-size",
    "tune.pipesize",
    "tune.pool-*",
    "tune.rcvbuf.*",
    "tune.recv_enough",
    "tune.runqueue-depth",
    "tune.sched.*",
    "tune.sndbuf.*",
    "tune.ssl.*",
    "tune.vars.*",
    "tune.zlib.*",
];

/// Global keywords HAProxy knows that Sluice refuses, each with the reason
/// (what ignoring it would change).
pub const REFUSED_GLOBAL: &[(&str, &str)] = &[
    (
        "grace",
        "it keeps listeners accepting for a while after a soft stop",
    ),
    ("maxconnrate", "it limits the rate of accepted connections"),
    ("maxsessrate", "it limits the rate of new sessions"),
    (
        "ssl-default-bind-sigalgs",
        "it changes the signature algorithms clients can negotiate",
    ),
    (
        "ssl-default-bind-client-sigalgs",
        "it changes which client certificates are accepted",
    ),
    (
        "ssl-default-server-sigalgs",
        "it changes the signature algorithms servers can negotiate",
    ),
    (
        "ssl-default-server-client-sigalgs",
        "it changes the client certificates sent to servers",
    ),
    (
        "tune.http.*",
        "it changes which requests are accepted (header count) or what is logged (URI length)",
    ),
];

/// Global keywords HAProxy accepts after `no`.
const NEGATABLE_GLOBAL: &[&str] = &[
    "busy-polling",
    "set-dumpable",
    "strict-limits",
    "insecure-fork-wanted",
    "numa-cpu-mapping",
    "h2-workaround-bogus-websocket-clients",
];

/// Proxy keywords accepted with a warning: descriptions, numbering, alerts
/// by mail, listen backlog, tuning of subsystems Sluice does not have, and
/// settings that only matter to a refused case (`server-state-file-name`
/// to `load-server-state-from-file local` in a backend with servers).
pub const PROXY: &[&str] = &[
    "description",
    "id",
    "email-alert",
    "backlog",
    "max-keep-alive-queue",
    "server-state-file-name",
];

/// Proxy keywords HAProxy knows that Sluice refuses, with the reason.
pub const REFUSED_PROXY: &[(&str, &str)] = &[
    ("log-format-sd", "it changes what is logged"),
    ("log-tag", "it changes the tag of every log line"),
    ("error-log-format", "it changes what is logged"),
    ("rate-limit", "it limits the rate of new sessions"),
    (
        "external-check",
        "it runs a program to decide which servers are up",
    ),
];

/// `option` names accepted with a warning: TCP keep-alive probes and
/// socket tuning, statistics details, and the HTX switch of old versions.
pub const OPTIONS: &[&str] = &[
    "http-use-htx",
    "clitcpka",
    "contstats",
    "http-no-delay",
    "idle-close-on-response",
    "socket-stats",
    "srvtcpka",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "tcpka",
];

/// `option` names HAProxy knows that Sluice refuses, with the reason.
pub const REFUSED_OPTIONS: &[(&str, &str)] = &[
    (
        "accept-invalid-http-request",
        "it changes which requests are accepted",
    ),
    (
        "accept-invalid-http-response",
        "it changes which responses are accepted",
    ),
    (
        "checkcache",
        "it blocks cacheable responses that set cookies",
    ),
    (
        "h1-case-adjust-bogus-client",
        "it changes the header names clients receive",
    ),
    (
        "h1-case-adjust-bogus-server",
        "it changes the header names servers receive",
    ),
    ("http-pretend-keepalive", "it changes what servers receive"),
    ("independent-streams", "it changes when timeouts fire"),
    ("nolinger", "it resets connections instead of closing them"),
    (
        "spop-check",
        "it decides which servers are up by speaking SPOP, and Sluice has no SPOE",
    ),
    ("external-check", "it decides which servers are up"),
];

/// Bind options accepted with a warning, with the number of values each
/// takes: socket tuning, process and thread placement, numbering, and the
/// stats socket's own options (acted on there: `level`, `expose-fd`, `mode`, `user`,
/// `group`, `uid`, `gid`). `v6only` is what Sluice does for every IPv6
/// address already.
pub const BIND_OPTIONS: &[(&str, usize)] = &[
    ("v6only", 0),
    ("transparent", 0),
    ("defer-accept", 0),
    ("tfo", 0),
    ("backlog", 1),
    ("mss", 1),
    ("tcp-ut", 1),
    ("process", 1),
    ("thread", 1),
    ("nice", 1),
    ("id", 1),
    ("level", 1),
    ("mode", 1),
    ("user", 1),
    ("group", 1),
    ("uid", 1),
    ("gid", 1),
    ("expose-fd", 1),
    ("severity-output", 1),
    ("shards", 1),
];

/// Bind options HAProxy knows that Sluice refuses, with the reason.
pub const REFUSED_BIND_OPTIONS: &[(&str, &str)] = &[
    (
        "v4v6",
        "Sluice binds IPv6 addresses IPv6-only; add a bind line for the IPv4 address",
    ),
    ("namespace", "it binds in another network namespace"),
    ("accept-netscaler-cip", "it changes the client address"),
];

/// Server options accepted with a warning, with the number of values each
/// takes: connection-pool tuning, and options that only matter to a
/// refused keyword (`log-proto` to log servers).
pub const SERVER_OPTIONS: &[(&str, usize)] = &[
    ("pool-purge-delay", 1),
    ("pool-low-conn", 1),
    ("max-reuse", 1),
    ("tfo", 0),
    ("stick", 0),
    ("log-proto", 1),
];

/// Server options HAProxy knows that Sluice refuses, with the reason.
pub const REFUSED_SERVER_OPTIONS: &[(&str, &str)] = &[
    ("check-send-proxy", "it changes what health checks send"),
    ("track", "the server's state follows another server"),
    ("namespace", "it connects from another network namespace"),
    ("non-stick", "stick rules would store this server"),
];

/// The reason `kw` is refused, when `list` names it (`*` entries are
/// prefixes, as in [`matches`]).
pub fn refused(list: &[(&'static str, &'static str)], kw: &str) -> Option<&'static str> {
    list.iter()
        .find(|(e, _)| match e.strip_suffix('*') {
            Some(prefix) => kw.starts_with(prefix),
            None => *e == kw,
        })
        .map(|(_, why)| *why)
}

/// TLS options of HAProxy that Sluice does not implement yet, refused on
/// `bind` and `server` lines: serving clear text, or weaker TLS, where the
/// configuration asked for them would be wrong. The implemented ones are
/// parsed in `cfgparse::tls` (see docs/tls.md).
pub const TLS_OPTIONS: &[&str] = &[
    "generate-certificates",
    "ca-sign-file",
    "ca-sign-pass",
    "allow-0rtt",
    "no-ca-names",
    "npn",
    "quic-cc-algo",
    "quic-force-retry",
];

/// Whether `kw` is in `list`, where entries ending in `*` are prefixes.
pub fn matches(list: &[&str], kw: &str) -> bool {
    list.iter().any(|e| match e.strip_suffix('*') {
        Some(prefix) => kw.starts_with(prefix),
        None => *e == kw,
    })
}

/// HAProxy accepts `no KW` for these global keywords.
pub fn is_negatable_global(kw: &str) -> bool {
    NEGATABLE_GLOBAL.contains(&kw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match() {
        assert!(matches(GLOBAL, "tune.ssl.default-dh-param"));
        assert!(!matches(GLOBAL, "ssl-default-bind-ciphers"));
        assert!(!matches(GLOBAL, "ssl-default-server-options"));
        // Privileges and limits are acted on, never ignored.
        for kw in [
            "user",
            "group",
            "uid",
            "gid",
            "chroot",
            "unix-bind",
            "ulimit-n",
            "ca-base",
            "crt-base",
        ] {
            assert!(!matches(GLOBAL, kw), "{kw}");
        }
        assert!(!matches(GLOBAL, "tune.bufsiz"));
        assert!(!matches(GLOBAL, "ssl-default"));
    }
}
