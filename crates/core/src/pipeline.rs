//! Settings built once, a Pipeline that owns every piece of state, bytes in, a Batch out.
