//! `auditsql._core.Reader`: the native netlink reader (`auditsql_core::netlink`) behind a Python class.
//!
//! The reader thread never holds the GIL; every wait here (`take_frames`, `stop`) releases it. The
//! pipeline's `pump` takes frames through [`Reader::take_detached`] without Python seeing them.

use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use auditsql_core::netlink::journal::{self, Writer};
use auditsql_core::netlink::{self as nl, FrameBuf, Policy, ReaderSettings};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::CoreError;

/// The native netlink reader: a thread that drains an audit netlink socket into a buffer.
#[pyclass(frozen, module = "auditsql._core")]
pub struct Reader {
    inner: nl::Reader,
}

/// A duplicate of the caller's descriptor `fd` (close-on-exec): the caller keeps its own socket object.
fn dup(fd: RawFd) -> PyResult<std::os::fd::OwnedFd> {
    if fd < 0 {
        return Err(CoreError::new_err(format!("not a file descriptor: {fd}")));
    }
    // SAFETY: the descriptor is only borrowed for the duration of the F_DUPFD_CLOEXEC call, while the
    // caller's socket object holds it open; a descriptor that is not open makes the dup fail (EBADF).
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().map_err(PyErr::from)
}

/// A timeout in seconds from Python: negative and NaN are 0, beyond a day is a day.
fn timeout(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.clamp(0.0, 86_400.0)).unwrap_or(Duration::ZERO)
}

impl Reader {
    /// The core reader, for code that releases the GIL itself.
    pub fn core(&self) -> &nl::Reader {
        &self.inner
    }

    /// Frames held (waiting up to `timeout` for the first), taken with the GIL released: what
    /// `Pipeline.pump` calls. Give the buffer back with [`Reader::recycle`] once processed.
    pub fn take_detached(
        &self,
        py: Python<'_>,
        timeout: Duration,
        max_frames: usize,
        max_bytes: usize,
    ) -> FrameBuf {
        let inner = &self.inner;
        py.detach(|| inner.take(timeout, max_frames, max_bytes))
    }

    /// Gives a processed buffer's memory back to the reader.
    pub fn recycle(&self, buf: FrameBuf) {
        self.inner.recycle(buf);
    }
}

