//! `StoreWriter`: the store's inserts, done natively on Python's own sqlite3 connection.
//!
//! One SQLite per process (sqlite.org/howtocorrupt.html §2.2.1): this crate links no SQLite. It finds the
//! library that Python's `_sqlite3` module already loaded (`dlopen(..., RTLD_NOLOAD)`: the shared
//! `libsqlite3.so.0`, or `_sqlite3` itself when SQLite is built into it), takes that module's connection
//! handle, and prepares one `INSERT` per table on it. The rows go in inside the transaction the Python store
//! opened, and its `COMMIT` makes them durable: locks, WAL and the transaction are that one connection's.
//!
//! The connection handle is the first field after the object header of CPython's `pysqlite_Connection`
//! (`sqlite3 *db`, unchanged from Python 2.5 to 3.14). It is checked before use: the handle must name the
//! store's file (`sqlite3_db_filename`). When anything does not hold, the constructor raises and the store
//! keeps writing through `executemany`.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

use auditsql_core::rows::Cell;
use auditsql_core::store::{
    Codec, Dedupe, EventKey, PendingRows, Statement, Statements, StoredEvents,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::pipeline::Batch;
use crate::CoreError;

const SQLITE_OK: c_int = 0;
const SQLITE_ROW: c_int = 100;
const SQLITE_DONE: c_int = 101;
const SQLITE_INTEGER: c_int = 1;
const SQLITE_TEXT: c_int = 3;
const SQLITE_BLOB: c_int = 4;

type Db = *mut c_void;
type Stmt = *mut c_void;

type PrepareFn =
    unsafe extern "C" fn(Db, *const c_char, c_int, *mut Stmt, *mut *const c_char) -> c_int;
type BindIntFn = unsafe extern "C" fn(Stmt, c_int, i64) -> c_int;
type BindDoubleFn = unsafe extern "C" fn(Stmt, c_int, f64) -> c_int;
type BindTextFn = unsafe extern "C" fn(Stmt, c_int, *const c_char, c_int, isize) -> c_int;
type BindBlobFn = unsafe extern "C" fn(Stmt, c_int, *const c_void, c_int, isize) -> c_int;
type BindNullFn = unsafe extern "C" fn(Stmt, c_int) -> c_int;
type StmtFn = unsafe extern "C" fn(Stmt) -> c_int;
type ErrmsgFn = unsafe extern "C" fn(Db) -> *const c_char;
type FilenameFn = unsafe extern "C" fn(Db, *const c_char) -> *const c_char;
type ColumnTypeFn = unsafe extern "C" fn(Stmt, c_int) -> c_int;
type ColumnIntFn = unsafe extern "C" fn(Stmt, c_int) -> i64;
type ColumnPtrFn = unsafe extern "C" fn(Stmt, c_int) -> *const c_void;
type ColumnBytesFn = unsafe extern "C" fn(Stmt, c_int) -> c_int;

/// The SQLite functions used, resolved in the already loaded library.
struct Api {
    prepare_v2: PrepareFn,
    bind_int64: BindIntFn,
    bind_double: BindDoubleFn,
    bind_text: BindTextFn,
    bind_blob: BindBlobFn,
    bind_null: BindNullFn,
    step: StmtFn,
    reset: StmtFn,
    clear_bindings: StmtFn,
    finalize: StmtFn,
    errmsg: ErrmsgFn,
    db_filename: FilenameFn,
    column_type: ColumnTypeFn,
    column_int64: ColumnIntFn,
    column_text: ColumnPtrFn,
    column_blob: ColumnPtrFn,
    column_bytes: ColumnBytesFn,
}

/// `SQLITE_STATIC`: the bound bytes outlive the step (the rows are held until the store clears them).
const SQLITE_STATIC: isize = 0;

/// The library `_sqlite3` loaded, found by name without loading anything new.
fn find_library(module_file: &str) -> Result<*mut c_void, String> {
    let names = ["libsqlite3.so.0", module_file];
    for name in names {
        let Ok(c) = CString::new(name) else { continue };
        // SAFETY: RTLD_NOLOAD only returns a handle to an object already loaded in this process (or NULL);
        // nothing new is loaded or initialised.
        let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
        if h.is_null() {
            continue;
        }
        // SAFETY: dlsym on a valid handle with a NUL-terminated name.
        if !unsafe { libc::dlsym(h, c"sqlite3_step".as_ptr()) }.is_null() {
            return Ok(h);
        }
    }
    Err("the SQLite library of Python's sqlite3 module was not found in this process".into())
}

fn load_api(module_file: &str) -> Result<Api, String> {
    let h = find_library(module_file)?;
    macro_rules! sym {
        ($name:literal as $ty:ty) => {{
            // SAFETY: dlsym on a valid handle with a NUL-terminated name; a NULL result is refused below.
            let p = unsafe { libc::dlsym(h, concat!($name, "\0").as_ptr().cast()) };
            if p.is_null() {
                return Err(format!("{} is missing from the SQLite library", $name));
            }
            // SAFETY: the symbol is SQLite's public C function of that name; the signature is its
            // documented one (sqlite3.h), which has not changed since SQLite 3.6.
            unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
        }};
    }
    Ok(Api {
        prepare_v2: sym!("sqlite3_prepare_v2" as PrepareFn),
        bind_int64: sym!("sqlite3_bind_int64" as BindIntFn),
        bind_double: sym!("sqlite3_bind_double" as BindDoubleFn),
        bind_text: sym!("sqlite3_bind_text" as BindTextFn),
        bind_blob: sym!("sqlite3_bind_blob" as BindBlobFn),
        bind_null: sym!("sqlite3_bind_null" as BindNullFn),
        step: sym!("sqlite3_step" as StmtFn),
        reset: sym!("sqlite3_reset" as StmtFn),
        clear_bindings: sym!("sqlite3_clear_bindings" as StmtFn),
        finalize: sym!("sqlite3_finalize" as StmtFn),
        errmsg: sym!("sqlite3_errmsg" as ErrmsgFn),
        db_filename: sym!("sqlite3_db_filename" as FilenameFn),
        column_type: sym!("sqlite3_column_type" as ColumnTypeFn),
        column_int64: sym!("sqlite3_column_int64" as ColumnIntFn),
        column_text: sym!("sqlite3_column_text" as ColumnPtrFn),
        column_blob: sym!("sqlite3_column_blob" as ColumnPtrFn),
        column_bytes: sym!("sqlite3_column_bytes" as ColumnBytesFn),
    })
}

/// The functions, resolved once per process (the library never changes once loaded).
fn api(module_file: &str) -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| load_api(module_file))
        .as_ref()
        .map_err(Clone::clone)
}

