//! The peers subsystem inside the engine: HAProxy's peer applet
//! (`peer_io_handler`), its send pass (`peer_send_msgs`), its receive side
//! (`peer_treat_*msg`) and the section's sync task (`process_peer_sync`).
//!
//! Sockets are the engine's; everything here works on the section's state
//! and the engine's stick tables. The receive and send passes are free
//! functions over explicit borrows (`&mut PeersSection`, `&mut [StickTable]`)
//! so that the socket plumbing around them stays in one place.

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use super::section::*;
use super::update::{FreqCtrValue, Key, UpdateValue, Value};
use super::{
    ControlType, DefinitionFields, DictValue, ErrorType, Frame, FrameLimits, HandshakeError,
    Message, MessageError, Status, StatusCode, TableDefinition, Update, UpdateAck, UpdateLayout,
    Version,
};
use crate::engine::{Engine, SockOwner, TimerKey};
use crate::freq_ctr::FreqCtr;
use crate::sock::{CloseHow, LogLevel, SockError, SockId};
use crate::stick_table::{EntryId, KeyType, StData, StKey, StdType, StickTable};
use crate::time::Time;

/// Why a session ends, for the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// A protocol error: send this error message, then close.
    Error(ErrorType, String),
    /// Close without sending anything.
    Close(String),
}

/// What the receive pass asks of the engine.
#[derive(Debug, Default)]
pub(crate) struct RecvOutcome {
    /// The session must end.
    pub end: Option<EndReason>,
    /// The section's sync task must run (a lesson ended, a teacher failed).
    pub wake_sync: bool,
    /// Input ignored as HAProxy 2.6 ignores it, for the log (once per kind
    /// and session).
    pub ignored: Vec<(IgnoredKinds, String)>,
}

impl RecvOutcome {
    fn ignore(&mut self, kind: IgnoredKinds, what: impl FnOnce() -> String) {
        if !self.ignored.iter().any(|(k, _)| *k == kind) {
            self.ignored.push((kind, what()));
        }
    }
}

/// A malformed message, for the log line.
fn describe_msg_error(e: &MessageError) -> String {
    match e {
        MessageError::ReservedClass => "message of the reserved class 255".into(),
        MessageError::Definition(m) => {
            format!("malformed table definition ({:?} {:?})", m.field, m.reason)
        }
        MessageError::Switch(m) => format!("malformed table switch ({:?} {:?})", m.field, m.reason),
        MessageError::Ack(m) => format!("malformed update ack ({:?} {:?})", m.field, m.reason),
    }
}

/// The error message sent before closing, for the log line.
fn describe_reply(reply: ErrorType) -> &'static str {
    if reply == ErrorType::SIZE_LIMIT {
        "answered SIZE_LIMIT (01 01)"
    } else {
        "answered PROTOCOL_ERROR (01 00)"
    }
}

/// Whether the send pass could do everything it had to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Done,
    /// Output is full or the batch limit was hit: call again once it drains.
    Yield,
}

// --------------------------------------------------------------------------
// Receive side

