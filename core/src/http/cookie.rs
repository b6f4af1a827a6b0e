//! Cookie persistence: the header work of HAProxy's
//! `http_manage_client_side_cookies`, `http_manage_server_side_cookies` and
//! the `Set-Cookie` insertion of `http_process_res_common` (`http_ana.c`),
//! and the cookie characters of the log's termination state (`%tsc`).
//!
//! Pure byte work on one header value at a time: which server a cookie
//! names is decided by the caller (the engine knows the servers), through
//! a callback. The parsing follows HAProxy's pointer walk exactly (spaces
//! around `=` are removed, `$` attributes are skipped, quoted values may
//! hold delimiters), so the bytes a server or client receives are the ones
//! HAProxy would send.

use crate::cfgparse::CookieCfg;

/// What the request's persistence cookie did (`TX_CK_*`, the log's third
/// termination-state character).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CkState {
    /// `N`: no persistence cookie.
    #[default]
    None,
    /// `I`: it names no server.
    Invalid,
    /// `D`: it names a server that is down.
    Down,
    /// `V`: it names a server that is used.
    Valid,
    /// `U`: persistence was ignored or a server was already chosen.
    Unused,
    /// `O`: older than `maxlife` (or dated more than a day ahead).
    Old,
    /// `E`: idle longer than `maxidle` (or dated more than a day ahead).
    Expired,
}

impl CkState {
    pub fn ch(self) -> char {
        match self {
            CkState::None => 'N',
            CkState::Invalid => 'I',
            CkState::Down => 'D',
            CkState::Valid => 'V',
            CkState::Unused => 'U',
            CkState::Old => 'O',
            CkState::Expired => 'E',
        }
    }
}

/// What happened to the response's persistence cookie (`TX_SCK_*`, the
/// log's fourth termination-state character).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SckState {
    /// `N`: none.
    #[default]
    None,
    /// `P`: the server set it and it was left as is.
    Found,
    /// `D`: the server's was deleted.
    Deleted,
    /// `I`: the proxy inserted one.
    Inserted,
    /// `R`: the server's was rewritten or prefixed.
    Replaced,
    /// `U`: the proxy refreshed the client's.
    Updated,
}

impl SckState {
    pub fn ch(self) -> char {
        match self {
            SckState::None => 'N',
            SckState::Found => 'P',
            SckState::Deleted => 'D',
            SckState::Inserted => 'I',
            SckState::Replaced => 'R',
            SckState::Updated => 'U',
        }
    }
}

/// The delimiter of `prefix` mode (`COOKIE_DELIM`).
const COOKIE_DELIM: u8 = b'~';
/// The date delimiter of `maxidle`/`maxlife` cookies (`COOKIE_DELIM_DATE`).
const COOKIE_DELIM_DATE: u8 = b'|';

fn sp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn shift(x: usize, delta: isize) -> usize {
    x.checked_add_signed(delta).unwrap_or(0)
}

/// HAProxy's `http_find_cookie_value_end`: the first `,` or `;` outside a
/// quoted string, or `e`.
fn value_end(h: &[u8], mut s: usize, e: usize) -> usize {
    let (mut quoted, mut qdpair) = (false, false);
    while s < e {
        let c = h[s];
        if qdpair {
            qdpair = false;
        } else if quoted {
            if c == b'\\' {
                qdpair = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' || c == b';' {
            return s;
        }
        s += 1;
    }
    s
}

/// HAProxy's `http_del_hdr_value`: removes the value between the
/// delimiter at `from` (or the start) and the one at `next` (or `end`);
/// returns the (negative) length change.
fn del_value(h: &mut [u8], end: usize, from: usize, next: usize) -> isize {
    let (mut prev, mut next) = (from, next);
    if prev == 0 {
        if next < end {
            next += 1;
        }
        while next < end && sp(h[next]) {
            next += 1;
        }
    } else {
        while prev > 0 && sp(h[prev - 1]) {
            prev -= 1;
        }
        if next < end {
            h[prev] = h[next];
            prev += 1;
            next += 1;
            if prev + 1 < next {
                h[prev] = b' ';
                prev += 1;
            }
            while next < end && sp(h[next]) {
                next += 1;
            }
        }
    }
    h.copy_within(next..end, prev);
    prev as isize - next as isize
}

/// What became of one `Cookie` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    Keep,
    Set(Vec<u8>),
    Remove,
}