/// One prepared INSERT.
struct Prepared {
    api: &'static Api,
    db: Db,
    stmt: Stmt,
}

impl Prepared {
    fn error(&self) -> String {
        // SAFETY: db is the open connection this statement belongs to; errmsg returns a NUL-terminated
        // string owned by SQLite, copied at once.
        unsafe { CStr::from_ptr((self.api.errmsg)(self.db)) }
            .to_string_lossy()
            .into_owned()
    }

    fn check(&self, rc: c_int) -> Result<(), String> {
        if rc == SQLITE_OK {
            Ok(())
        } else {
            Err(self.error())
        }
    }
}

impl Prepared {
    fn prepare(api: &'static Api, db: Db, sql: &CStr) -> Result<Prepared, String> {
        let mut stmt: Stmt = std::ptr::null_mut();
        // SAFETY: db is the open connection (kept open by the Python connection object the writer holds);
        // sql is NUL-terminated; stmt receives the new statement or NULL.
        let rc = unsafe { (api.prepare_v2)(db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut()) };
        // (finalizing a NULL statement, when preparing failed, does nothing)
        let p = Prepared { api, db, stmt };
        if rc != SQLITE_OK || stmt.is_null() {
            return Err(p.error());
        }
        Ok(p)
    }

    /// Column `i` of the current result row (integers, text and blobs; anything else is NULL).
    fn column(&self, i: c_int) -> Cell {
        let a = self.api;
        // SAFETY: stmt is positioned on a result row (step returned SQLITE_ROW); the text or blob pointer
        // and its length are read at once and copied, before the next step.
        unsafe {
            match (a.column_type)(self.stmt, i) {
                SQLITE_INTEGER => Cell::Int((a.column_int64)(self.stmt, i)),
                t @ (SQLITE_TEXT | SQLITE_BLOB) => {
                    let p = if t == SQLITE_TEXT {
                        (a.column_text)(self.stmt, i)
                    } else {
                        (a.column_blob)(self.stmt, i)
                    };
                    let n = usize::try_from((a.column_bytes)(self.stmt, i)).unwrap_or(0);
                    let bytes = if p.is_null() || n == 0 {
                        Vec::new()
                    } else {
                        std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec()
                    };
                    if t == SQLITE_TEXT {
                        Cell::Text(String::from_utf8_lossy(&bytes).into_owned())
                    } else {
                        Cell::Blob(bytes)
                    }
                }
                _ => Cell::Null,
            }
        }
    }

