//! Fetch and converter arguments: HAProxy's `arg.c` (`struct arg`,
//! `ARGT_*`, `make_arg_list`) and the argument parsers of `standard.c`
//! (`str2mask`, `read_int64` use).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::*;

/// A variable scope (`proc.`, `sess.`, `txn.`, `req.`, `res.`, `check.`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VarScope {
    Proc,
    Sess,
    Txn,
    Req,
    Res,
    Check,
}

/// The conditions of `set-var(NAME,COND...)` (the action and the
/// converter), HAProxy's `VF_COND_*` bits: all of them must hold for the
/// variable to be set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct VarCond(u8);

impl VarCond {
    /// `ifexists`: the variable exists (a `proc.` one always does: HAProxy
    /// creates each one the configuration names when parsing it).
    pub const IFEXISTS: VarCond = VarCond(1);
    /// `ifnotexists`: the variable does not exist yet.
    pub const IFNOTEXISTS: VarCond = VarCond(2);
    /// `ifempty`: the sample is an empty string or binary.
    pub const IFEMPTY: VarCond = VarCond(4);
    /// `ifnotempty`: the sample is not an empty string or binary.
    pub const IFNOTEMPTY: VarCond = VarCond(8);
    /// `ifset`: the variable exists and has a value.
    pub const IFSET: VarCond = VarCond(16);
    /// `ifnotset`: the variable has no value.
    pub const IFNOTSET: VarCond = VarCond(32);
    /// `ifgt`: both integers, the variable's is greater than the sample.
    pub const IFGT: VarCond = VarCond(64);
    /// `iflt`: both integers, the variable's is less than the sample.
    pub const IFLT: VarCond = VarCond(128);

    /// No condition.
    pub const NONE: VarCond = VarCond(0);

    /// The condition a word names (HAProxy's `vars_parse_cond_param`).
    pub fn parse(word: &str) -> Option<VarCond> {
        Some(match word {
            "ifexists" => Self::IFEXISTS,
            "ifnotexists" => Self::IFNOTEXISTS,
            "ifempty" => Self::IFEMPTY,
            "ifnotempty" => Self::IFNOTEMPTY,
            "ifset" => Self::IFSET,
            "ifnotset" => Self::IFNOTSET,
            "ifgt" => Self::IFGT,
            "iflt" => Self::IFLT,
            _ => return None,
        })
    }

    /// Parses `NAME[,COND...]` (the argument of the `set-var` action):
    /// the name and the conditions, or HAProxy's message on an unknown
    /// condition.
    pub fn split(arg: &str) -> Result<(&str, VarCond), String> {
        let mut it = arg.split(',');
        let name = it.next().unwrap_or("");
        let mut cond = VarCond::NONE;
        for w in it {
            match VarCond::parse(w) {
                Some(c) => cond = cond.with(c),
                None => return Err(format!("unknown condition \"{w}\"")),
            }
        }
        Ok((name, cond))
    }

    /// The bits, as a converter keeps them in its arguments.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The conditions of [`VarCond::bits`] (other bits ignored).
    pub fn from_bits(b: i64) -> VarCond {
        VarCond((b & 0xff) as u8)
    }

    /// Both sets of conditions.
    pub const fn with(self, o: VarCond) -> VarCond {
        VarCond(self.0 | o.0)
    }

    /// Whether every condition of `o` is in `self`.
    pub const fn has(self, o: VarCond) -> bool {
        self.0 & o.0 == o.0 && o.0 != 0
    }
}

/// A variable name with its scope (`txn.country`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VarName {
    pub scope: VarScope,
    /// The name after the scope's dot.
    pub name: String,
}

