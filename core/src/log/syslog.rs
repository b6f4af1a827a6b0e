//! Syslog messages as a `log-forward` section receives and re-emits them:
//! HAProxy's `parse_log_message`, `build_log_header` and the RFC 6587
//! framings of `syslog_io_handler` (`log.c`).
//!
//! A received message is parsed into its priority and the header fields
//! HAProxy calls metadata (`LOG_META_*`: time, host, tag, pid, msgid,
//! structured data); a missing field is empty. The message is then sent
//! again with a header in the target's format, built from those fields:
//! an RFC 3164 date becomes an RFC 5424 one and back, as HAProxy does, and
//! a target without `format` picks the one the fields suggest.
//!
//! Pure functions: the wall clock a header may need is an argument
//! ([`WallClock`]), the driver fills it.

use crate::cfgparse::LogFormat;

/// RFC 3164's date, `Jan  1 00:00:00` (HAProxy's `LOG_LEGACYTIME_LEN`).
const LEGACY_TIME_LEN: usize = 15;
/// The shortest RFC 5424 date, `1970-01-01T00:00:00Z` (`LOG_ISOTIME_MINLEN`).
const ISO_TIME_MIN_LEN: usize = 20;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The header fields of a message (HAProxy's `metadata[LOG_META_*]`); an
/// empty slice is a field that is not there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta<'a> {
    /// `<PRI>` as received, brackets included.
    pub prio: &'a [u8],
    pub time: &'a [u8],
    pub host: &'a [u8],
    pub tag: &'a [u8],
    pub pid: &'a [u8],
    pub msgid: &'a [u8],
    /// RFC 5424 structured data, `[id k="v"]...`.
    pub sd: &'a [u8],
}

/// A received message, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The severity of `<PRI>`, if it was there.
    pub level: Option<u8>,
    /// The facility of `<PRI>`, if it was there.
    pub facility: Option<u8>,
    pub meta: Meta<'a>,
    /// What follows the header (all of the input without a priority).
    pub message: &'a [u8],
}

