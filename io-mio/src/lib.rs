//! `sluice-mio`: the `proxy-mio` driver. It owns sockets, the poller, the
//! clock, OS entropy, signals, config file loading and the stats socket
//! transport; every decision is the engine's (`sluice-core`).

pub mod driver;
pub mod limits;
pub mod log;
pub mod logfwd;
pub mod mworker;
pub mod privileges;
pub mod splice;
pub mod xfer;

use std::fmt;
use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sluice_core::cfgparse::{self, Config, ParseOptions};
use sluice_core::engine::{Engine, EngineOptions};
use sluice_core::time::Time;

use crate::driver::Driver;
use crate::log::LogSink;

/// The command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `-f` arguments (and those after `--`), files or directories, in order.
    pub files: Vec<String>,
    pub check_only: bool,
    pub local_peer: Option<String>,
    pub quiet: bool,
    pub old_pids: Vec<i32>,
    pub pidfile: Option<String>,
    /// `-m MEGS`: the memory limit, in MiB (HAProxy's `rlimit_memmax`,
    /// applied as `RLIMIT_AS`).
    pub memmax_mb: Option<u64>,
    /// `-dW`: any warning is fatal (HAProxy's `zero-warning` mode).
    pub zero_warning: bool,
    /// `-W`: master-worker mode (io-mio/src/mworker.rs).
    pub master_worker: bool,
    /// `-S BIND[,OPTION,VALUE...]`: the master CLI's listeners.
    pub master_cli: Vec<String>,
    /// `-x PATH`: the listening sockets are taken over from the old
    /// process whose stats socket is PATH (io-mio/src/xfer.rs); under
    /// `-W` the master passes them instead (io-mio/src/mworker.rs).
    pub takeover_socket: Option<String>,
}

/// What the command line asks for besides running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmdline {
    Run(Args),
    /// `-v`: print the version.
    Version,
    /// `-vv`: print the version and the build information (feature list).
    BuildInfo,
    /// `-cc EXPR`: evaluate a configuration condition and exit with 0 (true),
    /// 1 (false) or 2 (error), as HAProxy does.
    CheckCondition(String),
    /// `-h`: print the usage (on stderr, exit status 1, as HAProxy does).
    Usage,
}

impl Args {
    /// Parses HAProxy-style options.
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Cmdline, String> {
        let v: Vec<String> = args.collect();
        let mut a = Args::default();
        let mut i = 0;
        let value = |i: &mut usize, what: &str| -> Result<String, String> {
            *i += 1;
            v.get(*i)
                .cloned()
                .ok_or_else(|| format!("option '{}' requires {what}", v[*i - 1]))
        };
        while i < v.len() {
            match v[i].as_str() {
                "-f" => a.files.push(value(&mut i, "a file name")?),
                "-c" => a.check_only = true,
                "-L" => a.local_peer = Some(value(&mut i, "a peer name")?),
                "-q" => a.quiet = true,
                // `-d` (debug mode) and `-db` both keep HAProxy in the
                // foreground, the only mode Sluice has. `-d` also makes
                // HAProxy trace every connection and header on stdout:
                // Sluice prints no such trace (docs/configuration.md).
                "-d" | "-db" => {}
                "-W" => a.master_worker = true,
                "-S" => a.master_cli.push(value(&mut i, "an address")?),
                "-x" => a.takeover_socket = Some(value(&mut i, "a socket path")?),
                "-dW" => a.zero_warning = true,
                "-m" => {
                    let v = value(&mut i, "a size in megabytes")?;
                    let mb = v
                        .parse::<u64>()
                        .ok()
                        .filter(|&m| m > 0 && m < (1 << 40))
                        .ok_or_else(|| {
                            format!("option '-m' expects a size in megabytes, not '{v}'")
                        })?;
                    a.memmax_mb = Some(mb);
                }
                "-cc" => return value(&mut i, "a condition").map(Cmdline::CheckCondition),
                "-p" => a.pidfile = Some(value(&mut i, "a file name")?),
                "-vv" => return Ok(Cmdline::BuildInfo),
                "-v" => return Ok(Cmdline::Version),
                // HAProxy's verbose mode: undoes `-q`.
                "-V" => a.quiet = false,
                "-h" => return Ok(Cmdline::Usage),
                "--" => {
                    // HAProxy: everything after `--` is a file or directory.
                    a.files.extend(v[i + 1..].iter().cloned());
                    break;
                }
                "-sf" | "-st" => {
                    // Every following numeric argument is a pid.
                    while let Some(pid) = v.get(i + 1).and_then(|p| p.parse::<i32>().ok()) {
                        a.old_pids.push(pid);
                        i += 1;
                    }
                }
                other => return Err(format!("unknown option '{other}'")),
            }
            i += 1;
        }
        if a.files.is_empty() {
            return Err("No configuration file specified (use -f).".into());
        }
        Ok(Cmdline::Run(a))
    }
}

