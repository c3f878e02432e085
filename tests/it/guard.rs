//! Issue 13 scaffold: tests through the real binary go here.
