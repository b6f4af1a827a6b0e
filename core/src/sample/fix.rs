//! The FIX protocol converters (HAProxy's `fix.c`): `fix_is_valid` and
//! `fix_tag_value(tag)`, on a message of `tag=value<SOH>` fields.

/// `FIX_DELIMITER`.
const DELIM: u8 = 0x01;
/// `FIX_MSG_MINSIZE`: shorter than this, more data is needed.
const MIN_SIZE: usize = 26;

pub(crate) const TAG_BEGIN_STRING: u32 = 8;
pub(crate) const TAG_BODY_LENGTH: u32 = 9;
pub(crate) const TAG_CHECKSUM: u32 = 10;
pub(crate) const TAG_MSG_TYPE: u32 = 35;

/// What [`validate`] found (`FIX_*_MESSAGE`, `FIX_NEED_MORE_DATA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Validity {
    Valid,
    Invalid,
    NeedMore,
}

/// The FIX versions (`FIX_4_0`..`FIX_5_0`, the 5.0 ones all `FIXT.1.1`)
/// and the highest standard tag id of each.
const VERSIONS: &[(&[u8], u32)] = &[
    (b"FIX.4.0", 140),
    (b"FIX.4.1", 211),
    (b"FIX.4.2", 446),
    (b"FIX.4.3", 659),
    (b"FIX.4.4", 956),
    (b"FIXT.1.1", 1621),
];

/// HAProxy's `read_uint`: the leading decimal digits, and how many.
fn read_uint(s: &[u8]) -> (u32, usize) {
    let mut v: u32 = 0;
    let mut n = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
        n += 1;
    }
    (v, n)
}

/// `fix_check_id`: a tag id (all digits, not 0), within the version's
/// range when one is given (10000-19999 are user-defined tags).
fn check_id(tag: &[u8], version: Option<usize>) -> u32 {
    let (id, n) = read_uint(tag);
    if n != tag.len() || id == 0 {
        return 0;
    }
    match version {
        None => id,
        Some(_) if (10000..=19999).contains(&id) => id,
        Some(v) if id <= VERSIONS[v].1 => id,
        Some(_) => 0,
    }
}

/// `fix_tagid`: a tag id, or one of the names HAProxy knows.
pub(crate) fn tag_id(tag: &str) -> u32 {
    let id = check_id(tag.as_bytes(), None);
    if id != 0 {
        return id;
    }
    const NAMES: &[(&str, u32)] = &[
        ("MsgType", TAG_MSG_TYPE),
        ("CheckSum", TAG_CHECKSUM),
        ("BodyLength", TAG_BODY_LENGTH),
        ("TargetCompID", 56),
        ("BeginString", TAG_BEGIN_STRING),
        ("SenderCompID", 49),
    ];
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(tag))
        .map_or(0, |(_, id)| *id)
}

/// One `tag=value<SOH>` field at the start of `s`: `Err(true)` when its
/// delimiter has not arrived, `Err(false)` when the tag is empty (HAProxy's
/// `iststop(istfind(parser, '='), FIX_DELIMITER)`; its test of an empty
/// value sees the '=' and never fails, so an empty value passes).
fn field(s: &[u8]) -> Result<(&[u8], &[u8]), bool> {
    let Some(eq) = s.iter().position(|&b| b == b'=') else {
        return Err(true);
    };
    let Some(len) = s[eq..].iter().position(|&b| b == DELIM) else {
        return Err(true);
    };
    if eq == 0 {
        return Err(false);
    }
    Ok((&s[..eq], &s[eq + 1..eq + len]))
}

