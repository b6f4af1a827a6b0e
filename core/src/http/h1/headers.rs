//! [`Headers`]: the header fields of one message (or its trailers), in
//! order, with their original case. HAProxy keeps them as HTX header blocks
//! (`htx_add_header`, `http_find_header`); here they are index ranges into
//! one byte arena, so a parsed head costs two allocations whatever its
//! number of fields.
//!
//! Invariants: every field's name is a non-empty token and its value has no
//! CR, LF, NUL or other control byte but HTAB (checked by [`Headers::add`];
//! the parser only stores what `httparse` validated), so serialising a
//! `Headers` can never inject a line. Lookups are case-insensitive
//! (RFC 9110 §5.1) and linear: a head has at most `tune.http.maxhdr` fields.

use super::is_tchar;

/// One field: `(offset, length)` of its name and value in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    name_off: u32,
    name_len: u32,
    value_off: u32,
    value_len: u32,
}

/// Why [`Headers::add`] refused a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderError {
    /// The name is empty or has a byte that is not a `tchar`.
    Name,
    /// The value has CR, LF, NUL or another control byte but HTAB.
    Value,
    /// The arena would pass 4 GiB.
    TooLarge,
}

/// Arena waste (bytes of removed fields) tolerated before compaction.
const COMPACT_MIN_GARBAGE: usize = 1024;

