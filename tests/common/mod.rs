//! Shared helpers of the black-box tests: finding (building) `proxy-mio`,
//! starting it and a real HAProxy, temporary directories, free ports, the
//! stats socket, and parsers for `show table` / `show peers`.
//!
//! Every process a test starts is owned by a [`Proc`] guard that kills it
//! (by pid, SIGKILL) when dropped, also when the test panics; every
//! temporary directory is a [`TempDir`] removed when dropped.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// --------------------------------------------------------------------------
// Finding the binaries

/// The `proxy-mio` binary, built once per test process.
///
/// The root package cannot use `CARGO_BIN_EXE_proxy-mio` (the binary belongs
/// to `sluice-mio`), and `cargo test --workspace` does not promise to build
/// other packages' binaries before running this test. So the first call runs
/// `cargo build -p sluice-mio --bin proxy-mio` for the profile and target
/// directory this test executable was built in (a no-op when it is up to
/// date, and never a stale binary), then uses `target/<profile>/proxy-mio`.
/// `SLUICE_PROXY_MIO=/path/to/proxy-mio` overrides all that.
pub fn proxy_mio() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_proxy_mio)
}

fn build_proxy_mio() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_PROXY_MIO") {
        return PathBuf::from(p);
    }
    // <target>/<profile>/deps/interop_peers-<hash>
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in <target>/<profile>/deps");
    let bin = profile_dir.join("proxy-mio");
    let target_dir = profile_dir.parent().expect("target directory");
    let cargo = std::env::var("CARGO")
        .ok()
        .or_else(|| option_env!("CARGO").map(String::from))
        .unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", "sluice-mio", "--bin", "proxy-mio"])
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    let built = cmd.status().map(|s| s.success()).unwrap_or(false);
    assert!(
        built || bin.exists(),
        "could not build proxy-mio ({cmd:?}) and {} does not exist",
        bin.display()
    );
    bin
}

/// The `haproxy` binary (`$HAPROXY`, else `haproxy` from `PATH`), if it runs.
pub fn haproxy_bin() -> Option<&'static str> {
    static BIN: OnceLock<Option<String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = std::env::var("HAPROXY").unwrap_or_else(|_| "haproxy".into());
        let ok = Command::new(&bin)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(bin)
    })
    .as_deref()
}

/// Whether a test that needs HAProxy may run. Without HAProxy it says so
/// loudly and the test passes, unless `CI=true`, where it fails.
pub fn haproxy_or_skip(test: &str) -> bool {
    if haproxy_bin().is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("haproxy not found and CI=true: {test} must not be skipped");
    }
    // Straight to the stderr file descriptor: eprintln! output is captured
    // by the test harness and would only show for failing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n********** SKIPPED: haproxy not found ({test}) **********\n"
    );
    false
}

// --------------------------------------------------------------------------
// Temporary directories and ports

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // Short: unix socket paths are limited to 107 bytes.
        let short: String = test
            .chars()
            .filter(|c| c.is_alphanumeric())
            .take(12)
            .collect();
        let p = std::env::temp_dir().join(format!("sluice-{}-{n}-{short}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `n` distinct free loopback ports, each checked free by binding it, all
/// held at once, then released. Ports handed out earlier in this process
/// are never repeated, so parallel tests do not collide with each other.
///
/// They are taken below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), not from it with a bind to port 0: a
/// released ephemeral port can be taken as the local port of any outgoing
/// connection on the machine (these tests make thousands per second)
/// before the test's server or proxy binds it, which failed a CI run with
/// "Address already in use". Below the range only another listener can
/// take it. Falls back to port 0 when that range is too small.
pub fn free_ports(n: usize) -> Vec<u16> {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let eph_lo = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, eph_lo.saturating_sub(1));
    let mut held = Vec::new();
    let mut ports = Vec::new();
    if hi > lo + 1000 {
        // A start that differs between processes run at once.
        let span = u32::from(hi - lo);
        let seed = std::process::id().wrapping_mul(2_654_435_761)
            ^ SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        let mut next = seed % span;
        for _ in 0..span {
            if ports.len() == n {
                break;
            }
            let port = lo + next as u16;
            next = (next + 1) % span;
            if given.contains(&port) {
                continue;
            }
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                held.push(l);
                given.insert(port);
                ports.push(port);
            }
        }
    }
    while ports.len() < n {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local addr").port();
        held.push(l);
        if given.insert(port) {
            ports.push(port);
        }
    }
    ports
}

// --------------------------------------------------------------------------
// Polling

/// Calls `f` every `every` until it returns `Some` or `within` has passed.
pub fn poll<T>(within: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(every);
    }
}

// --------------------------------------------------------------------------
// Processes

/// A child process killed (SIGKILL, by pid) and reaped when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    exited: Option<ExitStatus>,
    /// Where its stdout and stderr go.
    pub output: PathBuf,
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with plain integers.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `output`.
    pub fn spawn(name: &str, mut cmd: Command, output: PathBuf) -> Proc {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&output)
            .expect("open output file");
        let err = out.try_clone().expect("clone output file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
            exited: None,
            output,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        if self.exited.is_none() {
            signal(self.pid(), sig);
        }
    }

    /// The exit status, if it has exited (reaps it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        poll(within, Duration::from_millis(10), || self.try_exit())
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            signal(self.pid(), libc::SIGKILL);
            self.exited = self.child.wait().ok();
        }
    }

    /// Everything it wrote so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

// --------------------------------------------------------------------------
// The stats socket

