//! Master-worker mode, as HAProxy 2.6's `-W` / `master-worker`
//! (management.txt "4. Master-worker mode", "9.4. Master CLI").
//!
//! The master is a small process that runs no engine: it starts one worker
//! (fork and exec of `proxy-mio` itself, with the same command line),
//! forwards SIGTERM, SIGINT, SIGQUIT and SIGUSR1 to its workers, and exits
//! once they are all gone. SIGUSR2 or SIGHUP (or the master CLI's `reload`)
//! reloads:
//!
//! 1. the master reads the configuration again and checks it as `-c`
//!    does: a bad one is logged and the current worker keeps serving;
//! 2. it asks the current worker for its listening sockets (TCP and UNIX)
//!    over their private socket pair: `_getsocks`, answered in HAProxy's
//!    wire format by the same code as a stats socket's `expose-fd
//!    listeners` (io-mio/src/xfer.rs `send_listeners`, `ask_listeners`),
//!    as HAProxy's master hands the old worker's `sockpair@` to `-x`;
//! 3. it starts a new worker with those sockets inherited and `-sf OLD`:
//!    each listener adopts the socket bound on its address or path
//!    instead of binding one (`xfer::adopt`), then the new worker
//!    soft-stops the old one, which finishes its connections (bounded by
//!    `hard-stop-after`) and hands its stick tables over through the local
//!    peer, as with `-sf`. No listening socket is closed on the way: the
//!    old worker closes its copy, the socket lives on in the new one.
//!
//! The master CLI (`-S`) answers `show proc`, `reload`, `help`, `prompt`,
//! `quit`, `show version`, and forwards `@N CMD` / `@!PID CMD` to a
//! worker's stats CLI: each worker serves a private UNIX stats socket at a
//! path the master gives it (`SLUICE_MWORKER_CLI`), where HAProxy uses a
//! socket pair.
//!
//! The worker side: `SLUICE_MWORKER_FD` (its end of the socket pair, where
//! the master sends `_getsocks`), `SLUICE_MWORKER_LISTENERS` (the inherited
//! listening sockets) and `SLUICE_MWORKER_CLI`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_core::cfgparse::{Config, Place, StatsLevel, StatsSocket};

use crate::{check, load_config, say, Args};

/// The worker's end of its socket pair with the master.
pub const ENV_CHAN: &str = "SLUICE_MWORKER_FD";
/// The listening sockets a worker inherits, comma-separated descriptors.
pub const ENV_LISTENERS: &str = "SLUICE_MWORKER_LISTENERS";
/// The path of the worker's private stats socket, for the master CLI.
pub const ENV_CLI: &str = "SLUICE_MWORKER_CLI";

// ---------------------------------------------------------------------------
// Descriptor passing: io-mio/src/xfer.rs (`_getsocks`, HAProxy's format)

/// A `SOCK_SEQPACKET` socket pair (message boundaries kept), close-on-exec.
fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into `fds`.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

// ---------------------------------------------------------------------------
// Worker side

/// What a worker learns from its master.
#[derive(Debug, Default)]
pub struct WorkerEnv {
    /// The private stats socket the master CLI forwards `@N` commands to.
    pub cli: Option<String>,
}

/// Whether this process is a worker started by a master.
pub fn is_worker() -> bool {
    std::env::var_os(ENV_CHAN).is_some()
}

/// Takes what the master passed: the inherited listening sockets (offered
/// to the listeners about to be bound), the socket pair (served by a
/// thread answering `_getsocks`), the private stats socket's path.
pub fn worker_init() -> WorkerEnv {
    if let Ok(list) = std::env::var(ENV_LISTENERS) {
        let mut socks = Vec::new();
        for fd in list.split(',').filter_map(|f| f.parse::<RawFd>().ok()) {
            // SAFETY: F_GETFD only reads the descriptor table.
            if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                continue;
            }
            // SAFETY: the master passed this descriptor to us for this
            // purpose; nothing else in the process owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let interface = crate::xfer::bound_device(fd.as_raw_fd()).unwrap_or_default();
            socks.push(crate::xfer::XferSock {
                fd,
                namespace: String::new(),
                interface,
            });
        }
        crate::xfer::adopt(socks);
    }
    if let Some(fd) = std::env::var(ENV_CHAN)
        .ok()
        .and_then(|f| f.parse::<RawFd>().ok())
    {
        // SAFETY: F_GETFD only reads the descriptor table.
        if fd >= 3 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            // SAFETY: the master passed this descriptor for this purpose.
            let chan = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: fcntl on our own descriptor.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            let _ = std::thread::Builder::new()
                .name("sluice-mworker".into())
                .spawn(move || serve_master(chan));
        }
    }
    WorkerEnv {
        cli: std::env::var(ENV_CLI).ok(),
    }
}

