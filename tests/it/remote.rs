//! Issue 11 tests (filled in).