/// Sends one command line to a stats socket and returns the whole answer.
pub fn cli(sock: &Path, cmd: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(cmd.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// One `show table` entry: its data fields (`use` and `exp` apart).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub exp: Option<u64>,
    pub data: BTreeMap<String, String>,
}

impl Entry {
    /// A data field as an integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.data.get(name)?.parse().ok()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.data.get(name).map(String::as_str)
    }
}

/// Parses the entry lines of `show table <name>`, keyed by `key=`.
pub fn parse_table(out: &str) -> BTreeMap<String, Entry> {
    let mut t = BTreeMap::new();
    for line in out.lines() {
        let Some((_, rest)) = line.split_once(": key=") else {
            continue;
        };
        let mut words = rest.split(' ');
        let key = words.next().unwrap_or_default().to_string();
        let mut e = Entry::default();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                continue;
            };
            match k {
                "use" => {}
                "exp" => e.exp = v.parse().ok(),
                _ => {
                    e.data.insert(k.to_string(), v.to_string());
                }
            }
        }
        t.insert(key, e);
    }
    t
}

/// From `show peers`: whether peer `name` has an active session, and its
/// `last_status`.
pub fn peer_state(show_peers: &str, name: &str) -> Option<(bool, String)> {
    let needle = format!(": id={name}(");
    let line = show_peers.lines().find(|l| l.contains(&needle))?;
    let active = line.contains(",active)");
    let status = line
        .split(' ')
        .find_map(|w| w.strip_prefix("last_status="))?
        .to_string();
    Some((active, status))
}

/// A field of peer `name`'s block in `show peers` (`new_conn`, `proto_err`...).
pub fn peer_field(show_peers: &str, name: &str, field: &str) -> Option<String> {
    let needle = format!(": id={name}(");
    let mut lines = show_peers.lines().skip_while(|l| !l.contains(&needle));
    let first = lines.next()?;
    let prefix = format!("{field}=");
    std::iter::once(first)
        .chain(lines.take_while(|l| !l.contains(": id=")))
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix(prefix.as_str()).map(String::from))
}

// --------------------------------------------------------------------------
// A running proxy-mio

pub struct Sluice {
    pub proc: Proc,
    pub sock: PathBuf,
    pub cfg: PathBuf,
}

impl Sluice {
    /// Writes `cfg_text` to `<dir>/<tag>.cfg` and starts `proxy-mio -f` on it
    /// (plus `extra` arguments), logs in `<dir>/<tag>.log`; waits until its
    /// stats socket `sock` answers.
    pub fn start(
        dir: &TempDir,
        tag: &str,
        cfg_text: &str,
        sock: PathBuf,
        extra: &[&str],
    ) -> Sluice {
        let cfg = dir.join(&format!("{tag}.cfg"));
        fs::write(&cfg, cfg_text).expect("write config");
        let mut cmd = Command::new(proxy_mio());
        cmd.arg("-f").arg(&cfg).args(extra);
        let proc = Proc::spawn(tag, cmd, dir.join(&format!("{tag}.log")));
        let mut s = Sluice { proc, sock, cfg };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let ok = poll(Duration::from_secs(10), Duration::from_millis(10), || {
            if let Some(st) = self.proc.try_exit() {
                panic!(
                    "{} exited at start ({st}):\n{}",
                    self.proc.name,
                    self.proc.output()
                );
            }
            cli(&self.sock, "show peers").ok().filter(|o| !o.is_empty())
        });
        assert!(
            ok.is_some(),
            "{} did not answer on {}",
            self.proc.name,
            self.sock.display()
        );
    }

    pub fn cli(&self, cmd: &str) -> String {
        cli(&self.sock, cmd).unwrap_or_else(|e| {
            panic!(
                "{}: '{cmd}' failed: {e}\n--- output:\n{}",
                self.proc.name,
                self.proc.output()
            )
        })
    }

    pub fn table(&self, name: &str) -> BTreeMap<String, Entry> {
        parse_table(&self.cli(&format!("show table {name}")))
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn log(&self) -> String {
        self.proc.output()
    }
}

// --------------------------------------------------------------------------
// A running HAProxy (tests/haproxy-peer.sh)

/// Where and how to run one HAProxy peer.
#[derive(Clone, Debug)]
pub struct HaSpec {
    pub local_name: String,
    pub local_port: u16,
    pub remote_name: String,
    pub remote_port: u16,
    pub http_port: u16,
    pub stick_port: u16,
    pub extra_tables: String,
    pub extra_config: String,
    /// Master-worker mode (`haproxy -W`): the process is the master,
    /// SIGUSR2 reloads the worker.
    pub master_worker: bool,
}

pub struct HaProxy {
    pub proc: Proc,
    pub sock: PathBuf,
    pub spec: HaSpec,
    pub dir: PathBuf,
}

impl HaProxy {
    /// Starts HAProxy in the foreground through `tests/haproxy-peer.sh`
    /// in `<dir>/<tag>`, and waits until its admin socket answers.
    pub fn start(dir: &TempDir, tag: &str, spec: &HaSpec) -> HaProxy {
        let bin = haproxy_bin().expect("haproxy");
        let work = dir.join(tag);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/haproxy-peer.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(script);
        if spec.master_worker {
            cmd.arg("--master-worker");
        }
        cmd.arg(&spec.local_name)
            .arg(spec.local_port.to_string())
            .arg(&spec.remote_name)
            .arg("127.0.0.1")
            .arg(spec.remote_port.to_string())
            .arg(&work)
            .env("HAPROXY", bin)
            .env("PEER_HTTP_PORT", spec.http_port.to_string())
            .env("PEER_STICK_PORT", spec.stick_port.to_string())
            .env("PEER_EXTRA_TABLES", &spec.extra_tables)
            .env("PEER_EXTRA_CONFIG", &spec.extra_config);
        let proc = Proc::spawn(tag, cmd, dir.join(&format!("{tag}.log")));
        let mut h = HaProxy {
            proc,
            sock: work.join("admin.sock"),
            spec: spec.clone(),
            dir: work,
        };
        h.wait_ready();
        h
    }

