//! Text → records: the header, the `key=value` body, the ENRICHED tail. (Port of records/parser.py.)
use super::Record;

/// Parse one line as read from a file or socket (a `\n` or `\r\n` terminator allowed) into its records:
/// usually one, several when run together. `detect`: ENRICHED tails are detected (upper-case keys after a
/// space or glued to a value) and not only after a 0x1d byte.
pub fn parse_line(line: &[u8], detect: bool) -> Vec<Record> {
    let _ = (line, detect);
    todo!("records helper")
}

/// One record from a NETLINK_AUDIT message: its nlmsg_type and payload (`audit(SEC.MSEC:SERIAL): ...`).
/// Always exactly one record.
pub fn parse_netlink(msg_type: u32, payload: &[u8]) -> Record {
    let _ = (msg_type, payload);
    todo!("records helper")
}

/// Fields of a user-space payload `msg='op=PAM:... acct="x" res=success'` (quotes included or not).
pub fn parse_nested(token: &[u8]) -> Vec<super::Field> {
    let _ = token;
    todo!("records helper")
}

/// Split a record body at the 0x1d separator of auditd's ENRICHED format.
pub fn split_enrichment(body: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(0x1d, body) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    }
}
