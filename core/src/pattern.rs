//! Pattern references and pattern expressions: HAProxy's `pattern.c`
//! (`struct pat_ref`, `struct pattern_expr`) and the map part of `map.c`.
//!
//! ```text
//!  PatRef  = one pattern file (or one ACL's inline patterns): its entries
//!            (key [value]) in file order, what the CLI shows and edits
//!     └─ PatExpr (one per match method / case / value type using the ref)
//!            = every entry parsed for that method; what rules match against
//!  PatStore = every PatRef and PatExpr of the engine (HAProxy's global
//!            `pattern_reference` list); rules hold PatExprIds.
//! ```
//!
//! The engine reads no file: the driver hands the bytes of each pattern
//! file in through a [`FileSource`] while the configuration is built, and
//! [`PatStore::load_file`] parses them (one entry a line, `#` comments,
//! blank lines, key and value separated by spaces or tabs, as
//! `pat_ref_read_from_file_smp`/`pat_ref_read_from_file`). Parsing never
//! panics on any content.
//!
//! Matching follows HAProxy 2.6's indexes: `str` finds the first entry in
//! file order with the same key (its tree keeps duplicates in insertion
//! order); `beg` without `-i` takes the longest matching prefix (the prefix
//! tree), `ip` the longest IPv4 network with a contiguous mask, then the
//! longest IPv6 network, then the first non-contiguous IPv4 mask in file
//! order; every other method (and `str`/`beg` with `-i`) takes the first
//! matching entry in file order.
//!
//! Invariant: every expression of a ref holds exactly one compiled entry
//! per ref element, in the same order ([`PatStore::check_invariants`]).

use core::net::IpAddr;
use std::sync::Arc;

use crate::acl::{embedded_v4, parse_pattern, pattern_match, IpNet, MatchMethod, Pattern};
use crate::sample::{Sample, SmpType};

/// Reads a file for the engine (the driver's side of "core reads no
/// files"): the bytes, or why they could not be read.
#[derive(Clone)]
pub struct FileSource(pub Arc<ReadFile>);

/// The function behind a [`FileSource`]: a path to the file's bytes, or
/// why they could not be read.
pub type ReadFile = dyn Fn(&str) -> Result<Vec<u8>, String> + Send + Sync;

impl core::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FileSource(<fn>)")
    }
}

/// Longest line of a pattern file, as HAProxy reads them with `fgets`
/// into a buffer of `tune.bufsize`: longer lines are cut there.
const MAX_LINE: usize = 16 * 1024;

/// Most entries of one pattern reference (a bound on memory for the CLI
/// `add` commands and on files; HAProxy is bounded by memory only).
pub const MAX_ENTRIES: usize = 10_000_000;

/// A pattern reference, by index in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PatRefId(pub u32);

/// A pattern expression, by index in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PatExprId(pub u32);

/// How a map's values are parsed (`parse_smp`: `map_parse_str`,
/// `map_parse_int`, `map_parse_ip`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapOut {
    Str,
    Int,
    Addr,
}

impl MapOut {
    /// The sample type the converter declares.
    pub fn smp_type(self) -> SmpType {
        match self {
            MapOut::Str => SmpType::Str,
            MapOut::Int => SmpType::Int,
            MapOut::Addr => SmpType::Addr,
        }
    }

    /// Parses a value (`map_parse_*`).
    pub fn parse(self, text: &str) -> Option<Sample> {
        match self {
            MapOut::Str => Some(Sample::Str(text.as_bytes().to_vec())),
            MapOut::Int => read_int64(text).map(Sample::Int),
            MapOut::Addr => text.parse::<IpAddr>().ok().map(Sample::Ip),
        }
    }
}

