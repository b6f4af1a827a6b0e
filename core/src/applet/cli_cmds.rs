//! The stats socket commands (HAProxy's `cli_kws` for tables and peers:
//! `stick_table.c`'s `show/set/clear table`, `peers.c`'s `show peers`).
//!
//! Output follows HAProxy 2.6 closely enough that the same socat-based
//! script reads both; where an address would be printed, Sluice prints a
//! stable id instead.

use core::fmt::Write as _;

use crate::conn::cafile::CafileKind;
use crate::engine::{CliLevel, Engine};
use crate::peers::section::{status_name, Delay, PeersSection, SessState};
use crate::stick_table::{DataType, EntryId, StKey, StickTable};
use crate::time::{fmt_date, Time};

/// What a CLI command does (the `parse` and `io_handler` of HAProxy's
/// `cli_kw` entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmd {
    AbortSslCert,
    /// `new ssl cert`, `del ssl cert` (HAProxy's ckch store) and `show`,
    /// `add`, `del ssl crt-list` (`cli_crtlist.rs`).
    NewSslCert,
    DelSslCert,
    ShowSslCrtList,
    AddSslCrtList,
    DelSslCrtList,
    /// `new`, `set`, `commit`, `abort`, `del`, `show ssl ca-file` /
    /// `crl-file` (HAProxy's `cafile_tree` commands, `ssl_ckch.c`).
    NewSslCa(CafileKind),
    SetSslCa(CafileKind),
    CommitSslCa(CafileKind),
    AbortSslCa(CafileKind),
    DelSslCa(CafileKind),
    ShowSslCa(CafileKind),
    AddAcl,
    AddMap,
    ClearAcl,
    ClearMap,
    DelAcl,
    DelMap,
    GetAcl,
    GetMap,
    GetVar,
    SetMap,
    ShowAcl,
    ShowMap,
    AddServer,
    DelServer,
    DisableAgent,
    DisableHealth,
    EnableAgent,
    EnableHealth,
    ShowBackend,
    ShowServersState,
    ShowSess,
    ShowErrors,
    ShutdownSession,
    ShutdownSessionsServer,
    ClearTable,
    CommitSslCert,
    DisableServer,
    EnableServer,
    GetWeight,
    SetServer,
    SetSslCert,
    SetSslOcspResponse,
    SetSslTlsKey,
    SetTable,
    SetWeight,
    ShowInfo,
    ShowSslCert,
    ShowSslOcspResponse,
    ShowTlsKeys,
    ShowPeers,
    ShowResolvers,
    ShowStat,
    ShowTable,
    Help,
    Prompt,
    Quit,
}

impl Cmd {
    /// With `nbthread` above 1, the command is refused: it could succeed
    /// on one thread and fail on another (a server's streams are per
    /// thread), leaving the threads different (docs/threads.md).
    pub(crate) fn refused_with_threads(self) -> bool {
        matches!(self, Cmd::AddServer | Cmd::DelServer)
    }

    /// With `nbthread` above 1, the command runs on thread 0 only: its
    /// change reaches the other threads as any change of its kind does
    /// (`set table`: the table journal, stick_table/threads.rs).
    pub(crate) fn thread_0_only(self) -> bool {
        matches!(self, Cmd::SetTable)
    }

    /// The command changes state that every thread holds a copy of
    /// (servers, tables, certificates): with `nbthread` above 1 thread 0
    /// runs it, then every other thread (docs/threads.md). `shutdown
    /// session` acts on a session `show sess` listed, which is thread 0's
    /// as the CLI is: it stays.
    pub(crate) fn changes_state(self) -> bool {
        use Cmd::*;
        match self {
            AbortSslCert
            | NewSslCert
            | DelSslCert
            | AddSslCrtList
            | DelSslCrtList
            | NewSslCa(_)
            | SetSslCa(_)
            | CommitSslCa(_)
            | AbortSslCa(_)
            | DelSslCa(_)
            | AddAcl
            | AddMap
            | ClearAcl
            | ClearMap
            | DelAcl
            | DelMap
            | SetMap
            | AddServer
            | DelServer
            | DisableAgent
            | DisableHealth
            | EnableAgent
            | EnableHealth
            | ShutdownSessionsServer
            | ClearTable
            | CommitSslCert
            | DisableServer
            | EnableServer
            | SetServer
            | SetSslCert
            | SetSslOcspResponse
            | SetSslTlsKey
            | SetTable
            | SetWeight => true,
            ShowSslCa(_) | ShowSslCrtList | GetAcl | GetMap | GetVar | ShowAcl | ShowMap
            | ShowBackend | ShowServersState | ShowSess | ShowErrors | ShutdownSession
            | GetWeight | ShowInfo | ShowSslCert | ShowSslOcspResponse | ShowTlsKeys
            | ShowPeers | ShowResolvers | ShowStat | ShowTable | Help | Prompt | Quit => false,
        }
    }
}

/// One CLI command, as HAProxy's `struct cli_kw`: the words that select
/// it, its usage and its help text. The dispatcher and `help` both read
/// [`CLI_KWS`], so `help` lists every command that exists and nothing else.
pub(crate) struct CliKw {
    pub words: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    pub cmd: Cmd,
}

