//! The certificate store and crt-list commands of the stats socket:
//! `new ssl cert` / `del ssl cert` (HAProxy's `ssl_ckch.c`) and `show`,
//! `add`, `del ssl crt-list` (HAProxy's `ssl_crtlist.c`). A line added or
//! deleted changes the certificates the `bind` lines using the list serve
//! by SNI, for the handshakes to come.

use crate::cfgparse::tls::CrtListEntry;
use crate::engine::Engine;

/// A crt-list file as loaded, then changed on the CLI (HAProxy's `struct
/// crtlist`).
#[derive(Debug, Clone)]
pub(crate) struct CrtList {
    /// Its lines in order (HAProxy's `ord_entries`).
    pub entries: Vec<CrtLine>,
    /// The number of the last line: a line added on the CLI takes the
    /// next one (HAProxy's `linecount`).
    pub linecount: u32,
    /// `crt-base`, for the certificates of the lines added on the CLI.
    pub crt_base: Option<String>,
}

/// A line of a crt-list (HAProxy's `struct crtlist_entry`).
#[derive(Debug, Clone)]
pub(crate) struct CrtLine {
    /// The certificate's path (`crt-base` applied), its store key.
    pub crt: String,
    pub entry: CrtListEntry,
}

impl CrtList {
    /// The list of a file, from its parsed lines and its text.
    pub(crate) fn new(
        crt_base: &Option<String>,
        entries: Vec<CrtListEntry>,
        text: &[u8],
    ) -> CrtList {
        let linecount = String::from_utf8_lossy(text).lines().count();
        CrtList {
            entries: entries
                .into_iter()
                .map(|e| CrtLine {
                    crt: crate::conn::tls::base_path(crt_base, &e.crt),
                    entry: e,
                })
                .collect(),
            linecount: u32::try_from(linecount).unwrap_or(u32::MAX),
            crt_base: crt_base.clone(),
        }
    }
}

/// A path with its trailing slashes left out, as HAProxy looks lists up.
fn strip_slashes(p: &str) -> &str {
    p.trim_end_matches('/')
}