/// A startup failure, printed as an alert.
#[derive(Debug)]
pub struct StartupError(pub String);

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The largest configuration file read. HAProxy has no such bound; one
/// keeps `-f /dev/zero` (or a runaway generated file) from eating memory.
/// Real configurations, even with thousands of backends, stay far below.
pub const MAX_CONFIG_FILE: u64 = 64 << 20;

/// The files `-f` names, in order: a directory stands for the regular files
/// in it whose name ends in `.cfg` and does not start with `.`, sorted by
/// name, as HAProxy's `cfgfiles_expand_directories()` does.
pub fn config_files(args: &Args) -> Result<Vec<String>, StartupError> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for f in &args.files {
        let meta = std::fs::metadata(f).map_err(|e| {
            StartupError(format!(
                "[ALERT] Cannot open configuration file/directory {f} : {}",
                io_reason(&e)
            ))
        })?;
        if !meta.is_dir() {
            out.push(f.clone());
            continue;
        }
        let entries = std::fs::read_dir(f).map_err(|e| {
            StartupError(format!(
                "[ALERT] Cannot open configuration directory {f} : {}",
                io_reason(&e)
            ))
        })?;
        let mut names = Vec::new();
        for e in entries {
            let e = e.map_err(|e| {
                StartupError(format!(
                    "[ALERT] Cannot open configuration directory {f} : {}",
                    io_reason(&e)
                ))
            })?;
            names.push(e.file_name());
        }
        // `scandir(..., alphasort)` in the C locale: byte order.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let b = name.as_bytes();
            // HAProxy looks for the first ".cfg" in the name and takes the
            // file only if it ends there (`a.cfg.cfg` is skipped).
            let first_cfg = b.windows(4).position(|w| w == b".cfg");
            if b.first() == Some(&b'.') || first_cfg != Some(b.len().saturating_sub(4)) {
                continue;
            }
            let path = format!("{}/{}", f.trim_end_matches('/'), name.to_string_lossy());
            // Only regular files (a symbolic link to one counts), which
            // also keeps a directory from being read twice.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => out.push(path),
                Ok(_) => {}
                Err(e) => {
                    return Err(StartupError(format!(
                        "[ALERT] Cannot open configuration file {path} : {}",
                        io_reason(&e)
                    )))
                }
            }
        }
    }
    if out.is_empty() {
        return Err(StartupError(
            "[ALERT] No configuration file found (the directories given hold no '*.cfg' file)."
                .into(),
        ));
    }
    Ok(out)
}

/// An I/O error as `strerror()` words, without Rust's "(os error N)".
fn io_reason(e: &std::io::Error) -> String {
    privileges::reason(e)
}

/// Reads one configuration file as bytes, at most [`MAX_CONFIG_FILE`] of
/// them.
pub fn read_config_file(f: &str) -> Result<Vec<u8>, StartupError> {
    let open_err = |e: std::io::Error| {
        StartupError(format!(
            "[ALERT] Could not open configuration file {f} : {}",
            io_reason(&e)
        ))
    };
    let file = std::fs::File::open(f).map_err(open_err)?;
    let mut text = Vec::new();
    file.take(MAX_CONFIG_FILE + 1)
        .read_to_end(&mut text)
        .map_err(open_err)?;
    if text.len() as u64 > MAX_CONFIG_FILE {
        return Err(StartupError(format!(
            "[ALERT] Could not read configuration file {f} : larger than {} MiB, the most Sluice reads.",
            MAX_CONFIG_FILE >> 20
        )));
    }
    Ok(text)
}