    fn wait_ready(&mut self) {
        let ok = poll(Duration::from_secs(10), Duration::from_millis(10), || {
            if let Some(st) = self.proc.try_exit() {
                panic!("haproxy exited at start ({st}):\n{}", self.proc.output());
            }
            cli(&self.sock, "show peers").ok().filter(|o| !o.is_empty())
        });
        assert!(
            ok.is_some(),
            "haproxy did not answer on {}",
            self.sock.display()
        );
    }

    pub fn cli(&self, cmd: &str) -> String {
        cli(&self.sock, cmd).unwrap_or_else(|e| {
            panic!(
                "haproxy: '{cmd}' failed: {e}\n--- output:\n{}",
                self.proc.output()
            )
        })
    }

    pub fn table(&self, name: &str) -> BTreeMap<String, Entry> {
        parse_table(&self.cli(&format!("show table {name}")))
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The pid of the process serving the admin socket (the worker in
    /// master-worker mode), from `show info`.
    pub fn serving_pid(&self) -> Option<u32> {
        self.cli("show info")
            .lines()
            .find_map(|l| l.strip_prefix("Pid: "))
            .and_then(|p| p.trim().parse().ok())
    }
}

/// An HTTP/1.0 GET to 127.0.0.1:`port` from source address `from`, with
/// extra header lines; returns the status line.
pub fn http_get(port: u16, from: Option<&str>, headers: &[(&str, &str)]) -> String {
    use std::net::{SocketAddr, TcpStream};
    let dest: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let stream = match from {
        None => TcpStream::connect_timeout(&dest, Duration::from_secs(2)),
        Some(src) => {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            let src: SocketAddr = format!("{src}:0").parse().unwrap();
            sock.bind(&src.into()).expect("bind source address");
            sock.connect_timeout(&dest.into(), Duration::from_secs(2))
                .map(|()| TcpStream::from(sock))
        }
    };
    let mut s = stream.unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = String::from("GET / HTTP/1.0\r\nHost: test\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.lines().next().unwrap_or_default().to_string()
}

/// One HTTP/1.1 GET of `path` to 127.0.0.1:`port` on its own connection
/// (`connection: close`), with extra header lines; returns the response's
/// head and body, split at the blank line.
pub fn exchange(port: u16, path: &str, headers: &[(&str, &str)]) -> (String, String) {
    use std::net::TcpStream;
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((h, b)) => (h.to_string(), b.to_string()),
        None => (text, String::new()),
    }
}

/// Digits become `9` (a run of them one `9`): what differs from run to
/// run (ports, dates, timers, counts) is masked; a `+` or a `-1` shows.
pub fn mask_digits(line: &str) -> String {
    let mut out = String::new();
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('9') {
                out.push('9');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `text` to a new file.
pub fn write_file(path: &Path, text: &str) {
    let mut f = File::create(path).expect("create file");
    f.write_all(text.as_bytes()).expect("write file");
}

// ==========================================================================
// Helpers of the data-path suites (`tcp_proxy.rs`, `http_proxy.rs`)

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Whether `CI=true`: a missing external tool fails the test there.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the external `tool` (curl, wrk, haproxy...) runs (`tool
/// --version` or `-v` exits). Without it the test says so loudly on the
/// stderr file descriptor and should pass, unless `CI=true`, where this
/// panics.
pub fn tool_or_skip(tool: &str, test: &str) -> bool {
    let found = ["--version", "-v"].iter().any(|arg| {
        Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if found {
        return true;
    }
    if in_ci() {
        panic!("{tool} not found and CI=true: {test} must not be skipped");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n********** SKIPPED: {tool} not found ({test}) **********\n"
    );
    false
}

/// Raises the soft `RLIMIT_NOFILE` of this process (and so of the
/// processes it starts) to at least `want`, within the hard limit.
/// Returns the soft limit in effect.
pub fn raise_nofile(want: u64) -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < want {
            rl.rlim_cur = want.min(rl.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
    }
    rl.rlim_cur
}

/// `global` lines every data-path test uses: logs on stderr in HAProxy's
/// raw format (so they land in the process output file), an admin stats
/// socket.
pub fn global_section(sock: &Path, extra: &str) -> String {
    format!(
        "global\n    log stderr format raw local0 info\n    stats socket {} mode 600 level admin\n{extra}\n",
        sock.display()
    )
}

impl Sluice {
    /// Starts `proxy-mio` on `cfg`, whose stats socket is `<dir>/<tag>.sock`.
    pub fn run(dir: &TempDir, tag: &str, cfg: &str) -> Sluice {
        Sluice::start(dir, tag, cfg, dir.join(&format!("{tag}.sock")), &[])
    }

    /// `show stat` as rows keyed by (pxname, svname).
    pub fn stats(&self) -> BTreeMap<(String, String), BTreeMap<String, String>> {
        parse_stat(&self.cli("show stat"))
    }

    /// One field of one `show stat` row.
    pub fn stat(&self, px: &str, sv: &str, field: &str) -> String {
        self.stats()
            .get(&(px.to_string(), sv.to_string()))
            .and_then(|r| r.get(field).cloned())
            .unwrap_or_else(|| panic!("no {px}/{sv} {field} in show stat"))
    }

    /// One field of `show info`.
    pub fn info(&self, field: &str) -> String {
        parse_info(&self.cli("show info"), field)
    }

    /// The traffic and event log lines written so far (the process
    /// output without the driver's own `[NOTICE]`/`[WARNING]` lines).
    pub fn log_lines(&self) -> Vec<String> {
        log_lines(&self.proc.output())
    }

    /// Waits until `n` traffic log lines were written, and returns them
    /// (panics when there are fewer after 5s, or more).
    pub fn wait_traffic(&self, n: usize) -> Vec<String> {
        let lines = poll(Duration::from_secs(5), Duration::from_millis(10), || {
            let l = traffic_lines(&self.log());
            (l.len() >= n).then_some(l)
        })
        .unwrap_or_else(|| panic!("fewer than {n} traffic log lines:\n{}", self.log()));
        assert_eq!(lines.len(), n, "traffic log lines: {lines:#?}");
        lines
    }

    /// Waits until `CurrConns` is 0 and every `scur` of `show stat` is 0
    /// (nothing leaked once the clients are gone); panics with the last
    /// values otherwise.
    pub fn assert_drained(&self, within: Duration) {
        let mut last = String::new();
        let ok = poll(within, Duration::from_millis(20), || {
            let cur = self.info("CurrConns");
            let stats = self.stats();
            let busy: Vec<String> = stats
                .iter()
                .filter(|(_, r)| r.get("scur").is_some_and(|v| v != "0" && !v.is_empty()))
                .map(|((p, s), r)| format!("{p}/{s} scur={}", r["scur"]))
                .collect();
            last = format!("CurrConns={cur} {busy:?}");
            (cur == "0" && busy.is_empty()).then_some(())
        });
        assert!(ok.is_some(), "proxy did not drain: {last}");
    }
}

/// Parses `show stat` CSV into rows keyed by (pxname, svname).
pub fn parse_stat(csv: &str) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
        return BTreeMap::new();
    };
    let cols: Vec<&str> = header.split(',').collect();
    let mut out = BTreeMap::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let row: BTreeMap<String, String> = cols
            .iter()
            .zip(l.split(','))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let key = (
            row.get("pxname").cloned().unwrap_or_default(),
            row.get("svname").cloned().unwrap_or_default(),
        );
        out.insert(key, row);
    }
    out
}

/// One `Name: value` field of `show info`.
pub fn parse_info(out: &str, field: &str) -> String {
    let prefix = format!("{field}: ");
    out.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {field} in show info:\n{out}"))
        .trim()
        .to_string()
}

/// Log lines of a process output: every line but the driver's own
/// bracketed notices, warnings and alerts.
pub fn log_lines(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('['))
        .map(String::from)
        .collect()
}

/// Traffic log lines (they start with the client address).
pub fn traffic_lines(output: &str) -> Vec<String> {
    log_lines(output)
        .into_iter()
        .filter(|l| l.starts_with("127.0.0.1:") || l.starts_with("unix:"))
        .collect()
}

// --------------------------------------------------------------------------
// A real HAProxy on a configuration of the test's own

/// HAProxy 2.6 (`haproxy -db -f`) run on a config written by the test;
/// killed by its [`Proc`] guard.
pub struct HaRun {
    pub proc: Proc,
    pub sock: PathBuf,
}

impl HaRun {
    /// Starts HAProxy on `cfg` (which must declare the admin stats socket
    /// `<dir>/<tag>.sock`) and waits until the socket answers.
    pub fn start(dir: &TempDir, tag: &str, cfg: &str) -> HaRun {
        HaRun::start_bin(Path::new(haproxy_bin().expect("haproxy")), dir, tag, cfg)
    }

    /// The same with the HAProxy binary `bin` (HAProxy 3.5, for one).
    pub fn start_bin(bin: &Path, dir: &TempDir, tag: &str, cfg: &str) -> HaRun {
        let path = dir.join(&format!("{tag}.cfg"));
        fs::write(&path, cfg).expect("write config");
        let mut cmd = Command::new(bin);
        cmd.arg("-db").arg("-f").arg(&path);
        let mut proc = Proc::spawn(tag, cmd, dir.join(&format!("{tag}.log")));
        let sock = dir.join(&format!("{tag}.sock"));
        let ok = poll(Duration::from_secs(10), Duration::from_millis(10), || {
            if let Some(st) = proc.try_exit() {
                panic!("haproxy exited at start ({st}):\n{}", proc.output());
            }
            cli(&sock, "show info").ok().filter(|o| !o.is_empty())
        });
        assert!(ok.is_some(), "haproxy did not answer on {}", sock.display());
        HaRun { proc, sock }
    }

    pub fn cli(&self, cmd: &str) -> String {
        cli(&self.sock, cmd).unwrap_or_else(|e| panic!("haproxy: '{cmd}' failed: {e}"))
    }

    pub fn log_lines(&self) -> Vec<String> {
        log_lines(&self.proc.output())
    }
}

// --------------------------------------------------------------------------
// Deterministic data

/// xorshift64*: a reproducible byte stream for large transfers.
#[derive(Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Fills `buf` (its length a multiple of 8, so that the stream does
    /// not depend on how it is cut).
    pub fn fill(&mut self, buf: &mut [u8]) {
        assert_eq!(buf.len() % 8, 0);
        for w in buf.chunks_exact_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
            w.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// FNV-1a, 64 bits: a streaming hash that does not depend on how the
/// bytes are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The hash of the first `len` bytes of the stream of `seed`.
pub fn stream_hash(seed: u64, len: usize) -> Fnv {
    let mut p = Prng::new(seed);
    let mut h = Fnv::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        p.fill(&mut buf);
        let n = left.min(buf.len());
        h.update(&buf[..n]);
        left -= n;
    }
    h
}

/// Writes `len` bytes of the stream of `seed` to `w`.
pub fn write_stream(w: &mut impl Write, seed: u64, len: usize) -> std::io::Result<()> {
    let mut p = Prng::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        p.fill(&mut buf);
        let n = left.min(buf.len());
        w.write_all(&buf[..n])?;
        left -= n;
    }
    Ok(())
}

/// Reads `r` to its end; returns (bytes, hash).
pub fn hash_to_end(r: &mut impl Read) -> std::io::Result<(usize, Fnv)> {
    let mut h = Fnv::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok((total, h)),
            Ok(n) => {
                h.update(&buf[..n]);
                total += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

// --------------------------------------------------------------------------
// Test servers: std threads, one per connection

type Handler = dyn Fn(TcpStream, usize) + Send + Sync;

/// Binds with `bind`, trying again for up to 3 s while the port is in use:
/// a port checked free by [`free_ports`] can still be held for a moment by
/// a socket of another test that is going away.
pub fn bind_retrying<T>(port: u16, bind: impl Fn() -> std::io::Result<T>) -> T {
    let t0 = Instant::now();
    loop {
        match bind() {
            Ok(l) => return l,
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && t0.elapsed() < Duration::from_secs(3) =>
            {
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("bind 127.0.0.1:{port}: {e}"),
        }
    }
}

/// A TCP server of the test: accepts on a loopback port and runs
/// `handler(stream, n)` on a thread of its own for the `n`-th connection
/// (0-based). Dropping it (or [`TestServer::stop`]) stops listening, and
/// dropping it shuts down every connection still open so that no thread
/// is left blocked.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    accepts: Arc<AtomicUsize>,
    open: Arc<Mutex<HashMap<usize, TcpStream>>>,
}

impl TestServer {
    pub fn start(port: u16, handler: impl Fn(TcpStream, usize) + Send + Sync + 'static) -> Self {
        Self::start_arc(port, Arc::new(handler))
    }

    pub fn start_arc(port: u16, handler: Arc<Handler>) -> Self {
        // A deep backlog: std's 128 overflows under a burst of connects
        // (the proxy's SYNs are then dropped and its connects time out).
        let bind = || -> std::io::Result<std::net::TcpListener> {
            use socket2::{Domain, Socket, Type};
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_reuse_address(true)?;
            let a: SocketAddr = ([127, 0, 0, 1], port).into();
            s.bind(&a.into())?;
            s.listen(4096)?;
            Ok(s.into())
        };
        let l = bind_retrying(port, bind);
        let addr = l.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let accepts = Arc::new(AtomicUsize::new(0));
        let open: Arc<Mutex<HashMap<usize, TcpStream>>> = Arc::default();
        let (stop2, accepts2, open2) = (stop.clone(), accepts.clone(), open.clone());
        let thread = thread::Builder::new()
            .name(format!("srv-{port}"))
            .spawn(move || {
                for conn in l.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let n = accepts2.fetch_add(1, Ordering::SeqCst);
                    if let Ok(c) = conn.try_clone() {
                        open2.lock().unwrap().insert(n, c);
                    }
                    let (h, open3) = (handler.clone(), open2.clone());
                    let job = Arc::new(Mutex::new(Some(move || {
                        h(conn, n);
                        open3.lock().unwrap().remove(&n);
                    })));
                    // Thread creation may fail for a moment under load
                    // (EAGAIN): try again rather than drop a connection.
                    let mut tries = 0;
                    loop {
                        let job2 = job.clone();
                        let r = thread::Builder::new()
                            .stack_size(256 * 1024)
                            .spawn(move || {
                                if let Some(f) = job2.lock().unwrap().take() {
                                    f()
                                }
                            });
                        match r {
                            Ok(_) => break,
                            Err(e) if tries < 100 => {
                                tries += 1;
                                let _ = writeln!(std::io::stderr(), "test server: spawn: {e}");
                                thread::sleep(Duration::from_millis(10));
                            }
                            Err(e) => panic!("test server: cannot spawn a thread: {e}"),
                        }
                    }
                }
            })
            .expect("spawn accept thread");
        TestServer {
            addr,
            stop,
            thread: Some(thread),
            accepts,
            open,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Connections whose handler still runs.
    pub fn open_conns(&self) -> usize {
        self.open.lock().unwrap().len()
    }

    /// Stops listening (new connections are refused); connections already
    /// accepted go on.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept().
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        for (_, c) in self.open.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// Echoes everything back, then answers the FIN with a FIN.
pub fn echo_handler(mut s: TcpStream, _n: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown(Shutdown::Write);
}

/// Connects to 127.0.0.1:`port` with read and write timeouts of `to`.
pub fn connect(port: u16, to: Duration) -> TcpStream {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let s = TcpStream::connect_timeout(&addr, to)
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(to)).unwrap();
    s.set_write_timeout(Some(to)).unwrap();
    let _ = s.set_nodelay(true);
    s
}

/// Reads until the peer closes (or an error / the read timeout); returns
/// the bytes and whether the end was an orderly close (read 0) or a reset.
pub fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, Closed) {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, Closed::Fin),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, Closed::Open)
            }
            Err(_) => return (out, Closed::Reset),
        }
    }
}

