//! The stats socket for the whole process with `nbthread` > 1
//! (docs/threads.md, step 4).
//!
//! HAProxy's threads share their counters (atomics) and their servers and
//! tables, so `show stat` and `show info` read process totals and an admin
//! command changes the one shared state. Sluice's engines share no
//! memory and its stats socket lives on thread 0:
//!
//! * `show stat` / `show info` park the CLI session
//!   ([`CliState::Waiting`]), ask every other thread for its own counters
//!   ([`StatsMsg::Query`]), and merge the answers ([`StatsMsg::Reply`])
//!   with thread 0's, column by column ([`merge_rows`], [`merge_info`]).
//! * A command that changes state runs on thread 0, which answers, then
//!   goes to every other thread ([`StatsMsg::Admin`]), which runs it the
//!   same way, its output and log lines dropped.

use std::collections::VecDeque;

use super::cli::CliState;
use super::stats::Row;
use crate::engine::{Engine, Shared, SharedKind};
use crate::listener::CliLevel;
use crate::sock::Action;
use crate::time::Time;

/// What a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatsWhat {
    /// `show stat`: one row per frontend, server and backend.
    Stat,
    /// `show info`: one row of `Name` -> value.
    Info,
}

/// The stats socket's messages between threads.
#[derive(Clone, Debug)]
pub(crate) enum StatsMsg {
    /// Thread 0 asks every other thread for its counters.
    Query { id: u64, what: StatsWhat },
    /// A thread's counters, to thread 0 (its own connections only).
    Reply { id: u64, rows: Vec<Row> },
    /// A command that changed state on thread 0, for every other thread.
    Admin {
        level: CliLevel,
        words: Vec<String>,
        payload: Option<String>,
    },
}

impl StatsMsg {
    pub(crate) fn to(&self) -> Option<u32> {
        match self {
            StatsMsg::Reply { .. } => Some(0),
            StatsMsg::Query { .. } | StatsMsg::Admin { .. } => None,
        }
    }
}

/// A CLI session waiting for the other threads' counters: what it asked,
/// what came back, and the rest of its line.
#[derive(Debug)]
pub struct CliWait {
    pub(crate) id: u64,
    pub(crate) what: StatsWhat,
    pub(crate) level: CliLevel,
    /// The replies so far (one per other thread when complete).
    pub(crate) replies: Vec<Vec<Row>>,
    /// The commands after this one on the same line.
    pub(crate) rest: VecDeque<Vec<String>>,
    pub(crate) payload: Option<String>,
    pub(crate) quit: bool,
}

/// Whether command `words` is answered for the whole process by asking
/// every thread, and what it asks.
pub(crate) fn asks_threads(words: &[String]) -> Option<StatsWhat> {
    let w: Vec<&str> = words.iter().take(2).map(String::as_str).collect();
    match super::cli_cmds::find_kw(&w)?.cmd {
        super::cli_cmds::Cmd::ShowStat => Some(StatsWhat::Stat),
        super::cli_cmds::Cmd::ShowInfo => Some(StatsWhat::Info),
        _ => None,
    }
}

/// Columns summed over the threads: counters, current values and rates
/// (HAProxy's threads update one shared counter). The module columns
/// (after `-`: TLS, H2, H1) are all counters and summed too.
const SUM: &[&str] = &[
    "qcur",
    "scur",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "lbtot",
    "rate",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "conn_rate",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
];

/// Columns whose process value is the largest thread's (a lower bound of
/// HAProxy's maximum of the shared counter).
const MAX: &[&str] = &[
    "qmax",
    "smax",
    "rate_max",
    "req_rate_max",
    "conn_rate_max",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
];

/// Averages, weighted by each thread's samples.
const AVG: &[&str] = &["qtime", "ctime", "rtime", "ttime"];

/// `show info` lines summed over the threads.
const INFO_SUM: &[&str] = &[
    "Maxconn",
    "Hard_maxconn",
    "CurrConns",
    "CumConns",
    "PoolAlloc_bytes",
    "PoolUsed_bytes",
    "PoolFailed",
    "H2GlitchKills",
];

fn num(row: &Row, k: &str) -> Option<u64> {
    row.get(k).and_then(|v| v.parse::<u64>().ok())
}

/// The samples a row's averages are over (HAProxy's `srv_stats`: requests
/// in HTTP, load-balanced connections otherwise).
fn samples(row: &Row) -> u64 {
    if row.get("mode").is_some_and(|m| m == "http") {
        num(row, "req_tot").unwrap_or(0)
    } else {
        num(row, "lbtot").unwrap_or(0)
    }
}

