//! `proxy-mio`: Sluice's production binary. Command line as HAProxy's:
//!
//! ```text
//! proxy-mio -f <cfgfile|cfgdir> [-f ...] [-c] [-L <name>] [-q] [-V] [-d] [-db]
//!           [-dW] [-m <megs>] [-sf <pid>...] [-p <pidfile>] [-x <unix_socket>]
//!           [-- <cfgfile|cfgdir>...]
//! proxy-mio -cc <condition> | -v | -vv | -h
//! ```
//!
//! Every message goes through `writeln!` with its error ignored: printing
//! to a closed pipe or a full disk must not panic (`proxy-mio -v | true`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use sluice_mio::{build_info, check, check_condition, load_config, run, say, Args, Cmdline};

const USAGE: &str =
    "Usage : proxy-mio -f <cfgfile|cfgdir> [ -f <cfgfile|cfgdir> ]* [ -c ] [ -L <localpeer> ]
                 [ -q ] [ -V ] [ -d ] [ -db ] [ -dW ] [ -m <megs> ] [ -sf <pid>* ]
                 [ -p <pidfile> ] [ -W ] [ -S <bind>[,<opts>] ] [ -x <unix_socket> ]
                 [ -cc <condition> ]
                 [ -v ] [ -vv ] [ -h ]
                 [ -- <cfgfile|cfgdir>* ]
        -f : read configuration from file <cfgfile> (may be repeated); a
             directory <cfgdir> stands for its '*.cfg' files, in name order
        -c : check the configuration and exit
        -cc : evaluate a condition (as in '.if') and exit: 0 true, 1 false, 2 error
        -L : set the local peer name (default: localpeer, then the host name)
        -q : quiet mode: do not print notices
        -V : verbose mode (undoes -q)
        -d : debug mode: foreground (Sluice prints no debug trace)
        -db : foreground mode (the only mode; accepted for compatibility)
        -dW : fail if the configuration produces any warning
        -m : limit the process's memory (address space) to <megs> MiB
        -sf : after starting, ask these old processes to finish (SIGUSR1) and
              learn their stick tables through the local peer
        -p : write the process id to <pidfile> (the master's under -W)
        -W : master-worker mode: a master starts the worker; SIGUSR2 reloads
        -S : the master CLI on <bind> (fd@N, a UNIX path or ADDR:PORT)
        -x : take the listening sockets of the process whose stats socket
             (with 'expose-fd listeners') is <unix_socket> instead of binding
        -v : print the version and exit
        -vv : print the version and the build features, and exit
        -h : print this help and exit
        -- : everything after it is a <cfgfile> or <cfgdir>";

/// Writes a line to stdout, ignoring failures (see the module comment).
fn out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn main() -> ExitCode {
    let start = Instant::now();
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Cmdline::Run(a)) => a,
        Ok(Cmdline::Version) => {
            out(&format!(
                "Sluice proxy-mio version {}",
                env!("CARGO_PKG_VERSION")
            ));
            return ExitCode::SUCCESS;
        }
        Ok(Cmdline::BuildInfo) => {
            out(&build_info());
            return ExitCode::SUCCESS;
        }
        Ok(Cmdline::CheckCondition(expr)) => {
            return match check_condition(&expr) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    say(&format!("[ALERT] config : {e}"));
                    ExitCode::from(2)
                }
            };
        }
        Ok(Cmdline::Usage) => {
            say(USAGE);
            return ExitCode::from(1);
        }
        Err(e) => {
            say(&format!("[ALERT] {e}\n{USAGE}"));
            return ExitCode::from(1);
        }
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match load_config(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            say(&e.to_string());
            return ExitCode::from(1);
        }
    };
    if args.check_only {
        if let Err(e) = check(&args, &cfg) {
            say(&e.to_string());
            return ExitCode::from(1);
        }
        out("Configuration file is valid");
        return ExitCode::SUCCESS;
    }
    let worker = sluice_mio::mworker::is_worker().then(sluice_mio::mworker::worker_init);
    if worker.is_none() && (args.master_worker || cfg.global.master_worker) {
        // As HAProxy's master, which parses the configuration itself: a
        // configuration that cannot start starts no worker.
        if let Err(e) = check(&args, &cfg) {
            say(&e.to_string());
            return ExitCode::from(1);
        }
        return sluice_mio::mworker::run_master(&args, &raw, &args.master_cli, &cfg);
    }
    if worker.is_none() && !args.master_cli.is_empty() {
        say("[ALERT] The master CLI (-S) is only available in master-worker mode (-W or 'master-worker').");
        return ExitCode::from(1);
    }
    if let (Some(path), None) = (&args.takeover_socket, &worker) {
        // HAProxy's `-x`: the old process's listening sockets, taken
        // before binding (io-mio/src/xfer.rs); `/dev/null` takes nothing,
        // and a failure stops the start, as in HAProxy.
        if path != "/dev/null" {
            if let Err(e) = sluice_mio::xfer::take_over(path) {
                let pid = std::process::id();
                if !args.quiet {
                    say(&format!("[WARNING]  ({pid}) : {e}"));
                }
                say(&format!(
                    "[ALERT]    ({pid}) : Failed to get the sockets from the old process!"
                ));
                return ExitCode::from(1);
            }
        }
    }
    let cfg = match &worker {
        Some(w) => w.apply(cfg),
        None => cfg,
    };
    match run(&args, &cfg, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("[ALERT] {e}"));
            ExitCode::from(1)
        }
    }
}
