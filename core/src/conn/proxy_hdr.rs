//! The PROXY protocol, versions 1 and 2: HAProxy's `accept-proxy` receiver
//! (`conn_recv_proxy`) and its `send-proxy` / `send-proxy-v2` senders
//! (`make_proxy_line_v1`, `make_proxy_line_v2`), after HAProxy's
//! `doc/proxy-protocol.txt` (the 2020/03/05 revision).
//!
//! ```text
//!  v1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF
//!      "PROXY" SP "UNKNOWN" [SP <anything but CR/LF>] CRLF
//!      at most 107 bytes, CRLF included
//!
//!  v2: 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A   signature (12 bytes)
//!      ver_cmd  high nibble 2, low nibble 0 LOCAL | 1 PROXY
//!      fam      high nibble 0 UNSPEC | 1 INET | 2 INET6 | 3 UNIX
//!               low nibble  0 UNSPEC | 1 STREAM | 2 DGRAM
//!      len      u16, network order: bytes after these 16
//!      address block (12 INET, 36 INET6, 216 UNIX, 0 otherwise)
//!      TLVs: type u8, length u16, value — up to exactly 16 + len
//! ```
//!
//! # Parsing
//!
//! [`parse`] is push-style, like `httparse`: give it every byte received so
//! far; it answers [`Status::Partial`] while the header may still turn out
//! valid, [`Status::Complete`] with the header and the number of bytes it
//! used, or a [`ProxyError`] as soon as the bytes cannot start a valid header.
//! Checks run in byte order and each one runs as soon as its bytes are there,
//! so feeding the bytes in any number of pieces gives the same answer as
//! feeding them at once (a prefix answers `Partial` or the final answer).
//! It never looks past the end of the header: what follows belongs to the
//! next layer. It is bounded: a v1 line longer than [`V1_MAX_LEN`] or a v2
//! header longer than the caller's `max_v2_len` is [`ProxyError::TooLong`].
//!
//! On any error the caller logs HAProxy's `Received something which does not
//! look like a PROXY protocol header` (with the error for detail) and closes.
//!
//! # Choices where the spec leaves room
//!
//! * v1 is strict where HAProxy is lenient (the spec's wording wins): IPv4
//!   octets and ports without leading zeros, ports at most 65535, exactly one
//!   space between fields, no bare CR or LF. `UNKNOWN` may be followed by a
//!   space and anything up to the CRLF (ignored, as the spec requires).
//! * v2 `LOCAL`: the addresses are never reported (use the real ones). When
//!   the family byte is valid and `len` covers its address block, the TLVs
//!   after the block are parsed and checked (a CRC32C is verified); otherwise
//!   the block is skipped whole, as the spec says the family is ignored.
//! * v2 `PROXY`: an invalid family byte is an error; the families and
//!   protocols the spec lists are all decoded (TCP and UDP over IPv4/IPv6,
//!   UNIX stream and datagram); `UNSPEC` family or protocol means no address.
//! * TLV values are checked where HAProxy checks them: CRC32C is exactly 4
//!   bytes and must match, AUTHORITY is at most 255 bytes
//!   (`PP2_AUTHORITY_MAX`), UNIQUE_ID at most 128 (`UNIQUEID_LEN`); an SSL TLV
//!   has its 5 fixed bytes and well-formed sub-TLVs. Two CRC32C TLVs are
//!   rejected (which one would cover which is undefined).

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub use crate::peers::Status;

/// Longest v1 line, CRLF included (`PROXY UNKNOWN` with two full IPv6
/// addresses and ports, the spec's worst case).
pub const V1_MAX_LEN: usize = 107;

/// What every v2 header starts with (`PP2_SIGNATURE`).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part of a v2 header: signature, ver_cmd, fam, len
/// (`PP2_HEADER_LEN`).
pub const V2_HEADER_LEN: usize = 16;

/// Longest v2 header the wire format can express.
pub const V2_MAX_LEN: usize = V2_HEADER_LEN + u16::MAX as usize;

/// A sensible `max_v2_len`: HAProxy peeks the header into its trash buffer,
/// `tune.bufsize` bytes (16384 by default).
pub const DEFAULT_MAX_V2_LEN: usize = 16384;

/// Longest AUTHORITY value HAProxy accepts (`PP2_AUTHORITY_MAX`).
pub const AUTHORITY_MAX_LEN: usize = 255;

/// Longest UNIQUE_ID value (spec §2.2.5, HAProxy's `UNIQUEID_LEN`).
pub const UNIQUE_ID_MAX_LEN: usize = 128;

/// Size of one AF_UNIX address in a v2 header (`sun_path`).
pub const UNIX_ADDR_LEN: usize = 108;

/// Which format a header was received in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// The text line.
    V1,
    /// The binary header.
    V2,
}

/// The v2 command (low nibble of `ver_cmd`). A v1 line is always `Proxy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `PP2_CMD_LOCAL`: the sender's own connection (a health check); use
    /// the real connection's addresses.
    #[doc(alias = "PP2_CMD_LOCAL")]
    Local,
    /// `PP2_CMD_PROXY`: relayed on behalf of the client named in the header.
    #[doc(alias = "PP2_CMD_PROXY")]
    Proxy,
}

/// Address family (high nibble of the v2 `fam` byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    #[doc(alias = "PP2_FAM_UNSPEC")]
    Unspec,
    #[doc(alias = "PP2_FAM_INET")]
    Inet,
    #[doc(alias = "PP2_FAM_INET6")]
    Inet6,
    #[doc(alias = "PP2_FAM_UNIX")]
    Unix,
}

/// Transport protocol (low nibble of the v2 `fam` byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    #[doc(alias = "PP2_TRANS_UNSPEC")]
    Unspec,
    #[doc(alias = "PP2_TRANS_STREAM")]
    Stream,
    #[doc(alias = "PP2_TRANS_DGRAM")]
    Dgram,
}

