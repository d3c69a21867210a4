//! `auditsql._core.StoreFunctions`: what the store's SQL functions compute from an event blob
//! (`auditsql_core::store`). `auditsql.store.functions` registers them on every sqlite3 connection.
//!
//! A blob that cannot be read never stops a query: the JSON functions return `{"error": "..."}` for it
//! (the event reports it), the others NULL.

use auditsql_core::event::ClosedBy;
use auditsql_core::store::codec::{Codec, CodecError};
use auditsql_core::store::Functions;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::Mutex;

use crate::CoreError;

/// The store's SQL functions over event blobs, with the dictionaries of one store.
#[pyclass(module = "auditsql._core", frozen)]
pub struct StoreFunctions {
    inner: Mutex<Functions>,
}

fn error_json(e: &CodecError) -> String {
    serde_json::json!({ "error": e.0 }).to_string()
}

impl StoreFunctions {
    fn with<T>(&self, f: impl FnOnce(&mut Functions) -> T) -> PyResult<T> {
        let mut g = self.inner.lock().map_err(|_| {
            CoreError::new_err("the store functions were poisoned by an earlier failure")
        })?;
        Ok(f(&mut g))
    }

    fn json(
        &self,
        blob: Option<&[u8]>,
        f: impl FnOnce(&mut Functions, &[u8]) -> Result<String, CodecError>,
    ) -> PyResult<Option<String>> {
        let Some(blob) = blob else { return Ok(None) };
        self.with(|fns| Some(f(fns, blob).unwrap_or_else(|e| error_json(&e))))
    }
}

#[pymethods]
impl StoreFunctions {
    /// Functions knowing the compiled-in dictionaries and `dictionaries` ([(version, bytes)], a store's own).
    #[new]
    #[pyo3(signature = (dictionaries = Vec::new()))]
    fn new(dictionaries: Vec<(u32, Vec<u8>)>) -> PyResult<StoreFunctions> {
        let mut codec = Codec::new();
        for (version, bytes) in dictionaries {
            codec = codec
                .with_extra_dictionary(version, &bytes)
                .map_err(|e| CoreError::new_err(e.0))?;
        }
        Ok(StoreFunctions {
            inner: Mutex::new(Functions::new(codec)),
        })
    }

    /// The dictionary version new blobs use.
    fn newest_dictionary(&self) -> PyResult<u32> {
        self.with(|f| f.codec().newest())
    }

    /// The bytes of dictionary `version`, or None.
    fn dictionary<'py>(
        &self,
        py: Python<'py>,
        version: u32,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let bytes = self.with(|f| f.codec().dictionary(version).map(<[u8]>::to_vec))?;
        Ok(bytes.map(|b| PyBytes::new(py, &b)))
    }

    /// The old `raw` column: the JSON array of the record texts.
    fn audit_raw_json(&self, blob: Option<&[u8]>) -> PyResult<Option<String>> {
        self.json(blob, Functions::audit_raw_json)
    }

    /// The event JSON (as `auditsql read --no-resolve-ids` writes it).
    fn audit_json(&self, blob: Option<&[u8]>) -> PyResult<Option<String>> {
        self.json(blob, Functions::audit_json)
    }

    /// The old `summary` column.
    fn audit_summary(&self, blob: Option<&[u8]>) -> PyResult<Option<String>> {
        self.json(blob, Functions::audit_summary)
    }

    /// The old `sections` column.
    fn audit_sections(&self, blob: Option<&[u8]>) -> PyResult<Option<String>> {
        self.json(blob, Functions::audit_sections)
    }

    /// The records' exact bytes, each followed by a newline (auditd's log lines); None for a bad blob.
    fn audit_raw_bytes<'py>(
        &self,
        py: Python<'py>,
        blob: Option<&[u8]>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let Some(blob) = blob else { return Ok(None) };
        let bytes = self.with(|f| f.audit_raw_bytes(blob).ok())?;
        Ok(bytes.map(|b| PyBytes::new(py, &b)))
    }

    /// The typed value of `field` in the first `rtype` record, as SQL sees it (text, integer, or JSON text
    /// for a list or object); None when absent or for a bad blob.
    fn audit_field(
        &self,
        py: Python<'_>,
        blob: Option<&[u8]>,
        rtype: &str,
        field: &str,
    ) -> PyResult<Py<PyAny>> {
        let Some(blob) = blob else {
            return Ok(py.None());
        };
        let v = self.with(|f| f.audit_field(blob, rtype, field).ok().flatten())?;
        Ok(match v {
            None | Some(serde_json::Value::Null) => py.None(),
            Some(serde_json::Value::Bool(b)) => i64::from(b).into_pyobject(py)?.into_any().unbind(),
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(i) => i.into_pyobject(py)?.into_any().unbind(),
                None => n.to_string().into_pyobject(py)?.into_any().unbind(),
            },
            Some(serde_json::Value::String(s)) => s.into_pyobject(py)?.into_any().unbind(),
            Some(other) => other.to_string().into_pyobject(py)?.into_any().unbind(),
        })
    }
}

