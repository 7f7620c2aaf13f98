//! Prompts of the requested token length.
