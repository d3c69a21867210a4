//! An event's `summary`, read once: the fields the mappers use, found in one pass over the object instead of
//! a hashed lookup each.

use serde_json::Value;

use super::Object;

macro_rules! summary_fields {
    ($($field:ident = $key:literal),* $(,)?) => {
        /// The `summary` object and the fields of it the mappers read (None when absent).
        #[derive(Clone, Copy, Debug)]
        pub struct Summary<'a> {
            /// the whole object
            pub map: &'a Object,
            $(#[doc = concat!("`", $key, "`")] pub $field: Option<&'a Value>,)*
        }

        impl<'a> Summary<'a> {
            /// Read the fields of `map`.
            pub fn new(map: &'a Object) -> Self {
                let mut s = Summary { map, $($field: None,)* };
                for (k, v) in map {
                    match k.as_str() {
                        $($key => s.$field = Some(v),)*
                        _ => {}
                    }
                }
                s
            }
        }
    };
}

summary_fields! {
    rtype = "type",
    records = "records",
    syscall = "syscall",
    success = "success",
    exit = "exit",
    errno = "errno",
    pid = "pid",
    ppid = "ppid",
    auid = "auid",
    uid = "uid",
    euid = "euid",
    suid = "suid",
    fsuid = "fsuid",
    gid = "gid",
    egid = "egid",
    sgid = "sgid",
    fsgid = "fsgid",
    ses = "ses",
    tty = "tty",
    comm = "comm",
    exe = "exe",
    key = "key",
    cwd = "cwd",
    argv = "argv",
    warnings = "warnings",
    sockaddr = "sockaddr",
    closed_by = "closed_by",
}