/// The v2 `fam` byte as a pair; v1 `TCP4` / `TCP6` / `UNKNOWN` map to
/// [`Transport::TCP4`], [`Transport::TCP6`] and [`Transport::UNSPEC`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transport {
    pub family: Family,
    pub protocol: Protocol,
}

impl Transport {
    pub const UNSPEC: Transport = Transport {
        family: Family::Unspec,
        protocol: Protocol::Unspec,
    };
    pub const TCP4: Transport = Transport {
        family: Family::Inet,
        protocol: Protocol::Stream,
    };
    pub const TCP6: Transport = Transport {
        family: Family::Inet6,
        protocol: Protocol::Stream,
    };

    /// Decodes a v2 `fam` byte; `None` for the values the spec forbids.
    pub const fn from_byte(b: u8) -> Option<Transport> {
        let family = match b >> 4 {
            0 => Family::Unspec,
            1 => Family::Inet,
            2 => Family::Inet6,
            3 => Family::Unix,
            _ => return None,
        };
        let protocol = match b & 0x0f {
            0 => Protocol::Unspec,
            1 => Protocol::Stream,
            2 => Protocol::Dgram,
            _ => return None,
        };
        Some(Transport { family, protocol })
    }

    /// The v2 `fam` byte.
    pub const fn to_byte(self) -> u8 {
        let f = match self.family {
            Family::Unspec => 0,
            Family::Inet => 1,
            Family::Inet6 => 2,
            Family::Unix => 3,
        };
        let p = match self.protocol {
            Protocol::Unspec => 0,
            Protocol::Stream => 1,
            Protocol::Dgram => 2,
        };
        f << 4 | p
    }

    /// Bytes of the v2 address block for this transport: 12, 36 or 216 when
    /// both family and protocol are known, 0 otherwise.
    pub const fn addr_len(self) -> usize {
        if matches!(self.protocol, Protocol::Unspec) {
            return 0;
        }
        match self.family {
            Family::Unspec => 0,
            Family::Inet => 12,
            Family::Inet6 => 36,
            Family::Unix => 2 * UNIX_ADDR_LEN,
        }
    }
}

/// One AF_UNIX address of a v2 header: the raw 108-byte `sun_path`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixAddr(pub [u8; UNIX_ADDR_LEN]);

impl UnixAddr {
    /// The path up to its first NUL; for a Linux abstract address (leading
    /// NUL) the bytes up to the last non-NUL one, leading NUL included.
    pub fn path(&self) -> &[u8] {
        let raw = &self.0[..];
        if raw.first() == Some(&0) {
            let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            return &raw[..end];
        }
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        &raw[..end]
    }
}

impl fmt::Debug for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixAddr({:?})", self.path().escape_ascii().to_string())
    }
}

/// `client` bits of the SSL TLV (`PP2_CLIENT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SslClient(pub u8);

impl SslClient {
    /// The client connected over SSL/TLS.
    #[doc(alias = "PP2_CLIENT_SSL")]
    pub const SSL: u8 = 0x01;
    /// The client presented a certificate on this connection.
    #[doc(alias = "PP2_CLIENT_CERT_CONN")]
    pub const CERT_CONN: u8 = 0x02;
    /// The client presented a certificate at least once in this TLS session.
    #[doc(alias = "PP2_CLIENT_CERT_SESS")]
    pub const CERT_SESS: u8 = 0x04;

    pub const fn contains(self, bit: u8) -> bool {
        self.0 & bit == bit
    }
}

/// A second-level TLV inside the SSL TLV. `kind` is one of the
/// `SubTlv::SSL_*` constants or any other value (kept as is).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubTlv {
    pub kind: u8,
    pub value: Vec<u8>,
}

impl SubTlv {
    #[doc(alias = "PP2_SUBTYPE_SSL_VERSION")]
    pub const SSL_VERSION: u8 = 0x21;
    #[doc(alias = "PP2_SUBTYPE_SSL_CN")]
    pub const SSL_CN: u8 = 0x22;
    #[doc(alias = "PP2_SUBTYPE_SSL_CIPHER")]
    pub const SSL_CIPHER: u8 = 0x23;
    #[doc(alias = "PP2_SUBTYPE_SSL_SIG_ALG")]
    pub const SSL_SIG_ALG: u8 = 0x24;
    #[doc(alias = "PP2_SUBTYPE_SSL_KEY_ALG")]
    pub const SSL_KEY_ALG: u8 = 0x25;
}

/// The value of `PP2_TYPE_SSL` (`struct pp2_tlv_ssl`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SslTlv {
    pub client: SslClient,
    /// Zero when the client certificate was presented and verified.
    pub verify: u32,
    pub subs: Vec<SubTlv>,
}

impl SslTlv {
    /// The value of the first sub-TLV of that kind.
    pub fn sub(&self, kind: u8) -> Option<&[u8]> {
        self.subs
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| &s.value[..])
    }
}

/// One v2 TLV (`struct pp2_tlv`), decoded where the spec defines the type.
///
/// Invariant of parsed values: `Unknown::kind` is never one of the known
/// types (those decode to their own variant). Values fit in a u16 length.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tlv {
    /// `PP2_TYPE_ALPN`: the negotiated ALPN protocol, e.g. `h2`.
    Alpn(Vec<u8>),
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (SNI).
    Authority(Vec<u8>),
    /// `PP2_TYPE_CRC32C`: the received checksum (already verified). When
    /// encoding, the value given is ignored and the real checksum written.
    Crc32c(u32),
    /// `PP2_TYPE_NOOP`: padding, kept so re-encoding gives the same bytes.
    Noop(Vec<u8>),
    /// `PP2_TYPE_UNIQUE_ID`: an opaque connection id, at most 128 bytes.
    UniqueId(Vec<u8>),
    /// `PP2_TYPE_SSL`.
    Ssl(SslTlv),
    /// `PP2_TYPE_NETNS`: the network namespace name.
    Netns(Vec<u8>),
    /// Any other type, kept raw.
    Unknown { kind: u8, value: Vec<u8> },
}