/// Merges one row of each thread (the same proxy or server on every
/// thread) into the process row: `rows[0]` is thread 0's, whose
/// non-numeric and replicated columns (status, weights, checks) stay.
pub(crate) fn merge_row(rows: &[&Row], module_from: &[&'static str]) -> Row {
    let mut out = rows[0].clone();
    let keys: Vec<&'static str> = out.keys().copied().collect();
    for k in keys {
        // A frontend's or backend's `slim` comes from the global
        // `maxconn`, which is split between the threads: the shares add up.
        let share = k == "slim" && out.get("type").is_some_and(|t| t != "2");
        let summed = SUM.contains(&k) || module_from.contains(&k) || share;
        if summed || MAX.contains(&k) {
            let vals: Option<Vec<u64>> = rows.iter().map(|r| num(r, k)).collect();
            if let Some(v) = vals {
                let m = if summed {
                    v.iter().sum::<u64>()
                } else {
                    v.iter().copied().max().unwrap_or(0)
                };
                out.insert(k, m.to_string());
            }
        } else if AVG.contains(&k) {
            let weighted: Option<Vec<(u64, u64)>> = rows
                .iter()
                .map(|r| Some((num(r, k)?, samples(r))))
                .collect();
            if let Some(w) = weighted {
                let n: u64 = w.iter().map(|x| x.1).sum();
                if n > 0 {
                    let total: u128 = w.iter().map(|&(a, s)| u128::from(a) * u128::from(s)).sum();
                    out.insert(k, (total / u128::from(n)).to_string());
                }
            }
        }
    }
    out
}

/// Merges the `show stat` rows of every thread (`threads[0]`: thread 0).
/// The rows are in the same order on every thread (same configuration,
/// servers added or deleted on no thread); a row that does not match
/// thread 0's (a defect) is left as thread 0's alone.
pub(crate) fn merge_rows(threads: &[Vec<Row>], module_from: &[&'static str]) -> Vec<Row> {
    let Some(first) = threads.first() else {
        return Vec::new();
    };
    let same =
        |a: &Row, b: &Row| a.get("pxname") == b.get("pxname") && a.get("svname") == b.get("svname");
    first
        .iter()
        .enumerate()
        .map(|(i, r0)| {
            let mut rows = vec![r0];
            rows.extend(
                threads[1..]
                    .iter()
                    .filter_map(|t| t.get(i))
                    .filter(|r| same(r0, r)),
            );
            merge_row(&rows, module_from)
        })
        .collect()
}

/// Merges the `show info` of every thread (`threads[0]`: thread 0).
pub(crate) fn merge_info(threads: &[Row]) -> Row {
    let Some(first) = threads.first() else {
        return Row::new();
    };
    let mut out = first.clone();
    for k in INFO_SUM {
        let vals: Option<Vec<u64>> = threads.iter().map(|r| num(r, k)).collect();
        if let Some(v) = vals {
            out.insert(k, v.iter().sum::<u64>().to_string());
        }
    }
    // Jobs: thread 0's (its listeners, peers and connections) and the
    // connections of the others (their listeners are copies of thread 0's).
    if let Some(j) = num(first, "Jobs") {
        let others: u64 = threads[1..]
            .iter()
            .filter_map(|r| num(r, "CurrConns"))
            .sum();
        out.insert("Jobs", (j + others).to_string());
    }
    out
}

impl Engine {
    /// `show stat` / `show info` on thread 0 with other threads: parks
    /// CLI session `session` and asks every other thread.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stats_ask(
        &mut self,
        session: usize,
        level: CliLevel,
        what: StatsWhat,
        rest: VecDeque<Vec<String>>,
        payload: Option<String>,
        quit: bool,
    ) {
        let id = self.stats_query_id;
        self.stats_query_id += 1;
        let s = &mut self.clis[session].1;
        s.state = CliState::Waiting;
        s.wait = Some(Box::new(CliWait {
            id,
            what,
            level,
            replies: Vec::new(),
            rest,
            payload,
            quit,
        }));
        self.shared_out
            .push_back(Shared(SharedKind::Stats(StatsMsg::Query { id, what })));
    }

    /// A stats message from another thread.
    pub(crate) fn stats_on(&mut self, now: Time, msg: StatsMsg) {
        match msg {
            StatsMsg::Query { id, what } => {
                let rows = match what {
                    StatsWhat::Stat => self.stat_rows(now, true),
                    StatsWhat::Info => vec![self.info_row(now)],
                };
                self.shared_out
                    .push_back(Shared(SharedKind::Stats(StatsMsg::Reply { id, rows })));
            }
            StatsMsg::Reply { id, rows } => self.stats_reply(now, id, rows),
            StatsMsg::Admin {
                level,
                words,
                payload,
            } => {
                // Thread 0 logged the command's consequences; this
                // thread's copy of them would log them once more.
                let before = self.actions.len();
                let _ = self.cli_execute(now, level, &words, payload.as_deref());
                let tail: Vec<Action> = self
                    .actions
                    .drain(before..)
                    .filter(|a| !matches!(a, Action::Log(_)))
                    .collect();
                self.actions.extend(tail);
            }
        }
    }

    fn stats_reply(&mut self, now: Time, id: u64, rows: Vec<Row>) {
        let others = self.opts.nbthread.saturating_sub(1) as usize;
        let Some(session) = self
            .clis
            .iter()
            .find(|(_, (_, s))| s.wait.as_ref().is_some_and(|w| w.id == id))
            .map(|(k, _)| k)
        else {
            return; // the session closed meanwhile
        };
        let s = &mut self.clis[session].1;
        let Some(w) = s.wait.as_mut() else {
            return;
        };
        w.replies.push(rows);
        if w.replies.len() < others {
            return;
        }
        let w = s.wait.take().expect("waiting");
        let text = match w.what {
            StatsWhat::Stat => {
                let mut threads = vec![self.stat_rows(now, true)];
                threads.extend(w.replies);
                let merged = merge_rows(&threads, super::stats::module_columns());
                super::stats::render_csv(&merged)
            }
            StatsWhat::Info => {
                let lines = self.info_lines(now);
                let order: Vec<&'static str> = lines.iter().map(|l| l.0).collect();
                let mut threads = vec![lines.into_iter().collect()];
                threads.extend(w.replies.into_iter().filter_map(|r| r.into_iter().next()));
                super::stats::render_info(&order, &merge_info(&threads))
            }
        };
        let s = &mut self.clis[session].1;
        s.state = CliState::Reading;
        s.write_str(&text);
        if !s.interactive {
            s.write_str("\n");
        }
        self.cli_commands(now, session, w.level, w.rest, w.payload, w.quit);
        self.cli_run(now, session, w.level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kv: &[(&'static str, &str)]) -> Row {
        kv.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn counters_add_maxima_max_averages_weigh() {
        let a = row(&[
            ("pxname", "be"),
            ("svname", "s1"),
            ("mode", "http"),
            ("scur", "2"),
            ("smax", "5"),
            ("stot", "10"),
            ("req_tot", "10"),
            ("ttime", "100"),
            ("status", "UP"),
            ("h1_bytes_in", "7"),
        ]);
        let b = row(&[
            ("pxname", "be"),
            ("svname", "s1"),
            ("mode", "http"),
            ("scur", "1"),
            ("smax", "9"),
            ("stot", "30"),
            ("req_tot", "30"),
            ("ttime", "200"),
            ("status", "DOWN"),
            ("h1_bytes_in", "3"),
        ]);
        let m = merge_rows(&[vec![a], vec![b]], &["h1_bytes_in"]);
        let m = &m[0];
        assert_eq!(m["scur"], "3");
        assert_eq!(m["smax"], "9");
        assert_eq!(m["stot"], "40");
        assert_eq!(m["req_tot"], "40");
        assert_eq!(m["ttime"], "175");
        assert_eq!(m["status"], "UP");
        assert_eq!(m["h1_bytes_in"], "10");
    }

    #[test]
    fn a_row_that_does_not_match_stays_thread_0s() {
        let a = row(&[("pxname", "be"), ("svname", "s1"), ("stot", "1")]);
        let b = row(&[("pxname", "be"), ("svname", "s2"), ("stot", "5")]);
        assert_eq!(merge_rows(&[vec![a], vec![b]], &[])[0]["stot"], "1");
    }

    #[test]
    fn info_sums_connections_and_counts_jobs_once_per_listener() {
        let a = row(&[
            ("Nbthread", "2"),
            ("CurrConns", "3"),
            ("CumConns", "10"),
            ("Jobs", "5"),
            ("Maxconn", "50"),
        ]);
        let b = row(&[
            ("Nbthread", "2"),
            ("CurrConns", "4"),
            ("CumConns", "20"),
            ("Jobs", "6"),
            ("Maxconn", "50"),
        ]);
        let m = merge_info(&[a, b]);
        assert_eq!(m["CurrConns"], "7");
        assert_eq!(m["CumConns"], "30");
        assert_eq!(m["Jobs"], "9");
        assert_eq!(m["Maxconn"], "100");
        assert_eq!(m["Nbthread"], "2");
    }
}