/// Writes `text` and a newline to stderr, ignoring failures (a closed or
/// full stderr must not turn a message into a panic).
pub fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// The build features of `proxy-mio`, by HAProxy's names, and whether it
/// has each (`-vv` prints them as HAProxy's "Feature list", `.if
/// feature(NAME)` and `-cc` read them). Truthful: a test that needs a
/// feature Sluice lacks (OpenSSL, Lua, PCRE...) must skip, not pass by
/// accident.
pub const FEATURES: &[(&str, bool)] = &[
    ("51DEGREES", false),
    ("ACCEPT4", true), // mio accepts with accept4(2)
    ("BACKTRACE", false),
    ("CLOSEFROM", false),
    ("CPU_AFFINITY", true), // `cpu-map`: sched_setaffinity(2)
    ("CRYPT_H", false),
    ("DEVICEATLAS", false),
    ("DL", false),
    ("ENGINE", false),
    ("EPOLL", true), // mio's poller on Linux
    ("EVPORTS", false),
    ("GETADDRINFO", true), // host names resolved with getaddrinfo(3)
    ("KQUEUE", false),
    ("LIBCRYPT", false),
    ("LINUX_SPLICE", true), // io-mio/src/splice.rs
    ("LINUX_TPROXY", false),
    ("LUA", false),
    ("MEMORY_PROFILING", false),
    ("NETFILTER", false),
    ("NS", false),
    ("OBSOLETE_LINKER", false),
    // SSL/TLS is built in (rustls): HAProxy reports OPENSSL for every SSL
    // library it is built with (OpenSSL, LibreSSL, wolfSSL, AWS-LC), and
    // configurations guard `ssl crt` lines with `.if feature(OPENSSL)`.
    ("OPENSSL", true),
    ("OT", false),
    ("PCRE", false), // regexes are Rust's `regex` crate, not PCRE
    ("PCRE2", false),
    ("PCRE2_JIT", false),
    ("PCRE_JIT", false),
    ("POLL", false),
    ("PRCTL", false),
    ("PROCCTL", false),
    ("PROMEX", true), // `http-request use-service prometheus-exporter`
    ("QUIC", false),
    ("RT", false),
    ("SLZ", false),
    ("STATIC_PCRE", false),
    ("STATIC_PCRE2", false),
    ("SYSTEMD", false),
    ("TFO", false),
    ("THREAD", true), // `nbthread`: one engine per thread (docs/threads.md)
    ("THREAD_DUMP", false),
    ("TPROXY", false),
    ("WURFL", false),
    // `compression algo gzip|deflate|raw-deflate`: flate2 (miniz_oxide),
    // zlib-compatible streams.
    ("ZLIB", true),
];

/// The names of the features `proxy-mio` has.
pub fn features() -> Vec<&'static str> {
    FEATURES.iter().filter(|f| f.1).map(|f| f.0).collect()
}

/// HAProxy's "Feature list" line: `+NAME` for what is built in, `-NAME`
/// for what is not.
pub fn feature_list() -> String {
    let items: Vec<String> = FEATURES
        .iter()
        .map(|(n, on)| format!("{}{n}", if *on { '+' } else { '-' }))
        .collect();
    format!("Feature list : {}", items.join(" "))
}

/// `-vv`: the version and build information, laid out as `haproxy -vv`
/// prints it, saying what Sluice is built with and without.
pub fn build_info() -> String {
    let k = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let g = sluice_core::cfgparse::Global::default();
    let mut o = String::new();
    o.push_str(&format!(
        "Sluice proxy-mio version {} - configuration language of HAProxy {}\n",
        env!("CARGO_PKG_VERSION"),
        cfgparse::cond::COMPAT_VERSION
    ));
    o.push_str(&format!(
        "Running on: {} {} {} {}\n",
        k("ostype"),
        k("osrelease"),
        k("version"),
        std::env::consts::ARCH
    ));
    o.push_str(&format!(
        "Build options :\n  TARGET  = {}-{}\n\n",
        std::env::consts::ARCH,
        std::env::consts::OS
    ));
    o.push_str(&feature_list());
    o.push_str("\n\nDefault settings :\n");
    o.push_str(&format!(
        "  bufsize = {}, maxrewrite = {}\n\n",
        g.tune_bufsize,
        g.maxrewrite()
    ));
    o.push_str(
        "Built with multi-threading support (MAX_THREADS=64, default=1).\n\
         Built with SSL support by rustls (TLS 1.2 and 1.3; no OpenSSL engine, no TLS 1.0/1.1).\n\
         Built without Lua support.\n\
         Built with zlib-compatible compression by flate2 (miniz_oxide).\n\
         Compression algorithms supported : identity(\"identity\"), deflate(\"deflate\"), raw-deflate(\"deflate\"), gzip(\"gzip\")\n\
         Built without PCRE or PCRE2 support (regular expressions use Rust's regex crate).\n\
         \n\
         Available polling systems :\n\
         \x20     epoll : pref=300,  test result OK\n\
         Total: 1 (1 usable), will use epoll.\n\
         \n\
         Available multiplexer protocols :\n\
         (protocols marked as <default> cannot be specified using 'proto' keyword)\n\
         \x20 <default> : mode=HTTP  side=FE|BE  mux=H1    flags=HTX\n\
         \x20        h2 : mode=HTTP  side=FE|BE  mux=H2    flags=HTX|HOL_RISK|NO_UPG\n\
         \x20 <default> : mode=TCP   side=FE|BE  mux=PASS  flags=\n\
         \n\
         Available services : prometheus-exporter\n\
         \n\
         Available filters : none",
    );
    o
}

