//! The map and ACL commands of the stats socket (HAProxy's `map.c`
//! `cli_kws`: `show|get|add|set|del|clear map|acl`), in HAProxy 2.6's
//! output format. Where HAProxy prints an element's address, Sluice
//! prints its stable id (`0x1`, `0x2`...), which `#<id>` also accepts.
//!
//! Versions (`@<ver>`, `prepare`, `commit`) are not implemented: every
//! change applies to the current version at once, and `@0` (the only
//! version there is) is accepted where HAProxy takes a version.

use core::fmt::Write as _;

use crate::engine::Engine;
use crate::pattern::{PatRefId, PatStore};
use crate::sample::Sample;

/// `map` or `acl`: which references a command sees and how it talks
/// about them (HAProxy's `display_flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    Map,
    Acl,
}

impl Which {
    fn unknown(self) -> String {
        match self {
            Which::Map => "Unknown map identifier. Please use #<id> or <file>.\n".into(),
            Which::Acl => "Unknown ACL identifier. Please use #<id> or <file>.\n".into(),
        }
    }

    fn shows(self, store: &PatStore, id: PatRefId) -> bool {
        store.get_ref(id).is_some_and(|r| match self {
            Which::Map => r.map,
            Which::Acl => r.acl,
        })
    }
}

/// Strips a leading `@<ver>`; `Err` for a version other than the current
/// one (0: versions are not implemented).
fn version<'a>(args: &'a [&'a str]) -> Result<&'a [&'a str], String> {
    match args.first().and_then(|a| a.strip_prefix('@')) {
        None => Ok(args),
        Some("0") => Ok(&args[1..]),
        Some(_) => Err(
            "Versions other than the current one (@0) are not supported by Sluice (no 'prepare'/'commit').\n"
                .into(),
        ),
    }
}

/// `#0x<hex>`: an element id.
fn elt_id(arg: &str) -> Option<Result<u64, String>> {
    let hex = arg.strip_prefix("#0x")?;
    Some(
        u64::from_str_radix(hex, 16)
            .map_err(|_| "Malformed identifier. Please use #<id> or <file>.\n".to_string()),
    )
}

/// The name `get map` prints for a value's type (`smp_to_type`).
fn type_name(s: &Sample) -> &'static str {
    match s {
        Sample::Bool(_) => "bool",
        Sample::Int(_) => "sint",
        Sample::Ip(core::net::IpAddr::V4(_)) => "ipv4",
        Sample::Ip(core::net::IpAddr::V6(_)) => "ipv6",
        Sample::Str(_) => "str",
        Sample::Bin(_) => "bin",
    }
}