impl Tlv {
    #[doc(alias = "PP2_TYPE_ALPN")]
    pub const ALPN: u8 = 0x01;
    #[doc(alias = "PP2_TYPE_AUTHORITY")]
    pub const AUTHORITY: u8 = 0x02;
    #[doc(alias = "PP2_TYPE_CRC32C")]
    pub const CRC32C: u8 = 0x03;
    #[doc(alias = "PP2_TYPE_NOOP")]
    pub const NOOP: u8 = 0x04;
    #[doc(alias = "PP2_TYPE_UNIQUE_ID")]
    pub const UNIQUE_ID: u8 = 0x05;
    #[doc(alias = "PP2_TYPE_SSL")]
    pub const SSL: u8 = 0x20;
    #[doc(alias = "PP2_TYPE_NETNS")]
    pub const NETNS: u8 = 0x30;

    /// Whether `kind` has its own variant.
    pub const fn is_known(kind: u8) -> bool {
        matches!(kind, 0x01..=0x05 | 0x20 | 0x30)
    }

    /// The wire type.
    pub fn kind(&self) -> u8 {
        match self {
            Tlv::Alpn(_) => Tlv::ALPN,
            Tlv::Authority(_) => Tlv::AUTHORITY,
            Tlv::Crc32c(_) => Tlv::CRC32C,
            Tlv::Noop(_) => Tlv::NOOP,
            Tlv::UniqueId(_) => Tlv::UNIQUE_ID,
            Tlv::Ssl(_) => Tlv::SSL,
            Tlv::Netns(_) => Tlv::NETNS,
            Tlv::Unknown { kind, .. } => *kind,
        }
    }
}

/// A received header. HAProxy keeps the same facts on the `connection`:
/// `src`/`dst` with `CO_FL_ADDR_FROM_SET | CO_FL_ADDR_TO_SET`,
/// `proxy_authority`, `proxy_unique_id`, `proxy_netns` and the TLV list.
///
/// Invariants of a parsed header: `src` and `dst` are both `Some` or both
/// `None`; they are `Some` only for `Command::Proxy` with an INET or INET6
/// family and a known protocol, in that family (`SocketAddr::V4` for INET);
/// `unix` is `Some` only for `Command::Proxy` with the UNIX family and a
/// known protocol; a v1 header has no TLVs and is `TCP4`, `TCP6` or
/// `UNSPEC` (`UNKNOWN`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProxyHeader {
    pub version: Version,
    pub command: Command,
    pub transport: Transport,
    /// The client, as the sender saw it (`getpeername`).
    pub src: Option<SocketAddr>,
    /// The address the client connected to (`getsockname`).
    pub dst: Option<SocketAddr>,
    /// `(src, dst)` for the UNIX family.
    pub unix: Option<(UnixAddr, UnixAddr)>,
    pub tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// The addresses that replace the real connection's, when the header
    /// carries IP addresses; `None` means keep the connection's own
    /// (`LOCAL`, `UNKNOWN`, `UNSPEC`, `UNIX`).
    pub fn addresses(&self) -> Option<(SocketAddr, SocketAddr)> {
        Some((self.src?, self.dst?))
    }

    /// The first TLV of that type.
    pub fn tlv(&self, kind: u8) -> Option<&Tlv> {
        self.tlvs.iter().find(|t| t.kind() == kind)
    }

    /// Writes this header in its own version's format: a parsed header
    /// re-encodes to a header that parses back to the same value. A v2
    /// header without addresses gets a zeroed address block of its family's
    /// size. On error `out` is left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, ProxyError> {
        match self.version {
            Version::V1 => {
                if !self.tlvs.is_empty() || self.command == Command::Local {
                    return Err(ProxyError::BadV1Line(V1Error::Protocol));
                }
                let (src, dst) = match self.transport {
                    Transport::TCP4 | Transport::TCP6 => match self.addresses() {
                        Some((s, d)) if v1_family_matches(self.transport, s, d) => {
                            (Some(s), Some(d))
                        }
                        _ => return Err(ProxyError::BadV1Line(V1Error::SrcAddr)),
                    },
                    Transport::UNSPEC => (None, None),
                    _ => return Err(ProxyError::BadV1Line(V1Error::Protocol)),
                };
                Ok(encode_v1(src, dst, out))
            }
            Version::V2 => encode_v2_header(self, out),
        }
    }
}

fn v1_family_matches(t: Transport, s: SocketAddr, d: SocketAddr) -> bool {
    match t.family {
        Family::Inet => s.is_ipv4() && d.is_ipv4(),
        _ => s.is_ipv6() && d.is_ipv6(),
    }
}

/// The part of a v1 line that breaks the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V1Error {
    /// Not `TCP4`, `TCP6` or `UNKNOWN` (HAProxy's `CO_ER_PRX_BAD_PROTO`).
    Protocol,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    /// An empty field (two spaces), a missing field or an extra one.
    Spacing,
    /// A CR not followed by LF, or a LF without its CR.
    LineEnd,
}