/// `-cc EXPR`: the expression is cut into words like a configuration line
/// (quotes, `"$VAR"` expansion), the words joined by spaces, and evaluated
/// as an `.if` condition. `Ok(true)`: exit 0, `Ok(false)`: exit 1,
/// `Err`: exit 2 after the message.
pub fn check_condition(expr: &str) -> Result<bool, String> {
    use sluice_core::cfgparse::tokenizer::{split_words, WordCtx};
    let env = |name: &str| std::env::var(name).ok();
    let ctx = WordCtx {
        file: "",
        line: 1,
        section: "",
        env: Some(&env),
    };
    let words = split_words(expr, &ctx).map_err(|e| format!("Syntax Error in condition: {e}."))?;
    let text = words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let feats = features();
    cfgparse::cond::eval_condition(&text, &|n| std::env::var_os(n).is_some(), &feats)
        .map_err(|e| format!("Failed to evaluate condition: {e}"))
}

/// Reads and checks every `-f` file, printing warnings as HAProxy does.
pub fn load_config(args: &Args) -> Result<Config, StartupError> {
    let files = config_files(args)?;
    let env = |name: &str| std::env::var(name).ok();
    let mut opts = ParseOptions::new(hostname());
    opts.local_peer = args.local_peer.clone();
    opts.env = Some(&env);
    let feats = features();
    opts.features = &feats;
    let mut parser = cfgparse::Parser::new(opts);
    for f in &files {
        let text = read_config_file(f)?;
        parser.feed(f, &text);
    }
    match parser.finish() {
        Ok(parsed) => {
            // `-dW` or the global `zero-warning`.
            let zero_warning = args.zero_warning || parsed.config.global.zero_warning;
            if !args.quiet || zero_warning {
                for w in &parsed.warnings {
                    say(&format!("[WARNING] {w}"));
                }
            }
            if zero_warning && !parsed.warnings.is_empty() {
                return Err(StartupError(
                    "[ALERT] Some warnings were found and 'zero-warning' is set. Aborting.".into(),
                ));
            }
            // User and group names, looked up as HAProxy's parser does.
            let mut cfg = privileges::resolve_names(&parsed.config).map_err(|errs| {
                let mut s = String::new();
                for e in errs {
                    s.push_str(&format!("[ALERT] {e}\n"));
                }
                s.push_str("[ALERT] Fatal errors found in configuration.");
                StartupError(s)
            })?;
            // The files `errorfile` names, read now as HAProxy's parser
            // does; the engine checks them when it is built.
            for p in cfg.errorfile_paths() {
                let bytes = read_small(&p).map(std::sync::Arc::<[u8]>::from);
                cfg.errorfile_contents.insert(p, bytes);
            }
            // `parse-resolv-conf`: the nameservers of /etc/resolv.conf.
            if cfg.resolvers.iter().any(|r| r.parse_resolv_conf) {
                let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
                let addrs = cfgparse::resolvers::parse_resolv_conf(&text);
                for r in cfg.resolvers.iter_mut().filter(|r| r.parse_resolv_conf) {
                    r.add_resolv_conf(&addrs);
                }
            }
            Ok(cfg)
        }
        Err(errs) => {
            let mut s = String::new();
            for w in &errs.warnings {
                s.push_str(&format!("[WARNING] {w}\n"));
            }
            for e in &errs.errors {
                s.push_str(&format!("[ALERT] {e}\n"));
            }
            s.push_str("[ALERT] Fatal errors found in configuration.");
            Err(StartupError(s))
        }
    }
}

fn resolve(name: &str, port: u16) -> Option<SocketAddr> {
    (name, port).to_socket_addrs().ok()?.next()
}

/// A seed from the OS: the engine's only entropy.
fn os_seed() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    u64::from_le_bytes(b) ^ u64::from(std::process::id())
}

