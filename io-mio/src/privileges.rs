//! Privileges: the `user`/`uid`, `group`/`gid` and `chroot` global
//! keywords and the owner of UNIX stats sockets, done as HAProxy 2.6 does
//! them in the foreground.
//!
//! * User and group names are looked up in the system databases
//!   (`getpwnam_r`, `getgrnam_r`) when the configuration is loaded, so that
//!   `-c` reports an unknown name with its `file:line`, as HAProxy's parser
//!   does. The core's parser reads no system database: it keeps names, and
//!   [`resolve_names`] turns them into numbers before the engine is built.
//! * Once every listener is bound (and every file read: configuration,
//!   log files, pid file), [`drop_privileges`] runs HAProxy's sequence from
//!   `main()`: `chroot(dir)` and `chdir("/")`; the old processes of `-sf`
//!   are told to finish; then `set_identity()`: with a group, the
//!   supplementary groups are dropped (`setgroups(0)`) and `setgid`; with
//!   a user, `setuid`. Any failure stops the start with HAProxy's message
//!   and the reason.
//!
//! As in HAProxy 2.6, `user` sets the user only: the group stays what it
//! was (root's, when started as root) unless `group` or `gid` is given
//! (a warning says so), and id 0 means "unchanged".

use std::ffi::{CStr, CString};
use std::io;

use sluice_core::cfgparse::{Config, IdSetting, IdSpec, Place};

/// What the process becomes once its listeners are bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub chroot: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Identity {
    /// The identity a resolved configuration asks for.
    pub fn of(cfg: &Config) -> Identity {
        let num = |s: &Option<IdSetting>| match s.as_ref().map(|s| &s.spec) {
            Some(IdSpec::Num(n)) => Some(*n),
            _ => None,
        };
        Identity {
            chroot: cfg.global.chroot.as_ref().map(|(_, d)| d.clone()),
            uid: num(&cfg.global.uid),
            gid: num(&cfg.global.gid),
        }
    }
}

/// Calls a `get*nam_r` function with a growing buffer. `Ok(None)`: no
/// such entry.
fn lookup<T>(
    name: &str,
    call: impl Fn(*const libc::c_char, *mut T, *mut libc::c_char, usize, *mut *mut T) -> i32,
    id: impl Fn(&T) -> u32,
) -> io::Result<Option<u32>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: `T` is a plain C struct (passwd or group); all zero is a
        // valid value for it, and the call below fills it.
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut result: *mut T = std::ptr::null_mut();
        let r = call(
            cname.as_ptr(),
            &mut entry,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        match r {
            0 if result.is_null() => return Ok(None),
            0 => return Ok(Some(id(&entry))),
            libc::ERANGE if size < 1 << 20 => size *= 4,
            // Not found is reported as one of these by some NSS modules.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// The uid of user `name`, `None` when there is no such user.
pub fn user_id(name: &str) -> io::Result<Option<u32>> {
    lookup::<libc::passwd>(
        name,
        // SAFETY: every pointer is valid for the call, the buffer's length
        // is passed with it.
        |n, e, b, l, r| unsafe { libc::getpwnam_r(n, e, b, l, r) },
        |p| p.pw_uid,
    )
}

/// The gid of group `name`, `None` when there is no such group.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    lookup::<libc::group>(
        name,
        // SAFETY: as in `user_id`.
        |n, e, b, l, r| unsafe { libc::getgrnam_r(n, e, b, l, r) },
        |g| g.gr_gid,
    )
}

fn at(place: &Place) -> String {
    format!("parsing [{}:{}] : ", place.file, place.line)
}

/// One name to a number, or the message for `None`.
fn resolve(
    spec: &mut IdSpec,
    user: bool,
    msg: impl Fn(&str, &str) -> String,
) -> Result<(), String> {
    let IdSpec::Name(name) = spec else {
        return Ok(());
    };
    let found = if user { user_id(name) } else { group_id(name) };
    match found {
        Ok(Some(n)) => {
            *spec = IdSpec::Num(n);
            Ok(())
        }
        Ok(None) => Err(msg(name, "")),
        Err(e) => Err(msg(name, &format!(" ({})", reason(&e)))),
    }
}

