//! The driver: runs the search for each size in TOKENS_LIST.
