//! `selinux_events` and `apparmor_events`: one row per MAC record. (Port of tables/mac.py.)

use serde_json::Value;

use super::common::{raw_by_name, record_message, sections_of, Common, Raw};
use super::value::{as_int, py_isspace, py_str, text_of, truthy};
use super::{Cell, Object, Row};

/// `selinux_events`' columns, in the registry's order.
pub const SELINUX_COLUMNS: &[&str] = &[
    "type",
    "message",
    "pid",
    "comm",
    "result",
    "permissions",
    "scontext",
    "tcontext",
    "tclass",
    "time",
    "uptime",
    "eid",
];

/// `apparmor_events`' columns, in the registry's order.
pub const APPARMOR_COLUMNS: &[&str] = &[
    "type",
    "message",
    "apparmor",
    "operation",
    "parent",
    "profile",
    "name",
    "pid",
    "comm",
    "denied_mask",
    "capname",
    "fsuid",
    "ouid",
    "capability",
    "requested_mask",
    "info",
    "error",
    "namespace",
    "label",
    "time",
    "uptime",
    "eid",
];

const SELINUX_USER_TYPES: &[&str] = &[
    "USER_SELINUX_ERR",
    "USER_ROLE_CHANGE",
    "USER_LABELED_EXPORT",
    "USER_MAC_POLICY_LOAD",
];

/// Which MAC table a record goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacKind {
    Selinux,
    Apparmor,
}

/// `selinux`/`apparmor` for a MAC record section (`sec` None: could the type be one?), else None.
pub fn mac_kind(name: &str, number: i128, sec: Option<&Object>) -> Option<MacKind> {
    if number == 1400 || number == 1107 {
        // AVC, USER_AVC: AppArmor writes these too
        let src = match (number, sec) {
            (1107, Some(s)) => match s.get("msg") {
                Some(Value::Object(m)) => Some(m),
                _ => Some(s),
            },
            _ => sec,
        };
        if src.is_some_and(|s| s.contains_key("apparmor")) {
            return Some(MacKind::Apparmor);
        }
        return Some(MacKind::Selinux);
    }
    if (1401..=1499).contains(&number) || SELINUX_USER_TYPES.contains(&name) {
        return Some(MacKind::Selinux);
    }
    if (1500..=1599).contains(&number) {
        return Some(MacKind::Apparmor);
    }
    None
}

fn int_cell(v: Option<&Value>) -> Cell {
    as_int(v, 10).map_or(Cell::Null, |v| v.cell())
}

/// `v if v is not None else fallback`
fn or_else<'a>(v: Option<&'a Value>, fallback: Option<&'a Value>) -> Option<&'a Value> {
    match v {
        None | Some(Value::Null) => fallback,
        v => v,
    }
}

/// Python's `_AVC_TEXT.search(text)`: `avc:\s+(denied|granted)\s+\{\s*([^}]*?)\s*\}` → (result,
/// permissions joined by single spaces).
fn avc_text(text: &str) -> Option<(&'static str, String)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("avc:") {
        let at = from + i;
        from = at + 4;
        let rest = &text[at + 4..];
        let after_ws = rest.trim_start_matches(py_isspace);
        if after_ws.len() == rest.len() {
            continue;
        }
        let (result, rest) = if let Some(r) = after_ws.strip_prefix("denied") {
            ("denied", r)
        } else if let Some(r) = after_ws.strip_prefix("granted") {
            ("granted", r)
        } else {
            continue;
        };
        let after_ws = rest.trim_start_matches(py_isspace);
        if after_ws.len() == rest.len() {
            continue;
        }
        let Some(body) = after_ws.strip_prefix('{') else {
            continue;
        };
        let Some(end) = body.find('}') else {
            continue;
        };
        let perms: Vec<&str> = body[..end]
            .split(py_isspace)
            .filter(|p| !p.is_empty())
            .collect();
        return Some((result, perms.join(" ")));
    }
    None
}