/// What `-c` checks beyond parsing: everything [`run`] does before it opens
/// a socket (host names resolved, peers sections built...), so that a
/// configuration `-c` accepts also starts.
pub fn check(args: &Args, cfg: &Config) -> Result<(), StartupError> {
    privileges::check_chroot(cfg).map_err(|e| {
        StartupError(format!(
            "[ALERT] {e}\n[ALERT] Fatal errors found in configuration."
        ))
    })?;
    // The wall clock: OCSP responses are checked against it.
    let epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    build_engine(args, cfg, 0, epoch_ms, Time::ZERO, (0, 1))
        .map(|_| ())
        .map_err(|e| {
            StartupError(format!(
                "[ALERT] {e}\n[ALERT] Fatal errors found in configuration."
            ))
        })
}

fn build_engine(
    args: &Args,
    cfg: &Config,
    seed: u64,
    epoch_ms: u64,
    now: Time,
    (thread, nbthread): (u32, u32),
) -> Result<Engine, impl fmt::Display> {
    // The struct has more fields when sluice-core's `mutants` feature is on
    // (feature unification in `cargo test --all-features`).
    #[allow(clippy::needless_update)]
    let opts = EngineOptions {
        seed,
        local_peer: cfg.local_peer.clone(),
        hostname: hostname(),
        has_old_process: !args.old_pids.is_empty(),
        pid: std::process::id(),
        epoch_ms,
        splice: true,
        tls: Some(tls_env(cfg)),
        pattern_files: Some(pattern_files()),
        thread,
        nbthread,
        ..EngineOptions::default()
    };
    let mut built = Engine::from_config(now, cfg, opts, &resolve);
    if let Ok(engine) = &mut built {
        // Printed once, by the first thread (and by `-c`).
        for w in engine.take_start_warnings() {
            if thread == 0 && !args.quiet {
                say(&format!("[WARNING] {w}"));
            }
        }
    }
    built
}

/// What TLS needs from the world: the crypto provider and the files the
/// configuration names (the engine reads no file).
///
/// The production crypto provider is ring's: its key exchange, signatures
/// and `SecureRandom` draw from the OS (`getrandom`). This is the one
/// place where Sluice's TLS reaches the OS (docs/tls.md); the engine's
/// own crate builds rustls without any provider.
fn tls_env(cfg: &Config) -> sluice_core::conn::tls::TlsEnv {
    use sluice_core::conn::tls::{TlsEnv, TlsFiles};
    let mut files = TlsFiles::default();
    // `<crt>.ocsp`, `<crt>.issuer`, `<crt>.key` when they are there.
    let del_ext = cfg.global.ssl_load_extra_del_ext;
    let extras = |files: &mut TlsFiles, crt: &str| {
        let base = sluice_core::conn::tls::extra_base(crt, del_ext);
        for x in sluice_core::conn::tls::CRT_EXTRAS {
            let f = format!("{base}{x}");
            if std::fs::metadata(&f).is_ok_and(|m| m.is_file()) {
                files.files.insert(f.clone(), read_small(&f));
            }
        }
    };
    for p in TlsFiles::paths(cfg) {
        let dir = std::fs::metadata(&p.path).is_ok_and(|m| m.is_dir());
        if dir && p.dir_ok {
            let mut names: Vec<String> = std::fs::read_dir(&p.path)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            let list: Vec<String> = names
                .into_iter()
                .filter(|n| {
                    !n.starts_with('.')
                        && ![".key", ".ocsp", ".issuer", ".sctl"]
                            .iter()
                            .any(|x| n.ends_with(x))
                })
                .map(|n| format!("{}/{n}", p.path.trim_end_matches('/')))
                .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file()))
                .collect();
            for f in &list {
                files.files.insert(f.clone(), read_small(f));
                extras(&mut files, f);
            }
            files.dirs.insert(p.path.clone(), list);
        } else {
            files.files.insert(p.path.clone(), read_small(&p.path));
            if p.extras {
                extras(&mut files, &p.path);
            }
        }
    }
    // The files the crt-lists name, once the lists are read.
    let (more, warnings) = files.crt_list_paths(cfg);
    for w in warnings {
        say(&format!("[WARNING] {w}"));
    }
    for p in more {
        if !files.files.contains_key(&p.path) {
            files.files.insert(p.path.clone(), read_small(&p.path));
            if p.extras {
                extras(&mut files, &p.path);
            }
        }
    }
    // Deprecated in rustls 0.23.3x only because ring has no post-quantum
    // key exchange; aws-lc-rs has, but needs cmake (and Go for some
    // builds) on the machine: ring builds with a C compiler alone.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    // One secret per process (every thread's engine issues tickets the
    // others open, as HAProxy's threads share their SSL contexts), from
    // the OS through ring (`getrandom`); not derived from the logged seed.
    static TICKET_SEED: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let ticket_seed = *TICKET_SEED.get_or_init(|| {
        let mut s = [0u8; 32];
        if provider.secure_random.fill(&mut s).is_err() {
            // ring failing to reach the OS leaves no safe secret: random
            // keys then come from the engine seed's own OS read.
            s[..8].copy_from_slice(&os_seed().to_le_bytes());
        }
        s
    });
    TlsEnv {
        provider,
        files,
        ticket_seed,
        crl_legacy_algs: &CRL_LEGACY_ALGS,
    }
}