/// HAProxy's `read_int64` followed by the end-of-text check of
/// `map_parse_int`: optional sign, digits, nothing else (overflow wraps
/// as in C).
fn read_int64(text: &str) -> Option<i64> {
    let (neg, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.bytes() {
        v = v.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// What an expression matches with: the method, `-i`, whether it is
/// `map_regm` (regex with back-references), and how values are parsed
/// (`None` for ACLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatKind {
    pub method: MatchMethod,
    pub icase: bool,
    pub regm: bool,
    pub out: Option<MapOut>,
}

impl PatKind {
    /// The name `get map`/`get acl` print (`pat_match_names`).
    pub fn name(&self) -> &'static str {
        if self.regm {
            "regm"
        } else {
            self.method.name()
        }
    }
}

/// One entry of a reference (`struct pat_ref_elt`).
#[derive(Clone, Debug)]
pub struct PatRefElt {
    /// A stable id, printed where HAProxy prints the element's address.
    pub id: u64,
    pub pattern: String,
    /// The value (maps); a map file line without a value has `""`.
    pub sample: Option<String>,
    /// The file line, 0 for entries added at run time.
    pub line: u32,
    /// An ACL's inline pattern, already parsed (its operators, such as
    /// `gt 5` or Sluice's `ne`, do not survive as text).
    inline: Option<Pattern>,
}

/// A pattern reference (`struct pat_ref`).
#[derive(Clone, Debug)]
pub struct PatRef {
    /// The id `show map`/`show acl` print and `#<id>` names (`-u` or
    /// assigned in order once the configuration is loaded).
    pub unique_id: i32,
    /// The file name; `None` for an ACL's inline patterns.
    pub reference: Option<String>,
    pub display: String,
    /// Used by an ACL (`PAT_REF_ACL`).
    pub acl: bool,
    /// Used by a map (`PAT_REF_MAP`).
    pub map: bool,
    /// Entries have values (`PAT_REF_SMP`: loaded as a map).
    pub smp: bool,
    pub elts: Vec<PatRefElt>,
    exprs: Vec<PatExprId>,
    /// HAProxy's `entry_cnt`, kept as HAProxy counts it (`show map`
    /// prints it): plus one per entry indexed in an expression, minus one
    /// per entry deleted (whatever its number of expressions), zero after
    /// `clear`.
    entry_cnt: u64,
    /// Where it was created (file order, line, creation order): the order
    /// of HAProxy's list, which follows the configuration.
    order: (u32, u32, u32),
}

/// One compiled entry of an expression.
#[derive(Clone, Debug)]
struct Entry {
    pat: Pattern,
    data: Option<Sample>,
}

/// A pattern expression (`struct pattern_expr`): a reference's entries
/// parsed for one kind of matching.
#[derive(Clone, Debug)]
pub struct PatExpr {
    pub pat_ref: PatRefId,
    pub kind: PatKind,
    entries: Vec<Entry>,
}

/// A match: the element's index in its ref, and its parsed value.
#[derive(Clone, Copy, Debug)]
pub struct Matched<'a> {
    pub elt: &'a PatRefElt,
    pub data: Option<&'a Sample>,
    /// The entry is indexed in a tree (`idx=tree` in `get map`).
    pub tree: bool,
    pattern: &'a Pattern,
}

impl Matched<'_> {
    /// `map_regm`'s value: the value with `\N` replaced by the groups of
    /// the matching regex on `input` (`exp_replace`).
    pub fn regm_value(&self, input: &[u8]) -> Option<Vec<u8>> {
        let (Pattern::Regex(r), Some(Sample::Str(v))) = (self.pattern, self.data) else {
            return None;
        };
        let caps = r.inner().captures(input)?;
        let mut out = Vec::new();
        crate::sample::expand_subst(v, &caps, &mut out);
        Some(out)
    }
}

/// Every pattern reference and expression of an engine.
#[derive(Clone, Debug, Default)]
pub struct PatStore {
    refs: Vec<PatRef>,
    exprs: Vec<PatExpr>,
    next_elt: u64,
    files_seen: Vec<String>,
    created: u32,
}

/// Where a configuration line is: file and line.
pub type At<'a> = (&'a str, u32);

/// What the configuration parser loads pattern files with: the store
/// being filled and the driver's file reader.
#[derive(Debug)]
pub struct PatLoader {
    pub store: core::cell::RefCell<PatStore>,
    pub read: Option<FileSource>,
}

impl PatLoader {
    /// A loader filling an empty store; `read`: `None` refuses files.
    pub fn new(read: Option<FileSource>) -> PatLoader {
        PatLoader {
            store: core::cell::RefCell::new(PatStore::new()),
            read,
        }
    }

    /// [`PatStore::load_file`] with the driver's reader.
    pub fn load_file(
        &self,
        name: &str,
        kind: PatKind,
        smp: bool,
        at: At<'_>,
    ) -> Result<PatExprId, String> {
        let Some(read) = &self.read else {
            return Err(format!(
                "failed to open pattern file <{name}> (no file source: Sluice's engine reads no files itself)"
            ));
        };
        self.store.borrow_mut().load_file(read, name, kind, smp, at)
    }
}

impl PatStore {
    /// An empty store.
    pub fn new() -> PatStore {
        PatStore::default()
    }