/// Reads every complete message in the session's input and applies it
/// (`peer_recv_msg` + `peer_treat_awaited_msg`).
pub(crate) fn recv_msgs(
    sect: &mut PeersSection,
    si: usize,
    tables: &mut [StickTable],
    now: Time,
    stopping: bool,
) -> RecvOutcome {
    let mut out = RecvOutcome::default();
    let limits = FrameLimits {
        max_body_len: sect.max_body_len,
    };
    loop {
        let sess = &sect.sessions[si];
        let data = sess.rx.data();
        let (frame, used) = match Frame::decode(data, &limits) {
            Ok(Status::Complete(x)) => x,
            Ok(Status::Partial) => break,
            Err(e) => {
                let why = format!("{e}, {}", describe_reply(e.reply()));
                out.end = Some(EndReason::Error(e.reply(), why));
                break;
            }
        };
        // Copy the frame out of the buffer so the session can be borrowed
        // mutably while the message is applied. Bodies are bounded by
        // `max_body_len`.
        let body = frame.body.to_vec();
        let frame = Frame {
            body: &body,
            ..frame
        };
        sect.sessions[si].rx.consume(used);
        let Some(p) = sect.sessions[si].peer else {
            break;
        };
        sect.peers[p].flags |= PeerFlags::ALIVE;
        match Message::parse(&frame) {
            Ok(msg) => treat_msg(sect, si, p, tables, now, stopping, msg, &mut out),
            Err(MessageError::Ack(_)) if sect.peers[p].flags.contains(PeerFlags::TEACH_PROCESS) => {
                // 2.6 ignores acks unparsed while teaching.
            }
            Err(e) => {
                let why = format!("{}, {}", describe_msg_error(&e), describe_reply(e.reply()));
                out.end = Some(EndReason::Error(e.reply(), why));
            }
        }
        if out.end.is_some() {
            break;
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn treat_msg(
    sect: &mut PeersSection,
    si: usize,
    p: usize,
    tables: &mut [StickTable],
    now: Time,
    stopping: bool,
    msg: Message<'_>,
    out: &mut RecvOutcome,
) {
    match msg {
        Message::Control(c) => treat_control(sect, p, now, stopping, c, out),
        // Ignored, as 2.6 does.
        Message::Error(e) => out.ignore(IgnoredKinds::ERROR, || {
            format!("ignored an error message from the peer (01 {:02x})", e.0)
        }),
        Message::Unknown(f) => out.ignore(IgnoredKinds::UNKNOWN, || {
            format!(
                "ignored an unknown message (class {:#04x}, type {:#04x})",
                f.class.0, f.typ
            )
        }),
        Message::TableDefinition(def) => treat_definition(sect, si, p, tables, &def, out),
        Message::TableSwitch(sw) => {
            let peer = &sect.peers[p];
            sect.sessions[si].remote_table = peer
                .tables
                .iter()
                .position(|st| st.remote_id == sw.table_id && st.remote_layout.is_some());
        }
        Message::Update { kind, body } => {
            let bugs = sect.bugs;
            let Some(ti) = sect.sessions[si].remote_table else {
                out.ignore(IgnoredKinds::NO_TABLE, || {
                    "ignored updates that follow no table definition of ours (not acked)".into()
                });
                return;
            };
            let st = &mut sect.peers[p].tables[ti];
            let Some(layout) = st.remote_layout.as_ref() else {
                return;
            };
            match Update::decode(kind, body, layout) {
                Ok(u) => {
                    st.last_get = u.id_after(st.last_get);
                    let t = st.table;
                    let dict = &mut sect.sessions[si].dict_rx;
                    // A table changed by the update re-arms its expiry
                    // timer through `Engine::tables_commit`.
                    apply_update(&mut tables[t], &u, dict, now, bugs);
                }
                Err(m) => {
                    let name = tables[st.table].params().wire_name.as_str();
                    let why = format!(
                        "malformed update of table '{name}' ({:?} {:?}), {}",
                        m.field,
                        m.reason,
                        describe_reply(m.reply())
                    );
                    out.end = Some(EndReason::Error(m.reply(), why));
                }
            }
        }
        Message::UpdateAck(ack) => treat_ack(&mut sect.peers[p], tables, ack, out),
    }
}

/// `peer_treat_ackmsg`: the peer acknowledged our updates of one table.
/// Like 2.6, an ack for an id we never sent on this session is taken as
/// it is (a new session re-pushes from a point "in the future" anyway,
/// see `init_peer_session`); it is only logged.
fn treat_ack(peer: &mut Peer, tables: &[StickTable], ack: UpdateAck, out: &mut RecvOutcome) {
    if peer.flags.contains(PeerFlags::TEACH_PROCESS) {
        return;
    }
    let Some(st) = peer
        .tables
        .iter_mut()
        .find(|st| u64::from(st.local_id) == ack.table_id)
    else {
        out.ignore(IgnoredKinds::ACK_TABLE, || {
            format!(
                "ignored an ack for table id {}, which we never announced",
                ack.table_id
            )
        });
        return;
    };
    if (ack.update_id.wrapping_sub(st.last_pushed) as i32) > 0 {
        let name = tables[st.table].params().wire_name.as_str();
        out.ignore(IgnoredKinds::ACK_UPDATE, || {
            format!(
                "ack for update {} of table '{name}', after the last one sent ({}); taken as is, as HAProxy does",
                ack.update_id, st.last_pushed
            )
        });
    }
    st.update = ack.update_id;
}

/// Control messages (`PEER_MSG_CTRL_*`).
fn treat_control(
    sect: &mut PeersSection,
    p: usize,
    now: Time,
    stopping: bool,
    c: ControlType,
    out: &mut RecvOutcome,
) {
    let PeersSection {
        peers,
        flags,
        resync_timeout,
        bugs,
        ..
    } = sect;
    let _ = bugs;
    let peer = &mut peers[p];
    match c {
        ControlType::RESYNC_REQUEST => {
            for st in &mut peer.tables {
                st.teaching_origin = st.update;
                st.last_pushed = st.update;
                st.flags = ShTableFlags::empty();
            }
            peer.flags.remove(PeerFlags::TEACH_RESET);
            peer.flags.insert(PeerFlags::TEACH_PROCESS);
        }
        ControlType::RESYNC_FINISHED => {
            if peer.flags.contains(PeerFlags::LEARN_ASSIGN) {
                peer.flags.remove(PeerFlags::LEARN_ASSIGN);
                flags.remove(PeersFlags::RESYNC_ASSIGN | PeersFlags::RESYNC_PROCESS);
                flags.insert(PeersFlags::RESYNC_LOCAL | PeersFlags::RESYNC_REMOTE);
                out.wake_sync = true;
            }
            peer.confirm += 1;
        }
        ControlType::RESYNC_PARTIAL => {
            if peer.flags.contains(PeerFlags::LEARN_ASSIGN) {
                peer.flags.remove(PeerFlags::LEARN_ASSIGN);
                flags.remove(PeersFlags::RESYNC_ASSIGN | PeersFlags::RESYNC_PROCESS);
                peer.flags.insert(PeerFlags::LEARN_NOTUP2DATE);
                *resync_timeout = Some(now.add_ms(RESYNC_TIMEOUT_MS));
                out.wake_sync = true;
            }
            peer.confirm += 1;
        }
        ControlType::RESYNC_CONFIRM => {
            if stopping && peer.local {
                // The new process has learned everything: this one may go.
                peer.flags.insert(PeerFlags::TEACH_COMPLETE);
                out.end = Some(EndReason::Close(
                    "teach to the new process confirmed".into(),
                ));
                out.wake_sync = true;
                return;
            }
            for st in &mut peer.tables {
                st.update = st.teaching_origin;
                st.last_pushed = st.teaching_origin;
                #[cfg(feature = "mutants")]
                if bugs.has(crate::mutants::Mutant::TeachOriginReset) {
                    // Historic bug: restart from the start of the update log.
                    st.last_pushed = 0;
                }
                st.flags = ShTableFlags::empty();
            }
            peer.flags.remove(PeerFlags::TEACH_RESET);
        }
        ControlType::HEARTBEAT => {
            peer.reconnect = Some(now.add_ms(RECONNECT_TIMEOUT_MS));
            peer.rx_hbt += 1;
        }
        other => out.ignore(IgnoredKinds::UNKNOWN, || {
            format!("ignored an unknown message (control type {:#04x})", other.0)
        }),
    }
}

/// `peer_treat_definemsg`.
fn treat_definition(
    sect: &mut PeersSection,
    si: usize,
    p: usize,
    tables: &[StickTable],
    def: &TableDefinition<'_>,
    out: &mut RecvOutcome,
) {
    let sess = &mut sect.sessions[si];
    let peer = &mut sect.peers[p];
    sess.remote_table = None;
    for st in &mut peer.tables {
        if st.remote_id == def.table_id {
            st.remote_id = 0;
            st.remote_layout = None;
        }
    }
    let name = String::from_utf8_lossy(def.name);
    let Some(ti) = peer
        .tables
        .iter()
        .position(|st| tables[st.table].params().wire_name.as_bytes() == def.name)
    else {
        out.ignore(IgnoredKinds::DEFINITION, || {
            format!("ignored the definition of table '{name}' (id {}), which is not shared with this peer; its updates are dropped", def.table_id)
        });
        return;
    };
    let fields = match &def.fields {
        Ok(f) => f,
        Err(e) if e.is_protocol_error() => {
            out.end = Some(EndReason::Error(
                ErrorType::PROTOCOL_ERROR,
                format!("malformed definition: {e:?}"),
            ));
            return;
        }
        Err(e) => {
            out.ignore(IgnoredKinds::DEFINITION, || {
                format!("ignored the definition of table '{name}' ({e:?}); its updates are dropped")
            });
            return;
        }
    };
    let params = tables[peer.tables[ti].table].params();
    if fields.key_type != u64::from(params.key_type.wire_id())
        || fields.key_size != params.key_size as u64
    {
        out.ignore(IgnoredKinds::DEFINITION, || {
            format!(
                "ignored the definition of table '{name}': key type {} size {} where ours is {} size {}; its updates are dropped",
                fields.key_type,
                fields.key_size,
                params.key_type.wire_id(),
                params.key_size
            )
        });
        return;
    }
    let Ok(layout) = UpdateLayout::from_definition(fields) else {
        out.ignore(IgnoredKinds::DEFINITION, || {
            format!("ignored the definition of table '{name}': unusable data types or parameters; its updates are dropped")
        });
        return;
    };
    let st = &mut peer.tables[ti];
    st.remote_id = def.table_id;
    st.remote_data = fields.data_types;
    st.remote_layout = Some(layout);
    sess.remote_table = Some(ti);
}

/// The key of an update, as the local table stores it.
fn wire_key(table: &StickTable, key: &Key<'_>) -> Option<StKey> {
    let params = table.params();
    let k = match *key {
        Key::Integer(v) => StKey::integer(v),
        Key::Ipv4(b) => StKey::ipv4(Ipv4Addr::from(b)),
        Key::Ipv6(b) => StKey::ipv6(Ipv6Addr::from(b)),
        Key::String(s) => StKey::string(params.key_size, s),
        Key::Binary(b) => StKey::binary(params.key_size, b),
    };
    k.fits(params).then_some(k)
}

/// `peer_treat_updatemsg` once decoded: stores the values the local table
/// has (local-only types are skipped) and touches the entry as learned.
/// Returns whether the table changed.
pub(crate) fn apply_update(
    table: &mut StickTable,
    u: &Update<'_>,
    dict: &mut super::DictRxCache,
    now: Time,
    bugs: Bugs,
) -> bool {
    // The dictionary cache follows the sender whatever we store.
    let mut dict_values: Vec<Option<Bytes>> = Vec::new();
    for v in &u.values {
        if let Value::Dict(d) = &v.value {
            dict_values.push(match d {
                DictValue::None => None,
                d => dict.apply(d).map(Bytes::copy_from_slice),
            });
        }
    }
    let Some(key) = wire_key(table, &u.key) else {
        return false;
    };
    let Some(id) = table.get_or_create(now, key) else {
        return false; // table full: ignored, but the id was recorded
    };
    let mut dicts = dict_values.into_iter();
    for v in &u.values {
        let dict_value = matches!(v.value, Value::Dict(_)).then(|| dicts.next().flatten());
        let Some(info) = v.data_type.info() else {
            continue;
        };
        if info.local_only {
            continue;
        }
        if let Some(data) = to_stdata(now, info.std_type, &v.value, dict_value, bugs) {
            let _ = table.set(id, v.data_type, v.index as usize, data);
        }
    }
    table.touch_remote(now, id, u.expire_ms);
    true
}

/// A received value as the table stores it.
fn to_stdata(
    now: Time,
    std: StdType,
    v: &Value<'_>,
    dict: Option<Option<Bytes>>,
    bugs: Bugs,
) -> Option<StData> {
    Some(match (std, v) {
        (StdType::SInt, _) => StData::SInt(v.as_sint()?),
        (StdType::UInt, _) => StData::UInt(v.as_uint()?),
        (StdType::Ull, _) => StData::Ull(v.as_ull()?),
        (StdType::FreqP, Value::FreqCtr(f)) => StData::Freq(received_freq(now, f, bugs)),
        (StdType::Dict, Value::Dict(_)) => StData::Dict(dict?),
        _ => return None,
    })
}

/// A received frequency counter: its period started `age` ms before now.
fn received_freq(now: Time, f: &FreqCtrValue, bugs: Bugs) -> FreqCtr {
    let _ = bugs;
    #[cfg(feature = "mutants")]
    if bugs.has(crate::mutants::Mutant::FreqAgeSign) {
        // Historic bug (fixed in 1.7-dev3): the age added to now.
        return FreqCtr::new(
            now.tick().wrapping_add(f.age as u32),
            f.curr_ctr as u32,
            f.prev_ctr as u32,
        );
    }
    FreqCtr::from_age(
        now.tick(),
        f.age as u32,
        f.curr_ctr as u32,
        f.prev_ctr as u32,
    )
}

// --------------------------------------------------------------------------
// Send side

/// What a teach walk looks up next (`peer_teach_*_stksess_lookup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Walk {
    /// The normal push of local updates.
    Process,
    /// Full teach, from `last_pushed` to the end of the log.
    Stage1,
    /// Full teach, from the start of the log up to the teaching origin.
    Stage2,
}

fn walk_next(walk: Walk, st: &mut SharedTable, table: &mut StickTable) -> Option<(u32, EntryId)> {
    let found = table.update_lookup_ge(st.last_pushed.wrapping_add(1));
    match walk {
        Walk::Process => {
            let (key, id) = match found {
                Some(x) => x,
                None => match table.update_first() {
                    Some((k, _)) if k == st.last_pushed => return push_done(st, table),
                    Some(x) => x,
                    None => return push_done(st, table),
                },
            };
            // Beyond localupdate: learned entries and the end of the log.
            if key.wrapping_sub(st.last_pushed) > table.localupdate().wrapping_sub(st.last_pushed) {
                return push_done(st, table);
            }
            Some((key, id))
        }
        Walk::Stage1 => {
            if found.is_none() {
                st.flags.insert(ShTableFlags::TEACH_STAGE1);
                if let Some((first, _)) = table.update_first() {
                    st.last_pushed = first.wrapping_sub(1);
                }
            }
            found
        }
        Walk::Stage2 => match found {
            Some((key, id)) if key <= st.teaching_origin => Some((key, id)),
            _ => {
                st.flags.insert(ShTableFlags::TEACH_STAGE2);
                None
            }
        },
    }
}

fn push_done(st: &mut SharedTable, table: &mut StickTable) -> Option<(u32, EntryId)> {
    st.last_pushed = table.localupdate();
    table.set_commitupdate(table.localupdate());
    None
}

/// Appends our definition of a table.
fn send_definition(tx: &mut Vec<u8>, st: &SharedTable, table: &StickTable) {
    let params = table.params();
    TableDefinition {
        table_id: u64::from(st.local_id),
        name: params.wire_name.as_bytes(),
        fields: Ok(DefinitionFields::from_table_params(params)),
    }
    .encode(tx);
}

/// What every step of a send pass needs besides the session.
#[derive(Clone, Copy, Debug)]
struct SendCtx {
    now: Time,
    /// `tune.peers.max-updates-at-once`.
    max_updates: usize,
    #[cfg_attr(not(feature = "mutants"), allow(dead_code))]
    bugs: Bugs,
}

/// Appends one update of entry `id` (`peer_prepare_updatemsg`).
fn send_update(
    sess: &mut PeerSession,
    table: &StickTable,
    id: EntryId,
    update_id: Option<u32>,
    timed: bool,
    cx: SendCtx,
) {
    let now = cx.now;
    let params = table.params();
    let Some(key) = table.key(id) else { return };
    let kb = key.as_bytes();
    let key = match params.key_type {
        KeyType::Integer => {
            let v = u32::from_be_bytes(kb.try_into().unwrap_or([0; 4]));
            #[cfg(feature = "mutants")]
            if cx.bugs.has(crate::mutants::Mutant::IntKeyByteOrder) {
                // Historic bug: host byte order on the wire.
                Key::Integer(v.swap_bytes())
            } else {
                Key::Integer(v)
            }
            #[cfg(not(feature = "mutants"))]
            Key::Integer(v)
        }
        KeyType::Ipv4 => Key::Ipv4(kb.try_into().unwrap_or([0; 4])),
        KeyType::Ipv6 => Key::Ipv6(kb.try_into().unwrap_or([0; 16])),
        KeyType::String => Key::String(kb),
        KeyType::Binary => Key::Binary(kb),
    };
    // Timed updates only for tables with an expiry: a lifetime of 0 would
    // make the receiver expire the entry at once.
    let expire_ms = match (timed, params.expire_ms, table.expire(id)) {
        (true, Some(_), Some(exp)) => Some(exp.saturating_since(now).min(i32::MAX as u64) as u32),
        _ => None,
    };
    let layout = UpdateLayout::from_table_params(params);
    let mut values = Vec::with_capacity(layout.value_types().count());
    for (dt, std, count) in layout.value_types() {
        for index in 0..count {
            let value = match table.get(id, dt, index as usize) {
                Ok(v) => wire_value(now, v, &mut sess.dict_tx),
                Err(_) => zero_value(std),
            };
            values.push(UpdateValue {
                data_type: dt,
                index,
                value,
            });
        }
    }
    Update {
        update_id,
        expire_ms,
        key,
        values,
    }
    .encode(&mut sess.tx);
}

fn wire_value<'a>(now: Time, v: &'a StData, dict: &mut super::DictTxCache) -> Value<'a> {
    match v {
        StData::SInt(x) => Value::Int(i64::from(*x) as u64),
        StData::UInt(x) => Value::Int(u64::from(*x)),
        StData::Ull(x) => Value::Int(*x),
        StData::Freq(f) => Value::FreqCtr(FreqCtrValue {
            age: u64::from(f.age(now.tick())),
            curr_ctr: u64::from(f.curr_ctr),
            prev_ctr: u64::from(f.prev_ctr),
        }),
        StData::Dict(Some(b)) => Value::Dict(dict.encode_value(b)),
        StData::Dict(None) => Value::Dict(DictValue::None),
    }
}