/// Why bytes are not a PROXY protocol header. Every error means: log
/// `Received something which does not look like a PROXY protocol header`
/// with this detail, and close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyError {
    /// Starts with neither `PROXY ` nor the v2 signature
    /// (`CO_ER_PRX_NOT_HDR`).
    BadSignature,
    /// v2 version nibble other than 2 (the `ver_cmd` byte).
    BadVersion(u8),
    /// v2 command other than LOCAL or PROXY (the `ver_cmd` byte).
    BadCommand(u8),
    /// v2 `fam` byte outside the spec, under a PROXY command.
    BadFamily(u8),
    /// v2 `len` shorter than the address block of its family.
    BadLength { len: u16, need: u16 },
    /// A v1 line that breaks the grammar (`CO_ER_PRX_BAD_HDR`).
    BadV1Line(V1Error),
    /// A v1 line without CRLF in its first 107 bytes, or a v2 header longer
    /// than the caller's `max_v2_len` (or than the format allows, encoding).
    TooLong,
    /// A TLV or SSL sub-TLV that runs past the end of its container.
    Truncated,
    /// A known TLV with a value it cannot have (wrong CRC32C size, too long
    /// AUTHORITY or UNIQUE_ID, SSL TLV under 5 bytes, a second CRC32C).
    BadTlv(u8),
    /// The CRC32C TLV does not match the header.
    BadCrc { received: u32, computed: u32 },
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::BadSignature => f.write_str("no PROXY protocol signature"),
            ProxyError::BadVersion(b) => write!(f, "unsupported v2 version (ver_cmd {b:#04x})"),
            ProxyError::BadCommand(b) => write!(f, "unsupported v2 command (ver_cmd {b:#04x})"),
            ProxyError::BadFamily(b) => write!(f, "invalid v2 family/protocol {b:#04x}"),
            ProxyError::BadLength { len, need } => {
                write!(
                    f,
                    "v2 length {len} shorter than the {need}-byte address block"
                )
            }
            ProxyError::BadV1Line(e) => write!(f, "malformed v1 line: {e:?}"),
            ProxyError::TooLong => f.write_str("header too long"),
            ProxyError::Truncated => f.write_str("TLV runs past the end of the header"),
            ProxyError::BadTlv(t) => write!(f, "invalid TLV of type {t:#04x}"),
            ProxyError::BadCrc { received, computed } => {
                write!(
                    f,
                    "CRC32C mismatch: received {received:#010x}, computed {computed:#010x}"
                )
            }
        }
    }
}

// ------------------------------------------------------------------ parsing

/// Why a step of the parser stopped.
enum Stop {
    /// More bytes are needed to decide.
    More,
    Bad(ProxyError),
}

impl From<ProxyError> for Stop {
    fn from(e: ProxyError) -> Stop {
        Stop::Bad(e)
    }
}

type Step<T> = Result<T, Stop>;

/// Parses a PROXY protocol header, either version, at the start of `data`
/// (everything received so far). `max_v2_len` bounds a v2 header, its 16
/// fixed bytes included ([`DEFAULT_MAX_V2_LEN`] is HAProxy's bound); a v1
/// line is always bounded by [`V1_MAX_LEN`].
///
/// On `Complete((header, n))` the header is `data[..n]`; the connection's
/// own data starts at `data[n]`.
pub fn parse(data: &[u8], max_v2_len: usize) -> Result<Status<(ProxyHeader, usize)>, ProxyError> {
    let result = match data.first() {
        None => Err(Stop::More),
        Some(b'P') => parse_v1(data),
        Some(0x0d) => parse_v2(data, max_v2_len),
        Some(_) => Err(Stop::Bad(ProxyError::BadSignature)),
    };
    match result {
        Ok(done) => Ok(Status::Complete(done)),
        Err(Stop::More) => Ok(Status::Partial),
        Err(Stop::Bad(e)) => Err(e),
    }
}

/// Checks that the available bytes agree with `expected`; `More` when all
/// of them do but some of `expected` is still missing.
fn expect_prefix(data: &[u8], expected: &[u8], err: ProxyError) -> Step<()> {
    let n = data.len().min(expected.len());
    if data[..n] != expected[..n] {
        return Err(Stop::Bad(err));
    }
    if n < expected.len() {
        return Err(Stop::More);
    }
    Ok(())
}

// ----------------------------------------------------------------------- v1

/// A left-to-right scanner over the first [`V1_MAX_LEN`] bytes: every
/// decision depends only on the bytes before it, which is what makes
/// prefixes answer `More` or the final answer.
struct V1Scanner<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> V1Scanner<'a> {
    fn peek(&self) -> Step<u8> {
        self.data.get(self.pos).copied().ok_or(Stop::More)
    }

    fn bump(&mut self) -> Step<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a field up to a space or CR (not consumed), at most `max`
    /// bytes. Each byte is judged as it comes, with the field so far: a LF is
    /// `LineEnd`; a field that `ok` refuses is `err`; an empty field is
    /// `Spacing`.
    fn field(&mut self, max: usize, ok: fn(&[u8]) -> bool, err: V1Error) -> Step<&'a [u8]> {
        let data = self.data;
        let start = self.pos;
        loop {
            let b = self.peek()?;
            if b == b' ' || b == b'\r' {
                break;
            }
            if b == b'\n' {
                return Err(ProxyError::BadV1Line(V1Error::LineEnd).into());
            }
            if self.pos - start >= max || !ok(&data[start..=self.pos]) {
                return Err(ProxyError::BadV1Line(err).into());
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(ProxyError::BadV1Line(V1Error::Spacing).into());
        }
        Ok(&data[start..self.pos])
    }

    fn space(&mut self) -> Step<()> {
        match self.bump()? {
            b' ' => Ok(()),
            // A CR where a space was expected: a field is missing.
            _ => Err(ProxyError::BadV1Line(V1Error::Spacing).into()),
        }
    }

    fn crlf(&mut self) -> Step<()> {
        match self.bump()? {
            b'\r' => {}
            _ => return Err(ProxyError::BadV1Line(V1Error::Spacing).into()),
        }
        match self.bump()? {
            b'\n' => Ok(()),
            _ => Err(ProxyError::BadV1Line(V1Error::LineEnd).into()),
        }
    }

    /// A port: decimal, 0..=65535, no leading zero.
    fn port(&mut self, err: V1Error) -> Step<u16> {
        let digits = self.field(5, port_field, err)?;
        let v = digits
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
        u16::try_from(v).map_err(|_| ProxyError::BadV1Line(err).into())
    }

    /// Skips the free text after `UNKNOWN `, up to and including CRLF.
    fn rest_of_unknown(&mut self) -> Step<()> {
        loop {
            match self.bump()? {
                b'\r' => {
                    return match self.bump()? {
                        b'\n' => Ok(()),
                        _ => Err(ProxyError::BadV1Line(V1Error::LineEnd).into()),
                    }
                }
                b'\n' => return Err(ProxyError::BadV1Line(V1Error::LineEnd).into()),
                _ => {}
            }
        }
    }
}

// Field checks, given the field so far (never empty).