impl WorkerEnv {
    /// The configuration with the private stats socket added.
    pub fn apply(&self, mut cfg: Config) -> Config {
        if let Some(path) = &self.cli {
            cfg.global.stats_sockets.push(StatsSocket {
                place: Place {
                    file: "master-worker".into(),
                    line: 0,
                },
                addr: sluice_core::cfgparse::Addr::Unix(path.clone()),
                level: StatsLevel::Admin,
                mode: Some(0o600),
                uid: None,
                gid: None,
                expose_fd_listeners: false,
                ignored: Vec::new(),
            });
        }
        cfg
    }
}

/// Answers the master's `_getsocks` on the socket pair until it closes.
fn serve_master(chan: OwnedFd) {
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: recv into our buffer, within its length.
        let n = unsafe {
            libc::recv(
                chan.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            // The master is gone: like HAProxy's workers, stop (a hard
            // stop, as on SIGTERM) rather than serve unsupervised.
            crate::say(&format!(
                "[ALERT]    ({}) : The master process is gone, exiting.",
                std::process::id()
            ));
            // SAFETY: kill(2) on our own pid.
            unsafe { libc::kill(std::process::id() as i32, libc::SIGTERM) };
            return;
        }
        let cmd = &buf[..n as usize];
        if cmd.strip_suffix(b"\n").unwrap_or(cmd) == b"_getsocks" {
            let socks = crate::xfer::listening_sockets();
            let sent = if socks.is_empty() {
                // HAProxy sends nothing then, and its asker fails after
                // its timeout; the master is told "none" at once.
                crate::xfer::sendmsg_fds(chan.as_raw_fd(), &0i32.to_ne_bytes(), &[])
            } else {
                crate::xfer::send_listeners(chan.as_raw_fd(), &socks)
            };
            match sent {
                Ok(()) => crate::driver::LISTENERS_HANDED_OVER
                    .store(true, std::sync::atomic::Ordering::Relaxed),
                Err(_) => return,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Master side

/// One worker, as `show proc` lists it.
struct Worker {
    pid: i32,
    /// Reloads since it started (HAProxy's `child->reloads`).
    reloads: u32,
    start: Instant,
    /// The master's end of the socket pair.
    chan: OwnedFd,
    /// Its private stats socket.
    cli: PathBuf,
    current: bool,
}

/// The master's state, shared with the master CLI's threads.
struct State {
    start: Instant,
    reloads: u32,
    failed: u32,
    workers: Vec<Worker>,
}

/// The master: what it was started with.
struct Master {
    args: Args,
    /// The command line of a worker (without `-W`, `-S`, `-p`, `-sf`).
    worker_args: Vec<String>,
    exe: PathBuf,
    /// Where the workers' private stats sockets live.
    dir: PathBuf,
    state: Arc<Mutex<State>>,
    /// The signal that stops the master, once received.
    stopping: Option<i32>,
    /// HAProxy's exit code: the first worker status that is neither 0 nor
    /// 143 (SIGTERM), else 0.
    exit_code: Option<i32>,
    cli_paths: Vec<PathBuf>,
}

fn pid() -> i32 {
    std::process::id() as i32
}

fn notice(quiet: bool, text: &str) {
    if !quiet {
        say(&format!("[NOTICE]   ({}) : {text}", pid()));
    }
}

/// The command line of a worker: the master's without `-W`, `-S`, `-x`,
/// `-p` (the master writes the pid file) and `-sf`/`-st` (given per
/// worker).
pub fn worker_args(raw: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i].as_str() {
            "--" => {
                out.extend(raw[i..].iter().cloned());
                break;
            }
            "-W" => {}
            "-S" | "-p" | "-x" => i += 1,
            "-sf" | "-st" => {
                while raw.get(i + 1).and_then(|p| p.parse::<i32>().ok()).is_some() {
                    i += 1;
                }
            }
            "-f" | "-L" | "-m" | "-cc" => {
                out.extend(raw[i..(i + 2).min(raw.len())].iter().cloned());
                i += 1;
            }
            _ => out.push(raw[i].clone()),
        }
        i += 1;
    }
    out
}

/// HAProxy's `0d00h00m01s`.
fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}d{:02}h{:02}m{:02}s",
        s / 86400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

fn version() -> String {
    format!("Sluice-{}", env!("CARGO_PKG_VERSION"))
}

/// `show proc`, laid out as HAProxy 2.6's.
fn show_proc(st: &State) -> String {
    let mut o = format!(
        "#{:<14} {:<15} {:<15} {:<15} {:<15}\n",
        "<PID>", "<type>", "<reloads>", "<uptime>", "<version>"
    );
    o.push_str(&format!(
        "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
        pid(),
        "master",
        format!("{} [failed: {}]", st.reloads, st.failed),
        uptime(st.start.elapsed()),
        version()
    ));
    let line = |w: &Worker| {
        format!(
            "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
            w.pid,
            "worker",
            w.reloads,
            uptime(w.start.elapsed()),
            version()
        )
    };
    o.push_str("# workers\n");
    for w in st.workers.iter().filter(|w| w.current) {
        o.push_str(&line(w));
    }
    if st.workers.iter().any(|w| !w.current) {
        o.push_str("# old workers\n");
        for w in st.workers.iter().filter(|w| !w.current) {
            o.push_str(&line(w));
        }
    }
    o.push_str("# programs\n\n");
    o
}

const HELP: &str = "The following commands are valid at this level:
  @!<pid>                                 : send a command to the <pid> process
  @<relative pid>                         : send a command to the <relative pid> process
  @master                                 : send a command to the master process
  reload                                  : reload haproxy
  show proc                               : show processes status
  show version                            : show version of the current process
  help [<command>]                        : list matching or all commands
  prompt                                  : toggle interactive mode with prompt
  quit                                    : disconnect
";

/// Where a master CLI command goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Master,
    /// `@N`: the current worker is 1 (HAProxy 2.6 has one worker process).
    Relative(u32),
    /// `@!PID`.
    Pid(i32),
}