fn zero_value(std: StdType) -> Value<'static> {
    match std {
        StdType::FreqP => Value::FreqCtr(FreqCtrValue {
            age: 0,
            curr_ctr: 0,
            prev_ctr: 0,
        }),
        StdType::Dict => Value::Dict(DictValue::None),
        _ => Value::Int(0),
    }
}

/// `peer_send_teachmsgs`: walks one table and pushes what `walk` finds.
#[allow(clippy::too_many_arguments)]
fn send_teach_msgs(
    sess: &mut PeerSession,
    peer: &mut Peer,
    ti: usize,
    table: &mut StickTable,
    walk: Walk,
    cx: SendCtx,
) -> Flow {
    if !sess.tx_has_room() {
        return Flow::Yield;
    }
    if sess.last_local_table != Some(ti) {
        send_definition(&mut sess.tx, &peer.tables[ti], table);
        sess.last_local_table = Some(ti);
    }
    let timed = walk != Walk::Process && !peer.flags.contains(PeerFlags::DWNGRD);
    let mut sent = 0;
    loop {
        if !sess.tx_has_room() {
            return Flow::Yield;
        }
        let st = &mut peer.tables[ti];
        let Some((key, id)) = walk_next(walk, st, table) else {
            return Flow::Done;
        };
        let consecutive = st.last_pushed != 0 && key.wrapping_sub(st.last_pushed) == 1;
        let explicit = sent == 0 || !consecutive;
        if walk == Walk::Process && (key.wrapping_sub(st.update) as i32) <= 0 {
            // Pushing what the peer already acknowledged: only the
            // teach-origin bug does that (the simulator watches this).
            peer.dup_push += 1;
        }
        let st = &mut peer.tables[ti];
        send_update(sess, table, id, explicit.then_some(key), timed, cx);
        st.last_pushed = key;
        if walk == Walk::Process && (st.last_pushed.wrapping_sub(table.commitupdate()) as i32) > 0 {
            table.set_commitupdate(st.last_pushed);
        }
        sent += 1;
        if sent >= cx.max_updates {
            return Flow::Yield;
        }
    }
}