    /// Every reference, in `show map`/`show acl` order once
    /// [`PatStore::finalize`] ran.
    pub fn refs(&self) -> impl Iterator<Item = (PatRefId, &PatRef)> {
        self.refs
            .iter()
            .enumerate()
            .map(|(i, r)| (PatRefId(i as u32), r))
    }

    /// The reference `id`.
    pub fn get_ref(&self, id: PatRefId) -> Option<&PatRef> {
        self.refs.get(id.0 as usize)
    }

    /// The expression `id`.
    pub fn expr(&self, id: PatExprId) -> Option<&PatExpr> {
        self.exprs.get(id.0 as usize)
    }

    /// The expressions of a reference, in creation order.
    pub fn ref_exprs(&self, id: PatRefId) -> impl Iterator<Item = &PatExpr> {
        self.get_ref(id)
            .into_iter()
            .flat_map(|r| r.exprs.iter())
            .filter_map(|e| self.expr(*e))
    }

    /// The ids of a reference's expressions, in creation order.
    pub fn ref_expr_ids(&self, id: PatRefId) -> Vec<PatExprId> {
        self.get_ref(id)
            .map(|r| r.exprs.clone())
            .unwrap_or_default()
    }

    /// `entry_cnt` (see [`PatRef`]).
    pub fn entry_cnt(&self, id: PatRefId) -> u64 {
        self.get_ref(id).map_or(0, |r| r.entry_cnt)
    }

    fn order_of(&mut self, at: At<'_>) -> (u32, u32, u32) {
        let f = match self.files_seen.iter().position(|f| f == at.0) {
            Some(i) => i,
            None => {
                self.files_seen.push(at.0.to_string());
                self.files_seen.len() - 1
            }
        };
        self.created += 1;
        (f as u32, at.1, self.created)
    }

    fn new_elt(&mut self, pattern: &str, sample: Option<&str>, line: u32) -> PatRefElt {
        self.next_elt += 1;
        PatRefElt {
            id: self.next_elt,
            pattern: pattern.to_string(),
            sample: sample.map(str::to_string),
            line,
            inline: None,
        }
    }

    /// Finds a reference by file name, or by `#<id>` (`pat_ref_lookup_ref`).
    pub fn lookup(&self, name: &str) -> Option<PatRefId> {
        let i = match name.strip_prefix('#') {
            Some(n) => {
                let id: i32 = n.parse().ok()?;
                self.refs.iter().position(|r| r.unique_id == id)?
            }
            None => self
                .refs
                .iter()
                .position(|r| r.reference.as_deref() == Some(name))?,
        };
        Some(PatRefId(i as u32))
    }

    /// Loads pattern file `name` for an ACL (`-f`, `smp` with `-M`) or a
    /// map converter (HAProxy's `pattern_read_from_file`), reading it with
    /// `read` the first time, and returns the expression to match with.
    /// `at` is the configuration line that uses it.
    pub fn load_file(
        &mut self,
        read: &FileSource,
        name: &str,
        kind: PatKind,
        smp: bool,
        at: At<'_>,
    ) -> Result<PatExprId, String> {
        // An ACL's `-M` loads the file as a map (`PAT_REF_MAP` too).
        let as_map = kind.out.is_some() || smp;
        let by = if as_map { "map" } else { "acl" };
        let rid = match self.lookup_file(name) {
            None => {
                let bytes =
                    (read.0)(name).map_err(|_| format!("failed to open pattern file <{name}>"))?;
                let order = self.order_of(at);
                let mut r = PatRef {
                    unique_id: -1,
                    reference: Some(name.to_string()),
                    display: format!(
                        "pattern loaded from file '{name}' used by {by} at file '{}' line {}",
                        at.0, at.1
                    ),
                    acl: kind.out.is_none(),
                    map: as_map,
                    smp,
                    elts: Vec::new(),
                    exprs: Vec::new(),
                    entry_cnt: 0,
                    order,
                };
                for (line, key, value) in parse_file(&bytes, smp) {
                    if r.elts.len() >= MAX_ENTRIES {
                        return Err(format!("too many entries in pattern file <{name}>"));
                    }
                    r.elts.push(self.new_elt(key, value, line));
                }
                self.refs.push(r);
                PatRefId(self.refs.len() as u32 - 1)
            }
            Some(rid) => {
                let r = &mut self.refs[rid.0 as usize];
                if smp && !r.smp {
                    return Err(format!(
                        "The file \"{name}\" is already used as one column file and cannot be used by as two column file."
                    ));
                }
                if !smp && r.smp {
                    return Err(format!(
                        "The file \"{name}\" is already used as two column file and cannot be used by as one column file."
                    ));
                }
                r.display
                    .push_str(&format!(", by {by} at file '{}' line {}", at.0, at.1));
                r.acl |= kind.out.is_none();
                r.map |= as_map;
                rid
            }
        };
        self.expr_for(rid, kind).map_err(|(e, line)| match line {
            0 => e,
            l => format!("{e} at line {l} of file '{name}'"),
        })
    }