/// Every command, in the order `help` lists them (HAProxy's: by name, with
/// `help`, `prompt` and `quit` last).
pub(crate) const CLI_KWS: &[CliKw] = &[
    CliKw {
        words: &["abort", "ssl", "ca-file"],
        usage: "abort ssl ca-file <cafile>",
        help: "abort a transaction for a CA file",
        cmd: Cmd::AbortSslCa(CafileKind::Cert),
    },
    CliKw {
        words: &["abort", "ssl", "cert"],
        usage: "abort ssl cert <certfile>",
        help: "abort a transaction for a certificate file",
        cmd: Cmd::AbortSslCert,
    },
    CliKw {
        words: &["abort", "ssl", "crl-file"],
        usage: "abort ssl crl-file <crlfile>",
        help: "abort a transaction for a CRL file",
        cmd: Cmd::AbortSslCa(CafileKind::Crl),
    },
    CliKw {
        words: &["add", "acl"],
        usage: "add acl [@<ver>] <acl> <pattern>",
        help: "add an acl entry",
        cmd: Cmd::AddAcl,
    },
    CliKw {
        words: &["add", "map"],
        usage: "add map [@<ver>] <map> <key> <val>",
        help: "add a map entry (payload supported instead of key/val)",
        cmd: Cmd::AddMap,
    },
    CliKw {
        words: &["add", "server"],
        usage: "add server <bk>/<srv>",
        help: "create a new server",
        cmd: Cmd::AddServer,
    },
    CliKw {
        words: &["add", "ssl", "crt-list"],
        usage: "add ssl crt-list <list> <cert> [opts]*",
        help: "add to crt-list file <list> a line <cert> or a payload",
        cmd: Cmd::AddSslCrtList,
    },
    CliKw {
        words: &["clear", "acl"],
        usage: "clear acl [@<ver>] <acl>",
        help: "clear the contents of this acl",
        cmd: Cmd::ClearAcl,
    },
    CliKw {
        words: &["clear", "map"],
        usage: "clear map [@<ver>] <map>",
        help: "clear the contents of this map",
        cmd: Cmd::ClearMap,
    },
    CliKw {
        words: &["clear", "table"],
        usage: "clear table <table> [<filter>]*",
        help: "remove an entry from a table (filter: data/key)",
        cmd: Cmd::ClearTable,
    },
    CliKw {
        words: &["commit", "ssl", "ca-file"],
        usage: "commit ssl ca-file <cafile>",
        help: "commit a CA file",
        cmd: Cmd::CommitSslCa(CafileKind::Cert),
    },
    CliKw {
        words: &["commit", "ssl", "cert"],
        usage: "commit ssl cert <certfile>",
        help: "commit a certificate file",
        cmd: Cmd::CommitSslCert,
    },
    CliKw {
        words: &["commit", "ssl", "crl-file"],
        usage: "commit ssl crl-file <crlfile>",
        help: "commit a CRL file",
        cmd: Cmd::CommitSslCa(CafileKind::Crl),
    },
    CliKw {
        words: &["del", "acl"],
        usage: "del acl <acl> [<key>|#<ref>]",
        help: "delete acl entries matching <key>",
        cmd: Cmd::DelAcl,
    },
    CliKw {
        words: &["del", "map"],
        usage: "del map <map> [<key>|#<ref>]",
        help: "delete map entries matching <key>",
        cmd: Cmd::DelMap,
    },
    CliKw {
        words: &["del", "server"],
        usage: "del server <bk>/<srv>",
        help: "remove a dynamically added server",
        cmd: Cmd::DelServer,
    },
    CliKw {
        words: &["del", "ssl", "ca-file"],
        usage: "del ssl ca-file <cafile>",
        help: "delete an unused CA file",
        cmd: Cmd::DelSslCa(CafileKind::Cert),
    },
    CliKw {
        words: &["del", "ssl", "cert"],
        usage: "del ssl cert <certfile>",
        help: "delete an unused certificate file",
        cmd: Cmd::DelSslCert,
    },
    CliKw {
        words: &["del", "ssl", "crl-file"],
        usage: "del ssl crl-file <crlfile>",
        help: "delete an unused CRL file",
        cmd: Cmd::DelSslCa(CafileKind::Crl),
    },
    CliKw {
        words: &["del", "ssl", "crt-list"],
        usage: "del ssl crt-list <list> <cert[:line]>",
        help: "delete a line <cert> from crt-list file <list>",
        cmd: Cmd::DelSslCrtList,
    },
    CliKw {
        words: &["disable", "agent"],
        usage: "disable agent",
        help: "disable agent checks",
        cmd: Cmd::DisableAgent,
    },
    CliKw {
        words: &["disable", "health"],
        usage: "disable health",
        help: "disable health checks",
        cmd: Cmd::DisableHealth,
    },
    CliKw {
        words: &["disable", "server"],
        usage: "disable server (DEPRECATED)",
        help: "disable a server for maintenance (use 'set server' instead)",
        cmd: Cmd::DisableServer,
    },
    CliKw {
        words: &["enable", "agent"],
        usage: "enable agent",
        help: "enable agent checks",
        cmd: Cmd::EnableAgent,
    },
    CliKw {
        words: &["enable", "health"],
        usage: "enable health",
        help: "enable health checks",
        cmd: Cmd::EnableHealth,
    },
    CliKw {
        words: &["enable", "server"],
        usage: "enable server  (DEPRECATED)",
        help: "enable a disabled server (use 'set server' instead)",
        cmd: Cmd::EnableServer,
    },
    CliKw {
        words: &["get", "acl"],
        usage: "get acl <acl> <value>",
        help: "report the patterns matching a sample for an ACL",
        cmd: Cmd::GetAcl,
    },
    CliKw {
        words: &["get", "map"],
        usage: "get map <acl> <value>",
        help: "report the keys and values matching a sample for a map",
        cmd: Cmd::GetMap,
    },
    CliKw {
        words: &["get", "var"],
        usage: "get var <name>",
        help: "retrieve contents of a process-wide variable",
        cmd: Cmd::GetVar,
    },
    CliKw {
        words: &["get", "weight"],
        usage: "get weight <bk>/<srv>",
        help: "report a server's current weight",
        cmd: Cmd::GetWeight,
    },
    CliKw {
        words: &["new", "ssl", "ca-file"],
        usage: "new ssl ca-file <cafile>",
        help: "create a new CA file to be used in a crt-list",
        cmd: Cmd::NewSslCa(CafileKind::Cert),
    },
    CliKw {
        words: &["new", "ssl", "cert"],
        usage: "new ssl cert <certfile>",
        help: "create a new certificate file to be used in a crt-list or a directory",
        cmd: Cmd::NewSslCert,
    },
    CliKw {
        words: &["new", "ssl", "crl-file"],
        usage: "new ssl crlfile <crlfile>",
        help: "create a new CRL file to be used in a crt-list",
        cmd: Cmd::NewSslCa(CafileKind::Crl),
    },
    CliKw {
        words: &["set", "map"],
        usage: "set map <map> [<key>|#<ref>] <value>",
        help: "modify a map entry",
        cmd: Cmd::SetMap,
    },
    CliKw {
        words: &["set", "server"],
        usage: "set server <bk>/<srv> state|weight|fqdn <v>",
        help: "change a server's state (ready, drain, maint) or weight",
        cmd: Cmd::SetServer,
    },
    CliKw {
        words: &["set", "ssl", "ca-file"],
        usage: "set ssl ca-file <cafile> <payload>",
        help: "replace a CA file",
        cmd: Cmd::SetSslCa(CafileKind::Cert),
    },
    CliKw {
        words: &["set", "ssl", "cert"],
        usage: "set ssl cert <certfile> <payload>",
        help: "replace a certificate file",
        cmd: Cmd::SetSslCert,
    },
    CliKw {
        words: &["set", "ssl", "crl-file"],
        usage: "set ssl crl-file <crlfile> <payload>",
        help: "replace a CRL file",
        cmd: Cmd::SetSslCa(CafileKind::Crl),
    },
    CliKw {
        words: &["set", "ssl", "ocsp-response"],
        usage: "set ssl ocsp-response <resp|payload>",
        help: "update a certificate's OCSP Response from a base64-encode DER",
        cmd: Cmd::SetSslOcspResponse,
    },
    CliKw {
        words: &["set", "ssl", "tls-key"],
        usage: "set ssl tls-key [id|file] <key>",
        help: "set the next TLS key for the <id> or <file> listener to <key>",
        cmd: Cmd::SetSslTlsKey,
    },
    CliKw {
        words: &["set", "table"],
        usage: "set table <table> key <k> [data.* <v>]*",
        help: "update or create a table entry's data",
        cmd: Cmd::SetTable,
    },
    CliKw {
        words: &["set", "weight"],
        usage: "set weight <bk>/<srv>  (DEPRECATED)",
        help: "change a server's weight (use 'set server' instead)",
        cmd: Cmd::SetWeight,
    },
    CliKw {
        words: &["show", "acl"],
        usage: "show acl [@<ver>] <acl>]",
        help: "report available acls or dump an acl's contents",
        cmd: Cmd::ShowAcl,
    },
    CliKw {
        words: &["show", "backend"],
        usage: "show backend",
        help: "list backends in the current running config",
        cmd: Cmd::ShowBackend,
    },
    CliKw {
        words: &["show", "errors"],
        usage: "show errors [<px>] [request|response]",
        help: "report last request and/or response errors for each proxy",
        cmd: Cmd::ShowErrors,
    },
    CliKw {
        words: &["show", "info"],
        usage: "show info",
        help: "report information about the running process",
        cmd: Cmd::ShowInfo,
    },
    CliKw {
        words: &["show", "map"],
        usage: "show map [@ver] [map]",
        help: "report available maps or dump a map's contents",
        cmd: Cmd::ShowMap,
    },
    CliKw {
        words: &["show", "peers"],
        usage: "show peers [<peers section>]",
        help: "dump some information about all the peers or this peers section",
        cmd: Cmd::ShowPeers,
    },
    CliKw {
        words: &["show", "resolvers"],
        usage: "show resolvers [id]",
        help: "dumps counters from all resolvers section and associated name servers",
        cmd: Cmd::ShowResolvers,
    },
    CliKw {
        words: &["show", "servers", "state"],
        usage: "show servers state [<backend>]",
        help: "dump volatile server information (all or for a single backend)",
        cmd: Cmd::ShowServersState,
    },
    CliKw {
        words: &["show", "sess"],
        usage: "show sess [id]",
        help: "report the list of current sessions or dump this exact session",
        cmd: Cmd::ShowSess,
    },
    CliKw {
        words: &["show", "ssl", "ca-file"],
        usage: "show ssl ca-file [<cafile>[:<index>]]",
        help: "display the SSL CA files used in memory, or the details of a <cafile>, or a single certificate of index <index> of a CA file <cafile>",
        cmd: Cmd::ShowSslCa(CafileKind::Cert),
    },
    CliKw {
        words: &["show", "ssl", "cert"],
        usage: "show ssl cert [<certfile>]",
        help: "display the SSL certificates used in memory, or the details of a file",
        cmd: Cmd::ShowSslCert,
    },
    CliKw {
        words: &["show", "ssl", "crl-file"],
        usage: "show ssl crl-file [<crlfile[:<index>>]]",
        help: "display the SSL CRL files used in memory, or the details of a <crlfile>, or a single CRL of index <index> of CRL file <crlfile>",
        cmd: Cmd::ShowSslCa(CafileKind::Crl),
    },
    CliKw {
        words: &["show", "ssl", "crt-list"],
        usage: "show ssl crt-list [-n] [<list>]",
        help: "show the list of crt-lists or the content of a crt-list file <list>",
        cmd: Cmd::ShowSslCrtList,
    },
    CliKw {
        words: &["show", "ssl", "ocsp-response"],
        usage: "show ssl ocsp-response [id]",
        help: "display the IDs of the OCSP responses used in memory, or the details of a single OCSP response",
        cmd: Cmd::ShowSslOcspResponse,
    },
    CliKw {
        words: &["show", "stat"],
        usage: "show stat",
        help: "report counters for each proxy and server",
        cmd: Cmd::ShowStat,
    },
    CliKw {
        words: &["show", "table"],
        usage: "show table <table> [<filter>]*",
        help: "report table usage stats or dump this table's contents (filter: data/key)",
        cmd: Cmd::ShowTable,
    },
    CliKw {
        words: &["show", "tls-keys"],
        usage: "show tls-keys [id|*]",
        help: "show tls keys references or dump tls ticket keys when id specified",
        cmd: Cmd::ShowTlsKeys,
    },
    CliKw {
        words: &["shutdown", "session"],
        usage: "shutdown session [id]",
        help: "kill a specific session",
        cmd: Cmd::ShutdownSession,
    },
    CliKw {
        words: &["shutdown", "sessions", "server"],
        usage: "shutdown sessions server <bk>/<srv>",
        help: "kill sessions on a server",
        cmd: Cmd::ShutdownSessionsServer,
    },
    CliKw {
        words: &["help"],
        usage: "help [<command>]",
        help: "list matching or all commands",
        cmd: Cmd::Help,
    },
    CliKw {
        words: &["prompt"],
        usage: "prompt",
        help: "toggle interactive mode with prompt",
        cmd: Cmd::Prompt,
    },
    CliKw {
        words: &["quit"],
        usage: "quit",
        help: "disconnect",
        cmd: Cmd::Quit,
    },
];

/// The first line of `help`.
pub(crate) const HELP_HEADER: &str = "The following commands are valid at this level:\n";
/// The first line of the answer to an unknown (or empty) command.
pub(crate) const UNKNOWN_HEADER: &str =
    "Unknown command. Please enter one of the following commands only:\n";

/// The command `words` select: the entry with the longest matching prefix.
pub(crate) fn find_kw(words: &[&str]) -> Option<&'static CliKw> {
    CLI_KWS
        .iter()
        .filter(|k| words.len() >= k.words.len() && words[..k.words.len()] == *k.words)
        .max_by_key(|k| k.words.len())
}

/// A `data.<type> <op> <value>` filter (`show table`, `clear table`).
struct DataFilter {
    data_type: DataType,
    op: Op,
    value: i64,
}

#[derive(Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "le" => Op::Le,
            "lt" => Op::Lt,
            "ge" => Op::Ge,
            "gt" => Op::Gt,
            _ => return None,
        })
    }

    fn test(self, a: i64, b: i64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Le => a <= b,
            Op::Lt => a < b,
            Op::Ge => a >= b,
            Op::Gt => a > b,
        }
    }
}

/// What `show table <t>` / `clear table <t>` select: one key, or entries
/// matching every data filter.
enum Selection {
    Key(StKey),
    Filters(Vec<DataFilter>),
}

/// The command list after `header`, one `  <usage>: <help>` line each in
/// HAProxy's layout; with `filter` (the words after `help`), only the
/// commands starting with those words, or all when none does.
fn help_text(header: &str, filter: &[&str]) -> String {
    let starts = |k: &CliKw| {
        filter
            .iter()
            .zip(k.words.iter().chain(core::iter::repeat(&"")))
            .all(|(f, w)| w.starts_with(f))
    };
    let any = CLI_KWS.iter().any(starts);
    let mut s = String::from(header);
    for k in CLI_KWS.iter().filter(|k| !any || starts(k)) {
        let _ = writeln!(s, "  {:<40}: {}", k.usage, k.help);
    }
    s
}