/// A beginning of `TCP4`, `TCP6` or `UNKNOWN`: a wrong name is refused at
/// its first wrong byte, without waiting for the CRLF.
fn protocol_field(t: &[u8]) -> bool {
    [&b"TCP4"[..], b"TCP6", b"UNKNOWN"]
        .iter()
        .any(|name| name.starts_with(t))
}

/// Digits, without a leading zero (refused at the second digit).
fn port_field(t: &[u8]) -> bool {
    t.last().is_some_and(u8::is_ascii_digit) && (t.len() == 1 || t[0] != b'0')
}

fn ipv4_field(t: &[u8]) -> bool {
    t.last().is_some_and(|&b| b.is_ascii_digit() || b == b'.')
}

fn ipv6_field(t: &[u8]) -> bool {
    t.last()
        .is_some_and(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

fn parse_v1(data: &[u8]) -> Step<(ProxyHeader, usize)> {
    expect_prefix(data, b"PROXY ", ProxyError::BadSignature)?;
    let window = &data[..data.len().min(V1_MAX_LEN)];
    let mut s = V1Scanner {
        data: window,
        pos: 6,
    };
    match v1_body(&mut s) {
        Err(Stop::More) if data.len() >= V1_MAX_LEN => Err(ProxyError::TooLong.into()),
        r => r.map(|h| (h, s.pos)),
    }
}

fn v1_body(s: &mut V1Scanner<'_>) -> Step<ProxyHeader> {
    let proto = s.field(7, protocol_field, V1Error::Protocol)?;
    let transport = match proto {
        b"TCP4" => Transport::TCP4,
        b"TCP6" => Transport::TCP6,
        b"UNKNOWN" => {
            // The field stopped at a space (free text follows) or a CR.
            if s.bump()? == b' ' {
                s.rest_of_unknown()?;
            } else if s.bump()? != b'\n' {
                return Err(ProxyError::BadV1Line(V1Error::LineEnd).into());
            }
            return Ok(v1_header(Transport::UNSPEC, None, None));
        }
        _ => return Err(ProxyError::BadV1Line(V1Error::Protocol).into()),
    };
    s.space()?;
    let src = v1_addr(s, transport, V1Error::SrcAddr)?;
    s.space()?;
    let dst = v1_addr(s, transport, V1Error::DstAddr)?;
    s.space()?;
    let sport = s.port(V1Error::SrcPort)?;
    s.space()?;
    let dport = s.port(V1Error::DstPort)?;
    s.crlf()?;
    Ok(v1_header(
        transport,
        Some(SocketAddr::new(src, sport)),
        Some(SocketAddr::new(dst, dport)),
    ))
}

fn v1_header(
    transport: Transport,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
) -> ProxyHeader {
    ProxyHeader {
        version: Version::V1,
        command: Command::Proxy,
        transport,
        src,
        dst,
        unix: None,
        tlvs: Vec::new(),
    }
}

fn v1_addr(s: &mut V1Scanner<'_>, t: Transport, err: V1Error) -> Step<IpAddr> {
    let bad = || Stop::Bad(ProxyError::BadV1Line(err));
    if t == Transport::TCP4 {
        let text = s.field(15, ipv4_field, err)?;
        parse_ipv4_strict(text).map(IpAddr::V4).ok_or_else(bad)
    } else {
        // The longest IPv6 text, with an embedded IPv4 (INET6_ADDRSTRLEN - 1).
        let text = s.field(45, ipv6_field, err)?;
        let text = core::str::from_utf8(text).map_err(|_| bad())?;
        text.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad())
    }
}

/// Dotted quad, exactly 4 decimal octets in 0..=255 without leading zeros.
pub fn parse_ipv4_strict(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for o in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        let mut v = 0u16;
        for &d in p {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u16::from(d - b'0');
        }
        *o = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

// ----------------------------------------------------------------------- v2

fn need(data: &[u8], n: usize) -> Step<()> {
    if data.len() < n {
        Err(Stop::More)
    } else {
        Ok(())
    }
}

fn parse_v2(data: &[u8], max_v2_len: usize) -> Step<(ProxyHeader, usize)> {
    expect_prefix(data, &V2_SIGNATURE, ProxyError::BadSignature)?;
    need(data, 13)?;
    let ver_cmd = data[12];
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::BadVersion(ver_cmd).into());
    }
    let command = match ver_cmd & 0x0f {
        0 => Command::Local,
        1 => Command::Proxy,
        _ => return Err(ProxyError::BadCommand(ver_cmd).into()),
    };
    need(data, 14)?;
    let fam = data[13];
    let transport = Transport::from_byte(fam);
    if command == Command::Proxy && transport.is_none() {
        return Err(ProxyError::BadFamily(fam).into());
    }
    need(data, V2_HEADER_LEN)?;
    let len = u16::from_be_bytes([data[14], data[15]]);
    let total = V2_HEADER_LEN + usize::from(len);
    if total > max_v2_len {
        return Err(ProxyError::TooLong.into());
    }
    let addr_len = transport.map_or(0, Transport::addr_len);
    if command == Command::Proxy && usize::from(len) < addr_len {
        return Err(ProxyError::BadLength {
            len,
            need: addr_len as u16,
        }
        .into());
    }
    need(data, total)?;
    let header = &data[..total];
    let mut h = ProxyHeader {
        version: Version::V2,
        command,
        transport: transport.unwrap_or(Transport::UNSPEC),
        src: None,
        dst: None,
        unix: None,
        tlvs: Vec::new(),
    };
    match (command, transport) {
        (Command::Proxy, Some(t)) => {
            read_v2_addrs(&mut h, t, &header[V2_HEADER_LEN..]);
            h.tlvs = parse_tlvs(header, V2_HEADER_LEN + addr_len)?;
        }
        (Command::Local, Some(_)) if usize::from(len) >= addr_len => {
            h.tlvs = parse_tlvs(header, V2_HEADER_LEN + addr_len)?;
        }
        // LOCAL with a family it cannot read: skip the whole block.
        _ => h.transport = Transport::UNSPEC,
    }
    Ok((h, total))
}

