//! The `global` section (HAProxy's `cfg_parse_global()` and the keywords
//! registered for it: `stats socket`, `tune.*`, `log`, ...).

use super::addr::Addr;
use super::model::{Global, IdSetting, IdSpec, StatsLevel, StatsSocket};
use super::{ignored, log, units, value_msg, Diagnostic, Diags, EnvOverlay, Kwm, Ln};

/// What global keywords touch besides [`Global`].
pub(super) struct State<'a> {
    pub env: &'a mut EnvOverlay,
    /// The driver's environment, under `env`.
    pub base_env: Option<super::EnvLookup<'a>>,
    /// `-L` was given: `localpeer` is ignored.
    pub cmdline_local_peer: bool,
    /// A peers section came before: `localpeer` is too late.
    pub peers_seen: bool,
    pub local_peer: &'a mut String,
}

pub(super) fn parse(
    g: &mut Global,
    st: &mut State<'_>,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    if ln.kwm == Kwm::No && ln.kw() == "log" {
        ln.no_extra(1)?;
        g.logs.clear();
        return Ok(());
    }
    if ln.kw() == "h2-workaround-bogus-websocket-clients" {
        ln.no_extra(1)?;
        g.h2_workaround_bogus_websocket_clients = ln.kwm != Kwm::No;
        return Ok(());
    }
    if ln.kw() == "strict-limits" {
        ln.no_extra(1)?;
        g.strict_limits = ln.kwm != Kwm::No;
        return Ok(());
    }
    match ln.kw() {
        "user" | "uid" => identity(&mut g.uid, ln, "user/uid"),
        "group" | "gid" => identity(&mut g.gid, ln, "group/gid"),
        "chroot" => chroot(g, ln),
        "unix-bind" => unix_bind(g, ln),
        "ulimit-n" => once_uint(&mut g.ulimit_n, ln),
        "fd-hard-limit" => once_uint(&mut g.fd_hard_limit, ln),
        "stats" => stats(g, ln, d),
        "localpeer" => localpeer(g, st, ln, d),
        "maxconn" => one_uint(ln).map(|v| g.maxconn = Some(v)),
        "log-tag" => {
            if ln.arg(1).is_empty() {
                return Err(ln.diag("'log-tag' expects a tag for use in syslog."));
            }
            ln.no_extra(2)?;
            g.log_tag = Some(ln.arg(1).to_string());
            Ok(())
        }
        "log-send-hostname" => {
            ln.no_extra(2)?;
            let name = Some(ln.arg(1)).filter(|n| !n.is_empty());
            g.log_send_hostname = Some(name.map(str::to_string));
            Ok(())
        }
        "hard-stop-after" => {
            let v = ln.time_at(1, "hard-stop-after")?;
            ln.no_extra(2)?;
            g.hard_stop_after_ms = Some(v);
            Ok(())
        }
        "nbthread" => nbthread(g, ln),
        "thread-groups" => thread_groups(ln),
        "cpu-map" => super::threads::parse_cpu_map(ln).map(|m| g.cpu_map.push(m)),
        "expose-experimental-directives" => {
            g.expose_experimental = true;
            ln.no_extra(1)
        }
        "tune.bufsize" => bufsize(ln).map(|v| g.tune_bufsize = v),
        "tune.maxrewrite" => one_size(ln).map(|v| g.tune_maxrewrite = Some(v)),
        "tune.peers.max-updates-at-once" => max_updates(g, ln),
        "tune.h2.max-concurrent-streams" => {
            g.tune_h2_max_concurrent_streams = h2_positive(ln)?;
            Ok(())
        }
        "tune.h2.be.max-concurrent-streams" => {
            g.tune_h2_be_max_concurrent_streams = h2_positive(ln)?;
            Ok(())
        }
        "tune.h2.fe.max-concurrent-streams" => h2_fe_max_concurrent_streams(g, ln, d),
        "tune.h2.initial-window-size" => {
            g.tune_h2_initial_window_size = h2_positive(ln)?;
            Ok(())
        }
        "tune.h2.fe.initial-window-size" => {
            g.tune_h2_fe_initial_window_size = h2_positive(ln)?;
            Ok(())
        }
        "tune.h2.be.initial-window-size" => {
            g.tune_h2_be_initial_window_size = h2_positive(ln)?;
            Ok(())
        }
        "tune.h2.header-table-size" => {
            g.tune_h2_header_table_size = h2_range(ln, 4096, 65536)?;
            Ok(())
        }
        "tune.h2.max-frame-size" => {
            g.tune_h2_max_frame_size = h2_range(ln, 16384, 16_777_215)?;
            Ok(())
        }
        "tune.h2.fe.glitches-threshold" => {
            g.tune_h2_fe_glitches_threshold = one_uint(ln)?;
            Ok(())
        }
        "tune.h2.fe.max-total-streams" => {
            g.tune_h2_fe_max_total_streams = one_uint(ln)?;
            Ok(())
        }
        "log" => log::parse_target(ln, d).map(|t| g.logs.push(t)),
        "pidfile" => pidfile(g, ln),
        "ssl-load-extra-files" => {
            // HAProxy 2.6's `ssl_parse_global_extra_files`: `none` and `all`
            // alone, else any of the others. Sluice uses `ocsp`, `issuer`
            // and `key` (a PEM without its key); `sctl` and `bundle` files
            // it does not read.
            let args: Vec<&str> = ln.words[1..].iter().map(String::as_str).collect();
            const KWS: [&str; 7] = ["none", "all", "bundle", "sctl", "ocsp", "issuer", "key"];
            if args.is_empty() || args.iter().any(|a| !KWS.contains(a)) {
                return Err(ln.diag(
                    "'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer).",
                ));
            }
            if args.len() > 1 && args.iter().any(|a| matches!(*a, "none" | "all")) {
                return Err(ln.diag(
                    "'ssl-load-extra-files' 'none' and 'all' can be only used alone",
                ));
            }
            let all = args == ["all"];
            g.ssl_load_extra_ocsp = all || args.contains(&"ocsp");
            g.ssl_load_extra_issuer = all || args.contains(&"issuer");
            g.ssl_load_extra_key = all || args.contains(&"key");
            Ok(())
        }
        "ssl-load-extra-del-ext" => {
            ln.no_extra(1)?;
            g.ssl_load_extra_del_ext = true;
            Ok(())
        }
        "crt-base" | "ca-base" => {
            ln.no_extra(2)?;
            let kw = ln.kw();
            let slot = if kw == "crt-base" {
                &mut g.crt_base
            } else {
                &mut g.ca_base
            };
            if slot.is_some() {
                return Err(ln.diag(format!("'{kw}' already specified.")));
            }
            if ln.arg(1).is_empty() {
                return Err(ln.diag(format!("'{kw}' expects a directory path as an argument.")));
            }
            *slot = Some(ln.arg(1).to_string());
            Ok(())
        }
        "ssl-default-bind-options"
        | "ssl-default-bind-ciphers"
        | "ssl-default-bind-ciphersuites"
        | "ssl-default-bind-curves" => super::tls::parse_default(&mut g.ssl_default_bind, ln, true, d),
        "ssl-default-server-options"
        | "ssl-default-server-ciphers"
        | "ssl-default-server-ciphersuites" => {
            super::tls::parse_default(&mut g.ssl_default_server, ln, false, d)
        }
        "ssl-server-verify" => {
            ln.no_extra(2)?;
            g.ssl_server_verify = match ln.arg(1) {
                "none" => super::model::SrvVerify::None,
                "required" => super::model::SrvVerify::Required,
                _ => {
                    return Err(ln.diag(
                        "'ssl-server-verify' expects 'none' or 'required' as argument.",
                    ))
                }
            };
            Ok(())
        }
        "tune.ssl.cachesize" => {
            g.tune_ssl_cachesize = one_uint(ln)?;
            Ok(())
        }
        "tune.ssl.lifetime" => {
            // HAProxy reads it in seconds (`TIME_UNIT_S`): a bare number
            // is seconds, a suffix (`5m`) is honoured.
            let v = match units::parse_u32(ln.arg(1)) {
                Ok(s) => s,
                Err(_) => ln.time_at(1, "tune.ssl.lifetime")? / 1000,
            };
            ln.no_extra(2)?;
            g.tune_ssl_lifetime_s = v;
            Ok(())
        }
        "zero-warning" => {
            ln.no_extra(1)?;
            g.zero_warning = true;
            Ok(())
        }
        "master-worker" => {
            // HAProxy 2.6: `no-exit-on-failure` keeps the master up when
            // the current worker fails; Sluice's master always exits then.
            match ln.arg(1) {
                "" => {}
                "no-exit-on-failure" => d.warn(ln.diag(
                    "'master-worker no-exit-on-failure' is not supported by Sluice and is ignored: the master exits when its current worker fails.",
                )),
                other => {
                    return Err(ln.diag(format!(
                        "'master-worker' only supports 'no-exit-on-failure' (got '{other}')."
                    )))
                }
            }
            ln.no_extra(2)?;
            g.master_worker = true;
            Ok(())
        }
        "daemon" => {
            ln.no_extra(1)?;
            g.daemon = true;
            d.warn(ln.diag("'daemon' is ignored: Sluice always runs in the foreground (use a service manager)."));
            Ok(())
        }
        "server-state-file" => {
            // Alone it reads nothing: only a backend with
            // `load-server-state-from-file global` does (refused then, in
            // `Config::check`).
            g.server_state_file = Some(ln.place());
            d.warn(ln.diag("'server-state-file' is not supported by Sluice and is ignored."));
            Ok(())
        }
        "setenv" | "presetenv" | "unsetenv" | "resetenv" => env(st, ln),
        "set-var" | "set-var-fmt" => set_var(g, ln, d),
        "nbproc" => Err(ln.diag(
            "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available.",
        )),
        kw if kw.starts_with("lua-") => Err(ln.diag(format!("'{kw}': Lua is not supported by Sluice."))),
        kw if ignored::refused(ignored::REFUSED_GLOBAL, kw).is_some() => {
            let why = ignored::refused(ignored::REFUSED_GLOBAL, kw).unwrap_or_default();
            Err(ln.diag(format!("'{kw}' is not supported by Sluice: {why}.")))
        }
        kw if ignored::matches(ignored::GLOBAL, kw) => {
            d.warn(ln.diag(format!("'{kw}' is not supported by Sluice and is ignored.")));
            Ok(())
        }
        kw => Err(ln.diag(format!("unknown keyword '{kw}' in 'global' section"))),
    }
}

