//! The receive side of a peer session: HAProxy's `peer_recv_msg` and
//! `peer_treat_*msg` (updates, acks, control messages, table
//! definitions), applied to the engine's stick tables.

use core::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use super::*;
use crate::freq_ctr::FreqCtr;
use crate::peers::section::*;
use crate::peers::update::{FreqCtrValue, Key, Value};
use crate::peers::{
    ControlType, DictValue, ErrorType, Frame, FrameLimits, Message, MessageError, Status,
    TableDefinition, Update, UpdateAck, UpdateLayout,
};
use crate::stick_table::{StData, StKey, StdType, StickTable};
use crate::time::Time;

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
    dict: &mut crate::peers::DictRxCache,
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