/// `peer_send_msgs`: everything a session has to say, in HAProxy's order:
/// a resync request, then per table acks and updates (normal push or
/// teach), then the end of a teach, confirms and a heartbeat.
pub(crate) fn send_msgs(sect: &mut PeersSection, si: usize, tables: &mut [StickTable], now: Time) {
    let cx = SendCtx {
        now,
        max_updates: sect.max_updates_at_once,
        bugs: sect.bugs,
    };
    let PeersSection {
        peers,
        sessions,
        flags,
        ..
    } = sect;
    let sess = &mut sessions[si];
    let Some(p) = sess.peer else { return };
    let peer = &mut peers[p];
    if sess.state != SessState::Established {
        return;
    }
    if peer.flags.contains(PeerFlags::LEARN_ASSIGN)
        && flags.contains(PeersFlags::RESYNC_ASSIGN)
        && !flags.contains(PeersFlags::RESYNC_PROCESS)
    {
        ControlType::RESYNC_REQUEST.encode(&mut sess.tx);
        flags.insert(PeersFlags::RESYNC_PROCESS);
    }
    let n = peer.tables.len();
    if n > 0 {
        let last = sess.last_local_table.unwrap_or(0);
        for k in 1..=n {
            let ti = (last + k) % n;
            if send_table_msgs(sess, peer, ti, tables, cx) == Flow::Yield {
                return;
            }
        }
    }
    if !sess.tx_has_room() {
        return;
    }
    if peer.flags.contains(PeerFlags::TEACH_PROCESS)
        && !peer.flags.contains(PeerFlags::TEACH_FINISHED)
    {
        let msg = if flags.synced() {
            ControlType::RESYNC_FINISHED
        } else {
            ControlType::RESYNC_PARTIAL
        };
        msg.encode(&mut sess.tx);
        peer.flags.insert(PeerFlags::TEACH_FINISHED);
    }
    while peer.confirm > 0 {
        ControlType::RESYNC_CONFIRM.encode(&mut sess.tx);
        peer.confirm -= 1;
    }
    if peer.flags.contains(PeerFlags::HEARTBEAT) {
        peer.flags.remove(PeerFlags::HEARTBEAT);
        ControlType::HEARTBEAT.encode(&mut sess.tx);
        peer.tx_hbt += 1;
    }
}

/// One table of the send pass: ack, then push or teach.
fn send_table_msgs(
    sess: &mut PeerSession,
    peer: &mut Peer,
    ti: usize,
    tables: &mut [StickTable],
    cx: SendCtx,
) -> Flow {
    if !sess.tx_has_room() {
        return Flow::Yield;
    }
    let st = &mut peer.tables[ti];
    if st.last_get != st.last_acked {
        let update_id = st.last_get;
        #[cfg(feature = "mutants")]
        let update_id = if cx.bugs.has(crate::mutants::Mutant::AckWrongId) {
            // Historic bug: the table id where the update id belongs.
            st.remote_id as u32
        } else {
            update_id
        };
        UpdateAck {
            table_id: st.remote_id,
            update_id,
        }
        .encode(&mut sess.tx);
        st.last_acked = st.last_get;
    }
    let table = &mut tables[st.table];
    if !peer.flags.contains(PeerFlags::TEACH_PROCESS) {
        if !peer.flags.contains(PeerFlags::LEARN_ASSIGN) && st.last_pushed != table.localupdate() {
            return send_teach_msgs(sess, peer, ti, table, Walk::Process, cx);
        }
    } else if !peer.flags.contains(PeerFlags::TEACH_FINISHED) {
        if !st.flags.contains(ShTableFlags::TEACH_STAGE1)
            && send_teach_msgs(sess, peer, ti, table, Walk::Stage1, cx) == Flow::Yield
        {
            return Flow::Yield;
        }
        if !peer.tables[ti].flags.contains(ShTableFlags::TEACH_STAGE2) {
            return send_teach_msgs(sess, peer, ti, table, Walk::Stage2, cx);
        }
    }
    Flow::Done
}

/// The name a refused hello claims (line 3, up to its first space), for
/// the log line; `None` before the three lines are in.
fn claimed_name(rx: &[u8], max_line_len: usize) -> Option<String> {
    match super::handshake::HelloLines::parse(rx, max_line_len) {
        Ok(Status::Complete((h, _))) => {
            let name = h.line3.split(|&b| b == b' ').next().unwrap_or_default();
            (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
        }
        _ => None,
    }
}

/// What a refusal status means (PROTOCOL §3.2), for the log line.
fn status_meaning(code: StatusCode) -> &'static str {
    match code {
        StatusCode::TRY_AGAIN => "an old process of ours is already connected, try again",
        StatusCode::PROTOCOL_ERROR => "not a peers protocol hello",
        StatusCode::BAD_VERSION => "unsupported protocol version",
        StatusCode::WRONG_HOST => "the called peer name is not ours",
        StatusCode::UNKNOWN_PEER => "unknown peer name",
        _ => "refused",
    }
}

/// `init_accepted_peer` / `init_connected_peer`: cursors of a new session.
fn init_peer_session(
    flags: &mut PeersFlags,
    peer: &mut Peer,
    tables: &mut [StickTable],
    now: Time,
    role: Role,
) {
    peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
    for st in &mut peer.tables {
        st.last_get = 0;
        st.last_acked = 0;
        let table = &mut tables[st.table];
        // An acknowledged point "in the future" is too old to trust: push
        // everything again.
        if (table.localupdate().wrapping_sub(st.update) as i32) < 0 {
            st.update = table.localupdate().wrapping_add(1 << 31);
        }
        st.teaching_origin = st.update;
        st.last_pushed = st.update;
        st.flags = ShTableFlags::empty();
        if (st.last_pushed.wrapping_sub(table.commitupdate()) as i32) > 0 {
            table.set_commitupdate(st.last_pushed);
        }
    }
    peer.confirm = 0;
    peer.flags.remove(PeerFlags::TEACH_RESET);
    if peer.local {
        match role {
            // The old process connects to us: it teaches, we learn.
            Role::Acceptor => {
                if flags.from_local() && !flags.contains(PeersFlags::RESYNC_ASSIGN) {
                    peer.flags.insert(PeerFlags::LEARN_ASSIGN);
                    flags.insert(PeersFlags::RESYNC_ASSIGN | PeersFlags::RESYNC_PROCESS);
                }
            }
            // We are the old process: teach the new one, unasked.
            Role::Connector => peer.flags.insert(PeerFlags::TEACH_PROCESS),
        }
    } else if flags.from_remote() && !flags.contains(PeersFlags::RESYNC_ASSIGN) {
        peer.flags.insert(PeerFlags::LEARN_ASSIGN);
        flags.insert(PeersFlags::RESYNC_ASSIGN);
    }
}

