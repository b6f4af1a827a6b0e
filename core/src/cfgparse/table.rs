//! `table` lines of peers sections and `stick-table` lines of proxies
//! (HAProxy's `parse_stick_table()` in `src/stick_table.c`), producing the
//! [`TableParams`] shared with the stick-table engine and the peers codec.
//!
//! `type ip|ipv6|integer|string [len N]|binary [len N] size N [expire T]
//!  [nopurge] [srvkey name|addr] [store TYPE[(ARGS)][,...]]... [peers NAME]`

use super::units::{parse_time_ms, parse_u32};
use super::{Diagnostic, Diags, Ln};
use crate::stick_table::{ArgKind, DataType, KeyType, SrvKey, StoreSpec, TableParams};

/// Where the table is declared, which decides its names.
pub(super) struct TableSite<'a> {
    /// `table` or `stick-table`, for messages.
    pub label: &'a str,
    pub id: String,
    pub wire_name: String,
    /// A peers-section table: synchronised through that section; `peers`
    /// is not an argument there.
    pub section: Option<&'a str>,
}

/// Parses the table arguments from word `i`.
pub(super) fn parse(
    ln: &Ln<'_>,
    i: usize,
    site: TableSite<'_>,
    d: &mut Diags,
) -> Result<TableParams, Diagnostic> {
    let label = site.label;
    let mut key: Option<(KeyType, usize)> = None;
    let mut t = TableParams::new(site.id, KeyType::Ipv4, 0);
    t.wire_name = site.wire_name;
    t.peers = site.section.map(str::to_string);
    let mut i = i;
    while !ln.arg(i).is_empty() {
        let val = ln.arg(i + 1);
        i += match ln.arg(i) {
            "type" => {
                let (k, used) = key_type(ln, i, label)?;
                key = Some(k);
                used
            }
            "size" => {
                t.size = super::units::parse_size(val)
                    .ok()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| ln.diag(format!("{label}: invalid size '{val}'.")))?;
                2
            }
            "expire" => {
                t.expire_ms = Some(expire(ln, val, label)?);
                2
            }
            "nopurge" => {
                t.nopurge = true;
                1
            }
            "srvkey" => {
                t.srvkey = match val {
                    "name" => SrvKey::Name,
                    "addr" => SrvKey::Addr,
                    _ => {
                        return Err(
                            ln.diag(format!("{}: unknown server key type '{val}'.", ln.arg(0)))
                        )
                    }
                };
                2
            }
            "store" => {
                store(ln, val, label, &mut t.store, d)?;
                2
            }
            "peers" if site.section.is_none() => {
                if val.is_empty() {
                    return Err(ln.diag(format!("{label}: missing argument after 'peers'.")));
                }
                t.peers = Some(val.to_string());
                2
            }
            other => return Err(ln.diag(format!("{label}: unknown argument '{other}'."))),
        };
    }
    let Some((key_type, key_size)) = key else {
        return Err(ln.diag(format!("{label}: missing type.")));
    };
    if t.size == 0 {
        return Err(ln.diag(format!("{label}: missing size.")));
    }
    t.key_type = key_type;
    t.key_size = key_size;
    t.store.sort_by_key(|s| s.data_type);
    Ok(t)
}

/// `type T [len N]` at word `i`: the key type, its size, the words used.
fn key_type(ln: &Ln<'_>, i: usize, label: &str) -> Result<((KeyType, usize), usize), Diagnostic> {
    let name = ln.arg(i + 1);
    let k = KeyType::from_name(name)
        .ok_or_else(|| ln.diag(format!("{label}: unknown type '{name}'.")))?;
    if !(k.takes_len() && ln.arg(i + 2) == "len") {
        return Ok(((k, k.default_key_size()), 2));
    }
    let len = ln.arg(i + 3);
    match parse_u32(len) {
        Ok(n) if n > 0 => Ok(((k, k.key_size_for_len(n as usize)), 4)),
        _ => Err(ln.diag(format!(
            "{label}: 'len' expects a positive integer (got '{len}')."
        ))),
    }
}

fn expire(ln: &Ln<'_>, val: &str, label: &str) -> Result<u32, Diagnostic> {
    use super::units::ValueError;
    parse_time_ms(val).map_err(|e| {
        ln.diag(match e {
            ValueError::Empty => format!("{label}: missing argument after 'expire'."),
            ValueError::BadChar(c) => {
                format!("{label}: unexpected character '{c}' in argument of 'expire'.")
            }
            ValueError::Overflow => format!(
                "{label}: timer overflow in argument <{val}> to <expire>, maximum value is 2147483647 ms (~24.8 days)."
            ),
        })
    })
}