/// Parses `buf` as HAProxy's `parse_log_message` does: `<PRI>`, then an
/// RFC 5424 header (`1 TIME HOST TAG PID MSGID SD `) or an RFC 3164 one
/// (`Mmm dd hh:mm:ss HOST [TAG[PID]: ]`). A header that does not follow
/// either keeps only the priority and leaves the rest as the message.
pub fn parse_log_message(buf: &[u8]) -> Parsed<'_> {
    let mut out = Parsed {
        level: None,
        facility: None,
        meta: Meta::default(),
        message: buf,
    };
    if buf.len() < 2 || buf[0] != b'<' {
        return out;
    }
    let Some(close) = buf.iter().position(|&b| b == b'>') else {
        return out;
    };
    let digits = &buf[1..close];
    if !digits.iter().all(u8::is_ascii_digit) {
        return out;
    }
    // HAProxy accumulates in an int; more than 3 digits is no valid PRI
    // anyway, and the value only feeds `>> 3` and `& 7`.
    let pri = digits.iter().fold(0u32, |a, &d| {
        a.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    out.facility = Some(((pri >> 3) & 0xff) as u8);
    out.level = Some((pri & 7) as u8);
    out.meta.prio = &buf[..=close];
    let rest = &buf[close + 1..];
    out.message = rest;
    if rest.len() > 2 && rest.starts_with(b"1 ") {
        if let Some((meta, msg)) = rfc5424_header(&rest[2..]) {
            out.meta = Meta {
                prio: out.meta.prio,
                ..meta
            };
            out.message = msg;
        }
    } else if rest.len() > LEGACY_TIME_LEN {
        if let Some((meta, msg)) = rfc3164_header(rest) {
            out.meta = Meta {
                prio: out.meta.prio,
                ..meta
            };
            out.message = msg;
        }
    }
    out
}

/// A field of an RFC 5424 header up to the next space (not empty, not
/// starting with a space); `-` (NILVALUE) is an empty field.
fn field(p: &[u8]) -> Option<(&[u8], &[u8])> {
    if p.first().is_none_or(|&b| b == b' ') {
        return None;
    }
    let end = p.iter().position(|&b| b == b' ')?;
    let f = &p[..end];
    Some((if f == b"-" { &[] } else { f }, &p[end + 1..]))
}

/// `TIME HOST TAG PID MSGID SD ` after `<PRI>1 `.
fn rfc5424_header(p: &[u8]) -> Option<(Meta<'_>, &[u8])> {
    let (time, p) = if p.len() > 2 && p.starts_with(b"- ") {
        (&p[..1], &p[2..])
    } else if p.len() > ISO_TIME_MIN_LEN {
        let mut i = 19;
        if p.get(i) == Some(&b'.') {
            i += 1;
            while !matches!(p.get(i)?, b'Z' | b'+' | b'-') {
                if !p[i].is_ascii_digit() {
                    return None;
                }
                i += 1;
            }
        }
        i += if p.get(i) == Some(&b'Z') { 1 } else { 6 };
        if p.get(i) != Some(&b' ') {
            return None;
        }
        (&p[..i], &p[i + 1..])
    } else {
        return None;
    };
    let (host, p) = field(p)?;
    let (tag, p) = field(p)?;
    let (pid, p) = field(p)?;
    let (msgid, p) = field(p)?;
    let (sd, p) = structured_data(p)?;
    let meta = Meta {
        prio: &[],
        time,
        host,
        tag,
        pid,
        msgid,
        sd,
    };
    Some((meta, p))
}

/// `-` or `[...][...]`, then a space; `]` escaped as `\]` inside an element.
fn structured_data(p: &[u8]) -> Option<(&[u8], &[u8])> {
    match p.first()? {
        b'-' => (p.get(1) == Some(&b' ')).then(|| (&p[..0], &p[2..])),
        b'[' => {
            let mut in_elem = false;
            let mut i = 0;
            loop {
                let c = *p.get(i)?;
                if in_elem {
                    if c == b']' && p[i - 1] != b'\\' {
                        in_elem = false;
                    }
                } else if c == b'[' {
                    in_elem = true;
                } else if c == b' ' {
                    return Some((&p[..i], &p[i + 1..]));
                } else {
                    return None;
                }
                i += 1;
            }
        }
        _ => None,
    }
}

/// `Mmm dd hh:mm:ss HOST ` then an optional `TAG[PID]: ` (HOST is
/// mandatory: a message from HAProxy's own `rfc3164` without
/// `log-send-hostname` has its `TAG[PID]:` taken as the host, as HAProxy
/// does).
fn rfc3164_header(p: &[u8]) -> Option<(Meta<'_>, &[u8])> {
    if !MONTHS.iter().any(|m| p.starts_with(*m)) {
        return None;
    }
    let time = &p[..LEGACY_TIME_LEN];
    let p = &p[LEGACY_TIME_LEN..];
    if p.first() != Some(&b' ') {
        return None;
    }
    let (host, p) = field(&p[1..])?;
    let host = if host.is_empty() { &b"-"[..] } else { host };
    let mut meta = Meta {
        time,
        host,
        ..Meta::default()
    };
    // The tag: up to ':' (before any space), followed by ": ".
    let Some(end) = p.iter().position(|&b| b == b' ' || b == b':') else {
        return Some((meta, p));
    };
    if p[end] != b':' || p.get(end + 1) != Some(&b' ') {
        return Some((meta, p));
    }
    // HAProxy's walk: each `[` ends the tag and starts the pid, a `]`
    // after one must be the last byte before the ':'.
    let word = &p[..end];
    let mut pid_start = None;
    meta.tag = word;
    for (i, &c) in word.iter().enumerate() {
        if c == b'[' {
            meta.tag = &word[..i];
            pid_start = Some(i + 1);
        } else if let (b']', Some(s)) = (c, pid_start) {
            if i + 1 != end {
                return Some((meta, p));
            }
            meta.pid = &word[s.min(i)..i];
        }
    }
    Some((meta, &p[end + 2..]))
}

/// The wall clock a header may need, filled by the driver (local time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// `Mmm dd hh:mm:ss`.
    pub legacy: String,
    /// `YYYY-MM-DDThh:mm:ss.uuuuuu+hh:mm`.
    pub iso: String,
    pub year: i32,
    /// 0 to 11.
    pub month: u32,
}

/// The format a target without `format` sends a forwarded message in
/// (`LOG_FORMAT_UNSPEC` in HAProxy's `build_log_header`).
pub fn auto_format(meta: &Meta<'_>) -> LogFormat {
    if !meta.host.is_empty() {
        if meta.time == b"-" || meta.time.len() >= ISO_TIME_MIN_LEN {
            LogFormat::Rfc5424
        } else {
            LogFormat::Rfc3164
        }
    } else if !meta.tag.is_empty() {
        LogFormat::Local
    } else if !meta.prio.is_empty() {
        LogFormat::Priority
    } else {
        LogFormat::Raw
    }
}