// --------------------------------------------------------------------------
// Engine glue: sockets, timers, the sync task

impl Engine {
    /// Adds a peers section. `peers` lists every member with its address
    /// (`local` marks ours); `tables` are engine table indexes. Returns the
    /// section index.
    pub fn add_peers_section(
        &mut self,
        name: &str,
        peers: Vec<(String, SocketAddr, bool)>,
        tables: Vec<crate::stick_table::TableId>,
        bind: Option<SocketAddr>,
        max_body_len: usize,
    ) -> usize {
        let s = self.peers.len();
        let local = peers.iter().position(|p| p.2).unwrap_or(0);
        let members = peers
            .into_iter()
            .map(|(n, a, l)| Peer::new(n, a, l, &tables))
            .collect::<Vec<_>>();
        let listen = bind.or_else(|| members.get(local).map(|p| p.addr));
        let mut flags = PeersFlags::empty();
        if !self.opts.has_old_process {
            // A fresh start has no old process to learn from.
            flags.insert(PeersFlags::RESYNC_LOCAL);
        }
        self.peers.push(PeersSection {
            name: name.to_string(),
            local,
            peers: members,
            tables,
            flags,
            resync_timeout: Some(self.now.add_ms(RESYNC_TIMEOUT_MS)),
            listener: None,
            sessions: slab::Slab::new(),
            max_updates_at_once: DEFAULT_MAX_UPDATES_AT_ONCE,
            max_body_len,
            task_calls: 0,
            stop_deadline: None,
            woken: true,
            #[cfg(feature = "mutants")]
            bugs: Bugs(self.opts.mutant),
            #[cfg(not(feature = "mutants"))]
            bugs: Bugs(),
        });
        if let Some(addr) = listen {
            let l = self.add_listener(
                crate::sock::ListenAddr::Tcp(addr),
                crate::engine::ListenerKind::Peers { section: s },
            );
            self.peers[s].listener = Some(l);
        }
        s
    }

    /// The peers sections (tests, simulator, `show peers`).
    pub fn peers_sections(&self) -> &[PeersSection] {
        &self.peers
    }

    /// Wakes the sync task of every section sharing table `t`: a local
    /// change is waiting to be pushed (`stktable_touch_local`'s wakeup).
    pub(crate) fn peers_table_changed(&mut self, t: crate::stick_table::TableId) {
        for sect in &mut self.peers {
            if sect.tables.contains(&t) {
                sect.woken = true;
            }
        }
    }

    /// Runs the sync task of every woken section (end of every entry point).
    pub(crate) fn peers_run_woken(&mut self, now: Time) {
        for s in 0..self.peers.len() {
            if self.peers[s].woken {
                self.peers_sync_task(now, s);
            }
        }
    }

    fn peer_sock_owner(section: usize, session: usize) -> SockOwner {
        SockOwner::Peer { section, session }
    }

    pub(crate) fn peers_accept(
        &mut self,
        now: Time,
        s: usize,
        from: Option<SocketAddr>,
    ) -> Option<SockId> {
        if self.stopping.is_some() {
            return None;
        }
        let sect = &mut self.peers[s];
        let si = sect.sessions.vacant_key();
        let cap = sect.max_body_len + 16;
        let sock = self.new_sock(Self::peer_sock_owner(s, si));
        let mut sess = PeerSession::new(sock, Role::Acceptor, None, cap);
        sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        sess.from = from;
        self.peers[s].sessions.insert(sess);
        self.peer_refresh(s, si);
        Some(sock)
    }

    /// `peer_session_create`: a new outgoing session to peer `p`.
    fn peer_session_create(&mut self, now: Time, s: usize, p: usize) {
        let sect = &mut self.peers[s];
        let si = sect.sessions.vacant_key();
        let cap = sect.max_body_len + 16;
        let addr = sect.peers[p].addr;
        let sock = self.new_sock(Self::peer_sock_owner(s, si));
        let mut sess = PeerSession::new(sock, Role::Connector, Some(p), cap);
        sess.deadline = Some(now.add_ms(CONNECT_TIMEOUT_MS));
        let sect = &mut self.peers[s];
        sect.sessions.insert(sess);
        let peer = &mut sect.peers[p];
        peer.session = Some(si);
        peer.status = StatusCode::CONNECTING;
        peer.new_conn += 1;
        self.connect(sock, addr);
        self.peer_refresh(s, si);
    }

    pub(crate) fn peer_connected(&mut self, now: Time, s: usize, si: usize) {
        let local_name = self.peers[s].local_peer().name.clone();
        let pid = self.opts.pid;
        let sect = &mut self.peers[s];
        let Some(sess) = sect.sessions.get_mut(si) else {
            return;
        };
        if sess.state != SessState::Connecting {
            return;
        }
        let Some(p) = sess.peer else { return };
        let peer = &mut sect.peers[p];
        let version = if peer.flags.contains(PeerFlags::DWNGRD) {
            Version::V2_0
        } else {
            Version::V2_1
        };
        sess.version = version;
        super::handshake::encode_hello(
            version,
            peer.name.as_bytes(),
            local_name.as_bytes(),
            pid,
            &mut sess.tx,
        );
        sess.state = SessState::WaitStatus;
        sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        peer.status = StatusCode::CONNECTED;
        self.peer_refresh(s, si);
    }

    pub(crate) fn peer_connect_failed(&mut self, now: Time, s: usize, si: usize, err: SockError) {
        let sect = &mut self.peers[s];
        let Some(sess) = sect.sessions.get_mut(si) else {
            return;
        };
        let sock = sess.sock;
        // The driver already dropped the socket; a retry gets a new one.
        self.free_sock(sock);
        let sess = &mut self.peers[s].sessions[si];
        if sess.connect_retries_left > 0 && self.stopping.is_none() {
            sess.connect_retries_left -= 1;
            sess.state = SessState::RetryWait;
            sess.deadline = Some(now.add_ms(CONNECT_TIMEOUT_MS));
            self.timers.arm(TimerKey::PeerSession(s, si), sess.deadline);
            return;
        }
        let _ = err;
        self.peer_session_release(now, s, si);
    }

    pub(crate) fn peer_recv_buf(&mut self, s: usize, si: usize) -> &mut [u8] {
        match self.peers[s].sessions.get_mut(si) {
            Some(sess) if !matches!(sess.state, SessState::Closing) => sess.rx.spare_mut(),
            _ => &mut [],
        }
    }

    pub(crate) fn peer_send_buf(&self, s: usize, si: usize) -> &[u8] {
        match self.peers[s].sessions.get(si) {
            Some(sess) if !matches!(sess.state, SessState::Connecting | SessState::RetryWait) => {
                sess.tx_pending()
            }
            _ => &[],
        }
    }

    pub(crate) fn peer_sent(&mut self, now: Time, s: usize, si: usize, n: usize) {
        let Some(sess) = self.peers[s].sessions.get_mut(si) else {
            return;
        };
        sess.sent(n);
        if sess.state == SessState::Closing {
            if sess.tx_pending().is_empty() {
                self.peer_end(now, s, si, CloseHow::Graceful);
            }
            return;
        }
        if sess.state == SessState::Established {
            sess.deadline = (!sess.tx_pending().is_empty()).then(|| now.add_ms(SESSION_TIMEOUT_MS));
            send_msgs(&mut self.peers[s], si, &mut self.tables, now);
        }
        self.peer_refresh(s, si);
    }