    fn lookup_file(&self, name: &str) -> Option<PatRefId> {
        self.refs
            .iter()
            .position(|r| r.reference.as_deref() == Some(name))
            .map(|i| PatRefId(i as u32))
    }

    /// The reference's expression of `kind`, created and filled if there
    /// is none (`pattern_new_expr` reuses a similar one).
    fn expr_for(&mut self, rid: PatRefId, kind: PatKind) -> Result<PatExprId, (String, u32)> {
        let r = &self.refs[rid.0 as usize];
        if let Some(e) = r
            .exprs
            .iter()
            .find(|e| self.exprs[e.0 as usize].kind == kind)
        {
            return Ok(*e);
        }
        let mut entries = Vec::with_capacity(r.elts.len());
        for elt in &r.elts {
            entries.push(compile(kind, elt).map_err(|e| (e, elt.line))?);
        }
        let n = entries.len() as u64;
        self.exprs.push(PatExpr {
            pat_ref: rid,
            kind,
            entries,
        });
        let id = PatExprId(self.exprs.len() as u32 - 1);
        let r = &mut self.refs[rid.0 as usize];
        r.exprs.push(id);
        r.entry_cnt = r.entry_cnt.wrapping_add(n);
        Ok(id)
    }

    /// An ACL's inline patterns (`acl NAME CRITERION PATTERN...`): an
    /// anonymous reference (`pat_ref_newid`) shown as `acl '<kw>' file
    /// '<file>' line <n>`, with its expression. `texts` pair each parsed
    /// pattern with the text the reference shows.
    pub fn new_inline(
        &mut self,
        kw: &str,
        unique_id: Option<i32>,
        kind: PatKind,
        patterns: Vec<(String, Pattern)>,
        at: At<'_>,
    ) -> Result<PatExprId, String> {
        if let Some(id) = unique_id {
            if self.refs.iter().any(|r| r.unique_id == id) {
                return Err("the id is already used".into());
            }
        }
        let order = self.order_of(at);
        let mut elts = Vec::with_capacity(patterns.len());
        for (text, p) in patterns {
            let mut e = self.new_elt(&text, None, 0);
            e.inline = Some(p);
            elts.push(e);
        }
        self.refs.push(PatRef {
            unique_id: unique_id.unwrap_or(-1),
            reference: None,
            display: format!("acl '{kw}' file '{}' line {}", at.0, at.1),
            acl: true,
            map: false,
            smp: false,
            elts,
            exprs: Vec::new(),
            entry_cnt: 0,
            order,
        });
        let rid = PatRefId(self.refs.len() as u32 - 1);
        self.expr_for(rid, kind).map_err(|(e, _)| e)
    }

    /// Gives ids to the references that have none and sorts them by id
    /// (`pattern_finalize_config`); the order before is the order of
    /// creation in the configuration. Expressions keep their ids.
    pub fn finalize(&mut self) {
        let mut idx: Vec<usize> = (0..self.refs.len()).collect();
        idx.sort_by_key(|&i| self.refs[i].order);
        let forced: Vec<i32> = self
            .refs
            .iter()
            .map(|r| r.unique_id)
            .filter(|&u| u != -1)
            .collect();
        let mut next = 0;
        for &i in &idx {
            if self.refs[i].unique_id == -1 {
                while forced.contains(&next) {
                    next += 1;
                }
                self.refs[i].unique_id = next;
                next += 1;
            }
        }
        idx.sort_by_key(|&i| self.refs[i].unique_id);
        let mut new_pos = vec![0u32; idx.len()];
        for (new, &old) in idx.iter().enumerate() {
            new_pos[old] = new as u32;
        }
        let mut old_refs: Vec<Option<PatRef>> = self.refs.drain(..).map(Some).collect();
        for &old in &idx {
            if let Some(r) = old_refs[old].take() {
                self.refs.push(r);
            }
        }
        for e in &mut self.exprs {
            e.pat_ref = PatRefId(new_pos[e.pat_ref.0 as usize]);
        }
    }

