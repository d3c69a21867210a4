//! An event's JSON → the rows of the SQL tables it fills. (Port of tables/*.py's mapping; the tables
//! themselves, names and columns, are declared once in Python's registry, src/auditsql/tables/.)

use serde_json::{Map, Value};

/// A rendered event (or its `summary`): the JSON object of docs/event-json.md.
pub type Object = Map<String, Value>;

/// One SQL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// One row of one table; `cells` in the registry's column order.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub table: &'static str,
    pub cells: Vec<Cell>,
}

/// `process_events`' extension columns for an exec row, from the process tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcExt {
    pub parent_path: Option<String>,
    pub parent_cmdline: Option<String>,
    pub process_start: Option<f64>,
    pub container_id: Option<String>,
}

/// What the row mappers ask of the process tree ([`crate::proctree`] implements it).
pub trait ProcessTree {
    /// An exec event (`execve`, `execveat`): update the tree; the exec row's extension columns
    /// (Python: `tree.exec(event, summary)` then `tree.ext(node, pid, ppid)`).
    fn exec(&mut self, event: &Object, summary: &Object) -> ProcExt;
    /// A fork/clone/exit event ([`crate::proctree::TREE_SYSCALLS`]): update the tree; fork rows of
    /// `process_events` when fork events are on (Python: `tree.on_event(event, summary)`).
    fn on_event(&mut self, event: &Object, summary: &Object, out: &mut Vec<Row>);
    /// The start time (UNIX seconds) of the process the tree knows under `pid` on `node`
    /// (None or "" for the local host); None when unknown. O(1), never reads /proc.
    fn process_start(&self, node: Option<&str>, pid: i64) -> Option<f64>;
}
