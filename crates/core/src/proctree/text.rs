//! The few value conversions the tree adds to the rows' helpers ([`crate::rows::value`]).

use serde_json::Value;

use crate::rows::value::{parse_int, py_int, py_str, truthy};
use crate::rows::Object;

pub(crate) use crate::rows::common::event_columns;
pub(crate) use crate::rows::value::{backslash_decode, cell, text, text_str};

/// Python's `isinstance(v, int)` and the value, for a pid (bools as 0/1; beyond i64: not a pid).
pub(crate) fn int_of(value: Option<&Value>) -> Option<i64> {
    i64::try_from(py_int(value?)?).ok()
}

/// Python's `int(s)` of decimal text, within i64.
pub(crate) fn int_text(s: &str) -> Option<i64> {
    i64::try_from(parse_int(s, 10)?.small()?).ok()
}

/// Python's `int(s, 16)`, modulo 2^64 (two's complement): the low bits are all the tree tests
/// (`& 0xFF`, clone flags).
pub(crate) fn hex_low64(s: &str) -> Option<u64> {
    Some(parse_int(s, 16)?.and(u64::MAX))
}

/// Python's `int(float)` (truncation toward zero), saturating where Python would raise (inf, nan → 0).
pub(crate) fn py_trunc(f: f64) -> i64 {
    f as i64
}

/// The event's `NODE` when truthy, as Python's f-string writes it (`str()`).
pub(crate) fn node_str(event: &Object) -> Option<String> {
    event.get("NODE").filter(|v| truthy(v)).map(py_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_ints() {
        assert_eq!(int_of(Some(&json!(7))), Some(7));
        assert_eq!(int_of(Some(&json!(true))), Some(1));
        assert_eq!(int_of(Some(&json!(7.0))), None);
        assert_eq!(int_of(Some(&json!("7"))), None);
        assert_eq!(int_of(Some(&json!(u64::MAX))), None);
        assert_eq!(int_text(" 12\n"), Some(12));
        assert_eq!(int_text("1__0"), None);
        assert_eq!(hex_low64("0x3"), Some(3));
        assert_eq!(hex_low64("3d0f00"), Some(0x3d0f00));
        assert_eq!(hex_low64("-0x1").map(|v| v & 0xff), Some(0xff));
        assert_eq!(
            hex_low64("1ffffffffffffffff03"),
            Some(0xffff_ffff_ffff_ff03)
        );
        assert_eq!(hex_low64("0x"), None);
    }

    #[test]
    fn node_names() {
        let e = json!({"NODE": "web1"});
        assert_eq!(node_str(e.as_object().unwrap()), Some("web1".into()));
        let e = json!({"NODE": 7});
        assert_eq!(node_str(e.as_object().unwrap()), Some("7".into()));
        let e = json!({"NODE": ""});
        assert_eq!(node_str(e.as_object().unwrap()), None);
        assert_eq!(node_str(&Object::new()), None);
    }
}
