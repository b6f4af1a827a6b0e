//! `maxconn` against the file descriptor limit, next to HAProxy 2.6 run
//! under the same limits (set in the child with `setrlimit` before exec):
//! the limit is raised to what `maxconn` needs, the start refused when it
//! cannot be (`strict-limits`, HAProxy 2.6's default), or an alert given
//! with `no strict-limits`; without `maxconn`, it is derived from the
//! limit; `ulimit-n` sets the limit.

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// Which program to run under the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Sluice,
    HaProxy,
}

/// A process started under `soft`/`hard` descriptor limits.
struct Limited {
    proc: Proc,
    sock: PathBuf,
}

impl Limited {
    /// Starts `who` on `cfg` (whose stats socket is `<dir>/<tag>.sock`);
    /// the flag says whether it serves (`false`: it exited at start, its
    /// output is in `proc`).
    fn start(
        who: Who,
        dir: &TempDir,
        tag: &str,
        cfg: &str,
        soft: u64,
        hard: u64,
    ) -> (Limited, bool) {
        let path = dir.join(&format!("{tag}.cfg"));
        fs::write(&path, cfg).unwrap();
        let mut cmd = match who {
            Who::Sluice => Command::new(proxy_mio()),
            Who::HaProxy => {
                let mut c = Command::new(haproxy_bin().expect("haproxy"));
                c.arg("-db");
                c
            }
        };
        cmd.arg("-f").arg(&path);
        // SAFETY: setrlimit in the child before exec: no allocation, no lock.
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut proc = Proc::spawn(tag, cmd, dir.join(&format!("{tag}.log")));
        let sock = dir.join(&format!("{tag}.sock"));
        let up = poll(Duration::from_secs(10), Duration::from_millis(10), || {
            if proc.try_exit().is_some() {
                return Some(false);
            }
            cli(&sock, "show info")
                .ok()
                .filter(|o| !o.is_empty())
                .map(|_| true)
        });
        let up =
            up.unwrap_or_else(|| panic!("{tag} neither served nor exited:\n{}", proc.output()));
        (Limited { proc, sock }, up)
    }

    fn info(&self, field: &str) -> u64 {
        let out = cli(&self.sock, "show info").expect("show info");
        parse_info(&out, field).parse().unwrap()
    }

    /// The soft `Max open files` of the running process.
    fn soft_limit(&self) -> u64 {
        let l = fs::read_to_string(format!("/proc/{}/limits", self.proc.pid())).unwrap();
        l.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .expect("Max open files")
    }
}

fn config(dir: &Path, tag: &str, global: &str, ports: &[u16]) -> String {
    format!(
        "global\n    stats socket {}/{tag}.sock mode 600 level admin\n{global}\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nlisten l\n    bind 127.0.0.1:{}\n    server s 127.0.0.1:{}\n",
        dir.display(),
        ports[0],
        ports[1]
    )
}

/// Both programs when HAProxy is there, Sluice alone otherwise.
fn both(test: &str) -> Vec<Who> {
    if haproxy_or_skip(test) {
        vec![Who::Sluice, Who::HaProxy]
    } else {
        vec![Who::Sluice]
    }
}

/// The hard limit these tests may ask for (they run unprivileged too).
fn hard_limit() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    rl.rlim_max
}

/// Regression: `maxconn 9000` under a 256-descriptor limit was kept without
/// a word (and connections failed later). As HAProxy 2.6 (strict-limits by
/// default), the start is refused when the limit cannot be raised.
#[test]
fn maxconn_beyond_a_hard_limit_refuses_to_start() {
    let dir = TempDir::new("limrefuse");
    for who in both("maxconn_beyond_a_hard_limit_refuses_to_start") {
        let ports = free_ports(2);
        let tag = format!("{who:?}");
        let cfg = config(dir.path(), &tag, "    maxconn 9000", &ports);
        let (mut p, up) = Limited::start(who, &dir, &tag, &cfg, 256, 256);
        let out = p.proc.output();
        assert!(!up, "{who:?} started:\n{out}");
        assert_eq!(
            p.proc
                .wait_exit(Duration::from_secs(5))
                .and_then(|s| s.code()),
            Some(1)
        );
        assert!(
            out.contains("Cannot raise FD limit to") && out.contains("limit is 256."),
            "{who:?}: {out}"
        );
    }
}

