//! What Sluice accepts from HAProxy's language without acting on it, and
//! what it refuses although HAProxy knows it.
//!
//! Accepting a harmless keyword with a warning lets an existing
//! `haproxy.cfg` load unchanged (process management, TLS defaults, tuning of
//! subsystems Sluice does not have). A keyword whose absence would change
//! what traffic is accepted or where it goes is not in these lists: it is
//! an error, so that nothing is silently lost. `docs/configuration.md`
//! lists the same entries (a test keeps them in sync).
//!
//! A trailing `*` matches any suffix (`ssl-default-bind-*`).

/// Sections skipped, with one warning on their first line.
pub const SKIPPED_SECTIONS: &[&str] = &["resolvers", "mailers", "http-errors", "cache", "ring"];

/// Sections refused: `userlist` guards `http-request auth` (ignoring it would
/// open what it protects), `program` runs processes.
pub const REJECTED_SECTIONS: &[&str] = &["userlist", "program"];

/// Global keywords accepted with a warning.
pub const GLOBAL: &[&str] = &[
    "ssl-default-bind-*",
    "ssl-default-server-*",
    "ssl-dh-param-file",
    "ssl-server-verify",
    "ssl-load-extra-files",
    "description",
    "node",
    "log-tag",
    "log-send-hostname",
    "hard-stop-after",
    "grace",
    "master-worker",
    "cpu-map",
    "spread-checks",
    "busy-polling",
    "set-dumpable",
    "insecure-fork-wanted",
    "numa-cpu-mapping",
    "server-state-file",
    "server-state-base",
    "maxconnrate",
    "maxsessrate",
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
    "expose-experimental-directives",
    "h1-case-adjust",
    "h1-case-adjust-file",
    "tune.buffers.*",
    "tune.chksize",
    "tune.comp.*",
    "tune.fail-alloc",
    "tune.fd.*",
    "tune.h2.*",
    "tune.http.*",
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

/// Global keywords HAProxy accepts after `no`.
const NEGATABLE_GLOBAL: &[&str] = &[
    "busy-polling",
    "set-dumpable",
    "strict-limits",
    "insecure-fork-wanted",
    "numa-cpu-mapping",
];

/// Proxy keywords accepted with a warning.
pub const PROXY: &[&str] = &[
    "description",
    "id",
    "log-format",
    "log-format-sd",
    "log-tag",
    "error-log-format",
    "unique-id-format",
    "unique-id-header",
    "capture",
    "declare",
    "errorfile",
    "errorfiles",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "http-error",
    "email-alert",
    "monitor-uri",
    "monitor",
    "stats",
    "hash-type",
    "hash-balance-factor",
    "fullconn",
    "backlog",
    "rate-limit",
    "compression",
    "max-keep-alive-queue",
    "load-server-state-from-file",
    "server-state-file-name",
    "external-check",
    "http-send-name-header",
];

/// `option` names accepted with a warning.
pub const OPTIONS: &[&str] = &[
    "http-use-htx",
    "abortonclose",
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "checkcache",
    "clitcpka",
    "contstats",
    "disable-h2-upgrade",
    "dontlog-normal",
    "h1-case-adjust-bogus-client",
    "h1-case-adjust-bogus-server",
    "http-buffer-request",
    "http-ignore-probes",
    "http-no-delay",
    "http-pretend-keepalive",
    "http-restrict-req-hdr-names",
    "idle-close-on-response",
    "independent-streams",
    "log-separate-errors",
    "logasap",
    "nolinger",
    "prefer-last-server",
    "socket-stats",
    "srvtcpka",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "tcpka",
    "ldap-check",
    "mysql-check",
    "pgsql-check",
    "redis-check",
    "smtpchk",
    "spop-check",
    "ssl-hello-chk",
    "external-check",
];

/// Bind options accepted with a warning, with the number of values each takes.
pub const BIND_OPTIONS: &[(&str, usize)] = &[
    ("v4v6", 0),
    ("v6only", 0),
    ("transparent", 0),
    ("defer-accept", 0),
    ("tfo", 0),
    ("backlog", 1),
    ("interface", 1),
    ("mss", 1),
    ("tcp-ut", 1),
    ("process", 1),
    ("thread", 1),
    ("nice", 1),
    ("id", 1),
    ("namespace", 1),
    ("level", 1),
    ("mode", 1),
    ("user", 1),
    ("group", 1),
    ("uid", 1),
    ("gid", 1),
    ("expose-fd", 1),
    ("severity-output", 1),
    ("accept-netscaler-cip", 1),
    ("proto", 1),
    ("shards", 1),
];

/// Server options accepted with a warning, with the number of values each takes.
pub const SERVER_OPTIONS: &[(&str, usize)] = &[
    ("slowstart", 1),
    ("on-error", 1),
    ("on-marked-down", 1),
    ("on-marked-up", 1),
    ("observe", 1),
    ("error-limit", 1),
    ("cookie", 1),
    ("resolvers", 1),
    ("resolve-prefer", 1),
    ("resolve-net", 1),
    ("resolve-opts", 1),
    ("init-addr", 1),
    ("agent-check", 0),
    ("no-agent-check", 0),
    ("agent-port", 1),
    ("agent-inter", 1),
    ("agent-addr", 1),
    ("agent-send", 1),
    ("check-send-proxy", 0),
    ("addr", 1),
    ("port", 1),
    ("minconn", 1),
    ("track", 1),
    ("pool-max-conn", 1),
    ("pool-purge-delay", 1),
    ("pool-low-conn", 1),
    ("max-reuse", 1),
    ("proto", 1),
    ("check-proto", 1),
    ("tfo", 0),
    ("namespace", 1),
    ("non-stick", 0),
    ("stick", 0),
    ("log-proto", 1),
    ("check-alpn", 1),
    ("ws", 1),
];

/// TLS options of HAProxy that Sluice does not implement yet, refused on
/// `bind` and `server` lines: serving clear text, or weaker TLS, where the
/// configuration asked for them would be wrong. The implemented ones are
/// parsed in `cfgparse::tls` (see docs/tls.md).
pub const TLS_OPTIONS: &[&str] = &[
    "crt-list",
    "crl-file",
    "curves",
    "ecdhe",
    "generate-certificates",
    "ca-sign-file",
    "ca-sign-pass",
    "check-ssl",
    "check-sni",
    "no-ssl-reuse",
    "ssl-reuse",
    "prefer-client-ciphers",
    "allow-0rtt",
    "no-ca-names",
    "npn",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
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
        assert!(matches(GLOBAL, "ssl-default-bind-ciphers"));
        assert!(matches(GLOBAL, "tune.ssl.default-dh-param"));
        assert!(matches(GLOBAL, "ssl-default-server-options"));
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