/// `user NAME`, `uid N`, `group NAME`, `gid N` (`what`: HAProxy's name of
/// the pair in its messages). HAProxy 2.6 only warns about a `uid` or `gid`
/// that is not a number and then runs as root: Sluice refuses it.
fn identity(slot: &mut Option<IdSetting>, ln: &Ln<'_>, what: &str) -> Result<(), Diagnostic> {
    ln.no_extra(2)?;
    if slot.is_some() {
        return Err(ln.diag(format!("{what} already specified. Continuing.")));
    }
    let v = ln.arg(1);
    let spec = match ln.kw() {
        "user" | "group" => {
            if v.is_empty() {
                return Err(ln.diag(format!("'{}' expects a name as an argument.", ln.kw())));
            }
            IdSpec::Name(v.to_string())
        }
        kw => IdSpec::Num(units::parse_u32(v).map_err(|_| {
            let name = if kw == "uid" { "user" } else { "group" };
            ln.diag(format!(
                "'{kw}' expects an integer argument (got '{v}'); use '{name}' for a name."
            ))
        })?),
    };
    *slot = Some(IdSetting {
        place: ln.place(),
        spec,
    });
    Ok(())
}

/// `chroot DIR`.
fn chroot(g: &mut Global, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    ln.no_extra(2)?;
    if g.chroot.is_some() {
        return Err(ln.diag("'chroot' already specified. Continuing."));
    }
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'chroot' expects a directory as an argument."));
    }
    g.chroot = Some((ln.place(), ln.arg(1).to_string()));
    Ok(())
}