    /// Matches `s` (of any type) against expression `id`
    /// (`pattern_exec_match` with `fill`).
    pub fn exec(&self, id: PatExprId, s: &Sample) -> Option<Matched<'_>> {
        let e = self.expr(id)?;
        let r = self.get_ref(e.pat_ref)?;
        let s = s.clone().cast(e.kind.method.expect_type())?;
        let (i, tree) = find(e, &s)?;
        let ent = e.entries.get(i)?;
        Some(Matched {
            elt: r.elts.get(i)?,
            data: ent.data.as_ref(),
            tree,
            pattern: &ent.pat,
        })
    }

    /// Whether `s` matches expression `id` (ACLs).
    pub fn matches(&self, id: PatExprId, s: &Sample) -> bool {
        self.exec(id, s).is_some()
    }

    /// Adds an entry to every expression of the reference (`pat_ref_add`:
    /// on a parse error nothing is added).
    pub fn add(&mut self, rid: PatRefId, key: &str, value: Option<&str>) -> Result<(), String> {
        let Some(r) = self.refs.get(rid.0 as usize) else {
            return Err("Unknown reference".into());
        };
        if r.elts.len() >= MAX_ENTRIES {
            return Err("too many entries".into());
        }
        let elt = self.new_elt(key, value, 0);
        let r = &self.refs[rid.0 as usize];
        let mut compiled = Vec::new();
        for e in &r.exprs {
            match compile(self.exprs[e.0 as usize].kind, &elt) {
                Ok(c) => compiled.push(c),
                Err(err) => {
                    // HAProxy indexed it in the expressions before this
                    // one, then deleted it (`pat_ref_delete_by_ptr`).
                    let r = &mut self.refs[rid.0 as usize];
                    r.entry_cnt = r
                        .entry_cnt
                        .wrapping_add(compiled.len() as u64)
                        .wrapping_sub(1);
                    return Err(err);
                }
            }
        }
        let exprs = r.exprs.clone();
        let n = compiled.len() as u64;
        for (e, c) in exprs.iter().zip(compiled) {
            self.exprs[e.0 as usize].entries.push(c);
        }
        let r = &mut self.refs[rid.0 as usize];
        r.elts.push(elt);
        r.entry_cnt = r.entry_cnt.wrapping_add(n);
        Ok(())
    }

    /// Sets the value of every entry whose key is `key` (`pat_ref_set`);
    /// `Ok(false)` when there is none.
    pub fn set(&mut self, rid: PatRefId, key: &str, value: &str) -> Result<bool, String> {
        let Some(r) = self.refs.get(rid.0 as usize) else {
            return Ok(false);
        };
        let hits: Vec<usize> = (0..r.elts.len())
            .filter(|&i| r.elts[i].pattern == key)
            .collect();
        // HAProxy 2.6's `pat_ref_set` reports an unparsable value only
        // through its error text, and the CLI then answers nothing: the
        // entries keep their values.
        let _ = self.set_at(rid, &hits, value);
        Ok(!hits.is_empty())
    }

    /// Sets the value of the entry with id `elt` (`set map <map> #<ref>`).
    pub fn set_by_id(&mut self, rid: PatRefId, elt: u64, value: &str) -> Result<bool, String> {
        let Some(r) = self.refs.get(rid.0 as usize) else {
            return Ok(false);
        };
        let hits: Vec<usize> = r
            .elts
            .iter()
            .position(|e| e.id == elt)
            .into_iter()
            .collect();
        self.set_at(rid, &hits, value)?;
        Ok(!hits.is_empty())
    }

    fn set_at(&mut self, rid: PatRefId, hits: &[usize], value: &str) -> Result<(), String> {
        let exprs = self.refs[rid.0 as usize].exprs.clone();
        // Parse for every expression first: a value one of them refuses
        // changes nothing.
        for &e in &exprs {
            if let Some(out) = self.exprs[e.0 as usize].kind.out {
                if out.parse(value).is_none() {
                    return Err(format!("unable to parse '{value}'"));
                }
            }
        }
        for &i in hits {
            self.refs[rid.0 as usize].elts[i].sample = Some(value.to_string());
            for &e in &exprs {
                let ex = &mut self.exprs[e.0 as usize];
                if let Some(out) = ex.kind.out {
                    ex.entries[i].data = out.parse(value);
                }
            }
        }
        Ok(())
    }

    /// Deletes every entry whose key is `key` (`pat_ref_delete`); whether
    /// there was one.
    pub fn delete(&mut self, rid: PatRefId, key: &str) -> bool {
        self.retain(rid, |e| e.pattern != key) > 0
    }

    /// Deletes the entry with id `elt`.
    pub fn delete_by_id(&mut self, rid: PatRefId, elt: u64) -> bool {
        self.retain(rid, |e| e.id != elt) > 0
    }

    /// Deletes every entry (`clear map`, `clear acl`).
    pub fn clear(&mut self, rid: PatRefId) {
        self.retain(rid, |_| false);
        if let Some(r) = self.refs.get_mut(rid.0 as usize) {
            r.entry_cnt = 0;
        }
    }

    /// Keeps the entries `keep` selects; returns how many went.
    fn retain(&mut self, rid: PatRefId, keep: impl Fn(&PatRefElt) -> bool) -> usize {
        let Some(r) = self.refs.get_mut(rid.0 as usize) else {
            return 0;
        };
        let flags: Vec<bool> = r.elts.iter().map(&keep).collect();
        let before = r.elts.len();
        r.elts.retain(|e| keep(e));
        let removed = before - r.elts.len();
        r.entry_cnt = r.entry_cnt.wrapping_sub(removed as u64);
        for e in r.exprs.clone() {
            let mut it = flags.iter();
            self.exprs[e.0 as usize]
                .entries
                .retain(|_| *it.next().unwrap_or(&true));
        }
        removed
    }

    /// Checks the store's invariant: each expression has one entry per
    /// element of its reference.
    pub fn check_invariants(&self) {
        for e in &self.exprs {
            let n = self.get_ref(e.pat_ref).map_or(usize::MAX, |r| r.elts.len());
            crate::bug_on!(e.entries.len() != n, "pattern expression out of sync");
        }
    }
}

