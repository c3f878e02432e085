//! Placeholder: filled in by issue 11.

fn main() {}
