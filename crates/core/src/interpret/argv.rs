//! (interpret helper)
