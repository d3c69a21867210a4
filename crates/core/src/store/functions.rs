//! What the store's SQL functions compute from an event blob, in pure Rust: the old `raw`, `summary` and
//! `sections` columns, the event JSON, one typed field. A corrupt blob is a [`CodecError`].

use base64::Engine as _;
use serde_json::{Map, Value};

use super::codec::{Codec, CodecError, DecodedEvent};
use crate::event::render::Renderer;
use crate::rows::audit::{is_section, sections_to_json};
use crate::rows::value::{into_string, object_json, write_json_str};

/// Derives columns from blobs; owns the codec, a renderer (ids not resolved, raw records on) and the
/// buffers reused from call to call.
pub struct Functions {
    codec: Codec,
    renderer: Renderer,
    decoded: DecodedEvent,
}

impl Default for Functions {
    fn default() -> Self {
        Self::new(Codec::new())
    }
}

impl Functions {
    /// Functions decoding with `codec` (its dictionaries: the compiled-in ones and a store's own).
    pub fn new(codec: Codec) -> Self {
        Functions {
            codec,
            renderer: Renderer::new(false, true),
            decoded: DecodedEvent::default(),
        }
    }

    /// The codec.
    pub fn codec(&mut self) -> &mut Codec {
        &mut self.codec
    }

    fn decode(&mut self, blob: &[u8]) -> Result<&DecodedEvent, CodecError> {
        self.codec.decode_into(blob, &mut self.decoded)?;
        Ok(&self.decoded)
    }

    /// The event's JSON object (as `auditsql read --no-resolve-ids` builds it).
    fn render(&mut self, blob: &[u8]) -> Result<Map<String, Value>, CodecError> {
        self.codec.decode_into(blob, &mut self.decoded)?;
        let ev = self.decoded.to_event();
        Ok(self.renderer.render(&ev))
    }

    /// The old `raw` column: the JSON array of the record texts (a text that is not UTF-8 as
    /// `{"base64": ...}`).
    pub fn audit_raw_json(&mut self, blob: &[u8]) -> Result<String, CodecError> {
        let ev = self.decode(blob)?;
        let mut buf = Vec::with_capacity(
            ev.records()
                .map(|r| r.len() + r.len() / 8 + 4)
                .sum::<usize>()
                + 2,
        );
        buf.push(b'[');
        for (i, text) in ev.records().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            match std::str::from_utf8(text) {
                Ok(s) => write_json_str(&mut buf, s),
                Err(_) => {
                    buf.extend_from_slice(b"{\"base64\":");
                    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
                    write_json_str(&mut buf, &b64);
                    buf.push(b'}');
                }
            }
        }
        buf.push(b']');
        Ok(into_string(buf))
    }

    /// The records' exact bytes, each followed by `\n` (as auditd's log holds them).
    pub fn audit_raw_bytes(&mut self, blob: &[u8]) -> Result<Vec<u8>, CodecError> {
        let ev = self.decode(blob)?;
        let mut out = Vec::with_capacity(ev.records().map(|r| r.len() + 1).sum());
        for text in ev.records() {
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        Ok(out)
    }

    /// The whole event JSON, compact, as `auditsql read --no-resolve-ids` writes it.
    pub fn audit_json(&mut self, blob: &[u8]) -> Result<String, CodecError> {
        let d = self.render(blob)?;
        Ok(object_json(&d))
    }

    /// The old `summary` column: the event JSON's `summary` object.
    pub fn audit_summary(&mut self, blob: &[u8]) -> Result<String, CodecError> {
        let d = self.render(blob)?;
        Ok(match d.get("summary") {
            Some(Value::Object(s)) => object_json(s),
            _ => "{}".to_owned(),
        })
    }

    /// The old `sections` column: `{name: section}` of every record section, as `rows::audit` writes it.
    pub fn audit_sections(&mut self, blob: &[u8]) -> Result<String, CodecError> {
        let d = self.render(blob)?;
        Ok(sections_to_json(&d, 1024))
    }

    /// The typed value of `field` in the first record of type `rtype` (`SYSCALL`, `PATH`) of the event's
    /// sections, or None.
    pub fn audit_field(
        &mut self,
        blob: &[u8],
        rtype: &str,
        field: &str,
    ) -> Result<Option<Value>, CodecError> {
        let mut d = self.render(blob)?;
        if !is_section(rtype) {
            return Ok(None);
        }
        let first = match d.get_mut(rtype) {
            Some(Value::Array(list)) => list.first_mut(),
            Some(v) => Some(v),
            None => None,
        };
        Ok(match first {
            Some(Value::Object(m)) => m.get_mut(field).map(Value::take),
            _ => None,
        })
    }
}
