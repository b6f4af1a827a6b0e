//! The DNS wire format (RFC 1035, AAAA from RFC 3596, the EDNS0 OPT record
//! of RFC 6891): what HAProxy's `resolv_build_query` writes and
//! `resolv_validate_dns_response` reads.
//!
//! Parsing never panics and never allocates more than the datagram allows:
//! every offset is bounds-checked, compressed names may only point
//! backwards and a name is at most 255 bytes, so a hostile datagram costs
//! at most a bounded amount of work (fuzzed by `fuzzing::dns_response`).

use core::net::{Ipv4Addr, Ipv6Addr};

/// A record type (`DNS_RTYPE_*`), open: unknown types stay values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RType(pub u16);

impl RType {
    pub const A: RType = RType(1);
    pub const CNAME: RType = RType(5);
    pub const SRV: RType = RType(33);
    pub const AAAA: RType = RType(28);
    pub const OPT: RType = RType(41);
}

/// A response code (`DNS_RCODE_*`), open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rcode(pub u8);

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);
    pub const FORMERR: Rcode = Rcode(1);
    pub const SERVFAIL: Rcode = Rcode(2);
    pub const NXDOMAIN: Rcode = Rcode(3);
    pub const REFUSED: Rcode = Rcode(5);
}

/// Class IN.
const CLASS_IN: u16 = 1;
/// The longest name on the wire (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Answer records kept from one response; the rest are ignored (HAProxy
/// bounds them by `accepted_payload_size`).
pub const MAX_ANSWERS: usize = 256;

/// Why a datagram is not a usable response (HAProxy's
/// `RSLV_RESP_INVALID` and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// Shorter than what its header or records announce.
    Truncated,
    /// Not a response (QR clear), or not one question.
    NotAResponse,
    /// A name is malformed: too long, a forward or looping pointer, a
    /// reserved label type.
    BadName,
    /// A record's data does not fit its type (an A record of 5 bytes).
    BadRecord,
}

/// A hostname that cannot be written as a DNS name (an empty label, a
/// label over 63 bytes, over 255 bytes in all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadHostname;

/// Writes `name` in wire format (length-prefixed labels, then 0).
pub fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), BadHostname> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() + 2 > MAX_NAME_LEN {
        return Err(BadHostname);
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(BadHostname);
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// A query for `name`, type `qtype`, id `id`, recursion desired, with an
/// EDNS0 OPT record announcing `payload_size` (HAProxy always adds it).
pub fn encode_query(
    id: u16,
    name: &str,
    qtype: RType,
    payload_size: u16,
    out: &mut Vec<u8>,
) -> Result<(), BadHostname> {
    let start = out.len();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // QD=1 AN=0 NS=0 AR=1
    if let Err(e) = encode_name(name, out) {
        out.truncate(start);
        return Err(e);
    }
    out.extend_from_slice(&qtype.0.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = payload size, TTL 0, no data.
    out.push(0);
    out.extend_from_slice(&RType::OPT.0.to_be_bytes());
    out.extend_from_slice(&payload_size.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(())
}

/// The data of an answer record Sluice uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// The target name, lowercase, without the final dot.
    Cname(String),
    /// Any other type, skipped.
    Other,
}

/// One answer record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The owner name, lowercase, without the final dot.
    pub name: String,
    pub rtype: RType,
    pub ttl: u32,
    pub data: RData,
}

/// A parsed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub rcode: Rcode,
    /// TC: the answer did not fit.
    pub truncated: bool,
    /// The question's name (lowercase, no final dot) and type.
    pub qname: String,
    pub qtype: RType,
    /// The answer section (at most [`MAX_ANSWERS`]).
    pub answers: Vec<Record>,
}

