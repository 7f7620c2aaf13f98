//! The embedded LLM-server simulator.