/// Appends the header of a message in `format` (`None`: chosen from
/// `meta`, [`auto_format`]) to `out`, as HAProxy's `build_log_header`.
pub fn build_log_header(
    out: &mut Vec<u8>,
    format: Option<LogFormat>,
    facility: u8,
    level: u8,
    meta: &Meta<'_>,
    clock: &WallClock,
) {
    use core::fmt::Write as _;
    let format = format.unwrap_or_else(|| auto_format(meta));
    let mut prio = String::new();
    match format {
        LogFormat::Local | LogFormat::Rfc3164 | LogFormat::Rfc5424 | LogFormat::Priority => {
            let _ = write!(prio, "<{}>", u32::from(facility) * 8 + u32::from(level));
        }
        LogFormat::Timed | LogFormat::Short => {
            let _ = write!(prio, "<{level}>");
        }
        LogFormat::Iso | LogFormat::Raw => {}
    }
    out.extend_from_slice(prio.as_bytes());
    match format {
        LogFormat::Local | LogFormat::Rfc3164 => legacy_time(out, meta.time, clock),
        LogFormat::Rfc5424 if meta.time == b"-" => out.extend_from_slice(b"1 - "),
        LogFormat::Rfc5424 => {
            out.extend_from_slice(b"1 ");
            iso_time(out, meta.time, clock);
        }
        LogFormat::Timed | LogFormat::Iso => iso_time(out, meta.time, clock),
        LogFormat::Priority | LogFormat::Short | LogFormat::Raw => {}
    }
    let or_nil = |f: &'_ [u8]| -> Vec<u8> {
        if f.is_empty() {
            b"- ".to_vec()
        } else {
            [f, b" "].concat()
        }
    };
    match format {
        LogFormat::Rfc3164 | LogFormat::Local => {
            if format == LogFormat::Rfc3164 {
                match meta.host {
                    [] => out.extend_from_slice(b"localhost "),
                    h => {
                        out.extend_from_slice(h);
                        out.push(b' ');
                    }
                }
            }
            if !meta.tag.is_empty() {
                out.extend_from_slice(meta.tag);
                if !meta.pid.is_empty() {
                    out.push(b'[');
                    out.extend_from_slice(meta.pid);
                    out.push(b']');
                }
                out.extend_from_slice(b": ");
            }
        }
        LogFormat::Rfc5424 => {
            for f in [meta.host, meta.tag, meta.pid, meta.msgid, meta.sd] {
                out.extend_from_slice(&or_nil(f));
            }
        }
        _ => {}
    }
}

/// `Mmm dd hh:mm:ss `: the received legacy date, or an ISO one converted,
/// or now.
fn legacy_time(out: &mut Vec<u8>, time: &[u8], clock: &WallClock) {
    if time.len() == LEGACY_TIME_LEN {
        out.extend_from_slice(time);
        out.push(b' ');
        return;
    }
    if time.len() >= ISO_TIME_MIN_LEN && time[5..7].iter().all(u8::is_ascii_digit) {
        let month = usize::from((time[5] - b'0') * 10 + (time[6] - b'0')).saturating_sub(1);
        if let Some(m) = MONTHS.get(month) {
            out.extend_from_slice(*m);
            out.push(b' ');
            out.push(if time[8] != b'0' { time[8] } else { b' ' });
            out.push(time[9]);
            out.push(b' ');
            out.extend_from_slice(&time[11..19]);
            out.push(b' ');
            return;
        }
    }
    out.extend_from_slice(clock.legacy.as_bytes());
    out.push(b' ');
}

/// `YYYY-MM-DDThh:mm:ss...`: the received ISO date, or a legacy one
/// converted (the year guessed from now, the zone unknown: `-00:00`), or
/// now.
fn iso_time(out: &mut Vec<u8>, time: &[u8], clock: &WallClock) {
    use std::io::Write as _;
    if time.len() >= ISO_TIME_MIN_LEN {
        out.extend_from_slice(time);
        out.push(b' ');
        return;
    }
    if time.len() == LEGACY_TIME_LEN {
        if let Some(m) = MONTHS.iter().position(|m| time.starts_with(*m)) {
            // The year changed since the message was written.
            let year = if (clock.month as usize) < m {
                clock.year - 1
            } else {
                clock.year
            };
            let d1 = if time[4] != b' ' { time[4] } else { b'0' };
            let _ = write!(out, "{year:4}-{:02}-", m + 1);
            out.extend_from_slice(&[d1, time[5], b'T']);
            out.extend_from_slice(&time[7..15]);
            out.extend_from_slice(b"-00:00 ");
            return;
        }
    }
    out.extend_from_slice(clock.iso.as_bytes());
    out.push(b' ');
}