/// Parses one element for an expression (`pat_ref_push`): the value
/// first, then the pattern.
fn compile(kind: PatKind, elt: &PatRefElt) -> Result<Entry, String> {
    let data = match (kind.out, elt.sample.as_deref()) {
        (Some(out), Some(v)) => Some(
            out.parse(v)
                .ok_or_else(|| format!("unable to parse '{v}'"))?,
        ),
        _ => None,
    };
    let pat = match &elt.inline {
        Some(p) => p.clone(),
        None => parse_pattern(kind.method, kind.icase, &elt.pattern)?,
    };
    Ok(Entry { pat, data })
}

/// The entry `s` selects in `e`, and whether a tree index found it.
fn find(e: &PatExpr, s: &Sample) -> Option<(usize, bool)> {
    let k = e.kind;
    match (k.method, s) {
        (MatchMethod::Found | MatchMethod::Bool, _) => None,
        (MatchMethod::Beg, Sample::Str(v)) if !k.icase => {
            // The prefix tree: the longest prefix, the first of equals.
            let mut best: Option<(usize, usize)> = None;
            for (i, ent) in e.entries.iter().enumerate() {
                if let Pattern::Bytes(p) = &ent.pat {
                    if v.starts_with(p) && best.is_none_or(|(_, l)| p.len() > l) {
                        best = Some((i, p.len()));
                    }
                }
            }
            best.map(|(i, _)| (i, true))
        }
        (MatchMethod::Ip, Sample::Ip(ip)) => find_ip(e, *ip),
        (m, s) => {
            let tree = m == MatchMethod::Str && !k.icase;
            e.entries
                .iter()
                .position(|ent| pattern_match(m, k.icase, &ent.pat, s))
                .map(|i| (i, tree))
        }
    }
}

