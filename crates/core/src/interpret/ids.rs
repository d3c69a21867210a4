//! uid/gid → names on this host, cached; the raw ids are always kept beside the names. (Port of
//! events/identity.py.) Lookups go through the C library (`getpwuid_r`/`getgrgid_r`), so NSS sources
//! (LDAP, sssd) answer as they did for Python's `pwd`/`grp`.

use crate::hash::HashMap;

use nix::unistd::{Gid, Group, Uid, User};

/// (uint32)-1: "not set" (auid/ses of processes that never logged in).
pub const UNSET: i64 = 4294967295;

/// A cache holds at most this many ids; it starts over when full.
const CACHE_MAX: usize = 65536;

/// Resolves ids with the host's passwd/group databases. An unknown id resolves to None.
#[derive(Default)]
pub struct Identities {
    users: HashMap<i64, Option<String>>,
    groups: HashMap<i64, Option<String>>,
}

fn cached(
    cache: &mut HashMap<i64, Option<String>>,
    id: i64,
    lookup: impl FnOnce(u32) -> Option<String>,
) -> Option<String> {
    if let Some(name) = cache.get(&id) {
        return name.clone();
    }
    let name = if id == UNSET {
        Some("unset".to_string())
    } else {
        // -1 is (uid_t)-1 to Python's pwd/grp; other ids outside the u32 range are unknown
        let id = if id == -1 {
            Some(u32::MAX)
        } else {
            u32::try_from(id).ok()
        };
        id.and_then(lookup)
    };
    if cache.len() >= CACHE_MAX {
        cache.clear();
    }
    cache.insert(id, name.clone());
    name
}

impl Identities {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The user name of `uid`; "unset" for [`UNSET`]; None if unknown (or out of the uid range).
    pub fn user(&mut self, uid: i64) -> Option<String> {
        cached(&mut self.users, uid, |n| {
            User::from_uid(Uid::from_raw(n))
                .ok()
                .flatten()
                .map(|u| u.name)
        })
    }

    /// The group name of `gid`; "unset" for [`UNSET`]; None if unknown (or out of the gid range).
    pub fn group(&mut self, gid: i64) -> Option<String> {
        cached(&mut self.groups, gid, |n| {
            Group::from_gid(Gid::from_raw(n))
                .ok()
                .flatten()
                .map(|g| g.name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Identities, UNSET};

    #[test]
    fn root_unset_and_unknown() {
        let mut ids = Identities::new();
        assert_eq!(ids.user(0).as_deref(), Some("root"));
        assert_eq!(ids.group(0).as_deref(), Some("root"));
        assert_eq!(ids.user(UNSET).as_deref(), Some("unset"));
        assert_eq!(ids.group(UNSET).as_deref(), Some("unset"));
        assert_eq!(ids.user(4294967294), None);
        assert_eq!(ids.user(1 << 40), None);
        assert_eq!(ids.user(-2), None);
        assert_eq!(ids.group(1 << 40), None);
        // cached answers are the same
        assert_eq!(ids.user(0).as_deref(), Some("root"));
        assert_eq!(ids.user(4294967294), None);
    }

    #[test]
    fn cache_is_bounded() {
        let mut ids = Identities::new();
        for uid in 0..65536i64 {
            ids.users.insert(uid + 1_000_000_000, None);
        }
        ids.user(0);
        assert_eq!(ids.users.len(), 1);
    }
}