/// Fills the addresses of a PROXY header. `block` is at least
/// `t.addr_len()` bytes (checked by the caller).
fn read_v2_addrs(h: &mut ProxyHeader, t: Transport, block: &[u8]) {
    if t.addr_len() == 0 {
        return;
    }
    let port = |i: usize| u16::from_be_bytes([block[i], block[i + 1]]);
    match t.family {
        Family::Inet => {
            let ip = |i: usize| Ipv4Addr::new(block[i], block[i + 1], block[i + 2], block[i + 3]);
            h.src = Some(SocketAddr::V4(SocketAddrV4::new(ip(0), port(8))));
            h.dst = Some(SocketAddr::V4(SocketAddrV4::new(ip(4), port(10))));
        }
        Family::Inet6 => {
            let ip = |i: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&block[i..i + 16]);
                Ipv6Addr::from(b)
            };
            h.src = Some(SocketAddr::V6(SocketAddrV6::new(ip(0), port(32), 0, 0)));
            h.dst = Some(SocketAddr::V6(SocketAddrV6::new(ip(16), port(34), 0, 0)));
        }
        Family::Unix => {
            let mut src = [0u8; UNIX_ADDR_LEN];
            let mut dst = [0u8; UNIX_ADDR_LEN];
            src.copy_from_slice(&block[..UNIX_ADDR_LEN]);
            dst.copy_from_slice(&block[UNIX_ADDR_LEN..2 * UNIX_ADDR_LEN]);
            h.unix = Some((UnixAddr(src), UnixAddr(dst)));
        }
        Family::Unspec => {}
    }
}

/// One raw TLV at `pos` of `buf`: `(type, value range)`.
fn raw_tlv(buf: &[u8], pos: usize) -> Result<(u8, core::ops::Range<usize>), ProxyError> {
    if buf.len() - pos < 3 {
        return Err(ProxyError::Truncated);
    }
    let len = usize::from(u16::from_be_bytes([buf[pos + 1], buf[pos + 2]]));
    let start = pos + 3;
    if buf.len() - start < len {
        return Err(ProxyError::Truncated);
    }
    Ok((buf[pos], start..start + len))
}

/// Decodes the TLVs of `header[start..]`, verifying a CRC32C over the whole
/// header.
fn parse_tlvs(header: &[u8], start: usize) -> Result<Vec<Tlv>, ProxyError> {
    let mut tlvs = Vec::new();
    let mut pos = start;
    let mut crc_seen = false;
    while pos < header.len() {
        let (kind, range) = raw_tlv(header, pos)?;
        pos = range.end;
        let value = &header[range.clone()];
        let tlv = match kind {
            Tlv::CRC32C => {
                if value.len() != 4 || crc_seen {
                    return Err(ProxyError::BadTlv(kind));
                }
                crc_seen = true;
                let received = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                let computed = crc32c_with_hole(header, range.start);
                if received != computed {
                    return Err(ProxyError::BadCrc { received, computed });
                }
                Tlv::Crc32c(received)
            }
            Tlv::ALPN => Tlv::Alpn(value.to_vec()),
            Tlv::AUTHORITY if value.len() <= AUTHORITY_MAX_LEN => Tlv::Authority(value.to_vec()),
            Tlv::NOOP => Tlv::Noop(value.to_vec()),
            Tlv::UNIQUE_ID if value.len() <= UNIQUE_ID_MAX_LEN => Tlv::UniqueId(value.to_vec()),
            Tlv::SSL => Tlv::Ssl(parse_ssl(value)?),
            Tlv::NETNS => Tlv::Netns(value.to_vec()),
            Tlv::AUTHORITY | Tlv::UNIQUE_ID => return Err(ProxyError::BadTlv(kind)),
            _ => Tlv::Unknown {
                kind,
                value: value.to_vec(),
            },
        };
        tlvs.push(tlv);
    }
    Ok(tlvs)
}

fn parse_ssl(value: &[u8]) -> Result<SslTlv, ProxyError> {
    if value.len() < 5 {
        return Err(ProxyError::BadTlv(Tlv::SSL));
    }
    let client = SslClient(value[0]);
    let verify = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
    let mut subs = Vec::new();
    let mut pos = 5;
    while pos < value.len() {
        let (kind, range) = raw_tlv(value, pos)?;
        pos = range.end;
        subs.push(SubTlv {
            kind,
            value: value[range].to_vec(),
        });
    }
    Ok(SslTlv {
        client,
        verify,
        subs,
    })
}

/// The CRC32C engine (Castagnoli, as RFC 4960 appendix B: reflected,
/// initial and final XOR all ones), from the `crc` crate.
const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// CRC32C of a v2 header, as defined by the spec.
pub fn crc32c(bytes: &[u8]) -> u32 {
    CASTAGNOLI.checksum(bytes)
}

/// CRC32C of `header` with the 4 bytes at `hole` read as zeros (the
/// checksum field itself), without copying the header.
fn crc32c_with_hole(header: &[u8], hole: usize) -> u32 {
    let mut d = CASTAGNOLI.digest();
    d.update(&header[..hole]);
    d.update(&[0; 4]);
    d.update(&header[hole + 4..]);
    d.finalize()
}

// ----------------------------------------------------------------- encoding

/// Writes a v1 line as HAProxy's `send-proxy` does (`make_proxy_line_v1`):
/// `TCP4` when both addresses are IPv4, `TCP6` when at least one is IPv6
/// (an IPv4 one is written IPv4-mapped, `::ffff:a.b.c.d`), and
/// `PROXY UNKNOWN\r\n` when either address is unknown. IPv6 text is what
/// glibc's `inet_ntop` prints. Returns the bytes written (at most 104).
pub fn encode_v1(src: Option<SocketAddr>, dst: Option<SocketAddr>, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let (Some(src), Some(dst)) = (src, dst) else {
        out.extend_from_slice(b"PROXY UNKNOWN\r\n");
        return out.len() - start;
    };
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(b"PROXY TCP4 ");
            write_ipv4(s, out);
            out.push(b' ');
            write_ipv4(d, out);
        }
        (s, d) => {
            out.extend_from_slice(b"PROXY TCP6 ");
            write_ipv6(to_v6(s), out);
            out.push(b' ');
            write_ipv6(to_v6(d), out);
        }
    }
    out.push(b' ');
    write_decimal(u32::from(src.port()), out);
    out.push(b' ');
    write_decimal(u32::from(dst.port()), out);
    out.extend_from_slice(b"\r\n");
    out.len() - start
}