/// `unix-bind [prefix P] [mode M] [user U] [uid N] [group G] [gid N]`.
fn unix_bind(g: &mut Global, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    let u = &mut g.unix_bind;
    u.place = Some(ln.place());
    let mut i = 1;
    while !ln.arg(i).is_empty() {
        let (opt, v) = (ln.arg(i), ln.arg(i + 1));
        let missing = || ln.diag(format!("unix-bind '{opt}' expects a value as an argument."));
        if v.is_empty() {
            return Err(missing());
        }
        match opt {
            "prefix" if u.prefix.is_some() => {
                return Err(ln.diag("unix-bind 'prefix' already specified. Continuing."))
            }
            "prefix" => u.prefix = Some(v.to_string()),
            "mode" => {
                let m = units::parse_octal(v)
                    .map_err(|e| ln.diag(value_msg("unix-bind mode", v, "an octal mode", e)))?;
                u.mode = Some(m);
            }
            "uid" | "gid" => {
                let n = units::parse_u32(v).map_err(|e| {
                    ln.diag(value_msg(&format!("unix-bind {opt}"), v, "an integer", e))
                })?;
                *(if opt == "uid" { &mut u.uid } else { &mut u.gid }) = Some(IdSpec::Num(n));
            }
            "user" => u.uid = Some(IdSpec::Name(v.to_string())),
            "group" => u.gid = Some(IdSpec::Name(v.to_string())),
            _ => {
                return Err(ln.diag(
                    "'unix-bind' only supports the 'prefix', 'mode', 'uid', 'gid', 'user' and 'group' options.",
                ))
            }
        }
        i += 2;
    }
    Ok(())
}

