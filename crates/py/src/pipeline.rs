//! `Settings`, `Pipeline` and `Batch`: the event path's boundary. Work happens with the GIL released;
//! a batch becomes Python objects once, at the end of a call.

use auditsql_core::netlink::journal;
use auditsql_core::pipeline::{self as core, Format};
use auditsql_core::rows::{Cell, Row, RowOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::reader::Reader;
use crate::CoreError;
use std::time::Duration;

/// Everything the pipeline is told once, at the edge.
#[pyclass(module = "auditsql._core", frozen)]
#[derive(Clone)]
pub struct Settings {
    pub(crate) inner: core::Settings,
}

#[pymethods]
impl Settings {
    #[new]
    #[pyo3(signature = (*, format = "auto", resolve_ids = true, raw = true, events_json = true, rows = true,
        window = 512, window_seconds = 3.0, single_window = 16, include_failed_execs = false,
        stat_executable = false, process_tree = false, fork_events = false,
        live = false, uptime_base = None, tree_key = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        format: &str,
        resolve_ids: bool,
        raw: bool,
        events_json: bool,
        rows: bool,
        window: usize,
        window_seconds: f64,
        single_window: usize,
        include_failed_execs: bool,
        stat_executable: bool,
        process_tree: bool,
        fork_events: bool,
        live: bool,
        uptime_base: Option<f64>,
        tree_key: Option<&str>,
    ) -> PyResult<Settings> {
        let format = match format {
            "auto" => Format::Auto,
            "raw" => Format::Raw,
            "enriched" => Format::Enriched,
            other => {
                return Err(PyValueError::new_err(format!(
                    "format must be auto, raw or enriched, not {other:?}"
                )))
            }
        };
        if window == 0 || single_window == 0 || window_seconds.is_nan() || window_seconds <= 0.0 {
            return Err(PyValueError::new_err("windows must be positive"));
        }
        Ok(Settings {
            inner: core::Settings {
                format,
                resolve_ids,
                raw,
                events_json,
                rows,
                window,
                window_seconds,
                single_window,
                row_options: RowOptions {
                    include_failed_execs,
                    stat_executable,
                },
                process_tree,
                fork_events,
                live,
                uptime_base,
                tree_key: tree_key.map(|k| k.as_bytes().to_vec()),
            },
        })
    }
}

/// What one call produced (see `_core.pyi`).
#[pyclass(module = "auditsql._core")]
pub struct Batch {
    #[pyo3(get)]
    records: usize,
    #[pyo3(get)]
    events: usize,
    #[pyo3(get)]
    json: Py<PyBytes>,
    /// the rows, held natively until a store writer takes them; `rows` makes them Python tuples (once)
    native_rows: Vec<Row>,
    py_rows: Option<Py<PyList>>,
    row_count: usize,
    #[pyo3(get)]
    event_rows: Py<PyList>,
    #[pyo3(get)]
    config_changes: Py<PyList>,
    #[pyo3(get)]
    serials: Py<PyList>,
}

impl Batch {
    /// The rows, for a native store writer; the batch's `rows` is then empty, unless it was read before.
    pub(crate) fn take_rows(&mut self) -> Vec<Row> {
        std::mem::take(&mut self.native_rows)
    }
}

#[pymethods]
impl Batch {
    fn __len__(&self) -> usize {
        self.events
    }

    fn __repr__(&self) -> String {
        format!("Batch(events={}, rows={})", self.events, self.row_count)
    }

    /// `[(table, row tuple)]`: the event rows first (`event_rows` bounds each event's), then rows of no
    /// event (the process tree's). Made Python objects on first read.
    #[getter]
    fn rows(&mut self, py: Python<'_>) -> PyResult<Py<PyList>> {
        if let Some(rows) = &self.py_rows {
            return Ok(rows.clone_ref(py));
        }
        // the native rows stay for a store writer (a batch read here is short-lived)
        let rows = rows_to_py(py, &self.native_rows)?.unbind();
        self.py_rows = Some(rows.clone_ref(py));
        Ok(rows)
    }

    /// How many rows the batch carried (whoever took them).
    #[getter]
    fn row_count(&self) -> usize {
        self.row_count
    }
}