fn parse_i64(s: &str) -> Option<i64> {
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<u64>().ok().map(|v| v as i64))
}

/// `data.<type>` -> the type.
fn data_type_arg(s: &str) -> Option<DataType> {
    DataType::from_name(s.strip_prefix("data.")?)
}

impl Engine {
    /// Executes one command; returns its output and whether it was known.
    /// `payload`: the lines after a request line ending in `<<`, up to an
    /// empty line (HAProxy's CLI payload).
    pub(crate) fn cli_execute(
        &mut self,
        now: Time,
        level: CliLevel,
        words: &[String],
        payload: Option<&str>,
    ) -> (String, bool) {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let Some(kw) = find_kw(&w) else {
            return (help_text(UNKNOWN_HEADER, &[]), false);
        };
        let rest = &w[kw.words.len()..];
        let denied = || "Permission denied\n".to_string();
        if self.opts.nbthread > 1 && kw.cmd.refused_with_threads() {
            return (
                format!(
                    "'{}' is not supported with nbthread {} yet: it could succeed on one thread and fail on another (issue 13).\n",
                    kw.words.join(" "),
                    self.opts.nbthread
                ),
                true,
            );
        }
        if self.opts.nbthread > 1
            && self.opts.thread == 0
            && kw.cmd.changes_state()
            && !kw.cmd.thread_0_only()
        {
            // The stats socket lives on thread 0: every other thread runs
            // the command after it (stats_threads.rs).
            self.shared_out
                .push_back(crate::engine::Shared(crate::engine::SharedKind::Stats(
                    super::stats_threads::StatsMsg::Admin {
                        level,
                        words: words.to_vec(),
                        payload: payload.map(str::to_string),
                    },
                )));
        }
        use super::cli_map::Which;
        let out = match kw.cmd {
            Cmd::Help => help_text(HELP_HEADER, rest),
            Cmd::ShowMap => self.cli_show_pat(Which::Map, rest),
            Cmd::ShowAcl => self.cli_show_pat(Which::Acl, rest),
            Cmd::GetMap => self.cli_get_pat(Which::Map, rest),
            Cmd::GetAcl => self.cli_get_pat(Which::Acl, rest),
            Cmd::AddMap if level >= CliLevel::Admin => self.cli_add_pat(Which::Map, rest, payload),
            Cmd::AddAcl if level >= CliLevel::Admin => self.cli_add_pat(Which::Acl, rest, payload),
            Cmd::SetMap if level >= CliLevel::Admin => self.cli_set_map(rest),
            Cmd::DelMap if level >= CliLevel::Admin => self.cli_del_pat(Which::Map, rest),
            Cmd::DelAcl if level >= CliLevel::Admin => self.cli_del_pat(Which::Acl, rest),
            Cmd::ClearMap if level >= CliLevel::Admin => self.cli_clear_pat(Which::Map, rest),
            Cmd::ClearAcl if level >= CliLevel::Admin => self.cli_clear_pat(Which::Acl, rest),
            Cmd::AddMap
            | Cmd::AddAcl
            | Cmd::SetMap
            | Cmd::DelMap
            | Cmd::DelAcl
            | Cmd::ClearMap
            | Cmd::ClearAcl => denied(),
            // Handled by the session (`cli_line`); nothing to print.
            Cmd::Prompt | Cmd::Quit => String::new(),
            Cmd::ShowTable => match rest {
                [] => self.cli_show_tables(),
                [name, rest @ ..] => self.cli_show_table(now, name, rest),
            },
            Cmd::SetTable if level >= CliLevel::Admin => self.cli_set_table(now, rest),
            Cmd::ClearTable if level >= CliLevel::Operator => self.cli_clear_table(now, rest),
            Cmd::SetTable | Cmd::ClearTable => denied(),
            Cmd::ShowPeers => self.cli_show_peers(now, rest.first().copied()),
            Cmd::ShowStat => self.cli_show_stat(now),
            Cmd::ShowInfo => self.cli_show_info(now),
            Cmd::ShowSslCert => self.cli_show_ssl_cert(rest.first().copied()),
            Cmd::SetSslCert if level >= CliLevel::Admin => {
                self.cli_set_ssl_cert(rest.first().copied(), payload)
            }
            Cmd::CommitSslCert if level >= CliLevel::Admin => {
                self.cli_commit_ssl_cert(rest.first().copied())
            }
            Cmd::AbortSslCert if level >= CliLevel::Admin => {
                self.cli_abort_ssl_cert(rest.first().copied())
            }
            Cmd::ShowSslCa(k) if level >= CliLevel::Operator => {
                self.cli_show_ssl_ca(k, rest.first().copied())
            }
            Cmd::ShowSslCa(_) => denied(),
            Cmd::NewSslCert if level >= CliLevel::Admin => {
                self.cli_new_ssl_cert(rest.first().copied())
            }
            Cmd::DelSslCert if level >= CliLevel::Admin => {
                self.cli_del_ssl_cert(rest.first().copied())
            }
            Cmd::ShowSslCrtList if level >= CliLevel::Admin => self.cli_show_ssl_crtlist(rest),
            Cmd::AddSslCrtList if level >= CliLevel::Admin => {
                self.cli_add_ssl_crtlist(rest, payload)
            }
            Cmd::DelSslCrtList if level >= CliLevel::Admin => self.cli_del_ssl_crtlist(rest),
            Cmd::NewSslCert
            | Cmd::DelSslCert
            | Cmd::ShowSslCrtList
            | Cmd::AddSslCrtList
            | Cmd::DelSslCrtList => denied(),
            Cmd::NewSslCa(k) if level >= CliLevel::Admin => {
                self.cli_new_ssl_ca(k, rest.first().copied())
            }
            Cmd::SetSslCa(k) if level >= CliLevel::Admin => {
                self.cli_set_ssl_ca(k, rest.first().copied(), payload)
            }
            Cmd::CommitSslCa(k) if level >= CliLevel::Admin => {
                self.cli_commit_ssl_ca(k, rest.first().copied())
            }
            Cmd::AbortSslCa(k) if level >= CliLevel::Admin => {
                self.cli_abort_ssl_ca(k, rest.first().copied())
            }
            Cmd::DelSslCa(k) if level >= CliLevel::Admin => {
                self.cli_del_ssl_ca(k, rest.first().copied())
            }
            Cmd::NewSslCa(_)
            | Cmd::SetSslCa(_)
            | Cmd::CommitSslCa(_)
            | Cmd::AbortSslCa(_)
            | Cmd::DelSslCa(_) => denied(),
            Cmd::ShowSslOcspResponse => self.cli_show_ssl_ocsp(rest.first().copied()),
            Cmd::SetSslOcspResponse if level >= CliLevel::Admin => {
                self.cli_set_ssl_ocsp(now, rest.first().copied().or(payload))
            }
            Cmd::ShowTlsKeys => self.cli_show_tls_keys(rest.first().copied()),
            Cmd::SetSslTlsKey if level >= CliLevel::Admin => self.cli_set_tls_key(rest),
            Cmd::SetSslCert
            | Cmd::CommitSslCert
            | Cmd::AbortSslCert
            | Cmd::SetSslOcspResponse
            | Cmd::SetSslTlsKey => denied(),
            Cmd::GetWeight => self.cli_server_admin(now, &w),
            Cmd::GetVar => self.cli_get_var(rest.first().copied()),
            Cmd::DisableServer | Cmd::EnableServer | Cmd::SetServer | Cmd::SetWeight
                if level >= CliLevel::Admin =>
            {
                self.cli_server_admin(now, &w)
            }
            Cmd::DisableServer | Cmd::EnableServer | Cmd::SetServer | Cmd::SetWeight => denied(),
            Cmd::ShowBackend => self.cli_show_backend(),
            Cmd::ShowServersState => self.cli_show_servers_state(now, rest.first().copied()),
            Cmd::ShowResolvers => self.cli_show_resolvers(rest.first().copied()),
            Cmd::ShowSess => self.cli_show_sess(now, rest.first().copied()),
            Cmd::ShowErrors if level >= CliLevel::Operator => self.cli_show_errors(rest),
            Cmd::ShowErrors => denied(),
            Cmd::AddServer if level >= CliLevel::Admin => self.cli_add_server(now, rest),
            Cmd::DelServer if level >= CliLevel::Admin => self.cli_del_server(rest),
            Cmd::EnableHealth if level >= CliLevel::Admin => self.cli_health(rest, true),
            Cmd::DisableHealth if level >= CliLevel::Admin => self.cli_health(rest, false),
            Cmd::EnableAgent if level >= CliLevel::Admin => self.cli_agent(rest, true),
            Cmd::DisableAgent if level >= CliLevel::Admin => self.cli_agent(rest, false),
            Cmd::ShutdownSession if level >= CliLevel::Admin => {
                self.cli_shutdown_session(now, rest.first().copied())
            }
            Cmd::ShutdownSessionsServer if level >= CliLevel::Admin => {
                self.cli_shutdown_sessions_server(now, rest.first().copied())
            }
            Cmd::AddServer
            | Cmd::DelServer
            | Cmd::EnableHealth
            | Cmd::DisableHealth
            | Cmd::EnableAgent
            | Cmd::DisableAgent
            | Cmd::ShutdownSession
            | Cmd::ShutdownSessionsServer => denied(),
        };
        (out, true)
    }

    fn table_index(&self, name: &str) -> Option<crate::stick_table::TableId> {
        self.tables.by_name(name)
    }