/// The blob of an event of an older store: its `raw` column (the JSON array of record texts, a text that is
/// not UTF-8 as `{"base64": ...}`), `closed_by` and duplicates count. Raises ValueError on JSON that is not
/// such an array.
#[pyfunction]
#[pyo3(signature = (raw_json, closed_by, duplicates))]
fn encode_raw_json<'py>(
    py: Python<'py>,
    raw_json: Option<&str>,
    closed_by: Option<&str>,
    duplicates: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let event = RawEvent::of(raw_json, closed_by, duplicates)?;
    let blob = py.detach(|| event.encode(&mut Codec::new()));
    Ok(PyBytes::new(py, &blob))
}

/// An older store's event as [`encode_raw_json`] takes it: its record texts, `closed_by`, duplicates.
struct RawEvent {
    texts: Vec<Vec<u8>>,
    closed: ClosedBy,
    dups: u32,
}

impl RawEvent {
    fn of(
        raw_json: Option<&str>,
        closed_by: Option<&str>,
        duplicates: Option<i64>,
    ) -> PyResult<RawEvent> {
        let texts = match raw_json {
            None => Vec::new(),
            Some(j) => auditsql_core::store::raw_texts(j).map_err(PyValueError::new_err)?,
        };
        Ok(RawEvent {
            texts,
            closed: closed_by
                .and_then(ClosedBy::from_name)
                .unwrap_or(ClosedBy::Flush),
            dups: u32::try_from(duplicates.unwrap_or(0)).unwrap_or(0),
        })
    }

    fn encode(&self, codec: &mut Codec) -> Vec<u8> {
        auditsql_core::store::encode_texts(codec, &self.texts, self.closed, self.dups)
    }
}

/// [`encode_raw_json`] for many events: one codec (its dictionaries loaded once) for every call, as the
/// upgrade of an older store makes one call per event.
#[pyclass(module = "auditsql._core", frozen)]
pub struct RawJsonEncoder {
    codec: Mutex<Codec>,
}

#[pymethods]
impl RawJsonEncoder {
    #[new]
    fn new() -> Self {
        RawJsonEncoder {
            codec: Mutex::new(Codec::new()),
        }
    }

    /// The blob of one event, as [`encode_raw_json`] gives it.
    #[pyo3(signature = (raw_json, closed_by, duplicates))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        raw_json: Option<&str>,
        closed_by: Option<&str>,
        duplicates: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let event = RawEvent::of(raw_json, closed_by, duplicates)?;
        let blob = py.detach(|| {
            let mut codec = self
                .codec
                .lock()
                .map_err(|_| "the encoder was poisoned by an earlier failure")?;
            Ok::<_, &str>(event.encode(&mut codec))
        });
        let blob = blob.map_err(CoreError::new_err)?;
        Ok(PyBytes::new(py, &blob))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<StoreFunctions>()?;
    m.add_class::<RawJsonEncoder>()?;
    m.add_function(wrap_pyfunction!(encode_raw_json, m)?)
}