impl VarName {
    /// Parses `scope.name` (HAProxy's `vars_check_arg`/`register_name`).
    pub fn parse(text: &str) -> Result<VarName, String> {
        let (scope, name) = match text.split_once('.') {
            Some(("proc", n)) => (VarScope::Proc, n),
            Some(("sess", n)) => (VarScope::Sess, n),
            Some(("txn", n)) => (VarScope::Txn, n),
            Some(("req", n)) => (VarScope::Req, n),
            Some(("res", n)) => (VarScope::Res, n),
            Some(("check", n)) => (VarScope::Check, n),
            _ => {
                return Err(format!(
                    "invalid variable name '{text}'. A variable name must be start by its scope. \
                     The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
                ))
            }
        };
        if name.is_empty() {
            return Err(format!("missing variable name in '{text}'"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
        {
            return Err(format!(
                "character '{c}' is not permitted in variable name '{text}'"
            ));
        }
        Ok(VarName {
            scope,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.scope {
            VarScope::Proc => "proc",
            VarScope::Sess => "sess",
            VarScope::Txn => "txn",
            VarScope::Req => "req",
            VarScope::Res => "res",
            VarScope::Check => "check",
        };
        write!(f, "{s}.{}", self.name)
    }
}

/// A stick table named in a rule or a fetch argument, resolved to its
/// index when the rule set is built (HAProxy's `ARGT_TAB` after
/// `smp_resolve_args`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// The table as written (`mesh/src_rates`, a proxy name); the proxy's
    /// own name when the configuration names none.
    pub name: String,
    /// Index given by the table lookup; `None` when parsed without one
    /// ([`ParseCtx::detached`]).
    pub id: Option<crate::stick_table::TableId>,
}

/// A compiled regular expression (HAProxy's `struct my_regex`): bytes, no
/// Unicode classes, like PCRE without UTF mode.
#[derive(Clone)]
pub struct Regex {
    /// The expression as written.
    pub source: String,
    /// Case-insensitive (`-i`, regsub's `i` flag).
    pub icase: bool,
    re: regex::bytes::Regex,
}

impl Regex {
    /// Compiles `source`; the error reads like HAProxy's `regex_comp`.
    pub fn new(source: &str, icase: bool) -> Result<Regex, String> {
        let re = regex::bytes::RegexBuilder::new(source)
            .unicode(false)
            .case_insensitive(icase)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 21)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let line = msg
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("error: "))
                    .unwrap_or(msg.lines().last().unwrap_or("invalid"))
                    .to_string();
                format!("regex '{source}' is invalid: {line}")
            })?;
        Ok(Regex {
            source: source.to_string(),
            icase,
            re,
        })
    }

    /// Whether the expression matches anywhere in `s` (`regex_exec2`).
    pub fn is_match(&self, s: &[u8]) -> bool {
        self.re.is_match(s)
    }

    /// The compiled expression, for substitutions.
    pub fn inner(&self) -> &regex::bytes::Regex {
        &self.re
    }
}

impl PartialEq for Regex {
    fn eq(&self, o: &Regex) -> bool {
        self.source == o.source && self.icase == o.icase
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Regex({:?}{})",
            self.source,
            if self.icase { ", i" } else { "" }
        )
    }
}

/// A typed argument of a fetch or converter (HAProxy's `struct arg`).
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int(i64),
    Str(String),
    /// A stick table (`ARGT_TAB`).
    Table(TableRef),
    /// A backend name (`ARGT_BE`); empty: the current backend.
    Backend(String),
    /// A variable (`ARGT_VAR`).
    Var(VarName),
    /// An IPv4 address or mask (`ARGT_IPV4`, `ARGT_MSK4`).
    Ipv4(Ipv4Addr),
    /// An IPv6 address or mask (`ARGT_IPV6`, `ARGT_MSK6`).
    Ipv6(Ipv6Addr),
    /// A regular expression (`ARGT_REG`).
    Regex(Regex),
    /// Bytes decoded when parsing (the base64 key of `hmac`: HAProxy's
    /// `ARGT_STR` after `sample_check_arg_base64`).
    Bin(Vec<u8>),
    /// A loaded map (`ARGT_MAP`: the file argument of `map*` once
    /// `sample_load_map` ran).
    Map(crate::pattern::PatExprId),
}

/// HAProxy's `is_idchar`: characters of fetch, converter and ACL names.
pub fn is_idchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b':')
}

pub(super) fn id_len(s: &[u8]) -> usize {
    s.iter().position(|&c| !is_idchar(c)).unwrap_or(s.len())
}

/// An argument type (HAProxy's `ARGT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgType {
    Int,
    Str,
    Table,
    Backend,
    /// A `userlist` name (`ARGT_USR`).
    Userlist,
    Var,
    Msk4,
    Msk6,
    /// An integer or a variable name (arithmetic converters).
    IntOrVar,
    /// `true`/`false`/an integer (`bool()`).
    BoolLit,
    Ipv4,
    Ipv6,
}