    /// `show table`: one header line per table.
    fn cli_show_tables(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            let _ = writeln!(s, "{}", t.dump_header());
        }
        s
    }

    /// Parses `[key K] | [data.<type> <op> <value>]*`.
    fn parse_selection(table: &StickTable, args: &[&str]) -> Result<Selection, String> {
        match args {
            ["key", k] => StKey::parse(table.params(), k)
                .or_else(|_| StKey::parse_hex(table.params(), k))
                .map(Selection::Key)
                .map_err(|e| format!("Invalid key: {e}.\n")),
            ["key", ..] => Err("Key value expected\n".into()),
            _ => {
                let mut filters = Vec::new();
                for chunk in args.chunks(3) {
                    let [dt, op, v] = chunk else {
                        return Err("Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n".into());
                    };
                    let data_type = data_type_arg(dt).ok_or("Unknown data type\n")?;
                    if table.layout().slot(data_type).is_none() {
                        return Err("Data type not stored in this table\n".into());
                    }
                    let op = Op::parse(op).ok_or("Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n")?;
                    let value =
                        parse_i64(v).ok_or("Require a valid integer value to compare against\n")?;
                    filters.push(DataFilter {
                        data_type,
                        op,
                        value,
                    });
                }
                Ok(Selection::Filters(filters))
            }
        }
    }

    fn selected(table: &StickTable, now: Time, id: EntryId, filters: &[DataFilter]) -> bool {
        filters.iter().all(|f| {
            table
                .read_value(now, id, f.data_type, 0)
                .is_ok_and(|v| f.op.test(v, f.value))
        })
    }

    /// `show table <name> [key K | data filters]`.
    fn cli_show_table(&self, now: Time, name: &str, args: &[&str]) -> String {
        let Some(ti) = self.table_index(name) else {
            return "No such table\n".into();
        };
        let table = &self.tables[ti];
        let sel = match Self::parse_selection(table, args) {
            Ok(sel) => sel,
            Err(e) => return e,
        };
        let ids: Vec<EntryId> = match &sel {
            // HAProxy prints nothing at all, not even the header, for a
            // key that is not in the table.
            Selection::Key(k) => match table.lookup(k) {
                Some(id) => vec![id],
                None => return String::new(),
            },
            Selection::Filters(f) => table
                .iter()
                .map(|(_, id)| id)
                .filter(|&id| Self::selected(table, now, id, f))
                .collect(),
        };
        let mut s = table.dump_header();
        s.push('\n');
        for id in ids {
            if let Some(line) = table.dump_entry(now, id) {
                let _ = writeln!(
                    s,
                    "{:#x}: {line}",
                    0x5500_0000_0000u64
                        + u64::from(ti.0) * 0x1_0000_0000
                        + id.as_u64() % 0x1_0000_0000 * 16
                );
            }
        }
        s
    }

    /// `set table <name> key <k> [data.<type> <value>]*`.
    fn cli_set_table(&mut self, now: Time, args: &[&str]) -> String {
        let [name, rest @ ..] = args else {
            return "'set table' expects a table name\n".into();
        };
        let Some(ti) = self.table_index(name) else {
            return "No such table\n".into();
        };
        let table = &mut self.tables[ti];
        let key = match rest {
            ["key", k, ..] => match StKey::parse(table.params(), k)
                .or_else(|_| StKey::parse_hex(table.params(), k))
            {
                Ok(k) => k,
                Err(e) => return format!("Invalid key: {e}.\n"),
            },
            _ => return "Key value expected\n".into(),
        };
        let mut sets = Vec::new();
        for pair in rest[2..].chunks(2) {
            let [dt, v] = pair else {
                return "Require 'data.<type> <value>'\n".into();
            };
            let Some(data_type) = data_type_arg(dt) else {
                return "Unknown data type\n".into();
            };
            if table.layout().slot(data_type).is_none() {
                return "Data type not stored in this table\n".into();
            }
            let Some(value) = parse_i64(v) else {
                return "Require a valid integer value to store\n".into();
            };
            sets.push((data_type, value));
        }
        let Some(id) = table.get_or_create(now, key) else {
            return "Unable to allocate a new entry\n".into();
        };
        for (dt, v) in sets {
            if let Err(e) = table.set_from_cli(now, id, dt, 0, v) {
                return format!("Cannot store this value: {e}\n");
            }
        }
        table.touch_local(now, id);
        String::new()
    }

    /// `clear table <name> [key K | data filters]`.
    fn cli_clear_table(&mut self, now: Time, args: &[&str]) -> String {
        let [name, rest @ ..] = args else {
            return "'clear table' expects a table name\n".into();
        };
        let Some(ti) = self.table_index(name) else {
            return "No such table\n".into();
        };
        let table = &mut self.tables[ti];
        let sel = match Self::parse_selection(table, rest) {
            Ok(sel) => sel,
            Err(e) => return e,
        };
        match sel {
            Selection::Key(k) => {
                table.remove(&k);
            }
            Selection::Filters(f) if f.is_empty() => {
                table.clear();
            }
            Selection::Filters(f) => {
                let ids: Vec<EntryId> = table
                    .iter()
                    .map(|(_, id)| id)
                    .filter(|&id| Self::selected(table, now, id, &f))
                    .collect();
                for id in ids {
                    table.remove_entry(id);
                }
            }
        }
        String::new()
    }

    /// `show peers [<section>]`, in HAProxy 2.6's layout.
    fn cli_show_peers(&self, now: Time, only: Option<&str>) -> String {
        let mut s = String::new();
        for (si, sect) in self.peers.iter().enumerate() {
            if only.is_some_and(|n| n != sect.name) {
                continue;
            }
            self.dump_peers_section(&mut s, now, si, sect);
        }
        if s.is_empty() && only.is_some() {
            return "No such peers\n".into();
        }
        s
    }

    fn dump_peers_section(&self, s: &mut String, now: Time, si: usize, sect: &PeersSection) {
        let date = fmt_date(self.opts.epoch_ms + now.as_ms(), false);
        let base = 0x5600_0000_0000u64 + (si as u64) * 0x10_0000;
        let _ = writeln!(
            s,
            "{:#x}: [{}] id={} disabled=0 flags={:#x} resync_timeout={} task_calls={}",
            base,
            date,
            sect.name,
            sect.flags.bits(),
            Delay(sect.resync_timeout, now),
            sect.task_calls
        );
        for (pi, peer) in sect.peers.iter().enumerate() {
            let pbase = base + 0x1000 * (pi as u64 + 1);
            let since = peer
                .last_hdshk
                .map_or("<NEVER>".to_string(), |t| format!("{}s", (now - t) / 1000));
            let _ = writeln!(
                s,
                "  {:#x}: id={}({},{}) addr={} last_status={} last_hdshk={}",
                pbase,
                peer.name,
                if peer.local { "local" } else { "remote" },
                if peer.session.is_some() {
                    "active"
                } else {
                    "inactive"
                },
                peer.addr,
                status_name(peer.status),
                since
            );
            let _ = writeln!(
                s,
                "        reconnect={} heartbeat={} confirm={} tx_hbt={} rx_hbt={} no_hbt={} new_conn={} proto_err={} coll={}",
                Delay(peer.reconnect, now),
                Delay(peer.heartbeat, now),
                peer.confirm,
                peer.tx_hbt,
                peer.rx_hbt,
                peer.no_hbt,
                peer.new_conn,
                peer.proto_err,
                peer.coll
            );
            let _ = write!(s, "        flags={:#x}", peer.flags.bits());
            if let Some(sess) = peer.session.and_then(|i| sect.sessions.get(i)) {
                let _ = write!(
                    s,
                    " appctx:{:#x} st0={} st1=0 task_calls=0 state={}",
                    pbase + 0x800,
                    sess_st0(sess.state),
                    sess.state_name()
                );
            }
            s.push('\n');
            let _ = writeln!(s, "        shared tables:");
            for st in &peer.tables {
                let table = &self.tables[st.table];
                let tbase = pbase + 0x100 + u64::from(st.local_id) * 0x10;
                let _ = writeln!(
                    s,
                    "          {:#x} local_id={} remote_id={} flags={:#x} remote_data={:#x}",
                    tbase,
                    st.local_id,
                    st.remote_id,
                    st.flags.bits(),
                    st.remote_data
                );
                let _ = writeln!(
                    s,
                    "              last_acked={} last_pushed={} last_get={} teaching_origin={} update={}",
                    st.last_acked, st.last_pushed, st.last_get, st.teaching_origin, st.update
                );
                let _ = writeln!(
                    s,
                    "              table:{:#x} id={} update={} localupdate={} commitupdate={} refcnt=1",
                    0x5500_0000_0000u64 + u64::from(st.table.0) * 0x1_0000_0000,
                    table.params().id,
                    table.update(),
                    table.localupdate(),
                    table.commitupdate()
                );
            }
        }
    }
}

/// HAProxy's `st0` numbers for `show peers`.
fn sess_st0(state: SessState) -> u32 {
    match state {
        SessState::WaitHello => 1,
        SessState::Connecting | SessState::RetryWait => 6,
        SessState::WaitStatus => 6,
        SessState::Established => 7,
        SessState::Closing => 10,
    }
}

/// An uncommitted `set ssl ca-file` / `set ssl crl-file` (HAProxy's
/// `cafile_transaction` / `crlfile_transaction`): one of each at a time.
#[derive(Debug)]
pub(crate) struct CaTransaction {
    pub path: String,
    /// The certificates or CRLs the commit installs (DER, file order).
    pub ders: Vec<Vec<u8>>,
}

/// `CA` / `CRL` in HAProxy's texts.
fn ca_word(k: CafileKind) -> &'static str {
    match k {
        CafileKind::Cert => "CA",
        CafileKind::Crl => "CRL",
    }
}

/// The command's name in HAProxy's texts.
fn ca_cmd(k: CafileKind) -> &'static str {
    match k {
        CafileKind::Cert => "ca-file",
        CafileKind::Crl => "crl-file",
    }
}

/// A certificate's details as HAProxy's `show_cert_detail` prints them
/// (`show ssl cert FILE`, `show ssl ca-file FILE`), from `Serial` to
/// `Issuer`; `false` when HAProxy stops after `Algorithm:` (a key type
/// it does not name).
fn cert_detail_text(der: &[u8]) -> (String, bool) {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    let dn = |n: &[u8]| {
        crate::conn::x509::dn_oneline(n)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    let mut s = String::new();
    let (Some(ci), Some(d)) = (
        crate::conn::x509::cert_info(der),
        crate::conn::x509::cert_detail(der),
    ) else {
        return (s, false);
    };
    s.push_str(&format!("Serial: {}\n", hex(ci.serial)));
    s.push_str(&format!("notBefore: {}\n", d.not_before));
    s.push_str(&format!("notAfter: {}\n", d.not_after));
    s.push_str(&format!("Subject Alternative Name: {}\n", d.san));
    s.push_str("Algorithm: ");
    let Some(a) = d.algo else {
        return (s, false);
    };
    s.push_str(&format!("{a}\n"));
    s.push_str(&format!(
        "SHA1 FingerPrint: {}\n",
        hex(&crate::conn::x509::sha1(der))
    ));
    s.push_str(&format!("Subject: {}\n", dn(ci.subject)));
    s.push_str(&format!("Issuer: {}\n", dn(ci.issuer)));
    (s, true)
}

/// An uncommitted `set ssl cert` (HAProxy's `ckchs_transaction`): one at
/// a time, for one file.
pub(crate) struct CertTransaction {
    pub path: String,
    /// The chain it will install.
    pub chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Its key: a PEM payload without one leaves none (as HAProxy 2.6),
    /// `set ssl cert FILE.key` gives one; checked against the
    /// certificate at commit.
    pub key: Option<std::sync::Arc<dyn rustls::sign::SigningKey>>,
}

impl core::fmt::Debug for CertTransaction {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CertTransaction")
            .field("path", &self.path)
            .field("key", &self.key.is_some())
            .finish()
    }
}

