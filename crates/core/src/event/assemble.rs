//! Records → events. (Port of events/assembler.py.)