/// Splits a `store` list at the commas outside parentheses:
/// `gpc0,gpc_rate(2,10s)` is `gpc0` and `gpc_rate(2,10s)`.
fn split_store(list: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out
}

/// `store a,b(10s),gpt(2),gpc_rate(2,10s)`: appends one spec per new type;
/// a type already stored is ignored with a warning, as in HAProxy.
fn store(
    ln: &Ln<'_>,
    list: &str,
    label: &str,
    out: &mut Vec<StoreSpec>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    if list.is_empty() {
        return Err(ln.diag(format!("{label}: missing argument after 'store'.")));
    }
    for item in split_store(list) {
        let spec = store_item(ln, item, label)?;
        if out.iter().any(|s| s.data_type == spec.data_type) {
            let m = format!(
                "{label}: store option '{}' already enabled, ignored.",
                spec.data_type
            );
            d.warn(ln.diag(m));
        } else {
            out.push(spec);
        }
    }
    Ok(())
}

/// One `name` or `name(args)` of a store list.
fn store_item(ln: &Ln<'_>, item: &str, label: &str) -> Result<StoreSpec, Diagnostic> {
    let (name, args) = match item.split_once('(') {
        Some((n, rest)) => match rest.strip_suffix(')') {
            Some(a) => (n, Some(a)),
            None => return Err(ln.diag(format!("{label}: missing ')' in store option '{item}'."))),
        },
        None => (item, None),
    };
    let err = |m: &str| ln.diag(format!("{label}: {m} store option '{name}'."));
    let dt = DataType::from_name(name).ok_or_else(|| err("unknown"))?;
    let kind = dt.info().map_or(ArgKind::None, |i| i.arg);
    match (kind, args) {
        (ArgKind::None, None) => Ok(StoreSpec::plain(dt)),
        (ArgKind::None, Some(_)) => Err(err("unexpected argument to")),
        (_, None) => Err(err("missing argument to")),
        (ArgKind::Period, Some(a)) => Ok(StoreSpec::rate(dt, period(ln, a, name, label)?)),
        (ArgKind::Array, Some(a)) => {
            if a.contains(',') {
                return Err(err("unexpected argument to"));
            }
            Ok(StoreSpec::array(dt, array_len(ln, a, name, label)?, 0))
        }
        (ArgKind::ArrayPeriod, Some(a)) => {
            let (n, p) = a
                .split_once(',')
                .ok_or_else(|| err("missing argument to"))?;
            let n = array_len(ln, n, name, label)?;
            Ok(StoreSpec::array(dt, n, period(ln, p, name, label)?))
        }
    }
}

fn array_len(ln: &Ln<'_>, a: &str, name: &str, label: &str) -> Result<u16, Diagnostic> {
    match parse_u32(a) {
        Ok(n) if (1..=DataType::MAX_ARRAY_LEN as u32).contains(&n) => Ok(n as u16),
        _ => Err(ln.diag(format!(
            "{label}: array size is out of allowed range (1-{}) for store option '{name}'.",
            DataType::MAX_ARRAY_LEN
        ))),
    }
}

fn period(ln: &Ln<'_>, a: &str, name: &str, label: &str) -> Result<u32, Diagnostic> {
    match parse_time_ms(a) {
        Ok(p) if p > 0 => Ok(p),
        Ok(_) => Err(ln.diag(format!(
            "{label}: the period of store option '{name}' must be greater than 0."
        ))),
        Err(e) => Err(ln.diag(format!(
            "{label}: invalid period '{a}' for store option '{name}': {e}."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lists_split_outside_parentheses() {
        assert_eq!(
            split_store("gpc0,gpc_rate(2,10s),conn_rate(10s)"),
            ["gpc0", "gpc_rate(2,10s)", "conn_rate(10s)"]
        );
        assert_eq!(split_store("a"), ["a"]);
        assert_eq!(split_store("a,"), ["a", ""]);
    }

    #[test]
    fn srvkey_names_the_server_by_name_or_address() {
        use crate::cfgparse::{parse, ParseOptions};
        let load = |t: &str| {
            parse("t.cfg", t, ParseOptions::new("h"))
                .map(|p| {
                    p.config
                        .tables()
                        .map(|t| t.params.srvkey)
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            load("peers p\n table a type string size 10 srvkey addr\n table b type ip size 1\n"),
            Ok(vec![SrvKey::Addr, SrvKey::Name])
        );
        assert_eq!(
            load("backend b\n stick-table type ip size 1 srvkey name\n"),
            Ok(vec![SrvKey::Name])
        );
        let e = load("backend b\n stick-table type ip size 1 srvkey id\n").unwrap_err();
        assert!(e.contains("unknown server key type 'id'"), "{e}");
    }
}