impl ArgType {
    fn name(self) -> &'static str {
        match self {
            ArgType::Int | ArgType::BoolLit => "integer",
            ArgType::Str | ArgType::IntOrVar => "string",
            ArgType::Table => "table",
            ArgType::Backend => "backend",
            ArgType::Userlist => "userlist",
            ArgType::Var => "variable",
            ArgType::Msk4 => "IPv4 mask",
            ArgType::Msk6 => "IPv6 mask",
            ArgType::Ipv4 => "IPv4 address",
            ArgType::Ipv6 => "IPv6 address",
        }
    }

    /// Types that may be left empty and then take a default.
    fn defaults_when_empty(self) -> bool {
        matches!(
            self,
            ArgType::Str | ArgType::Table | ArgType::Backend | ArgType::Userlist
        )
    }
}

/// An argument list: types, and how many are mandatory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArgSpec {
    pub types: &'static [ArgType],
    pub min: usize,
}

pub(super) const NO_ARGS: ArgSpec = ArgSpec { types: &[], min: 0 };

/// Splits an argument list `(a,b,...)` at the start of `s` into raw
/// strings with HAProxy's rules (`make_arg_list`): quotes `'..'` and
/// `".."` protect commas and parentheses, `\` escapes `\`, space and
/// quotes, `\r \n \t` are control characters. Returns the arguments and
/// the bytes used. `max`: how many the keyword takes.
pub(crate) fn split_args(s: &str, max: usize) -> Result<(Vec<String>, usize), String> {
    let b = s.as_bytes();
    if b.first() != Some(&b'(') {
        return Ok((Vec::new(), 0));
    }
    let mut i = 1;
    let mut args = Vec::new();
    if max == 0 {
        return match b.get(i) {
            Some(b')') => Ok((args, i + 1)),
            _ => Err(expected_paren(&s[i..])),
        };
    }
    loop {
        let (arg, next) = one_arg(b, i)?;
        args.push(arg);
        i = next;
        match b.get(i) {
            Some(b')') => return Ok((args, i + 1)),
            Some(b',') if args.len() < max => i += 1,
            _ => return Err(expected_paren(&s[i..])),
        }
    }
}

fn expected_paren(rest: &str) -> String {
    if rest.is_empty() {
        "expected ')'".into()
    } else {
        format!("expected ')' before '{rest}'")
    }
}

/// One argument from `b[i..]`, up to an unquoted `,` or `)`.
fn one_arg(b: &[u8], mut i: usize) -> Result<(String, usize), String> {
    let mut out = Vec::new();
    let (mut sq, mut dq) = (false, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'"' if !sq => dq = !dq,
            b'\'' if !dq => sq = !sq,
            b'\\' if !sq && i + 1 < b.len() => {
                let escaped = match b[i + 1] {
                    b'r' => Some(b'\r'),
                    b'n' => Some(b'\n'),
                    b't' => Some(b'\t'),
                    c @ (b'\\' | b' ' | b'"' | b'\'') => Some(c),
                    // A lone backslash stays; what follows is read as usual.
                    _ => None,
                };
                match escaped {
                    Some(c) => {
                        out.push(c);
                        i += 1;
                    }
                    None => out.push(b'\\'),
                }
            }
            b',' | b')' if !sq && !dq => break,
            _ => out.push(c),
        }
        i += 1;
    }
    if sq || dq {
        return Err("unterminated quote in argument".into());
    }
    Ok((String::from_utf8_lossy(&out).into_owned(), i))
}

/// Types raw arguments. On error, the position of the bad argument.
pub(super) fn type_args(
    raw: &[String],
    spec: ArgSpec,
    ctx: &ParseCtx<'_>,
    kw: &str,
    what: &str,
) -> Result<Vec<Arg>, (usize, String)> {
    let mut out = Vec::new();
    for (pos, &t) in spec.types.iter().enumerate() {
        let text = raw.get(pos).map(String::as_str);
        match text {
            Some(s) if !s.is_empty() || t == ArgType::Str => {
                out.push(type_arg(s, t, ctx, kw, pos, what).map_err(|e| (pos, e))?);
            }
            _ if t.defaults_when_empty() && (pos < spec.min || text.is_some()) => {
                out.push(type_arg("", t, ctx, kw, pos, what).map_err(|e| (pos, e))?);
            }
            Some(_) if pos < spec.min => {
                let m = format!(
                    "expected type '{}' at position {}, but got nothing",
                    t.name(),
                    pos + 1
                );
                return Err((pos, m));
            }
            None if pos < spec.min => {
                let m = format!(
                    "missing arguments (got {}/{}), type '{}' expected",
                    raw.len(),
                    spec.min,
                    t.name()
                );
                return Err((pos, m));
            }
            _ => break,
        }
    }
    Ok(out)
}