/// SHA-1 RSA (PKCS#1 v1.5, `sha1WithRSAEncryption`) for the signatures
/// of `crl-file` CRLs only, never a certificate's (the engine keeps them
/// apart, `conn/chain.rs`): OpenSSL takes SHA-1 signed CRLs, so HAProxy
/// does (its reg-tests' `crl-auth.pem` is one); rustls's ring provider
/// has no SHA-1 algorithm.
#[derive(Debug)]
struct RsaPkcs1Sha1Crl;

impl rustls::pki_types::SignatureVerificationAlgorithm for RsaPkcs1Sha1Crl {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), rustls::pki_types::InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| rustls::pki_types::InvalidSignature)
    }

    fn public_key_alg_id(&self) -> rustls::pki_types::AlgorithmIdentifier {
        rustls::pki_types::alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> rustls::pki_types::AlgorithmIdentifier {
        // sha1WithRSAEncryption (1.2.840.113549.1.1.5), NULL parameters.
        rustls::pki_types::AlgorithmIdentifier::from_slice(&[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ])
    }
}

static CRL_LEGACY_ALGS: [&dyn rustls::pki_types::SignatureVerificationAlgorithm; 1] =
    [&RsaPkcs1Sha1Crl];

/// A certificate or CA file, at most 16 MiB of it.
/// The reader of pattern files (maps, `acl -f`): the engine asks for
/// each file the configuration names while it is built (HAProxy reads
/// them while parsing). Map files may be large (GeoIP maps): up to 1 GiB.
fn pattern_files() -> sluice_core::pattern::FileSource {
    sluice_core::pattern::FileSource(std::sync::Arc::new(|f: &str| {
        let file = std::fs::File::open(f).map_err(|e| io_reason(&e))?;
        let mut out = Vec::new();
        file.take(1 << 30)
            .read_to_end(&mut out)
            .map_err(|e| io_reason(&e))?;
        Ok(out)
    }))
}

fn read_small(f: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(f).map_err(|e| io_reason(&e))?;
    let mut out = Vec::new();
    file.take(16 << 20)
        .read_to_end(&mut out)
        .map_err(|e| io_reason(&e))?;
    Ok(out)
}

/// The threads to run, and the warnings that go with the choice
/// (docs/threads.md): `nbthread` (1 when absent), unless the configuration
/// needs state Sluice does not share between threads yet.
pub fn thread_plan(cfg: &Config) -> (u32, Vec<String>) {
    let asked = cfg.global.nbthread.unwrap_or(1);
    if asked <= 1 {
        return (1, Vec::new());
    }
    let reasons = cfgparse::threads::single_thread_reasons(cfg);
    if let Some(first) = reasons.first() {
        let more = match reasons.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more reason{})", if n > 1 { "s" } else { "" }),
        };
        return (
            1,
            vec![format!(
                "nbthread {asked}: running 1 thread because {first}{more}."
            )],
        );
    }
    let mut warnings = Vec::new();
    if !cfg.global.stats_sockets.is_empty() {
        warnings.push(format!(
            "nbthread {asked}: the stats socket is served by thread 0: 'show stat' and 'show info' add up every thread's counters and commands that change state act on every thread, but 'show sess' lists thread 0's connections only and 'add server'/'del server' are refused (not implemented yet, issue 13)."
        ));
    }
    if let Some(m) = cfg.global.maxconn {
        warnings.push(format!(
            "nbthread {asked}: global 'maxconn {m}' is shared as {} connections per thread: the process never holds more than {m}, but a busy thread may refuse while another has room (process-wide maxconn not implemented yet, issue 13).",
            m / asked
        ));
    }
    (asked, warnings)
}

/// Thread `t`'s share of `maxconn` over `n` threads (the remainder to
/// the first threads): the shares add up to `maxconn` exactly.
pub fn maxconn_share(maxconn: u32, n: u32, t: u32) -> u32 {
    maxconn / n + u32::from(t < maxconn % n)
}

