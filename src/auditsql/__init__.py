"""auditsql: a Linux audit consumer — kernel control, lossless records, events, SQL tables, shipping."""

__version__ = "0.1.0"