/// A keyword taking one integer, given at most once (`ulimit-n`,
/// `fd-hard-limit`).
/// `set-var proc.NAME EXPR` / `set-var-fmt proc.NAME FMT`: checked for
/// shape here; the expression is parsed and evaluated by the engine.
fn set_var(g: &mut Global, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let fmt = ln.kw() == "set-var-fmt";
    if ln.arg(1).is_empty() || ln.arg(2).is_empty() {
        let what = if fmt {
            "a format string"
        } else {
            "a sample expression"
        };
        return Err(ln.diag(format!(
            "'{}' requires a process-wide variable name ('proc.<name>') and {what}.",
            ln.kw()
        )));
    }
    if let Some(w) = ln.words.get(3) {
        // HAProxy 2.6 reads no further word and says nothing.
        d.warn(ln.diag(format!(
            "'{}' ignores the unexpected argument '{w}'.",
            ln.kw()
        )));
    }
    g.set_vars.push(super::model::GlobalSetVar {
        place: ln.place(),
        fmt,
        name: ln.arg(1).to_string(),
        text: ln.arg(2).to_string(),
    });
    Ok(())
}

fn once_uint(slot: &mut Option<u32>, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if slot.is_some() {
        return Err(ln.diag(format!("'{}' already specified. Continuing.", ln.kw())));
    }
    *slot = Some(one_uint(ln)?);
    Ok(())
}

fn one_uint(ln: &Ln<'_>) -> Result<u32, Diagnostic> {
    let v = ln.uint_at(1, ln.kw())?;
    ln.no_extra(2)?;
    Ok(v)
}

/// `tune.h2.*` taking a number HAProxy keeps in an `int`
/// (`h2_parse_initial_window_size`, `h2_parse_max_concurrent_streams`):
/// up to 2^31-1 (also the largest window RFC 9113 §6.9.1 allows), with
/// HAProxy's message for what does not fit.
fn h2_positive(ln: &Ln<'_>) -> Result<u32, Diagnostic> {
    ln.no_extra(2)?;
    match units::parse_u32(ln.arg(1)) {
        Ok(v) if v <= i32::MAX as u32 => Ok(v),
        _ => Err(ln.diag(format!("'{}' expects a positive numeric value.", ln.kw()))),
    }
}

