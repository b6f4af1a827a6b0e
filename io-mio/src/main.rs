//! `proxy-mio`: Sluice's production binary. Command line as HAProxy's:
//!
//! ```text
//! proxy-mio -f <cfgfile|cfgdir> [-f ...] [-c] [-L <name>] [-q] [-db]
//!           [-sf <pid>...] [-p <pidfile>] [-- <cfgfile|cfgdir>...]
//! ```
//!
//! Every message goes through `writeln!` with its error ignored: printing
//! to a closed pipe or a full disk must not panic (`proxy-mio -v | true`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use sluice_mio::{check, load_config, run, say, Args, Cmdline};

const USAGE: &str =
    "Usage : proxy-mio -f <cfgfile|cfgdir> [ -f <cfgfile|cfgdir> ]* [ -c ] [ -L <localpeer> ]
                 [ -q ] [ -db ] [ -sf <pid>* ] [ -p <pidfile> ] [ -v ] [ -h ]
                 [ -- <cfgfile|cfgdir>* ]
        -f : read configuration from file <cfgfile> (may be repeated); a
             directory <cfgdir> stands for its '*.cfg' files, in name order
        -c : check the configuration and exit
        -L : set the local peer name (default: localpeer, then the host name)
        -q : quiet mode: do not print notices
        -db : foreground mode (the only mode; accepted for compatibility)
        -sf : after starting, ask these old processes to finish (SIGUSR1) and
              learn their stick tables through the local peer
        -p : write the process id to <pidfile>
        -v : print the version and exit
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
        Ok(Cmdline::Usage) => {
            say(USAGE);
            return ExitCode::from(1);
        }
        Err(e) => {
            say(&format!("[ALERT] {e}\n{USAGE}"));
            return ExitCode::from(1);
        }
    };
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
    match run(&args, &cfg, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("[ALERT] {e}"));
            ExitCode::from(1)
        }
    }
}