/// How a connection ended, as the reader saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Orderly close (FIN).
    Fin,
    /// Connection reset.
    Reset,
    /// Still open when the read timeout expired.
    Open,
}

impl Closed {
    pub fn is_closed(self) -> bool {
        self != Closed::Open
    }
}

/// Waits until a log line matching `pred` appears in `output()`.
pub fn wait_line(
    what: &str,
    within: Duration,
    output: impl Fn() -> String,
    pred: impl Fn(&str) -> bool,
) -> String {
    poll(within, Duration::from_millis(10), || {
        log_lines(&output()).into_iter().find(|l| pred(l))
    })
    .unwrap_or_else(|| panic!("no log line {what} within {within:?}:\n{}", output()))
}

// --------------------------------------------------------------------------
// An HTTP/1.1 test server that records what it receives

/// One request as the test server parsed it.
#[derive(Clone, Debug, Default)]
pub struct SeenReq {
    /// Index of the connection it came on (accept order, 0-based).
    pub conn: usize,
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl SeenReq {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the test server does with a request.
pub enum Reply {
    /// Send these bytes and wait for the next request on the connection.
    Send(Vec<u8>),
    /// Send these bytes, then close.
    SendClose(Vec<u8>),
    /// Close without answering.
    Close,
    /// Never answer (wait until the peer closes).
    Hang,
    /// Send these bytes (a `101`), then echo every byte.
    Tunnel(Vec<u8>),
}

/// What the test server received.
#[derive(Default, Debug)]
pub struct HttpSeen {
    /// Every byte received, per connection.
    pub raw: BTreeMap<usize, Vec<u8>>,
    pub reqs: Vec<SeenReq>,
}

type Responder = dyn Fn(&SeenReq) -> Reply + Send + Sync;

/// An HTTP/1.1 server on std threads: parses requests (Content-Length and
/// chunked bodies, `Expect: 100-continue` answered with a `100`), asks the
/// responder, records everything. A request it cannot parse is recorded
/// raw and the connection closed.
pub struct HttpServer {
    pub srv: TestServer,
    seen: Arc<Mutex<HttpSeen>>,
}

impl HttpServer {
    pub fn start(port: u16, responder: impl Fn(&SeenReq) -> Reply + Send + Sync + 'static) -> Self {
        let seen: Arc<Mutex<HttpSeen>> = Arc::default();
        let responder: Arc<Responder> = Arc::new(responder);
        let seen2 = seen.clone();
        let srv = TestServer::start(port, move |s, n| {
            http_conn(s, n, &*responder, &seen2);
        });
        HttpServer { srv, seen }
    }

    /// A server answering `200` with `"<method> <target> conn=<n>\n"`.
    pub fn start_default(port: u16) -> Self {
        Self::start(port, default_reply)
    }

    pub fn port(&self) -> u16 {
        self.srv.port()
    }

    pub fn accepts(&self) -> usize {
        self.srv.accepts()
    }

    pub fn reqs(&self) -> Vec<SeenReq> {
        self.seen.lock().unwrap().reqs.clone()
    }

    /// Every byte received on every connection, in accept order.
    pub fn raw(&self) -> Vec<u8> {
        self.seen
            .lock()
            .unwrap()
            .raw
            .values()
            .flatten()
            .copied()
            .collect()
    }
}

/// `200 OK` with this body (and `content-length`).
pub fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The default answer: `200` with `"<method> <target> conn=<n>\n"` (no
/// body for HEAD, but the length the body would have).
pub fn default_reply(r: &SeenReq) -> Reply {
    let body = format!("{} {} conn={}\n", r.method, r.target, r.conn);
    if r.method == "HEAD" {
        return Reply::Send(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes(),
        );
    }
    Reply::Send(ok_response(&body))
}

/// Reads until `buf` holds `want` bytes; false at end of stream.
fn fill_to(s: &mut TcpStream, buf: &mut Vec<u8>, want: usize, raw: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 16 * 1024];
    while buf.len() < want {
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                raw.extend_from_slice(&tmp[..n]);
            }
        }
    }
    true
}