/// Thread `t`'s configuration: its share of the global `maxconn`; the
/// stats socket on thread 0 only (docs/threads.md).
fn thread_config(cfg: &Config, n: u32, t: u32) -> Config {
    let mut c = cfg.clone();
    if n > 1 {
        if let Some(m) = c.global.maxconn {
            c.global.maxconn = Some(maxconn_share(m, n, t).max(1));
        }
        if t > 0 {
            c.global.stats_sockets.clear();
        }
    }
    c
}

/// Pins the calling thread to the CPUs in `mask` (bit i: CPU i).
fn set_affinity(mask: u64) -> Result<(), String> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write within it
    // (i < 64 < CPU_SETSIZE); sched_setaffinity(0, ...) reads it for the
    // calling thread.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for i in 0..64 {
            if mask & (1u64 << i) != 0 {
                libc::CPU_SET(i, &mut set);
            }
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io_reason(&std::io::Error::last_os_error()))
    }
}

/// Ends the process when the thread holding it panics, as a panic of the
/// only thread did before threads: a process quietly serving on fewer
/// threads would hide the bug (and leave that thread's connections hung).
struct ExitOnPanic;

impl Drop for ExitOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            std::process::exit(101);
        }
    }
}

/// What a thread tells the main thread once it has bound (its poller's
/// waker), or why it failed.
type Bound = Result<std::sync::Arc<mio::Waker>, String>;

/// What the main thread tells each thread once all have bound: serve,
/// with the other threads' inboxes and wakers, or give up (`None`).
type Go = Option<
    Vec<(
        std::sync::mpsc::Sender<sluice_core::engine::Shared>,
        std::sync::Arc<mio::Waker>,
    )>,
>;

