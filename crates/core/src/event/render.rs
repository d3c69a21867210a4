//! Event → one JSON object: laurel-shaped record sections, a derived summary, the raw records.
//! (Port of events/render.py; the shape is docs/event-json.md.)
