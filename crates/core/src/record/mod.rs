//! One audit record: its header, its fields as written, and its exact raw bytes.
//!
//! A record is what the kernel (or a user-space program through AUDIT_USER) emits as one message, and what
//! auditd writes as one line: `[node=N ]type=T msg=audit(SEC.MSEC:SERIAL): key=value ...`.
//!
//! Fields are kept as written (value tokens with their quotes), in order, duplicates included; typing them
//! is [`values`]' business. The raw bytes are kept so that every record can be given back byte for byte.

pub mod encoding;
pub mod fields;
pub mod msgtypes;
pub mod parse;
pub mod tokenize;
pub mod values;

/// Key under which words that are not `key=value` (`login`, `policy loaded`, free text) are kept.
pub const FREE_TEXT: &[u8] = b"";

/// A key or value token: inline up to 24 bytes (most are), on the heap beyond.
pub type Tok = smallvec::SmallVec<[u8; 24]>;

/// A `(key, token)` pair as written: the token keeps its quotes.
pub type Field = (Tok, Tok);

/// A parsed record. `error` is set (and `rtype` may be 0) when the line could not be parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// exact raw bytes of the record (no line terminator)
    pub text: Vec<u8>,
    /// `node=` prefix, or None
    pub node: Option<Vec<u8>>,
    /// numeric record type (1300 for SYSCALL); 0 if unknown
    pub rtype: u32,
    /// type name as written or resolved (`SYSCALL`, `UNKNOWN[1329]`)
    pub name: Vec<u8>,
    pub sec: u64,
    pub msec: u64,
    pub serial: u64,
    /// where the body starts in `text`: the text after the header, enrichment tail included
    pub body_start: usize,
    /// `(key, token)` pairs as written; free words have key [`FREE_TEXT`]
    pub fields: Vec<Field>,
    /// `(KEY, token)` pairs of the ENRICHED tail (after 0x1d, glued, or after a space)
    pub enrich: Vec<Field>,
    /// why the record could not be parsed, or None
    pub error: Option<String>,
}

impl Record {
    /// The text after the header (`arch=c000003e syscall=59 ...`), enrichment tail included.
    pub fn body(&self) -> &[u8] {
        &self.text[self.body_start.min(self.text.len())..]
    }

    /// The first token written for `key` (as written, quotes included).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k.as_slice() == key)
            .map(|(_, v)| v.as_slice())
    }

    /// laurel/auditd style event id `SEC.MSEC:SERIAL`.
    pub fn id(&self) -> String {
        format!("{}.{:03}:{}", self.sec, self.msec, self.serial)
    }
}