#[pymethods]
impl Reader {
    /// Starts reading a duplicate of `fd` (an audit netlink socket, bound and registered): the caller keeps
    /// its own socket object. `policy` is "block" or "drop"; `buffer_bytes` what the reader holds at most,
    /// `buffer_frames` (None: no limit) how many records (the Python reader's `queue_size` under drop).
    /// `journal`: `(directory, first position)`: every frame is appended there before it is processed
    /// (`auditsql_core::netlink::journal`). `early`: records received before (while registering), held first.
    #[new]
    /// `proc_fd`: a proc connector socket (bound to `CN_IDX_PROC`, subscribed): its fork and exit notices
    /// are read too, as frames of their own (`auditsql_core::netlink::connector`).
    #[pyo3(signature = (fd, policy = "block", buffer_bytes = 512 << 20, buffer_frames = None,
        journal = None, early = Vec::new(), segment_bytes = journal::SEGMENT_BYTES, proc_fd = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        fd: RawFd,
        policy: &str,
        buffer_bytes: usize,
        buffer_frames: Option<usize>,
        journal: Option<(std::path::PathBuf, u64)>,
        early: Vec<(u16, Vec<u8>, u32)>,
        segment_bytes: u64,
        proc_fd: Option<RawFd>,
    ) -> PyResult<Self> {
        let policy = Policy::parse(policy).ok_or_else(|| {
            CoreError::new_err(format!(
                "policy must be one of ('block', 'drop'), not '{policy}'"
            ))
        })?;
        if buffer_bytes == 0 || buffer_frames == Some(0) {
            return Err(CoreError::new_err(
                "buffer_bytes and buffer_frames must be positive",
            ));
        }
        let owned = dup(fd)?;
        let proc_owned = proc_fd.map(dup).transpose()?;
        let settings = ReaderSettings {
            policy,
            buffer_bytes,
            buffer_frames: buffer_frames.unwrap_or(usize::MAX),
            on_idle: Some(crate::release_thread_memory),
            ..ReaderSettings::default()
        };
        let writer = journal.map(|(dir, start)| Writer::new(&dir, start, segment_bytes));
        let early: Vec<(u16, &[u8], u32)> = early
            .iter()
            .map(|(t, p, trunc)| (*t, p.as_slice(), *trunc))
            .collect();
        let inner = py
            .detach(|| nl::Reader::start_with(owned, proc_owned, settings, writer, &early))
            .map_err(PyErr::from)?;
        Ok(Reader { inner })
    }

    /// The reader's counters: messages, bytes, truncated, enobufs, queue_drops, queue_full, ignored,
    /// foreign, errors (the Python reader's names).
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, value) in self.inner.counters().pairs() {
            d.set_item(name, value)?;
        }
        Ok(d)
    }

    /// Frames held, not taken yet.
    fn pending(&self) -> usize {
        self.inner.pending()
    }

    /// Stops the thread (it drains what the socket still holds) and closes its socket; what it read can
    /// still be taken. Idempotent.
    fn stop(&self, py: Python<'_>) {
        let inner = &self.inner;
        py.detach(|| inner.stop());
    }

    /// The reader thread ended (stopped or failed).
    fn finished(&self) -> bool {
        self.inner.finished()
    }

    /// Why the reader thread ended early (an OSError), or None.
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner.error().map(|e| {
            PyOSError::new_err((e.errno as i32, e.to_string()))
                .into_value(py)
                .into_any()
        })
    }

    /// For tests: `(type, payload, truncated length or 0)` of the frames held, waiting up to `timeout`
    /// seconds for the first (GIL released).
    #[pyo3(signature = (timeout, max_frames = 4096))]
    fn take_frames<'py>(
        &self,
        py: Python<'py>,
        timeout: f64,
        max_frames: usize,
    ) -> Vec<(u16, Bound<'py, PyBytes>, u32)> {
        let buf = self.take_detached(py, self::timeout(timeout), max_frames, usize::MAX);
        let out = buf
            .iter()
            .map(|(t, payload, trunc)| (t, PyBytes::new(py, payload), trunc))
            .collect();
        self.inner.recycle(buf);
        out
    }
}

/// Adds `Reader` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Reader>()?;
    m.add_function(wrap_pyfunction!(keeper_drain, m)?)
}

/// The socket keeper's drain (`auditsql_core::netlink::keeper`), the GIL released throughout: journals
/// what the audit socket `fd` (a duplicate is read) receives into `dir` from position `start`, until `wake`
/// is readable, `cap_bytes` are journaled or `seconds` pass (None: no deadline). `(end, {frames, bytes,
/// end, enobufs, ignored, journal_errors})`, `end` one of `woken`, `cap`, `deadline`.
#[pyfunction]
#[pyo3(signature = (fd, wake, dir, start, cap_bytes, seconds = None))]
pub fn keeper_drain<'py>(
    py: Python<'py>,
    fd: RawFd,
    wake: RawFd,
    dir: std::path::PathBuf,
    start: u64,
    cap_bytes: u64,
    seconds: Option<f64>,
) -> PyResult<(&'static str, Bound<'py, PyDict>)> {
    let sock = dup(fd)?;
    if wake < 0 {
        return Err(CoreError::new_err(format!("not a file descriptor: {wake}")));
    }
    // SAFETY: only borrowed for this call, while the caller holds it open; a descriptor that is not open
    // makes poll fail (EBADF).
    let wake = unsafe { BorrowedFd::borrow_raw(wake) };
    let deadline = seconds.map(|s| std::time::Instant::now() + timeout(s));
    let (end, rep) = py
        .detach(|| nl::keeper::drain(sock, wake, &dir, start, cap_bytes, deadline))
        .map_err(|e| PyOSError::new_err((e as i32, e.desc())))?;
    let d = PyDict::new(py);
    d.set_item("frames", rep.frames)?;
    d.set_item("bytes", rep.bytes)?;
    d.set_item("end", rep.end)?;
    d.set_item("enobufs", rep.enobufs)?;
    d.set_item("ignored", rep.ignored)?;
    d.set_item("journal_errors", rep.journal_errors)?;
    Ok((end.name(), d))
}