impl crate::engine::Engine {
    /// The certificate files in use (`bind ... crt` / `crt-list`, `server
    /// ... crt`), by name (HAProxy's ckch store, an ordered tree), with
    /// their certificate and how many places use them (`ckch_inst`).
    pub(crate) fn ssl_cert_files(
        &self,
    ) -> std::collections::BTreeMap<String, (std::sync::Arc<rustls::sign::CertifiedKey>, usize)>
    {
        let mut m = std::collections::BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.listeners {
            // A `bind` line's context is shared by its listeners.
            let Some(c) = &l.tls else { continue };
            if !seen.insert(std::sync::Arc::as_ptr(c) as usize) {
                continue;
            }
            for (f, key) in c.cert_files() {
                m.entry(f).or_insert((key, 0)).1 += 1;
            }
        }
        for srv in self.server_ids() {
            if let Some((f, key)) = self
                .server(srv)
                .and_then(|s| s.cfg.tls.as_ref())
                .and_then(|t| t.crt_file())
            {
                m.entry(f.to_string()).or_insert((key, 0)).1 += 1;
            }
        }
        m
    }

    /// A `tls-ticket-keys` reference: `#ID` or the file name (HAProxy's
    /// `tlskeys_ref_lookup_ref`).
    fn tls_keys_ref(&self, r: &str) -> Option<usize> {
        match r.strip_prefix('#') {
            Some(id) => id.parse().ok().filter(|&i| i < self.ticket_files.len()),
            None => self.ticket_files.iter().position(|(f, _)| f == r),
        }
    }

    /// `show tls-keys [id|*]` (HAProxy's `cli_io_handler_tlskeys_files`
    /// and `_entries`): the `tls-ticket-keys` files, or their keys
    /// (previous, current, next) in base64.
    fn cli_show_tls_keys(&self, r: Option<&str>) -> String {
        let refs: Vec<usize> = match r {
            None => {
                let mut s = String::from("# id (file)\n");
                for (i, (f, _)) in self.ticket_files.iter().enumerate() {
                    s.push_str(&format!("{i} ({f})\n"));
                }
                return s;
            }
            Some("*") => (0..self.ticket_files.len()).collect(),
            Some(r) => match self.tls_keys_ref(r) {
                Some(i) => vec![i],
                None => return "'show tls-keys' unable to locate referenced filename\n".into(),
            },
        };
        let mut s = String::from("# id secret\n");
        for i in refs {
            let (f, tk) = &self.ticket_files[i];
            s.push_str(&format!("# {i} ({f})\n"));
            let k = tk.keys();
            let n = crate::conn::ticket::TLS_TICKETS_NO;
            for j in 0..n {
                let key = &k.keys[(k.enc + n - 1 + j) % n];
                let b64 =
                    String::from_utf8_lossy(&crate::base64::encode(&key.to_bytes())).into_owned();
                s.push_str(&format!("{i}.{j} {b64}\n"));
            }
        }
        s
    }

    /// `set ssl tls-key <id|file> <key>` (HAProxy's
    /// `cli_parse_set_tlskeys`): the key replaces the oldest of the ring
    /// and the next one encrypts.
    fn cli_set_tls_key(&self, rest: &[&str]) -> String {
        let (Some(r), Some(key)) = (rest.first(), rest.get(1)) else {
            return "'set ssl tls-key' expects a filename and the new TLS key in base64 encoding.\n"
                .into();
        };
        let Some(i) = self.tls_keys_ref(r) else {
            return "'set ssl tls-key' unable to locate referenced filename\n".into();
        };
        let Some(bytes) = crate::base64::decode(key.as_bytes()) else {
            return "'set ssl tls-key' received invalid base64 encoded TLS key.\n".into();
        };
        match self.ticket_files[i].1.update(&bytes) {
            Ok(()) => "TLS ticket key updated!\n".into(),
            Err(_) => "'set ssl tls-key' received a key of wrong size.\n".into(),
        }
    }

    /// The bind lines' TLS contexts, each once.
    pub(crate) fn bind_tls_ctxs(&self) -> Vec<&std::sync::Arc<crate::conn::tls::BindCtx>> {
        let mut seen = std::collections::BTreeSet::new();
        self.listeners
            .iter()
            .filter_map(|l| l.tls.as_ref())
            .filter(|c| seen.insert(std::sync::Arc::as_ptr(c) as usize))
            .collect()
    }

    /// The OCSP entries of the certificates in use, by certificate file
    /// (HAProxy's `cert_ocsp_tree` is keyed by certificate ID; a file
    /// used by several lines is one entry).
    fn ssl_ocsp_entries(&self) -> std::collections::BTreeMap<String, crate::conn::tls::OcspEntry> {
        let mut m = std::collections::BTreeMap::new();
        for c in self.bind_tls_ctxs() {
            for (f, e) in c.ocsp_entries() {
                m.entry(f).or_insert(e);
            }
        }
        m
    }

    /// `show ssl ocsp-response [<id>]` (HAProxy's
    /// `cli_io_handler_show_ocspresponse`): the certificate IDs, or one
    /// response as OpenSSL prints it.
    fn cli_show_ssl_ocsp(&self, id: Option<&str>) -> String {
        use crate::conn::ocsp;
        let mut by_key = std::collections::BTreeMap::new();
        for e in self.ssl_ocsp_entries().into_values() {
            by_key.entry(e.id.key()).or_insert(e);
        }
        let Some(id) = id else {
            let mut s = String::from("# Certificate IDs\n");
            for (k, e) in &by_key {
                s.push_str(&format!("Certificate ID key : {}\n", ocsp::hex_lower(k)));
                s.push_str(&ocsp::id_lines(&e.id));
            }
            return s;
        };
        let found = by_key
            .iter()
            .find(|(k, _)| ocsp::hex_lower(k) == id.to_ascii_lowercase());
        match found.and_then(|(_, e)| ocsp::print(e.response()?)) {
            Some(text) => text,
            None => "Certificate ID does not match any certificate.\n".into(),
        }
    }

    /// `set ssl ocsp-response <base64>` or its payload (HAProxy's
    /// `cli_parse_set_ocspresponse`): a new response for the certificate
    /// it names, checked as at start-up, stapled from the next handshake.
    fn cli_set_ssl_ocsp(&mut self, now: Time, arg: Option<&str>) -> String {
        let Some(arg) = arg else {
            return "'set ssl ocsp-response' expects response in base64 encoding.\n".into();
        };
        let b64: Vec<u8> = arg
            .bytes()
            .filter(|b| !matches!(b, b'\r' | b'\n'))
            .collect();
        let Some(der) = crate::base64::decode(&b64) else {
            return "'set ssl ocsp-response' received invalid base64 encoded response.\n".into();
        };
        let now_s = ((self.opts.epoch_ms + now.as_ms()) / 1000) as i64;
        let r = match crate::conn::ocsp::check(&der, None, now_s) {
            Ok(r) => r,
            Err(e) => return format!("{e}.\n"),
        };
        let n: usize = self
            .bind_tls_ctxs()
            .iter()
            .map(|c| c.update_ocsp(&der, &r))
            .sum();
        if n == 0 {
            return "OCSP single response: Certificate ID does not match any certificate or issuer.\n"
                .into();
        }
        "OCSP Response updated!\n".into()
    }

    /// `show ssl cert [<certfile>]` (HAProxy's `cli_io_handler_show_cert`
    /// and `..._show_cert_detail`): the files (and the uncommitted
    /// transaction, `*NAME`), or one file's details in HAProxy's order and
    /// format.
    fn cli_show_ssl_cert(&self, name: Option<&str>) -> String {
        let files = self.ssl_cert_files();
        // `show ssl cert FILE.ocsp`: the response loaded for FILE.
        if let Some(crt) = name.and_then(|n| n.strip_suffix(".ocsp")) {
            return match self.ssl_ocsp_entries().get(crt) {
                // The response of its certificate ID (HAProxy's tree),
                // else the file's.
                Some(e) => {
                    crate::conn::ocsp::print(e.response().unwrap_or(&e.der)).unwrap_or_default()
                }
                None => {
                    "Can't display the certificate: Not found or the certificate is a bundle!\n"
                        .into()
                }
            };
        }
        let Some(name) = name else {
            let mut s = String::new();
            if let Some(tx) = &self.ssl_cert_tx {
                s.push_str(&format!("# transaction\n*{}\n", tx.path));
            }
            s.push_str("# filename\n");
            for f in self.ckch.keys() {
                s.push_str(f);
                s.push('\n');
            }
            return s;
        };
        let (chain, used) = match name.strip_prefix('*') {
            Some(n) => match &self.ssl_cert_tx {
                Some(tx) if tx.path == n => (tx.chain.clone(), false),
                _ => {
                    return "Can't display the certificate: Not found or the certificate is a bundle!\n"
                        .into()
                }
            },
            None => match self.ckch.get(name) {
                Some(Some(k)) => (k.cert.clone(), files.contains_key(name)),
                Some(None) => {
                    return format!("Filename: {name}\nStatus: Empty\nOCSP Response Key: \n")
                }
                None => {
                    return "Can't display the certificate: Not found or the certificate is a bundle!\n"
                        .into()
                }
            },
        };
        let dn = |n: &[u8]| {
            crate::conn::x509::dn_oneline(n)
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default()
        };
        let mut s = format!(
            "Filename: {name}\nStatus: {}\n",
            if used { "Used" } else { "Unused" }
        );
        let Some(leaf) = chain.first() else {
            return s;
        };
        let (detail, whole) = cert_detail_text(leaf.as_ref());
        s.push_str(&detail);
        if whole {
            for c in &chain[1..] {
                if let Some(ci) = crate::conn::x509::cert_info(c.as_ref()) {
                    s.push_str(&format!("Chain Subject: {}\n", dn(ci.subject)));
                    s.push_str(&format!("Chain Issuer: {}\n", dn(ci.issuer)));
                }
            }
        }
        // The certificate ID of its `.ocsp` response, if it has one.
        let key = match used.then(|| self.ssl_ocsp_entries().remove(name)).flatten() {
            Some(e) => crate::conn::ocsp::hex_lower(&e.id.key()),
            None => String::new(),
        };
        s.push_str(&format!("OCSP Response Key: {key}\n"));
        s
    }