impl Engine {
    /// `show map|acl [[@<ver>] <ref>]`.
    pub(crate) fn cli_show_pat(&self, which: Which, args: &[&str]) -> String {
        let st = &self.patterns;
        if args.is_empty() {
            let mut s = String::from("# id (file) description\n");
            for (id, r) in st.refs().filter(|(id, _)| which.shows(st, *id)) {
                let _ = writeln!(
                    s,
                    "{} ({}) {}. curr_ver=0 next_ver=0 entry_cnt={}",
                    r.unique_id,
                    r.reference.as_deref().unwrap_or(""),
                    r.display,
                    st.entry_cnt(id)
                );
            }
            return s;
        }
        let args = match version(args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let Some(id) = args
            .first()
            .and_then(|n| st.lookup(n))
            .filter(|id| which.shows(st, *id))
        else {
            return which.unknown();
        };
        let mut s = String::new();
        for e in st.get_ref(id).map_or(&[][..], |r| &r.elts[..]) {
            match &e.sample {
                Some(v) => {
                    let _ = writeln!(s, "{:#x} {} {v}", e.id, e.pattern);
                }
                None => {
                    let _ = writeln!(s, "{:#x} {}", e.id, e.pattern);
                }
            }
        }
        s
    }

    /// `get map|acl <ref> <value>`: one line per expression of the
    /// reference (`cli_io_handler_map_lookup`).
    pub(crate) fn cli_get_pat(&self, which: Which, args: &[&str]) -> String {
        let st = &self.patterns;
        let (Some(name), Some(value)) = (args.first(), args.get(1)) else {
            return match which {
                Which::Map => "Missing map identifier and/or key.\n".into(),
                Which::Acl => "Missing ACL identifier and/or key.\n".into(),
            };
        };
        let Some(id) = st.lookup(name) else {
            return which.unknown();
        };
        let (found, pat) = match which {
            Which::Map => ("found", "key"),
            Which::Acl => ("match", "pattern"),
        };
        let mut s = String::new();
        for eid in st.ref_expr_ids(id) {
            let Some(e) = st.expr(eid) else { continue };
            let case = if e.kind.icase {
                "insensitive"
            } else {
                "sensitive"
            };
            let _ = write!(s, "type={}, case={case}", e.kind.name());
            let sample = Sample::Str(value.as_bytes().to_vec());
            let hit = st.exec(eid, &sample);
            let Some(m) = hit else {
                let _ = writeln!(s, ", {found}=no");
                continue;
            };
            let idx = if m.tree { "tree" } else { "list" };
            let _ = write!(s, ", {found}=yes, idx={idx}, {pat}=\"{}\"", m.elt.pattern);
            if which == Which::Map {
                match (m.data, &m.elt.sample) {
                    (Some(d), Some(v)) => {
                        let _ = write!(s, ", value=\"{v}\", type=\"{}\"", type_name(d));
                    }
                    _ => s.push_str(", value=none"),
                }
            }
            s.push('\n');
        }
        s
    }

    /// `add map|acl [@<ver>] <ref> <key> [<value>]`, or with a payload of
    /// `key value` lines (maps).
    pub(crate) fn cli_add_pat(
        &mut self,
        which: Which,
        args: &[&str],
        payload: Option<&str>,
    ) -> String {
        let args = match version(args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let bad = match which {
            Which::Map => {
                (payload.is_none() && args.len() < 3) || (payload.is_some() && args.is_empty())
            }
            Which::Acl => args.len() < 2,
        };
        if bad {
            return match which {
                Which::Map => "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n".into(),
                Which::Acl => "'add acl' expects two parameters: ACL identifier and pattern.\n".into(),
            };
        }
        let Some(id) = self.patterns.lookup(args[0]) else {
            return which.unknown();
        };
        if which == Which::Acl && self.patterns.get_ref(id).is_some_and(|r| r.smp) {
            return "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n".into();
        }
        let mut pairs: Vec<(String, Option<String>)> = Vec::new();
        match payload {
            Some(p) => {
                for line in p.split('\n').filter(|l| !l.is_empty()) {
                    let (k, v) = match line.find([' ', '\t']) {
                        Some(i) => (&line[..i], line[i + 1..].trim_start_matches([' ', '\t'])),
                        None if which == Which::Map => {
                            return format!("Missing value for key '{line}'.\n")
                        }
                        None => (line, ""),
                    };
                    pairs.push((k.to_string(), Some(v.to_string())));
                }
            }
            None => pairs.push((args[1].to_string(), args.get(2).map(|v| v.to_string()))),
        }
        for (k, v) in pairs {
            let v = if which == Which::Map { v } else { None };
            if let Err(e) = self.patterns.add(id, &k, v.as_deref()) {
                return format!("{e}.\n");
            }
        }
        String::new()
    }

    /// `set map <ref> <key>|#<id> <value>`.
    pub(crate) fn cli_set_map(&mut self, args: &[&str]) -> String {
        let [name, key, value, ..] = args else {
            return "'set map' expects three parameters: map identifier, key and value.\n".into();
        };
        let Some(id) = self.patterns.lookup(name) else {
            return Which::Map.unknown();
        };
        let r = match elt_id(key) {
            Some(Err(e)) => return e,
            Some(Ok(elt)) => self
                .patterns
                .set_by_id(id, elt, value)
                .map(|hit| (hit, "key or pattern not found")),
            None => self
                .patterns
                .set(id, key, value)
                .map(|hit| (hit, "entry not found")),
        };
        match r {
            Ok((true, _)) => String::new(),
            Ok((false, why)) => format!("{why}.\n"),
            Err(e) => format!("{e}.\n"),
        }
    }

    /// `del map|acl <ref> <key>|#<id>`.
    pub(crate) fn cli_del_pat(&mut self, which: Which, args: &[&str]) -> String {
        let [name, key, ..] = args else {
            return match which {
                Which::Map => {
                    "This command expects two parameters: map identifier and key.\n".into()
                }
                Which::Acl => {
                    "This command expects two parameters: ACL identifier and key.\n".into()
                }
            };
        };
        let Some(id) = self
            .patterns
            .lookup(name)
            .filter(|id| which.shows(&self.patterns, *id))
        else {
            // HAProxy 2.6 names a map here for `del acl` too.
            return Which::Map.unknown();
        };
        let hit = match elt_id(key) {
            Some(Err(e)) => return e,
            Some(Ok(elt)) => self.patterns.delete_by_id(id, elt),
            None => self.patterns.delete(id, key),
        };
        if hit {
            String::new()
        } else {
            "Key not found.\n".into()
        }
    }

    /// `clear map|acl [@<ver>] <ref>`.
    pub(crate) fn cli_clear_pat(&mut self, which: Which, args: &[&str]) -> String {
        let args = match version(args) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let Some(name) = args.first() else {
            return match which {
                Which::Map => "Missing map identifier.\n".into(),
                Which::Acl => "Missing ACL identifier.\n".into(),
            };
        };
        let Some(id) = self
            .patterns
            .lookup(name)
            .filter(|id| which.shows(&self.patterns, *id))
        else {
            return which.unknown();
        };
        self.patterns.clear(id);
        String::new()
    }
}
