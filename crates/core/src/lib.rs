//! auditsql's event path, in the order the data flows:
//!
//! * [`record`]: one line or netlink message → a [`record::Record`] (header, `key=value` fields, ENRICHED tail);
//! * [`interpret`]: what numbers and encodings mean (arch, syscall, errno, sockaddr, argv, user names);
//! * [`event`]: records → events ([`event::assemble`]), an event → its JSON ([`event::render`]);
//! * [`rows`]: an event's JSON → the rows of the SQL tables it fills;
//! * [`proctree`]: the process tree, fed by fork/exec/exit events;
//! * [`store`]: an event as one compressed blob of its records, and the columns derived from it;
//! * [`pipeline`]: [`pipeline::Settings`] built once, a [`pipeline::Pipeline`] that owns all state and turns
//!   bytes into a [`pipeline::Batch`].
//!
//! No Python here: `cargo test` and `cargo bench` run it alone. The binding crate (`crates/py`) is the only
//! place that knows Python, and the only place with `unsafe`.
#![forbid(unsafe_code)]

pub mod event;
pub mod hash;
pub mod interpret;
pub mod netlink;
pub mod pipeline;
pub mod proctree;
pub mod record;
pub mod rows;
pub mod store;