fn parse_target(word: &str) -> Option<Target> {
    let t = word.strip_prefix('@')?;
    if t == "master" || t == "0" {
        return Some(Target::Master);
    }
    if let Some(p) = t.strip_prefix('!') {
        return p.parse().ok().map(Target::Pid);
    }
    t.parse().ok().map(Target::Relative)
}

/// Sends `cmd` to a worker's stats CLI and returns its answer.
fn forward(path: &std::path::Path, cmd: &str) -> String {
    let run = || -> io::Result<String> {
        // A worker just started may not listen yet (a debug build on a
        // loaded machine took more than 3 s in CI): up to 10 s, as long
        // as the answer itself may take. HAProxy queues the command on
        // the worker's socketpair, which exists from the fork.
        let t0 = Instant::now();
        let mut s = loop {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if t0.elapsed() < Duration::from_secs(10) => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(format!("{cmd}\n").as_bytes())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    run().unwrap_or_else(|e| format!("Can't connect to the target CLI: {e}\n"))
}

/// Splits a master CLI line at the `;` that are not escaped (`\;`),
/// keeping the escapes: the worker's CLI unescapes what is forwarded
/// (HAProxy's `pcli_parse_request`).
fn split_escaped(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut esc = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if esc => esc = false,
            '\\' => esc = true,
            ';' => {
                out.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&line[start..]);
    out
}

/// One master CLI connection: lines of `;`-separated commands; one line
/// then close, unless `prompt` made the session interactive.
fn serve_cli<S: Read + Write>(stream: S, reader: impl Read, state: Arc<Mutex<State>>) {
    let mut stream = stream;
    let mut reader = BufReader::new(reader);
    let mut interactive = false;
    let mut default_target = Target::Master;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut out = String::new();
        let mut quit = false;
        for part in split_escaped(line.trim_end_matches(['\r', '\n'])) {
            let cmd = part.trim();
            if cmd.is_empty() {
                continue;
            }
            let (target, rest) = match cmd.split_once(char::is_whitespace) {
                Some((w, r)) if w.starts_with('@') => (parse_target(w), r.trim()),
                None if cmd.starts_with('@') => (parse_target(cmd), ""),
                _ => (Some(default_target), cmd),
            };
            let Some(target) = target else {
                out.push_str(&format!(
                    "Can't find the target PID matching the prefix '{}'\n",
                    cmd.split_whitespace().next().unwrap_or("")
                ));
                continue;
            };
            if rest.is_empty() {
                // A prefix alone: the target of the following commands.
                default_target = target;
                continue;
            }
            if target != Target::Master {
                let path = {
                    let st = state.lock().unwrap_or_else(|e| e.into_inner());
                    st.workers
                        .iter()
                        .find(|w| match target {
                            Target::Relative(1) => w.current,
                            Target::Pid(p) => w.pid == p,
                            _ => false,
                        })
                        .map(|w| w.cli.clone())
                };
                match path {
                    Some(p) => out.push_str(&forward(&p, rest)),
                    None => out.push_str(&format!(
                        "Can't find the target PID matching the prefix '{}'\n",
                        cmd.split_whitespace().next().unwrap_or("")
                    )),
                }
                continue;
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                ["help", ..] => out.push_str(HELP),
                ["prompt"] => interactive = !interactive,
                ["quit"] => quit = true,
                ["show", "proc"] => {
                    let st = state.lock().unwrap_or_else(|e| e.into_inner());
                    out.push_str(&show_proc(&st));
                }
                ["show", "version"] => out.push_str(&format!("{}\n", version())),
                ["reload"] => {
                    // The master's main loop reloads (as on SIGUSR2); the
                    // connection is closed, as HAProxy 2.6 does.
                    // SAFETY: kill(2) on our own pid.
                    unsafe { libc::kill(pid(), libc::SIGUSR2) };
                    quit = true;
                }
                _ => {
                    out.push_str(
                        "Unknown command, but maybe one of the following ones is a better match:\n",
                    );
                    out.push_str(HELP);
                }
            }
        }
        if interactive && !quit {
            out.push_str("master> ");
        }
        if stream.write_all(out.as_bytes()).is_err() || quit || !interactive {
            return;
        }
    }
}

/// A master CLI listener (`-S ADDR[,OPTION,VALUE...]`).
enum CliListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Opens a master CLI listener: `fd@N`, `unix@PATH` or `/PATH`,
/// `ipv4@ADDR:PORT` or `ADDR:PORT`; options `mode OCTAL`.
fn open_cli(spec: &str, quiet: bool) -> Result<(CliListener, Option<PathBuf>), String> {
    use std::os::unix::fs::PermissionsExt;
    let mut parts = spec.split(',');
    let addr = parts.next().unwrap_or("");
    let mut mode = None;
    let rest: Vec<&str> = parts.collect();
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            "mode" => {
                let v = rest.get(i + 1).copied().unwrap_or("");
                mode = Some(
                    u32::from_str_radix(v, 8)
                        .map_err(|_| format!("-S '{spec}': 'mode' expects an octal mode"))?,
                );
                i += 2;
            }
            other => {
                if !quiet {
                    say(&format!(
                        "[WARNING] -S '{spec}': option '{other}' is not supported by Sluice and is ignored."
                    ));
                }
                i += if matches!(other, "level" | "user" | "group" | "uid" | "gid") {
                    2
                } else {
                    1
                };
            }
        }
    }
    let bad = |e: io::Error| format!("cannot bind the master CLI on '{addr}': {e}");
    if let Some(n) = addr.strip_prefix("fd@") {
        let fd: RawFd = n
            .parse()
            .map_err(|_| format!("-S '{spec}': bad file descriptor"))?;
        // SAFETY: F_GETFD only reads the descriptor table.
        if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(format!("-S '{spec}': no such file descriptor"));
        }
        // SAFETY: the command line gives this descriptor to the master CLI.
        let sock = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // Not for the workers: close-on-exec.
        sock.set_cloexec(true).map_err(bad)?;
        if !sock.is_listener().map_err(bad)? {
            sock.listen(16).map_err(bad)?;
        }
        sock.set_nonblocking(false).map_err(bad)?;
        let local = sock.local_addr().map_err(bad)?;
        return if local.is_unix() {
            Ok((CliListener::Unix(OwnedFd::from(sock).into()), None))
        } else {
            Ok((CliListener::Tcp(sock.into()), None))
        };
    }
    let path = addr
        .strip_prefix("unix@")
        .or_else(|| (addr.starts_with('/') || addr.starts_with('.')).then_some(addr));
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
        let l = std::os::unix::net::UnixListener::bind(path).map_err(bad)?;
        if let Some(m) = mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).map_err(bad)?;
        }
        return Ok((CliListener::Unix(l), Some(PathBuf::from(path))));
    }
    let a = addr
        .strip_prefix("ipv4@")
        .or_else(|| addr.strip_prefix("ipv6@"))
        .unwrap_or(addr);
    let sa: SocketAddr = a
        .parse()
        .map_err(|_| format!("-S '{spec}': expects fd@N, a UNIX socket path or ADDR:PORT"))?;
    let l = std::net::TcpListener::bind(sa).map_err(bad)?;
    Ok((CliListener::Tcp(l), None))
}

