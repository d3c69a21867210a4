//! Field tokens → typed JSON values, driven by the field dictionary ([`super::fields`], generated).
//! (Port of records/values.py.)