    pub(crate) fn peer_recv(&mut self, now: Time, s: usize, si: usize, n: usize) {
        let Some(sess) = self.peers[s].sessions.get_mut(si) else {
            return;
        };
        if n == 0 {
            sess.read0 = true;
        } else {
            sess.rx.commit(n);
        }
        match sess.state {
            SessState::WaitHello => self.peer_getpeer(now, s, si),
            SessState::WaitStatus => self.peer_getstatus(now, s, si),
            SessState::Established => self.peer_established_io(now, s, si),
            _ => {}
        }
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        if sess.read0 {
            // The peer is gone: flush what is pending only if it was a
            // status or an error, otherwise end now.
            if sess.state == SessState::Closing && !sess.tx_pending().is_empty() {
                self.peer_refresh(s, si);
            } else {
                self.peer_end(now, s, si, CloseHow::Graceful);
            }
            return;
        }
        self.peer_refresh(s, si);
    }

    /// Acceptor: validates the hello lines (`PEER_SESS_ST_GETVERSION`,
    /// `GETHOST`, `GETPEER`) and answers the status.
    fn peer_getpeer(&mut self, now: Time, s: usize, si: usize) {
        let sect = &self.peers[s];
        let local_name = sect.local_peer().name.as_bytes();
        let sess = &sect.sessions[si];
        let res =
            super::handshake::accept_hello(sess.rx.data(), sect.max_body_len, local_name, |n| {
                sect.find_peer(n).is_some()
            });
        let (p, version, used) = match res {
            Ok(Status::Partial) => return,
            Ok(Status::Complete((h, used))) => (sect.find_peer(h.sender), h.version, used),
            Err(HandshakeError::LineTooLong) => {
                self.peer_log_end(s, si, "handshake line too long");
                self.peer_end(now, s, si, CloseHow::Graceful);
                return;
            }
            Err(HandshakeError::Rejected(code)) => {
                self.peer_reject(now, s, si, code);
                return;
            }
        };
        let Some(p) = p else {
            return self.peer_reject(now, s, si, StatusCode::UNKNOWN_PEER);
        };
        let sect = &mut self.peers[s];
        if let Some(old) = sect.peers[p].session.filter(|&o| o != si) {
            if sect.peers[p].local {
                // An old process of ours is already teaching: try again later.
                return self.peer_reject(now, s, si, StatusCode::TRY_AGAIN);
            }
            // "Last connected wins": kill the existing session, with a
            // random delay before we connect again so that both ends do
            // not loop connect/accept/close.
            let delay = self.reconnect_backoff();
            let peer = &mut self.peers[s].peers[p];
            peer.reconnect = Some(now.add_ms(delay));
            peer.heartbeat = None;
            peer.coll += 1;
            #[cfg(feature = "mutants")]
            if self.peers[s]
                .bugs
                .has(crate::mutants::Mutant::ShutdownFreshSession)
                && matches!(
                    self.peers[s].sessions[old].state,
                    SessState::Connecting | SessState::RetryWait | SessState::WaitStatus
                )
            {
                // Historic bug: the fresh outgoing session is shut down, but
                // the peer still points at it and the new one is dropped.
                let sock = self.peers[s].sessions[old].sock;
                self.close_sock(sock, CloseHow::Graceful);
                self.peers[s].sessions[old].state = SessState::Closing;
                self.timers.arm(TimerKey::PeerSession(s, old), None);
                return self.peer_end(now, s, si, CloseHow::Graceful);
            }
            self.peer_log_end(s, old, "collision with a newer session");
            self.peer_end(now, s, old, CloseHow::Graceful);
        }
        let sect = &mut self.peers[s];
        // Consumed only now: a refusal above logs the name from the hello.
        sect.sessions[si].rx.consume(used);
        let PeersSection {
            peers,
            sessions,
            flags,
            ..
        } = sect;
        let peer = &mut peers[p];
        peer.flags.set(PeerFlags::DWNGRD, version == Version::V2_0);
        peer.session = Some(si);
        peer.status = StatusCode::SUCCESS;
        peer.last_hdshk = Some(now);
        let sess = &mut sessions[si];
        sess.peer = Some(p);
        sess.version = version;
        sess.state = SessState::Established;
        sess.deadline = None;
        StatusCode::SUCCESS.encode(&mut sess.tx);
        init_peer_session(flags, peer, &mut self.tables, now, Role::Acceptor);
        // A heartbeat right away: the peer knows we are alive.
        peer.flags.insert(PeerFlags::HEARTBEAT);
        self.peers[s].woken = true;
        self.peer_established_io(now, s, si);
    }

    /// Answers a status other than 200, then closes.
    fn peer_reject(&mut self, now: Time, s: usize, si: usize, code: StatusCode) {
        let sect = &mut self.peers[s];
        let sess = &mut sect.sessions[si];
        let claimed = claimed_name(sess.rx.data(), sect.max_body_len);
        let from = sess.from.map_or(String::new(), |a| format!(" from {a}"));
        sess.tx.clear();
        sess.tx_sent = 0;
        code.encode(&mut sess.tx);
        sess.state = SessState::Closing;
        sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        let text = format!(
            "Peers section '{}': session with peer '{}'{from} ended: handshake refused with status {} ({}).",
            sect.name,
            claimed.as_deref().unwrap_or("<unknown>"),
            code.0,
            status_meaning(code)
        );
        self.log(LogLevel::Notice, text);
        self.timers.arm(
            TimerKey::PeerSession(s, si),
            Some(now.add_ms(SESSION_TIMEOUT_MS)),
        );
    }

    /// Connector: reads the status line (`PEER_SESS_ST_GETSTATUS`).
    fn peer_getstatus(&mut self, now: Time, s: usize, si: usize) {
        let sect = &mut self.peers[s];
        let max = sect.max_body_len;
        let sess = &mut sect.sessions[si];
        let (code, used) = match StatusCode::parse(sess.rx.data(), max) {
            Ok(Status::Complete(x)) => x,
            Ok(Status::Partial) => return,
            Err(_) => {
                self.peer_log_end(s, si, "status line too long");
                return self.peer_end(now, s, si, CloseHow::Graceful);
            }
        };
        sess.rx.consume(used);
        let Some(p) = sess.peer else { return };
        let PeersSection { peers, flags, .. } = sect;
        let peer = &mut peers[p];
        peer.status = code;
        if code != StatusCode::SUCCESS {
            if code == StatusCode::BAD_VERSION {
                peer.flags.insert(PeerFlags::DWNGRD);
            }
            self.peer_log_end(s, si, &format!("peer answered status {}", code.0));
            return self.peer_end(now, s, si, CloseHow::Graceful);
        }
        peer.last_hdshk = Some(now);
        let sess = &mut sect.sessions[si];
        sess.state = SessState::Established;
        sess.deadline = None;
        init_peer_session(flags, peer, &mut self.tables, now, Role::Connector);
        peer.flags.insert(PeerFlags::HEARTBEAT);
        self.peers[s].woken = true;
        self.peer_established_io(now, s, si);
    }

    /// Binary phase: read what came, then say what we have to say.
    fn peer_established_io(&mut self, now: Time, s: usize, si: usize) {
        let stopping = self.stopping.is_some();
        let out = recv_msgs(&mut self.peers[s], si, &mut self.tables, now, stopping);
        self.peer_log_ignored(s, si, &out.ignored);
        if out.wake_sync {
            self.peers[s].woken = true;
        }
        match out.end {
            Some(EndReason::Error(reply, why)) => {
                if let Some(p) = self.peers[s].sessions[si].peer {
                    self.peers[s].peers[p].proto_err += 1;
                }
                self.peer_log_end(s, si, &why);
                let sess = &mut self.peers[s].sessions[si];
                reply.encode(&mut sess.tx);
                sess.state = SessState::Closing;
                sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
                self.peer_detach(now, s, si);
            }
            Some(EndReason::Close(why)) => {
                self.peer_log_end(s, si, &why);
                self.peer_end(now, s, si, CloseHow::Graceful);
            }
            None => {
                let sess = &mut self.peers[s].sessions[si];
                let was_empty = sess.tx_pending().is_empty();
                send_msgs(&mut self.peers[s], si, &mut self.tables, now);
                let sess = &mut self.peers[s].sessions[si];
                if was_empty && !sess.tx_pending().is_empty() {
                    sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
                }
            }
        }
    }