    /// `set ssl cert <certfile> <<` PEM (HAProxy's `cli_parse_set_cert`):
    /// starts or updates the transaction of a file the configuration
    /// uses. A PEM payload without a key leaves the transaction without
    /// one, as HAProxy 2.6 does; `<certfile>.key` then takes a key alone.
    fn cli_set_ssl_cert(&mut self, name: Option<&str>, payload: Option<&str>) -> String {
        let (Some(arg), Some(payload)) = (name, payload) else {
            // HAProxy 2.6's text, quote included.
            return "'set ssl cert expects a filename and a certificate as a payload\n".into();
        };
        let fail = |m: &str| format!("{m}Can't update {arg}!\n");
        let (path, ext) = match arg.rsplit_once('.') {
            Some((p, e @ ("key" | "ocsp" | "issuer" | "sctl"))) => (p, Some(e)),
            _ => (arg, None),
        };
        if let Some(e @ ("ocsp" | "issuer" | "sctl")) = ext {
            return fail(&format!(
                "Sluice does not support updating the '.{e}' part of a certificate yet.\n"
            ));
        }
        // `NAME.key` for `NAME.crt` (`ssl-load-extra-del-ext`).
        let crt_path;
        let path = match (&self.ssl_cert_tx, ext) {
            (Some(tx), Some(_)) if self.ssl_extra_del_ext && tx.path == format!("{path}.crt") => {
                crt_path = format!("{path}.crt");
                crt_path.as_str()
            }
            (None, Some(_))
                if self.ssl_extra_del_ext
                    && !self.ckch.contains_key(path)
                    && self.ckch.contains_key(&format!("{path}.crt")) =>
            {
                crt_path = format!("{path}.crt");
                crt_path.as_str()
            }
            _ => path,
        };
        let current = match &self.ssl_cert_tx {
            Some(tx) if tx.path != path => {
                return fail(&format!(
                    "The ongoing transaction is about '{}' but you are trying to set '{path}'\n",
                    tx.path
                ));
            }
            Some(tx) => (tx.chain.clone(), tx.key.clone()),
            None => match self.ckch.get(path) {
                Some(Some(k)) => (k.cert.clone(), Some(k.key.clone())),
                // An entry `new ssl cert` made.
                Some(None) => (Vec::new(), None),
                None => {
                    return fail("Can't replace a certificate which is not referenced by the configuration!\n");
                }
            },
        };
        let Some(env) = &self.opts.tls else {
            return fail("Can't load the payload\n");
        };
        let provider = env.provider.clone();
        let (chain, key) = if ext == Some("key") {
            match crate::conn::tls::parse_key_payload(&provider, arg, payload.as_bytes()) {
                Ok(k) => (current.0, Some(k)),
                Err(e) => return fail(&format!("{e}Can't load the payload\n")),
            }
        } else {
            match crate::conn::tls::parse_cert_payload(&provider, arg, payload.as_bytes()) {
                Ok(pair) => pair,
                Err(e) => return fail(&format!("{e}Can't load the payload\n")),
            }
        };
        let created = self.ssl_cert_tx.is_none();
        self.ssl_cert_tx = Some(CertTransaction {
            path: path.to_string(),
            chain,
            key,
        });
        if created {
            format!("Transaction created for certificate {path}!\n")
        } else {
            format!("Transaction updated for certificate {path}!\n")
        }
    }

    /// `commit ssl cert <certfile>` (HAProxy's `cli_parse_commit_cert` and
    /// its I/O handler): the new certificate replaces the old one
    /// wherever it is used, for the handshakes to come (SNI by its
    /// names); connections already made keep theirs. One dot per place.
    fn cli_commit_ssl_cert(&mut self, name: Option<&str>) -> String {
        let Some(arg) = name else {
            return "'commit ssl cert expects a filename\n".into();
        };
        let fail = |m: String| format!("{m}Can't commit {arg}!\n");
        let tx = match &self.ssl_cert_tx {
            None => return fail("No ongoing transaction! !\n".into()),
            Some(tx) if tx.path != arg => {
                return fail(format!(
                    "The ongoing transaction is about '{}' but you are trying to set '{arg}'\n",
                    tx.path
                ))
            }
            Some(tx) => tx,
        };
        let Some(key) = tx.key.as_ref().filter(|_| !tx.chain.is_empty()) else {
            return fail(
                "The transaction must contain at least a certificate and a private key!\n".into(),
            );
        };
        let new = std::sync::Arc::new(rustls::sign::CertifiedKey::new(
            tx.chain.clone(),
            key.clone(),
        ));
        if crate::conn::chain::keys_match(&new).is_err() {
            return fail(format!(
                "inconsistencies between private key and certificate loaded '{}'.\n",
                tx.path
            ));
        }
        let Some(tx) = self.ssl_cert_tx.take() else {
            return String::new();
        };
        let mut n = 0;
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.listeners {
            let Some(c) = &l.tls else { continue };
            if seen.insert(std::sync::Arc::as_ptr(c) as usize) {
                n += c.replace_cert(&tx.path, &new);
            }
        }
        for srv in self.server_ids() {
            let Some(s) = self.server(srv) else { continue };
            if s.cfg
                .tls
                .as_ref()
                .is_some_and(|t| t.replace_cert(&tx.path, &new))
            {
                n += 1;
            }
            // The health checks' own context (same `crt`).
            if let Some(t) = s.cfg.check.as_ref().and_then(|c| c.tls.as_ref()) {
                t.replace_cert(&tx.path, &new);
            }
        }
        self.ckch.insert(tx.path.clone(), Some(new));
        format!("Committing {}{}\nSuccess!\n", tx.path, ".".repeat(n))
    }

    /// `abort ssl cert <certfile>` (HAProxy's `cli_parse_abort_cert`).
    fn cli_abort_ssl_cert(&mut self, name: Option<&str>) -> String {
        let Some(arg) = name else {
            return "'abort ssl cert' expects a filename\n".into();
        };
        match &self.ssl_cert_tx {
            None => "No ongoing transaction!\n".into(),
            Some(tx) if tx.path != arg => format!(
                "The ongoing transaction is about '{}' but you are trying to abort a transaction for '{arg}'\n",
                tx.path
            ),
            Some(_) => {
                self.ssl_cert_tx = None;
                format!("Transaction aborted for certificate '{arg}'!\n")
            }
        }
    }
}

impl Engine {
    /// The uncommitted transaction of a kind.
    fn ca_tx(&mut self, k: CafileKind) -> &mut Option<CaTransaction> {
        match k {
            CafileKind::Cert => &mut self.ssl_ca_tx,
            CafileKind::Crl => &mut self.ssl_crl_tx,
        }
    }

    /// How many TLS contexts verify with the CA or CRL file `path`
    /// (HAProxy's `ckch_inst_link` list of the entry): a `bind` line's
    /// certificates (each crt-list line with options its own), servers
    /// (their health checks' context follows theirs and is not counted).
    fn ca_uses(&self, path: &str) -> usize {
        let mut n: usize = self.bind_tls_ctxs().iter().map(|c| c.ca_uses(path)).sum();
        for srv in self.server_ids() {
            if let Some(t) = self.server(srv).and_then(|s| s.cfg.tls.as_ref()) {
                n += usize::from(t.ca_uses(path));
            }
        }
        n
    }

    /// `show ssl ca-file [[*]<file>[:<index>]]` and `show ssl crl-file
    /// ...` (HAProxy's `cli_parse_show_cafile` / `_crlfile` and their
    /// I/O handlers, 2.6's texts: a transaction's status is `Unused`).
    fn cli_show_ssl_ca(&mut self, k: CafileKind, arg: Option<&str>) -> String {
        let Some(arg) = arg else {
            let mut s = String::new();
            if let Some(tx) = self.ca_tx(k) {
                s.push_str(&format!("# transaction\n*{}", tx.path));
                if k == CafileKind::Cert {
                    s.push_str(&format!(" - {} certificate(s)", tx.ders.len()));
                }
                s.push('\n');
            }
            s.push_str("# filename\n");
            for (path, e) in self.cafiles.entries() {
                if e.kind != k {
                    continue;
                }
                s.push_str(&path);
                if k == CafileKind::Cert {
                    s.push_str(&format!(" - {} certificate(s)", e.count()));
                }
                s.push('\n');
            }
            return s;
        };
        let not_found = match k {
            CafileKind::Cert => "Can't display the CA file : Not found!\n",
            CafileKind::Crl => "Can't display the CRL file : Not found!\n",
        };
        // `<file>:<index>`, the index from 1.
        let (name, index) = match arg.split_once(':') {
            Some((n, i)) => match i.parse::<i64>() {
                Ok(i) if i > 0 => (n, Some(i as usize)),
                _ => {
                    return format!("wrong {} index after colons in '{arg}'!", ca_word(k));
                }
            },
            None => (arg, None),
        };
        let (name, ders, used) = match name.strip_prefix('*') {
            Some(n) => {
                let n = n.strip_prefix('\\').unwrap_or(n);
                match self.ca_tx(k) {
                    Some(tx) if tx.path == n => (n.to_string(), Some(tx.ders.clone()), false),
                    _ => return not_found.into(),
                }
            }
            None => {
                let n = name.strip_prefix('\\').unwrap_or(name);
                match self.cafiles.get(n).filter(|e| e.kind == k) {
                    Some(e) => (n.to_string(), e.ders, self.ca_uses(n) > 0),
                    None => return not_found.into(),
                }
            }
        };
        let star = if arg.starts_with('*') { "*" } else { "" };
        let Some(ders) = ders else {
            // An entry `new ssl ...` made and nothing committed: HAProxy
            // 2.6 prints nothing for a CA file, the status for a CRL file.
            return match k {
                CafileKind::Cert => String::new(),
                CafileKind::Crl => format!("Filename: {name}\nStatus: Empty\n"),
            };
        };
        let mut s = format!(
            "Filename: {star}{name}\nStatus: {}\n",
            if used { "Used" } else { "Unused" }
        );
        match k {
            CafileKind::Cert => {
                let from = index.map_or(0, |i| i - 1);
                if from >= ders.len() {
                    // HAProxy prints nothing when the index is past the end.
                    return String::new();
                }
                for (i, d) in ders.iter().enumerate().skip(from) {
                    s.push_str(&format!(" \nCertificate #{}:\n", i + 1));
                    s.push_str(&cert_detail_text(d).0);
                    if index.is_some() {
                        break;
                    }
                }
            }
            CafileKind::Crl => {
                for (i, d) in ders.iter().enumerate() {
                    if index.is_some_and(|x| x != i + 1) {
                        continue;
                    }
                    s.push_str(&format!(" \nCertificate Revocation List #{}:\n", i + 1));
                    s.push_str(&crate::conn::x509::crl_detail(d).unwrap_or_default());
                }
            }
        }
        s
    }

