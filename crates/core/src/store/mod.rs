//! The compact store: each event kept once, as its records' exact bytes compressed with a dictionary
//! trained on audit records ([`codec`]), and what the old columns held (`raw`, `sections`, `summary`, the
//! event JSON) derived from that blob on demand ([`functions`], behind the store's SQL functions).

pub mod codec;
pub mod frame;
pub mod functions;
pub mod writer;

pub use codec::{Codec, CodecError, DecodedEvent};
pub use functions::Functions;
pub use writer::{Dedupe, EventKey, PendingRows, Statement, Statements, StoredEvents};

/// The blob of an event given as its records' texts (an older store's `raw` column, upgraded): each text is
/// parsed again as a log line, and kept byte for byte whatever the parser makes of it.
pub fn encode_texts(
    codec: &mut codec::Codec,
    texts: &[Vec<u8>],
    closed_by: crate::event::ClosedBy,
    duplicates: u32,
) -> Vec<u8> {
    let mut frame = Vec::new();
    for text in texts {
        let mut recs = crate::record::parse::parse_text(text, false);
        let rec = match (recs.pop(), recs.is_empty()) {
            (Some(r), true) if &r.text == text => r,
            _ => crate::record::Record {
                text: text.clone(),
                ..crate::record::Record::default()
            },
        };
        self::frame::write_record(&rec, &mut frame);
    }
    let mut out = Vec::new();
    codec.encode_frame(&frame, closed_by, duplicates, &mut out);
    out
}

/// The record texts of an older store's `raw` column: a JSON array of texts, a text that is not UTF-8 as
/// `{"base64": ...}`.
pub fn raw_texts(raw_json: &str) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine as _;
    let bad = || "a raw record that is neither text nor base64".to_owned();
    match serde_json::from_str::<serde_json::Value>(raw_json) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s.as_bytes().to_vec()),
                serde_json::Value::Object(o) => o
                    .get("base64")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .ok_or_else(bad),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err("raw is not a JSON array of record texts".to_owned()),
    }
}
