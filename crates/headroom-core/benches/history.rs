//! History benchmark (filled in below).
fn main() {}