    /// `new ssl ca-file <file>` / `new ssl crl-file <file>` (HAProxy's
    /// `cli_parse_new_cafile` / `_crlfile`): an empty entry, for a
    /// crt-list line to name once filled and committed.
    fn cli_new_ssl_ca(&mut self, k: CafileKind, arg: Option<&str>) -> String {
        let Some(path) = arg else {
            return format!("'new ssl {}' expects a filename\n", ca_cmd(k));
        };
        let what = match k {
            CafileKind::Cert => "CA",
            CafileKind::Crl => "CRL",
        };
        if self.cafiles.create(path, k) {
            format!("New {what} file created '{path}'!\n")
        } else {
            format!("{what} file '{path}' already exists!\n")
        }
    }

    /// `set ssl ca-file <file> <<` / `set ssl crl-file <file> <<`
    /// (HAProxy's `cli_parse_set_cafile` / `_crlfile`): the payload's
    /// certificates (CRLs) replace the file's in a transaction.
    fn cli_set_ssl_ca(
        &mut self,
        k: CafileKind,
        arg: Option<&str>,
        payload: Option<&str>,
    ) -> String {
        let (Some(arg), Some(payload)) = (arg, payload) else {
            // HAProxy 2.6's text, quote included.
            return match k {
                CafileKind::Cert => "'set ssl ca-file expects a filename and CAs as a payload\n",
                CafileKind::Crl => "'set ssl crl-file expects a filename and CRLs as a payload\n",
            }
            .into();
        };
        let fail = |m: String| format!("{m}Can't update {arg}!\n");
        if let Some(tx) = self.ca_tx(k) {
            if tx.path != arg {
                return fail(format!(
                    "The ongoing transaction is about '{}' but you are trying to set '{arg}'\n",
                    tx.path
                ));
            }
        } else if self.cafiles.get(arg).is_none() {
            // HAProxy looks the path up in the one tree, of either kind.
            return fail(format!(
                "Can't replace a {} file which is not referenced by the configuration!\n",
                ca_word(k)
            ));
        }
        let parsed = match k {
            CafileKind::Cert => crate::conn::cafile::parse_certs(payload.as_bytes()),
            CafileKind::Crl => crate::conn::cafile::parse_crls(payload.as_bytes()),
        };
        let Ok(ders) = parsed else {
            return fail("Invalid payload\n".into());
        };
        let word = ca_word(k);
        let tx = self.ca_tx(k);
        let created = tx.is_none();
        *tx = Some(CaTransaction {
            path: arg.to_string(),
            ders,
        });
        if created {
            format!("transaction created for {word} {arg}!\n")
        } else {
            format!("transaction updated for {word} {arg}!\n")
        }
    }

    /// `commit ssl ca-file <file>` / `commit ssl crl-file <file>`
    /// (HAProxy's `cli_parse_commit_cafile` and
    /// `cli_io_handler_commit_cafile_crlfile`): the store takes the new
    /// contents and every context that verifies with the file is made
    /// again, one dot per place; new handshakes use it, connections
    /// already made keep theirs.
    fn cli_commit_ssl_ca(&mut self, k: CafileKind, arg: Option<&str>) -> String {
        let Some(arg) = arg else {
            // HAProxy 2.6 says `ca-file` for both.
            return "'commit ssl ca-file expects a filename\n".into();
        };
        let fail = |m: String| format!("{m}Can't commit {arg}!\n");
        let tx = match self.ca_tx(k) {
            None => return fail("No ongoing transaction! !\n".into()),
            Some(tx) if tx.path != arg => {
                return fail(format!(
                    "The ongoing transaction is about '{}' but you are trying to set '{arg}'\n",
                    tx.path
                ))
            }
            Some(_) => match self.ca_tx(k).take() {
                Some(tx) => tx,
                None => return String::new(),
            },
        };
        let Some(old) = self.cafiles.get(&tx.path) else {
            return fail(format!(
                "Can't replace a {} file which is not referenced by the configuration!\n",
                ca_word(k)
            ));
        };
        self.cafiles.replace(&tx.path, tx.ders);
        let n = self.ca_uses(&tx.path);
        if let Err(e) = self.rebuild_ca_users(&tx.path) {
            // Back to the old contents, and the contexts with them.
            if let Some(d) = old.ders {
                self.cafiles.replace(&tx.path, d);
            }
            let _ = self.rebuild_ca_users(&tx.path);
            return format!("Committing {}\n{e}\nFailed!\n", tx.path);
        }
        format!("Committing {}{}\nSuccess!\n", tx.path, ".".repeat(n))
    }

    /// Makes again the verifiers of every context that names `path`.
    fn rebuild_ca_users(&self, path: &str) -> Result<(), String> {
        for c in self.bind_tls_ctxs() {
            if c.names_ca(path) {
                c.rebuild_verify()?;
            }
        }
        for srv in self.server_ids() {
            let Some(s) = self.server(srv) else { continue };
            let check = s.cfg.check.as_ref().and_then(|c| c.tls.as_ref());
            for t in s.cfg.tls.iter().chain(check) {
                if t.names_ca(path) {
                    t.rebuild_verify()?;
                }
            }
        }
        Ok(())
    }

    /// `abort ssl ca-file <file>` / `abort ssl crl-file <file>`.
    fn cli_abort_ssl_ca(&mut self, k: CafileKind, arg: Option<&str>) -> String {
        let Some(arg) = arg else {
            return format!("'abort ssl {}' expects a filename\n", ca_cmd(k));
        };
        let tx = self.ca_tx(k);
        match tx {
            None => "No ongoing transaction!\n".into(),
            Some(t) if t.path != arg => format!(
                "The ongoing transaction is about '{}' but you are trying to abort a transaction for '{arg}'\n",
                t.path
            ),
            Some(_) => {
                *tx = None;
                format!("Transaction aborted for certificate '{arg}'!\n")
            }
        }
    }

    /// `del ssl ca-file <file>` / `del ssl crl-file <file>` (HAProxy's
    /// `cli_parse_del_cafile` / `_crlfile`): an entry no context uses.
    fn cli_del_ssl_ca(&mut self, k: CafileKind, arg: Option<&str>) -> String {
        let what = ca_word(k);
        let Some(path) = arg else {
            return format!("'del ssl {}' expects a {what} file name\n", ca_cmd(k));
        };
        let fail = |m: String| format!("Can't remove the {what} file: {m}\n");
        if self.ca_tx(k).as_ref().is_some_and(|t| t.path == path) {
            return fail(format!("ongoing transaction for the {what} file '{path}'"));
        }
        let Some(e) = self.cafiles.get(path) else {
            return fail(format!("{what} file '{path}' doesn't exist!\n"));
        };
        if k == CafileKind::Crl && e.kind != CafileKind::Crl {
            return fail("'del ssl crl-file' does not work on CA files!\n".into());
        }
        if self.ca_uses(path) > 0 {
            return fail(format!("{what} file '{path}' in use, can't be deleted!\n"));
        }
        self.cafiles.remove(path);
        format!("{what} file '{path}' deleted!\n")
    }
}