/// Reads until `buf` contains `pat`; returns the index after it.
fn fill_until(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    pat: &[u8],
    raw: &mut Vec<u8>,
) -> Option<usize> {
    let mut tmp = [0u8; 16 * 1024];
    loop {
        if let Some(i) = buf.windows(pat.len()).position(|w| w == pat) {
            return Some(i + pat.len());
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                raw.extend_from_slice(&tmp[..n]);
            }
        }
    }
}

fn http_conn(mut s: TcpStream, n: usize, responder: &Responder, seen: &Mutex<HttpSeen>) {
    let mut buf = Vec::new();
    let record = |raw: &mut Vec<u8>| {
        seen.lock().unwrap().raw.entry(n).or_default().append(raw);
    };
    loop {
        let mut raw = Vec::new();
        let Some(end) = fill_until(&mut s, &mut buf, b"\r\n\r\n", &mut raw) else {
            record(&mut raw);
            return;
        };
        record(&mut raw);
        let head = String::from_utf8_lossy(&buf[..end - 4]).to_string();
        buf.drain(..end);
        let mut lines = head.split("\r\n");
        let rl: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
        if rl.len() != 3 {
            return;
        }
        let mut req = SeenReq {
            conn: n,
            method: rl[0].into(),
            target: rl[1].into(),
            version: rl[2].into(),
            ..Default::default()
        };
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                return;
            };
            req.headers.push((k.to_string(), v.trim().to_string()));
        }
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            && s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        let mut raw = Vec::new();
        let te = req.header("transfer-encoding").map(str::to_ascii_lowercase);
        if te.as_deref() == Some("chunked") {
            req.chunked = true;
            loop {
                let Some(e) = fill_until(&mut s, &mut buf, b"\r\n", &mut raw) else {
                    record(&mut raw);
                    return;
                };
                let line = String::from_utf8_lossy(&buf[..e - 2]).to_string();
                buf.drain(..e);
                let size = line.split(';').next().unwrap_or("").trim();
                let Ok(size) = usize::from_str_radix(size, 16) else {
                    record(&mut raw);
                    return;
                };
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        let Some(e) = fill_until(&mut s, &mut buf, b"\r\n", &mut raw) else {
                            record(&mut raw);
                            return;
                        };
                        let empty = e == 2;
                        buf.drain(..e);
                        if empty {
                            break;
                        }
                    }
                    break;
                }
                if !fill_to(&mut s, &mut buf, size + 2, &mut raw) {
                    record(&mut raw);
                    return;
                }
                req.body.extend_from_slice(&buf[..size]);
                buf.drain(..size + 2);
            }
        } else if let Some(cl) = req.header("content-length").and_then(|v| v.parse().ok()) {
            if !fill_to(&mut s, &mut buf, cl, &mut raw) {
                record(&mut raw);
                return;
            }
            req.body = buf.drain(..cl).collect();
        }
        record(&mut raw);
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = responder(&req);
        seen.lock().unwrap().reqs.push(req);
        match reply {
            Reply::Send(b) => {
                if s.write_all(&b).is_err() || close {
                    return;
                }
            }
            Reply::SendClose(b) => {
                let _ = s.write_all(&b);
                return;
            }
            Reply::Close => return,
            Reply::Hang => {
                let mut tmp = [0u8; 1024];
                while matches!(s.read(&mut tmp), Ok(n) if n > 0) {}
                return;
            }
            Reply::Tunnel(b) => {
                if s.write_all(&b).is_ok() && (buf.is_empty() || s.write_all(&buf).is_ok()) {
                    echo_handler(s, n);
                }
                return;
            }
        }
    }
}

