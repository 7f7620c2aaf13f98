//! Thin binary: parse the command line, set up logging, run, map to an exit code.

fn main() {}