fn type_arg(
    s: &str,
    t: ArgType,
    ctx: &ParseCtx<'_>,
    kw: &str,
    pos: usize,
    what: &str,
) -> Result<Arg, String> {
    let bad = || {
        format!(
            "failed to parse '{s}' as type '{}' at position {}",
            t.name(),
            pos + 1
        )
    };
    Ok(match t {
        ArgType::Int => Arg::Int(parse_int_arg(s).ok_or_else(bad)?),
        ArgType::BoolLit => Arg::Int(match s {
            "true" => 1,
            "false" => 0,
            _ => parse_int_arg(s).ok_or_else(bad)?,
        }),
        ArgType::Str => Arg::Str(s.to_string()),
        ArgType::Table => {
            let what = format!("arg {} of {what} '{kw}'", pos + 1);
            Arg::Table(ctx.table(s, &what)?)
        }
        ArgType::Backend => {
            if let (false, Some(exists)) = (s.is_empty(), ctx.backends) {
                if !exists(s) {
                    return Err(format!(
                        "unable to find backend '{s}' referenced in arg {} of {what} '{kw}'",
                        pos + 1
                    ));
                }
            }
            Arg::Backend(s.to_string())
        }
        ArgType::Userlist => {
            if let Some(groups) = ctx.userlists {
                if groups(s).is_none() {
                    return Err(format!(
                        "unable to find userlist '{s}' referenced in arg {} of {what} '{kw}'",
                        pos + 1
                    ));
                }
            }
            Arg::Str(s.to_string())
        }
        ArgType::Var => Arg::Var(VarName::parse(s)?),
        ArgType::IntOrVar => match parse_int_arg(s) {
            Some(i) => Arg::Int(i),
            None => Arg::Var(VarName::parse(s)?),
        },
        ArgType::Msk4 => Arg::Ipv4(parse_mask4(s).ok_or_else(bad)?),
        ArgType::Msk6 => Arg::Ipv6(parse_mask6(s).ok_or_else(bad)?),
        ArgType::Ipv4 => Arg::Ipv4(s.parse().map_err(|_| bad())?),
        ArgType::Ipv6 => Arg::Ipv6(s.parse().map_err(|_| bad())?),
    })
}

/// An integer argument: `read_int64` that must use the whole text.
pub(super) fn parse_int_arg(s: &str) -> Option<i64> {
    let (v, n) = read_int64(s.as_bytes());
    (n == s.len() && s.bytes().any(|c| c.is_ascii_digit())).then_some(v)
}

/// An IPv4 mask: a prefix length (`24`) or a dotted mask (`255.255.255.0`)
/// (HAProxy's `str2mask`).
pub fn parse_mask4(s: &str) -> Option<Ipv4Addr> {
    if s.contains('.') {
        return s.parse().ok();
    }
    let bits: u32 = s.parse().ok().filter(|b| *b <= 32)?;
    Some(Ipv4Addr::from(prefix_mask32(bits)))
}

/// An IPv6 mask: a prefix length (`64`) or an address form (`str2mask6`).
pub fn parse_mask6(s: &str) -> Option<Ipv6Addr> {
    if s.contains(':') {
        return s.parse().ok();
    }
    let bits: u32 = s.parse().ok().filter(|b| *b <= 128)?;
    Some(Ipv6Addr::from(prefix_mask128(bits)))
}

/// The 32-bit mask with the `bits` leading bits set.
pub fn prefix_mask32(bits: u32) -> u32 {
    u32::MAX.checked_shl(32 - bits.min(32)).unwrap_or(0)
}

/// The 128-bit mask with the `bits` leading bits set.
pub fn prefix_mask128(bits: u32) -> u128 {
    u128::MAX.checked_shl(128 - bits.min(128)).unwrap_or(0)
}