    /// Runs the statement with what is bound; every result row's first `columns` columns.
    fn query(&mut self, columns: c_int) -> Result<Vec<Vec<Cell>>, String> {
        let a = self.api;
        let mut out = Vec::new();
        let result = loop {
            // SAFETY: stmt is a live prepared statement with every parameter bound.
            match unsafe { (a.step)(self.stmt) } {
                SQLITE_ROW => out.push((0..columns).map(|i| self.column(i)).collect()),
                SQLITE_DONE => break Ok(out),
                _ => break Err(self.error()),
            }
        };
        // SAFETY: as above.
        unsafe {
            (a.reset)(self.stmt);
            (a.clear_bindings)(self.stmt);
        }
        result
    }
}

impl Statement for Prepared {
    fn bind(&mut self, index: usize, cell: &Cell) -> Result<(), String> {
        let i = c_int::try_from(index + 1).map_err(|_| "too many columns".to_string())?;
        let a = self.api;
        let too_big =
            |n: usize| c_int::try_from(n).map_err(|_| "a value longer than 2 GiB".to_string());
        // SAFETY: stmt is a live prepared statement; text and blob bytes stay alive and unchanged until the
        // statement is stepped and reset (SQLITE_STATIC), since the rows are held until the write ends.
        let rc = unsafe {
            match cell {
                Cell::Null => (a.bind_null)(self.stmt, i),
                Cell::Int(v) => (a.bind_int64)(self.stmt, i, *v),
                Cell::Real(v) => (a.bind_double)(self.stmt, i, *v),
                Cell::Text(s) => (a.bind_text)(
                    self.stmt,
                    i,
                    s.as_ptr().cast(),
                    too_big(s.len())?,
                    SQLITE_STATIC,
                ),
                Cell::Blob(b) => (a.bind_blob)(
                    self.stmt,
                    i,
                    b.as_ptr().cast(),
                    too_big(b.len())?,
                    SQLITE_STATIC,
                ),
            }
        };
        self.check(rc)
    }

    fn execute(&mut self) -> Result<(), String> {
        let a = self.api;
        // SAFETY: stmt is a live prepared statement with every parameter bound.
        let rc = unsafe { (a.step)(self.stmt) };
        let err = (rc != SQLITE_DONE).then(|| self.error());
        // SAFETY: as above; reset and clear_bindings drop the references to this row's bytes.
        unsafe {
            (a.reset)(self.stmt);
            (a.clear_bindings)(self.stmt);
        }
        match err {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: stmt was prepared on db and is finalized once, here.
        unsafe {
            (self.api.finalize)(self.stmt);
        }
    }
}

/// The statements of one connection, prepared on first use.
struct Conn {
    api: &'static Api,
    db: Db,
    sql: HashMap<String, CString>,
    prepared: HashMap<&'static str, Prepared>,
    /// the stored events' time span, and the events under one eid (for the dedupe)
    span: Option<Prepared>,
    lookup: Option<Prepared>,
}

impl StoredEvents for Conn {
    fn span(&mut self) -> Result<Option<(i64, i64)>, String> {
        let Some(q) = self.span.as_mut() else {
            return Ok(None);
        };
        let rows = q.query(2)?;
        Ok(match rows.first().map(|r| (&r[0], &r[1])) {
            Some((Cell::Int(lo), Cell::Int(hi))) => Some((*lo, *hi)),
            _ => None,
        })
    }