/// `tune.h2.header-table-size` / `tune.h2.max-frame-size`: a number within
/// bounds, with HAProxy's message (`h2_parse_header_table_size`,
/// `h2_parse_max_frame_size`; a missing value is out of bounds there too).
fn h2_range(ln: &Ln<'_>, min: u32, max: u32) -> Result<u32, Diagnostic> {
    ln.no_extra(2)?;
    match units::parse_u32(ln.arg(1)) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ln.diag(format!(
            "'{}' expects a numeric value between {min} and {max}.",
            ln.kw()
        ))),
    }
}

/// `tune.h2.fe.max-concurrent-streams N [rq-load {N|auto|ignore}] [min N]`
/// (HAProxy 3.x): the number; `rq-load` and `min` are checked as HAProxy
/// does and ignored with a warning (Sluice does not measure its run
/// queue: the configured number is always announced).
fn h2_fe_max_concurrent_streams(
    g: &mut Global,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    let kw = ln.kw();
    let v = match units::parse_u32(ln.arg(1)) {
        Ok(v) if v <= i32::MAX as u32 => v,
        _ => return Err(ln.diag(format!("'{kw}' expects a positive numeric value."))),
    };
    let mut i = 2;
    while !ln.arg(i).is_empty() {
        let val = ln.arg(i + 1);
        match ln.arg(i) {
            "rq-load" => {
                if !matches!(val, "auto" | "ignore") && units::parse_u32(val).map_or(true, |n| n == 0) {
                    return Err(ln.diag(format!(
                        "'{kw}' expects a strictly positive run-queue length, or 'auto' or 'ignore'."
                    )));
                }
            }
            "min" => match units::parse_u32(val) {
                Ok(n) if n > 0 && n <= v => {}
                Ok(n) if n > v => {
                    return Err(ln.diag(format!(
                        "'{kw}' minimum number of streams ({n}) cannot be higher than the maximum ({v})'."
                    )))
                }
                _ => {
                    return Err(ln.diag(format!(
                        "'{kw}' expects a strictly positive minimum number of streams'."
                    )))
                }
            },
            other => {
                return Err(ln.diag(format!(
                    "'{kw}' only supports 'rq-load' or 'min' after the numeric value, but found '{other}'."
                )))
            }
        }
        i += 2;
    }
    if i > 2 {
        d.warn(ln.diag(format!(
            "'{kw}': 'rq-load' and 'min' are ignored by Sluice (the run queue is not measured); {v} streams are always announced."
        )));
    }
    g.tune_h2_fe_max_concurrent_streams = v;
    Ok(())
}

fn one_size(ln: &Ln<'_>) -> Result<u32, Diagnostic> {
    let v = ln.size_at(1, ln.kw())?;
    ln.no_extra(2)?;
    Ok(v)
}

/// The smallest `tune.bufsize` Sluice runs with. HAProxy 2.6 has no
/// explicit minimum: 0 is refused while parsing, values up to about 336
/// fail its checks or crash it (its default error pages no longer fit), and
/// it runs above that. Sluice's floor keeps every canned error page within
/// half a buffer (the other half being `tune.maxrewrite`'s reserve), so an
/// error can always be answered; a test checks the pages against it.
pub const MIN_BUFSIZE: u32 = 512;

/// `tune.bufsize SIZE`: HAProxy's message for 0, Sluice's floor above it.
fn bufsize(ln: &Ln<'_>) -> Result<u32, Diagnostic> {
    let v = one_size(ln)?;
    if v == 0 {
        return Err(ln.diag("'tune.bufsize' expects a positive integer argument."));
    }
    if v < MIN_BUFSIZE {
        return Err(ln.diag(format!(
            "'tune.bufsize' : value {v} is too small, Sluice needs buffers of at least {MIN_BUFSIZE} bytes."
        )));
    }
    Ok(v)
}

fn max_updates(g: &mut Global, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    match units::parse_u32(ln.arg(1)) {
        Ok(v) if v > 0 => {
            ln.no_extra(2)?;
            g.tune_peers_max_updates_at_once = v;
            Ok(())
        }
        _ => Err(
            ln.diag("'tune.peers.max-updates-at-once' expects an integer argument greater than 0.")
        ),
    }
}

