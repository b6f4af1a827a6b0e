//! `proxy-mio`: Sluice's production binary. Command line as HAProxy's:
//!
//! ```text
//! proxy-mio -f <cfgfile> [-f <cfgfile>...] [-c] [-L <name>] [-q] [-db]
//!           [-sf <pid>...] [-p <pidfile>]
//! ```

use std::process::ExitCode;
use std::time::Instant;

use sluice_mio::{check, load_config, run, Args};

const USAGE: &str =
    "Usage : proxy-mio -f <cfgfile> [ -f <cfgfile> ]* [ -c ] [ -L <localpeer> ] [ -q ] [ -db ]
                 [ -sf <pid>* ] [ -p <pidfile> ] [ -v ]
        -f : read configuration from file <cfgfile> (may be repeated)
        -c : check the configuration and exit
        -L : set the local peer name (default: localpeer, then the host name)
        -q : quiet mode: do not print notices
        -db : foreground mode (the only mode; accepted for compatibility)
        -sf : after starting, ask these old processes to finish (SIGUSR1) and
              learn their stick tables through the local peer
        -p : write the process id to <pidfile>
        -v : print the version and exit";

fn main() -> ExitCode {
    let start = Instant::now();
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("Sluice proxy-mio version {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("[ALERT] {e}\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    let cfg = match load_config(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if args.check_only {
        if let Err(e) = check(&args, &cfg) {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
        println!("Configuration file is valid");
        return ExitCode::SUCCESS;
    }
    match run(&args, &cfg, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[ALERT] {e}");
            ExitCode::from(1)
        }
    }
}
