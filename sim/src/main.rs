//! `sluice-sim`: runs scenarios of the deterministic simulator.
//!
//! ```text
//! sluice-sim --scenario S --seed N [--mutant M] [--trace]
//! sluice-sim --scenario S|all --seeds A..B [--mutant M] [--stop]
//! sluice-sim --list
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use sluice_sim::{run, sweep, RunOptions, RunReport, Scenario};

struct Args {
    scenarios: Vec<Scenario>,
    seeds: core::ops::Range<u64>,
    single: bool,
    mutant: Option<String>,
    trace: bool,
    stop: bool,
    nodes: Option<usize>,
}

const USAGE: &str = "usage: sluice-sim --scenario NAME|all (--seed N | --seeds A..B) [--nodes N] [--mutant NAME] [--trace] [--stop]\n       sluice-sim --list";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        scenarios: Vec::new(),
        seeds: 0..1,
        single: true,
        mutant: None,
        trace: false,
        stop: false,
        nodes: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--scenario" => {
                let v = val()?;
                a.scenarios = if v == "all" {
                    Scenario::ALL.to_vec()
                } else {
                    vec![Scenario::from_name(&v).ok_or(format!("unknown scenario '{v}'"))?]
                };
            }
            "--seed" => {
                let n: u64 = val()?.parse().map_err(|e| format!("--seed: {e}"))?;
                a.seeds = n..n + 1;
                a.single = true;
            }
            "--seeds" => {
                let v = val()?;
                let (x, y) = v.split_once("..").ok_or("--seeds A..B")?;
                let x: u64 = x.parse().map_err(|e| format!("--seeds: {e}"))?;
                let y: u64 = y.parse().map_err(|e| format!("--seeds: {e}"))?;
                a.seeds = x..y.max(x);
                a.single = false;
            }
            "--mutant" => a.mutant = Some(val()?),
            "--trace" => a.trace = true,
            "--nodes" => a.nodes = Some(val()?.parse().map_err(|e| format!("--nodes: {e}"))?),
            "--stop" => a.stop = true,
            "--list" => {
                for s in Scenario::ALL {
                    println!("{s}");
                }
                std::process::exit(0);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument '{arg}'\n{USAGE}")),
        }
    }
    if a.scenarios.is_empty() {
        return Err(USAGE.into());
    }
    if let Some(m) = &a.mutant {
        sluice_sim::parse_mutant(m)?;
    }
    Ok(a)
}

fn describe(r: &RunReport) -> String {
    let s = &r.stats;
    if s.dp.clients > 0 {
        let d = &s.dp;
        return format!(
            "{} seed {}: {} — {} simulated ms, {} events, {} engine calls, {} clients ({} accepted, {} refused), {} server connections, {}/{} bytes up/down, {} requests, {} responses, terminations {:?}, statuses {:?}, {} client resets, {} server resets, {} early closes, {} server DOWN, {} pauses (backlog peak {}), {} splices ({} bytes), peak {} streams, peak {} wake-ups/s, trace {:016x}",
            r.options.scenario,
            r.options.seed,
            match &r.failure {
                None => "ok".to_string(),
                Some(f) => format!("FAIL {f}"),
            },
            r.sim_ms,
            s.events,
            s.engine_calls,
            d.clients,
            d.accepted,
            d.refused,
            d.srv_conns,
            d.bytes_up,
            d.bytes_down,
            d.requests,
            d.responses,
            d.terms,
            d.statuses,
            d.client_resets,
            d.server_resets,
            d.server_closes,
            d.server_down_logs,
            s.pauses,
            s.backlog_peak,
            s.splices,
            s.spliced_bytes,
            d.peak_live_streams,
            s.peak_wakeups_per_s,
            r.trace_hash
        );
    }
    format!(
        "{} seed {}: {} — {} simulated ms, {} events, {} engine calls, {} connects, {} writes, {} faults, {} reloads, {} bytes, {} collisions, {} protocol errors, {} stalls, peak {} wake-ups/s, peak {} attempts/pair/min, converged in {}, trace {:016x}",
        r.options.scenario,
        r.options.seed,
        match &r.failure {
            None => "ok".to_string(),
            Some(f) => format!("FAIL {f}"),
        },
        r.sim_ms,
        s.events,
        s.engine_calls,
        s.connects,
        s.writes,
        s.faults,
        s.reloads,
        s.bytes,
        s.collisions,
        s.proto_errors,
        s.stalls,
        s.peak_wakeups_per_s,
        s.peak_attempts_per_min,
        s.converge_ms.map_or("-".into(), |m| format!("{m} ms")),
        r.trace_hash
    )
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.single {
        let mut failed = false;
        for &sc in &args.scenarios {
            let mut o = RunOptions::new(sc, args.seeds.start);
            o.mutant = args.mutant.clone();
            o.trace = args.trace;
            o.nodes = args.nodes;
            let wall = Instant::now();
            let r = run(&o);
            if let Some(t) = &r.trace {
                print!("{t}");
            }
            let secs = wall.elapsed().as_secs_f64().max(1e-9);
            println!("{}", describe(&r));
            println!(
                "speed: {:.0}x simulated/wall ({:.3} s wall)",
                r.sim_ms as f64 / 1000.0 / secs,
                secs
            );
            if let Some(f) = &r.failure {
                failed = true;
                println!("failure: {f}");
                println!("replay: {}", o.replay_command());
            }
        }
        return if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let mut failed = 0;
    for &sc in &args.scenarios {
        let total = args.seeds.end - args.seeds.start;
        let wall = Instant::now();
        let mut last_draw = Instant::now();
        let mut fails = 0u64;
        let mut base = RunOptions::new(sc, 0);
        base.mutant = args.mutant.clone();
        base.nodes = args.nodes;
        let rep = sweep(&base, args.seeds.clone(), args.stop, |r, rep| {
            if !r.passed() {
                fails += 1;
                eprint!("\r\x1b[K");
                println!("{}", describe(r));
                println!("replay: {}", r.options.replay_command());
            }
            if last_draw.elapsed().as_millis() >= 100 || rep.runs == total {
                last_draw = Instant::now();
                let secs = wall.elapsed().as_secs_f64().max(1e-9);
                let width = 30;
                let filled = (rep.runs * width / total.max(1)) as usize;
                eprint!(
                    "\r{sc} [{}{}] {}/{} seeds, {} failed, {:.1} seeds/s, {:.0}x",
                    "#".repeat(filled),
                    ".".repeat(width as usize - filled),
                    rep.runs,
                    total,
                    fails,
                    rep.runs as f64 / secs,
                    rep.sim_ms as f64 / 1000.0 / secs
                );
                let _ = std::io::stderr().flush();
            }
        });
        let secs = wall.elapsed().as_secs_f64().max(1e-9);
        eprintln!();
        println!(
            "{sc}: {} seeds, {} failed, {:.2} seeds/s, {:.0}x simulated/wall ({:.1} simulated s in {:.2} s); peaks: {} wake-ups/s, {} attempts/pair/min, converged within {} ms",
            rep.runs,
            rep.failures.len(),
            rep.runs as f64 / secs,
            rep.sim_ms as f64 / 1000.0 / secs,
            rep.sim_ms as f64 / 1000.0,
            secs,
            rep.peak_wakeups_per_s,
            rep.peak_attempts_per_min,
            rep.max_converge_ms
        );
        failed += rep.failures.len();
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