fn nbthread(g: &mut Global, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    let n = one_uint(ln)?;
    let max = super::threads::MAX_THREADS;
    if n == 0 || n > max {
        return Err(ln.diag(format!(
            "'nbthread' value must be between 1 and {max} (was {n})"
        )));
    }
    g.nbthread = Some(n);
    Ok(())
}

/// `thread-groups N` (HAProxy 2.7+): Sluice's threads form one group, so
/// `1` (what HAProxy's own reg-tests write) changes nothing and more is
/// refused.
fn thread_groups(ln: &Ln<'_>) -> Result<(), Diagnostic> {
    match one_uint(ln)? {
        0 => Err(ln.diag("'thread-groups' number must be between 1 and 1 (was 0).")),
        1 => Ok(()),
        n => Err(ln.diag(format!(
            "'thread-groups {n}': Sluice runs its threads as one group; only 'thread-groups 1' is supported."
        ))),
    }
}

fn pidfile(g: &mut Global, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'pidfile' expects a file name as an argument."));
    }
    ln.no_extra(2)?;
    if g.pidfile.is_some() {
        return Err(ln.diag("'pidfile' already specified. Continuing."));
    }
    g.pidfile = Some(ln.arg(1).to_string());
    Ok(())
}

/// `localpeer NAME`: ignored after `-L` or after a peers section.
fn localpeer(
    g: &mut Global,
    st: &mut State<'_>,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("'localpeer' expects a name as an argument."));
    }
    ln.no_extra(2)?;
    g.localpeer = Some(name.to_string());
    if st.cmdline_local_peer {
        let m =
            "'localpeer' ignored since it is already set by using the '-L' command line argument.";
        d.warn(ln.diag(m));
    } else if st.peers_seen {
        let m = "'localpeer' ignored since it is used after 'peers' section.";
        d.warn(ln.diag(m));
    } else {
        *st.local_peer = name.to_string();
    }
    Ok(())
}

fn stats(g: &mut Global, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    match ln.arg(1) {
        "socket" => stats_socket(g, ln, d),
        "timeout" => {
            g.stats_timeout_ms = ln.time_at(2, "stats timeout")?;
            if g.stats_timeout_ms == 0 {
                return Err(ln.diag2("'stats timeout' expects a positive value."));
            }
            ln.no_extra(3)
        }
        "maxconn" | "bind-process" => {
            let m = format!("'stats {}' is not supported by Sluice and is ignored.", ln.arg(1));
            d.warn(ln.diag2(m));
            Ok(())
        }
        other => Err(ln.diag(format!(
            "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{other}')."
        ))),
    }
}

/// `stats socket ADDR [level L] [mode OCTAL] [bind options...]`.
fn stats_socket(g: &mut Global, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let text = ln.arg(2);
    if text.is_empty() {
        return Err(ln.diag2(
            "'stats socket' in global section expects an address or a path to a UNIX socket",
        ));
    }
    let addr = ln
        .parse_addr(text)
        .and_then(|p| p.single_port(text))
        .and_then(|p| p.require_port(text))
        .map_err(|e| ln.diag2(format!("'stats socket' : {e}")))?;
    let mut s = StatsSocket {
        place: ln.place(),
        addr: addr.addr,
        level: StatsLevel::default(),
        mode: None,
        uid: None,
        gid: None,
        expose_fd_listeners: false,
        ignored: Vec::new(),
    };
    let mut i = 3;
    let mut unix_only = Vec::new();
    while !ln.arg(i).is_empty() {
        if ["mode", "user", "uid", "group", "gid"].contains(&ln.arg(i)) {
            unix_only.push(ln.arg(i));
        }
        i += socket_option(&mut s, ln, i, d)?;
    }
    if !matches!(s.addr, Addr::Unix(_)) {
        for opt in unix_only {
            let m =
                format!("'stats socket' : '{opt}' only applies to UNIX sockets and is ignored.");
            d.warn(ln.diag2(m));
        }
        (s.mode, s.uid, s.gid) = (None, None, None);
    }
    g.stats_sockets.push(s);
    Ok(())
}