    pub(crate) fn peer_sock_error(&mut self, now: Time, s: usize, si: usize, _err: SockError) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        self.free_sock(sess.sock);
        self.peer_log_end(s, si, "connection reset or failed");
        self.peer_session_release(now, s, si);
    }

    pub(crate) fn peer_session_timeout(&mut self, now: Time, s: usize, si: usize) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        match sess.state {
            SessState::Connecting => {
                let sock = sess.sock;
                self.close_sock(sock, CloseHow::Reset);
                self.peer_connect_failed(now, s, si, SockError::TimedOut);
            }
            SessState::RetryWait => {
                let Some(p) = sess.peer else { return };
                let addr = self.peers[s].peers[p].addr;
                let sock = self.new_sock(Self::peer_sock_owner(s, si));
                let sess = &mut self.peers[s].sessions[si];
                sess.sock = sock;
                sess.state = SessState::Connecting;
                sess.deadline = Some(now.add_ms(CONNECT_TIMEOUT_MS));
                self.connect(sock, addr);
                self.peer_refresh(s, si);
            }
            SessState::Established if sess.tx_pending().is_empty() => self.peer_refresh(s, si),
            _ => {
                self.peer_log_end(s, si, "session timeout");
                self.peer_end(now, s, si, CloseHow::Reset);
            }
        }
    }

    /// Announces interest and arms the session timer from its state.
    fn peer_refresh(&mut self, s: usize, si: usize) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        let connected = !matches!(sess.state, SessState::Connecting | SessState::RetryWait);
        let read =
            connected && sess.state != SessState::Closing && !sess.read0 && sess.rx.room() > 0;
        let write = connected && !sess.tx_pending().is_empty();
        let (sock, deadline) = (sess.sock, sess.deadline);
        self.set_interest(sock, read, write);
        self.timers.arm(
            TimerKey::PeerSession(s, si),
            deadline.map(|d| d.max(self.now.add_ms(1))),
        );
    }

    /// Logs ignored input, once per kind and session.
    fn peer_log_ignored(&mut self, s: usize, si: usize, ignored: &[(IgnoredKinds, String)]) {
        for (kind, text) in ignored {
            let sect = &mut self.peers[s];
            let Some(sess) = sect.sessions.get_mut(si) else {
                return;
            };
            if sess.ignored_logged.contains(*kind) {
                continue;
            }
            sess.ignored_logged.insert(*kind);
            let who = sess
                .peer
                .map_or("<unknown>".to_string(), |p| sect.peers[p].name.clone());
            let line = format!("Peers section '{}': peer '{}': {}.", sect.name, who, text);
            self.log(LogLevel::Notice, line);
        }
    }

    fn peer_log_end(&mut self, s: usize, si: usize, why: &str) {
        let sect = &self.peers[s];
        let Some(sess) = sect.sessions.get(si) else {
            return;
        };
        let who = match sess.peer {
            Some(p) => sect.peers[p].name.clone(),
            None => "<unknown>".into(),
        };
        let text = format!(
            "Peers section '{}': session with peer '{}' ended: {}.",
            sect.name, who, why
        );
        self.log(LogLevel::Notice, text);
    }

    /// Detaches the session from its peer (`peer_session_release`) but
    /// keeps it to flush its last bytes.
    fn peer_detach(&mut self, now: Time, s: usize, si: usize) {
        let sect = &mut self.peers[s];
        let Some(p) = sect.sessions.get(si).and_then(|sess| sess.peer) else {
            return;
        };
        let PeersSection {
            peers,
            flags,
            resync_timeout,
            ..
        } = sect;
        let peer = &mut peers[p];
        if peer.session != Some(si) {
            return;
        }
        peer.session = None;
        if peer.flags.contains(PeerFlags::LEARN_ASSIGN) {
            peer.flags.remove(PeerFlags::LEARN_ASSIGN);
            flags.remove(PeersFlags::RESYNC_ASSIGN | PeersFlags::RESYNC_PROCESS);
            *resync_timeout = Some(now.add_ms(RESYNC_TIMEOUT_MS));
        }
        peer.flags
            .remove(PeerFlags::TEACH_RESET | PeerFlags::LEARN_RESET);
        sect.woken = true;
    }

    /// Ends a session: detaches it and closes its socket.
    fn peer_end(&mut self, now: Time, s: usize, si: usize, how: CloseHow) {
        let Some(sess) = self.peers[s].sessions.get(si) else {
            return;
        };
        let sock = sess.sock;
        self.close_sock(sock, how);
        self.peer_session_release(now, s, si);
    }

    /// Drops a session whose socket is already gone.
    fn peer_session_release(&mut self, now: Time, s: usize, si: usize) {
        self.peer_detach(now, s, si);
        self.timers.arm(TimerKey::PeerSession(s, si), None);
        self.peers[s].sessions.try_remove(si);
    }

    pub(crate) fn peer_close(&mut self, s: usize, si: usize, how: CloseHow) {
        let now = self.now;
        self.peer_end(now, s, si, how);
    }

    /// 50 ms plus up to 2 s: the delay after we kill a session.
    fn reconnect_backoff(&mut self) -> u64 {
        #[cfg(feature = "mutants")]
        if self.opts.mutant == Some(crate::mutants::Mutant::NoReconnectDelay) {
            return 0;
        }
        50 + self.rng.below(2000)
    }

    /// `process_peer_sync`: reconnects, heartbeats, liveness, resync phases.
    pub(crate) fn peers_sync_task(&mut self, now: Time, s: usize) {
        self.peers[s].woken = false;
        self.peers[s].task_calls += 1;
        let expire = if self.stopping.is_none() {
            self.peers_sync_running(now, s)
        } else {
            self.peers_sync_stopping(now, s)
        };
        let expire = expire.map(|t| {
            crate::bug_on!(t <= now, "sync task re-armed in the past");
            t.max(now.add_ms(1))
        });
        self.timers.arm(TimerKey::PeersSync(s), expire);
    }

    fn peers_sync_running(&mut self, now: Time, s: usize) -> Option<Time> {
        let mut expire: Option<Time> = None;
        let sect = &mut self.peers[s];
        if sect.flags.from_local()
            && (!self.opts.has_old_process || Time::is_expired(sect.resync_timeout, now))
            && !sect.flags.contains(PeersFlags::RESYNC_ASSIGN)
        {
            // No old process came to teach us: ask the remote peers.
            sect.flags
                .insert(PeersFlags::RESYNC_LOCAL | PeersFlags::RESYNC_LOCALTIMEOUT);
            sect.resync_timeout = Some(now.add_ms(RESYNC_TIMEOUT_MS));
        }
        for p in 0..self.peers[s].peers.len() {
            if self.peers[s].peers[p].local {
                continue;
            }
            let e = self.peers_sync_peer(now, s, p);
            expire = Time::first(expire, e);
        }
        let sect = &mut self.peers[s];
        if sect.flags.from_remote()
            && !sect.flags.contains(PeersFlags::RESYNC_ASSIGN)
            && Time::is_expired(sect.resync_timeout, now)
        {
            // Nobody taught us in time: consider ourselves synced.
            sect.flags
                .insert(PeersFlags::RESYNC_REMOTE | PeersFlags::RESYNC_REMOTETIMEOUT);
        }
        let sect = &self.peers[s];
        if !sect.flags.synced() {
            #[cfg(feature = "mutants")]
            if sect.bugs.has(crate::mutants::Mutant::ResyncExpiredRearm) {
                // Historic bug: re-armed even when already expired.
                return Time::first(expire, sect.resync_timeout.map(|t| t.max(now)));
            }
            if !Time::is_expired(sect.resync_timeout, now) {
                expire = Time::first(expire, sect.resync_timeout);
            }
        }
        expire
    }

    /// The sync task's work for one remote peer; returns its next deadline.
    fn peers_sync_peer(&mut self, now: Time, s: usize, p: usize) -> Option<Time> {
        let sect = &mut self.peers[s];
        let peer = &sect.peers[p];
        let Some(si) = peer.session else {
            let st = peer.status.0;
            if st == 0
                || ((st == 100 || st == 110 || st == 200) && Time::is_expired(peer.reconnect, now))
            {
                let peer = &mut sect.peers[p];
                peer.reconnect = Some(now.add_ms(RECONNECT_TIMEOUT_MS));
                peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
                self.peer_session_create(now, s, p);
                return self.peers[s].peers[p].reconnect;
            }
            if !Time::is_expired(peer.reconnect, now) {
                return peer.reconnect;
            }
            return None;
        };
        if peer.status != StatusCode::SUCCESS || sect.sessions[si].state != SessState::Established {
            return None;
        }
        if sect.flags.from_remote()
            && !sect.flags.contains(PeersFlags::RESYNC_ASSIGN)
            && !peer.flags.contains(PeerFlags::LEARN_NOTUP2DATE)
        {
            // Assign this peer as teacher; the send pass asks the lesson.
            sect.peers[p].flags.insert(PeerFlags::LEARN_ASSIGN);
            sect.flags.insert(PeersFlags::RESYNC_ASSIGN);
            self.peer_wake_session(now, s, si);
            return None;
        }
        let tables = &self.tables;
        let to_push = peer
            .tables
            .iter()
            .any(|st| st.last_pushed != tables[st.table].localupdate());
        let peer = &mut sect.peers[p];
        if to_push {
            peer.flags.remove(PeerFlags::HEARTBEAT);
            peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
            if Time::is_expired(peer.reconnect, now) {
                peer.reconnect = Some(now.add_ms(RECONNECT_TIMEOUT_MS));
            }
            let e = Time::first(peer.reconnect, peer.heartbeat);
            self.peer_wake_session(now, s, si);
            return e;
        }
        if Time::is_expired(peer.reconnect, now) {
            if peer.flags.contains(PeerFlags::ALIVE) {
                peer.flags.remove(PeerFlags::ALIVE);
                peer.reconnect = Some(now.add_ms(RECONNECT_TIMEOUT_MS));
            } else {
                // Nothing heard for a whole period: the peer is dead.
                peer.no_hbt += 1;
                peer.heartbeat = None;
                let delay = self.reconnect_backoff();
                self.peers[s].peers[p].reconnect = Some(now.add_ms(delay));
                self.peer_log_end(s, si, "no message from the peer for too long");
                self.peer_end(now, s, si, CloseHow::Graceful);
                return self.peers[s].peers[p].reconnect;
            }
        } else if Time::is_expired(peer.heartbeat, now) {
            peer.heartbeat = Some(now.add_ms(HEARTBEAT_TIMEOUT_MS));
            peer.flags.insert(PeerFlags::HEARTBEAT);
            let e = Time::first(peer.reconnect, peer.heartbeat);
            self.peer_wake_session(now, s, si);
            return e;
        }
        let peer = &self.peers[s].peers[p];
        Time::first(peer.reconnect, peer.heartbeat)
    }

    /// `appctx_wakeup`: run the send pass of a session now.
    fn peer_wake_session(&mut self, now: Time, s: usize, si: usize) {
        let Some(sess) = self.peers[s].sessions.get_mut(si) else {
            return;
        };
        if sess.state != SessState::Established {
            return;
        }
        let was_empty = sess.tx_pending().is_empty();
        send_msgs(&mut self.peers[s], si, &mut self.tables, now);
        let sess = &mut self.peers[s].sessions[si];
        if was_empty && !sess.tx_pending().is_empty() {
            sess.deadline = Some(now.add_ms(SESSION_TIMEOUT_MS));
        }
        self.peer_refresh(s, si);
    }

    /// The sync task while stopping: teach the new process through the
    /// local peer, then let the process exit.
    fn peers_sync_stopping(&mut self, now: Time, s: usize) -> Option<Time> {
        let sect = &mut self.peers[s];
        if !sect.flags.contains(PeersFlags::DONOTSTOP) {
            return None;
        }
        let l = sect.local;
        let local = &sect.peers[l];
        if local.flags.contains(PeerFlags::TEACH_COMPLETE)
            || Time::is_expired(sect.stop_deadline, now)
        {
            sect.flags.remove(PeersFlags::DONOTSTOP);
            return None;
        }
        match local.session {
            None => {
                let st = local.status.0;
                if !matches!(st, 0 | 100 | 110 | 200 | 300) {
                    // Refused for good: exit without teaching.
                    sect.flags.remove(PeersFlags::DONOTSTOP);
                    return None;
                }
                if Time::is_expired(local.reconnect, now) || local.reconnect.is_none() {
                    sect.peers[l].reconnect = Some(now.add_ms(LOCAL_RETRY_MS));
                    self.peer_session_create(now, s, l);
                }
                let sect = &self.peers[s];
                Time::first(sect.peers[l].reconnect, sect.stop_deadline)
            }
            Some(si) => {
                self.peer_wake_session(now, s, si);
                self.peers[s].stop_deadline
            }
        }
    }

    /// Soft stop: close the remote sessions, then teach the new process.
    pub(crate) fn peers_soft_stop(&mut self, now: Time) {
        for s in 0..self.peers.len() {
            for p in 0..self.peers[s].peers.len() {
                if self.peers[s].peers[p].local {
                    continue;
                }
                let delay = self.reconnect_backoff();
                self.peers[s].peers[p].reconnect = Some(now.add_ms(delay));
                if let Some(si) = self.peers[s].peers[p].session {
                    self.peer_end(now, s, si, CloseHow::Graceful);
                }
            }
            let sect = &mut self.peers[s];
            // Only a fully synced process teaches; there must be something to teach.
            if sect.flags.synced() && !sect.tables.is_empty() {
                sect.flags.insert(PeersFlags::DONOTSTOP);
                sect.stop_deadline = Some(now.add_ms(RESYNC_TIMEOUT_MS));
                let l = sect.local;
                sect.peers[l].status = StatusCode(0);
                sect.peers[l].reconnect = None;
            }
            sect.woken = true;
        }
    }

    pub(crate) fn peers_may_exit(&self) -> bool {
        self.peers
            .iter()
            .all(|s| !s.flags.contains(PeersFlags::DONOTSTOP))
    }

    pub(crate) fn peers_hard_stop(&mut self) {
        for s in 0..self.peers.len() {
            let sessions: Vec<usize> = self.peers[s].sessions.iter().map(|(i, _)| i).collect();
            for si in sessions {
                self.peer_close(s, si, CloseHow::Graceful);
            }
            self.peers[s].flags.remove(PeersFlags::DONOTSTOP);
            self.timers.arm(TimerKey::PeersSync(s), None);
        }
    }

    pub(crate) fn peers_check_sock(&self, s: usize, si: usize, sock: SockId) {
        let sess = self
            .peers
            .get(s)
            .and_then(|sect| sect.sessions.get(si))
            .expect("peer session of a live socket");
        assert_eq!(sess.sock, sock, "peer session and socket disagree");
        if let Some(p) = sess.peer {
            let peer = &self.peers[s].peers[p];
            if sess.state == SessState::Established {
                assert!(peer.session == Some(si) || sess.state == SessState::Closing);
            }
        }
    }
}