    fn stored(&mut self, eid: &str) -> Result<Vec<(Cell, Cell)>, String> {
        let Some(q) = self.lookup.as_mut() else {
            return Ok(Vec::new());
        };
        // bound as SQLITE_STATIC: the value must live until the query is done
        let key = Cell::Text(eid.to_string());
        q.bind(0, &key)?;
        let rows = q.query(2)?;
        drop(key);
        Ok(rows
            .into_iter()
            .map(|mut r| {
                let blob = r.pop().unwrap_or(Cell::Null);
                let node = r.pop().unwrap_or(Cell::Null);
                (node, blob)
            })
            .collect())
    }
}

// SAFETY: the connection is SQLite's, opened by Python's sqlite3 module in serialized mode (its own mutex);
// every use goes through `&mut StoreWriter` (PyO3's borrow checking: one call at a time).
unsafe impl Send for Conn {}
// SAFETY: as above; no `&Conn` method touches the connection.
unsafe impl Sync for Conn {}

impl Statements for Conn {
    type Stmt = Prepared;

    fn statement(&mut self, table: &'static str) -> Result<&mut Prepared, String> {
        if !self.prepared.contains_key(table) {
            let sql = self
                .sql
                .get(table)
                .ok_or_else(|| format!("unknown table {table}: not in the table registry"))?;
            let p = Prepared::prepare(self.api, self.db, sql)?;
            self.prepared.insert(table, p);
        }
        self.prepared
            .get_mut(table)
            .ok_or_else(|| "statement cache".to_string())
    }
}

/// The store's native inserts: rows taken from batches (never made Python objects) and written, on
/// `write()`, through the Python connection `conn`, inside the transaction its store opened.
#[pyclass(module = "auditsql._core")]
pub struct StoreWriter {
    conn: Option<Conn>,
    /// the Python connection: kept alive while its handle is used
    _owner: Py<PyAny>,
    pending: PendingRows,
    dedupe: Option<Dedupe>,
    /// decodes two different blobs to compare their records (the dedupe's last resort)
    codec: Codec,
}

/// Where the events' identity sits (Python's `EventDedupe`): the events table and its storage table, the
/// positions of `eid`, `node`, `blob` and `time` in its rows, and `{table: eid position}` of the tables
/// whose rows go with the event.
#[derive(FromPyObject)]
pub struct DedupeSpec {
    #[pyo3(item)]
    table: String,
    #[pyo3(item)]
    storage: String,
    #[pyo3(item)]
    eid: usize,
    #[pyo3(item)]
    node: usize,
    #[pyo3(item)]
    blob: usize,
    #[pyo3(item)]
    time: Option<usize>,
    #[pyo3(item)]
    eid_of: HashMap<String, usize>,
}

/// The `sqlite3 *` of a `sqlite3.Connection` (see the module's documentation).
fn handle_of(conn: &Bound<'_, PyAny>) -> PyResult<Db> {
    let py = conn.py();
    let cls = py.import("sqlite3")?.getattr("Connection")?;
    if !conn.get_type().is(&cls) {
        return Err(CoreError::new_err("not a sqlite3.Connection"));
    }
    let obj = conn.as_ptr().cast::<u8>();
    // SAFETY: conn is a live sqlite3.Connection (exact type checked above); its struct starts with the
    // object header followed by `sqlite3 *db` (CPython's Modules/_sqlite/connection.h).
    let db = unsafe {
        obj.add(std::mem::size_of::<pyo3::ffi::PyObject>())
            .cast::<Db>()
            .read_unaligned()
    };
    if db.is_null() {
        return Err(CoreError::new_err("the connection is closed"));
    }
    Ok(db)
}

#[pymethods]
impl StoreWriter {
    /// `conn`: the store's `sqlite3.Connection` on `path`; `sql`: `{table: "INSERT ..."}`, parameters in the
    /// order of the core's rows; `module_file`: `_sqlite3.__file__`. Raises CoreError when the connection
    /// cannot be used natively (the store then writes through `executemany`).
    #[new]
    #[pyo3(signature = (conn, sql, path, module_file, dedupe = None))]
    fn new(
        conn: &Bound<'_, PyAny>,
        sql: &Bound<'_, PyDict>,
        path: &str,
        module_file: &str,
        dedupe: Option<DedupeSpec>,
    ) -> PyResult<Self> {
        let api = api(module_file).map_err(CoreError::new_err)?;
        let db = handle_of(conn)?;
        // SAFETY: db is the open connection's handle; "main" is NUL-terminated; the result is a
        // NUL-terminated path owned by SQLite (or NULL/empty for a temporary database), copied at once.
        let file = unsafe {
            let p = (api.db_filename)(db, c"main".as_ptr());
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let want = std::fs::canonicalize(path).map_err(PyErr::from)?;
        if std::fs::canonicalize(&file).ok().as_deref() != Some(want.as_path()) {
            return Err(CoreError::new_err(format!(
                "the connection's file ({file:?}) is not the store's ({path:?})"
            )));
        }
        let mut statements = HashMap::new();
        for (k, v) in sql.iter() {
            let table: String = k.extract()?;
            let text: String = v.extract()?;
            let text = CString::new(text).map_err(|_| CoreError::new_err("NUL in SQL"))?;
            statements.insert(table, text);
        }
        let (mut span, mut lookup, mut key) = (None, None, None);
        if let Some(d) = dedupe {
            let storage = &d.storage;
            let q = |sql: String| {
                let sql = CString::new(sql).map_err(|_| CoreError::new_err("NUL in SQL"))?;
                Prepared::prepare(api, db, &sql).map_err(CoreError::new_err)
            };
            span = Some(q(format!(
                "SELECT (SELECT min(time) FROM {storage}), (SELECT max(time) FROM {storage})"
            ))?);
            lookup = Some(q(format!(
                "SELECT node, blob FROM {storage} WHERE eid = ?"
            ))?);
            key = Some(EventKey {
                table: d.table,
                eid: d.eid,
                node: d.node,
                blob: d.blob,
                time: d.time,
                eid_of: d.eid_of.into_iter().collect(),
            });
        }
        Ok(StoreWriter {
            conn: Some(Conn {
                api,
                db,
                sql: statements,
                prepared: HashMap::new(),
                span,
                lookup,
            }),
            _owner: conn.clone().unbind(),
            pending: PendingRows::default(),
            dedupe: key.map(Dedupe::new),
            codec: Codec::new(),
        })
    }

    /// Takes the batch's rows (they are not made Python objects; the batch's `rows` is empty afterwards),
    /// less the events the store or this writer holds already (with a dedupe). Returns how many were taken.
    fn add(&mut self, py: Python<'_>, mut batch: PyRefMut<'_, Batch>) -> PyResult<usize> {
        let rows = batch.take_rows();
        drop(batch);
        let rows = match (self.dedupe.as_mut(), self.conn.as_mut()) {
            (Some(d), Some(conn)) => {
                let codec = &mut self.codec;
                let pending = &self.pending;
                py.detach(|| d.filter(rows, conn, |a, b| codec.same_records(a, b), pending))
                    .map_err(CoreError::new_err)?
            }
            _ => rows,
        };
        let n = rows.len();
        self.pending.extend(rows);
        Ok(n)
    }

    /// Events and rows left out since the writer was made: `(events, rows)`.
    fn present(&self) -> (u64, u64) {
        self.dedupe
            .as_ref()
            .map_or((0, 0), |d| (d.events_present, d.rows_present))
    }

    /// Rows waiting.
    fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Inserts every waiting row (inside the caller's transaction; the GIL is released meanwhile) and
    /// returns `[(table, rows)]`. The rows stay held until `clear()`: the caller commits or rolls back,
    /// then clears.
    fn write(&mut self, py: Python<'_>) -> PyResult<Vec<(&'static str, usize)>> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| CoreError::new_err("the store writer is closed"))?;
        let pending = &self.pending;
        py.detach(|| pending.write(conn))
            .map_err(CoreError::new_err)
    }

    /// Forgets the waiting rows (committed, or rolled back).
    fn clear(&mut self) {
        self.pending.clear();
        if let Some(d) = self.dedupe.as_mut() {
            d.forget();
        }
    }

    /// Finalizes the statements (before the connection closes). Idempotent.
    fn close(&mut self) {
        self.conn = None;
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<StoreWriter>()
}