/// A persistence cookie the request carries: the server part of its value
/// (empty for an empty cookie) and the dates it carried.
#[derive(Debug)]
pub struct Found<'a> {
    pub srv: &'a [u8],
    /// The `|date` field after the server name (`cookie_last_date`): UNIX
    /// seconds, a multiple of 4; 0 when absent or invalid.
    pub last_date: u32,
    /// A second `|date` field (`cookie_first_date`), the same way.
    pub first_date: u32,
}

/// The 64 characters of base64 (`base64tab`), in value order.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// HAProxy's `s30tob64`: a 30-bit value as 5 base64 characters, most
/// significant first, unpadded (the dates of `maxidle`/`maxlife`
/// cookies).
pub fn s30tob64(v: u32) -> [u8; 5] {
    let mut out = [0u8; 5];
    for (i, o) in out.iter_mut().enumerate() {
        *o = B64[((v >> (24 - 6 * i)) & 0x3f) as usize];
    }
    out
}

/// HAProxy's `b64tos30`: 5 base64 characters back to their value, `None`
/// for fewer characters or one outside the alphabet (`=` included).
pub fn b64tos30(s: &[u8]) -> Option<u32> {
    let s = s.get(..5)?;
    s.iter().try_fold(0u32, |acc, &c| {
        let v = B64.iter().position(|&b| b == c)?;
        Some((acc << 6) | v as u32)
    })
}

/// A date field: its 4-second quantity shifted back to seconds, 0 when
/// invalid or zero (HAProxy keeps only `val > 0`).
fn date_field(s: &[u8]) -> u32 {
    b64tos30(s).filter(|&v| v > 0).map_or(0, |v| v << 2)
}

/// One `Cookie` request header (HAProxy's `http_manage_client_side_cookies`
/// loop body): `ours` is called for each cookie called `cfg.name`; the
/// cookie is removed in `insert indirect` mode, and its `SRV~` prefix
/// removed in `prefix` mode.
pub fn client_header(cfg: &CookieCfg, value: &[u8], mut ours: impl FnMut(Found<'_>)) -> Edit {
    let mut h = value.to_vec();
    let mut hdr_end = h.len();
    let mut del_from: Option<usize> = None;
    let mut preserve = false;
    let mut prev = 0;
    let mut first = true;
    let name = cfg.name.as_bytes();
    while prev < hdr_end {
        let mut att_beg = prev;
        if !first {
            att_beg += 1;
        }
        first = false;
        while att_beg < hdr_end && sp(h[att_beg]) {
            att_beg += 1;
        }
        let (mut equal, mut att_end) = (att_beg, att_beg);
        while equal < hdr_end {
            let c = h[equal];
            if c == b'=' || c == b',' || c == b';' {
                break;
            }
            equal += 1;
            if !sp(c) {
                att_end = equal;
            }
        }
        let (mut val_beg, mut val_end, mut next);
        if equal < hdr_end && h[equal] == b'=' {
            val_beg = equal + 1;
            while val_beg < hdr_end && sp(h[val_beg]) {
                val_beg += 1;
            }
            next = value_end(&h, val_beg, hdr_end);
            val_end = next;
            while val_end > val_beg && sp(h[val_end - 1]) {
                val_end -= 1;
            }
        } else {
            val_beg = equal;
            val_end = equal;
            next = equal;
        }
        if att_beg < hdr_end && h[att_beg] == b'$' {
            prev = next;
            continue;
        }
        if equal == next {
            // Not ours (no `=`): keep it, and end a pending deletion.
            preserve = true;
            if let Some(df) = del_from.take() {
                let delta = del_value(&mut h, hdr_end, df, prev);
                next = shift(next, delta);
                hdr_end = shift(hdr_end, delta);
            }
            prev = next;
            continue;
        }
        if att_end != equal || val_beg > equal + 1 {
            let mut stripped: isize = 0;
            if att_end != equal {
                h.copy_within(equal..hdr_end, att_end);
                stripped = att_end as isize - equal as isize;
                equal = shift(equal, stripped);
                val_beg = shift(val_beg, stripped);
            }
            if val_beg > equal + 1 {
                let src_end = shift(hdr_end, stripped);
                h.copy_within(val_beg..src_end, equal + 1);
                let after = (equal + 1) as isize - val_beg as isize;
                val_beg = shift(val_beg, after);
                stripped += after;
            }
            val_end = shift(val_end, stripped);
            next = shift(next, stripped);
            hdr_end = shift(hdr_end, stripped);
        }
        if att_end - att_beg == name.len() && &h[att_beg..att_end] == name {
            let mut found = Found {
                srv: &[],
                last_date: 0,
                first_date: 0,
            };
            let delim = if cfg.prefix {
                h[val_beg..val_end]
                    .iter()
                    .position(|&b| b == COOKIE_DELIM)
                    .map_or(val_end, |p| val_beg + p)
            } else {
                match h[val_beg..val_end]
                    .iter()
                    .position(|&b| b == COOKIE_DELIM_DATE)
                {
                    None => val_end,
                    Some(p) => {
                        let vbar = val_beg + p;
                        let dates = &h[vbar + 1..val_end];
                        found.last_date = date_field(dates);
                        if let Some(q) = dates.iter().position(|&b| b == COOKIE_DELIM_DATE) {
                            found.first_date = date_field(&dates[q + 1..]);
                        }
                        vbar
                    }
                }
            };
            found.srv = &h[val_beg..delim];
            ours(found);
            if cfg.prefix && delim != val_end {
                h.copy_within(delim + 1..hdr_end, val_beg);
                let delta = val_beg as isize - (delim + 1) as isize;
                next = shift(next, delta);
                hdr_end = shift(hdr_end, delta);
                del_from = None;
                preserve = true;
            } else if del_from.is_none() && cfg.insert && cfg.indirect {
                del_from = Some(prev);
            }
        } else {
            preserve = true;
            if let Some(df) = del_from.take() {
                let delta = del_value(&mut h, hdr_end, df, prev);
                next = shift(next, delta);
                hdr_end = shift(hdr_end, delta);
            }
        }
        let _ = val_end;
        prev = next;
    }
    if let Some(df) = del_from {
        hdr_end = if preserve { df } else { 0 };
    }
    if hdr_end == value.len() && h[..hdr_end] == *value {
        Edit::Keep
    } else if hdr_end == 0 {
        Edit::Remove
    } else {
        h.truncate(hdr_end);
        Edit::Set(h)
    }
}

/// What the proxy does with one `Set-Cookie` of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrvAction {
    /// Leave it (`preserve`), recorded as found.
    Keep,
    /// Delete it (`insert` on a known server, or `indirect` and direct).
    Delete,
    /// Replace its value by the server's cookie (`rewrite`).
    Rewrite,
    /// Prefix its value with `SRV~` (`prefix`).
    Prefix,
    /// The server has no cookie: nothing but "found".
    Found,
}