fn cell(py: Python<'_>, c: &Cell) -> PyResult<Py<PyAny>> {
    Ok(match c {
        Cell::Null => py.None(),
        Cell::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Cell::Real(f) => f.into_pyobject(py)?.into_any().unbind(),
        Cell::Text(s) => PyString::new(py, s).into_any().unbind(),
        Cell::Blob(b) => PyBytes::new(py, b).into_any().unbind(),
    })
}

/// A stored value back into a cell (the process tree's reload): None, int, float, text; anything else NULL.
fn py_cell(v: &Bound<'_, PyAny>) -> PyResult<Cell> {
    if v.is_none() {
        return Ok(Cell::Null);
    }
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Cell::Int(i));
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(Cell::Real(f));
    }
    if let Ok(s) = v.extract::<String>() {
        return Ok(Cell::Text(s));
    }
    if let Ok(b) = v.extract::<Vec<u8>>() {
        return Ok(Cell::Blob(b));
    }
    Ok(Cell::Null)
}

pub(crate) fn rows_to_py<'py>(py: Python<'py>, rows: &[Row]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for row in rows {
        let cells = row
            .cells
            .iter()
            .map(|c| cell(py, c))
            .collect::<PyResult<Vec<_>>>()?;
        let pair = PyTuple::new(
            py,
            [
                PyString::intern(py, row.table).into_any(),
                PyTuple::new(py, cells)?.into_any(),
            ],
        )?;
        out.append(pair)?;
    }
    Ok(out)
}

fn batch_to_py(py: Python<'_>, mut b: core::Batch) -> PyResult<Batch> {
    b.seal();
    let config = PyList::empty(py);
    for c in &b.config_changes {
        config.append(PyBytes::new(py, c))?;
    }
    let serials = PyList::empty(py);
    for (node, serial) in &b.serials {
        let node = node
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned());
        serials.append((node, *serial))?;
    }
    Ok(Batch {
        serials: serials.unbind(),
        records: b.records,
        events: b.events,
        json: PyBytes::new(py, &b.json).unbind(),
        row_count: b.rows.len(),
        native_rows: std::mem::take(&mut b.rows),
        py_rows: None,
        event_rows: PyList::new(py, &b.event_rows)?.unbind(),
        config_changes: config.unbind(),
    })
}

/// Runs `work` on the pipeline with the GIL released, then turns the batch it filled into Python objects.
fn batch_of(
    py: Python<'_>,
    inner: &mut core::Pipeline,
    work: impl FnOnce(&mut core::Pipeline, &mut core::Batch) + Send,
) -> PyResult<Batch> {
    let b = py.detach(|| {
        let mut b = core::Batch::default();
        work(inner, &mut b);
        b
    });
    batch_to_py(py, b)
}

/// Owns the assembler, renderer caches, row mappers, process tree and counters.
#[pyclass(module = "auditsql._core")]
pub struct Pipeline {
    inner: core::Pipeline,
}

#[pymethods]
impl Pipeline {
    #[new]
    fn new(settings: &Settings) -> Pipeline {
        Pipeline {
            inner: core::Pipeline::new(settings.inner.clone()),
        }
    }

    /// Log text in any chunking.
    fn feed_lines(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<Batch> {
        batch_of(py, &mut self.inner, |p, b| p.feed_lines(data, b))
    }

    /// Netlink messages: (type, payload, truncated length or 0).
    fn feed_frames(
        &mut self,
        py: Python<'_>,
        frames: Vec<(u32, Vec<u8>, usize)>,
    ) -> PyResult<Batch> {
        batch_of(py, &mut self.inner, |p, b| {
            for (t, payload, trunc) in &frames {
                p.feed_frame(*t, payload, *trunc, b);
            }
        })
    }

    /// The end of one log file: its partial last line; the next file's format is detected anew.
    fn end_file(&mut self, py: Python<'_>) -> PyResult<Batch> {
        batch_of(py, &mut self.inner, |p, b| p.end_file(b))
    }

    /// "enriched", "raw", or None before any log text.
    #[getter]
    fn detected(&self) -> Option<&'static str> {
        self.inner
            .detected()
            .map(|d| if d { "enriched" } else { "raw" })
    }

