//! An event's JSON → the rows of the SQL tables it fills. (Port of tables/*.py's mapping; the tables
//! themselves, names and columns, are declared once in Python's registry, src/auditsql/tables/.)

/// One SQL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}