impl Engine {
    /// `new ssl cert <certfile>` (HAProxy's `cli_parse_new_cert`): an
    /// empty entry of the store, to fill with `set ssl cert`.
    pub(crate) fn cli_new_ssl_cert(&mut self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "'new ssl cert' expects a filename\n".into();
        };
        if self.ckch.contains_key(name) {
            return format!("Certificate '{name}' already exists!\n");
        }
        self.ckch.insert(name.to_string(), None);
        format!("New empty certificate store '{name}'!\n")
    }

    /// `del ssl cert <certfile>` (HAProxy's `cli_parse_del_cert`): an
    /// entry of the store nothing uses.
    pub(crate) fn cli_del_ssl_cert(&mut self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "'del ssl cert' expects a certificate name\n".into();
        };
        let fail = |m: String| format!("Can't remove the certificate: {m}\n");
        if self.ssl_cert_tx.as_ref().is_some_and(|t| t.path == name) {
            return fail(format!("ongoing transaction for the certificate '{name}'"));
        }
        if !self.ckch.contains_key(name) {
            return fail(format!("certificate '{name}' doesn't exist!\n"));
        }
        if self.ssl_cert_files().contains_key(name) {
            return fail(format!("certificate '{name}' in use, can't be deleted!\n"));
        }
        self.ckch.remove(name);
        format!("Certificate '{name}' deleted!\n")
    }

    /// `show ssl crt-list [-n] [<file>]` (HAProxy's
    /// `cli_parse_dump_crtlist` and its I/O handlers): the lists, or the
    /// lines of one (`-n`: with their numbers).
    pub(crate) fn cli_show_ssl_crtlist(&self, rest: &[&str]) -> String {
        let (numbers, file) = match rest {
            ["-n", f, ..] => (true, Some(*f)),
            ["-n"] => {
                return "'show ssl crt-list -n' expects a filename or a directory\n".into();
            }
            [f, ..] => (false, Some(*f)),
            [] => (false, None),
        };
        let Some(file) = file.filter(|f| !f.is_empty()) else {
            let mut s = String::new();
            for name in self.crtlists.keys() {
                s.push_str(name);
                s.push('\n');
            }
            return s;
        };
        let file = strip_slashes(file);
        let Some(list) = self.crtlists.get(file) else {
            return "didn't find the specified filename\n".into();
        };
        let mut s = format!("# {file}\n");
        for l in &list.entries {
            s.push_str(&l.crt);
            if numbers {
                s.push_str(&format!(":{}", l.entry.line));
            }
            if let Some(o) = &l.entry.opts {
                s.push_str(&o.dump());
            }
            for f in &l.entry.filter_words {
                s.push(' ');
                s.push_str(f);
            }
            s.push('\n');
        }
        s
    }

    /// `add ssl crt-list <file> <certfile>`, or the line as payload
    /// (HAProxy's `cli_parse_add_crtlist` and its I/O handler): a new
    /// line, with a certificate of the store, served by every `bind` line
    /// using the list (one dot each).
    pub(crate) fn cli_add_ssl_crtlist(&mut self, rest: &[&str], payload: Option<&str>) -> String {
        let (Some(path), true) = (rest.first(), payload.is_some() || rest.get(1).is_some()) else {
            return "'add ssl crtlist' expects a filename and a certificate name\n".into();
        };
        let fail = |m: String| format!("Can't edit the crt-list: {m}\n");
        let path = strip_slashes(path).to_string();
        let Some(list) = self.crtlists.get(&path) else {
            return fail(format!("crt-list '{path}' does not exist!"));
        };
        let line = list.linecount.saturating_add(1);
        let entry =
            match payload {
                Some(p) => {
                    let p = p.trim_end_matches('\n');
                    if p.contains('\n') {
                        return fail("only one line of payload is supported!".into());
                    }
                    let mut d = crate::cfgparse::Diags::default();
                    match crate::cfgparse::tls::parse_crt_list("CLI", p.as_bytes(), &mut d) {
                        Ok(mut v) if !v.is_empty() => v.remove(0),
                        Ok(_) => return fail(
                            "'add ssl crtlist' should contain the certificate name in the payload"
                                .into(),
                        ),
                        Err(e) => return fail(e.message),
                    }
                }
                None => CrtListEntry {
                    line,
                    crt: rest.get(1).copied().unwrap_or_default().to_string(),
                    filters: Vec::new(),
                    negative: Vec::new(),
                    filter_words: Vec::new(),
                    opts: None,
                },
            };
        let entry = CrtListEntry { line, ..entry };
        let crt = if entry.crt.starts_with('@') {
            entry.crt.clone()
        } else {
            crate::conn::tls::base_path(&list.crt_base, &entry.crt)
        };
        let key = match self.ckch.get(&crt) {
            None => return fail(format!("certificate '{crt}' does not exist!")),
            Some(None) => return fail(format!("certificate '{crt}' is empty!")),
            Some(Some(k)) => k.clone(),
        };
        let binds: Vec<_> = self
            .bind_tls_ctxs()
            .into_iter()
            .filter(|c| c.crt_lists().contains(&path))
            .cloned()
            .collect();
        for (i, c) in binds.iter().enumerate() {
            if let Err(e) = c.add_list_entry(&path, line, &crt, &key, &entry) {
                for c in &binds[..i] {
                    c.del_list_entry(&path, line);
                }
                return fail(e);
            }
        }
        if let Some(list) = self.crtlists.get_mut(&path) {
            list.linecount = line;
            list.entries.push(CrtLine {
                crt: crt.clone(),
                entry,
            });
        }
        format!(
            "Inserting certificate '{crt}' in crt-list '{path}'{}\nSuccess!\n",
            ".".repeat(binds.len())
        )
    }

    /// `del ssl crt-list <file> <certfile>[:<line>]` (HAProxy's
    /// `cli_parse_del_crtlist`): a line no `bind` line serves any more,
    /// unless it is the default certificate of one without `strict-sni`.
    pub(crate) fn cli_del_ssl_crtlist(&mut self, rest: &[&str]) -> String {
        let (Some(path), Some(arg)) = (rest.first(), rest.get(1)) else {
            return "'del ssl crtlist' expects a filename and a certificate name\n".into();
        };
        let fail = |m: String| format!("Can't delete the entry: {m}\n");
        let (crt, linenum) = match arg.split_once(':') {
            Some((c, n)) => match n.parse::<i64>() {
                Ok(n) => (c, n),
                Err(_) => return fail(format!("wrong line number after colons in '{arg}'!")),
            },
            None => (*arg, 0),
        };
        let path = strip_slashes(path).to_string();
        let Some(list) = self.crtlists.get(&path) else {
            return fail(format!("crt-list '{path}' does not exist!"));
        };
        match self.ckch.get(crt) {
            None => return fail(format!("certificate '{crt}' does not exist!")),
            Some(None) => return fail(format!("certificate '{crt}' is empty!")),
            Some(Some(_)) => {}
        }
        let lines: Vec<u32> = list
            .entries
            .iter()
            .filter(|l| l.crt == crt)
            .map(|l| l.entry.line)
            .collect();
        if lines.is_empty() {
            return fail(format!(
                "certificate '{crt}' can't be found in crt-list '{path}'!"
            ));
        }
        let numbers = lines
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let Some(line) = lines
            .iter()
            .copied()
            .find(|&l| linenum == 0 || i64::from(l) == linenum)
        else {
            return fail(format!("found a certificate '{crt}' but the line number is incorrect, please specify a correct line number preceded by colons ({numbers})!"));
        };
        if linenum == 0 && lines.len() > 1 {
            return fail(format!("found the certificate '{crt}' in several entries, please specify a line number preceded by colons ({numbers})!"));
        }
        let binds: Vec<_> = self
            .bind_tls_ctxs()
            .into_iter()
            .filter(|c| c.crt_lists().contains(&path))
            .cloned()
            .collect();
        let defaults: Vec<String> = binds
            .iter()
            .filter(|c| !c.strict_sni() && c.is_default(&path, line))
            .map(|c| format!("\t- {}:{}\n", c.place.0, c.place.1))
            .collect();
        if !defaults.is_empty() {
            return fail(format!(
                "certificate '{crt}' cannot be deleted, it is used as default certificate by the following frontends:\n{}",
                defaults.concat()
            ));
        }
        for c in &binds {
            c.del_list_entry(&path, line);
        }
        if let Some(list) = self.crtlists.get_mut(&path) {
            list.entries.retain(|l| l.entry.line != line);
        }
        format!("Entry '{crt}' deleted in crtlist '{path}'!\n")
    }
}