    /// What the native reader holds (waiting up to `timeout` seconds for the first frame), processed without
    /// Python seeing the frames; the GIL is released throughout. After the first frame it keeps taking what
    /// arrives for up to `linger` seconds (or `max_frames` frames): one batch then carries many events, so
    /// the per-batch work on the Python side (store insert, outputs) is paid once for all of them.
    #[pyo3(signature = (reader, timeout, max_frames = 4096, linger = 0.02))]
    fn pump(
        &mut self,
        py: Python<'_>,
        reader: &Bound<'_, Reader>,
        timeout: f64,
        max_frames: usize,
        linger: f64,
    ) -> PyResult<Batch> {
        let reader = reader.get().core();
        let inner = &mut self.inner;
        let secs =
            |s: f64| Duration::try_from_secs_f64(s.clamp(0.0, 86_400.0)).unwrap_or(Duration::ZERO);
        let (wait, linger) = (secs(timeout), secs(linger));
        let max_frames = max_frames.max(1);
        let b = py.detach(|| {
            let mut b = core::Batch::default();
            // one hand-over per batch: the reader wakes this thread when `max_frames` are held or the
            // linger after the first frame is over, never once per frame
            let frames = reader.gather(wait, linger, max_frames, 64 << 20);
            for (pos, end, t, payload, trunc) in frames.iter_at() {
                inner.feed_frame_at(pos, end, u32::from(t), payload, trunc as usize, &mut b);
            }
            reader.recycle(frames);
            b
        });
        batch_to_py(py, b)
    }

    /// Where the processing stands in the journal: `(start, end, open)` (`auditsql_core::pipeline::Mark`):
    /// what the store commits with its rows.
    fn mark<'py>(&self, py: Python<'py>) -> (u64, u64, Bound<'py, PyBytes>) {
        let m = self.inner.mark();
        (m.start, m.end, PyBytes::new(py, &m.open))
    }

    /// Before a replay from the store's mark `(end, open)`: below `end` only the open events' records count.
    fn begin_replay(&mut self, end: u64, open: &[u8]) {
        self.inner.begin_replay(end, open);
    }

    /// After a replay: every record counts again.
    fn end_replay(&mut self) {
        self.inner.end_replay();
    }

    /// Up to `max_frames` frames of the journal, processed (GIL released); `records` 0 and
    /// `journal.frames` unchanged at the end.
    #[pyo3(signature = (journal, max_frames = 4096))]
    fn replay(
        &mut self,
        py: Python<'_>,
        journal: &Bound<'_, JournalReplay>,
        max_frames: usize,
    ) -> PyResult<Batch> {
        let mut j = journal.borrow_mut();
        let r = &mut j.inner;
        let inner = &mut self.inner;
        let b = py.detach(|| {
            let mut b = core::Batch::default();
            let n = inner.replay(r, max_frames.max(1), &mut b);
            n.map(|_| b)
        });
        batch_to_py(py, b.map_err(PyErr::from)?)
    }

    fn tick(&mut self, py: Python<'_>, now: f64) -> PyResult<Batch> {
        batch_of(py, &mut self.inner, |p, b| p.tick(now, b))
    }

    fn finish(&mut self, py: Python<'_>) -> PyResult<Batch> {
        batch_of(py, &mut self.inner, |p, b| p.finish(b))
    }

    /// Assembler and input counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.assembler().stats.list() {
            d.set_item(k, v)?;
        }
        let i = self.inner.input_stats();
        d.set_item("lines", i.lines)?;
        d.set_item("skipped_lines", i.skipped_lines)?;
        d.set_item("bytes", i.bytes)?;
        d.set_item("frames", i.frames)?;
        d.set_item("nul_runs", i.nul_runs)?;
        d.set_item("not_audit", i.not_audit)?;
        d.set_item("replay_skipped", i.replay_skipped)?;
        Ok(d)
    }

    fn tree_idle(&mut self, py: Python<'_>, monotonic_now: f64) -> PyResult<Batch> {
        batch_of(py, &mut self.inner, |p, b| p.tree_idle(monotonic_now, b))
    }

    fn tree_seed(&mut self, py: Python<'_>) -> PyResult<usize> {
        let tree = self
            .inner
            .tree_mut()
            .ok_or_else(|| CoreError::new_err("the process tree is off"))?;
        Ok(py.detach(|| tree.seed()))
    }

    /// The previous run's processes not yet exited (rows in PROCESS_TREE's column order): keep those whose
    /// /proc start time still matches, mark the others exited. (kept, exited).
    fn tree_reload(
        &mut self,
        py: Python<'_>,
        rows: Vec<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<(usize, usize)> {
        let rows = rows
            .iter()
            .map(|r| r.iter().map(py_cell).collect::<PyResult<Vec<_>>>())
            .collect::<PyResult<Vec<_>>>()?;
        let tree = self
            .inner
            .tree_mut()
            .ok_or_else(|| CoreError::new_err("the process tree is off"))?;
        Ok(py.detach(|| tree.reload(rows)))
    }

    /// `auditsql run`'s start of the tree: reload the previous run's live processes (rows as for
    /// `tree_reload`), then seed the rest from /proc; counters `reloaded`, `restart_exited`, `seeded` are set.
    /// (kept, exited, seeded).
    fn tree_start(
        &mut self,
        py: Python<'_>,
        rows: Vec<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<(usize, usize, usize)> {
        let rows = rows
            .iter()
            .map(|r| r.iter().map(py_cell).collect::<PyResult<Vec<_>>>())
            .collect::<PyResult<Vec<_>>>()?;
        let tree = self
            .inner
            .tree_mut()
            .ok_or_else(|| CoreError::new_err("the process tree is off"))?;
        Ok(py.detach(|| tree.start(rows)))
    }

    /// Remember the TCP sockets listening now, for the accept rows of servers started before auditsql.
    #[pyo3(signature = (proc_root = "/proc"))]
    fn seed_listeners(&mut self, py: Python<'_>, proc_root: &str) -> usize {
        let inner = &mut self.inner;
        let root = std::path::PathBuf::from(proc_root);
        py.detach(|| inner.seed_listeners(&root))
    }

    fn tree_counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(tree) = self.inner.tree() {
            for (k, v) in tree.counters() {
                d.set_item(k, v)?;
            }
        }
        Ok(d)
    }

    fn tree_size(&self) -> usize {
        self.inner.tree().map_or(0, |t| t.size())
    }
}