// --------------------------------------------------------------------------
// An HTTP/1.1 client on a raw socket

/// One response as the test client parsed it.
#[derive(Clone, Debug, Default)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses one response from the front of `buf`: `Some((resp, used))`,
/// `None` when incomplete. `head_only`: the request was a HEAD.
pub fn parse_response(buf: &[u8], head_only: bool) -> Option<(Resp, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end - 4]).to_string();
    let mut lines = head.split("\r\n");
    let sl = lines.next()?;
    let mut parts = sl.splitn(3, ' ');
    let _version = parts.next()?;
    let status: u16 = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let mut r = Resp {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let no_body = head_only || (100..200).contains(&status) || status == 204 || status == 304;
    if no_body {
        return Some((r, end));
    }
    if r.header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let mut i = end;
        loop {
            let e = buf[i..].windows(2).position(|w| w == b"\r\n")? + i;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&buf[i..e])
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            i = e + 2;
            if size == 0 {
                let t = buf[i..].windows(2).position(|w| w == b"\r\n")? + i;
                return Some((r, t + 2));
            }
            if buf.len() < i + size + 2 {
                return None;
            }
            r.body.extend_from_slice(&buf[i..i + size]);
            i += size + 2;
        }
    }
    let cl: usize = r.header("content-length")?.parse().ok()?;
    if buf.len() < end + cl {
        return None;
    }
    r.body = buf[end..end + cl].to_vec();
    Some((r, end + cl))
}