/// One option of a `stats socket` line at word `i`; returns the words used.
fn socket_option(
    s: &mut StatsSocket,
    ln: &Ln<'_>,
    i: usize,
    d: &mut Diags,
) -> Result<usize, Diagnostic> {
    let opt = ln.arg(i);
    let val = ln.arg(i + 1);
    match opt {
        "level" => {
            s.level = match val {
                "user" => StatsLevel::User,
                "operator" => StatsLevel::Operator,
                "admin" => StatsLevel::Admin,
                _ => {
                    return Err(ln.diag2(format!(
                        "'stats socket' : 'level' only supports 'user', 'operator', and 'admin' (got '{val}')"
                    )))
                }
            };
            Ok(2)
        }
        "mode" => {
            let m = units::parse_octal(val)
                .map_err(|e| ln.diag2(value_msg("stats socket mode", val, "an octal mode", e)))?;
            s.mode = Some(m);
            Ok(2)
        }
        // HAProxy's `bind_parse_expose_fd` (cli.c).
        "expose-fd" if val.is_empty() => {
            Err(ln.diag2("'stats socket' : 'expose-fd' : missing fd type"))
        }
        "expose-fd" if val != "listeners" => Err(ln.diag2(format!(
            "'stats socket' : 'expose-fd' only supports 'listeners' (got '{val}')"
        ))),
        "expose-fd" => {
            s.expose_fd_listeners = true;
            Ok(2)
        }
        "user" | "group" if val.is_empty() => {
            Err(ln.diag2(format!("'stats socket' : '{opt}' : missing {opt} name")))
        }
        "user" => {
            s.uid = Some(IdSpec::Name(val.to_string()));
            Ok(2)
        }
        "group" => {
            s.gid = Some(IdSpec::Name(val.to_string()));
            Ok(2)
        }
        "uid" | "gid" => {
            let n = units::parse_u32(val).map_err(|e| {
                ln.diag2(value_msg(
                    &format!("stats socket {opt}"),
                    val,
                    "an integer",
                    e,
                ))
            })?;
            *(if opt == "uid" { &mut s.uid } else { &mut s.gid }) = Some(IdSpec::Num(n));
            Ok(2)
        }
        _ => {
            let n = super::server::ignored_bind_option(ln, i, "'stats socket'", d)?;
            s.ignored.push(opt.to_string());
            Ok(n)
        }
    }
}

