//! The process tree. (Port of tables/proctree.py.)