/// HAProxy's `v4tov6`: an IPv4 address as `::ffff:a.b.c.d`.
fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Writes a v2 header as HAProxy's `send-proxy-v2` does
/// (`make_proxy_line_v2`): PROXY over TCP4 when both addresses are IPv4,
/// over TCP6 when at least one is IPv6 (IPv4 ones IPv4-mapped), and LOCAL
/// with family UNSPEC and no address when either is unknown. The TLVs
/// follow in the order given (HAProxy's order is CRC32C, ALPN, AUTHORITY,
/// UNIQUE_ID, SSL, NETNS); a [`Tlv::Crc32c`] gets the real checksum.
///
/// Fails, leaving `out` as it was, when the header would exceed
/// [`V2_MAX_LEN`] or a TLV breaks a limit the parser enforces.
pub fn encode_v2(
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    tlvs: &[Tlv],
    out: &mut Vec<u8>,
) -> Result<usize, ProxyError> {
    let (command, transport, src, dst) = match (src, dst) {
        (Some(s), Some(d)) => match (s, d) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) => (Command::Proxy, Transport::TCP4, s, d),
            _ => {
                let s6 = SocketAddr::new(IpAddr::V6(to_v6(s.ip())), s.port());
                let d6 = SocketAddr::new(IpAddr::V6(to_v6(d.ip())), d.port());
                (Command::Proxy, Transport::TCP6, s6, d6)
            }
        },
        _ => {
            let h = v2_local(tlvs);
            return encode_v2_header(&h, out);
        }
    };
    let h = ProxyHeader {
        version: Version::V2,
        command,
        transport,
        src: Some(src),
        dst: Some(dst),
        unix: None,
        tlvs: tlvs.to_vec(),
    };
    encode_v2_header(&h, out)
}

fn v2_local(tlvs: &[Tlv]) -> ProxyHeader {
    ProxyHeader {
        version: Version::V2,
        command: Command::Local,
        transport: Transport::UNSPEC,
        src: None,
        dst: None,
        unix: None,
        tlvs: tlvs.to_vec(),
    }
}

