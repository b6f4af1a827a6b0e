//! TABLE_SWITCH (`0a 83`, PROTOCOL.md §8.2) and UPDATE_ACK (`0a 84`, §8.6):
//! HAProxy's `peer_treat_switchmsg`, `peer_treat_ackmsg` and
//! `peer_send_ackmsg`.

use super::error::{Field, Malformed};
use super::frame::{Frame, MsgClass};
use super::message::StkType;
use super::reader::Reader;
use super::varint;

/// TABLE_SWITCH: the current table becomes the one the sender announced
/// with this id. 2.6 accepts it but never sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSwitch {
    pub table_id: u64,
}

impl TableSwitch {
    /// A truncated id is a protocol error. Trailing bytes are ignored.
    pub fn decode(body: &[u8]) -> Result<TableSwitch, Malformed> {
        let table_id = Reader::new(body).varint(Field::TableId)?;
        Ok(TableSwitch { table_id })
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) {
        Frame::encode_with(out, MsgClass::STICK_TABLE, StkType::SWITCH.0, |out| {
            varint::encode(self.table_id, out);
        });
    }
}

/// UPDATE_ACK: "I received your updates of table `table_id` up to
/// `update_id`". The table id is the one the *receiver of the ack* announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateAck {
    pub table_id: u64,
    pub update_id: u32,
}

impl UpdateAck {
    /// A truncated id or fewer than 4 bytes after it is a protocol error,
    /// except while teaching that peer: 2.6 then ignores acks unparsed.
    pub fn decode(body: &[u8]) -> Result<UpdateAck, Malformed> {
        let mut r = Reader::new(body);
        let table_id = r.varint(Field::TableId)?;
        let update_id = r.be32(Field::UpdateId)?;
        Ok(UpdateAck {
            table_id,
            update_id,
        })
    }

    /// Appends the whole message.
    pub fn encode(&self, out: &mut Vec<u8>) {
        Frame::encode_with(out, MsgClass::STICK_TABLE, StkType::ACK.0, |out| {
            varint::encode(self.table_id, out);
            out.extend_from_slice(&self.update_id.to_be_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::error::Reason;

    #[test]
    fn observed_ack() {
        let mut out = Vec::new();
        UpdateAck {
            table_id: 7,
            update_id: 100,
        }
        .encode(&mut out);
        assert_eq!(out, [0x0a, 0x84, 0x05, 0x07, 0x00, 0x00, 0x00, 0x64]);
        assert_eq!(
            UpdateAck::decode(&out[3..]),
            Ok(UpdateAck {
                table_id: 7,
                update_id: 100
            })
        );
        let err = UpdateAck::decode(&[0x07, 0x00, 0x00, 0x00]).unwrap_err();
        assert_eq!(
            (err.field, err.reason),
            (Field::UpdateId, Reason::Truncated)
        );
        assert_eq!(
            UpdateAck::decode(&[0xf0]).unwrap_err().field,
            Field::TableId
        );
        assert_eq!(TableSwitch::decode(&[]).unwrap_err().field, Field::TableId);
    }
}