/// An ordered list of header fields in one arena (see the module docs).
#[derive(Clone, Default)]
pub struct Headers {
    buf: Vec<u8>,
    fields: Vec<Field>,
    /// Bytes of `buf` no field points to any more.
    garbage: usize,
    /// Some field was added, removed or changed since parsing: the raw
    /// head no longer says the same thing.
    modified: bool,
}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `fields` fields and `bytes` bytes of names and values.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            fields: Vec::with_capacity(fields),
            garbage: 0,
            modified: false,
        }
    }

    /// Whether a field was added, removed or changed since the fields were
    /// parsed (a head that was not can go out as it came in).
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in order, as `(name, value)`.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            headers: self,
            inner: self.fields.iter(),
        }
    }

    /// The `i`-th field.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.fields
            .get(i)
            .map(|f| (self.name_of(f), self.value_of(f)))
    }

    /// The value of the first field called `name` (any case).
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.fields
            .iter()
            .find(|f| self.name_is(f, name))
            .map(|f| self.value_of(f))
    }

    /// The values of every field called `name` (any case), in order.
    pub fn get_all<'a, N: AsRef<[u8]> + ?Sized>(
        &'a self,
        name: &'a N,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let name = name.as_ref();
        self.fields
            .iter()
            .filter(move |f| self.name_is(f, name))
            .map(|f| self.value_of(f))
    }

    /// Calls `each` with the value of every field called `name`, without
    /// allocating (the hot-path twin of [`Headers::get_all`]).
    pub fn for_each_value(&self, name: &[u8], mut each: impl FnMut(&[u8])) {
        for f in &self.fields {
            if self.name_is(f, name) {
                each(self.value_of(f));
            }
        }
    }

    /// Number of fields called `name`.
    pub fn count(&self, name: impl AsRef<[u8]>) -> usize {
        let name = name.as_ref();
        self.fields.iter().filter(|f| self.name_is(f, name)).count()
    }

    pub fn contains(&self, name: impl AsRef<[u8]>) -> bool {
        let name = name.as_ref();
        self.fields.iter().any(|f| self.name_is(f, name))
    }

    /// True if some field called `name` lists `token` (any case) in its
    /// comma-separated value, as `Connection: keep-alive, Upgrade` lists
    /// `upgrade`.
    pub fn has_token(&self, name: impl AsRef<[u8]>, token: &[u8]) -> bool {
        let name = name.as_ref();
        self.fields.iter().any(|f| {
            self.name_is(f, name)
                && super::list_elements(self.value_of(f)).any(|e| e.eq_ignore_ascii_case(token))
        })
    }

    /// Appends a field (HAProxy's `http-request add-header`). The name must
    /// be a token and the value free of control bytes but HTAB; leading or
    /// trailing whitespace is kept here but a peer will trim it.
    pub fn add(
        &mut self,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), HeaderError> {
        let (name, value) = (name.as_ref(), value.as_ref());
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HeaderError::Name);
        }
        if !value.iter().all(|&b| is_value_byte(b)) {
            return Err(HeaderError::Value);
        }
        self.push(name, value)
    }

    /// Replaces every field called `name` by one `name: value` at the end
    /// (HAProxy's `set-header`: delete all, then add). On error nothing changes.
    pub fn set(
        &mut self,
        name: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), HeaderError> {
        let (name, value) = (name.as_ref(), value.as_ref());
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HeaderError::Name);
        }
        if !value.iter().all(|&b| is_value_byte(b)) {
            return Err(HeaderError::Value);
        }
        self.remove(name);
        self.push(name, value)
    }

    /// Removes every field called `name`; returns how many there were.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> usize {
        let name = name.as_ref();
        self.retain(|n, _| !(n.len() == name.len() && n.eq_ignore_ascii_case(name)))
    }

    /// Keeps the fields for which `keep(name, value)` is true; returns how
    /// many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) -> usize {
        let before = self.fields.len();
        let mut freed = 0;
        let buf = &self.buf;
        self.fields.retain(|f| {
            let name = &buf[f.name_off as usize..][..f.name_len as usize];
            let value = &buf[f.value_off as usize..][..f.value_len as usize];
            let k = keep(name, value);
            if !k {
                freed += name.len() + value.len();
            }
            k
        });
        self.garbage += freed;
        let removed = before - self.fields.len();
        self.modified |= removed > 0;
        self.maybe_compact();
        removed
    }

    /// Gives the fields called `name` the value `f` makes of theirs, where
    /// it makes one; the order of the fields is kept (HAProxy's
    /// `http_replace_header_value`). On error nothing changes.
    pub fn map_values(
        &mut self,
        name: &[u8],
        mut f: impl FnMut(&[u8]) -> Option<Vec<u8>>,
    ) -> Result<(), HeaderError> {
        let mut changed = false;
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(self.fields.len());
        for (n, v) in self.iter() {
            let nv = if n.eq_ignore_ascii_case(name) {
                f(v)
            } else {
                None
            };
            if let Some(nv) = &nv {
                if !nv.iter().all(|&b| is_value_byte(b)) {
                    return Err(HeaderError::Value);
                }
                changed = true;
            }
            out.push((n.to_vec(), nv.unwrap_or_else(|| v.to_vec())));
        }
        if !changed {
            return Ok(());
        }
        self.clear();
        for (n, v) in out {
            self.push(&n, &v)?;
        }
        Ok(())
    }

    /// Removes every field.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.fields.clear();
        self.garbage = 0;
        self.modified = true;
    }

    /// Appends `name: value\r\n` for every field, in order, original case.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.buf.len() + 4 * self.fields.len());
        for f in &self.fields {
            out.extend_from_slice(self.name_of(f));
            out.extend_from_slice(b": ");
            out.extend_from_slice(self.value_of(f));
            out.extend_from_slice(b"\r\n");
        }
    }

    // ------------------------------------------------------------ internal

    /// Builds from a raw block already validated by `httparse`: the arena
    /// is a copy of `block`, and each field is given by its offsets in it.
    pub(crate) fn from_block(block: &[u8], fields: usize) -> Self {
        let mut buf = Vec::with_capacity(block.len() + 32);
        buf.extend_from_slice(block);
        Self {
            buf,
            fields: Vec::with_capacity(fields),
            garbage: 0,
            modified: false,
        }
    }

    /// Adds a field whose name and value already sit in the arena.
    pub(crate) fn push_range(&mut self, name: (usize, usize), value: (usize, usize)) {
        crate::bug_on!(name.0 + name.1 > self.buf.len() || value.0 + value.1 > self.buf.len());
        // The arena came from a head bounded by `max_head_len`, far below 4 GiB.
        let c = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        self.fields.push(Field {
            name_off: c(name.0),
            name_len: c(name.1),
            value_off: c(value.0),
            value_len: c(value.1),
        });
    }

    /// In an unmodified arena (a copy of the parsed lines), whether every
    /// field line but the last ends in CRLF: the two bytes before each next
    /// name. With a modified arena the answer means nothing.
    pub(crate) fn crlf_line_ends(&self) -> bool {
        self.fields.iter().skip(1).all(|f| {
            let o = f.name_off as usize;
            o >= 2 && self.buf.get(o - 2..o) == Some(&b"\r\n"[..])
        })
    }

    /// Mutable bytes of the `i`-th value (obs-fold unfolding).
    pub(crate) fn value_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let f = *self.fields.get(i)?;
        self.modified = true;
        self.buf
            .get_mut(f.value_off as usize..(f.value_off + f.value_len) as usize)
    }

    /// Replaces the value of the `i`-th field, keeping its place.
    pub(crate) fn replace_value(&mut self, i: usize, value: &[u8]) -> Result<(), HeaderError> {
        let Some(f) = self.fields.get(i).copied() else {
            return Ok(());
        };
        let off = self.append(value)?;
        self.modified = true;
        self.garbage += f.value_len as usize;
        self.fields[i].value_off = off;
        self.fields[i].value_len = value.len() as u32;
        Ok(())
    }

    /// Removes the fields whose index is set in `drop`.
    pub(crate) fn remove_indices(&mut self, drop: &[bool]) {
        let mut i = 0;
        self.retain(|_, _| {
            let keep = !drop.get(i).copied().unwrap_or(false);
            i += 1;
            keep
        });
    }

    pub(crate) fn name_at(&self, i: usize) -> &[u8] {
        self.fields.get(i).map_or(&[][..], |f| self.name_of(f))
    }

    pub(crate) fn value_at(&self, i: usize) -> &[u8] {
        self.fields.get(i).map_or(&[][..], |f| self.value_of(f))
    }

    fn push(&mut self, name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
        let name_off = self.append(name)?;
        let value_off = self.append(value)?;
        self.fields.push(Field {
            name_off,
            name_len: name.len() as u32,
            value_off,
            value_len: value.len() as u32,
        });
        self.modified = true;
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<u32, HeaderError> {
        let off = u32::try_from(self.buf.len()).map_err(|_| HeaderError::TooLarge)?;
        if u32::try_from(self.buf.len() + bytes.len()).is_err() {
            return Err(HeaderError::TooLarge);
        }
        self.buf.extend_from_slice(bytes);
        Ok(off)
    }

    fn name_of(&self, f: &Field) -> &[u8] {
        &self.buf[f.name_off as usize..][..f.name_len as usize]
    }

    fn value_of(&self, f: &Field) -> &[u8] {
        &self.buf[f.value_off as usize..][..f.value_len as usize]
    }

    fn name_is(&self, f: &Field, name: &[u8]) -> bool {
        f.name_len as usize == name.len() && self.name_of(f).eq_ignore_ascii_case(name)
    }

    /// Rewrites the arena once removed fields waste more than half of it.
    fn maybe_compact(&mut self) {
        if self.garbage < COMPACT_MIN_GARBAGE || self.garbage * 2 < self.buf.len() {
            return;
        }
        let old = core::mem::take(self);
        let live = old.buf.len() - old.garbage;
        *self = Headers::with_capacity(old.fields.len(), live);
        for (n, v) in old.iter() {
            // Fits: the old arena held it.
            let _ = self.push(n, v);
        }
        self.modified = old.modified;
    }

    /// Checks the arena invariants (tests and fuzzing).
    pub fn check_invariants(&self) {
        let mut used = 0;
        for (n, v) in self.iter() {
            assert!(
                !n.is_empty() && n.iter().all(|&b| is_tchar(b)),
                "bad name {n:?}"
            );
            assert!(v.iter().all(|&b| is_value_byte(b)), "bad value {v:?}");
            used += n.len() + v.len();
        }
        assert!(used + self.garbage <= self.buf.len());
    }
}