/// Builds the engines and runs them until they exit: one engine and one
/// event loop per thread (docs/threads.md).
pub fn run(args: &Args, cfg: &Config, start: Instant) -> Result<(), StartupError> {
    let quiet = args.quiet;
    // A `Copy` closure: each step below takes its own.
    let warn = move |w: &str| {
        if !quiet {
            say(&format!("[WARNING] {w}"));
        }
    };
    // The descriptor budget first, as HAProxy sets its limits before it
    // binds: without `maxconn`, the one the limits allow is used.
    let boot = limits::get_nofile();
    let plan = limits::plan(cfg, boot);
    let (nbthread, thread_warnings) = thread_plan(cfg);
    for w in &thread_warnings {
        warn(w);
    }
    let mut cfg = cfg.clone();
    if plan.derived {
        cfg.global.maxconn = Some(plan.maxconn);
    }
    let cfg = &cfg;
    let mut warn_limits = warn;
    limits::apply(cfg, &plan, boot, &mut warn_limits).map_err(StartupError)?;
    if let Some(mb) = args.memmax_mb {
        limits::set_memmax(mb).map_err(StartupError)?;
    }
    let progname = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "proxy-mio".into());
    let host = hostname();
    // Checked once here, so that a bad target fails before any thread.
    LogSink::new(quiet)
        .configure(cfg, &progname, &host)
        .map_err(StartupError)?;
    let seed = os_seed();
    let epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let epoch_ms = epoch_ms.saturating_sub(start.elapsed().as_millis() as u64);
    let cpus = cfgparse::threads::thread_cpus(&cfg.global.cpu_map, nbthread);
    let identity = privileges::Identity::of(cfg);
    let old = args.old_pids.clone();
    std::thread::scope(|scope| -> Result<(), StartupError> {
        let (bound_tx, bound_rx) = std::sync::mpsc::channel::<(u32, Bound)>();
        let mut gos = Vec::new();
        let mut handles = Vec::new();
        // Each thread's inbox for the other threads' engines (docs/threads.md).
        let (inbox_txs, inbox_rxs): (Vec<_>, Vec<_>) =
            (0..nbthread).map(|_| std::sync::mpsc::channel()).unzip();
        for (t, inbox) in (0..nbthread).zip(inbox_rxs) {
            let (go_tx, go_rx) = std::sync::mpsc::channel::<Go>();
            gos.push(go_tx);
            let bound_tx = bound_tx.clone();
            let tcfg = thread_config(cfg, nbthread, t);
            let cpu = cpus.get(t as usize).copied().flatten();
            let (progname, host) = (progname.clone(), host.clone());
            let h = std::thread::Builder::new()
                .name(format!("sluice-{t}"))
                .spawn_scoped(scope, move || -> Result<(), String> {
                    let _exit_on_panic = ExitOnPanic;
                    let driver = (|| -> Result<(Driver, std::sync::Arc<mio::Waker>), String> {
                        if let Some(mask) = cpu {
                            set_affinity(mask).map_err(|e| {
                                format!(
                                    "cpu-map: cannot bind thread {} to CPUs {mask:#x}: {e}",
                                    t + 1
                                )
                            })?;
                        }
                        let mut log = LogSink::new(quiet);
                        log.configure(&tcfg, &progname, &host)?;
                        let now = Time::from_ms(start.elapsed().as_millis() as u64);
                        let tseed = seed ^ u64::from(t).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                        let engine = build_engine(args, &tcfg, tseed, epoch_ms, now, (t, nbthread))
                            .map_err(|e| e.to_string())?;
                        let mut driver =
                            Driver::new(engine, start, log).map_err(|e| format!("poller: {e}"))?;
                        driver.set_thread(t);
                        driver.bind().map_err(|e| e.to_string())?;
                        let waker = driver.waker().map_err(|e| format!("poller: {e}"))?;
                        Ok((driver, waker))
                    })();
                    let mut driver = match driver {
                        Ok((d, waker)) => {
                            let _ = bound_tx.send((t, Ok(waker)));
                            d
                        }
                        Err(e) => {
                            let _ = bound_tx.send((t, Err(e.clone())));
                            return Err(e);
                        }
                    };
                    let Ok(Some(others)) = go_rx.recv() else {
                        driver.abort();
                        return Ok(());
                    };
                    if nbthread > 1 {
                        driver.set_mesh(driver::Mesh { inbox, others });
                    }
                    driver.serve().map_err(|e| e.to_string())
                })
                .map_err(|e| StartupError(format!("cannot start thread {t}: {e}")))?;
            handles.push(h);
        }
        drop(bound_tx);
        // Every thread bound (or the first failure, in thread order).
        // Each thread sends exactly one message and keeps its sender while
        // it serves: take one message per thread.
        let mut results: Vec<(u32, Bound)> = bound_rx.iter().take(nbthread as usize).collect();
        results.sort_by_key(|r| r.0);
        let mut started = results
            .iter()
            .find_map(|(_, r)| r.clone().err())
            .map_or(Ok(()), Err);
        let wakers: Vec<_> = results.iter().filter_map(|(_, r)| r.clone().ok()).collect();
        if started.is_ok() && results.len() != nbthread as usize {
            started = Err("a thread stopped while starting".into());
        }
        // The sockets taken over from a previous worker that no listener
        // adopted (io-mio/src/mworker.rs).
        let (adopted, unused) = driver::release_inherited();
        if started.is_ok() && adopted + unused > 0 && !quiet {
            say(&format!(
                "[NOTICE] proxy-mio took over {adopted} listening socket(s) from the previous process ({unused} unused, closed)"
            ));
        }
        if started.is_ok() {
            // The log-forward receivers and ring forwarders, bound before
            // the privileges go, as the engines' listeners.
            started = logfwd::start(cfg);
        }
        if started.is_ok() {
            // Our listeners are bound and every file is open: chroot, let
            // the old processes hand over, then become the configured
            // user (process-wide: every thread changes with it).
            started = (|| -> Result<(), String> {
                let tell_old = || {
                    for pid in old {
                        soft_stop_old_process(pid);
                    }
                };
                let mut warn = warn;
                privileges::drop_privileges(&identity, tell_old, &mut warn)?;
                // What is left of the descriptor limit, as HAProxy checks it.
                limits::check(cfg, &plan, &mut |a: &str| say(&format!("[ALERT] {a}")))?;
                if !quiet {
                    let threads = if nbthread > 1 {
                        format!(", {nbthread} threads")
                    } else {
                        String::new()
                    };
                    say(&format!(
                        "[NOTICE] proxy-mio {} started, pid {}{threads}, seed {seed:#018x}",
                        env!("CARGO_PKG_VERSION"),
                        std::process::id()
                    ));
                }
                Ok(())
            })();
        }
        for (t, g) in gos.iter().enumerate() {
            let go = started.is_ok().then(|| {
                (0..nbthread as usize)
                    .filter(|&o| o != t)
                    .map(|o| (inbox_txs[o].clone(), wakers[o].clone()))
                    .collect()
            });
            let _ = g.send(go);
        }
        drop(inbox_txs);
        let mut first_err = started.err();
        for h in handles {
            let res = h.join().unwrap_or_else(|_| Err("a thread panicked".into()));
            if let Err(e) = res {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(StartupError(e)),
            None => Ok(()),
        }
    })
}

/// Sends SIGUSR1 (soft stop) to an old process, as HAProxy's `-sf` does.
fn soft_stop_old_process(pid: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let _ = unsafe { libc::kill(pid, libc::SIGUSR1) };
}