/// A replay of the journal from a position (the store's mark) to its end; fed by `Pipeline.replay`.
#[pyclass(module = "auditsql._core")]
pub struct JournalReplay {
    inner: journal::Replay,
}

#[pymethods]
impl JournalReplay {
    /// The frames from `start` to `until` (the running reader's first position).
    #[new]
    fn new(dir: std::path::PathBuf, start: u64, until: u64) -> PyResult<Self> {
        Ok(JournalReplay {
            inner: journal::Replay::open(&dir, start, until).map_err(PyErr::from)?,
        })
    }

    /// Frames read so far.
    #[getter]
    fn frames(&self) -> u64 {
        self.inner.frames
    }

    /// Their bytes.
    #[getter]
    fn bytes(&self) -> u64 {
        self.inner.bytes
    }

    /// Bytes that were no frame (a torn or damaged segment tail), skipped.
    #[getter]
    fn torn_bytes(&self) -> u64 {
        self.inner.torn_bytes
    }

    /// Bytes between the start and the first segment, deleted already (nothing replayed from them).
    #[getter]
    fn missing_bytes(&self) -> u64 {
        self.inner.missing_bytes
    }
}

/// At start: the journal's end, its torn tail cut off: `{"segments", "end", "torn_bytes"}`.
#[pyfunction]
fn journal_recover<'py>(py: Python<'py>, dir: std::path::PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let r = py.detach(|| journal::recover(&dir)).map_err(PyErr::from)?;
    let d = PyDict::new(py);
    d.set_item("segments", r.segments)?;
    d.set_item("end", r.end)?;
    d.set_item("torn_bytes", r.torn_bytes)?;
    Ok(d)
}

/// Deletes the segments wholly below `below`; how many.
#[pyfunction]
fn journal_release(py: Python<'_>, dir: std::path::PathBuf, below: u64) -> PyResult<usize> {
    py.detach(|| journal::release(&dir, below))
        .map_err(PyErr::from)
}

/// Deletes every segment (a clean stop); how many.
#[pyfunction]
fn journal_clear(py: Python<'_>, dir: std::path::PathBuf) -> PyResult<usize> {
    py.detach(|| journal::clear(&dir)).map_err(PyErr::from)
}

/// Adds the journal's class and functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<JournalReplay>()?;
    m.add_function(wrap_pyfunction!(journal_recover, m)?)?;
    m.add_function(wrap_pyfunction!(journal_release, m)?)?;
    m.add_function(wrap_pyfunction!(journal_clear, m)?)?;
    Ok(())
}
