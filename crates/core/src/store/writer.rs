//! The store's writes: table rows buffered, by table, until the store commits, then bound to one prepared
//! `INSERT` per table and stepped. No Python object is made for a row on this path.
//!
//! The database is reached through [`Statement`]: the binding implements it over the SQLite library that
//! Python's own `sqlite3` module loaded, on that module's connection, inside the transaction the store
//! opened. One SQLite per process, one connection per store (docs/native-core.md, "SQLite: one copy").

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
}
