//! Value encodings: auditd's hex encoding in, laurel's byte-string text encoding out. (Port of
//! records/encoding.py.) Printable ASCII stays, except `%` and `+`; valid UTF-8 multi-byte sequences stay
//! (except a BOM); every other byte is `%xx`. [`unescape`] gives the exact bytes back.

/// Bytes → laurel-style escaped text (always valid UTF-8).
pub fn escape(data: &[u8]) -> String {
    let _ = data;
    todo!("records helper")
}

/// Inverse of [`escape`]: `%xx` → the byte, everything else as UTF-8.
pub fn unescape(text: &str) -> Vec<u8> {
    let _ = text;
    todo!("records helper")
}

/// An *encoded* field's token → its bytes (None for `(null)`, `?`).
pub fn decode_encoded(token: &[u8]) -> Option<Vec<u8>> {
    let _ = token;
    todo!("records helper")
}