/// What [`next_frame`] found at the start of a TCP syslog stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message at `msg` (a range of the input); `consumed` bytes are done.
    Complete {
        start: usize,
        end: usize,
        consumed: usize,
    },
    /// More bytes are needed.
    Partial,
    /// Neither framing of RFC 6587: the connection is closed.
    Invalid,
}

/// The next message of a TCP syslog stream (`syslog_io_handler`): RFC 6587
/// octet counting (`LEN SP MSG`, LEN without a leading 0) or non-transparent
/// framing (a message starting with `<`, ended by LF or CR LF). `max` is
/// the largest message accepted (HAProxy: its buffer size).
pub fn next_frame(buf: &[u8], max: usize) -> Frame {
    let Some(&c) = buf.first() else {
        return Frame::Partial;
    };
    if c == b'<' {
        let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
            return if buf.len() >= max {
                Frame::Invalid
            } else {
                Frame::Partial
            };
        };
        let end = if lf > 0 && buf[lf - 1] == b'\r' {
            lf - 1
        } else {
            lf
        };
        return Frame::Complete {
            start: 0,
            end,
            consumed: lf + 1,
        };
    }
    if !(b'1'..=b'9').contains(&c) {
        return Frame::Invalid;
    }
    let Some(sp) = buf.iter().position(|&b| b == b' ') else {
        // Digits only so far; a length longer than `max` can be refused now.
        return match buf.iter().all(u8::is_ascii_digit) && buf.len() <= 10 {
            true => Frame::Partial,
            false => Frame::Invalid,
        };
    };
    let digits = &buf[..sp];
    if !digits.iter().all(u8::is_ascii_digit) || digits.len() > 10 {
        return Frame::Invalid;
    }
    let len = digits.iter().fold(0usize, |a, &d| {
        a.saturating_mul(10).saturating_add(usize::from(d - b'0'))
    });
    if len > max {
        return Frame::Invalid;
    }
    let start = sp + 1;
    if buf.len() - start < len {
        return Frame::Partial;
    }
    Frame::Complete {
        start,
        end: start + len,
        consumed: start + len,
    }
}