/// A client connection that sends raw bytes and reads responses.
pub struct HttpConn {
    pub s: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    pub fn open(port: u16) -> HttpConn {
        HttpConn {
            s: connect(port, Duration::from_secs(5)),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("send request");
    }

    /// The next response (panics on a timeout or a close before it is complete).
    pub fn response(&mut self, head_only: bool) -> Resp {
        self.try_response(head_only).unwrap_or_else(|| {
            panic!(
                "no complete response; got {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// The next response, or `None` when the connection ended first.
    pub fn try_response(&mut self, head_only: bool) -> Option<Resp> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            if let Some((r, used)) = parse_response(&self.buf, head_only) {
                self.buf.drain(..used);
                return Some(r);
            }
            match self.s.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// Sends a request and reads its response.
    pub fn request(&mut self, bytes: &[u8]) -> Resp {
        self.send(bytes);
        self.response(bytes.starts_with(b"HEAD "))
    }

    /// Reads whatever comes until the proxy closes: (bytes after the
    /// responses read so far, how it ended).
    pub fn rest(&mut self) -> (Vec<u8>, Closed) {
        let (more, closed) = read_to_close(&mut self.s);
        let mut all = std::mem::take(&mut self.buf);
        all.extend_from_slice(&more);
        (all, closed)
    }
}

/// Sends `bytes` on a new connection and reads until the proxy closes:
/// (every byte answered, how it ended).
pub fn http_raw(port: u16, bytes: &[u8]) -> (Vec<u8>, Closed) {
    let mut s = connect(port, Duration::from_secs(5));
    let _ = s.write_all(bytes);
    read_to_close(&mut s)
}

/// Per backend: `status`, `check_status`, `check_code`, `check_desc`,
/// `last_chk` of its server `srv` (the check side-by-side tests compare
/// these between HAProxy and Sluice). A leading `* ` of `check_status`
/// (a check in progress at that instant: timing) is dropped.
pub fn check_states(stat_csv: &str) -> Vec<(String, [String; 5])> {
    let mut v: Vec<_> = parse_stat(stat_csv)
        .into_iter()
        .filter(|((px, sv), _)| sv == "srv" && px != "fe")
        .map(|((px, _), r)| {
            let f = |k: &str| r.get(k).cloned().unwrap_or_default();
            let st = f("check_status").trim_start_matches("* ").to_string();
            (
                px,
                [
                    f("status"),
                    st,
                    f("check_code"),
                    f("check_desc"),
                    f("last_chk"),
                ],
            )
        })
        .collect();
    v.sort();
    v
}

/// The first `log-health-checks` line of each named backend's server
/// `srv`, from its text on, with the check duration masked.
pub fn first_health_check_lines(backends: &[&str], log: &str) -> Vec<(String, String)> {
    backends
        .iter()
        .map(|be| {
            let key = format!("Health check for server {be}/srv ");
            let l = log
                .lines()
                .find_map(|l| l.find(&key).map(|i| l[i..].to_string()))
                .unwrap_or_default();
            let masked = match (l.find("check duration: "), l.find("ms, status")) {
                (Some(a), Some(b)) if a < b => format!("{}N{}", &l[..a + 16], &l[b..]),
                _ => l,
            };
            (be.to_string(), masked)
        })
        .collect()
}

// --------------------------------------------------------------------------
// Certificates made at test time with `openssl` (tests/tls.rs,
// tests/reverse_http.rs)

/// Runs `openssl` with `args` in `dir`; panics when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<ca>.pem`, `<ca>.key`).
pub fn make_ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=Sluice test {ca}"),
        ],
    );
}

/// A leaf certificate for `names` signed by `ca`, with its key in the
/// same PEM file (HAProxy's `crt` format): `<out>`. `key`: `ec` or `rsa`.
pub fn make_leaf(dir: &Path, ca: &str, out: &Path, names: &[&str], key: &str) {
    let tag = out.file_stem().unwrap().to_string_lossy().to_string();
    let newkey = if key == "rsa" { "rsa:2048" } else { "ec" };
    let mut args = vec!["req", "-newkey", newkey, "-nodes", "-keyout"];
    let k = format!("{tag}.key.tmp");
    let csr = format!("{tag}.csr");
    args.extend([k.as_str(), "-out", csr.as_str(), "-subj"]);
    let subj = format!("/CN={}", names[0]);
    args.push(&subj);
    if key != "rsa" {
        args.splice(3..3, ["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    }
    openssl(dir, &args);
    let ext = format!("{tag}.ext");
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    write_file(
        &dir.join(&ext),
        &format!("subjectAltName={}\n", san.join(",")),
    );
    let crt = format!("{tag}.crt.tmp");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
    let pem = std::fs::read_to_string(dir.join(&crt)).unwrap()
        + &std::fs::read_to_string(dir.join(&k)).unwrap();
    write_file(out, &pem);
    for f in [k, csr, ext, crt] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

/// Reads one request head; `None` when the connection closed first.
pub fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut req = Vec::new();
    let mut b = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => req.push(b[0]),
            _ => return None,
        }
    }
    Some(req)
}

/// One HTTP/1.1 response with a `content-length` body on `r`: (status,
/// `Connection: close`), or why not; `Err` with `true`: nothing of it
/// arrived (the connection was closed or failed first).
pub fn read_response(
    r: &mut std::io::BufReader<std::net::TcpStream>,
) -> Result<(u16, bool), (bool, String)> {
    let mut line = String::new();
    use std::io::BufRead;
    match r.read_line(&mut line) {
        Ok(0) => return Err((true, "closed".into())),
        Err(e) => return Err((true, e.to_string())),
        Ok(_) => {}
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or((false, format!("bad status line {line:?}")))?;
    let (mut len, mut close) = (0usize, false);
    loop {
        let mut h = String::new();
        match r.read_line(&mut h) {
            Ok(0) | Err(_) => return Err((false, "cut in the head".into())),
            Ok(_) => {}
        }
        let h = h.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if h == "connection: close" {
            close = true;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)
        .map_err(|e| (false, format!("cut in the body: {e}")))?;
    Ok((status, close))
}

/// What a reload test's clients saw (tests/master_worker.rs,
/// tests/seamless_reload.rs).
#[derive(Default, Debug)]
pub struct Tally {
    pub ok: usize,
    /// A reused connection closed before any byte of the response: sent
    /// again on a new connection.
    pub retried: usize,
    /// `connect()` failed: nobody listened.
    pub refused: Vec<String>,
    /// Anything else: an error on a new connection, a cut response, a
    /// status other than 200.
    pub failed: Vec<String>,
}

/// A client until `stop`: keep-alive, or a new connection per request.
pub fn reload_client(
    port: u16,
    keep_alive: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Tally {
    let mut t = Tally::default();
    let mut conn: Option<(std::io::BufReader<std::net::TcpStream>, usize)> = None;
    let req: &[u8] = if keep_alive {
        b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n"
    } else {
        b"GET /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
    };
    while !stop.load(Ordering::Relaxed) {
        let (mut r, used) = match conn.take() {
            Some(c) => c,
            None => match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    (std::io::BufReader::new(s), 0)
                }
                Err(e) => {
                    t.refused.push(format!("connect: {e}"));
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        let res = match r.get_mut().write_all(req) {
            Ok(()) => read_response(&mut r),
            Err(e) => Err((true, e.to_string())),
        };
        match res {
            Ok((200, close)) => {
                t.ok += 1;
                if keep_alive && !close {
                    conn = Some((r, used + 1));
                }
            }
            Ok((st, _)) => t.failed.push(format!("status {st}")),
            Err((true, _)) if used > 0 => t.retried += 1,
            Err((_, why)) => t
                .failed
                .push(format!("{why} (after {used} on the connection)")),
        }
    }
    t
}