fn spawn_cli(l: CliListener, state: Arc<Mutex<State>>) {
    let _ = std::thread::Builder::new()
        .name("sluice-mcli".into())
        .spawn(move || loop {
            let st = state.clone();
            match &l {
                CliListener::Tcp(t) => {
                    if let Ok((s, _)) = t.accept() {
                        if let Ok(r) = s.try_clone() {
                            std::thread::spawn(move || serve_cli(s, r, st));
                        }
                    }
                }
                CliListener::Unix(u) => {
                    if let Ok((s, _)) = u.accept() {
                        if let Ok(r) = s.try_clone() {
                            std::thread::spawn(move || serve_cli(s, r, st));
                        }
                    }
                }
            }
        });
}

impl Master {
    /// Starts a worker that stops `old` (`-sf`) and inherits `socks`.
    fn spawn(&self, old: &[i32], socks: &[OwnedFd], n: u64) -> io::Result<Worker> {
        use std::os::unix::process::CommandExt;
        let (mine, theirs) = seqpacket_pair()?;
        let cli = self.dir.join(format!("worker-{n}.sock"));
        let mut cmd = std::process::Command::new(&self.exe);
        if !old.is_empty() {
            cmd.arg("-sf");
            cmd.args(old.iter().map(|p| p.to_string()));
        }
        cmd.args(&self.worker_args);
        let chan = theirs.as_raw_fd();
        let fds: Vec<RawFd> = socks.iter().map(|s| s.as_raw_fd()).collect();
        cmd.env(ENV_CHAN, chan.to_string());
        cmd.env(ENV_CLI, &cli);
        cmd.env(
            ENV_LISTENERS,
            fds.iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        // SAFETY: between fork and exec only fcntl (async-signal-safe)
        // runs, on descriptors that exist in the child.
        unsafe {
            cmd.pre_exec(move || {
                for fd in std::iter::once(chan).chain(fds.iter().copied()) {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(theirs);
        Ok(Worker {
            pid: child.id() as i32,
            reloads: 0,
            start: Instant::now(),
            chan: mine,
            cli,
            current: true,
        })
    }

    /// `_getsocks`: the current worker's listening sockets (TCP and
    /// UNIX), in HAProxy's format ([`crate::xfer::ask_listeners`]).
    fn getsocks(chan: &OwnedFd) -> Result<Vec<OwnedFd>, String> {
        let socks = crate::xfer::ask_listeners(chan.as_raw_fd())?;
        Ok(socks.into_iter().map(|x| x.fd).collect())
    }

    fn reload(&mut self, seq: &mut u64) {
        let quiet = self.args.quiet;
        notice(quiet, "Reloading Sluice");
        let checked = load_config(&self.args).and_then(|c| check(&self.args, &c).map(|_| c));
        let current = {
            let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.workers.iter().find(|w| w.current).map(|w| w.pid)
        };
        if let Err(e) = checked {
            say(&e.to_string());
            say(&format!(
                "[ALERT]    ({}) : Reloading failed: the configuration has errors; {}.",
                pid(),
                match current {
                    Some(p) => format!("the current worker ({p}) keeps serving"),
                    None => "no worker is running".into(),
                }
            ));
            // HAProxy counts the attempt as a reload, and a failed one.
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.reloads += 1;
            st.failed += 1;
            for w in st.workers.iter_mut() {
                w.reloads += 1;
            }
            return;
        }
        let socks = {
            let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match st.workers.iter().find(|w| w.current) {
                Some(w) => Self::getsocks(&w.chan).unwrap_or_else(|e| {
                    say(&format!(
                        "[WARNING]  ({}) : Cannot take the listening sockets of worker ({}): {e}; the new worker binds its own.",
                        pid(),
                        w.pid
                    ));
                    Vec::new()
                }),
                None => Vec::new(),
            }
        };
        *seq += 1;
        let old: Vec<i32> = current.into_iter().collect();
        match self.spawn(&old, &socks, *seq) {
            Ok(w) => {
                notice(quiet, &format!("New worker ({}) forked", w.pid));
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                for o in st.workers.iter_mut() {
                    o.current = false;
                    o.reloads += 1;
                }
                st.workers.push(w);
                st.reloads += 1;
            }
            Err(e) => {
                say(&format!(
                    "[ALERT]    ({}) : Reloading failed: cannot start a worker: {e}.",
                    pid()
                ));
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.reloads += 1;
                st.failed += 1;
            }
        }
        // The master's copies of the sockets close here: the new worker
        // holds them.
        drop(socks);
    }

    /// Reaps the workers that exited; returns whether none is left.
    fn reap(&mut self) -> bool {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status of one of our children.
            let p = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if p <= 0 {
                break;
            }
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                continue;
            };
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let Some(i) = st.workers.iter().position(|w| w.pid == p) else {
                continue;
            };
            let w = st.workers.remove(i);
            // A Sluice worker exits 0 on the signal the master forwarded;
            // HAProxy's reports 128 + the signal.
            let code = match (code, self.stopping) {
                (0, Some(sig)) if sig != libc::SIGUSR1 => 128 + sig,
                (c, _) => c,
            };
            if w.current {
                say(&format!(
                    "[ALERT]    ({}) : Current worker ({}) exited with code {code}",
                    pid(),
                    w.pid
                ));
                if self.stopping.is_none() && !st.workers.is_empty() {
                    // The new worker failed: the previous one keeps
                    // serving (it was not told to stop).
                    st.failed += 1;
                    if let Some(prev) = st.workers.last_mut() {
                        prev.current = true;
                        say(&format!(
                            "[ALERT]    ({}) : Reloading failed: worker ({}) keeps serving.",
                            pid(),
                            prev.pid
                        ));
                    }
                    continue;
                }
                if self.stopping.is_none() && code != 0 {
                    // HAProxy's exit-on-failure.
                    for o in &st.workers {
                        // SAFETY: kill(2) on our children.
                        unsafe { libc::kill(o.pid, libc::SIGTERM) };
                    }
                }
            } else {
                say(&format!(
                    "[WARNING]  ({}) : Former worker ({}) exited with code {code}",
                    pid(),
                    w.pid
                ));
            }
            // HAProxy: 0 and 143 (SIGTERM) are normal; SIGINT (130) and
            // the rest are reported.
            if self.exit_code.is_none() && code != 0 && code != 143 {
                self.exit_code = Some(code);
            }
            let _ = std::fs::remove_file(&w.cli);
        }
        self.state
            .lock()
            .map(|s| s.workers.is_empty())
            .unwrap_or(true)
    }

    fn cleanup(&self) {
        for p in &self.cli_paths {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the master until its workers are gone.
pub fn run_master(args: &Args, raw: &[String], master_cli: &[String], cfg: &Config) -> ExitCode {
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    let _ = cfg;
    let quiet = args.quiet;
    let mut signals = match signal_hook::iterator::Signals::new([
        SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP, SIGCHLD,
    ]) {
        Ok(s) => s,
        Err(e) => {
            say(&format!("[ALERT] master: cannot catch signals: {e}"));
            return ExitCode::from(1);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            say(&format!(
                "[ALERT] master: cannot find its own executable: {e}"
            ));
            return ExitCode::from(1);
        }
    };
    let dir = std::env::temp_dir().join(format!("sluice-master-{}", pid()));
    let made = std::fs::create_dir_all(&dir).and_then(|_| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
    });
    if let Err(e) = made {
        say(&format!(
            "[ALERT] master: cannot create {}: {e}",
            dir.display()
        ));
        return ExitCode::from(1);
    }
    let state = Arc::new(Mutex::new(State {
        start: Instant::now(),
        reloads: 0,
        failed: 0,
        workers: Vec::new(),
    }));
    let mut master = Master {
        args: args.clone(),
        worker_args: worker_args(raw),
        exe,
        dir,
        state: state.clone(),
        stopping: None,
        exit_code: None,
        cli_paths: Vec::new(),
    };
    for spec in master_cli {
        match open_cli(spec, quiet) {
            Ok((l, path)) => {
                master.cli_paths.extend(path);
                spawn_cli(l, state.clone());
            }
            Err(e) => {
                say(&format!("[ALERT] {e}"));
                master.cleanup();
                return ExitCode::from(1);
            }
        }
    }
    let mut seq = 0u64;
    match master.spawn(&args.old_pids, &[], seq) {
        Ok(w) => {
            notice(quiet, &format!("New worker ({}) forked", w.pid));
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .workers
                .push(w);
        }
        Err(e) => {
            say(&format!("[ALERT] master: cannot start a worker: {e}"));
            master.cleanup();
            return ExitCode::from(1);
        }
    }
    // The pid file last: whoever waits for it (VTest) finds the master
    // CLI answering for worker 1 (`@1`) at once.
    if let Some(p) = &args.pidfile {
        if let Err(e) = std::fs::write(p, format!("{}\n", pid())) {
            say(&format!(
                "[ALERT] [proxy-mio.main()] Cannot create pidfile {p}: {e}"
            ));
            let st = state.lock().unwrap_or_else(|e| e.into_inner());
            for w in &st.workers {
                // SAFETY: kill(2) on our child.
                unsafe { libc::kill(w.pid, libc::SIGTERM) };
            }
            drop(st);
            master.cleanup();
            return ExitCode::from(1);
        }
    }
    notice(quiet, "Loading success.");
    for sig in signals.forever() {
        match sig {
            SIGUSR2 | SIGHUP if master.stopping.is_none() => master.reload(&mut seq),
            SIGTERM | SIGINT | SIGQUIT | SIGUSR1 => {
                if sig != SIGUSR1 && master.stopping.is_none() {
                    say(&format!(
                        "[WARNING]  ({}) : Exiting Master process...",
                        pid()
                    ));
                }
                if master.stopping.is_none() || sig != SIGUSR1 {
                    master.stopping = Some(sig);
                }
                let st = state.lock().unwrap_or_else(|e| e.into_inner());
                for w in &st.workers {
                    // SAFETY: kill(2) on our children.
                    unsafe { libc::kill(w.pid, sig) };
                }
            }
            SIGCHLD if master.reap() => {
                let code = master.exit_code.unwrap_or(0);
                say(&format!(
                    "[WARNING]  ({}) : All workers exited. Exiting... ({code})",
                    pid()
                ));
                master.cleanup();
                return ExitCode::from(code.clamp(0, 255) as u8);
            }
            _ => {}
        }
    }
    master.cleanup();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn escaped_semicolons_stay_in_the_forwarded_command() {
        assert_eq!(
            split_escaped("@1 add acl f a\\ b\\;;@1 show acl f"),
            vec!["@1 add acl f a\\ b\\;", "@1 show acl f"]
        );
        assert_eq!(split_escaped("a;;b"), vec!["a", "", "b"]);
    }

    #[test]
    fn worker_command_line() {
        assert_eq!(
            worker_args(&v("-W -S /m.sock -f a.cfg -p pid -sf 12 13 -L me -d")),
            v("-f a.cfg -L me -d")
        );
        // A file named like an option stays; everything after `--` too.
        assert_eq!(worker_args(&v("-f -W -- -p x.cfg")), v("-f -W -- -p x.cfg"));
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("@1"), Some(Target::Relative(1)));
        assert_eq!(parse_target("@!123"), Some(Target::Pid(123)));
        assert_eq!(parse_target("@master"), Some(Target::Master));
        assert_eq!(parse_target("@x"), None);
    }

    #[test]
    fn uptime_as_haproxy() {
        assert_eq!(uptime(Duration::from_secs(90061)), "1d01h01m01s");
    }

    #[test]
    fn show_proc_columns() {
        let st = State {
            start: Instant::now(),
            reloads: 2,
            failed: 1,
            workers: Vec::new(),
        };
        let o = show_proc(&st);
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(
            lines[0],
            "#<PID>          <type>          <reloads>       <uptime>        <version>      "
        );
        assert!(lines[1].contains(" master          2 [failed: 1]   0d00h00m00s     "));
        assert_eq!(&lines[2..], ["# workers", "# programs", ""]);
    }
}