/// One `Set-Cookie` response header (HAProxy's
/// `http_manage_server_side_cookies` body; a `Set-Cookie` holds one cookie,
/// commas being allowed in its attributes). `decide` is called when the
/// cookie is the persistence cookie; returns the edit and whether the
/// cookie was ours.
pub fn server_header(
    name: &str,
    value: &[u8],
    srv_cookie: Option<&str>,
    decide: impl FnOnce() -> SrvAction,
) -> (Edit, bool) {
    let mut h = value.to_vec();
    let mut hdr_end = h.len();
    let mut att_beg = 0;
    while att_beg < hdr_end && sp(h[att_beg]) {
        att_beg += 1;
    }
    let (mut equal, mut att_end) = (att_beg, att_beg);
    while equal < hdr_end {
        let c = h[equal];
        if c == b'=' || c == b';' {
            break;
        }
        equal += 1;
        if !sp(c) {
            att_end = equal;
        }
    }
    let (mut val_beg, mut val_end);
    if equal < hdr_end && h[equal] == b'=' {
        val_beg = equal + 1;
        while val_beg < hdr_end && sp(h[val_beg]) {
            val_beg += 1;
        }
        val_end = value_end(&h, val_beg, hdr_end);
        while val_end > val_beg && sp(h[val_end - 1]) {
            val_end -= 1;
        }
    } else {
        val_beg = equal;
        val_end = equal;
    }
    if equal == val_end {
        return (Edit::Keep, false);
    }
    if att_end != equal || val_beg > equal + 1 {
        let mut stripped: isize = 0;
        if att_end != equal {
            h.copy_within(equal..hdr_end, att_end);
            stripped = att_end as isize - equal as isize;
            equal = shift(equal, stripped);
            val_beg = shift(val_beg, stripped);
        }
        if val_beg > equal + 1 {
            let src_end = shift(hdr_end, stripped);
            h.copy_within(val_beg..src_end, equal + 1);
            let after = (equal + 1) as isize - val_beg as isize;
            val_beg = shift(val_beg, after);
            stripped += after;
        }
        val_end = shift(val_end, stripped);
        hdr_end = shift(hdr_end, stripped);
    }
    h.truncate(hdr_end);
    let ours = &h[att_beg..att_end] == name.as_bytes();
    let unchanged = |h: Vec<u8>| {
        if h == value {
            Edit::Keep
        } else {
            Edit::Set(h)
        }
    };
    if !ours {
        return (unchanged(h), false);
    }
    let edit = match (decide(), srv_cookie) {
        (SrvAction::Delete, _) => Edit::Remove,
        (SrvAction::Rewrite, Some(c)) => {
            let mut out = h[..val_beg].to_vec();
            out.extend_from_slice(c.as_bytes());
            out.extend_from_slice(&h[val_end..]);
            Edit::Set(out)
        }
        (SrvAction::Prefix, Some(c)) => {
            let mut out = h[..val_beg].to_vec();
            out.extend_from_slice(c.as_bytes());
            out.push(COOKIE_DELIM);
            out.extend_from_slice(&h[val_beg..]);
            Edit::Set(out)
        }
        _ => unchanged(h),
    };
    (edit, true)
}