/// A byte allowed in a stored value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5).
pub(crate) fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Fields in order; the arena layout is not part of equality.
impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl core::fmt::Debug for Headers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            }))
            .finish()
    }
}

/// Iterator over `(name, value)` of a [`Headers`], in order.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    headers: &'a Headers,
    inner: core::slice::Iter<'a, Field>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let f = self.inner.next()?;
        Some((self.headers.name_of(f), self.headers.value_of(f)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let f = self.inner.next_back()?;
        Some((self.headers.name_of(f), self.headers.value_of(f)))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in pairs {
            h.add(n, v).unwrap();
        }
        h
    }

    #[test]
    fn order_case_and_lookup() {
        let h = h(&[("Host", "a"), ("X-A", "1"), ("x-a", "2"), ("Accept", "*/*")]);
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("host"), Some(&b"a"[..]));
        assert_eq!(h.get("X-a"), Some(&b"1"[..]));
        assert_eq!(h.get_all("x-A").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
        assert_eq!(h.count("X-A"), 2);
        assert_eq!(h.get("missing"), None);
        let names: Vec<_> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, [&b"Host"[..], b"X-A", b"x-a", b"Accept"]);
        h.check_invariants();
    }

    #[test]
    fn set_replaces_all_and_appends() {
        let mut h = h(&[("A", "1"), ("B", "2"), ("a", "3")]);
        h.set("a", "9").unwrap();
        let all: Vec<_> = h.iter().collect();
        assert_eq!(all, [(&b"B"[..], &b"2"[..]), (b"a", b"9")]);
        assert_eq!(h.remove("A"), 1);
        assert_eq!(h.remove("A"), 0);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn add_refuses_injection() {
        let mut h = Headers::new();
        assert_eq!(h.add("X", "a\r\nEvil: 1"), Err(HeaderError::Value));
        assert_eq!(h.add("X", "a\0"), Err(HeaderError::Value));
        assert_eq!(h.add("X", "a\nb"), Err(HeaderError::Value));
        assert_eq!(h.add("X Y", "a"), Err(HeaderError::Name));
        assert_eq!(h.add("X:", "a"), Err(HeaderError::Name));
        assert_eq!(h.add("", "a"), Err(HeaderError::Name));
        assert_eq!(h.set("X\r\n", "a"), Err(HeaderError::Name));
        assert!(h.is_empty());
        h.add("X", "tab\there é").unwrap();
        h.check_invariants();
    }

    #[test]
    fn tokens() {
        let h = h(&[
            ("Connection", "keep-alive, Upgrade"),
            ("connection", " ,close ,"),
        ]);
        assert!(h.has_token("connection", b"upgrade"));
        assert!(h.has_token("CONNECTION", b"CLOSE"));
        assert!(!h.has_token("connection", b"keep"));
        assert!(!h.has_token("upgrade", b"websocket"));
    }

    #[test]
    fn compaction_keeps_content() {
        let mut h = Headers::new();
        let big = "v".repeat(600);
        for i in 0..20 {
            h.add(format!("X-{i}"), &big).unwrap();
            h.set("Churn", &big).unwrap();
        }
        h.check_invariants();
        assert!(
            h.buf.len() < 20 * 700 * 2,
            "arena compacted: {}",
            h.buf.len()
        );
        assert_eq!(h.len(), 21);
        assert_eq!(h.get("churn").unwrap().len(), 600);
        assert_eq!(h.get("x-19").unwrap().len(), 600);
    }

    #[test]
    fn encode_lines() {
        let h = h(&[("Host", "a"), ("X", "")]);
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, b"Host: a\r\nX: \r\n");
    }
}
