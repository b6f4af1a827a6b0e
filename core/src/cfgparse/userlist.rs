//! `userlist NAME` sections (HAProxy's `cfg_parse_users` and the checks of
//! `auth_resolve_groups`): `user NAME [password HASH | insecure-password
//! PW] [groups G1,G2...]` and `group NAME [users U1,U2...]`.

use super::model::{Config, Place};
use super::{Diagnostic, Ln};
use crate::auth::{self, Password};

/// A `user` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDecl {
    pub place: Place,
    pub name: String,
    pub pass: Password,
    pub groups: Vec<String>,
}

/// A `group` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDecl {
    pub place: Place,
    pub name: String,
    pub users: Vec<String>,
}

/// A `userlist NAME` section as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserlistDecl {
    pub place: Place,
    pub name: String,
    pub users: Vec<UserDecl>,
    pub groups: Vec<GroupDecl>,
}

fn list(w: &str) -> Vec<String> {
    w.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A line of a `userlist` section.
pub(super) fn section_kw(ul: &mut UserlistDecl, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    match ln.kw() {
        "group" => {
            let name = ln.arg(1);
            if name.is_empty() {
                return Err(ln.diag("'group' expects <name> as argument."));
            }
            if ul.groups.iter().any(|g| g.name == name) {
                return Err(ln.diag(format!(
                    "userlist '{}': group '{name}' already exists.",
                    ul.name
                )));
            }
            let mut users = Vec::new();
            let mut i = 2;
            while !ln.arg(i).is_empty() {
                match ln.arg(i) {
                    "users" if !ln.arg(i + 1).is_empty() => users.extend(list(ln.arg(i + 1))),
                    w => {
                        return Err(ln.diag(format!(
                            "'group' only supports 'users' option, found '{w}'."
                        )))
                    }
                }
                i += 2;
            }
            ul.groups.push(GroupDecl {
                place: ln.place(),
                name: name.to_string(),
                users,
            });
            Ok(())
        }
        "user" => {
            let name = ln.arg(1);
            if name.is_empty() {
                return Err(ln.diag("'user' expects <name> as argument."));
            }
            if ul.users.iter().any(|u| u.name == name) {
                return Err(ln.diag(format!(
                    "userlist '{}': user '{name}' already exists.",
                    ul.name
                )));
            }
            let mut pass = Password::None;
            let mut groups = Vec::new();
            let mut i = 2;
            while !ln.arg(i).is_empty() {
                let (kw, v) = (ln.arg(i), ln.arg(i + 1));
                if v.is_empty() {
                    return Err(ln.diag(format!("'user': '{kw}' expects an argument.")));
                }
                match kw {
                    "password" => {
                        // HAProxy hands any string to crypt(3); a scheme
                        // Sluice cannot verify would lock the user out
                        // silently, so it is refused here.
                        if !auth::crypt_supported(v) {
                            return Err(ln.diag(format!(
                                "'user {name}': password hash scheme not supported by Sluice \
                                 (supported: $1$ MD5-crypt, $5$ SHA-256-crypt, $6$ SHA-512-crypt)."
                            )));
                        }
                        pass = Password::Crypt(v.to_string());
                    }
                    "insecure-password" => pass = Password::Insecure(v.to_string()),
                    "groups" => groups.extend(list(v)),
                    w => {
                        return Err(ln.diag(format!(
                            "'user' only supports 'password', 'insecure-password' and 'groups' options, found '{w}'."
                        )))
                    }
                }
                i += 2;
            }
            ul.users.push(UserDecl {
                place: ln.place(),
                name: name.to_string(),
                pass,
                groups,
            });
            Ok(())
        }
        kw => Err(ln.diag(format!("unknown keyword '{kw}' in 'userlist' section"))),
    }
}

impl Config {
    /// The userlist named `name`, resolved (every user with all its
    /// groups), or `None`.
    pub fn userlist(&self, name: &str) -> Option<auth::Userlist> {
        let d = self.userlists.iter().find(|u| u.name == name)?;
        Some(resolve(d))
    }

    /// The group names of the userlist named `name`, or `None`.
    pub fn userlist_groups(&self, name: &str) -> Option<Vec<String>> {
        let d = self.userlists.iter().find(|u| u.name == name)?;
        Some(d.groups.iter().map(|g| g.name.clone()).collect())
    }
}

/// A userlist's users with the groups from both directions.
pub fn resolve(d: &UserlistDecl) -> auth::Userlist {
    let users = d
        .users
        .iter()
        .map(|u| {
            let mut groups: std::collections::BTreeSet<String> = u.groups.iter().cloned().collect();
            for g in &d.groups {
                if g.users.contains(&u.name) {
                    groups.insert(g.name.clone());
                }
            }
            auth::User {
                name: u.name.clone(),
                pass: u.pass.clone(),
                groups,
            }
        })
        .collect();
    auth::Userlist {
        name: d.name.clone(),
        users,
        groups: d.groups.iter().map(|g| g.name.clone()).collect(),
    }
}

/// HAProxy's `auth_resolve_groups` errors: a group naming an unknown user,
/// a user naming an unknown group.
pub(super) fn check(cfg: &Config, out: &mut Vec<Diagnostic>) {
    for (i, ul) in cfg.userlists.iter().enumerate() {
        if cfg.userlists[..i].iter().any(|u| u.name == ul.name) {
            out.push(Diagnostic::new(
                ul.place.file.clone(),
                ul.place.line,
                "userlist",
                format!("userlist '{}': already exists.", ul.name),
            ));
        }
        for g in &ul.groups {
            for u in &g.users {
                if !ul.users.iter().any(|x| &x.name == u) {
                    out.push(Diagnostic::new(
                        g.place.file.clone(),
                        g.place.line,
                        "group",
                        format!(
                            "userlist '{}': no such user '{u}' specified in group '{}'",
                            ul.name, g.name
                        ),
                    ));
                }
            }
        }
        for u in &ul.users {
            for g in &u.groups {
                if !ul.groups.iter().any(|x| &x.name == g) {
                    out.push(Diagnostic::new(
                        u.place.file.clone(),
                        u.place.line,
                        "user",
                        format!(
                            "userlist '{}': no such group '{g}' specified in user '{}'",
                            ul.name, u.name
                        ),
                    ));
                }
            }
        }
    }
}
