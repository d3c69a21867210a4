//! Events: the records the kernel emitted for one audited action, sharing (node, timestamp, serial).

pub mod assemble;
pub mod render;

use crate::record::Record;

/// How an event was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClosedBy {
    /// an EOE record
    Eoe,
    /// a type that is an event on its own
    Single,
    /// no more records came within the assembler's window
    Window,
    /// end of input
    Flush,
    /// records that arrived after their event had been closed
    Late,
    /// an unparsable line
    Error,
}

impl ClosedBy {
    /// The value of a name as [`ClosedBy::as_str`] writes it.
    pub fn from_name(name: &str) -> Option<ClosedBy> {
        Some(match name {
            "eoe" => ClosedBy::Eoe,
            "single" => ClosedBy::Single,
            "window" => ClosedBy::Window,
            "flush" => ClosedBy::Flush,
            "late" => ClosedBy::Late,
            "error" => ClosedBy::Error,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Eoe => "eoe",
            ClosedBy::Single => "single",
            ClosedBy::Window => "window",
            ClosedBy::Flush => "flush",
            ClosedBy::Late => "late",
            ClosedBy::Error => "error",
        }
    }
}

/// Records of one event, in arrival order, and how the event was closed.
#[derive(Clone, Debug)]
pub struct Event {
    pub node: Option<Vec<u8>>,
    pub sec: u64,
    pub msec: u64,
    pub serial: u64,
    pub records: Vec<Record>,
    pub closed_by: ClosedBy,
    /// records dropped as exact duplicates of one already in the event
    pub duplicates: u32,
    /// arrival index of the latest record (assembler bookkeeping)
    pub(crate) seq: u64,
    /// arrival index of the first record
    pub(crate) began: u64,
    /// when the assembler last saw a record of this event (its clock), see `Assembler::tick`
    pub(crate) seen: f64,
}

impl Event {
    pub fn id(&self) -> String {
        format!("{}.{:03}:{}", self.sec, self.msec, self.serial)
    }

    pub fn first(&self, rtype: u32) -> Option<&Record> {
        self.records.iter().find(|r| r.rtype == rtype)
    }
}
