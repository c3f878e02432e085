//! Dashboard benchmark (issue 12): placeholder until it lands.
fn main() {}
