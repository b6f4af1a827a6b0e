//! PROXY protocol (temporary v1-only version; replaced by the full module).

use core::net::SocketAddr;

use crate::peers::Status;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyError;

pub fn parse(buf: &[u8], _max: usize) -> Result<Status<(ProxyHeader, usize)>, ProxyError> {
    if !buf.starts_with(b"PROXY ") && !b"PROXY ".starts_with(&buf[..buf.len().min(6)]) {
        return Err(ProxyError);
    }
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() > 107 {
            Err(ProxyError)
        } else {
            Ok(Status::Partial)
        };
    };
    let line = core::str::from_utf8(&buf[..end]).map_err(|_| ProxyError)?;
    let w: Vec<&str> = line.split(' ').collect();
    let hdr = match w.as_slice() {
        ["PROXY", "UNKNOWN", ..] => ProxyHeader {
            src: None,
            dst: None,
        },
        ["PROXY", "TCP4" | "TCP6", s, d, sp, dp] => ProxyHeader {
            src: Some(SocketAddr::new(
                s.parse().map_err(|_| ProxyError)?,
                sp.parse().map_err(|_| ProxyError)?,
            )),
            dst: Some(SocketAddr::new(
                d.parse().map_err(|_| ProxyError)?,
                dp.parse().map_err(|_| ProxyError)?,
            )),
        },
        _ => return Err(ProxyError),
    };
    Ok(Status::Complete((hdr, end + 2)))
}

pub fn encode_v1(src: Option<SocketAddr>, dst: Option<SocketAddr>, out: &mut Vec<u8>) {
    match (src, dst) {
        (Some(s), Some(d)) => {
            let fam = if s.is_ipv4() { "TCP4" } else { "TCP6" };
            out.extend_from_slice(
                format!(
                    "PROXY {fam} {} {} {} {}\r\n",
                    s.ip(),
                    d.ip(),
                    s.port(),
                    d.port()
                )
                .as_bytes(),
            );
        }
        _ => out.extend_from_slice(b"PROXY UNKNOWN\r\n"),
    }
}

pub fn encode_v2(
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    _tlvs: &[(u8, Vec<u8>)],
    out: &mut Vec<u8>,
) {
    encode_v1(src, dst, out)
}