impl Response {
    /// The addresses the answer gives for `name`, following CNAMEs in the
    /// answer (HAProxy keeps the records whose owner is the queried name
    /// or a CNAME target), in answer order.
    pub fn addresses(&self) -> Vec<core::net::IpAddr> {
        let mut names = vec![self.qname.as_str()];
        // CNAME chains are followed as far as the answer goes (bounded by
        // the answer count).
        for _ in 0..self.answers.len() {
            let before = names.len();
            for r in &self.answers {
                if let RData::Cname(t) = &r.data {
                    if names.contains(&r.name.as_str()) && !names.contains(&t.as_str()) {
                        names.push(t);
                    }
                }
            }
            if names.len() == before {
                break;
            }
        }
        self.answers
            .iter()
            .filter(|r| names.contains(&r.name.as_str()))
            .filter_map(|r| match r.data {
                RData::A(a) => Some(a.into()),
                RData::Aaaa(a) => Some(a.into()),
                _ => None,
            })
            .collect()
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DnsError> {
        let end = self.pos.checked_add(n).ok_or(DnsError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DnsError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A possibly compressed name at the cursor; the cursor moves past
    /// its in-place part.
    fn name(&mut self) -> Result<String, DnsError> {
        let (name, end) = read_name(self.buf, self.pos)?;
        self.pos = end;
        Ok(name)
    }
}

/// The name at `pos`: its text (lowercase, dot-separated, no final dot)
/// and where its in-place part ends. Pointers must go strictly backwards,
/// so following them terminates.
fn read_name(buf: &[u8], mut pos: usize) -> Result<(String, usize), DnsError> {
    let mut out = String::new();
    let mut wire_len = 1usize;
    let mut end = None;
    let mut floor = pos;
    loop {
        let len = *buf.get(pos).ok_or(DnsError::Truncated)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok((out, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = buf.get(pos + 1..pos + 1 + len).ok_or(DnsError::Truncated)?;
                wire_len += len + 1;
                if wire_len > MAX_NAME_LEN {
                    return Err(DnsError::BadName);
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.extend(label.iter().map(|b| b.to_ascii_lowercase() as char));
                pos += 1 + len;
            }
            0xc0 => {
                let lo = *buf.get(pos + 1).ok_or(DnsError::Truncated)? as usize;
                let target = ((len & 0x3f) << 8) | lo;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                if target >= floor {
                    return Err(DnsError::BadName);
                }
                floor = target;
                pos = target;
            }
            _ => return Err(DnsError::BadName),
        }
    }
}

/// Parses a response datagram. Trailing bytes after the records the
/// header announces are ignored (as HAProxy does); the authority and
/// additional sections are not read.
pub fn parse_response(buf: &[u8]) -> Result<Response, DnsError> {
    let mut r = Reader { buf, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    let (qd, an) = (r.u16()?, r.u16()?);
    let _ = (r.u16()?, r.u16()?);
    if flags & 0x8000 == 0 || qd != 1 {
        return Err(DnsError::NotAResponse);
    }
    let qname = r.name()?;
    let qtype = RType(r.u16()?);
    let _class = r.u16()?;
    let mut answers = Vec::new();
    for _ in 0..an {
        let name = r.name()?;
        let rtype = RType(r.u16()?);
        let class = r.u16()?;
        let ttl = r.u32()?;
        let rdlen = r.u16()? as usize;
        let at = r.pos;
        let rd = r.take(rdlen)?;
        let data = match rtype {
            _ if class != CLASS_IN => RData::Other,
            RType::A => {
                let b: [u8; 4] = rd.try_into().map_err(|_| DnsError::BadRecord)?;
                RData::A(b.into())
            }
            RType::AAAA => {
                let b: [u8; 16] = rd.try_into().map_err(|_| DnsError::BadRecord)?;
                RData::Aaaa(b.into())
            }
            RType::CNAME => {
                let (t, end) = read_name(buf, at)?;
                if end != at + rdlen {
                    return Err(DnsError::BadRecord);
                }
                RData::Cname(t)
            }
            _ => RData::Other,
        };
        if answers.len() < MAX_ANSWERS {
            answers.push(Record {
                name,
                rtype,
                ttl,
                data,
            });
        }
    }
    Ok(Response {
        id,
        rcode: Rcode((flags & 0x000f) as u8),
        truncated: flags & 0x0200 != 0,
        qname,
        qtype,
        answers,
    })
}

/// A response to `query` (test servers, the simulator's DNS node): the
/// query's id and question, `rcode`, and the records for the question's
/// name (each address of the question's type, TTL `ttl`).
pub fn encode_response(
    query: &[u8],
    rcode: Rcode,
    addrs: &[core::net::IpAddr],
    ttl: u32,
) -> Option<Vec<u8>> {
    let mut r = Reader {
        buf: query,
        pos: 12,
    };
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    // A question is never compressed: its bytes are copied as they are.
    let mut at = 12;
    while *query.get(at)? != 0 {
        let len = query[at];
        if len & 0xc0 != 0 {
            return None;
        }
        at += 1 + usize::from(len);
    }
    r.name().ok()?;
    let qtype = RType(r.u16().ok()?);
    r.u16().ok()?;
    let question = &query[12..r.pos];
    let records: Vec<_> = addrs
        .iter()
        .filter(|a| match a {
            core::net::IpAddr::V4(_) => qtype == RType::A,
            core::net::IpAddr::V6(_) => qtype == RType::AAAA,
        })
        .collect();
    let mut out = Vec::with_capacity(64 + records.len() * 28);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(0x8180u16 | u16::from(rcode.0 & 0x0f)).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for a in records {
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&qtype.0.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        match a {
            core::net::IpAddr::V4(v) => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&v.octets());
            }
            core::net::IpAddr::V6(v) => {
                out.extend_from_slice(&16u16.to_be_bytes());
                out.extend_from_slice(&v.octets());
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes_as_haproxy_writes_them() {
        let mut q = Vec::new();
        encode_query(0x1234, "www.example.com", RType::A, 512, &mut q).unwrap();
        let want: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\
            \x03www\x07example\x03com\x00\x00\x01\x00\x01\
            \x00\x00\x29\x02\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(q, want);
        assert_eq!(
            encode_query(1, "a..b", RType::A, 512, &mut q),
            Err(BadHostname)
        );
        assert_eq!(q.len(), want.len(), "nothing written on error");
        let long = "a".repeat(64);
        assert!(encode_name(&long, &mut Vec::new()).is_err());
    }

    #[test]
    fn response_round_trip_and_cname() {
        let mut q = Vec::new();
        encode_query(7, "App.Example", RType::A, 512, &mut q).unwrap();
        let ips = ["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let resp = encode_response(&q, Rcode::NOERROR, &ips, 30).unwrap();
        let r = parse_response(&resp).unwrap();
        assert_eq!((r.id, r.rcode, r.qtype), (7, Rcode::NOERROR, RType::A));
        assert_eq!(r.qname, "app.example");
        assert_eq!(r.addresses(), ips);

        // www.x CNAME app.x ; app.x A 1.2.3.4 ; other.x A 9.9.9.9
        let mut m = vec![0, 9, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x01x\x00\x00\x01\x00\x01");
        m.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x10\x00\x06\x03app\xc0\x10");
        m.extend_from_slice(
            b"\x03app\xc0\x10\x00\x01\x00\x01\x00\x00\x00\x10\x00\x04\x01\x02\x03\x04",
        );
        m.extend_from_slice(
            b"\x05other\xc0\x10\x00\x01\x00\x01\x00\x00\x00\x10\x00\x04\x09\x09\x09\x09",
        );
        let r = parse_response(&m).unwrap();
        assert_eq!(r.answers[0].data, RData::Cname("app.x".into()));
        assert_eq!(
            r.addresses(),
            ["1.2.3.4".parse::<core::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn hostile_datagrams_are_errors() {
        assert_eq!(parse_response(&[]), Err(DnsError::Truncated));
        // A query (QR clear).
        let mut q = Vec::new();
        encode_query(7, "a.b", RType::A, 512, &mut q).unwrap();
        assert_eq!(parse_response(&q), Err(DnsError::NotAResponse));
        // A pointer to itself.
        let m = [
            0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1,
        ];
        assert_eq!(parse_response(&m), Err(DnsError::BadName));
        // An A record of 3 bytes.
        let mut m = vec![
            0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
        ];
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 1, 2, 3]);
        assert_eq!(parse_response(&m), Err(DnsError::BadRecord));
        // Announced answers missing.
        let m = [
            0, 1, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1,
        ];
        assert_eq!(parse_response(&m), Err(DnsError::Truncated));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse_response(&data).map(|r| r.addresses());
        }
    }
}
