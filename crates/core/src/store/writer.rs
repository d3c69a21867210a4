//! The store's writes: table rows buffered, by table, until the store commits, then bound to one prepared
//! `INSERT` per table and stepped. No Python object is made for a row on this path.
//!
//! The database is reached through [`Statement`]: the binding implements it over the SQLite library that
//! Python's own `sqlite3` module loaded, on that module's connection, inside the transaction the store
//! opened. One SQLite per process, one connection per store (docs/native-core.md, "SQLite: one copy").

use crate::hash::HashSet;
use std::hash::{Hash, Hasher};

use crate::rows::{Cell, Row};

/// One prepared `INSERT` of one table, its parameters in the table's stored column order.
pub trait Statement {
    /// Binds `cell` to parameter `index` (0-based).
    fn bind(&mut self, index: usize, cell: &Cell) -> Result<(), String>;
    /// Runs the statement with what is bound, then makes it ready for the next row.
    fn execute(&mut self) -> Result<(), String>;
}

/// The prepared statements of one connection, one per table (prepared on first use).
pub trait Statements {
    type Stmt: Statement;
    /// The `INSERT` of `table`.
    fn statement(&mut self, table: &'static str) -> Result<&mut Self::Stmt, String>;
}

/// Rows waiting for the store's next commit, grouped by table (in the order tables first appear).
#[derive(Debug, Default)]
pub struct PendingRows {
    tables: Vec<(&'static str, Vec<Vec<Cell>>)>,
    rows: usize,
}

impl PendingRows {
    /// Adds one row.
    pub fn push(&mut self, row: Row) {
        let slot = match self.tables.iter().position(|(t, _)| *t == row.table) {
            Some(i) => i,
            None => {
                self.tables.push((row.table, Vec::new()));
                self.tables.len() - 1
            }
        };
        self.tables[slot].1.push(row.cells);
        self.rows += 1;
    }

    /// Adds rows, in order.
    pub fn extend(&mut self, rows: impl IntoIterator<Item = Row>) {
        for row in rows {
            self.push(row);
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The tables that have rows, with how many.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.tables
            .iter()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(t, rows)| (*t, rows.len()))
    }

    /// The cells of each row held of `table`.
    pub fn rows_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a [Cell]> + 'a {
        self.tables
            .iter()
            .filter(move |(t, _)| *t == table)
            .flat_map(|(_, rows)| rows.iter().map(Vec::as_slice))
    }

    /// Forgets every row (after a write, or after a failed one: the store rolls back and counts them).
    pub fn clear(&mut self) {
        for (_, rows) in &mut self.tables {
            rows.clear();
        }
        self.rows = 0;
    }

    /// Writes every row held through `db`'s statements, table by table, and returns the counts per table.
    /// The rows stay held (the caller commits, then clears; or rolls back, then clears). The first error
    /// ends the write: `"table: message"`.
    pub fn write<D: Statements + ?Sized>(
        &self,
        db: &mut D,
    ) -> Result<Vec<(&'static str, usize)>, String> {
        let mut done = Vec::new();
        for (table, rows) in &self.tables {
            if rows.is_empty() {
                continue;
            }
            let stmt = db.statement(table).map_err(|e| format!("{table}: {e}"))?;
            for cells in rows {
                for (i, cell) in cells.iter().enumerate() {
                    stmt.bind(i, cell).map_err(|e| format!("{table}: {e}"))?;
                }
                stmt.execute().map_err(|e| format!("{table}: {e}"))?;
            }
            done.push((*table, rows.len()));
        }
        Ok(done)
    }
}

/// Where an event's identity sits in the rows: the events table (one row per event, the event's first
/// row) and the other tables whose rows carry its `eid` (tables of upserts are left out: idempotent already).
#[derive(Debug, Clone)]
pub struct EventKey {
    pub table: String,
    pub eid: usize,
    pub node: usize,
    pub blob: usize,
    pub time: Option<usize>,
    pub eid_of: Vec<(String, usize)>,
}

/// What the store holds: its events' time span, and the events stored under one `eid`.
pub trait StoredEvents {
    /// (oldest, newest) `time` of the stored events; None when there is none.
    fn span(&mut self) -> Result<Option<(i64, i64)>, String>;
    /// `(node, blob)` of each stored event under `eid`.
    fn stored(&mut self, eid: &str) -> Result<Vec<(Cell, Cell)>, String>;
}

/// Each event stored once (Python's `auditsql.store.dedupe`, for rows that never become Python objects): an
/// event the store or the buffer holds already (same `eid`, `node` and records) is left out with its rows.
/// Only the events whose time falls within the stored events' span are looked up, so an import or a live
/// run, whose events are newer than every stored one, costs one span probe per batch.
#[derive(Debug)]
pub struct Dedupe {
    key: EventKey,
    /// hashes of the buffer's events' eids (a hash seen again sends the event to the rows for a look)
    buffered: HashSet<u64>,
    /// events and rows left out since the store was opened
    pub events_present: u64,
    pub rows_present: u64,
}

impl Dedupe {
    pub fn new(key: EventKey) -> Self {
        Self {
            key,
            buffered: HashSet::default(),
            events_present: 0,
            rows_present: 0,
        }
    }