/// `fix_validate_message`: BeginString with a known version first,
/// BodyLength second, MsgType third, and a CheckSum whose body length and
/// sum of bytes are right.
pub(crate) fn validate(msg: &[u8]) -> Validity {
    if msg.len() < MIN_SIZE {
        return Validity::NeedMore;
    }
    let mut pos = 0;
    let (mut version, mut tagnum, mut bodylen) = (None, 0u32, 0usize);
    let mut checksum: u8 = 0;
    let mut body = None;
    while pos < msg.len() {
        let (tag, value) = match field(&msg[pos..]) {
            Ok(f) => f,
            Err(true) => return Validity::NeedMore,
            Err(false) => return Validity::Invalid,
        };
        let id = check_id(tag, version);
        if id == 0 {
            return Validity::Invalid;
        }
        tagnum += 1;
        match tagnum {
            1 => {
                if id != TAG_BEGIN_STRING {
                    return Validity::Invalid;
                }
                match VERSIONS.iter().position(|(v, _)| *v == value) {
                    Some(v) => version = Some(v),
                    None => return Validity::Invalid,
                }
            }
            2 => {
                let (len, n) = read_uint(value);
                if id != TAG_BODY_LENGTH || n != value.len() || len == 0 {
                    return Validity::Invalid;
                }
                bodylen = len as usize;
                body = Some(pos + tag.len() + value.len() + 2);
            }
            3 if id != TAG_MSG_TYPE => return Validity::Invalid,
            _ if id == TAG_CHECKSUM => {
                // `strl2ui`: the leading digits.
                let (sum, _) = read_uint(value);
                let ok = body.is_some_and(|b| pos.checked_sub(b) == Some(bodylen))
                    && value.len() == 3
                    && u32::from(checksum) == sum;
                return if ok {
                    Validity::Valid
                } else {
                    Validity::Invalid
                };
            }
            _ => {}
        }
        for &b in tag.iter().chain(b"=").chain(value).chain(&[DELIM]) {
            checksum = checksum.wrapping_add(b);
        }
        pos += tag.len() + value.len() + 2;
    }
    if body.is_some() {
        Validity::NeedMore
    } else {
        Validity::Invalid
    }
}

/// `fix_tag_value`: the value of the first field `tagid`; `Err(true)`
/// when more data may hold it, `Err(false)` when the message ends
/// (CheckSum) without it or a field is malformed.
pub(crate) fn tag_value(msg: &[u8], tagid: u32) -> Result<&[u8], bool> {
    let mut pos = 0;
    while pos < msg.len() {
        let (tag, value) = match field(&msg[pos..]) {
            Ok(f) => f,
            Err(true) => break,
            Err(false) => return Err(false),
        };
        let id = check_id(tag, None);
        if id == 0 {
            return Err(false);
        }
        if id == tagid {
            return Ok(value);
        }
        if id == TAG_CHECKSUM {
            return Err(false);
        }
        pos += tag.len() + value.len() + 2;
    }
    Err(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The FIX 4.4 logon of HAProxy's reg-test converter/fix.vtc.
    const LOGON_44: &str = "383d4649582e342e3401393d3130320133353d410134393d434c49454e54310135363d4558454355544f520133343d310135323d32303230313032392d31333a30323a34342e3532380139383d30013130383d3330013134313d59013535333d557365726e616d65013535343d50617373776f72640131303d32353201";

    #[test]
    fn a_logon_is_valid_and_its_tags_read() {
        let m = hex(LOGON_44);
        assert_eq!(validate(&m), Validity::Valid);
        assert_eq!(tag_value(&m, tag_id("BeginString")), Ok(&b"FIX.4.4"[..]));
        assert_eq!(tag_value(&m, tag_id("BodyLength")), Ok(&b"102"[..]));
        assert_eq!(tag_value(&m, tag_id("msgtype")), Ok(&b"A"[..]));
        assert_eq!(tag_value(&m, 49), Ok(&b"CLIENT1"[..]));
        assert_eq!(tag_value(&m, 10), Ok(&b"252"[..]));
        // Not in the message: the CheckSum ends the search.
        assert_eq!(tag_value(&m, 1000), Err(false));
    }

    #[test]
    fn a_cut_message_needs_more_and_a_wrong_one_is_invalid() {
        let m = hex(LOGON_44);
        for cut in [0, 10, 30, m.len() - 1] {
            assert_eq!(validate(&m[..cut]), Validity::NeedMore, "cut at {cut}");
        }
        assert_eq!(tag_value(&m[..30], 49), Err(true));
        // One byte of the body changed: the checksum no longer matches.
        let mut bad = m.clone();
        let at = bad.iter().position(|&b| b == b'C').unwrap();
        bad[at] = b'D';
        assert_eq!(validate(&bad), Validity::Invalid);
        // Not starting with BeginString.
        assert_eq!(
            validate(b"9=5\x018=FIX.4.4\x0135=A\x0110=000\x01"),
            Validity::Invalid
        );
        // An unknown version, an empty body length.
        assert_eq!(
            validate(b"8=FIX.9.9\x019=5\x0135=A\x0110=000\x01"),
            Validity::Invalid
        );
        assert_eq!(
            validate(b"8=FIX.4.4\x019=\x0135=A\x0110=000\x0100000"),
            Validity::Invalid
        );
        assert_eq!(tag_id("Nope"), 0);
    }
}
