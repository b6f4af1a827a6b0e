//! The stats socket commands (HAProxy's `cli_kws` for tables and peers:
//! `stick_table.c`'s `show/set/clear table`, `peers.c`'s `show peers`).
//!
//! Output follows HAProxy 2.6 closely enough that the same socat-based
//! script reads both; where an address would be printed, Sluice prints a
//! stable id instead.

use core::fmt::Write as _;

use crate::engine::{CliLevel, Engine};
use crate::peers::section::{status_name, Delay, PeersSection, SessState};
use crate::stick_table::{DataType, EntryId, StKey, StickTable};
use crate::time::{fmt_date, Time};

/// `help` output: one line per command, as HAProxy lists them.
const HELP: &[(&str, &str)] = &[
    ("help", "this message"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
    (
        "show table [<name>]",
        "report table usage stats or dump this table's contents",
    ),
    (
        "set table <name> key <k> [data.<type> <v>]*",
        "update or create a table entry's data",
    ),
    (
        "clear table <name> [<filter>]*",
        "remove an entry from a table",
    ),
    (
        "show peers [<peers section>]",
        "dump some information about all the peers",
    ),
];

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

fn help_text(prefix: &str) -> String {
    let mut s = String::from(prefix);
    for (cmd, what) in HELP {
        let _ = writeln!(s, "  {cmd:<44}: {what}");
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
    pub(crate) fn cli_execute(
        &mut self,
        now: Time,
        level: CliLevel,
        words: &[String],
    ) -> (String, bool) {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let out = match w.as_slice() {
            ["help", ..] => help_text(""),
            ["show", "table"] => self.cli_show_tables(),
            ["show", "table", name, rest @ ..] => self.cli_show_table(now, name, rest),
            ["set", "table", rest @ ..] if level >= CliLevel::Admin => {
                self.cli_set_table(now, rest)
            }
            ["clear", "table", rest @ ..] if level >= CliLevel::Operator => {
                self.cli_clear_table(now, rest)
            }
            ["set", "table", ..] | ["clear", "table", ..] => "Permission denied\n".to_string(),
            ["show", "peers", rest @ ..] => self.cli_show_peers(now, rest.first().copied()),
            ["show", "stat", ..] => self.cli_show_stat(now),
            ["show", "info", ..] => self.cli_show_info(now),
            ["get", "weight", ..] => self.cli_server_admin(now, &w),
            ["disable" | "enable", "server", ..] | ["set", "server" | "weight", ..]
                if level >= CliLevel::Admin =>
            {
                self.cli_server_admin(now, &w)
            }
            ["disable" | "enable", "server", ..] | ["set", "server" | "weight", ..] => {
                "Permission denied\n".to_string()
            }
            _ => {
                return (
                    help_text(
                        "Unknown command. Please enter one of the following commands only :\n",
                    ),
                    false,
                )
            }
        };
        (out, true)
    }

    fn table_index(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.params().id == name)
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
                        + (ti as u64) * 0x1_0000_0000
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
        self.table_touched(ti);
        self.peers_table_changed(ti);
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
        self.table_touched(ti);
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
                    0x5500_0000_0000u64 + (st.table as u64) * 0x1_0000_0000,
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