    /// `rows` less the events held already and their rows. `same(a, b)`: two different blobs hold the same
    /// records (another dictionary, another `closed_by`): [`super::Codec::same_records`]. `pending`: the buffer's rows (where an eid seen
    /// before in this buffer is looked for).
    pub fn filter<D: StoredEvents + ?Sized>(
        &mut self,
        rows: Vec<Row>,
        db: &mut D,
        mut same: impl FnMut(&[u8], &[u8]) -> bool,
        pending: &PendingRows,
    ) -> Result<Vec<Row>, String> {
        let key = &self.key;
        if !rows.iter().any(|r| r.table == key.table) {
            return Ok(rows);
        }
        let span = db.span()?;
        let mut out = Vec::with_capacity(rows.len());
        let mut skip: Option<String> = None;
        for row in rows {
            if row.table == key.table {
                skip = None;
                let Some(Cell::Text(eid)) = row.cells.get(key.eid) else {
                    out.push(row);
                    continue;
                };
                let node = row.cells.get(key.node).unwrap_or(&Cell::Null);
                let blob = row.cells.get(key.blob).unwrap_or(&Cell::Null);
                let probe = match (span, key.time.and_then(|t| row.cells.get(t))) {
                    (None, _) => false,
                    (Some((lo, hi)), Some(Cell::Int(t))) => lo <= *t && *t <= hi,
                    (Some(_), _) => true,
                };
                let hash = hash_of(eid);
                let mut seen = self.buffered.contains(&hash) && {
                    let mut held = |cells: &[Cell]| {
                        matches!(cells.get(key.eid), Some(Cell::Text(e)) if e == eid)
                            && cells.get(key.node) == Some(node)
                            && cells
                                .get(key.blob)
                                .is_some_and(|b| same_blob(b, blob, &mut same))
                    };
                    let mine = out
                        .iter()
                        .filter(|r: &&Row| r.table == key.table)
                        .any(|r| held(&r.cells));
                    mine || pending.rows_of(&key.table).any(held)
                };
                if !seen && probe {
                    seen = db
                        .stored(eid)?
                        .iter()
                        .any(|(n, b)| n == node && same_blob(b, blob, &mut same));
                }
                if seen {
                    self.events_present += 1;
                    skip = Some(eid.clone());
                    continue;
                }
                self.buffered.insert(hash);
            } else if let Some(gone) = &skip {
                let pos = key
                    .eid_of
                    .iter()
                    .find(|(t, _)| t == row.table)
                    .map(|(_, p)| *p);
                if let Some(Cell::Text(e)) = pos.and_then(|p| row.cells.get(p)) {
                    if e == gone {
                        self.rows_present += 1;
                        continue;
                    }
                }
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The buffer was committed (the store holds its events now) or dropped.
    pub fn forget(&mut self) {
        self.buffered.clear();
    }
}

fn hash_of(eid: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    eid.hash(&mut h);
    h.finish()
}

fn same_blob(a: &Cell, b: &Cell, same: &mut impl FnMut(&[u8], &[u8]) -> bool) -> bool {
    match (a, b) {
        (Cell::Blob(x), Cell::Blob(y)) => x == y || same(x, y),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement that records what it was given.
    #[derive(Default)]
    struct Log {
        bound: Vec<(usize, Cell)>,
        rows: Vec<Vec<(usize, Cell)>>,
        fail_at: Option<usize>,
    }

    impl Statement for Log {
        fn bind(&mut self, index: usize, cell: &Cell) -> Result<(), String> {
            self.bound.push((index, cell.clone()));
            Ok(())
        }
        fn execute(&mut self) -> Result<(), String> {
            if self.fail_at == Some(self.rows.len()) {
                return Err("database or disk is full".into());
            }
            self.rows.push(std::mem::take(&mut self.bound));
            Ok(())
        }
    }

    /// Statements by table; `missing` has none.
    #[derive(Default)]
    struct Db {
        tables: Vec<(&'static str, Log)>,
    }

    impl Statements for Db {
        type Stmt = Log;
        fn statement(&mut self, table: &'static str) -> Result<&mut Log, String> {
            match self.tables.iter_mut().find(|(t, _)| *t == table) {
                Some((_, s)) => Ok(s),
                None => Err(format!("no such table: {table}")),
            }
        }
    }

    fn row(table: &'static str, n: i64) -> Row {
        Row {
            table,
            cells: vec![Cell::Int(n), Cell::Text(format!("r{n}")), Cell::Null],
        }
    }

    #[test]
    fn rows_are_written_by_table_in_order_with_counts() {
        let mut p = PendingRows::default();
        p.extend([row("a", 1), row("b", 2), row("a", 3)]);
        assert_eq!(p.len(), 3);
        assert_eq!(p.counts().collect::<Vec<_>>(), vec![("a", 2), ("b", 1)]);
        let mut db = Db {
            tables: vec![("a", Log::default()), ("b", Log::default())],
        };
        let done = p.write(&mut db).unwrap();
        let [(_, a), (_, b)] = &db.tables[..] else {
            panic!("two tables")
        };
        assert_eq!(done, vec![("a", 2), ("b", 1)]);
        let cells = |n: i64| {
            vec![
                (0, Cell::Int(n)),
                (1, Cell::Text(format!("r{n}"))),
                (2, Cell::Null),
            ]
        };
        assert_eq!(a.rows, vec![cells(1), cells(3)]);
        assert_eq!(b.rows, vec![cells(2)]);
        // held until cleared
        assert_eq!(p.len(), 3);
        p.clear();
        assert!(p.is_empty());
        assert_eq!(p.counts().count(), 0);
    }

    #[test]
    fn the_first_error_ends_the_write_and_names_the_table() {
        let mut p = PendingRows::default();
        p.extend([row("a", 1), row("a", 2)]);
        let mut db = Db {
            tables: vec![(
                "a",
                Log {
                    fail_at: Some(1),
                    ..Log::default()
                },
            )],
        };
        let err = p.write(&mut db).unwrap_err();
        assert_eq!(err, "a: database or disk is full");
        assert_eq!(db.tables[0].1.rows.len(), 1);
        let err = p.write(&mut Db::default()).unwrap_err();
        assert_eq!(err, "a: no such table: a");
    }

    /// A store of (eid, node, blob, time) events.
    #[derive(Default)]
    struct Stored {
        events: Vec<(String, Cell, Cell, i64)>,
        probes: usize,
    }

    impl StoredEvents for Stored {
        fn span(&mut self) -> Result<Option<(i64, i64)>, String> {
            let times = self.events.iter().map(|e| e.3);
            Ok(times.clone().min().zip(times.max()))
        }
        fn stored(&mut self, eid: &str) -> Result<Vec<(Cell, Cell)>, String> {
            self.probes += 1;
            Ok(self
                .events
                .iter()
                .filter(|e| e.0 == eid)
                .map(|e| (e.1.clone(), e.2.clone()))
                .collect())
        }
    }

    fn key() -> EventKey {
        EventKey {
            table: "ev".into(),
            eid: 0,
            node: 1,
            blob: 2,
            time: Some(3),
            eid_of: vec![("proc".into(), 0)],
        }
    }

    fn event(eid: &str, blob: &[u8], time: i64) -> Vec<Row> {
        vec![
            Row {
                table: "ev",
                cells: vec![
                    Cell::Text(eid.into()),
                    Cell::Null,
                    Cell::Blob(blob.to_vec()),
                    Cell::Int(time),
                ],
            },
            Row {
                table: "proc",
                cells: vec![Cell::Text(eid.into()), Cell::Int(7)],
            },
            Row {
                table: "tree",
                cells: vec![Cell::Int(7)],
            },
        ]
    }

    fn tables(rows: &[Row]) -> Vec<&'static str> {
        rows.iter().map(|r| r.table).collect()
    }

    #[test]
    fn an_event_stored_or_buffered_already_is_left_out_with_its_rows() {
        let mut db = Stored::default();
        db.events
            .push(("1.0:5".into(), Cell::Null, Cell::Blob(b"A".to_vec()), 1));
        let mut d = Dedupe::new(key());
        let mut pending = PendingRows::default();
        let never = |_: &[u8], _: &[u8]| false;
        // as the writer does: what is left goes into the buffer
        let mut add = |d: &mut Dedupe, rows: Vec<Row>, same: &dyn Fn(&[u8], &[u8]) -> bool| {
            let out = d.filter(rows, &mut db, same, &pending).unwrap();
            let t = tables(&out);
            pending.extend(out);
            t
        };
        let mut rows = event("1.0:5", b"A", 1);
        rows.extend(event("2.0:6", b"B", 2));
        // the stored one and its proc row are gone; the upsert table's row stays
        assert_eq!(
            add(&mut d, rows, &never),
            vec!["tree", "ev", "proc", "tree"]
        );
        assert_eq!((d.events_present, d.rows_present), (1, 1));
        // again: buffered now
        assert_eq!(add(&mut d, event("2.0:6", b"B", 2), &never), vec!["tree"]);
        // same eid, other records: another event
        assert_eq!(
            add(&mut d, event("2.0:6", b"C", 2), &never),
            vec!["ev", "proc", "tree"]
        );
        // repeated within one call
        let mut rows = event("3.0:7", b"D", 3);
        rows.extend(event("3.0:7", b"D", 3));
        assert_eq!(
            add(&mut d, rows, &never),
            vec!["ev", "proc", "tree", "tree"]
        );
        // other blobs with the same records
        let same = |a: &[u8], b: &[u8]| a == b"A" || b == b"A";
        assert_eq!(add(&mut d, event("1.0:5", b"Z", 1), &same), vec!["tree"]);
        assert_eq!((d.events_present, d.rows_present), (4, 4));
        // committed and forgotten: the store is asked again (this fake holds only 1.0:5)
        d.forget();
        assert_eq!(add(&mut d, event("2.0:6", b"B", 2), &never).len(), 3);
    }

    #[test]
    fn events_newer_than_the_store_are_not_looked_up() {
        let mut db = Stored::default();
        db.events
            .push(("1.0:5".into(), Cell::Null, Cell::Blob(b"A".to_vec()), 10));
        let mut d = Dedupe::new(key());
        let mut rows = Vec::new();
        for i in 0..100 {
            rows.extend(event(&format!("11.0:{i}"), b"A", 11));
        }
        let out = d
            .filter(rows, &mut db, |_, _| false, &PendingRows::default())
            .unwrap();
        assert_eq!(out.len(), 300);
        assert_eq!(db.probes, 0);
        let out = d
            .filter(
                event("10.0:9", b"A", 10),
                &mut db,
                |_, _| false,
                &PendingRows::default(),
            )
            .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(db.probes, 1);
    }
}