impl Engine {
    /// `get var <name>` (HAProxy's `vars_parse_cli_get_var`): a `proc.`
    /// variable's type and value as a string.
    fn cli_get_var(&self, name: Option<&str>) -> String {
        use crate::sample::{Sample, SmpType, VarName, VarScope};
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return "Missing process-wide variable identifier.\n".into();
        };
        // HAProxy 2.6 answers the same for another scope.
        let Some(var) = VarName::parse(name)
            .ok()
            .filter(|v| v.scope == VarScope::Proc)
        else {
            return "Variable not found.\n".into();
        };
        let Some(v) = self.proc_vars.get(&var) else {
            return "Variable not found.\n".into();
        };
        let ty = match v {
            Sample::Bool(_) => "bool",
            Sample::Int(_) => "sint",
            Sample::Ip(core::net::IpAddr::V4(_)) => "ipv4",
            Sample::Ip(core::net::IpAddr::V6(_)) => "ipv6",
            Sample::Str(_) => "str",
            Sample::Bin(_) => "bin",
        };
        let Some(text) = v.clone().cast(SmpType::Str).and_then(|s| s.into_bytes()) else {
            return "Failed to convert variable to string.\n".into();
        };
        format!(
            "{name}: type={ty} value=<{}>\n",
            String::from_utf8_lossy(&text)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;

    fn engine() -> Engine {
        Engine::empty(Time::ZERO, EngineOptions::default())
    }

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    /// `help` lists every command the dispatcher runs, and each command it
    /// lists runs (its answer is not the unknown-command list).
    #[test]
    fn help_lists_every_command_and_every_listed_command_runs() {
        let mut e = engine();
        let help = e.cli_request(Time::ZERO, "help");
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(lines[0], HELP_HEADER.trim_end());
        assert_eq!(lines.len(), CLI_KWS.len() + 1, "{help}");
        for k in CLI_KWS {
            let line = format!("  {:<40}: {}", k.usage, k.help);
            assert!(lines.contains(&line.as_str()), "{line:?} not in\n{help}");
            let (out, known) = e.cli_execute(
                Time::ZERO,
                CliLevel::Admin,
                &words(&k.words.join(" ")),
                None,
            );
            assert!(
                known && !out.starts_with(UNKNOWN_HEADER),
                "{:?}: {out}",
                k.words
            );
        }
    }

    /// Every word sequence the dispatcher accepts belongs to an entry that
    /// `help` shows: tried over every pair of words the usages use, plus
    /// words no command has.
    #[test]
    fn the_dispatcher_knows_nothing_help_does_not_list() {
        let mut e = engine();
        let help = e.cli_request(Time::ZERO, "help");
        let mut vocab: Vec<&str> = CLI_KWS
            .iter()
            .flat_map(|k| k.words.iter().copied())
            .collect();
        vocab.extend(["map", "acl", "errors", "sess", "frob", ""]);
        for a in &vocab {
            for b in &vocab {
                let w = words(&format!("{a} {b}"));
                let (out, known) = e.cli_execute(Time::ZERO, CliLevel::Admin, &w, None);
                match find_kw(&w.iter().map(String::as_str).collect::<Vec<_>>()) {
                    Some(k) => {
                        assert!(known, "{w:?}");
                        assert!(help.contains(k.usage), "{w:?} runs but is not listed");
                    }
                    None => {
                        assert!(!known, "{w:?} runs without an entry");
                        assert!(out.starts_with(UNKNOWN_HEADER), "{w:?}: {out}");
                    }
                }
            }
        }
    }

    #[test]
    fn empty_and_unknown_commands_get_the_list_as_in_haproxy() {
        let mut e = engine();
        for line in ["", "   ", ";", "frob", "show"] {
            let out = e.cli_request(Time::ZERO, line);
            assert!(out.starts_with(UNKNOWN_HEADER), "{line:?}: {out}");
            assert!(out.contains("  show table <table> [<filter>]*"), "{out}");
        }
        // `a;` is `a` then an empty command.
        let out = e.cli_request(Time::ZERO, "help;");
        assert!(
            out.starts_with(HELP_HEADER) && out.contains(UNKNOWN_HEADER),
            "{out}"
        );
    }

    /// The CA/CRL store's state machine on the CLI, HAProxy 2.6's texts
    /// (an engine without TLS contexts: the files are `new ssl ...`
    /// ones, unused; tests/tls.rs runs them against HAProxy with
    /// listeners and servers using them).
    #[test]
    fn ca_and_crl_file_transactions() {
        const CA: &str = include_str!("../../tests/data/x509v1/ca.pem");
        const CA2: &str = include_str!("../../tests/data/x509v1/ca2.pem");
        const CRL: &str = include_str!("../../tests/data/x509v1/crl.pem");
        let mut e = engine();
        let mut cli = |line: &str, payload: Option<&str>| {
            let (out, known) = e.cli_execute(Time::ZERO, CliLevel::Admin, &words(line), payload);
            assert!(known, "{line}");
            out
        };
        assert_eq!(
            cli("new ssl ca-file", None),
            "'new ssl ca-file' expects a filename\n"
        );
        assert_eq!(
            cli("new ssl ca-file a.pem", None),
            "New CA file created 'a.pem'!\n"
        );
        assert_eq!(
            cli("new ssl ca-file a.pem", None),
            "CA file 'a.pem' already exists!\n"
        );
        assert_eq!(
            cli("new ssl crl-file a.pem", None),
            "CRL file 'a.pem' already exists!\n"
        );
        assert_eq!(
            cli("new ssl crl-file c.pem", None),
            "New CRL file created 'c.pem'!\n"
        );
        assert_eq!(
            cli("show ssl ca-file", None),
            "# filename\na.pem - 0 certificate(s)\n"
        );
        assert_eq!(cli("show ssl crl-file", None), "# filename\nc.pem\n");
        assert_eq!(cli("show ssl ca-file a.pem", None), "");
        assert_eq!(
            cli("show ssl crl-file c.pem", None),
            "Filename: c.pem\nStatus: Empty\n"
        );
        assert_eq!(
            cli("show ssl crl-file a.pem", None),
            "Can't display the CRL file : Not found!\n"
        );
        assert_eq!(
            cli("show ssl ca-file a.pem:0", None),
            "wrong CA index after colons in 'a.pem:0'!"
        );
        // Payloads.
        assert_eq!(
            cli("set ssl ca-file a.pem", None),
            "'set ssl ca-file expects a filename and CAs as a payload\n"
        );
        assert_eq!(
            cli("set ssl ca-file b.pem", Some(CA)),
            "Can't replace a CA file which is not referenced by the configuration!\nCan't update b.pem!\n"
        );
        assert_eq!(
            cli("set ssl ca-file a.pem", Some("x")),
            "Invalid payload\nCan't update a.pem!\n"
        );
        assert_eq!(
            cli("set ssl crl-file c.pem", Some(CA)),
            "Invalid payload\nCan't update c.pem!\n"
        );
        assert_eq!(
            cli("set ssl ca-file a.pem", Some(CA)),
            "transaction created for CA a.pem!\n"
        );
        let both = format!("{CA}{CA2}{CA}");
        assert_eq!(
            cli("set ssl ca-file a.pem", Some(&both)),
            "transaction updated for CA a.pem!\n"
        );
        assert_eq!(
            cli("set ssl ca-file c.pem", Some(CA)),
            "The ongoing transaction is about 'a.pem' but you are trying to set 'c.pem'\nCan't update c.pem!\n"
        );
        // The duplicate is left out; the transaction is listed and shown.
        assert_eq!(
            cli("show ssl ca-file", None),
            "# transaction\n*a.pem - 2 certificate(s)\n# filename\na.pem - 0 certificate(s)\n"
        );
        let one = cli("show ssl ca-file *a.pem:2", None);
        assert!(
            one.starts_with("Filename: *a.pem\nStatus: Unused\n \nCertificate #2:\nSerial: "),
            "{one}"
        );
        assert_eq!(one.matches("Certificate #").count(), 1, "{one}");
        assert_eq!(cli("show ssl ca-file *a.pem:3", None), "");
        assert_eq!(
            cli("del ssl ca-file a.pem", None),
            "Can't remove the CA file: ongoing transaction for the CA file 'a.pem'\n"
        );
        assert_eq!(
            cli("abort ssl ca-file c.pem", None),
            "The ongoing transaction is about 'a.pem' but you are trying to abort a transaction for 'c.pem'\n"
        );
        assert_eq!(
            cli("commit ssl ca-file c.pem", None),
            "The ongoing transaction is about 'a.pem' but you are trying to set 'c.pem'\nCan't commit c.pem!\n"
        );
        // No place uses it: no dot.
        assert_eq!(
            cli("commit ssl ca-file a.pem", None),
            "Committing a.pem\nSuccess!\n"
        );
        assert_eq!(
            cli("commit ssl ca-file a.pem", None),
            "No ongoing transaction! !\nCan't commit a.pem!\n"
        );
        assert_eq!(
            cli("abort ssl ca-file a.pem", None),
            "No ongoing transaction!\n"
        );
        let all = cli("show ssl ca-file a.pem", None);
        assert!(
            all.starts_with("Filename: a.pem\nStatus: Unused\n \nCertificate #1:\n"),
            "{all}"
        );
        assert!(all.contains(" \nCertificate #2:\n"), "{all}");
        // The CRL file, aborted then committed.
        assert_eq!(
            cli("set ssl crl-file c.pem", Some(CRL)),
            "transaction created for CRL c.pem!\n"
        );
        assert_eq!(
            cli("show ssl crl-file", None),
            "# transaction\n*c.pem\n# filename\nc.pem\n"
        );
        assert_eq!(
            cli("abort ssl crl-file c.pem", None),
            "Transaction aborted for certificate 'c.pem'!\n"
        );
        assert_eq!(
            cli("set ssl crl-file c.pem", Some(CRL)),
            "transaction created for CRL c.pem!\n"
        );
        assert_eq!(
            cli("commit ssl crl-file c.pem", None),
            "Committing c.pem\nSuccess!\n"
        );
        let crl = cli("show ssl crl-file c.pem:1", None);
        assert!(
            crl.starts_with("Filename: c.pem\nStatus: Unused\n \nCertificate Revocation List #1:\nVersion 1\nSignature Algorithm: sha256WithRSAEncryption\nIssuer: /C=FR/O=Sluice Test/CN=Root CA\nLast Update: "),
            "{crl}"
        );
        assert!(
            crl.contains("Revoked Certificates:\n    Serial Number: 03\n        Revocation Date: "),
            "{crl}"
        );
        // Deleting.
        assert_eq!(
            cli("del ssl crl-file a.pem", None),
            "Can't remove the CRL file: 'del ssl crl-file' does not work on CA files!\n\n"
        );
        assert_eq!(
            cli("del ssl ca-file a.pem", None),
            "CA file 'a.pem' deleted!\n"
        );
        assert_eq!(
            cli("del ssl ca-file a.pem", None),
            "Can't remove the CA file: CA file 'a.pem' doesn't exist!\n\n"
        );
        assert_eq!(
            cli("del ssl crl-file c.pem", None),
            "CRL file 'c.pem' deleted!\n"
        );
        assert_eq!(cli("show ssl crl-file", None), "# filename\n");
        // Below the admin level.
        let (out, _) = e.cli_execute(
            Time::ZERO,
            CliLevel::Operator,
            &words("new ssl ca-file x"),
            None,
        );
        assert_eq!(out, "Permission denied\n");
    }

    #[test]
    fn help_with_words_lists_the_matching_commands() {
        let mut e = engine();
        let out = e.cli_request(Time::ZERO, "help show");
        let listed: Vec<&str> = out.lines().skip(1).map(|l| l.trim_start()).collect();
        assert_eq!(listed.len(), 17, "{out}");
        assert!(listed.iter().all(|l| l.starts_with("show ")), "{out}");
        let out = e.cli_request(Time::ZERO, "help set tab");
        assert_eq!(out.lines().count(), 2, "{out}");
        // Nothing matches: everything.
        let out = e.cli_request(Time::ZERO, "help frob");
        assert_eq!(out.lines().count(), CLI_KWS.len() + 1, "{out}");
    }
}