/// The `Set-Cookie` value `insert` mode adds for a server (`None`: a
/// server without a cookie, whose cookie the client is told to drop).
///
/// With `maxidle` or `maxlife`, the value carries the last-seen date
/// (`now_s`, rounded up to the next 4-second quantity as HAProxy does),
/// then with `maxlife` the first-seen one (`first_date`, or the same date
/// for a new cookie).
pub fn insert_value(
    cfg: &CookieCfg,
    srv_cookie: Option<&str>,
    now_s: u32,
    first_date: u32,
) -> String {
    let mut v = match srv_cookie {
        None => format!(
            "{}=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/",
            cfg.name
        ),
        Some(c) => {
            let mut v = format!("{}={c}", cfg.name);
            if cfg.maxidle_s > 0 || cfg.maxlife_s > 0 {
                let last = now_s.wrapping_add(3) >> 2;
                v.push(char::from(COOKIE_DELIM_DATE));
                v.push_str(core::str::from_utf8(&s30tob64(last)).unwrap_or_default());
                if cfg.maxlife_s > 0 {
                    let first = if first_date != 0 {
                        first_date >> 2
                    } else {
                        last
                    };
                    v.push(char::from(COOKIE_DELIM_DATE));
                    v.push_str(core::str::from_utf8(&s30tob64(first)).unwrap_or_default());
                }
            }
            v.push_str("; path=/");
            v
        }
    };
    if let Some(d) = &cfg.domain {
        v.push_str("; domain=");
        v.push_str(d);
    }
    if cfg.httponly {
        v.push_str("; HttpOnly");
    }
    if cfg.secure {
        v.push_str("; Secure");
    }
    if let Some(a) = &cfg.attrs {
        v.push_str("; ");
        v.push_str(a);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str, f: impl FnOnce(&mut CookieCfg)) -> CookieCfg {
        let mut c = CookieCfg {
            name: name.into(),
            ..CookieCfg::default()
        };
        f(&mut c);
        c
    }

    fn run(c: &CookieCfg, v: &str) -> (Edit, Vec<String>) {
        let mut seen = Vec::new();
        let e = client_header(c, v.as_bytes(), |f| {
            seen.push(String::from_utf8_lossy(f.srv).into_owned())
        });
        (e, seen)
    }

    fn set(s: &str) -> Edit {
        Edit::Set(s.as_bytes().to_vec())
    }

    #[test]
    fn insert_indirect_removes_the_cookie_wherever_it_is() {
        let c = cfg("SRV", |c| {
            c.insert = true;
            c.indirect = true;
        });
        assert_eq!(run(&c, "SRV=s1"), (Edit::Remove, vec!["s1".into()]));
        assert_eq!(run(&c, "a=1; SRV=s1"), (set("a=1"), vec!["s1".into()]));
        assert_eq!(run(&c, "SRV=s1; a=1"), (set("a=1"), vec!["s1".into()]));
        assert_eq!(
            run(&c, "a=1; SRV=s1; b=2"),
            (set("a=1; b=2"), vec!["s1".into()])
        );
        // HAProxy puts one space after the delimiter it keeps.
        assert_eq!(run(&c, "a=1;SRV=s1;b=2").0, set("a=1; b=2"));
        assert_eq!(run(&c, "a=1").0, Edit::Keep);
    }

    #[test]
    fn insert_without_indirect_keeps_it() {
        let c = cfg("SRV", |c| c.insert = true);
        assert_eq!(run(&c, "a=1; SRV=s2"), (Edit::Keep, vec!["s2".into()]));
    }

    #[test]
    fn spaces_around_equal_are_removed_and_dollar_attributes_skipped() {
        let c = cfg("SRV", |c| c.insert = true);
        assert_eq!(
            run(&c, "a = 1; $Path=/; SRV= s1"),
            (set("a=1; $Path=/; SRV=s1"), vec!["s1".into()])
        );
    }

    #[test]
    fn prefix_mode_strips_the_server_part() {
        let c = cfg("JSESSIONID", |c| c.prefix = true);
        assert_eq!(
            run(&c, "JSESSIONID=s1~abc; x=y"),
            (set("JSESSIONID=abc; x=y"), vec!["s1".into()])
        );
        // Without the delimiter the whole value is the server part.
        assert_eq!(run(&c, "JSESSIONID=abc").1, vec!["abc".to_string()]);
    }

    #[test]
    fn dates_end_the_server_part() {
        let c = cfg("SRV", |c| c.insert = true);
        let mut got = None;
        client_header(&c, b"SRV=s1|abcde|fghij", |f| {
            got = Some((f.srv.to_vec(), f.last_date, f.first_date))
        });
        assert_eq!(
            got.map(|(s, l, f)| (s, l != 0, f != 0)),
            Some((b"s1".to_vec(), true, true))
        );
    }

    #[test]
    fn set_cookie_actions() {
        let del = server_header("SRV", b"SRV=x; path=/", Some("s1"), || SrvAction::Delete);
        assert_eq!(del, (Edit::Remove, true));
        let rw = server_header("SRV", b"SRV=x; path=/", Some("s1"), || SrvAction::Rewrite);
        assert_eq!(rw, (set("SRV=s1; path=/"), true));
        let pfx = server_header("J", b"J=abc; path=/", Some("s1"), || SrvAction::Prefix);
        assert_eq!(pfx, (set("J=s1~abc; path=/"), true));
        let other = server_header("SRV", b"a=b", Some("s1"), || SrvAction::Delete);
        assert_eq!(other, (Edit::Keep, false));
    }

    #[test]
    fn inserted_values() {
        let mut c = cfg("SRV", |c| {
            c.insert = true;
            c.httponly = true;
            c.secure = true;
            c.domain = Some("a.example; domain=b.example".into());
            c.attrs = Some("SameSite=Lax".into());
        });
        assert_eq!(
            insert_value(&c, Some("s1"), 1000, 0),
            "SRV=s1; path=/; domain=a.example; domain=b.example; HttpOnly; Secure; SameSite=Lax"
        );
        c = cfg("SRV", |_| {});
        assert_eq!(
            insert_value(&c, None, 1000, 0),
            "SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"
        );
        // `maxidle`: the last-seen date, (now + 3) / 4 in base64; with
        // `maxlife` the first-seen one too (kept, or now for a new one).
        c = cfg("SRV", |c| c.maxidle_s = 60);
        assert_eq!(insert_value(&c, Some("s1"), 253, 0), "SRV=s1|AAABA; path=/");
        c.maxlife_s = 3600;
        assert_eq!(
            insert_value(&c, Some("s1"), 253, 0),
            "SRV=s1|AAABA|AAABA; path=/"
        );
        assert_eq!(
            insert_value(&c, Some("s1"), 253, 8),
            "SRV=s1|AAABA|AAAAC; path=/"
        );
        assert_eq!(
            insert_value(&c, None, 253, 8),
            "SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"
        );
    }

    #[test]
    fn date_fields_are_30_bit_base64() {
        assert_eq!(&s30tob64(0), b"AAAAA");
        assert_eq!(&s30tob64(1), b"AAAAB");
        assert_eq!(&s30tob64(64), b"AAABA");
        assert_eq!(&s30tob64(0x3fff_ffff), b"/////");
        for v in [0, 1, 4095, 441_000_000, 0x3fff_ffff] {
            assert_eq!(b64tos30(&s30tob64(v)), Some(v));
        }
        assert_eq!(b64tos30(b"AAAA"), None, "five characters");
        assert_eq!(b64tos30(b"AAAA="), None, "no padding");
        assert_eq!(b64tos30(b"AA-AA"), None);
        let c = cfg("SRV", |c| c.insert = true);
        let mut got = Vec::new();
        let _ = client_header(&c, b"SRV=s1|AAABA|AAAAC", |f| {
            got.push((f.srv.to_vec(), f.last_date, f.first_date))
        });
        let _ = client_header(&c, b"SRV=s2|AAAA=", |f| {
            got.push((f.srv.to_vec(), f.last_date, f.first_date))
        });
        assert_eq!(got, [(b"s1".to_vec(), 256, 8), (b"s2".to_vec(), 0, 0)]);
    }
}