/// `pat_match_ip`: the IPv4 tree (contiguous masks, longest prefix), the
/// IPv6 tree (longest prefix; a v4 sample as `::ffff:a.b.c.d`), then the
/// list of non-contiguous IPv4 masks in file order.
fn find_ip(e: &PatExpr, ip: IpAddr) -> Option<(usize, bool)> {
    let longest_v4 = |a: core::net::Ipv4Addr| {
        let mut best: Option<(usize, u32)> = None;
        for (i, ent) in e.entries.iter().enumerate() {
            if let Pattern::Ip(IpNet::V4 { addr, mask }) = ent.pat {
                let m = u32::from(mask);
                let contiguous = m.wrapping_add(m & m.wrapping_neg()) == 0;
                let hit = (u32::from(a) ^ u32::from(addr)) & m == 0;
                if contiguous && hit && best.is_none_or(|(_, l)| m.count_ones() > l) {
                    best = Some((i, m.count_ones()));
                }
            }
        }
        best.map(|(i, _)| (i, true))
    };
    let longest_v6 = |a: core::net::Ipv6Addr| {
        let mut best: Option<(usize, u8)> = None;
        for (i, ent) in e.entries.iter().enumerate() {
            if let Pattern::Ip(net @ IpNet::V6 { prefix, .. }) = ent.pat {
                if net.contains(IpAddr::V6(a)) && best.is_none_or(|(_, l)| prefix > l) {
                    best = Some((i, prefix));
                }
            }
        }
        best.map(|(i, _)| (i, true))
    };
    let v4 = match ip {
        IpAddr::V4(a) => {
            if let Some(r) = longest_v4(a).or_else(|| longest_v6(a.to_ipv6_mapped())) {
                return Some(r);
            }
            a
        }
        IpAddr::V6(a) => {
            if let Some(r) = longest_v6(a) {
                return Some(r);
            }
            let a4 = embedded_v4(a)?;
            if let Some(r) = longest_v4(a4) {
                return Some(r);
            }
            a4
        }
    };
    e.entries
        .iter()
        .position(|ent| match ent.pat {
            Pattern::Ip(IpNet::V4 { addr, mask }) => {
                let m = u32::from(mask);
                m.wrapping_add(m & m.wrapping_neg()) != 0
                    && (u32::from(v4) ^ u32::from(addr)) & m == 0
            }
            _ => false,
        })
        .map(|i| (i, false))
}

/// The entries of a pattern file: `(line, key, value)`. With `smp` (a
/// map, `pat_ref_read_from_file_smp`) the key ends at the first space or
/// tab and the value is the rest without surrounding blanks; without, the
/// whole line after leading blanks is the pattern. Lines starting with
/// `#` and blank lines are skipped; CR or LF ends a line.
pub fn parse_file(bytes: &[u8], smp: bool) -> Vec<(u32, &str, Option<&str>)> {
    let mut out = Vec::new();
    for (n, raw) in bytes.split(|&c| c == b'\n').enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let raw = &raw[..raw.len().min(MAX_LINE)];
        // A CR (or a NUL, where C strings end) ends the line too.
        let end = raw
            .iter()
            .position(|&c| c == b'\r' || c == 0)
            .unwrap_or(raw.len());
        let Ok(text) = core::str::from_utf8(&raw[..end]) else {
            // Keep the valid prefix rather than dropping the line.
            let good = core::str::from_utf8(&raw[..end])
                .err()
                .map_or(0, |e| e.valid_up_to());
            let text = core::str::from_utf8(&raw[..good]).unwrap_or("");
            push_line(&mut out, line, text, smp);
            continue;
        };
        push_line(&mut out, line, text, smp);
    }
    out
}