fn selinux_row(name: &str, sec: &Object, message: Cell, common: &Common) -> Row {
    let src = match sec.get("msg") {
        Some(Value::Object(m)) => m,
        _ => sec,
    };
    let mut found: Option<(&str, String)> = None;
    for r in ["denied", "granted"] {
        if let Some(Value::Array(v)) = sec.get(r) {
            found = Some((r, v.iter().map(py_str).collect::<Vec<_>>().join(" ")));
            break;
        }
    }
    if found.is_none() {
        let t = match src.get("_text") {
            Some(v) if truthy(v) => py_str(v),
            _ => String::new(),
        };
        found = avc_text(&t);
    }
    let (result, perms) = match found {
        Some((r, p)) => (Cell::Text(r.to_owned()), Cell::Text(p)),
        None => (Cell::Null, Cell::Null),
    };
    Row {
        table: "selinux_events",
        cells: vec![
            Cell::Text(name.to_owned()),
            message,
            int_cell(sec.get("pid")),
            text_of(or_else(src.get("comm"), sec.get("comm"))),
            result,
            perms,
            text_of(src.get("scontext")),
            text_of(src.get("tcontext")),
            text_of(src.get("tclass")),
            common.time.clone(),
            common.uptime.clone(),
            common.eid.clone(),
        ],
    }
}

fn apparmor_row(name: &str, number: i128, sec: &Object, message: Cell, common: &Common) -> Row {
    let src = match sec.get("msg") {
        Some(Value::Object(m)) => m,
        _ => sec,
    };
    let t = |k: &str| text_of(src.get(k));
    Row {
        table: "apparmor_events",
        cells: vec![
            Cell::Text(if number == 1400 { "AA" } else { name }.to_owned()),
            message,
            t("apparmor"),
            t("operation"),
            int_cell(src.get("parent")),
            t("profile"),
            t("name"),
            int_cell(or_else(src.get("pid"), sec.get("pid"))),
            t("comm"),
            t("denied_mask"),
            t("capname"),
            int_cell(src.get("fsuid")),
            int_cell(src.get("ouid")),
            int_cell(src.get("capability")),
            t("requested_mask"),
            t("info"),
            t("error"),
            t("namespace"),
            t("label"),
            common.time.clone(),
            common.uptime.clone(),
            common.eid.clone(),
        ],
    }
}

/// Rows for the MAC sections `(name, type number)` of the event.
pub fn mac_rows(
    event: &Object,
    raw: Option<Raw<'_>>,
    sections: &[(&str, i128)],
    common: &Common,
    out: &mut Vec<Row>,
) {
    let names: Vec<&str> = sections.iter().map(|(n, _)| *n).collect();
    let mut raws = raw_by_name(raw, &names);
    for &(name, number) in sections {
        let recs = raws.remove(name).unwrap_or_default();
        for (k, sec) in sections_of(event.get(name)).into_iter().enumerate() {
            let Some(sec) = sec else {
                continue;
            };
            let message = recs
                .get(k)
                .map(record_message)
                .map_or(Cell::Null, Cell::Text);
            match mac_kind(name, number, Some(sec)) {
                Some(MacKind::Selinux) => out.push(selinux_row(name, sec, message, common)),
                Some(MacKind::Apparmor) => {
                    out.push(apparmor_row(name, number, sec, message, common))
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_text_search() {
        assert_eq!(
            avc_text("avc:  denied  { read write } for pid=1"),
            Some(("denied", "read write".to_owned()))
        );
        assert_eq!(
            avc_text("x avc:granted { a } avc: granted {  b\u{a0}c  }"),
            Some(("granted", "b c".to_owned()))
        );
        assert_eq!(
            avc_text("avc:  received policyload notice (seqno=96)"),
            None
        );
        assert_eq!(avc_text("avc: denied { open"), None);
        assert_eq!(avc_text("avc: denied {}"), Some(("denied", String::new())));
    }
}
