//! A cursor over one complete message body (internal).
//!
//! Every read is bounded by the body: running out of bytes is a
//! [`Reason::Truncated`] field, never a panic and never "need more data"
//! (the frame layer already waited for the whole body).

use super::error::{Field, Malformed, Reason};
use super::varint::{self, VarintError};

#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest().is_empty()
    }

    pub(crate) fn varint(&mut self, field: Field) -> Result<u64, Malformed> {
        match varint::decode(self.rest()) {
            Ok((v, n)) => {
                self.pos += n;
                Ok(v)
            }
            Err(VarintError::Incomplete) => Err(Malformed::new(field, Reason::Truncated)),
            Err(VarintError::TooLong) => Err(Malformed::new(field, Reason::VarintTooLong)),
        }
    }

    pub(crate) fn be32(&mut self, field: Field) -> Result<u32, Malformed> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn array<const N: usize>(&mut self, field: Field) -> Result<[u8; N], Malformed> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N as u64, field)?);
        Ok(a)
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: u64, field: Field) -> Result<&'a [u8], Malformed> {
        let rest = self.rest();
        match usize::try_from(n) {
            Ok(n) if n <= rest.len() => {
                self.pos += n;
                Ok(&rest[..n])
            }
            _ => Err(Malformed::new(field, Reason::Truncated)),
        }
    }
}