fn encode_v2_header(h: &ProxyHeader, out: &mut Vec<u8>) -> Result<usize, ProxyError> {
    let start = out.len();
    let r = write_v2(h, out);
    match r {
        Ok(()) => Ok(out.len() - start),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn write_v2(h: &ProxyHeader, out: &mut Vec<u8>) -> Result<(), ProxyError> {
    let start = out.len();
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(match h.command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    });
    out.push(h.transport.to_byte());
    out.extend_from_slice(&[0, 0]); // length, patched below
    write_v2_addrs(h, out)?;
    let mut crc_at = None;
    for tlv in &h.tlvs {
        if let Tlv::Crc32c(_) = tlv {
            if crc_at.is_some() {
                return Err(ProxyError::BadTlv(Tlv::CRC32C));
            }
            crc_at = Some(out.len() + 3 - start);
        }
        write_tlv(tlv, out)?;
    }
    let len = u16::try_from(out.len() - start - V2_HEADER_LEN).map_err(|_| ProxyError::TooLong)?;
    out[start + 14..start + 16].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = crc_at {
        // The field was written as zeros: checksum the whole header, then
        // fill it in (spec §2.2.3).
        let crc = crc32c(&out[start..]);
        out[start + at..start + at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(())
}

fn write_v2_addrs(h: &ProxyHeader, out: &mut Vec<u8>) -> Result<(), ProxyError> {
    let t = h.transport;
    let bad = ProxyError::BadFamily(t.to_byte());
    if h.command == Command::Local || t.addr_len() == 0 {
        if h.addresses().is_some() || h.unix.is_some() {
            return Err(bad);
        }
        out.resize(out.len() + t.addr_len(), 0);
        return Ok(());
    }
    match (t.family, h.src, h.dst, &h.unix) {
        (Family::Inet, Some(SocketAddr::V4(s)), Some(SocketAddr::V4(d)), None) => {
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        (Family::Inet6, Some(SocketAddr::V6(s)), Some(SocketAddr::V6(d)), None) => {
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        (Family::Unix, None, None, Some((s, d))) => {
            out.extend_from_slice(&s.0);
            out.extend_from_slice(&d.0);
        }
        _ => return Err(bad),
    }
    Ok(())
}

fn push_tlv_head(kind: u8, len: usize, out: &mut Vec<u8>) -> Result<(), ProxyError> {
    let len = u16::try_from(len).map_err(|_| ProxyError::TooLong)?;
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    Ok(())
}

fn write_tlv(tlv: &Tlv, out: &mut Vec<u8>) -> Result<(), ProxyError> {
    let kind = tlv.kind();
    let value: &[u8] = match tlv {
        Tlv::Crc32c(_) => &[0; 4],
        Tlv::Authority(v) if v.len() > AUTHORITY_MAX_LEN => return Err(ProxyError::BadTlv(kind)),
        Tlv::UniqueId(v) if v.len() > UNIQUE_ID_MAX_LEN => return Err(ProxyError::BadTlv(kind)),
        Tlv::Unknown { .. } if Tlv::is_known(kind) => return Err(ProxyError::BadTlv(kind)),
        Tlv::Alpn(v) | Tlv::Authority(v) | Tlv::Noop(v) | Tlv::UniqueId(v) | Tlv::Netns(v) => v,
        Tlv::Unknown { value, .. } => value,
        Tlv::Ssl(ssl) => {
            let len = 5 + ssl.subs.iter().map(|s| 3 + s.value.len()).sum::<usize>();
            push_tlv_head(kind, len, out)?;
            out.push(ssl.client.0);
            out.extend_from_slice(&ssl.verify.to_be_bytes());
            for sub in &ssl.subs {
                push_tlv_head(sub.kind, sub.value.len(), out)?;
                out.extend_from_slice(&sub.value);
            }
            return Ok(());
        }
    };
    push_tlv_head(kind, value.len(), out)?;
    out.extend_from_slice(value);
    Ok(())
}

// ------------------------------------------------------------ address text

fn write_decimal(mut v: u32, out: &mut Vec<u8>) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_ipv4(ip: Ipv4Addr, out: &mut Vec<u8>) {
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        write_decimal(u32::from(o), out);
    }
}

fn write_hex16(v: u16, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = usize::from(v >> shift & 0xf);
        if nibble != 0 || started || shift == 0 {
            out.push(HEX[nibble]);
            started = true;
        }
    }
}

/// IPv6 text exactly as glibc's `inet_ntop(AF_INET6)` writes it (which is
/// what HAProxy sends): lowercase hex without leading zeros, the first
/// longest run of two or more zero groups as `::`, and a dotted IPv4 tail
/// for IPv4-mapped addresses (`::ffff:a.b.c.d`) and for IPv4-compatible
/// ones (`::a.b.c.d`: exactly six leading zero groups).
pub fn write_ipv6(ip: Ipv6Addr, out: &mut Vec<u8>) {
    let w = ip.segments();
    // The first longest run of zero groups, if at least 2 long.
    let (mut best, mut cur): ((usize, usize), Option<(usize, usize)>) = ((0, 0), None);
    for (i, &g) in w.iter().enumerate() {
        if g == 0 {
            let c = cur.map_or((i, 1), |(b, l)| (b, l + 1));
            cur = Some(c);
            if c.1 > best.1 {
                best = c;
            }
        } else {
            cur = None;
        }
    }
    let run = (best.1 >= 2).then_some(best);
    let mut i = 0;
    while i < 8 {
        if let Some((base, len)) = run {
            if i == base {
                out.push(b':');
                if base + len == 8 {
                    out.push(b':');
                }
                i += len;
                continue;
            }
        }
        if i != 0 {
            out.push(b':');
        }
        let embedded_v4 =
            i == 6 && (run == Some((0, 6)) || (run == Some((0, 5)) && w[5] == 0xffff));
        if embedded_v4 {
            let o = ip.octets();
            write_ipv4(Ipv4Addr::new(o[12], o[13], o[14], o[15]), out);
            return;
        }
        write_hex16(w[i], out);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn ntop(s: &str) -> String {
        let mut out = Vec::new();
        write_ipv6(v6(s), &mut out);
        String::from_utf8(out).unwrap()
    }

    /// `(input, what glibc 2.x inet_ntop prints)`, captured with Python's
    /// `socket.inet_ntop` on this project's build machine.
    const GLIBC_NTOP: &[(&str, &str)] = &[
        ("::", "::"),
        ("::1", "::1"),
        ("::1.2.3.4", "::1.2.3.4"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::ffff:0:0", "::ffff:0.0.0.0"),
        ("1::", "1::"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
        ("2001:db8::1", "2001:db8::1"),
        ("fe80::1:0:0:1", "fe80::1:0:0:1"),
        ("0:0:1::", "0:0:1::"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::ffff:ffff:ffff", "::ffff:255.255.255.255"),
        ("0:0:0:0:0:1:0:0", "::1:0:0"),
        ("::1:0:0:0:0", "0:0:0:1::"),
        ("64:ff9b::1.2.3.4", "64:ff9b::102:304"),
        ("::0.0.1.0", "::100"),
        ("::ffff:1:2", "::ffff:0.1.0.2"),
        ("0:0:0:0:0:ffff:0:1", "::ffff:0.0.0.1"),
    ];

    #[test]
    fn ipv6_text_matches_glibc_inet_ntop() {
        for (input, want) in GLIBC_NTOP {
            assert_eq!(ntop(input), *want, "{input}");
            // And it reads back as the same address.
            assert_eq!(v6(want), v6(input));
        }
    }

    #[test]
    fn strict_ipv4() {
        assert_eq!(parse_ipv4_strict(b"0.0.0.0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(
            parse_ipv4_strict(b"255.255.255.255"),
            Some(Ipv4Addr::BROADCAST)
        );
        for bad in [
            &b"01.2.3.4"[..],
            b"1.2.3",
            b"1.2.3.4.5",
            b"256.1.1.1",
            b"1..2.3",
            b"1.2.3.",
            b"",
            b"1.2.3.0004",
            b"a.b.c.d",
        ] {
            assert_eq!(parse_ipv4_strict(bad), None, "{:?}", bad.escape_ascii());
        }
    }

    #[test]
    fn transport_bytes_round_trip() {
        for b in 0..=255u8 {
            match Transport::from_byte(b) {
                Some(t) => assert_eq!(t.to_byte(), b),
                None => assert!(b >> 4 > 3 || b & 0xf > 2),
            }
        }
        assert_eq!(Transport::TCP4.addr_len(), 12);
        assert_eq!(Transport::TCP6.addr_len(), 36);
        assert_eq!(Transport::from_byte(0x32).unwrap().addr_len(), 216);
        assert_eq!(Transport::from_byte(0x10).unwrap().addr_len(), 0);
    }

    #[test]
    fn crc32c_reference_vector() {
        // RFC 3720 B.4 / the usual check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
    }

    #[test]
    fn unix_path() {
        let mut a = [0u8; UNIX_ADDR_LEN];
        a[..8].copy_from_slice(b"/tmp/sck");
        assert_eq!(UnixAddr(a).path(), b"/tmp/sck");
        let mut abs = [0u8; UNIX_ADDR_LEN];
        abs[1..4].copy_from_slice(b"abc");
        assert_eq!(UnixAddr(abs).path(), b"\0abc");
        assert_eq!(UnixAddr([0; UNIX_ADDR_LEN]).path(), b"");
    }
}
