//! What the tree knows of an event's process, for the event JSON (`summary.tree`, docs/event-json.md):
//! its start (with its pid, the process's key), its parent's pid, start, executable and arguments, and its
//! container. The ECS output hashes the starts into `process.entity_id` and `process.parent.entity_id`.

use serde_json::{Map, Number, Value};

use super::events::node_of;
use super::proc::{Args, Text};
use super::text::int_of;
use super::tracker::Tracker;
use crate::rows::Object;

/// The tree's facts about one process (see [`Tracker::facts`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// The process's start (UNIX seconds): `process_tree.process_start`.
    pub start: f64,
    /// The parent's pid: the event's `ppid`, else the process that created it.
    pub parent: Option<i64>,
    /// The parent's start: of the live process under `parent`, else the one the tree recorded at the fork.
    pub parent_start: Option<f64>,
    /// The live parent's executable.
    pub parent_exe: Text,
    /// The live parent's arguments (when the tracker keeps them).
    pub parent_args: Args,
    /// The live parent's arguments joined by spaces, when the list is not known.
    pub parent_cmdline: Text,
    /// The process's container id.
    pub container_id: Text,
}

impl Tracker {
    /// The facts about the process with `pid` on `node` (None or "" for this host), as they stand: the live
    /// process under that pid, else the one the last `exit_group` ended (so the exit's own event has them).
    /// `ppid`: the event's parent pid, if it has one. None when the tree does not know the process.
    /// O(1): two lookups, never reads /proc.
    pub fn facts(&self, node: Option<&str>, pid: i64, ppid: Option<i64>) -> Option<Facts> {
        let n = self.find(node)?;
        let id = self.lookup(n, pid).or_else(|| {
            self.last_exit
                .filter(|&(key, _)| key == (n, pid))
                .map(|(_, id)| id)
        })?;
        let p = self.slot(id).filter(|p| p.node == n && p.pid == pid)?;
        let parent = ppid.or(p.parent);
        let q = parent.and_then(|pp| self.slot(self.lookup(n, pp)?));
        let parent_start = match q {
            Some(q) => Some(q.start),
            None if p.parent.is_some() && p.parent == parent => p.parent_start,
            None => None,
        };
        let parent_args = q.and_then(|q| q.args.clone());
        let parent_cmdline = if parent_args.is_none() {
            q.and_then(|q| q.cmdline.clone())
        } else {
            None
        };
        Some(Facts {
            start: p.start,
            parent,
            parent_start,
            parent_exe: q.and_then(|q| q.path.clone()),
            parent_args,
            parent_cmdline,
            container_id: p.container_id.clone(),
        })
    }

    /// [`Tracker::facts`] of a rendered event's process (`summary.pid`, `summary.ppid`, `NODE`) as the JSON
    /// object `summary.tree` (docs/event-json.md); None when the event has no pid or the tree does not know it.
    pub fn event_facts(&self, event: &Object) -> Option<Map<String, Value>> {
        let Some(Value::Object(summary)) = event.get("summary") else {
            return None;
        };
        let pid = int_of(summary.get("pid"))?;
        let ppid = int_of(summary.get("ppid"));
        let f = self.facts(node_of(event).as_deref(), pid, ppid)?;
        let mut out = Map::new();
        let time = |t: Option<f64>| t.and_then(Number::from_f64).map(Value::Number);
        if let Some(v) = time(Some(f.start)) {
            out.insert("start".to_string(), v);
        }
        if let Some(pp) = f.parent {
            out.insert("parent".to_string(), Value::from(pp));
        }
        if let Some(v) = time(f.parent_start) {
            out.insert("parent_start".to_string(), v);
        }
        let text = |t: &Text| t.as_deref().map(|s| Value::String(s.to_string()));
        if let Some(v) = text(&f.parent_exe) {
            out.insert("parent_exe".to_string(), v);
        }
        if let Some(args) = &f.parent_args {
            let list = args.iter().map(|a| Value::String(a.to_string())).collect();
            out.insert("parent_argv".to_string(), Value::Array(list));
        }
        if let Some(v) = text(&f.parent_cmdline) {
            out.insert("parent_cmdline".to_string(), v);
        }
        if let Some(v) = text(&f.container_id) {
            out.insert("container_id".to_string(), v);
        }
        Some(out)
    }
}