fn push_line<'a>(
    out: &mut Vec<(u32, &'a str, Option<&'a str>)>,
    line: u32,
    text: &'a str,
    smp: bool,
) {
    if text.starts_with('#') {
        return;
    }
    let t = text.trim_start_matches([' ', '\t']);
    if t.is_empty() {
        return;
    }
    if !smp {
        out.push((line, t, None));
        return;
    }
    let kend = t.find([' ', '\t']).unwrap_or(t.len());
    let (key, rest) = t.split_at(kend);
    let value = rest.trim_matches([' ', '\t']);
    out.push((line, key, Some(value)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(files: &'static [(&'static str, &'static str)]) -> FileSource {
        FileSource(Arc::new(move |n: &str| {
            files
                .iter()
                .find(|(f, _)| *f == n)
                .map(|(_, t)| t.as_bytes().to_vec())
                .ok_or_else(|| "No such file or directory".to_string())
        }))
    }

    fn map_kind(method: MatchMethod, out: MapOut) -> PatKind {
        PatKind {
            method,
            icase: false,
            regm: false,
            out: Some(out),
        }
    }

    fn lookup(st: &PatStore, e: PatExprId, s: Sample) -> Option<String> {
        let m = st.exec(e, &s)?;
        Some(m.elt.sample.clone().unwrap_or_default())
    }

    #[test]
    fn file_format_as_haproxy_reads_it() {
        let f = b"# c\n\n  k1  v 1  \r\nk2\n\tk3\tv3\n#k4 v4\nk5 \n";
        let got = parse_file(f, true);
        assert_eq!(
            got,
            vec![
                (3, "k1", Some("v 1")),
                (4, "k2", Some("")),
                (5, "k3", Some("v3")),
                (7, "k5", Some("")),
            ]
        );
        let got = parse_file(b"  a b  \n#x\n\n", false);
        assert_eq!(got, vec![(1, "a b  ", None)]);
    }

    #[test]
    fn beg_is_longest_prefix_str_is_first_match() {
        let s = src(&[("/m", "/a one\n/a/b two\n/a three\nx four\n")]);
        let mut st = PatStore::new();
        let beg = st
            .load_file(
                &s,
                "/m",
                map_kind(MatchMethod::Beg, MapOut::Str),
                true,
                ("c", 1),
            )
            .unwrap();
        let str_ = st
            .load_file(
                &s,
                "/m",
                map_kind(MatchMethod::Str, MapOut::Str),
                true,
                ("c", 2),
            )
            .unwrap();
        assert_eq!(
            lookup(&st, beg, Sample::str("/a/b/c")).as_deref(),
            Some("two")
        );
        assert_eq!(
            lookup(&st, beg, Sample::str("/a/x")).as_deref(),
            Some("one")
        );
        assert_eq!(lookup(&st, str_, Sample::str("/a")).as_deref(), Some("one"));
        assert_eq!(lookup(&st, str_, Sample::str("/z")), None);
        assert_eq!(st.entry_cnt(PatRefId(0)), 8);
        let r = st.lookup("/m").unwrap();
        assert!(st.delete(r, "/a"));
        // Two entries had the key "/a": one less each, whatever their
        // number of expressions, as HAProxy counts.
        assert_eq!(st.entry_cnt(r), 6);
        st.check_invariants();
    }

    #[test]
    fn ip_longest_prefix_then_list() {
        let s = src(&[(
            "/ip",
            "10.0.0.0/8 a\n10.1.0.0/16 b\n10.1.2.0/255.0.255.0 c\n::ffff:10.1.2.0/120 d\n2001:db8::/32 e\n",
        )]);
        let mut st = PatStore::new();
        let e = st
            .load_file(
                &s,
                "/ip",
                map_kind(MatchMethod::Ip, MapOut::Str),
                true,
                ("c", 1),
            )
            .unwrap();
        let ip = |t: &str| Sample::Ip(t.parse().unwrap());
        assert_eq!(lookup(&st, e, ip("10.1.2.3")).as_deref(), Some("b"));
        assert_eq!(lookup(&st, e, ip("10.2.2.3")).as_deref(), Some("a"));
        assert_eq!(lookup(&st, e, ip("11.1.2.3")), None);
        assert_eq!(lookup(&st, e, ip("2001:db8::1")).as_deref(), Some("e"));
        assert_eq!(lookup(&st, e, ip("::ffff:10.9.0.1")).as_deref(), Some("a"));
    }

    #[test]
    fn errors_name_the_line() {
        let s = src(&[("/i", "1 a\nx b\n")]);
        let mut st = PatStore::new();
        let e = st
            .load_file(
                &s,
                "/i",
                map_kind(MatchMethod::Int, MapOut::Str),
                true,
                ("c", 1),
            )
            .unwrap_err();
        assert_eq!(e, "'x' is not a number at line 2 of file '/i'");
        let e = st
            .load_file(
                &s,
                "/nope",
                map_kind(MatchMethod::Str, MapOut::Str),
                true,
                ("c", 1),
            )
            .unwrap_err();
        assert_eq!(e, "failed to open pattern file </nope>");
    }

    #[test]
    fn cli_edits_reach_every_expression() {
        let s = src(&[("/m", "a 1\n")]);
        let mut st = PatStore::new();
        let e = st
            .load_file(
                &s,
                "/m",
                map_kind(MatchMethod::Str, MapOut::Int),
                true,
                ("c", 1),
            )
            .unwrap();
        let r = st.lookup("/m").unwrap();
        assert!(st.add(r, "b", Some("x")).is_err());
        st.add(r, "b", Some("2")).unwrap();
        assert!(st.set(r, "b", "3").unwrap());
        assert!(st.set(r, "b", "nan").unwrap(), "ignored, as HAProxy 2.6");
        assert!(st.set_by_id(r, 1, "nan").is_err());
        assert!(matches!(
            st.exec(e, &Sample::str("b")).unwrap().data,
            Some(Sample::Int(3))
        ));
        assert!(st.delete(r, "a"));
        assert!(!st.delete(r, "a"));
        assert!(st.exec(e, &Sample::str("a")).is_none());
        st.clear(r);
        assert!(st.exec(e, &Sample::str("b")).is_none());
        st.check_invariants();
    }
}
