//! The `tickdb` binary (being written).
fn main() {}
