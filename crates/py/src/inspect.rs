//! The inspection functions of `auditsql._core` (one record or value at a time: tests, `auditsql explain`,
//! debugging; never the event path). Each is a thin call into `auditsql_core`: arguments in,
//! the core's result as Python objects out. Bad input data never raises; a bad argument raises `CoreError`.

use auditsql_core::interpret;
use auditsql_core::pipeline::{Batch, Format, Pipeline, Settings};
use auditsql_core::record::{self, encoding, values, Field, Record};
use auditsql_core::rows::{self, Mapper, Object, Row, RowOptions};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use serde_json::Value;

use crate::CoreError;

/// Register every inspection function on the module.
pub fn register(m: &Bound<PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_line, m)?)?;
    m.add_function(wrap_pyfunction!(parse_netlink, m)?)?;
    m.add_function(wrap_pyfunction!(parse_nested, m)?)?;
    m.add_function(wrap_pyfunction!(split_enrichment, m)?)?;
    m.add_function(wrap_pyfunction!(escape, m)?)?;
    m.add_function(wrap_pyfunction!(unescape, m)?)?;
    m.add_function(wrap_pyfunction!(decode_encoded, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(arch_of, m)?)?;
    m.add_function(wrap_pyfunction!(syscall_name, m)?)?;
    m.add_function(wrap_pyfunction!(errno_name, m)?)?;
    m.add_function(wrap_pyfunction!(execve_argv, m)?)?;
    m.add_function(wrap_pyfunction!(proctitle_argv, m)?)?;
    m.add_function(wrap_pyfunction!(decode_sockaddr, m)?)?;
    m.add_function(wrap_pyfunction!(family_name, m)?)?;
    m.add_function(wrap_pyfunction!(render_lines, m)?)?;
    m.add_function(wrap_pyfunction!(rows_of, m)?)?;
    m.add_function(wrap_pyfunction!(table_columns, m)?)?;
    Ok(())
}

// -- records ---------------------------------------------------------------------------------------------------

/// `[(key, token), ...]` as a list of bytes tuples.
fn fields_list<'py>(py: Python<'py>, fields: &[Field]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (k, v) in fields {
        list.append((PyBytes::new(py, k), PyBytes::new(py, v)))?;
    }
    Ok(list)
}

/// A record as the dict `_core.pyi` documents.
fn record_dict<'py>(py: Python<'py>, r: &Record) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("text", PyBytes::new(py, &r.text))?;
    d.set_item("node", r.node.as_deref().map(|n| PyBytes::new(py, n)))?;
    d.set_item("type", r.rtype)?;
    d.set_item("name", String::from_utf8_lossy(&r.name))?;
    d.set_item("sec", r.sec)?;
    d.set_item("msec", r.msec)?;
    d.set_item("serial", r.serial)?;
    d.set_item("body", PyBytes::new(py, r.body()))?;
    d.set_item("fields", fields_list(py, &r.fields)?)?;
    d.set_item("enrich", fields_list(py, &r.enrich)?)?;
    d.set_item("error", r.error.as_deref())?;
    Ok(d)
}

/// The records of one line (a `\n` or `\r\n` terminator allowed).
#[pyfunction]
#[pyo3(signature = (line, detect = true))]
fn parse_line<'py>(py: Python<'py>, line: &[u8], detect: bool) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for r in record::parse::parse_line(line, detect) {
        list.append(record_dict(py, &r)?)?;
    }
    Ok(list)
}

/// One record from a NETLINK_AUDIT message.
#[pyfunction]
fn parse_netlink<'py>(
    py: Python<'py>,
    msg_type: u32,
    payload: &[u8],
) -> PyResult<Bound<'py, PyDict>> {
    record_dict(py, &record::parse::parse_netlink(msg_type, payload))
}

/// Fields of a user-space payload `msg='...'`.
#[pyfunction]
fn parse_nested<'py>(py: Python<'py>, token: &[u8]) -> PyResult<Bound<'py, PyList>> {
    fields_list(py, &record::parse::parse_nested(token))
}

/// A record body split at the 0x1d separator.
#[pyfunction]
fn split_enrichment<'py>(
    py: Python<'py>,
    body: &[u8],
) -> (Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>) {
    let (raw, tail) = record::parse::split_enrichment(body);
    (PyBytes::new(py, raw), tail.map(|t| PyBytes::new(py, t)))
}

/// Bytes → laurel-style escaped text.
#[pyfunction]
fn escape(data: &[u8]) -> String {
    encoding::escape(data)
}

/// `%xx` → the byte, everything else as UTF-8.
#[pyfunction]
fn unescape<'py>(py: Python<'py>, text: &str) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &encoding::unescape(text))
}

/// An encoded field's token → its bytes (None for `(null)`, `?`).
#[pyfunction]
fn decode_encoded<'py>(py: Python<'py>, token: &[u8]) -> Option<Bound<'py, PyBytes>> {
    encoding::decode_encoded(token).map(|b| PyBytes::new(py, &b))
}

/// A field token typed as the event JSON types it.
#[pyfunction]
fn convert<'py>(py: Python<'py>, key: &str, token: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let v = values::convert(values::converter(key.as_bytes()), token);
    to_py(py, &v)
}

// -- interpretation --------------------------------------------------------------------------------------------

/// `arch=` token → (number, name).
#[pyfunction]
#[pyo3(signature = (token))]
fn arch_of(token: Option<&[u8]>) -> (Option<u32>, Option<String>) {
    let (n, name) = interpret::arch_of(token);
    (n, name.map(|s| s.to_string()))
}