/// Strips what HAProxy's `__do_send_log` strips before sending: trailing
/// LF and NUL bytes.
pub fn trim_message(mut msg: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | 0] = msg {
        msg = rest;
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> WallClock {
        WallClock {
            legacy: "Dec  7 21:00:00".into(),
            iso: "2026-12-07T21:00:00.000000+00:00".into(),
            year: 2026,
            month: 11,
        }
    }

    fn reformat(msg: &[u8], format: Option<LogFormat>) -> String {
        let p = parse_log_message(msg);
        let mut out = Vec::new();
        build_log_header(
            &mut out,
            format,
            p.facility.unwrap_or(1),
            p.level.unwrap_or(5),
            &p.meta,
            &clock(),
        );
        out.extend_from_slice(p.message);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn haproxy_rfc3164_without_hostname_keeps_tag_as_host() {
        // HAProxy's own rfc3164 line: "haproxy[12]:" is the mandatory host.
        let m = b"<134>Dec  7 20:59:01 haproxy[12]: 127.0.0.1:5 [x] fe be/s 0/0 \"GET / HTTP/1.1\"";
        let p = parse_log_message(m);
        assert_eq!((p.facility, p.level), (Some(16), Some(6)));
        assert_eq!(p.meta.host, b"haproxy[12]:");
        assert!(p.meta.tag.is_empty());
        assert_eq!(p.message, &m[34..]);
        assert_eq!(
            reformat(m, Some(LogFormat::Rfc5424)),
            "<134>1 2026-12-07T20:59:01-00:00 haproxy[12]: - - - - 127.0.0.1:5 [x] fe be/s 0/0 \"GET / HTTP/1.1\""
        );
    }

    #[test]
    fn rfc3164_with_tag_and_pid() {
        let m = b"<13>Jan  2 03:04:05 host app[77]: hello";
        let p = parse_log_message(m);
        assert_eq!(p.meta.host, b"host");
        assert_eq!(p.meta.tag, b"app");
        assert_eq!(p.meta.pid, b"77");
        assert_eq!(p.message, b"hello");
        assert_eq!(reformat(m, None), "<13>Jan  2 03:04:05 host app[77]: hello");
        assert_eq!(
            reformat(m, Some(LogFormat::Rfc5424)),
            "<13>1 2026-01-02T03:04:05-00:00 host app 77 - - hello"
        );
        assert_eq!(
            reformat(m, Some(LogFormat::Local)),
            "<13>Jan  2 03:04:05 app[77]: hello"
        );
        assert_eq!(reformat(m, Some(LogFormat::Raw)), "hello");
        assert_eq!(reformat(m, Some(LogFormat::Short)), "<5>hello");
        assert_eq!(reformat(m, Some(LogFormat::Priority)), "<13>hello");
    }

    #[test]
    fn rfc5424_round_trip_and_to_rfc3164() {
        let m = b"<134>1 2026-12-07T21:00:01.123456+01:00 h tag 99 ID47 [ex@1 a=\"b\\]\"] msg";
        let p = parse_log_message(m);
        assert_eq!(p.meta.time, b"2026-12-07T21:00:01.123456+01:00");
        assert_eq!(p.meta.sd, b"[ex@1 a=\"b\\]\"]");
        assert_eq!(p.message, b"msg");
        assert_eq!(reformat(m, None), String::from_utf8_lossy(m));
        assert_eq!(
            reformat(m, Some(LogFormat::Rfc3164)),
            "<134>Dec  7 21:00:01 h tag[99]: msg"
        );
        assert_eq!(
            reformat(b"<14>1 - - - - - - x", None),
            "<14>x",
            "no host, no tag: the priority format"
        );
        assert_eq!(
            reformat(b"<14>1 - - - - - - x", Some(LogFormat::Rfc5424)),
            "<14>1 - - - - - - x"
        );
    }

    #[test]
    fn bad_headers_keep_the_priority_only() {
        let m = b"<14>1 2026-12-07T21:00:01Z  h t p m - x";
        let p = parse_log_message(m);
        assert_eq!(p.level, Some(6));
        assert_eq!(p.meta.time, b"");
        assert_eq!(p.message, &m[4..]);
        assert_eq!(parse_log_message(b"no prio").message, b"no prio");
        assert_eq!(parse_log_message(b"<1x>a").level, None);
        // No month: not RFC 3164, the message is kept whole.
        assert_eq!(
            reformat(b"<14>hello world, long enough", None),
            "<14>hello world, long enough"
        );
        // Now, when no date came.
        assert_eq!(
            reformat(b"<14>x", Some(LogFormat::Rfc3164)),
            "<14>Dec  7 21:00:00 localhost x"
        );
    }

    #[test]
    fn frames() {
        assert_eq!(
            next_frame(b"5 hello6 ", 100),
            Frame::Complete {
                start: 2,
                end: 7,
                consumed: 7
            }
        );
        assert_eq!(next_frame(b"5 hell", 100), Frame::Partial);
        assert_eq!(next_frame(b"12", 100), Frame::Partial);
        assert_eq!(next_frame(b"101 ", 100), Frame::Invalid);
        assert_eq!(next_frame(b"0 ", 100), Frame::Invalid);
        assert_eq!(next_frame(b"x", 100), Frame::Invalid);
        assert_eq!(next_frame(b"1a ", 100), Frame::Invalid);
        assert_eq!(
            next_frame(b"<1>a\r\nb", 100),
            Frame::Complete {
                start: 0,
                end: 4,
                consumed: 6
            }
        );
        assert_eq!(next_frame(b"<1>a", 100), Frame::Partial);
        assert_eq!(next_frame(b"", 100), Frame::Partial);
        assert_eq!(trim_message(b"a\n\0\n"), b"a");
    }

    #[test]
    fn never_panics_on_prefixes_of_odd_inputs() {
        let inputs: [&[u8]; 6] = [
            b"<134>1 2026-12-07T21:00:01.1234",
            b"<134>1 2026-12-07T21:00:01.12+01:00 a b c d [x",
            b"<134>Dec  7 21:00:00 h t[1:",
            b"<134>Dec  7 21:00:00 h t[: x",
            b"<99999999999999>1 - - - - - - ",
            b"<134>1 2026-13-07T21:00:01Z h t p m - x",
        ];
        for m in inputs {
            for n in 0..=m.len() {
                for f in [None, Some(LogFormat::Rfc3164), Some(LogFormat::Rfc5424)] {
                    let _ = reformat(&m[..n], f);
                }
                let _ = next_frame(&m[..n], 16);
            }
        }
    }
}