/// Under a low soft limit with room below the hard one, the limit is
/// raised to what `maxconn` needs, as HAProxy does.
#[test]
fn maxconn_raises_the_soft_limit() {
    let hard = hard_limit();
    if hard < 4096 {
        if in_ci() {
            panic!("hard descriptor limit {hard} < 4096 and CI=true");
        }
        eprintln!("SKIPPED: hard descriptor limit {hard} < 4096");
        return;
    }
    let dir = TempDir::new("limraise");
    for who in both("maxconn_raises_the_soft_limit") {
        let ports = free_ports(2);
        let tag = format!("{who:?}");
        let cfg = config(dir.path(), &tag, "    maxconn 1000", &ports);
        let (p, up) = Limited::start(who, &dir, &tag, &cfg, 256, hard);
        assert!(up, "{who:?}:\n{}", p.proc.output());
        let soft = p.soft_limit();
        assert!((2000..2200).contains(&soft), "{who:?}: soft limit {soft}");
        assert_eq!(p.info("Maxconn"), 1000, "{who:?}");
    }
}

/// `no strict-limits`: the limit stays, a warning and an alert say so, and
/// the process runs.
#[test]
fn no_strict_limits_warns_and_runs() {
    let dir = TempDir::new("limnostrict");
    for who in both("no_strict_limits_warns_and_runs") {
        let ports = free_ports(2);
        let tag = format!("{who:?}");
        let cfg = config(
            dir.path(),
            &tag,
            "    maxconn 1000\n    no strict-limits",
            &ports,
        );
        let (p, up) = Limited::start(who, &dir, &tag, &cfg, 256, 256);
        let out = p.proc.output();
        assert!(up, "{who:?}:\n{out}");
        assert!(
            out.contains("[WARNING]") && out.contains("Cannot raise FD limit to"),
            "{who:?}: {out}"
        );
        assert!(
            out.contains("[ALERT]")
                && out.contains("FD limit (256) too low for maxconn=1000/maxsock=")
                && out.contains("Please raise 'ulimit-n'"),
            "{who:?}: {out}"
        );
        assert_eq!(p.soft_limit(), 256);
        assert_eq!(p.info("Maxconn"), 1000);
    }
}

/// Without `maxconn`, it is derived from the limit: as many connections as
/// the descriptors allow (HAProxy: 114 under 256).
#[test]
fn maxconn_is_derived_from_the_limit() {
    let dir = TempDir::new("limderive");
    for who in both("maxconn_is_derived_from_the_limit") {
        let ports = free_ports(2);
        let tag = format!("{who:?}");
        let cfg = config(dir.path(), &tag, "", &ports);
        let (p, up) = Limited::start(who, &dir, &tag, &cfg, 256, 256);
        assert!(up, "{who:?}:\n{}", p.proc.output());
        let m = p.info("Maxconn");
        assert!((100..=128).contains(&m), "{who:?}: Maxconn {m}");
        // Still connects (two descriptors per connection fit).
        let c = connect(ports[0], Duration::from_secs(2));
        drop(c);
    }
}

/// `ulimit-n N` sets the soft limit, as HAProxy does.
#[test]
fn ulimit_n_sets_the_limit() {
    let hard = hard_limit();
    if hard < 4096 {
        if in_ci() {
            panic!("hard descriptor limit {hard} < 4096 and CI=true");
        }
        eprintln!("SKIPPED: hard descriptor limit {hard} < 4096");
        return;
    }
    let dir = TempDir::new("limulimit");
    for who in both("ulimit_n_sets_the_limit") {
        let ports = free_ports(2);
        let tag = format!("{who:?}");
        let cfg = config(
            dir.path(),
            &tag,
            "    maxconn 1000\n    ulimit-n 4000",
            &ports,
        );
        let (p, up) = Limited::start(who, &dir, &tag, &cfg, 256, hard);
        assert!(up, "{who:?}:\n{}", p.proc.output());
        assert_eq!(p.soft_limit(), 4000, "{who:?}");
    }
}