/// `cfg` with every user and group name replaced by its number; the errors
/// name `file:line` with HAProxy's messages.
pub fn resolve_names(cfg: &Config) -> Result<Config, Vec<String>> {
    let mut cfg = cfg.clone();
    let mut errs = Vec::new();
    let g = &mut cfg.global;
    for (slot, user) in [(&mut g.uid, true), (&mut g.gid, false)] {
        if let Some(s) = slot {
            let what = if user { "user" } else { "group" };
            let place = at(&s.place);
            let r = resolve(&mut s.spec, user, |n, why| {
                format!("{place}cannot find {what} id for '{n}'{why}")
            });
            errs.extend(r.err());
        }
    }
    for s in &mut g.stats_sockets {
        let place = at(&s.place);
        for (slot, user) in [(&mut s.uid, true), (&mut s.gid, false)] {
            if let Some(spec) = slot {
                let what = if user { "user" } else { "group" };
                let r = resolve(spec, user, |n, why| {
                    format!("{place}'stats socket' : '{what}' : unknown {what} name '{n}'{why}")
                });
                errs.extend(r.err());
            }
        }
    }
    for px in &mut cfg.proxies {
        let section = px.kind.keyword();
        for b in &mut px.binds {
            let place = at(&b.place);
            let text = b
                .addrs
                .iter()
                .map(|a| a.addr.to_string())
                .collect::<Vec<_>>()
                .join(",");
            for (slot, user) in [(&mut b.uid, true), (&mut b.gid, false)] {
                if let Some(spec) = slot {
                    let what = if user { "user" } else { "group" };
                    let r = resolve(spec, user, |n, why| {
                        format!("{place}'bind {text}' in section '{section}' : '{what}' : unknown {what} name '{n}'{why}")
                    });
                    errs.extend(r.err());
                }
            }
        }
    }
    let g = &mut cfg.global;
    let u = &mut g.unix_bind;
    let place = u.place.as_ref().map(at).unwrap_or_default();
    for (slot, user) in [(&mut u.uid, true), (&mut u.gid, false)] {
        if let Some(spec) = slot {
            let what = if user { "user" } else { "group" };
            let r = resolve(spec, user, |n, why| {
                format!("{place}'unix-bind' : '{n}' unknown {what}{why}.")
            });
            errs.extend(r.err());
        }
    }
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(errs)
    }
}

/// What `-c` adds: the `chroot` directory must exist (HAProxy only finds
/// out when it starts).
pub fn check_chroot(cfg: &Config) -> Result<(), String> {
    let Some((place, dir)) = &cfg.global.chroot else {
        return Ok(());
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{}'chroot' : '{dir}' is not a directory.",
            at(place)
        )),
        Err(e) => Err(format!(
            "{}'chroot' : cannot use '{dir}' ({}).",
            at(place),
            reason(&e)
        )),
    }
}

/// The last OS error as `strerror()` words, without "(os error N)".
fn os_err() -> String {
    reason(&io::Error::last_os_error())
}

/// An I/O error as `strerror()` words, without Rust's "(os error N)".
pub fn reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `chroot(dir)` then `chdir("/")`.
pub fn enter_chroot(dir: &str) -> Result<(), String> {
    let fail = |e: String| format!("[proxy-mio.main()] Cannot chroot({dir}): {e}.");
    let c =
        CString::new(dir).map_err(|_| fail(reason(&io::Error::from_raw_os_error(libc::EINVAL))))?;
    let root: &CStr = c"/";
    // SAFETY: both paths are NUL-terminated strings we own.
    unsafe {
        if libc::chroot(c.as_ptr()) != 0 || libc::chdir(root.as_ptr()) != 0 {
            return Err(fail(os_err()));
        }
    }
    Ok(())
}

/// HAProxy's `set_identity()`: with a group, drop the supplementary groups
/// (a failure only warns) and `setgid`; with a user, `setuid`. Id 0 is
/// "not set", as in HAProxy 2.6. `warn` gets the warnings.
pub fn set_identity(
    uid: Option<u32>,
    gid: Option<u32>,
    warn: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let uid = uid.filter(|&u| u != 0);
    let gid = gid.filter(|&g| g != 0);
    if let Some(gid) = gid {
        // SAFETY: getgroups(0, NULL) only counts; setgroups(0, NULL) clears.
        unsafe {
            if libc::getgroups(0, std::ptr::null_mut()) > 0
                && libc::setgroups(0, std::ptr::null()) != 0
            {
                warn(&format!(
                    "[proxy-mio.main()] Failed to drop supplementary groups ({}). Using 'gid'/'group' without 'uid'/'user' is generally useless.",
                    os_err()
                ));
            }
            if libc::setgid(gid) != 0 {
                return Err(format!(
                    "[proxy-mio.main()] Cannot set gid {gid}: {}.",
                    os_err()
                ));
            }
        }
    }
    if let Some(uid) = uid {
        // SAFETY: plain integer argument. glibc's wrapper applies it to
        // every thread of the process.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(format!(
                "[proxy-mio.main()] Cannot set uid {uid}: {}.",
                os_err()
            ));
        }
        // SAFETY: no arguments.
        if gid.is_none() && unsafe { libc::getegid() } == 0 {
            warn(&format!(
                "'user'/'uid' without 'group'/'gid': the process runs as uid {uid} with group 0 (root), as HAProxy does; add 'group' to drop the group too."
            ));
        }
    }
    Ok(())
}

/// Everything done once the listeners are bound: `chroot`, then
/// `tell_old` (the `-sf` processes), then the identity.
pub fn drop_privileges(
    id: &Identity,
    tell_old: impl FnOnce(),
    warn: &mut dyn FnMut(&str),
) -> Result<(), String> {
    if let Some(dir) = &id.chroot {
        enter_chroot(dir)?;
    }
    tell_old();
    set_identity(id.uid, id.gid, warn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names_resolve() {
        assert_eq!(user_id("root").unwrap(), Some(0));
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(user_id("no-such-user-sluice").unwrap(), None);
        assert_eq!(group_id("no-such-group-sluice").unwrap(), None);
        assert_eq!(user_id("nul\0inside").unwrap(), None);
    }
}
