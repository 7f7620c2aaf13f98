//! The demo: a whole search against the in-process simulator.