/// `setenv NAME VALUE`, `presetenv NAME VALUE`, `unsetenv NAME...`,
/// `resetenv [NAME...]`: they change what later `"${NAME}"` expand to.
fn env(st: &mut State<'_>, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    let names: Vec<String> = ln.words[1..].to_vec();
    match ln.kw() {
        "setenv" | "presetenv" => {
            if ln.arg(1).is_empty() || ln.words.len() < 3 {
                return Err(ln.diag(format!("'{}' expects a name and a value.", ln.kw())));
            }
            ln.no_extra(3)?;
            let exists = st.env.get(st.base_env, ln.arg(1)).is_some();
            if ln.kw() == "setenv" || !exists {
                st.env.set(ln.arg(1), Some(ln.arg(2).to_string()));
            }
        }
        "unsetenv" => {
            if names.is_empty() {
                return Err(ln.diag("'unsetenv' expects at least one variable name."));
            }
            for n in &names {
                st.env.set(n, None);
            }
        }
        _ => st.env.reset(names),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIN_BUFSIZE;
    use crate::cfgparse::{parse, ParseOptions};
    use crate::http::h1::{error_response, ERROR_STATUSES};

    /// HAProxy 3.x's HTTP/2 flood limits load; absent, they are 0 (none).
    #[test]
    fn h2_glitches_threshold_and_max_total_streams() {
        let g =
            |text: &str| parse("t.cfg", text, ParseOptions::new("t.cfg")).map(|p| p.config.global);
        let set = g("global\n    tune.h2.fe.glitches-threshold 1000\n    tune.h2.fe.max-total-streams 500\n")
            .unwrap();
        assert_eq!(set.tune_h2_fe_glitches_threshold, 1000);
        assert_eq!(set.tune_h2_fe_max_total_streams, 500);
        let unset = g("global\n").unwrap();
        assert_eq!(unset.tune_h2_fe_glitches_threshold, 0);
        assert_eq!(unset.tune_h2_fe_max_total_streams, 0);
        assert!(g("global\n    tune.h2.fe.glitches-threshold x\n").is_err());
        assert!(g("global\n    tune.h2.fe.max-total-streams 1 2\n").is_err());
    }

    /// `tune.h2.*` settings: HAProxy's bounds and messages (file:line),
    /// the side-specific keywords of HAProxy 3.x, and what is still only
    /// accepted with a warning.
    #[test]
    fn h2_settings_keywords() {
        let p = |text: &str| parse("t.cfg", text, ParseOptions::new("t.cfg"));
        let g = |text: &str| p(text).map(|p| p.config.global).unwrap();
        let set = g("global\n    tune.h2.header-table-size 8192\n    tune.h2.initial-window-size 1048576\n    tune.h2.fe.initial-window-size 10\n    tune.h2.be.initial-window-size 20\n    tune.h2.max-frame-size 32768\n    tune.h2.fe.max-concurrent-streams 7 rq-load auto min 2\n    tune.h2.be.max-concurrent-streams 3\n    tune.h2.max-concurrent-streams 0\n");
        assert_eq!(set.tune_h2_header_table_size, 8192);
        assert_eq!(set.tune_h2_initial_window_size, 1_048_576);
        assert_eq!(set.tune_h2_fe_initial_window_size, 10);
        assert_eq!(set.tune_h2_be_initial_window_size, 20);
        assert_eq!(set.tune_h2_max_frame_size, 32768);
        assert_eq!(set.tune_h2_fe_max_concurrent_streams, 7);
        assert_eq!(set.tune_h2_be_max_concurrent_streams, 3);
        assert_eq!(set.tune_h2_max_concurrent_streams, 0);
        let unset = g("global\n");
        assert_eq!(unset.tune_h2_header_table_size, 4096);
        assert_eq!(unset.tune_h2_initial_window_size, 65535);
        assert_eq!(unset.tune_h2_max_frame_size, 0);
        assert_eq!(unset.tune_h2_fe_max_concurrent_streams, 0);
        for (line, msg) in [
            (
                "tune.h2.header-table-size 100",
                "[t.cfg:2] : 'tune.h2.header-table-size' expects a numeric value between 4096 and 65536.",
            ),
            (
                "tune.h2.max-frame-size 100",
                "[t.cfg:2] : 'tune.h2.max-frame-size' expects a numeric value between 16384 and 16777215.",
            ),
            (
                "tune.h2.initial-window-size 2147483648",
                "[t.cfg:2] : 'tune.h2.initial-window-size' expects a positive numeric value.",
            ),
            (
                "tune.h2.fe.max-concurrent-streams 5 min 6",
                "minimum number of streams (6) cannot be higher than the maximum (5)",
            ),
            (
                "tune.h2.fe.max-concurrent-streams 5 foo 1",
                "only supports 'rq-load' or 'min' after the numeric value, but found 'foo'.",
            ),
            ("tune.h2.max-frame-size 20000 x", "[t.cfg:2]"),
        ] {
            let e = p(&format!("global\n    {line}\n")).map(|_| ()).unwrap_err();
            let e = format!("{e}");
            assert!(e.contains(msg), "{line}: {e}");
        }
        // HAProxy 3.x tuning Sluice has no use for: a warning.
        let w = p("global\n    tune.h2.fe.rxbuf 1m\n    tune.h2.log-errors none\n").unwrap();
        assert_eq!(w.warnings.len(), 2, "{:?}", w.warnings);
    }

    /// The floor is meaningful: every canned error page fits in the half
    /// of the smallest buffer that `tune.maxrewrite` leaves.
    #[test]
    fn every_error_page_fits_in_half_the_smallest_buffer() {
        for status in ERROR_STATUSES {
            let page = error_response(status).unwrap();
            assert!(
                page.len() <= MIN_BUFSIZE as usize / 2,
                "{status}: {} bytes",
                page.len()
            );
        }
    }
}