/// A syscall's name on an arch.
#[pyfunction]
#[pyo3(signature = (arch, nr))]
fn syscall_name(arch: Option<&str>, nr: i64) -> Option<&'static str> {
    interpret::syscall_name(arch, nr)
}

/// An errno's name (`ENOENT`).
#[pyfunction]
fn errno_name(n: i64) -> Option<&'static str> {
    interpret::errno_name(n)
}

/// argc, argv and warnings from EXECVE record lines (each parsed as one line, ENRICHED tails detected).
#[pyfunction]
fn execve_argv<'py>(
    py: Python<'py>,
    records: Vec<Bound<'py, PyBytes>>,
) -> PyResult<(Option<i64>, Bound<'py, PyList>, Vec<String>)> {
    let recs: Vec<Record> = records
        .iter()
        .flat_map(|b| record::parse::parse_line(b.as_bytes(), true))
        .collect();
    let refs: Vec<&Record> = recs.iter().collect();
    let (argc, argv, warnings) = interpret::argv::execve_argv(&refs);
    Ok((argc, bytes_list(py, &argv)?, warnings))
}

/// PROCTITLE's argv.
#[pyfunction]
#[pyo3(signature = (token))]
fn proctitle_argv<'py>(py: Python<'py>, token: Option<&[u8]>) -> PyResult<Bound<'py, PyList>> {
    bytes_list(py, &interpret::argv::proctitle_argv(token))
}

/// A sockaddr buffer → its decoded address.
#[pyfunction]
#[pyo3(signature = (data, big_endian = false))]
fn decode_sockaddr<'py>(
    py: Python<'py>,
    data: &[u8],
    big_endian: bool,
) -> PyResult<Bound<'py, PyAny>> {
    to_py(
        py,
        &Value::Object(interpret::sockaddr::decode_sockaddr(data, big_endian)),
    )
}

/// An address family's name (`inet`), or its number as text.
#[pyfunction]
fn family_name(family: i64) -> String {
    match u32::try_from(family) {
        Ok(f) => interpret::sockaddr::family_name(f).to_string(),
        Err(_) => family.to_string(),
    }
}

// -- events and rows -------------------------------------------------------------------------------------------

/// A whole log's events as dicts: the `read` job's path (lines split, comments skipped, the format sniffed,
/// assembled, rendered with the raw records, flushed), without rows.
#[pyfunction]
#[pyo3(signature = (data, resolve_ids = false, format = "auto"))]
fn render_lines<'py>(
    py: Python<'py>,
    data: &[u8],
    resolve_ids: bool,
    format: &str,
) -> PyResult<Bound<'py, PyList>> {
    let format = match format {
        "auto" => Format::Auto,
        "raw" => Format::Raw,
        "enriched" => Format::Enriched,
        other => {
            return Err(CoreError::new_err(format!(
                "format must be auto, raw or enriched, not {other:?}"
            )))
        }
    };
    let settings = Settings {
        format,
        resolve_ids,
        raw: true,
        events_json: true,
        rows: false,
        ..Settings::default()
    };
    let mut pipeline = Pipeline::new(settings);
    let mut batch = Batch::default();
    py.detach(|| {
        pipeline.feed_lines(data, &mut batch);
        pipeline.finish(&mut batch);
    });
    let list = PyList::empty(py);
    for line in batch.json.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| CoreError::new_err(format!("event JSON did not parse back: {e}")))?;
        list.append(to_py(py, &v)?)?;
    }
    Ok(list)
}

/// The table rows of one event JSON object (no process tree). Options: `include_failed_execs`,
/// `stat_executable` (bools), `uptime_base` (seconds or None).
#[pyfunction]
#[pyo3(signature = (event_json, **options))]
fn rows_of<'py>(
    py: Python<'py>,
    event_json: &[u8],
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyList>> {
    let mut row_options = RowOptions::default();
    let mut uptime_base: Option<f64> = None;
    if let Some(opts) = options {
        for (k, v) in opts.iter() {
            let k: String = k.extract()?;
            match k.as_str() {
                "include_failed_execs" => row_options.include_failed_execs = v.extract()?,
                "stat_executable" => row_options.stat_executable = v.extract()?,
                "uptime_base" => uptime_base = v.extract()?,
                other => {
                    return Err(CoreError::new_err(format!(
                        "rows_of: unknown option {other:?}"
                    )))
                }
            }
        }
    }
    let event: Object = match serde_json::from_slice(event_json) {
        Ok(Value::Object(o)) => o,
        Ok(_) => {
            return Err(CoreError::new_err(
                "rows_of: the event JSON is not an object",
            ))
        }
        Err(e) => {
            return Err(CoreError::new_err(format!(
                "rows_of: the event is not JSON: {e}"
            )))
        }
    };
    let mut rows: Vec<Row> = Vec::new();
    Mapper::new(row_options).rows_for(&event, uptime_base, None, &mut rows);
    crate::pipeline::rows_to_py(py, &rows)
}

/// Per table the core fills, its column names in order.
#[pyfunction]
fn table_columns(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (table, columns) in rows::table_columns() {
        d.set_item(table, columns)?;
    }
    Ok(d)
}

/// A list of bytes objects.
fn bytes_list<'py>(py: Python<'py>, items: &[Vec<u8>]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, items.iter().map(|b| PyBytes::new(py, b)))
}

// -- JSON values -----------------------------------------------------------------------------------------------

/// A JSON value as the Python object `json.loads` would give (dicts keep the key order).
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for x in a {
                list.append(to_py(py, x)?)?;
            }
            list.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}
